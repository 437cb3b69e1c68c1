/*
 * Unit tests for mailstore/pop3_command.c: tables of command lines with the
 * parse they must give or the error they must get, and of message bodies
 * with the RETR/TOP stream they must become.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mailstore/pop3_command.h"

struct parse_case {
	const char *line;
	int ret;
	enum pop3_verb verb;
	const char *arg, *arg2;
	bool has_msg;
	uint32_t msg, lines;
	const char *error; /* substring of the error, when ret < 0 */
};

static const struct parse_case parse_cases[] = {
    {"USER alice@example.test", 0, POP3_VERB_USER, "alice@example.test", "",
     false, 0, 0, NULL},
    {"user bob", 0, POP3_VERB_USER, "bob", "", false, 0, 0, NULL},
    {"USER", -1, POP3_VERB_USER, NULL, NULL, false, 0, 0, "USER name"},
    {"USER ", -1, POP3_VERB_USER, NULL, NULL, false, 0, 0, "USER name"},
    {"USER a b", -1, POP3_VERB_USER, NULL, NULL, false, 0, 0, "USER name"},
    {"USER a\tb", -1, POP3_VERB_USER, NULL, NULL, false, 0, 0, "USER name"},
    {"PASS correct horse", 0, POP3_VERB_PASS, "correct horse", "", false, 0, 0,
     NULL},
    {"PASS  lead", 0, POP3_VERB_PASS, " lead", "", false, 0, 0, NULL},
    {"PASS", -1, POP3_VERB_PASS, NULL, NULL, false, 0, 0, "PASS password"},
    {"PASS ", -1, POP3_VERB_PASS, NULL, NULL, false, 0, 0, "PASS password"},
    {"AUTH", 0, POP3_VERB_AUTH, "", "", false, 0, 0, NULL},
    {"AUTH plain", 0, POP3_VERB_AUTH, "PLAIN", "", false, 0, 0, NULL},
    {"AUTH PLAIN AGEAYg==", 0, POP3_VERB_AUTH, "PLAIN", "AGEAYg==", false, 0, 0,
     NULL},
    {"AUTH LOGIN =", 0, POP3_VERB_AUTH, "LOGIN", "=", false, 0, 0, NULL},
    {"AUTH PLAIN a b", -1, POP3_VERB_AUTH, NULL, NULL, false, 0, 0, "Syntax"},
    {"AUTH PL*IN", -1, POP3_VERB_AUTH, NULL, NULL, false, 0, 0, "mechanism"},
    {"AUTH  PLAIN", -1, POP3_VERB_AUTH, NULL, NULL, false, 0, 0, "Syntax"},
    {"STLS", 0, POP3_VERB_STLS, "", "", false, 0, 0, NULL},
    {"stls now", -1, POP3_VERB_STLS, NULL, NULL, false, 0, 0, "No arguments"},
    {"CAPA", 0, POP3_VERB_CAPA, "", "", false, 0, 0, NULL},
    {"QUIT", 0, POP3_VERB_QUIT, "", "", false, 0, 0, NULL},
    {"QUIT ", -1, POP3_VERB_QUIT, NULL, NULL, false, 0, 0, "No arguments"},
    {"STAT", 0, POP3_VERB_STAT, "", "", false, 0, 0, NULL},
    {"NOOP", 0, POP3_VERB_NOOP, "", "", false, 0, 0, NULL},
    {"RSET", 0, POP3_VERB_RSET, "", "", false, 0, 0, NULL},
    {"LIST", 0, POP3_VERB_LIST, "", "", false, 0, 0, NULL},
    {"LIST 2", 0, POP3_VERB_LIST, "", "", true, 2, 0, NULL},
    {"LIST 0", -1, POP3_VERB_LIST, NULL, NULL, true, 0, 0, "message number"},
    {"LIST -1", -1, POP3_VERB_LIST, NULL, NULL, true, 0, 0, "message number"},
    {"LIST +1", -1, POP3_VERB_LIST, NULL, NULL, true, 0, 0, "message number"},
    {"LIST 1 2", -1, POP3_VERB_LIST, NULL, NULL, false, 0, 0, "Too many"},
    {"LIST 9999999999", -1, POP3_VERB_LIST, NULL, NULL, true, 0, 0,
     "message number"},
    {"LIST 999999999", 0, POP3_VERB_LIST, "", "", true, 999999999, 0, NULL},
    {"UIDL", 0, POP3_VERB_UIDL, "", "", false, 0, 0, NULL},
    {"uidl 7", 0, POP3_VERB_UIDL, "", "", true, 7, 0, NULL},
    {"RETR 1", 0, POP3_VERB_RETR, "", "", true, 1, 0, NULL},
    {"RETR", -1, POP3_VERB_RETR, NULL, NULL, false, 0, 0, "Syntax"},
    {"RETR x", -1, POP3_VERB_RETR, NULL, NULL, true, 0, 0, "message number"},
    {"RETR 1 ", -1, POP3_VERB_RETR, NULL, NULL, true, 0, 0, "Syntax"},
    {"DELE 3", 0, POP3_VERB_DELE, "", "", true, 3, 0, NULL},
    {"TOP 1 0", 0, POP3_VERB_TOP, "", "", true, 1, 0, NULL},
    {"TOP 2 10", 0, POP3_VERB_TOP, "", "", true, 2, 10, NULL},
    {"TOP 2", -1, POP3_VERB_TOP, NULL, NULL, true, 0, 0, "Syntax"},
    {"TOP 2 x", -1, POP3_VERB_TOP, NULL, NULL, true, 2, 0, "line count"},
    {"TOP 2 -1", -1, POP3_VERB_TOP, NULL, NULL, true, 2, 0, "line count"},
    {"LAST", -1, POP3_VERB_UNKNOWN, NULL, NULL, false, 0, 0, "Unknown"},
    {"APOP a b", -1, POP3_VERB_UNKNOWN, NULL, NULL, false, 0, 0, "Unknown"},
    {"", -1, POP3_VERB_UNKNOWN, NULL, NULL, false, 0, 0, "Unknown"},
    {" STAT", -1, POP3_VERB_UNKNOWN, NULL, NULL, false, 0, 0, "Unknown"},
    {"STATS", -1, POP3_VERB_UNKNOWN, NULL, NULL, false, 0, 0, "Unknown"},
    {"ST", -1, POP3_VERB_UNKNOWN, NULL, NULL, false, 0, 0, "Unknown"},
};

static void
test_parse(void **state)
{
	static struct pop3_command cmd;
	const char *error;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		int ret =
		    pop3_command_parse(c->line, strlen(c->line), &cmd, &error);

		if (ret != c->ret)
			fail_msg("case %zu \"%s\": ret %d", i, c->line, ret);
		if (ret < 0) {
			if (strstr(error, c->error) == NULL)
				fail_msg("case %zu \"%s\": error \"%s\"", i,
					 c->line, error);
			continue;
		}
		assert_int_equal(cmd.verb, c->verb);
		assert_string_equal(cmd.arg, c->arg);
		assert_string_equal(cmd.arg2, c->arg2);
		assert_int_equal(cmd.has_msg, c->has_msg);
		assert_int_equal(cmd.msg, c->msg);
		assert_int_equal(cmd.lines, c->lines);
	}
}

static void
test_limits(void **state)
{
	static struct pop3_command cmd;
	static char line[POP3_AUTH_LINE_MAX + 16];
	const char *error;

	(void)state;
	/* a USER line of exactly the limit passes, one more octet fails */
	memset(line, 'a', sizeof(line));
	memcpy(line, "USER ", 5);
	assert_int_equal(
	    pop3_command_parse(line, POP3_COMMAND_LINE_MAX, &cmd, &error), 0);
	assert_int_equal(
	    pop3_command_parse(line, POP3_COMMAND_LINE_MAX + 1, &cmd, &error),
	    -1);
	assert_string_equal(error, "Line too long");
	/* AUTH may be longer */
	memcpy(line, "AUTH PLAIN ", 11);
	assert_int_equal(
	    pop3_command_parse(line, POP3_AUTH_LINE_MAX, &cmd, &error), 0);
	assert_int_equal(
	    pop3_command_parse(line, POP3_AUTH_LINE_MAX + 1, &cmd, &error), -1);
	/* NUL inside */
	assert_int_equal(pop3_command_parse("USER a\0b", 8, &cmd, &error), -1);
	assert_string_equal(error, "NUL in command");
	/* len is honoured: no read past it */
	assert_int_equal(pop3_command_parse("STATxyz", 4, &cmd, &error), 0);
	assert_int_equal(cmd.verb, POP3_VERB_STAT);
	assert_string_equal(pop3_verb_name(POP3_VERB_UIDL), "UIDL");
}

struct dot_case {
	const char *name;
	const char *in;
	long lines;
	const char *want;
};

static const struct dot_case dot_cases[] = {
    {"crlf", "A: b\r\n\r\nbody\r\n", -1, "A: b\r\n\r\nbody\r\n.\r\n"},
    {"lf", "A: b\n\nbody\n", -1, "A: b\r\n\r\nbody\r\n.\r\n"},
    {"stuffing", "A: b\r\n\r\n.\r\n..x\r\n.\r\n", -1,
     "A: b\r\n\r\n..\r\n...x\r\n..\r\n.\r\n"},
    {"no final eol", "A: b\r\n\r\nlast", -1, "A: b\r\n\r\nlast\r\n.\r\n"},
    {"final cr", "A: b\r\n\r\nlast\r", -1, "A: b\r\n\r\nlast\r\n.\r\n"},
    {"bare cr kept", "A: b\r\n\r\nx\ry\r\n", -1, "A: b\r\n\r\nx\ry\r\n.\r\n"},
    {"empty", "", -1, ".\r\n"},
    {"top 0", "A: b\r\nC: d\r\n\r\n1\r\n2\r\n", 0, "A: b\r\nC: d\r\n\r\n.\r\n"},
    {"top 1", "A: b\r\n\r\n1\r\n2\r\n", 1, "A: b\r\n\r\n1\r\n.\r\n"},
    {"top more than body", "A: b\r\n\r\n1\r\n", 5, "A: b\r\n\r\n1\r\n.\r\n"},
    {"top stuffed", "A: b\n\n.1\n.2\n", 1, "A: b\r\n\r\n..1\r\n.\r\n"},
    {"top no body", "A: b\r\n", 3, "A: b\r\n.\r\n"},
    {"top cr line is not empty", "A: b\r\n\rx\r\n\r\n1\r\n2\r\n", 1,
     "A: b\r\n\rx\r\n\r\n1\r\n.\r\n"},
};

static void
test_dot(void **state)
{
	char out[512];
	size_t i, split;

	(void)state;
	for (i = 0; i < sizeof(dot_cases) / sizeof(dot_cases[0]); i++) {
		const struct dot_case *c = &dot_cases[i];
		size_t len = strlen(c->in);

		/* every split point: the state carries across chunks */
		for (split = 0; split <= len; split++) {
			struct pop3_dot st;
			size_t o;

			pop3_dot_init(&st, c->lines);
			o = pop3_dot_feed(&st, c->in, split, out);
			o += pop3_dot_feed(&st, c->in + split, len - split,
					   out + o);
			o += pop3_dot_finish(&st, out + o);
			out[o] = '\0';
			if (strcmp(out, c->want) != 0)
				fail_msg("case %s split %zu: got \"%s\"",
					 c->name, split, out);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_dot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
