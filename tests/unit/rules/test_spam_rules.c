/*
 * Unit tests for the spam rule language (rules/spam_rules*.c,
 * rules/spam_meta.c): tables of rule files and messages with the rules
 * expected to hit, of meta expressions with their values, and of parse
 * results (warnings, unsupported, disabled). Each evaluation case runs
 * twice: PCRE2 only, and with the Hyperscan prefilter forced on, so both
 * paths give the same answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/xalloc.h"
#include "rules/spam_meta.h"
#include "rules/spam_rules.h"
#include "spam_test_headers.h"

/* ---- evaluation table ---- */

struct eval_case {
	const char *name;
	const char *cf;
	const char *headers; /* "Name: value\n" lines */
	const char *body;
	const char *uris; /* space separated */
	double bayes;
	const char *want; /* space separated rule names, in name order */
	double want_score;
};

static const struct eval_case eval_cases[] = {
    {"header regex", "header SUBJ_X Subject =~ /hello/i\nscore SUBJ_X 2\n",
     "Subject: HeLLo world\n", "", "", -1, "SUBJ_X", 2},
    {"header no match", "header SUBJ_X Subject =~ /hello/\n", "Subject: bye\n",
     "", "", -1, "", 0},
    {"header negated", "header NOT_X Subject !~ /hello/\nscore NOT_X 1.5\n",
     "Subject: bye\n", "", "", -1, "NOT_X", 1.5},
    {"header absent, negated hits", "header NOT_X X-Foo !~ /a/\n",
     "Subject: a\n", "", "", -1, "NOT_X", 1},
    {"if-unset", "header U X-Foo =~ /^unset$/ [if-unset: unset]\n",
     "Subject: a\n", "", "", -1, "U", 1},
    {"exists", "header E exists:X-Mailer\nscore E 0.5\n", "x-mailer: Foo\n", "",
     "", -1, "E", 0.5},
    {"exists absent", "header E exists:X-Mailer\n", "Subject: a\n", "", "", -1,
     "", 0},
    {"addr modifier", "header A From:addr =~ /^bob\\@example\\.test$/\n",
     "From: \"Bob B\" <bob@example.test>\n", "", "", -1, "A", 1},
    {"addr without brackets", "header A From:addr =~ /^bob\\@x\\.test$/\n",
     "From: bob@x.test (Bob)\n", "", "", -1, "A", 1},
    {"name modifier", "header N From:name =~ /^Bob B$/\n",
     "From: \"Bob B\" <bob@example.test>\n", "", "", -1, "N", 1},
    {"name:raw modifiers", "header NR From:name:raw =~ /^Bob B$/\n",
     "From: \"Bob B\" <bob@example.test>\n", "", "", -1, "NR", 1},
    {"raw modifier", "header R Subject:raw =~ /=\\?utf-8\\?/i\n",
     "Subject: caf\xc3\xa9\n", "", "", -1, "R", 1},
    {"ALL", "header AL ALL =~ /^X-Spam-Bait: yes$/m\n",
     "Subject: a\nX-Spam-Bait: yes\n", "", "", -1, "AL", 1},
    {"ToCc", "header TC ToCc =~ /carol/\n", "To: a@x\nCc: carol@x\n", "", "",
     -1, "TC", 1},
    {"multiple occurrences joined", "header RCV Received =~ /second/\n",
     "Received: first\nReceived: second\n", "", "", -1, "RCV", 1},
    {"body regex", "body B /cheap meds/i\nscore B 3\n", "Subject: a\n",
     "Buy CHEAP MEDS now", "", -1, "B", 3},
    {"body line anchors", "body B /^second line$/\n", "",
     "first\nsecond line\n", "", -1, "B", 1},
    {"body multiple", "body M /!!/\ntflags M multiple maxhits=3\nscore M 1\n",
     "", "a!! b!! c!! d!! e!!", "", -1, "M", 3},
    {"rawbody", "rawbody RB /<font/i\n", "", "", "", -1, "", 0},
    {"uri", "uri U /^https?:\\/\\/\\d+\\.\\d+\\.\\d+\\.\\d+\\//\n", "", "",
     "http://example.test/ http://192.0.2.1/x", -1, "U", 1},
    {"uri m{} delimiter", "uri U m{example\\.test/path}\n", "", "",
     "http://example.test/path", -1, "U", 1},
    {"meta and",
     "body __A /alpha/\nbody __B /beta/\nmeta AB __A && __B\n"
     "score AB 2\n",
     "", "alpha beta", "", -1, "AB", 2},
    {"meta and false",
     "body __A /alpha/\nbody __B /beta/\nmeta AB __A && __B\n", "", "alpha", "",
     -1, "", 0},
    {"meta arithmetic",
     "body __A /a1/\nbody __B /b1/\nbody __C /c1/\n"
     "meta TWO (__A + __B + __C) >= 2\n",
     "", "a1 c1", "", -1, "TWO", 1},
    {"meta of meta",
     "body __A /x/\nmeta __M1 __A\nmeta M2 __M1 && !__NOPE2\n"
     "body __NOPE2 /zzz/\n",
     "", "x", "", -1, "M2", 1},
    {"meta unknown rule disabled", "body __A /x/\nmeta M __A || UNDEFINED\n",
     "", "x", "", -1, "", 0},
    {"meta cycle disabled", "meta M1 M2\nmeta M2 M1\n", "", "", "", -1, "", 0},
    {"sub-rules not reported", "body __A /x/\n", "", "x", "", -1, "", 0},
    {"score 0 disables", "body Z /x/\nscore Z 0\n", "", "x", "", -1, "", 0},
    {"four score sets use the last", "body S /x/\nscore S 1 2 3 4\n", "", "x",
     "", -1, "S", 4},
    {"T_ rules score 0.01", "body T_X /x/\n", "", "x", "", -1, "T_X", 0.01},
    {"redefinition wins", "body R /first/\nbody R /second/\n", "", "first", "",
     -1, "", 0},
    {"score before test", "score LATE 3\nbody LATE /x/\n", "", "x", "", -1,
     "LATE", 3},
    {"bayes eval",
     "body B99 eval:check_bayes('0.99', '1.00')\nscore B99 3.5\n"
     "body B00 eval:check_bayes('0.00', '0.01')\n",
     "", "", "", 0.995, "B99", 3.5},
    {"bayes unavailable", "body B99 eval:check_bayes('0.99', '1.00')\n", "", "",
     "", -1, "", 0},
    {"missing to", "header MT eval:check_for_missing_to_header()\n",
     "From: a@b\n", "", "", -1, "MT", 1},
    {"subject all caps", "header SC eval:subject_is_all_caps()\n",
     "Subject: Re: BUY THIS NOW PLEASE\n", "", "", -1, "SC", 1},
    {"subject not all caps", "header SC eval:subject_is_all_caps()\n",
     "Subject: BUY this NOW please\n", "", "", -1, "", 0},
    {"missing header", "header MH eval:check_for_missing_header('Date')\n",
     "Subject: a\n", "", "", -1, "MH", 1},
    {"unsupported eval disabled", "body UE eval:check_stock_info()\n", "", "x",
     "", -1, "", 0},
    {"ifplugin unknown skipped",
     "ifplugin Mail::SpamAssassin::Plugin::Nope\nbody P /x/\nendif\n", "", "x",
     "", -1, "", 0},
    {"ifplugin else", "ifplugin Nope\nbody P /y/\nelse\nbody Q /x/\nendif\n",
     "", "x", "", -1, "Q", 1},
    {"if version",
     "if (version >= 3.004000)\nbody V /x/\nendif\n"
     "if version < 3.000000\nbody W /x/\nendif\n",
     "", "x", "", -1, "V", 1},
    {"if can false",
     "if can(Mail::SpamAssassin::Conf::feature_x)\nbody C /x/\n"
     "endif\n",
     "", "x", "", -1, "", 0},
    {"if can, a feature Moat has",
     "if can(Mail::SpamAssassin::Conf::feature_bug6558_free)\nbody C /x/\n"
     "endif\n"
     "if !can(Mail::SpamAssassin::Conf::perl_min_version_5010000)\n"
     "body D /x/\nendif\n",
     "", "x", "", -1, "C", 1},
    {"ifplugin HeaderEval: its rules load, a missing eval is disabled",
     "ifplugin Mail::SpamAssassin::Plugin::HeaderEval\n"
     "header H eval:check_for_missing_to_header()\n"
     "header U eval:check_for_forged_received_trail()\nendif\n",
     "From: a@b\n", "", "", -1, "H", 1},
    {"comment and escaped hash", "body H /a\\#b/ # comment\n", "", "a#b", "",
     -1, "H", 1},
    {"gtube always", "", "",
     "foo XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*"
     "C.34X",
     "", -1, "GTUBE", 1000},
    {"gtube eval", "body G2 eval:check_gtube()\nscore G2 1\n", "",
     "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X", "",
     -1, "G2 GTUBE", 1001},
    {"bad regex disabled", "body BAD /(unclosed/\nbody OK /x/\n", "", "x", "",
     -1, "OK", 1},
};

/* The shared split, with a raw (encoded) form for a Subject holding
 * "caf", so that the raw/decoded distinction can be tested. */
static void
split_headers(const char *text, struct spam_header **hdrs_r, size_t *count_r,
	      char **storage_r)
{
	spam_test_split_headers(text, hdrs_r, count_r, storage_r);
	for (size_t i = 0; i < *count_r; i++) {
		struct spam_header *h = &(*hdrs_r)[i];

		if (strcmp(h->name, "Subject") == 0 &&
		    strstr(h->value, "caf") != NULL)
			h->raw = "=?utf-8?q?caf=C3=A9?=";
	}
}

static void
run_eval_case(const struct eval_case *c, size_t prefilter_min)
{
	struct spam_rules *rules = spam_rules_new();
	struct spam_scratch *scratch;
	struct spam_result result;
	struct spam_msg msg;
	struct spam_header *hdrs;
	char *storage, *uris = xstrdup(c->uris), *u, *save = NULL;
	const char *uri_list[8], *error;
	size_t nuri = 0, i;
	char got[512] = "";
	char *err = NULL;

	spam_rules_set_prefilter_min(rules, prefilter_min);
	spam_rules_parse_text(rules, c->cf, strlen(c->cf), "test.cf");
	assert_int_equal(spam_rules_compile(rules, &err), 0);
	split_headers(c->headers, &hdrs, &msg.header_count, &storage);
	msg.headers = hdrs;
	msg.body = c->body;
	msg.body_len = strlen(c->body);
	msg.rawbody = c->body;
	msg.rawbody_len = strlen(c->body);
	msg.full = c->body;
	msg.full_len = strlen(c->body);
	for (u = strtok_r(uris, " ", &save); u != NULL && nuri < 8;
	     u = strtok_r(NULL, " ", &save))
		uri_list[nuri++] = u;
	msg.uris = uri_list;
	msg.uri_count = nuri;
	msg.bayes = c->bayes;
	scratch = spam_scratch_new(rules);
	assert_int_equal(spam_rules_eval(rules, scratch, &msg, &result, &error),
			 0);
	for (i = 0; i < result.count; i++) {
		if (i > 0)
			strncat(got, " ", sizeof(got) - strlen(got) - 1);
		strncat(got, result.hits[i].name,
			sizeof(got) - strlen(got) - 1);
	}
	if (strcmp(got, c->want) != 0)
		fail_msg("%s (prefilter %zu): got \"%s\", want \"%s\"", c->name,
			 prefilter_min, got, c->want);
	if (result.score < c->want_score - 1e-9 ||
	    result.score > c->want_score + 1e-9)
		fail_msg("%s: score %g, want %g", c->name, result.score,
			 c->want_score);
	spam_result_free(&result);
	spam_scratch_free(&scratch);
	assert_null(scratch);
	spam_rules_free(&rules);
	assert_null(rules);
	free(hdrs);
	free(storage);
	free(uris);
}

static void
test_eval_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(eval_cases) / sizeof(eval_cases[0]); i++) {
		run_eval_case(&eval_cases[i], (size_t)-1);
		run_eval_case(&eval_cases[i], 1); /* Hyperscan when built */
	}
}

/* ---- meta expressions ---- */

struct meta_case {
	const char *expr;
	double a, b, c;
	double want; /* NAN-free; -999 = compile error */
};

static const struct meta_case meta_cases[] = {
    {"A && B", 1, 1, 0, 1},
    {"A && B", 1, 0, 0, 0},
    {"A || B", 0, 0, 0, 0},
    {"A || B && C", 1, 0, 0, 1}, /* && binds tighter */
    {"(A || B) && C", 1, 0, 0, 0},
    {"!A", 0, 0, 0, 1},
    {"!A && !B", 0, 1, 0, 0},
    {"A + B + C", 1, 2, 3, 6},
    {"A + B * C", 1, 2, 3, 7},
    {"(A + B) * C", 1, 2, 3, 9},
    {"A + B > 1", 1, 1, 0, 1},
    {"A + B >= 3", 1, 1, 0, 0},
    {"A - B - C", 10, 2, 3, 5},
    {"A / B", 6, 0, 0, 0},
    {"A / B", 6, 3, 0, 2},
    {"-A + 2", 1, 0, 0, 1},
    {"A == 2 || B != 0", 2, 0, 0, 1},
    {"A < B && B <= C", 1, 2, 2, 1},
    {"1.5 * A", 2, 0, 0, 3},
    {"A &&", 0, 0, 0, -999},
    {"(A", 0, 0, 0, -999},
    {"A B", 0, 0, 0, -999},
    {"UNKNOWN", 0, 0, 0, -999},
    {"", 0, 0, 0, -999},
    {"A $ B", 0, 0, 0, -999},
};

static int
resolve_abc(const char *name, size_t len, void *context)
{
	(void)context;
	if (len == 1 && name[0] >= 'A' && name[0] <= 'C')
		return name[0] - 'A';
	return -1;
}

static void
test_meta_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(meta_cases) / sizeof(meta_cases[0]); i++) {
		const struct meta_case *c = &meta_cases[i];
		struct spam_meta *meta = NULL;
		const char *error = NULL;
		double values[3] = {c->a, c->b, c->c};
		int ret = spam_meta_compile(c->expr, resolve_abc, NULL, &meta,
					    &error);

		if (c->want == -999) {
			if (ret != -1 || error == NULL)
				fail_msg("\"%s\" should not compile", c->expr);
			assert_null(meta);
			continue;
		}
		if (ret != 0)
			fail_msg("\"%s\": %s", c->expr, error);
		if (spam_meta_eval(meta, values) != c->want)
			fail_msg("\"%s\" = %g, want %g", c->expr,
				 spam_meta_eval(meta, values), c->want);
		spam_meta_free(&meta);
	}
}

static void
test_meta_deep_nesting(void **state)
{
	char expr[2100];
	struct spam_meta *meta = NULL;
	const char *error;
	size_t i;

	(void)state;
	for (i = 0; i < 1000; i++)
		expr[i] = '(';
	expr[1000] = 'A';
	for (i = 0; i < 1000; i++)
		expr[1001 + i] = ')';
	expr[2001] = '\0';
	assert_int_equal(
	    spam_meta_compile(expr, resolve_abc, NULL, &meta, &error), -1);
	assert_null(meta);
}

/* ---- parse results ---- */

struct parse_case {
	const char *name;
	const char *cf;
	size_t want_active, want_warnings, want_unsupported, want_bad;
};

static const struct parse_case parse_cases[] = {
    {"empty", "", 0, 0, 0, 0},
    {"comments only", "# a\n   # b\n\n", 0, 0, 0, 0},
    {"one of each",
     "header H Subject =~ /a/\nbody B /b/\nrawbody R /c/\n"
     "full F /d/\nuri U /e/\nmeta M H && B\n",
     6, 0, 0, 0},
    {"bad name", "body 1BAD /x/\n", 0, 1, 0, 0},
    {"bad regex delimiters", "body B x/\n", 0, 1, 0, 0},
    {"unterminated regex", "body B /abc\n", 0, 1, 0, 0},
    {"header without operator", "header H Subject /a/\n", 0, 1, 0, 0},
    {"unknown header modifier", "header H From:foo =~ /a/\n", 0, 1, 0, 0},
    {"unsupported eval", "header E eval:check_rbl('a', 'b.')\n", 0, 0, 1, 0},
    {"uncompilable regex", "body B /a(/\n", 0, 0, 0, 1},
    {"bad score", "score X abc\n", 0, 1, 0, 0},
    {"endif without if", "endif\n", 0, 1, 0, 0},
    {"if without endif", "if version > 1\nbody B /x/\n", 1, 1, 0, 0},
    {"crlf lines", "body B /x/\r\nscore B 2\r\n", 1, 0, 0, 0},
    {"ignored directives",
     "lang de describe X y\nrequired_score 5\n"
     "report _SUMMARY_\n",
     0, 0, 0, 0},
};

static void
test_parse_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct spam_rules *rules = spam_rules_new();
		struct spam_rules_stats st;
		char *err = NULL;

		spam_rules_parse_text(rules, c->cf, strlen(c->cf), "t.cf");
		assert_int_equal(spam_rules_compile(rules, &err), 0);
		spam_rules_get_stats(rules, &st);
		if (st.active != c->want_active ||
		    st.warnings != c->want_warnings ||
		    st.unsupported != c->want_unsupported ||
		    st.bad != c->want_bad)
			fail_msg("%s: active %zu warnings %zu unsupported %zu "
				 "bad %zu (%s)",
				 c->name, st.active, st.warnings,
				 st.unsupported, st.bad,
				 spam_rules_warnings(rules));
		spam_rules_free(&rules);
	}
}

/* rewrite_header: Subject's text is kept (the last one wins); other
 * fields and bad texts are warnings. */
static void
test_rewrite_header(void **state)
{
	static const struct {
		const char *cf, *want;
		size_t warnings;
	} cases[] = {
	    {"rewrite_header Subject *****SPAM*****\n", "*****SPAM*****", 0},
	    {"rewrite_header subject [SPAM]\nrewrite_header Subject "
	     "[SPAM _SCORE_]\n",
	     "[SPAM _SCORE_]", 0},
	    {"rewrite_header From spammer\n", NULL, 1},
	    {"rewrite_header Subject\n", NULL, 1},
	    {"rewrite_header\n", NULL, 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spam_rules *rules = spam_rules_new();
		struct spam_rules_stats st;
		const char *got;

		spam_rules_parse_text(rules, cases[i].cf, strlen(cases[i].cf),
				      "t.cf");
		spam_rules_get_stats(rules, &st);
		got = spam_rules_subject_tag(rules);
		if (cases[i].want == NULL
			? got != NULL
			: got == NULL || strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: got %s", i, got ? got : "(none)");
		assert_int_equal(st.warnings, cases[i].warnings);
		spam_rules_free(&rules);
	}
}

static void
test_default_rules(void **state)
{
	struct spam_rules *rules = spam_rules_new();
	struct spam_rules_stats st;
	char *err = NULL;

	(void)state;
	spam_rules_load_default(rules);
	assert_int_equal(spam_rules_compile(rules, &err), 0);
	spam_rules_get_stats(rules, &st);
	if (st.warnings != 0 || st.bad != 0 || st.unsupported != 0)
		fail_msg("default rules: %zu warnings, %zu bad, %zu "
			 "unsupported: %s",
			 st.warnings, st.bad, st.unsupported,
			 spam_rules_warnings(rules));
	assert_true(st.active == st.rules);
	assert_true(st.rules > 50);
	assert_string_equal(spam_rules_describe(rules, "BAYES_99"),
			    "Bayes spam probability is 99 to 100%");
	spam_rules_free(&rules);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rewrite_header),
	    cmocka_unit_test(test_eval_table),
	    cmocka_unit_test(test_meta_table),
	    cmocka_unit_test(test_meta_deep_nesting),
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_default_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
