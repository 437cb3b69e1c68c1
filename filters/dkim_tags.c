/*
 * dkim_tags: parsers for the two structures every sender-authentication
 * filter reads first. dkim_tags_parse() reads an RFC 6376 3.2 tag list
 * ("v=1; a=rsa-sha256; b=...") into a fixed-size table, rejecting bad tag
 * names, duplicates and non-printable bytes, and removing folding
 * whitespace from values. mail_headers_parse() splits a CRLF message's
 * header block into fields without copying them. Callers: dkim_verify,
 * dkim_sign, arc, dmarc, and the header fuzzer.
 */
#include "filters/dkim_tags.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void
dkim_tags_clear(struct dkim_tags *tags)
{
	for (size_t i = 0; i < tags->count; i++) {
		x_free(&tags->tags[i].name);
		x_free(&tags->tags[i].value);
	}
	tags->count = 0;
}

int
dkim_tags_parse(const char *text, size_t len, struct dkim_tags *tags_r,
		const char **error_r)
{
	size_t pos = 0;

	tags_r->count = 0;
	while (pos < len) {
		size_t name_start, name_end, value_start, value_end;

		while (pos < len && is_wsp(text[pos]))
			pos++;
		if (pos == len)
			break;
		if (text[pos] == ';') {
			/* an empty tag-spec ("a=1;;b=2", "; a=1") */
			*error_r = "empty tag";
			return -1;
		}
		name_start = pos;
		if (!isalpha((unsigned char)text[pos])) {
			*error_r = "bad tag name";
			return -1;
		}
		while (pos < len &&
		       (isalnum((unsigned char)text[pos]) || text[pos] == '_'))
			pos++;
		name_end = pos;
		while (pos < len && is_wsp(text[pos]))
			pos++;
		if (pos == len || text[pos] != '=') {
			*error_r = "tag without '='";
			return -1;
		}
		pos++;
		value_start = pos;
		while (pos < len && text[pos] != ';') {
			unsigned char c = (unsigned char)text[pos];

			if (!is_wsp((char)c) && (c < 0x21 || c > 0x7e)) {
				*error_r = "bad byte in tag value";
				return -1;
			}
			pos++;
		}
		value_end = pos;
		if (pos < len)
			pos++; /* the ';' */
		if (tags_r->count == DKIM_TAGS_MAX) {
			*error_r = "too many tags";
			return -1;
		}
		for (size_t i = 0; i < tags_r->count; i++) {
			if (strlen(tags_r->tags[i].name) ==
				name_end - name_start &&
			    memcmp(tags_r->tags[i].name, text + name_start,
				   name_end - name_start) == 0) {
				*error_r = "duplicate tag";
				return -1;
			}
		}
		struct dkim_tag *t = &tags_r->tags[tags_r->count++];
		char *v = xmalloc(value_end - value_start + 1);
		size_t o = 0;

		t->name = xstrndup(text + name_start, name_end - name_start);
		for (size_t i = value_start; i < value_end; i++)
			if (!is_wsp(text[i]))
				v[o++] = text[i];
		v[o] = '\0';
		t->value = v;
	}
	return 0;
}

const char *
dkim_tags_get(const struct dkim_tags *tags, const char *name)
{
	for (size_t i = 0; i < tags->count; i++)
		if (strcmp(tags->tags[i].name, name) == 0)
			return tags->tags[i].value;
	return NULL;
}

void
mail_headers_clear(struct mail_headers *headers)
{
	x_free(&headers->items);
	headers->count = 0;
	headers->body_offset = 0;
}

bool
mail_header_is(const struct mail_header *h, const char *name)
{
	size_t n = strlen(name);

	return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

/* End of the line starting at pos: index of its CRLF (or LF), or len. */
static size_t
line_end(const char *msg, size_t len, size_t pos, size_t *next_r)
{
	const char *nl = memchr(msg + pos, '\n', len - pos);
	size_t end;

	if (nl == NULL) {
		*next_r = len;
		return len;
	}
	end = (size_t)(nl - msg);
	*next_r = end + 1;
	if (end > pos && msg[end - 1] == '\r')
		end--;
	return end;
}

int
mail_headers_parse(const char *msg, size_t len, size_t max_fields,
		   struct mail_headers *headers_r, const char **error_r)
{
	size_t pos = 0, cap = 0;

	headers_r->count = 0;
	headers_r->items = NULL;
	headers_r->body_offset = len;
	while (pos < len) {
		size_t next, end = line_end(msg, len, pos, &next);
		const char *colon;

		if (end == pos) { /* blank line: end of header */
			headers_r->body_offset = next;
			return 0;
		}
		if (msg[pos] == ' ' || msg[pos] == '\t') {
			pos = next; /* continuation without a field: skip */
			continue;
		}
		/* extend over continuation lines */
		while (next < len && (msg[next] == ' ' || msg[next] == '\t'))
			end = line_end(msg, len, next, &next);
		colon = memchr(msg + pos, ':', end - pos);
		if (colon == NULL) {
			pos = next;
			continue;
		}
		if (headers_r->count == max_fields) {
			*error_r = "too many header fields";
			mail_headers_clear(headers_r);
			return -1;
		}
		if (headers_r->count == cap) {
			cap = cap == 0 ? 32 : cap * 2;
			headers_r->items = xreallocarray(
			    headers_r->items, cap, sizeof(*headers_r->items));
		}
		struct mail_header *h = &headers_r->items[headers_r->count++];
		size_t nlen = (size_t)(colon - (msg + pos));

		while (nlen > 0 && (msg[pos + nlen - 1] == ' ' ||
				    msg[pos + nlen - 1] == '\t'))
			nlen--;
		h->name = msg + pos;
		h->name_len = nlen;
		h->field = msg + pos;
		h->len = end - pos;
		h->value = colon + 1;
		h->value_len = end - (size_t)(colon + 1 - msg);
		pos = next;
	}
	return 0;
}
