/*
 * spam_test_headers: the helpers the spam rule unit tests share: turning a
 * table row's "Name: value\n" lines into the struct spam_header array the
 * rule engine reads, and running one rule file over one message.
 * Header-only (static inline) so that each tests/unit/rules/test_*.c stays
 * one source file.
 */
#ifndef MOAT_TEST_SPAM_TEST_HEADERS_H
#define MOAT_TEST_SPAM_TEST_HEADERS_H

#include <stddef.h>
#include <stdlib.h>
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

/* A message of only the header lines text (no Bayes verdict): free
 * *hdrs_r and *storage_r when done. */
static inline void
spam_test_msg_from_headers(const char *text, struct spam_msg *msg,
			   struct spam_header **hdrs_r, char **storage_r)
{
	memset(msg, 0, sizeof(*msg));
	spam_test_split_headers(text, hdrs_r, &msg->header_count, storage_r);
	msg->headers = *hdrs_r;
	msg->bayes = -1;
}

/* Compiles cf and evaluates msg with it: the number of rules that hit, or
 * -1 when cf does not compile, calls a built-in Moat lacks, or the
 * evaluation fails. */
static inline int
spam_test_hits(const char *cf, const struct spam_msg *msg)
{
	struct spam_rules *rules = spam_rules_new();
	struct spam_scratch *scratch = NULL;
	struct spam_rules_stats st;
	struct spam_result result;
	const char *error;
	char *err = NULL;
	int hits = -1;

	spam_rules_parse_text(rules, cf, strlen(cf), "t.cf");
	if (spam_rules_compile(rules, &err) == 0) {
		spam_rules_get_stats(rules, &st);
		scratch = spam_scratch_new(rules);
		if (st.unsupported == 0 && st.warnings == 0 &&
		    spam_rules_eval(rules, scratch, msg, &result, &error) ==
			0) {
			hits = (int)result.count;
			spam_result_free(&result);
		}
	}
	free(err);
	spam_scratch_free(&scratch);
	spam_rules_free(&rules);
	return hits;
}

#endif
