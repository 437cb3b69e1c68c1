/*
 * msg_structure: the MIME structure of one stored message, computed once by
 * our own scanner (exact byte offsets, which GMime cannot give) and kept as a
 * compact blob in the store's index, so that IMAP FETCH ENVELOPE,
 * BODYSTRUCTURE, BODY[section] and BINARY[section] never re-parse the file.
 *
 * Model. A message is an entity: a header and a body. A multipart body holds
 * child entities (its parts), a message/rfc822 (or message/global) body holds
 * exactly one child entity (the encapsulated message), any other body is a
 * leaf. Every entity records the byte offsets, in the message as stored, of
 * its header (including the blank line that ends it), of its body, and of the
 * body's end (a part's body ends before the line break that precedes the next
 * boundary delimiter, RFC 2046 5.1.1).
 *
 * Tolerance. The scanner never fails on content: bare LF or CRLF line ends,
 * a header without the blank line, a multipart without a boundary parameter
 * (treated as text/plain), a boundary never seen (a multipart with no parts;
 * BODYSTRUCTURE then shows one empty text/plain part), no close delimiter
 * (the last part runs to the end of its parent), garbage before and after the
 * delimiters (preamble and epilogue, kept out of the parts). Nesting deeper
 * than MSG_STRUCTURE_MAX_DEPTH or more than MSG_STRUCTURE_MAX_PARTS entities
 * stop the descent: the remaining bytes become a leaf's body.
 *
 * Strings. ENVELOPE and BODYSTRUCTURE are produced exactly as IMAP sends them
 * (RFC 9051 7.5.2 / RFC 3501 7.4.2): NIL for absent values, quoted strings
 * when the value is 7-bit without CR, LF, '"' problems, otherwise a literal
 * "{n}\r\n..." (8-bit and UTF-8 values, so the result may contain CRLF);
 * encoded words (RFC 2047) are kept raw as IMAP requires. Addresses follow
 * the IMAP address structure, with group syntax as (NIL NIL "group" NIL) ...
 * (NIL NIL NIL NIL).
 *
 * Memory: a struct msg_structure owns all its strings; it never points into
 * the message data, so the data may be unmapped once it is parsed.
 */
#ifndef MOAT_MSG_STRUCTURE_H
#define MOAT_MSG_STRUCTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct msg_structure;

#define MSG_STRUCTURE_MAX_DEPTH 32
#define MSG_STRUCTURE_MAX_PARTS 5000

/* Parses len bytes of an RFC 5322 message. Never fails on malformed MIME
 * (see above); returns 0 with *s_r set, or -1 with *error_r allocated only
 * when the input cannot be a message at all (len larger than the 4 GiB the
 * index records). Free with msg_structure_free(). */
int msg_structure_parse(const char *data, size_t len,
			struct msg_structure **s_r, char **error_r);
/* The same for the message file at path, mapped rather than copied (the
 * store backends' files). 0 with *s_r set, or -1 with *error_r allocated:
 * the file cannot be opened or mapped, or is larger than 4 GiB. */
int msg_structure_parse_file(const char *path, struct msg_structure **s_r,
			     char **error_r);
void msg_structure_free(struct msg_structure **s);

/* Size in bytes of the message the structure was computed from; callers
 * should check it against the file they read sections from. */
uint64_t msg_structure_size(const struct msg_structure *s);
/* Number of entities (the message itself counts as one). */
size_t msg_structure_part_count(const struct msg_structure *s);

/* Appends a compact, versioned binary form of s to out (for the index). */
void msg_structure_serialize(const struct msg_structure *s, struct buf *out);
/* Rebuilds a structure from a blob. Every offset, count and string is
 * validated: 0 with *s_r set, -1 with *error_r allocated for a blob that is
 * truncated, of another version, or inconsistent (then parse again). */
int msg_structure_deserialize(const void *blob, size_t len,
			      struct msg_structure **s_r, char **error_r);

/* Appends the IMAP ENVELOPE of the message, "(date subject from sender
 * reply-to to cc bcc in-reply-to message-id)" with its parentheses. Sender
 * and Reply-To fall back to From when absent or empty. */
void msg_structure_envelope(const struct msg_structure *s, struct buf *out);
/* Appends BODYSTRUCTURE (extensible true: with the extension data of RFC
 * 9051) or BODY (extensible false), with its outer parentheses. */
void msg_structure_bodystructure(const struct msg_structure *s, bool extensible,
				 struct buf *out);

enum msg_section_kind {
	MSG_SECTION_WHOLE,	       /* "": the whole message */
	MSG_SECTION_HEADER,	       /* "HEADER", "1.HEADER" */
	MSG_SECTION_HEADER_FIELDS,     /* "HEADER.FIELDS" */
	MSG_SECTION_HEADER_FIELDS_NOT, /* "HEADER.FIELDS.NOT" */
	MSG_SECTION_TEXT,	       /* "TEXT", "1.TEXT" */
	MSG_SECTION_MIME,	       /* "1.MIME" */
	MSG_SECTION_PART,	       /* "1", "1.2": the part's body */
};

struct msg_section {
	enum msg_section_kind kind;
	/* Byte range in the message. For HEADER.FIELDS[.NOT] it is the whole
	 * header: filter it with msg_header_filter(). */
	uint64_t offset;
	uint64_t size;
	/* For MSG_SECTION_PART and MSG_SECTION_WHOLE: the entity's
	 * Content-Transfer-Encoding as written, lower case ("7bit" when
	 * absent); NULL otherwise. Points into s. */
	const char *encoding;
};

/* Resolves an IMAP section-spec without its field list and without the
 * enclosing brackets: "", "HEADER", "TEXT", "HEADER.FIELDS",
 * "HEADER.FIELDS.NOT", "1", "1.2", "1.2.MIME", "3.HEADER", "3.TEXT",
 * "3.HEADER.FIELDS" ... (case-insensitive). Rules (RFC 9051 6.4.5):
 * - "HEADER"/"TEXT" without a number name the top message; after a number
 *   they are allowed only on a message/rfc822 part and name the
 *   encapsulated message's header/body.
 * - "N" on a multipart names its Nth part; "1" on a non-multipart body names
 *   that body itself (so "1" of a single-part message is its body).
 * - "N" on a message/rfc822 part is the whole encapsulated message; "N.M"
 *   goes into the encapsulated message's body as above.
 * - "N.MIME" is the MIME header of part N (including its blank line).
 * Returns 1 with *section_r set, 0 when the syntax is valid but the part
 * does not exist in this message (IMAP answers with an empty string), -1
 * with *error_r allocated for a bad section-spec (IMAP answers BAD). */
int msg_structure_section(const struct msg_structure *s, const char *spec,
			  struct msg_section *section_r, char **error_r);

/* HEADER.FIELDS / HEADER.FIELDS.NOT: appends to out the fields of the
 * header (header, len) whose names are (exclude false) or are not (exclude
 * true) among fields[0..count-1] (case-insensitive), each with its
 * continuation lines byte for byte, followed by the blank line "\r\n" that
 * ends every header fetch. */
void msg_header_filter(const char *header, size_t len,
		       const char *const *fields, size_t count, bool exclude,
		       struct buf *out);

/* Decodes a Content-Transfer-Encoding ("base64", "quoted-printable",
 * "7bit", "8bit", "binary"; case-insensitive) of in[0..len) and appends the
 * result to out. Bad base64 characters and bad '=' escapes are skipped or
 * kept as they are, never fatal. Returns 0, or -1 for an encoding it does
 * not know (IMAP answers NO [UNKNOWN-CTE]). */
int msg_transfer_decode(const char *encoding, const char *in, size_t len,
			struct buf *out);

/* BINARY[spec] (RFC 3516): resolves spec as msg_structure_section() (only
 * "" and part numbers are valid) and appends the decoded body of that part
 * (data is the whole message, data_len its size) to out; BINARY.SIZE is the
 * length appended. 1 done, 0 no such part, -1 with *error_r allocated for a
 * bad spec or an unknown transfer encoding (*unknown_cte_r true then). */
int msg_structure_binary(const struct msg_structure *s, const char *data,
			 size_t data_len, const char *spec, struct buf *out,
			 bool *unknown_cte_r, char **error_r);

/* Raw (unfolded, leading white space removed, encoded words kept) header
 * values of the top message, for SORT/THREAD/SEARCH. NULL when absent. */
enum msg_header_field {
	MSG_HDR_DATE,
	MSG_HDR_SUBJECT,
	MSG_HDR_FROM,
	MSG_HDR_SENDER,
	MSG_HDR_REPLY_TO,
	MSG_HDR_TO,
	MSG_HDR_CC,
	MSG_HDR_BCC,
	MSG_HDR_IN_REPLY_TO,
	MSG_HDR_MESSAGE_ID,
	MSG_HDR_REFERENCES,
	MSG_HDR_COUNT
};
const char *msg_structure_header(const struct msg_structure *s,
				 enum msg_header_field field);

/* The first mailbox of an address-list header value (groups are looked
 * into), as ENVELOPE would show it: display name (NULL if none; encoded
 * words kept raw), local part and domain. True when there is one; the
 * strings are allocated (free them). For SORT FROM/TO/CC and DISPLAY. */
bool msg_address_first(const char *value, char **name_r, char **mailbox_r,
		       char **host_r);
/* Every mailbox of an address-list header value (groups looked into) as
 * "local@domain", allocated in *list_r (free each and the array); returns
 * how many. A missing half is written as Dovecot's placeholder, below. */
size_t msg_address_all(const char *value, char ***list_r);
#define MSG_ADDRESS_MISSING_MAILBOX "MISSING_MAILBOX"
#define MSG_ADDRESS_MISSING_DOMAIN  "MISSING_DOMAIN"

/* Walks the entities in pre-order (0 is the message itself). For each one
 * reports its lower-case type/subtype, its charset parameter (NULL if none),
 * its transfer encoding (lower case, "7bit" when absent) and its byte
 * ranges. Returns false when index is out of range. Used by SEARCH
 * BODY/TEXT to find and decode the text parts. */
struct msg_part_info {
	const char *type;    /* "text" */
	const char *subtype; /* "plain" */
	const char *charset; /* NULL if absent */
	const char *encoding;
	uint64_t header_offset, header_size;
	uint64_t body_offset, body_size;
	unsigned int depth; /* 0 for the message */
	bool multipart;
	bool message; /* message/rfc822 or message/global */
};
bool msg_structure_part(const struct msg_structure *s, size_t index,
			struct msg_part_info *info_r);

#endif
