/*
 * xalloc: the allocation functions every area uses. They never return NULL:
 * on exhaustion or size overflow they write one message to stderr (with a
 * single write(2), safe from any thread) and abort(). Callers therefore never
 * check results. Zero-size requests return a unique, freeable pointer.
 */
#include "lib/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void __attribute__((noreturn)) xalloc_die(const char *what, size_t size)
{
	char msg[128];
	int n;

	n = snprintf(msg, sizeof(msg), "moat: fatal: %s of %zu bytes failed\n",
		     what, size);
	if (n > 0) {
		ssize_t ret = write(STDERR_FILENO, msg,
				    (size_t)n < sizeof(msg) ? (size_t)n
							    : sizeof(msg) - 1);
		(void)ret;
	}
	abort();
}

static void __attribute__((noreturn)) xalloc_overflow(size_t nmemb, size_t size)
{
	char msg[128];
	int n;

	n = snprintf(msg, sizeof(msg),
		     "moat: fatal: allocation size overflow (%zu * %zu)\n",
		     nmemb, size);
	if (n > 0) {
		ssize_t ret = write(STDERR_FILENO, msg,
				    (size_t)n < sizeof(msg) ? (size_t)n
							    : sizeof(msg) - 1);
		(void)ret;
	}
	abort();
}

void *
xmalloc(size_t size)
{
	void *p = malloc(size == 0 ? 1 : size);

	if (p == NULL)
		xalloc_die("malloc", size);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		xalloc_overflow(nmemb, size);
	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	p = calloc(nmemb, size);
	if (p == NULL)
		xalloc_die("calloc", nmemb * size);
	return p;
}

void *
xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size == 0 ? 1 : size);

	if (p == NULL)
		xalloc_die("realloc", size);
	return p;
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size)
		xalloc_overflow(nmemb, size);
	return xrealloc(ptr, nmemb * size);
}

char *
xstrdup(const char *s)
{
	size_t len = strlen(s);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len + 1);
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *p = NULL;
	int n;

	/* glibc's vasprintf (_GNU_SOURCE): one formatting pass. */
	n = vasprintf(&p, fmt, ap);
	if (n < 0 || p == NULL)
		xalloc_die("vasprintf", 0);
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}
