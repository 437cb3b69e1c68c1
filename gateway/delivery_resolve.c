/*
 * delivery_resolve: from a route's next hop to the addresses a job tries,
 * in order: [host]:port gives that host's A then AAAA records (or the IP
 * literal itself); an MX next hop gives its MX records ordered by
 * mx_order (RFC 5321 5.1), each host's A then AAAA records; no MX record
 * means the domain itself (implicit MX), a null MX (RFC 7505) fails the
 * recipients permanently. Lookups run in parallel on the queue's event
 * loop; the job waits for all of them. Called by delivery_remote.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "gateway/delivery_remote_private.h"
#include "gateway/settings.h"
#include "lib/dns.h"

static bool
is_ip_literal(const char *host)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, host, buf) == 1 ||
	       inet_pton(AF_INET6, host, buf) == 1;
}

static int
hop_port(const struct job *j)
{
	const struct route_hop *h = &j->route.hops[j->hop];

	return h->kind == ROUTE_HOP_HOST && h->port != 0
		   ? h->port
		   : (int)j->a->dr->set->relay_remote_port;
}

static void
next_hop(struct job *j)
{
	j->hop++;
	delivery_resolve_hop(j);
}

/* Copies src, truncated, into dst[size]. memmove, not snprintf: the
 * sources live inside the same job (route hops), which gcc cannot tell
 * apart from the destination and warns about (-Wrestrict at -O3). */
static void
copy_name(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memmove(dst, src, n);
	dst[n] = '\0';
}

static void
add_target(struct job *j, const char *host, const char *ip)
{
	struct target *t;

	if (j->ntargets == TARGETS_MAX)
		return;
	t = &j->targets[j->ntargets++];
	copy_name(t->host, sizeof(t->host), host);
	copy_name(t->ip, sizeof(t->ip), ip);
	t->port = hop_port(j);
}

static void
addresses_done(struct job *j)
{
	bool all_missing = true;

	j->ntargets = 0;
	j->cur = 0;
	for (size_t i = 0; i < j->nhosts; i++) {
		struct host_addrs *h = &j->haddr[i];

		for (size_t k = 0; k < h->n4; k++)
			add_target(j, j->hosts[i].name, h->v4[k]);
		for (size_t k = 0; k < h->n6; k++)
			add_target(j, j->hosts[i].name, h->v6[k]);
		if (!h->missing || h->n4 + h->n6 > 0)
			all_missing = false;
	}
	if (j->ntargets > 0) {
		delivery_job_try(j);
		return;
	}
	if (j->implicit_mx && all_missing && j->route.internet) {
		delivery_outcome_make(
		    &j->last, 550, "5.4.4",
		    "domain %s has no MX and no address record", j->domain);
		delivery_job_fail_all(j, &j->last);
		return;
	}
	delivery_outcome_make(&j->last, 451, "4.4.4", "no address found for %s",
			      j->nhosts > 0 ? j->hosts[0].name : j->domain);
	next_hop(j);
}

static void
on_address(const struct dns_answer *answer, void *context)
{
	struct lookup *lk = context;
	struct job *j = lk->job;
	struct host_addrs *h = &j->haddr[lk->host];

	if (answer->status == DNS_OK && answer->addr != NULL) {
		for (size_t i = 0; i < answer->count; i++) {
			if (answer->addr[i][0] == '\0')
				continue;
			if (lk->rrtype == 1 && h->n4 < HOST_ADDR_MAX)
				snprintf(h->v4[h->n4++], 64, "%s",
					 answer->addr[i]);
			else if (lk->rrtype == 28 && h->n6 < HOST_ADDR_MAX)
				snprintf(h->v6[h->n6++], 64, "%s",
					 answer->addr[i]);
		}
	} else if (answer->status != DNS_NXDOMAIN && answer->status != DNS_OK) {
		h->missing = false; /* temporary: not a proof of absence */
	}
	if (--j->pending == 0)
		addresses_done(j);
}

static void
resolve_addresses(struct job *j)
{
	struct delivery_remote *dr = j->a->dr;
	size_t issued = 0;

	memset(j->haddr, 0, sizeof(j->haddr));
	j->pending = 0;
	for (size_t i = 0; i < j->nhosts; i++)
		j->haddr[i].missing = true;
	/* Count first: a lookup never completes inside dns_lookup(). */
	j->pending = 2 * j->nhosts;
	for (size_t i = 0; i < j->nhosts; i++) {
		for (int k = 0; k < 2; k++) {
			struct lookup *lk = &j->lk[2 * i + (size_t)k];

			lk->job = j;
			lk->host = i;
			lk->rrtype = k == 0 ? 1 : 28;
			if (dns_lookup(dr->dns, j->hosts[i].name, lk->rrtype,
				       on_address, lk) < 0) {
				j->haddr[i].missing = false;
				j->pending--;
			} else {
				issued++;
			}
		}
	}
	if (issued == 0) {
		j->pending = 0;
		addresses_done(j);
	}
}

static void
on_mx(const struct dns_answer *answer, void *context)
{
	struct job *j = context;
	struct delivery_remote *dr = j->a->dr;
	const char *name = j->route.hops[j->hop].host;
	enum mx_order_result r;
	size_t n = 0;

	j->implicit_mx = false;
	switch (answer->status) {
	case DNS_NXDOMAIN:
		if (j->route.internet) {
			delivery_outcome_make(&j->last, 550, "5.1.2",
					      "domain %s not found", name);
			delivery_job_fail_all(j, &j->last);
			return;
		}
		delivery_outcome_make(&j->last, 451, "4.4.3",
				      "next hop %s not found in DNS", name);
		next_hop(j);
		return;
	case DNS_OK:
		break;
	default:
		delivery_outcome_make(&j->last, 451, "4.4.3",
				      "MX lookup of %s failed temporarily",
				      name);
		next_hop(j);
		return;
	}
	if (answer->count == 0) {
		/* RFC 5321 5.1: no MX, the domain itself is the host. */
		j->implicit_mx = true;
		j->nhosts = 1;
		j->hosts[0].pref = 0;
		snprintf(j->hosts[0].name, sizeof(j->hosts[0].name), "%s",
			 name);
		resolve_addresses(j);
		return;
	}
	r = mx_order(answer->mx_pref, answer->mx_host, answer->count,
		     dr->set->hostname, dr->seed++, j->hosts, &n);
	if (r == MX_ORDER_NULL || r == MX_ORDER_EMPTY) {
		delivery_outcome_make(
		    &j->last, 556, "5.1.10",
		    "domain %s does not accept mail (null MX)", name);
		delivery_job_fail_all(j, &j->last);
		return;
	}
	if (r == MX_ORDER_SELF) {
		delivery_outcome_make(&j->last, 554, "5.4.6",
				      "mail for %s loops back to myself", name);
		delivery_job_fail_all(j, &j->last);
		return;
	}
	j->nhosts = n;
	resolve_addresses(j);
}

void
delivery_resolve_hop(struct job *j)
{
	struct delivery_remote *dr = j->a->dr;
	const struct route_hop *h;

	if (j->hop >= j->route.hop_count) {
		if (j->last.code == 0)
			delivery_outcome_make(&j->last, 451, "4.4.0",
					      "no next hop could be reached");
		delivery_job_fail_all(j, &j->last);
		return;
	}
	h = &j->route.hops[j->hop];
	j->nhosts = 0;
	j->ntargets = 0;
	j->cur = 0;
	switch (h->kind) {
	case ROUTE_HOP_LOCAL:
		delivery_outcome_make(
		    &j->last, 451, "4.3.5",
		    "route for %s is local but the domain is not "
		    "one of ours",
		    j->domain);
		next_hop(j);
		return;
	case ROUTE_HOP_HOST:
		if (is_ip_literal(h->host)) {
			add_target(j, h->host, h->host);
			delivery_job_try(j);
			return;
		}
		j->nhosts = 1;
		j->hosts[0].pref = 0;
		snprintf(j->hosts[0].name, sizeof(j->hosts[0].name), "%s",
			 h->host);
		resolve_addresses(j);
		return;
	case ROUTE_HOP_MX:
		if (dns_lookup(dr->dns, h->host, 15, on_mx, j) < 0) {
			delivery_outcome_make(&j->last, 451, "4.4.3",
					      "cannot look up MX of %s",
					      h->host);
			next_hop(j);
		}
		return;
	}
}
