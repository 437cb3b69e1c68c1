/*
 * smtp_server: smtpd_run(), the body of the smtpd child. It sets up one
 * libevent loop (with pthreads support, so the committer and auth threads
 * can wake it), the listeners the master bound (lib/net_service), the
 * directory, the group committer and the auth pool, then runs until
 * SIGTERM/SIGINT. Stopping is graceful: listeners close at once, idle
 * sessions get 421, sessions inside a transaction may finish within
 * smtp.shutdown_timeout; whatever remains is dropped (unacknowledged queue
 * files are unlinked, and those a crash left are removed at the next start:
 * gateway/spool_recover.h). SIGHUP is ignored here (the master restarts its
 * children on reload) and SIGPIPE everywhere (writes report EPIPE).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "gateway/relay_verify.h"
#include "filters/filter_chain.h"
#include "gateway/service.h"
#include "mailstore/auth_pool.h"
#include "mailstore/auth_throttle.h"
#include "gateway/smtp_session.h"
#include "gateway/spool_commit.h"
#include "gateway/spool_recover.h"
#include "lib/log.h"
#include "lib/net_service.h"
#include "lib/xalloc.h"
#include "mailstore/directory.h"

struct smtp_run {
	struct smtp_server server;
	struct net_service *svc;
};

static void
smtp_accept(void *server, int fd, const struct sockaddr *sa, int kind)
{
	(void)smtp_session_new(server, fd, sa, (enum listener_kind)kind);
}

static void
smtp_stop_sessions(void *server)
{
	smtp_session_shutdown_all(server);
}

static size_t
smtp_session_count(void *server)
{
	return ((struct smtp_server *)server)->session_count;
}

static int
smtp_server_setup(struct smtp_run *run, struct service_context *ctx)
{
	static const struct net_service_ops ops_template = {
	    .accept = smtp_accept,
	    .stop_sessions = smtp_stop_sessions,
	    .session_count = smtp_session_count,
	};
	struct net_service_ops ops = ops_template;
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
	ops.server = srv;
	run->svc = net_service_new(srv->base, &ops,
				   (unsigned int)set->smtp_shutdown_timeout);
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
	if (spool_recover(srv->queue_dir_fd, srv->queue_dir,
			  ctx->queue_notify_fd) < 0)
		return -1;
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
	for (i = 0; i < ctx->listener_count; i++) {
		const struct service_listener *sl = &ctx->listeners[i];

		if (sl->kind != LISTENER_SMTP &&
		    sl->kind != LISTENER_SUBMISSION &&
		    sl->kind != LISTENER_SMTPS)
			continue;
		if (sl->kind == LISTENER_SMTPS && ctx->tls_ctx == NULL) {
			log_errorx("event=setup_failed what=listener "
				   "address=%s error=\"no TLS context\"",
				   sl->address);
			return -1;
		}
		if (net_service_listen(run->svc, sl->fd, (int)sl->kind,
				       sl->address, NULL) < 0)
			return -1;
	}
	return 0;
}

static void
smtp_server_teardown(struct smtp_run *run)
{
	struct smtp_server *srv = &run->server;

	/* Threads first: the committer may still be fsyncing a session's
	 * fd. Their completions are dropped (the loop no longer runs). */
	spool_committer_free(&srv->committer);
	auth_pool_free(&srv->auth);
	auth_throttle_free(&srv->throttle);
	/* Sessions before the chain: a session whose filter run is still
	 * out hands its filter state to the chain, which frees it. */
	smtp_session_free_all(srv);
	filter_chain_free(&srv->chain);
	net_service_free(&run->svc);
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
	if (net_service_prepare() < 0)
		return 1;
	if (smtp_server_setup(&run, ctx) < 0 ||
	    net_service_dispatch(run.svc) < 0)
		status = 1;
	smtp_server_teardown(&run);
	return status;
}
