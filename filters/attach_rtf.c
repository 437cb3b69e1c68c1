/*
 * attach_rtf: embedded OLE objects of RTF documents (see attach_rtf.h).
 * The \objdata group is decoded as Word decodes it (groups inside it are
 * not data) and read as an OLE1 object (filters/ole1.h).
 */
#include "filters/attach_rtf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/ole1.h"
#include "lib/hex.h"
#include "lib/xalloc.h"

bool
attach_rtf_is(const unsigned char *data, size_t len)
{
	return len >= 4 && memcmp(data, "{\\rt", 4) == 0;
}

/* Decodes the \objdata group's content from p (just past the control
 * word) into out (at most cap bytes; *cut set when more would have come);
 * returns its length and advances *p past the group's end. */
static size_t
objdata_decode(const unsigned char **p, const unsigned char *end,
	       unsigned char *out, size_t cap, bool *cut)
{
	const unsigned char *s = *p;
	size_t n = 0;
	int depth = 0, high = -1;

	*cut = false;
	while (s < end) {
		unsigned char c = *s++;
		int v;

		if (c == '{') {
			depth++;
		} else if (c == '}') {
			if (depth-- == 0)
				break;
		} else if (depth > 0) {
			/* a group inside (a bookmark, say) is not data */
			if (c == '\\' && s < end)
				s++;
		} else if (c == '\\' && s < end &&
			   ((*s >= 'a' && *s <= 'z') ||
			    (*s >= 'A' && *s <= 'Z'))) {
			/* a control word: \binN takes N raw bytes, others
			 * are skipped as Word skips them here */
			const unsigned char *w = s;
			long param = 0;
			bool has_param = false, neg = false;

			while (s < end && ((*s >= 'a' && *s <= 'z') ||
					   (*s >= 'A' && *s <= 'Z')))
				s++;
			bool bin = s - w == 3 && memcmp(w, "bin", 3) == 0;
			if (s < end && *s == '-') {
				neg = true;
				s++;
			}
			while (s < end && *s >= '0' && *s <= '9') {
				if (param < 100000000)
					param = param * 10 + (*s - '0');
				has_param = true;
				s++;
			}
			if (s < end && *s == ' ')
				s++;
			if (bin && has_param && !neg) {
				size_t k = (size_t)param;

				if (k > (size_t)(end - s))
					k = (size_t)(end - s);
				for (size_t i = 0; i < k; i++) {
					if (n < cap)
						out[n++] = s[i];
					else
						*cut = true;
				}
				s += k;
				high = -1;
			}
		} else if (c == '\\' && s < end) {
			s++; /* a control symbol: \' \* \\ ... */
		} else if ((v = hex_digit(c)) >= 0) {
			if (high < 0) {
				high = v;
			} else {
				if (n < cap)
					out[n++] =
					    (unsigned char)(high << 4 | v);
				else
					*cut = true;
				high = -1;
			}
		}
	}
	*p = s;
	return n;
}

int
attach_rtf_walk(const unsigned char *data, size_t len, unsigned int max,
		size_t max_bytes, attach_rtf_fn *fn, void *ctx)
{
	static const char word[] = "\\objdata";
	const unsigned char *p = data, *end = data + len;
	unsigned char *buf;
	unsigned int count = 0;

	if (!attach_rtf_is(data, len))
		return -1;
	/* hex halves the bytes: no object is larger than half the file */
	if (max_bytes > len / 2 + 1)
		max_bytes = len / 2 + 1;
	buf = xmalloc(max_bytes);
	while (p < end) {
		const unsigned char *at =
		    memmem(p, (size_t)(end - p), word, sizeof(word) - 1);
		size_t n;
		bool cut;

		if (at == NULL)
			break;
		p = at + sizeof(word) - 1;
		if (p < end && *p >= 'a' && *p <= 'z')
			continue; /* a longer control word */
		if (count == max) {
			count++;
			break;
		}
		count++;
		n = objdata_decode(&p, end, buf, max_bytes, &cut);
		ole1_object_report(buf, n, cut, fn, ctx);
	}
	free(buf);
	return (int)count;
}
