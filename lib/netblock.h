/*
 * netblock: networks in CIDR notation ("192.0.2.0/24", "2001:db8::/32", a
 * bare address for one host): whether an address is in a list of them, in
 * the internal ranges (loopback, private, link-local), and the network of
 * an address at a prefix length. Addresses are numeric text.
 */
#ifndef MOAT_NETBLOCK_H
#define MOAT_NETBLOCK_H

#include <stdbool.h>
#include <stddef.h>

/* A network Moat can match: an IPv4 or IPv6 address, optionally with
 * "/bits" within the family's length. */
bool netblock_valid(const char *cidr);
/* ip is inside one of list's networks (invalid items never match). */
bool netblock_match(const char *ip, char *const *list, size_t count);
/* Loopback, RFC 1918, link-local (IPv4 and IPv6), unique local (fc00::/7)
 * and the unspecified address: never a host on the Internet. */
bool netblock_is_internal(const char *ip);
/* "a.b.0.0/16": ip's network, v4_bits for IPv4 and v6_bits for IPv6 (an
 * IPv4-mapped IPv6 address counts as IPv4). 0, or -1 when ip is not an
 * address or out is too small. */
int netblock_network(const char *ip, unsigned int v4_bits, unsigned int v6_bits,
		     char *out, size_t outsz);

#endif
