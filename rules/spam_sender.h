/*
 * spam_sender: who really sent a message, for the learned sender
 * reputation (SENDER_LEARNED_HAM). The relay is the host that handed the
 * message to the first trusted one: the Received fields are read from the
 * top (the newest, Moat's own) for as long as the host they name is
 * trusted (an internal address, or one of msg->trusted_relays). The sender
 * key is the first From address with that relay's network (/16, IPv6 /48,
 * as SpamAssassin's AWL keys its entries), so that a From address forged
 * from elsewhere does not inherit a correspondent's history.
 */
#ifndef MOAT_SPAM_SENDER_H
#define MOAT_SPAM_SENDER_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/spam_rules.h"

/* Received fields read at most, from the top. */
#define SPAM_SENDER_MAX_RECEIVED 30
/* Room for a key: an address (RFC 5321: 254) and a network. */
#define SPAM_SENDER_KEY_MAX 320

/* The address of the host a Received field says the message came from
 * (the last "[address]" of its from clause, or a qmail-style
 * "(a.b.c.d)"), not a HELO the client chose. False when the field has no
 * from clause or no address in it. */
bool spam_received_from_ip(const char *value, char *out, size_t outsz);
enum spam_relay {
	SPAM_RELAY_FOUND,   /* its address is in out */
	SPAM_RELAY_NONE,    /* every Received field names a trusted host, or
			       there is none: mail that never left them */
	SPAM_RELAY_UNKNOWN, /* a field that should name a host cannot be
			       read, or too many fields */
};
enum spam_relay spam_sender_relay(const struct spam_msg *msg, char *out,
				  size_t outsz);
/* "address|network", or "address|none" when the mail never left trusted
 * hosts, lower case; false without a From address or with an unknown
 * relay. */
bool spam_sender_key(const struct spam_msg *msg, char *out, size_t outsz);

#endif
