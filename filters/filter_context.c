/*
 * filter_context: one message's view for the filters and everything they
 * produce (filters/filter.h). A context is used by one thread at a time (the
 * filters of a message run one after another on one worker), so it has no
 * lock. All strings live in the context's pool; only the data slots and the
 * MIME tree have destructors. Every string a filter hands in is copied, and
 * reply text and symbol names are restricted to safe characters here, so
 * nothing a filter derives from the message can break an SMTP reply or a
 * log line.
 */
#include "filters/filter_context.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "filters/filter_headers.h"
#include "lib/buf.h"
#include "lib/pool.h"
#include "lib/xalloc.h"

#define FILTER_READER_CHUNK (64 * 1024)

static const struct filter_mime_ops *mime_ops;

struct filter_reader {
	struct filter_context *ctx;
	size_t pos, end; /* within the message */
	unsigned char buf[FILTER_READER_CHUNK];
};

/* Grows a pool array of n elements of size to hold one more. */
static void *
grow(struct pool *pool, void *items, size_t count, size_t *alloc, size_t size)
{
	void *n;

	if (count < *alloc)
		return items;
	*alloc = *alloc == 0 ? 8 : *alloc * 2;
	n = pool_alloc(pool, *alloc * size);
	if (count > 0)
		memcpy(n, items, count * size);
	return n;
}

static const char *
dup_or_null(struct pool *pool, const char *s)
{
	return s != NULL ? pool_strdup(pool, s) : NULL;
}

/* Copy of s with bytes outside printable ASCII replaced by '?'. */
static char *
dup_printable(struct pool *pool, const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *out = pool_strndup(pool, s, n);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 ||
		    (unsigned char)out[i] >= 0x7f)
			out[i] = '?';
	return out;
}

/* Reads the header section (at most FILTER_HEADERS_MAX_BYTES + 1 bytes, in
 * steps, stopping after the empty line) into the pool and parses it. */
static int
read_head(struct filter_context *ctx, int fd, off_t offset, size_t len)
{
	size_t want = len < FILTER_HEADERS_MAX_BYTES + 1
			  ? len
			  : FILTER_HEADERS_MAX_BYTES + 1;
	struct buf tmp = {0};
	char chunk[16384];
	char *head;

	while (tmp.len < want) {
		size_t step = want - tmp.len < sizeof(chunk) ? want - tmp.len
							     : sizeof(chunk);
		ssize_t n = pread(fd, chunk, step, offset + (off_t)tmp.len);
		size_t from;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			buf_free(&tmp);
			return -1;
		}
		if (n == 0)
			break;
		from = tmp.len >= 3 ? tmp.len - 3 : 0;
		buf_append(&tmp, chunk, (size_t)n);
		/* Stop once the empty line is in (it may straddle reads). */
		if (memmem(tmp.data + from, tmp.len - from, "\r\n\r\n", 4) !=
		    NULL)
			break;
	}
	head = pool_alloc(ctx->pool, tmp.len + 1);
	if (tmp.len > 0)
		memcpy(head, tmp.data, tmp.len);
	head[tmp.len] = '\0';
	ctx->head = head;
	filter_headers_parse(ctx->pool, head, tmp.len, &ctx->headers,
			     &ctx->header_count, &ctx->headers_truncated,
			     &ctx->body.body_offset);
	buf_free(&tmp);
	return 0;
}

struct filter_context *
filter_context_new(const struct filter_envelope *env, int fd, off_t offset,
		   size_t len)
{
	struct filter_context *ctx = xcalloc(1, sizeof(*ctx));
	struct pool *p = pool_new(16 * 1024);
	const char **rcpts;

	ctx->pool = p;
	ctx->env.session_id = pool_strdup(p, env->session_id);
	ctx->env.qid = pool_strdup(p, env->qid != NULL ? env->qid : "");
	ctx->env.client_ip = pool_strdup(p, env->client_ip);
	ctx->env.client_name = dup_or_null(p, env->client_name);
	ctx->env.helo = pool_strdup(p, env->helo != NULL ? env->helo : "");
	ctx->env.mail_from =
	    pool_strdup(p, env->mail_from != NULL ? env->mail_from : "");
	rcpts = pool_alloc(p, (env->rcpt_count + 1) * sizeof(*rcpts));
	for (size_t i = 0; i < env->rcpt_count; i++)
		rcpts[i] = pool_strdup(p, env->rcpts[i]);
	rcpts[env->rcpt_count] = NULL;
	ctx->env.rcpts = rcpts;
	ctx->env.rcpt_count = env->rcpt_count;
	ctx->env.auth_user = dup_or_null(p, env->auth_user);
	ctx->env.rcpt = dup_or_null(p, env->rcpt);
	ctx->env.submission = env->submission;
	ctx->env.tls = env->tls;
	ctx->env.local_hostname = pool_strdup(
	    p, env->local_hostname != NULL ? env->local_hostname : "");
	ctx->body.fd = fd;
	ctx->body.offset = offset;
	ctx->body.len = len;
	ctx->verdict = POLICY_CONTINUE;
	ctx->body.body_offset = len;
	return ctx;
}

struct filter_context *
filter_context_new_empty(size_t pool_size)
{
	struct filter_context *ctx = xcalloc(1, sizeof(*ctx));
	struct pool *p = pool_new(pool_size);
	const char **rcpts;

	ctx->pool = p;
	ctx->env.session_id = "";
	ctx->env.qid = "";
	ctx->env.client_ip = "";
	ctx->env.helo = "";
	ctx->env.mail_from = "";
	ctx->env.local_hostname = "";
	rcpts = pool_alloc(p, sizeof(*rcpts));
	rcpts[0] = NULL;
	ctx->env.rcpts = rcpts;
	ctx->verdict = POLICY_CONTINUE;
	ctx->body.fd = -1;
	return ctx;
}

/* s, or a copy of new when it differs (NULL stays NULL). */
static const char *
update_str(struct pool *pool, const char *old, const char *new)
{
	if (new == NULL)
		return NULL;
	if (old != NULL && strcmp(old, new) == 0)
		return old;
	return pool_strdup(pool, new);
}

void
filter_context_set_env(struct filter_context *ctx,
		       const struct filter_envelope *env)
{
	struct pool *p = ctx->pool;
	struct filter_envelope *e = &ctx->env;
	const char **rcpts = (const char **)e->rcpts;

	e->session_id = update_str(p, e->session_id, env->session_id);
	e->qid = update_str(p, e->qid, env->qid != NULL ? env->qid : "");
	e->client_ip = update_str(p, e->client_ip, env->client_ip);
	e->client_name = update_str(p, e->client_name, env->client_name);
	e->helo = update_str(p, e->helo, env->helo != NULL ? env->helo : "");
	e->mail_from = update_str(p, e->mail_from,
				  env->mail_from != NULL ? env->mail_from : "");
	e->auth_user = update_str(p, e->auth_user, env->auth_user);
	e->local_hostname =
	    update_str(p, e->local_hostname,
		       env->local_hostname != NULL ? env->local_hostname : "");
	e->rcpt = env->rcpt != NULL ? pool_strdup(p, env->rcpt) : NULL;
	e->submission = env->submission;
	e->tls = env->tls;
	if (env->rcpt_count < e->rcpt_count) {
		/* A new transaction in this context: start over. */
		e->rcpt_count = 0;
	}
	if (env->rcpt_count > e->rcpt_count) {
		if (env->rcpt_count + 1 > ctx->rcpt_alloc) {
			size_t n = (env->rcpt_count + 1) * 2;
			const char **nr = pool_alloc(p, n * sizeof(*nr));

			memcpy(nr, rcpts, e->rcpt_count * sizeof(*nr));
			rcpts = nr;
			ctx->rcpt_alloc = n;
		}
		for (size_t i = e->rcpt_count; i < env->rcpt_count; i++)
			rcpts[i] = pool_strdup(p, env->rcpts[i]);
		e->rcpt_count = env->rcpt_count;
	}
	if (ctx->rcpt_alloc > 0)
		rcpts[e->rcpt_count] = NULL;
	e->rcpts = rcpts;
}

void
filter_context_set_body(struct filter_context *ctx, int fd, off_t offset,
			size_t len)
{
	ctx->body.fd = fd;
	ctx->body.offset = offset;
	ctx->body.len = len;
	ctx->body.body_offset = len;
}

/* Copies count elements of size from src into a new pool array. */
static void *
seed_array(struct pool *pool, const void *src, size_t count, size_t size,
	   size_t *alloc_r)
{
	void *dst;

	*alloc_r = count;
	if (count == 0)
		return NULL;
	dst = pool_alloc(pool, count * size);
	memcpy(dst, src, count * size);
	return dst;
}

void
filter_context_seed(struct filter_context *ctx,
		    const struct filter_context *from, bool with_verdict)
{
	ctx->symbols = seed_array(ctx->pool, from->symbols, from->symbol_count,
				  sizeof(*ctx->symbols), &ctx->symbol_alloc);
	ctx->symbol_count = from->symbol_count;
	ctx->auth = seed_array(ctx->pool, from->auth, from->auth_count,
			       sizeof(*ctx->auth), &ctx->auth_alloc);
	ctx->auth_count = from->auth_count;
	ctx->added = seed_array(ctx->pool, from->added, from->added_count,
				sizeof(*ctx->added), &ctx->added_alloc);
	ctx->added_count = from->added_count;
	ctx->data = seed_array(ctx->pool, from->data, from->data_count,
			       sizeof(*ctx->data), &ctx->data_alloc);
	ctx->data_count = from->data_count;
	ctx->data_shared = from->data_count;
	for (size_t i = 0; i < ctx->data_count; i++)
		ctx->data[i].free_fn = NULL; /* from frees them */
	if (with_verdict) {
		ctx->verdict = from->verdict;
		ctx->code = from->code;
		ctx->enhanced = from->enhanced;
		ctx->text = from->text;
		ctx->verdict_filter = from->verdict_filter;
	}
}

int
filter_context_load(struct filter_context *ctx)
{
	return read_head(ctx, ctx->body.fd, ctx->body.offset, ctx->body.len);
}

void
filter_context_free(struct filter_context **ctxp)
{
	struct filter_context *ctx = *ctxp;

	if (ctx == NULL)
		return;
	for (size_t i = 0; i < ctx->data_count; i++)
		if (ctx->data[i].free_fn != NULL && ctx->data[i].data != NULL)
			ctx->data[i].free_fn(ctx->data[i].data);
	if (ctx->mime != NULL && mime_ops != NULL && mime_ops->free != NULL)
		mime_ops->free(ctx->mime);
	pool_free(&ctx->pool);
	x_free(ctxp);
}

void
filter_context_begin(struct filter_context *ctx, const char *filter,
		     long timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, &ctx->deadline);
	ctx->deadline.tv_sec += timeout_ms / 1000;
	ctx->deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (ctx->deadline.tv_nsec >= 1000000000L) {
		ctx->deadline.tv_sec++;
		ctx->deadline.tv_nsec -= 1000000000L;
	}
	ctx->current = filter;
	ctx->error = NULL;
}

void
filter_context_mark(const struct filter_context *ctx,
		    struct filter_context_mark *mark_r)
{
	mark_r->symbols = ctx->symbol_count;
	mark_r->auth = ctx->auth_count;
	mark_r->added = ctx->added_count;
	mark_r->removed = ctx->removed_count;
	mark_r->data = ctx->data_count;
	mark_r->verdict = ctx->verdict;
	mark_r->code = ctx->code;
	mark_r->enhanced = ctx->enhanced;
	mark_r->text = ctx->text;
	mark_r->verdict_filter = ctx->verdict_filter;
}

void
filter_context_rollback(struct filter_context *ctx,
			const struct filter_context_mark *mark)
{
	ctx->symbol_count = mark->symbols;
	ctx->auth_count = mark->auth;
	ctx->added_count = mark->added;
	ctx->removed_count = mark->removed;
	for (size_t i = mark->data; i < ctx->data_count; i++)
		if (ctx->data[i].free_fn != NULL && ctx->data[i].data != NULL)
			ctx->data[i].free_fn(ctx->data[i].data);
	ctx->data_count = mark->data;
	ctx->verdict = mark->verdict;
	ctx->code = mark->code;
	ctx->enhanced = mark->enhanced;
	ctx->text = mark->text;
	ctx->verdict_filter = mark->verdict_filter;
}

int
filter_verdict_rank(enum policy_verdict verdict)
{
	switch (verdict) {
	case POLICY_REJECT:
		return 5;
	case POLICY_TEMPFAIL:
		return 4;
	case POLICY_DISCARD:
		return 3;
	case POLICY_QUARANTINE:
		return 2;
	case POLICY_ACCEPT:
		return 1;
	case POLICY_CONTINUE:
	default:
		return 0;
	}
}

const char *
filter_verdict_name(enum policy_verdict verdict)
{
	switch (verdict) {
	case POLICY_REJECT:
		return "reject";
	case POLICY_TEMPFAIL:
		return "tempfail";
	case POLICY_DISCARD:
		return "discard";
	case POLICY_QUARANTINE:
		return "quarantine";
	case POLICY_ACCEPT:
		return "accept";
	case POLICY_CONTINUE:
	default:
		return "continue";
	}
}

/* ------------------------------------------------------------------ */
/* reading */

const struct filter_envelope *
filter_envelope(const struct filter_context *ctx)
{
	return &ctx->env;
}

const struct filter_header *
filter_headers(const struct filter_context *ctx, size_t *count_r,
	       bool *truncated_r)
{
	*count_r = ctx->header_count;
	if (truncated_r != NULL)
		*truncated_r = ctx->headers_truncated;
	return ctx->headers;
}

long
filter_header_find(const struct filter_context *ctx, const char *name,
		   size_t start)
{
	for (size_t i = start; i < ctx->header_count; i++)
		if (strcasecmp(ctx->headers[i].name, name) == 0)
			return (long)i;
	return -1;
}

const struct filter_body *
filter_body(const struct filter_context *ctx)
{
	return &ctx->body;
}

struct filter_reader *
filter_reader_new(struct filter_context *ctx, bool whole)
{
	struct filter_reader *r = xmalloc(sizeof(*r));

	r->ctx = ctx;
	r->pos = whole ? 0 : ctx->body.body_offset;
	r->end = ctx->body.len;
	return r;
}

int
filter_reader_read(struct filter_reader *r, const unsigned char **data_r,
		   size_t *size_r)
{
	size_t want;
	ssize_t n;

	if (r->pos >= r->end)
		return 0;
	want = r->end - r->pos;
	if (want > sizeof(r->buf))
		want = sizeof(r->buf);
	do {
		n = pread(r->ctx->body.fd, r->buf, want,
			  r->ctx->body.offset + (off_t)r->pos);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0) {
		errno = EIO; /* the file is shorter than announced */
		return -1;
	}
	r->pos += (size_t)n;
	*data_r = r->buf;
	*size_r = (size_t)n;
	return 1;
}

void
filter_reader_free(struct filter_reader **r)
{
	x_free(r);
}

void
filter_mime_register(const struct filter_mime_ops *ops)
{
	mime_ops = ops;
}

struct filter_mime *
filter_mime(struct filter_context *ctx)
{
	if (!ctx->mime_tried && mime_ops != NULL && mime_ops->parse != NULL) {
		ctx->mime_tried = true;
		ctx->mime = mime_ops->parse(ctx);
	}
	return ctx->mime;
}

const struct filter_symbol *
filter_symbols(const struct filter_context *ctx, size_t *count_r)
{
	*count_r = ctx->symbol_count;
	return ctx->symbols;
}

double
filter_score(const struct filter_context *ctx)
{
	double sum = 0;

	for (size_t i = 0; i < ctx->symbol_count; i++)
		sum += ctx->symbols[i].score;
	return sum;
}

const void *
filter_data(const struct filter_context *ctx, const char *filter)
{
	for (size_t i = ctx->data_count; i > 0; i--)
		if (strcmp(ctx->data[i - 1].filter, filter) == 0)
			return ctx->data[i - 1].data;
	return NULL;
}

const struct filter_auth_result *
filter_auth_results(const struct filter_context *ctx, size_t *count_r)
{
	*count_r = ctx->auth_count;
	return ctx->auth;
}

/* ------------------------------------------------------------------ */
/* producing */

static const char *
current(const struct filter_context *ctx)
{
	return ctx->current != NULL ? ctx->current : "core";
}

void
filter_set_verdict(struct filter_context *ctx, enum policy_verdict verdict,
		   int code, const char *enhanced, const char *text)
{
	if (filter_verdict_rank(verdict) <= filter_verdict_rank(ctx->verdict) &&
	    ctx->verdict != POLICY_CONTINUE)
		return; /* a stronger verdict is already in */
	if (code != 0 && (code < 200 || code > 599))
		code = 0;
	/* Enhanced codes are digits and dots only. */
	if (enhanced != NULL &&
	    (strlen(enhanced) > 15 ||
	     strspn(enhanced, "0123456789.") != strlen(enhanced)))
		enhanced = NULL;
	ctx->verdict = verdict;
	ctx->code = code;
	ctx->enhanced = dup_or_null(ctx->pool, enhanced);
	ctx->text = text != NULL ? dup_printable(ctx->pool, text, 200) : NULL;
	ctx->verdict_filter = current(ctx);
}

void
filter_add_symbol(struct filter_context *ctx, const char *name, double score,
		  const char *detail)
{
	struct filter_symbol *s;
	char *n;

	ctx->symbols = grow(ctx->pool, ctx->symbols, ctx->symbol_count,
			    &ctx->symbol_alloc, sizeof(*ctx->symbols));
	s = &ctx->symbols[ctx->symbol_count++];
	n = pool_strndup(ctx->pool, name, 64);
	for (char *c = n; *c != '\0'; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      *c == '_'))
			*c = '_';
	s->filter = current(ctx);
	s->name = n;
	s->score = score;
	s->detail =
	    detail != NULL ? dup_printable(ctx->pool, detail, 200) : NULL;
}

void
filter_add_auth_result(struct filter_context *ctx, const char *method,
		       const char *result, const char *reason,
		       const char *props)
{
	struct filter_auth_result *a;

	ctx->auth = grow(ctx->pool, ctx->auth, ctx->auth_count,
			 &ctx->auth_alloc, sizeof(*ctx->auth));
	a = &ctx->auth[ctx->auth_count++];
	a->filter = current(ctx);
	a->method = dup_printable(ctx->pool, method, 32);
	a->result = dup_printable(ctx->pool, result, 32);
	a->reason =
	    reason != NULL ? dup_printable(ctx->pool, reason, 200) : NULL;
	a->props = props != NULL ? dup_printable(ctx->pool, props, 512) : NULL;
}

void
filter_add_header(struct filter_context *ctx, const char *name,
		  const char *value)
{
	struct filter_added_header *h;
	char *v;

	ctx->added = grow(ctx->pool, ctx->added, ctx->added_count,
			  &ctx->added_alloc, sizeof(*ctx->added));
	h = &ctx->added[ctx->added_count++];
	h->filter = current(ctx);
	h->name = dup_printable(ctx->pool, name, 76);
	/* A CR or LF that is not part of a fold (CRLF + WSP) becomes a
	 * space: nothing a filter copies from a message can end the field. */
	v = pool_strdup(ctx->pool, value);
	for (size_t i = 0; v[i] != '\0'; i++) {
		if (v[i] == '\r' && v[i + 1] == '\n' &&
		    (v[i + 2] == ' ' || v[i + 2] == '\t')) {
			i++;
			continue;
		}
		if (v[i] == '\r' || v[i] == '\n')
			v[i] = ' ';
	}
	h->value = v;
}

void
filter_remove_header(struct filter_context *ctx, size_t index)
{
	struct filter_removed_header *r;

	if (index >= ctx->header_count || index == 0)
		return; /* out of range, or smtpd's own Received line */
	for (size_t i = 0; i < ctx->removed_count; i++)
		if (ctx->removed[i].index == index)
			return;
	ctx->removed = grow(ctx->pool, ctx->removed, ctx->removed_count,
			    &ctx->removed_alloc, sizeof(*ctx->removed));
	r = &ctx->removed[ctx->removed_count++];
	r->filter = current(ctx);
	r->index = index;
}

void
filter_set_data(struct filter_context *ctx, void *data,
		void (*free_fn)(void *data))
{
	const char *name = current(ctx);
	struct filter_data_slot *slot;

	for (size_t i = ctx->data_shared; i < ctx->data_count; i++) {
		if (strcmp(ctx->data[i].filter, name) != 0)
			continue;
		if (ctx->data[i].free_fn != NULL && ctx->data[i].data != NULL)
			ctx->data[i].free_fn(ctx->data[i].data);
		ctx->data[i].data = data;
		ctx->data[i].free_fn = free_fn;
		return;
	}
	ctx->data = grow(ctx->pool, ctx->data, ctx->data_count,
			 &ctx->data_alloc, sizeof(*ctx->data));
	slot = &ctx->data[ctx->data_count++];
	slot->filter = name;
	slot->data = data;
	slot->free_fn = free_fn;
}

void
filter_set_error(struct filter_context *ctx, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->error = dup_printable(ctx->pool, msg, sizeof(msg));
}

/* ------------------------------------------------------------------ */
/* services */

long
filter_remaining_ms(const struct filter_context *ctx)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(ctx->deadline.tv_sec - now.tv_sec) * 1000 +
	     (ctx->deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? (long)ms : 0;
}

void *
filter_alloc(struct filter_context *ctx, size_t size)
{
	return pool_alloc(ctx->pool, size);
}

char *
filter_strdup(struct filter_context *ctx, const char *s)
{
	return pool_strdup(ctx->pool, s);
}
