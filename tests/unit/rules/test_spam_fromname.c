/*
 * Unit tests for rules/spam_fromname.c, check_fromname_spoof(): a table
 * of From fields that must or must not count as a display name showing
 * another organisation's address, run through the rule language, first
 * comparing domains and subdomains (no Public Suffix List), then with an
 * organisation lookup that knows co.uk as a public suffix.
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
#include "spam_test_headers.h"

#define RULE "header R eval:check_fromname_spoof()\n"

struct fromname_case {
	const char *headers;
	bool hit;     /* without an organisation lookup */
	bool hit_org; /* with it */
};

static const struct fromname_case cases[] = {
    {"From: \"ceo@bank.example\" <x@mailer.example>\n", true, true},
    {"From: ceo@bank.example <x@mailer.example>\n", true, true},
    {"From: \"Bank (service@bank.example)\" <x@evil.example>\n", true, true},
    /* the same organisation */
    {"From: \"support@shop.example\" <noreply@mail.shop.example>\n", false,
     false},
    {"From: \"alice@example.com\" <alice@example.com>\n", false, false},
    {"From: \"ALICE@Example.COM\" <alice@example.com>\n", false, false},
    /* sibling subdomains: one organisation only by the suffix list */
    {"From: \"news@a.shop.co.uk\" <x@b.shop.co.uk>\n", true, false},
    /* two organisations under one public suffix */
    {"From: \"x@one.co.uk\" <x@two.co.uk>\n", true, true},
    /* a mailing list's DMARC rewrite */
    {"From: \"alice@example.com via Users\" <users@lists.example>\n"
     "List-Id: <users.lists.example>\n",
     false, false},
    /* " via " without a list's header is no list's rewrite */
    {"From: \"ceo@bank.example via Bank\" <x@mailer.example>\n", true, true},
    {"From: \"alice@example.com via Users\" <users@lists.example>\n", true,
     true},
    /* no address in the name, or none a reader takes for one */
    {"From: \"Alice Example\" <alice@example.com>\n", false, false},
    {"From: alice@example.com\n", false, false},
    {"From: \"Deals @ Shop\" <x@shop.example>\n", false, false},
    {"From: \"x@localhost\" <x@example.com>\n", false, false},
    {"From: \"x@host.c0m\" <x@example.com>\n", false, false},
    /* several mailboxes: no single sender to compare with */
    {"From: a@one.example, b@two.example\n", false, false},
    {"From: \"\" <>\n", false, false},
    {"Subject: no From\n", false, false},
};

/* Registrable domain by the last two labels, three under co.uk. */
static int
fake_org(const void *ctx, const char *domain, char *out, size_t outsz)
{
	const char *p = domain + strlen(domain);
	int labels = 0, want = 2;
	size_t n = strlen(domain);

	(void)ctx;
	if (n >= 6 && strcmp(domain + n - 6, ".co.uk") == 0)
		want = 3;
	while (p > domain) {
		p--;
		if (*p == '.' && ++labels == want) {
			p++;
			break;
		}
	}
	if (labels < want - 1 || (size_t)snprintf(out, outsz, "%s", p) >= outsz)
		return -1;
	return 0;
}

static void
test_fromname_spoof(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spam_msg msg;
		struct spam_header *hdrs;
		char *storage;
		int plain, org;

		spam_test_msg_from_headers(cases[i].headers, &msg, &hdrs,
					   &storage);
		plain = spam_test_hits(RULE, &msg);
		msg.org_domain = fake_org;
		org = spam_test_hits(RULE, &msg);
		if (plain != (int)cases[i].hit || org != (int)cases[i].hit_org)
			fail_msg("%s: got %d/%d, want %d/%d", cases[i].headers,
				 plain, org, cases[i].hit, cases[i].hit_org);
		free(hdrs);
		free(storage);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fromname_spoof),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
