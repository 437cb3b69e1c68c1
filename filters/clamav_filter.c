/*
 * clamav_filter: the "clamav" filter: scans each whole message with the
 * shared scanner of filters/clamav.c (libclamav in process, or clamd) and
 * turns the result into a symbol and a verdict.
 *
 * A virus adds CLAMAV_VIRUS (detail: the signature name) and, per
 * filter.clamav.action, rejects with 554 5.7.0 (the default) or
 * quarantines. An encrypted archive or document adds CLAMAV_ENCRYPTED and
 * does what filter.clamav.encrypted says (symbol, reject, quarantine, or
 * ignore: not even looked for). Other libclamav heuristics (Heuristics.*,
 * such as its phishing checks) add CLAMAV_HEURISTIC and only score unless
 * filter.clamav.heuristics says otherwise. A message partly left unscanned
 * by a limit adds CLAMAV_PARTIAL. A scan that cannot be done returns
 * -1, so the chain's on_error (tempfail by default) applies: mail is never
 * passed unscanned silently.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "filters/clamav.h"
#include "filters/filter.h"
#include "lib/log.h"
#include "lib/xalloc.h"

struct clamav_filter_settings {
	char *mode;
	char *database_dir;
	char *clamd_address;
	unsigned long long max_scan_size;
	unsigned long long max_file_size;
	long long max_files;
	long long max_recursion;
	unsigned int max_scan_time;
	unsigned int reload_interval;
	char *tmpdir;
	char *action;
	char *encrypted;
	char *heuristics;
};

static int
clamav_filter_validate_mode(const void *field, const char **error_r)
{
	const char *v = *(char *const *)field;

	if (strcmp(v, "libclamav") != 0 && strcmp(v, "clamd") != 0) {
		*error_r = "must be libclamav or clamd";
		return -1;
	}
	return 0;
}

static int
clamav_filter_validate_action(const void *field, const char **error_r)
{
	const char *v = *(char *const *)field;

	if (strcmp(v, "reject") != 0 && strcmp(v, "quarantine") != 0) {
		*error_r = "must be reject or quarantine";
		return -1;
	}
	return 0;
}

static int
clamav_filter_validate_encrypted(const void *field, const char **error_r)
{
	const char *v = *(char *const *)field;

	if (strcmp(v, "symbol") != 0 && strcmp(v, "reject") != 0 &&
	    strcmp(v, "quarantine") != 0 && strcmp(v, "ignore") != 0) {
		*error_r = "must be symbol, reject, quarantine or ignore";
		return -1;
	}
	return 0;
}

static int
clamav_filter_validate_heuristics(const void *field, const char **error_r)
{
	const char *v = *(char *const *)field;

	if (strcmp(v, "symbol") != 0 && strcmp(v, "reject") != 0 &&
	    strcmp(v, "quarantine") != 0) {
		*error_r = "must be symbol, reject or quarantine";
		return -1;
	}
	return 0;
}

#define C(field) offsetof(struct clamav_filter_settings, field)
static const struct setting_def clamav_filter_defs[] = {
    {"mode", SETTING_STRING, "libclamav", C(mode), 0, 0,
     clamav_filter_validate_mode,
     "libclamav (engine in process, shared by the filter threads) or clamd "
     "(INSTREAM to clamd_address)"},
    {"database_dir", SETTING_PATH, "/var/lib/clamav", C(database_dir), 0, 0,
     NULL,
     "signature directory (libclamav mode); freshclam updates are reloaded "
     "in the background"},
    {"clamd_address", SETTING_STRING, "", C(clamd_address), 0, 0, NULL,
     "clamd socket: /path/to/clamd.ctl or host:port (clamd mode)"},
    {"max_scan_size", SETTING_SIZE, "100M", C(max_scan_size), 0, 0, NULL,
     "bytes scanned per message, archives unpacked included (clamd mode: "
     "bytes streamed; keep it at most clamd's StreamMaxLength)"},
    {"max_file_size", SETTING_SIZE, "25M", C(max_file_size), 0, 0, NULL,
     "largest file (attachment or archive member) scanned"},
    {"max_files", SETTING_INT, "10000", C(max_files), 1, 1000000, NULL,
     "files scanned per message (archive members)"},
    {"max_recursion", SETTING_INT, "16", C(max_recursion), 1, 100, NULL,
     "nesting of archives and messages unpacked"},
    {"max_scan_time", SETTING_DURATION, "30s", C(max_scan_time), 1, 3600, NULL,
     "libclamav's own time limit per message"},
    {"reload_interval", SETTING_DURATION, "60s", C(reload_interval), 0, 86400,
     NULL,
     "how often the database directory is checked for updates (0: never)"},
    {"tmpdir", SETTING_PATH, "/dev/shm", C(tmpdir), 0, 0, NULL,
     "where libclamav unpacks parts while scanning (a tmpfs is several "
     "times cheaper than a disk; empty: $TMPDIR or /tmp; /dev/shm is used "
     "only when writable)"},
    {"action", SETTING_STRING, "reject", C(action), 0, 0,
     clamav_filter_validate_action,
     "on a virus: reject (554 5.7.0) or quarantine"},
    {"encrypted", SETTING_STRING, "symbol", C(encrypted), 0, 0,
     clamav_filter_validate_encrypted,
     "on an encrypted archive or document: symbol (CLAMAV_ENCRYPTED only), "
     "reject, quarantine, or ignore"},
    {"heuristics", SETTING_STRING, "symbol", C(heuristics), 0, 0,
     clamav_filter_validate_heuristics,
     "on another libclamav heuristic (Heuristics.*, e.g. phishing): symbol "
     "(CLAMAV_HEURISTIC only), reject or quarantine"},
};
#undef C

static int
clamav_filter_check(const void *settings, const char **error_r)
{
	const struct clamav_filter_settings *set = settings;

	if (strcmp(set->mode, "clamd") == 0 && set->clamd_address[0] == '\0') {
		*error_r = "filter.clamav.mode = clamd needs "
			   "filter.clamav.clamd_address";
		return -1;
	}
	return 0;
}

struct clamav_filter {
	const struct clamav_filter_settings *set;
	struct clamav *av;
};

static int
clamav_filter_init(const void *settings, void **state_r, char **error_r)
{
	const struct clamav_filter_settings *set = settings;
	struct clamav_config config;
	struct clamav_filter *f;

	memset(&config, 0, sizeof(config));
	config.mode = strcmp(set->mode, "clamd") == 0 ? CLAMAV_MODE_CLAMD
						      : CLAMAV_MODE_LIBCLAMAV;
	config.database_dir = set->database_dir;
	config.clamd_address = set->clamd_address;
	config.max_scan_size = set->max_scan_size;
	config.max_file_size = set->max_file_size;
	config.max_files = (unsigned int)set->max_files;
	config.max_recursion = (unsigned int)set->max_recursion;
	config.max_scan_time_ms = set->max_scan_time * 1000;
	config.detect_encrypted = strcmp(set->encrypted, "ignore") != 0;
	config.reload_interval = set->reload_interval;
	config.tmpdir = set->tmpdir;
	/* The default must not break a system without a usable /dev/shm. */
	if (strcmp(config.tmpdir, "/dev/shm") == 0 &&
	    access(config.tmpdir, W_OK | X_OK) != 0)
		config.tmpdir = "";

	f = xcalloc(1, sizeof(*f));
	f->set = set;
	if (clamav_new(&config, &f->av, error_r) < 0) {
		char *e = xasprintf("clamav: %s", *error_r);
		free(*error_r);
		*error_r = e;
		free(f);
		return -1;
	}
	if (config.mode == CLAMAV_MODE_LIBCLAMAV) {
		char *desc = clamav_dir_describe(set->database_dir);

		if (!clamav_dir_has_official_db(set->database_dir))
			log_warnx("clamav: *** TEST DATABASE *** %s holds no "
				  "official ClamAV database (main/daily), only "
				  "%u local signatures (%s): real viruses will "
				  "NOT be detected. Run freshclam (the "
				  "clamav-freshclam service); the official "
				  "database is loaded when it arrives.",
				  set->database_dir,
				  clamav_signature_count(f->av), desc);
		else
			log_info("clamav: %u signatures loaded from %s: %s",
				 clamav_signature_count(f->av),
				 set->database_dir, desc);
		free(desc);
	} else {
		log_info("clamav: scanning through clamd at %s",
			 set->clamd_address);
	}
	*state_r = f;
	return 0;
}

static enum policy_verdict
clamav_filter_verdict(const char *action)
{
	return strcmp(action, "quarantine") == 0 ? POLICY_QUARANTINE
						 : POLICY_REJECT;
}

static int
clamav_filter_run(void *state, struct filter_context *ctx,
		  enum filter_phase phase)
{
	struct clamav_filter *f = state;
	const struct filter_body *body = filter_body(ctx);
	struct clamav_result r;
	const char *error = NULL;
	char text[320];

	(void)phase;
	if (body == NULL) {
		filter_set_error(ctx, "no message to scan");
		return -1;
	}
	if (clamav_scan(f->av, body->fd, body->offset, body->len,
			filter_remaining_ms(ctx), &r, &error) < 0) {
		filter_set_error(ctx, "scan failed: %s", error);
		return -1;
	}
	switch (r.status) {
	case CLAMAV_CLEAN:
		break;
	case CLAMAV_INFECTED:
		/* The verdict decides; a score would decide again in the spam
		 * total: quarantined viruses were rejected as spam. */
		filter_add_symbol(
		    ctx, "CLAMAV_VIRUS",
		    strcmp(f->set->action, "quarantine") == 0 ? 0.0 : 100.0,
		    r.name);
		snprintf(text, sizeof(text), "Virus found: %s", r.name);
		filter_set_verdict(ctx, clamav_filter_verdict(f->set->action),
				   554, "5.7.0", text);
		break;
	case CLAMAV_ENCRYPTED:
		filter_add_symbol(ctx, "CLAMAV_ENCRYPTED", 1.0, r.name);
		if (strcmp(f->set->encrypted, "reject") == 0 ||
		    strcmp(f->set->encrypted, "quarantine") == 0)
			filter_set_verdict(
			    ctx, clamav_filter_verdict(f->set->encrypted), 554,
			    "5.7.0",
			    "Encrypted archive or document not accepted");
		break;
	case CLAMAV_PARTIAL:
		filter_add_symbol(ctx, "CLAMAV_PARTIAL", 0.5, r.name);
		break;
	case CLAMAV_HEURISTIC:
		filter_add_symbol(ctx, "CLAMAV_HEURISTIC", 3.0, r.name);
		if (strcmp(f->set->heuristics, "symbol") != 0) {
			snprintf(text, sizeof(text), "Message refused: %s",
				 r.name);
			filter_set_verdict(
			    ctx, clamav_filter_verdict(f->set->heuristics), 554,
			    "5.7.0", text);
		}
		break;
	}
	return 0;
}

static void
clamav_filter_fini(void *state)
{
	struct clamav_filter *f = state;

	if (f == NULL)
		return;
	clamav_free(&f->av);
	free(f);
}

const struct filter filter_clamav = {
    .name = "clamav",
    .phases = FILTER_PHASE_DATA,
    .settings = clamav_filter_defs,
    .settings_count =
	sizeof(clamav_filter_defs) / sizeof(clamav_filter_defs[0]),
    .settings_size = sizeof(struct clamav_filter_settings),
    .check = clamav_filter_check,
    .init = clamav_filter_init,
    .run = clamav_filter_run,
    .fini = clamav_filter_fini,
};
