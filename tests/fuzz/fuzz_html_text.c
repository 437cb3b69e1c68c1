/*
 * libFuzzer target for the HTML reader of filters/mime.c
 * (mime_html_to_text) and the readers it calls: style sheets
 * (html_sheet.c), inline styles (html_hidden.c), colours (html_colors.c),
 * entities and links. Arbitrary bytes are read as an HTML body; every
 * link handed out must end where its length says.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/mime.h"
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf seen, hidden;
	size_t links = 0;

	buf_init(&seen);
	buf_init(&hidden);
	mime_html_to_text((const char *)data, size, &seen, &hidden, take_link,
			  &links);
	if (buf_cstr(&seen) == NULL || buf_cstr(&hidden) == NULL)
		abort();
	buf_free(&seen);
	buf_free(&hidden);
	return 0;
}
