/*
 * markup_attr: the value of an HTML or XML attribute (see markup_attr.h).
 */
#include "filters/markup_attr.h"

#include <ctype.h>

bool
markup_attr_value(const unsigned char *s, size_t len, size_t pos,
		  bool unquoted_ok, const unsigned char **value_r,
		  size_t *value_len_r)
{
	size_t v = pos, end;

	while (v < len && isspace(s[v]))
		v++;
	if (v >= len || s[v] != '=')
		return false;
	v++;
	while (v < len && isspace(s[v]))
		v++;
	if (v < len && (s[v] == '"' || s[v] == '\'')) {
		unsigned char quote = s[v++];

		for (end = v; end < len && s[end] != quote; end++)
			;
	} else {
		if (!unquoted_ok)
			return false;
		for (end = v; end < len && !isspace(s[end]) && s[end] != '>';
		     end++)
			;
	}
	*value_r = s + v;
	*value_len_r = end - v;
	return true;
}
