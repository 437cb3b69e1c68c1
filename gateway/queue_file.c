/*
 * queue_file: encoding of one queued message (see queue_file.h for the
 * layout). The envelope is line-based text with percent-encoded values, so
 * no byte a client sends can break the structure; decoding is bounded and
 * fuzzed. The trailer carries the message length, so a file cut short by a
 * crash is recognised as never acknowledged.
 */
#include "gateway/queue_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/hex.h"
#include "lib/xalloc.h"

#define QUEUE_MAGIC	 "MOATQ 1\n"
#define QUEUE_HEADER_MAX (1024 * 1024)
#define QUEUE_RCPT_MAX	 100000

static const char base36[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/* Writes value in base 36 into width characters (zero padded). */
static void
put_base36(char *out, size_t width, unsigned long long value)
{
	for (size_t i = width; i > 0; i--) {
		out[i - 1] = base36[value % 36];
		value /= 36;
	}
}

void
queue_id_new(char out[QUEUE_ID_MAX])
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static unsigned long long last_usec;
	static unsigned int counter;
	struct timeval tv;
	unsigned long long usec;
	unsigned int count;

	gettimeofday(&tv, NULL);
	usec = (unsigned long long)tv.tv_sec * 1000000ULL +
	       (unsigned long long)tv.tv_usec;
	pthread_mutex_lock(&lock);
	if (usec <= last_usec)
		usec = last_usec; /* never go backwards within a process */
	if (usec == last_usec)
		counter++;
	else
		counter = 0;
	last_usec = usec;
	count = counter;
	pthread_mutex_unlock(&lock);
	/* 11 chars time (36^11 us is ~4e9 years), 5 pid, 4 counter. */
	put_base36(out, 11, usec);
	put_base36(out + 11, 5, (unsigned long long)getpid() % 60466176ULL);
	put_base36(out + 16, 4, count % 1679616U);
	out[20] = '\0';
}

bool
queue_id_valid(const char *qid)
{
	size_t len = strnlen(qid, QUEUE_ID_MAX);

	if (len != 20)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((qid[i] >= '0' && qid[i] <= '9') ||
		      (qid[i] >= 'A' && qid[i] <= 'Z')))
			return false;
	return true;
}

static void
encode_value(struct buf *out, const char *value)
{
	for (const unsigned char *p = (const unsigned char *)value; *p != '\0';
	     p++) {
		if (*p <= 0x20 || *p == '%' || *p == 0x7f)
			buf_printf(out, "%%%02X", *p);
		else
			buf_append_char(out, (char)*p);
	}
}

static void
encode_field(struct buf *out, const char *key, const char *value)
{
	if (value == NULL)
		return;
	buf_append_str(out, key);
	buf_append_char(out, ' ');
	encode_value(out, value);
	buf_append_char(out, '\n');
}

void
queue_envelope_encode(const struct queue_envelope *env, struct buf *out)
{
	buf_append_str(out, QUEUE_MAGIC);
	encode_field(out, "qid", env->qid);
	/* "from" always present; the null sender encodes as "<>". */
	buf_append_str(out, "from ");
	if (env->mail_from == NULL || env->mail_from[0] == '\0')
		buf_append_str(out, "<>");
	else
		encode_value(out, env->mail_from);
	buf_append_char(out, '\n');
	encode_field(out, "body", env->body);
	encode_field(out, "ret", env->ret);
	encode_field(out, "envid", env->envid);
	if (env->smtputf8)
		buf_append_str(out, "smtputf8 1\n");
	encode_field(out, "auth", env->auth_user);
	encode_field(out, "ip", env->client_ip);
	encode_field(out, "helo", env->helo);
	buf_printf(out, "arrival %lld\n", (long long)env->arrival);
	if (env->quarantine != NULL) {
		encode_field(out, "quarantine", env->quarantine);
		encode_field(out, "quarantine_by", env->quarantine_by);
		encode_field(out, "symbols", env->symbols);
		buf_printf(out, "score %.3f\n", env->score);
	}
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];

		buf_append_str(out, "rcpt ");
		encode_value(out, r->address);
		buf_append_str(out, " ");
		encode_value(out, r->notify != NULL ? r->notify : "-");
		buf_append_str(out, " ");
		encode_value(out, r->orcpt != NULL ? r->orcpt : "-");
		buf_append_char(out, '\n');
	}
	buf_append_char(out, '\n');
}

/* Decodes a percent-encoded token of len bytes; NULL on bad encoding or an
 * embedded NUL. */
static char *
decode_value(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (len - i < 3) {
				free(out);
				return NULL;
			}
			hi = hex_digit((unsigned char)s[i + 1]);
			lo = hex_digit((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

void
queue_envelope_add_rcpt(struct queue_envelope *env, const char *address,
			const char *notify, const char *orcpt)
{
	struct queue_rcpt *r;

	env->rcpts =
	    xreallocarray(env->rcpts, env->rcpt_count + 1, sizeof(*env->rcpts));
	r = &env->rcpts[env->rcpt_count++];
	r->address = xstrdup(address);
	r->notify = notify != NULL ? xstrdup(notify) : NULL;
	r->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
}

void
queue_envelope_free(struct queue_envelope *env)
{
	free(env->mail_from);
	free(env->body);
	free(env->ret);
	free(env->envid);
	free(env->auth_user);
	free(env->client_ip);
	free(env->helo);
	free(env->quarantine);
	free(env->quarantine_by);
	free(env->symbols);
	for (size_t i = 0; i < env->rcpt_count; i++) {
		free(env->rcpts[i].address);
		free(env->rcpts[i].notify);
		free(env->rcpts[i].orcpt);
	}
	free(env->rcpts);
	memset(env, 0, sizeof(*env));
}

/* Sets *field from one token; -1 when set twice or badly encoded. */
static int
set_once(char **field, const char *s, size_t len)
{
	if (*field != NULL)
		return -1;
	*field = decode_value(s, len);
	return *field == NULL ? -1 : 0;
}

static int
parse_rcpt(struct queue_envelope *env, const char *s, size_t len)
{
	const char *sp1 = memchr(s, ' ', len), *sp2;
	char *addr, *notify, *orcpt;

	if (sp1 == NULL)
		return -1;
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - s));
	if (sp2 == NULL || env->rcpt_count >= QUEUE_RCPT_MAX)
		return -1;
	addr = decode_value(s, (size_t)(sp1 - s));
	notify = decode_value(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	orcpt = decode_value(sp2 + 1, len - (size_t)(sp2 + 1 - s));
	if (addr == NULL || notify == NULL || orcpt == NULL ||
	    addr[0] == '\0') {
		free(addr);
		free(notify);
		free(orcpt);
		return -1;
	}
	queue_envelope_add_rcpt(env, addr,
				strcmp(notify, "-") == 0 ? NULL : notify,
				strcmp(orcpt, "-") == 0 ? NULL : orcpt);
	free(addr);
	free(notify);
	free(orcpt);
	return 0;
}

/* "-12.345": an optional sign, digits, an optional fraction; bounded. */
static int
parse_score(double *score_r, const char *v, size_t vlen)
{
	char text[32];
	char *end;

	if (vlen == 0 || vlen >= sizeof(text))
		return -1;
	for (size_t i = 0; i < vlen; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || v[i] == '.' ||
		      (i == 0 && v[i] == '-')))
			return -1;
	memcpy(text, v, vlen);
	text[vlen] = '\0';
	*score_r = strtod(text, &end);
	return *end == '\0' ? 0 : -1;
}

static int
parse_line(struct queue_envelope *env, const char *line, size_t len)
{
	const char *sp = memchr(line, ' ', len);
	size_t klen, vlen;
	const char *v;

	if (sp == NULL)
		return -1;
	klen = (size_t)(sp - line);
	v = sp + 1;
	vlen = len - klen - 1;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(line, k, klen) == 0)
	if (KEY("qid")) {
		char *qid = decode_value(v, vlen);
		int ok = qid != NULL && queue_id_valid(qid);
		if (ok)
			memcpy(env->qid, qid, strlen(qid) + 1);
		free(qid);
		return ok ? 0 : -1;
	}
	if (KEY("from")) {
		if (vlen == 2 && memcmp(v, "<>", 2) == 0)
			return set_once(&env->mail_from, "", 0);
		return set_once(&env->mail_from, v, vlen);
	}
	if (KEY("body"))
		return set_once(&env->body, v, vlen);
	if (KEY("ret"))
		return set_once(&env->ret, v, vlen);
	if (KEY("envid"))
		return set_once(&env->envid, v, vlen);
	if (KEY("auth"))
		return set_once(&env->auth_user, v, vlen);
	if (KEY("ip"))
		return set_once(&env->client_ip, v, vlen);
	if (KEY("helo"))
		return set_once(&env->helo, v, vlen);
	if (KEY("smtputf8")) {
		env->smtputf8 = vlen == 1 && v[0] == '1';
		return 0;
	}
	if (KEY("arrival")) {
		long long t = 0;
		if (vlen == 0 || vlen > 18)
			return -1;
		for (size_t i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return -1;
			t = t * 10 + (v[i] - '0');
		}
		env->arrival = (time_t)t;
		return 0;
	}
	if (KEY("rcpt"))
		return parse_rcpt(env, v, vlen);
	if (KEY("quarantine"))
		return set_once(&env->quarantine, v, vlen);
	if (KEY("quarantine_by"))
		return set_once(&env->quarantine_by, v, vlen);
	if (KEY("symbols"))
		return set_once(&env->symbols, v, vlen);
	if (KEY("score"))
		return parse_score(&env->score, v, vlen);
#undef KEY
	return 0; /* unknown keys from newer versions are ignored */
}

int
queue_envelope_decode(const char *data, size_t len,
		      struct queue_envelope *env_r, size_t *header_len_r,
		      const char **error_r)
{
	size_t magic_len = sizeof(QUEUE_MAGIC) - 1;
	size_t pos;

	memset(env_r, 0, sizeof(*env_r));
	if (len < magic_len)
		return memcmp(data, QUEUE_MAGIC, len) == 0 ? 0 : -1;
	if (memcmp(data, QUEUE_MAGIC, magic_len) != 0) {
		*error_r = "not a queue file (bad magic)";
		return -1;
	}
	pos = magic_len;
	for (;;) {
		const char *nl;
		size_t n;

		if (pos >= len || pos > QUEUE_HEADER_MAX) {
			queue_envelope_free(env_r);
			if (pos > QUEUE_HEADER_MAX) {
				*error_r = "envelope too large";
				return -1;
			}
			return 0;
		}
		nl = memchr(data + pos, '\n', len - pos);
		if (nl == NULL) {
			queue_envelope_free(env_r);
			if (len - pos > QUEUE_HEADER_MAX) {
				*error_r = "envelope line too long";
				return -1;
			}
			return 0;
		}
		n = (size_t)(nl - (data + pos));
		if (n == 0) {
			pos++;
			break;
		}
		if (memchr(data + pos, '\0', n) != NULL ||
		    parse_line(env_r, data + pos, n) < 0) {
			queue_envelope_free(env_r);
			*error_r = "malformed envelope line";
			return -1;
		}
		pos += n + 1;
	}
	if (env_r->mail_from == NULL || env_r->rcpt_count == 0 ||
	    env_r->qid[0] == '\0') {
		queue_envelope_free(env_r);
		*error_r = "envelope lacks qid, sender or recipients";
		return -1;
	}
	*header_len_r = pos;
	return 1;
}

void
queue_trailer_format(size_t data_len, char out[QUEUE_TRAILER_LEN + 1])
{
	snprintf(out, QUEUE_TRAILER_LEN + 1, "\nMOATEND %016llx\n",
		 (unsigned long long)data_len);
}

int
queue_file_mark_ready(int fd)
{
	return fchmod(fd, QUEUE_FILE_MODE_READY);
}

bool
queue_file_is_ready(const struct stat *st)
{
	return S_ISREG(st->st_mode) && (st->st_mode & S_IXUSR) != 0;
}

int
queue_file_publish(const char *queue_dir, const char *qid, const char *data,
		   size_t len, const char **error_r)
{
	char *path = xasprintf("%s/%s", queue_dir, qid);
	char *tmp = xasprintf("%s/%s" QUEUE_FILE_NEW_SUFFIX, queue_dir, qid);
	int fd, ret = -1;

	/* Written under another name and linked complete: smtpd removes
	 * unready files named QID when it starts (spool_recover.h), and this
	 * runs in the queue process, beside it. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		  QUEUE_FILE_MODE_WRITING);
	if (fd < 0) {
		*error_r = "cannot create the queue file";
	} else {
		if (fileio_write_all(fd, data, len) == 0 &&
		    queue_file_mark_ready(fd) == 0 && fsync(fd) == 0 &&
		    link(tmp, path) == 0) {
			ret = 0;
			if (fileio_sync_dir(queue_dir) < 0) {
				(void)unlink(path);
				ret = -1;
			}
		}
		if (ret < 0)
			*error_r = "cannot write the queue file";
		close(fd);
		(void)unlink(tmp);
	}
	free(tmp);
	free(path);
	return ret;
}

static int
read_full(int fd, char *buf, size_t len, off_t offset)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n =
		    pread(fd, buf + done, len - done, offset + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

int
queue_file_open(const char *path, struct queue_envelope *env_r, int *fd_r,
		off_t *data_offset_r, size_t *data_len_r, const char **error_r)
{
	char trailer[QUEUE_TRAILER_LEN + 1];
	char *head = NULL;
	size_t head_len, header_len = 0, data_len;
	struct stat st;
	int fd, r;

	memset(env_r, 0, sizeof(*env_r));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*error_r = "cannot open";
		return -1;
	}
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)QUEUE_TRAILER_LEN) {
		*error_r = "incomplete (no trailer)";
		goto fail;
	}
	if (read_full(fd, trailer, QUEUE_TRAILER_LEN,
		      st.st_size - QUEUE_TRAILER_LEN) < 0 ||
	    memcmp(trailer, "\nMOATEND ", 9) != 0 ||
	    trailer[QUEUE_TRAILER_LEN - 1] != '\n') {
		*error_r = "incomplete (no trailer)";
		goto fail;
	}
	trailer[QUEUE_TRAILER_LEN - 1] = '\0';
	{
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(trailer + 9, &end, 16);
		if (errno != 0 || *end != '\0' ||
		    end != trailer + QUEUE_TRAILER_LEN - 1) {
			*error_r = "bad trailer";
			goto fail;
		}
		data_len = (size_t)v;
	}
	head_len = (size_t)st.st_size < QUEUE_HEADER_MAX + 64
		       ? (size_t)st.st_size
		       : QUEUE_HEADER_MAX + 64;
	head = xmalloc(head_len + 1);
	if (read_full(fd, head, head_len, 0) < 0) {
		*error_r = "read error";
		goto fail;
	}
	r = queue_envelope_decode(head, head_len, env_r, &header_len, error_r);
	if (r <= 0) {
		if (r == 0)
			*error_r = "truncated envelope";
		goto fail;
	}
	if ((unsigned long long)header_len + data_len + QUEUE_TRAILER_LEN !=
	    (unsigned long long)st.st_size) {
		queue_envelope_free(env_r);
		*error_r = "length mismatch";
		goto fail;
	}
	free(head);
	*fd_r = fd;
	*data_offset_r = (off_t)header_len;
	*data_len_r = data_len;
	return 0;
fail:
	free(head);
	close(fd);
	return -1;
}

void
queue_done_load(const char *dir, const char *qid, bool *done, size_t count)
{
	char *path = xasprintf("%s/%s.done", dir, qid);
	FILE *f = fopen(path, "re");
	char line[32];

	free(path);
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *end;
		unsigned long i = strtoul(line, &end, 10);

		if (end != line && i < count)
			done[i] = true;
	}
	fclose(f);
}

int
queue_done_save(const char *dir, const char *qid, const bool *done,
		size_t count)
{
	char *path = xasprintf("%s/%s.done", dir, qid);
	char *tmp = xasprintf("%s/%s.done.tmp", dir, qid);
	struct buf text;
	int fd, ret = -1;

	buf_init(&text);
	for (size_t i = 0; i < count; i++)
		if (done[i])
			buf_printf(&text, "%zu\n", i);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (fileio_write_all(fd, buf_cstr(&text), text.len) == 0 &&
		    fsync(fd) == 0 && rename(tmp, path) == 0)
			ret = 0;
		close(fd);
	}
	if (ret < 0)
		(void)unlink(tmp);
	buf_free(&text);
	free(path);
	free(tmp);
	return ret;
}
