/*
 * train_spool: the spool of users' spam-training requests (see
 * train_spool.h for the layout). imapd stages each message of a command as
 * ID.N.msg (a hard link to the stored file: no bytes copied, and the
 * message survives an expunge), then writes ID.tmp, fsyncs it, renames it
 * to ID.req and fsyncs the directory once. The spamlearn service lists
 * ID.req files in name order, parses them with train_request_parse() (a
 * strict parser: the files are ours, but a parser that trusts its input is
 * one bug away from trouble), learns each message and removes the files.
 *
 * Bounds: at most max_pending staged messages (counted once per batch
 * with one readdir, then kept up to date), at most TRAIN_ENTRIES_MAX per
 * request, TRAIN_REQUEST_MAX bytes per request file.
 */
#include "mailstore/train_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/xalloc.h"

struct train_spool {
	char *dir;
	size_t max_pending;
	unsigned long counter;
};

struct train_batch {
	struct train_spool *spool;
	struct train_request req;
	char id[TRAIN_ID_MAX];
	size_t pending; /* messages in the spool, counted at the start */
	size_t dropped, cap;
};

static const char *const train_class_names[] = {"spam", "ham"};
static const char *const train_reason_names[] = {"move", "copy", "append",
						 "flag", "release"};
#define TRAIN_REASONS                                                          \
	(sizeof(train_reason_names) / sizeof(train_reason_names[0]))

const char *
train_class_name(enum train_class cls)
{
	return (unsigned int)cls < 2 ? train_class_names[cls] : "?";
}

const char *
train_reason_name(enum train_reason reason)
{
	return (unsigned int)reason < TRAIN_REASONS ? train_reason_names[reason]
						    : "?";
}

bool
train_request_valid_user(const char *user)
{
	size_t len = strlen(user);

	if (len == 0 || len > TRAIN_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)user[i] <= 0x20 ||
		    (unsigned char)user[i] >= 0x7f)
			return false;
	return true;
}

static bool
train_valid_mailbox_bytes(const char *s, size_t len)
{
	if (len == 0 || len > TRAIN_MAILBOX_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}

bool
train_request_valid_mailbox(const char *mailbox)
{
	return train_valid_mailbox_bytes(mailbox, strlen(mailbox));
}

void
train_request_format(const struct train_request *req, struct buf *out)
{
	buf_printf(out,
		   "moat-train 1\nuser %s\nclass %s\nreason %s\nmailbox "
		   "%s\ntime %" PRId64 "\n",
		   req->user, train_class_name(req->cls),
		   train_reason_name(req->reason), req->mailbox, req->time);
	for (size_t i = 0; i < req->count; i++)
		buf_printf(out, "uid %" PRIu32 "\n", req->uids[i]);
}

void
train_request_clear(struct train_request *req)
{
	free(req->uids);
	memset(req, 0, sizeof(*req));
}

/* Parses a decimal number of at most 19 digits up to max; -1 if bad. */
static int
train_parse_number(const char *s, size_t len, uint64_t max, uint64_t *v_r)
{
	uint64_t v = 0;

	if (len == 0 || len > 19)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*v_r = v;
	return 0;
}

enum {
	TRAIN_HAVE_USER = 1,
	TRAIN_HAVE_CLASS = 2,
	TRAIN_HAVE_REASON = 4,
	TRAIN_HAVE_MAILBOX = 8,
	TRAIN_HAVE_TIME = 16,
	TRAIN_HAVE_ALL = 31,
};

/* One "key value" line; -1 with *error_r. */
static int
train_parse_line(struct train_request *req, unsigned int *have, size_t *cap,
		 const char *line, size_t len, const char **error_r)
{
	const char *sp = memchr(line, ' ', len);
	size_t klen, vlen;
	const char *v;
	uint64_t n;

	if (sp == NULL) {
		*error_r = "line without a value";
		return -1;
	}
	klen = (size_t)(sp - line);
	v = sp + 1;
	vlen = len - klen - 1;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(line, k, klen) == 0)
	if (KEY("uid")) {
		if (*have != TRAIN_HAVE_ALL) {
			*error_r = "uid before the header fields";
			return -1;
		}
		if (train_parse_number(v, vlen, UINT32_MAX, &n) < 0) {
			*error_r = "bad uid";
			return -1;
		}
		if (req->count >= TRAIN_ENTRIES_MAX) {
			*error_r = "too many messages";
			return -1;
		}
		if (req->count == *cap) {
			*cap = *cap == 0 ? 8 : *cap * 2;
			req->uids =
			    xreallocarray(req->uids, *cap, sizeof(*req->uids));
		}
		req->uids[req->count++] = (uint32_t)n;
		return 0;
	}
	if (req->count > 0) {
		*error_r = "header field after a uid";
		return -1;
	}
	if (KEY("user")) {
		if (*have & TRAIN_HAVE_USER)
			goto dup;
		if (vlen == 0 || vlen > TRAIN_USER_MAX) {
			*error_r = "bad user";
			return -1;
		}
		memcpy(req->user, v, vlen);
		req->user[vlen] = '\0';
		if (!train_request_valid_user(req->user)) {
			*error_r = "bad user";
			return -1;
		}
		*have |= TRAIN_HAVE_USER;
	} else if (KEY("class")) {
		if (*have & TRAIN_HAVE_CLASS)
			goto dup;
		if (vlen == 4 && memcmp(v, "spam", 4) == 0)
			req->cls = TRAIN_SPAM;
		else if (vlen == 3 && memcmp(v, "ham", 3) == 0)
			req->cls = TRAIN_HAM;
		else {
			*error_r = "bad class";
			return -1;
		}
		*have |= TRAIN_HAVE_CLASS;
	} else if (KEY("reason")) {
		size_t i;

		if (*have & TRAIN_HAVE_REASON)
			goto dup;
		for (i = 0; i < TRAIN_REASONS; i++)
			if (strlen(train_reason_names[i]) == vlen &&
			    memcmp(v, train_reason_names[i], vlen) == 0)
				break;
		if (i == TRAIN_REASONS) {
			*error_r = "bad reason";
			return -1;
		}
		req->reason = (enum train_reason)i;
		*have |= TRAIN_HAVE_REASON;
	} else if (KEY("mailbox")) {
		if (*have & TRAIN_HAVE_MAILBOX)
			goto dup;
		if (!train_valid_mailbox_bytes(v, vlen)) {
			*error_r = "bad mailbox";
			return -1;
		}
		memcpy(req->mailbox, v, vlen);
		req->mailbox[vlen] = '\0';
		*have |= TRAIN_HAVE_MAILBOX;
	} else if (KEY("time")) {
		if (*have & TRAIN_HAVE_TIME)
			goto dup;
		if (train_parse_number(v, vlen, INT64_MAX, &n) < 0) {
			*error_r = "bad time";
			return -1;
		}
		req->time = (int64_t)n;
		*have |= TRAIN_HAVE_TIME;
	} else {
		*error_r = "unknown field";
		return -1;
	}
#undef KEY
	return 0;
dup:
	*error_r = "repeated field";
	return -1;
}

int
train_request_parse(const char *data, size_t len, struct train_request *req_r,
		    const char **error_r)
{
	static const char magic[] = "moat-train 1\n";
	unsigned int have = 0;
	size_t pos, cap = 0;

	memset(req_r, 0, sizeof(*req_r));
	if (len > TRAIN_REQUEST_MAX) {
		*error_r = "request too large";
		return -1;
	}
	if (len < sizeof(magic) - 1 ||
	    memcmp(data, magic, sizeof(magic) - 1) != 0) {
		*error_r = "not a version 1 training request";
		return -1;
	}
	if (data[len - 1] != '\n') {
		*error_r = "truncated request";
		return -1;
	}
	if (memchr(data, '\0', len) != NULL) {
		*error_r = "NUL byte in request";
		return -1;
	}
	pos = sizeof(magic) - 1;
	while (pos < len) {
		const char *line = data + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t llen = (size_t)(nl - line);

		if (train_parse_line(req_r, &have, &cap, line, llen, error_r) <
		    0) {
			train_request_clear(req_r);
			return -1;
		}
		pos += llen + 1;
	}
	if (have != TRAIN_HAVE_ALL || req_r->count == 0) {
		*error_r =
		    have != TRAIN_HAVE_ALL ? "missing field" : "no message";
		train_request_clear(req_r);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* writer */

int
train_spool_open(const char *dir, size_t max_pending,
		 struct train_spool **spool_r, char **error_r)
{
	struct train_spool *spool;
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*error_r = xasprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		*error_r = xasprintf("%s: not a directory", dir);
		return -1;
	}
	spool = xcalloc(1, sizeof(*spool));
	spool->dir = xstrdup(dir);
	spool->max_pending = max_pending;
	*spool_r = spool;
	return 0;
}

void
train_spool_free(struct train_spool **spoolp)
{
	struct train_spool *spool = *spoolp;

	if (spool == NULL)
		return;
	free(spool->dir);
	x_free(spoolp);
}

const char *
train_spool_dir(const struct train_spool *spool)
{
	return spool->dir;
}

/* Name of a staged message or of a request: "NNNN-PID-C.suffix". */
static bool
train_name_split(const char *name, char *id_r, const char **suffix_r)
{
	const char *dot = strchr(name, '.');
	size_t len;

	if (dot == NULL || dot == name)
		return false;
	len = (size_t)(dot - name);
	if (len >= TRAIN_ID_MAX || strspn(name, "0123456789abcdef-") != len)
		return false;
	memcpy(id_r, name, len);
	id_r[len] = '\0';
	*suffix_r = dot + 1;
	return true;
}

static bool
train_suffix_is_msg(const char *suffix)
{
	size_t digits = strspn(suffix, "0123456789");

	return digits > 0 && strcmp(suffix + digits, ".msg") == 0;
}

size_t
train_spool_pending(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char id[TRAIN_ID_MAX];
		const char *suffix;

		if (train_name_split(de->d_name, id, &suffix) &&
		    train_suffix_is_msg(suffix))
			n++;
	}
	closedir(d);
	return n;
}

struct train_batch *
train_batch_new(struct train_spool *spool, const char *user,
		const char *mailbox, enum train_class cls,
		enum train_reason reason)
{
	struct train_batch *b;
	struct timeval tv;

	if (!train_request_valid_user(user) ||
	    !train_request_valid_mailbox(mailbox))
		return NULL;
	b = xcalloc(1, sizeof(*b));
	b->spool = spool;
	snprintf(b->req.user, sizeof(b->req.user), "%s", user);
	snprintf(b->req.mailbox, sizeof(b->req.mailbox), "%s", mailbox);
	b->req.cls = cls;
	b->req.reason = reason;
	gettimeofday(&tv, NULL);
	b->req.time = (int64_t)tv.tv_sec;
	snprintf(b->id, sizeof(b->id), "%016llx-%lx-%lx",
		 (unsigned long long)tv.tv_sec * 1000000ull +
		     (unsigned long long)tv.tv_usec,
		 (unsigned long)getpid(), ++spool->counter);
	b->pending = train_spool_pending(spool->dir);
	return b;
}

size_t
train_batch_count(const struct train_batch *batch)
{
	return batch->req.count;
}

size_t
train_batch_dropped(const struct train_batch *batch)
{
	return batch->dropped;
}

/* Copies the file at path to fd. */
static int
train_copy_file(const char *path, int fd)
{
	char chunk[65536];
	int in = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (in < 0)
		return -1;
	while ((n = read(in, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(in);
			return -1;
		}
		if (fileio_write_all(fd, chunk, (size_t)n) < 0) {
			close(in);
			return -1;
		}
	}
	close(in);
	return 0;
}

int
train_batch_add(struct train_batch *b, uint32_t uid, const char *path,
		const void *data, size_t len, char **error_r)
{
	char *dst;
	int fd;

	if (b->pending >= b->spool->max_pending ||
	    b->req.count >= TRAIN_ENTRIES_MAX) {
		b->dropped++;
		return 0;
	}
	dst = train_spool_message_path(b->spool->dir, b->id, b->req.count);
	if (path == NULL || link(path, dst) < 0) {
		fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 ||
		    (path != NULL ? train_copy_file(path, fd)
				  : fileio_write_all(fd, data, len)) < 0 ||
		    fsync(fd) < 0) {
			*error_r = xasprintf("%s: %s", dst, strerror(errno));
			if (fd >= 0)
				close(fd);
			unlink(dst);
			free(dst);
			return -1;
		}
		close(fd);
	}
	free(dst);
	if (b->req.count == b->cap) {
		b->cap = b->cap == 0 ? 8 : b->cap * 2;
		b->req.uids =
		    xreallocarray(b->req.uids, b->cap, sizeof(*b->req.uids));
	}
	b->req.uids[b->req.count++] = uid;
	b->pending++;
	return 1;
}

void
train_batch_abort(struct train_batch **bp)
{
	struct train_batch *b = *bp;

	if (b == NULL)
		return;
	for (size_t i = 0; i < b->req.count; i++) {
		char *p = train_spool_message_path(b->spool->dir, b->id, i);

		unlink(p);
		free(p);
	}
	train_request_clear(&b->req);
	x_free(bp);
}

int
train_batch_commit(struct train_batch **bp, char **error_r)
{
	struct train_batch *b = *bp;
	struct buf text;
	char *tmp, *req;
	int fd, ret = -1;

	if (b->req.count == 0) {
		train_batch_abort(bp);
		return 0;
	}
	buf_init(&text);
	train_request_format(&b->req, &text);
	tmp = xasprintf("%s/%s.tmp", b->spool->dir, b->id);
	req = xasprintf("%s/%s.req", b->spool->dir, b->id);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || fileio_write_all(fd, text.data, text.len) < 0 ||
	    fsync(fd) < 0 || close(fd) < 0) {
		*error_r = xasprintf("%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		train_batch_abort(bp);
		goto out;
	}
	if (rename(tmp, req) < 0 || fileio_sync_dir(b->spool->dir) < 0) {
		*error_r = xasprintf("%s: %s", req, strerror(errno));
		unlink(tmp);
		unlink(req);
		train_batch_abort(bp);
		goto out;
	}
	train_request_clear(&b->req);
	x_free(bp);
	ret = 0;
out:
	free(tmp);
	free(req);
	buf_free(&text);
	return ret;
}

/* ------------------------------------------------------------------ */
/* reader */

static int
train_id_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
train_spool_list(const char *dir, char ***ids_r, size_t *count_r,
		 char **error_r)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **ids = NULL;
	size_t n = 0;

	*ids_r = NULL;
	*count_r = 0;
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		*error_r = xasprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char id[TRAIN_ID_MAX];
		const char *suffix;

		if (!train_name_split(de->d_name, id, &suffix) ||
		    strcmp(suffix, "req") != 0)
			continue;
		ids = xreallocarray(ids, n + 1, sizeof(*ids));
		ids[n++] = xstrdup(id);
	}
	closedir(d);
	if (n > 1)
		qsort(ids, n, sizeof(*ids), train_id_cmp);
	*ids_r = ids;
	*count_r = n;
	return 0;
}

void
train_spool_ids_free(char **ids, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(ids[i]);
	free(ids);
}

int
train_spool_read(const char *dir, const char *id, struct train_request *req_r,
		 const char **error_r)
{
	char *path = xasprintf("%s/%s.req", dir, id);
	struct buf data;
	int ret;

	memset(req_r, 0, sizeof(*req_r));
	buf_init(&data);
	if (fileio_read_all(path, O_NOFOLLOW, TRAIN_REQUEST_MAX, &data) < 0) {
		bool too_large = errno == EFBIG;

		free(path);
		buf_free(&data);
		*error_r =
		    too_large ? "request too large" : "cannot read the request";
		return too_large ? 0 : -1;
	}
	free(path);
	ret = train_request_parse(data.data != NULL ? data.data : "", data.len,
				  req_r, error_r) < 0
		  ? 0
		  : 1;
	buf_free(&data);
	return ret;
}

char *
train_spool_message_path(const char *dir, const char *id, size_t n)
{
	return xasprintf("%s/%s.%zu.msg", dir, id, n);
}

void
train_spool_remove(const char *dir, const char *id, size_t count)
{
	char *p;

	for (size_t i = 0; i < count; i++) {
		p = train_spool_message_path(dir, id, i);
		unlink(p);
		free(p);
	}
	p = xasprintf("%s/%s.req", dir, id);
	unlink(p);
	free(p);
}

size_t
train_spool_cleanup(const char *dir, time_t now, unsigned int max_age)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t removed = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char id[TRAIN_ID_MAX], *p;
		const char *suffix;
		struct stat st;

		if (!train_name_split(de->d_name, id, &suffix) ||
		    strcmp(suffix, "req") == 0)
			continue;
		if (!train_suffix_is_msg(suffix) && strcmp(suffix, "tmp") != 0)
			continue;
		/* A staged message belongs to its request while ID.req
		 * exists; ctime is when it was linked here. */
		p = xasprintf("%s/%s.req", dir, id);
		if (strcmp(suffix, "tmp") != 0 && access(p, F_OK) == 0) {
			free(p);
			continue;
		}
		free(p);
		p = xasprintf("%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && now - st.st_ctime > (time_t)max_age &&
		    unlink(p) == 0)
			removed++;
		free(p);
	}
	closedir(d);
	return removed;
}
