/*
 * route: where mail for a recipient domain goes. A route is a list of next
 * hops tried in order (failover) plus per-route options:
 *
 *   local            the mailstore
 *   [host]:port      that host (A/AAAA of host, or an IP literal), no MX
 *   [host]           the same on relay.remote_port (25)
 *   host             the MX records of host (RFC 5321 section 5)
 *   tls=POLICY       none (opportunistic), encrypt (required), verify
 *                    (required and checked against the system CA store)
 *   auth=FILE        AUTH PLAIN to the next hop with the user name and the
 *                    password on the first two lines of FILE (only over TLS)
 *
 * Elements are separated by '|', ',' or white space. Routes come from the
 * database (table routes in moat.db, edited by `moatctl route`, read at
 * every lookup so changes apply without a restart), then from relay.routes
 * in moat.conf ("DOMAIN=SPEC" items), then relay.default_route; with none
 * of these the recipient domain's own MX records are used (internet).
 */
#ifndef MOAT_ROUTE_H
#define MOAT_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

struct moat_settings;
struct str_list;

enum route_tls {
	ROUTE_TLS_NONE,	   /* STARTTLS when offered, no verification */
	ROUTE_TLS_ENCRYPT, /* STARTTLS required, no verification */
	ROUTE_TLS_VERIFY,  /* STARTTLS required, chain and name verified */
};

enum route_hop_kind {
	ROUTE_HOP_LOCAL,
	ROUTE_HOP_HOST, /* [host]:port */
	ROUTE_HOP_MX,	/* MX records of host */
};

#define ROUTE_HOPS_MAX 8

struct route_hop {
	enum route_hop_kind kind;
	char host[256];
	int port; /* 0: relay.remote_port */
};

struct route {
	char domain[256]; /* the route's key ("" for the internet default) */
	bool explicit_;	  /* configured for this domain (a relay domain) */
	bool internet;	  /* no next hop: MX of the recipient domain */
	struct route_hop hops[ROUTE_HOPS_MAX];
	size_t hop_count;
	enum route_tls tls;
	char auth_file[256]; /* "" = no AUTH */
};

/* Parses a route specification into *route_r (tls defaults to
 * default_tls). Returns 0, or -1 with *error_r (static). */
int route_spec_parse(const char *spec, enum route_tls default_tls,
		     struct route *route_r, const char **error_r);
/* Validators for the settings table. 0 or -1 with *error_r (static). */
int route_spec_check(const char *spec, const char **error_r);
int route_config_item_check(const char *item, const char **error_r);
/* "none" | "encrypt" | "verify" -> enum route_tls. 0 or -1. */
int route_tls_policy_parse(const char *name, int *policy_r);
const char *route_tls_policy_name(enum route_tls tls);
/* The specification text of a parsed route (for lists and logs). */
void route_format(const struct route *route, char *out, size_t outsz);
/* Lower-cased domain syntax check (labels, length). */
bool route_domain_valid(const char *domain);

struct route_table;

/* Opens the route table of DATA_DIR/moat.db (creating it). One per thread.
 * Returns 0 or -1 with *error_r allocated. */
int route_table_open(const struct moat_settings *settings,
		     struct route_table **table_r, char **error_r);
void route_table_close(struct route_table **table);

/*
 * The route for a recipient domain. Returns 1 when the domain has its own
 * route (a relay domain: database or relay.routes), 0 when the default
 * applies (relay.default_route, or internet MX delivery when that is empty),
 * -1 on a database error with *error_r allocated. *route_r is filled in
 * every case but the error.
 */
int route_table_lookup(struct route_table *table, const char *domain,
		       struct route *route_r, char **error_r);

/* Run-time routes in the database. 0, or -1 with *error_r allocated. */
int route_table_add(struct route_table *table, const char *domain,
		    const char *spec, char **error_r);
int route_table_del(struct route_table *table, const char *domain,
		    char **error_r);
/* Items "DOMAIN SPEC (source)" for every route, database first. */
int route_table_list(struct route_table *table, struct str_list *items_r,
		     char **error_r);

#endif
