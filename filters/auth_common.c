/*
 * auth_common: what the DKIM, DMARC and ARC filters share. Header fields
 * come from the chain's parse (struct filter_header: raw bytes with the
 * final CRLF) and are handed on without it, as the modules expect. Key
 * records are looked up one by one through filter_dns_lookup() (the
 * worker thread's resolver, bounded by the filter's timeout) before any
 * verification starts.
 */
#include "filters/auth_common.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "lib/dns.h"
#include "lib/xalloc.h"

void
auth_headers(struct filter_context *ctx, struct mail_headers *headers_r)
{
	size_t count = 0;
	const struct filter_header *fh = filter_headers(ctx, &count, NULL);
	const struct filter_body *body = filter_body(ctx);

	headers_r->items = xcalloc(count + 1, sizeof(*headers_r->items));
	headers_r->count = 0;
	headers_r->body_offset = body != NULL ? body->body_offset : 0;
	for (size_t i = 0; i < count; i++) {
		struct mail_header *h = &headers_r->items[headers_r->count];
		const char *colon = memchr(fh[i].raw, ':', fh[i].raw_len);
		size_t len = fh[i].raw_len;

		if (colon == NULL)
			continue;
		if (len >= 2 && fh[i].raw[len - 2] == '\r' &&
		    fh[i].raw[len - 1] == '\n')
			len -= 2;
		else if (len >= 1 && fh[i].raw[len - 1] == '\n')
			len -= 1;
		h->field = fh[i].raw;
		h->len = len;
		h->name = fh[i].raw;
		h->name_len = strlen(fh[i].name);
		h->value = colon + 1;
		h->value_len = len - (size_t)(colon + 1 - fh[i].raw);
		headers_r->count++;
	}
}

int
auth_read_message(struct filter_context *ctx, struct buf *out)
{
	const struct filter_body *body = filter_body(ctx);
	size_t done = 0;

	buf_init(out);
	if (body == NULL) {
		filter_set_error(ctx, "no message");
		return -1;
	}
	buf_reserve(out, body->len);
	while (done < body->len) {
		ssize_t n = pread(body->fd, out->data + done, body->len - done,
				  body->offset + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			filter_set_error(ctx, "cannot read the message: %s",
					 n < 0 ? strerror(errno) : "short");
			buf_free(out);
			return -1;
		}
		done += (size_t)n;
	}
	out->len = done;
	out->data[done] = '\0';
	return 0;
}

void
auth_lookup_keys(struct filter_context *ctx, char **names, size_t count,
		 struct dkim_keys *keys)
{
	for (size_t i = 0; i < count; i++) {
		struct dns_answer *a = NULL;
		enum dkim_key_status st = DKIM_KEY_TEMPFAIL;

		if (filter_dns_lookup(ctx, names[i], 16, &a) == 0 &&
		    a != NULL) {
			if (a->status == DNS_OK)
				st = DKIM_KEY_FOUND;
			else if (a->status == DNS_NXDOMAIN)
				st = DKIM_KEY_NONE;
		}
		dkim_keys_add(keys, names[i], st,
			      st == DKIM_KEY_FOUND ? (const char *const *)a->txt
						   : NULL,
			      st == DKIM_KEY_FOUND ? a->count : 0);
		dns_answer_free(&a);
	}
}

void
auth_names_free(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}
