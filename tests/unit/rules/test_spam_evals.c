/*
 * Unit tests for rules/spam_evals.c, the eval: built-ins on header
 * structure: the date parser (RFC 5322 and the looser forms mail programs
 * write, with what it must refuse), then one table per built-in
 * (check_outlook_message_id, check_for_shifted_date,
 * check_illegal_chars, similar_recipients, sorted_recipients) of header
 * blocks that must or must not hit, and
 * of part structures (html_image_only, check_for_mime_html[_only]), run
 * through the rule language so parsing of the arguments is covered too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/xalloc.h"
#include "rules/spam_rules_private.h"
#include "spam_test_headers.h"

struct date_case {
	const char *text;
	bool ok;
	long long want;
};

static const struct date_case date_cases[] = {
    {"Wed, 31 Jul 2002 16:41:57 +0200", true, 1028126517},
    {"31 Jul 2002 14:41:57 GMT", true, 1028126517},
    {"Wed, 31 Jul 2002 10:41:57 -0400 (EDT)", true, 1028126517},
    {"Wed, 31 Jul 2002 07:41:57 PDT", true, 1028126517},
    {"Wed,31 Jul 2002 14:41:57", true, 1028126517},	 /* no zone: UTC */
    {"Wed, 31 Jul 02 14:41:57 +0000", true, 1028126517}, /* 2-digit */
    {"Wed Jul 31 14:41:57 2002", true, 1028126517},	 /* ctime */
    {"  Wed, 31 jul 2002 14:41 +0000", true, 1028126460},
    {"Thu, 1 Jan 1970 00:00:00 +0000", true, 0},
    {"Wed, 24 Jul 0102 04:01:49 -0400", true, -58930732691},
    /* clamped fields, as SpamAssassin does */
    {"Wed, 31 Jul 2002 14:75:57 +0000", true, 1028127597},
    {"Wed, 31 Jul 2002 14:41:57 +9999", true, 1028126517 - 6039 * 60},
    /* not dates */
    {"", false, 0},
    {"yesterday", false, 0},
    {"Jul, 24 2002 4:33:02 PM -0700", false, 0},
    {"31 Foo 2002 14:41:57 +0000", false, 0},
    {"31 Jul 20021 14:41:57 +0000", false, 0},
    {"(31 Jul 2002 14:41:57 +0000)", false, 0},
};

static void
test_parse_date(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(date_cases) / sizeof(date_cases[0]);
	     i++) {
		const struct date_case *c = &date_cases[i];
		long long t = -1;
		bool ok = spam_parse_date(c->text, &t);

		if (ok != c->ok || (ok && t != c->want))
			fail_msg("\"%s\": got %d %lld, want %d %lld", c->text,
				 ok, t, c->ok, c->want);
	}
	assert_false(spam_parse_date(NULL, &(long long){0}));
}

struct eval_case {
	const char *rule;    /* a header eval: rule line, the rule named R */
	const char *headers; /* "Name: value\n" lines */
	bool hit;
};

#define OUTLOOK	 "header R eval:check_outlook_message_id()\n"
#define PAST96	 "header R eval:check_for_shifted_date('undef', '-96')\n"
#define FUT12	 "header R eval:check_for_shifted_date('12', 'undef')\n"
#define RANGE	 "header R eval:check_for_shifted_date('-6', '-3')\n"
#define ILL_FROM "header R eval:check_illegal_chars('From', '0.20', '2')\n"
#define ILL_SUBJ "header R eval:check_illegal_chars('Subject', '0.00', '2')\n"
#define ILL_ALL	 "header R eval:check_illegal_chars('ALL', '0.010', '2')\n"
#define SIMILAR	 "header R eval:similar_recipients('0.65', 'undef')\n"
#define SORTED	 "header R eval:sorted_recipients()\n"

static const struct eval_case eval_cases[] = {
    /* Outlook's clock in the Message-Id agrees with Date */
    {OUTLOOK,
     "Message-Id: <000801c238a0$12345678$0100a8c0@pc>\n"
     "Date: Wed, 31 Jul 2002 16:41:57 +0200\n",
     false},
    /* 11 days off Date, no Received */
    {OUTLOOK,
     "Message-Id: <000801c22ffb$12345678$0100a8c0@pc>\n"
     "Date: Wed, 31 Jul 2002 16:41:57 +0200\n",
     true},
    /* off Date, but agrees with the oldest Received */
    {OUTLOOK,
     "Message-Id: <000801c22ffb$12345678$0100a8c0@pc>\n"
     "Date: Wed, 31 Jul 2002 16:41:57 +0200\n"
     "Received: from a by b; Wed, 31 Jul 2002 14:41:57 +0000\n"
     "Received: from c by a; Sat, 20 Jul 2002 14:41:57 +0000\n",
     false},
    {OUTLOOK,
     "Message-Id: <000801c22ffb$12345678$0100a8c0@pc>\n"
     "Date: Wed, 31 Jul 2002 16:41:57 +0200\n"
     "Received: from c by a; Wed, 31 Jul 2002 14:41:57 +0000\n",
     true},
    /* not Outlook's form: upper case, 8-hex first field, no Message-Id */
    {OUTLOOK,
     "Message-Id: <000801C22FFB$12345678$0100A8C0@pc>\n"
     "Date: Wed, 31 Jul 2002 16:41:57 +0200\n",
     false},
    {OUTLOOK,
     "Message-Id: <01c22ffb$12345678$0100a8c0@pc>\n"
     "Date: Wed, 31 Jul 2002 16:41:57 +0200\n",
     false},
    {OUTLOOK, "Date: Wed, 31 Jul 2002 16:41:57 +0200\n", false},
    /* Date 5 days before the relays; the closest Received counts */
    {PAST96,
     "Date: Fri, 26 Jul 2002 10:00:00 +0000\n"
     "Received: from a by b; Wed, 31 Jul 2002 10:00:00 +0000\n",
     true},
    {PAST96,
     "Date: Fri, 26 Jul 2002 10:00:00 +0000\n"
     "Received: from a by b; Wed, 31 Jul 2002 10:00:00 +0000\n"
     "Received: from c by a; Fri, 26 Jul 2002 11:00:00 +0000\n",
     false},
    /* the oldest Received equal to Date is left out */
    {PAST96,
     "Date: Fri, 26 Jul 2002 10:00:00 +0000\n"
     "Received: from a by b; Wed, 31 Jul 2002 10:00:00 +0000\n"
     "Received: from c by a; Fri, 26 Jul 2002 10:00:00 +0000\n",
     true},
    /* zones are honoured: the same instant */
    {PAST96,
     "Date: Wed, 31 Jul 2002 06:00:00 -0400\n"
     "Received: from a by b; Wed, 31 Jul 2002 12:00:00 +0200\n",
     false},
    {PAST96, "Date: Fri, 26 Jul 2002 10:00:00 +0000\n", false},
    {PAST96,
     "Date: garbage\n"
     "Received: from a by b; Wed, 31 Jul 2002 10:00:00 +0000\n",
     false},
    /* the Y2K-bug year 0102 is far in the past */
    {PAST96,
     "Date: Wed, 24 Jul 0102 04:01:49 -0400\n"
     "Received: from a by b; Tue, 23 Jul 2002 20:29:12 -0500\n",
     true},
    {FUT12,
     "Date: Thu, 1 Aug 2002 10:00:00 +0000\n"
     "Received: from a by b; Wed, 31 Jul 2002 10:00:00 +0000\n",
     true},
    {FUT12,
     "Date: Wed, 31 Jul 2002 21:00:00 +0000\n"
     "Received: from a by b; Wed, 31 Jul 2002 10:00:00 +0000\n",
     false},
    /* a bounded range: [-6h, -3h) */
    {RANGE,
     "Date: Wed, 31 Jul 2002 06:00:00 +0000\n"
     "Received: from a by b; Wed, 31 Jul 2002 10:00:00 +0000\n",
     true},
    {RANGE,
     "Date: Wed, 31 Jul 2002 07:00:00 +0000\n"
     "Received: from a by b; Wed, 31 Jul 2002 10:00:00 +0000\n",
     false},
    /* raw 8-bit From; UTF-8 is internationalised mail, not illegal */
    {ILL_FROM, "From: \xe9\xe8\xe0\xe1\xe2 <a@b.example>\n", true},
    {ILL_FROM, "From: \xc3\xa9\xc3\xa8\xc3\xa0 <a@b.example>\n", false},
    {ILL_FROM, "From: Bob <a@b.example>\n", false},
    {ILL_FROM, "From: Ren\xe9 Dupont-Martin <rene@example.test>\n",
     false}, /* one byte, below the ratio */
    {ILL_SUBJ, "Subject: caf\xe9 cr\xe8me\n", true},
    {ILL_SUBJ, "Subject: only \xa3 5\n", false}, /* one pound sign */
    {ILL_SUBJ, "Subject: ctrl \x01\x02 bytes\n", true},
    {ILL_SUBJ, "Subject: caf\xc3\xa9 \x01\x02\n", true}, /* UTF-8 + ctl */
    {ILL_ALL, "Subject: \xb0\xa1\xb0\xa2\nFrom: a@b.example\n", true},
    {ILL_ALL, "Subject: plain\nFrom: a@b.example\n", false},
    /* look-alike recipient lists */
    {SIMILAR,
     "To: ab1@x.example, ab2@x.example, ab3@x.example\n"
     "Cc: \"Ab, Four\" <ab4@y.example>, ab5@z.example\n",
     true},
    {SIMILAR,
     "To: ann@x.example, bob@x.example, carl@x.example, dora@x.example, "
     "eve@x.example\n",
     false},
    {SIMILAR, "To: ab1@x.example, ab2@x.example, ab3@x.example\n", false},
    /* Bcc counts while To and Cc hold fewer than five */
    {SIMILAR,
     "To: ab1@x.example\nBcc: ab2@x.example, ab3@x.example, "
     "ab4@x.example, ab5@x.example\n",
     true},
    {SORTED,
     "To: a@x.example, b@x.example, c@x.example, d@x.example, "
     "e@x.example, f@x.example, g@x.example\n",
     true},
    {SORTED,
     "To: a@x.example, b@x.example, c@x.example, d@x.example, "
     "e@x.example, g@x.example, f@x.example\n",
     false},
    {SORTED, "To: a@x.example, b@x.example, c@x.example\n", false},
    /* neighbouring duplicates count once */
    {SORTED,
     "To: a@x.example, A@x.example, b@x.example, c@x.example, d@x.example, "
     "e@x.example, f@x.example\n",
     false},
};

static void
test_eval_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(eval_cases) / sizeof(eval_cases[0]);
	     i++) {
		const struct eval_case *c = &eval_cases[i];
		struct spam_msg msg;
		struct spam_header *hdrs;
		char *storage;
		int hits;

		spam_test_msg_from_headers(c->headers, &msg, &hdrs, &storage);
		hits = spam_test_hits(c->rule, &msg);
		assert_true(hits >= 0);
		if ((hits == 1) != c->hit)
			fail_msg("case %zu (%s): hit %d, want %d", i, c->rule,
				 hits == 1, c->hit);
		free(hdrs);
		free(storage);
	}
}

/* The MIME and HTML built-ins on a message's part structure. */
struct parts_case {
	const char *rule;
	struct spam_html_part html[2];
	size_t html_count, text_count;
	bool hit;
};

#define IMG08	   "body R eval:html_image_only('0400','0800')\n"
#define MHTML	   "body R eval:check_for_mime_html()\n"
#define MHTML_ONLY "body R eval:check_for_mime_html_only()\n"

static const struct parts_case parts_cases[] = {
    {IMG08, {{500, 1}}, 1, 0, true},
    {IMG08, {{500, 0}}, 1, 0, false},		/* no image */
    {IMG08, {{400, 2}}, 1, 0, false},		/* min is excluded */
    {IMG08, {{800, 2}}, 1, 0, true},		/* max is included */
    {IMG08, {{5000, 1}, {600, 3}}, 2, 0, true}, /* any HTML part */
    {IMG08, {{0}}, 0, 1, false},
    {MHTML, {{10, 0}}, 1, 1, true},
    {MHTML, {{0}}, 0, 2, false},
    {MHTML_ONLY, {{10, 0}}, 1, 0, true},
    {MHTML_ONLY, {{10, 0}}, 1, 1, false}, /* with a text/plain part */
    {MHTML_ONLY, {{0}}, 0, 0, false},
};

static void
test_parts_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parts_cases) / sizeof(parts_cases[0]);
	     i++) {
		const struct parts_case *c = &parts_cases[i];
		struct spam_msg msg;
		int hits;

		memset(&msg, 0, sizeof(msg));
		msg.bayes = -1;
		msg.html_parts = c->html;
		msg.html_part_count = c->html_count;
		msg.text_part_count = c->text_count;
		hits = spam_test_hits(c->rule, &msg);
		assert_true(hits >= 0);
		if ((hits == 1) != c->hit)
			fail_msg("parts case %zu (%s): hit %d, want %d", i,
				 c->rule, hits == 1, c->hit);
	}
}

/* SpamAssassin's HTMLEval built-ins on what the HTML parts recorded;
 * an html_test() result Moat does not record disables its rule. */
static void
test_html_evals(void **state)
{
	static const char *const tags[] = {"html", "body", "center"};
	static const struct {
		const char *rule;
		bool embeds, mailto;
		int hits; /* -1: the rule is disabled (unsupported) */
	} cases[] = {
	    {"body R eval:html_tag_exists('center')\n", false, false, 1},
	    {"body R eval:html_tag_exists('bgsound')\n", false, false, 0},
	    {"body R eval:html_test('html')\n", false, false, 1},
	    {"body R eval:html_test('embeds')\n", true, false, 1},
	    {"body R eval:html_test('embeds')\n", false, false, 0},
	    {"body R eval:html_test('form_action_mailto')\n", false, true, 1},
	    {"body R eval:html_test('font_face_bad')\n", false, false, -1},
	};
	struct spam_html_part part = {100, 0};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spam_msg msg;
		int hits;

		memset(&msg, 0, sizeof(msg));
		msg.bayes = -1;
		msg.html_parts = &part;
		msg.html_part_count = 1;
		msg.html_tags = tags;
		msg.html_tag_count = 3;
		msg.html_embeds = cases[i].embeds;
		msg.html_form_mailto = cases[i].mailto;
		hits = spam_test_hits(cases[i].rule, &msg);
		if (hits != cases[i].hits)
			fail_msg("html case %zu (%s): %d hits", i,
				 cases[i].rule, hits);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_date),
	    cmocka_unit_test(test_eval_table),
	    cmocka_unit_test(test_parts_table),
	    cmocka_unit_test(test_html_evals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
