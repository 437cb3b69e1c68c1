/*
 * settings: the table of every moat.conf setting. Each row names the
 * setting, its type, its default (parsed like a file value), its bounds,
 * its validator and one line of help; `moatd --help-settings` prints the
 * table and docs/configuration.md is generated from it. Every field of
 * struct moat_settings has exactly one row (tests/unit/gateway checks the
 * defaults). Callers: the master (load, reload), moatd_main (help, the
 * developer default file), tests and the config fuzzer.
 */
#include "gateway/settings.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/route.h"
#include "filters/filter_chain.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/xalloc.h"

static int
validate_data_dir(const void *field, const char **error_r)
{
	const char *dir = *(char *const *)field;

	if (dir == NULL || dir[0] != '/') {
		*error_r = "must be an absolute path";
		return -1;
	}
	return 0;
}

static int
validate_listen(const void *field, const char **error_r)
{
	const struct str_list *list = field;
	struct netaddr addr;

	for (size_t i = 0; i < list->count; i++)
		if (netaddr_parse(list->items[i], &addr, error_r) < 0)
			return -1;
	return 0;
}

static int
validate_log_level(const void *field, const char **error_r)
{
	enum log_level level;

	if (log_level_parse(*(char *const *)field, &level) < 0) {
		*error_r = "expected debug, info, warn or error";
		return -1;
	}
	return 0;
}

static int
validate_dns_servers(const void *field, const char **error_r)
{
	const struct str_list *list = field;

	for (size_t i = 0; i < list->count; i++) {
		const char *s = list->items[i];
		if (strspn(s, "0123456789abcdefABCDEF.:@") != strlen(s)) {
			*error_r = "expected IP or IP@port items";
			return -1;
		}
	}
	return 0;
}

static int
validate_relay_routes(const void *field, const char **error_r)
{
	const struct str_list *list = field;

	for (size_t i = 0; i < list->count; i++)
		if (route_config_item_check(list->items[i], error_r) < 0)
			return -1;
	return 0;
}

static int
validate_relay_default_route(const void *field, const char **error_r)
{
	const char *spec = *(char *const *)field;

	if (spec == NULL || spec[0] == '\0')
		return 0;
	return route_spec_check(spec, error_r);
}

static int
validate_relay_tls_policy(const void *field, const char **error_r)
{
	int policy;

	if (route_tls_policy_parse(*(char *const *)field, &policy) < 0) {
		*error_r = "expected none, encrypt or verify";
		return -1;
	}
	return 0;
}

static int
validate_authserv_id(const void *field, const char **error_r)
{
	const char *s = *(char *const *)field;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c)) {
			*error_r = "expected a host name or token";
			return -1;
		}
	}
	return 0;
}

static int
validate_filters(const void *field, const char **error_r)
{
	return filter_chain_validate_names(field, error_r);
}

static int
validate_xclient_trusted(const void *field, const char **error_r)
{
	const struct str_list *list = field;

	for (size_t i = 0; i < list->count; i++) {
		const char *s = list->items[i];

		if (s[0] == '\0' ||
		    strspn(s, "0123456789abcdefABCDEF.:") != strlen(s)) {
			*error_r = "expected IP addresses";
			return -1;
		}
	}
	return 0;
}

#define S(field) offsetof(struct moat_settings, field)

/* dmarc.report_from: empty or a plain local@domain (it becomes an
 * envelope sender and a From: field). */
static int
validate_dmarc_report_from(const void *value, const char **error_r)
{
	const char *v = *(char *const *)value, *at = strchr(v, '@');

	if (v[0] == '\0')
		return 0;
	for (const char *p = v; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			*error_r = "must be an address local@domain";
			return -1;
		}
	}
	/* The domain names report files (receiver!domain!...): a host name. */
	if (at != NULL && strspn(at + 1, "abcdefghijklmnopqrstuvwxyz"
					 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789.-") != strlen(at + 1)) {
		*error_r = "must be an address local@domain";
		return -1;
	}
	if (at == NULL || at == v || at[1] == '\0' || strchr(at + 1, '@') ||
	    strlen(v) > 254 || strpbrk(v, " \t<>()[]\\,;:\"") != NULL) {
		*error_r = "must be an address local@domain";
		return -1;
	}
	return 0;
}

const struct setting_def moat_setting_defs[] = {
    {"data_dir", SETTING_PATH, "/var/lib/moat", S(data_dir), 0, 0,
     validate_data_dir, "directory for databases, queue, mail and TLS files"},
    {"hostname", SETTING_STRING, "", S(hostname), 0, 0, NULL,
     "name in the SMTP greeting and Received: headers (empty: the system's)"},
    {"user", SETTING_STRING, "moat", S(user), 0, 0, NULL,
     "unprivileged user the services run as when moatd starts as root"},
    {"log_level", SETTING_STRING, "info", S(log_level), 0, 0,
     validate_log_level, "debug, info, warn or error"},
    {"smtp.listen", SETTING_LIST, "0.0.0.0:25", S(smtp_listen), 0, 0,
     validate_listen, "MX listeners (ip:port, comma separated; empty: off)"},
    {"submission.listen", SETTING_LIST, "0.0.0.0:587", S(submission_listen), 0,
     0, validate_listen, "submission listeners (STARTTLS, AUTH)"},
    {"smtps.listen", SETTING_LIST, "0.0.0.0:465", S(smtps_listen), 0, 0,
     validate_listen, "submission listeners with implicit TLS"},
    {"imap.listen", SETTING_LIST, "0.0.0.0:143", S(imap_listen), 0, 0,
     validate_listen, "IMAP listeners (STARTTLS)"},
    {"imaps.listen", SETTING_LIST, "0.0.0.0:993", S(imaps_listen), 0, 0,
     validate_listen, "IMAP listeners with implicit TLS"},
    {"pop3.listen", SETTING_LIST, "0.0.0.0:110", S(pop3_listen), 0, 0,
     validate_listen, "POP3 listeners (STLS)"},
    {"pop3s.listen", SETTING_LIST, "0.0.0.0:995", S(pop3s_listen), 0, 0,
     validate_listen, "POP3 listeners with implicit TLS"},
    {"web.listen", SETTING_LIST, "0.0.0.0:8443", S(web_listen), 0, 0,
     validate_listen, "web console listeners (not served yet)"},
    {"tls.cert", SETTING_PATH, "", S(tls_cert), 0, 0, NULL,
     "PEM certificate chain (empty: self-signed under data_dir/tls)"},
    {"tls.key", SETTING_PATH, "", S(tls_key), 0, 0, NULL,
     "PEM private key for tls.cert"},
    {"dns.servers", SETTING_LIST, "", S(dns_servers), 0, 0,
     validate_dns_servers,
     "upstream DNS servers, IP or IP@port (empty: /etc/resolv.conf)"},
    {"smtp.max_message_size", SETTING_SIZE, "50M", S(smtp_max_message_size),
     1024, 4LL * 1024 * 1024 * 1024, NULL,
     "largest message accepted, enforced while streaming"},
    {"smtp.max_recipients", SETTING_INT, "100", S(smtp_max_recipients), 1,
     100000, NULL, "recipients per message"},
    {"smtp.max_line_length", SETTING_INT, "998", S(smtp_max_line_length), 78,
     1000000, NULL, "longest message line in octets, without CRLF"},
    {"smtp.max_errors", SETTING_INT, "10", S(smtp_max_errors), 1, 1000, NULL,
     "errors per session before 421"},
    {"smtp.max_commands_before_mail", SETTING_INT, "50",
     S(smtp_max_commands_before_mail), 1, 100000, NULL,
     "NOOP/RSET/VRFY/HELP/HELO/EHLO before a MAIL, then 421"},
    {"smtp.max_connections", SETTING_INT, "1000", S(smtp_max_connections), 1,
     1000000, NULL, "concurrent SMTP connections in all"},
    {"smtp.max_connections_per_ip", SETTING_INT, "20",
     S(smtp_max_connections_per_ip), 1, 1000000, NULL,
     "concurrent SMTP connections per client IP"},
    {"smtp.command_timeout", SETTING_DURATION, "5m", S(smtp_command_timeout), 1,
     86400, NULL, "idle time allowed while waiting for a command"},
    {"smtp.data_timeout", SETTING_DURATION, "10m", S(smtp_data_timeout), 1,
     86400, NULL, "idle time allowed while receiving message data"},
    {"smtp.shutdown_timeout", SETTING_DURATION, "30s", S(smtp_shutdown_timeout),
     0, 3600, NULL, "how long SIGTERM waits for transactions in flight"},
    {"smtp.require_tls_for_auth", SETTING_BOOL, "yes",
     S(smtp_require_tls_for_auth), 0, 0, NULL,
     "offer AUTH only on TLS connections"},
    {"smtp.banner", SETTING_STRING, "ESMTP Moat", S(smtp_banner), 0, 0, NULL,
     "text after the host name in the 220 greeting"},
    {"queue.scan_interval", SETTING_DURATION, "60s", S(queue_scan_interval), 1,
     86400, NULL, "how often the queue rescans its directory"},
    {"queue.delivery_batch", SETTING_INT, "64", S(queue_delivery_batch), 1,
     10000, NULL, "messages delivered per store transaction (one flush)"},
    {"queue.min_free", SETTING_SIZE, "64M", S(queue_min_free), 0,
     1024LL * 1024 * 1024 * 1024, NULL,
     "space the data directory's file system must keep free: below it (plus "
     "a declared SIZE) MAIL gets 452 4.3.1"},
    /* mailstore and IMAP */
    {"mailstore.quota", SETTING_SIZE, "0", S(mailstore_quota), 0,
     1024LL * 1024 * 1024 * 1024, NULL,
     "storage per user, enforced at delivery, APPEND and COPY (0: none)"},
    {"imap.allow_plaintext_loopback", SETTING_BOOL, "no",
     S(imap_allow_plaintext_loopback), 0, 0, NULL,
     "allow LOGIN/AUTHENTICATE without TLS from 127.0.0.0/8 and ::1"},
    {"imap.max_connections", SETTING_INT, "10000", S(imap_max_connections), 1,
     1000000, NULL, "concurrent IMAP connections in all"},
    {"imap.max_connections_per_ip", SETTING_INT, "100",
     S(imap_max_connections_per_ip), 1, 1000000, NULL,
     "concurrent IMAP connections per client IP"},
    {"imap.idle_timeout", SETTING_DURATION, "30m", S(imap_idle_timeout), 60,
     86400, NULL, "idle time allowed after login (IDLE included; RFC: 30m+)"},
    {"imap.login_timeout", SETTING_DURATION, "60s", S(imap_login_timeout), 1,
     3600, NULL, "time allowed before a successful login"},
    {"imap.write_timeout", SETTING_DURATION, "60s", S(imap_write_timeout), 1,
     3600, NULL, "time a client may leave output unread before it is dropped"},
    {"imap.max_command_size", SETTING_SIZE, "64k", S(imap_max_command_size),
     1024, 16 * 1024 * 1024, NULL,
     "largest command with its literals (APPEND: smtp.max_message_size)"},
    /* POP3 (pop3d) */
    {"pop3.allow_plaintext_loopback", SETTING_BOOL, "no",
     S(pop3_allow_plaintext_loopback), 0, 0, NULL,
     "allow USER/PASS and AUTH without TLS from 127.0.0.0/8 and ::1"},
    {"pop3.max_connections", SETTING_INT, "10000", S(pop3_max_connections), 1,
     1000000, NULL, "concurrent POP3 connections in all"},
    {"pop3.max_connections_per_ip", SETTING_INT, "50",
     S(pop3_max_connections_per_ip), 1, 1000000, NULL,
     "concurrent POP3 connections per client IP"},
    {"pop3.login_timeout", SETTING_DURATION, "60s", S(pop3_login_timeout), 1,
     3600, NULL, "time allowed before a successful login"},
    {"pop3.idle_timeout", SETTING_DURATION, "10m", S(pop3_idle_timeout), 1,
     86400, NULL,
     "idle time allowed after login, and for a client that stops reading "
     "(RFC 1939: at least 10m)"},
    /* relay: delivery to other hosts (gateway/route.c and friends) */
    {"relay.routes", SETTING_LIST, "", S(relay_routes), 0, 0,
     validate_relay_routes,
     "static routes DOMAIN=NEXTHOP[|NEXTHOP...][|tls=POLICY][|auth=FILE]; "
     "NEXTHOP is [host]:port, host (its MX) or local"},
    {"relay.default_route", SETTING_STRING, "", S(relay_default_route), 0, 0,
     validate_relay_default_route,
     "next hop for every other domain (a smarthost); empty: MX lookup"},
    {"relay.tls_policy", SETTING_STRING, "none", S(relay_tls_policy), 0, 0,
     validate_relay_tls_policy,
     "outbound STARTTLS: none (opportunistic), encrypt (required), verify "
     "(required, certificate checked against the system CA store)"},
    {"relay.remote_port", SETTING_INT, "25", S(relay_remote_port), 1, 65535,
     NULL, "port of MX hosts and of next hops without one (tests only)"},
    {"relay.max_connections", SETTING_INT, "50", S(relay_max_connections), 1,
     10000, NULL, "outbound SMTP connections in all"},
    {"relay.max_connections_per_destination", SETTING_INT, "5",
     S(relay_max_connections_per_destination), 1, 10000, NULL,
     "outbound SMTP connections per destination (domain or next hop)"},
    {"relay.connect_timeout", SETTING_DURATION, "30s", S(relay_connect_timeout),
     1, 3600, NULL, "time allowed to connect and receive the greeting"},
    {"relay.command_timeout", SETTING_DURATION, "5m", S(relay_command_timeout),
     1, 3600, NULL, "time allowed for each reply of the remote server"},
    {"relay.retry_min", SETTING_DURATION, "5m", S(relay_retry_min), 1, 86400,
     NULL, "first retry delay after a temporary failure (then doubled)"},
    {"relay.retry_max", SETTING_DURATION, "4h", S(relay_retry_max), 1,
     7 * 86400, NULL, "longest delay between two attempts"},
    {"relay.max_lifetime", SETTING_DURATION, "5d", S(relay_max_lifetime), 1,
     60 * 86400, NULL, "how long a message is retried before it bounces"},
    {"relay.delay_warning", SETTING_DURATION, "4h", S(relay_delay_warning), 0,
     60 * 86400, NULL,
     "age after which a DELAY notice goes to senders who asked "
     "(NOTIFY=DELAY); 0: never"},
    {"relay.verify_recipients", SETTING_BOOL, "no", S(relay_verify_recipients),
     0, 0, NULL,
     "check relay-domain recipients at RCPT with an RCPT probe to the next "
     "hop"},
    {"relay.verify_cache_ttl", SETTING_DURATION, "1h",
     S(relay_verify_cache_ttl), 1, 7 * 86400, NULL,
     "how long a recipient probe's answer is remembered"},
    /* filter chain */
    {"filters", SETTING_LIST, "spf", S(filters), 0, 0, validate_filters,
     "filters run on each message after DATA, in this order"},
    {"filter.", SETTING_MAP, "", S(filter_settings), 0, 0, NULL,
     "filter.NAME.KEY: a setting of filter NAME; every filter takes "
     "timeout (duration, default 10s) and on_error (tempfail or accept)"},
    {"filters.threads", SETTING_INT, "0", S(filters_threads), 0, 256, NULL,
     "worker threads running the filters (0: one per CPU)"},
    {"filters.authserv_id", SETTING_STRING, "", S(authserv_id), 0, 0,
     validate_authserv_id,
     "authserv-id of the Authentication-Results header (empty: hostname)"},
    {"filters.message_log", SETTING_BOOL, "yes", S(filters_message_log), 0, 0,
     NULL, "record each message's filter results in data_dir/messagelog.db"},
    {"smtp.xclient_trusted", SETTING_LIST, "", S(smtp_xclient_trusted), 0, 0,
     validate_xclient_trusted,
     "client IPs allowed to use XCLIENT (tests only; empty: nobody)"},
    {"policy.reject_symbols", SETTING_LIST, "", S(policy_reject_symbols), 0, 0,
     NULL, "reject (550) a message carrying any of these symbols"},
    {"policy.tempfail_symbols", SETTING_LIST, "", S(policy_tempfail_symbols), 0,
     0, NULL, "defer (451) a message carrying any of these symbols"},
    {"policy.reject_score", SETTING_INT, "0", S(policy_reject_score), 0,
     1000000, NULL, "reject a message whose score reaches this (0: off)"},
    /* filter phases (issue 5) */
    {"smtp.delay_reject", SETTING_BOOL, "yes", S(smtp_delay_reject), 0, 0, NULL,
     "answer a reject found at connect, HELO or MAIL at each RCPT (as "
     "Postfix's smtpd_delay_reject); no: at once"},
    /* DMARC aggregate reports (RFC 7489 7.2) */
    {"dmarc.reports", SETTING_BOOL, "no", S(dmarc_reports), 0, 0, NULL,
     "mail DMARC aggregate reports to each policy domain's rua= addresses"},
    {"dmarc.report_org", SETTING_STRING, "", S(dmarc_report_org), 0, 0, NULL,
     "org_name in the reports (empty: hostname)"},
    {"dmarc.report_from", SETTING_STRING, "", S(dmarc_report_from), 0, 0,
     validate_dmarc_report_from,
     "sender of the reports, also their <email> (empty: "
     "dmarc-reports@hostname)"},
    {"dmarc.report_interval", SETTING_DURATION, "1d", S(dmarc_report_interval),
     1, 7 * 86400, NULL,
     "period one report covers, aligned to UTC (RFC 7489 default: 1d)"},
    {"dmarc.report_retention", SETTING_DURATION, "7d",
     S(dmarc_report_retention), 60, 366 * 86400, NULL,
     "report rows older than this are deleted, reported or not"},
    /* users' spam training (gateway/spam_learn.c) */
    {"spam.user_training", SETTING_BOOL, "yes", S(spam_user_training), 0, 0,
     NULL,
     "learn spam from IMAP moves and copies into Junk, APPENDs to it and "
     "the $Junk keyword, ham from moves out of Junk and $NotJunk (needs "
     "the spam filter and its Bayes database)"},
    {"spam.user_training_max_pending", SETTING_INT, "10000",
     S(spam_user_training_max_pending), 1, 10000000, NULL,
     "messages waiting to be learned at most; more are dropped and logged"},
    /* quarantine store */
    {"quarantine.retention", SETTING_DURATION, "30d", S(quarantine_retention),
     1, 3660 * 86400, NULL,
     "how long a quarantined message is kept before the queue deletes it"},
    {"quarantine.prune_interval", SETTING_DURATION, "1h",
     S(quarantine_prune_interval), 1, 86400, NULL,
     "how often the queue deletes expired quarantine entries"},
    {"quarantine.learn_on_release", SETTING_BOOL, "yes",
     S(quarantine_learn_on_release), 0, 0, NULL,
     "a release of mail the spam filter quarantined teaches Bayes ham "
     "(through the spamlearn service: needs spam.user_training and Bayes)"},
    {"quarantine.user_filters", SETTING_LIST, "spam,dmarc,policy",
     S(quarantine_user_filters), 0, 0, NULL,
     "the deciding filters whose quarantined mail users see and release in "
     "their IMAP Quarantine mailbox; the rest (malware: clamav, "
     "attachments) only the admin (moatctl quarantine)"},
};
const size_t moat_setting_defs_count =
    sizeof(moat_setting_defs) / sizeof(moat_setting_defs[0]);

/* Gives a filter setting that names a place in the data directory its
 * default there (DATA_DIR/rel) when moat.conf does not set it: filters do
 * not know data_dir. */
static void
settings_filter_default(struct moat_settings *settings, const char *key,
			const char *rel)
{
	struct config_map *map = &settings->filter_settings;
	struct config_map_entry *e;

	if (moat_settings_filter_value(settings, key) != NULL)
		return;
	map->items =
	    xreallocarray(map->items, map->count + 1, sizeof(*map->items));
	e = &map->items[map->count++];
	e->key = xstrdup(key);
	e->value = xasprintf("%s/%s", settings->data_dir, rel);
	e->file = xstrdup("(default)");
	e->line = 0;
}

int
moat_settings_load(const char *path, struct moat_settings *settings,
		   char **error_r)
{
	if (config_load(moat_setting_defs, moat_setting_defs_count, settings,
			path, error_r) < 0)
		return -1;
	if (settings->hostname[0] == '\0') {
		char name[256];

		if (gethostname(name, sizeof(name)) < 0 || name[0] == '\0')
			snprintf(name, sizeof(name), "localhost");
		name[sizeof(name) - 1] = '\0';
		free(settings->hostname);
		settings->hostname = xstrdup(name);
	}
	if (settings->authserv_id[0] == '\0') {
		free(settings->authserv_id);
		settings->authserv_id = xstrdup(settings->hostname);
	}
	if (settings->dmarc_report_org[0] == '\0') {
		free(settings->dmarc_report_org);
		settings->dmarc_report_org = xstrdup(settings->hostname);
	}
	if (settings->dmarc_report_from[0] == '\0') {
		free(settings->dmarc_report_from);
		settings->dmarc_report_from =
		    xasprintf("dmarc-reports@%s", settings->hostname);
	}
	settings_filter_default(settings, "dkim_sign.key_dir", "dkim");
	settings_filter_default(settings, "arc.key_dir", "dkim");
	settings_filter_default(settings, "spam.bayes_db", "spam/bayes.db");
	settings_filter_default(settings, "spam.cache_dir", "spam/cache");
	settings_filter_default(settings, "greylist.db", "spam/greylist.db");
	if (moat_settings_check_filters(settings, error_r) < 0)
		return -1;
	return 0;
}

const char *
moat_settings_filter_value(const struct moat_settings *settings,
			   const char *key)
{
	for (size_t i = 0; i < settings->filter_settings.count; i++)
		if (strcmp(settings->filter_settings.items[i].key, key) == 0)
			return settings->filter_settings.items[i].value;
	return NULL;
}

int
moat_settings_check_filters(const struct moat_settings *settings,
			    char **error_r)
{
	struct filter_chain_config cfg;

	moat_settings_filter_config(settings, &cfg);
	return filter_chain_check(&cfg, error_r);
}

void
moat_settings_filter_config(const struct moat_settings *settings,
			    struct filter_chain_config *config_r)
{
	memset(config_r, 0, sizeof(*config_r));
	config_r->names = &settings->filters;
	config_r->map = &settings->filter_settings;
	config_r->dns_servers = &settings->dns_servers;
	config_r->threads = (unsigned int)settings->filters_threads;
	config_r->authserv_id = settings->authserv_id;
}

void
moat_settings_free(struct moat_settings *settings)
{
	config_free(moat_setting_defs, moat_setting_defs_count, settings);
}

static const char *
settings_type_name(enum setting_type type)
{
	switch (type) {
	case SETTING_STRING:
		return "string";
	case SETTING_PATH:
		return "path";
	case SETTING_INT:
		return "integer";
	case SETTING_SIZE:
		return "size";
	case SETTING_DURATION:
		return "duration";
	case SETTING_BOOL:
		return "yes/no";
	case SETTING_LIST:
		return "list";
	case SETTING_MAP:
		return "NAME.KEY lines";
	}
	return "?";
}

void
moat_settings_print_help(FILE *out)
{
	for (size_t i = 0; i < moat_setting_defs_count; i++) {
		const struct setting_def *d = &moat_setting_defs[i];

		if (d->type == SETTING_MAP) {
			fprintf(out, "%sNAME.KEY = VALUE\n    %s\n", d->name,
				d->help);
			filter_chain_print_settings(out);
			continue;
		}
		fprintf(out, "%s = %s\n    %s (%s", d->name,
			d->default_value[0] != '\0' ? d->default_value : "\"\"",
			d->help, settings_type_name(d->type));
		if (d->min != 0 || d->max != 0) {
			fprintf(out, ", min %lld", d->min);
			if (d->max != 0)
				fprintf(out, ", max %lld", d->max);
		}
		fprintf(out, ")\n");
	}
}

/* Appends value, double-quoted with escapes when it needs it. */
static void
settings_append_value(struct buf *text, const char *value)
{
	if (value[0] != '\0' && strpbrk(value, " \t#\"\\") == NULL) {
		buf_append_str(text, value);
		return;
	}
	buf_append_char(text, '"');
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_append_char(text, '\\');
		buf_append_char(text, *p);
	}
	buf_append_char(text, '"');
}

static void
settings_append(struct buf *text, const char *name, const char *value)
{
	buf_printf(text, "%s = ", name);
	settings_append_value(text, value);
	buf_append_char(text, '\n');
}

/* Every setting the developer file does not set, as commented defaults. */
static void
settings_append_commented_defaults(struct buf *text)
{
	static const char *const explicit[] = {
	    "data_dir",	    "hostname",		 "user",	 "log_level",
	    "smtp.listen",  "submission.listen", "smtps.listen", "imap.listen",
	    "imaps.listen", "pop3.listen",	 "pop3s.listen", "web.listen",
	};

	buf_append_str(text, "\n# Other settings, at their defaults. "
			     "Uncomment a line to change it.\n");
	for (size_t i = 0; i < moat_setting_defs_count; i++) {
		const struct setting_def *d = &moat_setting_defs[i];
		bool skip = false;

		for (size_t j = 0; j < sizeof(explicit) / sizeof(explicit[0]);
		     j++)
			if (strcmp(explicit[j], d -> name) == 0)
				skip = true;
		if (skip || d->type == SETTING_MAP)
			continue;
		buf_printf(text, "\n# %s\n#", d->help);
		settings_append(text, d->name, d->default_value);
	}
}

static int
settings_write_file(const char *path, const struct buf *text)
{
	char tmp[PATH_MAX];
	size_t off = 0;
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	/* The umask must not widen or narrow the documented mode. */
	if (fchmod(fd, 0640) < 0)
		goto fail;
	while (off < text->len) {
		ssize_t n = write(fd, text->data + off, text->len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

int
moat_settings_write_dev_default(const char *path, const char *data_dir)
{
	struct passwd *pw = NULL;
	const char *user = "moat";
	struct buf text;
	int ret;

	if (geteuid() != 0) {
		pw = getpwuid(geteuid());
		if (pw != NULL && pw->pw_name != NULL)
			user = pw->pw_name;
	}
	buf_init(&text);
	buf_append_str(&text,
		       "# Moat developer configuration, written by "
		       "`moatd --write-dev-config`.\n"
		       "# Syntax: one \"name = value\" per line; '#' starts a "
		       "comment.\n"
		       "# Every setting and its default: moatd "
		       "--help-settings\n\n");
	buf_append_str(&text, "# Databases, queue, mail and TLS files.\n");
	settings_append(&text, "data_dir", data_dir);
	settings_append(&text, "hostname", "localhost");
	buf_append_str(&text, "# The services run as this user when moatd "
			      "starts as root.\n");
	settings_append(&text, "user", user);
	settings_append(&text, "log_level", "info");
	buf_append_str(&text,
		       "\n# Loopback ports, so no privileges are needed.\n");
	settings_append(&text, "smtp.listen", "127.0.0.1:2525");
	settings_append(&text, "submission.listen", "127.0.0.1:2587");
	settings_append(&text, "smtps.listen", "127.0.0.1:2465");
	settings_append(&text, "imap.listen", "127.0.0.1:2143");
	settings_append(&text, "imaps.listen", "127.0.0.1:2993");
	settings_append(&text, "pop3.listen", "127.0.0.1:2110");
	settings_append(&text, "pop3s.listen", "127.0.0.1:2995");
	settings_append(&text, "web.listen", "127.0.0.1:8443");
	settings_append_commented_defaults(&text);
	ret = settings_write_file(path, &text);
	buf_free(&text);
	return ret;
}
