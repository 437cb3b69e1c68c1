/*
 * dsn: delivery status notifications (RFC 3464 in a multipart/report of
 * RFC 6522): the bounce for recipients that failed permanently or expired,
 * the DELAY notice for senders who asked (NOTIFY=DELAY), and the success
 * reports of NOTIFY=SUCCESS (delivered into a local mailbox, or relayed to
 * a host without DSN). A DSN goes to
 * the envelope sender with the null sender <> as its own, so it can never
 * cause another DSN; the caller never asks for one when the sender is <>.
 * The original message's header (or, with RET=FULL, the whole message) is
 * attached.
 */
#ifndef MOAT_DSN_H
#define MOAT_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "gateway/queue_file.h"
#include "lib/buf.h"

#define DSN_FULL_MAX (10 * 1024 * 1024) /* larger: headers only */

struct dsn_rcpt {
	const char *address;	/* Final-Recipient */
	const char *orcpt;	/* ORCPT as given ("rfc822;x") or NULL */
	const char *status;	/* "5.1.1" */
	const char *remote_mta; /* host name or NULL */
	const char *diagnostic; /* the remote reply "550 5.1.1 ..." or NULL */
};

enum dsn_kind {
	DSN_FAILURE,   /* Action: failed (a bounce) */
	DSN_DELAY,     /* Action: delayed (NOTIFY=DELAY) */
	DSN_RELAYED,   /* Action: relayed to a host without DSN (NOTIFY=SUCCESS,
			  RFC 3461 6.2.2) */
	DSN_DELIVERED, /* Action: delivered into a local mailbox
			  (NOTIFY=SUCCESS) */
};

struct dsn_report {
	enum dsn_kind kind;
	const char *reporting_mta; /* our host name */
	const char *qid;	   /* of the original message */
	const char *sender;	   /* envelope sender (the DSN's recipient) */
	const char *envid;	   /* ENVID or NULL */
	time_t arrival, now;
	time_t retry_until; /* delay: end of the lifetime */
	const struct dsn_rcpt *rcpts;
	size_t rcpt_count;
	const char *original; /* header block or the whole message */
	size_t original_len;
	bool original_full; /* original is the whole message */
};

/* Appends the whole DSN message (CRLF lines) to out. */
void dsn_compose(const struct dsn_report *report, struct buf *out);
/*
 * The part of the queued message to attach: its header block (up to the
 * first empty line, at most 64 KB) or, when full and the message is not
 * larger than DSN_FULL_MAX, all of it. Returns 0 with *text_r allocated
 * and *full_r telling which, or -1 on a read error.
 */
int dsn_read_original(int fd, long long offset, size_t len, bool full,
		      char **text_r, size_t *len_r, bool *full_r);
/*
 * Composes the DSN and writes it as a complete queue file into queue_dir
 * (fsync of file and directory), from <> to report->sender. Returns 0 with
 * the new queue id in qid_r, or -1 with *error_r (static).
 */
int dsn_enqueue(const char *queue_dir, const struct dsn_report *report,
		char qid_r[32], const char **error_r);
/*
 * The whole job for one queued message: reads the part of the original to
 * attach (RET=FULL for failures only) from fd at offset/len, composes the
 * DSN of kind for the n recipients and enqueues it into queue_dir; logs
 * the outcome as "qid=QID event=dsn ...". Returns 0 with the new queue id
 * in qid_r, or -1 (logged).
 */
int dsn_send(const char *queue_dir, const char *reporting_mta,
	     const struct queue_envelope *env, int fd, long long offset,
	     size_t len, enum dsn_kind kind, const struct dsn_rcpt *rcpts,
	     size_t n, time_t retry_until, char qid_r[32]);
/* true when the NOTIFY value asks for kind ("FAILURE", "DELAY",
 * "SUCCESS");
 * no NOTIFY means FAILURE only. */
bool dsn_notify_wants(const char *notify, const char *kind);

#endif
