/*
 * Unit tests for mailstore/imap_seqset.c: sequence sets parsed and tested
 * for membership against a mailbox size, invalid sets, and the compact
 * formatting used in UIDPLUS and ESEARCH answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mailstore/imap_seqset.h"

struct seq_case {
	const char *text;
	uint32_t max;
	const char *members; /* for n = 1..10: '1' member, '0' not */
};

static const struct seq_case seq_cases[] = {
    {"1", 10, "1000000000"},	   {"1:3", 10, "1110000000"},
    {"3:1", 10, "1110000000"},	   {"2,4,6", 10, "0101010000"},
    {"8:*", 10, "0000000111"},	   {"*", 10, "0000000001"},
    {"*:8", 10, "0000000111"},	   {"*", 5, "0000100000"},
    {"1:2,9:*", 10, "1100000011"}, {"4294967294", 10, "0000000000"},
};

static const char *const bad_sets[] = {
    "",	    "0",    "1:0",	  "a",	 "1,", ",1",
    "1::2", "1:*:", "4294967295", "1 2", "-1", "99999999999",
};

static void
test_membership(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(seq_cases) / sizeof(seq_cases[0]); i++) {
		const struct seq_case *c = &seq_cases[i];
		struct imap_seqset set;
		const char *error;

		print_message("case: %s\n", c->text);
		assert_int_equal(imap_seqset_parse(c->text, &set, &error), 0);
		for (uint32_t n = 1; n <= 10; n++)
			assert_int_equal(imap_seqset_contains(&set, n, c->max),
					 c->members[n - 1] == '1');
		imap_seqset_free(&set);
	}
}

static void
test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_sets) / sizeof(bad_sets[0]); i++) {
		struct imap_seqset set;
		const char *error = NULL;

		print_message("case: '%s'\n", bad_sets[i]);
		assert_int_equal(imap_seqset_parse(bad_sets[i], &set, &error),
				 -1);
		assert_non_null(error);
		assert_null(set.ranges);
	}
}

static void
test_saved(void **state)
{
	struct imap_seqset set;
	const char *error;

	(void)state;
	assert_int_equal(imap_seqset_parse("$", &set, &error), 0);
	assert_true(set.saved);
	imap_seqset_free(&set);
}

static void
test_format(void **state)
{
	static const uint32_t a[] = {1, 2, 3, 5, 7, 8, 10};
	static const uint32_t b[] = {42};
	struct buf out;

	(void)state;
	buf_init(&out);
	imap_seqset_format(a, 7, &out);
	assert_string_equal(buf_cstr(&out), "1:3,5,7:8,10");
	buf_reset(&out);
	imap_seqset_format(b, 1, &out);
	assert_string_equal(buf_cstr(&out), "42");
	buf_reset(&out);
	imap_seqset_format(b, 0, &out);
	assert_string_equal(buf_cstr(&out), "");
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_membership),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_saved),
	    cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
