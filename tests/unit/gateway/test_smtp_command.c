/*
 * Unit tests for gateway/smtp_command.c: a table of command lines with the
 * verb, path and parameters or the error reply each must produce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/smtp_command.h"

struct command_case {
	const char *name;
	const char *line;
	size_t len; /* 0 = strlen(line) */
	unsigned int flags;
	enum smtp_verb verb; /* on success */
	const char *path;    /* MAIL/RCPT path or NULL */
	const char *arg;     /* expected arg or NULL */
	const char *reply;   /* expected error reply or NULL for success */
};

static const struct command_case cases[] = {
    {"helo", "HELO client.example", 0, 0, SMTP_VERB_HELO, NULL,
     "client.example", NULL},
    {"ehlo lower case", "ehlo client.example", 0, 0, SMTP_VERB_EHLO, NULL,
     "client.example", NULL},
    {"ehlo trailing spaces", "EHLO x.example   ", 0, 0, SMTP_VERB_EHLO, NULL,
     "x.example", NULL},
    {"ehlo address literal", "EHLO [192.0.2.1]", 0, 0, SMTP_VERB_EHLO, NULL,
     "[192.0.2.1]", NULL},
    {"ehlo missing", "EHLO", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Syntax: EHLO hostname"},
    {"helo missing", "HELO ", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Syntax: HELO hostname"},
    {"mail simple", "MAIL FROM:<a@b.example>", 0, 0, SMTP_VERB_MAIL,
     "a@b.example", NULL, NULL},
    {"mail space after colon", "MAIL FROM: <a@b.example>", 0, 0, SMTP_VERB_MAIL,
     "a@b.example", NULL, NULL},
    {"mail lower case", "mail from:<a@B.Example>", 0, 0, SMTP_VERB_MAIL,
     "a@b.example", NULL, NULL},
    {"mail null sender", "MAIL FROM:<>", 0, 0, SMTP_VERB_MAIL, "", NULL, NULL},
    {"mail source route", "MAIL FROM:<@r1.example,@r2.example:a@b.example>", 0,
     0, SMTP_VERB_MAIL, "a@b.example", NULL, NULL},
    {"mail no brackets", "MAIL FROM:a@b.example", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Syntax: MAIL FROM:<address>"},
    {"mail no colon", "MAIL FROM <a@b.example>", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Syntax: MAIL FROM:<address>"},
    {"mail unclosed", "MAIL FROM:<a@b.example", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Syntax: MAIL FROM:<address>"},
    {"mail garbage after path", "MAIL FROM:<a@b.example>x", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Syntax: MAIL FROM:<address>"},
    {"mail bad address", "MAIL FROM:<a..b@b.example>", 0, 0, 0, NULL, NULL,
     "501 5.1.7 Bad sender address syntax"},
    {"mail no domain", "MAIL FROM:<ab>", 0, 0, 0, NULL, NULL,
     "501 5.1.7 Bad sender address syntax"},
    {"mail size", "MAIL FROM:<a@b.example> SIZE=1000", 0, 0, SMTP_VERB_MAIL,
     "a@b.example", NULL, NULL},
    {"mail size bad", "MAIL FROM:<a@b.example> SIZE=12x", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Bad SIZE parameter"},
    {"mail size huge", "MAIL FROM:<a@b.example> SIZE=99999999999999999999", 0,
     0, 0, NULL, NULL, "501 5.5.4 Bad SIZE parameter"},
    {"mail body 8bit", "MAIL FROM:<a@b.example> BODY=8BITMIME", 0, 0,
     SMTP_VERB_MAIL, "a@b.example", NULL, NULL},
    {"mail body bad", "MAIL FROM:<a@b.example> BODY=9BIT", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Bad BODY parameter"},
    {"mail unknown param", "MAIL FROM:<a@b.example> FOO=bar", 0, 0, 0, NULL,
     NULL, "555 5.5.4 Unsupported parameter"},
    {"mail rcpt param", "MAIL FROM:<a@b.example> NOTIFY=NEVER", 0, 0, 0, NULL,
     NULL, "555 5.5.4 Unsupported parameter"},
    {"mail duplicate param", "MAIL FROM:<a@b.example> SIZE=1 SIZE=2", 0, 0, 0,
     NULL, NULL, "501 5.5.4 Duplicate parameter"},
    {"mail dsn params",
     "MAIL FROM:<a@b.example> RET=hdrs ENVID=QQ314159 AUTH=<>", 0, 0,
     SMTP_VERB_MAIL, "a@b.example", NULL, NULL},
    {"mail ret bad", "MAIL FROM:<a@b.example> RET=ALL", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Bad RET parameter"},
    {"mail utf8 without smtputf8", "MAIL FROM:<j\xc3\xb8rn@b.example>", 0, 0, 0,
     NULL, NULL, "501 5.1.7 Bad sender address syntax"},
    {"mail utf8 with smtputf8", "MAIL FROM:<j\xc3\xb8rn@b.example> SMTPUTF8", 0,
     0, SMTP_VERB_MAIL, "j\xc3\xb8rn@b.example", NULL, NULL},
    {"mail bad utf8 with smtputf8", "MAIL FROM:<j\xc3@b.example> SMTPUTF8", 0,
     0, 0, NULL, NULL, "501 5.1.7 Bad sender address syntax"},
    {"mail smtputf8 with value", "MAIL FROM:<a@b.example> SMTPUTF8=yes", 0, 0,
     0, NULL, NULL, "501 5.5.4 SMTPUTF8 takes no value"},
    {"mail quoted local", "MAIL FROM:<\"a b>c\"@b.example>", 0, 0,
     SMTP_VERB_MAIL, "\"a b>c\"@b.example", NULL, NULL},
    {"rcpt simple", "RCPT TO:<u@d.example>", 0, 0, SMTP_VERB_RCPT,
     "u@d.example", NULL, NULL},
    {"rcpt postmaster", "RCPT TO:<Postmaster>", 0, 0, SMTP_VERB_RCPT,
     "Postmaster", NULL, NULL},
    {"rcpt empty", "RCPT TO:<>", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Syntax: RCPT TO:<address>"},
    {"rcpt notify orcpt",
     "RCPT TO:<u@d.example> NOTIFY=success,failure ORCPT=rfc822;u@d.example", 0,
     0, SMTP_VERB_RCPT, "u@d.example", NULL, NULL},
    {"rcpt notify bad", "RCPT TO:<u@d.example> NOTIFY=SOMETIMES", 0, 0, 0, NULL,
     NULL, "501 5.5.4 Bad NOTIFY parameter"},
    {"rcpt orcpt bad", "RCPT TO:<u@d.example> ORCPT=nosemicolon", 0, 0, 0, NULL,
     NULL, "501 5.5.4 Bad ORCPT parameter"},
    {"rcpt size param", "RCPT TO:<u@d.example> SIZE=10", 0, 0, 0, NULL, NULL,
     "555 5.5.4 Unsupported parameter"},
    {"rcpt utf8 with flag", "RCPT TO:<\xc3\xa9@d.example>", 0,
     SMTP_COMMAND_FLAG_UTF8, SMTP_VERB_RCPT, "\xc3\xa9@d.example", NULL, NULL},
    {"rcpt utf8 without flag", "RCPT TO:<\xc3\xa9@d.example>", 0, 0, 0, NULL,
     NULL, "501 5.1.3 Bad recipient address syntax"},
    {"rcpt address literal", "RCPT TO:<u@[192.0.2.7]>", 0, 0, SMTP_VERB_RCPT,
     "u@[192.0.2.7]", NULL, NULL},
    {"data", "DATA", 0, 0, SMTP_VERB_DATA, NULL, NULL, NULL},
    {"data with arg", "DATA now", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Syntax: DATA"},
    {"rset", "rset", 0, 0, SMTP_VERB_RSET, NULL, NULL, NULL},
    {"quit", "QUIT", 0, 0, SMTP_VERB_QUIT, NULL, NULL, NULL},
    {"noop with arg", "NOOP hello", 0, 0, SMTP_VERB_NOOP, NULL, "hello", NULL},
    {"vrfy", "VRFY root", 0, 0, SMTP_VERB_VRFY, NULL, "root", NULL},
    {"vrfy missing", "VRFY", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Syntax: VRFY address"},
    {"expn", "EXPN list", 0, 0, SMTP_VERB_EXPN, NULL, "list", NULL},
    {"help", "HELP", 0, 0, SMTP_VERB_HELP, NULL, "", NULL},
    {"starttls", "STARTTLS", 0, 0, SMTP_VERB_STARTTLS, NULL, NULL, NULL},
    {"starttls arg", "STARTTLS now", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Syntax: STARTTLS"},
    {"bdat", "BDAT 100", 0, 0, SMTP_VERB_BDAT, NULL, NULL, NULL},
    {"bdat last", "BDAT 0 LAST", 0, 0, SMTP_VERB_BDAT, NULL, NULL, NULL},
    {"bdat bad", "BDAT x", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Syntax: BDAT size [LAST]"},
    {"bdat bad trailer", "BDAT 10 FIRST", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Syntax: BDAT size [LAST]"},
    {"auth plain initial", "AUTH plain AGEAYg==", 0, 0, SMTP_VERB_AUTH, NULL,
     NULL, NULL},
    {"auth missing", "AUTH", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Syntax: AUTH mechanism"},
    {"unknown verb", "XFORWARD ADDR=1.2.3.4", 0, 0, 0, NULL, NULL,
     "500 5.5.1 Command unrecognized"},
    {"xclient missing", "XCLIENT", 0, 0, 0, NULL, NULL,
     "501 5.5.4 Syntax: XCLIENT attribute=value"},
    {"empty line", "", 0, 0, 0, NULL, NULL, "500 5.5.1 Command unrecognized"},
    {"verb prefix", "MAILX FROM:<a@b.example>", 0, 0, 0, NULL, NULL,
     "500 5.5.1 Command unrecognized"},
    {"nul byte", "NOOP a\0b", 8, 0, 0, NULL, NULL,
     "500 5.5.2 NUL byte in command"},
};

static void
test_table(void **state)
{
	struct smtp_command cmd;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct command_case *c = &cases[i];
		const char *reply = NULL;
		size_t len = c->len != 0 ? c->len : strlen(c->line);
		int ret =
		    smtp_command_parse(c->line, len, c->flags, &cmd, &reply);

		if (c->reply != NULL) {
			if (ret != -1)
				print_message("case %s\n", c->name);
			assert_int_equal(ret, -1);
			assert_string_equal(reply, c->reply);
			continue;
		}
		if (ret != 0)
			print_message("case %s: %s\n", c->name, reply);
		assert_int_equal(ret, 0);
		assert_int_equal(cmd.verb, c->verb);
		if (c->path != NULL)
			assert_string_equal(cmd.path, c->path);
		if (c->arg != NULL)
			assert_string_equal(cmd.arg, c->arg);
	}
	assert_true(sizeof(cases) / sizeof(cases[0]) >= 40);
}

static void
test_params(void **state)
{
	struct smtp_command cmd;
	const char *reply;
	const char *line = "MAIL FROM:<a@b.example> SIZE=1234 BODY=8bitmime "
			   "SMTPUTF8 RET=full ENVID=x+2By AUTH=u@b.example";

	(void)state;
	assert_int_equal(
	    smtp_command_parse(line, strlen(line), 0, &cmd, &reply), 0);
	assert_true(cmd.has_size);
	assert_true(cmd.size == 1234);
	assert_int_equal(cmd.body, SMTP_BODY_8BITMIME);
	assert_true(cmd.smtputf8);
	assert_string_equal(cmd.ret, "FULL");
	assert_string_equal(cmd.envid, "x+2By");
	assert_string_equal(cmd.auth, "u@b.example");
	assert_int_equal(cmd.param_count, 6);
	assert_string_equal(cmd.params[1].key, "BODY");

	line = "RCPT TO:<u@d.example> NOTIFY=delay ORCPT=rfc822;u+40d";
	assert_int_equal(
	    smtp_command_parse(line, strlen(line), 0, &cmd, &reply), 0);
	assert_string_equal(cmd.notify, "DELAY");
	assert_string_equal(cmd.orcpt, "rfc822;u+40d");

	line = "BDAT 4096 last";
	assert_int_equal(
	    smtp_command_parse(line, strlen(line), 0, &cmd, &reply), 0);
	assert_true(cmd.chunk_size == 4096);
	assert_true(cmd.last);

	line = "AUTH login";
	assert_int_equal(
	    smtp_command_parse(line, strlen(line), 0, &cmd, &reply), 0);
	assert_string_equal(cmd.auth_mechanism, "LOGIN");
	assert_string_equal(cmd.auth_initial, "");
	line = "AUTH PLAIN =";
	assert_int_equal(
	    smtp_command_parse(line, strlen(line), 0, &cmd, &reply), 0);
	assert_string_equal(cmd.auth_initial, "=");
}

static void
test_lengths(void **state)
{
	static char line[SMTP_COMMAND_AUTH_LINE_MAX + 10];
	struct smtp_command cmd;
	const char *reply;

	(void)state;
	memset(line, 'a', sizeof(line));
	memcpy(line, "NOOP ", 5);
	assert_int_equal(
	    smtp_command_parse(line, SMTP_COMMAND_LINE_MAX, 0, &cmd, &reply),
	    0);
	assert_int_equal(smtp_command_parse(line, SMTP_COMMAND_LINE_MAX + 1, 0,
					    &cmd, &reply),
			 -1);
	assert_string_equal(reply, "500 5.5.2 Line too long");

	memcpy(line, "AUTH PLAIN ", 11);
	assert_int_equal(smtp_command_parse(line, SMTP_COMMAND_AUTH_LINE_MAX, 0,
					    &cmd, &reply),
			 0);
	assert_int_equal(smtp_command_parse(line,
					    SMTP_COMMAND_AUTH_LINE_MAX + 1, 0,
					    &cmd, &reply),
			 -1);
	assert_string_equal(reply, "500 5.5.2 Line too long");

	/* A 65-octet local part is one too many. */
	snprintf(line, sizeof(line), "MAIL FROM:<%065d@b.example>", 0);
	assert_int_equal(
	    smtp_command_parse(line, strlen(line), 0, &cmd, &reply), -1);
	assert_string_equal(reply, "501 5.1.7 Bad sender address syntax");
	snprintf(line, sizeof(line), "MAIL FROM:<%064d@b.example>", 0);
	assert_int_equal(
	    smtp_command_parse(line, strlen(line), 0, &cmd, &reply), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_params),
	    cmocka_unit_test(test_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
