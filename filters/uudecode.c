/*
 * uudecode: see uudecode.h. Each line starts with a length character
 * (' ' + n, n at most 45 bytes), then n bytes as groups of four characters
 * of six bits each (' ' + v, with '`' for 0); trailing characters past the
 * groups a line needs are ignored, as uudecode(1) does.
 */
#include "filters/uudecode.h"

#include <string.h>

/* The six bits a uuencoding character stands for; -1 for others. */
static int
uu_value(unsigned char c)
{
	if (c < ' ' || c > '`')
		return -1;
	return (c - ' ') & 0x3f;
}

/* Decodes one line of n characters into out (room for 45 bytes): the
 * byte count, or -1 when the line is not uuencoding. */
static int
uu_line(const unsigned char *line, size_t n, unsigned char *out)
{
	int count, v[4];
	size_t i, need;

	if (n == 0 || (count = uu_value(line[0])) < 0 || count > 45)
		return -1;
	need = 1 + ((size_t)count + 2) / 3 * 4;
	if (n < need)
		return -1;
	for (i = 0; (int)i * 3 < count; i++) {
		for (int k = 0; k < 4; k++)
			if ((v[k] = uu_value(line[1 + i * 4 + (size_t)k])) < 0)
				return -1;
		out[i * 3] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		out[i * 3 + 1] = (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
		out[i * 3 + 2] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
	}
	return count;
}

size_t
uudecode_body(const unsigned char *text, size_t len, struct buf *out)
{
	size_t pos = 0;

	while (pos < len) {
		const unsigned char *line = text + pos;
		const unsigned char *nl = memchr(line, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
		size_t next = pos + n + (nl != NULL ? 1 : 0);
		unsigned char bytes[48];
		int count;

		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 3 && memcmp(line, "end", 3) == 0)
			return next;
		count = uu_line(line, n, bytes);
		if (count < 0)
			return pos;
		buf_append(out, bytes, (size_t)count);
		pos = next;
	}
	return pos;
}
