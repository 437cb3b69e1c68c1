/*
 * mime: one GMime parse per message, flattened into the immutable struct
 * mime_message every filter reads (see mime.h for the contract).
 *
 * The spool file is mapped (GMimeStreamMmap over a dup of the fd, so the
 * caller's file offset never moves) and parsed with a per-parse
 * GMimeParserOptions whose warning callback turns GMime's findings into
 * symbols. The object tree is then walked depth-first: each node becomes a
 * struct mime_part; the walk stops descending at limits.max_depth and stops
 * recording at limits.max_parts. Leaves are transfer-decoded through a
 * GMime filter stream into a budget shared by the whole message; text
 * parts are converted to UTF-8 (invalid sequences become U+FFFD) and HTML is
 * reduced to text by the small scanner in mime_html_to_text(), whose links
 * join the URL list. All memory lives in one pool freed at once.
 */
#include "filters/mime.h"
#include "filters/html_charset.h"
#include "filters/html_colors.h"
#include "filters/html_hidden.h"
#include "filters/html_sheet.h"
#include "filters/html_tags.h"
#include "filters/shown_link.h"
#include "filters/text_deobfuscate.h"

#include <ctype.h>
#include <errno.h>
#include <gmime/gmime.h>
#include <iconv.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/hex.h"
#include "lib/log.h"
#include "lib/pool.h"
#include "lib/xalloc.h"

#define MIME_READ_CHUNK	     65536
#define MIME_RAW_HEADERS_MAX (1024 * 1024)
#define MIME_URL_MAX	     2048
/* Redirect targets inside redirect targets, at most. */
#define MIME_URL_NEST_MAX 3

static const char *const mime_symbol_names[MIME_SYM_COUNT_] = {
    [MIME_SYM_TOO_DEEP] = "MIME_TOO_DEEP",
    [MIME_SYM_TOO_MANY_PARTS] = "MIME_TOO_MANY_PARTS",
    [MIME_SYM_TOO_LARGE] = "MIME_TOO_LARGE",
    [MIME_SYM_TOO_MANY_URLS] = "MIME_TOO_MANY_URLS",
    [MIME_SYM_PARSE_ERROR] = "MIME_PARSE_ERROR",
    [MIME_SYM_MALFORMED] = "MIME_MALFORMED",
    [MIME_SYM_BAD_HEADER] = "MIME_BAD_HEADER",
    [MIME_SYM_BAD_CHARSET] = "MIME_BAD_CHARSET",
    [MIME_SYM_NESTING_OVERFLOW] = "MIME_NESTING_OVERFLOW",
    [MIME_SYM_AMBIGUOUS] = "MIME_AMBIGUOUS",
};

/* Parse state: growable arrays here, copied into the pool at the end. */
struct mime_ctx {
	struct mime_message *msg;
	struct mime_limits limits;
	GMimeParserOptions *options;
	struct mime_part *parts;
	size_t part_count, part_cap;
	const char **urls;
	size_t url_count, url_cap;
	GHashTable *url_set;
	struct buf text;
	struct buf hidden_text;		     /* text of hidden HTML elements */
	struct mime_shown_link *shown_links; /* MIME_SHOWN_LINKS_MAX */
	size_t shown_link_count;
	size_t decoded_used;
	bool truncated;	    /* GMime saw the input end early */
	bool headers_ended; /* the top-level header block has its blank line */
};

static pthread_once_t mime_once = PTHREAD_ONCE_INIT;

static void
mime_init_once(void)
{
	g_mime_init();
}

void
mime_init(void)
{
	pthread_once(&mime_once, mime_init_once);
}

const char *
mime_symbol_name(enum mime_symbol sym)
{
	if ((unsigned int)sym >= MIME_SYM_COUNT_)
		return "MIME_UNKNOWN";
	return mime_symbol_names[sym];
}

void
mime_limits_default(struct mime_limits *limits_r)
{
	limits_r->max_depth = 20;
	limits_r->max_parts = 1000;
	limits_r->max_decoded_size = 64 * 1024 * 1024;
	limits_r->max_text_size = 4 * 1024 * 1024;
	limits_r->max_urls = 2000;
	limits_r->max_headers = 1000;
}

static void
mime_symbol_set(struct mime_message *msg, enum mime_symbol sym)
{
	if (!msg->symbols[sym]) {
		msg->symbols[sym] = true;
		msg->symbol_count++;
	}
}

bool
mime_message_has_symbol(const struct mime_message *msg, enum mime_symbol sym)
{
	return (unsigned int)sym < MIME_SYM_COUNT_ && msg->symbols[sym];
}

static void
mime_warning_cb(gint64 offset, GMimeParserWarning errcode, const char *item,
		gpointer user_data)
{
	struct mime_ctx *ctx = user_data;

	(void)offset;
	(void)item;
	switch (errcode) {
	case GMIME_CRIT_NESTING_OVERFLOW:
		mime_symbol_set(ctx->msg, MIME_SYM_NESTING_OVERFLOW);
		break;
	case GMIME_CRIT_INVALID_HEADER_NAME:
	case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE:
		mime_symbol_set(ctx->msg, MIME_SYM_BAD_HEADER);
		break;
	case GMIME_WARN_TRUNCATED_MESSAGE:
		/* A message of headers only is valid (RFC 5322 3.5). */
		ctx->truncated = true;
		break;
	case GMIME_WARN_MALFORMED_MULTIPART:
	case GMIME_WARN_MALFORMED_MESSAGE:
	case GMIME_CRIT_CONFLICTING_HEADER:
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
		mime_symbol_set(ctx->msg, MIME_SYM_MALFORMED);
		break;
	default:
		break;
	}
}

/* --- UTF-8 helpers ------------------------------------------------------ */

static void
buf_append_utf8_cp(struct buf *out, uint32_t cp)
{
	char tmp[4];

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80) {
		buf_append_char(out, (char)cp);
	} else if (cp < 0x800) {
		tmp[0] = (char)(0xc0 | (cp >> 6));
		tmp[1] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, tmp, 2);
	} else if (cp < 0x10000) {
		tmp[0] = (char)(0xe0 | (cp >> 12));
		tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		tmp[2] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, tmp, 3);
	} else {
		tmp[0] = (char)(0xf0 | (cp >> 18));
		tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		tmp[3] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, tmp, 4);
	}
}

/* Appends data, replacing each invalid UTF-8 byte (and NUL) by U+FFFD.
 * Returns true when something was replaced. */
static bool
buf_append_utf8_valid(struct buf *out, const char *data, size_t len)
{
	const char *p = data, *end = data + len, *bad;
	bool replaced = false;

	while (p < end) {
		if (g_utf8_validate(p, end - p, &bad)) {
			buf_append(out, p, end - p);
			break;
		}
		buf_append(out, p, bad - p);
		buf_append_utf8_cp(out, 0xfffd);
		replaced = true;
		p = bad + 1;
	}
	return replaced;
}

static bool
mime_charset_is_utf8(const char *charset)
{
	return charset == NULL || strcasecmp(charset, "utf-8") == 0 ||
	       strcasecmp(charset, "utf8") == 0 ||
	       strcasecmp(charset, "us-ascii") == 0 ||
	       strcasecmp(charset, "ascii") == 0;
}

/* Converts len bytes in charset to UTF-8, appended to out. */
static void
mime_to_utf8(struct mime_ctx *ctx, const char *charset, const char *data,
	     size_t len, struct buf *out)
{
	iconv_t cd;
	char obuf[4096];
	char *in = (char *)data;
	size_t inleft = len;

	if (mime_charset_is_utf8(charset)) {
		if (!g_utf8_validate(data, len, NULL) && charset == NULL) {
			/* Undeclared 8-bit: GMime's fallback charsets. */
			char *s =
			    g_mime_utils_decode_8bit(ctx->options, data, len);
			if (s != NULL) {
				buf_append_utf8_valid(out, s, strlen(s));
				g_free(s);
				return;
			}
		}
		buf_append_utf8_valid(out, data, len);
		return;
	}
	cd = g_mime_iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1) {
		char *s;

		mime_symbol_set(ctx->msg, MIME_SYM_BAD_CHARSET);
		s = g_mime_utils_decode_8bit(ctx->options, data, len);
		if (s != NULL) {
			buf_append_utf8_valid(out, s, strlen(s));
			g_free(s);
		}
		return;
	}
	while (inleft > 0) {
		char *op = obuf;
		size_t outleft = sizeof(obuf);
		size_t r = iconv(cd, &in, &inleft, &op, &outleft);

		buf_append_utf8_valid(out, obuf, op - obuf);
		if (r == (size_t)-1) {
			if (errno == E2BIG)
				continue;
			/* EILSEQ or EINVAL: skip one byte. */
			buf_append_utf8_cp(out, 0xfffd);
			in++;
			inleft--;
		}
	}
	g_mime_iconv_close(cd);
}

/* --- URLs --------------------------------------------------------------- */

static void mime_add_embedded_urls(struct mime_ctx *ctx, const char *url,
				   size_t len, int depth);

static void
mime_add_url_at(struct mime_ctx *ctx, const char *url, size_t len, int depth)
{
	size_t full_len = len;
	char *copy;

	if (len == 0)
		return;
	if (len > MIME_URL_MAX)
		len = MIME_URL_MAX; /* padded: its host is at the start */
	if (ctx->url_count >= ctx->limits.max_urls) {
		mime_symbol_set(ctx->msg, MIME_SYM_TOO_MANY_URLS);
		return;
	}
	copy = pool_strndup(ctx->msg->pool, url, len);
	if (memchr(url, '\0', len) != NULL)
		return;
	if (g_hash_table_contains(ctx->url_set, copy))
		return;
	g_hash_table_add(ctx->url_set, copy);
	if (ctx->url_count == ctx->url_cap) {
		ctx->url_cap = ctx->url_cap ? ctx->url_cap * 2 : 16;
		ctx->urls =
		    xreallocarray(ctx->urls, ctx->url_cap, sizeof(*ctx->urls));
	}
	ctx->urls[ctx->url_count++] = copy;
	if (depth < MIME_URL_NEST_MAX)
		mime_add_embedded_urls(ctx, url, full_len, depth + 1);
}

static void
mime_add_url(void *vctx, const char *url, size_t len)
{
	mime_add_url_at(vctx, url, len, 0);
}

/* An <a href> and its text: kept when the text shows another host. */
static void
mime_add_shown_link(void *vctx, const char *href, size_t href_len,
		    const char *text, size_t text_len)
{
	struct mime_ctx *ctx = vctx;
	char shown[256], target[256];
	struct mime_shown_link *l;

	if (ctx->shown_link_count == MIME_SHOWN_LINKS_MAX ||
	    !shown_link_hosts(href, href_len, text, text_len, shown,
			      sizeof(shown), target, sizeof(target)))
		return;
	if (ctx->shown_links == NULL)
		ctx->shown_links =
		    pool_alloc(ctx->msg->pool, MIME_SHOWN_LINKS_MAX *
						   sizeof(*ctx->shown_links));
	l = &ctx->shown_links[ctx->shown_link_count++];
	l->shown = pool_strdup(ctx->msg->pool, shown);
	l->target = pool_strdup(ctx->msg->pool, target);
}

static bool
url_char(unsigned char c)
{
	if (c <= 0x20 || c == 0x7f)
		return false;
	return strchr("<>\"'`{}|\\^", c) == NULL;
}

static size_t
prefix_len(const char *p, size_t left, const char *prefix)
{
	size_t n = strlen(prefix);

	return left >= n && strncasecmp(p, prefix, n) == 0 ? n : 0;
}

/* Links inside a link: a redirector's or a click tracker's target
 * ("...?q=https://x/..." or percent-encoded, "...?u=https%3A%2F%2Fx%2F")
 * is where the reader lands, so it is a link of its own (up to the next
 * '&'). */
static void
mime_add_embedded_urls(struct mime_ctx *ctx, const char *url, size_t len,
		       int depth)
{
	static const char *const plain[] = {"http://", "https://"};
	static const char *const encoded[] = {"http%3a%2f%2f",
					      "https%3a%2f%2f"};

	for (size_t i = 1; i < len; i++) {
		size_t end = i, k;
		bool is_plain = false, is_encoded = false;

		if ((url[i] | 0x20) != 'h' || g_ascii_isalnum(url[i - 1]))
			continue;
		for (k = 0; k < 2; k++) {
			is_plain |= prefix_len(url + i, len - i, plain[k]) > 0;
			is_encoded |=
			    prefix_len(url + i, len - i, encoded[k]) > 0;
		}
		if (!is_plain && !is_encoded)
			continue;
		while (end < len && url[end] != '&')
			end++;
		if (is_plain) {
			mime_add_url_at(ctx, url + i, end - i, depth);
		} else {
			struct buf dec;

			buf_init(&dec);
			for (k = i; k < end; k++) {
				int hi, lo;

				if (url[k] == '%' && end - k > 2 &&
				    (hi = hex_digit(url[k + 1])) >= 0 &&
				    (lo = hex_digit(url[k + 2])) >= 0) {
					buf_append_char(&dec,
							(char)(hi * 16 + lo));
					k += 2;
				} else {
					buf_append_char(&dec, url[k]);
				}
			}
			mime_add_url_at(ctx, buf_cstr(&dec), dec.len, depth);
			buf_free(&dec);
		}
		i = end;
	}
}

void
mime_find_urls(const char *text, size_t len,
	       void (*add_url)(void *ctx, const char *url, size_t url_len),
	       void *ctx)
{
	static const char *const schemes[] = {"http://", "https://", "ftp://",
					      "mailto:", "www."};
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)text[i];
		size_t n = 0, s, end;

		if ((c | 0x20) != 'h' && (c | 0x20) != 'f' &&
		    (c | 0x20) != 'm' && (c | 0x20) != 'w') {
			i++;
			continue;
		}
		if (i > 0 && (g_ascii_isalnum(text[i - 1]) ||
			      text[i - 1] == '.' || text[i - 1] == '/')) {
			i++;
			continue;
		}
		for (s = 0; s < G_N_ELEMENTS(schemes) && n == 0; s++)
			n = prefix_len(text + i, len - i, schemes[s]);
		if (n == 0) {
			i++;
			continue;
		}
		end = i + n;
		while (end < len && url_char((unsigned char)text[end]))
			end++;
		while (end > i + n && strchr(".,;:!?)]", text[end - 1]) != NULL)
			end--;
		if (end > i + n &&
		    (text[i + n - 1] != '.' ||
		     memchr(text + i + n, '.', end - i - n) != NULL))
			add_url(ctx, text + i, end - i);
		i = end > i ? end : i + 1;
	}
}

/* --- HTML to text ------------------------------------------------------- */

static const struct {
	const char *name;
	uint32_t cp;
} html_entities[] = {
    {"amp", '&'},     {"lt", '<'},	  {"gt", '>'},	     {"quot", '"'},
    {"apos", '\''},   {"nbsp", ' '},	  {"copy", 0xa9},    {"reg", 0xae},
    {"euro", 0x20ac}, {"pound", 0xa3},	  {"shy", 0xad},     {"zwnj", 0x200c},
    {"zwj", 0x200d},  {"hellip", 0x2026}, {"ndash", 0x2013}, {"mdash", 0x2014},
};

/* Decodes the entity at p (p[0] == '&'); returns the bytes consumed, 0 when
 * it is not an entity. */
static size_t
html_entity(const char *p, size_t left, struct buf *out)
{
	size_t i = 1;
	uint32_t cp = 0;

	if (left > 2 && p[1] == '#') {
		bool hex = left > 3 && (p[2] == 'x' || p[2] == 'X');
		size_t digits = 0;

		i = hex ? 3 : 2;
		while (i < left && digits < 8 &&
		       (hex ? g_ascii_isxdigit(p[i]) : g_ascii_isdigit(p[i]))) {
			cp = cp * (hex ? 16 : 10) +
			     (hex ? (uint32_t)g_ascii_xdigit_value(p[i])
				  : (uint32_t)(p[i] - '0'));
			i++;
			digits++;
		}
		if (digits == 0)
			return 0;
		if (i < left && p[i] == ';')
			i++;
		buf_append_utf8_cp(out, cp);
		return i;
	}
	for (size_t e = 0; e < G_N_ELEMENTS(html_entities); e++) {
		size_t n = strlen(html_entities[e].name);

		if (left > n && strncmp(p + 1, html_entities[e].name, n) == 0) {
			i = 1 + n;
			if (i < left && p[i] == ';')
				i++;
			buf_append_utf8_cp(out, html_entities[e].cp);
			return i;
		}
	}
	return 0;
}

static void
html_space(struct buf *out, char c)
{
	char last = out->len > 0 ? out->data[out->len - 1] : '\n';

	if (c == '\n') {
		if (last == ' ')
			out->data[out->len - 1] = '\n';
		else if (last != '\n')
			buf_append_char(out, '\n');
	} else if (last != ' ' && last != '\n') {
		buf_append_char(out, ' ');
	}
}

static bool
html_link_worth(const char *v, size_t n)
{
	static const char *const ok[] = {
	    "http:", "https:", "ftp:", "mailto:", "www.", "//"};

	for (size_t i = 0; i < G_N_ELEMENTS(ok); i++)
		if (prefix_len(v, n, ok[i]) > 0)
			return true;
	return false;
}

/* The URL of a refresh's content ("5; URL='http://...'", entities
 * decoded first as a browser does) into val, spaces dropped; empty when
 * it names none. */
static void
html_refresh_link(const char *raw, size_t raw_len, struct buf *val)
{
	struct buf dec;
	const char *v;
	size_t i = 0, n, end;

	buf_init(&dec);
	for (size_t k = 0; k < raw_len;) {
		size_t used =
		    raw[k] == '&' ? html_entity(raw + k, raw_len - k, &dec) : 0;

		if (used == 0) {
			buf_append_char(&dec, raw[k]);
			used = 1;
		}
		k += used;
	}
	v = buf_cstr(&dec);
	n = dec.len;
	buf_reset(val);
	while (i < n &&
	       (g_ascii_isdigit(v[i]) || v[i] == '.' || g_ascii_isspace(v[i])))
		i++;
	if (i < n && (v[i] == ';' || v[i] == ','))
		for (i++; i < n && g_ascii_isspace(v[i]); i++)
			;
	else
		i = n;
	if (prefix_len(v + i, n - i, "url") == 0)
		i = n;
	for (i += i < n ? 3 : 0; i < n && g_ascii_isspace(v[i]); i++)
		;
	if (i < n && v[i] == '=')
		for (i++; i < n && g_ascii_isspace(v[i]); i++)
			;
	else
		i = n;
	end = n;
	if (i < n && (v[i] == '\'' || v[i] == '"')) {
		const char *q = memchr(v + i + 1, v[i], n - i - 1);

		end = q != NULL ? (size_t)(q - v) : n;
		i++;
	}
	for (; i < end; i++)
		if (!g_ascii_isspace(v[i]))
			buf_append_char(val, v[i]);
	buf_free(&dec);
}

/* The <a href> the scanner is inside and where its seen text starts. */
struct html_anchor {
	struct buf href;
	size_t text_start;
	bool open;
};

/* Hands the open anchor, if any, with its text to the sink. */
static void
html_anchor_end(struct html_anchor *a, const struct buf *seen,
		const struct mime_html_sink *sink)
{
	if (a->open && sink != NULL && sink->anchor != NULL &&
	    seen->len >= a->text_start)
		sink->anchor(sink->ctx, buf_cstr(&a->href), a->href.len,
			     buf_cstr(seen) + a->text_start,
			     seen->len - a->text_start);
	a->open = false;
}

void
mime_html_to_text(const char *html, size_t len, struct buf *seen,
		  struct buf *hidden, const struct mime_html_sink *sink)
{
	static const char *const block_tags[] = {
	    "br",	  "p",	"div",	 "tr",	"li", "h1", "h2",
	    "h3",	  "h4", "h5",	 "h6",	"ul", "ol", "table",
	    "blockquote", "hr", "title", "pre", NULL};
	static const char *const cell_tags[] = {"td", "th", NULL};
	static const char *const link_attrs[] = {
	    "href",   "src",  "action",	    "background", "formaction",
	    "poster", "data", "xlink:href", NULL};
	struct buf val, dropped;
	struct html_anchor anchor = {.open = false};
	struct html_hide hide = {{0}, 0, 0};
	struct html_colors *colors = xcalloc(1, sizeof(*colors));
	struct html_sheet *sheet = html_sheet_read(html, len);
	bool colors_known = html_sheet_colors_known(sheet);
	struct buf *out = seen;
	size_t i = 0;

	buf_init(&val);
	buf_init(&dropped);
	buf_init(&anchor.href);
	if (colors_known && sheet != NULL) {
		/* the sheet's html and body rules colour the page, whether
		 * or not the document writes those tags */
		struct html_color_attrs root = HTML_COLOR_ATTRS_NONE;

		html_sheet_colors(sheet, "html", 4, NULL, 0, NULL, 0, &root);
		html_sheet_colors(sheet, "body", 4, NULL, 0, NULL, 0, &root);
		html_colors_open(colors, "#root", 5, &root);
	}
	while (i < len) {
		char c = html[i];

		if (c == '&') {
			size_t n = html_entity(html + i, len - i, out);

			if (n == 0) {
				buf_append_char(out, '&');
				n = 1;
			}
			i += n;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
		    c == '\f') {
			html_space(out, ' ');
			i++;
			continue;
		}
		if (c != '<') {
			/* A run of plain text at once. */
			size_t j = i + 1;

			while (j < len && html[j] != '<' && html[j] != '&' &&
			       html[j] != ' ' && html[j] != '\t' &&
			       html[j] != '\r' && html[j] != '\n' &&
			       html[j] != '\f')
				j++;
			buf_append(out, html + i, j - i);
			i = j;
			continue;
		}
		/* A tag, a comment or a declaration. */
		if (prefix_len(html + i, len - i, "<!--") > 0) {
			size_t end =
			    html_find_ci(html + i + 4, len - i - 4, "-->");
			i += 4 + end + 3;
			continue;
		}
		i++;
		bool closing = i < len && html[i] == '/';
		if (closing)
			i++;
		size_t name_start = i;
		while (i < len && (g_ascii_isalnum(html[i]) || html[i] == '-' ||
				   html[i] == ':'))
			i++;
		size_t name_len = i - name_start;
		const char *name = html + name_start;
		bool is_anchor = html_tag_in(name, name_len,
					     (const char *const[]){"a", NULL});
		if (name_len == 0 && !closing && i < len && html[i] != '!' &&
		    html[i] != '?') {
			/* A lone '<' is text. */
			buf_append_char(out, '<');
			continue;
		}
		/* Attributes up to '>', quotes respected. */
		bool hides = false, has_href = false;
		unsigned inline_shows = 0;
		const char *classes = NULL, *id = NULL;
		size_t class_len = 0, id_len = 0;
		struct html_color_attrs ca = HTML_COLOR_ATTRS_NONE;
		while (i < len && html[i] != '>') {
			size_t an_start, an_len;

			if (!g_ascii_isalpha(html[i])) {
				i++;
				continue;
			}
			an_start = i;
			while (i < len &&
			       (g_ascii_isalnum(html[i]) || html[i] == '-' ||
				html[i] == '_' || html[i] == ':'))
				i++;
			an_len = i - an_start;
			while (i < len && g_ascii_isspace(html[i]))
				i++;
			hides |=
			    !closing &&
			    html_tag_in(html + an_start, an_len,
					(const char *const[]){"hidden", NULL});
			if (i >= len || html[i] != '=')
				continue;
			i++;
			while (i < len && g_ascii_isspace(html[i]))
				i++;
			size_t v_start, v_end;
			if (i < len && (html[i] == '"' || html[i] == '\'')) {
				char q = html[i++];
				v_start = i;
				while (i < len && html[i] != q)
					i++;
				v_end = i;
				if (i < len)
					i++;
			} else {
				v_start = i;
				while (i < len && !g_ascii_isspace(html[i]) &&
				       html[i] != '>')
					i++;
				v_end = i;
			}
			if (!closing &&
			    html_tag_in(html + an_start, an_len,
					(const char *const[]){"style", NULL})) {
				unsigned style_hides;

				html_style_effects(html + v_start,
						   v_end - v_start,
						   &style_hides, &inline_shows);
				hides |= style_hides != 0;
			}
			if (html_tag_in(html + an_start, an_len,
					(const char *const[]){"class", NULL})) {
				classes = html + v_start;
				class_len = v_end - v_start;
			} else if (html_tag_in(
				       html + an_start, an_len,
				       (const char *const[]){"id", NULL})) {
				id = html + v_start;
				id_len = v_end - v_start;
			}
			if (!closing)
				html_color_attr(&ca, html + an_start, an_len,
						html + v_start,
						v_end - v_start);
			if (closing || sink == NULL)
				continue;
			if (html_tag_in(name, name_len,
					(const char *const[]){"meta", NULL}) &&
			    html_tag_in(
				html + an_start, an_len,
				(const char *const[]){"content", NULL})) {
				html_refresh_link(html + v_start,
						  v_end - v_start, &val);
				if (html_link_worth(buf_cstr(&val), val.len))
					sink->link(sink->ctx, buf_cstr(&val),
						   val.len);
				continue;
			}
			if (!html_tag_in(html + an_start, an_len, link_attrs))
				continue;
			/* Decode entities in the value, trim spaces. */
			buf_reset(&val);
			for (size_t k = v_start; k < v_end;) {
				size_t n = 0;
				if (html[k] == '&')
					n = html_entity(html + k, v_end - k,
							&val);
				if (n == 0) {
					if (!g_ascii_isspace(html[k]))
						buf_append_char(&val, html[k]);
					n = 1;
				}
				k += n;
			}
			if (html_link_worth(val.data ? val.data : "", val.len))
				sink->link(sink->ctx, buf_cstr(&val), val.len);
			if (is_anchor &&
			    html_tag_in(html + an_start, an_len,
					(const char *const[]){"href", NULL})) {
				buf_reset(&anchor.href);
				buf_append(&anchor.href, buf_cstr(&val),
					   val.len);
				has_href = true;
			}
		}
		if (i < len)
			i++; /* '>' */
		if (name_len == 0)
			continue;
		if (is_anchor)
			html_anchor_end(&anchor, seen, sink);
		hides |= !closing &&
			 html_sheet_hides(sheet, name, name_len, classes,
					  class_len, id, id_len, inline_shows);
		if (!closing && colors_known && sheet != NULL)
			html_sheet_colors(sheet, name, name_len, classes,
					  class_len, id, id_len, &ca);
		else if (!closing && classes != NULL && !ca.bg_style)
			ca.bg = HTML_COLOR_UNKNOWN; /* a sheet elsewhere's */
		if (closing) {
			html_hide_close(&hide, name, name_len);
			html_colors_close(colors, name, name_len);
		} else {
			html_hide_open(&hide, name, name_len, hides);
			html_colors_open(colors, name, name_len, &ca);
		}
		/* the text of a hidden element goes apart (what changes
		 * it is a tag) */
		if (html_hide_active(&hide) ||
		    (colors_known && html_colors_hide(colors))) {
			out = hidden != NULL ? hidden : &dropped;
			buf_reset(&dropped);
		} else {
			out = seen;
		}
		if (has_href && out == seen) {
			anchor.open = true;
			anchor.text_start = seen->len;
		}
		if (!closing && (html_tag_in(name, name_len,
					     (const char *const[]){
						 "script", "style", NULL}))) {
			const char *endtag =
			    name_len == 6 ? "</script" : "</style";
			size_t end = html_find_ci(html + i, len - i, endtag);
			i += end;
			continue;
		}
		if (html_tag_in(name, name_len, block_tags))
			html_space(out, '\n');
		else if (html_tag_in(name, name_len, cell_tags))
			html_space(out, ' ');
	}
	buf_free(&val);
	html_anchor_end(&anchor, seen, sink);
	buf_free(&anchor.href);
	buf_free(&dropped);
	free(colors);
	html_sheet_free(sheet);
}

/* --- headers ------------------------------------------------------------ */

/* Unfolds a raw header value: CR/LF removed, surrounding space trimmed. */
static char *
mime_unfold(struct pool *pool, const char *raw)
{
	size_t n = strlen(raw), o = 0;
	char *s = pool_alloc(pool, n + 1);

	for (size_t i = 0; i < n; i++) {
		if (raw[i] == '\r' || raw[i] == '\n')
			continue;
		s[o++] = raw[i];
	}
	while (o > 0 && (s[o - 1] == ' ' || s[o - 1] == '\t'))
		o--;
	s[o] = '\0';
	size_t lead = 0;
	while (s[lead] == ' ' || s[lead] == '\t')
		lead++;
	return s + lead;
}

static void
mime_fill_headers(struct mime_ctx *ctx, GMimeObject *obj,
		  struct mime_part *part)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(obj);
	struct pool *pool = ctx->msg->pool;
	struct mime_header *hdrs;
	int count = list != NULL ? g_mime_header_list_get_count(list) : 0;
	size_t n = 0;

	if (count <= 0)
		return;
	if ((unsigned int)count > ctx->limits.max_headers) {
		mime_symbol_set(ctx->msg, MIME_SYM_MALFORMED);
		count = (int)ctx->limits.max_headers;
	}
	hdrs = pool_alloc(pool, sizeof(*hdrs) * (size_t)count);
	for (int i = 0; i < count; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
		const char *name, *raw;
		struct buf dec;
		char *d;

		if (h == NULL)
			continue;
		name = g_mime_header_get_name(h);
		raw = g_mime_header_get_raw_value(h);
		if (name == NULL)
			continue;
		hdrs[n].name = pool_strdup(pool, name);
		hdrs[n].raw = mime_unfold(pool, raw != NULL ? raw : "");
		d = g_mime_utils_header_decode_text(ctx->options, hdrs[n].raw);
		buf_init(&dec);
		if (d != NULL) {
			buf_append_utf8_valid(&dec, d, strlen(d));
			g_free(d);
		}
		hdrs[n].value = pool_strdup(pool, buf_cstr(&dec));
		buf_free(&dec);
		n++;
	}
	part->headers = hdrs;
	part->header_count = n;
}

static const char *
pool_lower(struct pool *pool, const char *s)
{
	char *c;

	if (s == NULL)
		return NULL;
	c = pool_strdup(pool, s);
	for (char *p = c; *p != '\0'; p++)
		*p = g_ascii_tolower(*p);
	return c;
}

static const char *
mime_valid_utf8_dup(struct pool *pool, const char *s)
{
	struct buf b;
	const char *r;

	if (s == NULL)
		return NULL;
	buf_init(&b);
	buf_append_utf8_valid(&b, s, strlen(s));
	r = pool_strdup(pool, buf_cstr(&b));
	buf_free(&b);
	return r;
}

/* --- the walk ----------------------------------------------------------- */

static size_t
mime_part_add(struct mime_ctx *ctx, int parent, unsigned int depth)
{
	if (ctx->part_count == ctx->part_cap) {
		ctx->part_cap = ctx->part_cap ? ctx->part_cap * 2 : 8;
		ctx->parts = xreallocarray(ctx->parts, ctx->part_cap,
					   sizeof(*ctx->parts));
	}
	memset(&ctx->parts[ctx->part_count], 0, sizeof(*ctx->parts));
	ctx->parts[ctx->part_count].parent = parent;
	ctx->parts[ctx->part_count].depth = depth;
	return ctx->part_count++;
}

/* Content-type and disposition information of obj into part. */

/* A file name as the part gives it, decoded to valid UTF-8 in the pool:
 * GMime decodes RFC 2231; encoded words in a quoted name are decoded here
 * when GMime left them. */
static const char *
mime_decode_name(struct mime_ctx *ctx, struct pool *pool, const char *raw)
{
	char *d = strstr(raw, "=?") != NULL
		      ? g_mime_utils_header_decode_text(ctx->options, raw)
		      : NULL;
	const char *out = mime_valid_utf8_dup(pool, d ? d : raw);

	g_free(d);
	return out;
}

static void
mime_fill_type(struct mime_ctx *ctx, GMimeObject *obj, struct mime_part *part)
{
	struct pool *pool = ctx->msg->pool;
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	const char *fname = NULL;

	if (ct != NULL) {
		char *mt = g_mime_content_type_get_mime_type(ct);
		part->content_type = pool_lower(pool, mt);
		g_free(mt);
		part->charset = pool_lower(
		    pool, g_mime_content_type_get_parameter(ct, "charset"));
	}
	if (part->content_type == NULL)
		part->content_type = "text/plain";
	part->disposition =
	    pool_lower(pool, g_mime_object_get_disposition(obj));
	if (GMIME_IS_PART(obj)) {
		GMimeContentEncoding enc =
		    g_mime_part_get_content_encoding((GMimePart *)obj);
		fname = g_mime_part_get_filename((GMimePart *)obj);
		if (enc != GMIME_CONTENT_ENCODING_DEFAULT)
			part->transfer_encoding = pool_lower(
			    pool, g_mime_content_encoding_to_string(enc));
	} else {
		fname = g_mime_object_get_content_disposition_parameter(
		    obj, "filename");
		if (fname == NULL)
			fname = g_mime_object_get_content_type_parameter(
			    obj, "name");
	}
	if (fname != NULL)
		part->filename = mime_decode_name(ctx, pool, fname);
	{
		const char *dname =
		    g_mime_object_get_content_disposition_parameter(obj,
								    "filename");
		const char *cname =
		    g_mime_object_get_content_type_parameter(obj, "name");

		if (dname != NULL && cname != NULL && strcmp(dname, cname) != 0)
			part->alt_filename = mime_decode_name(
			    ctx, pool,
			    fname != NULL && strcmp(fname, dname) == 0 ? cname
								       : dname);
	}
	part->attachment = (part->disposition != NULL &&
			    strcmp(part->disposition, "attachment") == 0) ||
			   part->filename != NULL;
}

static bool
mime_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Two raw values of one field differ, whatever their folding (runs of
 * white space compare as one space); the transfer encoding also ignoring
 * case and quotes, as a mail program reads it. */
static bool
mime_values_differ(const char *name, const char *a, const char *b)
{
	bool loose = strcasecmp(name, "content-transfer-encoding") == 0;
	bool begun = false;

	for (;;) {
		bool sa = false, sb = false;

		while (mime_is_space(*a) || (loose && *a == '"')) {
			sa = sa || mime_is_space(*a);
			a++;
		}
		while (mime_is_space(*b) || (loose && *b == '"')) {
			sb = sb || mime_is_space(*b);
			b++;
		}
		if (*a == '\0' || *b == '\0')
			return *a != *b;
		if (begun && sa != sb && !loose)
			return true;
		begun = true;
		if (loose ? tolower((unsigned char)*a) !=
				tolower((unsigned char)*b)
			  : *a != *b)
			return true;
		a++;
		b++;
	}
}

/* The first parameter named in names that the list gives twice with
 * different values, or NULL. */
static const char *
mime_param_conflict(GMimeParamList *list, const char *const *names)
{
	int n = list != NULL ? g_mime_param_list_length(list) : 0;

	for (int i = 0; i < n; i++) {
		GMimeParam *p = g_mime_param_list_get_parameter_at(list, i);
		const char *pn = p != NULL ? g_mime_param_get_name(p) : NULL;
		const char *pv = p != NULL ? g_mime_param_get_value(p) : NULL;
		bool wanted = false;

		if (pn == NULL || pv == NULL)
			continue;
		for (size_t k = 0; names[k] != NULL; k++)
			wanted = wanted || strcasecmp(pn, names[k]) == 0;
		if (!wanted)
			continue;
		for (int j = i + 1; j < n; j++) {
			GMimeParam *q =
			    g_mime_param_list_get_parameter_at(list, j);
			const char *qn =
			    q != NULL ? g_mime_param_get_name(q) : NULL;
			const char *qv =
			    q != NULL ? g_mime_param_get_value(q) : NULL;

			if (qn != NULL && qv != NULL &&
			    strcasecmp(pn, qn) == 0 && strcmp(pv, qv) != 0)
				return pn;
		}
	}
	return NULL;
}

/* Whether obj's header list gives field twice with different values. */
static bool
mime_field_conflict(GMimeObject *obj, const char *field)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(obj);
	int count = list != NULL ? g_mime_header_list_get_count(list) : 0;
	const char *first = NULL;

	for (int i = 0; i < count; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
		const char *name = h != NULL ? g_mime_header_get_name(h) : NULL;
		const char *raw =
		    h != NULL ? g_mime_header_get_raw_value(h) : NULL;

		if (name == NULL || raw == NULL || strcasecmp(name, field) != 0)
			continue;
		if (first == NULL)
			first = raw;
		else if (mime_values_differ(field, first, raw))
			return true;
	}
	return false;
}

/* Sets part->ambiguity (see mime.h) from obj's header fields and
 * parameters, and MIME_AMBIGUOUS with it. */
static void
mime_check_ambiguity(struct mime_ctx *ctx, GMimeObject *obj,
		     struct mime_part *part)
{
	static const char *const fields[] = {
	    "Content-Type", "Content-Disposition", "Content-Transfer-Encoding"};
	static const char *const ct_params[] = {"boundary", "name", NULL};
	static const char *const cd_params[] = {"filename", NULL};
	static const char *const field_why[] = {
	    "two different Content-Type fields",
	    "two different Content-Disposition fields",
	    "two different Content-Transfer-Encoding fields"};
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	GMimeContentDisposition *cd =
	    g_mime_object_get_content_disposition(obj);
	const char *param;

	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
		if (part->ambiguity == NULL &&
		    mime_field_conflict(obj, fields[f]))
			part->ambiguity = field_why[f];
	if (part->ambiguity == NULL && ct != NULL &&
	    (param = mime_param_conflict(g_mime_content_type_get_parameters(ct),
					 ct_params)) != NULL)
		part->ambiguity = strcasecmp(param, "boundary") == 0
				      ? "two different boundary parameters"
				      : "two different name parameters";
	if (part->ambiguity == NULL && cd != NULL &&
	    mime_param_conflict(g_mime_content_disposition_get_parameters(cd),
				cd_params) != NULL)
		part->ambiguity = "two different filename parameters";
	if (part->ambiguity != NULL)
		mime_symbol_set(ctx->msg, MIME_SYM_AMBIGUOUS);
}

/* The charset to read a text part in (the first len bytes of its
 * content): the MIME header's; for HTML with none there and bytes that
 * are not UTF-8, the one its <meta> tag declares (into meta, metasz), as
 * a mail program reads it (filters/html_charset.h), when iconv knows it. */
static const char *
mime_text_charset(const struct mime_part *part, size_t len, char *meta,
		  size_t metasz)
{
	iconv_t cd;

	if (part->charset != NULL ||
	    strcmp(part->content_type, "text/html") != 0 ||
	    g_utf8_validate((const char *)part->content, (gssize)len, NULL) ||
	    !html_meta_charset((const char *)part->content, len, meta,
			       metasz) ||
	    mime_charset_is_utf8(meta))
		return part->charset;
	cd = g_mime_iconv_open("UTF-8", meta);
	if (cd == (iconv_t)-1)
		return part->charset;
	g_mime_iconv_close(cd);
	return meta;
}

/* Appends the text of hidden HTML elements, as the reader would read it
 * were it shown, within the text budget of its own. */
static void
mime_add_hidden_text(struct mime_ctx *ctx, struct buf *hidden)
{
	size_t room, cut;

	if (hidden->len == 0 ||
	    ctx->hidden_text.len >= ctx->limits.max_text_size)
		goto done;
	room = ctx->limits.max_text_size - ctx->hidden_text.len;
	if (ctx->hidden_text.len > 0)
		buf_append_char(&ctx->hidden_text, '\n');
	cut = hidden->len < room ? hidden->len : room;
	while (cut > 0 && cut < hidden->len &&
	       ((unsigned char)hidden->data[cut] & 0xc0) == 0x80)
		cut--;
	(void)text_deobfuscate(buf_cstr(hidden), cut, &ctx->hidden_text);
done:
	buf_free(hidden);
}

static void
mime_add_text(struct mime_ctx *ctx, struct mime_part *part)
{
	struct buf conv, out, hidden;
	size_t room, in_len;
	char meta[41];

	if (ctx->text.len >= ctx->limits.max_text_size) {
		mime_symbol_set(ctx->msg, MIME_SYM_TOO_LARGE);
		return;
	}
	room = ctx->limits.max_text_size - ctx->text.len;
	buf_init(&conv);
	buf_init(&out);
	buf_init(&hidden);
	/* Convert no more than the text budget can use (HTML shrinks, hence
	 * the margin): a huge text part costs no more than a sensible one. */
	in_len = part->content_len;
	if (in_len / 8 > room) {
		in_len = room * 8;
		mime_symbol_set(ctx->msg, MIME_SYM_TOO_LARGE);
	}
	mime_to_utf8(ctx, mime_text_charset(part, in_len, meta, sizeof(meta)),
		     (const char *)part->content, in_len, &conv);
	if (strcmp(part->content_type, "text/html") == 0) {
		part->html = true;
		const struct mime_html_sink sink = {mime_add_url,
						    mime_add_shown_link, ctx};

		mime_html_to_text(buf_cstr(&conv), conv.len, &out, &hidden,
				  &sink);
	} else {
		buf_append(&out, buf_cstr(&conv), conv.len);
	}
	/* what the reader reads (conv is free for it now) */
	buf_reset(&conv);
	ctx->msg->text_obfuscations +=
	    text_deobfuscate(buf_cstr(&out), out.len, &conv);
	{
		struct buf read = conv;

		conv = out;
		out = read;
	}
	buf_free(&conv);
	mime_add_hidden_text(ctx, &hidden);
	if (out.len > room) {
		/* Cut on a character boundary. */
		size_t cut = room;
		while (cut > 0 && ((unsigned char)out.data[cut] & 0xc0) == 0x80)
			cut--;
		buf_truncate(&out, cut);
		mime_symbol_set(ctx->msg, MIME_SYM_TOO_LARGE);
	}
	mime_find_urls(buf_cstr(&out), out.len, mime_add_url, ctx);
	part->text = pool_strndup(ctx->msg->pool, buf_cstr(&out), out.len);
	part->text_len = out.len;
	if (ctx->text.len > 0)
		buf_append_char(&ctx->text, '\n');
	buf_append(&ctx->text, buf_cstr(&out), out.len);
	buf_free(&out);
}

static void
mime_decode_leaf(struct mime_ctx *ctx, GMimePart *gpart, size_t idx)
{
	GMimeDataWrapper *w = g_mime_part_get_content(gpart);
	GMimeStream *src, *filtered;
	GMimeContentEncoding enc;
	struct buf data;
	char chunk[MIME_READ_CHUNK];
	bool truncated = false;

	if (w == NULL)
		goto done_empty;
	src = g_mime_data_wrapper_get_stream(w);
	if (src == NULL)
		goto done_empty;
	enc = g_mime_data_wrapper_get_encoding(w);
	g_mime_stream_reset(src);
	filtered = g_mime_stream_filter_new(src);
	if (enc == GMIME_CONTENT_ENCODING_BASE64 ||
	    enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
	    enc == GMIME_CONTENT_ENCODING_UUENCODE) {
		GMimeFilter *f = g_mime_filter_basic_new(enc, FALSE);
		g_mime_stream_filter_add((GMimeStreamFilter *)filtered, f);
		g_object_unref(f);
	}
	buf_init(&data);
	for (;;) {
		size_t room = ctx->limits.max_decoded_size - ctx->decoded_used;
		ssize_t n;

		if (room == 0) {
			/* Anything left is beyond the budget. */
			n = g_mime_stream_read(filtered, chunk, 1);
			if (n > 0)
				truncated = true;
			break;
		}
		n = g_mime_stream_read(filtered, chunk,
				       room < sizeof(chunk) ? room
							    : sizeof(chunk));
		if (n <= 0)
			break;
		buf_append(&data, chunk, (size_t)n);
		ctx->decoded_used += (size_t)n;
	}
	g_object_unref(filtered);
	{
		char *c = pool_alloc(ctx->msg->pool, data.len + 1);
		if (data.len > 0)
			memcpy(c, data.data, data.len);
		c[data.len] = '\0';
		ctx->parts[idx].content = (const unsigned char *)c;
	}
	ctx->parts[idx].content_len = data.len;
	buf_free(&data);
	if (truncated) {
		ctx->parts[idx].content_truncated = true;
		mime_symbol_set(ctx->msg, MIME_SYM_TOO_LARGE);
	}
	return;
done_empty:
	ctx->parts[idx].content = (const unsigned char *)"";
	ctx->parts[idx].content_len = 0;
}

static void mime_walk(struct mime_ctx *ctx, GMimeObject *obj,
		      GMimeObject *header_obj, int parent, unsigned int depth);

static void
mime_walk_message(struct mime_ctx *ctx, GMimeMessage *gmsg, int parent,
		  unsigned int depth)
{
	GMimeObject *body = g_mime_message_get_mime_part(gmsg);

	if (body == NULL) {
		size_t idx;

		if (ctx->part_count >= ctx->limits.max_parts) {
			mime_symbol_set(ctx->msg, MIME_SYM_TOO_MANY_PARTS);
			return;
		}
		idx = mime_part_add(ctx, parent, depth);
		mime_fill_headers(ctx, (GMimeObject *)gmsg, &ctx->parts[idx]);
		ctx->parts[idx].content_type = "text/plain";
		ctx->parts[idx].content = (const unsigned char *)"";
		return;
	}
	mime_walk(ctx, body, (GMimeObject *)gmsg, parent, depth);
}

static void
mime_walk(struct mime_ctx *ctx, GMimeObject *obj, GMimeObject *header_obj,
	  int parent, unsigned int depth)
{
	size_t idx;

	if (depth > ctx->limits.max_depth) {
		mime_symbol_set(ctx->msg, MIME_SYM_TOO_DEEP);
		return;
	}
	if (ctx->part_count >= ctx->limits.max_parts) {
		mime_symbol_set(ctx->msg, MIME_SYM_TOO_MANY_PARTS);
		return;
	}
	idx = mime_part_add(ctx, parent, depth);
	mime_fill_headers(ctx, header_obj, &ctx->parts[idx]);
	mime_fill_type(ctx, obj, &ctx->parts[idx]);
	mime_check_ambiguity(ctx, obj, &ctx->parts[idx]);

	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = (GMimeMultipart *)obj;
		int n = g_mime_multipart_get_count(mp);

		ctx->parts[idx].kind = MIME_PART_MULTIPART;
		for (int i = 0; i < n; i++) {
			GMimeObject *child = g_mime_multipart_get_part(mp, i);
			if (child != NULL)
				mime_walk(ctx, child, child, (int)idx,
					  depth + 1);
		}
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner =
		    g_mime_message_part_get_message((GMimeMessagePart *)obj);

		ctx->parts[idx].kind = MIME_PART_MESSAGE;
		if (inner != NULL)
			mime_walk_message(ctx, inner, (int)idx, depth + 1);
	} else if (GMIME_IS_PART(obj)) {
		ctx->parts[idx].kind = MIME_PART_LEAF;
		mime_decode_leaf(ctx, (GMimePart *)obj, idx);
		if (strncmp(ctx->parts[idx].content_type, "text/", 5) == 0)
			mime_add_text(ctx, &ctx->parts[idx]);
	} else {
		/* message/partial and other containers GMime keeps opaque. */
		ctx->parts[idx].kind = MIME_PART_LEAF;
		ctx->parts[idx].content = (const unsigned char *)"";
	}
}

/* The raw header block: bytes up to the first empty line. */
static void
mime_raw_headers(struct mime_ctx *ctx, GMimeStream *stream)
{
	struct buf raw;
	char chunk[8192];
	GMimeStream *sub;
	size_t end = 0;
	bool found = false;

	buf_init(&raw);
	sub = g_mime_stream_substream(stream, g_mime_stream_tell(stream),
				      stream->bound_end);
	while (raw.len < MIME_RAW_HEADERS_MAX) {
		ssize_t n = g_mime_stream_read(sub, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		buf_append(&raw, chunk, (size_t)n);
		/* Look for "\n\n" or "\n\r\n" from a little before the new
		 * data. */
		for (size_t i = end; i < raw.len; i++) {
			if (raw.data[i] != '\n')
				continue;
			if (i == 0) {
				found = true;
				end = 0;
				break;
			}
			if (i + 1 < raw.len && raw.data[i + 1] == '\n') {
				end = i + 1;
				found = true;
				break;
			}
			if (i + 2 < raw.len && raw.data[i + 1] == '\r' &&
			    raw.data[i + 2] == '\n') {
				end = i + 1;
				found = true;
				break;
			}
		}
		if (found)
			break;
		end = raw.len > 2 ? raw.len - 2 : 0;
	}
	g_object_unref(sub);
	ctx->headers_ended = found;
	if (!found)
		end = raw.len < MIME_RAW_HEADERS_MAX ? raw.len
						     : MIME_RAW_HEADERS_MAX;
	{
		char *c = pool_alloc(ctx->msg->pool, end + 1);
		if (end > 0)
			memcpy(c, raw.data, end);
		c[end] = '\0';
		ctx->msg->raw_headers = c;
		ctx->msg->raw_headers_len = end;
	}
	buf_free(&raw);
}

static struct mime_message *
mime_parse_stream(GMimeStream *stream, const struct mime_limits *limits)
{
	struct mime_ctx ctx;
	struct mime_message *msg;
	GMimeParser *parser;
	GMimeMessage *gmsg;

	mime_init();
	memset(&ctx, 0, sizeof(ctx));
	if (limits != NULL)
		ctx.limits = *limits;
	else
		mime_limits_default(&ctx.limits);
	msg = xcalloc(1, sizeof(*msg));
	msg->pool = pool_new(16384);
	ctx.msg = msg;
	ctx.url_set = g_hash_table_new(g_str_hash, g_str_equal);
	buf_init(&ctx.text);
	buf_init(&ctx.hidden_text);
	ctx.options = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(ctx.options, mime_warning_cb,
						   &ctx);
	g_mime_parser_options_set_rfc2047_compliance_mode(
	    ctx.options, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(
	    ctx.options, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_address_compliance_mode(
	    ctx.options, GMIME_RFC_COMPLIANCE_LOOSE);

	mime_raw_headers(&ctx, stream);
	g_mime_stream_reset(stream);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	g_mime_parser_set_persist_stream(parser, TRUE);
	gmsg = g_mime_parser_construct_message(parser, ctx.options);
	g_object_unref(parser);
	if (gmsg == NULL) {
		mime_symbol_set(msg, MIME_SYM_PARSE_ERROR);
	} else {
		mime_walk_message(&ctx, gmsg, -1, 0);
		g_object_unref(gmsg);
	}
	if (ctx.truncated && ctx.headers_ended)
		mime_symbol_set(msg, MIME_SYM_MALFORMED);

	/* Copy the growable arrays into the pool. */
	if (ctx.part_count > 0) {
		struct mime_part *parts =
		    pool_alloc(msg->pool, sizeof(*parts) * ctx.part_count);
		memcpy(parts, ctx.parts, sizeof(*parts) * ctx.part_count);
		msg->parts = parts;
		msg->part_count = ctx.part_count;
		msg->headers = parts[0].headers;
		msg->header_count = parts[0].header_count;
	}
	if (ctx.url_count > 0) {
		const char **urls =
		    pool_alloc(msg->pool, sizeof(*urls) * ctx.url_count);
		memcpy(urls, ctx.urls, sizeof(*urls) * ctx.url_count);
		msg->urls = urls;
		msg->url_count = ctx.url_count;
	}
	msg->shown_links = ctx.shown_links;
	msg->shown_link_count = ctx.shown_link_count;
	msg->text = pool_strndup(msg->pool, buf_cstr(&ctx.text), ctx.text.len);
	msg->text_len = ctx.text.len;
	msg->hidden_text = pool_strndup(msg->pool, buf_cstr(&ctx.hidden_text),
					ctx.hidden_text.len);
	msg->hidden_text_len = ctx.hidden_text.len;

	free(ctx.parts);
	free(ctx.urls);
	buf_free(&ctx.text);
	buf_free(&ctx.hidden_text);
	g_hash_table_destroy(ctx.url_set);
	g_mime_parser_options_free(ctx.options);
	return msg;
}

struct mime_message *
mime_parse_buffer(const void *data, size_t len,
		  const struct mime_limits *limits)
{
	GMimeStream *stream;
	struct mime_message *msg;

	mime_init();
	stream = g_mime_stream_mem_new_with_buffer(data, len);
	msg = mime_parse_stream(stream, limits);
	g_object_unref(stream);
	return msg;
}

int
mime_parse_fd(int fd, off_t offset, size_t len,
	      const struct mime_limits *limits, struct mime_message **msg_r,
	      const char **error_r)
{
	GMimeStream *stream;
	int dfd;

	mime_init();
	if (len == 0) {
		*msg_r = mime_parse_buffer("", 0, limits);
		return 0;
	}
	dfd = dup(fd);
	if (dfd < 0) {
		*error_r = "dup() of the spool fd failed";
		return -1;
	}
	stream = g_mime_stream_mmap_new_with_bounds(
	    dfd, PROT_READ, MAP_PRIVATE, (gint64)offset,
	    (gint64)offset + (gint64)len);
	if (stream == NULL) {
		close(dfd);
		*error_r = "mmap of the spool file failed";
		return -1;
	}
	*msg_r = mime_parse_stream(stream, limits);
	g_object_unref(stream); /* closes dfd (the stream owns it) */
	return 0;
}

void
mime_message_free(struct mime_message **msg)
{
	if (*msg == NULL)
		return;
	pool_free(&(*msg)->pool);
	x_free(msg);
}

const char *
mime_part_header(const struct mime_part *part, const char *name, size_t nth)
{
	for (size_t i = 0; i < part->header_count; i++) {
		if (strcasecmp(part->headers[i].name, name) != 0)
			continue;
		if (nth-- == 0)
			return part->headers[i].value;
	}
	return NULL;
}

const char *
mime_message_header(const struct mime_message *msg, const char *name,
		    size_t nth)
{
	if (msg->part_count == 0)
		return NULL;
	return mime_part_header(&msg->parts[0], name, nth);
}

/* --- the shared slot ---------------------------------------------------- */

struct mime_slot {
	pthread_mutex_t lock;
	int fd;
	off_t offset;
	size_t len;
	struct mime_limits limits;
	bool done;
	struct mime_message *msg;
};

struct mime_slot *
mime_slot_new(int fd, off_t offset, size_t len,
	      const struct mime_limits *limits)
{
	struct mime_slot *slot = xcalloc(1, sizeof(*slot));

	pthread_mutex_init(&slot->lock, NULL);
	slot->fd = fd;
	slot->offset = offset;
	slot->len = len;
	if (limits != NULL)
		slot->limits = *limits;
	else
		mime_limits_default(&slot->limits);
	return slot;
}

const struct mime_message *
mime_slot_get(struct mime_slot *slot)
{
	const struct mime_message *msg;

	pthread_mutex_lock(&slot->lock);
	if (!slot->done) {
		const char *error = NULL;

		slot->done = true;
		if (mime_parse_fd(slot->fd, slot->offset, slot->len,
				  &slot->limits, &slot->msg, &error) < 0) {
			log_warnx("mime: %s", error);
			slot->msg = NULL;
		}
	}
	msg = slot->msg;
	pthread_mutex_unlock(&slot->lock);
	return msg;
}

void
mime_slot_free(struct mime_slot **slot)
{
	if (*slot == NULL)
		return;
	mime_message_free(&(*slot)->msg);
	pthread_mutex_destroy(&(*slot)->lock);
	x_free(slot);
}
