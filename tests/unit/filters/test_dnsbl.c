/*
 * Unit tests for filters/dnsbl.c: zone item parsing, answer matching,
 * query names for IPv4 and IPv6, private addresses, and URL hosts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "filters/dnsbl.h"
#include "filters/url_host.h"

struct entry_case {
	const char *item;
	bool ok;
	const char *zone, *code, *symbol;
	double score;
};

static const struct entry_case entry_cases[] = {
    {"zen.spamhaus.org/127.0.0.2=RBL_SBL:3.5", true, "zen.spamhaus.org",
     "127.0.0.2", "RBL_SBL", 3.5},
    {"bl.Example.TEST.=RBL_TEST:2", true, "bl.example.test", NULL, "RBL_TEST",
     2},
    {"bl.test/any=X:-1", true, "bl.test", NULL, "X", -1},
    {"bl.test", false, NULL, NULL, NULL, 0},
    {"bl.test=lower:1", false, NULL, NULL, NULL, 0},
    {"bl.test=X", false, NULL, NULL, NULL, 0},
    {"bl.test=X:abc", false, NULL, NULL, NULL, 0},
    {"bl.test/300.1.1.1=X:1", false, NULL, NULL, NULL, 0},
    {"bad zone=X:1", false, NULL, NULL, NULL, 0},
    {"=X:1", false, NULL, NULL, NULL, 0},
};

static void
test_entries(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(entry_cases) / sizeof(entry_cases[0]); i++) {
		const struct entry_case *c = &entry_cases[i];
		struct dnsbl_entry e;
		const char *error = NULL;
		int ret = dnsbl_entry_parse(c->item, &e, &error);

		if (!c->ok) {
			if (ret != -1 || error == NULL)
				fail_msg("\"%s\" should fail", c->item);
			continue;
		}
		if (ret != 0)
			fail_msg("\"%s\": %s", c->item, error);
		assert_string_equal(e.zone, c->zone);
		if (c->code == NULL)
			assert_null(e.code);
		else
			assert_string_equal(e.code, c->code);
		assert_string_equal(e.symbol, c->symbol);
		assert_true(e.score == c->score);
		dnsbl_entry_free(&e);
	}
}

static void
test_matching(void **state)
{
	struct dnsbl_entry any = {"z", NULL, "S", 1};
	struct dnsbl_entry two = {"z", "127.0.0.2", "S", 1};

	(void)state;
	assert_true(dnsbl_entry_matches(&any, "127.0.0.2"));
	assert_true(dnsbl_entry_matches(&any, "127.0.1.10"));
	assert_false(dnsbl_entry_matches(&any, "127.255.255.254"));
	assert_false(dnsbl_entry_matches(&any, "127.0.0.1"));
	assert_false(dnsbl_entry_matches(&any, "192.0.2.1"));
	assert_false(dnsbl_entry_matches(&any, "garbage"));
	assert_true(dnsbl_entry_matches(&two, "127.0.0.2"));
	assert_false(dnsbl_entry_matches(&two, "127.0.0.3"));
}

static void
test_query_names(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(
	    dnsbl_query_name("192.0.2.99", "bl.test", out, sizeof(out)), 0);
	assert_string_equal(out, "99.2.0.192.bl.test");
	assert_int_equal(
	    dnsbl_query_name("2001:db8::1", "bl.test", out, sizeof(out)), 0);
	assert_string_equal(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
				 "0.0.8.b.d.0.1.0.0.2.bl.test");
	assert_int_equal(dnsbl_query_name("x", "bl.test", out, sizeof(out)),
			 -1);
	assert_int_equal(dnsbl_query_name("192.0.2.99", "bl.test", out, 8), -1);
	assert_true(dnsbl_ip_is_private("127.0.0.1"));
	assert_true(dnsbl_ip_is_private("10.1.2.3"));
	assert_true(dnsbl_ip_is_private("172.20.0.1"));
	assert_false(dnsbl_ip_is_private("172.32.0.1"));
	assert_true(dnsbl_ip_is_private("::1"));
	assert_true(dnsbl_ip_is_private("fd00::1"));
	assert_false(dnsbl_ip_is_private("192.0.2.1"));
	assert_false(dnsbl_ip_is_private("2001:db8::1"));
}

struct host_case {
	const char *url;
	const char *want;
};

static const struct host_case host_cases[] = {
    {"http://WWW.Example.TEST/path", "www.example.test"},
    {"https://user:pw@spam.example.test:8080/x?y", "spam.example.test"},
    {"www.example.test/x", "www.example.test"},
    {"http://192.0.2.1/x", NULL},
    {"http://[2001:db8::1]/", NULL},
    {"mailto:bob@example.test", NULL},
    {"http://localhost/", NULL},
    {"http://bad_host!.test/", NULL},
    {"http://example.test./", "example.test"},
    /* as browsers read them */
    {"http:\\\\spam.example.test\\x", "spam.example.test"},
    {"https:///spam.example.test/", "spam.example.test"},
    {"http:spam.example.test", "spam.example.test"},
    {"//spam.example.test/x", "spam.example.test"},
    {"http://a@b@spam.example.test/", "spam.example.test"},
    {"http://spam%2Dexample%2etest/", "spam-example.test"},
    {"http://spam\xef\xbd\x85xample\xe3\x80\x82test/", "spamexample.test"},
    {"http://m\xc3\xbcnchen.test/", "xn--mnchen-3ya.test"},
    {"http://0xc0.0.2.1/", NULL},
    {"http://3221225985/", NULL},
    {"http://spam%00.test/", NULL},
    {"http://spam%2f.test/", NULL},
};

static void
test_url_hosts(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(host_cases) / sizeof(host_cases[0]); i++) {
		char out[256];
		int ret = dnsbl_url_host(host_cases[i].url, out, sizeof(out));

		if (host_cases[i].want == NULL) {
			if (ret != -1)
				fail_msg("%s: got %s", host_cases[i].url, out);
			continue;
		}
		if (ret != 0)
			fail_msg("%s: no host", host_cases[i].url);
		assert_string_equal(out, host_cases[i].want);
	}
}

/* Host names from a mail address or HELO, read as URL hosts are. */
static void
test_host_normalize(void **state)
{
	static const char idn[] = "b\xc3\xbc"
				  "cher.test";
	char out[256];

	(void)state;
	assert_true(host_normalize("Mail.SPAMMER.test.", 18, out, sizeof(out)));
	assert_string_equal(out, "mail.spammer.test");
	assert_true(host_normalize(idn, strlen(idn), out, sizeof(out)));
	assert_string_equal(out, "xn--bcher-kva.test");
	assert_false(host_normalize("", 0, out, sizeof(out)));
	assert_false(host_normalize("a b.test", 8, out, sizeof(out)));
	assert_false(host_normalize("long.test", 9, out, 4));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_entries),
	    cmocka_unit_test(test_matching),
	    cmocka_unit_test(test_query_names),
	    cmocka_unit_test(test_url_hosts),
	    cmocka_unit_test(test_host_normalize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
