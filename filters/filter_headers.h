/*
 * filter_headers: the parser of a message's header section that feeds the
 * filters (struct filter_header in filters/filter.h). Internal to the chain;
 * exposed for its unit tests and the fuzzer.
 */
#ifndef MOAT_FILTER_HEADERS_H
#define MOAT_FILTER_HEADERS_H

#include <stdbool.h>
#include <stddef.h>

#include "filters/filter.h"

struct pool;

#define FILTER_HEADERS_MAX_FIELDS 1000
#define FILTER_HEADERS_MAX_BYTES  (1024 * 1024)

/*
 * Parses the header fields at the start of data[0..len) (a message with CRLF
 * lines; a bare LF is accepted as a line end). Fields, names and values are
 * allocated from pool; raw points into data, which must outlive them.
 * Parsing stops at the empty line (the body starts after it), at a line that
 * is neither a field nor a continuation (the body starts there), at the end
 * of data, or at the limits (*truncated_r). *body_offset_r is where the body
 * starts (len when there is none).
 */
void filter_headers_parse(struct pool *pool, const char *data, size_t len,
			  struct filter_header **headers_r, size_t *count_r,
			  bool *truncated_r, size_t *body_offset_r);

#endif
