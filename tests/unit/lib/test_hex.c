/*
 * Unit tests for lib/hex.c: every byte value and EOF against the digit
 * value it must have (or -1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "lib/hex.h"

static void
test_hex_digit_all_bytes(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		int want = -1;

		if (c >= '0' && c <= '9')
			want = c - '0';
		else if (c >= 'a' && c <= 'f')
			want = 10 + c - 'a';
		else if (c >= 'A' && c <= 'F')
			want = 10 + c - 'A';
		if (hex_digit(c) != want)
			fail_msg("byte %d: %d, want %d", c, hex_digit(c), want);
	}
	assert_int_equal(hex_digit(EOF), -1);
	assert_int_equal(hex_digit('g'), -1);
	assert_int_equal(hex_digit('F'), 15);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hex_digit_all_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
