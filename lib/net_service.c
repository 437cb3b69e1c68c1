/*
 * net_service: listeners and the graceful stop shared by smtpd, imapd and
 * pop3d (see net_service.h). Each service keeps its own sessions; this file
 * owns only the evconnlisteners, the SIGTERM/SIGINT events and the stop
 * timer, so a change to how Moat's services accept and stop is made once.
 */
#include "lib/net_service.h"

#include <signal.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "lib/log.h"
#include "lib/xalloc.h"

struct net_listener {
	struct net_service *svc;
	int tag;
	struct evconnlistener *evl;
};

struct net_service {
	struct event_base *base;
	struct net_service_ops ops;
	unsigned int stop_timeout_s;
	bool stopping;
	struct net_listener **listeners;
	size_t listener_count;
	struct event *sig_term, *sig_int, *stop_timer;
};

int
net_service_prepare(void)
{
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (evthread_use_pthreads() < 0) {
		log_errorx("event=setup_failed what=evthread");
		return -1;
	}
	return 0;
}

static void
listener_accept(struct evconnlistener *evl, evutil_socket_t fd,
		struct sockaddr *sa, int salen, void *arg)
{
	struct net_listener *l = arg;

	(void)evl;
	(void)salen;
	if (l->svc->stopping) {
		close(fd);
		return;
	}
	l->svc->ops.accept(l->svc->ops.server, fd, sa, l->tag);
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
close_listeners(struct net_service *svc)
{
	for (size_t i = 0; i < svc->listener_count; i++) {
		if (svc->listeners[i]->evl != NULL) {
			evconnlistener_free(svc->listeners[i]->evl);
			svc->listeners[i]->evl = NULL;
		}
	}
}

static void
stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct net_service *svc = arg;

	(void)fd;
	(void)what;
	log_info("event=shutdown_timeout sessions=%zu",
		 svc->ops.session_count(svc->ops.server));
	event_base_loopbreak(svc->base);
}

static void
stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct net_service *svc = arg;
	struct timeval tv = {(time_t)svc->stop_timeout_s, 0};

	(void)what;
	if (svc->stopping)
		return;
	svc->stopping = true;
	log_info("event=stopping signal=%d sessions=%zu", (int)sig,
		 svc->ops.session_count(svc->ops.server));
	close_listeners(svc);
	svc->stop_timer = evtimer_new(svc->base, stop_timeout, svc);
	evtimer_add(svc->stop_timer, &tv);
	svc->ops.stop_sessions(svc->ops.server);
}

struct net_service *
net_service_new(struct event_base *base, const struct net_service_ops *ops,
		unsigned int stop_timeout_s)
{
	struct net_service *svc = xcalloc(1, sizeof(*svc));

	svc->base = base;
	svc->ops = *ops;
	svc->stop_timeout_s = stop_timeout_s;
	svc->sig_term = evsignal_new(base, SIGTERM, stop_signal, svc);
	svc->sig_int = evsignal_new(base, SIGINT, stop_signal, svc);
	evsignal_add(svc->sig_term, NULL);
	evsignal_add(svc->sig_int, NULL);
	return svc;
}

int
net_service_listen(struct net_service *svc, int fd, int tag,
		   const char *address, const char *mode)
{
	struct net_listener *l = xcalloc(1, sizeof(*l));

	l->svc = svc;
	l->tag = tag;
	l->evl = evconnlistener_new(svc->base, listener_accept, l,
				    LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l->evl == NULL) {
		log_errorx("event=setup_failed what=listener address=%s",
			   address != NULL ? address : "?");
		free(l);
		return -1;
	}
	evconnlistener_set_error_cb(l->evl, listener_error);
	svc->listeners = xreallocarray(svc->listeners, svc->listener_count + 1,
				       sizeof(*svc->listeners));
	svc->listeners[svc->listener_count++] = l;
	if (mode != NULL)
		log_info("event=listening address=%s tls=%s",
			 address != NULL ? address : "?", mode);
	else
		log_info("event=listening address=%s",
			 address != NULL ? address : "?");
	return 0;
}

bool
net_service_stopping(const struct net_service *svc)
{
	return svc->stopping;
}

int
net_service_dispatch(struct net_service *svc)
{
	int status;

	log_info("event=started listeners=%zu", svc->listener_count);
	status = event_base_dispatch(svc->base) < 0 ? -1 : 0;
	log_info("event=stopped");
	return status;
}

void
net_service_free(struct net_service **svcp)
{
	struct net_service *svc = *svcp;

	if (svc == NULL)
		return;
	*svcp = NULL;
	close_listeners(svc);
	for (size_t i = 0; i < svc->listener_count; i++)
		free(svc->listeners[i]);
	free(svc->listeners);
	if (svc->sig_term != NULL)
		event_free(svc->sig_term);
	if (svc->sig_int != NULL)
		event_free(svc->sig_int);
	if (svc->stop_timer != NULL)
		event_free(svc->stop_timer);
	free(svc);
}
