/*
 * Unit tests for rules/spam_sender.c: the peer address of Received fields
 * as Postfix, Sendmail, Exim, qmail and Moat write them (a HELO that names
 * an address never counts); the relay walk over trusted hosts (internal
 * ranges and a configured list), stopping at a field it cannot read; the
 * sender key; and check_sender_learned_ham() in the rule language.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rules/spam_rules_private.h"
#include "rules/spam_sender.h"
#include "spam_test_headers.h"

static void
test_received_from_ip(void **state)
{
	static const struct {
		const char *value, *ip; /* ip NULL: none */
	} cases[] = {
	    /* Postfix, Sendmail */
	    {"from mail.example.org (mail.example.org [192.0.2.10]) by "
	     "mx.example.net (Postfix) with ESMTP id 1; date",
	     "192.0.2.10"},
	    {"from helo (user@host.example [192.0.2.11] (may be forged)) "
	     "by mx (8.11.6/8.11.6) with ESMTP id g1",
	     "192.0.2.11"},
	    /* Moat: "from HELO ([address])"; a HELO naming an address is the
	     * client's word only */
	    {"from [127.0.0.1] ([203.0.113.5]) by moat.example (Moat) with "
	     "ESMTP id Q",
	     "203.0.113.5"},
	    {"from x[10.0.0.1 ([203.0.113.6]) by moat (Moat) with ESMTP id Q",
	     "203.0.113.6"},
	    {"from client.example ([IPv6:2001:db8::25]) by moat (Moat) with "
	     "ESMTPS id Q",
	     "2001:db8::25"},
	    /* Exim: the helo= address is the client's */
	    {"from [198.51.100.9] (helo=[127.0.0.1]) by mx.example with esmtp "
	     "(Exim 4.96)",
	     "198.51.100.9"},
	    {"from host.example ([198.51.100.8] helo=[10.1.1.1]) by mx with "
	     "esmtp",
	     "198.51.100.8"},
	    /* qmail */
	    {"from unknown (HELO 10.0.0.1) (192.0.2.44) by mx.example with "
	     "SMTP; date",
	     "192.0.2.44"},
	    /* fetchmail's hand-over */
	    {"from phobos [127.0.0.1] by localhost with IMAP (fetchmail-5.9.0)",
	     "127.0.0.1"},
	    /* an address after "by" is the receiver's */
	    {"from localhost by mx.example ([192.0.2.1]) with ESMTP", NULL},
	    {"by mx.example (Postfix, from userid 1000) id 1", NULL},
	    {"(qmail 123 invoked from network); date", NULL},
	    {"from mail pickup service by groups.example with SMTPSVC", NULL},
	    {"from host ([999.1.1.1]) by mx", NULL},
	    {"from host ([192.0.2.1 by mx", NULL},
	    {"", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char ip[64];
		bool found =
		    spam_received_from_ip(cases[i].value, ip, sizeof(ip));

		if (found != (cases[i].ip != NULL) ||
		    (found && strcmp(ip, cases[i].ip) != 0))
			fail_msg("%s: got %s", cases[i].value,
				 found ? ip : "none");
	}
}

#define MOAT_TOP                                                               \
	"Received: from relay.example ([127.0.0.1]) by moat.example (Moat) "   \
	"with ESMTP id A; date\n"

static void
test_relay_and_key(void **state)
{
	static char *trusted[] = {"193.120.211.219", "212.17.35.0/24"};
	static const struct {
		const char *headers;
		enum spam_relay relay;
		const char *key; /* NULL: none */
	} cases[] = {
	    /* straight from the Internet to Moat */
	    {"Received: from mail.example.org ([65.54.195.215]) by moat "
	     "(Moat) with ESMTP id A\nFrom: Joy <Joy@Example.ORG>\n",
	     SPAM_RELAY_FOUND, "joy@example.org|65.54.0.0/16"},
	    /* through loopback and two configured relays */
	    {MOAT_TOP "Received: from webnote.net (mail.webnote.net "
		      "[193.120.211.219]) by dogma\n"
		      "Received: from dogma [212.17.35.15] by webnote.net\n"
		      "Received: from groups.msn.com (tk2.msn.com "
		      "[65.54.195.215]) by dogma\n"
		      "Received: from forged.example ([10.9.9.9]) by msn\n"
		      "From: a@hotmail.example\n",
	     SPAM_RELAY_FOUND, "a@hotmail.example|65.54.0.0/16"},
	    /* a hand-over inside one host is skipped */
	    {MOAT_TOP "Received: by relay.example (Postfix, from userid 0)\n"
		      "Received: from x ([2001:db8:aa:bb::1]) by relay\n"
		      "From: b@example.com\n",
	     SPAM_RELAY_FOUND, "b@example.com|2001:db8:aa::/48"},
	    /* never left trusted hosts */
	    {MOAT_TOP "Received: from lan ([192.168.1.5]) by relay\n"
		      "From: c@example.com\n",
	     SPAM_RELAY_NONE, "c@example.com|none"},
	    {"From: d@example.com\n", SPAM_RELAY_NONE, "d@example.com|none"},
	    /* a field a trusted host wrote but no address in it */
	    {MOAT_TOP "Received: from mail pickup service by relay\n"
		      "Received: from x ([192.0.2.1]) by y\n"
		      "From: e@example.com\n",
	     SPAM_RELAY_UNKNOWN, NULL},
	    /* no usable From */
	    {"Received: from x ([192.0.2.1]) by y\nFrom: Undisclosed\n",
	     SPAM_RELAY_FOUND, NULL},
	    {"Received: from x ([192.0.2.1]) by y\n", SPAM_RELAY_FOUND, NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spam_msg msg;
		struct spam_header *hdrs;
		char *storage, ip[64], key[SPAM_SENDER_KEY_MAX];
		bool has_key;

		spam_test_msg_from_headers(cases[i].headers, &msg, &hdrs,
					   &storage);
		msg.trusted_relays = trusted;
		msg.trusted_relay_count = 2;
		if (spam_sender_relay(&msg, ip, sizeof(ip)) != cases[i].relay)
			fail_msg("case %zu: relay %d", i,
				 (int)spam_sender_relay(&msg, ip, sizeof(ip)));
		has_key = spam_sender_key(&msg, key, sizeof(key));
		if (has_key != (cases[i].key != NULL) ||
		    (has_key && strcmp(key, cases[i].key) != 0))
			fail_msg("case %zu: key %s", i,
				 has_key ? key : "(none)");
		free(hdrs);
		free(storage);
	}
}

/* Without the configured relays, their fields are not believed: the
 * relay is the first of them. */
static void
test_untrusted_relay_stops_walk(void **state)
{
	struct spam_msg msg;
	struct spam_header *hdrs;
	char *storage, ip[64];

	(void)state;
	spam_test_msg_from_headers(
	    MOAT_TOP "Received: from webnote.net ([193.120.211.219]) by d\n"
		     "Received: from evil ([127.0.0.1]) by webnote.net\n"
		     "From: a@example.com\n",
	    &msg, &hdrs, &storage);
	assert_int_equal(spam_sender_relay(&msg, ip, sizeof(ip)),
			 SPAM_RELAY_FOUND);
	assert_string_equal(ip, "193.120.211.219");
	free(hdrs);
	free(storage);
}

static void
test_check_sender_learned_ham(void **state)
{
	static const struct {
		bool learned;
		unsigned int spam, ham;
		int hits_1, hits_3;
	} cases[] = {
	    {false, 0, 5, 0, 0}, {true, 0, 0, 0, 0}, {true, 0, 1, 1, 0},
	    {true, 0, 3, 1, 1},	 {true, 1, 9, 0, 0},
	};
	struct spam_msg msg;
	struct spam_header *hdrs;
	char *storage;

	(void)state;
	spam_test_msg_from_headers("From: a@example.com\n", &msg, &hdrs,
				   &storage);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		msg.sender_learned = cases[i].learned;
		msg.sender_spam = cases[i].spam;
		msg.sender_ham = cases[i].ham;
		assert_int_equal(
		    spam_test_hits("header R eval:check_sender_learned_ham()\n"
				   "score R -2\n",
				   &msg),
		    cases[i].hits_1);
		assert_int_equal(
		    spam_test_hits(
			"header R eval:check_sender_learned_ham('3')\n"
			"score R -2\n",
			&msg),
		    cases[i].hits_3);
	}
	free(hdrs);
	free(storage);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_received_from_ip),
	    cmocka_unit_test(test_relay_and_key),
	    cmocka_unit_test(test_untrusted_relay_stops_walk),
	    cmocka_unit_test(test_check_sender_learned_ham),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
