/*
 * imap_server: imap_server_run(), the body of the imapd child. One libevent
 * loop (with pthreads support, so the auth pool's threads can wake it) and
 * the listeners the master bound (lib/net_service), one store connection
 * shared by all sessions (SQLite calls are short and run on the loop), the
 * auth pool and the per-address failed-login throttle.
 *
 * Change notification between processes: the store sends a datagram
 * "user\tmailbox" to the Unix socket DATA_DIR/mail/notify.sock after each
 * commit that changes a mailbox (store_embedded.c, notify_flush()). imapd
 * binds that socket here and passes each datagram to the sessions of that
 * user, which re-read the mailbox at once when in IDLE and before their
 * next command otherwise. So a delivery by the queue service (another
 * process), an APPEND or a flag change by another imapd session, and a
 * POP3 deletion all wake IDLE within a loop iteration, with no polling
 * and no inotify watch per session. Datagrams are never waited for: when
 * one is lost (a full socket buffer), the session still sees the change
 * at its next NOOP/IDLE/command, since those re-read on a pending flag and
 * NOOP, CHECK and IDLE re-read unconditionally.
 *
 * Stopping (SIGTERM): listeners close, every session gets "* BYE" and is
 * closed after its output is flushed or shutdown_timeout passes.
 */
#include "mailstore/imap_server.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/net_service.h"
#include "mailstore/auth_pool.h"
#include "mailstore/auth_throttle.h"
#include "mailstore/imap_private.h"
#include "mailstore/msg_search.h"
#include "mailstore/store.h"

struct imap_run {
	struct imap_server server;
	struct net_service *svc;
};

static void
imap_accept(void *server, int fd, const struct sockaddr *sa, int implicit_tls)
{
	imap_session_new(server, fd, sa, implicit_tls != 0);
}

static void
imap_stop_sessions(void *server)
{
	imap_session_shutdown_all(server);
}

static size_t
imap_session_count(void *server)
{
	return ((struct imap_server *)server)->session_count;
}

static void
on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct imap_server *srv = arg;
	char msg[1024];
	ssize_t n;

	(void)what;
	while ((n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT)) > 0) {
		char *tab;

		msg[n] = '\0';
		tab = strchr(msg, '\t');
		if (tab == NULL)
			continue;
		*tab = '\0';
		imap_session_notify(srv, msg, tab + 1);
	}
}

/* Binds DATA_DIR/mail/notify.sock (replacing a stale one). */
static int
notify_bind(struct imap_server *srv)
{
	struct sockaddr_un sun;
	int fd;

	srv->notify_path = store_notify_path(srv->cfg->data_dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(srv->notify_path) >= sizeof(sun.sun_path)) {
		log_warnx("event=notify_disabled reason=\"path too long\" "
			  "path=%s",
			  srv->notify_path);
		return 0;
	}
	memcpy(sun.sun_path, srv->notify_path, strlen(srv->notify_path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	(void)unlink(srv->notify_path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		log_warn("event=notify_bind path=%s", srv->notify_path);
		close(fd);
		return 0;
	}
	srv->notify_fd = fd;
	srv->notify_event =
	    event_new(srv->base, fd, EV_READ | EV_PERSIST, on_notify, srv);
	event_add(srv->notify_event, NULL);
	return 0;
}

static int
imap_server_setup(struct imap_run *run, const struct imap_server_config *cfg)
{
	static const struct net_service_ops ops_template = {
	    .accept = imap_accept,
	    .stop_sessions = imap_stop_sessions,
	    .session_count = imap_session_count,
	};
	struct net_service_ops ops = ops_template;
	struct imap_server *srv = &run->server;
	char *error = NULL;

	srv->cfg = cfg;
	srv->notify_fd = -1;
	srv->base = event_base_new();
	if (srv->base == NULL) {
		log_errorx("event=setup_failed what=event_base");
		return -1;
	}
	ops.server = srv;
	run->svc = net_service_new(srv->base, &ops,
				   (unsigned int)cfg->shutdown_timeout);
	if (store_open(cfg->data_dir, &srv->store, &error) < 0) {
		log_errorx("event=setup_failed what=store error=\"%s\"", error);
		free(error);
		return -1;
	}
	store_set_quota(srv->store, cfg->quota);
	store_set_quarantine_user_filters(srv->store,
					  cfg->quarantine_user_filters);
	store_set_relaxed_sync(srv->store, true);
	srv->auth = auth_pool_new(srv->base, cfg->data_dir, &error);
	if (srv->auth == NULL) {
		log_errorx("event=setup_failed what=auth_pool error=\"%s\"",
			   error);
		free(error);
		return -1;
	}
	srv->throttle = auth_throttle_new(NULL);
	if (cfg->train_dir != NULL &&
	    train_spool_open(cfg->train_dir, cfg->train_max_pending,
			     &srv->train, &error) < 0) {
		log_errorx("event=setup_failed what=spam_training error=\"%s\"",
			   error);
		free(error);
		return -1;
	}
	msg_search_init(); /* GMime, once, before any session */
	if (notify_bind(srv) < 0) {
		log_error("event=setup_failed what=notify_socket");
		return -1;
	}
	for (size_t i = 0; i < cfg->listener_count; i++) {
		bool implicit_tls = cfg->listeners[i].implicit_tls;

		if (implicit_tls && cfg->tls_ctx == NULL) {
			log_errorx("event=setup_failed what=listener "
				   "address=%s error=\"no TLS context\"",
				   cfg->listeners[i].address);
			return -1;
		}
		if (net_service_listen(run->svc, cfg->listeners[i].fd,
				       implicit_tls, cfg->listeners[i].address,
				       implicit_tls ? "implicit" : "starttls") <
		    0)
			return -1;
	}
	return 0;
}

static void
imap_server_teardown(struct imap_run *run)
{
	struct imap_server *srv = &run->server;

	auth_pool_free(&srv->auth);
	imap_session_free_all(srv);
	auth_throttle_free(&srv->throttle);
	net_service_free(&run->svc);
	if (srv->notify_event != NULL)
		event_free(srv->notify_event);
	if (srv->notify_fd >= 0) {
		close(srv->notify_fd);
		(void)unlink(srv->notify_path);
	}
	free(srv->notify_path);
	train_spool_free(&srv->train);
	store_close(&srv->store);
	if (srv->base != NULL)
		event_base_free(srv->base);
}

int
imap_server_run(const struct imap_server_config *cfg)
{
	struct imap_run run;
	int status = 0;

	memset(&run, 0, sizeof(run));
	if (net_service_prepare() < 0)
		return 1;
	if (imap_server_setup(&run, cfg) < 0 ||
	    net_service_dispatch(run.svc) < 0)
		status = 1;
	imap_server_teardown(&run);
	return status;
}
