/*
 * attach_tnef: a bounded walk over a TNEF stream (see attach_tnef.h). The
 * format (MS-OXTNEF): a 4-byte signature and a 2-byte key, then
 * attributes, each a level byte (2 = an attachment's), a 32-bit id, a
 * 32-bit length, the data and a 16-bit checksum. An attachment starts at
 * its attAttachRenddata; attAttachTitle names it, attAttachData holds its
 * bytes, attAttachment its MAPI properties (where the long file name
 * lives).
 */
#include "filters/attach_tnef.h"

#include <stdint.h>
#include <string.h>

#define TNEF_SIGNATURE	    0x223e9f78u
#define TNEF_LVL_ATTACHMENT 2
#define TNEF_ATT_RENDDATA   0x9002u /* attAttachRenddata: a new one */
#define TNEF_ATT_TITLE	    0x8010u /* attAttachTitle */
#define TNEF_ATT_DATA	    0x800fu /* attAttachData */
#define TNEF_ATT_MAPI	    0x9005u /* attAttachment: MAPI properties */
#define TNEF_NAME_MAX	    256

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

bool
attach_is_tnef(const unsigned char *data, size_t len)
{
	return len >= 6 && le32(data) == TNEF_SIGNATURE;
}

/* A name into out (ASCII, '?' for the rest): 8-bit bytes, or UTF-16LE. */
static void
tnef_name(const unsigned char *p, size_t n, bool wide, char *out)
{
	size_t o = 0, step = wide ? 2 : 1;

	for (size_t i = 0; i + step <= n && o < TNEF_NAME_MAX - 1; i += step) {
		unsigned int c =
		    wide ? (unsigned int)p[i] | p[i + 1] << 8 : p[i];

		if (c == 0)
			break;
		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[o] = '\0';
}

/* PR_ATTACH_LONG_FILENAME (0x3707) among an attachment's MAPI properties,
 * by its tag as 8-bit or UTF-16 string, then count and length. */
static void
tnef_long_name(const unsigned char *p, size_t n, char *out)
{
	out[0] = '\0';
	for (size_t i = 0; i + 12 <= n; i++) {
		uint32_t len;

		if (p[i + 2] != 0x07 || p[i + 3] != 0x37 || p[i + 1] != 0 ||
		    (p[i] != 0x1e && p[i] != 0x1f))
			continue;
		len = le32(p + i + 8);
		if (le32(p + i + 4) != 1 || len > n - i - 12)
			continue;
		tnef_name(p + i + 12, len, p[i] == 0x1f, out);
		return;
	}
}

struct tnef_attachment {
	char title[TNEF_NAME_MAX], long_name[TNEF_NAME_MAX];
	const unsigned char *data;
	size_t len;
	bool open;
};

/* Reports a, when it was started, and clears it; false past max. */
static bool
tnef_flush(struct tnef_attachment *a, unsigned int *count, unsigned int max,
	   attach_tnef_fn *fn, void *ctx)
{
	const char *name;

	if (!a->open)
		return true;
	if (++*count > max)
		return false;
	name = a->long_name[0] != '\0' ? a->long_name : a->title;
	fn(ctx, name, a->data, a->len);
	if (a->long_name[0] != '\0' && a->title[0] != '\0' &&
	    strcmp(a->long_name, a->title) != 0)
		fn(ctx, a->title, a->data, a->len);
	memset(a, 0, sizeof(*a));
	return true;
}

int
attach_tnef_walk(const unsigned char *data, size_t len, unsigned int max,
		 attach_tnef_fn *fn, void *ctx)
{
	struct tnef_attachment a;
	unsigned int count = 0;
	size_t pos = 6;

	if (!attach_is_tnef(data, len))
		return -1;
	memset(&a, 0, sizeof(a));
	while (pos + 9 <= len) {
		unsigned int level = data[pos];
		uint32_t id = le32(data + pos + 1) & 0xffffu;
		uint32_t n = le32(data + pos + 5);
		const unsigned char *p = data + pos + 9;

		pos += 9;
		if (n > len - pos)
			break; /* truncated: what fits was seen */
		pos += n;
		pos += len - pos >= 2 ? 2 : len - pos; /* checksum, ignored */
		if (level != TNEF_LVL_ATTACHMENT)
			continue;
		if (id == TNEF_ATT_RENDDATA) {
			if (!tnef_flush(&a, &count, max, fn, ctx))
				return (int)count;
			a.open = true;
		} else if (id == TNEF_ATT_TITLE) {
			tnef_name(p, n, false, a.title);
			a.open = true;
		} else if (id == TNEF_ATT_DATA) {
			a.data = p;
			a.len = n;
			a.open = true;
		} else if (id == TNEF_ATT_MAPI) {
			tnef_long_name(p, n, a.long_name);
			a.open = true;
		}
	}
	(void)tnef_flush(&a, &count, max, fn, ctx);
	return (int)count;
}
