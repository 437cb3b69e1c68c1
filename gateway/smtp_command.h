/*
 * smtp_command: a pure, bounded parser of one SMTP command line (without
 * its CRLF) into a struct smtp_command. No allocation: the struct holds a
 * copy of the line and every string in it points into that copy. Errors
 * come back as complete reply lines ("501 5.5.4 Syntax: ...") the session
 * sends as they are.
 */
#ifndef MOAT_SMTP_COMMAND_H
#define MOAT_SMTP_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include "gateway/smtp_address.h"

/* RFC 5321 4.5.3.1.4: 512 octets including CRLF. */
#define SMTP_COMMAND_LINE_MAX 510
/* RFC 4954 4: AUTH lines may be 12288 octets including CRLF. */
#define SMTP_COMMAND_AUTH_LINE_MAX 12286
#define SMTP_COMMAND_PARAMS_MAX	   16

enum smtp_verb {
	SMTP_VERB_UNKNOWN,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_XCLIENT, /* Postfix XCLIENT (trusted test clients only) */
};

enum smtp_body {
	SMTP_BODY_NONE, /* not given */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
	SMTP_BODY_BINARYMIME,
};

struct smtp_param {
	const char *key;   /* upper-cased */
	const char *value; /* NULL when the parameter has no "=value" */
};

struct smtp_command {
	enum smtp_verb verb;
	/* Everything after the verb and one space (HELO/EHLO domain, AUTH
	 * "mechanism [initial-response]", VRFY/HELP text); "" when none. */
	const char *arg;

	/* MAIL / RCPT */
	char path[SMTP_ADDRESS_BUF]; /* normalised; "" for <> */
	struct smtp_param params[SMTP_COMMAND_PARAMS_MAX];
	size_t param_count;
	bool has_size;
	unsigned long long size;
	enum smtp_body body;
	bool smtputf8;
	const char *ret;    /* "FULL" or "HDRS" */
	const char *envid;  /* xtext as given */
	const char *auth;   /* MAIL AUTH= value as given */
	const char *notify; /* "NEVER" or a list of SUCCESS,FAILURE,DELAY */
	const char *orcpt;  /* "rfc822;..." as given */

	/* BDAT */
	unsigned long long chunk_size;
	bool last;

	/* AUTH: the mechanism (upper-cased) and the optional initial
	 * response ("" when absent, "=" for an empty one). */
	const char *auth_mechanism;
	const char *auth_initial;

	char line[SMTP_COMMAND_AUTH_LINE_MAX + 1];
};

/* The transaction used SMTPUTF8 at MAIL: RCPT paths may carry UTF-8. */
#define SMTP_COMMAND_FLAG_UTF8 0x1

/*
 * Parses line[0..len) (no CRLF; may contain any byte). Returns 0 with
 * *cmd_r filled, or -1 with *reply_r pointing at a static reply line
 * without CRLF: "500 5.5.2 Line too long", "500 5.5.2 NUL byte in command",
 * "500 5.5.1 Command unrecognized", "501 5.5.4 Syntax: ...",
 * "555 5.5.4 Unsupported parameter", "501 5.1.7 Bad sender address syntax",
 * "501 5.1.3 Bad recipient address syntax", ...
 */
int smtp_command_parse(const char *line, size_t len, unsigned int flags,
		       struct smtp_command *cmd_r, const char **reply_r);

/* "MAIL", "RCPT", ... for logs; "UNKNOWN" for SMTP_VERB_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb verb);

#endif
