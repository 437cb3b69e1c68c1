/*
 * Unit tests for mailstore/msg_search.c: RFC 2047 header decoding in
 * several charsets, raw 8-bit headers, field selection with folded lines,
 * body text through base64 / quoted-printable and charset conversion
 * (ISO-8859-1, windows-1252, KOI8-R, unknown charset), text parts only, and
 * the case-insensitive fold (ASCII, accented, German sharp s, Greek).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "mailstore/msg_search.h"
#include "mailstore/msg_structure.h"

struct decode_case {
	const char *raw;
	const char *want;
};

static const struct decode_case decode_cases[] = {
    {"plain text", "plain text"},
    {"=?utf-8?q?caf=C3=A9?=", "caf\xc3\xa9"},
    {"=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard"},
    {"=?iso-8859-1?b?5Q==?= =?iso-8859-1?b?5Q==?=", "\xc3\xa5\xc3\xa5"},
    {"=?KOI8-R?B?8NLJ18XU?=",
     "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"},
    {"folded\r\n line", "folded line"},
    {"=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"},
    {"raw 8-bit caf\xc3\xa9", "raw 8-bit caf\xc3\xa9"},
    {"raw latin-1 caf\xe9", "raw latin-1 caf\xc3\xa9"},
    {"=?utf-8?b?w6U=?= =?utf-8?b?w6U=?=", "\xc3\xa5\xc3\xa5"},
    {"split =?utf-8?q?=C3?= =?utf-8?q?=A9?= char", "split \xc3\xa9 char"},
    {"=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c"},
    {"=?bogus", "=?bogus"},
    {"=?utf-8?x?abc?=", "=?utf-8?x?abc?="},
    {"=?utf-8*en?q?lang?=", "lang"},
    {"=?x-unknown?q?caf=E9?=", "caf\xc3\xa9"},
};

static void
test_decode_header(void **state)
{
	(void)state;
	msg_search_init();
	for (size_t i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]);
	     i++) {
		struct buf out = {0};

		msg_search_decode_header(decode_cases[i].raw,
					 strlen(decode_cases[i].raw), &out);
		assert_string_equal(buf_cstr(&out), decode_cases[i].want);
		buf_free(&out);
	}
}

static void
test_header_fields(void **state)
{
	static const char header[] =
	    "Received: x\r\n"
	    "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
	    "From: =?iso-8859-1?q?J=F6rg?= <j@example.test>\r\n"
	    "X-Tag: one\r\n"
	    "x-tag: two\r\n  folded\r\n"
	    "\r\n"
	    "Subject: body, not header\r\n";
	struct buf out = {0};

	(void)state;
	assert_int_equal(
	    msg_search_header_field(header, strlen(header), "subject", &out),
	    1);
	assert_string_equal(buf_cstr(&out), "Gr\xc3\xbc\xc3\x9f"
					    "e");
	buf_reset(&out);
	assert_int_equal(
	    msg_search_header_field(header, strlen(header), "X-TAG", &out), 2);
	assert_string_equal(buf_cstr(&out), "one\ntwo  folded");
	buf_reset(&out);
	assert_int_equal(
	    msg_search_header_field(header, strlen(header), "Cc", &out), 0);
	assert_int_equal(out.len, 0);
	msg_search_header_all(header, strlen(header), &out);
	assert_non_null(strstr(buf_cstr(&out), "From: J\xc3\xb6rg <j@"));
	assert_null(strstr(buf_cstr(&out), "not header"));
	buf_free(&out);
}

static const char body_message[] =
    "Subject: x\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Voil=E0 le caf=E9\r\n"
    "--b\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "PGI+U3RyYcOfZTwvYj4=\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset=windows-1252\r\n"
    "\r\n"
    "quote \x93smart\x94\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset=x-unknown\r\n"
    "\r\n"
    "caf\xe9 unknown\r\n"
    "--b\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "NOT TEXT\r\n"
    "--b\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner\r\n"
    "\r\n"
    "inner body\r\n"
    "--b--\r\n";

static void
test_body_text(void **state)
{
	struct msg_structure *s = NULL;
	struct buf out = {0};
	char *error = NULL;
	struct buf needle = {0};

	(void)state;
	assert_int_equal(
	    msg_structure_parse(body_message, strlen(body_message), &s, &error),
	    0);
	assert_int_equal(
	    msg_search_body_text(s, body_message, strlen(body_message), &out),
	    0);
	assert_non_null(strstr(buf_cstr(&out), "Voil\xc3\xa0 le caf\xc3\xa9"));
	assert_non_null(strstr(buf_cstr(&out), "<b>Stra\xc3\x9f"
					       "e</b>"));
	assert_non_null(
	    strstr(buf_cstr(&out), "quote \xe2\x80\x9csmart\xe2\x80\x9d"));
	assert_non_null(strstr(buf_cstr(&out), "caf\xc3\xa9 unknown"));
	assert_non_null(strstr(buf_cstr(&out), "inner body"));
	assert_null(strstr(buf_cstr(&out), "NOT TEXT"));

	/* Case-insensitive search over the decoded text. */
	msg_search_fold("STRASSE", 7, &needle);
	assert_true(msg_search_contains(out.data, out.len, buf_cstr(&needle)));
	buf_reset(&needle);
	msg_search_fold("CAF\xc3\x89", 5, &needle);
	assert_true(msg_search_contains(out.data, out.len, buf_cstr(&needle)));
	buf_free(&needle);
	/* The structure must describe these bytes. */
	assert_int_equal(msg_search_body_text(s, body_message, 10, &out), -1);
	buf_free(&out);
	msg_structure_free(&s);
}

struct fold_case {
	const char *text;
	const char *needle;
	bool want;
};

static const struct fold_case fold_cases[] = {
    {"Hello World", "WORLD", true},
    {"Hello World", "worlds", false},
    {"anything", "", true},
    {"", "x", false},
    {"Stra\xc3\x9f"
     "e",
     "STRASSE", true},
    {"\xce\xa3\xce\x99\xce\xa3\xce\xa5\xce\xa6\xce\x9f\xce\xa3",
     "\xcf\x83\xce\xb9\xcf\x83", true}, /* Greek capital vs small sigma */
    {"CAF\xc3\x89", "caf\xc3\xa9", true},
    /* NFKD: e + combining acute, so the base letter matches too */
    {"caf\xc3\xa9", "cafe", true},
    {"cafe", "caf\xc3\xa9", false},
    {"bad \xff utf-8 here", "UTF-8 HERE", true},
};

static void
test_fold(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(fold_cases) / sizeof(fold_cases[0]);
	     i++) {
		struct buf needle = {0};

		msg_search_fold(fold_cases[i].needle,
				strlen(fold_cases[i].needle), &needle);
		assert_int_equal(msg_search_contains(fold_cases[i].text,
						     strlen(fold_cases[i].text),
						     buf_cstr(&needle)),
				 fold_cases[i].want);
		buf_free(&needle);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_header),
	    cmocka_unit_test(test_header_fields),
	    cmocka_unit_test(test_body_text),
	    cmocka_unit_test(test_fold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
