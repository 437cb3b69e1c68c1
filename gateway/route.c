/*
 * route: the routing table of outbound mail, per recipient domain. The
 * specification syntax is parsed here (and nowhere else) for the settings
 * validator, moatctl and the delivery code alike. Run-time routes live in
 * the table "routes" of DATA_DIR/moat.db, created here with CREATE TABLE IF
 * NOT EXISTS so this module does not share the directory's migration
 * numbers; every lookup is one indexed query, so a route added with moatctl
 * applies to the next message without a restart. Callers: smtpd (is this
 * a relay domain?), the queue's remote delivery, moatctl.
 */
#include "gateway/route.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/settings.h"
#include "lib/db.h"
#include "lib/xalloc.h"

struct route_table {
	sqlite3 *db;
	const struct moat_settings *settings;
};

int
route_tls_policy_parse(const char *name, int *policy_r)
{
	if (name == NULL)
		return -1;
	if (strcmp(name, "none") == 0)
		*policy_r = ROUTE_TLS_NONE;
	else if (strcmp(name, "encrypt") == 0)
		*policy_r = ROUTE_TLS_ENCRYPT;
	else if (strcmp(name, "verify") == 0)
		*policy_r = ROUTE_TLS_VERIFY;
	else
		return -1;
	return 0;
}

const char *
route_tls_policy_name(enum route_tls tls)
{
	switch (tls) {
	case ROUTE_TLS_NONE:
		return "none";
	case ROUTE_TLS_ENCRYPT:
		return "encrypt";
	case ROUTE_TLS_VERIFY:
		return "verify";
	}
	return "?";
}

bool
route_domain_valid(const char *domain)
{
	size_t len = strlen(domain), label = 0;

	if (len == 0 || len > 253 || domain[0] == '.' || domain[len - 1] == '.')
		return false;
	for (const char *p = domain; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-' ||
			   *p == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* host inside brackets: a domain or an IPv4/IPv6 literal. */
static bool
host_valid(const char *host)
{
	if (route_domain_valid(host))
		return true;
	if (host[0] != '\0' &&
	    strspn(host, "0123456789abcdefABCDEF:.") == strlen(host) &&
	    strchr(host, ':') != NULL)
		return true;
	return false;
}

/* One element of a specification. 0 or -1 with *error_r. */
static int
route_element(const char *el, size_t len, struct route *r, const char **error_r)
{
	char text[300];
	struct route_hop *hop;

	if (len >= sizeof(text)) {
		*error_r = "next hop too long";
		return -1;
	}
	memcpy(text, el, len);
	text[len] = '\0';
	if (strncmp(text, "tls=", 4) == 0) {
		int policy;

		if (route_tls_policy_parse(text + 4, &policy) < 0) {
			*error_r = "tls= expects none, encrypt or verify";
			return -1;
		}
		r->tls = (enum route_tls)policy;
		return 0;
	}
	if (strncmp(text, "auth=", 5) == 0) {
		if (text[5] != '/' ||
		    strlen(text + 5) >= sizeof(r->auth_file)) {
			*error_r = "auth= expects an absolute file name";
			return -1;
		}
		snprintf(r->auth_file, sizeof(r->auth_file), "%s", text + 5);
		return 0;
	}
	if (r->hop_count == ROUTE_HOPS_MAX) {
		*error_r = "too many next hops (at most 8)";
		return -1;
	}
	hop = &r->hops[r->hop_count];
	memset(hop, 0, sizeof(*hop));
	if (strcmp(text, "local") == 0) {
		hop->kind = ROUTE_HOP_LOCAL;
	} else if (text[0] == '[') {
		char *close = strchr(text, ']');

		if (close == NULL || close == text + 1) {
			*error_r = "expected [host] or [host]:port";
			return -1;
		}
		*close = '\0';
		hop->kind = ROUTE_HOP_HOST;
		if (!host_valid(text + 1)) {
			*error_r = "bad host name in [host]";
			return -1;
		}
		snprintf(hop->host, sizeof(hop->host), "%s", text + 1);
		if (close[1] == ':') {
			char *end;
			long port = strtol(close + 2, &end, 10);

			if (close[2] == '\0' || *end != '\0' || port < 1 ||
			    port > 65535) {
				*error_r = "bad port after [host]:";
				return -1;
			}
			hop->port = (int)port;
		} else if (close[1] != '\0') {
			*error_r = "expected [host] or [host]:port";
			return -1;
		}
	} else {
		hop->kind = ROUTE_HOP_MX;
		if (strlen(text) >= sizeof(hop->host) ||
		    !route_domain_valid(text)) {
			*error_r = "bad next hop (expected local, [host]:port "
				   "or a host name for its MX records)";
			return -1;
		}
		memcpy(hop->host, text, strlen(text) + 1);
	}
	for (char *p = hop->host; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	r->hop_count++;
	return 0;
}

int
route_spec_parse(const char *spec, enum route_tls default_tls,
		 struct route *route_r, const char **error_r)
{
	const char *p = spec;

	memset(route_r, 0, sizeof(*route_r));
	route_r->tls = default_tls;
	while (*p != '\0') {
		size_t len = strcspn(p, "|, \t");

		if (len > 0 && route_element(p, len, route_r, error_r) < 0)
			return -1;
		p += len;
		if (*p != '\0')
			p++;
	}
	if (route_r->hop_count == 0) {
		*error_r = "no next hop";
		return -1;
	}
	for (size_t i = 0; i < route_r->hop_count; i++) {
		if (route_r->hops[i].kind == ROUTE_HOP_LOCAL &&
		    route_r->hop_count > 1) {
			*error_r = "local cannot be combined with other hops";
			return -1;
		}
	}
	return 0;
}

int
route_spec_check(const char *spec, const char **error_r)
{
	struct route r;

	return route_spec_parse(spec, ROUTE_TLS_NONE, &r, error_r);
}

int
route_config_item_check(const char *item, const char **error_r)
{
	const char *eq = strchr(item, '=');
	char domain[256];
	size_t len;

	if (eq == NULL || eq == item) {
		*error_r = "expected DOMAIN=NEXTHOP items";
		return -1;
	}
	len = (size_t)(eq - item);
	if (len >= sizeof(domain)) {
		*error_r = "domain too long";
		return -1;
	}
	memcpy(domain, item, len);
	domain[len] = '\0';
	if (!route_domain_valid(domain)) {
		*error_r = "bad domain in DOMAIN=NEXTHOP";
		return -1;
	}
	return route_spec_check(eq + 1, error_r);
}

void
route_format(const struct route *r, char *out, size_t outsz)
{
	size_t off = 0;

	out[0] = '\0';
	if (r->internet) {
		snprintf(out, outsz, "mx");
		return;
	}
	for (size_t i = 0; i < r->hop_count && off < outsz; i++) {
		const struct route_hop *h = &r->hops[i];
		const char *sep = i > 0 ? "|" : "";
		int n;

		if (h->kind == ROUTE_HOP_LOCAL)
			n = snprintf(out + off, outsz - off, "%slocal", sep);
		else if (h->kind == ROUTE_HOP_MX)
			n = snprintf(out + off, outsz - off, "%s%s", sep,
				     h->host);
		else if (h->port != 0)
			n = snprintf(out + off, outsz - off, "%s[%s]:%d", sep,
				     h->host, h->port);
		else
			n = snprintf(out + off, outsz - off, "%s[%s]", sep,
				     h->host);
		if (n < 0)
			return;
		off += (size_t)n;
	}
	if (off < outsz && r->tls != ROUTE_TLS_NONE) {
		int n = snprintf(out + off, outsz - off, "|tls=%s",
				 route_tls_policy_name(r->tls));
		if (n > 0)
			off += (size_t)n;
	}
	if (off < outsz && r->auth_file[0] != '\0')
		snprintf(out + off, outsz - off, "|auth=%s", r->auth_file);
}

int
route_table_open(const struct moat_settings *settings,
		 struct route_table **table_r, char **error_r)
{
	struct route_table *t = xcalloc(1, sizeof(*t));
	char *path = xasprintf("%s/moat.db", settings->data_dir);
	int ret;

	t->settings = settings;
	ret = db_open(path, NULL, 0, &t->db, error_r);
	free(path);
	if (ret == 0)
		ret = db_exec(t->db,
			      "CREATE TABLE IF NOT EXISTS routes ("
			      "  domain TEXT PRIMARY KEY COLLATE NOCASE,"
			      "  spec TEXT NOT NULL,"
			      "  created INTEGER NOT NULL DEFAULT "
			      "(strftime('%s','now')));",
			      error_r);
	if (ret < 0) {
		db_close(&t->db);
		free(t);
		return -1;
	}
	*table_r = t;
	return 0;
}

void
route_table_close(struct route_table **table)
{
	if (*table == NULL)
		return;
	db_close(&(*table)->db);
	x_free(table);
}

static enum route_tls
default_tls(const struct moat_settings *settings)
{
	int policy = ROUTE_TLS_NONE;

	(void)route_tls_policy_parse(settings->relay_tls_policy, &policy);
	return (enum route_tls)policy;
}

/* The database's spec for domain: 1 found (*spec_r alloc), 0, -1. */
static int
route_db_get(struct route_table *t, const char *domain, char **spec_r)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (sqlite3_prepare_v2(t->db,
			       "SELECT spec FROM routes WHERE domain = ?", -1,
			       &stmt, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(stmt, 1, domain, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const unsigned char *s = sqlite3_column_text(stmt, 0);
		*spec_r = xstrdup(s != NULL ? (const char *)s : "");
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
route_table_lookup(struct route_table *t, const char *domain,
		   struct route *route_r, char **error_r)
{
	const struct str_list *cfg = &t->settings->relay_routes;
	enum route_tls tls = default_tls(t->settings);
	const char *error = NULL;
	size_t dlen = strlen(domain);
	char *spec = NULL;
	int rc;

	rc = route_db_get(t, domain, &spec);
	if (rc < 0) {
		*error_r = xasprintf("route lookup: %s", sqlite3_errmsg(t->db));
		return -1;
	}
	if (rc == 1) {
		if (route_spec_parse(spec, tls, route_r, &error) == 0) {
			snprintf(route_r->domain, sizeof(route_r->domain), "%s",
				 domain);
			route_r->explicit_ = true;
			free(spec);
			return 1;
		}
		free(spec); /* a bad row (edited by hand) is ignored */
	}
	for (size_t i = 0; i < cfg->count; i++) {
		const char *item = cfg->items[i];

		if (strncasecmp(item, domain, dlen) == 0 && item[dlen] == '=' &&
		    route_spec_parse(item + dlen + 1, tls, route_r, &error) ==
			0) {
			snprintf(route_r->domain, sizeof(route_r->domain), "%s",
				 domain);
			route_r->explicit_ = true;
			return 1;
		}
	}
	if (t->settings->relay_default_route[0] != '\0' &&
	    route_spec_parse(t->settings->relay_default_route, tls, route_r,
			     &error) == 0)
		return 0;
	memset(route_r, 0, sizeof(*route_r));
	route_r->internet = true;
	route_r->tls = tls;
	route_r->hop_count = 1;
	route_r->hops[0].kind = ROUTE_HOP_MX;
	snprintf(route_r->hops[0].host, sizeof(route_r->hops[0].host), "%s",
		 domain);
	for (char *p = route_r->hops[0].host; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return 0;
}

int
route_table_add(struct route_table *t, const char *domain, const char *spec,
		char **error_r)
{
	const char *error = NULL;
	sqlite3_stmt *stmt = NULL;
	struct route r;
	char canonical[1024];
	int rc;

	if (!route_domain_valid(domain)) {
		*error_r = xasprintf("bad domain %s", domain);
		return -1;
	}
	if (route_spec_parse(spec, ROUTE_TLS_NONE, &r, &error) < 0) {
		*error_r = xasprintf("%s: %s", spec, error);
		return -1;
	}
	route_format(&r, canonical, sizeof(canonical));
	if (sqlite3_prepare_v2(t->db,
			       "INSERT OR REPLACE INTO routes (domain, spec) "
			       "VALUES (?, ?)",
			       -1, &stmt, NULL) != SQLITE_OK) {
		*error_r = xasprintf("route add: %s", sqlite3_errmsg(t->db));
		return -1;
	}
	sqlite3_bind_text(stmt, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, canonical, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		*error_r = xasprintf("route add: %s", sqlite3_errmsg(t->db));
		return -1;
	}
	return 0;
}

int
route_table_del(struct route_table *t, const char *domain, char **error_r)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (sqlite3_prepare_v2(t->db, "DELETE FROM routes WHERE domain = ?", -1,
			       &stmt, NULL) != SQLITE_OK) {
		*error_r = xasprintf("route del: %s", sqlite3_errmsg(t->db));
		return -1;
	}
	sqlite3_bind_text(stmt, 1, domain, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		*error_r = xasprintf("route del: %s", sqlite3_errmsg(t->db));
		return -1;
	}
	if (sqlite3_changes(t->db) == 0) {
		*error_r = xasprintf("no run-time route for %s", domain);
		return -1;
	}
	return 0;
}

int
route_table_list(struct route_table *t, struct str_list *items_r,
		 char **error_r)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (sqlite3_prepare_v2(t->db,
			       "SELECT domain, spec FROM routes ORDER BY "
			       "domain",
			       -1, &stmt, NULL) != SQLITE_OK) {
		*error_r = xasprintf("route list: %s", sqlite3_errmsg(t->db));
		return -1;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		char *item =
		    xasprintf("%s %s (database)", sqlite3_column_text(stmt, 0),
			      sqlite3_column_text(stmt, 1));
		str_list_add(items_r, item);
		free(item);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		*error_r = xasprintf("route list: %s", sqlite3_errmsg(t->db));
		return -1;
	}
	for (size_t i = 0; i < t->settings->relay_routes.count; i++) {
		const char *it = t->settings->relay_routes.items[i];
		const char *eq = strchr(it, '=');
		char *item;

		if (eq == NULL)
			continue;
		item = xasprintf("%.*s %s (moat.conf)", (int)(eq - it), it,
				 eq + 1);
		str_list_add(items_r, item);
		free(item);
	}
	if (t->settings->relay_default_route[0] != '\0') {
		char *item = xasprintf("* %s (relay.default_route)",
				       t->settings->relay_default_route);
		str_list_add(items_r, item);
		free(item);
	}
	return 0;
}
