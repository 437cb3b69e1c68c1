/*
 * pop3_command: one POP3 command line into a struct pop3_command, and the
 * dot-stuffing transform for RETR/TOP. The parser copies the line into the
 * struct (at most POP3_AUTH_LINE_MAX bytes), never reads past len, never
 * allocates. It is strict: one space between arguments (RFC 1939 3), no
 * trailing garbage, numbers without sign or leading '+', and no LAST or
 * APOP (RFC 1939 lists them as optional; Moat offers neither). Called by
 * pop3_session for every line; fuzzed by tests/fuzz/fuzz_pop3_command.c.
 */
#include "mailstore/pop3_command.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	enum pop3_verb verb;
} verbs[] = {
    {"USER", POP3_VERB_USER}, {"PASS", POP3_VERB_PASS},
    {"AUTH", POP3_VERB_AUTH}, {"STLS", POP3_VERB_STLS},
    {"CAPA", POP3_VERB_CAPA}, {"QUIT", POP3_VERB_QUIT},
    {"STAT", POP3_VERB_STAT}, {"LIST", POP3_VERB_LIST},
    {"RETR", POP3_VERB_RETR}, {"DELE", POP3_VERB_DELE},
    {"NOOP", POP3_VERB_NOOP}, {"RSET", POP3_VERB_RSET},
    {"TOP", POP3_VERB_TOP},   {"UIDL", POP3_VERB_UIDL},
};

const char *
pop3_verb_name(enum pop3_verb verb)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == verb)
			return verbs[i].name;
	return "UNKNOWN";
}

/* Decimal without sign, 1..POP3_NUMBER_DIGITS_MAX digits. */
static int
parse_number(const char *s, uint32_t *value_r)
{
	uint32_t v = 0;
	size_t n = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++, n++) {
		if (*s < '0' || *s > '9' || n >= POP3_NUMBER_DIGITS_MAX)
			return -1;
		v = v * 10 + (uint32_t)(*s - '0');
	}
	*value_r = v;
	return 0;
}

/* A message number: a number >= 1. */
static int
parse_msg(const char *s, uint32_t *msg_r, const char **error_r)
{
	if (parse_number(s, msg_r) < 0 || *msg_r == 0) {
		*error_r = "Invalid message number";
		return -1;
	}
	return 0;
}

/* Splits the next space-separated argument off *p; NULL at the end. */
static char *
next_arg(char **p)
{
	char *start = *p, *sp;

	if (start == NULL)
		return NULL;
	sp = strchr(start, ' ');
	if (sp != NULL) {
		*sp = '\0';
		*p = sp + 1;
	} else {
		*p = NULL;
	}
	return start;
}

static bool
printable_no_space(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

int
pop3_command_parse(const char *line, size_t len, struct pop3_command *cmd,
		   const char **error_r)
{
	char *p, *kw, *a, *b;
	size_t i, kwlen;

	memset(cmd, 0, offsetof(struct pop3_command, buf));
	cmd->verb = POP3_VERB_UNKNOWN;
	cmd->arg = cmd->arg2 = "";
	cmd->buf[0] = '\0';
	if (len > POP3_AUTH_LINE_MAX) {
		*error_r = "Line too long";
		return -1;
	}
	if (memchr(line, '\0', len) != NULL) {
		*error_r = "NUL in command";
		return -1;
	}
	memcpy(cmd->buf, line, len);
	cmd->buf[len] = '\0';
	p = cmd->buf;
	kw = next_arg(&p);
	kwlen = strlen(kw);
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (kwlen == strlen(verbs[i].name) &&
		    strcasecmp(kw, verbs[i].name) == 0) {
			cmd->verb = verbs[i].verb;
			break;
		}
	}
	if (cmd->verb == POP3_VERB_UNKNOWN) {
		*error_r = "Unknown command";
		return -1;
	}
	if (cmd->verb != POP3_VERB_AUTH && len > POP3_COMMAND_LINE_MAX) {
		cmd->verb = POP3_VERB_UNKNOWN;
		*error_r = "Line too long";
		return -1;
	}
	switch (cmd->verb) {
	case POP3_VERB_STLS:
	case POP3_VERB_CAPA:
	case POP3_VERB_QUIT:
	case POP3_VERB_STAT:
	case POP3_VERB_NOOP:
	case POP3_VERB_RSET:
		if (p != NULL) {
			*error_r = "No arguments allowed";
			return -1;
		}
		return 0;
	case POP3_VERB_USER:
		a = next_arg(&p);
		if (a == NULL || *a == '\0' || p != NULL ||
		    !printable_no_space(a)) {
			*error_r = "Syntax: USER name";
			return -1;
		}
		cmd->arg = a;
		return 0;
	case POP3_VERB_PASS:
		/* RFC 1939 7: the whole rest is the password. */
		if (p == NULL || *p == '\0') {
			*error_r = "Syntax: PASS password";
			return -1;
		}
		cmd->arg = p;
		return 0;
	case POP3_VERB_AUTH:
		a = next_arg(&p);
		b = next_arg(&p);
		if (p != NULL || (a != NULL && *a == '\0') ||
		    (b != NULL && *b == '\0')) {
			*error_r = "Syntax: AUTH mechanism [initial-response]";
			return -1;
		}
		if (a != NULL) {
			for (char *c = a; *c != '\0'; c++) {
				if (*c >= 'a' && *c <= 'z')
					*c = (char)(*c - 'a' + 'A');
				else if (!((*c >= 'A' && *c <= 'Z') ||
					   (*c >= '0' && *c <= '9') ||
					   *c == '-' || *c == '_')) {
					*error_r = "Invalid mechanism name";
					return -1;
				}
			}
			cmd->arg = a;
		}
		if (b != NULL)
			cmd->arg2 = b;
		if (a == NULL && b != NULL) {
			*error_r = "Syntax: AUTH mechanism [initial-response]";
			return -1;
		}
		return 0;
	case POP3_VERB_LIST:
	case POP3_VERB_UIDL:
		a = next_arg(&p);
		if (a == NULL)
			return 0;
		if (p != NULL) {
			*error_r = "Too many arguments";
			return -1;
		}
		cmd->has_msg = true;
		return parse_msg(a, &cmd->msg, error_r);
	case POP3_VERB_RETR:
	case POP3_VERB_DELE:
		a = next_arg(&p);
		if (a == NULL || p != NULL) {
			*error_r = "Syntax: RETR|DELE msg";
			return -1;
		}
		cmd->has_msg = true;
		return parse_msg(a, &cmd->msg, error_r);
	case POP3_VERB_TOP:
		a = next_arg(&p);
		b = next_arg(&p);
		if (a == NULL || b == NULL || p != NULL) {
			*error_r = "Syntax: TOP msg n";
			return -1;
		}
		cmd->has_msg = true;
		if (parse_msg(a, &cmd->msg, error_r) < 0)
			return -1;
		if (parse_number(b, &cmd->lines) < 0) {
			*error_r = "Invalid line count";
			return -1;
		}
		return 0;
	case POP3_VERB_UNKNOWN:
		break;
	}
	*error_r = "Unknown command";
	return -1;
}

void
pop3_dot_init(struct pop3_dot *st, long lines)
{
	memset(st, 0, sizeof(*st));
	st->bol = true;
	st->in_header = true;
	if (lines >= 0) {
		st->limited = true;
		st->lines_left =
		    lines > (long)UINT32_MAX ? UINT32_MAX : (uint32_t)lines;
	}
}

/* A line ended (its CRLF is out). */
static void
dot_line_end(struct pop3_dot *st)
{
	if (st->in_header) {
		if (st->line_len == 0) {
			st->in_header = false;
			if (st->limited && st->lines_left == 0)
				st->done = true;
		}
	} else if (st->limited) {
		if (st->lines_left > 0)
			st->lines_left--;
		if (st->lines_left == 0)
			st->done = true;
	}
	st->line_len = 0;
	st->bol = true;
}

size_t
pop3_dot_feed(struct pop3_dot *st, const char *in, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len && !st->done; i++) {
		char c = in[i];

		if (c == '\n') {
			if (!st->cr)
				out[o++] = '\r';
			out[o++] = '\n';
			st->cr = false;
			dot_line_end(st);
			continue;
		}
		if (st->cr) {
			/* a bare CR inside a line counts as line content */
			st->line_len++;
		}
		st->cr = c == '\r';
		if (st->bol && c == '.')
			out[o++] = '.';
		st->bol = false;
		out[o++] = c;
		if (c != '\r')
			st->line_len++;
	}
	return o;
}

size_t
pop3_dot_finish(struct pop3_dot *st, char *out)
{
	size_t o = 0;

	if (!st->bol) {
		if (!st->cr)
			out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}
