/*
 * netblock: CIDR networks (see netblock.h). Addresses are compared as
 * bytes in network order, IPv4 as 4 bytes, IPv6 as 16; an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) is taken as its IPv4 address, as a dual-stack
 * socket reports IPv4 peers that way.
 */
#include "lib/netblock.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ip as bytes: 4 (AF_INET) or 16 (AF_INET6); 0 when not an address. */
static int
netblock_parse_ip(const char *ip, unsigned char out[16])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0,	   0,
						 0, 0, 0, 0, 0xff, 0xff};

	if (inet_pton(AF_INET, ip, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, ip, out) != 1)
		return 0;
	if (memcmp(out, mapped, sizeof(mapped)) == 0) {
		memmove(out, out + 12, 4);
		return AF_INET;
	}
	return AF_INET6;
}

/* cidr as network bytes, family and prefix length; false when invalid. */
static bool
netblock_parse(const char *cidr, unsigned char net[16], int *family_r,
	       unsigned int *bits_r)
{
	char buf[64];
	char *slash, *end;
	unsigned int len;
	long bits;
	int n;

	n = snprintf(buf, sizeof(buf), "%s", cidr);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return false;
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	*family_r = netblock_parse_ip(buf, net);
	if (*family_r == 0)
		return false;
	len = *family_r == AF_INET ? 32 : 128;
	if (slash == NULL) {
		*bits_r = len;
		return true;
	}
	if (*slash < '0' || *slash > '9')
		return false;
	bits = strtol(slash, &end, 10);
	if (*end != '\0' || bits < 0 || bits > (long)len)
		return false;
	/* a mapped address's prefix counts the 96 bits before it */
	if (strchr(buf, ':') != NULL && *family_r == AF_INET) {
		if (bits < 96)
			return false;
		bits -= 96;
	}
	*bits_r = (unsigned int)bits;
	return true;
}

/* The first bits of a and b agree. */
static bool
netblock_prefix_equal(const unsigned char *a, const unsigned char *b,
		      unsigned int bits)
{
	unsigned int i;

	for (i = 0; i < bits / 8; i++)
		if (a[i] != b[i])
			return false;
	if (bits % 8 != 0) {
		unsigned char mask = (unsigned char)(0xff << (8 - bits % 8));

		if ((a[i] & mask) != (b[i] & mask))
			return false;
	}
	return true;
}

bool
netblock_valid(const char *cidr)
{
	unsigned char net[16];
	unsigned int bits;
	int family;

	return netblock_parse(cidr, net, &family, &bits);
}

bool
netblock_match(const char *ip, char *const *list, size_t count)
{
	unsigned char a[16], net[16];
	unsigned int bits;
	int family, nf;

	family = netblock_parse_ip(ip, a);
	if (family == 0)
		return false;
	for (size_t i = 0; i < count; i++)
		if (netblock_parse(list[i], net, &nf, &bits) && nf == family &&
		    netblock_prefix_equal(a, net, bits))
			return true;
	return false;
}

bool
netblock_is_internal(const char *ip)
{
	static char *const internal[] = {
	    "0.0.0.0/8",      "10.0.0.0/8",    "127.0.0.0/8",
	    "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
	    "::/127",	      "fc00::/7",      "fe80::/10",
	};

	return netblock_match(ip, internal,
			      sizeof(internal) / sizeof(internal[0]));
}

int
netblock_network(const char *ip, unsigned int v4_bits, unsigned int v6_bits,
		 char *out, size_t outsz)
{
	unsigned char a[16] = {0}, net[16] = {0};
	char text[INET6_ADDRSTRLEN];
	unsigned int bits, len, i;
	int family, n;

	family = netblock_parse_ip(ip, a);
	if (family == 0)
		return -1;
	len = family == AF_INET ? 32 : 128;
	bits = family == AF_INET ? v4_bits : v6_bits;
	if (bits > len)
		bits = len;
	for (i = 0; i < bits / 8; i++)
		net[i] = a[i];
	if (bits % 8 != 0)
		net[i] = (unsigned char)(a[i] & (0xff << (8 - bits % 8)));
	if (inet_ntop(family, net, text, sizeof(text)) == NULL)
		return -1;
	n = snprintf(out, outsz, "%s/%u", text, bits);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}
