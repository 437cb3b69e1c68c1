/*
 * Unit tests for filters/homograph.c: a table of host names, punycode and
 * UTF-8, that imitate another or do not (IDNs used as they are meant,
 * Cyrillic names under a Cyrillic top-level domain), and the host part
 * of URLs that is tested (filters/url_host.c, UTF-8 hosts in punycode).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "filters/homograph.h"
#include "filters/url_host.h"

static void
test_hosts(void **state)
{
	static const struct {
		const char *host;
		bool want;
	} cases[] = {
	    {"xn--80ak6aa92e.com", true}, /* аррӏе.com, all Cyrillic */
	    {"www.xn--80ak6aa92e.com", true},
	    {"xn--pypal-4ve.com", true}, /* pаypal: one Cyrillic а */
	    {"login.xn--pypal-4ve.com", true},
	    {"p\xd0\xb0ypal.com", true}, /* the same in UTF-8 */
	    {"xn--mxa6aa.com", true},	 /* αρρ, Greek */
	    {"paypal.com", false},
	    {"xn--mnchen-3ya.de", false}, /* münchen: Latin only */
	    {"m\xc3\xbcnchen.de", false},
	    {"xn--e1afmkfd.com", false},   /* пример: not all alike */
	    {"xn--j1aim.xn--p1ai", false}, /* кот.рф: a Cyrillic TLD */
	    {"xn--80ak6aa92e.xn--p1ai", false}, /* under .рф, as it seems */
	    {"xn--80aswg.xn--p1ai", false},	/* сайт.рф */
	    {"xn--invalid-.com", false},	/* bad punycode */
	    {"", false},
	    {"...", false},
	    {"\xff\xfe.com", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (homograph_host(cases[i].host) != cases[i].want)
			fail_msg("%s: want %d", cases[i].host, cases[i].want);
}

static void
test_url_hosts(void **state)
{
	static const struct {
		const char *url, *host;
	} cases[] = {
	    {"https://user@xn--pypal-4ve.com:443/x", "xn--pypal-4ve.com"},
	    {"http://Example.COM./a?b", "example.com"},
	    {"www.Example.com/path", "www.example.com"},
	    {"mailto:a@b.example", NULL},
	    {"https:///nohost", "nohost"}, /* as a browser reads it */
	    {"https://", NULL},
	    {"http://p\xd0\xb0ypal.com/", "xn--pypal-4ve.com"},
	    {"http://i\xe2\x9d\xa4.test/", "xn--i-7iq.test"},
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok = url_host(cases[i].url, out, sizeof(out));

		if (cases[i].host == NULL)
			assert_false(ok);
		else {
			assert_true(ok);
			assert_string_equal(out, cases[i].host);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hosts),
	    cmocka_unit_test(test_url_hosts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
