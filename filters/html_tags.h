/*
 * html_tags: the small pieces every HTML reader of the MIME parse shares
 * (filters/mime.c's scanner, html_hidden.c, html_colors.c,
 * html_charset.c): tag and attribute names compared without case, HTML's
 * void elements, and a case-insensitive search.
 */
#ifndef MOAT_HTML_TAGS_H
#define MOAT_HTML_TAGS_H

#include <stdbool.h>
#include <stddef.h>

/* Whether name (n bytes, any case) is one of list (lower case, NULL
 * ended). */
bool html_tag_in(const char *name, size_t n, const char *const *list);

/* Whether name (n bytes) is a void element (br, img, meta, ...), which
 * has no content and no closing tag. */
bool html_tag_is_void(const char *name, size_t n);

/* Offset of the case-insensitive needle in p[0..left), or left. */
size_t html_find_ci(const char *p, size_t left, const char *needle);

#endif
