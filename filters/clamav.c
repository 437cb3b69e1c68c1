/*
 * clamav: the scanner behind the clamav filter (see clamav.h).
 *
 * libclamav mode: the engine in use is a pointer guarded by a mutex; a scan
 * takes a reference (cl_engine_addref) under the mutex and drops it
 * (cl_engine_free) when done, so the mutex is held for a pointer copy only.
 * A reload builds and compiles the new engine without any lock, then swaps
 * the pointer and drops the old engine's base reference: the last scan on
 * it frees it. The reload thread sleeps on a condition variable so
 * clamav_free() stops it at once.
 *
 * clamd mode: one connection per scan, "zINSTREAM", the message in chunks
 * of at most 64 KiB with 4-byte big-endian lengths, a zero length, then one
 * NUL-terminated reply: "stream: OK", "stream: NAME FOUND" or "... ERROR".
 */
#include "filters/clamav.h"

#include <arpa/inet.h>
#include <clamav.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"

#define CLAMD_CHUNK 65536

struct clamav {
	struct clamav_config config;
	char *database_dir;
	char *clamd_address;
	char *tmpdir;

	pthread_mutex_t lock; /* guards engine, sigs, generation */
	struct cl_engine *engine;
	unsigned int sigs;
	unsigned int generation;

	pthread_mutex_t reload_lock; /* one reload at a time; guards stamp */
	uint64_t stamp;		     /* fingerprint of the loaded directory */

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stop;
};

static pthread_once_t clamav_once = PTHREAD_ONCE_INIT;
static cl_error_t clamav_init_ret = CL_SUCCESS;

static void
clamav_msg_cb(enum cl_msg severity, const char *fullmsg, const char *msg,
	      void *context)
{
	char clean[256];

	(void)fullmsg;
	(void)context;
	if (severity == CL_MSG_INFO_VERBOSE)
		return;
	{
		size_t len = strlen(msg);

		while (len > 0 &&
		       (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
			len--;
		log_sanitize(msg, len, clean, sizeof(clean));
		if (severity == CL_MSG_ERROR)
			log_warnx("clamav: libclamav error: %s", clean);
		else
			log_debug("clamav: libclamav: %s", clean);
	}
}

static void
clamav_init_once(void)
{
	cl_set_clcb_msg(clamav_msg_cb);
	clamav_init_ret = cl_init(CL_INIT_DEFAULT);
}

int
clamav_global_init(const char **error_r)
{
	pthread_once(&clamav_once, clamav_init_once);
	if (clamav_init_ret != CL_SUCCESS) {
		*error_r = cl_strerror(clamav_init_ret);
		return -1;
	}
	return 0;
}

bool
clamav_dir_has_official_db(const char *dir)
{
	static const char *const names[] = {"main.cvd", "main.cld", "daily.cvd",
					    "daily.cld"};
	char path[4096];
	struct stat st;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			return true;
	}
	return false;
}

static int
clamav_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Database files libclamav loads from a directory (by extension). */
static bool
clamav_is_db_file(const char *name)
{
	static const char *const exts[] = {
	    ".cvd", ".cld",  ".cud", ".ndb",  ".ndu", ".hdb",  ".hdu", ".hsb",
	    ".hsu", ".mdb",  ".mdu", ".msb",  ".msu", ".ldb",  ".ldu", ".idb",
	    ".cdb", ".crb",  ".pdb", ".gdb",  ".wdb", ".ftm",  ".fp",  ".sfp",
	    ".ign", ".ign2", ".yar", ".yara", ".cbc", ".info", ".cat"};
	const char *dot = strrchr(name, '.');

	if (name[0] == '.' || dot == NULL)
		return false;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (strcmp(dot, exts[i]) == 0)
			return true;
	return false;
}

char *
clamav_dir_describe(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, out[1024];
	size_t n = 0, i, len = 0;

	out[0] = '\0';
	if (d == NULL)
		return xstrdup("(unreadable)");
	while ((e = readdir(d)) != NULL && n < 64) {
		if (!clamav_is_db_file(e->d_name))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), clamav_cmp_str);
	for (i = 0; i < n; i++) {
		const char *dot = strrchr(names[i], '.');
		char item[300], path[4096];
		int w;

		if (strcmp(dot, ".cvd") == 0 || strcmp(dot, ".cld") == 0) {
			struct cl_cvd *cvd;

			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			cvd = cl_cvdhead(path);
			if (cvd != NULL) {
				snprintf(item, sizeof(item), "%s v%u (%u sigs)",
					 names[i], cvd->version, cvd->sigs);
				cl_cvdfree(cvd);
			} else {
				snprintf(item, sizeof(item), "%s (bad header)",
					 names[i]);
			}
		} else {
			snprintf(item, sizeof(item), "%s", names[i]);
		}
		w = snprintf(out + len, sizeof(out) - len, "%s%s",
			     i > 0 ? ", " : "", item);
		if (w < 0 || (size_t)w >= sizeof(out) - len)
			break; /* out stays NUL-terminated, truncated */
		len += (size_t)w;
		free(names[i]);
		names[i] = NULL;
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return xstrdup(n == 0 ? "(no database files)" : out);
}

/* Per scan: the first detection's name, when libclamav reports one
 * through the callback but not through virname (its limit heuristics). */
struct clamav_scan_ctx {
	char name[128];
};

static void
clamav_virus_found_cb(int fd, const char *virname, void *context)
{
	struct clamav_scan_ctx *sc = context;

	(void)fd;
	if (sc != NULL && virname != NULL && sc->name[0] == '\0')
		snprintf(sc->name, sizeof(sc->name), "%s", virname);
}

/* Builds and compiles an engine from the directory. */
static int
clamav_load_engine(const struct clamav *av, struct cl_engine **engine_r,
		   unsigned int *sigs_r, char **error_r)
{
	struct cl_engine *engine = cl_engine_new();
	unsigned int sigs = 0;
	cl_error_t ret;

	if (engine == NULL) {
		*error_r = xstrdup("cl_engine_new failed");
		return -1;
	}
	cl_engine_set_num(engine, CL_ENGINE_MAX_SCANSIZE,
			  (long long)av->config.max_scan_size);
	cl_engine_set_num(engine, CL_ENGINE_MAX_FILESIZE,
			  (long long)av->config.max_file_size);
	cl_engine_set_num(engine, CL_ENGINE_MAX_FILES, av->config.max_files);
	cl_engine_set_num(engine, CL_ENGINE_MAX_RECURSION,
			  av->config.max_recursion);
	if (av->config.max_scan_time_ms > 0)
		cl_engine_set_num(engine, CL_ENGINE_MAX_SCANTIME,
				  av->config.max_scan_time_ms);
	if (av->tmpdir[0] != '\0' &&
	    cl_engine_set_str(engine, CL_ENGINE_TMPDIR, av->tmpdir) !=
		CL_SUCCESS) {
		*error_r = xasprintf("cannot use %s as libclamav's tmpdir",
				     av->tmpdir);
		cl_engine_free(engine);
		return -1;
	}
	cl_engine_set_clcb_virus_found(engine, clamav_virus_found_cb);
	ret = cl_load(av->database_dir, engine, &sigs, CL_DB_STDOPT);
	if (ret != CL_SUCCESS) {
		*error_r = xasprintf("loading the database from %s: %s",
				     av->database_dir, cl_strerror(ret));
		cl_engine_free(engine);
		return -1;
	}
	if (sigs == 0) {
		*error_r = xasprintf("no signatures in %s", av->database_dir);
		cl_engine_free(engine);
		return -1;
	}
	ret = cl_engine_compile(engine);
	if (ret != CL_SUCCESS) {
		*error_r = xasprintf("compiling the database from %s: %s",
				     av->database_dir, cl_strerror(ret));
		cl_engine_free(engine);
		return -1;
	}
	*engine_r = engine;
	*sigs_r = sigs;
	return 0;
}

/*
 * A fingerprint of the directory: name, inode, size and mtime of every
 * entry, order-independent. cl_statchkdir() misses removed files; this
 * sees new, replaced (freshclam renames), changed and removed ones.
 */
static uint64_t
clamav_dir_stamp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t stamp = 0x9e3779b97f4a7c15ULL;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;
		uint64_t h = 1469598103934665603ULL;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0)
			continue;
		for (const char *p = e->d_name; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		h ^= (uint64_t)st.st_ino * 0xff51afd7ed558ccdULL;
		h ^= (uint64_t)st.st_size * 0xc4ceb9fe1a85ec53ULL;
		h ^= (uint64_t)st.st_mtim.tv_sec * 1000000007ULL +
		     (uint64_t)st.st_mtim.tv_nsec;
		stamp += h * 0x2545f4914f6cdd1dULL;
	}
	closedir(d);
	return stamp;
}

int
clamav_reload_check(struct clamav *av, char **error_r)
{
	struct cl_engine *engine, *old;
	unsigned int sigs;
	uint64_t stamp;
	bool changed;

	if (av->config.mode != CLAMAV_MODE_LIBCLAMAV)
		return 0;
	pthread_mutex_lock(&av->reload_lock);
	stamp = clamav_dir_stamp(av->database_dir);
	changed = stamp != av->stamp;
	if (!changed) {
		pthread_mutex_unlock(&av->reload_lock);
		return 0;
	}
	/* Remember this state even if the load fails, so a broken update is
	 * reported once, not at every check. */
	av->stamp = stamp;
	if (clamav_load_engine(av, &engine, &sigs, error_r) < 0) {
		pthread_mutex_unlock(&av->reload_lock);
		return -1;
	}
	/* Logged before the swap, so the line precedes any verdict of the
	 * new engine in the log. */
	{
		char *desc = clamav_dir_describe(av->database_dir);

		log_info(
		    "clamav: database reloaded from %s: %u signatures: "
		    "%s%s",
		    av->database_dir, sigs, desc,
		    clamav_dir_has_official_db(av->database_dir)
			? ""
			: " (*** TEST DATABASE ***: no official main/daily "
			  "yet)");
		free(desc);
	}
	pthread_mutex_lock(&av->lock);
	old = av->engine;
	av->engine = engine;
	av->sigs = sigs;
	av->generation++;
	pthread_mutex_unlock(&av->lock);
	/* Scans still holding the old engine keep it alive. */
	cl_engine_free(old);
	pthread_mutex_unlock(&av->reload_lock);
	return 1;
}

static void *
clamav_reload_thread(void *arg)
{
	struct clamav *av = arg;

	for (;;) {
		struct timespec until;
		char *error = NULL;
		bool stop;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += av->config.reload_interval;
		pthread_mutex_lock(&av->stop_lock);
		while (!av->stop &&
		       pthread_cond_timedwait(&av->stop_cond, &av->stop_lock,
					      &until) != ETIMEDOUT)
			;
		stop = av->stop;
		pthread_mutex_unlock(&av->stop_lock);
		if (stop)
			break;
		if (clamav_reload_check(av, &error) < 0) {
			log_warnx("clamav: reload failed, keeping the loaded "
				  "database: %s",
				  error);
			free(error);
		}
	}
	return NULL;
}

int
clamav_new(const struct clamav_config *config, struct clamav **av_r,
	   char **error_r)
{
	struct clamav *av;
	const char *err;

	if (clamav_global_init(&err) < 0) {
		*error_r = xasprintf("libclamav init: %s", err);
		return -1;
	}
	av = xcalloc(1, sizeof(*av));
	av->config = *config;
	av->database_dir =
	    xstrdup(config->database_dir ? config->database_dir : "");
	av->clamd_address =
	    xstrdup(config->clamd_address ? config->clamd_address : "");
	av->tmpdir = xstrdup(config->tmpdir ? config->tmpdir : "");
	av->config.tmpdir = av->tmpdir;
	av->config.database_dir = av->database_dir;
	av->config.clamd_address = av->clamd_address;
	pthread_mutex_init(&av->lock, NULL);
	pthread_mutex_init(&av->reload_lock, NULL);
	pthread_mutex_init(&av->stop_lock, NULL);
	pthread_cond_init(&av->stop_cond, NULL);

	if (config->mode == CLAMAV_MODE_CLAMD) {
		if (av->clamd_address[0] == '\0') {
			*error_r = xstrdup("clamd mode needs clamd_address");
			clamav_free(&av);
			return -1;
		}
		*av_r = av;
		return 0;
	}
	av->stamp = clamav_dir_stamp(av->database_dir);
	if (clamav_load_engine(av, &av->engine, &av->sigs, error_r) < 0) {
		clamav_free(&av);
		return -1;
	}
	av->generation = 1;
	if (config->reload_interval > 0) {
		if (pthread_create(&av->thread, NULL, clamav_reload_thread,
				   av) != 0) {
			*error_r = xstrdup("cannot start the reload thread");
			clamav_free(&av);
			return -1;
		}
		av->thread_started = true;
	}
	*av_r = av;
	return 0;
}

void
clamav_free(struct clamav **avp)
{
	struct clamav *av = *avp;

	if (av == NULL)
		return;
	if (av->thread_started) {
		pthread_mutex_lock(&av->stop_lock);
		av->stop = true;
		pthread_cond_signal(&av->stop_cond);
		pthread_mutex_unlock(&av->stop_lock);
		pthread_join(av->thread, NULL);
	}
	if (av->engine != NULL)
		cl_engine_free(av->engine);
	pthread_mutex_destroy(&av->lock);
	pthread_mutex_destroy(&av->reload_lock);
	pthread_mutex_destroy(&av->stop_lock);
	pthread_cond_destroy(&av->stop_cond);
	free(av->database_dir);
	free(av->clamd_address);
	free(av->tmpdir);
	x_free(avp);
}

unsigned int
clamav_signature_count(struct clamav *av)
{
	unsigned int n;

	pthread_mutex_lock(&av->lock);
	n = av->sigs;
	pthread_mutex_unlock(&av->lock);
	return n;
}

unsigned int
clamav_generation(struct clamav *av)
{
	unsigned int n;

	pthread_mutex_lock(&av->lock);
	n = av->generation;
	pthread_mutex_unlock(&av->lock);
	return n;
}

/* Copies a signature name as printable ASCII and classifies it. */
static void
clamav_set_found(struct clamav_result *r, const char *name, size_t len)
{
	size_t n = len < sizeof(r->name) - 1 ? len : sizeof(r->name) - 1;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		r->name[i] = c > 0x20 && c < 0x7f && c != '"' && c != '\\'
				 ? (char)c
				 : '_';
	}
	r->name[n] = '\0';
	if (strncmp(r->name, "Heuristics.Encrypted", 20) == 0)
		r->status = CLAMAV_ENCRYPTED;
	else if (strncmp(r->name, "Heuristics.Limits.Exceeded", 26) == 0)
		r->status = CLAMAV_PARTIAL;
	else if (strncmp(r->name, "Heuristics.", 11) == 0)
		r->status = CLAMAV_HEURISTIC;
	else
		r->status = CLAMAV_INFECTED;
}

/* --- libclamav ---------------------------------------------------------- */

/* libclamav maps from page-aligned offsets only: the handle carries the
 * message's own offset in the spool file and the map starts at 0. */
struct clamav_handle {
	int fd;
	off_t base;
	size_t len;
};

static off_t
clamav_pread_cb(void *handle, void *buf, size_t count, off_t offset)
{
	const struct clamav_handle *h = handle;
	ssize_t n;

	if (offset < 0 || (size_t)offset >= h->len)
		return 0;
	if (count > h->len - (size_t)offset)
		count = h->len - (size_t)offset;
	do {
		n = pread(h->fd, buf, count, h->base + offset);
	} while (n < 0 && errno == EINTR);
	return (off_t)n;
}

static int
clamav_scan_engine(struct clamav *av, int fd, off_t offset, size_t len,
		   struct clamav_result *result_r, const char **error_r)
{
	struct cl_engine *engine;
	struct cl_scan_options opts;
	const char *virname = NULL;
	unsigned long scanned = 0;
	struct clamav_handle handle = {fd, offset, len};
	struct clamav_scan_ctx sc = {{0}};
	cl_fmap_t *map;
	cl_error_t ret;

	pthread_mutex_lock(&av->lock);
	engine = av->engine;
	cl_engine_addref(engine);
	pthread_mutex_unlock(&av->lock);

	map = cl_fmap_open_handle(&handle, 0, len, clamav_pread_cb, 1);
	if (map == NULL) {
		cl_engine_free(engine);
		*error_r = "cannot map the message for libclamav";
		return -1;
	}
	memset(&opts, 0, sizeof(opts));
	opts.general = CL_SCAN_GENERAL_HEURISTICS;
	opts.parse = ~0u;
	/* A limit hit is reported (CLAMAV_PARTIAL), never silent; a
	 * signature match elsewhere in the message still wins. */
	opts.heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX;
	if (av->config.detect_encrypted)
		opts.heuristic |= CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE |
				  CL_SCAN_HEURISTIC_ENCRYPTED_DOC;
	ret = cl_scanmap_callback(map, "message.eml", &virname, &scanned,
				  engine, &opts, &sc);
	cl_fmap_close(map);
	if (ret == CL_VIRUS) {
		const char *v = virname != NULL	     ? virname
				: sc.name[0] != '\0' ? sc.name
						     : "unknown";
		clamav_set_found(result_r, v, strlen(v));
	}
	cl_engine_free(engine);
	if (ret == CL_CLEAN || ret == CL_VIRUS)
		return 0;
	*error_r = cl_strerror(ret);
	return -1;
}

/* --- clamd -------------------------------------------------------------- */

static int
clamd_connect(const char *address, const char **error_r)
{
	int fd = -1;

	if (address[0] == '/') {
		struct sockaddr_un sun;

		if (strlen(address) >= sizeof(sun.sun_path)) {
			*error_r = "clamd socket path too long";
			return -1;
		}
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, address, strlen(address) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 ||
		    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			if (fd >= 0)
				close(fd);
			*error_r = "cannot connect to clamd";
			return -1;
		}
		return fd;
	}
	/* host:port, [v6]:port */
	char host[256], port[16];
	const char *colon = strrchr(address, ':');
	const char *h = address;
	size_t hlen;
	struct addrinfo hints, *res = NULL, *ai;

	if (colon == NULL || colon[1] == '\0' ||
	    strlen(colon + 1) >= sizeof(port)) {
		*error_r = "clamd_address is neither /path nor host:port";
		return -1;
	}
	hlen = (size_t)(colon - address);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		*error_r = "clamd_address has a bad host";
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		*error_r = "cannot resolve the clamd host";
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		*error_r = "cannot connect to clamd";
	return fd;
}

static int
clamd_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
clamav_scan_clamd(struct clamav *av, int msg_fd, off_t offset, size_t len,
		  long timeout_ms, struct clamav_result *result_r,
		  const char **error_r)
{
	static const char cmd[] = "zINSTREAM";
	unsigned char *chunk = NULL;
	char reply[512];
	size_t got = 0, done = 0;
	bool partial = false;
	struct timeval tv;
	int fd;

	fd = clamd_connect(av->clamd_address, error_r);
	if (fd < 0)
		return -1;
	if (timeout_ms <= 0)
		timeout_ms = 60000;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	if (clamd_write_all(fd, cmd, sizeof(cmd)) < 0)
		goto io_error;
	chunk = xmalloc(4 + CLAMD_CHUNK);
	if (av->config.max_scan_size > 0 && len > av->config.max_scan_size) {
		len = (size_t)av->config.max_scan_size;
		partial = true;
	}
	while (done < len) {
		size_t want =
		    len - done < CLAMD_CHUNK ? len - done : CLAMD_CHUNK;
		ssize_t n =
		    pread(msg_fd, chunk + 4, want, offset + (off_t)done);
		uint32_t be;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error_r = "cannot read the spooled message";
			goto fail;
		}
		be = htonl((uint32_t)n);
		memcpy(chunk, &be, 4);
		if (clamd_write_all(fd, chunk, 4 + (size_t)n) < 0)
			break; /* clamd may have answered (size limit) */
		done += (size_t)n;
	}
	if (done == len) {
		uint32_t zero = 0;
		if (clamd_write_all(fd, &zero, 4) < 0)
			goto io_error;
	}
	while (got < sizeof(reply) - 1) {
		ssize_t n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(reply, '\0', got) != NULL)
			break;
	}
	reply[got] = '\0';
	free(chunk);
	close(fd);
	got = strlen(reply);
	while (got > 0 && (reply[got - 1] == '\n' || reply[got - 1] == '\r'))
		reply[--got] = '\0';
	if (got == 0) {
		*error_r = "clamd closed the connection without an answer";
		return -1;
	}
	if (strcmp(reply, "stream: OK") == 0) {
		result_r->status = partial ? CLAMAV_PARTIAL : CLAMAV_CLEAN;
		if (partial)
			snprintf(result_r->name, sizeof(result_r->name),
				 "max_scan_size");
		return 0;
	}
	if (strstr(reply, "size limit exceeded") != NULL) {
		/* clamd's StreamMaxLength is below this message. */
		result_r->status = CLAMAV_PARTIAL;
		snprintf(result_r->name, sizeof(result_r->name),
			 "clamd StreamMaxLength");
		return 0;
	}
	if (got > 14 && strncmp(reply, "stream: ", 8) == 0 &&
	    strcmp(reply + got - 6, " FOUND") == 0) {
		clamav_set_found(result_r, reply + 8, got - 8 - 6);
		return 0;
	}
	*error_r = got > 6 && strcmp(reply + got - 6, " ERROR") == 0
		       ? "clamd answered ERROR (size limit or scan error)"
		       : "clamd answered something unexpected";
	return -1;
io_error:
	*error_r = "clamd connection failed";
fail:
	free(chunk);
	close(fd);
	return -1;
}

int
clamav_scan(struct clamav *av, int fd, off_t offset, size_t len,
	    long timeout_ms, struct clamav_result *result_r,
	    const char **error_r)
{
	memset(result_r, 0, sizeof(*result_r));
	result_r->status = CLAMAV_CLEAN;
	if (av->config.mode == CLAMAV_MODE_CLAMD)
		return clamav_scan_clamd(av, fd, offset, len, timeout_ms,
					 result_r, error_r);
	return clamav_scan_engine(av, fd, offset, len, result_r, error_r);
}
