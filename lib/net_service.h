/*
 * net_service: the event-loop frame that smtpd, imapd and pop3d share.
 * One libevent loop with pthreads support (worker threads wake it), one
 * evconnlistener per listening socket the master bound, and a graceful
 * stop on SIGTERM/SIGINT: listeners close at once, the service tells its
 * sessions (stop_sessions), and the loop is broken when stop_timeout
 * passes with sessions still open. SIGPIPE and SIGHUP are ignored (writes
 * report EPIPE; the master restarts its children on reload).
 *
 * Usage, in a service's run function:
 *   net_service_prepare()            before anything else
 *   base = event_base_new(); svc = net_service_new(base, &ops, timeout)
 *   net_service_listen(svc, fd, tag, address, mode)  per listener
 *   net_service_dispatch(svc)        until stopped
 *   net_service_free(&svc)           before freeing the base
 */
#ifndef MOAT_NET_SERVICE_H
#define MOAT_NET_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct net_service;

struct net_service_ops {
	/* Passed back to every callback. */
	void *server;
	/* A connection accepted on a listener registered with this tag. The
	 * callee owns fd. Not called once the service is stopping. */
	void (*accept)(void *server, int fd, const struct sockaddr *sa,
		       int tag);
	/* The stop signal arrived: tell every session to end. */
	void (*stop_sessions)(void *server);
	/* Open sessions, for the stop log lines. */
	size_t (*session_count)(void *server);
};

/* Ignores SIGPIPE and SIGHUP and turns on libevent's pthreads support;
 * 0, or -1 after logging. Call before event_base_new(). */
int net_service_prepare(void);

/* Registers the stop signals on base. stop_timeout_s: how long sessions
 * may take to end after the stop signal. ops is copied. */
struct net_service *net_service_new(struct event_base *base,
				    const struct net_service_ops *ops,
				    unsigned int stop_timeout_s);

/* Accepts on the bound socket fd (owned by the caller's context); tag is
 * handed to ops->accept; address and mode (e.g. "implicit", "starttls",
 * may be NULL) only go into the "event=listening" log line. 0, or -1 after
 * logging. */
int net_service_listen(struct net_service *svc, int fd, int tag,
		       const char *address, const char *mode);

/* True once the stop signal arrived. */
bool net_service_stopping(const struct net_service *svc);

/* Runs the loop until the service stopped (or the stop timeout broke it);
 * logs started/stopped. 0, or -1 when the loop failed. */
int net_service_dispatch(struct net_service *svc);

/* Frees the listeners, signal events and timer; the base stays. */
void net_service_free(struct net_service **svcp);

#endif
