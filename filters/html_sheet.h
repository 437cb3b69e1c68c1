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
 * sheet hides less than a browser would, never more.
 */
#ifndef MOAT_HTML_SHEET_H
#define MOAT_HTML_SHEET_H

#include <stdbool.h>
#include <stddef.h>

struct html_sheet;

/* Reads the <style> elements of html (len bytes; those inside HTML
 * comments are skipped). NULL when they hide nothing. */
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

void html_sheet_free(struct html_sheet *sheet);

#endif
