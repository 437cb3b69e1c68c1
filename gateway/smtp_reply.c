/*
 * smtp_reply: the reply parser of the SMTP client (see the header). One
 * reply at a time; text beyond SMTP_REPLY_TEXT_MAX is dropped, never
 * written past the buffer. Callers: smtp_client, the fuzz target.
 */
#include "gateway/smtp_reply.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
smtp_reply_reset(struct smtp_reply *r)
{
	r->code = 0;
	r->status[0] = '\0';
	r->text[0] = '\0';
	r->text_len = 0;
	r->lines = 0;
}

/* "X.Y.Z " at the start of text with X in 2,4,5: copies it to out. */
static size_t
enhanced_status(const char *p, size_t len, char out[16])
{
	size_t i = 0, dots = 0, digits = 0;

	if (len < 5 || (p[0] != '2' && p[0] != '4' && p[0] != '5') ||
	    p[1] != '.')
		return 0;
	for (i = 0; i < len && i < 15; i++) {
		if (p[i] == '.') {
			if (digits == 0)
				return 0;
			dots++;
			digits = 0;
		} else if (isdigit((unsigned char)p[i])) {
			if (++digits > 3)
				return 0;
		} else {
			break;
		}
	}
	if (dots != 2 || digits == 0 || (i < len && p[i] != ' '))
		return 0;
	memcpy(out, p, i);
	out[i] = '\0';
	return i;
}

int
smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len,
		const char **error_r)
{
	int code;
	bool last;
	const char *text;
	size_t tlen;

	if (len < 3 || len > SMTP_REPLY_LINE_MAX) {
		*error_r = "reply line too short or too long";
		return -1;
	}
	if (line[0] < '2' || line[0] > '5' ||
	    !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2])) {
		*error_r = "reply without a valid code";
		return -1;
	}
	if (len > 3 && line[3] != ' ' && line[3] != '-') {
		*error_r = "reply code not followed by space or dash";
		return -1;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->lines > 0 && code != r->code) {
		*error_r = "reply code changed between lines";
		return -1;
	}
	last = len == 3 || line[3] == ' ';
	text = len > 4 ? line + 4 : "";
	tlen = len > 4 ? len - 4 : 0;
	if (r->lines == 0) {
		r->code = code;
		(void)enhanced_status(text, tlen, r->status);
	}
	if (r->lines > 0 && r->text_len + 1 < sizeof(r->text))
		r->text[r->text_len++] = '\n';
	if (r->text_len + 1 < sizeof(r->text)) {
		size_t room = sizeof(r->text) - 1 - r->text_len;
		size_t n = tlen < room ? tlen : room;

		memcpy(r->text + r->text_len, text, n);
		r->text_len += n;
	}
	r->text[r->text_len] = '\0';
	r->lines++;
	return last ? 1 : 0;
}

/* The keyword at p (length n) equals kw, case-insensitively. */
static bool
keyword(const char *p, size_t n, const char *kw)
{
	return strlen(kw) == n && strncasecmp(p, kw, n) == 0;
}

void
smtp_caps_parse(const struct smtp_reply *r, struct smtp_caps *caps)
{
	const char *p = r->text, *end = r->text + r->text_len;

	memset(caps, 0, sizeof(*caps));
	/* The first line is the server's greeting name. */
	p = memchr(p, '\n', (size_t)(end - p));
	while (p != NULL && p < end) {
		const char *line = p + 1, *eol;
		size_t klen;

		eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL)
			eol = end;
		klen = strcspn(line, " =\n");
		if (line + klen > eol)
			klen = (size_t)(eol - line);
		if (keyword(line, klen, "PIPELINING"))
			caps->pipelining = true;
		else if (keyword(line, klen, "STARTTLS"))
			caps->starttls = true;
		else if (keyword(line, klen, "8BITMIME"))
			caps->eightbitmime = true;
		else if (keyword(line, klen, "SMTPUTF8"))
			caps->smtputf8 = true;
		else if (keyword(line, klen, "CHUNKING"))
			caps->chunking = true;
		else if (keyword(line, klen, "DSN"))
			caps->dsn = true;
		else if (keyword(line, klen, "ENHANCEDSTATUSCODES"))
			caps->enhancedstatuscodes = true;
		else if (keyword(line, klen, "SIZE")) {
			char num[24];
			size_t n = (size_t)(eol - line) - klen;

			caps->size_ext = true;
			if (n > 1 && n < sizeof(num)) {
				memcpy(num, line + klen + 1, n - 1);
				num[n - 1] = '\0';
				caps->size = strtoull(num, NULL, 10);
			}
		} else if (keyword(line, klen, "AUTH")) {
			const char *q = line + klen;

			while (q < eol) {
				size_t m;

				while (q < eol && (*q == ' ' || *q == '='))
					q++;
				/* Bounded by eol, not by a NUL: a peer's NUL
				 * byte must not stop the scan in place. */
				m = 0;
				while (q + m < eol && q[m] != ' ' &&
				       q[m] != '\n')
					m++;
				if (m == 0) { /* a NUL or a lone LF */
					if (q < eol)
						q++;
					continue;
				}
				if (keyword(q, m, "PLAIN"))
					caps->auth_plain = true;
				else if (keyword(q, m, "LOGIN"))
					caps->auth_login = true;
				q += m;
			}
		}
		p = eol < end ? eol : NULL;
	}
}

const char *
smtp_reply_format(const struct smtp_reply *r, char *out, size_t outsz)
{
	size_t o;
	int n;

	if (outsz == 0)
		return out;
	n = snprintf(out, outsz, "%d ", r->code);
	o = n > 0 && (size_t)n < outsz ? (size_t)n : 0;
	for (size_t i = 0; i < r->text_len && o + 1 < outsz; i++) {
		unsigned char c = (unsigned char)r->text[i];

		if (c == '\n')
			c = ' ';
		else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			c = '?';
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}
