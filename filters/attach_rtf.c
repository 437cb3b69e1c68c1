/*
 * attach_rtf: embedded OLE objects of RTF documents (see attach_rtf.h).
 * The \objdata group is decoded as Word decodes it (groups inside it are
 * not data), the OLE1 object
 * (OLEVersion, FormatID, ClassName, TopicName, ItemName, NativeDataSize,
 * NativeData: [MS-OLEDS] 2.2.4) and a Package's native data (a label,
 * paths, then the file) read with every length checked.
 */
#include "filters/attach_rtf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

#define OLE1_EMBEDDED 2 /* FormatID of an embedded object */

bool
attach_rtf_is(const unsigned char *data, size_t len)
{
	return len >= 4 && memcmp(data, "{\\rt", 4) == 0;
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
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
		} else if ((v = hex_value(c)) >= 0) {
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

/* Little-endian reads with the bytes left checked. */
static bool
read_u32(const unsigned char **p, const unsigned char *end, uint32_t *v)
{
	if (end - *p < 4)
		return false;
	*v = (uint32_t)(*p)[0] | (uint32_t)(*p)[1] << 8 |
	     (uint32_t)(*p)[2] << 16 | (uint32_t)(*p)[3] << 24;
	*p += 4;
	return true;
}

/* A length-prefixed ANSI string of OLE1 (into out, printable ASCII). */
static bool
read_lpstr(const unsigned char **p, const unsigned char *end, char *out,
	   size_t outsz)
{
	uint32_t n;
	size_t o = 0;

	if (!read_u32(p, end, &n) || n > (size_t)(end - *p))
		return false;
	for (uint32_t i = 0; i < n && (*p)[i] != '\0'; i++)
		if (o + 1 < outsz)
			out[o++] = (*p)[i] >= 0x20 && (*p)[i] < 0x7f
				       ? (char)(*p)[i]
				       : '?';
	out[o] = '\0';
	*p += n;
	return true;
}

/* A NUL-terminated string (into out, printable ASCII; cut to outsz). */
static bool
read_cstr(const unsigned char **p, const unsigned char *end, char *out,
	  size_t outsz)
{
	const unsigned char *z = memchr(*p, '\0', (size_t)(end - *p));
	size_t o = 0;

	if (z == NULL)
		return false;
	for (const unsigned char *s = *p; s < z; s++)
		if (o + 1 < outsz)
			out[o++] = *s >= 0x20 && *s < 0x7f ? (char)*s : '?';
	out[o] = '\0';
	*p = z + 1;
	return true;
}

/* The last component of a Windows or Unix path. */
static const char *
base_name(const char *path)
{
	const char *b = path;

	for (const char *s = path; *s != '\0'; s++)
		if (*s == '\\' || *s == '/' || *s == ':')
			b = s + 1;
	return b;
}

/* A Package object's native data: the file's label (its name), its
 * original path, a temporary path, then the file (cut: the data ended
 * early). */
static void
package_report(const char *class_name, const unsigned char *d, size_t len,
	       bool cut, attach_rtf_fn *fn, void *ctx)
{
	const unsigned char *p = d, *end = d + len;
	char label[256] = "", path[256] = "", temp[256] = "";
	uint32_t unknown, size;
	const char *name;

	if (len < 2) {
		fn(ctx, class_name, "", NULL, 0);
		return;
	}
	p += 2; /* signature */
	if (!read_cstr(&p, end, label, sizeof(label)) ||
	    !read_cstr(&p, end, path, sizeof(path)) ||
	    !read_u32(&p, end, &unknown) ||
	    !read_lpstr(&p, end, temp, sizeof(temp)) ||
	    !read_u32(&p, end, &size)) {
		fn(ctx, class_name, base_name(label), NULL, cut ? len : 0);
		return;
	}
	if (size > (size_t)(end - p)) {
		size = (uint32_t)(end - p);
		cut = true;
	}
	/* the name Word shows is the label; the file is saved under the
	 * temporary path's when it is opened: both are checked */
	name = base_name(temp)[0] != '\0' ? base_name(temp) : base_name(label);
	fn(ctx, class_name, name, cut ? NULL : p, size);
	if (strcmp(base_name(label), name) != 0)
		fn(ctx, class_name, base_name(label), cut ? NULL : p, size);
}

/* One decoded \objdata: an OLE1 object. */
static void
object_report(const unsigned char *d, size_t len, bool cut, attach_rtf_fn *fn,
	      void *ctx)
{
	const unsigned char *p = d, *end = d + len;
	char class_name[64] = "", topic[256], item[256];
	uint32_t version, format, native;

	if (!read_u32(&p, end, &version) || !read_u32(&p, end, &format) ||
	    !read_lpstr(&p, end, class_name, sizeof(class_name))) {
		/* not OLE1: the bytes as they are (an OLE2 file, say) */
		fn(ctx, "", "", cut ? NULL : d, len);
		return;
	}
	if (format != OLE1_EMBEDDED) {
		fn(ctx, class_name, "", NULL, 0);
		return;
	}
	if (!read_lpstr(&p, end, topic, sizeof(topic)) ||
	    !read_lpstr(&p, end, item, sizeof(item)) ||
	    !read_u32(&p, end, &native)) {
		fn(ctx, class_name, "", NULL, 0);
		return;
	}
	if (native > (size_t)(end - p)) {
		native = (uint32_t)(end - p);
		cut = true;
	}
	if (strcmp(class_name, "Package") == 0)
		package_report(class_name, p, native, cut, fn, ctx);
	else
		fn(ctx, class_name, "", cut ? NULL : p, native);
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
		object_report(buf, n, cut, fn, ctx);
	}
	free(buf);
	return (int)count;
}
