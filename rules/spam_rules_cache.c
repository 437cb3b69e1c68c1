/*
 * spam_rules_cache: compiled Hyperscan prefilter databases on disk, so a
 * large rule set (Debian's SpamAssassin files: tens of seconds of
 * Hyperscan compile) is compiled once, not at every start.
 *
 * An entry is one file, data_dir/spam/cache/<hex key>.hsdb, where the key
 * is a SHA-256 over everything the compile reads (spam_rules_compile.c:
 * the cache format, the Hyperscan version, the platform Hyperscan tunes
 * for, every candidate pattern with its flags, in order). A changed rule,
 * library or CPU therefore looks for another file. The file is a parser
 * input like any other: it is read whole (bounded), its trailing SHA-256
 * checked before anything in it is believed, then every count and length
 * is checked against the file size and against the candidate lists of
 * this run, and each database goes through hs_deserialize_database(), which
 * checks its own version, platform and CRC. Anything wrong makes the
 * caller rebuild and overwrite the entry, with the reason in the log.
 *
 * Layout (host byte order; the platform is in the key):
 *   "MOATHSC\n"  u32 format  u32 0  key[32]  hs_version[64]  u32 n  u32 0
 *   n x { u32 area  u32 count  u64 len  u32 cand[count]  bytes[len] }
 *   sha256[32] over everything before it
 * Written to a temporary name, fsync'd, renamed, and the directory synced.
 */
#include "rules/spam_rules_private.h"

#ifdef MOAT_HAVE_HYPERSCAN

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/xalloc.h"

#define CACHE_MAGIC    "MOATHSC\n"
#define CACHE_FORMAT   1
#define CACHE_HEADER   (8 + 4 + 4 + SPAM_CACHE_KEY_LEN + 64 + 4 + 4)
#define CACHE_MAX_FILE (512u * 1024 * 1024)
#define CACHE_MAX_DBS  4096
#define CACHE_KEEP     4 /* entries kept in the directory */
#define CACHE_SUFFIX   ".hsdb"

void
spam_hs_dbs_free(struct spam_hs_db **dbs_p, size_t *count)
{
	struct spam_hs_db *dbs = *dbs_p;
	size_t i;

	for (i = 0; dbs != NULL && i < *count; i++) {
		if (dbs[i].db != NULL)
			hs_free_database(dbs[i].db);
		free(dbs[i].cand);
		free(dbs[i].map);
	}
	free(dbs);
	*dbs_p = NULL;
	*count = 0;
}

char *
spam_cache_path(const char *dir, const unsigned char *key)
{
	char hex[SPAM_CACHE_KEY_LEN * 2 + 1];
	size_t i;

	for (i = 0; i < SPAM_CACHE_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	return xasprintf("%s/%s%s", dir, hex, CACHE_SUFFIX);
}

static void
cache_sha256(const unsigned char *data, size_t len, unsigned char *md)
{
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		abort(); /* out of memory inside OpenSSL */
}

static void
cache_hs_version(char out[64])
{
	memset(out, 0, 64);
	snprintf(out, 64, "%s", hs_version());
}

/* Reads the whole file (at most CACHE_MAX_FILE). 1, 0 (absent), -1. */
static int
cache_read(const char *path, unsigned char **data_r, size_t *len_r,
	   char **why_r)
{
	struct stat st;
	unsigned char *data;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		*why_r = xasprintf("cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (unsigned long long)st.st_size > CACHE_MAX_FILE) {
		*why_r = xstrdup("not a regular file of sane size");
		close(fd);
		return -1;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*data_r = data;
	*len_r = got;
	return 1;
}

struct cache_reader {
	const unsigned char *p, *end;
};

static bool
cache_get(struct cache_reader *r, void *out, size_t n)
{
	if ((size_t)(r->end - r->p) < n)
		return false;
	memcpy(out, r->p, n);
	r->p += n;
	return true;
}

int
spam_cache_load(const char *dir, const unsigned char *key,
		const size_t *cand_count, struct spam_hs_db **dbs_r,
		size_t *count_r, char **why_r)
{
	char *path = spam_cache_path(dir, key);
	unsigned char *data = NULL, md[SPAM_CACHE_KEY_LEN];
	char version[64], want_version[64];
	struct spam_hs_db *dbs = NULL;
	struct cache_reader r;
	uint32_t format = 0, zero = 0, n = 0, i;
	size_t len = 0, count = 0;
	int ret;

	*dbs_r = NULL;
	*count_r = 0;
	ret = cache_read(path, &data, &len, why_r);
	if (ret > 0) /* most recently used: kept longest by cache_prune() */
		(void)utimensat(AT_FDCWD, path, NULL, 0);
	free(path);
	if (ret <= 0)
		return ret;
	if (len < CACHE_HEADER + SPAM_CACHE_KEY_LEN) {
		*why_r = xstrdup("truncated");
		goto fail;
	}
	cache_sha256(data, len - SPAM_CACHE_KEY_LEN, md);
	if (memcmp(md, data + len - SPAM_CACHE_KEY_LEN, sizeof(md)) != 0) {
		*why_r = xstrdup("checksum mismatch (corrupt or truncated)");
		goto fail;
	}
	r.p = data;
	r.end = data + len - SPAM_CACHE_KEY_LEN;
	if (memcmp(r.p, CACHE_MAGIC, 8) != 0) {
		*why_r = xstrdup("not a Moat rule cache");
		goto fail;
	}
	r.p += 8;
	(void)cache_get(&r, &format, 4);
	(void)cache_get(&r, &zero, 4);
	if (format != CACHE_FORMAT) {
		*why_r =
		    xasprintf("cache format %u, want %u", format, CACHE_FORMAT);
		goto fail;
	}
	if (memcmp(r.p, key, SPAM_CACHE_KEY_LEN) != 0) {
		*why_r = xstrdup("key mismatch");
		goto fail;
	}
	r.p += SPAM_CACHE_KEY_LEN;
	(void)cache_get(&r, version, sizeof(version));
	cache_hs_version(want_version);
	if (memcmp(version, want_version, sizeof(version)) != 0) {
		version[sizeof(version) - 1] = '\0';
		*why_r = xstrdup("built by another Hyperscan version");
		goto fail;
	}
	(void)cache_get(&r, &n, 4);
	(void)cache_get(&r, &zero, 4);
	if (n == 0 || n > CACHE_MAX_DBS) {
		*why_r = xasprintf("bad database count %u", n);
		goto fail;
	}
	dbs = xcalloc(n, sizeof(*dbs));
	for (i = 0; i < n; i++) {
		struct spam_hs_db *d = &dbs[i];
		uint32_t area, cnt, k;
		uint64_t dlen;
		hs_error_t err;

		count = i + 1;
		if (!cache_get(&r, &area, 4) || !cache_get(&r, &cnt, 4) ||
		    !cache_get(&r, &dlen, 8) || area >= SPAM_AREA_COUNT ||
		    cnt == 0 || cnt > cand_count[area] ||
		    (size_t)(r.end - r.p) / 4 < cnt) {
			*why_r = xasprintf("bad entry %u", i);
			goto fail;
		}
		d->area = (int)area;
		d->count = cnt;
		d->cand = xcalloc(cnt, sizeof(*d->cand));
		(void)cache_get(&r, d->cand, (size_t)cnt * 4);
		for (k = 0; k < cnt; k++) {
			if (d->cand[k] >= cand_count[area]) {
				*why_r = xasprintf("bad pattern index in "
						   "entry %u",
						   i);
				goto fail;
			}
		}
		if (dlen == 0 || dlen > (uint64_t)(r.end - r.p)) {
			*why_r = xasprintf("bad length in entry %u", i);
			goto fail;
		}
		err = hs_deserialize_database((const char *)r.p, (size_t)dlen,
					      &d->db);
		if (err != HS_SUCCESS) {
			d->db = NULL;
			*why_r = xasprintf("Hyperscan refused entry %u "
					   "(error %d)",
					   i, (int)err);
			goto fail;
		}
		r.p += dlen;
	}
	if (r.p != r.end) {
		*why_r = xstrdup("trailing bytes");
		goto fail;
	}
	free(data);
	*dbs_r = dbs;
	*count_r = count;
	return 1;
fail:
	spam_hs_dbs_free(&dbs, &count);
	free(data);
	return -1;
}

static int
cache_mkdirs(const char *dir)
{
	char *copy = xstrdup(dir), *p;
	int ret = 0;

	for (p = copy + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0750) < 0 && errno != EEXIST)
			ret = -1;
		*p = '/';
	}
	if (mkdir(copy, 0750) < 0 && errno != EEXIST)
		ret = -1;
	free(copy);
	return ret;
}

struct cache_entry {
	char *path;
	struct timespec mtime;
};

static int
cache_entry_cmp(const void *a, const void *b)
{
	const struct cache_entry *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : -1;
	return 0;
}

/* Keeps the CACHE_KEEP most recently written or used entries. */
static void
cache_prune(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct cache_entry *ents = NULL;
	size_t n = 0, i;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		struct stat st;
		char *path;

		if (l != SPAM_CACHE_KEY_LEN * 2 + strlen(CACHE_SUFFIX) ||
		    strcmp(e->d_name + l - strlen(CACHE_SUFFIX),
			   CACHE_SUFFIX) != 0)
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		ents = xreallocarray(ents, n + 1, sizeof(*ents));
		ents[n].path = path;
		ents[n].mtime = st.st_mtim;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(ents, n, sizeof(*ents), cache_entry_cmp);
	for (i = 0; i < n; i++) {
		if (i >= CACHE_KEEP)
			(void)unlink(ents[i].path);
		free(ents[i].path);
	}
	free(ents);
}

int
spam_cache_store(const char *dir, const unsigned char *key,
		 const struct spam_hs_db *dbs, size_t count, char **error_r)
{
	char *path, *tmp;
	char version[64];
	unsigned char md[SPAM_CACHE_KEY_LEN];
	uint32_t u32;
	struct buf out;
	size_t i;
	int fd, ret = -1;

	if (count == 0 || count > CACHE_MAX_DBS) {
		*error_r = xstrdup("nothing to store");
		return -1;
	}
	if (cache_mkdirs(dir) < 0) {
		*error_r =
		    xasprintf("cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	buf_init(&out);
	buf_append(&out, CACHE_MAGIC, 8);
	u32 = CACHE_FORMAT;
	buf_append(&out, &u32, 4);
	u32 = 0;
	buf_append(&out, &u32, 4);
	buf_append(&out, key, SPAM_CACHE_KEY_LEN);
	cache_hs_version(version);
	buf_append(&out, version, sizeof(version));
	u32 = (uint32_t)count;
	buf_append(&out, &u32, 4);
	u32 = 0;
	buf_append(&out, &u32, 4);
	for (i = 0; i < count; i++) {
		char *bytes = NULL;
		size_t blen = 0;
		uint64_t len64;

		if (hs_serialize_database(dbs[i].db, &bytes, &blen) !=
		    HS_SUCCESS) {
			*error_r = xstrdup("hs_serialize_database failed");
			buf_free(&out);
			return -1;
		}
		u32 = (uint32_t)dbs[i].area;
		buf_append(&out, &u32, 4);
		u32 = (uint32_t)dbs[i].count;
		buf_append(&out, &u32, 4);
		len64 = blen;
		buf_append(&out, &len64, 8);
		buf_append(&out, dbs[i].cand, dbs[i].count * 4);
		buf_append(&out, bytes, blen);
		free(bytes);
	}
	cache_sha256((const unsigned char *)out.data, out.len, md);
	buf_append(&out, md, sizeof(md));

	path = spam_cache_path(dir, key);
	tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0640);
	if (fd < 0) {
		*error_r = xasprintf("%s: %s", tmp, strerror(errno));
		goto done;
	}
	if (fileio_write_all(fd, out.data, out.len) < 0 || fsync(fd) < 0) {
		*error_r = xasprintf("%s: %s", tmp, strerror(errno));
		close(fd);
		(void)unlink(tmp);
		goto done;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		(void)unlink(tmp);
		goto done;
	}
	(void)fileio_sync_dir(dir);
	cache_prune(dir);
	ret = 0;
done:
	free(tmp);
	free(path);
	buf_free(&out);
	return ret;
}

#endif
