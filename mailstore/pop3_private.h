/*
 * pop3_private: the state pop3_server.c and pop3_session.c share. Not for
 * use outside them.
 */
#ifndef MOAT_POP3_PRIVATE_H
#define MOAT_POP3_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "mailstore/pop3_server.h"

struct event_base;
struct store;
struct auth_pool;
struct auth_throttle;
struct pop3_session;

struct pop3_server {
	struct event_base *base;
	const struct pop3_settings *set;
	struct store *store;
	struct auth_pool *auth;
	struct auth_throttle *throttle;
	struct pop3_session *sessions; /* doubly linked */
	size_t session_count;
	bool stopping;
	unsigned long session_counter;
};

/*
 * Takes ownership of fd (accepted) and starts a session: the TLS handshake
 * first on an implicit-TLS listener, then the greeting. Enforces the
 * connection limits ("-ERR [SYS/TEMP]" and close). 0, or -1 when the
 * session could not be set up (fd closed).
 */
int pop3_session_new(struct pop3_server *server, int fd,
		     const struct sockaddr *peer, bool implicit_tls);
/* Graceful stop: every session is told and closed (no UPDATE). */
void pop3_session_shutdown_all(struct pop3_server *server);
/* Frees every session now. */
void pop3_session_free_all(struct pop3_server *server);

#endif
