/*
 * relay_verify: relay-domain recipients at RCPT time (see the header). The
 * route table says whether a domain is a relay domain; the probe is one
 * smtp_client session in probe-only mode; the cache is a small array
 * scanned linearly (bounded at RELAY_CACHE_MAX entries, the oldest
 * replaced), which is plenty for the recipients one gateway sees in an
 * hour. Only definite answers (2xx, 5xx) are cached. Called by smtpd's
 * session code (smtp_session_relay.c).
 */
#include "gateway/relay_verify.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gateway/route.h"
#include "gateway/settings.h"
#include "gateway/smtp_client.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/tls.h"
#include "lib/xalloc.h"

#define RELAY_CACHE_MAX 4096

struct cache_entry {
	char address[330];
	enum relay_verdict verdict;
	char reply[256];
	time_t expires;
};

struct probe {
	struct probe *prev, *next;
	struct relay_verify *rv;
	struct smtp_client *client;
	struct smtp_client_config cfg;
	struct smtp_client_rcpt rcpt;
	struct smtp_client_message msg;
	char address[330];
	char host[256];
	char helo[256];
	int port;
	enum route_tls tls;
	relay_verify_fn *cb;
	void *context;
	bool resolving;
};

struct relay_verify {
	struct event_base *base;
	const struct moat_settings *set;
	struct route_table *routes;
	struct dns *dns;
	SSL_CTX *tls_ctx;
	struct cache_entry *cache;
	size_t cache_count, cache_next;
	struct probe *probes;
};

struct relay_verify *
relay_verify_new(struct event_base *base, const struct moat_settings *set,
		 char **error_r)
{
	struct relay_verify *rv = xcalloc(1, sizeof(*rv));

	rv->base = base;
	rv->set = set;
	if (route_table_open(set, &rv->routes, error_r) < 0) {
		free(rv);
		return NULL;
	}
	if (set->relay_verify_recipients) {
		rv->dns = dns_new(base, &set->dns_servers, error_r);
		rv->tls_ctx =
		    rv->dns != NULL ? tls_client_ctx_new(0, error_r) : NULL;
		if (rv->tls_ctx == NULL) {
			relay_verify_free(&rv);
			return NULL;
		}
		rv->cache = xcalloc(RELAY_CACHE_MAX, sizeof(*rv->cache));
	}
	return rv;
}

static void
probe_unlink(struct probe *p)
{
	struct relay_verify *rv = p->rv;

	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		rv->probes = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
}

/* Calls back and frees the probe. */
static void
probe_end(struct probe *p, enum relay_verdict verdict, const char *reply)
{
	relay_verify_fn *cb = p->cb;
	void *context = p->context;

	probe_unlink(p);
	smtp_client_free(&p->client);
	free(p);
	cb(verdict, reply, context);
}

void
relay_verify_free(struct relay_verify **rvp)
{
	struct relay_verify *rv = *rvp;

	if (rv == NULL)
		return;
	dns_free(&rv->dns); /* no lookup calls back after this */
	while (rv->probes != NULL)
		probe_end(rv->probes, RELAY_TEMPFAIL, "");
	if (rv->tls_ctx != NULL)
		SSL_CTX_free(rv->tls_ctx);
	route_table_close(&rv->routes);
	free(rv->cache);
	x_free(rvp);
}

static struct cache_entry *
cache_find(struct relay_verify *rv, const char *address)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < rv->cache_count; i++)
		if (rv->cache[i].expires > now &&
		    strcasecmp(rv->cache[i].address, address) == 0)
			return &rv->cache[i];
	return NULL;
}

static void
cache_put(struct relay_verify *rv, const char *address,
	  enum relay_verdict verdict, const char *reply)
{
	struct cache_entry *e;

	if (rv->cache_count < RELAY_CACHE_MAX) {
		e = &rv->cache[rv->cache_count++];
	} else {
		e = &rv->cache[rv->cache_next];
		rv->cache_next = (rv->cache_next + 1) % RELAY_CACHE_MAX;
	}
	snprintf(e->address, sizeof(e->address), "%s", address);
	snprintf(e->reply, sizeof(e->reply), "%s", reply);
	e->verdict = verdict;
	e->expires = time(NULL) + (time_t)rv->set->relay_verify_cache_ttl;
}

static void
probe_done(struct smtp_client *client, void *context)
{
	struct probe *p = context;
	struct smtp_client_outcome *o = &p->rcpt.outcome;
	enum relay_verdict v = o->code / 100 == 2   ? RELAY_ACCEPT
			       : o->code / 100 == 5 ? RELAY_REJECT
						    : RELAY_TEMPFAIL;
	char reply[256];

	(void)client;
	{
		size_t n = strnlen(o->text, sizeof(reply) - 1);

		memcpy(reply, o->text, n);
		reply[n] = '\0';
	}
	for (char *q = reply; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
			*q = '?';
	log_info("event=rcpt_probe to=<%s> relay=[%s]:%d result=%s "
		 "reply=\"%d %s\"",
		 p->address, p->host, p->port,
		 v == RELAY_ACCEPT   ? "accept"
		 : v == RELAY_REJECT ? "reject"
				     : "tempfail",
		 o->code, reply);
	if (v != RELAY_TEMPFAIL)
		cache_put(p->rv, p->address, v, reply);
	probe_end(p, v, reply);
}

static void
probe_ready(struct smtp_client *client,
	    const struct smtp_client_outcome *failure, void *context)
{
	struct probe *p = context;

	if (failure != NULL) {
		log_info("event=rcpt_probe to=<%s> relay=[%s]:%d "
			 "result=tempfail reply=\"%d %s\"",
			 p->address, p->host, p->port, failure->code,
			 failure->status);
		probe_end(p, RELAY_TEMPFAIL, "");
		return;
	}
	smtp_client_send(client, &p->msg, probe_done, p);
}

static void
probe_connect(struct probe *p, const char *ip)
{
	struct sockaddr_storage ss;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p->port);
		if (inet_pton(AF_INET6, ip, &s6->sin6_addr) != 1)
			goto fail;
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p->port);
		if (inet_pton(AF_INET, ip, &s4->sin_addr) != 1)
			goto fail;
		len = sizeof(*s4);
	}
	p->client = smtp_client_connect(p->rv->base, (struct sockaddr *)&ss,
					len, &p->cfg, probe_ready, p);
	if (p->client != NULL)
		return;
fail:
	probe_end(p, RELAY_TEMPFAIL, "");
}

static void
probe_resolved(const struct dns_answer *answer, void *context)
{
	struct probe *p = context;

	if (answer->status == DNS_OK && answer->count > 0 &&
	    answer->addr != NULL && answer->addr[0][0] != '\0') {
		probe_connect(p, answer->addr[0]);
		return;
	}
	probe_end(p, RELAY_TEMPFAIL, "");
}

enum relay_verdict
relay_verify_check(struct relay_verify *rv, const char *address,
		   relay_verify_fn *cb, void *context, char *reply_r,
		   size_t reply_size)
{
	const char *at = strrchr(address, '@');
	struct route route;
	struct cache_entry *e;
	struct probe *p;
	unsigned char ipbuf[16];
	char *error = NULL;
	int r;

	if (reply_size > 0)
		reply_r[0] = '\0';
	if (at == NULL)
		return RELAY_NOT_RELAY;
	r = route_table_lookup(rv->routes, at + 1, &route, &error);
	if (r < 0) {
		log_errorx("event=route_lookup error=\"%s\"", error);
		free(error);
		return RELAY_TEMPFAIL;
	}
	if (r == 0 || route.hops[0].kind == ROUTE_HOP_LOCAL)
		return RELAY_NOT_RELAY;
	if (!rv->set->relay_verify_recipients ||
	    route.hops[0].kind != ROUTE_HOP_HOST || strlen(address) >= 330)
		return RELAY_ACCEPT;
	e = cache_find(rv, address);
	if (e != NULL) {
		if (e->verdict == RELAY_REJECT && reply_size > 0)
			snprintf(reply_r, reply_size, "%s", e->reply);
		return e->verdict;
	}
	p = xcalloc(1, sizeof(*p));
	p->rv = rv;
	p->cb = cb;
	p->context = context;
	snprintf(p->address, sizeof(p->address), "%s", address);
	snprintf(p->host, sizeof(p->host), "%s", route.hops[0].host);
	snprintf(p->helo, sizeof(p->helo), "%s", rv->set->hostname);
	p->port = route.hops[0].port != 0 ? route.hops[0].port
					  : (int)rv->set->relay_remote_port;
	p->cfg.helo = p->helo;
	p->cfg.tls_ctx = rv->tls_ctx;
	p->cfg.tls = route.tls;
	p->cfg.tls_name = p->host;
	p->cfg.connect_timeout = rv->set->relay_connect_timeout < 30
				     ? rv->set->relay_connect_timeout
				     : 30;
	p->cfg.command_timeout = rv->set->relay_command_timeout < 30
				     ? rv->set->relay_command_timeout
				     : 30;
	p->rcpt.address = p->address;
	p->msg.mail_from = "";
	p->msg.fd = -1;
	p->msg.rcpts = &p->rcpt;
	p->msg.rcpt_count = 1;
	p->msg.probe_only = true;
	p->next = rv->probes;
	if (p->next != NULL)
		p->next->prev = p;
	rv->probes = p;
	if (inet_pton(AF_INET, p->host, ipbuf) == 1 ||
	    inet_pton(AF_INET6, p->host, ipbuf) == 1)
		probe_connect(p, p->host);
	else if (dns_lookup(rv->dns, p->host, 1, probe_resolved, p) < 0) {
		probe_unlink(p);
		free(p);
		return RELAY_TEMPFAIL;
	}
	return RELAY_PENDING;
}
