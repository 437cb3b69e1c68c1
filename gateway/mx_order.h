/*
 * mx_order: the order in which a domain's mail exchangers are tried
 * (RFC 5321 section 5.1): lowest preference first, hosts of equal
 * preference in random order, and, when our own host name is one of the
 * exchangers, only those more preferred than we are (so a backup MX never
 * delivers to itself). The null MX of RFC 7505 (a single "." exchanger) is
 * reported so the caller can fail permanently. Pure computation: no DNS.
 */
#ifndef MOAT_MX_ORDER_H
#define MOAT_MX_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MX_HOSTS_MAX 16

struct mx_host {
	uint16_t pref;
	char name[256];
};

enum mx_order_result {
	MX_ORDER_OK,	/* *count_r hosts in out */
	MX_ORDER_NULL,	/* RFC 7505 null MX: the domain accepts no mail */
	MX_ORDER_SELF,	/* we are the best exchanger: mail would loop */
	MX_ORDER_EMPTY, /* no usable exchanger */
};

/*
 * Orders count MX records (prefs[i], hosts[i]; names without the trailing
 * dot, "." for the null MX). self is our host name (compared without case)
 * or NULL. seed drives the shuffle of equal preferences (tests pass a fixed
 * one). Duplicate names are kept once, at most MX_HOSTS_MAX hosts.
 */
enum mx_order_result mx_order(const uint16_t *prefs, char *const *hosts,
			      size_t count, const char *self, unsigned int seed,
			      struct mx_host *out, size_t *count_r);

#endif
