/*
 * spam_view: the adapter from the shared MIME parse to the rule engine's
 * view. The body area is what SpamAssassin calls the rendered body: the
 * Subject as its first line, then the UTF-8 text of every text part with
 * HTML reduced to text. rawbody is the transfer-decoded text parts before
 * rendering (HTML tags kept). Headers and URLs are used in place; the
 * look-alike host names of From and the URLs are found here
 * (filters/homograph.h).
 */
#include "filters/spam_view.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/homograph.h"
#include "filters/html_tags.h"
#include "filters/text_deobfuscate.h"
#include "filters/url_host.h"
#include "lib/xalloc.h"
#include "mailstore/msg_structure.h"
#include "rules/bayes.h"

#define SPAM_VIEW_MAX_HOMOGRAPH_URLS 200

static void
spam_view_append_capped(struct buf *b, const void *data, size_t len, size_t max)
{
	if (max != 0 && b->len >= max)
		return;
	if (max != 0 && len > max - b->len)
		len = max - b->len;
	buf_append(b, data, len);
}

static bool
spam_view_has_header(const struct mime_message *mime, const char *name,
		     size_t len)
{
	for (size_t i = 0; i < mime->header_count; i++)
		if (strncasecmp(mime->headers[i].name, name, len) == 0 &&
		    mime->headers[i].name[len] == '\0')
			return true;
	return false;
}

/*
 * The message's Content-* fields (Content-Type, -Transfer-Encoding,
 * -Disposition...) are, in the MIME parse, headers of its body part, so
 * the top-level list lacks them; rules read them as message headers
 * (SpamAssassin's "header X Content-Type =~ ..."), so they are taken from
 * the raw header block: unfolded, in order, each name at most the times
 * it occurs. Returns how many were added to view->content_fields, as
 * "Name\0value\0" pairs.
 */
static size_t
spam_view_content_fields(struct spam_view *view,
			 const struct mime_message *mime)
{
	const char *p = mime->raw_headers, *end;
	size_t count = 0;

	if (p == NULL)
		return 0;
	end = p + mime->raw_headers_len;
	while (p < end) {
		const char *line = p, *colon, *v;
		size_t nlen;

		/* A field: its first line, then continuation lines. */
		while (p < end && *p != '\n')
			p++;
		while (p + 1 < end && (p[1] == ' ' || p[1] == '\t')) {
			p++;
			while (p < end && *p != '\n')
				p++;
		}
		if (line[0] == ' ' || line[0] == '\t' ||
		    (size_t)(p - line) < 9 ||
		    strncasecmp(line, "Content-", 8) != 0) {
			p++;
			continue;
		}
		colon = memchr(line, ':', (size_t)(p - line));
		nlen = colon != NULL ? (size_t)(colon - line) : 0;
		if (colon == NULL || nlen > 64 ||
		    memchr(line, ' ', nlen) != NULL ||
		    memchr(line, '\t', nlen) != NULL ||
		    memchr(line, '\0', nlen) != NULL ||
		    spam_view_has_header(mime, line, nlen)) {
			p++;
			continue;
		}
		buf_append(&view->content_fields, line, nlen);
		buf_append_char(&view->content_fields, '\0');
		for (v = colon + 1; v < p && (*v == ' ' || *v == '\t'); v++)
			;
		for (; v < p; v++) {
			/* Unfold: CR and LF go, the next line's blank stays. */
			if (*v == '\r' || *v == '\n' || *v == '\0')
				continue;
			buf_append_char(&view->content_fields, *v);
		}
		while (
		    view->content_fields.len > 0 &&
		    (view->content_fields.data[view->content_fields.len - 1] ==
			 ' ' ||
		     view->content_fields.data[view->content_fields.len - 1] ==
			 '\t'))
			buf_truncate(&view->content_fields,
				     view->content_fields.len - 1);
		buf_append_char(&view->content_fields, '\0');
		count++;
		p++;
	}
	return count;
}

/* What the tags of one HTML part say (html_tag_walk()). */
struct spam_view_walk {
	struct spam_view *view;
	unsigned int images; /* <img> tags */
};

static void
spam_view_tag(void *ctx, const char *name, size_t n, const char *tag,
	      size_t tag_len)
{
	struct spam_view_walk *w = ctx;
	struct spam_view *v = w->view;
	bool start = tag_len < 2 || tag[1] != '/';
	char lower[32];
	size_t action;

	if (n >= sizeof(lower))
		return;
	for (size_t i = 0; i < n; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[n] = '\0';
	if (start && strcmp(lower, "img") == 0)
		w->images++;
	if (start &&
	    (strcmp(lower, "object") == 0 || strcmp(lower, "embed") == 0))
		v->msg.html_embeds = true;
	if (start && strcmp(lower, "form") == 0 &&
	    (action = html_find_ci(tag, tag_len, "action")) < tag_len &&
	    html_find_ci(tag + action, tag_len - action, "mailto:") <
		tag_len - action)
		v->msg.html_form_mailto = true;
	for (size_t k = 0; k < v->html_tag_count; k++)
		if (strcmp(v->html_tags[k], lower) == 0)
			return;
	if (v->html_tag_count < SPAM_HTML_TAGS_MAX)
		v->html_tags[v->html_tag_count++] = xstrdup(lower);
}

/* The text parts' MIME structure for the MIME and HTML built-ins. */
static void
spam_view_parts(struct spam_view *view, const struct mime_message *mime)
{
	size_t i, html = 0;

	for (i = 0; i < mime->part_count; i++)
		if (mime->parts[i].kind == MIME_PART_LEAF &&
		    strcmp(mime->parts[i].content_type, "text/html") == 0)
			html++;
	view->html_parts = xcalloc(html + 1, sizeof(*view->html_parts));
	for (i = 0; i < mime->part_count; i++) {
		const struct mime_part *p = &mime->parts[i];

		if (p->kind != MIME_PART_LEAF ||
		    strncmp(p->content_type, "text/", 5) != 0)
			continue;
		if (strcmp(p->content_type, "text/html") != 0) {
			view->msg.text_part_count++;
			continue;
		}
		view->html_parts[view->msg.html_part_count].text_len =
		    p->text != NULL ? p->text_len : 0;
		if (p->content != NULL) {
			struct spam_view_walk w = {view, 0};

			if (view->html_tags == NULL)
				view->html_tags =
				    xcalloc(SPAM_HTML_TAGS_MAX,
					    sizeof(*view->html_tags));
			html_tag_walk((const char *)p->content, p->content_len,
				      spam_view_tag, &w);
			view->html_parts[view->msg.html_part_count].images =
			    w.images;
		}
		view->msg.html_part_count++;
	}
	view->msg.html_parts = view->html_parts;
	view->msg.html_tags = (const char *const *)view->html_tags;
	view->msg.html_tag_count = view->html_tag_count;
}

/* Look-alike host names in the From address and the URLs (at most
 * SPAM_VIEW_MAX_HOMOGRAPH_URLS of them). */
static void
spam_view_homographs(struct spam_view *view, const struct mime_message *mime)
{
	const char *from = NULL;
	char *name = NULL, *mailbox = NULL, *host = NULL, host_buf[256];

	/* the address as sent: decoded words cannot add brackets there */
	for (size_t i = 0; i < mime->header_count && from == NULL; i++)
		if (strcasecmp(mime->headers[i].name, "From") == 0)
			from = mime->headers[i].raw;
	if (from != NULL && msg_address_first(from, &name, &mailbox, &host) &&
	    host != NULL)
		view->msg.from_homograph = homograph_host(host);
	free(name);
	free(mailbox);
	free(host);
	for (size_t i = 0;
	     i < mime->url_count && i < SPAM_VIEW_MAX_HOMOGRAPH_URLS &&
	     !view->msg.uri_homograph;
	     i++)
		if (url_host(mime->urls[i], host_buf, sizeof(host_buf)))
			view->msg.uri_homograph = homograph_host(host_buf);
}

void
spam_view_init(struct spam_view *view, const struct mime_message *mime,
	       const char *full, size_t full_len, size_t max_text)
{
	const char *subject, *f;
	size_t subject_signs = 0;
	size_t i, extra;

	memset(view, 0, sizeof(*view));
	buf_init(&view->body);
	buf_init(&view->rawbody);
	buf_init(&view->content_fields);
	extra = spam_view_content_fields(view, mime);
	view->headers =
	    xcalloc(mime->header_count + extra + 1, sizeof(*view->headers));
	for (i = 0; i < mime->header_count; i++) {
		view->headers[i].name = mime->headers[i].name;
		view->headers[i].value = mime->headers[i].value;
		view->headers[i].raw = mime->headers[i].raw;
	}
	/* The buffer is complete: point into it. */
	for (i = 0, f = view->content_fields.data; i < extra; i++) {
		struct spam_header *h = &view->headers[mime->header_count + i];

		h->name = f;
		f += strlen(f) + 1;
		h->value = f;
		h->raw = NULL;
		f += strlen(f) + 1;
	}
	subject = mime_message_header(mime, "Subject", 0);
	if (subject != NULL) {
		/* as the reader reads it, like the text below */
		struct buf read;

		buf_init(&read);
		subject_signs =
		    text_deobfuscate(subject, strlen(subject), &read);
		spam_view_append_capped(&view->body, buf_cstr(&read), read.len,
					max_text);
		buf_append_char(&view->body, '\n');
		buf_free(&read);
	}
	if (mime->text != NULL)
		spam_view_append_capped(&view->body, mime->text, mime->text_len,
					max_text);
	for (i = 0; i < mime->part_count; i++) {
		const struct mime_part *p = &mime->parts[i];

		if (p->kind != MIME_PART_LEAF || p->text == NULL ||
		    p->content == NULL)
			continue;
		if (view->rawbody.len > 0)
			buf_append_char(&view->rawbody, '\n');
		spam_view_append_capped(&view->rawbody, p->content,
					p->content_len, max_text);
	}
	view->msg.headers = view->headers;
	view->msg.header_count = mime->header_count + extra;
	view->msg.body = buf_cstr(&view->body);
	view->msg.body_len = view->body.len;
	view->msg.rawbody = buf_cstr(&view->rawbody);
	view->msg.rawbody_len = view->rawbody.len;
	view->msg.hidden_body = mime->hidden_text;
	view->msg.hidden_body_len =
	    max_text != 0 && mime->hidden_text_len > max_text
		? max_text
		: mime->hidden_text_len;
	if (full != NULL && max_text != 0 && full_len > max_text)
		full_len = max_text;
	view->msg.full = full;
	view->msg.full_len = full != NULL ? full_len : 0;
	view->msg.uris = mime->urls;
	view->msg.uri_count = mime->url_count;
	view->msg.text_obfuscations = mime->text_obfuscations + subject_signs;
	view->msg.bayes = -1;
	spam_view_parts(view, mime);
	spam_view_homographs(view, mime);
	if (mime->shown_link_count > 0) {
		view->shown_links =
		    xcalloc(mime->shown_link_count, sizeof(*view->shown_links));
		for (i = 0; i < mime->shown_link_count; i++) {
			view->shown_links[i].shown = mime->shown_links[i].shown;
			view->shown_links[i].target =
			    mime->shown_links[i].target;
		}
		view->msg.shown_links = view->shown_links;
		view->msg.shown_link_count = mime->shown_link_count;
	}
}

static int
spam_view_org_domain(const void *psl, const char *domain, char *out,
		     size_t outsz)
{
	return psl_registrable(psl, domain, out, outsz);
}

void
spam_view_set_psl(struct spam_view *view, const struct psl *psl)
{
	view->msg.org_domain = psl != NULL ? spam_view_org_domain : NULL;
	view->msg.org_ctx = psl;
}

void
spam_view_set_link_trackers(struct spam_view *view, char *const *items,
			    size_t count)
{
	view->msg.link_trackers = items;
	view->msg.link_tracker_count = count;
}

void
spam_view_set_trusted(struct spam_view *view, char *const *items, size_t count)
{
	view->msg.trusted_relays = items;
	view->msg.trusted_relay_count = count;
}

int
spam_view_sender_history(struct spam_view *view, struct bayes_db *db,
			 const struct bayes_params *params, char **error_r)
{
	char token[BAYES_SENDER_TOKEN_MAX];
	size_t len = bayes_sender_token(&view->msg, token, sizeof(token));

	if (len == 0)
		return 0;
	if (bayes_token_counts(db, token, len, params, &view->msg.sender_spam,
			       &view->msg.sender_ham, error_r) < 0)
		return -1;
	view->msg.sender_learned = true;
	return 0;
}

void
spam_view_free(struct spam_view *view)
{
	free(view->headers);
	free(view->html_parts);
	free(view->shown_links);
	for (size_t i = 0; i < view->html_tag_count; i++)
		free(view->html_tags[i]);
	free(view->html_tags);
	buf_free(&view->body);
	buf_free(&view->rawbody);
	buf_free(&view->content_fields);
	memset(view, 0, sizeof(*view));
}

unsigned long long
spam_view_key(const struct spam_view *view)
{
	size_t i;

	for (i = 0; i < view->msg.header_count; i++) {
		const struct spam_header *h = &view->msg.headers[i];

		if (strcasecmp(h->name, "Message-Id") == 0 &&
		    h->value != NULL && h->value[0] != '\0')
			return bayes_hash(h->value, strlen(h->value), 1);
	}
	return bayes_hash(view->msg.body, view->msg.body_len, 2);
}
