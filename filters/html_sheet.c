/*
 * html_sheet: style sheet rules that hide or show elements by tag, class
 * or id (see html_sheet.h). A small CSS reader: comments, strings,
 * nested blocks and at-rules are stepped over, bounded by the input,
 * by HTML_SHEET_MAX_RULES and by HTML_SHEET_MAX_DEPTH.
 */
#include "filters/html_sheet.h"
#include "filters/html_colors.h"
#include "filters/html_hidden.h"
#include "filters/html_tags.h"
#include "lib/xalloc.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTML_SHEET_MAX_RULES 512
#define HTML_SHEET_MAX_DEPTH 8
#define HTML_SHEET_GROUPS    5 /* the HTML_HIDE_* bits */
_Static_assert(HTML_HIDE_HEIGHT == 1u << (HTML_SHEET_GROUPS - 1),
	       "one slot per HTML_HIDE_* group");

/* One rule's subject: a tag, a class or id, or both. */
struct sheet_rule {
	char tag[16];  /* lower case; empty: any element */
	char kind;     /* '.' class, '#' id, 0: the tag alone */
	char name[48]; /* the class or id */
	unsigned char tag_len, name_len;
	uint32_t tag_hash, name_hash; /* name_hash() of tag and name */
	unsigned hides;		      /* HTML_HIDE_* groups it hides */
	unsigned shows;		      /* and those it shows */
	long fg, bg;	   /* colours it sets (html_colors.h), or NONE */
	unsigned priority; /* specificity, then order: the larger wins */
};

struct html_sheet {
	struct sheet_rule rules[HTML_SHEET_MAX_RULES];
	size_t count;
	unsigned shows_all;   /* groups a rule with an unread subject shows */
	bool colors_unknown;  /* a colour rule could not be placed */
	unsigned hide_groups; /* groups some rule hides */
	bool has_colors;      /* some rule sets a colour */
	unsigned order;
};

/* FNV-1a of a name, any case: rules are matched by it first. */
static uint32_t
name_hash(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint32_t)tolower((unsigned char)p[i])) * 16777619u;
	return h;
}

/* Past a comment at p ("/ *...* /"), or p. */
static const char *
css_skip_comment(const char *p, const char *end)
{
	if (end - p < 2 || p[0] != '/' || p[1] != '*')
		return p;
	for (p += 2; end - p >= 2; p++)
		if (p[0] == '*' && p[1] == '/')
			return p + 2;
	return end;
}

/* Past the string that starts at p (its quote), or end. */
static const char *
css_skip_string(const char *p, const char *end)
{
	char q = *p++;

	for (; p < end && *p != q; p++)
		if (*p == '\\' && p + 1 < end)
			p++;
	return p < end ? p + 1 : end;
}

/* The first of stops at depth 0 from p on (comments, strings and
 * bracketed runs stepped over), or end. */
static const char *
css_find(const char *p, const char *end, const char *stops)
{
	unsigned depth = 0;

	while (p < end) {
		const char *q = css_skip_comment(p, end);

		if (q != p) {
			p = q;
			continue;
		}
		if (*p == '"' || *p == '\'') {
			p = css_skip_string(p, end);
			continue;
		}
		if (depth == 0 && strchr(stops, *p) != NULL)
			return p;
		if (*p == '{' || *p == '(' || *p == '[')
			depth++;
		else if ((*p == '}' || *p == ')' || *p == ']') && depth > 0)
			depth--;
		p++;
	}
	return end;
}

/* A simple selector ("span", ".x", "#x", "div.x"; n bytes, no spaces)
 * into r; false for anything else. */
static bool
sheet_parse_subject(const char *sel, size_t n, struct sheet_rule *r)
{
	size_t i = 0, t = 0, k = 0;

	while (i < n && (isalnum((unsigned char)sel[i]) || sel[i] == '-')) {
		if (t + 1 >= sizeof(r->tag))
			return false;
		r->tag[t++] = (char)tolower((unsigned char)sel[i++]);
	}
	r->tag[t] = '\0';
	r->kind = 0;
	r->name[0] = '\0';
	if (i < n && (sel[i] == '.' || sel[i] == '#')) {
		r->kind = sel[i++];
		while (i < n && (isalnum((unsigned char)sel[i]) ||
				 sel[i] == '-' || sel[i] == '_')) {
			if (k + 1 >= sizeof(r->name))
				return false;
			r->name[k++] = sel[i++];
		}
		r->name[k] = '\0';
		if (k == 0)
			return false;
	}
	r->tag_len = (unsigned char)t;
	r->name_len = (unsigned char)k;
	r->tag_hash = name_hash(r->tag, t);
	r->name_hash = name_hash(r->name, k);
	return i == n && (t > 0 || k > 0);
}

/* The specificity of a whole selector, roughly (ids, then classes,
 * attributes and pseudo-classes, then tags), as one number. */
static unsigned
css_specificity(const char *sel, size_t n)
{
	unsigned ids = 0, classes = 0, tags = 0;
	bool compound_start = true;

	for (size_t i = 0; i < n; i++) {
		char c = sel[i];

		if (c == '#')
			ids++;
		else if (c == '.' || c == '[' || c == ':')
			classes++;
		else if (compound_start && isalpha((unsigned char)c))
			tags++;
		compound_start = c == ' ' || c == '>' || c == '+' || c == '~';
	}
	return (ids > 99 ? 99 : ids) * 10000 +
	       (classes > 99 ? 99 : classes) * 100 + (tags > 99 ? 99 : tags);
}

/* One selector of a rule (trimmed, n bytes) with its effects: the
 * groups it hides and shows, the colours it sets. */
static void
sheet_add_selector(struct html_sheet *s, const char *sel, size_t n,
		   unsigned hides, unsigned shows,
		   const struct html_color_attrs *colors)
{
	long fg = colors->fg, bg = colors->bg;

	struct sheet_rule r;
	size_t start = n;

	if (n == 0)
		return;
	/* the subject: the last compound selector, pseudo-classes off */
	while (start > 0 && strchr(" \t\r\n>+~", sel[start - 1]) == NULL)
		start--;
	size_t len = n - start;
	const char *colon = memchr(sel + start, ':', len);
	bool simple = start == 0 && colon == NULL;

	if (colon != NULL)
		len = (size_t)(colon - (sel + start));
	if (!simple) {
		/* hides and colours are kept only for a simple selector */
		hides = 0;
		s->colors_unknown |=
		    fg != HTML_COLOR_NONE || bg != HTML_COLOR_NONE;
		fg = bg = HTML_COLOR_NONE;
	}
	if (hides == 0 && shows == 0 && fg == HTML_COLOR_NONE &&
	    bg == HTML_COLOR_NONE)
		return;
	if (!sheet_parse_subject(sel + start, len, &r) ||
	    s->count == HTML_SHEET_MAX_RULES) {
		s->shows_all |= shows;
		s->colors_unknown |=
		    fg != HTML_COLOR_NONE || bg != HTML_COLOR_NONE;
		return;
	}
	r.hides = hides;
	r.shows = shows;
	r.fg = fg;
	r.bg = bg;
	s->hide_groups |= hides;
	s->has_colors |= fg != HTML_COLOR_NONE || bg != HTML_COLOR_NONE;
	r.priority = css_specificity(sel, n) * 1024 + s->order;
	s->rules[s->count++] = r;
}

/* A rule: its selector list (prelude) and declarations. */
static void
sheet_add_rule(struct html_sheet *s, const char *prelude, size_t plen,
	       const char *decls, size_t dlen, bool conditional)
{
	const char *p = prelude, *end = prelude + plen;
	struct html_color_attrs colors = HTML_COLOR_ATTRS_NONE;
	unsigned hides, shows;

	html_style_effects(decls, dlen, &hides, &shows);
	html_style_colors(&colors, decls, dlen);
	if (conditional) {
		/* hidden, or coloured, on some screens only */
		hides = 0;
		s->colors_unknown |= colors.fg != HTML_COLOR_NONE ||
				     colors.bg != HTML_COLOR_NONE;
		colors = HTML_COLOR_ATTRS_NONE;
	}
	if (hides == 0 && shows == 0 && colors.fg == HTML_COLOR_NONE &&
	    colors.bg == HTML_COLOR_NONE)
		return;
	if (s->order < 1023)
		s->order++;
	while (p < end) {
		const char *comma = css_find(p, end, ",");
		const char *a = p, *b = comma;

		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		sheet_add_selector(s, a, (size_t)(b - a), hides, shows,
				   &colors);
		p = comma < end ? comma + 1 : end;
	}
}

/* Reads rules from p until end or the '}' that closes the enclosing
 * block; returns where it stopped reading. */
static const char *
sheet_read_rules(struct html_sheet *s, const char *p, const char *end,
		 bool conditional, unsigned depth)
{
	while (p < end) {
		const char *q = css_skip_comment(p, end);

		if (q != p) {
			p = q;
			continue;
		}
		if (isspace((unsigned char)*p)) {
			p++;
			continue;
		}
		if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
			p += 4;
			continue;
		}
		if (end - p >= 3 && memcmp(p, "-->", 3) == 0) {
			p += 3;
			continue;
		}
		if (*p == '}')
			return p + 1;
		const char *prelude = p;
		p = css_find(p, end, "{;}");
		if (p == end || *p == '}')
			return p == end ? end : p + 1;
		if (*p == ';') { /* @import ...; @charset ...; */
			if (end - prelude >= 7 &&
			    strncasecmp(prelude, "@import", 7) == 0) {
				s->shows_all = ~0u; /* rules we cannot read */
				s->colors_unknown = true;
			}
			p++;
			continue;
		}
		if (*prelude == '@') {
			if (depth + 1 < HTML_SHEET_MAX_DEPTH) {
				p = sheet_read_rules(s, p + 1, end, true,
						     depth + 1);
			} else {
				p = css_find(p + 1, end, "}");
				p = p < end ? p + 1 : end;
			}
			continue;
		}
		const char *decls = p + 1, *close = css_find(decls, end, "}");
		sheet_add_rule(s, prelude, (size_t)(p - prelude), decls,
			       (size_t)(close - decls), conditional);
		p = close < end ? close + 1 : end;
	}
	return end;
}

struct html_sheet *
html_sheet_read(const char *html, size_t len)
{
	struct html_sheet *s = NULL;
	size_t i = 0;

	while (i < len) {
		const char *lt = memchr(html + i, '<', len - i);

		if (lt == NULL)
			break;
		i = (size_t)(lt - html);
		if (len - i >= 4 && memcmp(lt, "<!--", 4) == 0) {
			i += 4 + html_find_ci(lt + 4, len - i - 4, "-->");
			continue;
		}
		i++;
		size_t tag_len = html_find_ci(html + i, len - i, ">");
		if (tag_len >= 5 && strncasecmp(html + i, "link", 4) == 0 &&
		    isspace((unsigned char)html[i + 4]) &&
		    html_find_ci(html + i, tag_len, "stylesheet") < tag_len) {
			s = s != NULL ? s : xcalloc(1, sizeof(*s));
			s->shows_all = ~0u; /* a sheet we cannot read */
			s->colors_unknown = true;
		}
		if (len - i < 6 || strncasecmp(html + i, "style", 5) != 0 ||
		    isalnum((unsigned char)html[i + 5]) || html[i + 5] == '-')
			continue;
		s = s != NULL ? s : xcalloc(1, sizeof(*s));
		/* <style media="print">: its rules apply elsewhere */
		bool conditional =
		    html_find_ci(html + i, tag_len, "media") < tag_len &&
		    html_find_ci(html + i, tag_len, "screen") == tag_len &&
		    html_find_ci(html + i, tag_len, "all") == tag_len;
		i += tag_len;
		if (i < len)
			i++;
		size_t css_len = html_find_ci(html + i, len - i, "</style");
		(void)sheet_read_rules(s, html + i, html + i + css_len,
				       conditional, 0);
		i += css_len;
	}
	return s;
}

/* Whether the space-separated list holds name (want bytes), any case. */
static bool
class_list_has(const char *list, size_t n, const char *name, size_t want)
{
	size_t i = 0;

	while (i < n) {
		while (i < n && isspace((unsigned char)list[i]))
			i++;
		size_t start = i;
		while (i < n && !isspace((unsigned char)list[i]))
			i++;
		if (i - start == want &&
		    strncasecmp(list + start, name, want) == 0)
			return true;
	}
	return false;
}

/* An element as rules match it, its names hashed once. */
#define SHEET_CLASSES_HASHED 16
struct sheet_element {
	const char *tag, *classes, *id;
	size_t tag_len, class_len, id_len;
	uint32_t tag_hash, id_hash, class_hash[SHEET_CLASSES_HASHED];
	size_t class_count; /* more than SHEET_CLASSES_HASHED: not all are */
};

static void
sheet_element_init(struct sheet_element *e, const char *tag, size_t tag_len,
		   const char *classes, size_t class_len, const char *id,
		   size_t id_len)
{
	size_t i = 0;

	e->tag = tag;
	e->tag_len = tag_len;
	e->tag_hash = name_hash(tag, tag_len);
	e->classes = classes;
	e->class_len = class_len;
	e->id = id;
	e->id_len = id_len;
	e->id_hash = id != NULL ? name_hash(id, id_len) : 0;
	e->class_count = 0;
	while (classes != NULL && i < class_len) {
		while (i < class_len && isspace((unsigned char)classes[i]))
			i++;
		size_t start = i;
		while (i < class_len && !isspace((unsigned char)classes[i]))
			i++;
		if (i == start)
			break;
		if (e->class_count < SHEET_CLASSES_HASHED)
			e->class_hash[e->class_count] =
			    name_hash(classes + start, i - start);
		e->class_count++;
	}
}

static bool
element_has_class(const struct sheet_element *e, const struct sheet_rule *r)
{
	if (e->classes == NULL)
		return false;
	if (e->class_count <= SHEET_CLASSES_HASHED) {
		size_t k = 0;

		while (k < e->class_count && e->class_hash[k] != r->name_hash)
			k++;
		if (k == e->class_count)
			return false;
	}
	return class_list_has(e->classes, e->class_len, r->name, r->name_len);
}

static bool
rule_matches(const struct sheet_rule *r, const struct sheet_element *e)
{
	if (r->tag_len > 0 &&
	    (r->tag_hash != e->tag_hash || r->tag_len != e->tag_len ||
	     strncasecmp(r->tag, e->tag, e->tag_len) != 0))
		return false;
	if (r->kind == '.')
		return element_has_class(e, r);
	if (r->kind == '#')
		return e->id != NULL && r->name_hash == e->id_hash &&
		       r->name_len == e->id_len &&
		       strncasecmp(r->name, e->id, e->id_len) == 0;
	return true;
}

bool
html_sheet_hides(const struct html_sheet *sheet, const char *tag,
		 size_t tag_len, const char *classes, size_t class_len,
		 const char *id, size_t id_len, unsigned inline_shows)
{
	/* per group, the priority of the winning rule so far and whether
	 * it hides */
	unsigned best[HTML_SHEET_GROUPS] = {0};
	bool hides[HTML_SHEET_GROUPS] = {false};
	struct sheet_element e;
	unsigned open;

	if (sheet == NULL)
		return false;
	open = ~(sheet->shows_all | inline_shows);
	if ((sheet->hide_groups & open) == 0)
		return false;
	sheet_element_init(&e, tag, tag_len, classes, class_len, id, id_len);
	for (size_t i = 0; i < sheet->count; i++) {
		const struct sheet_rule *r = &sheet->rules[i];
		unsigned groups = (r->hides | r->shows) & open;

		if (groups == 0 || !rule_matches(r, &e))
			continue;
		for (unsigned g = 0; g < HTML_SHEET_GROUPS; g++) {
			if ((groups & (1u << g)) == 0 || r->priority < best[g])
				continue;
			best[g] = r->priority;
			hides[g] = (r->hides & (1u << g)) != 0;
		}
	}
	for (unsigned g = 0; g < HTML_SHEET_GROUPS; g++)
		if (hides[g])
			return true;
	return false;
}

bool
html_sheet_colors_known(const struct html_sheet *sheet)
{
	return sheet == NULL || !sheet->colors_unknown;
}

void
html_sheet_colors(const struct html_sheet *sheet, const char *tag,
		  size_t tag_len, const char *classes, size_t class_len,
		  const char *id, size_t id_len, struct html_color_attrs *a)
{
	unsigned fg_best = 0, bg_best = 0;
	struct sheet_element e;

	if (sheet == NULL || !sheet->has_colors)
		return;
	sheet_element_init(&e, tag, tag_len, classes, class_len, id, id_len);
	for (size_t i = 0; i < sheet->count; i++) {
		const struct sheet_rule *r = &sheet->rules[i];
		bool fg = r->fg != HTML_COLOR_NONE && !a->fg_style &&
			  r->priority > fg_best;
		bool bg = r->bg != HTML_COLOR_NONE && !a->bg_style &&
			  r->priority > bg_best;

		if ((!fg && !bg) || !rule_matches(r, &e))
			continue;
		if (fg) {
			a->fg = r->fg;
			fg_best = r->priority;
		}
		if (bg) {
			a->bg = r->bg;
			bg_best = r->priority;
		}
	}
}

void
html_sheet_free(struct html_sheet *sheet)
{
	free(sheet);
}
