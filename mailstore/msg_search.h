/*
 * msg_search: the text side of IMAP SEARCH (RFC 9051 6.4.4): header fields
 * decoded from RFC 2047 encoded words and body text decoded from its
 * Content-Transfer-Encoding and charset, all as UTF-8, and a
 * case-insensitive substring match after an i;unicode-casemap-like fold
 * (RFC 5051: Unicode case folding, then NFKD). GMime 3 does the charset
 * work.
 *
 * Typical SEARCH SUBJECT/FROM/HEADER use: take the header bytes
 * (msg_structure_section "HEADER"), msg_search_header_field() into a buf,
 * then msg_search_contains(text, needle) where needle was folded once with
 * msg_search_fold(). SEARCH BODY uses msg_search_body_text(); TEXT is
 * header (msg_search_header_all) plus body.
 *
 * All functions are safe on any bytes (invalid UTF-8 is repaired, unknown
 * charsets fall back to GMime's 8-bit guess) and never log content.
 */
#ifndef MOAT_MSG_SEARCH_H
#define MOAT_MSG_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct msg_structure;

/* Initialises GMime once per process (thread-safe, idempotent). Every
 * function below calls it; call it early to keep the cost off a session. */
void msg_search_init(void);

/* Appends the UTF-8 decoding of a raw (possibly folded) header value:
 * encoded words decoded, 8-bit text converted, folding removed. */
void msg_search_decode_header(const char *raw, size_t len, struct buf *out);

/* Appends the decoded values of every occurrence of field (case-insensitive
 * name, no colon) in the header bytes [header, header+len), separated by
 * "\n". Returns the number of occurrences (0: the field is absent; SEARCH
 * HEADER field "" matches any message where it is present). */
size_t msg_search_header_field(const char *header, size_t len,
			       const char *field, struct buf *out);

/* Appends "Name: decoded value\n" for every field of the header. */
void msg_search_header_all(const char *header, size_t len, struct buf *out);

/* Appends the text of every text part (type "text") of the message (data, len
 * are the whole message s describes, encapsulated messages included), transfer-
 * and charset-decoded to UTF-8, parts separated by "\n". Returns 0, or -1
 * when s does not fit data (len differs from msg_structure_size). */
int msg_search_body_text(const struct msg_structure *s, const char *data,
			 size_t len, struct buf *out);

/* Appends the fold of UTF-8 text (invalid sequences repaired first):
 * Unicode case folding then compatibility decomposition (NFKD). */
void msg_search_fold(const char *utf8, size_t len, struct buf *out);

/* True when the fold of text contains needle_folded (already folded with
 * msg_search_fold). The empty needle is in every text. */
bool msg_search_contains(const char *text, size_t len,
			 const char *needle_folded);

#endif
