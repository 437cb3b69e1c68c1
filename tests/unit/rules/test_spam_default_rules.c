/*
 * Unit tests for Moat's default rule set (rules/data/moat_default.cf):
 * a table of header blocks with one rule each that must hit or must not
 * (the near misses matter as much: real mail must stay clear), evaluated
 * by the compiled default set, and the Bayes score map: a confident Bayes
 * verdict alone reaches the tag threshold, a hammy one pulls below zero.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/xalloc.h"
#include "rules/spam_rules.h"

struct default_case {
	const char *headers; /* "Name: value\n" lines */
	const char *rule;
	bool hit;
};

static const struct default_case default_cases[] = {
    /* a zone no clock uses; real zones */
    {"Date: Sat, 3 Aug 2002 20:34:27 +1900\n", "DATE_BAD_ZONE", true},
    {"Date: Sat, 3 Aug 2002 20:34:27 -2800\n", "DATE_BAD_ZONE", true},
    {"Date: Sat, 3 Aug 2002 20:34:27 +1400\n", "DATE_BAD_ZONE", false},
    {"Date: Sat, 3 Aug 2002 20:34:27 -0930\n", "DATE_BAD_ZONE", false},
    {"Date: Sat, 3 Aug 2002 20:34:27 +0100 (IST)\n", "DATE_BAD_ZONE", false},
    /* no zone at all */
    {"Date: Sat, 3 Aug 2002 20:34:27\n", "DATE_NO_ZONE", true},
    {"Date: Sat, 3 Aug 2002 20:34\n", "DATE_NO_ZONE", true},
    {"Date: Sat, 3 Aug 2002 20:34:27 GMT\n", "DATE_NO_ZONE", false},
    {"Date: Sat, 3 Aug 2002 20:34:27 -0400\n", "DATE_NO_ZONE", false},
    /* a Subject padded to push its tag out of view */
    {"Subject: Traders                   DQB\n", "SUBJ_SPACE_RUN", true},
    {"Subject: Re: minutes of  the meeting\n", "SUBJ_SPACE_RUN", false},
    /* random X-Mailer; real ones have spaces, dots, versions */
    {"X-Mailer: gzg9vejGQoprgWnUFeU8m716kLGy\n", "XMAILER_RANDOM", true},
    {"X-Mailer: Microsoft Outlook Express 6.00.2600.0000\n", "XMAILER_RANDOM",
     false},
    {"X-Mailer: Mutt\n", "XMAILER_RANDOM", false},
    /* generated accounts */
    {"From: acana67062@hotmail.example\n", "FROM_DIGIT_TAIL", true},
    {"From: \"A\" <a.b_c-d20021@mail.example>\n", "FROM_DIGIT_TAIL", true},
    {"From: bob2002@example.test\n", "FROM_DIGIT_TAIL", true},
    {"From: bob99@example.test\n", "FROM_DIGIT_TAIL", false},
    {"From: 12345678@example.test\n", "FROM_DIGIT_TAIL", false},
    /* to oneself, in either order, with or without display names */
    {"From: a.b@x.example\nTo: a.b@x.example\n", "FROM_IS_TO", true},
    {"To: <a.b@x.example>\nSubject: s\nFrom: \"A\" <a.b@x.example>\n",
     "FROM_IS_TO", true},
    {"From: a.b@x.example\nTo: a.bc@x.example\n", "FROM_IS_TO", false},
    {"From: a.b@x.example\nTo: list@x.example\n", "FROM_IS_TO", false},
    {"From: a@x.example\nTo: ba@x.example\n", "FROM_IS_TO", false},
    {"From: ba@x.example\nTo: a@x.example\n", "FROM_IS_TO", false},
    {"To: <ba@x.example>\nFrom: B <a@x.example>\n", "FROM_IS_TO", false},
};

/* Splits "Name: value\n" lines into headers (storage keeps the bytes). */
static void
split_headers(const char *text, struct spam_header **hdrs_r, size_t *count_r,
	      char **storage_r)
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

/* Evaluates the default set on headers (empty body) with a Bayes
 * probability; fills *result_r. */
static void
eval_default(struct spam_rules *rules, const char *headers, double bayes,
	     struct spam_result *result_r)
{
	struct spam_scratch *scratch = spam_scratch_new(rules);
	struct spam_header *hdrs;
	struct spam_msg msg;
	const char *error = NULL;
	char *storage;

	memset(&msg, 0, sizeof(msg));
	split_headers(headers, &hdrs, &msg.header_count, &storage);
	msg.headers = hdrs;
	msg.body = "";
	msg.rawbody = "";
	msg.full = "";
	msg.bayes = bayes;
	assert_int_equal(
	    spam_rules_eval(rules, scratch, &msg, result_r, &error), 0);
	spam_scratch_free(&scratch);
	free(hdrs);
	free(storage);
}

static bool
result_has(const struct spam_result *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->count; i++)
		if (strcmp(r->hits[i].name, name) == 0)
			return true;
	return false;
}

static struct spam_rules *
default_rules(void)
{
	struct spam_rules *rules = spam_rules_new();
	char *err = NULL;

	spam_rules_set_score_set(rules, 3);
	spam_rules_load_default(rules);
	assert_int_equal(spam_rules_compile(rules, &err), 0);
	return rules;
}

static void
test_default_table(void **state)
{
	struct spam_rules *rules = default_rules();
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(default_cases) / sizeof(default_cases[0]); i++) {
		const struct default_case *c = &default_cases[i];
		struct spam_result r;

		eval_default(rules, c->headers, -1, &r);
		if (result_has(&r, c->rule) != c->hit)
			fail_msg("%s %s on \"%s\"", c->rule,
				 c->hit ? "missed" : "hit", c->headers);
		spam_result_free(&r);
	}
	spam_rules_free(&rules);
}

struct bayes_case {
	double prob;
	double min_score, max_score; /* the whole score of a bare message */
};

static const struct bayes_case bayes_cases[] = {
    {0.0, -3.5, -2.5},	/* clearly ham */
    {0.5, -0.5, 0.5},	/* no opinion */
    {0.7, -0.5, 0.5},	/* leaning spam: counts for nothing alone */
    {0.9, 3.0, 4.0},	/* likely: needs another sign */
    {0.97, 5.0, 5.5},	/* confident: spam on its own */
    {0.9995, 5.0, 6.0}, /* very confident */
};

static void
test_bayes_scores(void **state)
{
	struct spam_rules *rules = default_rules();
	static const char headers[] =
	    "From: bob@example.test\nTo: ann@example.test\nSubject: hello "
	    "there\nDate: Sat, 3 Aug 2002 20:34:27 +0100\nMessage-Id: "
	    "<1@example.test>\n";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bayes_cases) / sizeof(bayes_cases[0]); i++) {
		struct spam_result r;

		eval_default(rules, headers, bayes_cases[i].prob, &r);
		if (r.score < bayes_cases[i].min_score - 1e-9 ||
		    r.score > bayes_cases[i].max_score + 1e-9)
			fail_msg("bayes %.4f: score %.3f, want %.2f..%.2f",
				 bayes_cases[i].prob, r.score,
				 bayes_cases[i].min_score,
				 bayes_cases[i].max_score);
		spam_result_free(&r);
	}
	spam_rules_free(&rules);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_table),
	    cmocka_unit_test(test_bayes_scores),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
