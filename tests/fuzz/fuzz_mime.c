/*
 * libFuzzer target for filters/mime.c: arbitrary bytes parsed as a message,
 * once with the defaults and once with tight limits so the limit paths run
 * too. The tree invariants and UTF-8 validity of every text are checked;
 * every parse is freed, so leaks show under ASan's leak checker.
 */
#include <glib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "filters/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct mime_message *m)
{
	if (m->text == NULL || !g_utf8_validate(m->text, m->text_len, NULL))
		abort();
	for (size_t i = 0; i < m->part_count; i++) {
		const struct mime_part *p = &m->parts[i];

		if (i > 0 && (p->parent < 0 || (size_t)p->parent >= i ||
			      p->depth != m->parts[p->parent].depth + 1))
			abort();
		if (p->kind == MIME_PART_LEAF &&
		    (p->content == NULL || p->content[p->content_len] != 0))
			abort();
		if (p->text != NULL &&
		    !g_utf8_validate(p->text, p->text_len, NULL))
			abort();
		if (p->filename != NULL &&
		    !g_utf8_validate(p->filename, -1, NULL))
			abort();
	}
	for (size_t u = 0; u < m->url_count; u++)
		if (m->urls[u] == NULL)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits lim;
	struct mime_message *m;

	m = mime_parse_buffer(data, size, NULL);
	check(m);
	mime_message_free(&m);

	mime_limits_default(&lim);
	lim.max_depth = 3;
	lim.max_parts = 8;
	lim.max_decoded_size = 256;
	lim.max_text_size = 64;
	lim.max_urls = 4;
	lim.max_headers = 8;
	m = mime_parse_buffer(data, size, &lim);
	check(m);
	if (m->part_count > 8)
		abort();
	mime_message_free(&m);
	return 0;
}
