/*
 * Unit tests for mailstore/imap_parser.c: a table of commands, each with
 * the tag, name and a rendering of the argument tree it must produce, or
 * the error it must give; and a table of line endings for literal
 * announcements.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/pool.h"
#include "mailstore/imap_parser.h"

struct parse_case {
	const char *name;
	const char *input;
	size_t len; /* 0 = strlen */
	const char *tag;
	const char *cmd;   /* NULL: must fail */
	const char *args;  /* rendering of the arguments */
	const char *error; /* substring of the error */
};

/* Renders args: atoms bare, quoted as "x", literals as {n}x, NIL, lists. */
static void
render(const struct imap_arg *args, size_t count, struct buf *out)
{
	for (size_t i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];

		if (i > 0)
			buf_append_char(out, ' ');
		switch (a->type) {
		case IMAP_ARG_ATOM:
			buf_append_str(out, a->str);
			break;
		case IMAP_ARG_QUOTED:
			buf_printf(out, "\"%s\"", a->str);
			break;
		case IMAP_ARG_LITERAL:
			buf_printf(out, "%s{%zu}", a->literal8 ? "~" : "",
				   a->len);
			buf_append(out, a->str, a->len);
			break;
		case IMAP_ARG_NIL:
			buf_append_str(out, "NIL");
			break;
		case IMAP_ARG_LIST:
			buf_append_char(out, '(');
			render(a->list, a->count, out);
			buf_append_char(out, ')');
			break;
		}
	}
}

static const struct parse_case parse_cases[] = {
    {"bare command", "a1 NOOP", 0, "a1", "NOOP", "", NULL},
    {"lower case name", "a1 noop", 0, "a1", "NOOP", "", NULL},
    {"login atoms", "a LOGIN user pass", 0, "a", "LOGIN", "user pass", NULL},
    {"login quoted", "a LOGIN \"us er\" \"p\\\"a\\\\ss\"", 0, "a", "LOGIN",
     "\"us er\" \"p\"a\\ss\"", NULL},
    {"literal", "a LOGIN {4}\r\nuser {4+}\r\npass", 0, "a", "LOGIN",
     "{4}user {4}pass", NULL},
    {"empty literal", "a LOGIN {0}\r\n x", 0, "a", "LOGIN", "{0} x", NULL},
    {"literal8", "a APPEND INBOX ~{3}\r\na\0b", 24, "a", "APPEND",
     "INBOX ~{3}a", NULL},
    {"nil", "a X nil NIL", 0, "a", "X", "NIL NIL", NULL},
    {"list", "a STORE 1:* +FLAGS (\\Seen \\Deleted)", 0, "a", "STORE",
     "1:* +FLAGS (\\Seen \\Deleted)", NULL},
    {"empty list", "a X ()", 0, "a", "X", "()", NULL},
    {"nested lists", "a X ((a) (b (c)))", 0, "a", "X", "((a) (b (c)))", NULL},
    {"fetch section", "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From To)]<0.10>)", 0,
     "a", "FETCH", "1 (BODY.PEEK[HEADER.FIELDS (From To)]<0.10>)", NULL},
    {"fetch empty section", "a FETCH 1 BODY[]", 0, "a", "FETCH", "1 BODY[]",
     NULL},
    {"list wildcards", "a LIST \"\" *", 0, "a", "LIST", "\"\" *", NULL},
    {"list percent", "a LIST \"\" INBOX/%", 0, "a", "LIST", "\"\" INBOX/%",
     NULL},
    {"utf8 quoted", "a SELECT \"Gr\xc3\xbc\xc3\x9f\x65\"", 0, "a", "SELECT",
     "\"Gr\xc3\xbc\xc3\x9f\x65\"", NULL},
    {"uid command", "a UID FETCH 1:* FLAGS", 0, "a", "UID", "FETCH 1:* FLAGS",
     NULL},
    {"8-bit atom", "a SELECT Gr\xc3\xbc\xc3\x9f\x65", 0, "a", NULL, NULL,
     "8-bit"},
    {"control in atom", "a SELECT a\x01z", 0, "a", NULL, NULL, "control"},
    {"unbalanced open", "a X (a (b)", 0, "a", NULL, NULL, "missing ')'"},
    {"unbalanced close", "a X a)", 0, "a", NULL, NULL, "unexpected ')'"},
    {"close first", "a X )", 0, "a", NULL, NULL, "unexpected ')'"},
    {"deep nesting", "a X ((((((((((((((((((((x))))))))))))))))))))", 0, "a",
     NULL, NULL, "nested"},
    {"unterminated quote", "a LOGIN \"abc", 0, "a", NULL, NULL, "unterminated"},
    {"bad escape", "a LOGIN \"a\\bc\"", 0, "a", NULL, NULL, "escape"},
    {"short literal", "a LOGIN {10}\r\nabc", 0, "a", NULL, NULL, "shorter"},
    {"literal mid line", "a LOGIN {3} abc", 0, "a", NULL, NULL, "end the line"},
    {"huge literal", "a LOGIN {99999999999}\r\n", 0, "a", NULL, NULL,
     "too large"},
    {"nul in literal", "a LOGIN {3}\r\na\0b", 16, "a", NULL, NULL, "NUL"},
    {"double space", "a LOGIN  x", 0, "a", NULL, NULL, "atom"},
    {"trailing space", "a NOOP ", 0, "a", NULL, NULL, "trailing"},
    {"no command", "a", 0, "a", NULL, NULL, "missing command"},
    {"empty", "", 0, NULL, NULL, NULL, "invalid tag"},
    {"star tag", "* NOOP", 0, NULL, NULL, NULL, "invalid tag"},
    {"plus tag", "+ NOOP", 0, NULL, NULL, NULL, "invalid tag"},
    {"bad name", "a NO-OP", 0, "a", NULL, NULL, "command name"},
    {"quote after atom", "a X ab\"c\"", 0, "a", NULL, NULL, "space"},
};

static void
test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	     i++) {
		const struct parse_case *c = &parse_cases[i];
		struct pool *pool = pool_new(1024);
		struct imap_command cmd;
		const char *tag, *error = NULL;
		size_t len = c->len != 0 ? c->len : strlen(c->input);
		int ret =
		    imap_parser_parse(pool, c->input, len, &cmd, &tag, &error);

		print_message("case: %s\n", c->name);
		if (c->tag == NULL)
			assert_null(tag);
		else
			assert_string_equal(tag, c->tag);
		if (c->cmd == NULL) {
			assert_int_equal(ret, -1);
			assert_non_null(strstr(error, c->error));
		} else {
			struct buf out;

			assert_int_equal(ret, 0);
			assert_string_equal(cmd.name, c->cmd);
			buf_init(&out);
			render(cmd.args, cmd.count, &out);
			assert_string_equal(buf_cstr(&out), c->args);
			buf_free(&out);
		}
		pool_free(&pool);
	}
}

struct literal_case {
	const char *line;
	int ret;
	uint64_t size;
	bool nonsync;
};

static const struct literal_case literal_cases[] = {
    {"a LOGIN {5}", 1, 5, false},
    {"a LOGIN {5+}", 1, 5, true},
    {"a APPEND INBOX ~{12}", 1, 12, false},
    {"a LOGIN {0}", 1, 0, false},
    {"a LOGIN x", 0, 0, false},
    {"a LOGIN x}", 0, 0, false},
    {"a LOGIN {x}", 0, 0, false},
    {"a LOGIN {}", -1, 0, false},
    {"a LOGIN {2000}", -1, 0, false}, /* max is 1000 */
    {"a LOGIN {99999999999}", -1, 0, false},
    {"}", 0, 0, false},
};

static void
test_line_literal(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(literal_cases) / sizeof(literal_cases[0]);
	     i++) {
		const struct literal_case *c = &literal_cases[i];
		uint64_t size = 0;
		bool nonsync = false;
		int ret;

		print_message("case: %s\n", c->line);
		ret = imap_parser_line_literal(c->line, strlen(c->line), 1000,
					       &size, &nonsync);
		assert_int_equal(ret, c->ret);
		if (ret == 1) {
			assert_int_equal(size, c->size);
			assert_int_equal(nonsync, c->nonsync);
		}
	}
}

static void
test_many_args(void **state)
{
	struct pool *pool = pool_new(4096);
	struct imap_command cmd;
	const char *tag, *error;
	struct buf in;

	(void)state;
	buf_init(&in);
	buf_append_str(&in, "a X (");
	for (int i = 0; i < IMAP_PARSER_MAX_ARGS + 10; i++)
		buf_append_str(&in, "x ");
	buf_append_str(&in, "x)");
	assert_int_equal(
	    imap_parser_parse(pool, in.data, in.len, &cmd, &tag, &error), -1);
	assert_non_null(strstr(error, "too many"));
	buf_free(&in);
	pool_free(&pool);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_line_literal),
	    cmocka_unit_test(test_many_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
