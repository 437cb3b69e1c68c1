/*
 * auth_common: glue between the filter chain (filters/filter.h) and the
 * sender-authentication modules (dkim_verify, dkim_sign, dmarc, arc): the
 * header list in their form, the message bytes, and key-record lookups
 * through the chain's resolver.
 */
#ifndef MOAT_AUTH_COMMON_H
#define MOAT_AUTH_COMMON_H

#include <stddef.h>

#include "filters/dkim_keys.h"
#include "filters/dkim_tags.h"
#include "filters/filter.h"
#include "lib/buf.h"

/* The message's header fields as struct mail_headers (pointing into the
 * context's copies, valid while ctx lives; items freed with
 * mail_headers_clear()). */
void auth_headers(struct filter_context *ctx, struct mail_headers *headers_r);

/* Reads the whole message into out. 0, or -1 (after filter_set_error). */
int auth_read_message(struct filter_context *ctx, struct buf *out);

/* Looks up each name as TXT and records the answers in keys. */
void auth_lookup_keys(struct filter_context *ctx, char **names, size_t count,
		      struct dkim_keys *keys);

/* Frees a name list from dkim_key_names()/arc_key_names(). */
void auth_names_free(char **names, size_t count);

#endif
