/*
 * html_tags: the small pieces every HTML reader of the MIME parse shares
 * (filters/mime.c's scanner, html_hidden.c, html_colors.c,
 * html_charset.c, html_sheet.c, spam_view.c): tag and attribute names
 * compared without case, HTML's void elements, a case-insensitive search,
 * and a walk over the tags.
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

/* Calls seen() for each start and end tag of html (len bytes): its name
 * (n bytes, as written) and the whole tag from '<' (tag_len bytes, up
 * to '>' or the end). Comments, declarations and the text of script and
 * style elements hold no tags. For SpamAssassin's html_tag_exists() and
 * html_test() (filters/spam_view.c). */
void html_tag_walk(const char *html, size_t len,
		   void (*seen)(void *ctx, const char *name, size_t n,
				const char *tag, size_t tag_len),
		   void *ctx);

#endif
