/*
 * spam_sender: the relay and the sender key of a message (see
 * spam_sender.h). Received fields come in as decoded, unfolded values.
 * Only a field written by a trusted host is believed, and in it only the
 * address the writer recorded for its peer: Postfix, Sendmail and Moat
 * write "from HELO (name [address])", Exim "from name ([address]
 * helo=HELO)", so the last bracketed address not given as helo= is the
 * peer's, and a client that says "EHLO [127.0.0.1]" cannot pass for a
 * trusted host. qmail writes "from name (HELO helo) (address)".
 */
#include "rules/spam_sender.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/netblock.h"
#include "mailstore/msg_structure.h"

/* [start, end) of the from clause of a Received value: after "from ", up
 * to the first " by " (a HELO or host name has no spaces). */
static bool
spam_received_from_clause(const char *value, const char **start_r,
			  const char **end_r)
{
	const char *p = value, *q;

	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "from", 4) != 0 || (p[4] != ' ' && p[4] != '\t'))
		return false;
	p += 5;
	for (q = p; *q != '\0'; q++)
		if ((*q == ' ' || *q == '\t') &&
		    strncasecmp(q + 1, "by", 2) == 0 &&
		    (q[3] == ' ' || q[3] == '\t'))
			break;
	*start_r = p;
	*end_r = q;
	return true;
}

/* Copies [p, p + n) to out when it is a numeric address (IPv4 only when
 * v4_only). */
static bool
spam_copy_ip(const char *p, size_t n, bool v4_only, char *out, size_t outsz)
{
	unsigned char bin[16];
	char tmp[64];

	if (n >= 6 && strncasecmp(p, "IPv6:", 5) == 0) {
		p += 5;
		n -= 5;
	}
	if (n == 0 || n >= sizeof(tmp) || n >= outsz)
		return false;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, bin) != 1 &&
	    (v4_only || inet_pton(AF_INET6, tmp, bin) != 1))
		return false;
	memcpy(out, tmp, n + 1);
	return true;
}

/* The last [open, close) pair in [start, end) around a numeric address,
 * scanning back from end; as a HELO comes first, the peer's address written
 * after it wins whatever brackets the HELO holds. */
static bool
spam_last_enclosed_ip(const char *start, const char *end, char open, char close,
		      bool v4_only, char *out, size_t outsz)
{
	const char *c = end, *o;

	while (c > start) {
		while (c > start && c[-1] != close)
			c--;
		if (c == start)
			return false;
		c--; /* at close */
		for (o = c; o > start && o[-1] != open; o--)
			;
		if (o == start)
			return false;
		o--; /* at open */
		if (!(open == '[' && o - start >= 5 &&
		      strncasecmp(o - 5, "helo=", 5) == 0) &&
		    spam_copy_ip(o + 1, (size_t)(c - o - 1), v4_only, out,
				 outsz))
			return true;
		c = o;
	}
	return false;
}

bool
spam_received_from_ip(const char *value, char *out, size_t outsz)
{
	const char *start, *end;

	if (value == NULL || !spam_received_from_clause(value, &start, &end))
		return false;
	return spam_last_enclosed_ip(start, end, '[', ']', false, out, outsz) ||
	       spam_last_enclosed_ip(start, end, '(', ')', true, out, outsz);
}

/* A host whose Received field is believed. */
static bool
spam_trusted(const struct spam_msg *msg, const char *ip)
{
	return netblock_is_internal(ip) ||
	       netblock_match(ip, msg->trusted_relays,
			      msg->trusted_relay_count);
}

enum spam_relay
spam_sender_relay(const struct spam_msg *msg, char *out, size_t outsz)
{
	unsigned int seen = 0;

	for (size_t i = 0; i < msg->header_count; i++) {
		const char *value = msg->headers[i].value, *s, *e;

		if (strcasecmp(msg->headers[i].name, "Received") != 0 ||
		    value == NULL)
			continue;
		if (++seen > SPAM_SENDER_MAX_RECEIVED)
			return SPAM_RELAY_UNKNOWN;
		/* "by host with ... id": a hand-over inside one host */
		if (!spam_received_from_clause(value, &s, &e))
			continue;
		if (!spam_received_from_ip(value, out, outsz))
			return SPAM_RELAY_UNKNOWN;
		if (!spam_trusted(msg, out))
			return SPAM_RELAY_FOUND;
	}
	return SPAM_RELAY_NONE;
}

/* The first From address, lower case, into out. */
static bool
spam_first_from(const struct spam_msg *msg, char *out, size_t outsz)
{
	for (size_t i = 0; i < msg->header_count; i++) {
		char **addrs;
		size_t n, len;
		bool ok = false;

		if (strcasecmp(msg->headers[i].name, "From") != 0 ||
		    msg->headers[i].value == NULL)
			continue;
		n = msg_address_all(msg->headers[i].value, &addrs);
		if (n > 0 && strchr(addrs[0], '@') != NULL &&
		    strstr(addrs[0], MSG_ADDRESS_MISSING_DOMAIN) == NULL &&
		    strstr(addrs[0], MSG_ADDRESS_MISSING_MAILBOX) == NULL &&
		    (len = strlen(addrs[0])) < outsz) {
			for (size_t k = 0; k <= len; k++)
				out[k] =
				    (char)tolower((unsigned char)addrs[0][k]);
			ok = true;
		}
		for (size_t k = 0; k < n; k++)
			free(addrs[k]);
		free(addrs);
		return ok;
	}
	return false;
}

bool
spam_sender_key(const struct spam_msg *msg, char *out, size_t outsz)
{
	char addr[SPAM_SENDER_KEY_MAX], ip[64], net[64];
	int n;

	if (!spam_first_from(msg, addr, sizeof(addr)))
		return false;
	switch (spam_sender_relay(msg, ip, sizeof(ip))) {
	case SPAM_RELAY_FOUND:
		if (netblock_network(ip, 16, 48, net, sizeof(net)) < 0)
			return false;
		break;
	case SPAM_RELAY_NONE:
		snprintf(net, sizeof(net), "none");
		break;
	default: /* not known: no key rather than another sender's */
		return false;
	}
	n = snprintf(out, outsz, "%s|%s", addr, net);
	return n > 0 && (size_t)n < outsz;
}
