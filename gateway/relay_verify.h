/*
 * relay_verify: may smtpd accept this recipient of a domain that is not
 * ours? Only when the domain has a route of its own (a relay domain), and,
 * with relay.verify_recipients, only when the next hop accepts the
 * recipient too: an RCPT probe (MAIL FROM:<>, RCPT TO, RSET, QUIT) whose
 * answer is cached for relay.verify_cache_ttl, so dictionary attacks and
 * backscatter stay off the internal server. Probes go to the route's first
 * next hop when it is a [host]:port; routes by MX are not probed.
 */
#ifndef MOAT_RELAY_VERIFY_H
#define MOAT_RELAY_VERIFY_H

#include <stddef.h>

struct event_base;
struct moat_settings;
struct relay_verify;

enum relay_verdict {
	RELAY_NOT_RELAY, /* no route of its own: relaying is denied */
	RELAY_ACCEPT,
	RELAY_REJECT,	/* the next hop refused the recipient (5xx) */
	RELAY_TEMPFAIL, /* lookup or probe failed temporarily */
	RELAY_PENDING,	/* the callback will tell */
};

/* Runs later on the event loop, exactly once per RELAY_PENDING answer;
 * reply is the next hop's reply text for RELAY_REJECT (sanitised). */
typedef void relay_verify_fn(enum relay_verdict verdict, const char *reply,
			     void *context);

/* NULL with *error_r allocated on failure. */
struct relay_verify *relay_verify_new(struct event_base *base,
				      const struct moat_settings *settings,
				      char **error_r);
/* Probes in flight call back with RELAY_TEMPFAIL first. */
void relay_verify_free(struct relay_verify **rv);

/*
 * Checks address (domain not local). Returns the verdict at once, or
 * RELAY_PENDING when cb(verdict, reply, context) will run later. For an
 * immediate RELAY_REJECT the reply is copied to reply_r.
 */
enum relay_verdict relay_verify_check(struct relay_verify *rv,
				      const char *address, relay_verify_fn *cb,
				      void *context, char *reply_r,
				      size_t reply_size);

#endif
