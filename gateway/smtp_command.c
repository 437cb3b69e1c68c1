/*
 * smtp_command: turns one command line into a struct smtp_command. The
 * parser is pure and bounded: it copies the line into the struct (at most
 * SMTP_COMMAND_AUTH_LINE_MAX bytes), never reads past len, never allocates,
 * and every failure is a finished SMTP reply. It is lenient where real
 * clients are sloppy (verb case, "MAIL FROM: <a>" with a space after the
 * colon, trailing spaces) and strict elsewhere (angle brackets required,
 * parameters validated, UTF-8 only with SMTPUTF8). Called by smtp_session
 * for every command line; fuzzed by tests/fuzz/fuzz_smtp_command.c.
 */
#include "gateway/smtp_command.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
    {"HELO", SMTP_VERB_HELO},	      {"EHLO", SMTP_VERB_EHLO},
    {"MAIL", SMTP_VERB_MAIL},	      {"RCPT", SMTP_VERB_RCPT},
    {"DATA", SMTP_VERB_DATA},	      {"BDAT", SMTP_VERB_BDAT},
    {"RSET", SMTP_VERB_RSET},	      {"NOOP", SMTP_VERB_NOOP},
    {"QUIT", SMTP_VERB_QUIT},	      {"VRFY", SMTP_VERB_VRFY},
    {"EXPN", SMTP_VERB_EXPN},	      {"HELP", SMTP_VERB_HELP},
    {"STARTTLS", SMTP_VERB_STARTTLS}, {"AUTH", SMTP_VERB_AUTH},
    {"XCLIENT", SMTP_VERB_XCLIENT},
};

const char *
smtp_verb_name(enum smtp_verb verb)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (verbs[i].verb == verb)
			return verbs[i].name;
	}
	return "UNKNOWN";
}

static void
upper_ascii(char *s)
{
	for (; *s != '\0'; s++) {
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
	}
}

static bool
is_digits(const char *s, size_t max)
{
	size_t n = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++, n++) {
		if (*s < '0' || *s > '9' || n >= max)
			return false;
	}
	return true;
}

static bool
is_keyword(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	}
	return true;
}

/* esmtp-value: 1*(%d33-60 / %d62-126), UTF-8 tolerated (RFC 6531). */
static bool
is_esmtp_value(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 33 || c == '=' || c == 127)
			return false;
	}
	return true;
}

static bool
notify_valid(const char *v)
{
	char tmp[64];
	char *tok, *save = NULL;
	size_t n = strlen(v);

	if (strcasecmp(v, "NEVER") == 0)
		return true;
	if (n >= sizeof(tmp))
		return false;
	memcpy(tmp, v, n + 1);
	if (tmp[0] == ',' || tmp[n - 1] == ',' || strstr(tmp, ",,") != NULL)
		return false;
	for (tok = strtok_r(tmp, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (strcasecmp(tok, "SUCCESS") != 0 &&
		    strcasecmp(tok, "FAILURE") != 0 &&
		    strcasecmp(tok, "DELAY") != 0)
			return false;
	}
	return true;
}

static int
param_apply(struct smtp_command *cmd, struct smtp_param *p,
	    const char **reply_r)
{
	const char *v = p->value;
	size_t i;

	for (i = 0; i + 1 < cmd->param_count; i++) {
		if (strcmp(cmd->params[i].key, p->key) == 0) {
			*reply_r = "501 5.5.4 Duplicate parameter";
			return -1;
		}
	}
	if (cmd->verb == SMTP_VERB_MAIL) {
		if (strcmp(p->key, "SIZE") == 0) {
			if (v == NULL || !is_digits(v, 19)) {
				*reply_r = "501 5.5.4 Bad SIZE parameter";
				return -1;
			}
			cmd->has_size = true;
			cmd->size = strtoull(v, NULL, 10);
			return 0;
		}
		if (strcmp(p->key, "BODY") == 0) {
			if (v != NULL && strcasecmp(v, "7BIT") == 0)
				cmd->body = SMTP_BODY_7BIT;
			else if (v != NULL && strcasecmp(v, "8BITMIME") == 0)
				cmd->body = SMTP_BODY_8BITMIME;
			else if (v != NULL && strcasecmp(v, "BINARYMIME") == 0)
				cmd->body = SMTP_BODY_BINARYMIME;
			else {
				*reply_r = "501 5.5.4 Bad BODY parameter";
				return -1;
			}
			return 0;
		}
		if (strcmp(p->key, "SMTPUTF8") == 0) {
			if (v != NULL) {
				*reply_r = "501 5.5.4 SMTPUTF8 takes no value";
				return -1;
			}
			cmd->smtputf8 = true;
			return 0;
		}
		if (strcmp(p->key, "RET") == 0) {
			if (v == NULL || (strcasecmp(v, "FULL") != 0 &&
					  strcasecmp(v, "HDRS") != 0)) {
				*reply_r = "501 5.5.4 Bad RET parameter";
				return -1;
			}
			upper_ascii((char *)v);
			cmd->ret = v;
			return 0;
		}
		if (strcmp(p->key, "ENVID") == 0) {
			if (v == NULL || strlen(v) > 100) {
				*reply_r = "501 5.5.4 Bad ENVID parameter";
				return -1;
			}
			cmd->envid = v;
			return 0;
		}
		if (strcmp(p->key, "AUTH") == 0) {
			if (v == NULL) {
				*reply_r = "501 5.5.4 Bad AUTH parameter";
				return -1;
			}
			cmd->auth = v;
			return 0;
		}
	} else {
		if (strcmp(p->key, "NOTIFY") == 0) {
			if (v == NULL || !notify_valid(v)) {
				*reply_r = "501 5.5.4 Bad NOTIFY parameter";
				return -1;
			}
			upper_ascii((char *)v);
			cmd->notify = v;
			return 0;
		}
		if (strcmp(p->key, "ORCPT") == 0) {
			const char *semi = v != NULL ? strchr(v, ';') : NULL;
			if (semi == NULL || semi == v || semi[1] == '\0' ||
			    strlen(v) > 500) {
				*reply_r = "501 5.5.4 Bad ORCPT parameter";
				return -1;
			}
			cmd->orcpt = v;
			return 0;
		}
	}
	*reply_r = "555 5.5.4 Unsupported parameter";
	return -1;
}

/* Parses "FROM:<path> params" / "TO:<path> params" at s. */
static int
parse_path_command(struct smtp_command *cmd, char *s, unsigned int flags,
		   const char **reply_r)
{
	bool mail = cmd->verb == SMTP_VERB_MAIL;
	const char *kw = mail ? "FROM:" : "TO:";
	const char *syntax = mail ? "501 5.5.4 Syntax: MAIL FROM:<address>"
				  : "501 5.5.4 Syntax: RCPT TO:<address>";
	const char *error;
	char *path, *end, *tok;
	size_t kwlen = strlen(kw), path_len;
	bool in_quote = false, utf8;

	if (strncasecmp(s, kw, kwlen) != 0) {
		*reply_r = syntax;
		return -1;
	}
	s += kwlen;
	while (*s == ' ')
		s++;
	if (*s != '<') {
		*reply_r = syntax;
		return -1;
	}
	path = ++s;
	for (end = path; *end != '\0'; end++) {
		if (in_quote && *end == '\\' && end[1] != '\0')
			end++;
		else if (*end == '"')
			in_quote = !in_quote;
		else if (!in_quote && *end == '>')
			break;
	}
	if (*end != '>' || (end[1] != '\0' && end[1] != ' ')) {
		*reply_r = syntax;
		return -1;
	}
	path_len = (size_t)(end - path);
	s = end + 1;

	/* Parameters first: SMTPUTF8 decides what the path may contain. */
	while (*s != '\0') {
		struct smtp_param *p;
		char *eq;

		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		tok = s;
		while (*s != '\0' && *s != ' ')
			s++;
		if (*s == ' ')
			*s++ = '\0';
		if (cmd->param_count >= SMTP_COMMAND_PARAMS_MAX) {
			*reply_r = "501 5.5.4 Too many parameters";
			return -1;
		}
		p = &cmd->params[cmd->param_count++];
		eq = strchr(tok, '=');
		if (eq != NULL) {
			*eq = '\0';
			p->value = eq + 1;
			if (!is_esmtp_value(p->value)) {
				*reply_r = "501 5.5.4 Bad parameter syntax";
				return -1;
			}
		} else {
			p->value = NULL;
		}
		if (!is_keyword(tok)) {
			*reply_r = "501 5.5.4 Bad parameter syntax";
			return -1;
		}
		upper_ascii(tok);
		p->key = tok;
		if (param_apply(cmd, p, reply_r) < 0)
			return -1;
	}

	if (path_len == 0) {
		if (!mail) {
			*reply_r = syntax;
			return -1;
		}
		cmd->path[0] = '\0';
		return 0;
	}
	utf8 = mail ? cmd->smtputf8 : (flags & SMTP_COMMAND_FLAG_UTF8) != 0;
	if (smtp_address_parse(path, path_len, utf8, !mail, cmd->path, &error) <
	    0) {
		(void)error;
		*reply_r = mail ? "501 5.1.7 Bad sender address syntax"
				: "501 5.1.3 Bad recipient address syntax";
		return -1;
	}
	return 0;
}

static bool
has_ctl(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 32 || *s == 127)
			return true;
	}
	return false;
}

int
smtp_command_parse(const char *line, size_t len, unsigned int flags,
		   struct smtp_command *cmd, const char **reply_r)
{
	char *s, *arg;
	size_t i, vlen;

	cmd->verb = SMTP_VERB_UNKNOWN;
	cmd->arg = "";
	cmd->path[0] = '\0';
	cmd->param_count = 0;
	cmd->has_size = false;
	cmd->size = 0;
	cmd->body = SMTP_BODY_NONE;
	cmd->smtputf8 = false;
	cmd->ret = cmd->envid = cmd->auth = NULL;
	cmd->notify = cmd->orcpt = NULL;
	cmd->chunk_size = 0;
	cmd->last = false;
	cmd->auth_mechanism = cmd->auth_initial = "";

	if (len > SMTP_COMMAND_AUTH_LINE_MAX) {
		*reply_r = "500 5.5.2 Line too long";
		return -1;
	}
	if (memchr(line, '\0', len) != NULL) {
		*reply_r = "500 5.5.2 NUL byte in command";
		return -1;
	}
	memcpy(cmd->line, line, len);
	cmd->line[len] = '\0';
	s = cmd->line;
	/* Trailing spaces (and a stray CR) are sloppiness, not syntax. */
	while (len > 0 &&
	       (s[len - 1] == ' ' || s[len - 1] == '\r' || s[len - 1] == '\t'))
		s[--len] = '\0';

	for (vlen = 0; s[vlen] != '\0' && s[vlen] != ' '; vlen++)
		;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].name) == vlen &&
		    strncasecmp(s, verbs[i].name, vlen) == 0) {
			cmd->verb = verbs[i].verb;
			break;
		}
	}
	if (cmd->verb == SMTP_VERB_UNKNOWN) {
		*reply_r = "500 5.5.1 Command unrecognized";
		return -1;
	}
	if (cmd->verb != SMTP_VERB_AUTH && len > SMTP_COMMAND_LINE_MAX) {
		*reply_r = "500 5.5.2 Line too long";
		return -1;
	}
	arg = s + vlen;
	while (*arg == ' ')
		arg++;
	cmd->arg = arg;

	switch (cmd->verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		if (*arg == '\0' || has_ctl(arg)) {
			*reply_r = cmd->verb == SMTP_VERB_HELO
				       ? "501 5.5.4 Syntax: HELO hostname"
				       : "501 5.5.4 Syntax: EHLO hostname";
			return -1;
		}
		return 0;
	case SMTP_VERB_DATA:
	case SMTP_VERB_RSET:
	case SMTP_VERB_QUIT:
	case SMTP_VERB_STARTTLS:
		if (*arg != '\0') {
			switch (cmd->verb) {
			case SMTP_VERB_DATA:
				*reply_r = "501 5.5.4 Syntax: DATA";
				break;
			case SMTP_VERB_RSET:
				*reply_r = "501 5.5.4 Syntax: RSET";
				break;
			case SMTP_VERB_QUIT:
				*reply_r = "501 5.5.4 Syntax: QUIT";
				break;
			default:
				*reply_r = "501 5.5.4 Syntax: STARTTLS";
				break;
			}
			return -1;
		}
		return 0;
	case SMTP_VERB_VRFY:
	case SMTP_VERB_EXPN:
		if (*arg == '\0') {
			*reply_r = cmd->verb == SMTP_VERB_VRFY
				       ? "501 5.5.4 Syntax: VRFY address"
				       : "501 5.5.4 Syntax: EXPN list";
			return -1;
		}
		return 0;
	case SMTP_VERB_NOOP:
	case SMTP_VERB_HELP:
		return 0;
	case SMTP_VERB_BDAT: {
		char *sp = strchr(arg, ' ');
		char *rest = NULL;

		if (sp != NULL) {
			*sp = '\0';
			rest = sp + 1;
			while (*rest == ' ')
				rest++;
		}
		if (!is_digits(arg, 19) ||
		    (rest != NULL && strcasecmp(rest, "LAST") != 0)) {
			*reply_r = "501 5.5.4 Syntax: BDAT size [LAST]";
			return -1;
		}
		cmd->chunk_size = strtoull(arg, NULL, 10);
		cmd->last = rest != NULL;
		return 0;
	}
	case SMTP_VERB_AUTH: {
		char *sp = strchr(arg, ' ');

		if (*arg == '\0' || has_ctl(arg)) {
			*reply_r = "501 5.5.4 Syntax: AUTH mechanism";
			return -1;
		}
		if (sp != NULL) {
			*sp = '\0';
			cmd->auth_initial = sp + 1;
			if (strchr(cmd->auth_initial, ' ') != NULL) {
				*reply_r = "501 5.5.4 Syntax: AUTH mechanism";
				return -1;
			}
		}
		upper_ascii(arg);
		cmd->auth_mechanism = arg;
		return 0;
	}
	case SMTP_VERB_MAIL:
	case SMTP_VERB_RCPT:
		return parse_path_command(cmd, arg, flags, reply_r);
	case SMTP_VERB_XCLIENT:
		if (*arg == '\0' || has_ctl(arg)) {
			*reply_r = "501 5.5.4 Syntax: XCLIENT attribute=value";
			return -1;
		}
		return 0;
	case SMTP_VERB_UNKNOWN:
		break;
	}
	*reply_r = "500 5.5.1 Command unrecognized";
	return -1;
}
