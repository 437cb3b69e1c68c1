/*
 * Unit tests for lib/netblock.c: list matching (IPv4, IPv6, bare hosts,
 * IPv4-mapped peers, junk), the internal ranges, validation and the
 * network of an address at a prefix length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/netblock.h"

static void
test_match(void **state)
{
	char *nets[] = {"192.0.2.0/25", "2001:db8::/32", "198.51.100.7",
			"bogus", "203.0.113.0/33"};
	const size_t n = sizeof(nets) / sizeof(nets[0]);

	(void)state;
	assert_true(netblock_match("192.0.2.100", nets, n));
	assert_false(netblock_match("192.0.2.200", nets, n));
	assert_true(netblock_match("2001:db8:ff::1", nets, n));
	assert_false(netblock_match("2001:db9::1", nets, n));
	assert_true(netblock_match("198.51.100.7", nets, n));
	assert_false(netblock_match("198.51.100.8", nets, n));
	assert_true(netblock_match("::ffff:192.0.2.1", nets, n));
	assert_false(netblock_match("203.0.113.1", nets, n));
	assert_false(netblock_match("junk", nets, n));
	assert_false(netblock_match("", nets, n));
}

static void
test_valid(void **state)
{
	(void)state;
	assert_true(netblock_valid("192.0.2.0/24"));
	assert_true(netblock_valid("192.0.2.1"));
	assert_true(netblock_valid("2001:db8::/32"));
	assert_true(netblock_valid("0.0.0.0/0"));
	assert_false(netblock_valid("192.0.2.0/33"));
	assert_false(netblock_valid("192.0.2.0/"));
	assert_false(netblock_valid("192.0.2.0/-1"));
	assert_false(netblock_valid("192.0.2.0/24x"));
	assert_false(netblock_valid("2001:db8::/129"));
	assert_false(netblock_valid("mail.example.com"));
	assert_false(netblock_valid(""));
}

static void
test_internal(void **state)
{
	static const struct {
		const char *ip;
		bool internal;
	} cases[] = {
	    {"127.0.0.1", true},
	    {"10.1.2.3", true},
	    {"172.16.0.1", true},
	    {"172.32.0.1", false},
	    {"192.168.9.9", true},
	    {"169.254.1.1", true},
	    {"193.120.211.219", false},
	    {"::1", true},
	    {"::", true},
	    {"fd00::1", true},
	    {"fe80::1", true},
	    {"2001:db8::1", false},
	    {"::ffff:10.0.0.1", true},
	    {"::ffff:65.54.195.215", false},
	    {"nonsense", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(netblock_is_internal(cases[i].ip),
				 cases[i].internal);
}

static void
test_network(void **state)
{
	static const struct {
		const char *ip;
		unsigned int v4, v6;
		const char *net; /* NULL: -1 */
	} cases[] = {
	    {"65.54.195.215", 16, 48, "65.54.0.0/16"},
	    {"192.0.2.77", 25, 48, "192.0.2.0/25"},
	    {"2001:db8:1:2::5", 16, 48, "2001:db8:1::/48"},
	    {"::ffff:65.54.1.1", 16, 48, "65.54.0.0/16"},
	    {"65.54.1.1", 64, 48, "65.54.1.1/32"},
	    {"junk", 16, 48, NULL},
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = netblock_network(cases[i].ip, cases[i].v4, cases[i].v6,
					 out, sizeof(out));

		if (cases[i].net == NULL) {
			assert_int_equal(r, -1);
			continue;
		}
		assert_int_equal(r, 0);
		assert_string_equal(out, cases[i].net);
	}
	/* too small for the answer */
	assert_int_equal(netblock_network("65.54.1.1", 16, 48, out, 8), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_match),
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_internal),
	    cmocka_unit_test(test_network),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
