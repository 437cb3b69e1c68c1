/*
 * libFuzzer target for the HTML reader of filters/mime.c
 * (mime_html_to_text) and the readers it calls: style sheets
 * (html_sheet.c), inline styles (html_hidden.c), colours (html_colors.c),
 * entities, links and the hosts link texts show (shown_link.c); and the
 * tag walk of SpamAssassin's HTML built-ins (html_tag_walk()). Arbitrary bytes
 * are read as an HTML body; every link handed out must end where its length
 * says.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/html_tags.h"
#include "filters/mime.h"
#include "filters/shown_link.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
take_link(void *ctx, const char *url, size_t len)
{
	size_t *links = ctx;

	if (url == NULL || url[len] != '\0')
		abort();
	(*links)++;
}

/* The text of each link, and its host, read as shown_link.c reads it. */
static void
take_anchor(void *ctx, const char *href, size_t href_len, const char *text,
	    size_t text_len)
{
	char shown[256], target[256];

	if (href[href_len] != '\0')
		abort();
	if (shown_link_hosts(href, href_len, text, text_len, shown,
			     sizeof(shown), target, sizeof(target)) &&
	    (strlen(shown) >= sizeof(shown) || strcmp(shown, target) == 0))
		abort();
	(void)ctx;
}

/* Each tag html_tag_walk() hands out lies inside the input, its name
 * inside the tag. */
struct walk {
	const char *data;
	size_t size;
};

static void
take_tag(void *ctx, const char *name, size_t n, const char *tag, size_t tag_len)
{
	const struct walk *w = ctx;

	if (tag < w->data || tag + tag_len > w->data + w->size || name <= tag ||
	    name + n > tag + tag_len + 1 || n == 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf seen, hidden;
	size_t links = 0;

	buf_init(&seen);
	buf_init(&hidden);
	const struct mime_html_sink sink = {take_link, take_anchor, &links};

	mime_html_to_text((const char *)data, size, &seen, &hidden, &sink);
	if (buf_cstr(&seen) == NULL || buf_cstr(&hidden) == NULL)
		abort();
	buf_free(&seen);
	buf_free(&hidden);
	struct walk w = {(const char *)data, size};
	html_tag_walk((const char *)data, size, take_tag, &w);
	return 0;
}
