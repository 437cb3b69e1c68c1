/*
 * Unit tests for the resolver's RDATA parsers (MX and TXT), the part of
 * lib/dns that reads bytes from the network. Lookups themselves are tested
 * against a real DNS server on loopback in tests/integration/test_dns.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dns.h"

static void
test_mx_rdata(void **state)
{
	static const struct {
		const char *name;
		const char *data;
		size_t len;
		int want;
		uint16_t pref;
		const char *host;
	} cases[] = {
	    {"simple",
	     "\x00\x0a\x02mx\x07"
	     "example\x04test\x00",
	     19, 0, 10, "mx.example.test"},
	    {"root (null MX)", "\x00\x00\x00", 3, 0, 0, "."},
	    {"too short", "\x00", 1, -1, 0, NULL},
	    {"label past end", "\x00\x0a\x09mx", 5, -1, 0, NULL},
	    {"no terminator", "\x00\x0a\x02mx", 5, -1, 0, NULL},
	    {"trailing bytes", "\x00\x0a\x02mx\x00\x01", 7, -1, 0, NULL},
	    {"compression pointer", "\x00\x0a\xc0\x0c", 4, -1, 0, NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t pref = 0;
		char *host = NULL;
		int rc =
		    dns_parse_mx_rdata((const unsigned char *)cases[i].data,
				       cases[i].len, &pref, &host);
		if (rc != cases[i].want)
			fail_msg("%s: rc %d", cases[i].name, rc);
		if (rc == 0) {
			assert_int_equal(pref, cases[i].pref);
			assert_string_equal(host, cases[i].host);
		}
		free(host);
	}
}

static void
test_txt_rdata(void **state)
{
	char *text = NULL;

	(void)state;
	assert_int_equal(
	    dns_parse_txt_rdata((const unsigned char *)"\x06v=spf1\x05 -all",
				13, &text),
	    0);
	assert_string_equal(text, "v=spf1 -all");
	free(text);
	assert_int_equal(
	    dns_parse_txt_rdata((const unsigned char *)"", 0, &text), 0);
	assert_string_equal(text, "");
	free(text);
	assert_int_equal(
	    dns_parse_txt_rdata((const unsigned char *)"\x09short", 6, &text),
	    -1);
}

int main(void);

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mx_rdata),
	    cmocka_unit_test(test_txt_rdata),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
