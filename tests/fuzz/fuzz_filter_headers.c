/*
 * libFuzzer target for filters/filter_headers.c, the header parser that
 * feeds every filter, and for the Authentication-Results authserv-id
 * matcher that runs on each parsed value. Checks the parser's invariants:
 * fields lie inside the input in order, names are non-empty, the body
 * starts within the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filter_chain.h"
#include "filters/filter_headers.h"
#include "lib/pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pool *pool = pool_new(4096);
	struct filter_header *h;
	size_t count, body, prev_end = 0;
	bool truncated;
	const char *text = (const char *)data;

	filter_headers_parse(pool, text, size, &h, &count, &truncated, &body);
	if (body > size || count > FILTER_HEADERS_MAX_FIELDS)
		abort();
	for (size_t i = 0; i < count; i++) {
		if (h[i].raw != text + h[i].offset || h[i].offset < prev_end ||
		    h[i].offset + h[i].raw_len > size || h[i].name[0] == '\0')
			abort();
		prev_end = h[i].offset + h[i].raw_len;
		(void)filter_chain_ar_claims(h[i].value, "mx.example");
	}
	pool_free(&pool);
	return 0;
}
