/*
 * imap_parser: the IMAP command grammar (RFC 9051 section 9, RFC 3501
 * section 9) turned into a tree of arguments. The session assembles one
 * complete command first (the line plus every literal it announces, see
 * imap_parser_line_literal()), then imap_parser_parse() splits it into a
 * tag, a command name and arguments: atoms, quoted strings, literals
 * ({n}, {n+}, ~{n}), NIL and parenthesised lists. Everything is bounded:
 * list depth, argument count, string length (by the command size the
 * session allows). Arguments point into memory from the caller's pool;
 * strings are NUL-terminated copies (a literal may hold NUL bytes, so
 * use len).
 *
 * Atoms follow Dovecot's leniency where clients rely on it: a '[' inside an
 * atom opens a section that runs to the matching ']' and may hold spaces
 * and parentheses (BODY[HEADER.FIELDS (FROM TO)]<0.100>); '\' starts flag
 * atoms (\Seen), '*' and '%' are accepted for LIST patterns and sequence
 * sets. 8-bit bytes and control characters in an atom are errors.
 */
#ifndef MOAT_IMAP_PARSER_H
#define MOAT_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool;

#define IMAP_PARSER_MAX_DEPTH 16
#define IMAP_PARSER_MAX_ARGS  100000 /* in all lists of one command */
#define IMAP_PARSER_TAG_MAX   64

enum imap_arg_type {
	IMAP_ARG_ATOM,
	IMAP_ARG_QUOTED,
	IMAP_ARG_LITERAL,
	IMAP_ARG_NIL,
	IMAP_ARG_LIST,
};

struct imap_arg {
	enum imap_arg_type type;
	const char *str; /* ATOM/QUOTED/LITERAL: NUL-terminated */
	size_t len;
	bool literal8;	       /* ~{n} (RFC 3516) */
	struct imap_arg *list; /* LIST */
	size_t count;
};

struct imap_command {
	const char *tag;
	const char *name; /* upper-cased */
	struct imap_arg *args;
	size_t count;
};

/*
 * Parses one assembled command (without the final CRLF). Returns 0, or -1
 * with *error_r a static message for a BAD reply; *tag_r is then the tag
 * when one could be read (else NULL), so the BAD can carry it.
 */
int imap_parser_parse(struct pool *pool, const char *data, size_t len,
		      struct imap_command *cmd_r, const char **tag_r,
		      const char **error_r);

/*
 * Looks at the end of one input line (without CRLF) for a literal
 * announcement. Returns 1 with *size_r and *nonsync_r set when the line
 * ends with {n}, {n+} or ~{n}; 0 when it does not; -1 when the number is
 * malformed or larger than max.
 */
int imap_parser_line_literal(const char *line, size_t len, uint64_t max,
			     uint64_t *size_r, bool *nonsync_r);

/* true when arg is an atom, quoted string or literal (an "astring"). */
bool imap_arg_is_string(const struct imap_arg *arg);
/* true when arg is an atom equal to word (case-insensitive). */
bool imap_arg_atom_is(const struct imap_arg *arg, const char *word);

#endif
