/*
 * Unit tests for gateway/retry_schedule.c: the back-off doubles from
 * retry_min up to retry_max, the last attempt falls at the end of the
 * lifetime, expiry, and when a DELAY notice is due.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gateway/retry_schedule.h"

static const struct retry_policy defaults = {300, 4 * 3600, 5 * 86400,
					     4 * 3600};

struct delay_case {
	unsigned int failures, want;
};

static void
test_retry_delay_doubles_and_caps(void **state)
{
	static const struct delay_case cases[] = {
	    {0, 300},	{1, 300},     {2, 600},	    {3, 1200},
	    {4, 2400},	{5, 4800},    {6, 9600},    {7, 14400},
	    {8, 14400}, {100, 14400}, {~0u, 14400},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(retry_delay(&defaults, cases[i].failures),
				 cases[i].want);
}

struct next_case {
	const char *name;
	time_t arrival, now;
	unsigned int failures;
	bool want_ok;
	time_t want_next;
};

static void
test_retry_next(void **state)
{
	static const struct next_case cases[] = {
	    {"first failure", 1000, 1000, 1, true, 1300},
	    {"third failure", 1000, 5000, 3, true, 6200},
	    {"capped at the lifetime", 1000, 1000 + 5 * 86400 - 100, 9, true,
	     1000 + 5 * 86400},
	    {"expired exactly", 1000, 1000 + 5 * 86400, 9, false, 0},
	    {"expired long ago", 1000, 1000 + 9 * 86400, 9, false, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct next_case *c = &cases[i];
		time_t next = 0;
		bool ok = retry_next(&defaults, c->arrival, c->now, c->failures,
				     &next);

		if (ok != c->want_ok)
			fail_msg("%s: ok=%d", c->name, ok);
		if (ok && next != c->want_next)
			fail_msg("%s: next=%lld want %lld", c->name,
				 (long long)next, (long long)c->want_next);
	}
}

static void
test_retry_short_test_schedule(void **state)
{
	const struct retry_policy fast = {1, 2, 10, 3};
	time_t next;

	(void)state;
	assert_int_equal(retry_delay(&fast, 1), 1);
	assert_int_equal(retry_delay(&fast, 2), 2);
	assert_int_equal(retry_delay(&fast, 5), 2);
	assert_true(retry_next(&fast, 100, 109, 4, &next));
	assert_int_equal(next, 110);
	assert_false(retry_next(&fast, 100, 110, 5, &next));
}

static void
test_delay_notice(void **state)
{
	const struct retry_policy never = {300, 3600, 86400, 0};

	(void)state;
	assert_false(retry_delay_notice_due(&defaults, 0, 4 * 3600 - 1, false));
	assert_true(retry_delay_notice_due(&defaults, 0, 4 * 3600, false));
	assert_false(retry_delay_notice_due(&defaults, 0, 4 * 3600, true));
	assert_false(retry_delay_notice_due(&never, 0, 80000, false));
}

int main(void);

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retry_delay_doubles_and_caps),
	    cmocka_unit_test(test_retry_next),
	    cmocka_unit_test(test_retry_short_test_schedule),
	    cmocka_unit_test(test_delay_notice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
