/*
 * html_charset: the charset an HTML document's <meta> tag declares (see
 * html_charset.h). Reads at most the first 1024 bytes.
 */
#include "filters/html_charset.h"

#include <ctype.h>
#include <strings.h>

#define PRESCAN_BYTES 1024

/* Offset of the case-insensitive needle (n bytes) in p[0..left), or left. */
static size_t
find_ci(const char *p, size_t left, const char *needle, size_t n)
{
	for (size_t i = 0; i + n <= left; i++)
		if (strncasecmp(p + i, needle, n) == 0)
			return i;
	return left;
}

static bool
charset_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' ||
	       c == ':';
}

/* The charset named after "charset" in one tag (tag[0..len)). */
static bool
tag_charset(const char *tag, size_t len, char *out, size_t outsz)
{
	size_t i = find_ci(tag, len, "charset", 7), n = 0;

	if (i == len)
		return false;
	for (i += 7; i < len && isspace((unsigned char)tag[i]); i++)
		;
	if (i >= len || tag[i] != '=')
		return false;
	for (i++; i < len && (isspace((unsigned char)tag[i]) || tag[i] == '"' ||
			      tag[i] == '\'');
	     i++)
		;
	while (i < len && charset_char(tag[i]) && n + 1 < outsz)
		out[n++] = tag[i++];
	out[n] = '\0';
	return n > 0;
}

bool
html_meta_charset(const char *html, size_t len, char *out, size_t outsz)
{
	size_t i = 0;

	if (outsz == 0)
		return false;
	if (len > PRESCAN_BYTES)
		len = PRESCAN_BYTES;
	while (i < len) {
		size_t at = find_ci(html + i, len - i, "<meta", 5), end;

		if (at == len - i)
			return false;
		i += at + 5;
		if (i < len && !isspace((unsigned char)html[i]) &&
		    html[i] != '/')
			continue; /* <metadata>, not <meta> */
		for (end = i; end < len && html[end] != '>'; end++)
			;
		if (tag_charset(html + i, end - i, out, outsz))
			return true;
		i = end;
	}
	return false;
}
