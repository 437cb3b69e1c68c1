/*
 * html_hidden: which parts of an HTML body the reader never sees. An
 * element is hidden by the `hidden` attribute or by an inline style that
 * hides it (display:none, visibility:hidden, a zero font size, zero
 * opacity, zero max-height with overflow hidden: what e-mail "preheaders"
 * and spam's hidden filler words use). mime_html_to_text() asks
 * html_style_hides() of each opening tag's style and keeps the element it
 * is inside with struct html_hide, so that hidden text goes apart from the
 * text the rules and Bayes read as seen (Bayes reads it separately, as
 * SpamAssassin does). Style sheet rules that hide elements by tag, class
 * or id are read by html_sheet.h. Text drawn in its background's colour is
 * found by html_colors.h.
 */
#ifndef MOAT_HTML_HIDDEN_H
#define MOAT_HTML_HIDDEN_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the inline style (a style attribute's value, len bytes) hides
 * its element. */
bool html_style_hides(const char *style, size_t len);

/* The groups of properties that can hide an element. */
enum {
	HTML_HIDE_DISPLAY = 1u << 0,	/* display:none */
	HTML_HIDE_VISIBILITY = 1u << 1, /* visibility:hidden */
	HTML_HIDE_FONT_SIZE = 1u << 2,	/* font-size:0 */
	HTML_HIDE_OPACITY = 1u << 3,	/* opacity:0 */
	HTML_HIDE_HEIGHT = 1u << 4, /* (max-)height:0 with overflow:hidden */
};

/* Which groups a style (inline, or a style sheet rule's declarations)
 * sets to a value that hides (*hides) and which to one that shows
 * (*shows: display:block, font-size:12px, ...); the last declaration of
 * a property wins, as in CSS. */
void html_style_effects(const char *style, size_t len, unsigned *hides,
			unsigned *shows);

/* The hidden element the scanner is inside, if any. A zeroed struct is
 * outside any. */
struct html_hide {
	char name[16];	 /* its tag name, lower case */
	size_t name_len; /* 0: not inside a hidden element */
	unsigned nest;	 /* open elements of the same name, itself included */
};

/* Whether the scanner is inside a hidden element. */
bool html_hide_active(const struct html_hide *h);

/* An opening tag (name, n bytes) that hides (hides: the `hidden`
 * attribute or html_style_hides()) or not; void elements (br, img, ...)
 * never start hiding, and a block element ends a hidden paragraph as it
 * closes an open one. */
void html_hide_open(struct html_hide *h, const char *name, size_t n,
		    bool hides);

/* A closing tag: ends hiding when it closes the hidden element. */
void html_hide_close(struct html_hide *h, const char *name, size_t n);

#endif
