/*
 * pop3_server: pop3_server_run(), the body of the pop3d child. One libevent
 * loop (with pthreads support, so the auth pool's threads can wake it), one
 * evconnlistener per listener the master bound, one store handle on the
 * loop thread, the auth pool and the failed-login throttle. SIGTERM/SIGINT
 * stop it: listeners close, every session is told and closed (no UPDATE:
 * RFC 1939 deletes nothing on an unclean end), and what is left after
 * POP3_STOP_TIMEOUT is dropped. SIGHUP is ignored (the master restarts its
 * children on reload) and SIGPIPE too.
 */
#include "mailstore/pop3_private.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "mailstore/auth_pool.h"
#include "mailstore/auth_throttle.h"
#include "mailstore/store.h"

#define POP3_STOP_TIMEOUT 5

struct pop3_listen {
	struct pop3_server *server;
	bool implicit_tls;
	struct evconnlistener *evl;
};

struct pop3_run {
	struct pop3_server server;
	struct pop3_listen *listeners;
	size_t listener_count;
	struct event *sig_term, *sig_int, *stop_timer;
};

static void
listener_accept(struct evconnlistener *evl, evutil_socket_t fd,
		struct sockaddr *sa, int salen, void *arg)
{
	struct pop3_listen *l = arg;

	(void)evl;
	(void)salen;
	if (l->server->stopping) {
		close(fd);
		return;
	}
	(void)pop3_session_new(l->server, fd, sa, l->implicit_tls);
}

static void
listener_error(struct evconnlistener *evl, void *arg)
{
	(void)evl;
	(void)arg;
	log_warn("event=accept_error");
}

static void
stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_run *run = arg;

	(void)fd;
	(void)what;
	log_info("event=shutdown_timeout sessions=%zu",
		 run->server.session_count);
	event_base_loopbreak(run->server.base);
}

static void
stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct pop3_run *run = arg;
	struct timeval tv = {POP3_STOP_TIMEOUT, 0};

	(void)what;
	if (run->server.stopping)
		return;
	log_info("event=stopping signal=%d sessions=%zu", (int)sig,
		 run->server.session_count);
	for (size_t i = 0; i < run->listener_count; i++) {
		if (run->listeners[i].evl != NULL) {
			evconnlistener_free(run->listeners[i].evl);
			run->listeners[i].evl = NULL;
		}
	}
	run->stop_timer = evtimer_new(run->server.base, stop_timeout, run);
	evtimer_add(run->stop_timer, &tv);
	pop3_session_shutdown_all(&run->server);
}

static int
pop3_server_setup(struct pop3_run *run, const struct pop3_settings *set)
{
	struct pop3_server *srv = &run->server;
	char *error = NULL;

	srv->set = set;
	srv->base = event_base_new();
	if (srv->base == NULL) {
		log_errorx("event=setup_failed what=event_base");
		return -1;
	}
	if (set->listener_count == 0) {
		/* pop3.listen and pop3s.listen empty: POP3 is off. Stay idle
		 * (the master restarts children that exit) with no store, no
		 * threads. */
		log_info("event=disabled reason=\"no POP3 listeners\"");
		goto signals;
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

	run->listeners =
	    xcalloc(set->listener_count + 1, sizeof(*run->listeners));
	for (size_t i = 0; i < set->listener_count; i++) {
		const struct pop3_listener *cl = &set->listeners[i];
		struct pop3_listen *l = &run->listeners[i];

		l->server = srv;
		l->implicit_tls = cl->implicit_tls;
		if (cl->implicit_tls && set->tls_ctx == NULL) {
			log_errorx("event=setup_failed what=listener "
				   "address=%s error=\"no TLS context\"",
				   cl->address);
			return -1;
		}
		l->evl = evconnlistener_new(srv->base, listener_accept, l,
					    LEV_OPT_CLOSE_ON_EXEC, 0, cl->fd);
		if (l->evl == NULL) {
			log_errorx("event=setup_failed what=listener "
				   "address=%s",
				   cl->address);
			return -1;
		}
		evconnlistener_set_error_cb(l->evl, listener_error);
		log_info("event=listening address=%s tls=%s", cl->address,
			 cl->implicit_tls ? "implicit" : "stls");
	}
	run->listener_count = set->listener_count;

      signals:
	run->sig_term = evsignal_new(srv->base, SIGTERM, stop_signal, run);
	run->sig_int = evsignal_new(srv->base, SIGINT, stop_signal, run);
	evsignal_add(run->sig_term, NULL);
	evsignal_add(run->sig_int, NULL);
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
	for (size_t i = 0; i < run->listener_count; i++)
		if (run->listeners[i].evl != NULL)
			evconnlistener_free(run->listeners[i].evl);
	free(run->listeners);
	if (run->sig_term != NULL)
		event_free(run->sig_term);
	if (run->sig_int != NULL)
		event_free(run->sig_int);
	if (run->stop_timer != NULL)
		event_free(run->stop_timer);
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
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (evthread_use_pthreads() < 0) {
		log_errorx("event=setup_failed what=evthread");
		return 1;
	}
	if (pop3_server_setup(&run, set) < 0) {
		status = 1;
	} else {
		log_info("event=started listeners=%zu", set->listener_count);
		if (event_base_dispatch(run.server.base) < 0)
			status = 1;
		log_info("event=stopped");
	}
	pop3_server_teardown(&run);
	return status;
}
