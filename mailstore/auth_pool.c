/*
 * auth_pool: the password check behind SMTP AUTH, IMAP LOGIN/AUTHENTICATE
 * and POP3 PASS/AUTH. A fixed pool of AUTH_POOL_WORKERS threads takes requests
 * from one queue; each worker owns its own struct directory (one SQLite
 * connection per thread), looks the login up and runs password_verify().
 * Results go to a done list and the loop is woken with event_active()
 * (evthread_use_pthreads() makes that safe); the callbacks run on the loop.
 * Passwords live only in the request and are wiped with explicit_bzero() before
 * it is freed; nothing here logs them. Callers add the failure delay
 * (auth_throttle).
 */
#include "mailstore/auth_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/password.h"
#include "lib/xalloc.h"
#include "mailstore/directory.h"

struct auth_request {
	struct auth_request *next;
	struct auth_request *dprev, *dnext; /* delayed list */
	struct auth_pool *pool;
	struct event *timer;
	char *login;
	char *password;
	char *canonical;
	int result;
	auth_pool_cb *cb;
	void *context;
};

struct auth_pool {
	pthread_t threads[AUTH_POOL_WORKERS];
	size_t thread_count;
	struct directory *dirs[AUTH_POOL_WORKERS];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct auth_request *queue, **queue_tail;
	struct auth_request *done, **done_tail;
	struct event *done_event;
	struct auth_request *delayed; /* waiting for their timer (loop) */
	struct event_base *base;
	bool stop;
	size_t next_worker;
};

struct worker_arg {
	struct auth_pool *pool;
	struct directory *dir;
};

static void
request_free(struct auth_request *r)
{
	if (r->password != NULL) {
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
	if (r->timer != NULL)
		event_free(r->timer);
	free(r->login);
	free(r->canonical);
	free(r);
}

static void
request_run(struct directory *dir, struct auth_request *r)
{
	char *canonical = NULL, *hash = NULL;
	int ret;

	ret = directory_user_credentials(dir, r->login, &canonical, &hash);
	if (ret < 0) {
		r->result = -1;
	} else if (ret == 0) {
		/* Spend the same time as a real check: no user probing. */
		(void)password_verify(
		    "$argon2id$v=19$m=65536,t=2,p=1$"
		    "c29tZXNhbHRzb21lc2FsdA$"
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		    r->password);
		r->result = 0;
	} else if (password_verify(hash, r->password)) {
		r->result = 1;
		r->canonical = canonical;
		canonical = NULL;
	} else {
		r->result = 0;
	}
	free(canonical);
	free(hash);
	explicit_bzero(r->password, strlen(r->password));
}

static void *
worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	struct auth_pool *p = wa->pool;
	struct directory *dir = wa->dir;
	struct auth_request *r;

	free(wa);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->queue == NULL && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop)
			break;
		r = p->queue;
		p->queue = r->next;
		if (p->queue == NULL)
			p->queue_tail = &p->queue;
		r->next = NULL;
		pthread_mutex_unlock(&p->lock);

		request_run(dir, r);

		pthread_mutex_lock(&p->lock);
		*p->done_tail = r;
		p->done_tail = &r->next;
		event_active(p->done_event, EV_READ, 0);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void
auth_done(evutil_socket_t fd, short what, void *arg)
{
	struct auth_pool *p = arg;
	struct auth_request *list, *next;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&p->lock);
	list = p->done;
	p->done = NULL;
	p->done_tail = &p->done;
	pthread_mutex_unlock(&p->lock);
	for (; list != NULL; list = next) {
		next = list->next;
		list->cb(list->result, list->canonical, list->context);
		request_free(list);
	}
}

struct auth_pool *
auth_pool_new(struct event_base *base, const char *data_dir, char **error_r)
{
	struct auth_pool *p = xcalloc(1, sizeof(*p));
	size_t i;

	p->queue_tail = &p->queue;
	p->done_tail = &p->done;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->base = base;
	p->done_event = event_new(base, -1, 0, auth_done, p);
	for (i = 0; i < AUTH_POOL_WORKERS; i++) {
		struct worker_arg *wa;

		if (directory_open(data_dir, &p->dirs[i], error_r) < 0) {
			auth_pool_free(&p);
			return NULL;
		}
		wa = xmalloc(sizeof(*wa));
		wa->pool = p;
		wa->dir = p->dirs[i];
		if (pthread_create(&p->threads[i], NULL, worker_main, wa) !=
		    0) {
			free(wa);
			*error_r = xstrdup("cannot start auth worker thread");
			auth_pool_free(&p);
			return NULL;
		}
		p->thread_count++;
	}
	return p;
}

void
auth_pool_free(struct auth_pool **pool)
{
	struct auth_pool *p = *pool;
	struct auth_request *r, *next;
	size_t i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->thread_count; i++)
		pthread_join(p->threads[i], NULL);
	for (i = 0; i < AUTH_POOL_WORKERS; i++) {
		if (p->dirs[i] != NULL)
			directory_close(&p->dirs[i]);
	}
	for (r = p->delayed; r != NULL; r = next) {
		next = r->dnext;
		request_free(r);
	}
	for (r = p->queue; r != NULL; r = next) {
		next = r->next;
		request_free(r);
	}
	for (r = p->done; r != NULL; r = next) {
		next = r->next;
		request_free(r);
	}
	if (p->done_event != NULL)
		event_free(p->done_event);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
	*pool = NULL;
}

static void
request_enqueue(struct auth_pool *p, struct auth_request *r)
{
	pthread_mutex_lock(&p->lock);
	*p->queue_tail = r;
	p->queue_tail = &r->next;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void
delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct auth_request *r = arg;
	struct auth_pool *p = r->pool;

	(void)fd;
	(void)what;
	if (r->dprev != NULL)
		r->dprev->dnext = r->dnext;
	else
		p->delayed = r->dnext;
	if (r->dnext != NULL)
		r->dnext->dprev = r->dprev;
	r->dprev = r->dnext = NULL;
	request_enqueue(p, r);
}

void
auth_pool_verify(struct auth_pool *p, const char *login, const char *password,
		 unsigned int delay_ms, auth_pool_cb *cb, void *context)
{
	struct auth_request *r = xcalloc(1, sizeof(*r));

	r->pool = p;
	r->login = xstrdup(login);
	r->password = xstrdup(password);
	r->cb = cb;
	r->context = context;
	if (delay_ms > 0) {
		struct timeval tv = {(time_t)(delay_ms / 1000),
				     (suseconds_t)(delay_ms % 1000) * 1000};

		r->timer = evtimer_new(p->base, delay_done, r);
		r->dnext = p->delayed;
		if (p->delayed != NULL)
			p->delayed->dprev = r;
		p->delayed = r;
		evtimer_add(r->timer, &tv);
		return;
	}
	request_enqueue(p, r);
}
