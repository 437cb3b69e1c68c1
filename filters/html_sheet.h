/*
 * html_sheet: the rules of an HTML document's style sheets (its <style>
 * elements) that hide elements, so that text hidden by a class
 * (`<style>.x{display:none}</style> ... <span class="x">`) goes apart
 * from the text the reader sees, as text hidden by an inline style does
 * (html_hidden.h).
 *
 * Only the selectors a hiding rule can be trusted to reach are kept: a
 * tag, a class or an id alone, or a tag with one class or id
 * (`span`, `.x`, `#x`, `div.x`). Rules inside at-rules (`@media`) hide
 * on some screens only and are not kept. Any rule that shows what could
 * hide (display, visibility, font-size, opacity set to a visible value)
 * overrides: its subject (the last compound selector, pseudo-classes
 * dropped) then shows, and a rule whose subject cannot be read (`*`,
 * attribute selectors) turns sheet hiding off for the document. So a
 * sheet hides less than a browser would, never more. Colours
 * (html_colors.h) are read from the same simple selectors, and only when
 * every colour rule of the sheet is one of them.
 */
#ifndef MOAT_HTML_SHEET_H
#define MOAT_HTML_SHEET_H

#include <stdbool.h>
#include <stddef.h>

struct html_sheet;

struct html_color_attrs;

/* Reads the <style> elements of html (len bytes; those inside HTML
 * comments are skipped). NULL when it has none (nor a <link>ed one). */
struct html_sheet *html_sheet_read(const char *html, size_t len);

/* Whether the sheet (NULL: none) hides an element with the tag name
 * (tag_len bytes), class attribute (space-separated classes, class_len
 * bytes) and id; classes and id may be NULL. inline_shows: the HTML_HIDE_*
 * groups the element's own style shows (html_style_effects()), which win
 * over the sheet. For each group the matching rule of highest specificity
 * (then the last) decides. Names compare without case, as in the quirks
 * mode most mail is rendered in. */
bool html_sheet_hides(const struct html_sheet *sheet, const char *tag,
		      size_t tag_len, const char *classes, size_t class_len,
		      const char *id, size_t id_len, unsigned inline_shows);

/* Whether every colour the sheet (NULL: none) sets can be placed: false
 * when a rule sets one for a selector it cannot read (`a:link`, `.x td`),
 * inside an at-rule (`@media (prefers-color-scheme: dark)`), or the sheet
 * is not all there (`@import`, `<link>`). Then text colours are not
 * judged in the document (html_colors.h). */
bool html_sheet_colors_known(const struct html_sheet *sheet);

/* The colours the sheet gives an element (as html_sheet_hides() matches
 * it) into a, the highest specificity (then the last rule) winning; the
 * sheet wins over the tag's colour attributes, not over its inline style
 * (a->fg_style, a->bg_style). */
void html_sheet_colors(const struct html_sheet *sheet, const char *tag,
		       size_t tag_len, const char *classes, size_t class_len,
		       const char *id, size_t id_len,
		       struct html_color_attrs *a);

void html_sheet_free(struct html_sheet *sheet);

#endif
