/*
 * Unit tests for filters/greylist.c: the triplet state machine over time
 * (a table of attempts at given seconds and the status expected), sender
 * keys (/24, /64, SPF domain), and the domain and network allow-lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "filters/greylist.h"

struct attempt {
	const char *triplet;
	time_t at;
	enum greylist_status want;
};

/* delay 300 s, retry window 3600 s, pass lifetime 86400 s */
static const struct attempt attempts[] = {
    {"a", 1000, GREYLIST_NEW},	 {"a", 1001, GREYLIST_EARLY},
    {"a", 1299, GREYLIST_EARLY}, {"a", 1300, GREYLIST_PASSED},
    {"a", 1301, GREYLIST_KNOWN}, {"a", 50000, GREYLIST_KNOWN},
    {"b", 1000, GREYLIST_NEW},	 {"b", 4601, GREYLIST_NEW}, /* late */
    {"b", 4700, GREYLIST_EARLY}, {"b", 4901, GREYLIST_PASSED},
    {"c", 9000, GREYLIST_NEW},	 {"c", 8000, GREYLIST_NEW}, /* clock back */
    {"A", 9000, GREYLIST_NEW}, /* keys are exact: callers lower-case */
};

static void
test_state_machine(void **state)
{
	struct greylist_times times = {300, 3600, 86400};
	struct greylist *gl = NULL;
	char *error = NULL;
	size_t i;

	(void)state;
	assert_int_equal(greylist_open("", &times, &gl, &error), 0);
	for (i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
		enum greylist_status st;

		assert_int_equal(greylist_check(gl, attempts[i].triplet,
						attempts[i].at, &st, &error),
				 0);
		if (st != attempts[i].want)
			fail_msg("attempt %zu (%s at %ld): got %d, want %d", i,
				 attempts[i].triplet, (long)attempts[i].at,
				 (int)st, (int)attempts[i].want);
	}
	/* Passed "a" was last seen at 50000: kept until 50000 + 86400. */
	/* Unpassed c and A are past the retry window, passed b past its
	 * lifetime; passed a (last seen at 50000) stays. */
	assert_int_equal(greylist_expire(gl, 100000), 3);
	greylist_close(&gl);
	assert_null(gl);
}

struct key_case {
	const char *ip;
	const char *spf;
	const char *want; /* NULL = error */
};

static const struct key_case key_cases[] = {
    {"192.0.2.77", NULL, "net:192.0.2.0/24"},
    {"192.0.2.77", "Example.ORG", "spf:example.org"},
    {"2001:db8:1:2:3:4:5:6", NULL, "net:2001:db8:1:2::/64"},
    {"2001:db8::1", "", "net:2001:db8::/64"},
    {"not-an-ip", NULL, NULL},
};

static void
test_sender_key(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		char out[128];
		int ret = greylist_sender_key(key_cases[i].ip, key_cases[i].spf,
					      out, sizeof(out));

		if (key_cases[i].want == NULL) {
			assert_int_equal(ret, -1);
			continue;
		}
		assert_int_equal(ret, 0);
		assert_string_equal(out, key_cases[i].want);
	}
}

static void
test_allow_lists(void **state)
{
	char *domains[] = {"gmail.com", "amazonses.com"};

	(void)state;
	assert_true(greylist_domain_listed("gmail.com", domains, 2));
	assert_true(
	    greylist_domain_listed("eu-west-1.AmazonSES.com", domains, 2));
	assert_false(greylist_domain_listed("notgmail.com", domains, 2));
	assert_false(greylist_domain_listed("com", domains, 2));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_machine),
	    cmocka_unit_test(test_sender_key),
	    cmocka_unit_test(test_allow_lists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
