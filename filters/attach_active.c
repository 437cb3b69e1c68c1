/*
 * attach_active: active content in attached HTML and SVG files (see
 * attach_active.h). Case-insensitive byte searches over the file, bounded
 * by its length; UTF-16 files are searched in a copy without their NULs.
 */
#include "filters/attach_active.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"

/* How far into a file its kind is sniffed. */
#define ACTIVE_SNIFF_BYTES 1024

/* The first case-insensitive occurrence of needle (lower case) in
 * data[0..len), or NULL. */
static const unsigned char *
ci_find(const unsigned char *data, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0 || n > len)
		return NULL;
	for (size_t i = 0; i + n <= len; i++) {
		size_t k = 0;

		while (k < n &&
		       tolower(data[i + k]) == (unsigned char)needle[k])
			k++;
		if (k == n)
			return data + i;
	}
	return NULL;
}

/* UTF-16 text (a byte-order mark, or NULs in a quarter of the first
 * bytes), which browsers render: its ASCII must be searched too. */
static bool
looks_utf16(const unsigned char *data, size_t len)
{
	size_t n = len < ACTIVE_SNIFF_BYTES ? len : ACTIVE_SNIFF_BYTES, nul = 0;

	if (len >= 2 && ((data[0] == 0xff && data[1] == 0xfe) ||
			 (data[0] == 0xfe && data[1] == 0xff)))
		return true;
	for (size_t i = 0; i < n; i++)
		nul += data[i] == 0;
	return n >= 16 && nul * 4 >= n;
}

/* UTF-16 text's ASCII: in without its NULs (and byte-order marks) into
 * out, which holds len bytes; returns how many were kept. */
static size_t
narrow_utf16(const unsigned char *in, size_t len, unsigned char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (in[i] != 0 && in[i] != 0xff && in[i] != 0xfe)
			out[n++] = in[i];
	return n;
}

static bool
ext_is(const char *name, const char *const *exts)
{
	const char *dot = name != NULL ? strrchr(name, '.') : NULL;

	if (dot == NULL)
		return false;
	for (size_t i = 0; exts[i] != NULL; i++)
		if (strcasecmp(dot + 1, exts[i]) == 0)
			return true;
	return false;
}

/* The file name (after its last slash) has a dot. */
static bool
has_extension(const char *name)
{
	const char *base = name;

	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	return strchr(base, '.') != NULL;
}

/* Starts, after a byte-order mark and white space, with markup whose
 * first element (past an XML declaration, comments and a DOCTYPE) is
 * <svg>. */
static bool
sniff_svg(const unsigned char *data, size_t len)
{
	size_t n = len < ACTIVE_SNIFF_BYTES ? len : ACTIVE_SNIFF_BYTES;
	const unsigned char *svg = ci_find(data, n, "<svg");
	const unsigned char *html = ci_find(data, n, "<html");
	size_t i = 0;

	if (n >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < n && isspace(data[i]))
		i++;
	if (i >= n || data[i] != '<' || svg == NULL)
		return false;
	return html == NULL || html > svg;
}

/* An event-handler attribute: "on" + at least three letters + "=", after
 * white space, a slash or a quote. */
static bool
has_event_handler(const unsigned char *data, size_t len)
{
	for (size_t i = 1; i + 5 < len; i++) {
		size_t k = i + 2, letters = 0;
		unsigned char before = data[i - 1];

		if (tolower(data[i]) != 'o' || tolower(data[i + 1]) != 'n')
			continue;
		if (!isspace(before) && before != '/' && before != '"' &&
		    before != '\'')
			continue;
		while (k < len && isalpha(data[k]) && letters < 32) {
			k++;
			letters++;
		}
		while (k < len && isspace(data[k]))
			k++;
		if (letters >= 3 && k < len && data[k] == '=')
			return true;
	}
	return false;
}

/* A password field: type="password", quoted or not. */
static bool
has_password_field(const unsigned char *data, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		const unsigned char *t = ci_find(data + pos, len - pos, "type");
		size_t k;

		if (t == NULL)
			return false;
		k = (size_t)(t - data) + 4;
		while (k < len && isspace(data[k]))
			k++;
		if (k < len && data[k] == '=') {
			k++;
			while (k < len && (isspace(data[k]) || data[k] == '"' ||
					   data[k] == '\''))
				k++;
			if (k + 8 <= len &&
			    ci_find(data + k, 8, "password") == data + k)
				return true;
		}
		pos = (size_t)(t - data) + 1;
	}
	return false;
}

static bool
has_smuggling(const unsigned char *data, size_t len)
{
	return ci_find(data, len, "atob(") != NULL &&
	       (ci_find(data, len, "new blob") != NULL ||
		ci_find(data, len, "createobjecturl") != NULL ||
		ci_find(data, len, "mssaveoropenblob") != NULL);
}

bool
attach_active_check(const char *name, const char *declared_type,
		    const unsigned char *data, size_t len,
		    struct attach_active *out)
{
	static const char *const svg_exts[] = {"svg", NULL};
	static const char *const html_exts[] = {
	    "htm", "html", "xhtml", "shtml", "mht", "mhtml", "xht", NULL};
	static const char *const svg_active[] = {
	    "<script", "javascript:", "<foreignobject", "<iframe", "<embed",
	    "<object", NULL};
	unsigned char *narrow = NULL;
	bool svg, html, sniff, utf16, found;

	memset(out, 0, sizeof(*out));
	if (data == NULL || len == 0)
		return false;
	/* By name and type first: most files are neither, and are not read */
	html = ext_is(name, html_exts) ||
	       (declared_type != NULL && name != NULL && name[0] != '\0' &&
		(strcmp(declared_type, "text/html") == 0 ||
		 strcmp(declared_type, "application/xhtml+xml") == 0));
	svg = ext_is(name, svg_exts) ||
	      (declared_type != NULL &&
	       strcmp(declared_type, "image/svg+xml") == 0);
	sniff = !html && !svg && name != NULL && name[0] != '\0' &&
		!has_extension(name);
	if (!svg && !html && !sniff)
		return false;
	utf16 = looks_utf16(data, len);
	if (sniff) {
		/* the first bytes only, to tell an SVG */
		unsigned char head[2 * ACTIVE_SNIFF_BYTES];
		size_t n = len < sizeof(head) ? len : sizeof(head);

		if (utf16)
			n = narrow_utf16(data, n, head);
		else
			memcpy(head, data, n);
		if (!sniff_svg(head, n))
			return false;
		svg = true;
	}
	if (utf16) {
		narrow = xmalloc(len);
		len = narrow_utf16(data, len, narrow);
		data = narrow;
	}
	if (svg) {
		for (size_t i = 0; svg_active[i] != NULL && !out->svg_active;
		     i++)
			if (ci_find(data, len, svg_active[i]) != NULL) {
				out->svg_active = true;
				out->detail = svg_active[i];
			}
		if (!out->svg_active && has_event_handler(data, len)) {
			out->svg_active = true;
			out->detail = "event handler";
		}
	}
	if ((svg || html) && has_smuggling(data, len)) {
		out->smuggling = true;
		out->detail = "script decoding a file (atob, Blob)";
	}
	if (html) {
		out->html_script = ci_find(data, len, "<script") != NULL;
		out->html_password = has_password_field(data, len);
		if (out->detail == NULL)
			out->detail =
			    out->html_password ? "password field" : "<script>";
	}
	found = out->svg_active || out->smuggling || out->html_script ||
		out->html_password;
	free(narrow);
	return found;
}
