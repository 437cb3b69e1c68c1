/*
 * Unit tests for gateway/route.c: the next-hop specification syntax
 * (accepted forms, options, errors) and its canonical text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/route.h"

struct spec_case {
	const char *spec;
	bool ok;
	const char *canonical; /* route_format of the parse */
};

static const struct spec_case cases[] = {
    {"[10.0.0.5]:25", true, "[10.0.0.5]:25"},
    {"[exchange.corp.test]", true, "[exchange.corp.test]"},
    {"[2001:db8::5]:2525", true, "[2001:db8::5]:2525"},
    {"MX.Corp.Test", true, "mx.corp.test"},
    {"local", true, "local"},
    {"[10.0.0.5]:25|[10.0.0.6]:25", true, "[10.0.0.5]:25|[10.0.0.6]:25"},
    {"[10.0.0.5]:25, [10.0.0.6]:25 tls=verify", true,
     "[10.0.0.5]:25|[10.0.0.6]:25|tls=verify"},
    {"smarthost.test|tls=encrypt|auth=/etc/moat/relay.auth", true,
     "smarthost.test|tls=encrypt|auth=/etc/moat/relay.auth"},
    {"", false, NULL},
    {"tls=verify", false, NULL},
    {"[10.0.0.5]:0", false, NULL},
    {"[10.0.0.5]:99999", false, NULL},
    {"[10.0.0.5]x", false, NULL},
    {"[]:25", false, NULL},
    {"[bad host]:25", false, NULL},
    {"bad_host!", false, NULL},
    {"local|[10.0.0.5]:25", false, NULL},
    {"[10.0.0.5]:25|tls=maybe", false, NULL},
    {"[10.0.0.5]:25|auth=relative", false, NULL},
    {"a|b|c|d|e|f|g|h|i", false, NULL},
};

static void
test_route_spec_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct spec_case *c = &cases[i];
		const char *error = NULL;
		struct route r;
		char text[512];
		int rc = route_spec_parse(c->spec, ROUTE_TLS_NONE, &r, &error);

		if ((rc == 0) != c->ok)
			fail_msg("'%s': rc=%d error=%s", c->spec, rc,
				 error != NULL ? error : "");
		if (rc < 0) {
			assert_non_null(error);
			continue;
		}
		route_format(&r, text, sizeof(text));
		if (strcmp(text, c->canonical) != 0)
			fail_msg("'%s': formatted '%s' want '%s'", c->spec,
				 text, c->canonical);
	}
}

static void
test_route_config_items(void **state)
{
	const char *error = NULL;
	int policy = -1;

	(void)state;
	assert_int_equal(
	    route_config_item_check("corp.test=[10.0.0.5]:25", &error), 0);
	assert_int_equal(route_config_item_check("=[10.0.0.5]:25", &error), -1);
	assert_int_equal(route_config_item_check("corp.test", &error), -1);
	assert_int_equal(route_config_item_check("bad..test=local", &error),
			 -1);
	assert_int_equal(route_tls_policy_parse("verify", &policy), 0);
	assert_int_equal(policy, ROUTE_TLS_VERIFY);
	assert_int_equal(route_tls_policy_parse("may", &policy), -1);
}

int main(void);

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_route_spec_table),
	    cmocka_unit_test(test_route_config_items),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
