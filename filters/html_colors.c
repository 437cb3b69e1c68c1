/*
 * html_colors: text colour against background colour through the open
 * HTML elements (see html_colors.h). Bounded: HTML_COLORS_DEPTH open
 * elements are tracked, deeper ones only counted.
 */
#include "filters/html_colors.h"
#include "filters/html_tags.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Two colours closer than this in every channel look the same. */
#define HTML_COLOR_SAME 0x20

static const struct {
	const char *name;
	long rgb;
} named_colors[] = {
    {"white", 0xffffff},      {"black", 0x000000},  {"red", 0xff0000},
    {"green", 0x008000},      {"blue", 0x0000ff},   {"yellow", 0xffff00},
    {"gray", 0x808080},	      {"grey", 0x808080},   {"silver", 0xc0c0c0},
    {"navy", 0x000080},	      {"maroon", 0x800000}, {"purple", 0x800080},
    {"teal", 0x008080},	      {"olive", 0x808000},  {"lime", 0x00ff00},
    {"aqua", 0x00ffff},	      {"cyan", 0x00ffff},   {"fuchsia", 0xff00ff},
    {"magenta", 0xff00ff},    {"orange", 0xffa500}, {"snow", 0xfffafa},
    {"whitesmoke", 0xf5f5f5}, {"ivory", 0xfffff0},  {"ghostwhite", 0xf8f8ff},
};

static bool
all_hex(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)v[i]))
			return false;
	return n > 0;
}

static long
hex_color(const char *v, size_t n)
{
	char buf[7];
	long x;

	if (n == 3) {
		for (size_t i = 0; i < 3; i++)
			buf[2 * i] = buf[2 * i + 1] = v[i];
	} else {
		memcpy(buf, v, 6);
	}
	buf[6] = '\0';
	x = strtol(buf, NULL, 16);
	return x;
}

/* "rgb(r, g, b)" with integers 0-255. */
static long
rgb_color(const char *v, size_t n)
{
	long c[3];
	size_t i = 4, k;

	for (k = 0; k < 3; k++) {
		long x = 0;
		bool digit = false;

		while (i < n && isspace((unsigned char)v[i]))
			i++;
		while (i < n && isdigit((unsigned char)v[i]) && x < 1000) {
			x = x * 10 + (v[i++] - '0');
			digit = true;
		}
		while (i < n && isspace((unsigned char)v[i]))
			i++;
		if (!digit || x > 255 || i >= n || v[i] != (k < 2 ? ',' : ')'))
			return HTML_COLOR_UNKNOWN;
		c[k] = x;
		i++;
	}
	return c[0] << 16 | c[1] << 8 | c[2];
}

long
html_color_parse(const char *v, size_t len)
{
	while (len > 0 && isspace((unsigned char)*v)) {
		v++;
		len--;
	}
	while (len > 0 &&
	       (isspace((unsigned char)v[len - 1]) || v[len - 1] == ';'))
		len--;
	/* "!important" changes nothing here */
	if (len > 10 && strncasecmp(v + len - 10, "!important", 10) == 0) {
		len -= 10;
		while (len > 0 && isspace((unsigned char)v[len - 1]))
			len--;
	}
	if (len > 0 && v[0] == '#') {
		v++;
		len--;
		if ((len == 3 || len == 6) && all_hex(v, len))
			return hex_color(v, len);
		return HTML_COLOR_UNKNOWN;
	}
	if (len == 6 && all_hex(v, len))
		return hex_color(v, len);
	if (len > 5 && strncasecmp(v, "rgb(", 4) == 0)
		return rgb_color(v, len);
	if ((len == 11 && strncasecmp(v, "transparent", 11) == 0) ||
	    (len == 7 && strncasecmp(v, "inherit", 7) == 0))
		return HTML_COLOR_NONE;
	for (size_t i = 0; i < sizeof(named_colors) / sizeof(named_colors[0]);
	     i++)
		if (strlen(named_colors[i].name) == len &&
		    strncasecmp(v, named_colors[i].name, len) == 0)
			return named_colors[i].rgb;
	return HTML_COLOR_UNKNOWN;
}

static bool
name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

void
html_style_colors(struct html_color_attrs *a, const char *s, size_t len)
{
	const char *end = s + len;

	while (s < end) {
		const char *semi = memchr(s, ';', (size_t)(end - s));
		const char *decl_end = semi != NULL ? semi : end;
		const char *colon = memchr(s, ':', (size_t)(decl_end - s));

		if (colon != NULL) {
			const char *p = s, *pe = colon, *v = colon + 1;

			while (p < pe && isspace((unsigned char)*p))
				p++;
			while (pe > p && isspace((unsigned char)pe[-1]))
				pe--;
			if (name_is(p, (size_t)(pe - p), "color")) {
				a->fg =
				    html_color_parse(v, (size_t)(decl_end - v));
			} else if (name_is(p, (size_t)(pe - p),
					   "background-color")) {
				a->bg =
				    html_color_parse(v, (size_t)(decl_end - v));
			} else if (name_is(p, (size_t)(pe - p), "background")) {
				/* a colour alone, else (an image, a
				 * gradient) unknown */
				a->bg =
				    html_color_parse(v, (size_t)(decl_end - v));
			} else if (name_is(p, (size_t)(pe - p),
					   "background-image")) {
				a->bg = HTML_COLOR_UNKNOWN;
			}
		}
		s = decl_end + (semi != NULL ? 1 : 0);
	}
}

void
html_color_attr(struct html_color_attrs *a, const char *name, size_t n,
		const char *value, size_t vlen)
{
	/* the inline style wins over attributes, in any order */
	if (name_is(name, n, "color") || name_is(name, n, "text")) {
		if (!a->fg_style)
			a->fg = html_color_parse(value, vlen);
	} else if (name_is(name, n, "bgcolor")) {
		if (!a->bg_style)
			a->bg = html_color_parse(value, vlen);
	} else if (name_is(name, n, "background")) {
		if (!a->bg_style)
			a->bg = HTML_COLOR_UNKNOWN; /* an image */
	}
	if (name_is(name, n, "style")) {
		struct html_color_attrs style = HTML_COLOR_ATTRS_NONE;

		html_style_colors(&style, value, vlen);
		if (style.fg != HTML_COLOR_NONE) {
			a->fg = style.fg;
			a->fg_style = true;
		}
		if (style.bg != HTML_COLOR_NONE) {
			a->bg = style.bg;
			a->bg_style = true;
		}
	}
}

static bool
top_is(const struct html_colors *c, const char *want)
{
	return c->overflow == 0 && c->depth > 0 &&
	       name_is(c->open[c->depth - 1].name,
		       c->open[c->depth - 1].name_len, want);
}

void
html_colors_open(struct html_colors *c, const char *name, size_t n,
		 const struct html_color_attrs *a)
{
	static const char *const self_closing[] = {"p",	 "li", "td",
						   "th", "tr", "option"};

	if (html_tag_is_void(name, n))
		return;
	/* a cell, row, paragraph or item ends the open one */
	for (size_t i = 0; i < sizeof(self_closing) / sizeof(self_closing[0]);
	     i++)
		if (name_is(name, n, self_closing[i])) {
			if (name_is(name, n, "tr"))
				while (top_is(c, "td") || top_is(c, "th"))
					c->depth--;
			if (top_is(c, self_closing[i]))
				c->depth--;
		}
	if (c->depth == HTML_COLORS_DEPTH || c->overflow > 0 ||
	    n >= sizeof(c->open[0].name)) {
		c->overflow++;
		return;
	}
	memcpy(c->open[c->depth].name, name, n);
	c->open[c->depth].name[n] = '\0';
	c->open[c->depth].name_len = n;
	c->open[c->depth].fg = a->fg;
	c->open[c->depth].bg = a->bg;
	c->depth++;
}

void
html_colors_close(struct html_colors *c, const char *name, size_t n)
{
	if (c->overflow > 0) {
		c->overflow--;
		return;
	}
	for (size_t i = c->depth; i > 0; i--)
		if (c->open[i - 1].name_len == n &&
		    strncasecmp(c->open[i - 1].name, name, n) == 0) {
			c->depth = i - 1;
			return;
		}
}

/* The colour in force: the innermost element's that sets it, else dflt. */
static long
in_force(const struct html_colors *c, bool bg, long dflt)
{
	for (size_t i = c->depth; i > 0; i--) {
		long v = bg ? c->open[i - 1].bg : c->open[i - 1].fg;

		if (v != HTML_COLOR_NONE)
			return v;
	}
	return dflt;
}

bool
html_colors_hide(const struct html_colors *c)
{
	long fg, bg;

	if (c->overflow > 0)
		return false;
	fg = in_force(c, false, 0x000000);
	bg = in_force(c, true, 0xffffff);
	if (fg < 0 || bg < 0)
		return false;
	for (int shift = 0; shift <= 16; shift += 8)
		if (labs(((fg >> shift) & 0xff) - ((bg >> shift) & 0xff)) >=
		    HTML_COLOR_SAME)
			return false;
	return true;
}
