/*
 * pop3_command: a pure, bounded parser of one POP3 command line (RFC 1939,
 * RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH) without its CRLF, and the
 * dot-stuffing transform that RETR and TOP stream a message through. No
 * allocation: the struct holds a copy of the line and its strings point
 * into that copy. Errors come back as reply text for "-ERR ...".
 */
#ifndef MOAT_POP3_COMMAND_H
#define MOAT_POP3_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 2449 4: a command line is at most 255 octets including CRLF. */
#define POP3_COMMAND_LINE_MAX 253
/* AUTH lines and SASL continuation lines (RFC 5034 4 lifts the 255 limit
 * for them): enough for PLAIN with 512-byte login and password. */
#define POP3_AUTH_LINE_MAX 2048
/* Message numbers and TOP line counts: decimal, at most this many digits. */
#define POP3_NUMBER_DIGITS_MAX 9

enum pop3_verb {
	POP3_VERB_UNKNOWN,
	POP3_VERB_USER,
	POP3_VERB_PASS,
	POP3_VERB_AUTH,
	POP3_VERB_STLS,
	POP3_VERB_CAPA,
	POP3_VERB_QUIT,
	POP3_VERB_STAT,
	POP3_VERB_LIST,
	POP3_VERB_RETR,
	POP3_VERB_DELE,
	POP3_VERB_NOOP,
	POP3_VERB_RSET,
	POP3_VERB_TOP,
	POP3_VERB_UIDL,
};

struct pop3_command {
	enum pop3_verb verb;
	/* USER: the name; PASS: the rest of the line (spaces kept); AUTH: the
	 * mechanism, upper-cased ("" for a bare AUTH, which lists them). */
	const char *arg;
	/* AUTH: the initial response ("" when none; "=" means empty). */
	const char *arg2;
	bool has_msg;	/* LIST / UIDL with an argument; always for
			   RETR, DELE, TOP */
	uint32_t msg;	/* message number, >= 1 */
	uint32_t lines; /* TOP */
	char buf[POP3_AUTH_LINE_MAX + 1];
};

/*
 * Parses line[0..len) (no CRLF). Returns 0, or -1 with *error_r set to the
 * text for the "-ERR " reply (static). Keywords are case-insensitive; a
 * line over POP3_COMMAND_LINE_MAX (AUTH: POP3_AUTH_LINE_MAX) octets, a NUL,
 * an unknown keyword (LAST and APOP included), a missing, extra or
 * malformed argument are errors.
 */
int pop3_command_parse(const char *line, size_t len, struct pop3_command *cmd,
		       const char **error_r);
/* "USER", "RETR", ... ("UNKNOWN"). */
const char *pop3_verb_name(enum pop3_verb verb);

/*
 * The RETR/TOP transform: a message file (CRLF or bare LF line ends) into
 * POP3 multi-line data: CRLF line ends, a '.' doubled at the start of a
 * line. With a line limit (TOP) it stops after the header, the empty line
 * and that many body lines.
 */
struct pop3_dot {
	bool bol;	 /* at the start of a line */
	bool cr;	 /* last byte was CR */
	bool in_header;	 /* before the first empty line */
	bool done;	 /* TOP limit reached: ignore further input */
	bool limited;	 /* TOP */
	size_t line_len; /* bytes of the current line, CR not counted */
	uint32_t lines_left;
};

/* lines < 0: whole message (RETR); else TOP with that many body lines. */
void pop3_dot_init(struct pop3_dot *st, long lines);
/*
 * Transforms in[0..len) into out, which must hold 2 * len bytes. Returns
 * the number of bytes written. Once st->done, input is ignored.
 */
size_t pop3_dot_feed(struct pop3_dot *st, const char *in, size_t len,
		     char *out);
/* The end of the data: a CRLF when the last line had none, then ".CRLF".
 * out must hold 5 bytes; returns the number written. */
size_t pop3_dot_finish(struct pop3_dot *st, char *out);

#endif
