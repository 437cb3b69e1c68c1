/*
 * html_tags: shared HTML name helpers (see html_tags.h).
 */
#include "filters/html_tags.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

bool
html_tag_in(const char *name, size_t n, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strlen(*list) == n && strncasecmp(name, *list, n) == 0)
			return true;
	return false;
}

bool
html_tag_is_void(const char *name, size_t n)
{
	static const char *const void_tags[] = {
	    "area", "base", "br",    "col",    "embed", "hr",  "img", "input",
	    "link", "meta", "param", "source", "track", "wbr", NULL};

	return html_tag_in(name, n, void_tags);
}

size_t
html_find_ci(const char *p, size_t left, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= left; i++)
		if (strncasecmp(p + i, needle, n) == 0)
			return i;
	return left;
}

void
html_tag_walk(const char *html, size_t len,
	      void (*seen)(void *ctx, const char *name, size_t n,
			   const char *tag, size_t tag_len),
	      void *ctx)
{
	size_t i = 0;

	while (i < len) {
		const char *lt = memchr(html + i, '<', len - i);
		size_t start, name_start, end;

		if (lt == NULL)
			return;
		start = (size_t)(lt - html);
		if (len - start >= 4 && memcmp(lt, "<!--", 4) == 0) {
			i = start + 4 +
			    html_find_ci(lt + 4, len - start - 4, "-->");
			continue;
		}
		name_start = start + 1 + (start + 1 < len && lt[1] == '/');
		i = name_start;
		while (i < len && (isalnum((unsigned char)html[i]) ||
				   html[i] == '-' || html[i] == ':'))
			i++;
		if (i == name_start ||
		    !isalpha((unsigned char)html[name_start]))
			continue; /* "<" as text, "<!DOCTYPE", "<?xml" */
		end = i + html_find_ci(html + i, len - i, ">");
		seen(ctx, html + name_start, i - name_start, lt, end - start);
		/* script and style hold text, not tags */
		if (lt[1] != '/' &&
		    html_tag_in(
			html + name_start, i - name_start,
			(const char *const[]){"script", "style", NULL})) {
			const char *close =
			    i - name_start == 6 ? "</script" : "</style";

			i = end + html_find_ci(html + end, len - end, close);
			continue;
		}
		i = end;
	}
}
