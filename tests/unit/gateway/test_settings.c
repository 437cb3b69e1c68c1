/*
 * Unit tests for gateway/settings.c: the table's defaults, the developer
 * default file (written, then loaded back), and file:line errors for bad
 * values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/settings.h"
#include "lib/xalloc.h"

struct default_case {
	const char *name;
	const char *want;
};

static const struct default_case default_cases[] = {
    {"data_dir", "/var/lib/moat"},
    {"hostname", ""},
    {"user", "moat"},
    {"log_level", "info"},
    {"smtp.listen", "0.0.0.0:25"},
    {"submission.listen", "0.0.0.0:587"},
    {"smtps.listen", "0.0.0.0:465"},
    {"imap.listen", "0.0.0.0:143"},
    {"imaps.listen", "0.0.0.0:993"},
    {"pop3.listen", "0.0.0.0:110"},
    {"pop3s.listen", "0.0.0.0:995"},
    {"web.listen", "0.0.0.0:8443"},
    {"tls.cert", ""},
    {"tls.key", ""},
    {"dns.servers", ""},
    {"smtp.max_message_size", "52428800"},
    {"smtp.max_recipients", "100"},
    {"smtp.max_line_length", "998"},
    {"smtp.max_errors", "10"},
    {"smtp.max_commands_before_mail", "50"},
    {"smtp.max_connections", "1000"},
    {"smtp.max_connections_per_ip", "20"},
    {"smtp.command_timeout", "300"},
    {"smtp.data_timeout", "600"},
    {"smtp.shutdown_timeout", "30"},
    {"smtp.require_tls_for_auth", "yes"},
    {"smtp.banner", "ESMTP Moat"},
    {"queue.scan_interval", "60"},
    {"queue.delivery_batch", "64"},
    {"queue.min_free", "67108864"},
    /* mailstore and IMAP */
    {"mailstore.quota", "0"},
    {"imap.allow_plaintext_loopback", "no"},
    {"imap.max_connections", "10000"},
    {"imap.max_connections_per_ip", "100"},
    {"imap.idle_timeout", "1800"},
    {"imap.login_timeout", "60"},
    {"imap.write_timeout", "60"},
    {"imap.max_command_size", "65536"},
    /* POP3 */
    {"pop3.allow_plaintext_loopback", "no"},
    {"pop3.max_connections", "10000"},
    {"pop3.max_connections_per_ip", "50"},
    {"pop3.login_timeout", "60"},
    {"pop3.idle_timeout", "600"},
    {"filters", "spf"},
    {"filter.", "0"},
    {"filters.threads", "0"},
    {"filters.authserv_id", ""},
    {"filters.message_log", "yes"},
    {"smtp.xclient_trusted", ""},
    {"policy.reject_symbols", ""},
    {"policy.tempfail_symbols", ""},
    {"policy.reject_score", "0"},
    /* filter phases */
    {"smtp.delay_reject", "yes"},
    /* relay */
    {"relay.routes", ""},
    {"relay.default_route", ""},
    {"relay.tls_policy", "none"},
    {"relay.remote_port", "25"},
    {"relay.max_connections", "50"},
    {"relay.max_connections_per_destination", "5"},
    {"relay.connect_timeout", "30"},
    {"relay.command_timeout", "300"},
    {"relay.retry_min", "300"},
    {"relay.retry_max", "14400"},
    {"relay.max_lifetime", "432000"},
    {"relay.delay_warning", "14400"},
    {"relay.verify_recipients", "no"},
    {"relay.verify_cache_ttl", "3600"},
    /* DMARC aggregate reports */
    {"dmarc.reports", "no"},
    {"dmarc.report_org", ""},
    {"dmarc.report_from", ""},
    {"dmarc.report_interval", "86400"},
    {"dmarc.report_retention", "604800"},
    /* users' spam training */
    {"spam.user_training", "yes"},
    {"spam.user_training_max_pending", "10000"},
    /* quarantine store */
    {"quarantine.retention", "2592000"},
    {"quarantine.prune_interval", "3600"},
    {"quarantine.learn_on_release", "yes"},
    {"quarantine.user_filters", "spam,dmarc,policy"},
};

static const struct setting_def *
find_def(const char *name)
{
	for (size_t i = 0; i < moat_setting_defs_count; i++)
		if (strcmp(moat_setting_defs[i].name, name) == 0)
			return &moat_setting_defs[i];
	return NULL;
}

/* The value of a setting as text, generically through the table. */
static void
repr(const struct moat_settings *s, const char *name, char *out, size_t sz)
{
	const struct setting_def *d = find_def(name);
	const void *f;

	if (d == NULL)
		fail_msg("setting %s missing from the table", name);
	f = (const char *)s + d->offset;
	switch (d->type) {
	case SETTING_STRING:
	case SETTING_PATH:
		snprintf(out, sz, "%s", *(char *const *)f);
		break;
	case SETTING_INT:
		snprintf(out, sz, "%lld", *(const long long *)f);
		break;
	case SETTING_SIZE:
		snprintf(out, sz, "%llu", *(const unsigned long long *)f);
		break;
	case SETTING_DURATION:
		snprintf(out, sz, "%u", *(const unsigned int *)f);
		break;
	case SETTING_BOOL:
		snprintf(out, sz, "%s", *(const bool *)f ? "yes" : "no");
		break;
	case SETTING_LIST: {
		const struct str_list *l = f;
		size_t off = 0;

		out[0] = '\0';
		for (size_t i = 0; i < l->count && off < sz; i++)
			off += (size_t)snprintf(out + off, sz - off, "%s%s",
						i > 0 ? "," : "", l->items[i]);
		break;
	}
	case SETTING_MAP:
		snprintf(out, sz, "%zu", ((const struct config_map *)f)->count);
		break;
	}
}

static void
test_settings_table_complete(void **state)
{
	size_t n = sizeof(default_cases) / sizeof(default_cases[0]);

	assert_int_equal(moat_setting_defs_count, n);
	for (size_t i = 0; i < moat_setting_defs_count; i++) {
		assert_non_null(moat_setting_defs[i].help);
		assert_non_null(moat_setting_defs[i].default_value);
		for (size_t j = i + 1; j < moat_setting_defs_count; j++) {
			assert_int_not_equal(moat_setting_defs[i].offset,
					     moat_setting_defs[j].offset);
			assert_string_not_equal(moat_setting_defs[i].name,
						moat_setting_defs[j].name);
		}
	}
}

static void
test_settings_defaults(void **state)
{
	struct moat_settings s;
	char *error = NULL;
	char got[256];

	if (config_defaults(moat_setting_defs, moat_setting_defs_count, &s,
			    &error) < 0)
		fail_msg("defaults: %s", error);
	for (size_t i = 0; i < sizeof(default_cases) / sizeof(default_cases[0]);
	     i++) {
		repr(&s, default_cases[i].name, got, sizeof(got));
		if (strcmp(got, default_cases[i].want) != 0)
			fail_msg("%s: got '%s' want '%s'",
				 default_cases[i].name, got,
				 default_cases[i].want);
	}
	moat_settings_free(&s);
}

static char *
write_temp(const char *text)
{
	char *path = xstrdup("/tmp/moat-test-settings-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void
test_settings_load_fills_hostname(void **state)
{
	struct moat_settings s;
	char *path = write_temp("# nothing\n");
	char *error = NULL;

	if (moat_settings_load(path, &s, &error) < 0)
		fail_msg("load: %s", error);
	assert_true(s.hostname[0] != '\0');
	/* the DMARC report sender defaults to the host name */
	assert_string_equal(s.dmarc_report_org, s.hostname);
	assert_true(strncmp(s.dmarc_report_from, "dmarc-reports@", 14) == 0);
	assert_string_equal(s.dmarc_report_from + 14, s.hostname);
	moat_settings_free(&s);
	unlink(path);
	free(path);
}

static void
test_settings_dev_default(void **state)
{
	char dir[] = "/tmp/moat-test-dev-XXXXXX";
	static const struct default_case want[] = {
	    {"hostname", "localhost"},
	    {"smtp.listen", "127.0.0.1:2525"},
	    {"submission.listen", "127.0.0.1:2587"},
	    {"smtps.listen", "127.0.0.1:2465"},
	    {"imap.listen", "127.0.0.1:2143"},
	    {"imaps.listen", "127.0.0.1:2993"},
	    {"pop3.listen", "127.0.0.1:2110"},
	    {"pop3s.listen", "127.0.0.1:2995"},
	    {"web.listen", "127.0.0.1:8443"},
	    {"smtp.max_recipients", "100"},
	};
	struct moat_settings s;
	struct stat st;
	char *path, *data_dir, *error = NULL;
	char got[256];

	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/moat.conf", dir);
	/* A data dir with a space and a '#' must survive the round trip. */
	data_dir = xasprintf("%s/data dir #1", dir);
	assert_int_equal(moat_settings_write_dev_default(path, data_dir), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);

	if (moat_settings_load(path, &s, &error) < 0)
		fail_msg("dev default does not load: %s", error);
	assert_string_equal(s.data_dir, data_dir);
	if (geteuid() == 0)
		assert_string_equal(s.user, "moat");
	else
		assert_string_not_equal(s.user, "");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		repr(&s, want[i].name, got, sizeof(got));
		if (strcmp(got, want[i].want) != 0)
			fail_msg("%s: got '%s' want '%s'", want[i].name, got,
				 want[i].want);
	}
	moat_settings_free(&s);
	unlink(path);
	rmdir(dir);
	free(path);
	free(data_dir);
}

struct bad_case {
	const char *name;
	const char *text;
	const char *want; /* after "<path>:" */
};

static const struct bad_case bad_cases[] = {
    {"dmarc sender without domain", "dmarc.report_from = dmarc\n",
     "1: dmarc.report_from: must be an address local@domain"},
    {"dmarc sender with space", "dmarc.report_from = \"a b@x.org\"\n",
     "1: dmarc.report_from: must be an address local@domain"},
    {"dmarc sender domain with a slash", "dmarc.report_from = a@x/../y\n",
     "1: dmarc.report_from: must be an address local@domain"},
    {"bad port", "# c\nsmtp.listen = 127.0.0.1:99999\n",
     "2: smtp.listen: invalid port (0-65535)"},
    {"host name", "imap.listen = localhost:143\n",
     "1: imap.listen: invalid IPv4 address (numeric only)"},
    {"no port", "web.listen = 127.0.0.1\n", "1: web.listen: missing ':port'"},
    {"bare v6", "smtp.listen = ::1:25\n",
     "1: smtp.listen: IPv6 addresses must be written [addr]:port"},
    {"second item bad", "smtp.listen = 127.0.0.1:25, [::1]:x\n",
     "1: smtp.listen: invalid port (0-65535)"},
    {"relative data_dir", "data_dir = var/moat\n",
     "1: data_dir: path 'var/moat' is not absolute"},
    {"empty data_dir", "data_dir =\n", "1: data_dir: must be an absolute path"},
    {"log level", "log_level = loud\n",
     "1: log_level: expected debug, info, warn or error"},
    {"recipients 0", "\n\n\nsmtp.max_recipients = 0\n",
     "4: smtp.max_recipients: value 0 below minimum 1"},
    {"message size", "smtp.max_message_size = 10\n",
     "1: smtp.max_message_size: value 10 below minimum 1024"},
    {"unknown", "\n\n\n\n\n\nsmtp.foo = 1\n", "7: unknown setting 'smtp.foo'"},
};

static void
test_settings_bad(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct moat_settings s;
		char *path = write_temp(bad_cases[i].text);
		char *error = NULL, *want;

		if (moat_settings_load(path, &s, &error) == 0)
			fail_msg("case '%s' loaded", bad_cases[i].name);
		want = xasprintf("%s:%s", path, bad_cases[i].want);
		if (strcmp(error, want) != 0)
			fail_msg("case '%s':\n got  '%s'\n want '%s'",
				 bad_cases[i].name, error, want);
		free(want);
		free(error);
		moat_settings_free(&s);
		unlink(path);
		free(path);
	}
}

static void
test_settings_good_listen(void **state)
{
	struct moat_settings s;
	char *path = write_temp("smtp.listen = :25, [::1]:2525 127.0.0.1:1\n"
				"pop3.listen =\n");
	char *error = NULL;

	if (moat_settings_load(path, &s, &error) < 0)
		fail_msg("load: %s", error);
	assert_int_equal(s.smtp_listen.count, 3);
	assert_string_equal(s.smtp_listen.items[1], "[::1]:2525");
	assert_int_equal(s.pop3_listen.count, 0);
	moat_settings_free(&s);
	unlink(path);
	free(path);
}

static void
test_settings_help(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	moat_settings_print_help(out);
	fclose(out);
	for (size_t i = 0; i < moat_setting_defs_count; i++) {
		char *want = xasprintf(moat_setting_defs[i].type == SETTING_MAP
					   ? "%sNAME.KEY = "
					   : "%s = ",
				       moat_setting_defs[i].name);

		if (strstr(text, want) == NULL)
			fail_msg("help lacks %s", moat_setting_defs[i].name);
		free(want);
	}
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_settings_table_complete),
	    cmocka_unit_test(test_settings_defaults),
	    cmocka_unit_test(test_settings_load_fills_hostname),
	    cmocka_unit_test(test_settings_dev_default),
	    cmocka_unit_test(test_settings_bad),
	    cmocka_unit_test(test_settings_good_listen),
	    cmocka_unit_test(test_settings_help),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
