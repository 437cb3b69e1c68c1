/*
 * dns: the one resolver for the whole program (libunbound). Asynchronous
 * lookups complete on the caller's libevent base; upstream servers come from
 * the configuration ("127.0.0.1@5353" forms), else /etc/resolv.conf.
 * ".test" is made resolvable (local-zone transparent) so test zones work.
 */
#ifndef MOAT_DNS_H
#define MOAT_DNS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct dns;
struct str_list;

enum dns_status {
	DNS_OK, /* answer present (count may be 0 for NODATA) */
	DNS_NXDOMAIN,
	DNS_TEMPFAIL, /* SERVFAIL, timeout, network */
	DNS_PERMFAIL, /* malformed answer, refused */
};

struct dns_answer {
	enum dns_status status;
	int rrtype;
	size_t count;
	/* Raw RDATA of each record and its length (unbound's layout). */
	char **data;
	int *len;
	/* For MX: preference and exchange host name per record (count items).
	 */
	uint16_t *mx_pref;
	char **mx_host;
	/* For TXT: each record's character-strings joined (count items). */
	char **txt;
	/* For A/AAAA: textual addresses (count items). */
	char **addr;
};

typedef void dns_callback_fn(const struct dns_answer *answer, void *context);

/* servers: list of "ip" or "ip@port"; empty list means resolv.conf.
 * base NULL makes a private resolver for one thread, used only with
 * dns_lookup_wait() (the filter workers have one each). */
struct dns *dns_new(struct event_base *base, const struct str_list *servers,
		    char **error_r);
void dns_free(struct dns **dns);
/* rrtype: 1 A, 28 AAAA, 15 MX, 16 TXT, 12 PTR. Returns 0 or -1. The callback
 * always runs later on the event loop, never from within dns_lookup(). */
int dns_lookup(struct dns *dns, const char *name, int rrtype,
	       dns_callback_fn *callback, void *context);
/* Blocking lookup for tools and start-up; answer freed by dns_answer_free. */
int dns_lookup_sync(struct dns *dns, const char *name, int rrtype,
		    struct dns_answer **answer_r);
/*
 * Blocking lookup on a private resolver (base NULL) that waits at most
 * timeout_ms (then the answer is DNS_TEMPFAIL). Unlike dns_lookup_sync()
 * it does not pay ub_resolve()'s set-up per call: unbound's background
 * thread answers cached names in microseconds. 0 with *answer_r, or -1.
 */
int dns_lookup_wait(struct dns *dns, const char *name, int rrtype,
		    long timeout_ms, struct dns_answer **answer_r);
/* dns_lookup_wait() for n names at once, their answers in answers_r[i]
 * (n of them): the lookups run side by side, so n names cost about as
 * long as the slowest one, and what is not back after timeout_ms is
 * DNS_TEMPFAIL. 0, or -1 with no answers. */
int dns_lookup_wait_many(struct dns *dns, const char *const *names, size_t n,
			 int rrtype, long timeout_ms,
			 struct dns_answer **answers_r);
void dns_answer_free(struct dns_answer **answer);

/* RDATA parsers, exposed for tests: 0, or -1 on malformed data. */
int dns_parse_mx_rdata(const unsigned char *data, size_t len, uint16_t *pref_r,
		       char **host_r);
/* A domain name (PTR, CNAME RDATA), without the final dot. */
int dns_parse_name_rdata(const unsigned char *data, size_t len, char **name_r);
int dns_parse_txt_rdata(const unsigned char *data, size_t len, char **text_r);

#endif
