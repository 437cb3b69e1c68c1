/*
 * dkim_keys: the DNS answers one message needs for DKIM and ARC key records
 * ("selector._domainkey.domain" TXT), gathered through lib/dns before the
 * verification runs and then served to libopendkim's DNS callbacks (and to
 * ARC) without blocking. A name that was never looked up answers as a
 * temporary failure, so a missing lookup can never turn into a pass.
 */
#ifndef MOAT_DKIM_KEYS_H
#define MOAT_DKIM_KEYS_H

#include <stddef.h>

#include "filters/dkim_tags.h"

enum dkim_key_status {
	DKIM_KEY_FOUND,	   /* TXT records present (count may be 0) */
	DKIM_KEY_NONE,	   /* NXDOMAIN */
	DKIM_KEY_TEMPFAIL, /* SERVFAIL, timeout, never asked */
};

struct dkim_keys;

struct dkim_keys *dkim_keys_new(void);
void dkim_keys_free(struct dkim_keys **keys);
/* Records the answer for name (case-insensitive; copied). */
void dkim_keys_add(struct dkim_keys *keys, const char *name,
		   enum dkim_key_status status, const char *const *txt,
		   size_t count);
/* Looks name up; *txt_r / *count_r point into the table. */
enum dkim_key_status dkim_keys_get(const struct dkim_keys *keys,
				   const char *name, char *const **txt_r,
				   size_t *count_r);

/* Key record name of a signature header value ("s._domainkey.d", lower
 * case) in *name_r, or -1 when s= or d= is missing or malformed. */
int dkim_key_name(const char *value, size_t len, char **name_r);
/* Distinct key names of every field called header_name ("DKIM-Signature",
 * "ARC-Seal", "ARC-Message-Signature"), at most max; the caller frees
 * each name and the array. Returns the count. */
size_t dkim_key_names(const struct mail_headers *headers,
		      const char *header_name, size_t max, char ***names_r);

#endif
