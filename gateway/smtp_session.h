/*
 * smtp_session: one SMTP session per connection, driven by a libevent
 * bufferevent (plain, implicit TLS, or upgraded by STARTTLS). struct
 * smtp_server is the state every session of one smtpd shares; smtp_server.c
 * owns its life cycle.
 */
#ifndef MOAT_SMTP_SESSION_H
#define MOAT_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "gateway/service.h"

struct event_base;
struct directory;
struct spool_committer;
struct auth_pool;
struct auth_throttle;
struct filter_chain;
struct relay_verify;
struct smtp_session;

struct smtp_server {
	struct event_base *base;
	const struct service_context *ctx;
	const struct moat_settings *set;
	struct directory *dir;
	struct spool_committer *committer;
	struct auth_pool *auth;
	struct auth_throttle *throttle; /* failed logins per client IP */
	struct filter_chain *chain;	/* NULL or empty: no filters */
	struct relay_verify *relay;	/* relay domains, RCPT probes */
	char hostname[256];
	char *queue_dir; /* DATA_DIR/queue */
	int queue_dir_fd;
	struct smtp_session *sessions; /* doubly linked */
	size_t session_count;
	bool stopping; /* no new transactions; idle sessions close */
	unsigned long session_counter;
};

/*
 * Takes ownership of fd (accepted, any blocking mode) and starts a session
 * on it: TLS handshake first for LISTENER_SMTPS, then the 220 greeting.
 * Enforces smtp.max_connections and smtp.max_connections_per_ip (answers
 * 421 and closes). Returns 0, or -1 when the session could not be set up
 * (fd closed).
 */
int smtp_session_new(struct smtp_server *server, int fd,
		     const struct sockaddr *peer, enum listener_kind kind);
/* Graceful stop: idle sessions get 421 and close; sessions inside a
 * transaction close when it ends. The loop exits when none is left. */
void smtp_session_shutdown_all(struct smtp_server *server);
/* Frees every session now (after the shutdown timeout), discarding any
 * unacknowledged queue file. */
void smtp_session_free_all(struct smtp_server *server);

#endif
