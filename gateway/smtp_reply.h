/*
 * smtp_reply: parsing what an SMTP server says, for the SMTP client. A
 * reply is one or more lines "NNN-text" ... "NNN text" with the same code;
 * the parser is fed one line at a time (CRLF removed) and says when the
 * reply is complete. EHLO keywords are read from a complete reply into
 * struct smtp_caps. Peer data: every length is checked; nothing is trusted.
 */
#ifndef MOAT_SMTP_REPLY_H
#define MOAT_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#define SMTP_REPLY_LINE_MAX 2048 /* longer lines are malformed */
#define SMTP_REPLY_TEXT_MAX 4096 /* lines joined by '\n', then truncated */

struct smtp_reply {
	int code;	 /* 200..599 */
	char status[16]; /* enhanced status code of the first line, or "" */
	char text[SMTP_REPLY_TEXT_MAX]; /* lines without codes, '\n' between */
	size_t text_len;
	size_t lines;
};

struct smtp_caps {
	bool pipelining, starttls, eightbitmime, smtputf8, chunking, dsn;
	bool enhancedstatuscodes, auth_plain, auth_login;
	bool size_ext;		 /* SIZE offered (with or without limit) */
	unsigned long long size; /* 0: no SIZE limit announced */
};

void smtp_reply_reset(struct smtp_reply *reply);
/*
 * Feeds one line without its CRLF. Returns 1 when the reply is complete,
 * 0 when more lines follow, -1 when the line is malformed (bad code, code
 * changed between lines, too long) with *error_r (static).
 */
int smtp_reply_feed(struct smtp_reply *reply, const char *line, size_t len,
		    const char **error_r);
/* Reads the EHLO keywords of a complete 250 reply (every line but the
 * first) into *caps_r. */
void smtp_caps_parse(const struct smtp_reply *reply, struct smtp_caps *caps_r);
/* "250 2.0.0 text" in one line for logs and DSNs, sanitised (control
 * characters and quotes replaced), at most outsz - 1 bytes. */
const char *smtp_reply_format(const struct smtp_reply *reply, char *out,
			      size_t outsz);

#endif
