/*
 * dnsbl: DNS blocklists for the client address (DNSBL) and for the domains
 * of the message's URLs (URIBL), through Moat's resolver. Zones and the
 * meaning of their answers are configured as items of the form
 *
 *     ZONE[/CODE]=SYMBOL:SCORE
 *
 * e.g. "zen.spamhaus.org/127.0.0.2=RBL_SPAMHAUS_SBL:3.5". CODE is one
 * answer address, or "any" (the default): any 127.0.0.0/8 answer except
 * 127.255.255.0/24 and 127.0.0.1, which blocklists use to report refused
 * queries. Several
 * items may name one zone: it is queried once per message.
 */
#ifndef MOAT_DNSBL_H
#define MOAT_DNSBL_H

#include <stdbool.h>
#include <stddef.h>

struct dnsbl_entry {
	char *zone;   /* lower case, no trailing dot */
	char *code;   /* dotted IPv4 answer, or NULL for any */
	char *symbol; /* [A-Z0-9_]+ */
	double score;
};

/* Parses one item. Returns 0, or -1 with *error_r (static). */
int dnsbl_entry_parse(const char *item, struct dnsbl_entry *entry_r,
		      const char **error_r);
void dnsbl_entry_free(struct dnsbl_entry *entry);
/* True when answer (dotted IPv4) means "listed" for entry. */
bool dnsbl_entry_matches(const struct dnsbl_entry *entry, const char *answer);
/* The query name for ip in zone ("2.0.0.127.zone", nibbles for IPv6).
 * Returns 0, or -1 when ip does not parse or out is too small. */
int dnsbl_query_name(const char *ip, const char *zone, char *out, size_t outsz);
/* True for addresses a blocklist cannot know: loopback, private,
 * link-local, unique-local. */
bool dnsbl_ip_is_private(const char *ip);
/* The host of a URL (lower case, without user info and port) into out;
 * 0, or -1 when there is none or it is an address literal. */
int dnsbl_url_host(const char *url, char *out, size_t outsz);

#endif
