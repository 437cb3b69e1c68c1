/*
 * dkim_tags: the tag=value lists of RFC 6376 3.2 (DKIM-Signature, key
 * records, ARC-Seal, ARC-Message-Signature) and the header-field splitter
 * that feeds the sender-authentication filters. Both read bytes from the
 * network: every length is checked, nothing is trusted.
 */
#ifndef MOAT_DKIM_TAGS_H
#define MOAT_DKIM_TAGS_H

#include <stdbool.h>
#include <stddef.h>

#define DKIM_TAGS_MAX 64

struct dkim_tag {
	char *name;  /* as written, whitespace trimmed */
	char *value; /* folding whitespace inside removed (b=, bh=, p= are
			base64; elsewhere no internal WSP is meaningful) */
};

struct dkim_tags {
	size_t count;
	struct dkim_tag tags[DKIM_TAGS_MAX];
};

/* Parses text (len bytes, need not be NUL-terminated). Returns 0, or -1 with
 * *error_r (static string) on bad syntax, a duplicate tag or too many tags;
 * tags_r is always safe to pass to dkim_tags_clear() afterwards. */
int dkim_tags_parse(const char *text, size_t len, struct dkim_tags *tags_r,
		    const char **error_r);
void dkim_tags_clear(struct dkim_tags *tags);
/* Value of a tag (case-sensitive name, as RFC 6376 says), or NULL. */
const char *dkim_tags_get(const struct dkim_tags *tags, const char *name);

/* One header field of a message: name and the whole field as it appeared,
 * with internal folding but without the final CRLF. */
struct mail_header {
	const char *name; /* points into field; name_len bytes */
	size_t name_len;
	const char *field;
	size_t len;
	const char *value; /* after the colon */
	size_t value_len;
};

struct mail_headers {
	size_t count;
	struct mail_header *items;
	size_t body_offset; /* first byte after the blank line (or len) */
};

/* Splits a CRLF message's header block. Lines without a colon or starting
 * with whitespace before any field are skipped (they cannot be signed).
 * At most max_fields fields are kept (-1 beyond). Returns 0 or -1. */
int mail_headers_parse(const char *msg, size_t len, size_t max_fields,
		       struct mail_headers *headers_r, const char **error_r);
void mail_headers_clear(struct mail_headers *headers);
bool mail_header_is(const struct mail_header *h, const char *name);

#endif
