/*
 * smtp_auth: the password check behind AUTH PLAIN and AUTH LOGIN. A fixed
 * pool of SMTP_AUTH_WORKERS threads takes requests from one queue; each
 * worker owns its own struct directory (one SQLite connection per thread),
 * looks the login up and runs password_verify(). Results go to a done list
 * and the loop is woken with event_active() (evthread_use_pthreads() makes
 * that safe); the callbacks run on the loop. Passwords live only in the
 * request and are wiped with explicit_bzero() before it is freed; nothing
 * here logs them. Callers (smtp_session) add the 1-second failure delay.
 */
#include "gateway/smtp_auth.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/password.h"
#include "lib/xalloc.h"
#include "mailstore/directory.h"

struct auth_request {
	struct auth_request *next;
	char *login;
	char *password;
	char *canonical;
	int result;
	smtp_auth_cb *cb;
	void *context;
};

struct smtp_auth_pool {
	pthread_t threads[SMTP_AUTH_WORKERS];
	size_t thread_count;
	struct directory *dirs[SMTP_AUTH_WORKERS];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct auth_request *queue, **queue_tail;
	struct auth_request *done, **done_tail;
	struct event *done_event;
	bool stop;
	size_t next_worker;
};

struct worker_arg {
	struct smtp_auth_pool *pool;
	struct directory *dir;
};

static void
request_free(struct auth_request *r)
{
	if (r->password != NULL) {
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
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
	struct smtp_auth_pool *p = wa->pool;
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
	struct smtp_auth_pool *p = arg;
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

struct smtp_auth_pool *
smtp_auth_pool_new(struct event_base *base, const char *data_dir,
		   char **error_r)
{
	struct smtp_auth_pool *p = xcalloc(1, sizeof(*p));
	size_t i;

	p->queue_tail = &p->queue;
	p->done_tail = &p->done;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->done_event = event_new(base, -1, 0, auth_done, p);
	for (i = 0; i < SMTP_AUTH_WORKERS; i++) {
		struct worker_arg *wa;

		if (directory_open(data_dir, &p->dirs[i], error_r) < 0) {
			smtp_auth_pool_free(&p);
			return NULL;
		}
		wa = xmalloc(sizeof(*wa));
		wa->pool = p;
		wa->dir = p->dirs[i];
		if (pthread_create(&p->threads[i], NULL, worker_main, wa) !=
		    0) {
			free(wa);
			*error_r = xstrdup("cannot start auth worker thread");
			smtp_auth_pool_free(&p);
			return NULL;
		}
		p->thread_count++;
	}
	return p;
}

void
smtp_auth_pool_free(struct smtp_auth_pool **pool)
{
	struct smtp_auth_pool *p = *pool;
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
	for (i = 0; i < SMTP_AUTH_WORKERS; i++) {
		if (p->dirs[i] != NULL)
			directory_close(&p->dirs[i]);
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

void
smtp_auth_verify(struct smtp_auth_pool *p, const char *login,
		 const char *password, smtp_auth_cb *cb, void *context)
{
	struct auth_request *r = xcalloc(1, sizeof(*r));

	r->login = xstrdup(login);
	r->password = xstrdup(password);
	r->cb = cb;
	r->context = context;
	pthread_mutex_lock(&p->lock);
	*p->queue_tail = r;
	p->queue_tail = &r->next;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
smtp_auth_base64_decode(const char *in, size_t len, char *out, size_t outsz)
{
	size_t i, o = 0;
	int v[4], j, pad;

	if (len % 4 != 0 || outsz == 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		pad = 0;
		for (j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)in[i + (size_t)j];
			if (c == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
			} else if (pad > 0 || (v[j] = b64_value(c)) < 0) {
				return -1;
			}
		}
		if (o + 3 - (size_t)pad >= outsz)
			return -1;
		out[o++] = (char)((v[0] << 2) | (v[1] >> 4));
		if (pad < 2)
			out[o++] = (char)(((v[1] & 0xf) << 4) | (v[2] >> 2));
		if (pad < 1)
			out[o++] = (char)(((v[2] & 0x3) << 6) | v[3]);
	}
	out[o] = '\0';
	return (long)o;
}

int
smtp_auth_plain_decode(const char *b64, char *login, char *password)
{
	char buf[3 * SMTP_AUTH_FIELD_MAX + 8];
	const char *authz, *authc, *pass, *end;
	long n;
	size_t alen, plen;

	n = smtp_auth_base64_decode(b64, strlen(b64), buf, sizeof(buf));
	if (n < 0)
		return -1;
	end = buf + n;
	authz = buf;
	authc = memchr(authz, '\0', (size_t)(end - authz));
	if (authc == NULL || authc + 1 >= end)
		return -1;
	authc++;
	pass = memchr(authc, '\0', (size_t)(end - authc));
	if (pass == NULL)
		return -1;
	pass++;
	alen = strlen(authc);
	plen = (size_t)(end - pass);
	if (alen == 0 || alen > SMTP_AUTH_FIELD_MAX || plen == 0 ||
	    plen > SMTP_AUTH_FIELD_MAX || memchr(pass, '\0', plen) != NULL ||
	    (authz[0] != '\0' && strcasecmp(authz, authc) != 0)) {
		explicit_bzero(buf, sizeof(buf));
		return -1;
	}
	memcpy(login, authc, alen + 1);
	memcpy(password, pass, plen);
	password[plen] = '\0';
	explicit_bzero(buf, sizeof(buf));
	return 0;
}
