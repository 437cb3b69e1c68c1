/*
 * html_hidden: inline styles that hide an element, and the hidden element
 * the HTML scanner is inside (see html_hidden.h). Bounded by the input.
 */
#include "filters/html_hidden.h"
#include "filters/html_tags.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* One declaration "property:value" of a style, lower case, spaces out. */
struct css_decl {
	char prop[32];
	char value[64];
};

/* Reads the next declaration from *p (advanced past it, up to end);
 * false at the end. An over-long property or value is cut. */
static bool
css_next(const char **p, const char *end, struct css_decl *d)
{
	size_t np = 0, nv = 0;
	bool in_value = false;

	if (*p >= end)
		return false;
	while (*p < end && **p != ';') {
		unsigned char c = (unsigned char)*(*p)++;

		if (isspace(c))
			continue;
		if (c == ':' && !in_value) {
			in_value = true;
			continue;
		}
		c = (unsigned char)tolower(c);
		if (!in_value && np + 1 < sizeof(d->prop))
			d->prop[np++] = (char)c;
		else if (in_value && nv + 1 < sizeof(d->value))
			d->value[nv++] = (char)c;
	}
	if (*p < end)
		(*p)++; /* ';' */
	d->prop[np] = '\0';
	d->value[nv] = '\0';
	return true;
}

/* Whether a CSS length or number is zero: "0", "0px", "0.0em", "0%". */
static bool
css_zero(const char *v)
{
	bool digit = false;

	for (; *v == '0' || *v == '.'; v++)
		digit |= *v == '0';
	if (!digit)
		return false;
	/* the unit, or "!important" */
	return *v == '\0' || isalpha((unsigned char)*v) || *v == '%' ||
	       *v == '!';
}

/* Which property group a declaration sets, and whether its value hides
 * (*hides) or shows; 0 for properties that neither hide nor show. Zero
 * height hides only with overflow hidden: *zero_height and
 * *overflow_hidden collect those. */
static unsigned
css_decl_group(const struct css_decl *d, bool *hides, bool *zero_height,
	       bool *overflow_hidden)
{
	if (strcmp(d->prop, "display") == 0) {
		*hides = strncmp(d->value, "none", 4) == 0;
		return HTML_HIDE_DISPLAY;
	}
	if (strcmp(d->prop, "visibility") == 0) {
		*hides = strncmp(d->value, "hidden", 6) == 0;
		return HTML_HIDE_VISIBILITY;
	}
	if (strcmp(d->prop, "font-size") == 0) {
		*hides = css_zero(d->value);
		return HTML_HIDE_FONT_SIZE;
	}
	if (strcmp(d->prop, "opacity") == 0) {
		*hides = css_zero(d->value);
		return HTML_HIDE_OPACITY;
	}
	if (strcmp(d->prop, "max-height") == 0 ||
	    strcmp(d->prop, "height") == 0)
		*zero_height = css_zero(d->value);
	else if (strcmp(d->prop, "overflow") == 0)
		*overflow_hidden = strncmp(d->value, "hidden", 6) == 0;
	else
		return 0;
	*hides = false;
	return HTML_HIDE_HEIGHT;
}

void
html_style_effects(const char *style, size_t len, unsigned *hides,
		   unsigned *shows)
{
	const char *p = style, *end = style + len;
	struct css_decl d;
	bool zero_height = false, overflow_hidden = false;

	*hides = *shows = 0;
	while (css_next(&p, end, &d)) {
		bool hide = false;
		unsigned group =
		    css_decl_group(&d, &hide, &zero_height, &overflow_hidden);

		/* the last declaration of a property wins */
		*hides = hide ? *hides | group : *hides & ~group;
		*shows = hide ? *shows & ~group : *shows | group;
	}
	*hides &= ~HTML_HIDE_HEIGHT;
	if (zero_height && overflow_hidden) {
		*hides |= HTML_HIDE_HEIGHT;
		*shows &= ~HTML_HIDE_HEIGHT;
	}
}

bool
html_style_hides(const char *style, size_t len)
{
	unsigned hides, shows;

	html_style_effects(style, len, &hides, &shows);
	return hides != 0;
}

bool
html_hide_active(const struct html_hide *h)
{
	return h->name_len > 0;
}

void
html_hide_open(struct html_hide *h, const char *name, size_t n, bool hides)
{
	/* elements whose start closes an open <p> */
	static const char *const p_closers[] = {
	    "p",      "div",	    "table", "ul", "ol",      "dl",
	    "h1",     "h2",	    "h3",    "h4", "h5",      "h6",
	    "pre",    "blockquote", "form",  "hr", "section", "article",
	    "header", "footer",	    NULL};

	if (html_hide_active(h)) {
		if (h->name_len == 1 && h->name[0] == 'p' &&
		    html_tag_in(name, n, p_closers)) {
			h->name_len = 0; /* the hidden paragraph ends here */
		} else {
			if (n == h->name_len &&
			    strncasecmp(name, h->name, n) == 0)
				h->nest++;
			return;
		}
	}
	if (!hides || n == 0 || n >= sizeof(h->name) ||
	    html_tag_is_void(name, n))
		return;
	for (size_t i = 0; i < n; i++)
		h->name[i] = (char)tolower((unsigned char)name[i]);
	h->name[n] = '\0';
	h->name_len = n;
	h->nest = 1;
}

void
html_hide_close(struct html_hide *h, const char *name, size_t n)
{
	if (!html_hide_active(h) || n != h->name_len ||
	    strncasecmp(name, h->name, n) != 0)
		return;
	if (--h->nest == 0)
		h->name_len = 0;
}
