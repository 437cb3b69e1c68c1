/*
 * smtp_server: smtpd_run(), the body of the smtpd child. It sets up one
 * libevent loop (with pthreads support, so the committer and auth threads
 * can wake it), one evconnlistener per listener fd the master bound, the
 * directory, the group committer and the auth pool, then runs until
 * SIGTERM/SIGINT. Stopping is graceful: listeners close at once, idle
 * sessions get 421, sessions inside a transaction may finish within
 * smtp.shutdown_timeout; whatever remains is dropped (unacknowledged queue
 * files are unlinked). SIGHUP is ignored here (the master restarts its
 * children on reload) and SIGPIPE everywhere (writes report EPIPE).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "gateway/relay_verify.h"
#include "filters/filter_chain.h"
#include "gateway/service.h"
#include "mailstore/auth_pool.h"
#include "mailstore/auth_throttle.h"
#include "gateway/smtp_session.h"
#include "gateway/spool_commit.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "mailstore/directory.h"

struct smtp_listener {
	struct smtp_server *server;
	enum listener_kind kind;
	struct evconnlistener *evl;
};

struct smtp_run {
	struct smtp_server server;
	struct smtp_listener *listeners;
	size_t listener_count;
	struct event *sig_term, *sig_int, *stop_timer;
};

static void
listener_accept(struct evconnlistener *evl, evutil_socket_t fd,
		struct sockaddr *sa, int salen, void *arg)
{
	struct smtp_listener *l = arg;

	(void)evl;
	(void)salen;
	if (l->server->stopping) {
		close(fd);
		return;
	}
	(void)smtp_session_new(l->server, fd, sa, l->kind);
}

static void
listener_error(struct evconnlistener *evl, void *arg)
{
	(void)evl;
	(void)arg;
	/* EMFILE and friends: libevent retries on the next readiness. */
	log_warn("event=accept_error");
}

static void
stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_run *run = arg;

	(void)fd;
	(void)what;
	log_info("event=shutdown_timeout sessions=%zu",
		 run->server.session_count);
	event_base_loopbreak(run->server.base);
}

static void
stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct smtp_run *run = arg;
	struct timeval tv = {(time_t)run->server.set->smtp_shutdown_timeout, 0};
	size_t i;

	(void)what;
	if (run->server.stopping)
		return;
	log_info("event=stopping signal=%d sessions=%zu", (int)sig,
		 run->server.session_count);
	for (i = 0; i < run->listener_count; i++) {
		if (run->listeners[i].evl != NULL) {
			evconnlistener_free(run->listeners[i].evl);
			run->listeners[i].evl = NULL;
		}
	}
	run->stop_timer = evtimer_new(run->server.base, stop_timeout, run);
	evtimer_add(run->stop_timer, &tv);
	smtp_session_shutdown_all(&run->server);
}

static int
smtp_server_setup(struct smtp_run *run, struct service_context *ctx)
{
	struct smtp_server *srv = &run->server;
	const struct moat_settings *set = ctx->settings;
	const char *error;
	char *error_alloc = NULL;
	size_t i;

	srv->ctx = ctx;
	srv->set = set;
	srv->queue_dir_fd = -1;
	if (set->hostname != NULL && set->hostname[0] != '\0')
		snprintf(srv->hostname, sizeof(srv->hostname), "%s",
			 set->hostname);
	else if (gethostname(srv->hostname, sizeof(srv->hostname) - 1) < 0)
		snprintf(srv->hostname, sizeof(srv->hostname), "localhost");

	srv->base = event_base_new();
	if (srv->base == NULL) {
		log_errorx("event=setup_failed what=event_base");
		return -1;
	}
	if (directory_open(set->data_dir, &srv->dir, &error_alloc) < 0) {
		log_errorx("event=setup_failed what=directory error=\"%s\"",
			   error_alloc);
		free(error_alloc);
		return -1;
	}
	srv->relay = relay_verify_new(srv->base, set, &error_alloc);
	if (srv->relay == NULL) {
		log_errorx("event=setup_failed what=relay error=\"%s\"",
			   error_alloc);
		free(error_alloc);
		return -1;
	}
	srv->throttle = auth_throttle_new(NULL);
	srv->queue_dir = xasprintf("%s/queue", set->data_dir);
	if (mkdir(srv->queue_dir, 0700) < 0 && errno != EEXIST) {
		log_error("event=setup_failed what=mkdir path=%s",
			  srv->queue_dir);
		return -1;
	}
	srv->queue_dir_fd =
	    open(srv->queue_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (srv->queue_dir_fd < 0) {
		log_error("event=setup_failed what=open path=%s",
			  srv->queue_dir);
		return -1;
	}
	srv->committer =
	    spool_committer_new(srv->base, srv->queue_dir_fd, &error);
	if (srv->committer == NULL) {
		log_errorx("event=setup_failed what=committer error=\"%s\"",
			   error);
		return -1;
	}
	srv->auth = auth_pool_new(srv->base, set->data_dir, &error_alloc);
	if (srv->auth == NULL) {
		log_errorx("event=setup_failed what=auth_pool error=\"%s\"",
			   error_alloc);
		free(error_alloc);
		return -1;
	}
	{
		struct filter_chain_config fcfg;
		char *logpath = xasprintf("%s/messagelog.db", set->data_dir);

		moat_settings_filter_config(set, &fcfg);
		fcfg.message_log = set->filters_message_log ? logpath : NULL;
		srv->chain = filter_chain_new(srv->base, &fcfg, &error_alloc);
		free(logpath);
		if (srv->chain == NULL) {
			log_errorx("event=setup_failed what=filters "
				   "error=\"%s\"",
				   error_alloc);
			free(error_alloc);
			return -1;
		}
	}
	srv->throttle = auth_throttle_new(NULL);

	run->listeners =
	    xcalloc(ctx->listener_count + 1, sizeof(*run->listeners));
	for (i = 0; i < ctx->listener_count; i++) {
		struct smtp_listener *l = &run->listeners[i];

		l->server = srv;
		l->kind = ctx->listeners[i].kind;
		if (l->kind != LISTENER_SMTP &&
		    l->kind != LISTENER_SUBMISSION && l->kind != LISTENER_SMTPS)
			continue;
		if (l->kind == LISTENER_SMTPS && ctx->tls_ctx == NULL) {
			log_errorx("event=setup_failed what=listener "
				   "address=%s error=\"no TLS context\"",
				   ctx->listeners[i].address);
			return -1;
		}
		l->evl = evconnlistener_new(srv->base, listener_accept, l,
					    LEV_OPT_CLOSE_ON_EXEC, 0,
					    ctx->listeners[i].fd);
		if (l->evl == NULL) {
			log_errorx("event=setup_failed what=listener "
				   "address=%s",
				   ctx->listeners[i].address);
			return -1;
		}
		evconnlistener_set_error_cb(l->evl, listener_error);
		log_info("event=listening address=%s",
			 ctx->listeners[i].address != NULL
			     ? ctx->listeners[i].address
			     : "?");
	}
	run->listener_count = ctx->listener_count;

	run->sig_term = evsignal_new(srv->base, SIGTERM, stop_signal, run);
	run->sig_int = evsignal_new(srv->base, SIGINT, stop_signal, run);
	evsignal_add(run->sig_term, NULL);
	evsignal_add(run->sig_int, NULL);
	return 0;
}

static void
smtp_server_teardown(struct smtp_run *run)
{
	struct smtp_server *srv = &run->server;
	size_t i;

	/* Threads first: the committer may still be fsyncing a session's
	 * fd. Their completions are dropped (the loop no longer runs). */
	spool_committer_free(&srv->committer);
	auth_pool_free(&srv->auth);
	auth_throttle_free(&srv->throttle);
	/* Sessions before the chain: a session whose filter run is still
	 * out hands its filter state to the chain, which frees it. */
	smtp_session_free_all(srv);
	filter_chain_free(&srv->chain);
	for (i = 0; i < run->listener_count; i++) {
		if (run->listeners[i].evl != NULL)
			evconnlistener_free(run->listeners[i].evl);
	}
	free(run->listeners);
	if (run->sig_term != NULL)
		event_free(run->sig_term);
	if (run->sig_int != NULL)
		event_free(run->sig_int);
	if (run->stop_timer != NULL)
		event_free(run->stop_timer);
	if (srv->dir != NULL)
		directory_close(&srv->dir);
	relay_verify_free(&srv->relay);
	if (srv->queue_dir_fd >= 0)
		close(srv->queue_dir_fd);
	free(srv->queue_dir);
	if (srv->base != NULL)
		event_base_free(srv->base);
}

int
smtpd_run(struct service_context *ctx)
{
	struct smtp_run run;
	int status = 0;

	memset(&run, 0, sizeof(run));
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (evthread_use_pthreads() < 0) {
		log_errorx("event=setup_failed what=evthread");
		return 1;
	}
	if (smtp_server_setup(&run, ctx) < 0) {
		status = 1;
	} else {
		log_info("event=started listeners=%zu", ctx->listener_count);
		if (event_base_dispatch(run.server.base) < 0)
			status = 1;
		log_info("event=stopped");
	}
	smtp_server_teardown(&run);
	return status;
}
