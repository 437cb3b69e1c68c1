/*
 * imap_seqset: parsing, membership and compact formatting of IMAP sequence
 * sets. Numbers are 1..2^32-1; 0 is invalid; '*' is UINT32_MAX until it is
 * resolved against a mailbox's largest sequence number or UID. Used by the
 * IMAP session for FETCH/STORE/COPY/SEARCH arguments and for the UIDPLUS
 * and ESEARCH answers.
 */
#include "mailstore/imap_seqset.h"

#include <string.h>

#include "lib/xalloc.h"

static int
parse_number(const char **p, uint32_t *n_r)
{
	uint64_t n = 0;
	const char *s = *p;

	if (*s == '*') {
		*n_r = IMAP_SEQ_STAR;
		*p = s + 1;
		return 0;
	}
	if (*s < '1' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9') {
		n = n * 10 + (uint64_t)(*s - '0');
		if (n >= UINT32_MAX)
			return -1;
		s++;
	}
	*n_r = (uint32_t)n;
	*p = s;
	return 0;
}

int
imap_seqset_parse(const char *text, struct imap_seqset *set_r,
		  const char **error_r)
{
	const char *p = text;
	size_t alloc = 0;

	memset(set_r, 0, sizeof(*set_r));
	if (strcmp(text, "$") == 0) {
		set_r->saved = true;
		return 0;
	}
	for (;;) {
		uint32_t lo, hi;

		if (parse_number(&p, &lo) < 0)
			goto bad;
		hi = lo;
		if (*p == ':') {
			p++;
			if (parse_number(&p, &hi) < 0)
				goto bad;
		}
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		if (set_r->count == alloc) {
			alloc = alloc == 0 ? 4 : alloc * 2;
			set_r->ranges = xreallocarray(set_r->ranges, alloc,
						      sizeof(*set_r->ranges));
		}
		set_r->ranges[set_r->count].lo = lo;
		set_r->ranges[set_r->count].hi = hi;
		set_r->count++;
		if (*p == '\0')
			return 0;
		if (*p != ',')
			goto bad;
		p++;
	}
bad:
	imap_seqset_free(set_r);
	*error_r = "invalid sequence set";
	return -1;
}

void
imap_seqset_free(struct imap_seqset *set)
{
	x_free(&set->ranges);
	set->count = 0;
	set->saved = false;
}

bool
imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t max)
{
	for (size_t i = 0; i < set->count; i++) {
		uint32_t lo = set->ranges[i].lo, hi = set->ranges[i].hi;

		if (lo == IMAP_SEQ_STAR)
			lo = max;
		if (hi == IMAP_SEQ_STAR)
			hi = max;
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		if (n >= lo && n <= hi)
			return true;
	}
	return false;
}

void
imap_seqset_format(const uint32_t *numbers, size_t count, struct buf *out)
{
	size_t i = 0;
	bool first = true;

	while (i < count) {
		size_t j = i;

		while (j + 1 < count && numbers[j + 1] == numbers[j] + 1)
			j++;
		if (j == i)
			buf_printf(out, "%s%u", first ? "" : ",", numbers[i]);
		else
			buf_printf(out, "%s%u:%u", first ? "" : ",", numbers[i],
				   numbers[j]);
		first = false;
		i = j + 1;
	}
}
