/*
 * Unit tests for lib/pool.c: alignment, oversize blocks, clear and reuse,
 * strdup helpers and pool_used accounting.
 */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/pool.h"

struct pool_case {
	const char *name;
	size_t block_size;
	size_t sizes[8];
	size_t nsizes;
};

static const struct pool_case pool_cases[] = {
    {"small", 1024, {1, 2, 3, 7, 8, 15, 16, 17}, 8},
    {"zero size", 1024, {0, 0, 1}, 3},
    {"exact block", 256, {256, 256, 1}, 3},
    {"oversize", 256, {10, 5000, 10, 100000, 10}, 5},
    {"tiny block size", 1, {100, 300, 1000}, 3},
    {"many fill blocks", 512, {200, 200, 200, 200, 200, 200, 200, 200}, 8},
};

static void
test_pool_table(void **state)
{
	for (size_t i = 0; i < sizeof(pool_cases) / sizeof(pool_cases[0]);
	     i++) {
		const struct pool_case *c = &pool_cases[i];
		struct pool *pool = pool_new(c->block_size);
		unsigned char *ptrs[8];
		size_t total = 0;

		for (size_t j = 0; j < c->nsizes; j++) {
			ptrs[j] = pool_alloc(pool, c->sizes[j]);
			assert_non_null(ptrs[j]);
			if ((uintptr_t)ptrs[j] % alignof(max_align_t) != 0)
				fail_msg("case '%s': allocation %zu unaligned",
					 c->name, j);
			/* Fill with a pattern; overlaps would be caught
			 * below. */
			memset(ptrs[j], (int)j + 1, c->sizes[j]);
			total += c->sizes[j];
		}
		for (size_t j = 0; j < c->nsizes; j++)
			for (size_t k = 0; k < c->sizes[j]; k++)
				if (ptrs[j][k] != (unsigned char)(j + 1))
					fail_msg("case '%s': allocation %zu "
						 "overwritten",
						 c->name, j);
		assert_int_equal(pool_used(pool), total);
		pool_clear(pool);
		assert_int_equal(pool_used(pool), 0);
		assert_non_null(pool_alloc(pool, 10));
		pool_free(&pool);
		assert_null(pool);
	}
}

static void
test_pool_small_after_oversize_stays_in_block(void **state)
{
	struct pool *pool = pool_new(1024);
	char *a = pool_alloc(pool, 16);
	char *big = pool_alloc(pool, 10000);
	char *b = pool_alloc(pool, 16);

	/* b continues right after a in the same block. */
	assert_true(b > a && b - a < 1024);
	assert_true(big != NULL);
	pool_free(&pool);
}

static void
test_pool_strings(void **state)
{
	struct pool *pool = pool_new(64);
	const char *cases[][3] = {
	    /* input, n, want */
	    {"hello", "10", "hello"},
	    {"hello", "3", "hel"},
	    {"", "5", ""},
	    {"abc", "0", ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = (size_t)strtoul(cases[i][1], NULL, 10);

		assert_string_equal(pool_strndup(pool, cases[i][0], n),
				    cases[i][2]);
	}
	assert_string_equal(pool_strdup(pool, "a longer string than block"),
			    "a longer string than block");
	pool_free(&pool);
}

static void
test_pool_zalloc(void **state)
{
	struct pool *pool = pool_new(128);
	unsigned char *p;

	p = pool_alloc(pool, 100);
	memset(p, 0xff, 100);
	pool_clear(pool);
	p = pool_zalloc(pool, 100);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(p[i], 0);
	pool_free(&pool);
	pool_free(&pool); /* NULL is fine */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pool_table),
	    cmocka_unit_test(test_pool_small_after_oversize_stays_in_block),
	    cmocka_unit_test(test_pool_strings),
	    cmocka_unit_test(test_pool_zalloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
