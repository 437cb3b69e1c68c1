/*
 * buf: the one growable byte buffer under strings, protocol lines and
 * streams. Size arithmetic is checked (overflow aborts), and data[len] is
 * always NUL so the contents can be used as a C string when they hold no NUL.
 * A zeroed struct buf is a valid empty buffer (data may be NULL until the
 * first append; buf_cstr() always returns a valid string).
 */
#ifndef MOAT_BUF_H
#define MOAT_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
/* Releases memory; the buffer is empty and reusable afterwards. */
void buf_free(struct buf *b);
/* Sets len to 0, keeps the allocation. */
void buf_reset(struct buf *b);
/* Makes room for at least extra more bytes (+ the NUL). */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Shortens to len (no-op if already shorter). */
void buf_truncate(struct buf *b, size_t len);
/* Drops the first n bytes (all if n >= len). */
void buf_consume(struct buf *b, size_t n);
/* Returns the contents as a string ("" for an empty buffer). */
const char *buf_cstr(const struct buf *b);
/* Hands the allocation to the caller (never NULL); the buffer is empty. */
char *buf_detach(struct buf *b);
bool buf_equals_str(const struct buf *b, const char *s);

#endif
