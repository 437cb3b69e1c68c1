/*
 * delivery_remote: delivery of the queue's messages to other hosts, in the
 * queue process and on its event loop. Messages wait in
 * DATA_DIR/queue/deferred/ (put there by the queue service when some
 * recipient is not local) with QID.done (recipients finished) and
 * QID.state (retry schedule, see queue_state.h). For each attempt the
 * open recipients are grouped by route (route.h) into jobs; a job resolves
 * its next hops (MX in preference order, A/AAAA), connects under the
 * global and per-destination limits, and runs one SMTP transaction
 * (smtp_client.h). A connection that finishes a job takes the next job
 * waiting for the same destination (connection reuse). Temporary failures
 * are retried on the retry_schedule; permanent ones and expired messages
 * produce one DSN (dsn.h) to the sender, never to <>.
 */
#ifndef MOAT_DELIVERY_REMOTE_H
#define MOAT_DELIVERY_REMOTE_H

#include <stddef.h>
#include <time.h>

#include "lib/buf.h"

struct event_base;
struct moat_settings;
struct delivery_remote;

/* Hands a new queue file in DATA_DIR/queue/ (a DSN) to the queue service. */
typedef void delivery_enqueue_fn(const char *qid, void *context);

/* Returns NULL with *error_r allocated when the resolver, database or TLS
 * context cannot be set up. Scans deferred/ at once. */
struct delivery_remote *delivery_remote_new(
    struct event_base *base, const struct moat_settings *settings,
    delivery_enqueue_fn *enqueue, void *context, char **error_r);
/* Closes every connection (messages in flight stay queued) and frees. */
void delivery_remote_free(struct delivery_remote **dr);
/* A message was just moved into deferred/: try it now. */
void delivery_remote_add(struct delivery_remote *dr, const char *qid);

/*
 * Local store delivery of one user of a deferred message (the queue
 * service's store; the key is "QID/RCPT-INDEX/USER"). Returns 1 stored or
 * already stored, 2 over quota, -1 error (*error_r allocated).
 */
typedef int delivery_local_fn(void *context, const char *qid, size_t rcpt,
			      const char *user, int fd, long long offset,
			      size_t len, const char *mail_from, time_t arrival,
			      char **error_r);
/* Deferred recipients that resolve to local users are retried through fn;
 * without it they stay deferred. */
void delivery_remote_set_local(struct delivery_remote *dr,
			       delivery_local_fn *fn, void *context);

/*
 * One administrative command (moatctl queue ...): "flush", "retry QID",
 * "hold QID", "release QID", "delete QID", "summary". Appends the reply
 * text to out. Returns 0, or -1 when the command failed (text says why).
 */
int delivery_remote_command(struct delivery_remote *dr, const char *line,
			    struct buf *out);

#endif
