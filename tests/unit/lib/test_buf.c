/*
 * Unit tests for lib/buf.c: appends, printf growth, truncate/consume,
 * detach, the NUL-termination invariant and doubling growth.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"

/* Checks the invariant every operation must keep. */
static void
assert_buf_ok(const struct buf *b)
{
	if (b->data == NULL) {
		assert_int_equal(b->len, 0);
		return;
	}
	assert_true(b->len < b->cap);
	assert_int_equal(b->data[b->len], '\0');
}

enum op_kind {
	OP_STR,
	OP_CHAR,
	OP_PRINTF_INT,
	OP_TRUNCATE,
	OP_CONSUME,
	OP_RESET
};

struct op {
	enum op_kind kind;
	const char *s;
	size_t n;
};

struct buf_case {
	const char *name;
	struct op ops[6];
	size_t nops;
	const char *want;
};

static const struct buf_case buf_cases[] = {
    {"empty", {{0}}, 0, ""},
    {"one append", {{OP_STR, "hello", 0}}, 1, "hello"},
    {"two appends",
     {{OP_STR, "hello", 0}, {OP_STR, " world", 0}},
     2,
     "hello world"},
    {"char", {{OP_STR, "ab", 0}, {OP_CHAR, "c", 0}}, 2, "abc"},
    {"printf", {{OP_STR, "n=", 0}, {OP_PRINTF_INT, NULL, 42}}, 2, "n=42"},
    {"truncate", {{OP_STR, "abcdef", 0}, {OP_TRUNCATE, NULL, 3}}, 2, "abc"},
    {"truncate longer is noop",
     {{OP_STR, "abc", 0}, {OP_TRUNCATE, NULL, 9}},
     2,
     "abc"},
    {"consume part", {{OP_STR, "abcdef", 0}, {OP_CONSUME, NULL, 2}}, 2, "cdef"},
    {"consume all", {{OP_STR, "abc", 0}, {OP_CONSUME, NULL, 3}}, 2, ""},
    {"consume more than len",
     {{OP_STR, "abc", 0}, {OP_CONSUME, NULL, 99}, {OP_STR, "x", 0}},
     3,
     "x"},
    {"reset then append",
     {{OP_STR, "abc", 0}, {OP_RESET, NULL, 0}, {OP_STR, "z", 0}},
     3,
     "z"},
    {"empty string append", {{OP_STR, "", 0}}, 1, ""},
};

static void
test_buf_table(void **state)
{
	for (size_t i = 0; i < sizeof(buf_cases) / sizeof(buf_cases[0]); i++) {
		const struct buf_case *c = &buf_cases[i];
		struct buf b = {0};

		for (size_t j = 0; j < c->nops; j++) {
			const struct op *op = &c->ops[j];

			switch (op->kind) {
			case OP_STR:
				buf_append_str(&b, op->s);
				break;
			case OP_CHAR:
				buf_append_char(&b, op->s[0]);
				break;
			case OP_PRINTF_INT:
				buf_printf(&b, "%zu", op->n);
				break;
			case OP_TRUNCATE:
				buf_truncate(&b, op->n);
				break;
			case OP_CONSUME:
				buf_consume(&b, op->n);
				break;
			case OP_RESET:
				buf_reset(&b);
				break;
			}
			assert_buf_ok(&b);
		}
		if (strcmp(buf_cstr(&b), c->want) != 0)
			fail_msg("case '%s': got '%s' want '%s'", c->name,
				 buf_cstr(&b), c->want);
		assert_true(buf_equals_str(&b, c->want));
		assert_int_equal(b.len, strlen(c->want));
		buf_free(&b);
		assert_null(b.data);
	}
}

static void
test_buf_zeroed_is_valid(void **state)
{
	struct buf b = {0};

	assert_string_equal(buf_cstr(&b), "");
	assert_true(buf_equals_str(&b, ""));
	assert_false(buf_equals_str(&b, "x"));
	buf_truncate(&b, 0);
	buf_consume(&b, 5);
	buf_reset(&b);
	buf_free(&b);
	buf_init(&b);
	assert_null(b.data);
}

static void
test_buf_printf_grows(void **state)
{
	struct buf b = {0};
	char want[1000];

	memset(want, 'x', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	buf_append_str(&b, "<");
	buf_printf(&b, "%s>", want);
	assert_int_equal(b.len, 1 + 999 + 1);
	assert_int_equal(b.data[0], '<');
	assert_int_equal(b.data[1000], '>');
	assert_buf_ok(&b);
	buf_free(&b);
}

static void
test_buf_binary(void **state)
{
	struct buf b = {0};

	buf_append(&b, "a\0b", 3);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 3);
	assert_buf_ok(&b);
	assert_false(buf_equals_str(&b, "a"));
	buf_free(&b);
}

static void
test_buf_growth_doubles(void **state)
{
	struct buf b = {0};
	size_t reallocs = 0, last_cap = 0;

	for (size_t i = 0; i < 100000; i++) {
		buf_append_char(&b, (char)('a' + i % 26));
		if (b.cap != last_cap) {
			reallocs++;
			if (last_cap != 0)
				assert_true(b.cap >= 2 * last_cap);
			last_cap = b.cap;
		}
	}
	assert_int_equal(b.len, 100000);
	/* Doubling: about log2(100000 / 64) reallocations. */
	assert_true(reallocs <= 20);
	assert_buf_ok(&b);
	buf_free(&b);
}

static void
test_buf_reserve(void **state)
{
	struct buf b = {0};

	buf_reserve(&b, 1000);
	assert_true(b.cap >= 1001);
	assert_int_equal(b.len, 0);
	assert_buf_ok(&b);
	buf_free(&b);
}

static void
test_buf_detach(void **state)
{
	struct buf b = {0};
	char *s;

	s = buf_detach(&b);
	assert_string_equal(s, "");
	free(s);
	buf_append_str(&b, "owned");
	s = buf_detach(&b);
	assert_string_equal(s, "owned");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buf_table),
	    cmocka_unit_test(test_buf_zeroed_is_valid),
	    cmocka_unit_test(test_buf_printf_grows),
	    cmocka_unit_test(test_buf_binary),
	    cmocka_unit_test(test_buf_growth_doubles),
	    cmocka_unit_test(test_buf_reserve),
	    cmocka_unit_test(test_buf_detach),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
