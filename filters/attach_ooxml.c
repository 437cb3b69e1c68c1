/*
 * attach_ooxml: links an Office Open XML document follows when it opens
 * (see attach_ooxml.h). Each <Relationship .../> element of a .rels part
 * is read for its Type, Target and TargetMode attributes; only external
 * targets count.
 */
#include "filters/attach_ooxml.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "filters/markup_attr.h"

/* Schemes that start a program or an exploit, not a document fetch. */
static const char *const exploit_schemes[] = {
    "mhtml:",		"ms-msdt:", "search-ms:",   "search:",
    "ms-officecmd:",	"ms-word:", "ms-excel:",    "ms-powerpoint:",
    "ms-appinstaller:", "ms-cxh:",  "ms-cxh-full:", NULL};

/* Relationship types whose external target is fetched at open; from a
 * server (http, https, a UNC path or file://host/), not a local file
 * (Word records the local Normal.dotm a document was made from as
 * file:///C:/...). */
static const char *const fetched_types[] = {"/attachedTemplate", "/frame",
					    "/oleObject", "/subDocument", NULL};

static const unsigned char *
find_bytes(const unsigned char *hay, size_t len, const char *needle,
	   bool nocase)
{
	size_t n = strlen(needle);

	for (size_t i = 0; n > 0 && i + n <= len; i++)
		if (nocase ? strncasecmp((const char *)hay + i, needle, n) == 0
			   : memcmp(hay + i, needle, n) == 0)
			return hay + i;
	return NULL;
}

/* The value of attribute name (preceded by white space) in the element
 * el[0..len), without its quotes; false when absent. */
static bool
attribute(const unsigned char *el, size_t len, const char *name,
	  const unsigned char **value_r, size_t *value_len_r)
{
	size_t n = strlen(name);

	for (size_t i = 1; i + n + 2 <= len; i++)
		if (isspace(el[i - 1]) && memcmp(el + i, name, n) == 0 &&
		    markup_attr_value(el, len, i + n, false, value_r,
				      value_len_r))
			return true;
	return false;
}

static bool
has_prefix_nocase(const unsigned char *v, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && strncasecmp((const char *)v, prefix, n) == 0;
}

static bool
ends_with(const unsigned char *v, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(v + len - n, suffix, n) == 0;
}

static void
copy_detail(char *out, size_t size, const unsigned char *v, size_t len)
{
	size_t n = 0;

	if (size == 0)
		return;
	for (size_t i = 0; i < len && n + 1 < size; i++)
		out[n++] = v[i] >= 0x20 && v[i] < 0x7f ? (char)v[i] : '?';
	out[n] = '\0';
}

/* What one external target is. */
static enum attach_ooxml_link
classify(const unsigned char *type, size_t type_len,
	 const unsigned char *target, size_t target_len)
{
	/* Leading white space and entity-escaped forms do not hide it. */
	while (target_len > 0 && isspace(*target)) {
		target++;
		target_len--;
	}
	for (size_t i = 0; exploit_schemes[i] != NULL; i++)
		if (has_prefix_nocase(target, target_len, exploit_schemes[i]))
			return ATTACH_OOXML_EXPLOIT;
	if (find_bytes(target, target_len, "!x-usc:", true) != NULL)
		return ATTACH_OOXML_EXPLOIT;
	for (size_t i = 0; fetched_types[i] != NULL; i++)
		if (ends_with(type, type_len, fetched_types[i]) &&
		    (has_prefix_nocase(target, target_len, "http://") ||
		     has_prefix_nocase(target, target_len, "https://") ||
		     (has_prefix_nocase(target, target_len, "file://") &&
		      !has_prefix_nocase(target, target_len, "file:///")) ||
		     has_prefix_nocase(target, target_len, "\\\\") ||
		     has_prefix_nocase(target, target_len, "//")))
			return ATTACH_OOXML_REMOTE_TEMPLATE;
	return ATTACH_OOXML_NONE;
}

bool
attach_ooxml_is_rels(const char *path)
{
	size_t n = strlen(path);

	return n >= 5 && strcasecmp(path + n - 5, ".rels") == 0;
}

bool
attach_ooxml_is_macrosheet(const char *path)
{
	return strncasecmp(path, "xl/macrosheets/", 15) == 0 &&
	       path[15] != '\0';
}

enum attach_ooxml_link
attach_ooxml_check_rels(const unsigned char *xml, size_t len, char *detail_r,
			size_t detail_size)
{
	enum attach_ooxml_link worst = ATTACH_OOXML_NONE;
	size_t pos = 0;

	if (detail_size > 0)
		detail_r[0] = '\0';
	while (pos < len) {
		const unsigned char *el =
		    find_bytes(xml + pos, len - pos, "<Relationship", false);
		const unsigned char *type = NULL, *target = NULL, *mode = NULL;
		size_t el_len, type_len = 0, target_len = 0, mode_len = 0;
		const unsigned char *close;
		enum attach_ooxml_link k;

		if (el == NULL)
			break;
		close = memchr(el, '>', len - (size_t)(el - xml));
		el_len = close != NULL ? (size_t)(close - el)
				       : len - (size_t)(el - xml);
		pos = (size_t)(el - xml) + el_len;
		if (!attribute(el, el_len, "TargetMode", &mode, &mode_len) ||
		    mode_len != 8 || memcmp(mode, "External", 8) != 0 ||
		    !attribute(el, el_len, "Target", &target, &target_len))
			continue;
		if (!attribute(el, el_len, "Type", &type, &type_len))
			type_len = 0;
		k = classify(type != NULL ? type : (const unsigned char *)"",
			     type_len, target, target_len);
		if (k > worst) {
			worst = k;
			copy_detail(detail_r, detail_size, target, target_len);
		}
	}
	return worst;
}
