/*
 * xalloc: allocation that never returns NULL. On exhaustion the process logs
 * and aborts; callers never check. x_free() NULLs the pointer it frees.
 */
#ifndef MOAT_XALLOC_H
#define MOAT_XALLOC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

void *xmalloc(size_t size);
/* Zeroed; nmemb * size is checked for overflow (abort). */
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* reallocarray with overflow check (abort). */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
/* Copies at most n bytes of s and NUL-terminates. */
char *xstrndup(const char *s, size_t n);
/* Formatted allocation; never NULL. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

/* Frees *pp and sets it to NULL. */
#define x_free(pp)                                                             \
	do {                                                                   \
		free(*(pp));                                                   \
		*(pp) = NULL;                                                  \
	} while (0)

#endif
