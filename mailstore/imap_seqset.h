/*
 * imap_seqset: IMAP sequence sets (RFC 9051 "sequence-set"): "1:4,7,9:*",
 * also "$" (SEARCHRES, kept as a flag for the session to substitute). '*'
 * is stored as UINT32_MAX and means "the largest number in use" when a set
 * is resolved against a mailbox. Ranges are normalised (lo <= hi), so
 * "5:2" is "2:5". The number of ranges is bounded by the length of the
 * text, which the session bounds.
 */
#ifndef MOAT_IMAP_SEQSET_H
#define MOAT_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define IMAP_SEQ_STAR UINT32_MAX

struct imap_seq_range {
	uint32_t lo, hi;
};

struct imap_seqset {
	struct imap_seq_range *ranges; /* malloc'ed */
	size_t count;
	bool saved; /* "$" */
};

/* Parses text. 0, or -1 with *error_r static. Free with imap_seqset_free. */
int imap_seqset_parse(const char *text, struct imap_seqset *set_r,
		      const char **error_r);
void imap_seqset_free(struct imap_seqset *set);
/* true when n is in set, with '*' meaning max. */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n,
			  uint32_t max);
/* Appends numbers (sorted, ascending) as a compact set "1:3,5" to out. */
void imap_seqset_format(const uint32_t *numbers, size_t count, struct buf *out);

#endif
