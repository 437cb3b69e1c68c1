/*
 * Unit tests for gateway/smtp_address.c: a table of path contents with the
 * normalised address or the failure each must produce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/smtp_address.h"

struct address_case {
	const char *name;
	const char *in;
	bool utf8;
	bool no_domain;
	const char *want; /* NULL = must fail */
};

static const struct address_case cases[] = {
    {"simple", "user@example.org", false, false, "user@example.org"},
    {"domain lowered", "User@EXAMPLE.Org", false, false, "User@example.org"},
    {"atext specials", "a!#$%&'*+-/=?^_`{|}~@x.example", false, false,
     "a!#$%&'*+-/=?^_`{|}~@x.example"},
    {"dots", "first.last@x.example", false, false, "first.last@x.example"},
    {"leading dot", ".a@x.example", false, false, NULL},
    {"trailing dot", "a.@x.example", false, false, NULL},
    {"double dot", "a..b@x.example", false, false, NULL},
    {"no at", "user", false, false, NULL},
    {"empty local", "@x.example", false, false, NULL},
    {"empty domain", "a@", false, false, NULL},
    {"space", "a b@x.example", false, false, NULL},
    {"quoted", "\"a b\"@x.example", false, false, "\"a b\"@x.example"},
    {"quoted at", "\"a@b\"@x.example", false, false, "\"a@b\"@x.example"},
    {"quoted escape", "\"a\\\"b\"@x.example", false, false,
     "\"a\\\"b\"@x.example"},
    {"quoted unterminated", "\"ab@x.example", false, false, NULL},
    {"source route", "@r.example:a@x.example", false, false, "a@x.example"},
    {"source route list", "@r.example,@s.example:a@x.example", false, false,
     "a@x.example"},
    {"bad source route", "@r.example,a@x.example", false, false, NULL},
    {"ipv4 literal", "a@[192.0.2.1]", false, false, "a@[192.0.2.1]"},
    {"bad ipv4 literal", "a@[192.0.2.300]", false, false, NULL},
    {"ipv6 literal", "a@[IPv6:2001:db8::1]", false, false,
     "a@[ipv6:2001:db8::1]"},
    {"bad ipv6 literal", "a@[IPv6:zz::1]", false, false, NULL},
    {"domain hyphen", "a@my-host.example", false, false, "a@my-host.example"},
    {"domain leading hyphen", "a@-host.example", false, false, NULL},
    {"domain trailing hyphen", "a@host-.example", false, false, NULL},
    {"domain underscore", "a@ho_st.example", false, false, NULL},
    {"domain empty label", "a@host..example", false, false, NULL},
    {"utf8 local no flag", "\xc3\xa9@x.example", false, false, NULL},
    {"utf8 local", "\xc3\xa9@x.example", true, false, "\xc3\xa9@x.example"},
    {"utf8 domain", "a@b\xc3\xbc.example", true, false, "a@b\xc3\xbc.example"},
    {"utf8 overlong", "\xc0\xaf@x.example", true, false, NULL},
    {"utf8 surrogate", "\xed\xa0\x80@x.example", true, false, NULL},
    {"utf8 truncated", "a\xe2\x82@x.example", true, false, NULL},
    {"postmaster", "Postmaster", false, true, "Postmaster"},
    {"postmaster not allowed", "postmaster", false, false, NULL},
    {"control char", "a\x01@x.example", false, false, NULL},
};

static void
test_table(void **state)
{
	char out[SMTP_ADDRESS_BUF];
	const char *error;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct address_case *c = &cases[i];
		int ret = smtp_address_parse(c->in, strlen(c->in), c->utf8,
					     c->no_domain, out, &error);

		if ((ret == 0) != (c->want != NULL))
			print_message("case %s: ret %d\n", c->name, ret);
		if (c->want == NULL) {
			assert_int_equal(ret, -1);
		} else {
			assert_int_equal(ret, 0);
			assert_string_equal(out, c->want);
		}
	}
}

static void
test_lengths(void **state)
{
	char in[600], out[SMTP_ADDRESS_BUF];
	const char *error;
	size_t i, n;

	(void)state;
	/* local part 64 ok, 65 too long */
	memset(in, 'a', 64);
	memcpy(in + 64, "@x.example", 10);
	assert_int_equal(smtp_address_parse(in, 74, false, false, out, &error),
			 0);
	memset(in, 'a', 65);
	memcpy(in + 65, "@x.example", 10);
	assert_int_equal(smtp_address_parse(in, 75, false, false, out, &error),
			 -1);
	/* path over 256 octets with <> */
	n = 0;
	in[n++] = 'a';
	in[n++] = '@';
	for (i = 0; i < 5; i++) {
		memset(in + n, 'b', 50);
		n += 50;
		in[n++] = '.';
	}
	memcpy(in + n, "example", 7);
	n += 7;
	assert_int_equal(smtp_address_parse(in, n, false, false, out, &error),
			 -1);
	/* label longer than 63 */
	memcpy(in, "a@", 2);
	memset(in + 2, 'c', 64);
	memcpy(in + 66, ".example", 8);
	assert_int_equal(smtp_address_parse(in, 74, false, false, out, &error),
			 -1);
	/* embedded NUL */
	assert_int_equal(
	    smtp_address_parse("a\0b@x.example", 13, false, false, out, &error),
	    -1);
}

static void
test_split(void **state)
{
	char local[65], domain[256], small[4];

	(void)state;
	assert_int_equal(smtp_address_split("\"a@b\"@x.example", local,
					    sizeof(local), domain,
					    sizeof(domain)),
			 0);
	assert_string_equal(local, "\"a@b\"");
	assert_string_equal(domain, "x.example");
	assert_int_equal(smtp_address_split("postmaster", local, sizeof(local),
					    domain, sizeof(domain)),
			 0);
	assert_string_equal(domain, "");
	assert_int_equal(smtp_address_split("abcdef@x", small, sizeof(small),
					    domain, sizeof(domain)),
			 -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
