/*
 * spam_view: the adapter from the shared MIME parse to the rule engine's
 * view. The body area is what SpamAssassin calls the rendered body: the
 * Subject as its first line, then the UTF-8 text of every text part with
 * HTML reduced to text. rawbody is the transfer-decoded text parts before
 * rendering (HTML tags kept). Headers and URLs are used in place.
 */
#include "filters/spam_view.h"

#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"
#include "rules/bayes.h"

static void
spam_view_append_capped(struct buf *b, const void *data, size_t len, size_t max)
{
	if (max != 0 && b->len >= max)
		return;
	if (max != 0 && len > max - b->len)
		len = max - b->len;
	buf_append(b, data, len);
}

void
spam_view_init(struct spam_view *view, const struct mime_message *mime,
	       const char *full, size_t full_len, size_t max_text)
{
	const char *subject;
	size_t i;

	memset(view, 0, sizeof(*view));
	buf_init(&view->body);
	buf_init(&view->rawbody);
	view->headers = xcalloc(mime->header_count + 1, sizeof(*view->headers));
	for (i = 0; i < mime->header_count; i++) {
		view->headers[i].name = mime->headers[i].name;
		view->headers[i].value = mime->headers[i].value;
		view->headers[i].raw = mime->headers[i].raw;
	}
	subject = mime_message_header(mime, "Subject", 0);
	if (subject != NULL) {
		spam_view_append_capped(&view->body, subject, strlen(subject),
					max_text);
		buf_append_char(&view->body, '\n');
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
	view->msg.header_count = mime->header_count;
	view->msg.body = buf_cstr(&view->body);
	view->msg.body_len = view->body.len;
	view->msg.rawbody = buf_cstr(&view->rawbody);
	view->msg.rawbody_len = view->rawbody.len;
	if (full != NULL && max_text != 0 && full_len > max_text)
		full_len = max_text;
	view->msg.full = full;
	view->msg.full_len = full != NULL ? full_len : 0;
	view->msg.uris = mime->urls;
	view->msg.uri_count = mime->url_count;
	view->msg.bayes = -1;
}

void
spam_view_free(struct spam_view *view)
{
	free(view->headers);
	buf_free(&view->body);
	buf_free(&view->rawbody);
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
