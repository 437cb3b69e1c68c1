/*
 * pop3_server: pop3_server_run(), the body of the pop3d child. One libevent
 * loop (with pthreads support, so the auth pool's threads can wake it) and
 * the listeners the master bound (lib/net_service), one store handle on the
 * loop thread, the auth pool and the failed-login throttle. SIGTERM/SIGINT
 * stop it: listeners close, every session is told and closed (no UPDATE:
 * RFC 1939 deletes nothing on an unclean end), and what is left after
 * POP3_STOP_TIMEOUT is dropped. SIGHUP is ignored (the master restarts its
 * children on reload) and SIGPIPE too.
 */
#include "mailstore/pop3_private.h"

#include <string.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/net_service.h"
#include "mailstore/auth_pool.h"
#include "mailstore/auth_throttle.h"
#include "mailstore/store.h"

#define POP3_STOP_TIMEOUT 5

struct pop3_run {
	struct pop3_server server;
	struct net_service *svc;
};

static void
pop3_accept(void *server, int fd, const struct sockaddr *sa, int implicit_tls)
{
	(void)pop3_session_new(server, fd, sa, implicit_tls != 0);
}

static void
pop3_stop_sessions(void *server)
{
	pop3_session_shutdown_all(server);
}

static size_t
pop3_session_count(void *server)
{
	return ((struct pop3_server *)server)->session_count;
}

static int
pop3_server_setup(struct pop3_run *run, const struct pop3_settings *set)
{
	static const struct net_service_ops ops_template = {
	    .accept = pop3_accept,
	    .stop_sessions = pop3_stop_sessions,
	    .session_count = pop3_session_count,
	};
	struct net_service_ops ops = ops_template;
	struct pop3_server *srv = &run->server;
	char *error = NULL;

	srv->set = set;
	srv->base = event_base_new();
	if (srv->base == NULL) {
		log_errorx("event=setup_failed what=event_base");
		return -1;
	}
	ops.server = srv;
	run->svc = net_service_new(srv->base, &ops, POP3_STOP_TIMEOUT);
	if (set->listener_count == 0) {
		/* pop3.listen and pop3s.listen empty: POP3 is off. Stay idle
		 * (the master restarts children that exit) with no store, no
		 * threads. */
		log_info("event=disabled reason=\"no POP3 listeners\"");
		return 0;
	}
	if (store_open(set->data_dir, &srv->store, &error) < 0) {
		log_errorx("event=setup_failed what=store error=\"%s\"", error);
		free(error);
		return -1;
	}
	srv->auth = auth_pool_new(srv->base, set->data_dir, &error);
	if (srv->auth == NULL) {
		log_errorx("event=setup_failed what=auth_pool error=\"%s\"",
			   error);
		free(error);
		return -1;
	}
	srv->throttle = auth_throttle_new(NULL);

	for (size_t i = 0; i < set->listener_count; i++) {
		const struct pop3_listener *cl = &set->listeners[i];

		if (cl->implicit_tls && set->tls_ctx == NULL) {
			log_errorx("event=setup_failed what=listener "
				   "address=%s error=\"no TLS context\"",
				   cl->address);
			return -1;
		}
		if (net_service_listen(
			run->svc, cl->fd, cl->implicit_tls, cl->address,
			cl->implicit_tls ? "implicit" : "stls") < 0)
			return -1;
	}
	return 0;
}

static void
pop3_server_teardown(struct pop3_run *run)
{
	struct pop3_server *srv = &run->server;

	/* Threads first; their completions are dropped (the loop is over). */
	auth_pool_free(&srv->auth);
	pop3_session_free_all(srv);
	auth_throttle_free(&srv->throttle);
	net_service_free(&run->svc);
	if (srv->store != NULL)
		store_close(&srv->store);
	if (srv->base != NULL)
		event_base_free(srv->base);
}

int
pop3_server_run(const struct pop3_settings *set)
{
	struct pop3_run run;
	int status = 0;

	memset(&run, 0, sizeof(run));
	if (net_service_prepare() < 0)
		return 1;
	if (pop3_server_setup(&run, set) < 0 ||
	    net_service_dispatch(run.svc) < 0)
		status = 1;
	pop3_server_teardown(&run);
	return status;
}
