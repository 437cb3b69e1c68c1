/*
 * Unit tests for the SASL decoders in mailstore/sasl.c (the auth worker pool
 * is exercised end to end by the integration tests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mailstore/sasl.h"

struct b64_case {
	const char *in;
	const char *want; /* NULL = must fail */
	long len;
};

static const struct b64_case b64_cases[] = {
    {"", "", 0},
    {"Zg==", "f", 1},
    {"Zm8=", "fo", 2},
    {"Zm9v", "foo", 3},
    {"Zm9vYmFy", "foobar", 6},
    {"AGFsaWNlAHNlY3JldA==", "\0alice\0secret", 13},
    {"Zm9", NULL, 0},	   /* not a multiple of 4 */
    {"Zm9v\n", NULL, 0},   /* whitespace */
    {"Z===", NULL, 0},	   /* too much padding */
    {"Zg==Zg==", NULL, 0}, /* padding in the middle */
    {"Zm9*", NULL, 0},	   /* bad character */
};

static void
test_base64(void **state)
{
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++) {
		const struct b64_case *c = &b64_cases[i];
		long n =
		    sasl_base64_decode(c->in, strlen(c->in), out, sizeof(out));

		if (c->want == NULL) {
			assert_int_equal(n, -1);
		} else {
			assert_int_equal(n, c->len);
			assert_memory_equal(out, c->want, (size_t)n);
		}
	}
	/* output buffer too small */
	assert_int_equal(sasl_base64_decode("Zm9vYmFy", 8, out, 6), -1);
}

static void
test_plain(void **state)
{
	char login[SASL_FIELD_MAX + 1], pass[SASL_FIELD_MAX + 1];

	(void)state;
	/* "\0alice@example.test\0secret" */
	assert_int_equal(sasl_plain_decode("AGFsaWNlQGV4YW1wbGUudGVzdABzZW"
					   "NyZXQ=",
					   login, pass),
			 0);
	assert_string_equal(login, "alice@example.test");
	assert_string_equal(pass, "secret");
	/* authzid equal to authcid: "a\0a\0p" */
	assert_int_equal(sasl_plain_decode("YQBhAHA=", login, pass), 0);
	/* authzid different: "b\0a\0p" */
	assert_int_equal(sasl_plain_decode("YgBhAHA=", login, pass), -1);
	/* missing password: "\0a\0" */
	assert_int_equal(sasl_plain_decode("AGEA", login, pass), -1);
	/* only one NUL: "\0ap" */
	assert_int_equal(sasl_plain_decode("AGFw", login, pass), -1);
	assert_int_equal(sasl_plain_decode("!!!!", login, pass), -1);
}

struct login_case {
	const char *in;
	const char *want; /* NULL = must fail */
};

static const struct login_case login_cases[] = {
    {"YWxpY2U=", "alice"}, {"", NULL}, /* empty */
    {"YQBi", NULL},		       /* "a\0b": NUL inside */
    {"YWxpY2U", NULL},		       /* bad padding */
    {"YWxp Y2U=", NULL},	       /* space */
};

static void
test_login(void **state)
{
	char out[SASL_FIELD_MAX + 1], big[2 * SASL_FIELD_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(login_cases) / sizeof(login_cases[0]); i++) {
		const struct login_case *c = &login_cases[i];
		int ret = sasl_login_decode(c->in, strlen(c->in), out);

		if (c->want == NULL) {
			assert_int_equal(ret, -1);
		} else {
			assert_int_equal(ret, 0);
			assert_string_equal(out, c->want);
		}
	}
	/* 684 base64 chars decode to 513 bytes: one past the field limit */
	memset(big, 'Q', 684);
	assert_int_equal(sasl_login_decode(big, 684, out), -1);
	/* 680 chars = 510 bytes fit */
	assert_int_equal(sasl_login_decode(big, 680, out), 0);
	assert_int_equal(strlen(out), 510);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_login),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
