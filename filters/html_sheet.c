/*
 * html_sheet: style sheet rules that hide or show elements by tag, class
 * or id (see html_sheet.h). A small CSS reader: comments, strings,
 * nested blocks and at-rules are stepped over, bounded by the input,
 * by HTML_SHEET_MAX_RULES and by HTML_SHEET_MAX_DEPTH.
 */
#include "filters/html_sheet.h"
#include "filters/html_hidden.h"
#include "filters/html_tags.h"
#include "lib/xalloc.h"

#include <ctype.h>
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
	unsigned hides;	   /* HTML_HIDE_* groups it hides */
	unsigned shows;	   /* and those it shows */
	unsigned priority; /* specificity, then order: the larger wins */
};

struct html_sheet {
	struct sheet_rule rules[HTML_SHEET_MAX_RULES];
	size_t count;
	unsigned shows_all; /* groups a rule with an unread subject shows */
	unsigned order;
};

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

/* One selector of a rule (trimmed, n bytes) with its effects. */
static void
sheet_add_selector(struct html_sheet *s, const char *sel, size_t n,
		   unsigned hides, unsigned shows)
{
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
	if (!simple)
		hides = 0; /* a hide is kept only for a simple selector */
	if (hides == 0 && shows == 0)
		return;
	if (!sheet_parse_subject(sel + start, len, &r) ||
	    s->count == HTML_SHEET_MAX_RULES) {
		s->shows_all |= shows;
		return;
	}
	r.hides = hides;
	r.shows = shows;
	r.priority = css_specificity(sel, n) * 1024 + s->order;
	s->rules[s->count++] = r;
}

/* A rule: its selector list (prelude) and declarations. */
static void
sheet_add_rule(struct html_sheet *s, const char *prelude, size_t plen,
	       const char *decls, size_t dlen, bool conditional)
{
	const char *p = prelude, *end = prelude + plen;
	unsigned hides, shows;

	html_style_effects(decls, dlen, &hides, &shows);
	if (conditional)
		hides = 0; /* hidden on some screens only */
	if (hides == 0 && shows == 0)
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
		sheet_add_selector(s, a, (size_t)(b - a), hides, shows);
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
			    strncasecmp(prelude, "@import", 7) == 0)
				s->shows_all = ~0u; /* rules we cannot read */
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
	if (s != NULL) {
		bool any_hides = false;

		for (size_t r = 0; r < s->count; r++)
			any_hides |= (s->rules[r].hides & ~s->shows_all) != 0;
		if (!any_hides) {
			free(s);
			s = NULL;
		}
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

static bool
rule_matches(const struct sheet_rule *r, const char *tag, size_t tag_len,
	     const char *classes, size_t class_len, const char *id,
	     size_t id_len)
{
	if (r->tag_len > 0 &&
	    (r->tag_len != tag_len || strncasecmp(r->tag, tag, tag_len) != 0))
		return false;
	if (r->kind == '.')
		return classes != NULL &&
		       class_list_has(classes, class_len, r->name, r->name_len);
	if (r->kind == '#')
		return id != NULL && r->name_len == id_len &&
		       strncasecmp(r->name, id, id_len) == 0;
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
	unsigned open;

	if (sheet == NULL)
		return false;
	open = ~(sheet->shows_all | inline_shows);
	for (size_t i = 0; i < sheet->count; i++) {
		const struct sheet_rule *r = &sheet->rules[i];
		unsigned groups = (r->hides | r->shows) & open;

		if (groups == 0 || !rule_matches(r, tag, tag_len, classes,
						 class_len, id, id_len))
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

void
html_sheet_free(struct html_sheet *sheet)
{
	free(sheet);
}
