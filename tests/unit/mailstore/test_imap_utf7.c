/*
 * Unit tests for mailstore/imap_utf7.c: UTF-8 names and their modified
 * UTF-7 forms in both directions (RFC 3501 5.1.3 examples included), and
 * encodings a strict decoder must refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mailstore/imap_utf7.h"

struct utf7_case {
	const char *utf8;
	const char *utf7;
};

static const struct utf7_case cases[] = {
    {"INBOX", "INBOX"},
    {"a&b", "a&-b"},
    {"&", "&-"},
    {"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
     "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
    {"Gr\xc3\xbc\xc3\x9f\x65", "Gr&APwA3w-e"},
    {"\xc3\xa9t\xc3\xa9", "&AOk-t&AOk-"},
    {"\xf0\x9f\x93\xa7 mail", "&2D3c5w- mail"},
    {"", ""},
};

static const char *const bad_utf7[] = {
    "&",	  /* unterminated */
    "&AOk",	  /* unterminated */
    "&AGEAYgBj-", /* printable ASCII encoded */
    "&AO-",	  /* leftover bits not zero */
    "&2D0-",	  /* lone high surrogate */
    "&3OY-",	  /* lone low surrogate */
    "a\xc3\xa9",  /* 8-bit */
    "&A!-",	  /* bad base64 */
    "tab\there",  /* control */
};

static void
test_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out;

		print_message("case: %s\n", cases[i].utf7);
		buf_init(&out);
		assert_int_equal(imap_utf7_encode(cases[i].utf8, &out), 0);
		assert_string_equal(buf_cstr(&out), cases[i].utf7);
		buf_reset(&out);
		assert_int_equal(imap_utf7_decode(cases[i].utf7, &out), 0);
		assert_string_equal(buf_cstr(&out), cases[i].utf8);
		buf_free(&out);
	}
}

static void
test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_utf7) / sizeof(bad_utf7[0]); i++) {
		struct buf out;

		print_message("case: %s\n", bad_utf7[i]);
		buf_init(&out);
		assert_int_equal(imap_utf7_decode(bad_utf7[i], &out), -1);
		buf_free(&out);
	}
}

static void
test_utf8_valid(void **state)
{
	struct buf out;

	(void)state;
	assert_true(imap_utf8_valid("abc\xc3\xa9", 5));
	assert_false(imap_utf8_valid("\xc0\xaf", 2));	  /* overlong */
	assert_false(imap_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
	assert_false(imap_utf8_valid("\xe6\x97", 2));	  /* truncated */
	buf_init(&out);
	assert_int_equal(imap_utf7_encode("\xff", &out), -1);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_utf8_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
