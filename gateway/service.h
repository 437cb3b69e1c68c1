/*
 * service: what the master hands a service child after fork(). The master
 * binds every listener, builds the TLS context and loads the settings while
 * still root; the child drops privileges (done by the master's fork path
 * before calling the run function) and runs its event loop until SIGTERM.
 *
 * Services are a table in master.c: adding a service is adding a row with a
 * name, the listener kinds it takes and its run function.
 */
#ifndef MOAT_SERVICE_H
#define MOAT_SERVICE_H

#include <openssl/ssl.h>
#include <stddef.h>
#include "gateway/settings.h"

enum listener_kind {
	LISTENER_SMTP,	     /* MX, plain with STARTTLS */
	LISTENER_SUBMISSION, /* 587, STARTTLS, AUTH */
	LISTENER_SMTPS,	     /* 465, implicit TLS, AUTH */
	LISTENER_IMAP,
	LISTENER_IMAPS,
	LISTENER_POP3,
	LISTENER_POP3S,
	LISTENER_WEB,
};

struct service_listener {
	enum listener_kind kind;
	int fd;	       /* bound, listening, non-blocking */
	char *address; /* as configured, for logs */
};

struct service_context {
	const struct moat_settings *settings;
	const char *config_path;
	SSL_CTX *tls_ctx;		    /* server context, shared */
	struct service_listener *listeners; /* only this service's kinds */
	size_t listener_count;
	/*
	 * AF_UNIX SOCK_DGRAM pair created by the master: smtpd sends one
	 * datagram per committed message (the queue id, no NUL) on
	 * queue_notify_fd; the queue service receives them on the same
	 * number in its process. Sends are non-blocking and may be dropped:
	 * the queue also rescans its directory every queue_scan_interval.
	 */
	int queue_notify_fd;
};

/* Each returns the process exit status: 0 after a clean SIGTERM stop. */
int smtpd_run(struct service_context *ctx);
int queue_run(struct service_context *ctx);
/* IMAP (gateway/imapd.c -> mailstore/imap_server.c) */
int imapd_run(struct service_context *ctx);
/* gateway/pop3_service.c: POP3 and POP3S (mailstore/pop3_server). */
int pop3d_run(struct service_context *ctx);

#endif
