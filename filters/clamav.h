/*
 * clamav: virus scanning of whole messages, either in process with
 * libclamav or through a running clamd (INSTREAM over a Unix or TCP socket).
 *
 * In process, one engine is loaded at clamav_new() from the database
 * directory and shared by every scanning thread; each scan holds a
 * reference, so a reload (a background thread polls the directory, as
 * freshclam replaces files) compiles a new engine beside the old one and
 * swaps it in: scans running on the old engine finish on it, none waits
 * and none fails during the reload. A failed reload keeps the old engine.
 *
 * The message is scanned as one file: libclamav's own mail parser decodes
 * the MIME parts, archives and nested messages within the configured
 * limits.
 */
#ifndef MOAT_CLAMAV_H
#define MOAT_CLAMAV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum clamav_mode {
	CLAMAV_MODE_LIBCLAMAV,
	CLAMAV_MODE_CLAMD,
};

struct clamav_config {
	enum clamav_mode mode;
	const char *database_dir;  /* libclamav: the signature directory */
	const char *clamd_address; /* clamd: "/path/to/socket" or "host:port" */
	unsigned long long max_scan_size; /* bytes scanned per message */
	unsigned long long max_file_size; /* bytes per contained file */
	unsigned int max_files;		  /* files per message (archives) */
	unsigned int max_recursion;	  /* archive/message nesting */
	unsigned int max_scan_time_ms;	  /* libclamav's own time limit */
	bool detect_encrypted; /* report encrypted archives/documents */
	/* Where libclamav unpacks parts while scanning; NULL or "" =
	 * $TMPDIR or /tmp. A tmpfs (/dev/shm) makes scans several times
	 * cheaper than a disk-backed /tmp. */
	const char *tmpdir;
	/* Seconds between checks of the database directory; 0 = never
	 * reload in the background (clamav_reload_check() still works). */
	unsigned int reload_interval;
};

enum clamav_status {
	CLAMAV_CLEAN,
	CLAMAV_INFECTED,  /* name holds the signature name */
	CLAMAV_ENCRYPTED, /* an encrypted archive or document (name set) */
	/* Another libclamav heuristic ("Heuristics.*", e.g. phishing
	 * heuristics with the official database): a hint, not a signature. */
	CLAMAV_HEURISTIC,
	/* Clean as far as scanned, but a limit (max_scan_size, max_file_size,
	 * max_files, max_recursion; clamd's StreamMaxLength) left part of the
	 * message unscanned. name says which limit. */
	CLAMAV_PARTIAL,
};

struct clamav_result {
	enum clamav_status status;
	char name[128]; /* signature name, printable ASCII, "" when clean */
};

struct clamav;

/* Process-wide libclamav initialisation (idempotent, thread-safe). 0, or
 * -1 with *error_r static. */
int clamav_global_init(const char **error_r);

/*
 * Creates a scanner. In libclamav mode loads and compiles the database
 * (seconds for the official one) and starts the reload thread when
 * reload_interval > 0; a directory without signatures is an error. In clamd
 * mode only checks the address. 0, or -1 with *error_r allocated.
 */
int clamav_new(const struct clamav_config *config, struct clamav **av_r,
	       char **error_r);
void clamav_free(struct clamav **av);

/*
 * Scans len bytes at offset of fd (read with pread only; fd shared).
 * timeout_ms bounds a clamd exchange (0 = 60 s). Returns 0 with *result_r,
 * or -1 with *error_r (static or thread-local) when the scan could not be
 * done (engine error, clamd unreachable or answering ERROR).
 */
int clamav_scan(struct clamav *av, int fd, off_t offset, size_t len,
		long timeout_ms, struct clamav_result *result_r,
		const char **error_r);

/*
 * libclamav mode: reloads when the database directory changed since the
 * last load. Returns 1 when a new engine is in use, 0 when nothing
 * changed, -1 when the new database failed to load (*error_r allocated;
 * the old engine stays). Used by the reload thread; callable by tests.
 */
int clamav_reload_check(struct clamav *av, char **error_r);

/* Signatures in the engine in use, and how many engines were loaded
 * (1 after clamav_new, +1 per reload). 0 in clamd mode. */
unsigned int clamav_signature_count(struct clamav *av);
unsigned int clamav_generation(struct clamav *av);

/* True when dir holds an official database (main/daily .cvd or .cld). */
bool clamav_dir_has_official_db(const char *dir);
/* The database files in dir for the log, e.g. "daily.cld v27100 (2054
 * sigs), main.cvd v62 (6647427 sigs), moat-test-eicar.ndb"; allocated. */
char *clamav_dir_describe(const char *dir);

#endif
