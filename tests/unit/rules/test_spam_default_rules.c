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
#include "spam_test_headers.h"

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
    /* Outlook's priority header without its MimeOLE, from a program that
     * claims Microsoft or names none; bulk programs that copy it */
    {"X-MSMail-Priority: Normal\nX-Mailer: Microsoft Outlook Express "
     "6.00.2600.0000\n",
     "MISSING_MIMEOLE", true},
    {"X-MSMail-Priority: Normal\n", "MISSING_MIMEOLE", true},
    {"X-MSMail-Priority: Normal\nX-Mailer: Microsoft Outlook Express "
     "6.00.2600.0000\nX-MimeOLE: Produced By Microsoft MimeOLE V6\n",
     "MISSING_MIMEOLE", false},
    {"X-MSMail-Priority: Normal\nX-Mailer: eMessaging SMTP Delivery Agent\n",
     "MISSING_MIMEOLE", false},
    /* Outlook-style Message-Id without Outlook's other headers */
    {"Message-Id: <000801c238a0$12345678$0100a8c0@pc>\n", "RATWARE_MS_HASH",
     true},
    {"Message-Id: <000801c238a0$12345678$0100a8c0@pc>\nX-MimeOLE: "
     "Produced By Microsoft MimeOLE V6\n",
     "RATWARE_MS_HASH", false},
    /* claims Outlook Express or Outlook, Message-Id not theirs */
    {"X-Mailer: Microsoft Outlook Express 5.50.4133.2400\nMessage-Id: "
     "<200207242024.VAA07621@webnote.example>\n",
     "FORGED_MUA_OUTLOOK", true},
    {"X-Mailer: Microsoft Outlook, Build 10.0.2627\nMessage-Id: "
     "<abc@x.example>\n",
     "FORGED_MUA_OUTLOOK", true},
    {"X-Mailer: Microsoft Outlook Express 5.50.4133.2400\nMessage-Id: "
     "<000801c238a0$12345678$0100a8c0@pc>\n",
     "FORGED_MUA_OUTLOOK", false},
    {"X-Mailer: Microsoft Outlook Express 6.00.2600.0000\nMessage-Id: "
     "<abc@x.example>\nReceived: from a by b with Microsoft Exchange "
     "Server\n",
     "FORGED_MUA_OUTLOOK", false},
    {"X-Mailer: Internet Mail Service (5.5.2650.21)\nMessage-Id: "
     "<abc@x.example>\n",
     "FORGED_MUA_IMS", true},
    {"X-Mailer: Internet Mail Service (5.5.2650.21)\nMessage-Id: "
     "<5C9A3F5D2B7ED411A5A000508BDC9AFA0117B7D4@x.example>\n",
     "FORGED_MUA_IMS", false},
    /* malformed Date and Message-Id */
    {"Date: Jul, 24 2002 4:33:02 PM -0700\n", "INVALID_DATE", true},
    {"Date: 24 Jul 2002 16:33:02 -0700\n", "INVALID_DATE", false},
    {"Date: Wed, 24 Jul 2002 16:33:02 -0700 (PDT)\n", "INVALID_DATE", false},
    {"Message-Id: <no at sign>\n", "INVALID_MSGID", true},
    {"Message-Id: <a.b@c.example>\n", "INVALID_MSGID", false},
    /* Content-Type without MIME-Version; text/plain is allowed */
    {"Content-Type: text/html\n", "MIME_HEADER_CTYPE_ONLY", true},
    {"Content-Type: text/html\nMIME-Version: 1.0\n", "MIME_HEADER_CTYPE_ONLY",
     false},
    {"Content-Type: text/plain\n", "MIME_HEADER_CTYPE_ONLY", false},
    {"From: \"\" <a@b.example>\n", "FROM_BLANK_NAME", true},
    {"From: \"Ann\" <a@b.example>\n", "FROM_BLANK_NAME", false},
    /* forged relays */
    {"Received: from 210.143.86.66 (unknown [202.29.80.9]) by x.example\n",
     "RCVD_HELO_IP_MISMATCH", true},
    {"Received: from 202.29.80.7 (unknown [202.29.80.9]) by x.example\n",
     "RCVD_HELO_IP_MISMATCH", false},
    {"Received: from 192.168.1.2 (unknown [202.29.80.9]) by x.example\n",
     "RCVD_HELO_IP_MISMATCH", false},
    {"Received: from a.example ([30.215.79.204]) by m10.grp.snv.example "
     "with SMTP; Jul, 24 2002 4:33:02 PM -0700\n",
     "RCVD_DATE_FORGED", true},
    {"Received: from a by b; Wed, 24 Jul 2002 16:33:02 -0700\n",
     "RCVD_DATE_FORGED", false},
    {"Received: from yahoo.com (dsl-1-2-3-4.isp.example [1.2.3.4]) by x\n",
     "RCVD_FAKE_HELO_FREEMAIL", true},
    {"Received: from hotmail.com (dav39.law15.hotmail.com [64.4.22.96]) by "
     "x\n",
     "RCVD_FAKE_HELO_FREEMAIL", false},
    {"From: a1@yahoo.com\nReceived: from dsl.isp.example by mx.example\n",
     "FREEMAIL_NOT_RCVD", true},
    {"From: a1@yahoo.com\nReceived: from web1.mail.yahoo.com by x\n",
     "FREEMAIL_NOT_RCVD", false},
    {"From: a1@example.com\nReceived: from dsl.isp.example by x\n",
     "FREEMAIL_NOT_RCVD", false},
    /* clocks: Outlook Message-Id off Date; Date days before the relays */
    {"Message-Id: <000801c22ffb$12345678$0100a8c0@pc>\nDate: Wed, 31 Jul "
     "2002 16:41:57 +0200\n",
     "MSGID_OUTLOOK_INVALID", true},
    {"Date: Fri, 26 Jul 2002 10:00:00 +0000\nReceived: from a by b; Wed, 31 "
     "Jul 2002 10:00:00 +0000\n",
     "DATE_IN_PAST_96_XX", true},
    {"Date: Thu, 1 Aug 2002 10:00:00 +0000\nReceived: from a by b; Wed, 31 "
     "Jul 2002 10:00:00 +0000\n",
     "DATE_IN_FUTURE_12_XX", true},
    {"Date: Wed, 31 Jul 2002 10:30:00 +0000\nReceived: from a by b; Wed, 31 "
     "Jul 2002 10:00:00 +0000\n",
     "DATE_IN_FUTURE_12_XX", false},
    {"From: \xe9\xe8\xe0\xe1\xe2 <a@b.example>\n", "FROM_ILLEGAL_CHARS", true},
    {"Date: Wed, 31 Jul 2002 18:00:00 +0000\nReceived: from a by b; Wed, 31 "
     "Jul 2002 10:00:00 +0000\n",
     "DATE_IN_FUTURE_06_12", true},
    {"Date: Wed, 31 Jul 2002 13:00:00 +0000\nReceived: from a by b; Wed, 31 "
     "Jul 2002 10:00:00 +0000\n",
     "DATE_IN_FUTURE_06_12", false},
    /* two independent forgery signs, not one */
    {"Date: Jul, 24 2002 4:33:02 PM -0700\nMessage-Id: <no at sign>\n",
     "FORGED_HEADERS_2", true},
    {"Date: Jul, 24 2002 4:33:02 PM -0700\nMessage-Id: <a@b.example>\n",
     "FORGED_HEADERS_2", false},
};

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
	spam_test_split_headers(headers, &hdrs, &msg.header_count, &storage);
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
    {0.7, 3.0, 4.0},	/* leaning spam: needs other signs */
    {0.97, 3.0, 4.0},	/* likely: still needs them */
    {0.995, 5.0, 5.5},	/* confident: spam on its own */
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

/* URI_LOGIN_LOOKALIKE: a brand's name in a host that is not the brand's
 * own domain; the brand's own hosts, and words that merely start with a
 * brand's name, stay clear. */
static const struct {
	const char *uri;
	bool hit;
} lookalike_cases[] = {
    {"http://paypal-secure-login.example/x", true},
    {"https://apple.id-verify.example/", true},
    {"http://evil-microsoft.com/login", true},
    {"http://www.amazon.com/gp/x", false},
    {"http://support.microsoft.com/kb/1", false},
    {"https://www.amazon.co.uk/", false},
    {"http://applecore.lockergnome.example/", false},
    {"http://example.test/paypal", false},
};

static void
test_login_lookalike(void **state)
{
	struct spam_rules *rules = default_rules();

	(void)state;
	for (size_t i = 0;
	     i < sizeof(lookalike_cases) / sizeof(lookalike_cases[0]); i++) {
		struct spam_scratch *scratch = spam_scratch_new(rules);
		const char *uris[1] = {lookalike_cases[i].uri};
		struct spam_result r;
		struct spam_msg msg;
		const char *error = NULL;

		memset(&msg, 0, sizeof(msg));
		msg.body = "";
		msg.rawbody = "";
		msg.full = "";
		msg.uris = uris;
		msg.uri_count = 1;
		msg.bayes = -1;
		assert_int_equal(
		    spam_rules_eval(rules, scratch, &msg, &r, &error), 0);
		if (result_has(&r, "URI_LOGIN_LOOKALIKE") !=
		    lookalike_cases[i].hit)
			fail_msg("URI_LOGIN_LOOKALIKE %s on %s",
				 lookalike_cases[i].hit ? "missed" : "hit",
				 lookalike_cases[i].uri);
		spam_result_free(&r);
		spam_scratch_free(&scratch);
	}
	spam_rules_free(&rules);
}

/* filter.spam.bayes_scores = moat: a later file's BAYES_* scores (as
 * SpamAssassin's 50_scores.cf) give way to the built-in ones again; its
 * other scores stay. */
static void
test_default_bayes_scores_win(void **state)
{
	static const char later[] = "score BAYES_99 0 0 3.5 3.5\n"
				    "score BAYES_999 0 0 0.2 0.2\n"
				    "score SUBJ_FREE 3\n";
	static const char headers[] = "Subject: free stuff\n";
	struct spam_rules *ref = default_rules(), *rules = spam_rules_new();
	struct spam_result want, got;
	char *err = NULL;

	(void)state;
	spam_rules_load_default(rules);
	spam_rules_parse_text(rules, later, sizeof(later) - 1, "later.cf");
	spam_rules_load_default_scores(rules, "BAYES_");
	assert_int_equal(spam_rules_compile(rules, &err), 0);
	eval_default(ref, headers, 0.9995, &want);
	eval_default(rules, headers, 0.9995, &got);
	/* the same Bayes scores as the built-in set, SUBJ_FREE at 3 */
	for (size_t i = 0; i < got.count; i++) {
		if (strcmp(got.hits[i].name, "SUBJ_FREE") == 0)
			assert_true(got.hits[i].score == 3.0);
		for (size_t k = 0; k < want.count; k++)
			if (strncmp(got.hits[i].name, "BAYES_", 6) == 0 &&
			    strcmp(got.hits[i].name, want.hits[k].name) == 0)
				assert_true(got.hits[i].score ==
					    want.hits[k].score);
	}
	assert_true(result_has(&got, "BAYES_99"));
	assert_true(result_has(&got, "SUBJ_FREE"));
	spam_result_free(&want);
	spam_result_free(&got);
	spam_rules_free(&rules);
	spam_rules_free(&ref);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_table),
	    cmocka_unit_test(test_bayes_scores),
	    cmocka_unit_test(test_default_bayes_scores_win),
	    cmocka_unit_test(test_login_lookalike),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
