/*
 * Unit tests for spam_wlbl: welcome and block lists of sender addresses,
 * as a table (directives + rule, headers, envelope sender, SPF, DKIM
 * signers, hit or not), plus the un- directives and the old names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "rules/spam_rules.h"
#include "spam_test_headers.h"

struct wlbl_case {
	const char *cf;
	const char *headers;
	const char *envelope_from; /* NULL: unknown */
	bool spf_pass;
	const char *dkim; /* one valid signer's d=, or NULL */
	bool hit;
};

#define WL   "header R eval:check_from_in_welcomelist()\n"
#define BL   "header R eval:check_from_in_blocklist()\n"
#define SPF  "header R eval:check_for_spf_welcomelist_from()\n"
#define DSPF "header R eval:check_for_def_spf_welcomelist_from()\n"
#define DKIM "header R eval:check_for_dkim_welcomelist_from()\n"
#define DDK  "header R eval:check_for_def_dkim_welcomelist_from()\n"

static const struct wlbl_case cases[] = {
    /* welcomelist_from: From, any case, a glob */
    {"welcomelist_from *@Example.COM\n" WL,
     "From: \"Boss\" <Boss@example.com>\n", NULL, false, NULL, true},
    {"welcomelist_from *@example.com\n" WL, "From: x@evil.example\n", NULL,
     false, NULL, false},
    /* the envelope sender counts too; '?' is one character */
    {"whitelist_from bounce-?@lists.example\n" WL, "From: x@y.example\n",
     "bounce-7@lists.example", false, NULL, true},
    {"welcomelist_from bounce-?@lists.example\n" WL, "From: x@y.example\n",
     "bounce-77@lists.example", false, NULL, false},
    /* the whole address must match: no substring hit */
    {"welcomelist_from a@example.com\n" WL, "From: xa@example.com.evil\n", NULL,
     false, NULL, false},
    /* a second address in From, and a comma inside a quoted name */
    {"welcomelist_from b@example.org\n" WL,
     "From: \"Doe, Jane\" <a@x.example>, b@example.org\n", NULL, false, NULL,
     true},
    /* removed again */
    {"welcomelist_from a@example.com c@example.com\n"
     "unwelcomelist_from a@example.com\n" WL,
     "From: a@example.com\n", NULL, false, NULL, false},
    /* blocklist */
    {"blocklist_from *@spam.example\n" BL, "From: Sale <s@spam.example>\n",
     NULL, false, NULL, true},
    {"blacklist_from *@spam.example\nunblacklist_from *@spam.example\n" BL,
     "From: s@spam.example\n", NULL, false, NULL, false},
    /* welcomelist_auth by SPF: the envelope sender, only with SPF pass */
    {"welcomelist_auth *@bank.example\n" SPF, "From: x@other.example\n",
     "alerts@bank.example", true, NULL, true},
    {"welcomelist_auth *@bank.example\n" SPF, "From: alerts@bank.example\n",
     "alerts@bank.example", false, NULL, false},
    {"welcomelist_auth *@bank.example\n" SPF, "From: alerts@bank.example\n",
     NULL, true, NULL, false},
    /* ... by DKIM: the From address, signed by exactly its domain */
    {"whitelist_auth *@bank.example\n" DKIM, "From: <alerts@bank.example>\n",
     "", false, "bank.example", true},
    {"welcomelist_auth *@bank.example\n" DKIM, "From: alerts@bank.example\n",
     "", false, "evil.example", false},
    {"welcomelist_auth *@bank.example\n" DKIM, "From: alerts@bank.example\n",
     "", false, NULL, false},
    /* a forged From with a valid signature of another domain */
    {"welcomelist_auth *@bank.example\n" DKIM, "From: alerts@bank.example\n",
     "x@evil.example", true, "evil.example", false},
    /* the default list has its own rules; un- removes */
    {"def_welcomelist_auth *@shop.example\n" DDK, "From: news@shop.example\n",
     NULL, false, "shop.example", true},
    {"def_welcomelist_auth *@shop.example\n" DKIM, "From: news@shop.example\n",
     NULL, false, "shop.example", false},
    {"def_whitelist_auth *@shop.example\n" DSPF, "From: n@shop.example\n",
     "n@shop.example", true, NULL, true},
    {"def_welcomelist_auth *@shop.example\n"
     "undef_welcomelist_auth *@shop.example\n" DSPF,
     "From: n@shop.example\n", "n@shop.example", true, NULL, false},
};

static void
test_wlbl_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct wlbl_case *c = &cases[i];
		const char *signers[1] = {c->dkim};
		struct spam_msg msg;
		struct spam_header *hdrs;
		char *storage;
		int hits;

		spam_test_msg_from_headers(c->headers, &msg, &hdrs, &storage);
		msg.envelope_from = c->envelope_from;
		msg.spf_pass = c->spf_pass;
		msg.dkim_domains = signers;
		msg.dkim_domain_count = c->dkim != NULL ? 1 : 0;
		hits = spam_test_hits(c->cf, &msg);
		assert_true(hits >= 0);
		if ((hits == 1) != c->hit)
			fail_msg("case %zu (%s): hit %d, want %d", i, c->cf,
				 hits == 1, c->hit);
		free(hdrs);
		free(storage);
	}
}

/* SpamAssassin's own files: 60_welcomelist.cf's rules load under
 * `ifplugin WLBLEval` and `if can(feature_welcomelist_blocklist)`. */
static void
test_wlbl_spamassassin_form(void **state)
{
	static const char cf[] =
	    "ifplugin Mail::SpamAssassin::Plugin::WLBLEval\n"
	    "if can(Mail::SpamAssassin::Conf::feature_welcomelist_blocklist)\n"
	    "  header USER_IN_BLOCKLIST eval:check_from_in_blocklist()\n"
	    "  score USER_IN_BLOCKLIST 100\n"
	    "  def_welcomelist_auth *@apache.org\n"
	    "endif\n"
	    "endif\n"
	    "blocklist_from *@spam.example\n";
	struct spam_rules *rules = spam_rules_new();
	struct spam_rules_stats st;
	char *err = NULL;

	(void)state;
	spam_rules_parse_text(rules, cf, strlen(cf), "60_welcomelist.cf");
	assert_int_equal(spam_rules_compile(rules, &err), 0);
	spam_rules_get_stats(rules, &st);
	assert_int_equal(st.active, 1);
	assert_int_equal(st.unsupported, 0);
	spam_rules_free(&rules);
}

int main(void);

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wlbl_table),
	    cmocka_unit_test(test_wlbl_spamassassin_form),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
