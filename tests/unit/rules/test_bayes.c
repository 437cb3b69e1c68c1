/*
 * Unit tests for rules/bayes.c: the tokeniser (a table of texts and the
 * tokens expected), Robinson's token probability, the chi-square tail and
 * Fisher combining against known values, and learning/classifying through
 * a real SQLite database in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "lib/xalloc.h"
#include "rules/bayes.h"

struct tok_case {
	const char *text;
	const char *prefix;
	const char *want; /* tokens joined by '|' */
};

static const struct tok_case tok_cases[] = {
    {"Hello World", "", "hello|C:Hello|world|2:hello world|C:World"},
    {"a an the cat", "", "the|cat|2:the cat"},
    {"FREE!!! money...", "", "free!!!|C:FREE!!!|money|2:free!!! money"},
    {"  'quoted', -dash- ", "", "quoted|dash|2:quoted dash"},
    {"price: $100 now", "", "price|$100|2:price $100|now|2:$100 now"},
    {"supercalifragilistic", "", "sk:superca"},
    {"mail bob@example.test", "", "mail|sk:bob@exa"},
    {"to bob@ex.test", "", "bob@ex.test"},
    {"caf\xc3\xa9 ol\xc3\xa9", "",
     "caf\xc3\xa9|ol\xc3\xa9|2:caf\xc3\xa9 ol\xc3\xa9"},
    /* a long word breaks the pairs */
    {"one supercalifragilistic two", "", "one|sk:superca|two"},
    {"Cheap Meds", "S:", "S:cheap|S:meds"},
    /* CJK: overlapping pairs of characters, no spaces needed */
    {"\xe5\x85\x8d\xe8\xb4\xb9\xe8\xb5\x9a\xe9\x92\xb1", "",
     "J:\xe5\x85\x8d\xe8\xb4\xb9|J:\xe8\xb4\xb9\xe8\xb5\x9a|J:"
     "\xe8\xb5\x9a\xe9\x92\xb1|"
     "\xe5\x85\x8d\xe8\xb4\xb9\xe8\xb5\x9a\xe9\x92\xb1"},
    {"Buy\xe5\x85\x8d\xe8\xb4\xb9now", "",
     "J:\xe5\x85\x8d\xe8\xb4\xb9|buy\xe5\x85\x8d\xe8\xb4\xb9now|C:"
     "Buy\xe5\x85\x8d\xe8\xb4\xb9now"},
    {"\xe5\x85\x8d\xe8\xb4\xb9",
     "S:", "S:J:\xe5\x85\x8d\xe8\xb4\xb9|S:\xe5\x85\x8d\xe8\xb4\xb9"},
    {"", "", ""},
    {"<<<>>>", "", ""},
};

static void
join_cb(void *context, const char *token, size_t len)
{
	char *out = context;
	size_t used = strlen(out);

	if (used > 0 && used + 1 < 512)
		out[used++] = '|', out[used] = '\0';
	if (used + len < 512) {
		memcpy(out + used, token, len);
		out[used + len] = '\0';
	}
}

static void
test_tokenize_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tok_cases) / sizeof(tok_cases[0]); i++) {
		char out[512] = "";

		bayes_tokenize_text(tok_cases[i].text,
				    strlen(tok_cases[i].text),
				    tok_cases[i].prefix, join_cb, out);
		if (strcmp(out, tok_cases[i].want) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"",
				 tok_cases[i].text, out, tok_cases[i].want);
	}
}

static void
test_tokenize_message(void **state)
{
	static const struct spam_header headers[] = {
	    {"Subject", "cheap cheap pills", NULL},
	    {"Received", "from nowhere", NULL},
	};
	static const char *const uris[] = {"http://www.spam.example.test/x"};
	struct spam_msg msg = {
	    .headers = headers,
	    .header_count = 2,
	    .body = "pills pills body",
	    .body_len = 16,
	    .hidden_body = "Grandma pills",
	    .hidden_body_len = 13,
	    .uris = uris,
	    .uri_count = 1,
	    .bayes = -1,
	};
	struct bayes_tokens t, want;

	(void)state;
	bayes_tokens_init(&t);
	bayes_tokenize(&msg, &t);
	bayes_tokens_init(&want);
	/* Field names, Subject words, Received words, body words
	 * (deduplicated; the body's own HTML scan finds no tags), hidden
	 * words apart (no pairs, no capitals), URL host suffixes. */
	bayes_tokens_add(&want, "N:subject", 9);
	bayes_tokens_add(&want, "N:received", 10);
	bayes_tokens_add(&want, "S:cheap", 7);
	bayes_tokens_add(&want, "S:pills", 7);
	bayes_tokens_add(&want, "Rc:from", 7);
	bayes_tokens_add(&want, "Rc:nowhere", 10);
	bayes_tokens_add(&want, "pills", 5);
	bayes_tokens_add(&want, "body", 4);
	bayes_tokens_add(&want, "2:pills pills", 13);
	bayes_tokens_add(&want, "2:pills body", 12);
	bayes_tokens_add(&want, "I*:grandma", 10);
	bayes_tokens_add(&want, "I*:pills", 8);
	bayes_tokens_add(&want, "U:www.spam.example.test", 23);
	bayes_tokens_add(&want, "U:spam.example.test", 19);
	bayes_tokens_add(&want, "U:example.test", 14);
	bayes_tokens_finish(&want);
	assert_int_equal(t.count, want.count);
	assert_memory_equal(t.hashes, want.hashes, t.count * sizeof(*t.hashes));
	bayes_tokens_free(&t);
	bayes_tokens_free(&want);
}

struct hdr_case {
	const char *name;
	const char *value;
	const char *want; /* tokens joined by '|' */
};

static const struct hdr_case hdr_cases[] = {
    {"Subject", "Cheap Meds", "N:subject|S:cheap|S:meds"},
    /* addresses whole, plus their domain */
    {"From", "Bob <bob@mail.example.test>",
     "N:from|F:bob|F:bob@mail.example.test|F:@mail.example.test"},
    {"FROM", "x@y.test", "N:from|F:x@y.test|F:@y.test"},
    /* Received: hosts, addresses and their /24, plain words; no ids, no
     * times, no digits */
    {"Received",
     "from mx.example.test (mx.example.test [192.0.2.7]) by "
     "in.moat.test with ESMTP id 4AbC12x; Tue, 6 Aug 2002 07:18:09 -0400",
     "N:received|Rc:from|Rc:mx.example.test|Rc:mx.example.test|"
     "Rc:192.0.2|Rc:192.0.2.7|Rc:in.moat.test|Rc:with|Rc:esmtp|Rc:tue|"
     "Rc:aug"},
    /* shapes */
    {"Message-Id", "<20020806.AB12@mail.example.test>",
     "N:message-id|MI*:<9.A9@a.a.a>|MI:mail.example.test"},
    {"Date", "Tue, 6 Aug 2002 07:18:09 -0400", "N:date|D*:Aa,_9_Aa_9_9:9:9_-9"},
    /* other fields: presence only */
    {"X-Beenthere", "list@example.test", "N:x-beenthere"},
    {"Delivered-To", "me@example.test", "N:delivered-to"},
    {"Lines", NULL, "N:lines"},
    /* never: a sender does not vote on its own verdict */
    {"X-Spam-Status", "No, score=-100", ""},
    {"x-moat-anything", "ham", ""},
};

static void
test_tokenize_header_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]); i++) {
		char out[512] = "";

		bayes_tokenize_header(hdr_cases[i].name, hdr_cases[i].value,
				      join_cb, out);
		if (strcmp(out, hdr_cases[i].want) != 0)
			fail_msg("%s: \"%s\": got \"%s\", want \"%s\"",
				 hdr_cases[i].name,
				 hdr_cases[i].value ? hdr_cases[i].value : "",
				 out, hdr_cases[i].want);
	}
}

struct html_case {
	const char *raw;
	const char *want;
};

static const struct html_case html_cases[] = {
    {"<p>Hi</p>", "HT:p"},
    {"<FONT COLOR=\"#FF0000\" size=7>x</font>",
     "HT:font|HT:font.color=#ff0000|HT:font.size=7"},
    {"<a href='http://x.test/'><img src=a.gif width=1></a>",
     "HT:a|HT:a.href|HT:img|HT:img.src|HT:img.width"},
    {"<table border>", "HT:table|HT:table.border"},
    /* not markup: addresses, comparisons, a lone < */
    {"mail <bob@example.test> if a < b or 1<2 <", ""},
    {"<br/>", "HT:br"},
    /* an unterminated tag stops at the end */
    {"<div class=\"x", "HT:div|HT:div.class"},
    {"", ""},
};

static void
test_tokenize_html_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(html_cases) / sizeof(html_cases[0]); i++) {
		char out[512] = "";

		bayes_tokenize_html(html_cases[i].raw,
				    strlen(html_cases[i].raw), join_cb, out);
		if (strcmp(out, html_cases[i].want) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"",
				 html_cases[i].raw, out, html_cases[i].want);
	}
}

static const struct html_case url_cases[] = {
    {"http://www.Spam.example.test/x?y",
     "U:www.spam.example.test|U:spam.example.test|U:example.test"},
    {"https://user@host.test:8080/", "U:host.test"},
    {"http://192.0.2.1/phish", "U*:ip|U:192.0.2.1|U:0.2.1|U:2.1"},
    {"mailto:bob", "U:mailto"},
    {"", ""},
};

static void
test_tokenize_url_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
		char out[512] = "";

		bayes_tokenize_url(url_cases[i].raw, join_cb, out);
		if (strcmp(out, url_cases[i].want) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"",
				 url_cases[i].raw, out, url_cases[i].want);
	}
}

static void
assert_near(double got, double want, double eps)
{
	if (got < want - eps || got > want + eps)
		fail_msg("got %.9g, want %.9g", got, want);
}

static void
test_math(void **state)
{
	struct bayes_params p;
	double spammy[20], hammy[20], mixed[2] = {0.99, 0.01};
	size_t i;

	(void)state;
	bayes_params_default(&p);
	/* chi2q with 2 degrees of freedom is exp(-x/2). */
	assert_near(bayes_chi2q(2.0, 2), 0.36787944, 1e-7);
	/* chi2q(x, 4) = exp(-x/2)(1 + x/2). */
	assert_near(bayes_chi2q(4.0, 4), 0.40600585, 1e-7);
	assert_near(bayes_chi2q(0, 10), 1.0, 1e-12);
	/* A huge statistic is 0, not NaN. */
	assert_near(bayes_chi2q(5000.0, 300), 0.0, 1e-12);
	/* Unknown token: the prior x. */
	assert_near(bayes_token_prob(0, 0, 10, 10, &p), 0.538, 1e-12);
	/* Seen only in spam, many times: close to 1. */
	assert_true(bayes_token_prob(50, 0, 100, 100, &p) > 0.99);
	assert_true(bayes_token_prob(0, 50, 100, 100, &p) < 0.01);
	/* Equal rates: 0.5 pulled slightly toward x. */
	assert_near(bayes_token_prob(10, 10, 100, 100, &p),
		    (p.robinson_s * 0.538 + 20 * 0.5) / (p.robinson_s + 20),
		    1e-12);
	for (i = 0; i < 20; i++) {
		spammy[i] = 0.99;
		hammy[i] = 0.01;
	}
	assert_true(bayes_combine(spammy, 20) > 0.999);
	assert_true(bayes_combine(hammy, 20) < 0.001);
	assert_near(bayes_combine(mixed, 2), 0.5, 1e-9);
	assert_near(bayes_combine(NULL, 0), 0.5, 1e-12);
}

/* Graham's combining: the log-odds add up, the scale sets the slope. */
static void
test_combine_logodds(void **state)
{
	static const struct {
		double probs[4];
		size_t n;
		double scale, want;
	} rows[] = {
	    {{0}, 0, 10, 0.5},
	    /* ln(0.9/0.1) = 2.1972; twice, over 10: logistic(0.43944) */
	    {{0.9, 0.9}, 2, 10, 0.608127},
	    {{0.9, 0.1}, 2, 10, 0.5},
	    {{0.9, 0.1, 0.99}, 3, 1, 0.99},
	    /* saturates without overflow */
	    {{1.0, 1.0, 1.0, 1.0}, 4, 0.001, 1.0},
	    {{0.0, 0.0, 0.0, 0.0}, 4, 0.001, 0.0},
	    /* a scale of 0 counts as 1 */
	    {{0.75}, 1, 0, 0.75},
	};
	struct bayes_params p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_near(bayes_combine_logodds(rows[i].probs, rows[i].n,
						  rows[i].scale),
			    rows[i].want, 1e-6);
	bayes_params_default(&p);
	assert_int_equal(p.combining, BAYES_COMBINE_LOGODDS);
	assert_int_equal(p.max_tokens, 40);
	assert_int_equal(bayes_params_set_combining(&p, "chi2"), 0);
	assert_int_equal(p.combining, BAYES_COMBINE_CHI2);
	assert_int_equal(p.max_tokens, 150);
	assert_int_equal(bayes_params_set_combining(&p, "logodds"), 0);
	assert_int_equal(p.max_tokens, 40);
	assert_int_equal(bayes_params_set_combining(&p, "graham"), -1);
	assert_int_equal(p.combining, BAYES_COMBINE_LOGODDS);
}

static void
add_cb(void *context, const char *token, size_t len)
{
	bayes_tokens_add(context, token, len);
}

static void
tokens_of(struct bayes_tokens *t, const char *words)
{
	bayes_tokens_init(t);
	bayes_tokenize_text(words, strlen(words), "", add_cb, t);
	bayes_tokens_finish(t);
}

/* Removes path (dir/bayes.db, freed here), its WAL files and dir. */
static void
remove_db(const char *dir, char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};

	free(path);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char *p = xasprintf("%s/bayes.db%s", dir, suffixes[i]);

		unlink(p);
		free(p);
	}
	rmdir(dir);
}

static void
test_learn_classify(void **state)
{
	char dir[] = "/tmp/moat-bayes-XXXXXX", *path, *err = NULL;
	struct bayes_db *db = NULL;
	struct bayes_params p;
	struct bayes_tokens t;
	unsigned int ns, nh, i;
	double prob = -1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/bayes.db", dir);
	assert_int_equal(bayes_open(path, &db, &err), 0);
	bayes_params_default(&p);
	p.min_spam = p.min_ham = 5;

	tokens_of(&t, "viagra cheap pills offer");
	/* Not enough learned yet. */
	assert_int_equal(bayes_classify(db, &t, &p, &prob, &err), 0);
	bayes_tokens_free(&t);

	for (i = 0; i < 10; i++) {
		char spam[128], ham[128];

		snprintf(spam, sizeof(spam),
			 "viagra cheap pills offer winner%u", i);
		snprintf(ham, sizeof(ham),
			 "meeting agenda minutes project review%u", i);
		tokens_of(&t, spam);
		assert_int_equal(bayes_learn(db, &t, 1000 + i, true, &err), 1);
		bayes_tokens_free(&t);
		tokens_of(&t, ham);
		assert_int_equal(bayes_learn(db, &t, 2000 + i, false, &err), 1);
		bayes_tokens_free(&t);
	}
	assert_int_equal(bayes_counts(db, &ns, &nh, &err), 0);
	assert_int_equal(ns, 10);
	assert_int_equal(nh, 10);

	/* The same key as the same class counts once. */
	tokens_of(&t, "viagra cheap pills offer winner0");
	assert_int_equal(bayes_learn(db, &t, 1000, true, &err), 0);
	assert_int_equal(bayes_counts(db, &ns, &nh, &err), 0);
	assert_int_equal(ns, 10);
	bayes_tokens_free(&t);

	/* Three words (six tokens with the pairs) are modest evidence for the
	 * log-odds sum; chi-square calls them certain. */
	tokens_of(&t, "cheap viagra pills");
	assert_int_equal(bayes_classify(db, &t, &p, &prob, &err), 1);
	assert_true(prob > 0.75);
	assert_int_equal(bayes_params_set_combining(&p, "chi2"), 0);
	assert_int_equal(bayes_classify(db, &t, &p, &prob, &err), 1);
	assert_true(prob > 0.9);
	bayes_tokens_free(&t);
	tokens_of(&t, "project meeting agenda");
	assert_int_equal(bayes_classify(db, &t, &p, &prob, &err), 1);
	assert_true(prob < 0.1);
	assert_int_equal(bayes_params_set_combining(&p, "logodds"), 0);
	assert_int_equal(bayes_classify(db, &t, &p, &prob, &err), 1);
	assert_true(prob < 0.25);
	bayes_tokens_free(&t);
	tokens_of(&t, "nothing known here");
	assert_int_equal(bayes_classify(db, &t, &p, &prob, &err), 1);
	assert_near(prob, 0.5, 1e-9);
	bayes_tokens_free(&t);

	/* Relearning a spam as ham moves it: counts stay, classes swap. */
	tokens_of(&t, "viagra cheap pills offer winner1");
	assert_int_equal(bayes_learn(db, &t, 1001, false, &err), 1);
	assert_int_equal(bayes_counts(db, &ns, &nh, &err), 0);
	assert_int_equal(ns, 9);
	assert_int_equal(nh, 11);
	bayes_tokens_free(&t);

	bayes_close(&db);
	assert_null(db);
	remove_db(dir, path);
}

/* The in-memory copy of the token table: the same answers as SQLite
 * lookups; reloaded after another connection's commit once old enough, at
 * once while too little is learned. */
static void
test_snapshot(void **state)
{
	char dir[] = "/tmp/moat-bayes-XXXXXX", *path, *err = NULL;
	struct bayes_db *db = NULL, *other = NULL;
	struct bayes_params fresh, sql, lazy;
	struct bayes_tokens t;
	double p1 = -1, p2 = -1;
	unsigned int i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/bayes.db", dir);
	assert_int_equal(bayes_open(path, &db, &err), 0);
	assert_int_equal(bayes_open(path, &other, &err), 0);
	bayes_params_default(&fresh);
	/* One-token messages: chi-square makes the probabilities below
	 * clear-cut (this test is about which counts are read). */
	assert_int_equal(bayes_params_set_combining(&fresh, "chi2"), 0);
	fresh.min_spam = fresh.min_ham = 3;
	fresh.snapshot_max_age = 0;
	sql = fresh;
	sql.snapshot_max_age = -1;
	lazy = fresh;
	lazy.snapshot_max_age = 3600;

	/* Too little learned: a lazy snapshot taken now must not stick. */
	tokens_of(&t, "cheap pills");
	assert_int_equal(bayes_classify(db, &t, &lazy, &p1, &err), 0);
	bayes_tokens_free(&t);
	for (i = 0; i < 3; i++) {
		char spam[64], ham[64];

		snprintf(spam, sizeof(spam), "cheap pills offer n%u", i);
		snprintf(ham, sizeof(ham), "project meeting agenda n%u", i);
		tokens_of(&t, spam);
		assert_int_equal(bayes_learn(other, &t, 10 + i, true, &err), 1);
		bayes_tokens_free(&t);
		tokens_of(&t, ham);
		assert_int_equal(bayes_learn(other, &t, 20 + i, false, &err),
				 1);
		bayes_tokens_free(&t);
	}
	tokens_of(&t, "cheap pills offer");
	assert_int_equal(bayes_classify(db, &t, &lazy, &p1, &err), 1);
	assert_true(p1 > 0.9);
	/* Snapshot and SQLite agree. */
	assert_int_equal(bayes_classify(db, &t, &sql, &p2, &err), 1);
	assert_near(p1, p2, 1e-12);
	bayes_tokens_free(&t);

	/* Another process teaches "offer" as ham many times (now in most
	 * ham, all spam: about 0.5): a lazy snapshot keeps the old view, a
	 * fresh one sees the change. */
	for (i = 0; i < 20; i++) {
		char ham[64];

		snprintf(ham, sizeof(ham), "offer accepted n%u", i);
		tokens_of(&t, ham);
		assert_int_equal(bayes_learn(other, &t, 100 + i, false, &err),
				 1);
		bayes_tokens_free(&t);
	}
	tokens_of(&t, "offer");
	assert_int_equal(bayes_classify(db, &t, &lazy, &p1, &err), 1);
	assert_true(p1 > 0.9);
	assert_int_equal(bayes_classify(db, &t, &fresh, &p1, &err), 1);
	assert_true(p1 < 0.7);
	assert_int_equal(bayes_classify(db, &t, &sql, &p2, &err), 1);
	assert_near(p1, p2, 1e-12);
	bayes_tokens_free(&t);
	/* Learning through the same handle counts as a change too: "agenda"
	 * (so far ham only) turns spammy. */
	tokens_of(&t, "agenda");
	assert_int_equal(bayes_classify(db, &t, &fresh, &p1, &err), 1);
	assert_true(p1 < 0.1);
	bayes_tokens_free(&t);
	for (i = 0; i < 40; i++) {
		char spam[64];

		snprintf(spam, sizeof(spam), "agenda pills n%u", i);
		tokens_of(&t, spam);
		assert_int_equal(bayes_learn(db, &t, 200 + i, true, &err), 1);
		bayes_tokens_free(&t);
	}
	tokens_of(&t, "agenda");
	assert_int_equal(bayes_classify(db, &t, &fresh, &p1, &err), 1);
	assert_int_equal(bayes_classify(db, &t, &sql, &p2, &err), 1);
	assert_near(p1, p2, 1e-12);
	assert_true(p1 > 0.6);
	bayes_tokens_free(&t);

	bayes_close(&other);
	bayes_close(&db);
	remove_db(dir, path);
}

/* Adds the tokens prefix1..prefixN to a finished set. */
static void
tokens_numbered(struct bayes_tokens *t, const char *prefix, unsigned int n)
{
	bayes_tokens_init(t);
	for (unsigned int i = 1; i <= n; i++) {
		char tok[32];
		int len = snprintf(tok, sizeof(tok), "%s%u", prefix, i);

		bayes_tokens_add(t, tok, (size_t)len);
	}
	bayes_tokens_finish(t);
}

static void
counts_of(struct bayes_db *db, const char *token, unsigned int *spam,
	  unsigned int *ham)
{
	struct bayes_params p;
	char *err = NULL;

	bayes_params_default(&p);
	p.snapshot_max_age = -1;
	assert_int_equal(
	    bayes_token_counts(db, token, strlen(token), &p, spam, ham, &err),
	    0);
}

/* Expiry: nothing under the limit; over it, rows no class counts go
 * first, then the tokens learned longest ago, the least learned first,
 * down to three quarters of the limit; message counts stay. */
static void
test_expire(void **state)
{
	char dir[] = "/tmp/moat-bayes-XXXXXX", *path, *err = NULL;
	struct bayes_db *db = NULL;
	struct bayes_tokens t;
	sqlite3 *raw;
	uint64_t removed, forgotten, total;
	unsigned int s, h, ns, nh;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/bayes.db", dir);
	assert_int_equal(bayes_open(path, &db, &err), 0);
	tokens_numbered(&t, "a", 10);
	assert_int_equal(bayes_learn(db, &t, 1, true, &err), 1);
	bayes_tokens_free(&t);
	tokens_numbered(&t, "a", 2);
	assert_int_equal(bayes_learn(db, &t, 2, true, &err), 1);
	bayes_tokens_free(&t);
	/* the a tokens were learned long ago; one row counts nothing */
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw,
				      "UPDATE tokens SET day = 100; INSERT "
				      "INTO tokens VALUES (42, 0, 0, 100); "
				      "UPDATE seen SET day = 50 WHERE key = 1",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(raw);
	tokens_numbered(&t, "b", 10);
	assert_int_equal(bayes_learn(db, &t, 3, false, &err), 1);
	bayes_tokens_free(&t);
	assert_int_equal(bayes_token_total(db, &total, &err), 0);
	assert_int_equal(total, 21);

	assert_int_equal(bayes_expire(db, 0, &removed, &forgotten, &err), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(bayes_expire(db, 21, &removed, &forgotten, &err), 0);
	assert_int_equal(removed, 0);
	/* 21 > 16: down to 12 */
	assert_int_equal(bayes_expire(db, 16, &removed, &forgotten, &err), 0);
	assert_int_equal(removed, 9);
	/* message 1 was learned before every token left: forgotten */
	assert_int_equal(forgotten, 1);
	assert_int_equal(bayes_token_total(db, &total, &err), 0);
	assert_int_equal(total, 12);
	counts_of(db, "a1", &s, &h);
	assert_int_equal(s, 2);
	counts_of(db, "a2", &s, &h);
	assert_int_equal(s, 2);
	counts_of(db, "a3", &s, &h);
	assert_int_equal(s + h, 0);
	counts_of(db, "b10", &s, &h);
	assert_int_equal(h, 1);
	assert_int_equal(bayes_counts(db, &ns, &nh, &err), 0);
	assert_int_equal(ns, 2);
	assert_int_equal(nh, 1);
	/* a forgotten message counts as new when learned again, its
	 * expired tokens afresh; a remembered one does not */
	tokens_numbered(&t, "a", 10);
	assert_int_equal(bayes_learn(db, &t, 1, true, &err), 1);
	bayes_tokens_free(&t);
	tokens_numbered(&t, "a", 2);
	assert_int_equal(bayes_learn(db, &t, 2, true, &err), 0);
	bayes_tokens_free(&t);
	counts_of(db, "a3", &s, &h);
	assert_int_equal(s, 1);
	counts_of(db, "a1", &s, &h);
	assert_int_equal(s, 3);
	assert_int_equal(bayes_counts(db, &ns, &nh, &err), 0);
	assert_int_equal(ns, 3);

	bayes_close(&db);
	remove_db(dir, path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tokenize_table),
	    cmocka_unit_test(test_tokenize_message),
	    cmocka_unit_test(test_tokenize_header_table),
	    cmocka_unit_test(test_tokenize_html_table),
	    cmocka_unit_test(test_tokenize_url_table),
	    cmocka_unit_test(test_math),
	    cmocka_unit_test(test_combine_logodds),
	    cmocka_unit_test(test_learn_classify),
	    cmocka_unit_test(test_snapshot),
	    cmocka_unit_test(test_expire),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
