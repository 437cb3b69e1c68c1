/*
 * smtp_client: the SMTP client state machine (see the header). Replies are
 * matched to commands in the order they were sent, which is what makes
 * PIPELINING (RFC 2920) the same code as lock-step: with pipelining every
 * command of a phase is written at once, without it one at a time. The
 * message is streamed from the queue file with pread() whenever the output
 * buffer drains below a low-water mark, so a large message never sits in
 * memory; reading is off while it streams, so the command timeout does not
 * fire on a slow upload (the write timeout does).
 *
 * A failure at any point fills every outcome still open with one reply (the
 * server's, or a made-up 4xx for network trouble) and calls back once. The
 * size, 8BITMIME and SMTPUTF8 checks happen before MAIL (RFC 1870, 6152,
 * 6531): an 8-bit message for a server without 8BITMIME is converted to
 * 7 bits when its header fields allow (mime_downgrade.c); a message the
 * server cannot take fails permanently.
 */
#include "gateway/smtp_client.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/mime_downgrade.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/xalloc.h"

#define BODY_CHUNK   65536
#define BODY_HIGH    (256 * 1024)
#define CMD_LINE_MAX 2048

enum client_state {
	ST_CONNECT,
	ST_GREETING,
	ST_EHLO,
	ST_HELO,
	ST_STARTTLS,
	ST_HANDSHAKE,
	ST_AUTH,
	ST_AUTH_LOGIN_USER,
	ST_AUTH_LOGIN_PASS,
	ST_READY,
	ST_ENVELOPE,
	ST_DATA,
	ST_BODY,
	ST_BODY_END,
	ST_DEAD,
};

enum cmd_kind { CMD_RSET, CMD_MAIL, CMD_RCPT, CMD_DATA };

struct client_cmd {
	enum cmd_kind kind;
	size_t rcpt; /* for CMD_RCPT */
	char *line;  /* with CRLF */
};

struct smtp_client {
	struct event_base *base;
	struct bufferevent *bev;
	SSL *ssl; /* owned by bev once the filter exists */
	const struct smtp_client_config *cfg;
	enum client_state state;
	struct smtp_reply reply;
	struct smtp_caps caps;
	bool ehlo_done_once, tls_active, need_rset;
	char tls_version[32];
	char peer_ip[64];
	smtp_client_ready_fn *ready;
	smtp_client_done_fn *done;
	void *context;
	struct event *later; /* callbacks that must not run inside a call */
	struct smtp_client_outcome later_outcome;
	bool later_is_ready, later_failed;
	bool *alive; /* cleared by free while a read callback runs */

	/* transaction */
	struct smtp_client_message *msg;
	struct client_cmd *cmds;
	size_t ncmds, sent, replied, accepted;
	bool mail_failed, pipelining_ok, use_bdat, use_body_param, use_utf8;
	bool discard; /* 354 after every RCPT failed: send an empty body */
	struct smtp_client_outcome mail_outcome;
	size_t body_pos;
	bool body_bol;
	/* What DATA/BDAT sends: the queue file's message, or its 7-bit
	 * conversion in a memfd owned here (body_own_fd >= 0). */
	int body_fd, body_own_fd;
	off_t body_offset;
	size_t body_len;
};

static void client_read(struct bufferevent *bev, void *arg);
static void client_write(struct bufferevent *bev, void *arg);
static void client_event(struct bufferevent *bev, short what, void *arg);

static void outcome_set(struct smtp_client_outcome *o, int code,
			const char *status, bool network, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
outcome_set(struct smtp_client_outcome *o, int code, const char *status,
	    bool network, const char *fmt, ...)
{
	va_list ap;

	memset(o, 0, sizeof(*o));
	o->code = code;
	o->network = network;
	snprintf(o->status, sizeof(o->status), "%s", status);
	va_start(ap, fmt);
	vsnprintf(o->text, sizeof(o->text), fmt, ap);
	va_end(ap);
}

/* The outcome of a server reply. */
static void
outcome_from_reply(struct smtp_client_outcome *o, const struct smtp_reply *r)
{
	char line[sizeof(o->text)];

	smtp_reply_format(r, line, sizeof(line));
	memset(o, 0, sizeof(*o));
	o->code = r->code;
	snprintf(o->status, sizeof(o->status), "%s", r->status);
	if (o->status[0] == '\0')
		snprintf(o->status, sizeof(o->status), "%d.0.0", r->code / 100);
	/* text without the code: line is "NNN text" */
	snprintf(o->text, sizeof(o->text), "%s",
		 line[0] != '\0' ? line + 4 : "");
}

static void
transaction_clear(struct smtp_client *c)
{
	for (size_t i = 0; i < c->ncmds; i++)
		free(c->cmds[i].line);
	free(c->cmds);
	c->cmds = NULL;
	c->ncmds = c->sent = c->replied = c->accepted = 0;
	c->mail_failed = false;
	c->msg = NULL;
	if (c->body_own_fd >= 0)
		close(c->body_own_fd);
	c->body_own_fd = -1;
}

static void
on_later(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;

	(void)fd;
	(void)what;
	if (c->later_is_ready) {
		struct smtp_client_outcome o = c->later_outcome;

		c->ready(c, c->later_failed ? &o : NULL, c->context);
	} else {
		transaction_clear(c);
		c->done(c, c->context);
	}
}

static void
call_later(struct smtp_client *c, bool is_ready)
{
	struct timeval now = {0, 0};

	c->later_is_ready = is_ready;
	evtimer_add(c->later, &now);
}

/* Session-level failure: everything open gets the outcome; one callback. */
static void
client_fail(struct smtp_client *c, const struct smtp_client_outcome *o)
{
	enum client_state was = c->state;

	c->state = ST_DEAD;
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	if (was >= ST_ENVELOPE && c->msg != NULL) {
		for (size_t i = 0; i < c->msg->rcpt_count; i++) {
			struct smtp_client_outcome *ro =
			    &c->msg->rcpts[i].outcome;

			/* Accepted recipients were only tentatively so;
			 * a final reply was never seen. */
			if (ro->code == 0 || (ro->code / 100 == 2))
				*ro = *o;
		}
		transaction_clear(c);
		c->done(c, c->context);
		return;
	}
	if (was < ST_READY) {
		c->ready(c, o, c->context);
		return;
	}
	/* Idle (ST_READY): nobody is waiting; the owner sees !usable. */
}

static void
fail_protocol(struct smtp_client *c, const char *what)
{
	struct smtp_client_outcome o;

	outcome_set(&o, 451, "4.5.0", true, "protocol error: %s", what);
	client_fail(c, &o);
}

/* A reply that ends the session set-up. */
static void
fail_reply(struct smtp_client *c, const char *during)
{
	struct smtp_client_outcome o;
	char line[400];

	outcome_from_reply(&o, &c->reply);
	smtp_reply_format(&c->reply, line, sizeof(line));
	snprintf(o.text, sizeof(o.text), "%s (in reply to %s)", line, during);
	/* The server's code decides: 5xx setup failures are still retried
	 * on other hosts by the caller. */
	client_fail(c, &o);
}

static void client_send(struct smtp_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
client_send(struct smtp_client *c, const char *fmt, ...)
{
	char line[CMD_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	bufferevent_write(c->bev, line, (size_t)n);
}

static void
set_timeout(struct smtp_client *c, unsigned int seconds)
{
	struct timeval tv = {(time_t)seconds, 0};

	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

struct smtp_client *
smtp_client_connect(struct event_base *base, const struct sockaddr *addr,
		    socklen_t addrlen, const struct smtp_client_config *config,
		    smtp_client_ready_fn *ready, void *context)
{
	struct smtp_client *c = xcalloc(1, sizeof(*c));

	c->body_own_fd = -1;
	c->base = base;
	c->cfg = config;
	c->ready = ready;
	c->context = context;
	c->state = ST_CONNECT;
	snprintf(c->tls_version, sizeof(c->tls_version), "none");
	netaddr_ip(addr, c->peer_ip, sizeof(c->peer_ip));
	c->later = evtimer_new(base, on_later, c);
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL || c->later == NULL) {
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		if (c->later != NULL)
			event_free(c->later);
		free(c);
		return NULL;
	}
	bufferevent_setcb(c->bev, client_read, client_write, client_event, c);
	set_timeout(c, config->connect_timeout);
	smtp_reply_reset(&c->reply);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)addr,
				       (int)addrlen) < 0) {
		c->state = ST_DEAD;
		c->later_failed = true;
		outcome_set(&c->later_outcome, 421, "4.4.1", true,
			    "connect to %s: %s", c->peer_ip,
			    strerror(errno != 0 ? errno : ECONNREFUSED));
		call_later(c, true);
		return c;
	}
	{
		/* Commands and the message end are small writes: without
		 * this, Nagle and delayed ACKs add 40 ms to each reply. */
		int fd = bufferevent_getfd(c->bev), one = 1;

		if (fd >= 0)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
					 sizeof(one));
	}
	bufferevent_enable(c->bev, EV_READ);
	return c;
}

static void
send_ehlo(struct smtp_client *c)
{
	c->state = ST_EHLO;
	client_send(c, "EHLO %s", c->cfg->helo);
}

static void
become_ready(struct smtp_client *c)
{
	c->state = ST_READY;
	set_timeout(c, c->cfg->command_timeout);
	c->ready(c, NULL, c->context);
}

static void
start_auth(struct smtp_client *c)
{
	const char *u = c->cfg->auth_user, *p = c->cfg->auth_pass;
	size_t ulen = strlen(u), plen = strlen(p);
	unsigned char raw[1024];
	unsigned char b64[1400];
	struct smtp_client_outcome o;

	if (!c->tls_active) {
		outcome_set(&o, 454, "4.7.0", false,
			    "refusing to send credentials without TLS");
		client_fail(c, &o);
		return;
	}
	if (c->caps.auth_plain) {
		if (ulen + plen + 2 > sizeof(raw)) {
			outcome_set(&o, 454, "4.7.0", false,
				    "credentials too long");
			client_fail(c, &o);
			return;
		}
		raw[0] = '\0';
		memcpy(raw + 1, u, ulen);
		raw[1 + ulen] = '\0';
		memcpy(raw + 2 + ulen, p, plen);
		EVP_EncodeBlock(b64, raw, (int)(ulen + plen + 2));
		explicit_bzero(raw, sizeof(raw));
		c->state = ST_AUTH;
		client_send(c, "AUTH PLAIN %s", (char *)b64);
		explicit_bzero(b64, sizeof(b64));
	} else if (c->caps.auth_login) {
		c->state = ST_AUTH_LOGIN_USER;
		client_send(c, "AUTH LOGIN");
	} else {
		outcome_set(&o, 454, "4.7.0", false,
			    "next hop offers no AUTH PLAIN or LOGIN");
		client_fail(c, &o);
	}
}

static void
send_login_part(struct smtp_client *c, const char *value)
{
	unsigned char b64[1400];
	size_t len = strlen(value);

	if (len > 1000)
		len = 1000;
	EVP_EncodeBlock(b64, (const unsigned char *)value, (int)len);
	client_send(c, "%s", (char *)b64);
	explicit_bzero(b64, sizeof(b64));
}

static bool
name_is_ip(const char *name)
{
	return strspn(name, "0123456789.") == strlen(name) ||
	       strchr(name, ':') != NULL;
}

static void
start_tls(struct smtp_client *c)
{
	struct bufferevent *tls;
	struct smtp_client_outcome o;
	const char *name = c->cfg->tls_name;

	c->ssl = SSL_new(c->cfg->tls_ctx);
	if (c->ssl == NULL) {
		outcome_set(&o, 454, "4.7.0", false, "cannot create TLS state");
		client_fail(c, &o);
		return;
	}
	if (name != NULL && name[0] != '\0' && !name_is_ip(name))
		SSL_set_tlsext_host_name(c->ssl, name);
	if (c->cfg->tls == ROUTE_TLS_VERIFY) {
		SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
		if (name != NULL && name[0] != '\0')
			SSL_set1_host(c->ssl, name);
	} else {
		SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	}
	tls = bufferevent_openssl_filter_new(c->base, c->bev, c->ssl,
					     BUFFEREVENT_SSL_CONNECTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		outcome_set(&o, 454, "4.7.0", false, "cannot start TLS");
		client_fail(c, &o);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	c->bev = tls;
	c->state = ST_HANDSHAKE;
	bufferevent_setcb(c->bev, client_read, client_write, client_event, c);
	set_timeout(c, c->cfg->connect_timeout);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* After EHLO (or HELO): TLS, then AUTH, then ready. */
static void
after_ehlo(struct smtp_client *c)
{
	struct smtp_client_outcome o;

	if (!c->tls_active && c->caps.starttls && c->cfg->tls_ctx != NULL) {
		c->state = ST_STARTTLS;
		client_send(c, "STARTTLS");
		return;
	}
	if (!c->tls_active && c->cfg->tls != ROUTE_TLS_NONE) {
		outcome_set(&o, 454, "4.7.5", false,
			    "TLS is required for this route but %s does not "
			    "offer STARTTLS",
			    c->peer_ip);
		client_fail(c, &o);
		return;
	}
	if (c->cfg->auth_user != NULL) {
		start_auth(c);
		return;
	}
	become_ready(c);
}

/* Whether the message has bytes >= 0x80 (pread over the queue file). */
static int
message_has_8bit(const struct smtp_client_message *m)
{
	unsigned char chunk[BODY_CHUNK];
	size_t pos = 0;

	while (pos < m->len) {
		size_t want =
		    m->len - pos < sizeof(chunk) ? m->len - pos : sizeof(chunk);
		ssize_t n = pread(m->fd, chunk, want, m->offset + (off_t)pos);

		if (n <= 0)
			return -1;
		for (ssize_t i = 0; i < n; i++)
			if (chunk[i] >= 0x80)
				return 1;
		pos += (size_t)n;
	}
	return 0;
}

static bool
ascii(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* A check before MAIL failed: every recipient gets o; done runs later. */
static void
transaction_refuse(struct smtp_client *c, const struct smtp_client_outcome *o)
{
	for (size_t i = 0; i < c->msg->rcpt_count; i++)
		c->msg->rcpts[i].outcome = *o;
	call_later(c, false);
}

static void
add_cmd(struct smtp_client *c, enum cmd_kind kind, size_t rcpt, char *line)
{
	struct client_cmd *cmd = &c->cmds[c->ncmds++];

	cmd->kind = kind;
	cmd->rcpt = rcpt;
	cmd->line = line;
}

/* Writes the commands the window allows: all with PIPELINING, else one. */
static void
pump_commands(struct smtp_client *c)
{
	while (c->sent < c->ncmds &&
	       (c->caps.pipelining || c->sent == c->replied)) {
		const char *line = c->cmds[c->sent].line;

		bufferevent_write(c->bev, line, strlen(line));
		c->sent++;
	}
}

void
smtp_client_send(struct smtp_client *c, struct smtp_client_message *m,
		 smtp_client_done_fn *done, void *context)
{
	struct smtp_client_outcome o;
	struct buf mail;
	bool need_8bit = false;

	c->done = done;
	c->context = context;
	c->msg = m;
	for (size_t i = 0; i < m->rcpt_count; i++)
		memset(&m->rcpts[i].outcome, 0, sizeof(m->rcpts[i].outcome));
	if (c->state != ST_READY) {
		outcome_set(&o, 421, "4.4.2", true, "connection not usable");
		transaction_refuse(c, &o);
		return;
	}
	if (c->caps.size > 0 && m->len > c->caps.size) {
		outcome_set(&o, 552, "5.3.4", false,
			    "message size %zu exceeds the limit of %llu "
			    "announced by %s",
			    m->len, c->caps.size, c->peer_ip);
		transaction_refuse(c, &o);
		return;
	}
	c->use_body_param = false;
	if (m->body != NULL && strcmp(m->body, "8BITMIME") == 0) {
		if (c->caps.eightbitmime) {
			c->use_body_param = true;
		} else {
			int r = message_has_8bit(m);

			if (r < 0) {
				outcome_set(&o, 451, "4.3.0", false,
					    "cannot read the queue file");
				transaction_refuse(c, &o);
				return;
			}
			need_8bit = r == 1;
		}
	}
	c->body_fd = m->fd;
	c->body_offset = m->offset;
	c->body_len = m->len;
	if (need_8bit && !m->probe_only) {
		/* RFC 6152 3: convert to 7 bits, or return the message. */
		const char *error = NULL;
		int r = mime_downgrade(m->fd, m->offset, m->len,
				       &c->body_own_fd, &c->body_len, &error);

		if (r < 0) {
			outcome_set(&o, 554, "5.6.3", false,
				    "8-bit message that cannot be converted "
				    "to 7 bits (%s) and %s does not offer "
				    "8BITMIME",
				    error, c->peer_ip);
			transaction_refuse(c, &o);
			return;
		}
		if (r == 0) {
			outcome_set(&o, 554, "5.6.3", false,
				    "8-bit header fields and %s does not "
				    "offer 8BITMIME",
				    c->peer_ip);
			transaction_refuse(c, &o);
			return;
		}
		c->body_fd = c->body_own_fd;
		c->body_offset = 0;
		log_info("event=downgrade_7bit peer=%s size=%zu converted=%zu",
			 c->peer_ip, m->len, c->body_len);
		if (c->caps.size > 0 && c->body_len > c->caps.size) {
			outcome_set(&o, 552, "5.3.4", false,
				    "message size %zu after 7-bit conversion "
				    "exceeds the limit of %llu announced by %s",
				    c->body_len, c->caps.size, c->peer_ip);
			transaction_refuse(c, &o);
			return;
		}
	}
	c->use_utf8 = false;
	if (m->smtputf8) {
		bool env_ascii = ascii(m->mail_from);

		for (size_t i = 0; i < m->rcpt_count; i++)
			env_ascii = env_ascii && ascii(m->rcpts[i].address);
		if (c->caps.smtputf8) {
			c->use_utf8 = true;
		} else if (!env_ascii) {
			outcome_set(&o, 553, "5.6.7", false,
				    "internationalised address and %s does "
				    "not offer SMTPUTF8",
				    c->peer_ip);
			transaction_refuse(c, &o);
			return;
		}
	}
	c->use_bdat = c->caps.chunking;
	c->cmds = xcalloc(m->rcpt_count + 3, sizeof(*c->cmds));
	if (c->need_rset)
		add_cmd(c, CMD_RSET, 0, xstrdup("RSET\r\n"));
	c->need_rset = false;
	buf_init(&mail);
	buf_printf(&mail, "MAIL FROM:<%s>", m->mail_from);
	if (c->caps.size_ext)
		buf_printf(&mail, " SIZE=%zu", c->body_len);
	if (c->use_body_param)
		buf_append_str(&mail, " BODY=8BITMIME");
	if (c->use_utf8)
		buf_append_str(&mail, " SMTPUTF8");
	if (c->caps.dsn && m->ret != NULL)
		buf_printf(&mail, " RET=%s", m->ret);
	if (c->caps.dsn && m->envid != NULL)
		buf_printf(&mail, " ENVID=%s", m->envid);
	buf_append_str(&mail, "\r\n");
	add_cmd(c, CMD_MAIL, 0, buf_detach(&mail));
	for (size_t i = 0; i < m->rcpt_count; i++) {
		struct buf rcpt;

		buf_init(&rcpt);
		buf_printf(&rcpt, "RCPT TO:<%s>", m->rcpts[i].address);
		if (c->caps.dsn && m->rcpts[i].notify != NULL)
			buf_printf(&rcpt, " NOTIFY=%s", m->rcpts[i].notify);
		if (c->caps.dsn && m->rcpts[i].orcpt != NULL)
			buf_printf(&rcpt, " ORCPT=%s", m->rcpts[i].orcpt);
		buf_append_str(&rcpt, "\r\n");
		add_cmd(c, CMD_RCPT, i, buf_detach(&rcpt));
	}
	c->discard = false;
	if (c->caps.pipelining && !c->use_bdat && !m->probe_only)
		add_cmd(c, CMD_DATA, 0, xstrdup("DATA\r\n"));
	c->state = ST_ENVELOPE;
	pump_commands(c);
}

/* Writes message bytes while the output buffer is below BODY_HIGH. */
static void
pump_body(struct smtp_client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	unsigned char chunk[BODY_CHUNK];
	struct smtp_client_outcome o;

	while (evbuffer_get_length(out) < BODY_HIGH &&
	       c->body_pos < c->body_len) {
		size_t want = c->body_len - c->body_pos < sizeof(chunk)
				  ? c->body_len - c->body_pos
				  : sizeof(chunk);
		ssize_t n = pread(c->body_fd, chunk, want,
				  c->body_offset + (off_t)c->body_pos);

		if (n <= 0) {
			outcome_set(&o, 451, "4.3.0", false,
				    "cannot read the queue file");
			client_fail(c, &o);
			return;
		}
		if (c->use_bdat) {
			evbuffer_add(out, chunk, (size_t)n);
		} else {
			size_t start = 0;

			/* dot-stuffing (RFC 5321 4.5.2) */
			for (size_t i = 0; i < (size_t)n; i++) {
				if (c->body_bol && chunk[i] == '.') {
					evbuffer_add(out, chunk + start,
						     i - start);
					evbuffer_add(out, ".", 1);
					start = i;
				}
				c->body_bol = chunk[i] == '\n';
			}
			evbuffer_add(out, chunk + start, (size_t)n - start);
		}
		c->body_pos += (size_t)n;
	}
	if (c->body_pos < c->body_len)
		return;
	if (!c->use_bdat) {
		if (!c->body_bol)
			evbuffer_add(out, "\r\n", 2);
		evbuffer_add(out, ".\r\n", 3);
	}
	c->state = ST_BODY_END;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_enable(c->bev, EV_READ);
}

static void
start_body(struct smtp_client *c)
{
	c->state = ST_BODY;
	c->body_pos = 0;
	c->body_bol = true;
	if (c->use_bdat)
		client_send(c, "BDAT %zu LAST", c->body_len);
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, BODY_CHUNK, 0);
	pump_body(c);
}

/* The end of a transaction: done is called; nothing after it. */
static void
transaction_end(struct smtp_client *c)
{
	c->state = ST_READY;
	transaction_clear(c);
	c->done(c, c->context);
}

static void final_reply(struct smtp_client *c, bool need_rset);

static void
envelope_reply(struct smtp_client *c)
{
	struct client_cmd *cmd = &c->cmds[c->replied++];
	struct smtp_client_message *m = c->msg;

	switch (cmd->kind) {
	case CMD_RSET:
		break;
	case CMD_MAIL:
		if (c->reply.code / 100 != 2) {
			c->mail_failed = true;
			outcome_from_reply(&c->mail_outcome, &c->reply);
		}
		break;
	case CMD_RCPT:
		if (c->mail_failed)
			m->rcpts[cmd->rcpt].outcome = c->mail_outcome;
		else
			outcome_from_reply(&m->rcpts[cmd->rcpt].outcome,
					   &c->reply);
		if (c->reply.code / 100 == 2 && !c->mail_failed)
			c->accepted++;
		break;
	case CMD_DATA:
		/* DATA was pipelined after the RCPTs (RFC 2920 3.1). */
		if (c->reply.code != 354) {
			final_reply(c, true);
		} else if (c->mail_failed || c->accepted == 0) {
			/* Nobody to deliver to, yet the server waits for
			 * the message: end it empty (RFC 2920 3.1). */
			c->discard = true;
			c->state = ST_BODY_END;
			client_send(c, ".");
		} else {
			start_body(c);
		}
		return;
	}
	if (c->replied < c->ncmds) {
		pump_commands(c);
		return;
	}
	if (c->mail_failed || c->accepted == 0 || m->probe_only) {
		c->need_rset = true;
		transaction_end(c);
		return;
	}
	if (c->use_bdat) {
		start_body(c);
	} else {
		c->state = ST_DATA;
		client_send(c, "DATA");
	}
}

/* The final reply (or a refused DATA) applies to every accepted rcpt. */
static void
final_reply(struct smtp_client *c, bool need_rset)
{
	struct smtp_client_message *m = c->msg;
	struct smtp_client_outcome o;

	outcome_from_reply(&o, &c->reply);
	for (size_t i = 0; i < m->rcpt_count; i++)
		if (m->rcpts[i].outcome.code / 100 == 2)
			m->rcpts[i].outcome = o;
	c->need_rset = need_rset;
	transaction_end(c);
}

static void
handle_reply(struct smtp_client *c)
{
	int code = c->reply.code;

	switch (c->state) {
	case ST_GREETING:
		if (code != 220) {
			fail_reply(c, "the greeting");
			return;
		}
		set_timeout(c, c->cfg->command_timeout);
		send_ehlo(c);
		return;
	case ST_EHLO:
		if (code == 250) {
			smtp_caps_parse(&c->reply, &c->caps);
			after_ehlo(c);
		} else if (code / 100 == 5 && !c->tls_active) {
			memset(&c->caps, 0, sizeof(c->caps));
			c->state = ST_HELO;
			client_send(c, "HELO %s", c->cfg->helo);
		} else {
			fail_reply(c, "EHLO");
		}
		return;
	case ST_HELO:
		if (code != 250) {
			fail_reply(c, "HELO");
			return;
		}
		after_ehlo(c);
		return;
	case ST_STARTTLS:
		if (code == 220) {
			start_tls(c);
		} else if (c->cfg->tls == ROUTE_TLS_NONE) {
			c->caps.starttls = false;
			after_ehlo(c);
		} else {
			fail_reply(c, "STARTTLS");
		}
		return;
	case ST_AUTH:
	case ST_AUTH_LOGIN_PASS:
		if (code != 235) {
			fail_reply(c, "AUTH");
			return;
		}
		become_ready(c);
		return;
	case ST_AUTH_LOGIN_USER:
		if (code != 334) {
			fail_reply(c, "AUTH LOGIN");
			return;
		}
		if (c->reply.lines == 1 && c->reply.text_len > 0 &&
		    (strncmp(c->reply.text, "UGFzc3dvcmQ6", 12) == 0)) {
			c->state = ST_AUTH_LOGIN_PASS;
			send_login_part(c, c->cfg->auth_pass);
		} else {
			send_login_part(c, c->cfg->auth_user);
		}
		return;
	case ST_ENVELOPE:
		envelope_reply(c);
		return;
	case ST_DATA:
		if (code != 354) {
			final_reply(c, true);
			return;
		}
		start_body(c);
		return;
	case ST_BODY_END:
		if (c->discard) {
			c->need_rset = true;
			transaction_end(c);
			return;
		}
		final_reply(c, false);
		return;
	case ST_READY:
		/* e.g. 421 on an idle connection: it is no longer usable */
		c->state = ST_DEAD;
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		return;
	default: {
		char what[64];

		snprintf(what, sizeof(what), "unexpected reply in state %d",
			 (int)c->state);
		fail_protocol(c, what);
	}
		return;
	}
}

static void
client_read(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	const char *error;
	bool alive = true;
	size_t len;
	char *line;

	/* The greeting can be read before the connect event is seen. */
	if (c->state == ST_CONNECT)
		c->state = ST_GREETING;
	/* A callback from handle_reply may free c: *alive tells. */
	c->alive = &alive;
	while (c->state != ST_DEAD && c->state != ST_HANDSHAKE &&
	       (line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		int r = smtp_reply_feed(&c->reply, line, len, &error);

		free(line);
		if (r < 0) {
			fail_protocol(c, error);
			if (alive)
				c->alive = NULL;
			return;
		}
		if (r == 1) {
			struct smtp_reply *reply = &c->reply;

			handle_reply(c);
			if (!alive)
				return;
			smtp_reply_reset(reply);
		}
	}
	c->alive = NULL;
	if (c->state != ST_DEAD && c->state != ST_HANDSHAKE &&
	    evbuffer_get_length(in) > SMTP_REPLY_LINE_MAX)
		fail_protocol(c, "reply line too long");
}

static void
client_write(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;

	(void)bev;
	if (c->state == ST_BODY)
		pump_body(c);
}

static void
client_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_client *c = arg;
	struct smtp_client_outcome o;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == ST_CONNECT) {
			c->state = ST_GREETING;
			return;
		}
		if (c->state == ST_HANDSHAKE) {
			c->tls_active = true;
			snprintf(c->tls_version, sizeof(c->tls_version), "%s",
				 SSL_get_version(c->ssl));
			set_timeout(c, c->cfg->command_timeout);
			smtp_reply_reset(&c->reply);
			send_ehlo(c);
			return;
		}
		return;
	}
	if (c->state == ST_DEAD)
		return;
	if (c->state == ST_HANDSHAKE) {
		unsigned long e = bufferevent_get_openssl_error(c->bev);
		char detail[200] = "handshake failed";
		long v = SSL_get_verify_result(c->ssl);

		if (v != X509_V_OK)
			snprintf(detail, sizeof(detail),
				 "certificate verification failed: %s",
				 X509_verify_cert_error_string(v));
		else if (e != 0)
			ERR_error_string_n(e, detail, sizeof(detail));
		ERR_clear_error();
		outcome_set(&o, 454, "4.7.5", true, "TLS with %s: %s",
			    c->peer_ip, detail);
		client_fail(c, &o);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		outcome_set(&o, 421, "4.4.2", true, "timeout talking to %s",
			    c->peer_ip);
	else if (c->state == ST_CONNECT)
		outcome_set(
		    &o, 421, "4.4.1", true, "connect to %s: %s", c->peer_ip,
		    strerror(EVUTIL_SOCKET_ERROR() != 0 ? EVUTIL_SOCKET_ERROR()
							: ECONNREFUSED));
	else
		outcome_set(&o, 421, "4.4.2", true, "connection to %s lost",
			    c->peer_ip);
	client_fail(c, &o);
}

bool
smtp_client_usable(const struct smtp_client *c)
{
	return c != NULL && c->state == ST_READY;
}

void
smtp_client_free(struct smtp_client **cp)
{
	struct smtp_client *c = *cp;

	if (c == NULL)
		return;
	if (c->alive != NULL)
		*c->alive = false;
	if (c->state == ST_READY && c->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		/* Best effort, without waiting: the peer sees a QUIT. */
		if (c->ssl != NULL) {
			(void)SSL_write(c->ssl, "QUIT\r\n", 6);
			(void)SSL_shutdown(c->ssl);
		} else {
			int fd = bufferevent_getfd(c->bev);

			if (fd >= 0)
				(void)send(fd, "QUIT\r\n", 6,
					   MSG_NOSIGNAL | MSG_DONTWAIT);
		}
	}
	transaction_clear(c);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	event_free(c->later);
	x_free(cp);
}

const char *
smtp_client_tls_version(const struct smtp_client *c)
{
	return c->tls_version;
}

const char *
smtp_client_peer_ip(const struct smtp_client *c)
{
	return c->peer_ip;
}

const struct smtp_caps *
smtp_client_caps(const struct smtp_client *c)
{
	return &c->caps;
}
