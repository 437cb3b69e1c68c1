/*
 * Unit tests for mailstore/auth_throttle.c: the growing delay, the wait for
 * a new attempt, forgetting, success, IPv6 /64 grouping and the bounded
 * table (eviction when full). Times are passed in; no clock, no sleeping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mailstore/auth_throttle.h"

static const struct auth_throttle_settings test_set = {
    .capacity = 64,
    .base_ms = 1000,
    .max_ms = 8000,
    .forget_s = 60,
};

struct delay_case {
	unsigned int failures; /* after this many failures */
	unsigned int want_ms;
};

static const struct delay_case delay_cases[] = {
    {1, 1000}, {2, 1000}, {3, 2000}, {4, 2000},
    {5, 4000}, {6, 4000}, {7, 8000}, {40, 8000},
};

static void
test_growing_delay(void **state)
{
	struct auth_throttle *t = auth_throttle_new(&test_set);
	uint64_t now = 1000;
	unsigned int n = 0, d = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(delay_cases) / sizeof(delay_cases[0]); i++) {
		while (n < delay_cases[i].failures) {
			d = auth_throttle_failure(t, "192.0.2.1", now);
			n++;
			now += 10;
		}
		assert_int_equal(d, delay_cases[i].want_ms);
	}
	assert_int_equal(auth_throttle_failures(t, "192.0.2.1", now), 40);
	/* another address is not affected */
	assert_int_equal(auth_throttle_failures(t, "192.0.2.2", now), 0);
	assert_int_equal(auth_throttle_wait_ms(t, "192.0.2.2", now), 0);
	auth_throttle_free(&t);
	assert_null(t);
}

static void
test_wait(void **state)
{
	struct auth_throttle *t = auth_throttle_new(&test_set);

	(void)state;
	assert_int_equal(auth_throttle_wait_ms(t, "192.0.2.1", 5000), 0);
	assert_int_equal(auth_throttle_failure(t, "192.0.2.1", 5000), 1000);
	/* a parallel attempt 400 ms later waits the rest of the penalty */
	assert_int_equal(auth_throttle_wait_ms(t, "192.0.2.1", 5400), 600);
	/* a sequential client, answered after the delay, does not wait */
	assert_int_equal(auth_throttle_wait_ms(t, "192.0.2.1", 6000), 0);
	assert_int_equal(auth_throttle_failure(t, "192.0.2.1", 6000), 1000);
	assert_int_equal(auth_throttle_failure(t, "192.0.2.1", 7000), 2000);
	assert_int_equal(auth_throttle_wait_ms(t, "192.0.2.1", 7500), 1500);
	auth_throttle_free(&t);
}

static void
test_forget_and_success(void **state)
{
	struct auth_throttle *t = auth_throttle_new(&test_set);

	(void)state;
	auth_throttle_failure(t, "192.0.2.1", 1000);
	auth_throttle_failure(t, "192.0.2.1", 2000);
	assert_int_equal(auth_throttle_failures(t, "192.0.2.1", 3000), 2);
	/* 60 s without a failure: forgotten, the next one starts over */
	assert_int_equal(auth_throttle_failures(t, "192.0.2.1", 62001), 0);
	assert_int_equal(auth_throttle_failure(t, "192.0.2.1", 62001), 1000);
	auth_throttle_failure(t, "192.0.2.1", 62002);
	auth_throttle_success(t, "192.0.2.1");
	assert_int_equal(auth_throttle_failures(t, "192.0.2.1", 62003), 0);
	assert_int_equal(auth_throttle_wait_ms(t, "192.0.2.1", 62003), 0);
	auth_throttle_free(&t);
}

struct key_case {
	const char *a, *b;
	int same;
};

static const struct key_case key_cases[] = {
    {"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", 1}, /* same /64 */
    {"2001:db8:1:2::1", "2001:db8:1:3::1", 0},
    {"192.0.2.1", "::ffff:192.0.2.1", 1}, /* v4-mapped */
    {"192.0.2.1", "192.0.2.2", 0},
    {"unix", "unix", 1},
    {"unix", "other", 0},
};

static void
test_keys(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		struct auth_throttle *t = auth_throttle_new(&test_set);

		auth_throttle_failure(t, key_cases[i].a, 100);
		assert_int_equal(auth_throttle_failures(t, key_cases[i].b, 100),
				 key_cases[i].same ? 1 : 0);
		auth_throttle_free(&t);
	}
}

static void
test_bounded(void **state)
{
	struct auth_throttle *t = auth_throttle_new(&test_set);
	char ip[64];
	unsigned int i, kept = 0;

	(void)state;
	/* far more addresses than the 64 slots: no growth, no crash */
	for (i = 0; i < 10000; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", (i >> 16) & 255,
			 (i >> 8) & 255, i & 255);
		auth_throttle_failure(t, ip, 1000 + i);
	}
	/* the most recent address survives; most of the old ones are gone */
	assert_int_equal(auth_throttle_failures(t, ip, 20000), 1);
	for (i = 0; i < 10000; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", (i >> 16) & 255,
			 (i >> 8) & 255, i & 255);
		kept += auth_throttle_failures(t, ip, 20000);
	}
	assert_true(kept <= 64);
	assert_true(kept > 0);
	auth_throttle_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_growing_delay),
	    cmocka_unit_test(test_wait),
	    cmocka_unit_test(test_forget_and_success),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
