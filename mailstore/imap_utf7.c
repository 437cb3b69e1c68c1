/*
 * imap_utf7: modified UTF-7 for mailbox names (RFC 3501 5.1.3). Printable
 * ASCII stands for itself except '&', written "&-"; other characters are
 * UTF-16 in modified base64 (',' for '/') between '&' and '-'. Decoding is
 * strict: it rejects what a conforming encoder would never produce
 * (printable ASCII inside a shift, "&-" style empty shifts other than "&-",
 * padding bits set), so that every name has one encoding.
 */
#include "mailstore/imap_utf7.h"

#include <stdint.h>
#include <string.h>

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Decodes one UTF-8 code point; returns its length or 0 when invalid. */
static size_t
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp_r)
{
	uint32_t cp;
	size_t n, i;

	if (len == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return n;
}

bool
imap_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;

	while (len > 0) {
		size_t n = utf8_decode(p, len, &cp);
		if (n == 0)
			return false;
		p += n;
		len -= n;
	}
	return true;
}

static void
utf8_append(struct buf *out, uint32_t cp)
{
	char t[4];
	size_t n;

	if (cp < 0x80) {
		t[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		t[0] = (char)(0xc0 | (cp >> 6));
		t[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		t[0] = (char)(0xe0 | (cp >> 12));
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		t[0] = (char)(0xf0 | (cp >> 18));
		t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(out, t, n);
}

int
imap_utf7_encode(const char *in, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t len = strlen(in);

	while (len > 0) {
		uint32_t bits = 0;
		unsigned int nbits = 0;

		if (*p >= 0x20 && *p < 0x7f) {
			if (*p == '&')
				buf_append_str(out, "&-");
			else
				buf_append_char(out, (char)*p);
			p++;
			len--;
			continue;
		}
		buf_append_char(out, '&');
		while (len > 0 && !(*p >= 0x20 && *p < 0x7f)) {
			uint32_t cp, units[2];
			size_t n = utf8_decode(p, len, &cp), nu;

			if (n == 0)
				return -1;
			p += n;
			len -= n;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				units[0] = 0xd800 | (cp >> 10);
				units[1] = 0xdc00 | (cp & 0x3ff);
				nu = 2;
			} else {
				units[0] = cp;
				nu = 1;
			}
			for (size_t u = 0; u < nu; u++) {
				bits = (bits << 16) | units[u];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					buf_append_char(
					    out,
					    b64chars[(bits >> nbits) & 63]);
				}
			}
		}
		if (nbits > 0)
			buf_append_char(out,
					b64chars[(bits << (6 - nbits)) & 63]);
		buf_append_char(out, '-');
	}
	return 0;
}

static int
b64_index(unsigned char c)
{
	const char *q;

	if (c == 0)
		return -1;
	q = strchr(b64chars, c);
	return q == NULL ? -1 : (int)(q - b64chars);
}

int
imap_utf7_decode(const char *in, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in;

	while (*p != '\0') {
		uint32_t bits = 0, high = 0;
		unsigned int nbits = 0;
		size_t chars = 0;

		if (*p < 0x20 || *p >= 0x7f)
			return -1;
		if (*p != '&') {
			buf_append_char(out, (char)*p++);
			continue;
		}
		p++;
		if (*p == '-') {
			buf_append_char(out, '&');
			p++;
			continue;
		}
		while (*p != '-') {
			int v = b64_index(*p);

			if (v < 0)
				return -1;
			p++;
			chars++;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits >= 16) {
				uint32_t unit;

				nbits -= 16;
				unit = (bits >> nbits) & 0xffff;
				if (high != 0) {
					if (unit < 0xdc00 || unit > 0xdfff)
						return -1;
					utf8_append(
					    out, 0x10000 +
						     ((high - 0xd800) << 10) +
						     (unit - 0xdc00));
					high = 0;
				} else if (unit >= 0xd800 && unit <= 0xdbff) {
					high = unit;
				} else if (unit >= 0xdc00 && unit <= 0xdfff) {
					return -1;
				} else if (unit >= 0x20 && unit < 0x7f) {
					return -1; /* must be direct */
				} else {
					utf8_append(out, unit);
				}
			}
		}
		p++; /* '-' */
		if (chars == 0 || high != 0 || nbits >= 6 ||
		    (bits & ((1u << nbits) - 1)) != 0)
			return -1;
	}
	return 0;
}
