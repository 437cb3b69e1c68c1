/*
 * imap_session: one IMAP connection. Input is assembled into complete
 * commands first: a line, and when it ends with a literal announcement
 * {n} / {n+} / ~{n}, the literal's bytes and the line after it, until a
 * line ends without one (a synchronising literal gets "+ Ready" first).
 * The whole command is bounded by imap.max_command_size, except APPEND
 * whose limit is the APPENDLIMIT; a refused synchronising literal is never
 * sent by the client, a refused non-synchronising one closes the
 * connection (RFC 7888 4). The assembled command goes to imap_parser and
 * then to the command table below, which checks the state (not
 * authenticated / authenticated / selected).
 *
 * Commands run to completion on the loop, except: LOGIN/AUTHENTICATE
 * (the password check runs in auth_pool; a failure is answered after the
 * per-address penalty of auth_throttle), IDLE (waits for DONE while
 * notifications are pushed), and a large FETCH (suspended while the
 * client's unread output is above IMAP_OUTPUT_HIGH, resumed by the write
 * callback). A client that stops reading is dropped: by the write timeout
 * (imap.write_timeout without progress), or at once when its queued
 * output passes IMAP_OUTPUT_MAX.
 *
 * Before authentication only CAPABILITY, NOOP, LOGOUT, STARTTLS, ID,
 * LOGIN and AUTHENTICATE are accepted; LOGIN and AUTHENTICATE need TLS
 * (LOGINDISABLED is advertised without it) unless the client is on
 * loopback and imap.allow_plaintext_loopback is set.
 *
 * An idle session holds its struct (about 300 bytes), a bufferevent with
 * empty buffers and, over TLS, OpenSSL's connection state; the command
 * buffer is released after each large command.
 */
#include "mailstore/imap_private.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "lib/log.h"
#include "lib/net_conn.h"
#include "lib/netaddr.h"
#include "lib/pool.h"
#include "lib/xalloc.h"
#include "mailstore/auth_pool.h"
#include "mailstore/auth_throttle.h"
#include "mailstore/imap_utf7.h"
#include "mailstore/sasl.h"
#include "mailstore/store.h"

static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_write_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void session_process(struct imap_session *s);

/* ------------------------------------------------------------------ */
/* output */

void
imap_write(struct imap_session *s, const void *data, size_t len)
{
	if (s->bev != NULL)
		evbuffer_add(bufferevent_get_output(s->bev), data, len);
}

void
imap_printf(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	struct evbuffer *out;

	if (s->bev == NULL)
		return;
	out = bufferevent_get_output(s->bev);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

void
imap_tagged(struct imap_session *s, const char *tag, const char *status,
	    const char *fmt, ...)
{
	va_list ap;
	struct evbuffer *out;

	if (s->bev == NULL)
		return;
	out = bufferevent_get_output(s->bev);
	evbuffer_add_printf(out, "%s %s ", tag, status);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

size_t
imap_output_pending(struct imap_session *s)
{
	return net_conn_output_pending(s->bev);
}

void
imap_append_string(struct buf *out, const char *str, size_t len)
{
	bool quote = len < 1024;

	for (size_t i = 0; i < len && quote; i++) {
		unsigned char c = (unsigned char)str[i];
		if (c == '\r' || c == '\n' || c == '\0' || c >= 0x80)
			quote = false;
	}
	if (!quote) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, str, len);
		return;
	}
	buf_append_char(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (str[i] == '"' || str[i] == '\\')
			buf_append_char(out, '\\');
		buf_append_char(out, str[i]);
	}
	buf_append_char(out, '"');
}

void
imap_append_mailbox(struct imap_session *s, struct buf *out, const char *name)
{
	if (!s->utf8 && !s->rev2) {
		struct buf enc;

		buf_init(&enc);
		if (imap_utf7_encode(name, &enc) == 0) {
			imap_append_string(out, enc.data, enc.len);
			buf_free(&enc);
			return;
		}
		buf_free(&enc);
	}
	if (!imap_utf8_valid(name, strlen(name))) {
		imap_append_string(out, "", 0);
		return;
	}
	/* UTF-8 names go out quoted (RFC 9051 allows 8-bit quoted). */
	buf_append_char(out, '"');
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_append_char(out, '\\');
		buf_append_char(out, *p);
	}
	buf_append_char(out, '"');
}

char *
imap_mailbox_arg(struct imap_session *s, const struct imap_arg *arg,
		 const char **error_r)
{
	struct buf dec;
	const char *name;
	char *result;

	if (!imap_arg_is_string(arg)) {
		*error_r = "mailbox name expected";
		return NULL;
	}
	name = arg->str;
	if (strlen(name) != arg->len || arg->len == 0 || arg->len > 512) {
		*error_r = "invalid mailbox name";
		return NULL;
	}
	buf_init(&dec);
	/* rev1 clients send modified UTF-7; a name that is not valid
	 * mUTF-7 is taken as UTF-8 (what UTF8=ACCEPT clients send). */
	if (!s->rev2 && !s->utf8 && imap_utf7_decode(name, &dec) == 0)
		name = buf_cstr(&dec);
	if (!imap_utf8_valid(name, strlen(name))) {
		buf_free(&dec);
		*error_r = "mailbox name is not valid UTF-8";
		return NULL;
	}
	for (const char *p = name; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			buf_free(&dec);
			*error_r = "control character in mailbox name";
			return NULL;
		}
	}
	{
		/* no empty, "." or ".." levels, no leading or trailing '/' */
		const char *p = name;
		size_t len = strlen(name);

		if (name[0] == '/' || name[len - 1] == '/') {
			buf_free(&dec);
			*error_r = "invalid hierarchy in mailbox name";
			return NULL;
		}
		while (*p != '\0') {
			size_t n = strcspn(p, "/");
			if (n == 0 || (n == 1 && p[0] == '.') ||
			    (n == 2 && p[0] == '.' && p[1] == '.')) {
				buf_free(&dec);
				*error_r = "invalid hierarchy in mailbox name";
				return NULL;
			}
			p += n;
			if (*p == '/')
				p++;
		}
	}
	if (strncasecmp(name, "INBOX", 5) == 0 &&
	    (name[5] == '\0' || name[5] == '/'))
		result = xasprintf("INBOX%s", name + 5);
	else
		result = xstrdup(name);
	buf_free(&dec);
	return result;
}

/* ------------------------------------------------------------------ */
/* life cycle */

static void
session_set_read_timeout(struct imap_session *s)
{
	const struct imap_server_config *cfg = s->server->cfg;
	struct timeval rt = {(time_t)(s->state == IMAP_STATE_NOT_AUTH
					  ? cfg->login_timeout
					  : cfg->idle_timeout),
			     0};
	struct timeval wt = {(time_t)cfg->write_timeout, 0};

	if (s->bev != NULL)
		bufferevent_set_timeouts(s->bev, &rt, &wt);
}

static void
session_free(struct imap_session *s)
{
	struct imap_server *srv = s->server;

	log_info("session=%s event=disconnect ip=%s user=%s", s->id, s->ip,
		 s->user != NULL ? s->user : "-");
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	srv->session_count--;
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (s->timer != NULL)
		event_free(s->timer);
	imap_fetch_free(&s->fetch);
	imap_view_free(&s->view);
	buf_free(&s->cmd);
	free(s->searchres);
	free(s->user);
	free(s->tag);
	if (s->sasl_login != NULL) {
		explicit_bzero(s->sasl_login, strlen(s->sasl_login));
		free(s->sasl_login);
	}
	free(s);
	if (srv->stopping && srv->session_count == 0)
		event_base_loopexit(srv->base, NULL);
}

/* Gone: free now, or when the pending auth callback arrives. */
static void
session_kill(struct imap_session *s)
{
	if (s->async_pending) {
		s->dead = true;
		if (s->bev != NULL) {
			bufferevent_free(s->bev);
			s->bev = NULL;
		}
		if (s->timer != NULL)
			evtimer_del(s->timer);
		return;
	}
	session_free(s);
}

static void
close_poll(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session *s = arg;
	static const struct timeval poll_tv = {0, 20000};

	(void)fd;
	(void)what;
	if (imap_output_pending(s) == 0 || ++s->close_polls > 500) {
		session_kill(s);
		return;
	}
	evtimer_add(s->timer, &poll_tv);
}

/* Sends what is queued, then frees the session. */
static void
session_close_after_flush(struct imap_session *s)
{
	static const struct timeval poll_tv = {0, 20000};

	/* Never frees synchronously: callers may still hold s. */
	s->wait = IMAP_WAIT_CLOSING;
	if (s->bev != NULL)
		bufferevent_disable(s->bev, EV_READ);
	if (s->timer != NULL)
		event_free(s->timer);
	s->timer = evtimer_new(s->server->base, close_poll, s);
	evtimer_add(s->timer, &poll_tv);
}

static void
session_bad(struct imap_session *s, const char *tag, const char *why)
{
	char clean[128];

	imap_tagged(s, tag != NULL ? tag : "*", "BAD", "%s", why);
	log_debug("session=%s event=bad reason=\"%s\"", s->id,
		  log_sanitize(why, strlen(why), clean, sizeof(clean)));
	if (++s->bad_count >= IMAP_MAX_BAD) {
		imap_printf(s, "* BYE Too many errors");
		session_close_after_flush(s);
	}
}

/* ------------------------------------------------------------------ */
/* capabilities */

static bool
login_allowed(const struct imap_session *s)
{
	return s->tls ||
	       (s->loopback && s->server->cfg->allow_plaintext_loopback);
}

static void
append_capabilities(struct imap_session *s, struct buf *out)
{
	buf_append_str(out, "CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR "
			    "ID ENABLE IDLE NAMESPACE UNSELECT");
	if (s->state == IMAP_STATE_NOT_AUTH) {
		if (!s->tls && s->server->cfg->tls_ctx != NULL)
			buf_append_str(out, " STARTTLS");
		if (login_allowed(s))
			buf_append_str(out, " AUTH=PLAIN AUTH=LOGIN");
		else
			buf_append_str(out, " LOGINDISABLED");
		return;
	}
	buf_append_str(out, " UIDPLUS MOVE CHILDREN LIST-EXTENDED LIST-STATUS "
			    "SPECIAL-USE CONDSTORE QRESYNC ESEARCH SEARCHRES "
			    "STATUS=SIZE SAVEDATE UTF8=ACCEPT QUOTA SORT "
			    "SORT=DISPLAY THREAD=ORDEREDSUBJECT "
			    "THREAD=REFERENCES BINARY "
			    "QUOTA=RES-STORAGE MULTIAPPEND");
	buf_printf(out, " APPENDLIMIT=%llu",
		   (unsigned long long)s->server->cfg->max_message_size);
}

static void
cmd_capability(struct imap_session *s, const struct imap_command *cmd)
{
	struct buf out;

	buf_init(&out);
	append_capabilities(s, &out);
	imap_printf(s, "* %s", buf_cstr(&out));
	buf_free(&out);
	imap_tagged(s, cmd->tag, "OK", "CAPABILITY completed");
}

/* ------------------------------------------------------------------ */
/* simple commands */

static void
cmd_noop(struct imap_session *s, const struct imap_command *cmd)
{
	if (s->state == IMAP_STATE_SELECTED)
		imap_view_sync(s, true);
	imap_tagged(s, cmd->tag, "OK", "%s completed", cmd->name);
}

static void
cmd_logout(struct imap_session *s, const struct imap_command *cmd)
{
	imap_printf(s, "* BYE Logging out");
	imap_tagged(s, cmd->tag, "OK", "LOGOUT completed");
	s->state = IMAP_STATE_LOGOUT;
	session_close_after_flush(s);
}

static void
cmd_id(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->count != 1 || (cmd->args[0].type != IMAP_ARG_NIL &&
				cmd->args[0].type != IMAP_ARG_LIST)) {
		session_bad(s, cmd->tag, "Syntax: ID (params) or ID NIL");
		return;
	}
	imap_printf(s, "* ID (\"name\" \"Moat\")");
	imap_tagged(s, cmd->tag, "OK", "ID completed");
}

static void
cmd_enable(struct imap_session *s, const struct imap_command *cmd)
{
	struct buf out;

	if (cmd->count == 0) {
		session_bad(s, cmd->tag, "Syntax: ENABLE capability...");
		return;
	}
	buf_init(&out);
	buf_append_str(&out, "* ENABLED");
	for (size_t i = 0; i < cmd->count; i++) {
		const struct imap_arg *a = &cmd->args[i];

		if (a->type != IMAP_ARG_ATOM)
			continue;
		if (strcasecmp(a->str, "IMAP4rev2") == 0 && !s->rev2) {
			s->rev2 = true;
			buf_append_str(&out, " IMAP4rev2");
		} else if (strcasecmp(a->str, "UTF8=ACCEPT") == 0 && !s->utf8) {
			s->utf8 = true;
			buf_append_str(&out, " UTF8=ACCEPT");
		} else if (strcasecmp(a->str, "CONDSTORE") == 0 &&
			   !s->condstore) {
			s->condstore = true;
			buf_append_str(&out, " CONDSTORE");
		} else if (strcasecmp(a->str, "QRESYNC") == 0 && !s->qresync) {
			s->qresync = true;
			s->condstore = true;
			buf_append_str(&out, " QRESYNC");
		}
	}
	imap_printf(s, "%s", buf_cstr(&out));
	buf_free(&out);
	imap_tagged(s, cmd->tag, "OK", "ENABLE completed");
}

static void
cmd_starttls(struct imap_session *s, const struct imap_command *cmd)
{
	struct bufferevent *tls_bev;
	SSL *ssl;

	if (s->tls || s->server->cfg->tls_ctx == NULL) {
		session_bad(s, cmd->tag, "TLS already active or unavailable");
		return;
	}
	ssl = SSL_new(s->server->cfg->tls_ctx);
	if (ssl == NULL) {
		imap_tagged(s, cmd->tag, "NO",
			    "[UNAVAILABLE] TLS not "
			    "available");
		return;
	}
	imap_tagged(s, cmd->tag, "OK", "Begin TLS negotiation now");
	/* Nothing sent before the handshake may count (injection). */
	tls_bev =
	    net_conn_starttls(s->server->base, s->bev, ssl, s->id, "starttls");
	if (tls_bev == NULL) {
		session_close_after_flush(s);
		return;
	}
	s->bev = tls_bev;
	s->tls = true;
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
			  session_event_cb, s);
	session_set_read_timeout(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	log_info("session=%s event=starttls", s->id);
}

/* ------------------------------------------------------------------ */
/* authentication */

static void
auth_fail_timer(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session *s = arg;

	(void)fd;
	(void)what;
	s->async_pending = false;
	if (s->dead) {
		session_free(s);
		return;
	}
	imap_tagged(s, s->tag, "NO",
		    "[AUTHENTICATIONFAILED] Authentication failed");
	x_free(&s->tag);
	s->wait = IMAP_WAIT_NONE;
	session_process(s);
}

static void
auth_done(int result, const char *canonical, void *context)
{
	struct imap_session *s = context;
	struct imap_server *srv = s->server;

	if (s->dead) {
		s->async_pending = false;
		session_free(s);
		return;
	}
	if (result == 1) {
		struct store_mailbox_info info;
		char *error = NULL;
		struct buf caps;
		int rc;

		s->async_pending = false;
		auth_throttle_success(srv->throttle, s->ip);
		rc = store_mailbox_get(srv->store, canonical, "INBOX", &info,
				       &error);
		if (rc == 1)
			store_mailbox_info_clear(&info);
		else if (rc == 0)
			rc = store_user_create(srv->store, canonical, &error);
		if (rc < 0) {
			log_errorx("session=%s event=login_store_error "
				   "error=\"%s\"",
				   s->id, error);
			free(error);
			imap_tagged(s, s->tag, "NO",
				    "[UNAVAILABLE] Mailbox unavailable");
		} else {
			s->user = xstrdup(canonical);
			s->state = IMAP_STATE_AUTH;
			session_set_read_timeout(s);
			log_info("session=%s event=login user=%s", s->id,
				 s->user);
			buf_init(&caps);
			append_capabilities(s, &caps);
			imap_tagged(s, s->tag, "OK", "[%s] Logged in",
				    buf_cstr(&caps));
			buf_free(&caps);
		}
		x_free(&s->tag);
		s->wait = IMAP_WAIT_NONE;
		session_process(s);
		return;
	}
	if (result < 0) {
		s->async_pending = false;
		imap_tagged(s, s->tag, "NO",
			    "[UNAVAILABLE] Temporary authentication failure");
		x_free(&s->tag);
		s->wait = IMAP_WAIT_NONE;
		session_process(s);
		return;
	}
	{
		unsigned int ms = auth_throttle_failure(srv->throttle, s->ip,
							auth_throttle_now_ms());
		struct timeval tv = {(time_t)(ms / 1000),
				     (suseconds_t)(ms % 1000) * 1000};

		log_info("session=%s event=auth result=fail ip=%s delay_ms=%u",
			 s->id, s->ip, ms);
		if (s->timer != NULL)
			event_free(s->timer);
		s->timer = evtimer_new(srv->base, auth_fail_timer, s);
		evtimer_add(s->timer, &tv);
		/* async_pending stays set until the timer fires */
	}
}

static void
auth_start(struct imap_session *s, const char *tag, const char *login,
	   const char *password)
{
	if (s->tag != tag) {
		free(s->tag);
		s->tag = xstrdup(tag);
	}
	s->wait = IMAP_WAIT_AUTH;
	s->async_pending = true;
	auth_pool_verify(s->server->auth, login, password,
			 auth_throttle_wait_ms(s->server->throttle, s->ip,
					       auth_throttle_now_ms()),
			 auth_done, s);
}

static void
cmd_login(struct imap_session *s, const struct imap_command *cmd)
{
	if (!login_allowed(s)) {
		imap_tagged(s, cmd->tag, "NO",
			    "[PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	if (cmd->count != 2 || !imap_arg_is_string(&cmd->args[0]) ||
	    !imap_arg_is_string(&cmd->args[1]) ||
	    cmd->args[0].len > SASL_FIELD_MAX ||
	    cmd->args[1].len > SASL_FIELD_MAX ||
	    strlen(cmd->args[1].str) != cmd->args[1].len) {
		session_bad(s, cmd->tag, "Syntax: LOGIN user password");
		return;
	}
	auth_start(s, cmd->tag, cmd->args[0].str, cmd->args[1].str);
	explicit_bzero((char *)cmd->args[1].str, cmd->args[1].len);
}

/* One SASL response line (or the initial response). */
static void
sasl_response(struct imap_session *s, const char *line, size_t len)
{
	char login[SASL_FIELD_MAX + 1], password[SASL_FIELD_MAX + 1];

	if (len == 1 && line[0] == '*') {
		imap_tagged(s, s->tag, "BAD", "Authentication cancelled");
		x_free(&s->tag);
		x_free(&s->sasl_login);
		s->wait = IMAP_WAIT_NONE;
		return;
	}
	if (s->wait == IMAP_WAIT_SASL && s->sasl_plain) {
		/* PLAIN */
		char *copy = xstrndup(line, len);
		int rc = sasl_plain_decode(copy, login, password);

		explicit_bzero(copy, len);
		free(copy);
		if (rc < 0) {
			imap_tagged(s, s->tag, "BAD",
				    "Invalid SASL PLAIN response");
			x_free(&s->tag);
			s->wait = IMAP_WAIT_NONE;
			return;
		}
		auth_start(s, s->tag, login, password);
		explicit_bzero(password, sizeof(password));
		return;
	}
	if (s->wait == IMAP_WAIT_SASL) {
		/* LOGIN: the user name */
		if (sasl_login_decode(line, len, login) < 0) {
			imap_tagged(s, s->tag, "BAD", "Invalid SASL response");
			x_free(&s->tag);
			x_free(&s->sasl_login);
			s->wait = IMAP_WAIT_NONE;
			return;
		}
		free(s->sasl_login);
		s->sasl_login = xstrdup(login);
		s->wait = IMAP_WAIT_SASL_LOGIN_PASS;
		imap_printf(s, "+ %s", SASL_LOGIN_PASS_CHALLENGE);
		return;
	}
	if (sasl_login_decode(line, len, password) < 0) {
		imap_tagged(s, s->tag, "BAD", "Invalid SASL response");
		x_free(&s->tag);
		x_free(&s->sasl_login);
		s->wait = IMAP_WAIT_NONE;
		return;
	}
	snprintf(login, sizeof(login), "%s", s->sasl_login);
	x_free(&s->sasl_login);
	auth_start(s, s->tag, login, password);
	explicit_bzero(password, sizeof(password));
}

static void
cmd_authenticate(struct imap_session *s, const struct imap_command *cmd)
{
	const struct imap_arg *mech = cmd->count > 0 ? &cmd->args[0] : NULL;
	bool plain;

	if (mech == NULL || mech->type != IMAP_ARG_ATOM || cmd->count > 2 ||
	    (cmd->count == 2 && cmd->args[1].type != IMAP_ARG_ATOM)) {
		session_bad(s, cmd->tag,
			    "Syntax: AUTHENTICATE mechanism [initial]");
		return;
	}
	if (!login_allowed(s)) {
		imap_tagged(s, cmd->tag, "NO",
			    "[PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	plain = strcasecmp(mech->str, "PLAIN") == 0;
	if (!plain && strcasecmp(mech->str, "LOGIN") != 0) {
		imap_tagged(s, cmd->tag, "NO",
			    "[CANNOT] Unsupported mechanism");
		return;
	}
	free(s->tag);
	s->tag = xstrdup(cmd->tag);
	x_free(&s->sasl_login);
	s->wait = IMAP_WAIT_SASL;
	s->sasl_plain = plain;
	if (cmd->count == 2) {
		const char *ir = cmd->args[1].str;

		if (strcmp(ir, "=") == 0)
			ir = "";
		sasl_response(s, ir, strlen(ir));
		return;
	}
	imap_printf(s, "+ %s", plain ? "" : SASL_LOGIN_USER_CHALLENGE);
}

/* ------------------------------------------------------------------ */
/* selected state */

static void
cmd_close(struct imap_session *s, const struct imap_command *cmd)
{
	bool expunge = strcmp(cmd->name, "CLOSE") == 0 && !s->view->readonly;

	if (expunge && s->view->count > 0) {
		uint32_t *uids = xcalloc(s->view->count, sizeof(*uids));
		uint32_t *gone = NULL;
		size_t n = 0, ngone = 0;
		char *error = NULL;

		for (size_t i = 0; i < s->view->count; i++)
			uids[n++] = s->view->msgs[i].uid;
		if (store_expunge(s->server->store, s->user, s->view->name,
				  uids, n, true, &gone, &ngone, &error) < 0) {
			log_warnx("session=%s event=close_expunge error=\"%s\"",
				  s->id, error);
			free(error);
		}
		free(gone);
		free(uids);
	}
	imap_view_free(&s->view);
	s->state = IMAP_STATE_AUTH;
	if (s->qresync)
		imap_printf(s, "* OK [CLOSED] Previous mailbox closed");
	imap_tagged(s, cmd->tag, "OK", "%s completed", cmd->name);
}

static void
cmd_idle(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->count != 0) {
		session_bad(s, cmd->tag, "Syntax: IDLE");
		return;
	}
	free(s->tag);
	s->tag = xstrdup(cmd->tag);
	s->wait = IMAP_WAIT_IDLE;
	imap_printf(s, "+ idling");
	if (s->state == IMAP_STATE_SELECTED)
		imap_view_sync(s, true);
}

static void
idle_line(struct imap_session *s, const char *line, size_t len)
{
	s->wait = IMAP_WAIT_NONE;
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
		imap_tagged(s, s->tag, "OK", "IDLE terminated");
	else
		session_bad(s, s->tag, "Expected DONE");
	x_free(&s->tag);
}

void
imap_session_notify(struct imap_server *srv, const char *user,
		    const char *mailbox)
{
	for (struct imap_session *s = srv->sessions; s != NULL; s = s->next) {
		if (s->dead || s->user == NULL || s->view == NULL ||
		    strcasecmp(s->user, user) != 0 ||
		    strcmp(s->view->name, mailbox) != 0)
			continue;
		s->pending_changes = true;
		if (s->wait == IMAP_WAIT_IDLE) {
			imap_view_sync(s, true);
			if (imap_output_pending(s) > IMAP_OUTPUT_MAX) {
				log_info("session=%s event=limit "
					 "limit=output_buffer",
					 s->id);
				session_kill(s);
				return; /* the list changed: next time */
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* dispatch */

enum cmd_states {
	ANY = 0,
	NOT_AUTH = 1,
	AUTH = 2, /* authenticated or selected */
	SELECTED = 3,
};

struct cmd_def {
	const char *name;
	enum cmd_states states;
	void (*fn)(struct imap_session *s, const struct imap_command *cmd);
};

static void
cmd_list(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_list(s, cmd, false);
}
static void
cmd_lsub(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_list(s, cmd, true);
}
static void
cmd_subscribe(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_subscribe(s, cmd, true);
}
static void
cmd_unsubscribe(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_subscribe(s, cmd, false);
}
static void
cmd_select(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_select(s, cmd, false);
}
static void
cmd_examine(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_select(s, cmd, true);
}
static void
cmd_getquota(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_getquota(s, cmd, false);
}
static void
cmd_getquotaroot(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_getquota(s, cmd, true);
}
static void
cmd_fetch(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_fetch(s, cmd, 0, false);
}
static void
cmd_store(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_store(s, cmd, 0, false);
}
static void
cmd_copy(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_copy(s, cmd, 0, false, false);
}
static void
cmd_move(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_copy(s, cmd, 0, false, true);
}
static void
cmd_search(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_search(s, cmd, 0, false);
}
static void
cmd_sort(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_sort(s, cmd, 0, false);
}
static void
cmd_thread(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_thread(s, cmd, 0, false);
}
static void
cmd_expunge(struct imap_session *s, const struct imap_command *cmd)
{
	imap_cmd_expunge(s, cmd, 0, false);
}

static void
cmd_uid(struct imap_session *s, const struct imap_command *cmd)
{
	const struct imap_arg *sub = cmd->count > 0 ? &cmd->args[0] : NULL;

	if (sub == NULL || sub->type != IMAP_ARG_ATOM) {
		session_bad(s, cmd->tag, "Syntax: UID command arguments");
		return;
	}
	if (strcasecmp(sub->str, "FETCH") == 0)
		imap_cmd_fetch(s, cmd, 1, true);
	else if (strcasecmp(sub->str, "STORE") == 0)
		imap_cmd_store(s, cmd, 1, true);
	else if (strcasecmp(sub->str, "COPY") == 0)
		imap_cmd_copy(s, cmd, 1, true, false);
	else if (strcasecmp(sub->str, "MOVE") == 0)
		imap_cmd_copy(s, cmd, 1, true, true);
	else if (strcasecmp(sub->str, "SEARCH") == 0)
		imap_cmd_search(s, cmd, 1, true);
	else if (strcasecmp(sub->str, "EXPUNGE") == 0)
		imap_cmd_expunge(s, cmd, 1, true);
	else if (strcasecmp(sub->str, "SORT") == 0)
		imap_cmd_sort(s, cmd, 1, true);
	else if (strcasecmp(sub->str, "THREAD") == 0)
		imap_cmd_thread(s, cmd, 1, true);
	else
		session_bad(s, cmd->tag, "Unknown UID command");
}

static const struct cmd_def commands[] = {
    {"CAPABILITY", ANY, cmd_capability},
    {"NOOP", ANY, cmd_noop},
    {"LOGOUT", ANY, cmd_logout},
    {"ID", ANY, cmd_id},
    {"STARTTLS", NOT_AUTH, cmd_starttls},
    {"LOGIN", NOT_AUTH, cmd_login},
    {"AUTHENTICATE", NOT_AUTH, cmd_authenticate},
    {"ENABLE", AUTH, cmd_enable},
    {"SELECT", AUTH, cmd_select},
    {"EXAMINE", AUTH, cmd_examine},
    {"CREATE", AUTH, imap_cmd_create},
    {"DELETE", AUTH, imap_cmd_delete},
    {"RENAME", AUTH, imap_cmd_rename},
    {"SUBSCRIBE", AUTH, cmd_subscribe},
    {"UNSUBSCRIBE", AUTH, cmd_unsubscribe},
    {"LIST", AUTH, cmd_list},
    {"LSUB", AUTH, cmd_lsub},
    {"NAMESPACE", AUTH, imap_cmd_namespace},
    {"STATUS", AUTH, imap_cmd_status},
    {"APPEND", AUTH, imap_cmd_append},
    {"IDLE", AUTH, cmd_idle},
    {"GETQUOTA", AUTH, cmd_getquota},
    {"GETQUOTAROOT", AUTH, cmd_getquotaroot},
    {"CHECK", SELECTED, cmd_noop},
    {"CLOSE", SELECTED, cmd_close},
    {"UNSELECT", SELECTED, cmd_close},
    {"EXPUNGE", SELECTED, cmd_expunge},
    {"SEARCH", SELECTED, cmd_search},
    {"SORT", SELECTED, cmd_sort},
    {"THREAD", SELECTED, cmd_thread},
    {"FETCH", SELECTED, cmd_fetch},
    {"STORE", SELECTED, cmd_store},
    {"COPY", SELECTED, cmd_copy},
    {"MOVE", SELECTED, cmd_move},
    {"UID", SELECTED, cmd_uid},
};

/* FETCH, STORE and SEARCH must not see EXPUNGE responses (their UID
 * forms may). */
static bool
expunge_allowed(const struct imap_command *cmd)
{
	return strcmp(cmd->name, "FETCH") != 0 &&
	       strcmp(cmd->name, "STORE") != 0 &&
	       strcmp(cmd->name, "SEARCH") != 0 &&
	       strcmp(cmd->name, "SORT") != 0 &&
	       strcmp(cmd->name, "THREAD") != 0;
}

static void
session_dispatch(struct imap_session *s, const char *data, size_t len)
{
	struct pool *pool = pool_new(len + 1024 > 65536 ? 65536 : 4096);
	struct imap_command cmd;
	const char *tag, *error;
	const struct cmd_def *def = NULL;

	if (imap_parser_parse(pool, data, len, &cmd, &tag, &error) < 0) {
		session_bad(s, tag, error);
		pool_free(&pool);
		return;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, cmd.name) == 0)
			def = &commands[i];
	if (def == NULL) {
		session_bad(s, cmd.tag, "Unknown command");
	} else if (def->states == NOT_AUTH && s->state != IMAP_STATE_NOT_AUTH) {
		session_bad(s, cmd.tag, "Already authenticated");
	} else if (def->states >= AUTH && s->state == IMAP_STATE_NOT_AUTH) {
		session_bad(s, cmd.tag, "Log in first");
	} else if (def->states == SELECTED && s->state != IMAP_STATE_SELECTED) {
		session_bad(s, cmd.tag, "Select a mailbox first");
	} else {
		if (s->state == IMAP_STATE_SELECTED && s->pending_changes &&
		    strcmp(cmd.name, "NOOP") != 0 &&
		    strcmp(cmd.name, "CHECK") != 0 &&
		    strcmp(cmd.name, "IDLE") != 0)
			imap_view_sync(s, expunge_allowed(&cmd));
		def->fn(s, &cmd);
	}
	pool_free(&pool);
}

/* ------------------------------------------------------------------ */
/* input */

static bool
session_is_append(const struct buf *cmd)
{
	const char *sp = memchr(cmd->data, ' ', cmd->len);
	size_t rest;

	if (sp == NULL)
		return false;
	sp++;
	rest = cmd->len - (size_t)(sp - cmd->data);
	return rest >= 7 && strncasecmp(sp, "APPEND ", 7) == 0;
}

/* Handles one complete input line (without CRLF). */
static void
session_line(struct imap_session *s, const char *line, size_t len)
{
	uint64_t size, max;
	bool nonsync;
	int rc;

	switch (s->wait) {
	case IMAP_WAIT_IDLE:
		idle_line(s, line, len);
		return;
	case IMAP_WAIT_SASL:
	case IMAP_WAIT_SASL_LOGIN_PASS:
		sasl_response(s, line, len);
		return;
	default:
		break;
	}
	if (s->cmd.len == 0 && len == 0)
		return; /* empty line between commands: ignore */
	buf_append(&s->cmd, line, len);
	if (s->cmd.len == len)
		s->cmd_is_append = session_is_append(&s->cmd);
	max = s->cmd_is_append ? s->server->cfg->max_message_size
			       : s->server->cfg->max_command_size;
	if (s->cmd.len > max) {
		session_bad(s, NULL, "Command too long");
		buf_reset(&s->cmd);
		return;
	}
	rc = imap_parser_line_literal(line, len, max - s->cmd.len, &size,
				      &nonsync);
	if (rc < 0) {
		/* Take the tag for the reply. */
		char tag[IMAP_PARSER_TAG_MAX + 1];
		size_t n = strcspn(s->cmd.data, " ");

		snprintf(
		    tag, sizeof(tag), "%.*s",
		    (int)(n < IMAP_PARSER_TAG_MAX ? n : IMAP_PARSER_TAG_MAX),
		    s->cmd.data);
		for (char *c = tag; *c != '\0'; c++)
			if ((unsigned char)*c < 0x21 ||
			    (unsigned char)*c > 0x7e)
				*c = '?';
		if (nonsync) {
			imap_printf(s, "* BYE [TOOBIG] Literal too large");
			session_close_after_flush(s);
			return;
		}
		imap_tagged(s, tag, s->cmd_is_append ? "NO" : "BAD",
			    "[TOOBIG] Literal too large");
		buf_reset(&s->cmd);
		return;
	}
	if (rc == 1) {
		buf_append(&s->cmd, "\r\n", 2);
		s->literal_left = size;
		if (!nonsync)
			imap_printf(s, "+ Ready for literal data");
		return;
	}
	session_dispatch(s, s->cmd.data, s->cmd.len);
	if (s->cmd.cap > 16384)
		buf_free(&s->cmd);
	else
		buf_reset(&s->cmd);
}

/* BAD for a line over IMAP_LINE_MAX, tagged when it starts a command. */
static void
line_too_long(struct imap_session *s, struct evbuffer *in)
{
	char head[IMAP_PARSER_TAG_MAX + 2];
	ev_ssize_t got = 0;
	size_t n = 0;

	if (s->cmd.len == 0)
		got = evbuffer_copyout(in, head, sizeof(head) - 1);
	if (got > 0) {
		head[got] = '\0';
		n = strcspn(head, " ");
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)head[i] < 0x21 ||
			    (unsigned char)head[i] > 0x7e || head[i] == '+')
				n = 0;
		head[n] = '\0';
	}
	buf_reset(&s->cmd);
	s->literal_left = 0;
	session_bad(s, n > 0 && n <= IMAP_PARSER_TAG_MAX ? head : NULL,
		    "Line too long");
}

static void
session_process(struct imap_session *s)
{
	struct evbuffer *in;

	while (s->bev != NULL && !s->dead) {
		struct evbuffer_ptr eol;
		size_t eol_len = 0, avail, n;
		char *line;

		if (s->wait == IMAP_WAIT_AUTH || s->wait == IMAP_WAIT_CLOSING)
			return;
		if (s->wait == IMAP_WAIT_FETCH) {
			if (imap_output_pending(s) > IMAP_OUTPUT_HIGH)
				return;
			if (!imap_fetch_continue(s))
				return;
			s->wait = IMAP_WAIT_NONE;
			continue;
		}
		if (imap_output_pending(s) > IMAP_OUTPUT_MAX) {
			log_info("session=%s event=limit limit=output_buffer",
				 s->id);
			session_kill(s);
			return;
		}
		in = bufferevent_get_input(s->bev);
		avail = evbuffer_get_length(in);
		if (avail == 0)
			return;
		if (s->literal_left > 0) {
			n = avail < s->literal_left ? avail
						    : (size_t)s->literal_left;
			buf_reserve(&s->cmd, n);
			evbuffer_remove(in, s->cmd.data + s->cmd.len, n);
			s->cmd.len += n;
			s->cmd.data[s->cmd.len] = '\0';
			s->literal_left -= n;
			continue;
		}
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos < 0) {
			if (avail > IMAP_LINE_MAX) {
				if (!s->discard_line) {
					s->discard_line = true;
					line_too_long(s, in);
				}
				evbuffer_drain(in, avail);
			}
			return;
		}
		n = (size_t)eol.pos;
		if (s->discard_line) {
			evbuffer_drain(in, n + eol_len);
			s->discard_line = false;
			continue;
		}
		if (n > IMAP_LINE_MAX) {
			line_too_long(s, in);
			evbuffer_drain(in, n + eol_len);
			continue;
		}
		line = xmalloc(n + eol_len + 1);
		evbuffer_remove(in, line, n + eol_len);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		line[n] = '\0';
		session_line(s, line, n);
		explicit_bzero(line, n);
		free(line);
	}
}

void
imap_session_resume(struct imap_session *s)
{
	session_process(s);
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
	struct imap_session *s = arg;

	(void)bev;
	if (s->wait == IMAP_WAIT_CLOSING) {
		if (imap_output_pending(s) == 0)
			session_kill(s);
		return;
	}
	if (s->wait == IMAP_WAIT_FETCH)
		session_process(s);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct imap_session *s = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_TIMEOUT) {
		if ((what & BEV_EVENT_WRITING) ||
		    s->wait == IMAP_WAIT_CLOSING) {
			log_info("session=%s event=timeout what=write", s->id);
			session_kill(s);
			return;
		}
		log_info("session=%s event=timeout what=read", s->id);
		imap_printf(s, "* BYE Autologout; idle for too long");
		session_close_after_flush(s);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		net_conn_log_tls_errors(bev, s->id);
	session_kill(s);
}

/* ------------------------------------------------------------------ */
/* accept */

static size_t
sessions_from_ip(const struct imap_server *srv, const char *ip)
{
	size_t n = 0;

	for (const struct imap_session *s = srv->sessions; s != NULL;
	     s = s->next)
		if (!s->dead && strcmp(s->ip, ip) == 0)
			n++;
	return n;
}

void
imap_session_new(struct imap_server *srv, int fd, const struct sockaddr *peer,
		 bool implicit_tls)
{
	const struct imap_server_config *cfg = srv->cfg;
	struct imap_session *s;
	struct bufferevent *bev;
	char ip[48];
	struct buf caps;

	netaddr_ip(peer, ip, sizeof(ip));
	if ((long long)srv->session_count >= cfg->max_connections ||
	    (long long)sessions_from_ip(srv, ip) >=
		cfg->max_connections_per_ip) {
		log_info("event=limit limit=connections ip=%s", ip);
		net_conn_refuse(
		    fd, implicit_tls ? NULL : "* BYE Too many connections\r\n");
		return;
	}
	bev = net_conn_open(srv->base, fd, implicit_tls ? cfg->tls_ctx : NULL,
			    ip);
	if (bev == NULL)
		return;
	s = xcalloc(1, sizeof(*s));
	s->server = srv;
	s->bev = bev;
	s->tls = implicit_tls;
	s->implicit_tls = implicit_tls;
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->loopback = netaddr_is_loopback(peer);
	net_conn_session_id(s->id, sizeof(s->id), &srv->session_counter);
	buf_init(&s->cmd);
	s->next = srv->sessions;
	if (srv->sessions != NULL)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->session_count++;
	log_info("session=%s event=connect ip=%s port=%d tls=%s", s->id, ip,
		 netaddr_port(peer), implicit_tls ? "implicit" : "no");
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
			  session_event_cb, s);
	session_set_read_timeout(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	buf_init(&caps);
	append_capabilities(s, &caps);
	imap_printf(s, "* OK [%s] Moat IMAP ready", buf_cstr(&caps));
	buf_free(&caps);
}

void
imap_session_shutdown_all(struct imap_server *srv)
{
	struct imap_session *s, *next;

	srv->stopping = true;
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->dead || s->wait == IMAP_WAIT_CLOSING)
			continue;
		imap_printf(s, "* BYE Server shutting down");
		session_close_after_flush(s);
	}
	if (srv->session_count == 0)
		event_base_loopexit(srv->base, NULL);
}

void
imap_session_free_all(struct imap_server *srv)
{
	while (srv->sessions != NULL) {
		srv->sessions->async_pending = false;
		session_free(srv->sessions);
	}
}
