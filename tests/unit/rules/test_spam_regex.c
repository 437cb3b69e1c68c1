/*
 * Unit tests for rules/spam_regex.c: which rules compile in PCRE2 UTF mode,
 * the byte-mode Hyperscan form of \x{...} code points (outside and inside
 * classes, ranges), invalid code points, widened bounded repeats; then the
 * same patterns as body rules through the whole engine, PCRE2 alone and
 * with the Hyperscan prefilter, over UTF-8 text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "lib/xalloc.h"
#include "rules/spam_regex.h"
#include "rules/spam_rules.h"

struct prep_case {
	const char *name;
	const char *pattern;
	uint32_t flags;
	int want_ret; /* 0 or -1 */
	bool want_utf;
	const char *want_hs; /* NULL: no Hyperscan form */
};

static const struct prep_case prep_cases[] = {
    /* byte mode: unchanged */
    {"ascii", "foo\\s+bar", 0, 0, false, "foo\\s+bar"},
    {"byte escape", "caf\\xe9", 0, 0, false, "caf\\xe9"},
    {"braced ascii", "\\x{41}b", 0, 0, false, "\\x{41}b"},
    {"raw 8-bit bytes", "caf\xe9", 0, 0, false, "caf\xe9"},
    {"utf-8 literal", "caf\xc3\xa9", 0, 0, false, "caf\xc3\xa9"},
    /* code points outside classes */
    {"cyrillic", "b\\x{0456}tcoin", 0, 0, true, "b(?:\\xd1\\x96)tcoin"},
    {"latin-1 braced", "caf\\x{e9}", 0, 0, true, "caf(?:\\xc3\\xa9)"},
    {"quantified", "\\x{0456}+", 0, 0, true, "(?:\\xd1\\x96)+"},
    {"4-byte", "\\x{1F600}", 0, 0, true, "(?:\\xf0\\x9f\\x98\\x80)"},
    {"octal braces", "\\o{2126}", 0, 0, true, "(?:\\xd1\\x96)"},
    {"N{U+}", "\\N{U+0456}", 0, 0, true, "(?:\\xd1\\x96)"},
    {"short escape in UTF", "\\xe9\\x{0456}", 0, 0, true,
     "(?:\\xc3\\xa9)(?:\\xd1\\x96)"},
    {"raw utf-8 in UTF", "\xc3\xa9\\x{0456}", 0, 0, true,
     "(?:\\xc3\\xa9)(?:\\xd1\\x96)"},
    /* inside classes */
    {"class", "[i\\x{0456}]", 0, 0, true, "(?:[\\x69]|\\xd1\\x96)"},
    {"class only non-ascii", "[\\x{0441}\\x{043E}]", 0, 0, true,
     "(?:\\xd1\\x81|\\xd0\\xbe)"},
    {"class range", "[\\x{0400}-\\x{04FF}]", 0, 0, true,
     "(?:[\\xd0-\\xd3][\\x80-\\xbf])"},
    {"range across ascii", "[a-\\x{100}]", 0, 0, true,
     "(?:[\\x61-\\x7f]|[\\xc2-\\xc3][\\x80-\\xbf]|\\xc4\\x80)"},
    {"range across lengths", "[\\x{7fe}-\\x{801}]", 0, 0, true,
     "(?:\\xdf[\\xbe-\\xbf]|\\xe0\\xa0[\\x80-\\x81])"},
    {"range around surrogates", "[\\x{d7ff}-\\x{e000}]", 0, 0, true,
     "(?:\\xed\\x9f\\xbf|\\xee\\x80\\x80)"},
    {"class escape kept", "[\\d\\x{0456}]", 0, 0, true, "(?:[\\d]|\\xd1\\x96)"},
    {"posix class kept", "[[:alpha:]\\x{0456}]", 0, 0, true,
     "(?:[[:alpha:]]|\\xd1\\x96)"},
    {"ascii class in UTF", "[ab]\\x{0456}", 0, 0, true,
     "[\\x61\\x62](?:\\xd1\\x96)"},
    {"class with ] first", "[]\\x{0456}]", 0, 0, true,
     "(?:[\\x5d]|\\xd1\\x96)"},
    /* no byte form: PCRE2 alone */
    {"negated class", "[^\\x{0456}]x", 0, 0, true, NULL},
    {"dot", "a.\\x{0456}", 0, 0, true, NULL},
    {"wide escape", "\\W\\x{0456}", 0, 0, true, NULL},
    {"caseless non-ascii", "\\x{0456}", 0x8, 0, true, NULL},
    {"inline caseless", "(?i)\\x{0456}", 0, 0, true, NULL},
    {"caseless ascii only", "[ab]\\x{41}", 0x8, 0, false, "[ab]\\x{41}"},
    /* invalid */
    {"above U+10FFFF", "\\x{110000}", 0, -1, false, NULL},
    {"surrogate", "\\x{D800}", 0, -1, false, NULL},
    {"surrogate in class", "[a\\x{dfff}]", 0, -1, false, NULL},
    {"empty braces", "\\x{}", 0, -1, false, NULL},
    {"unterminated", "\\x{0456", 0, -1, false, NULL},
    {"not hex", "\\x{zz}", 0, -1, false, NULL},
    {"huge", "\\x{123456789}", 0, -1, false, NULL},
    {"raw non-utf-8 in UTF", "\xe9\\x{0456}", 0, -1, false, NULL},
    /* bounded repeats widened for Hyperscan */
    {"repeat widened", "<a\\s[^>]{0,2048}>", 0, 0, false, "<a\\s[^>]{0,}>"},
    {"exact repeat widened", "(?:ab){200}", 0, 0, false, "(?:ab){128,}"},
    {"small repeat kept", "a{3,5}b{2}", 0, 0, false, "a{3,5}b{2}"},
    {"open repeat kept", "a{2,}", 0, 0, false, "a{2,}"},
    {"brace not a quantifier", "a{,999}", 0, 0, false, "a{,999}"},
    {"leading brace literal", "{0,999}", 0, 0, false, "{0,999}"},
    {"brace in class", "[{0,999}]", 0, 0, false, "[{0,999}]"},
    {"escaped brace", "\\{0,999}", 0, 0, false, "\\{0,999}"},
    {"braces of \\x", "\\x{0456}{0,500}", 0, 0, true, "(?:\\xd1\\x96){0,}"},
    {"comment", "(?#{0,999})a", 0, 0, false, "(?#{0,999})a"},
};

static void
test_prepare_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(prep_cases) / sizeof(prep_cases[0]); i++) {
		const struct prep_case *c = &prep_cases[i];
		struct spam_regex_prep prep;
		const char *error = NULL;
		int ret =
		    spam_regex_prepare(c->pattern, c->flags, &prep, &error);

		if (ret != c->want_ret)
			fail_msg("%s: ret %d, want %d (%s)", c->name, ret,
				 c->want_ret, error ? error : "");
		if (ret < 0) {
			assert_non_null(error);
			continue;
		}
		if (prep.utf != c->want_utf)
			fail_msg("%s: utf %d", c->name, prep.utf);
		if (c->want_hs == NULL && prep.hs_pattern != NULL)
			fail_msg("%s: hs form %s, want none", c->name,
				 prep.hs_pattern);
		if (c->want_hs != NULL &&
		    (prep.hs_pattern == NULL ||
		     strcmp(prep.hs_pattern, c->want_hs) != 0))
			fail_msg("%s: hs form %s, want %s (%s)", c->name,
				 prep.hs_pattern ? prep.hs_pattern : "(none)",
				 c->want_hs, prep.hs_why ? prep.hs_why : "");
		if (prep.hs_pattern == NULL)
			assert_non_null(prep.hs_why);
		spam_regex_prep_free(&prep);
	}
}

/*
 * The byte form must match (in byte mode) wherever the original matches
 * in UTF mode: checked with PCRE2 over UTF-8 subjects.
 */
static void
test_byte_form_superset(void **state)
{
	static const struct {
		const char *pattern, *subject;
	} cases[] = {
	    {"b[i\\x{0456}]tcoin", "a b\xd1\x96tcoin here"},
	    {"b[i\\x{0456}]tcoin", "bitcoin"},
	    {"[\\x{0400}-\\x{04FF}]{3}", "\xd0\x9f\xd1\x80\xd0\xb8"},
	    {"x[a-\\x{100}]y", "x\xc4\x80y"},
	    {"x[a-\\x{100}]y", "x\xc2\x80y"},
	    {"x[a-\\x{100}]y", "xzy"},
	    {"[\\x{7fe}-\\x{801}]", "\xe0\xa0\x81"},
	    {"\\x{1F600}+!", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80!"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spam_regex_prep prep;
		const char *error;
		int err, m1, m2;
		PCRE2_SIZE off;
		pcre2_code *u, *b;
		pcre2_match_data *md;

		assert_int_equal(
		    spam_regex_prepare(cases[i].pattern, 0, &prep, &error), 0);
		assert_true(prep.utf);
		assert_non_null(prep.hs_pattern);
		u = pcre2_compile(
		    (PCRE2_SPTR)cases[i].pattern, PCRE2_ZERO_TERMINATED,
		    PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &err, &off, NULL);
		b = pcre2_compile((PCRE2_SPTR)prep.hs_pattern,
				  PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
		assert_non_null(u);
		assert_non_null(b);
		md = pcre2_match_data_create(1, NULL);
		m1 = pcre2_match(u, (PCRE2_SPTR)cases[i].subject,
				 strlen(cases[i].subject), 0, 0, md, NULL);
		m2 = pcre2_match(b, (PCRE2_SPTR)cases[i].subject,
				 strlen(cases[i].subject), 0, 0, md, NULL);
		if ((m1 >= 0) != (m2 >= 0))
			fail_msg("%s over case %zu: utf %d, bytes %d",
				 cases[i].pattern, i, m1, m2);
		pcre2_match_data_free(md);
		pcre2_code_free(u);
		pcre2_code_free(b);
		spam_regex_prep_free(&prep);
	}
}

/* Body rules with code points through the whole engine. */
struct body_case {
	const char *name;
	const char *rule; /* the /regex/flags of a body rule */
	const char *body;
	bool want;
};

static const struct body_case body_cases[] = {
    {"cyrillic i",
     "/\\bb(?!itcoin)[i\\x{0456}]t[c\\x{0441}][o\\x{043E}]"
     "[i\\x{0456}]n\\b/",
     "send b\xd1\x96t\xd1\x81oin now", true},
    {"plain ascii not obfuscated",
     "/\\bb(?!itcoin)[i\\x{0456}]t[c\\x{0441}][o\\x{043E}][i\\x{0456}]n\\b/",
     "send bitcoin now", false},
    {"negated class is one character", "/x[^\\x{0456}]y/", "x\xd0\xb0y", true},
    {"negated class excludes", "/x[^\\x{0456}]y/", "x\xd1\x96y", false},
    {"dot is one character", "/a.b\\x{e9}/",
     "a\xd1\x96"
     "b\xc3\xa9",
     true},
    {"caseless cyrillic", "/\\x{0456}\\x{0441}/i", "\xd0\x86\xd0\xa1", true},
    {"range", "/[\\x{0400}-\\x{04FF}]{4}/", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2",
     true},
    {"invalid utf-8 text never matches", "/a.b\\x{e9}/",
     "a\xff"
     "b\xe9",
     false},
};

static void
run_body_cases(size_t prefilter_min)
{
	size_t i;

	for (i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		const struct body_case *c = &body_cases[i];
		struct spam_rules *rules = spam_rules_new();
		struct spam_scratch *scratch;
		struct spam_result result;
		struct spam_msg msg;
		struct spam_rules_stats st;
		const char *error;
		char *cf, *err = NULL;
		bool hit = false;
		size_t k;

		memset(&msg, 0, sizeof(msg));
		msg.body = c->body;
		msg.body_len = strlen(c->body);
		msg.bayes = -1;
		cf = xasprintf("body CP_RULE %s\nscore CP_RULE 1\n", c->rule);
		spam_rules_set_prefilter_min(rules, prefilter_min);
		spam_rules_parse_text(rules, cf, strlen(cf), "t.cf");
		assert_int_equal(spam_rules_compile(rules, &err), 0);
		spam_rules_get_stats(rules, &st);
		if (st.active != 1)
			fail_msg("%s: did not compile: %s", c->name,
				 spam_rules_problems(rules));
		assert_int_equal(st.utf, 1);
#ifdef MOAT_HAVE_HYPERSCAN
		if (prefilter_min == 1) {
			/* Prefiltered exactly when there is a byte form. */
			struct spam_regex_prep prep;
			const char *rx = strchr(c->rule, '/') + 1;
			char *pat =
			    xstrndup(rx, (size_t)(strrchr(rx, '/') - rx));
			uint32_t fl = strrchr(rx, '/')[1] == 'i' ? 0x8 : 0;

			assert_int_equal(
			    spam_regex_prepare(pat, fl, &prep, &error), 0);
			assert_int_equal(st.prefiltered,
					 prep.hs_pattern != NULL ? 1 : 0);
			spam_regex_prep_free(&prep);
			free(pat);
		}
#endif
		scratch = spam_scratch_new(rules);
		assert_int_equal(
		    spam_rules_eval(rules, scratch, &msg, &result, &error), 0);
		for (k = 0; k < result.count; k++)
			if (strcmp(result.hits[k].name, "CP_RULE") == 0)
				hit = true;
		if (hit != c->want)
			fail_msg("%s (prefilter_min %zu): hit %d", c->name,
				 prefilter_min, hit);
		spam_result_free(&result);
		spam_scratch_free(&scratch);
		spam_rules_free(&rules);
		free(cf);
	}
}

static void
test_body_rules_pcre2(void **state)
{
	(void)state;
	run_body_cases((size_t)-1);
}

static void
test_body_rules_prefiltered(void **state)
{
	(void)state;
	run_body_cases(1);
}

/* A bad code point disables the rule, with the reason listed. */
static void
test_bad_code_point_listed(void **state)
{
	static const char cf[] = "body BAD_CP /\\x{110000}/\n"
				 "body GOOD /ok/\n"
				 "meta META_BAD BAD_CP && GOOD\n"
				 "meta META_GONE __NOT_DEFINED || GOOD\n"
				 "ifplugin Mail::SpamAssassin::Plugin::Foo\n"
				 "body FOO1 /a/\nheader FOO2 X =~ /b/\n"
				 "score FOO1 2\n"
				 "else\nbody FOO3 /c/\nendif\n"
				 "mimeheader MH Content-Type =~ /x/\n";
	struct spam_rules *rules = spam_rules_new();
	struct spam_rules_stats st;
	char *err = NULL;
	const char *p;

	(void)state;
	spam_rules_parse_text(rules, cf, sizeof(cf) - 1, "t.cf");
	assert_int_equal(spam_rules_compile(rules, &err), 0);
	spam_rules_get_stats(rules, &st);
	assert_int_equal(st.active, 2); /* GOOD and the else branch's FOO3 */
	p = spam_rules_problems(rules);
	assert_non_null(strstr(p, "BAD_CP: regex: code point above U+10FFFF"));
	assert_non_null(
	    strstr(p, "META_BAD: meta: reads disabled rule BAD_CP"));
	assert_non_null(
	    strstr(p, "META_GONE: meta: unknown rule __NOT_DEFINED"));
	assert_string_equal(spam_rules_skipped(rules),
			    "2\tifplugin Mail::SpamAssassin::Plugin::Foo\n"
			    "1\tmimeheader (not implemented)\n");
	spam_rules_free(&rules);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prepare_table),
	    cmocka_unit_test(test_byte_form_superset),
	    cmocka_unit_test(test_body_rules_pcre2),
	    cmocka_unit_test(test_body_rules_prefiltered),
	    cmocka_unit_test(test_bad_code_point_listed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
