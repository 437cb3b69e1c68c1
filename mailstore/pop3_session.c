/*
 * pop3_session: the POP3 state machine of one connection (RFC 1939 with
 * CAPA, RESP-CODES and AUTH-RESP-CODE of RFC 2449, STLS of RFC 2595, AUTH
 * PLAIN/LOGIN of RFC 5034), on pop3_server's event loop.
 *
 * States: AUTHORIZATION (USER/PASS, AUTH, STLS, CAPA), the SASL
 * continuation states, WAIT (a password check or its failure delay in
 * flight), TRANSACTION (the maildrop is locked and listed), STREAM (a
 * multi-line answer is being produced: RETR, TOP, LIST, UIDL) and CLOSING.
 *
 * Invariants:
 * - Input is processed in order, one command at a time. Nothing is read
 *   as a command while a check is in flight, while a multi-line answer is
 *   being streamed, or while more than POP3_OUTPUT_MAX bytes wait to be
 *   sent: a client that stops reading stops being served, its input
 *   backs up to the socket, and the write timeout drops it.
 * - Message files are streamed in POP3_STREAM_CHUNK pieces as the output
 *   drains (through pop3_dot: CRLF line ends, dot-stuffing), never read
 *   whole. With STLS the underlying socket's write high-water mark keeps
 *   the TLS filter from moving more than a chunk ahead.
 * - The maildrop is the INBOX as listed at login; message numbers never
 *   change during the session. DELE only marks; the marked messages are
 *   expunged from the store at QUIT (UPDATE state), and only there: a
 *   dropped connection, a timeout or a shutdown deletes nothing.
 * - One session per user at a time (RFC 1939's maildrop lock): a second
 *   login gets "-ERR [IN-USE]" after its password was checked.
 * - Passwords never reach the log and are wiped from stack buffers; USER/
 *   PASS and AUTH are refused before TLS unless the peer is on loopback and
 *   pop3.allow_plaintext_loopback is set ("-ERR [AUTH]", CAPA then lists
 *   neither USER nor SASL). Failures are delayed by auth_throttle.
 * - A session with a password check in flight is not freed when the
 *   client goes away; it is marked dead and freed by the callback.
 */
#include "mailstore/pop3_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lib/log.h"
#include "lib/net_conn.h"
#include "lib/netaddr.h"
#include "lib/xalloc.h"
#include "mailstore/auth_pool.h"
#include "mailstore/auth_throttle.h"
#include "mailstore/pop3_command.h"
#include "mailstore/sasl.h"
#include "mailstore/store.h"

#define POP3_OUTPUT_MAX	  (128 * 1024)
#define POP3_STREAM_CHUNK (64 * 1024)
#define POP3_READ_CHUNK	  (16 * 1024)
#define POP3_INPUT_HIGH	  (16 * 1024)
#define POP3_MAX_ERRORS	  10
#define POP3_MAILBOX	  "INBOX"
#define POP3_UIDL_LEN	  16

enum pop3_state {
	POP3_AUTHORIZATION,
	POP3_AUTH_PLAIN, /* waiting for the PLAIN response line */
	POP3_AUTH_LOGIN_USER,
	POP3_AUTH_LOGIN_PASS,
	POP3_WAIT, /* password check or failure delay in flight */
	POP3_TRANSACTION,
	POP3_STREAM,
	POP3_CLOSING,
};

enum pop3_stream_kind {
	STREAM_FILE, /* RETR, TOP */
	STREAM_LIST,
	STREAM_UIDL,
};

struct pop3_message {
	uint32_t uid;
	uint64_t size;
	char *path;
	bool deleted;
};

struct pop3_session {
	struct pop3_session *prev, *next;
	struct pop3_server *server;
	struct bufferevent *bev;
	enum pop3_state state;
	char id[24];
	char ip[64];
	bool tls, loopback, dead, async_pending, skip_line, have_user;
	/* USER name or SASL LOGIN user, until the check is answered */
	char login[SASL_FIELD_MAX + 1];
	const char *method; /* "user", "plain", "login" */
	struct event *delay_timer;
	struct event *close_timer;
	unsigned int close_polls;
	unsigned long commands, errors, retrieved, deleted_total;

	/* TRANSACTION: the locked maildrop */
	char *user; /* canonical address */
	uint32_t uidvalidity;
	struct pop3_message *msgs;
	size_t nmsgs;

	/* STREAM */
	enum pop3_stream_kind stream_kind;
	int fd;
	size_t cursor;
	struct pop3_dot dot;
};

static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_write_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void session_process(struct pop3_session *s);

/* ------------------------------------------------------------------ */
/* replies and life cycle */

static void __attribute__((format(printf, 2, 3)))
reply(struct pop3_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

static void
maildrop_free(struct pop3_session *s)
{
	for (size_t i = 0; i < s->nmsgs; i++)
		free(s->msgs[i].path);
	x_free(&s->msgs);
	s->nmsgs = 0;
	x_free(&s->user);
}

static void
session_free(struct pop3_session *s)
{
	struct pop3_server *srv = s->server;

	log_info("session=%s event=disconnect ip=%s user=%s commands=%lu "
		 "retrieved=%lu deleted=%lu errors=%lu",
		 s->id, s->ip, s->user != NULL ? s->user : "-", s->commands,
		 s->retrieved, s->deleted_total, s->errors);
	if (s->fd >= 0)
		close(s->fd);
	maildrop_free(s);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	srv->session_count--;
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (s->delay_timer != NULL)
		event_free(s->delay_timer);
	if (s->close_timer != NULL)
		event_free(s->close_timer);
	explicit_bzero(s->login, sizeof(s->login));
	free(s);
	if (srv->stopping && srv->session_count == 0)
		event_base_loopexit(srv->base, NULL);
}

/* The client is gone (or we drop it): free now, or when the pending
 * password check comes back (a failure delay does not count: its timer is
 * freed with the session). The maildrop lock goes at once. */
static void
session_kill(struct pop3_session *s)
{
	if (s->async_pending) {
		s->dead = true;
		maildrop_free(s);
		if (s->close_timer != NULL)
			evtimer_del(s->close_timer);
		if (s->bev != NULL) {
			bufferevent_free(s->bev);
			s->bev = NULL;
		}
		return;
	}
	session_free(s);
}

static const struct timeval close_tv = {10, 0};
static const struct timeval close_poll_tv = {0, 20000};

static void
close_poll(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_session *s = arg;

	(void)fd;
	(void)what;
	if (net_conn_output_pending(s->bev) == 0 || ++s->close_polls > 500) {
		session_kill(s);
		return;
	}
	evtimer_add(s->close_timer, &close_poll_tv);
}

/* Sends what is queued, then frees the session (see smtp_session.c: a TLS
 * filter hides when its output really left, hence the short poll). */
static void
close_after_flush(struct pop3_session *s)
{
	s->state = POP3_CLOSING;
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	bufferevent_disable(s->bev, EV_READ);
	if (net_conn_output_pending(s->bev) == 0) {
		session_kill(s);
		return;
	}
	bufferevent_setcb(s->bev, NULL, session_write_cb, session_event_cb, s);
	bufferevent_set_timeouts(s->bev, NULL, &close_tv);
	if (bufferevent_get_underlying(s->bev) != NULL) {
		s->close_timer = evtimer_new(s->server->base, close_poll, s);
		evtimer_add(s->close_timer, &close_poll_tv);
	}
}

static void
abort_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	session_kill(arg);
}

/* Ends the connection from the loop, not from inside the caller's stack
 * (which may still use s): for failures in the middle of an answer. */
static void
session_abort(struct pop3_session *s)
{
	static const struct timeval now = {0, 0};

	s->state = POP3_CLOSING;
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	if (s->close_timer == NULL)
		s->close_timer = evtimer_new(s->server->base, abort_cb, s);
	else
		evtimer_assign(s->close_timer, s->server->base, abort_cb, s);
	evtimer_add(s->close_timer, &now);
}

/* Read timeout: login_timeout, then idle_timeout; none while an answer is
 * streamed (the client is busy reading, not writing). Write timeout: the
 * same, so a client that stops reading is dropped. */
static void
set_timeout(struct pop3_session *s)
{
	const struct pop3_settings *set = s->server->set;
	struct timeval tv = {
	    (time_t)(s->user != NULL ? set->idle_timeout : set->login_timeout),
	    0};

	bufferevent_set_timeouts(s->bev, s->state == POP3_STREAM ? NULL : &tv,
				 &tv);
}

/* Counts an error; true when the session was closed for too many. */
static bool
session_error(struct pop3_session *s)
{
	if (++s->errors >= POP3_MAX_ERRORS) {
		log_info("session=%s event=limit limit=max_errors ip=%s", s->id,
			 s->ip);
		reply(s, "-ERR Too many errors, closing");
		close_after_flush(s);
		return true;
	}
	return false;
}

static bool
plaintext_allowed(const struct pop3_session *s)
{
	return s->tls ||
	       (s->loopback && s->server->set->allow_plaintext_loopback);
}

/* ------------------------------------------------------------------ */
/* the maildrop */

static bool
user_locked(const struct pop3_server *srv, const char *user)
{
	for (const struct pop3_session *o = srv->sessions; o != NULL;
	     o = o->next)
		if (!o->dead && o->user != NULL &&
		    strcasecmp(o->user, user) == 0)
			return true;
	return false;
}

/* Lists INBOX into the session. 0 or -1 (logged). */
static int
maildrop_open(struct pop3_session *s, const char *user)
{
	struct store *store = s->server->store;
	struct store_mailbox_info info;
	struct store_message_info *list = NULL;
	size_t count = 0;
	char *error = NULL;
	int ret;

	memset(&info, 0, sizeof(info));
	ret = store_mailbox_get(store, user, POP3_MAILBOX, &info, &error);
	if (ret < 0) {
		log_errorx("session=%s event=maildrop_failed user=%s "
			   "error=\"%s\"",
			   s->id, user, error);
		free(error);
		return -1;
	}
	s->uidvalidity = ret == 1 ? info.uidvalidity : 0;
	if (ret == 1)
		store_mailbox_info_clear(&info);
	if (ret == 1 &&
	    store_list(store, user, POP3_MAILBOX, &list, &count, &error) < 0) {
		log_errorx("session=%s event=maildrop_failed user=%s "
			   "error=\"%s\"",
			   s->id, user, error);
		free(error);
		return -1;
	}
	s->msgs = count > 0 ? xcalloc(count, sizeof(*s->msgs)) : NULL;
	for (size_t i = 0; i < count; i++) {
		s->msgs[i].uid = list[i].uid;
		s->msgs[i].size = list[i].size;
		s->msgs[i].path = list[i].path;
		list[i].path = NULL;
	}
	s->nmsgs = count;
	store_message_info_free(list, count);
	s->user = xstrdup(user);
	return 0;
}

static void
maildrop_totals(const struct pop3_session *s, size_t *count_r, uint64_t *size_r)
{
	size_t n = 0;
	uint64_t size = 0;

	for (size_t i = 0; i < s->nmsgs; i++) {
		if (!s->msgs[i].deleted) {
			n++;
			size += s->msgs[i].size;
		}
	}
	*count_r = n;
	*size_r = size;
}

/* The message numbered msg, or NULL ("-ERR" sent) when there is none or it
 * is marked deleted. */
static struct pop3_message *
message_get(struct pop3_session *s, uint32_t msg)
{
	if (msg == 0 || msg > s->nmsgs) {
		reply(s, "-ERR No such message");
		return NULL;
	}
	if (s->msgs[msg - 1].deleted) {
		reply(s, "-ERR Message %u already deleted", msg);
		return NULL;
	}
	return &s->msgs[msg - 1];
}

static void
uidl_of(const struct pop3_session *s, const struct pop3_message *m,
	char out[POP3_UIDL_LEN + 1])
{
	/* Dovecot's default pop3_uidl_format %08Xu%08Xv: the IMAP UID and
	 * UIDVALIDITY, stable across sessions and across the protocols. */
	snprintf(out, POP3_UIDL_LEN + 1, "%08X%08X", m->uid, s->uidvalidity);
}

/* QUIT in TRANSACTION: the UPDATE state. */
static void
maildrop_update(struct pop3_session *s)
{
	uint32_t *uids = NULL, *expunged = NULL;
	size_t n = 0, nexpunged = 0, left, i;
	uint64_t size;
	char *error = NULL;

	for (i = 0; i < s->nmsgs; i++)
		if (s->msgs[i].deleted)
			n++;
	maildrop_totals(s, &left, &size);
	if (n == 0) {
		reply(s, "+OK Logging out (%zu messages left)", left);
		return;
	}
	uids = xcalloc(n, sizeof(*uids));
	n = 0;
	for (i = 0; i < s->nmsgs; i++)
		if (s->msgs[i].deleted)
			uids[n++] = s->msgs[i].uid;
	if (store_expunge(s->server->store, s->user, POP3_MAILBOX, uids, n,
			  false, &expunged, &nexpunged, &error) < 0) {
		log_errorx("session=%s event=update_failed user=%s "
			   "error=\"%s\"",
			   s->id, s->user, error);
		free(error);
		reply(s, "-ERR [SYS/TEMP] Some deleted messages not removed");
	} else {
		log_info("session=%s event=update user=%s deleted=%zu", s->id,
			 s->user, nexpunged);
		s->deleted_total = nexpunged;
		reply(s, "+OK Logging out (%zu messages left)", left);
	}
	free(expunged);
	free(uids);
}

/* ------------------------------------------------------------------ */
/* multi-line answers, streamed as the output drains */

static void
stream_end(struct pop3_session *s)
{
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	s->state = POP3_TRANSACTION;
	set_timeout(s);
}

/* Produces output until a chunk is queued or the answer is complete. */
static void
stream_fill(struct pop3_session *s)
{
	static char in[POP3_READ_CHUNK];
	static char out[2 * POP3_READ_CHUNK + 8];
	struct evbuffer *ob = bufferevent_get_output(s->bev);

	while (s->state == POP3_STREAM &&
	       evbuffer_get_length(ob) < POP3_STREAM_CHUNK) {
		if (s->stream_kind == STREAM_FILE) {
			ssize_t n = 0;
			size_t o;

			if (!s->dot.done)
				n = read(s->fd, in, sizeof(in));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				/* mid-answer: the only honest end is to
				 * drop the connection */
				log_error("session=%s event=read_failed "
					  "user=%s",
					  s->id, s->user);
				session_abort(s);
				return;
			}
			if (n == 0) {
				o = pop3_dot_finish(&s->dot, out);
				evbuffer_add(ob, out, o);
				stream_end(s);
				return;
			}
			o = pop3_dot_feed(&s->dot, in, (size_t)n, out);
			evbuffer_add(ob, out, o);
			continue;
		}
		if (s->cursor >= s->nmsgs) {
			evbuffer_add(ob, ".\r\n", 3);
			stream_end(s);
			return;
		}
		if (!s->msgs[s->cursor].deleted) {
			const struct pop3_message *m = &s->msgs[s->cursor];

			if (s->stream_kind == STREAM_LIST) {
				evbuffer_add_printf(
				    ob, "%zu %llu\r\n", s->cursor + 1,
				    (unsigned long long)m->size);
			} else {
				char uidl[POP3_UIDL_LEN + 1];

				uidl_of(s, m, uidl);
				evbuffer_add_printf(ob, "%zu %s\r\n",
						    s->cursor + 1, uidl);
			}
		}
		s->cursor++;
	}
}

static void
stream_start_listing(struct pop3_session *s, enum pop3_stream_kind kind)
{
	size_t n;
	uint64_t size;

	maildrop_totals(s, &n, &size);
	if (kind == STREAM_LIST)
		reply(s, "+OK %zu messages (%llu octets)", n,
		      (unsigned long long)size);
	else
		reply(s, "+OK Unique-ID listing follows");
	s->stream_kind = kind;
	s->cursor = 0;
	s->state = POP3_STREAM;
	set_timeout(s);
	stream_fill(s);
}

static void
stream_start_file(struct pop3_session *s, struct pop3_message *m, long lines)
{
	s->fd = open(m->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (s->fd < 0) {
		/* expunged by IMAP meanwhile, or the store is broken */
		log_warn("session=%s event=open_failed user=%s uid=%u", s->id,
			 s->user, m->uid);
		reply(s, "-ERR [SYS/TEMP] Message is no longer available");
		return;
	}
	if (lines < 0) {
		reply(s, "+OK %llu octets", (unsigned long long)m->size);
		s->retrieved++;
	} else {
		reply(s, "+OK Top of message follows");
	}
	pop3_dot_init(&s->dot, lines);
	s->stream_kind = STREAM_FILE;
	s->state = POP3_STREAM;
	set_timeout(s);
	stream_fill(s);
}

/* ------------------------------------------------------------------ */
/* authentication */

static void auth_result(int result, const char *canonical, void *context);

static void
auth_start(struct pop3_session *s, const char *login, const char *password,
	   const char *method)
{
	struct pop3_server *srv = s->server;

	s->state = POP3_WAIT;
	s->async_pending = true;
	s->method = method;
	snprintf(s->login, sizeof(s->login), "%s", login);
	auth_pool_verify(
	    srv->auth, login, password,
	    auth_throttle_wait_ms(srv->throttle, s->ip, auth_throttle_now_ms()),
	    auth_result, s);
}

static void
auth_fail_reply(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_session *s = arg;

	(void)fd;
	(void)what;
	reply(s, "-ERR [AUTH] Authentication failed");
	s->state = POP3_AUTHORIZATION;
	if (session_error(s))
		return;
	session_process(s);
}

static void
auth_result(int result, const char *canonical, void *context)
{
	struct pop3_session *s = context;
	struct pop3_server *srv = s->server;
	char safe[128];

	s->async_pending = false;
	s->have_user = false;
	log_sanitize(s->login, strlen(s->login), safe, sizeof(safe));
	explicit_bzero(s->login, sizeof(s->login));
	if (result == 0) {
		unsigned int ms = auth_throttle_failure(srv->throttle, s->ip,
							auth_throttle_now_ms());
		struct timeval tv = {(time_t)(ms / 1000),
				     (suseconds_t)(ms % 1000) * 1000};

		log_info("session=%s event=auth result=fail method=%s user=%s "
			 "ip=%s delay_ms=%u",
			 s->id, s->method, safe, s->ip, ms);
		if (s->dead) {
			session_free(s);
			return;
		}
		/* stays in POP3_WAIT until the timer */
		if (s->delay_timer == NULL)
			s->delay_timer =
			    evtimer_new(srv->base, auth_fail_reply, s);
		evtimer_add(s->delay_timer, &tv);
		return;
	}
	if (s->dead) {
		session_free(s);
		return;
	}
	s->state = POP3_AUTHORIZATION;
	if (result > 0)
		auth_throttle_success(srv->throttle, s->ip);
	if (result < 0) {
		log_info("session=%s event=auth result=error user=%s", s->id,
			 safe);
		reply(s, "-ERR [SYS/TEMP] Temporary authentication failure");
	} else if (user_locked(srv, canonical)) {
		log_info("session=%s event=auth result=in_use user=%s ip=%s",
			 s->id, canonical, s->ip);
		reply(s, "-ERR [IN-USE] Mailbox is locked by another POP3 "
			 "session");
	} else if (maildrop_open(s, canonical) < 0) {
		reply(s, "-ERR [SYS/TEMP] Cannot open the mailbox, try later");
	} else {
		size_t n;
		uint64_t size;

		maildrop_totals(s, &n, &size);
		log_info("session=%s event=login user=%s ip=%s method=%s "
			 "tls=%s messages=%zu",
			 s->id, s->user, s->ip, s->method,
			 s->tls ? "yes" : "no", n);
		reply(s, "+OK Logged in, %zu messages (%llu octets)", n,
		      (unsigned long long)size);
		s->state = POP3_TRANSACTION;
		set_timeout(s);
	}
	session_process(s);
}

/* PLAIN response (initial or continuation). */
static void
auth_plain_response(struct pop3_session *s, const char *b64)
{
	char login[SASL_FIELD_MAX + 1], pass[SASL_FIELD_MAX + 1];

	s->state = POP3_AUTHORIZATION;
	if (sasl_plain_decode(b64, login, pass) < 0) {
		reply(s, "-ERR Cannot decode the PLAIN response");
		(void)session_error(s);
		return;
	}
	auth_start(s, login, pass, "plain");
	explicit_bzero(pass, sizeof(pass));
}

static void
cmd_auth(struct pop3_session *s, const struct pop3_command *cmd)
{
	const char *mech = cmd->arg, *init = cmd->arg2;

	if (mech[0] == '\0') {
		/* the pre-RFC 5034 listing some clients still ask for */
		if (plaintext_allowed(s))
			reply(s, "+OK\r\nPLAIN\r\nLOGIN\r\n.");
		else
			reply(s, "+OK\r\n.");
		return;
	}
	if (!plaintext_allowed(s)) {
		reply(s, "-ERR [AUTH] Plaintext authentication disallowed "
			 "on non-secure connections, use STLS");
		(void)session_error(s);
		return;
	}
	if (strcmp(mech, "PLAIN") == 0) {
		if (init[0] == '\0') {
			s->state = POP3_AUTH_PLAIN;
			reply(s, "+ ");
			return;
		}
		auth_plain_response(s, strcmp(init, "=") == 0 ? "" : init);
		return;
	}
	if (strcmp(mech, "LOGIN") == 0) {
		if (init[0] != '\0' && strcmp(init, "=") != 0) {
			if (sasl_login_decode(init, strlen(init), s->login) <
			    0) {
				reply(s, "-ERR Cannot decode the response");
				(void)session_error(s);
				return;
			}
			s->state = POP3_AUTH_LOGIN_PASS;
			reply(s, "+ " SASL_LOGIN_PASS_CHALLENGE);
			return;
		}
		s->state = POP3_AUTH_LOGIN_USER;
		reply(s, "+ " SASL_LOGIN_USER_CHALLENGE);
		return;
	}
	reply(s, "-ERR Unsupported authentication mechanism");
	(void)session_error(s);
}

/* A line while in a SASL continuation state. */
static void
auth_line(struct pop3_session *s, const char *line, size_t len)
{
	char pass[SASL_FIELD_MAX + 1];
	char login[SASL_FIELD_MAX + 1];
	enum pop3_state st = s->state;

	s->state = POP3_AUTHORIZATION;
	if (len == 1 && line[0] == '*') {
		explicit_bzero(s->login, sizeof(s->login));
		reply(s, "-ERR Authentication aborted");
		(void)session_error(s);
		return;
	}
	if (memchr(line, '\0', len) != NULL) {
		reply(s, "-ERR Cannot decode the response");
		(void)session_error(s);
		return;
	}
	switch (st) {
	case POP3_AUTH_PLAIN:
		auth_plain_response(s, line);
		return;
	case POP3_AUTH_LOGIN_USER:
		if (sasl_login_decode(line, len, s->login) < 0) {
			reply(s, "-ERR Cannot decode the response");
			(void)session_error(s);
			return;
		}
		s->state = POP3_AUTH_LOGIN_PASS;
		reply(s, "+ " SASL_LOGIN_PASS_CHALLENGE);
		return;
	case POP3_AUTH_LOGIN_PASS:
		if (sasl_login_decode(line, len, pass) < 0) {
			explicit_bzero(s->login, sizeof(s->login));
			reply(s, "-ERR Cannot decode the response");
			(void)session_error(s);
			return;
		}
		memcpy(login, s->login, sizeof(login));
		auth_start(s, login, pass, "login");
		explicit_bzero(pass, sizeof(pass));
		return;
	default:
		return;
	}
}

/* ------------------------------------------------------------------ */
/* commands */

static void
cmd_capa(struct pop3_session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	evbuffer_add_printf(out, "+OK Capability list follows\r\n"
				 "TOP\r\nUIDL\r\nRESP-CODES\r\n"
				 "AUTH-RESP-CODE\r\nPIPELINING\r\n");
	if (s->user == NULL && plaintext_allowed(s))
		evbuffer_add_printf(out, "USER\r\nSASL PLAIN LOGIN\r\n");
	if (s->user == NULL && !s->tls && s->server->set->tls_ctx != NULL)
		evbuffer_add_printf(out, "STLS\r\n");
	evbuffer_add_printf(out, "IMPLEMENTATION Moat\r\n.\r\n");
}

static void
cmd_stls(struct pop3_session *s)
{
	struct pop3_server *srv = s->server;
	struct bufferevent *tls_bev;
	SSL *ssl;

	if (s->tls) {
		reply(s, "-ERR Command not permitted when TLS active");
		(void)session_error(s);
		return;
	}
	if (srv->set->tls_ctx == NULL ||
	    (ssl = SSL_new(srv->set->tls_ctx)) == NULL) {
		reply(s, "-ERR [SYS/TEMP] TLS not available");
		return;
	}
	reply(s, "+OK Begin TLS negotiation");
	tls_bev = net_conn_starttls(srv->base, s->bev, ssl, s->id, "stls");
	if (tls_bev == NULL) {
		close_after_flush(s);
		return;
	}
	/* the filter moves at most a chunk ahead into the socket's buffer */
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, POP3_STREAM_CHUNK);
	s->bev = tls_bev;
	s->tls = true;
	s->have_user = false;
	explicit_bzero(s->login, sizeof(s->login));
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
			  session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, POP3_INPUT_HIGH);
	bufferevent_setwatermark(s->bev, EV_WRITE, POP3_STREAM_CHUNK / 2, 0);
	set_timeout(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	log_info("session=%s event=stls", s->id);
}

static void
command_authorization(struct pop3_session *s, const struct pop3_command *cmd)
{
	switch (cmd->verb) {
	case POP3_VERB_CAPA:
		cmd_capa(s);
		return;
	case POP3_VERB_STLS:
		cmd_stls(s);
		return;
	case POP3_VERB_AUTH:
		s->have_user = false;
		cmd_auth(s, cmd);
		return;
	case POP3_VERB_USER:
		if (!plaintext_allowed(s)) {
			reply(s, "-ERR [AUTH] Plaintext authentication "
				 "disallowed on non-secure connections, use "
				 "STLS");
			(void)session_error(s);
			return;
		}
		snprintf(s->login, sizeof(s->login), "%s", cmd->arg);
		s->have_user = true;
		reply(s, "+OK");
		return;
	case POP3_VERB_PASS: {
		char login[SASL_FIELD_MAX + 1];

		if (!s->have_user) {
			reply(s, "-ERR USER first");
			(void)session_error(s);
			return;
		}
		if (strlen(cmd->arg) > SASL_FIELD_MAX) {
			s->have_user = false;
			reply(s, "-ERR [AUTH] Authentication failed");
			(void)session_error(s);
			return;
		}
		memcpy(login, s->login, sizeof(login));
		auth_start(s, login, cmd->arg, "user");
		return;
	}
	case POP3_VERB_QUIT:
		reply(s, "+OK Bye");
		close_after_flush(s);
		return;
	case POP3_VERB_NOOP:
	case POP3_VERB_STAT:
	case POP3_VERB_LIST:
	case POP3_VERB_RETR:
	case POP3_VERB_DELE:
	case POP3_VERB_RSET:
	case POP3_VERB_TOP:
	case POP3_VERB_UIDL:
		reply(s, "-ERR Not logged in");
		(void)session_error(s);
		return;
	case POP3_VERB_UNKNOWN:
		break;
	}
	reply(s, "-ERR Unknown command");
	(void)session_error(s);
}

static void
command_transaction(struct pop3_session *s, const struct pop3_command *cmd)
{
	struct pop3_message *m;
	size_t n;
	uint64_t size;

	switch (cmd->verb) {
	case POP3_VERB_STAT:
		maildrop_totals(s, &n, &size);
		reply(s, "+OK %zu %llu", n, (unsigned long long)size);
		return;
	case POP3_VERB_LIST:
		if (!cmd->has_msg) {
			stream_start_listing(s, STREAM_LIST);
			return;
		}
		if ((m = message_get(s, cmd->msg)) != NULL)
			reply(s, "+OK %u %llu", cmd->msg,
			      (unsigned long long)m->size);
		return;
	case POP3_VERB_UIDL:
		if (!cmd->has_msg) {
			stream_start_listing(s, STREAM_UIDL);
			return;
		}
		if ((m = message_get(s, cmd->msg)) != NULL) {
			char uidl[POP3_UIDL_LEN + 1];

			uidl_of(s, m, uidl);
			reply(s, "+OK %u %s", cmd->msg, uidl);
		}
		return;
	case POP3_VERB_RETR:
		if ((m = message_get(s, cmd->msg)) != NULL)
			stream_start_file(s, m, -1);
		return;
	case POP3_VERB_TOP:
		if ((m = message_get(s, cmd->msg)) != NULL)
			stream_start_file(s, m, (long)cmd->lines);
		return;
	case POP3_VERB_DELE:
		if ((m = message_get(s, cmd->msg)) != NULL) {
			m->deleted = true;
			reply(s, "+OK Message %u deleted", cmd->msg);
		}
		return;
	case POP3_VERB_RSET:
		for (size_t i = 0; i < s->nmsgs; i++)
			s->msgs[i].deleted = false;
		maildrop_totals(s, &n, &size);
		reply(s, "+OK %zu messages (%llu octets)", n,
		      (unsigned long long)size);
		return;
	case POP3_VERB_NOOP:
		reply(s, "+OK");
		return;
	case POP3_VERB_CAPA:
		cmd_capa(s);
		return;
	case POP3_VERB_QUIT:
		maildrop_update(s);
		close_after_flush(s);
		return;
	case POP3_VERB_USER:
	case POP3_VERB_PASS:
	case POP3_VERB_AUTH:
	case POP3_VERB_STLS:
		reply(s, "-ERR Already logged in");
		return;
	case POP3_VERB_UNKNOWN:
		break;
	}
	reply(s, "-ERR Unknown command");
}

/* One command line. */
static void
session_command(struct pop3_session *s, const char *line, size_t len)
{
	static struct pop3_command cmd;
	const char *error;

	s->commands++;
	if (pop3_command_parse(line, len, &cmd, &error) < 0) {
		char safe[16];

		/* the keyword only: a PASS line must not reach the log */
		log_sanitize(line, strcspn(line, " "), safe, sizeof(safe));
		log_debug("session=%s event=bad_command verb=%s error=\"%s\"",
			  s->id, safe, error);
		reply(s, "-ERR %s", error);
		(void)session_error(s);
		return;
	}
	log_debug("session=%s event=command verb=%s", s->id,
		  pop3_verb_name(cmd.verb));
	if (s->state == POP3_TRANSACTION)
		command_transaction(s, &cmd);
	else
		command_authorization(s, &cmd);
	if (cmd.verb == POP3_VERB_PASS || cmd.verb == POP3_VERB_AUTH)
		explicit_bzero(cmd.buf, sizeof(cmd.buf));
}

/* ------------------------------------------------------------------ */
/* input */

static bool
in_sasl(const struct pop3_session *s)
{
	return s->state == POP3_AUTH_PLAIN ||
	       s->state == POP3_AUTH_LOGIN_USER ||
	       s->state == POP3_AUTH_LOGIN_PASS;
}

/* One line. Returns false to stop processing. */
static bool
session_input_line(struct pop3_session *s, struct evbuffer *in)
{
	static char line[POP3_AUTH_LINE_MAX + 3];
	struct evbuffer_ptr eol;
	size_t n, eol_len = 0, avail = evbuffer_get_length(in);

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos < 0) {
		if (avail > POP3_AUTH_LINE_MAX + 2) {
			/* no LF within the limit: drop until the next LF */
			evbuffer_drain(in, avail);
			if (!s->skip_line) {
				s->skip_line = true;
				if (in_sasl(s))
					s->state = POP3_AUTHORIZATION;
				reply(s, "-ERR Line too long");
				if (session_error(s))
					return false;
			}
		}
		return false; /* need more */
	}
	n = (size_t)eol.pos;
	if (s->skip_line) {
		evbuffer_drain(in, n + 1);
		s->skip_line = false;
		return true;
	}
	if (n > POP3_AUTH_LINE_MAX + 1) {
		evbuffer_drain(in, n + 1);
		if (in_sasl(s))
			s->state = POP3_AUTHORIZATION;
		reply(s, "-ERR Line too long");
		return !session_error(s);
	}
	evbuffer_remove(in, line, n + 1);
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	if (in_sasl(s))
		auth_line(s, line, n);
	else
		session_command(s, line, n);
	explicit_bzero(line, n);
	return s->state != POP3_CLOSING;
}

static void
session_process(struct pop3_session *s)
{
	struct evbuffer *in;

	if (s->bev == NULL)
		return;
	in = bufferevent_get_input(s->bev);
	for (;;) {
		if (s->state == POP3_CLOSING || s->state == POP3_WAIT ||
		    s->state == POP3_STREAM)
			break;
		if (s->server->stopping) {
			reply(s, "-ERR [SYS/TEMP] Server shutting down");
			close_after_flush(s);
			break;
		}
		/* a client that does not read is not served further */
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) >
		    POP3_OUTPUT_MAX)
			break;
		if (evbuffer_get_length(in) == 0)
			break;
		if (!session_input_line(s, in))
			break;
	}
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_process(arg);
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
	struct pop3_session *s = arg;

	(void)bev;
	if (s->state == POP3_CLOSING) {
		if (net_conn_output_pending(s->bev) == 0)
			session_kill(s);
		return;
	}
	if (s->state == POP3_STREAM) {
		stream_fill(s);
		if (s->state == POP3_STREAM || s->bev == NULL)
			return;
	}
	session_process(s);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct pop3_session *s = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if ((what & BEV_EVENT_TIMEOUT) && s->state != POP3_CLOSING) {
		log_info("session=%s event=timeout ip=%s user=%s state=%d",
			 s->id, s->ip, s->user != NULL ? s->user : "-",
			 (int)s->state);
		if (s->state == POP3_STREAM || (what & BEV_EVENT_WRITING)) {
			/* the client stopped reading: no goodbye fits */
			session_kill(s);
			return;
		}
		reply(s, "-ERR Autologout; idle for too long");
		close_after_flush(s);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		net_conn_log_tls_errors(bev, s->id);
	session_kill(s);
}

/* ------------------------------------------------------------------ */
/* accept */

static size_t
sessions_from_ip(const struct pop3_server *srv, const char *ip)
{
	size_t n = 0;

	for (const struct pop3_session *s = srv->sessions; s != NULL;
	     s = s->next)
		if (!s->dead && strcmp(s->ip, ip) == 0)
			n++;
	return n;
}

int
pop3_session_new(struct pop3_server *srv, int fd, const struct sockaddr *peer,
		 bool implicit_tls)
{
	const struct pop3_settings *set = srv->set;
	struct pop3_session *s;
	struct bufferevent *bev;
	char ip[64];

	netaddr_ip(peer, ip, sizeof(ip));
	if ((set->max_connections > 0 &&
	     (long long)srv->session_count >= set->max_connections) ||
	    (set->max_connections_per_ip > 0 &&
	     (long long)sessions_from_ip(srv, ip) >=
		 set->max_connections_per_ip)) {
		log_info("event=limit limit=connections ip=%s connections=%zu",
			 ip, srv->session_count);
		net_conn_refuse(fd, implicit_tls ? NULL
						 : "-ERR [SYS/TEMP] Too many "
						   "connections\r\n");
		return 0;
	}
	if (implicit_tls && set->tls_ctx == NULL) {
		log_errorx("event=tls_unavailable ip=%s", ip);
		close(fd);
		return -1;
	}
	bev = net_conn_open(srv->base, fd, implicit_tls ? set->tls_ctx : NULL,
			    ip);
	if (bev == NULL)
		return -1;
	s = xcalloc(1, sizeof(*s));
	s->server = srv;
	s->bev = bev;
	s->tls = implicit_tls;
	s->fd = -1;
	s->state = POP3_AUTHORIZATION;
	s->loopback = netaddr_is_loopback(peer);
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	net_conn_session_id(s->id, sizeof(s->id), &srv->session_counter);
	s->next = srv->sessions;
	if (srv->sessions != NULL)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->session_count++;

	log_info("session=%s event=connect ip=%s port=%d listener=%s", s->id,
		 ip, netaddr_port(peer), implicit_tls ? "pop3s" : "pop3");
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
			  session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, POP3_INPUT_HIGH);
	bufferevent_setwatermark(s->bev, EV_WRITE, POP3_STREAM_CHUNK / 2, 0);
	set_timeout(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	reply(s, "+OK Moat POP3 server ready");
	return 0;
}

void
pop3_session_shutdown_all(struct pop3_server *srv)
{
	struct pop3_session *s, *next;

	srv->stopping = true;
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->dead || s->state == POP3_CLOSING)
			continue;
		if (s->state == POP3_STREAM || s->state == POP3_WAIT) {
			session_kill(s);
			continue;
		}
		reply(s, "-ERR [SYS/TEMP] Server shutting down");
		close_after_flush(s);
	}
	if (srv->session_count == 0)
		event_base_loopexit(srv->base, NULL);
}

void
pop3_session_free_all(struct pop3_server *srv)
{
	while (srv->sessions != NULL) {
		srv->sessions->async_pending = false;
		session_free(srv->sessions);
	}
}
