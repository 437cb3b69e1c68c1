/*
 * Unit tests for gateway/moatctl_dmarc.c: the --from/--to time forms of
 * `moatctl dmarc report` (UTC seconds, a date, a date and time).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "gateway/moatctl_dmarc.h"

struct time_case {
	const char *text;
	int rc;
	long long want;
};

static const struct time_case time_cases[] = {
    {"0", 0, 0},
    {"1764633600", 0, 1764633600},
    {"2025-12-02", 0, 1764633600},
    {"2025-12-02T01:02", 0, 1764637320},
    {"2025-12-02T01:02:03", 0, 1764637323},
    {"2025-12-02T01:02:03Z", 0, 1764637323},
    {"2025-12-02 00:00:00", 0, 1764633600},
    {"", -1, 0},
    {"-5", -1, 0},
    {"12abc", -1, 0},
    {"2025-12-02T", -1, 0},
    {"2025-12-02X", -1, 0},
    {"2025-13-02", -1, 0},
    {"yesterday", -1, 0},
    {"99999999999999999999999", -1, 0},
};

static void
test_parse_time(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]);
	     i++) {
		long long t = -1;
		int rc = moatctl_dmarc_parse_time(time_cases[i].text, &t);

		if (rc != time_cases[i].rc ||
		    (rc == 0 && t != time_cases[i].want))
			fail_msg("%s: rc %d t %lld", time_cases[i].text, rc, t);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
