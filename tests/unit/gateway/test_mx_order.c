/*
 * Unit tests for gateway/mx_order.c: preference order, the shuffle within
 * one preference, our own host among the exchangers, the null MX of
 * RFC 7505, duplicates and trailing dots.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/mx_order.h"

struct mx_case {
	const char *name;
	size_t count;
	uint16_t prefs[6];
	const char *hosts[6];
	const char *self;
	enum mx_order_result want_result;
	size_t want_count;
	const char *want[6]; /* NULL: any order within equal preferences */
};

static const struct mx_case cases[] = {
    {"sorted by preference",
     3,
     {20, 10, 30},
     {"b.test", "a.test", "c.test"},
     NULL,
     MX_ORDER_OK,
     3,
     {"a.test", "b.test", "c.test"}},
    {"trailing dots removed",
     2,
     {5, 1},
     {"y.test.", "x.test."},
     NULL,
     MX_ORDER_OK,
     2,
     {"x.test", "y.test"}},
    {"duplicates kept once",
     3,
     {10, 10, 20},
     {"a.test", "A.test.", "b.test"},
     NULL,
     MX_ORDER_OK,
     2,
     {"a.test", "b.test"}},
    {"null MX", 1, {0}, {"."}, NULL, MX_ORDER_NULL, 0, {NULL}},
    {"null MX beside real ones is ignored",
     2,
     {0, 10},
     {".", "mx.test"},
     NULL,
     MX_ORDER_OK,
     1,
     {"mx.test"}},
    {"we are a backup: only better ones",
     3,
     {10, 20, 30},
     {"primary.test", "us.test", "worse.test"},
     "us.test",
     MX_ORDER_OK,
     1,
     {"primary.test"}},
    {"we are the best: loop",
     2,
     {10, 20},
     {"us.test", "other.test"},
     "US.TEST.",
     MX_ORDER_SELF,
     0,
     {NULL}},
    {"equal preference ties with us are dropped",
     3,
     {10, 10, 5},
     {"us.test", "peer.test", "best.test"},
     "us.test",
     MX_ORDER_OK,
     1,
     {"best.test"}},
    {"no records", 0, {0}, {NULL}, NULL, MX_ORDER_EMPTY, 0, {NULL}},
};

static void
test_mx_order_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct mx_case *c = &cases[i];
		struct mx_host out[MX_HOSTS_MAX];
		size_t n = 99;
		enum mx_order_result r;

		r = mx_order(c->prefs, (char *const *)c->hosts, c->count,
			     c->self, 12345, out, &n);
		if (r != c->want_result)
			fail_msg("%s: result %d want %d", c->name, (int)r,
				 (int)c->want_result);
		if (r != MX_ORDER_OK)
			continue;
		if (n != c->want_count)
			fail_msg("%s: %zu hosts, want %zu", c->name, n,
				 c->want_count);
		for (size_t k = 0; k < n; k++)
			if (c->want[k] != NULL &&
			    strcmp(out[k].name, c->want[k]) != 0)
				fail_msg("%s: host %zu is %s, want %s", c->name,
					 k, out[k].name, c->want[k]);
	}
}

/* Hosts of equal preference come out in different orders for different
 * seeds (RFC 5321 5.1 asks for randomisation), always after the better
 * ones and before the worse ones. */
static void
test_mx_order_shuffles_equal_preferences(void **state)
{
	const uint16_t prefs[] = {10, 10, 10, 10, 5, 50};
	const char *hosts[] = {"a.test", "b.test",    "c.test",
			       "d.test", "best.test", "last.test"};
	bool first_seen[4] = {false};

	(void)state;
	for (unsigned int seed = 1; seed < 200; seed++) {
		struct mx_host out[MX_HOSTS_MAX];
		size_t n;

		assert_int_equal(mx_order(prefs, (char *const *)hosts, 6, NULL,
					  seed, out, &n),
				 MX_ORDER_OK);
		assert_int_equal(n, 6);
		assert_string_equal(out[0].name, "best.test");
		assert_string_equal(out[5].name, "last.test");
		for (size_t k = 1; k < 5; k++)
			assert_int_equal(out[k].pref, 10);
		first_seen[out[1].name[0] - 'a'] = true;
	}
	for (size_t k = 0; k < 4; k++)
		assert_true(first_seen[k]);
}

int main(void);

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mx_order_table),
	    cmocka_unit_test(test_mx_order_shuffles_equal_preferences),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
