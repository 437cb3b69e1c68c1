/*
 * dns: the program's one resolver, on libunbound. Lookups are asynchronous
 * (ub_resolve_async); unbound's file descriptor is watched by a persistent
 * event on the caller's libevent base, whose callback runs ub_process(), so
 * results are delivered on the event loop, never from inside dns_lookup().
 * Upstream servers come from the configuration ("ip" or "ip@port", which is
 * how tests reach their loopback DNS server); otherwise /etc/resolv.conf.
 * ".test" is made resolvable (unbound treats it as always-NXDOMAIN unless
 * told otherwise). Answers are parsed with bounds checks into the
 * convenience arrays of struct dns_answer.
 *
 * Creating, configuring and deleting unbound contexts is serialised by one
 * process-wide mutex: libunbound's set-up touches global state (its lock
 * and log initialisation), and the filter workers each make their own
 * context at once when smtpd starts. ThreadSanitizer saw those calls race
 * inside libunbound; queries on distinct contexts need no lock.
 */
#include "lib/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unbound.h>

#include "lib/config.h"
#include "lib/xalloc.h"

struct dns_query {
	struct dns_query *prev, *next;
	struct dns *dns;
	dns_callback_fn *callback;
	void *context;
};

static pthread_mutex_t dns_setup_lock = PTHREAD_MUTEX_INITIALIZER;

struct dns {
	struct ub_ctx *ctx;
	struct event *event;
	struct dns_query *queries; /* in flight: freed by dns_free */
};

static void
dns_on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct dns *dns = arg;

	(void)fd;
	(void)what;
	(void)ub_process(dns->ctx);
}

struct dns *
dns_new(struct event_base *base, const struct str_list *servers, char **error_r)
{
	struct dns *dns = xcalloc(1, sizeof(*dns));
	int rc = 0;

	pthread_mutex_lock(&dns_setup_lock);
	dns->ctx = ub_ctx_create();
	if (dns->ctx == NULL) {
		pthread_mutex_unlock(&dns_setup_lock);
		*error_r = xstrdup("ub_ctx_create failed");
		free(dns);
		return NULL;
	}
	if (servers != NULL && servers->count > 0) {
		for (size_t i = 0; i < servers->count && rc == 0; i++)
			rc = ub_ctx_set_fwd(dns->ctx, servers->items[i]);
		/* A forwarder on loopback may serve any zone, even .test. */
		if (rc == 0)
			rc = ub_ctx_set_option(dns->ctx,
					       "do-not-query-localhost:", "no");
	} else {
		rc = ub_ctx_resolvconf(dns->ctx, NULL);
	}
	/* Every setting before the first zone change: that finalizes. */
	if (rc == 0)
		rc = ub_ctx_async(dns->ctx, 1);
	if (rc == 0)
		rc = ub_ctx_zone_add(dns->ctx, "test.", "transparent");
	if (rc != 0) {
		*error_r = xasprintf("resolver set-up: %s", ub_strerror(rc));
		ub_ctx_delete(dns->ctx);
		pthread_mutex_unlock(&dns_setup_lock);
		free(dns);
		return NULL;
	}
	pthread_mutex_unlock(&dns_setup_lock);
	if (base == NULL)
		return dns; /* a private resolver: dns_lookup_wait() only */
	dns->event = event_new(base, ub_fd(dns->ctx), EV_READ | EV_PERSIST,
			       dns_on_readable, dns);
	if (dns->event == NULL || event_add(dns->event, NULL) < 0) {
		*error_r = xstrdup("cannot watch the resolver's socket");
		if (dns->event != NULL)
			event_free(dns->event);
		pthread_mutex_lock(&dns_setup_lock);
		ub_ctx_delete(dns->ctx);
		pthread_mutex_unlock(&dns_setup_lock);
		free(dns);
		return NULL;
	}
	return dns;
}

void
dns_free(struct dns **dnsp)
{
	struct dns *dns = *dnsp;

	if (dns == NULL)
		return;
	if (dns->event != NULL)
		event_free(dns->event);
	pthread_mutex_lock(&dns_setup_lock);
	ub_ctx_delete(dns->ctx);
	pthread_mutex_unlock(&dns_setup_lock);
	/* Lookups still in flight never call back; their state goes. */
	while (dns->queries != NULL) {
		struct dns_query *q = dns->queries;

		dns->queries = q->next;
		free(q);
	}
	x_free(dnsp);
}

/* Reads a (possibly compressed) domain name at *pos of a DNS message. Only
 * used on RDATA, where unbound hands us uncompressed names. */
static char *
read_name(const unsigned char *p, size_t len, size_t *pos)
{
	char out[256];
	size_t o = 0;

	while (*pos < len) {
		unsigned char n = p[(*pos)++];

		if (n == 0) {
			if (o == 0)
				out[o++] = '.';
			out[o] = '\0';
			return xstrdup(out);
		}
		if (n > 63 || *pos + n > len || o + n + 2 > sizeof(out))
			return NULL;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, p + *pos, n);
		o += n;
		*pos += n;
	}
	return NULL;
}

int
dns_parse_mx_rdata(const unsigned char *data, size_t len, uint16_t *pref_r,
		   char **host_r)
{
	size_t pos = 2;

	if (len < 3)
		return -1;
	*pref_r = (uint16_t)((data[0] << 8) | data[1]);
	*host_r = read_name(data, len, &pos);
	return *host_r != NULL && pos == len ? 0 : -1;
}

int
dns_parse_name_rdata(const unsigned char *data, size_t len, char **name_r)
{
	size_t pos = 0;

	*name_r = read_name(data, len, &pos);
	if (*name_r != NULL && pos != len)
		x_free(name_r);
	return *name_r != NULL ? 0 : -1;
}

int
dns_parse_txt_rdata(const unsigned char *data, size_t len, char **text_r)
{
	char *out = xmalloc(len + 1);
	size_t pos = 0, o = 0;

	while (pos < len) {
		size_t n = data[pos++];
		if (pos + n > len) {
			free(out);
			return -1;
		}
		memcpy(out + o, data + pos, n);
		o += n;
		pos += n;
	}
	out[o] = '\0';
	*text_r = out;
	return 0;
}

static struct dns_answer *
dns_answer_from(struct ub_result *result, int err, int rrtype)
{
	struct dns_answer *a = xcalloc(1, sizeof(*a));

	a->rrtype = rrtype;
	if (err != 0 || result == NULL) {
		a->status = DNS_TEMPFAIL;
		return a;
	}
	if (result->nxdomain) {
		a->status = DNS_NXDOMAIN;
		return a;
	}
	if (result->rcode == 2 /* SERVFAIL */) {
		a->status = DNS_TEMPFAIL;
		return a;
	}
	if (result->rcode != 0) {
		a->status = DNS_PERMFAIL;
		return a;
	}
	a->status = DNS_OK;
	if (!result->havedata)
		return a;
	while (result->data[a->count] != NULL)
		a->count++;
	a->data = xcalloc(a->count + 1, sizeof(*a->data));
	a->len = xcalloc(a->count + 1, sizeof(*a->len));
	for (size_t i = 0; i < a->count; i++) {
		a->len[i] = result->len[i];
		a->data[i] = xmalloc((size_t)result->len[i] + 1);
		memcpy(a->data[i], result->data[i], (size_t)result->len[i]);
		a->data[i][result->len[i]] = '\0';
	}
	if (rrtype == 15) {
		a->mx_pref = xcalloc(a->count + 1, sizeof(*a->mx_pref));
		a->mx_host = xcalloc(a->count + 1, sizeof(*a->mx_host));
		for (size_t i = 0; i < a->count; i++)
			if (dns_parse_mx_rdata(
				(unsigned char *)a->data[i], (size_t)a->len[i],
				&a->mx_pref[i], &a->mx_host[i]) < 0)
				a->status = DNS_PERMFAIL;
	} else if (rrtype == 16) {
		a->txt = xcalloc(a->count + 1, sizeof(*a->txt));
		for (size_t i = 0; i < a->count; i++)
			if (dns_parse_txt_rdata((unsigned char *)a->data[i],
						(size_t)a->len[i],
						&a->txt[i]) < 0)
				a->status = DNS_PERMFAIL;
	} else if (rrtype == 1 || rrtype == 28) {
		int family = rrtype == 1 ? AF_INET : AF_INET6;
		int want = rrtype == 1 ? 4 : 16;

		a->addr = xcalloc(a->count + 1, sizeof(*a->addr));
		for (size_t i = 0; i < a->count; i++) {
			char text[INET6_ADDRSTRLEN];

			if (a->len[i] != want ||
			    inet_ntop(family, a->data[i], text, sizeof(text)) ==
				NULL) {
				a->status = DNS_PERMFAIL;
				a->addr[i] = xstrdup("");
			} else {
				a->addr[i] = xstrdup(text);
			}
		}
	}
	return a;
}

static void
dns_on_result(void *arg, int err, struct ub_result *result)
{
	struct dns_query *q = arg;
	struct dns_answer *a =
	    dns_answer_from(result, err, result != NULL ? result->qtype : 0);

	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		q->dns->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->callback(a, q->context);
	dns_answer_free(&a);
	if (result != NULL)
		ub_resolve_free(result);
	free(q);
}

int
dns_lookup(struct dns *dns, const char *name, int rrtype,
	   dns_callback_fn *callback, void *context)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));

	q->callback = callback;
	q->context = context;
	q->dns = dns;
	q->next = dns->queries;
	if (q->next != NULL)
		q->next->prev = q;
	dns->queries = q;
	if (ub_resolve_async(dns->ctx, name, rrtype, 1 /* IN */, q,
			     dns_on_result, NULL) != 0) {
		dns->queries = q->next;
		if (q->next != NULL)
			q->next->prev = NULL;
		free(q);
		return -1;
	}
	return 0;
}

int
dns_lookup_sync(struct dns *dns, const char *name, int rrtype,
		struct dns_answer **answer_r)
{
	struct ub_result *result = NULL;
	int err = ub_resolve(dns->ctx, name, rrtype, 1, &result);

	*answer_r = dns_answer_from(result, err, rrtype);
	if (result != NULL)
		ub_resolve_free(result);
	return err == 0 ? 0 : -1;
}

/* dns_lookup_wait(): where the result lands. */
struct dns_wait {
	bool done;
	int err;
	int async_id;
	struct ub_result *result;
};

static void
dns_on_wait_result(void *arg, int err, struct ub_result *result)
{
	struct dns_wait *w = arg;

	w->done = true;
	w->err = err;
	w->result = result;
}

static long long
dns_ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)(now.tv_sec - start->tv_sec) * 1000 +
	       (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Cancels the lookups of waits[0..n) still out and frees the results of
 * those that came back. */
static void
dns_waits_drop(struct dns *dns, struct dns_wait *waits, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!waits[i].done)
			(void)ub_cancel(dns->ctx, waits[i].async_id);
		else if (waits[i].result != NULL)
			ub_resolve_free(waits[i].result);
	}
}

int
dns_lookup_wait_many(struct dns *dns, const char *const *names, size_t n,
		     int rrtype, long timeout_ms, struct dns_answer **answers_r)
{
	struct dns_wait *waits = xcalloc(n > 0 ? n : 1, sizeof(*waits));
	struct timespec start;
	size_t out = 0, i;

	for (i = 0; i < n; i++) {
		if (ub_resolve_async(dns->ctx, names[i], rrtype, 1, &waits[i],
				     dns_on_wait_result,
				     &waits[i].async_id) != 0) {
			dns_waits_drop(dns, waits, i);
			free(waits);
			return -1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = {ub_fd(dns->ctx), POLLIN, 0};
		long long spent;
		int ready;

		while (out < n && waits[out].done)
			out++;
		if (out == n)
			break;
		spent = dns_ms_since(&start);
		if (spent >= timeout_ms)
			break;
		ready = poll(&pfd, 1, (int)(timeout_ms - spent));
		if ((ready < 0 && errno != EINTR) ||
		    (ready > 0 && ub_process(dns->ctx) != 0)) {
			dns_waits_drop(dns, waits, n);
			free(waits);
			return -1;
		}
	}
	/* what did not come back in time is a temporary failure */
	for (i = 0; i < n; i++) {
		if (!waits[i].done) {
			(void)ub_cancel(dns->ctx, waits[i].async_id);
			answers_r[i] = dns_answer_from(NULL, 1, rrtype);
			continue;
		}
		answers_r[i] =
		    dns_answer_from(waits[i].result, waits[i].err, rrtype);
		if (waits[i].result != NULL)
			ub_resolve_free(waits[i].result);
	}
	free(waits);
	return 0;
}

int
dns_lookup_wait(struct dns *dns, const char *name, int rrtype, long timeout_ms,
		struct dns_answer **answer_r)
{
	return dns_lookup_wait_many(dns, &name, 1, rrtype, timeout_ms,
				    answer_r);
}

void
dns_answer_free(struct dns_answer **answerp)
{
	struct dns_answer *a = *answerp;

	if (a == NULL)
		return;
	for (size_t i = 0; i < a->count; i++) {
		free(a->data[i]);
		if (a->mx_host != NULL)
			free(a->mx_host[i]);
		if (a->txt != NULL)
			free(a->txt[i]);
		if (a->addr != NULL)
			free(a->addr[i]);
	}
	free(a->data);
	free(a->len);
	free(a->mx_pref);
	free(a->mx_host);
	free(a->txt);
	free(a->addr);
	x_free(answerp);
}
