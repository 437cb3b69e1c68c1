/*
 * Unit tests for lib/netaddr.c: netaddr_is_loopback over a table of
 * parsed addresses (IPv4, IPv6, IPv4-mapped), and the text form of each.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/netaddr.h"

static void
test_is_loopback_table(void **state)
{
	static const struct {
		const char *addr, *ip;
		bool loopback;
	} cases[] = {
	    {"127.0.0.1:25", "127.0.0.1", true},
	    {"127.255.3.4:25", "127.255.3.4", true},
	    {"128.0.0.1:25", "128.0.0.1", false},
	    {"192.0.2.10:25", "192.0.2.10", false},
	    {"[::1]:25", "::1", true},
	    {"[::2]:25", "::2", false},
	    {"[::ffff:127.0.0.9]:25", "::ffff:127.0.0.9", true},
	    {"[::ffff:192.0.2.1]:25", "::ffff:192.0.2.1", false},
	    {"[2001:db8::1]:25", "2001:db8::1", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct netaddr a;
		const char *error = NULL;
		char ip[64];

		if (netaddr_parse(cases[i].addr, &a, &error) < 0)
			fail_msg("%s: %s", cases[i].addr, error);
		netaddr_ip((struct sockaddr *)&a.ss, ip, sizeof(ip));
		assert_string_equal(ip, cases[i].ip);
		if (netaddr_is_loopback((struct sockaddr *)&a.ss) !=
		    cases[i].loopback)
			fail_msg("%s: loopback should be %d", cases[i].addr,
				 cases[i].loopback);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_is_loopback_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
