/*
 * smtp_client: one outbound SMTP connection on a libevent base. It
 * connects to one address, reads the greeting, says EHLO (HELO when EHLO is
 * refused), upgrades with STARTTLS when offered or required by the policy,
 * authenticates when configured, and then carries any number of
 * transactions (connection reuse): MAIL/RCPT pipelined when the server
 * offers PIPELINING, the message by BDAT when it offers CHUNKING, else by
 * DATA with dot-stuffing, streamed from the queue file.
 *
 * Every callback runs on the event loop and may free the client or start
 * the next transaction; the client never touches itself after calling back.
 */
#ifndef MOAT_SMTP_CLIENT_H
#define MOAT_SMTP_CLIENT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "gateway/route.h"
#include "gateway/smtp_reply.h"

struct event_base;
struct smtp_client;

struct smtp_client_config {
	const char *helo;     /* our host name for EHLO */
	SSL_CTX *tls_ctx;     /* client context; NULL disables STARTTLS */
	enum route_tls tls;   /* policy of the route */
	const char *tls_name; /* peer host name (SNI, verification) */
	const char *auth_user, *auth_pass;	       /* NULL: no AUTH */
	unsigned int connect_timeout, command_timeout; /* seconds */
};

/* Outcome of a step: a reply of the server or one we made up for a local
 * or network failure (code 4xx/5xx, enhanced status, text). */
struct smtp_client_outcome {
	int code;
	char status[16];
	char text[512];
	bool network; /* connect, timeout or lost connection */
};

struct smtp_client_rcpt {
	const char *address, *notify, *orcpt;
	struct smtp_client_outcome outcome; /* filled by the transaction */
};

struct smtp_client_message {
	const char *mail_from; /* "" for <> */
	const char *body;      /* "8BITMIME", "7BIT" or NULL */
	bool smtputf8;
	const char *ret, *envid; /* DSN parameters or NULL */
	int fd;			 /* queue file, message at [offset, +len) */
	off_t offset;
	size_t len;
	struct smtp_client_rcpt *rcpts;
	size_t rcpt_count;
	bool probe_only; /* MAIL and RCPT only (recipient verification) */
};

/* ready: outcome NULL when the session is ready for transactions. */
typedef void smtp_client_ready_fn(struct smtp_client *client,
				  const struct smtp_client_outcome *failure,
				  void *context);
/* done: the per-recipient outcomes are in the message's rcpts. */
typedef void smtp_client_done_fn(struct smtp_client *client, void *context);

/* Starts connecting; the config strings must outlive the client. Returns
 * NULL only when no socket could be created (errno set). */
struct smtp_client *
smtp_client_connect(struct event_base *base, const struct sockaddr *addr,
		    socklen_t addrlen, const struct smtp_client_config *config,
		    smtp_client_ready_fn *ready, void *context);
/* Runs one transaction on a ready client; done runs later, always. */
void smtp_client_send(struct smtp_client *client,
		      struct smtp_client_message *message,
		      smtp_client_done_fn *done, void *context);
/* true while the connection can carry another transaction. */
bool smtp_client_usable(const struct smtp_client *client);
/* Sends QUIT when the session is usable, then frees; NULLs *client. */
void smtp_client_free(struct smtp_client **client);

/* "TLSv1.3" or "none"; the peer's IP text; the peer's EHLO capabilities. */
const char *smtp_client_tls_version(const struct smtp_client *client);
const char *smtp_client_peer_ip(const struct smtp_client *client);
const struct smtp_caps *smtp_client_caps(const struct smtp_client *client);

#endif
