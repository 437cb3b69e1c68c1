/*
 * html_colors: the colour HTML text is drawn in and the colour it is drawn
 * on, to find text the reader cannot see because the two are the same
 * (white on white, the oldest way spam hides words from the reader but
 * not from filters). mime_html_to_text() hands each opening tag's colour
 * attributes (`color`, `text`, `bgcolor`, and `color`/`background` in an
 * inline style) to html_colors_open() and each closing tag to
 * html_colors_close(); html_colors_hide() says whether text there is
 * drawn in its background's colour.
 *
 * What the tags say is known, and what the document's style sheet says
 * by tag, class or id (html_sheet.h). Where a colour could come from
 * elsewhere (a background image, a class without a style sheet to read,
 * a sheet rule Moat cannot place) the background is unknown and nothing
 * is taken as hidden, so white text on a dark header of a newsletter's
 * style sheet stays seen.
 * Elements end as browsers end them: at their closing tag, and a cell,
 * row, paragraph or list item also when the next one starts.
 */
#ifndef MOAT_HTML_COLORS_H
#define MOAT_HTML_COLORS_H

#include <stdbool.h>
#include <stddef.h>

#define HTML_COLOR_NONE	   (-1) /* the element does not set it */
#define HTML_COLOR_UNKNOWN (-2) /* set, but not to a colour known here */
#define HTML_COLORS_DEPTH  64

/* The colours one opening tag sets (0xRRGGBB or the values above), and
 * whether its inline style set them (a style sheet's rule wins over the
 * tag's attributes, not over its style). */
struct html_color_attrs {
	long fg, bg;
	bool fg_style, bg_style;
};

#define HTML_COLOR_ATTRS_NONE                                                  \
	((struct html_color_attrs){HTML_COLOR_NONE, HTML_COLOR_NONE, false,    \
				   false})

/* The open elements and the colours each set. */
struct html_colors {
	struct {
		char name[12];
		size_t name_len;
		long fg, bg;
	} open[HTML_COLORS_DEPTH];
	size_t depth;	 /* entries of open[] in use */
	size_t overflow; /* elements opened past HTML_COLORS_DEPTH */
};

/* A colour value ("#fff", "#FFFFFF", "white", "rgb(255,255,255)", or
 * six hex digits alone as old HTML allows): 0xRRGGBB, HTML_COLOR_NONE
 * for "transparent" and "inherit", else HTML_COLOR_UNKNOWN. */
long html_color_parse(const char *v, size_t len);

/* Notes attribute name (n bytes) = value (vlen bytes) of an opening tag
 * in a (which starts as HTML_COLOR_ATTRS_NONE). `class` is not read here:
 * what it does is the style sheet's (html_sheet.h). */
void html_color_attr(struct html_color_attrs *a, const char *name, size_t n,
		     const char *value, size_t vlen);

/* The colours a style's declarations set (color, background-color, a
 * background's colour; an image: unknown) into a. */
void html_style_colors(struct html_color_attrs *a, const char *style,
		       size_t len);

void html_colors_open(struct html_colors *c, const char *name, size_t n,
		      const struct html_color_attrs *a);
void html_colors_close(struct html_colors *c, const char *name, size_t n);

/* Whether text at this point is drawn in (nearly) the colour it is drawn
 * on, as far as the tags say. */
bool html_colors_hide(const struct html_colors *c);

#endif
