/*
 * data_uri: files carried inside HTML or SVG as data: URLs (see
 * data_uri.h). A URL runs from "data:" to the first quote, space, angle
 * bracket or closing parenthesis; tabs and line breaks inside it are
 * dropped, as browsers' URL parsing drops them.
 */
#include "filters/data_uri.h"

#include <ctype.h>
#include <glib.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "filters/markup_attr.h"
#include "lib/buf.h"
#include "lib/hex.h"

/* How far around a URL its tag's download attribute is looked for. */
#define DATA_URI_TAG_SPAN 4096
#define DATA_URI_NAME_MAX 256
#define DATA_URI_TYPE_MAX 128

static bool
ci_at(const unsigned char *doc, size_t len, size_t at, const char *word)
{
	size_t n = strlen(word);

	return at + n <= len &&
	       strncasecmp((const char *)doc + at, word, n) == 0;
}

static bool
url_end(unsigned char c)
{
	return c == '"' || c == '\'' || c == ' ' || c == '<' || c == '>' ||
	       c == ')' || c == '`' || c == '\0';
}

/* The value of the download attribute in the tag around doc[at], if the
 * tag has one: the bytes between the nearest '<' before and '>' after. */
static bool
download_name(const unsigned char *doc, size_t len, size_t at, char *out,
	      size_t outsz)
{
	size_t start = at, end = at, i;

	while (start > 0 && at - start < DATA_URI_TAG_SPAN &&
	       doc[start - 1] != '<' && doc[start - 1] != '>')
		start--;
	while (end < len && end - at < DATA_URI_TAG_SPAN && doc[end] != '>')
		end++;
	for (i = start; i + 8 < end; i++) {
		const unsigned char *v;
		size_t vlen, n = 0;

		if (!ci_at(doc, end, i, "download") ||
		    (i > 0 && !isspace(doc[i - 1]) && doc[i - 1] != '"' &&
		     doc[i - 1] != '\'') ||
		    !markup_attr_value(doc, end, i + 8, true, &v, &vlen))
			continue;
		while (n < vlen && n + 1 < outsz) {
			out[n] = (char)v[n];
			n++;
		}
		out[n] = '\0';
		return n > 0;
	}
	return false;
}

/* Decodes the payload doc[from..to) into out; base64 by glib's decoder,
 * which skips what is not base64 as lenient readers do. */
static void
decode_payload(const unsigned char *doc, size_t from, size_t to, bool base64,
	       struct buf *out)
{
	gint state = 0;
	guint save = 0;

	for (size_t i = from; i < to;) {
		unsigned char chunk[4096];
		size_t n = 0;

		while (i < to && n < sizeof(chunk)) {
			unsigned char c = doc[i++];

			if (c == '\t' || c == '\r' || c == '\n')
				continue;
			if (!base64 && c == '%' && i + 1 < to &&
			    hex_digit(doc[i]) >= 0 &&
			    hex_digit(doc[i + 1]) >= 0) {
				c = (unsigned char)(hex_digit(doc[i]) * 16 +
						    hex_digit(doc[i + 1]));
				i += 2;
			}
			chunk[n++] = c;
		}
		if (base64) {
			unsigned char dec[sizeof(chunk) / 4 * 3 + 3];
			gsize m = g_base64_decode_step((const gchar *)chunk, n,
						       dec, &state, &save);

			buf_append(out, dec, m);
		} else {
			buf_append(out, chunk, n);
		}
	}
}

unsigned int
data_uri_walk(const unsigned char *doc, size_t len, unsigned int max,
	      data_uri_fn fn, void *ctx)
{
	unsigned int found = 0;
	size_t i = 0;

	while (found < max && i + 5 < len) {
		const unsigned char *hit = memchr(doc + i, ':', len - i);
		size_t colon, start, p, type_end, end;
		char type[DATA_URI_TYPE_MAX], name[DATA_URI_NAME_MAX];
		bool base64 = false;
		size_t tn = 0;
		struct buf data;

		if (hit == NULL)
			break;
		colon = (size_t)(hit - doc);
		i = colon + 1;
		if (colon < 4 || !ci_at(doc, len, colon - 4, "data") ||
		    (colon > 4 &&
		     (isalnum(doc[colon - 5]) || doc[colon - 5] == '-' ||
		      doc[colon - 5] == '_')))
			continue;
		start = colon - 4;
		/* media type and parameters, up to the comma */
		for (p = colon + 1; p < len && doc[p] != ',' && p - colon < 512;
		     p++)
			if (url_end(doc[p]))
				break;
		if (p >= len || doc[p] != ',')
			continue;
		type_end = p;
		for (size_t k = colon + 1;
		     k < type_end && doc[k] != ';' && tn + 1 < sizeof(type);
		     k++)
			if (!isspace(doc[k]))
				type[tn++] = (char)tolower(doc[k]);
		type[tn] = '\0';
		for (size_t k = colon + 1; k + 7 <= type_end; k++)
			if (ci_at(doc, type_end, k, ";base64"))
				base64 = true;
		for (end = type_end + 1; end < len && !url_end(doc[end]); end++)
			;
		i = end;
		if (end == type_end + 1)
			continue;
		buf_init(&data);
		decode_payload(doc, type_end + 1, end, base64, &data);
		if (data.len > 0) {
			found++;
			fn(ctx,
			   download_name(doc, len, start, name, sizeof(name))
			       ? name
			       : NULL,
			   type, (const unsigned char *)data.data, data.len);
		}
		buf_free(&data);
	}
	return found;
}
