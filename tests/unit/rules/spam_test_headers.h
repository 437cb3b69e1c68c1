/*
 * spam_test_headers: the helper the spam rule unit tests share to turn a
 * table row's "Name: value\n" lines into the struct spam_header array the
 * rule engine reads. Header-only (static inline) so that each
 * tests/unit/rules/test_*.c stays one source file.
 */
#ifndef MOAT_TEST_SPAM_TEST_HEADERS_H
#define MOAT_TEST_SPAM_TEST_HEADERS_H

#include <stddef.h>
#include <string.h>

#include "lib/xalloc.h"
#include "rules/spam_rules.h"

/* Splits "Name: value\n" lines into headers (raw NULL); lines without a
 * colon are skipped. *storage_r keeps the bytes the headers point into:
 * free it and *hdrs_r when done. */
static inline void
spam_test_split_headers(const char *text, struct spam_header **hdrs_r,
			size_t *count_r, char **storage_r)
{
	char *s = xstrdup(text), *line, *save = NULL;
	struct spam_header *h = NULL;
	size_t n = 0;

	for (line = strtok_r(s, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');

		if (colon == NULL)
			continue;
		*colon = '\0';
		h = xreallocarray(h, n + 1, sizeof(*h));
		h[n].name = line;
		h[n].value = colon + 1 + strspn(colon + 1, " ");
		h[n].raw = NULL;
		n++;
	}
	*hdrs_r = h;
	*count_r = n;
	*storage_r = s;
}

#endif
