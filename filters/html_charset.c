/*
 * html_charset: the charset an HTML document's <meta> tag declares (see
 * html_charset.h). Reads at most the first 1024 bytes.
 */
#include "filters/html_charset.h"
#include "filters/html_tags.h"

#include <ctype.h>

#define PRESCAN_BYTES 1024

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
	size_t i = html_find_ci(tag, len, "charset"), n = 0;

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
		size_t at = html_find_ci(html + i, len - i, "<meta"), end;

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
