/*
 * filter_headers: splits the header section of a message into fields for
 * the filters. The input is untrusted (it is whatever the client sent): every
 * index is checked against len, nothing is read past it, and the number of
 * fields and bytes examined is bounded. A field is a line that starts with a
 * printable name (33..126 except ':') followed by ':', plus the continuation
 * lines that start with SP or HT. Anything else ends the header section.
 */
#include "filters/filter_headers.h"

#include <string.h>

#include "lib/pool.h"

/* End of the line starting at pos: the index just past its LF (or len). */
static size_t
line_end(const char *data, size_t len, size_t pos)
{
	const char *nl = memchr(data + pos, '\n', len - pos);

	return nl != NULL ? (size_t)(nl - data) + 1 : len;
}

/* Length of the field name at data[pos..end) when the line is a field. */
static size_t
field_name_len(const char *data, size_t pos, size_t end)
{
	size_t i = pos;

	while (i < end) {
		unsigned char c = (unsigned char)data[i];

		if (c == ':')
			return i - pos;
		if (c < 33 || c > 126)
			break;
		i++;
	}
	return 0;
}

/* Length without the line end (CRLF or LF) of data[start..end). */
static size_t
strip_eol(const char *data, size_t start, size_t end)
{
	if (end > start && data[end - 1] == '\n')
		end--;
	if (end > start && data[end - 1] == '\r')
		end--;
	return end - start;
}

void
filter_headers_parse(struct pool *pool, const char *data, size_t len,
		     struct filter_header **headers_r, size_t *count_r,
		     bool *truncated_r, size_t *body_offset_r)
{
	struct filter_header *h = NULL;
	size_t count = 0, alloc = 0, pos = 0;
	size_t limit =
	    len < FILTER_HEADERS_MAX_BYTES ? len : FILTER_HEADERS_MAX_BYTES;

	*truncated_r = false;
	*body_offset_r = len;
	while (pos < limit) {
		size_t end = line_end(data, limit, pos), name_len, vstart;

		if (data[pos] == '\r' || data[pos] == '\n') {
			/* The empty line: the body follows it. */
			if (data[pos] == '\n' ||
			    (pos + 1 < len && data[pos + 1] == '\n')) {
				*body_offset_r = end;
				goto done;
			}
		}
		name_len = field_name_len(data, pos, end);
		if (name_len == 0) {
			*body_offset_r = pos; /* not a field: body starts */
			goto done;
		}
		if (count == FILTER_HEADERS_MAX_FIELDS) {
			*truncated_r = true;
			goto done;
		}
		/* Continuation lines. */
		while (end < limit && (data[end] == ' ' || data[end] == '\t'))
			end = line_end(data, limit, end);
		if (end == limit && limit < len &&
		    (end == 0 || data[end - 1] != '\n')) {
			*truncated_r = true; /* field cut by the byte limit */
			goto done;
		}
		if (count == alloc) {
			struct filter_header *n;

			alloc = alloc == 0 ? 32 : alloc * 2;
			n = pool_alloc(pool, alloc * sizeof(*n));
			if (count > 0)
				memcpy(n, h, count * sizeof(*n));
			h = n;
		}
		vstart = pos + name_len + 1;
		h[count].name = pool_strndup(pool, data + pos, name_len);
		h[count].value = pool_strndup(pool, data + vstart,
					      strip_eol(data, vstart, end));
		h[count].raw = data + pos;
		h[count].raw_len = end - pos;
		h[count].offset = pos;
		count++;
		pos = end;
	}
	if (pos < len)
		*truncated_r = true;
done:
	*headers_r = h;
	*count_r = count;
}
