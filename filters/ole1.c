/*
 * ole1: OLE1 objects ([MS-OLEDS] 2.2.4: OLEVersion, FormatID, ClassName,
 * TopicName, ItemName, NativeDataSize, NativeData) and the Package
 * format (a label, paths, then the file), read with every length checked
 * against the bytes left (see ole1.h).
 */
#include "filters/ole1.h"

#include <stdint.h>
#include <string.h>

#define OLE1_EMBEDDED 2 /* FormatID of an embedded object */

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
void
ole1_package_report(const char *class_name, const unsigned char *d, size_t len,
		    bool cut, ole1_fn *fn, void *ctx)
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
void
ole1_object_report(const unsigned char *d, size_t len, bool cut, ole1_fn *fn,
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
		ole1_package_report(class_name, p, native, cut, fn, ctx);
	else
		fn(ctx, class_name, "", cut ? NULL : p, native);
}

void
ole1_native_stream_report(const unsigned char *d, size_t len, bool cut,
			  size_t stream_len, ole1_fn *fn, void *ctx)
{
	const unsigned char *p = d;
	uint32_t n;

	if (!read_u32(&p, d + len, &n)) {
		fn(ctx, "Package", "", NULL, 0);
		return;
	}
	if (n > len - 4) {
		/* the stream says more than was read: cut, whether by the
		 * size bound or by the stream itself ending early */
		cut = cut || n > stream_len - 4;
		n = (uint32_t)(len - 4);
	}
	ole1_package_report("Package", p, n, cut, fn, ctx);
}
