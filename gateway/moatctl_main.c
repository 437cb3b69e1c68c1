/*
 * moatctl: the administrator's command line. Domains, users and aliases
 * are edited directly in the database (the daemon sees changes at once:
 * every lookup reads the database); status asks the running master over
 * its control socket; queue list reads the spool directory.
 *
 * Exit status: 0 ok, 1 the operation failed, 2 usage or configuration error.
 */
#include <dirent.h>
#include <event2/event.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "gateway/master_prepare.h"
#include "gateway/moatctl_dmarc.h"
#include "gateway/moatctl_quarantine.h"
#include "gateway/moatctl_spam.h"
#include "gateway/queue_file.h"
#include "gateway/queue_state.h"
#include "gateway/route.h"
#include "gateway/settings.h"
#include "filters/dkim_sign.h"
#include "lib/buf.h"
#include "lib/dns.h"
#include "gateway/moatctl_spf.h"
#include "lib/password.h"
#include "lib/version.h"
#include "lib/xalloc.h"
#include "mailstore/directory.h"
#include "mailstore/store.h"

#define DEFAULT_CONFIG "/etc/moat/moat.conf"
#define PASSWORD_MIN   8

struct ctl {
	struct moat_settings settings;
	struct directory *dir;
	bool force;
};

static void
usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: moatctl [-c FILE] [--force] COMMAND [ARGS]\n"
	    "\n"
	    "  domain add|del DOMAIN      domain list\n"
	    "  user add ADDRESS [PASSWORD]    user passwd ADDRESS [PASSWORD]\n"
	    "  user del ADDRESS           user list\n"
	    "  alias add ADDRESS TARGET   alias del ADDRESS [TARGET]   "
	    "alias list\n"
	    "  queue list                 messages waiting in the queue\n"
	    "  queue show QID             one message: envelope, state, "
	    "headers\n"
	    "  queue flush                retry every deferred message now\n"
	    "  queue retry|hold|release|delete QID\n"
	    "  route add DOMAIN NEXTHOP [NEXTHOP...] [tls=POLICY] "
	    "[auth=FILE]\n"
	    "  route del DOMAIN           route list\n"
	    "      NEXTHOP: [host]:port (that host), host (its MX), local\n"
	    "  status                     the running daemon and its "
	    "services\n"
	    "  dns mx|a|aaaa|txt NAME     look NAME up with moatd's "
	    "resolver\n"
	    "  dkim genkey DOMAIN [--selector S] [--type rsa|ed25519]\n"
	    "                             new signing key (the active one)\n"
	    "  dkim list                  keys: domain selector type [active]\n"
	    "  dkim show-dns DOMAIN       the TXT record to publish\n"
	    "  spam train --spam|--ham [--db PATH] FILE|DIR|MBOX...\n"
	    "                             teach Bayes (filter.spam.bayes_db)\n"
	    "  spam check [--db PATH] [--rules PATH] FILE|DIR|MBOX...\n"
	    "                             score messages, one line each\n"
	    "  spam stats [--db PATH]     rule set, Bayes counts and users'\n"
	    "                             training (Junk folder moves)\n"
	    "  spam expire [--db PATH] [--max N]\n"
	    "                             drop the tokens learned longest ago\n"
	    "                             (filter.spam.bayes_max_tokens)\n"
	    "  dmarc report [--domain D] [--from T] [--to T] [--out DIR]\n"
	    "                             DMARC aggregate reports (.xml.gz) "
	    "from\n"
	    "                             recorded results; T: UTC seconds "
	    "or\n"
	    "                             YYYY-MM-DD[THH:MM[:SS]]\n"
	    "  quarantine list [--rcpt ADDR] [--json]\n"
	    "                             quarantined messages, one line "
	    "per recipient\n"
	    "  quarantine show ID         summary, recipients and header\n"
	    "  quarantine release ID [--rcpt ADDR]\n"
	    "                             deliver it (to one recipient) "
	    "without the filters\n"
	    "  quarantine delete ID [--rcpt ADDR]\n"
	    "                             drop it (for one recipient)\n"
	    "  spf [--timeout=MS] IP HELO SENDER   SPF check through "
	    "Moat's SPF code\n"
	    "  spf [--timeout=MS] --batch  the same for \"IP<TAB>HELO<TAB>"
	    "SENDER\" lines\n"
	    "\n"
	    "-c FILE: configuration (default %s or $MOAT_CONFIG).\n"
	    "A password not given is asked twice on a terminal, else read "
	    "from\nstandard input. --force accepts passwords shorter than "
	    "%d.\n"
	    "Exit status: 0 ok, 1 failed, 2 usage or configuration error.\n",
	    DEFAULT_CONFIG, PASSWORD_MIN);
}

static int
fail(char *error)
{
	fprintf(stderr, "moatctl: %s\n", error);
	free(error);
	return 1;
}

static int
read_password(const char *prompt, char **password_r)
{
	char line[1024];
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO);
	size_t len;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
	}
	if (fgets(line, sizeof(line), stdin) == NULL)
		line[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
		fprintf(stderr, "\n");
	}
	len = strcspn(line, "\r\n");
	line[len] = '\0';
	*password_r = xstrdup(line);
	explicit_bzero(line, sizeof(line));
	return 0;
}

static int
obtain_password(struct ctl *ctl, const char *given, char **hash_r)
{
	char *password = NULL, *again = NULL;
	int ret;

	if (given != NULL) {
		password = xstrdup(given);
	} else {
		read_password("Password: ", &password);
		if (isatty(STDIN_FILENO)) {
			read_password("Again: ", &again);
			if (strcmp(password, again) != 0) {
				free(password);
				free(again);
				return fail(xstrdup("passwords differ"));
			}
			free(again);
		}
	}
	if (password[0] == '\0') {
		free(password);
		return fail(xstrdup("empty password"));
	}
	if (strlen(password) < PASSWORD_MIN && !ctl->force) {
		free(password);
		return fail(xasprintf("password shorter than %d characters "
				      "(use --force to accept it)",
				      PASSWORD_MIN));
	}
	ret = password_hash(password, hash_r) < 0
		  ? fail(xstrdup("password hashing failed"))
		  : 0;
	explicit_bzero(password, strlen(password));
	free(password);
	return ret;
}

static int
print_list(int ret, struct str_list *list, char *error)
{
	if (ret < 0)
		return fail(error);
	for (size_t i = 0; i < list->count; i++)
		printf("%s\n", list->items[i]);
	str_list_free(list);
	return 0;
}

static int
cmd_domain(struct ctl *ctl, int argc, char **argv)
{
	struct str_list list = {0};
	char *error = NULL;

	if (argc == 1 && strcmp(argv[0], "list") == 0)
		return print_list(
		    directory_domain_list(ctl->dir, &list, &error), &list,
		    error);
	if (argc != 2)
		return -1;
	if (strcmp(argv[0], "add") == 0)
		return directory_domain_add(ctl->dir, argv[1], &error) < 0
			   ? fail(error)
			   : 0;
	if (strcmp(argv[0], "del") == 0)
		return directory_domain_del(ctl->dir, argv[1], &error) < 0
			   ? fail(error)
			   : 0;
	return -1;
}

static int
store_action(struct ctl *ctl, const char *user, bool create)
{
	struct store *store = NULL;
	char *error = NULL;
	int ret;

	if (store_open(ctl->settings.data_dir, &store, &error) < 0)
		return fail(error);
	ret = create ? store_user_create(store, user, &error)
		     : store_user_delete(store, user, &error);
	store_close(&store);
	return ret < 0 ? fail(error) : 0;
}

static int
cmd_user(struct ctl *ctl, int argc, char **argv)
{
	struct str_list list = {0};
	char *error = NULL, *hash = NULL, *canonical = NULL, *old = NULL;
	int ret;

	if (argc == 1 && strcmp(argv[0], "list") == 0)
		return print_list(directory_user_list(ctl->dir, &list, &error),
				  &list, error);
	if (argc < 2)
		return -1;
	if (strcmp(argv[0], "add") == 0 && argc <= 3) {
		/* Check first, so no password is asked for in vain. */
		if (directory_user_credentials(ctl->dir, argv[1], &canonical,
					       &old) == 1) {
			free(old);
			return fail(xasprintf("user %s exists", canonical));
		}
		if (obtain_password(ctl, argc == 3 ? argv[2] : NULL, &hash) !=
		    0)
			return 1;
		ret = directory_user_add(ctl->dir, argv[1], hash, &error);
		free(hash);
		if (ret < 0)
			return fail(error);
		directory_user_credentials(ctl->dir, argv[1], &canonical, &old);
		free(old);
		ret = store_action(ctl, canonical != NULL ? canonical : argv[1],
				   true);
		free(canonical);
		return ret;
	}
	if (strcmp(argv[0], "passwd") == 0 && argc <= 3) {
		if (directory_user_credentials(ctl->dir, argv[1], &canonical,
					       &old) != 1)
			return fail(xasprintf("no such user %s", argv[1]));
		free(canonical);
		free(old);
		if (obtain_password(ctl, argc == 3 ? argv[2] : NULL, &hash) !=
		    0)
			return 1;
		ret = directory_user_set_password(ctl->dir, argv[1], hash,
						  &error);
		free(hash);
		return ret < 0 ? fail(error) : 0;
	}
	if (strcmp(argv[0], "del") == 0 && argc == 2) {
		if (directory_user_credentials(ctl->dir, argv[1], &canonical,
					       &old) != 1)
			return fail(xasprintf("no such user %s", argv[1]));
		free(old);
		ret = directory_user_del(ctl->dir, canonical, &error);
		if (ret == 0)
			ret = store_action(ctl, canonical, false);
		else
			ret = fail(error);
		free(canonical);
		return ret;
	}
	return -1;
}

static int
cmd_alias(struct ctl *ctl, int argc, char **argv)
{
	struct str_list list = {0};
	char *error = NULL;

	if (argc == 1 && strcmp(argv[0], "list") == 0)
		return print_list(directory_alias_list(ctl->dir, &list, &error),
				  &list, error);
	if (strcmp(argv[0], "add") == 0 && argc == 3)
		return directory_alias_add(ctl->dir, argv[1], argv[2], &error) <
			       0
			   ? fail(error)
			   : 0;
	if (strcmp(argv[0], "del") == 0 && (argc == 2 || argc == 3))
		return directory_alias_del(ctl->dir, argv[1],
					   argc == 3 ? argv[2] : NULL,
					   &error) < 0
			   ? fail(error)
			   : 0;
	return -1;
}

/* Lists the queue files of one directory; returns how many. */
static size_t
queue_list_dir(const char *dir, const char *state, bool print)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		struct queue_envelope env;
		const char *error;
		char *path;
		off_t offset;
		size_t len;
		int fd;

		if (!queue_id_valid(de->d_name))
			continue;
		n++;
		if (!print)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (queue_file_open(path, &env, &fd, &offset, &len, &error) <
		    0) {
			printf("%s  %-8s  (%s)\n", de->d_name, "partial",
			       error);
		} else {
			char when[32];
			struct tm tm;

			gmtime_r(&env.arrival, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			struct queue_state st;
			const char *shown = state;

			(void)queue_state_load(dir, de->d_name, 0, &st);
			if (st.held)
				shown = "held";
			printf("%s  %-8s  %8zu  %s  <%s>", de->d_name, shown,
			       len, when, env.mail_from);
			for (size_t i = 0; i < env.rcpt_count; i++)
				printf(" %s", env.rcpts[i].address);
			if (st.failures > 0)
				printf("  attempts=%u", st.failures);
			printf("\n");
			queue_state_free(&st);
			close(fd);
			queue_envelope_free(&env);
		}
		free(path);
	}
	closedir(d);
	return n;
}

/*
 * Sends one command to the queue process's control socket and prints the
 * reply. Returns 0 ok, 1 failed, 2 when the daemon is not reachable.
 */
static int
queue_control_call(const struct ctl *ctl, const char *line, bool print)
{
	struct sockaddr_un sun;
	char *path = xasprintf("%s/queue/control.sock", ctl->settings.data_dir);
	char reply[4096];
	struct buf all;
	ssize_t n;
	int fd, ret = 0;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	free(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (fd >= 0)
			close(fd);
		return 2;
	}
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line) ||
	    write(fd, "\n", 1) != 1) {
		close(fd);
		return 2;
	}
	buf_init(&all);
	while ((n = read(fd, reply, sizeof(reply))) > 0)
		buf_append(&all, reply, (size_t)n);
	close(fd);
	/* The last line is OK or ERR. */
	if (all.len >= 3 && strcmp(buf_cstr(&all) + all.len - 3, "OK\n") == 0)
		buf_truncate(&all, all.len - 3);
	else {
		ret = 1;
		if (all.len >= 4 &&
		    strcmp(buf_cstr(&all) + all.len - 4, "ERR\n") == 0)
			buf_truncate(&all, all.len - 4);
	}
	if (print || ret != 0)
		fputs(buf_cstr(&all), ret == 0 ? stdout : stderr);
	buf_free(&all);
	return ret;
}

/* moatd is not running: hold, release and delete edit the files. */
static int
queue_offline(const struct ctl *ctl, const char *verb, const char *qid)
{
	char *dir = xasprintf("%s/queue/deferred", ctl->settings.data_dir);
	char *path = xasprintf("%s/%s", dir, qid);
	struct queue_state st;
	struct stat sb;
	int ret = 0;

	if (stat(path, &sb) < 0) {
		ret = fail(xasprintf("%s: no such deferred message", qid));
	} else if (strcmp(verb, "delete") == 0) {
		static const char *const suffix[] = {"", ".done", ".state"};

		for (size_t i = 0; i < 3; i++) {
			char *p = xasprintf("%s/%s%s", dir, qid, suffix[i]);
			(void)unlink(p);
			free(p);
		}
		printf("%s: deleted\n", qid);
	} else if (strcmp(verb, "hold") == 0 || strcmp(verb, "release") == 0) {
		(void)queue_state_load(dir, qid, 0, &st);
		st.held = strcmp(verb, "hold") == 0;
		st.next = 0;
		if (queue_state_save(dir, qid, &st) < 0)
			ret = fail(xasprintf("%s: cannot save", qid));
		else
			printf("%s: %s\n", qid, st.held ? "held" : "released");
		queue_state_free(&st);
	} else {
		fprintf(stderr, "moatctl: moatd is not running\n");
		ret = 1;
	}
	free(dir);
	free(path);
	return ret;
}

/* queue show QID: envelope, per-recipient state, the message header. */
static int
queue_show(const struct ctl *ctl, const char *qid)
{
	static const char *const dirs[] = {"", "/deferred"};
	struct queue_envelope env;
	const char *error = NULL;
	off_t offset;
	size_t len;
	int fd = -1;

	if (!queue_id_valid(qid))
		return fail(xasprintf("%s: not a queue id", qid));
	for (size_t d = 0; d < 2; d++) {
		char *dir =
		    xasprintf("%s/queue%s", ctl->settings.data_dir, dirs[d]);
		char *path = xasprintf("%s/%s", dir, qid);
		bool done[1024] = {false};
		struct queue_state st;
		char line[32], header[8192];
		char *done_path;
		FILE *f;
		ssize_t n;

		if (queue_file_open(path, &env, &fd, &offset, &len, &error) <
		    0) {
			free(dir);
			free(path);
			continue;
		}
		done_path = xasprintf("%s.done", path);
		f = fopen(done_path, "re");
		while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
			unsigned long i = strtoul(line, NULL, 10);
			if (i < 1024)
				done[i] = true;
		}
		if (f != NULL)
			fclose(f);
		free(done_path);
		(void)queue_state_load(dir, qid, env.rcpt_count, &st);
		printf("queue id:  %s (%s)\n", qid,
		       d == 0 ? "active" : "deferred");
		printf("sender:    <%s>\n", env.mail_from);
		printf("size:      %zu\n", len);
		printf("arrival:   %lld\n", (long long)env.arrival);
		printf("attempts:  %u\n", st.failures);
		if (st.next > 0)
			printf("next:      %lld\n", (long long)st.next);
		printf("held:      %s\n", st.held ? "yes" : "no");
		for (size_t i = 0; i < env.rcpt_count; i++)
			printf("recipient: <%s> %s%s%s\n", env.rcpts[i].address,
			       i < 1024 && done[i] ? "done" : "waiting",
			       st.errors[i] != NULL ? " last error: " : "",
			       st.errors[i] != NULL ? st.errors[i] : "");
		n = pread(fd, header, sizeof(header) - 1, offset);
		if (n > 0) {
			char *end;

			header[n] = '\0';
			end = strstr(header, "\r\n\r\n");
			if (end != NULL)
				end[2] = '\0';
			printf("\n%s", header);
		}
		queue_state_free(&st);
		queue_envelope_free(&env);
		close(fd);
		free(dir);
		free(path);
		return 0;
	}
	return fail(xasprintf("%s: no such message", qid));
}

static int
cmd_queue(struct ctl *ctl, int argc, char **argv)
{
	char *active, *deferred;

	if (argc == 2 && strcmp(argv[0], "show") == 0)
		return queue_show(ctl, argv[1]);
	if ((argc == 1 && strcmp(argv[0], "flush") == 0) ||
	    (argc == 2 &&
	     (strcmp(argv[0], "retry") == 0 || strcmp(argv[0], "hold") == 0 ||
	      strcmp(argv[0], "release") == 0 ||
	      strcmp(argv[0], "delete") == 0))) {
		char line[128];
		int r;

		if (argc == 2 && !queue_id_valid(argv[1]))
			return fail(xasprintf("%s: not a queue id", argv[1]));
		snprintf(line, sizeof(line), "%s%s%s", argv[0],
			 argc == 2 ? " " : "", argc == 2 ? argv[1] : "");
		r = queue_control_call(ctl, line, true);
		if (r == 2)
			return argc == 2
				   ? queue_offline(ctl, argv[0], argv[1])
				   : fail(xstrdup("moatd is not running"));
		return r;
	}
	if (argc != 1 || strcmp(argv[0], "list") != 0)
		return -1;
	active = xasprintf("%s/queue", ctl->settings.data_dir);
	deferred = xasprintf("%s/queue/deferred", ctl->settings.data_dir);
	queue_list_dir(active, "active", true);
	queue_list_dir(deferred, "deferred", true);
	free(active);
	free(deferred);
	return 0;
}

static int
cmd_route(struct ctl *ctl, int argc, char **argv)
{
	struct route_table *routes = NULL;
	struct str_list items = {0};
	char *error = NULL;
	int ret = 0;

	if (route_table_open(&ctl->settings, &routes, &error) < 0)
		return fail(error);
	if (strcmp(argv[0], "list") == 0 && argc == 1) {
		if (route_table_list(routes, &items, &error) < 0)
			ret = fail(error);
		for (size_t i = 0; i < items.count; i++)
			printf("%s\n", items.items[i]);
		str_list_free(&items);
	} else if (strcmp(argv[0], "add") == 0 && argc >= 3) {
		struct buf spec;

		buf_init(&spec);
		for (int i = 2; i < argc; i++)
			buf_printf(&spec, "%s%s", i > 2 ? "|" : "", argv[i]);
		if (route_table_add(routes, argv[1], buf_cstr(&spec), &error) <
		    0)
			ret = fail(error);
		buf_free(&spec);
	} else if (strcmp(argv[0], "del") == 0 && argc == 2) {
		if (route_table_del(routes, argv[1], &error) < 0)
			ret = fail(error);
	} else {
		ret = -1;
	}
	route_table_close(&routes);
	return ret;
}

/* Looks a name up through lib/dns, configured as moatd's resolver is. */
static int
cmd_dns(struct ctl *ctl, const char *type, const char *name)
{
	static const struct {
		const char *name;
		int rrtype;
	} types[] = {{"mx", 15}, {"a", 1}, {"aaaa", 28}, {"txt", 16}};
	struct event_base *base = event_base_new();
	struct dns_answer *answer = NULL;
	struct dns *dns;
	char *error = NULL;
	int rrtype = -1, ret = 0;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(type, types[i].name) == 0)
			rrtype = types[i].rrtype;
	if (rrtype < 0) {
		event_base_free(base);
		return -1;
	}
	dns = dns_new(base, &ctl->settings.dns_servers, &error);
	if (dns == NULL) {
		event_base_free(base);
		return fail(error);
	}
	(void)dns_lookup_sync(dns, name, rrtype, &answer);
	switch (answer->status) {
	case DNS_OK:
		for (size_t i = 0; i < answer->count; i++) {
			if (rrtype == 15)
				printf("%u %s\n", answer->mx_pref[i],
				       answer->mx_host[i]);
			else if (rrtype == 16)
				printf("\"%s\"\n", answer->txt[i]);
			else
				printf("%s\n", answer->addr[i]);
		}
		break;
	case DNS_NXDOMAIN:
		ret = fail(xasprintf("%s: no such domain (NXDOMAIN)", name));
		break;
	default:
		ret = fail(xasprintf("%s: lookup failed (%s)", name,
				     answer->status == DNS_TEMPFAIL
					 ? "temporary failure"
					 : "permanent failure"));
		break;
	}
	dns_answer_free(&answer);
	dns_free(&dns);
	event_base_free(base);
	return ret;
}

static int
cmd_status(struct ctl *ctl)
{
	struct sockaddr_un sun;
	char *path = xasprintf("%s/moatd.sock", ctl->settings.data_dir);
	char *active, *deferred;
	char reply[4096];
	ssize_t n;
	int fd, ret = 0;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "moatctl: moatd is not running (%s: %s)\n",
			path, strerror(errno));
		ret = 1;
	} else if (write(fd, "status\n", 7) != 7) {
		ret = fail(xasprintf("%s: %s", path, strerror(errno)));
	} else {
		while ((n = read(fd, reply, sizeof(reply))) > 0)
			fwrite(reply, 1, (size_t)n, stdout);
	}
	if (fd >= 0)
		close(fd);
	active = xasprintf("%s/queue", ctl->settings.data_dir);
	deferred = xasprintf("%s/queue/deferred", ctl->settings.data_dir);
	printf("queue active=%zu deferred=%zu\n",
	       queue_list_dir(active, "active", false),
	       queue_list_dir(deferred, "deferred", false));
	if (ret == 0)
		(void)queue_control_call(ctl, "summary", true);
	free(active);
	free(deferred);
	free(path);
	return ret;
}

/* DKIM keys (filters/dkim_sign.h): in filter.dkim_sign.key_dir, by default
 * DATA_DIR/dkim, written as the daemon's user. */
static int
cmd_dkim(struct ctl *ctl, int argc, char **argv)
{
	const char *dir =
	    moat_settings_filter_value(&ctl->settings, "dkim_sign.key_dir");
	char *text = NULL, *error = NULL;

	if (dir == NULL)
		return -1;
	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		if (dkim_keystore_list(dir, &text, &error) < 0)
			return fail(error);
		fputs(text, stdout);
		free(text);
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "show-dns") == 0) {
		if (dkim_keystore_dns_record(dir, argv[1], &text, &error) < 0)
			return fail(error);
		fputs(text, stdout);
		free(text);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[0], "genkey") == 0) {
		const char *selector = "moat", *type = "rsa";

		for (int j = 2; j < argc; j++) {
			if (strcmp(argv[j], "--selector") == 0 && j + 1 < argc)
				selector = argv[++j];
			else if (strcmp(argv[j], "--type") == 0 && j + 1 < argc)
				type = argv[++j];
			else
				return -1;
		}
		if (strcmp(type, "rsa") != 0 && strcmp(type, "ed25519") != 0)
			return -1;
		if (dkim_keystore_genkey(dir, argv[1], selector,
					 strcmp(type, "ed25519") == 0,
					 &error) < 0)
			return fail(error);
		if (dkim_keystore_dns_record(dir, argv[1], &text, &error) < 0)
			return fail(error);
		printf("Publish this record, then mail from %s is signed:\n%s",
		       argv[1], text);
		free(text);
		return 0;
	}
	return -1;
}

/*
 * Makes sure data_dir exists and, when run as root, belongs to the daemon's
 * user, then becomes that user: every file moatctl creates is then the
 * daemon's to write.
 */
static int
become_run_user(const struct moat_settings *settings)
{
	struct run_user user;
	char *error = NULL;
	int ret = 0;

	if (mkdir(settings->data_dir, 0750) < 0 && errno != EEXIST) {
		fprintf(stderr, "moatctl: %s: %s\n", settings->data_dir,
			strerror(errno));
		return -1;
	}
	if (master_run_user_lookup(settings, &user, &error) < 0) {
		fail(error);
		return -1;
	}
	if (user.drop && (lchown(settings->data_dir, user.uid, user.gid) < 0 ||
			  master_run_user_switch(&user) < 0)) {
		fprintf(stderr, "moatctl: cannot become user %s: %s\n",
			user.name, strerror(errno));
		ret = -1;
	}
	master_run_user_free(&user);
	return ret;
}

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
	const char *config = getenv("MOAT_CONFIG");
	struct ctl ctl;
	char *error = NULL;
	int i = 1, ret;

	memset(&ctl, 0, sizeof(ctl));
	if (config == NULL || config[0] == '\0')
		config = DEFAULT_CONFIG;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strcmp(argv[i], "--force") == 0) {
			ctl.force = true;
		} else if (strcmp(argv[i], "-h") == 0 ||
			   strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "-V") == 0 ||
			   strcmp(argv[i], "--version") == 0) {
			printf("moatctl %s\n", MOAT_VERSION);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	/* --force may also follow the command's arguments. */
	for (int j = i; j < argc; j++) {
		if (strcmp(argv[j], "--force") == 0) {
			ctl.force = true;
			memmove(&argv[j], &argv[j + 1],
				(size_t)(argc - j) * sizeof(*argv));
			argc--;
			j--;
		}
	}
	if (i >= argc || strcmp(argv[i], "help") == 0) {
		usage(i >= argc ? stderr : stdout);
		return i >= argc ? 2 : 0;
	}
	if (moat_settings_load(config, &ctl.settings, &error) < 0) {
		fprintf(stderr, "moatctl: %s\n", error);
		free(error);
		moat_settings_free(&ctl.settings);
		return 2;
	}
	if (strcmp(argv[i], "status") == 0 && argc - i == 1) {
		ret = cmd_status(&ctl);
		moat_settings_free(&ctl.settings);
		return ret;
	}
	if (strcmp(argv[i], "dns") == 0 && argc - i == 3) {
		ret = cmd_dns(&ctl, argv[i + 1], argv[i + 2]);
		moat_settings_free(&ctl.settings);
		if (ret < 0) {
			usage(stderr);
			return 2;
		}
		return ret;
	}
	if (strcmp(argv[i], "spf") == 0) {
		ret = moatctl_spf(&ctl.settings, argc - i - 1, argv + i + 1);
		moat_settings_free(&ctl.settings);
		if (ret < 0) {
			usage(stderr);
			return 2;
		}
		return ret;
	}
	if (become_run_user(&ctl.settings) < 0) {
		moat_settings_free(&ctl.settings);
		return 1;
	}
	if (strcmp(argv[i], "dmarc") == 0 && argc - i >= 2) {
		ret = moatctl_dmarc(&ctl.settings, argc - i - 1, argv + i + 1);
		moat_settings_free(&ctl.settings);
		if (ret < 0) {
			usage(stderr);
			return 2;
		}
		return ret;
	}
	if (strcmp(argv[i], "spam") == 0 && argc - i >= 2) {
		ret = moatctl_spam(&ctl.settings, argc - i - 1, argv + i + 1);
		moat_settings_free(&ctl.settings);
		if (ret < 0) {
			usage(stderr);
			return 2;
		}
		return ret;
	}
	if (strcmp(argv[i], "quarantine") == 0 && argc - i >= 2) {
		ret = moatctl_quarantine(&ctl.settings, argc - i - 1,
					 argv + i + 1);
		moat_settings_free(&ctl.settings);
		if (ret < 0) {
			usage(stderr);
			return 2;
		}
		return ret;
	}
	if (directory_open(ctl.settings.data_dir, &ctl.dir, &error) < 0) {
		ret = fail(error);
		moat_settings_free(&ctl.settings);
		return ret;
	}
	if (strcmp(argv[i], "domain") == 0 && argc - i >= 2)
		ret = cmd_domain(&ctl, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "user") == 0 && argc - i >= 2)
		ret = cmd_user(&ctl, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "alias") == 0 && argc - i >= 2)
		ret = cmd_alias(&ctl, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "queue") == 0 && argc - i >= 2)
		ret = cmd_queue(&ctl, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "dkim") == 0 && argc - i >= 2)
		ret = cmd_dkim(&ctl, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "route") == 0 && argc - i >= 2)
		ret = cmd_route(&ctl, argc - i - 1, argv + i + 1);
	else
		ret = -1;
	directory_close(&ctl.dir);
	moat_settings_free(&ctl.settings);
	if (ret < 0) {
		usage(stderr);
		return 2;
	}
	return ret;
}
