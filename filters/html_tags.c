/*
 * html_tags: shared HTML name helpers (see html_tags.h).
 */
#include "filters/html_tags.h"

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
