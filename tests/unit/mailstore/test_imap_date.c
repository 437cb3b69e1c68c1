/*
 * Unit tests for mailstore/imap_date.c: APPEND date-times with zones,
 * SEARCH dates, invalid forms, and the INTERNALDATE output format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mailstore/imap_private.h"

struct date_case {
	const char *text;
	int ret;
	long long want; /* time_t when ret == 0 */
};

static const struct date_case datetime_cases[] = {
    {"01-Feb-2024 10:00:00 +0100", 0, 1706778000LL},
    {" 1-Feb-2024 09:00:00 +0000", 0, 1706778000LL},
    {"1-Feb-2024 04:00:00 -0500", 0, 1706778000LL},
    {"31-Dec-1999 23:59:59 +0000", 0, 946684799LL},
    {"01-Foo-2024 10:00:00 +0100", -1, 0},
    {"01-Feb-2024 25:00:00 +0100", -1, 0},
    {"01-Feb-2024 10:00:00", -1, 0},
    {"01-Feb-2024 10:00:00 0100", -1, 0},
    {"01-Feb-2024 10:00:00 +0100 x", -1, 0},
    {"32-Feb-2024 10:00:00 +0100", -1, 0},
    {"", -1, 0},
};

static const struct date_case date_cases[] = {
    {"1-Feb-2024", 0, 1706745600LL},
    {"01-feb-2024", 0, 1706745600LL},
    {"1-Feb-24", -1, 0},
    {"1-Feb-2024 ", -1, 0},
    {"Feb-1-2024", -1, 0},
};

static void
test_datetime(void **state)
{
	(void)state;
	for (size_t i = 0;
	     i < sizeof(datetime_cases) / sizeof(datetime_cases[0]); i++) {
		time_t t = 0;

		print_message("case: '%s'\n", datetime_cases[i].text);
		assert_int_equal(
		    imap_parse_datetime(datetime_cases[i].text, &t),
		    datetime_cases[i].ret);
		if (datetime_cases[i].ret == 0)
			assert_int_equal((long long)t, datetime_cases[i].want);
	}
}

static void
test_date(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(date_cases) / sizeof(date_cases[0]);
	     i++) {
		time_t t = 0;

		print_message("case: '%s'\n", date_cases[i].text);
		assert_int_equal(imap_parse_date(date_cases[i].text, &t),
				 date_cases[i].ret);
		if (date_cases[i].ret == 0)
			assert_int_equal((long long)t, date_cases[i].want);
	}
}

static void
test_format(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out);
	imap_append_datetime(&out, 1706778000);
	assert_string_equal(buf_cstr(&out), "\"01-Feb-2024 09:00:00 +0000\"");
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_datetime),
	    cmocka_unit_test(test_date),
	    cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
