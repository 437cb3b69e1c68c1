/*
 * dmarc_rua: the report URI list of a DMARC record's rua= tag (RFC 7489
 * 6.2 and 6.4): comma-separated URIs, each optionally followed by "!" and a
 * size limit with a unit (k, m, g, t: powers of 1024). Only mailto: URIs are
 * kept (Moat sends reports by mail); others are skipped. The address of
 * each mailto: URI is percent-decoded, its "?hfields" dropped, and checked
 * to be a plain local@domain without spaces, controls, quotes or angle
 * brackets, so it can go into a queue envelope and a To: field as is.
 */
#ifndef MOAT_DMARC_RUA_H
#define MOAT_DMARC_RUA_H

#include <stddef.h>

#define DMARC_RUA_MAX	    5	/* URIs kept; RFC 7489 6.2 lets us cap */
#define DMARC_RUA_ADDR_MAX  254 /* RFC 5321 path limit */
#define DMARC_RUA_INPUT_MAX 4096

struct dmarc_rua {
	char address[DMARC_RUA_ADDR_MAX + 1]; /* local@domain, domain lower */
	const char *domain;		      /* points into address */
	unsigned long long limit;	      /* bytes; 0 = no limit */
};

struct dmarc_rua_list {
	struct dmarc_rua items[DMARC_RUA_MAX];
	size_t count;
	size_t skipped; /* URIs dropped: not mailto, malformed, over the cap */
};

/*
 * Parses the value of a rua= tag (without "rua="). Never fails: unusable
 * URIs are counted in skipped; an empty or oversized (> DMARC_RUA_INPUT_MAX)
 * value gives an empty list. Duplicate addresses are kept once.
 */
void dmarc_rua_parse(const char *value, struct dmarc_rua_list *list_r);

/*
 * The value of tag (e.g. "rua", "fo", "adkim") in a DMARC record
 * "v=DMARC1; p=reject; rua=...", whitespace around it trimmed, into out.
 * Returns 1 found, 0 absent, -1 when it does not fit in size.
 */
int dmarc_record_tag(const char *record, const char *tag, char *out,
		     size_t size);

#endif
