/*
 * smtp_session_relay: RCPT TO an address of a domain that is not ours from
 * an unauthenticated client. Relay domains (a route of their own) are
 * accepted, after an RCPT probe to the next hop when
 * relay.verify_recipients is on (relay_verify.c); everything else is
 * refused with 554 5.7.1, so Moat is never an open relay. While a probe
 * runs the session waits (SESSION_WAIT) and reads nothing more.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/relay_verify.h"
#include "gateway/smtp_session_private.h"
#include "lib/log.h"
#include "lib/pool.h"
#include "lib/xalloc.h"

struct relay_pending {
	struct smtp_session *s;
	char *address, *notify, *orcpt; /* in the transaction pool */
};

static void
relay_reply(struct smtp_session *s, enum relay_verdict verdict,
	    const char *address, const char *notify, const char *orcpt,
	    const char *reply)
{
	char safe[128];

	log_sanitize(address, strlen(address), safe, sizeof(safe));
	switch (verdict) {
	case RELAY_ACCEPT:
		session_rcpt_add(s, address, notify, orcpt);
		return;
	case RELAY_REJECT:
		session_reply(s,
			      "550 5.1.1 <%s>: Recipient address rejected: "
			      "%s",
			      address,
			      reply != NULL && reply[0] != '\0'
				  ? reply
				  : "rejected by the next hop");
		log_info("session=%s event=rcpt result=rejected to=<%s> "
			 "reason=next_hop_rejected",
			 s->id, safe);
		(void)session_error(s);
		return;
	case RELAY_TEMPFAIL:
	case RELAY_PENDING:
		session_reply(s,
			      "450 4.1.1 <%s>: Recipient address verification "
			      "failed temporarily",
			      address);
		log_info("session=%s event=rcpt result=tempfail to=<%s> "
			 "reason=verify_failed",
			 s->id, safe);
		return;
	case RELAY_NOT_RELAY:
	default:
		session_reply(s, "554 5.7.1 <%s>: Relay access denied",
			      address);
		log_info("session=%s event=rcpt result=rejected to=<%s> "
			 "reason=relay_denied",
			 s->id, safe);
		(void)session_error(s);
		return;
	}
}

static void
relay_verified(enum relay_verdict verdict, const char *reply, void *context)
{
	struct relay_pending *p = context;
	struct smtp_session *s = p->s;

	s->async_pending = false;
	if (s->dead) {
		free(p);
		session_free(s);
		return;
	}
	s->state = SESSION_COMMAND;
	relay_reply(s, verdict, p->address, p->notify, p->orcpt, reply);
	free(p);
	session_process(s);
}

void
smtp_session_relay_rcpt(struct smtp_session *s, const char *address,
			const char *notify, const char *orcpt)
{
	struct relay_pending *p = xcalloc(1, sizeof(*p));
	char reply[256];
	enum relay_verdict v;

	p->s = s;
	p->address = pool_strdup(s->tx_pool, address);
	p->notify = notify != NULL ? pool_strdup(s->tx_pool, notify) : NULL;
	p->orcpt = orcpt != NULL ? pool_strdup(s->tx_pool, orcpt) : NULL;
	/* Waiting before the call: a probe never answers inside it, but
	 * the session must be ready for its callback whenever it comes. */
	s->state = SESSION_WAIT;
	s->async_pending = true;
	v = relay_verify_check(s->server->relay, p->address, relay_verified, p,
			       reply, sizeof(reply));
	if (v == RELAY_PENDING)
		return;
	s->async_pending = false;
	s->state = SESSION_COMMAND;
	relay_reply(s, v, p->address, p->notify, p->orcpt, reply);
	free(p);
}
