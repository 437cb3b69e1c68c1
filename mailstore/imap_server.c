/*
 * imap_server: imap_server_run(), the body of the imapd child. One libevent
 * loop (with pthreads support, so the auth pool's threads can wake it), one
 * evconnlistener per listener fd the master bound, one store connection
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
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "mailstore/auth_pool.h"
#include "mailstore/auth_throttle.h"
#include "mailstore/imap_private.h"
#include "mailstore/msg_search.h"
#include "mailstore/store.h"

struct imap_listener {
	struct imap_server *server;
	bool implicit_tls;
	struct evconnlistener *evl;
};

struct imap_run {
	struct imap_server server;
	struct imap_listener *listeners;
	size_t listener_count;
	struct event *sig_term, *sig_int, *stop_timer;
};

static void
listener_accept(struct evconnlistener *evl, evutil_socket_t fd,
		struct sockaddr *sa, int salen, void *arg)
{
	struct imap_listener *l = arg;

	(void)evl;
	(void)salen;
	if (l->server->stopping) {
		close(fd);
		return;
	}
	imap_session_new(l->server, fd, sa, l->implicit_tls);
}

static void
listener_error(struct evconnlistener *evl, void *arg)
{
	(void)evl;
	(void)arg;
	log_warn("event=accept_error");
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

static void
stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct imap_run *run = arg;

	(void)fd;
	(void)what;
	log_info("event=shutdown_timeout sessions=%zu",
		 run->server.session_count);
	event_base_loopbreak(run->server.base);
}

static void
stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct imap_run *run = arg;
	struct timeval tv = {(time_t)run->server.cfg->shutdown_timeout, 0};

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
	imap_session_shutdown_all(&run->server);
}

static int
imap_server_setup(struct imap_run *run, const struct imap_server_config *cfg)
{
	struct imap_server *srv = &run->server;
	char *error = NULL;

	srv->cfg = cfg;
	srv->notify_fd = -1;
	srv->base = event_base_new();
	if (srv->base == NULL) {
		log_errorx("event=setup_failed what=event_base");
		return -1;
	}
	if (store_open(cfg->data_dir, &srv->store, &error) < 0) {
		log_errorx("event=setup_failed what=store error=\"%s\"", error);
		free(error);
		return -1;
	}
	store_set_quota(srv->store, cfg->quota);
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
	run->listeners =
	    xcalloc(cfg->listener_count + 1, sizeof(*run->listeners));
	for (size_t i = 0; i < cfg->listener_count; i++) {
		struct imap_listener *l = &run->listeners[i];

		l->server = srv;
		l->implicit_tls = cfg->listeners[i].implicit_tls;
		if (l->implicit_tls && cfg->tls_ctx == NULL) {
			log_errorx("event=setup_failed what=listener "
				   "address=%s error=\"no TLS context\"",
				   cfg->listeners[i].address);
			return -1;
		}
		l->evl = evconnlistener_new(srv->base, listener_accept, l,
					    LEV_OPT_CLOSE_ON_EXEC, 0,
					    cfg->listeners[i].fd);
		if (l->evl == NULL) {
			log_errorx("event=setup_failed what=listener "
				   "address=%s",
				   cfg->listeners[i].address);
			return -1;
		}
		evconnlistener_set_error_cb(l->evl, listener_error);
		log_info("event=listening address=%s tls=%s",
			 cfg->listeners[i].address,
			 l->implicit_tls ? "implicit" : "starttls");
	}
	run->listener_count = cfg->listener_count;
	run->sig_term = evsignal_new(srv->base, SIGTERM, stop_signal, run);
	run->sig_int = evsignal_new(srv->base, SIGINT, stop_signal, run);
	evsignal_add(run->sig_term, NULL);
	evsignal_add(run->sig_int, NULL);
	return 0;
}

static void
imap_server_teardown(struct imap_run *run)
{
	struct imap_server *srv = &run->server;

	auth_pool_free(&srv->auth);
	imap_session_free_all(srv);
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
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (evthread_use_pthreads() < 0) {
		log_errorx("event=setup_failed what=evthread");
		return 1;
	}
	if (imap_server_setup(&run, cfg) < 0) {
		status = 1;
	} else {
		log_info("event=started listeners=%zu", cfg->listener_count);
		if (event_base_dispatch(run.server.base) < 0)
			status = 1;
		log_info("event=stopped");
	}
	imap_server_teardown(&run);
	return status;
}
