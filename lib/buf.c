/*
 * buf: the growable byte buffer under strings, protocol lines and streams.
 * Invariants: when data != NULL, len < cap and data[len] == '\0'; a zeroed
 * struct is a valid empty buffer. Capacity grows by doubling (minimum 64
 * bytes) so appends are amortised O(1); every size computation is checked
 * and overflow aborts, like allocation failure (lib/xalloc.h).
 */
#include "lib/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/xalloc.h"

#define BUF_MIN_CAP 64

static const char buf_empty[1] = "";

static void __attribute__((noreturn)) buf_overflow(void)
{
	/* Same policy as xalloc: a size that cannot be represented is fatal. */
	(void)xcalloc(SIZE_MAX, 2);
	abort();
}

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;

	if (extra > SIZE_MAX - 1 - b->len)
		buf_overflow();
	need = b->len + extra + 1;
	if (b->data != NULL && need <= b->cap)
		return;
	cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	b->data[b->len] = '\0';
}

void
buf_append(struct buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
buf_append_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_append_char(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

void
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	size_t avail;
	int n;

	buf_reserve(b, 0);
	avail = b->cap - b->len;
	va_copy(copy, ap);
	n = vsnprintf(b->data + b->len, avail, fmt, copy);
	va_end(copy);
	if (n < 0) {
		b->data[b->len] = '\0';
		return;
	}
	if ((size_t)n >= avail) {
		buf_reserve(b, (size_t)n);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		if (n < 0) {
			b->data[b->len] = '\0';
			return;
		}
	}
	b->len += (size_t)n;
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void
buf_truncate(struct buf *b, size_t len)
{
	if (len >= b->len)
		return;
	b->len = len;
	b->data[len] = '\0';
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

const char *
buf_cstr(const struct buf *b)
{
	return b->data != NULL ? b->data : buf_empty;
}

char *
buf_detach(struct buf *b)
{
	char *p;

	if (b->data == NULL)
		p = xstrdup("");
	else
		p = b->data;
	buf_init(b);
	return p;
}

bool
buf_equals_str(const struct buf *b, const char *s)
{
	size_t len = strlen(s);

	return b->len == len && (len == 0 || memcmp(b->data, s, len) == 0);
}
