/*
 * smtp_session: the SMTP state machine of one connection (RFC 5321 with
 * PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, STARTTLS, AUTH,
 * CHUNKING and DSN). Called by smtp_server.c on accept; runs entirely on the
 * event loop, handing password checks to auth_pool and fsyncs to
 * spool_commit and resuming in their callbacks. The AUTH dialogue lives in
 * smtp_session_auth.c; the state both share is in smtp_session_private.h.
 *
 * Invariants:
 * - Input is processed in order, one command at a time; while an auth check
 *   or a commit is pending (SESSION_WAIT) nothing more is read from the
 *   input buffer, so pipelined commands wait behind it. Nothing is ever
 *   read past DATA/BDAT/STARTTLS as a command: after STARTTLS whatever the
 *   client pipelined in clear text is discarded (injection defence).
 * - The message is never held in memory: DATA and BDAT bytes are checked
 *   and written to DATA_DIR/queue/<qid> as they arrive (through a 64 KiB
 *   write buffer). The file is unlinked on every path that does not end in
 *   "250 queued" (reject, error, disconnect, shutdown).
 * - "250 2.0.0 Ok: queued as <qid>" is sent only after spool_commit reports
 *   the file durable.
 * - A session with an auth check, a filter run or a commit in flight is not
 *   freed when the client goes away; it is marked dead and freed by that
 *   callback. The idle timeouts do not apply while it waits (SESSION_WAIT).
 * - The filter chain runs phase by phase (filters/filter_chain.h): CONNECT
 *   before the greeting (and after XCLIENT), HELO, MAIL and each RCPT
 *   before their answers, DATA after the message is spooled; the answer of
 *   each comes from rules/policy (policy_decide_stage). Refusals found
 *   before RCPT wait in s->refusal[] for the RCPTs (smtp.delay_reject).
 *   The filter state of a transaction ends in session_tx_reset(), the
 *   connection's in session_free().
 *
 * Message data policy (DATA and BDAT alike), for the admin guide:
 * - Lines must end with CRLF. A bare LF or a bare CR anywhere in the data
 *   makes the whole message rejected after the end of data with
 *   "554 5.6.0 Message contains bare LF/CR; lines must end with CRLF".
 * - A NUL byte anywhere: "554 5.6.0 Message contains NUL bytes".
 * - A line longer than smtp.max_line_length octets (without CRLF):
 *   "552 5.3.4 Message line too long".
 * - More than smtp.max_message_size octets: writing stops at the limit, the
 *   rest is read and dropped, then "552 5.3.4 Message size exceeds fixed
 *   limit".
 * - DATA ends only at CRLF "." CRLF. "\n.\n", "\r.\r\n" and "\n.\r\n" do not
 *   end the data (no SMTP smuggling); such messages are then rejected for
 *   their bare LF/CR anyway.

 * - A full disk: MAIL gets "452 4.3.1 Insufficient system storage" while
 *   the spool's file system has less than queue.min_free (plus a declared
 *   SIZE) free; a write or fsync that fails with ENOSPC/EDQUOT ends the
 *   data with the same reply (any other write error: 451 4.3.0).
 */
#include "gateway/smtp_session_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "filters/filter_chain.h"
#include "gateway/queue_file.h"
#include "gateway/smtp_address.h"
#include "gateway/smtp_command.h"
#include "gateway/spool_commit.h"
#include "gateway/spool_edit.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/net_conn.h"
#include "lib/netaddr.h"
#include "lib/pool.h"
#include "lib/xalloc.h"
#include "mailstore/directory.h"
#include "rules/policy.h"

#define SESSION_OUTPUT_MAX  (256 * 1024)
#define SESSION_INPUT_HIGH  (128 * 1024)
#define SESSION_WRITE_CHUNK (64 * 1024)

static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_write_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);

/* ------------------------------------------------------------------ */
/* replies and life cycle */

void
session_reply(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

static void
session_discard_file(struct smtp_session *s)
{
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	if (s->path != NULL) {
		if (unlink(s->path) < 0 && errno != ENOENT)
			log_warn("session=%s qid=%s event=unlink_failed", s->id,
				 s->qid);
		x_free(&s->path);
	}
	buf_reset(&s->wbuf);
}

/* The filters' envelope from the session (rcpt: the RCPT phase's). */
static void
session_fenv(const struct smtp_session *s, struct filter_envelope *e,
	     const char *rcpt)
{
	memset(e, 0, sizeof(*e));
	e->session_id = s->id;
	e->qid = s->qid;
	e->client_ip = s->ip;
	e->client_name = s->client_name[0] != '\0' ? s->client_name : NULL;
	e->helo = s->helo;
	e->mail_from = s->mail_from != NULL ? s->mail_from : "";
	e->auth_user = s->auth_user;
	e->rcpts = s->rcpt_addrs;
	e->rcpt_count = s->rcpt_addrs != NULL ? s->rcpt_count : 0;
	e->submission =
	    s->kind == LISTENER_SUBMISSION || s->kind == LISTENER_SMTPS;
	e->tls = s->tls;
	e->local_hostname = s->server->hostname;
	e->rcpt = rcpt;
}

static void
session_tx_reset(struct smtp_session *s)
{
	if (s->fsess != NULL) {
		/* Refused before DATA: the summary line says so; then the
		 * filters that ran for it hear that it ended. */
		if (s->tx_refused != POLICY_CONTINUE && !s->tx_data_run &&
		    !s->tx_completed) {
			struct filter_envelope fenv;

			session_fenv(s, &fenv, NULL);
			filter_session_log_refused(
			    s->fsess, &fenv,
			    (enum policy_verdict)s->tx_refused);
		}
		filter_session_end_tx(s->fsess, s->tx_completed);
	}
	s->tx_completed = s->tx_data_run = false;
	s->tx_refused = POLICY_CONTINUE;
	s->refusal[SESSION_REFUSAL_MAIL].set = false;
	s->rcpt_addrs = NULL;
	s->pending_rcpt = s->pending_notify = s->pending_orcpt = NULL;
	session_discard_file(s);
	pool_clear(s->tx_pool);
	s->in_tx = false;
	s->mail_from = NULL;
	s->body = SMTP_BODY_NONE;
	s->smtputf8 = false;
	s->ret = s->envid = NULL;
	s->rcpts = NULL;
	s->rcpt_count = s->rcpt_alloc = 0;
	s->qid[0] = '\0';
	s->bdat_used = s->bdat_last = s->bdat_reject = false;
	s->bdat_reply = NULL;
	s->bdat_remaining = 0;
}

void
session_free(struct smtp_session *s)
{
	struct smtp_server *srv = s->server;

	log_info("session=%s event=disconnect ip=%s commands=%lu messages=%lu "
		 "rcpts=%lu errors=%lu",
		 s->id, s->ip, s->commands, s->messages, s->rcpts_total,
		 s->errors);
	session_tx_reset(s);
	filter_session_free(&s->fsess);
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
	pool_free(&s->tx_pool);
	buf_free(&s->wbuf);
	free(s->auth_user);
	explicit_bzero(s->auth_login, sizeof(s->auth_login));
	free(s);
	if (srv->stopping && srv->session_count == 0)
		event_base_loopexit(srv->base, NULL);
}

/* The client is gone (or we are dropping it): free now, or when the
 * pending auth/commit callback arrives. */
static void
session_kill(struct smtp_session *s)
{
	log_debug("session=%s event=kill state=%d", s->id, (int)s->state);
	if (s->async_pending) {
		s->dead = true;
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

/* How long a closing session may take to flush its last reply. */
static const struct timeval close_tv = {10, 0};
static const struct timeval close_poll_tv = {0, 20000};

static void
session_close_poll(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)fd;
	(void)what;
	/* 10 s at 20 ms per poll, then give up on the client */
	if (net_conn_output_pending(s->bev) == 0 || ++s->close_polls > 500) {
		session_kill(s);
		return;
	}
	evtimer_add(s->close_timer, &close_poll_tv);
}

/* Sends what is queued, then frees the session. A STARTTLS filter moves
 * its output to the underlying bufferevent at once, so the write callback
 * alone cannot tell when the reply left: a short poll covers that case. */
static void
session_close_after_flush(struct smtp_session *s)
{
	s->state = SESSION_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (net_conn_output_pending(s->bev) == 0) {
		session_kill(s);
		return;
	}
	bufferevent_setcb(s->bev, NULL, session_write_cb, session_event_cb, s);
	bufferevent_set_timeouts(s->bev, NULL, &close_tv);
	if (bufferevent_get_underlying(s->bev) != NULL) {
		s->close_timer =
		    evtimer_new(s->server->base, session_close_poll, s);
		evtimer_add(s->close_timer, &close_poll_tv);
	}
}

static void
session_set_timeout(struct smtp_session *s, unsigned int seconds)
{
	struct timeval tv = {(time_t)seconds, 0};

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

/* Counts a failed command; true when the session was closed for it. */
bool
session_error(struct smtp_session *s)
{
	s->errors++;
	if (s->server->set->smtp_max_errors > 0 &&
	    (long long)s->errors >= s->server->set->smtp_max_errors) {
		log_info("session=%s event=limit limit=max_errors errors=%lu",
			 s->id, s->errors);
		session_reply(s, "421 4.7.0 %s Too many errors, closing",
			      s->server->hostname);
		session_close_after_flush(s);
		return true;
	}
	return false;
}

/* Idle between transactions during a graceful stop: say goodbye. */
static bool
session_stop_if_idle(struct smtp_session *s)
{
	if (!s->server->stopping || s->in_tx || s->state != SESSION_COMMAND)
		return false;
	session_reply(s, "421 4.3.2 %s Service shutting down, closing",
		      s->server->hostname);
	session_close_after_flush(s);
	return true;
}

/* ------------------------------------------------------------------ */
/* the message file */

/*
 * Whether the spool's file system lacks room for a message of declared
 * size (0: not declared) while keeping queue.min_free free: checked at
 * MAIL, so that a full disk is said before the client sends the data
 * (RFC 1870: 452 4.3.1). Sets *free_r (bytes available to the moat user).
 */
static bool
session_storage_low(struct smtp_session *s, unsigned long long size,
		    unsigned long long *free_r)
{
	struct statvfs vfs;
	unsigned long long need = s->server->set->queue_min_free + size;

	if (fstatvfs(s->server->queue_dir_fd, &vfs) < 0)
		return false; /* the write will tell */
	*free_r = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	return *free_r < need;
}

/* Records a queue-file error (the first one's errno decides the reply). */
static void
session_io_failed(struct smtp_session *s, int err)
{
	if (!s->io_error)
		s->io_errno = err;
	s->io_error = true;
}

/* The reply to a queue-file error: a full disk (or a quota of the moat
 * user) is 452 4.3.1 (RFC 3463: mail system full), anything else 451. */
static const char *
session_io_reply(int err)
{
	if (err == ENOSPC || err == EDQUOT)
		return "452 4.3.1 Insufficient system storage";
	return "451 4.3.0 Error: queue file write error";
}

static void
session_flush_wbuf(struct smtp_session *s)
{
	size_t off = 0;
	ssize_t n;

	while (off < s->wbuf.len && !s->io_error) {
		n = write(s->fd, s->wbuf.data + off, s->wbuf.len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("session=%s qid=%s event=write_error", s->id,
				  s->qid);
			session_io_failed(s, errno);
			break;
		}
		off += (size_t)n;
	}
	buf_reset(&s->wbuf);
}

static const char *
session_protocol(const struct smtp_session *s)
{
	static const char *names[] = {"ESMTP",	   "ESMTPA",	"ESMTPS",
				      "ESMTPSA",   "UTF8SMTP",	"UTF8SMTPA",
				      "UTF8SMTPS", "UTF8SMTPSA"};
	int i = (s->auth_user != NULL ? 1 : 0) + (s->tls ? 2 : 0) +
		(s->smtputf8 ? 4 : 0);

	if (!s->esmtp)
		return "SMTP";
	return names[i];
}

/* The transaction's queue envelope; its strings are the session's. */
static void
session_envelope(struct smtp_session *s, time_t now,
		 struct queue_envelope *env_r)
{
	struct queue_envelope env;
	struct queue_rcpt *qr;
	size_t i;

	memset(&env, 0, sizeof(env));
	memcpy(env.qid, s->qid, sizeof(env.qid));
	env.mail_from = s->mail_from;
	env.body = s->body == SMTP_BODY_8BITMIME ? "8BITMIME"
		   : s->body == SMTP_BODY_7BIT	 ? "7BIT"
						 : NULL;
	env.ret = s->ret;
	env.envid = s->envid;
	env.smtputf8 = s->smtputf8;
	env.auth_user = s->auth_user;
	env.client_ip = s->ip;
	env.helo = s->helo;
	env.arrival = now;
	qr = pool_zalloc(s->tx_pool, sizeof(*qr) * s->rcpt_count);
	for (i = 0; i < s->rcpt_count; i++) {
		qr[i].address = s->rcpts[i].address;
		qr[i].notify = s->rcpts[i].notify;
		qr[i].orcpt = s->rcpts[i].orcpt;
	}
	env.rcpts = qr;
	env.rcpt_count = s->rcpt_count;
	*env_r = env;
}

static int
session_open_message(struct smtp_session *s)
{
	struct queue_envelope env;
	char date[64];
	struct tm tm;
	time_t now = time(NULL);

	queue_id_new(s->qid);
	s->path = xasprintf("%s/%s", s->server->queue_dir, s->qid);
	s->fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		     QUEUE_FILE_MODE_WRITING);
	if (s->fd < 0) {
		int err = errno;

		log_error("session=%s qid=%s event=queue_open_failed", s->id,
			  s->qid);
		x_free(&s->path);
		errno = err;
		return -1;
	}
	s->arrival = now;
	session_envelope(s, now, &env);

	buf_reset(&s->wbuf);
	queue_envelope_encode(&env, &s->wbuf);
	s->header_len = s->wbuf.len;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	buf_printf(&s->wbuf,
		   "Received: from %s ([%s%s])\r\n\tby %s (Moat) with %s id %s",
		   s->helo, strchr(s->ip, ':') != NULL ? "IPv6:" : "", s->ip,
		   s->server->hostname, session_protocol(s), s->qid);
	if (s->rcpt_count == 1)
		buf_printf(&s->wbuf, "\r\n\tfor <%s>", s->rcpts[0].address);
	buf_printf(&s->wbuf, "; %s\r\n", date);
	s->data_len = s->wbuf.len - s->header_len;
	s->body_len = 0;
	s->line_len = 0;
	s->bol = true;
	s->cr_pending = s->dot_pending = s->dot_cr_pending = false;
	s->bad_eol = s->has_nul = s->line_too_long = false;
	s->too_big = s->io_error = false;
	s->io_errno = 0;
	return 0;
}

/* One message byte after dot-unstuffing and CR handling. */
static inline void
data_emit(struct smtp_session *s, char c)
{
	const struct moat_settings *set = s->server->set;

	if (s->body_len >= set->smtp_max_message_size) {
		s->too_big = true;
		return;
	}
	s->body_len++;
	if (c == '\0')
		s->has_nul = true;
	if (c == '\n' || c == '\r') {
		s->line_len = 0;
	} else if ((long long)++s->line_len > set->smtp_max_line_length) {
		s->line_too_long = true;
	}
	if (s->bad_eol || s->has_nul || s->line_too_long || s->too_big ||
	    s->io_error)
		return; /* rejected anyway: stop writing, keep draining */
	buf_append_char(&s->wbuf, c);
	s->data_len++;
	if (s->wbuf.len >= SESSION_WRITE_CHUNK)
		session_flush_wbuf(s);
}

/* A byte that is not CR/LF/dot-special after a pending bare CR. */
static inline void
data_bare_cr(struct smtp_session *s)
{
	s->bad_eol = true;
	data_emit(s, '\r');
	s->cr_pending = false;
}

/*
 * Feeds raw bytes. dot_mode: DATA (dot-unstuffing, end at CRLF.CRLF).
 * Returns the number of bytes consumed; *done_r true when DATA ended (the
 * terminator consumed).
 */
static size_t
data_feed(struct smtp_session *s, const unsigned char *p, size_t n,
	  bool dot_mode, bool *done_r)
{
	size_t i;

	*done_r = false;
	for (i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (s->dot_cr_pending) {
			s->dot_cr_pending = false;
			if (c == '\n') {
				*done_r = true;
				return i + 1;
			}
			/* ".\r" + something: the dot was stuffing; bare CR */
			s->bad_eol = true;
			data_emit(s, '\r');
			s->bol = false;
		} else if (s->dot_pending) {
			s->dot_pending = false;
			if (c == '\r') {
				s->dot_cr_pending = true;
				continue;
			}
			/* the leading dot is dropped (unstuffing) */
		}
		if (s->cr_pending) {
			if (c == '\n') {
				s->cr_pending = false;
				data_emit(s, '\r');
				data_emit(s, '\n');
				s->bol = true;
				continue;
			}
			data_bare_cr(s);
		}
		if (c == '\r') {
			s->cr_pending = true;
			continue;
		}
		if (c == '\n') {
			s->bad_eol = true; /* bare LF; does not start a line */
			data_emit(s, '\n');
			s->bol = false;
			continue;
		}
		if (dot_mode && s->bol && c == '.') {
			s->bol = false;
			s->dot_pending = true;
			continue;
		}
		s->bol = false;
		data_emit(s, (char)c);
	}
	return n;
}

static void session_commit_done(int status, void *context);
static void session_message_decide(struct smtp_session *s,
				   const struct filter_chain_result *fres,
				   bool resume);

/* The filter chain's answer, on the loop. */
static void
session_filters_done(const struct filter_chain_result *result, void *context)
{
	struct smtp_session *s = context;

	s->async_pending = false;
	if (s->dead) {
		session_free(s); /* the client left: it will retry */
		return;
	}
	if (s->state == SESSION_CLOSING)
		return; /* timed out while waiting: the close frees it */
	session_message_decide(s, result, true);
}

/* The end of DATA or BDAT LAST: check, trailer, then the filter chain. */
static void
session_message_end(struct smtp_session *s)
{
	struct filter_envelope fenv;
	const char *reject = NULL;

	if (s->cr_pending)
		data_bare_cr(s);
	session_flush_wbuf(s);
	if (s->too_big)
		reject = "552 5.3.4 Message size exceeds fixed limit";
	else if (s->has_nul)
		reject = "554 5.6.0 Message contains NUL bytes";
	else if (s->bad_eol)
		reject = "554 5.6.0 Message contains bare LF/CR; lines must "
			 "end with CRLF";
	else if (s->line_too_long)
		reject = "552 5.3.4 Message line too long";
	else if (s->io_error)
		reject = session_io_reply(s->io_errno);
	if (reject != NULL) {
		log_info(
		    "session=%s qid=%s event=reject reason=\"%s\" size=%zu",
		    s->id, s->qid, reject + 10, s->body_len);
		session_reply(s, "%s", reject);
		session_tx_reset(s);
		s->state = SESSION_COMMAND;
		(void)session_error(s);
		return;
	}
	/* No trailer yet: until the policy step accepts the message the
	 * file is incomplete, so the queue never picks it up. */
	if (s->fsess == NULL) {
		struct filter_chain_result none;

		memset(&none, 0, sizeof(none));
		none.verdict = POLICY_CONTINUE;
		session_message_decide(s, &none, false);
		return;
	}
	/* Even when no filter wants DATA: the run builds the
	 * Authentication-Results of the earlier phases and logs. */
	session_fenv(s, &fenv, NULL);
	s->tx_data_run = true;
	s->state = SESSION_WAIT;
	s->async_pending = true;
	filter_session_run(s->fsess, FILTER_PHASE_DATA, &fenv, s->fd,
			   (off_t)s->header_len, s->data_len,
			   session_filters_done, s);
}

/*
 * The envelope of a message the policy step quarantines: the usual one plus
 * why (the verdict's reply text, or the spam score), who decided (the
 * filter), the chain's symbols and score. The queue reads them to store
 * the message in the quarantine instead of delivering it.
 */
static void
session_quarantine_envelope(struct smtp_session *s,
			    const struct filter_chain_result *fres,
			    struct buf *out)
{
	struct queue_envelope env;
	struct buf symbols, reason;
	const char *by =
	    fres->verdict_filter != NULL ? fres->verdict_filter : "policy";

	buf_init(&symbols);
	buf_init(&reason);
	for (size_t i = 0; i < fres->symbol_count; i++)
		buf_printf(&symbols, "%s%s(%.2f)", i > 0 ? "," : "",
			   fres->symbols[i].name, fres->symbols[i].score);
	if (fres->text != NULL)
		buf_append_str(&reason, fres->text);
	else if (strcmp(by, "spam") == 0)
		buf_printf(&reason, "spam score %.2f", fres->score);
	else
		buf_printf(&reason, "quarantined by %s", by);
	session_envelope(s, s->arrival, &env);
	env.quarantine = (char *)buf_cstr(&reason);
	env.quarantine_by = (char *)by;
	env.symbols = (char *)buf_cstr(&symbols);
	env.score = fres->score;
	queue_envelope_encode(&env, out);
	buf_free(&symbols);
	buf_free(&reason);
}

/*
 * Applies the chain's header edits to the spool file, asks the policy step
 * and answers or commits. resume: called from a callback, so the commands
 * waiting behind DATA are processed afterwards.
 */
static void
session_message_decide(struct smtp_session *s,
		       const struct filter_chain_result *fres, bool resume)
{
	struct policy_answer ans;

	{
		const struct moat_settings *set = s->server->set;
		struct policy_config pcfg = {
		    &set->policy_reject_symbols, &set->policy_tempfail_symbols,
		    set->policy_reject_score, set->smtp_delay_reject};
		struct policy_input pin;
		const char **names = pool_alloc(
		    s->tx_pool, sizeof(*names) * (fres->symbol_count + 1));

		for (size_t i = 0; i < fres->symbol_count; i++)
			names[i] = fres->symbols[i].name;
		memset(&pin, 0, sizeof(pin));
		pin.verdict = fres->verdict;
		pin.code = fres->code;
		pin.enhanced = fres->enhanced;
		pin.text = fres->text;
		pin.symbols = names;
		pin.symbol_count = fres->symbol_count;
		pin.score = fres->score;
		policy_decide(&pcfg, &pin, &ans);
	}

	switch (ans.action) {
	case POLICY_REJECT:
	case POLICY_TEMPFAIL: {
		bool temp = ans.action == POLICY_TEMPFAIL;
		int code = ans.code != 0 ? ans.code : temp ? 451 : 550;
		const char *enh = ans.enhanced != NULL ? ans.enhanced
				  : temp	       ? "4.7.1"
						       : "5.7.1";
		const char *text = ans.text != NULL ? ans.text
				   : temp	    ? "Message deferred"
						    : "Message rejected";

		log_info("session=%s qid=%s event=reject reason=policy "
			 "action=%s rule=%s code=%d",
			 s->id, s->qid, temp ? "tempfail" : "reject", ans.rule,
			 code);
		session_reply(s, "%d %s %s", code, enh, text);
		session_tx_reset(s);
		s->state = SESSION_COMMAND;
		if (resume)
			session_process(s);
		return;
	}
	case POLICY_DISCARD:
		log_info("session=%s qid=%s event=discard size=%zu", s->id,
			 s->qid, s->body_len);
		session_reply(s, "250 2.0.0 Ok: queued as %s", s->qid);
		s->messages++;
		s->tx_completed = true;
		session_tx_reset(s);
		s->state = SESSION_COMMAND;
		if (resume)
			session_process(s);
		return;
	default:
		break;
	}
	/* Accepted: header edits and a quarantine verdict (they rewrite the
	 * file with its trailer), else the trailer; then the durable
	 * commit. */
	s->quarantined = ans.action == POLICY_QUARANTINE;
	if (fres->add_len > 0 || fres->cut_count > 0 || s->quarantined) {
		struct buf envelope;
		int nfd;
		size_t nlen;

		buf_init(&envelope);
		if (s->quarantined)
			session_quarantine_envelope(s, fres, &envelope);
		if (spool_edit_apply(s->path, s->fd, s->header_len, s->data_len,
				     fres,
				     s->quarantined ? envelope.data : NULL,
				     envelope.len, &nfd, &nlen) < 0) {
			log_error("session=%s qid=%s event=spool_edit_failed",
				  s->id, s->qid);
			session_io_failed(s, errno);
		} else {
			s->fd = nfd;
			s->data_len = nlen;
			if (s->quarantined)
				s->header_len = envelope.len;
		}
		buf_free(&envelope);
	} else {
		char trailer[QUEUE_TRAILER_LEN + 1];

		queue_trailer_format(s->data_len, trailer);
		buf_append(&s->wbuf, trailer, QUEUE_TRAILER_LEN);
		session_flush_wbuf(s);
	}
	/* Complete: the mark is made durable by the commit's fsync. */
	if (!s->io_error && queue_file_mark_ready(s->fd) < 0) {
		log_error("session=%s qid=%s event=mark_ready_failed", s->id,
			  s->qid);
		session_io_failed(s, errno);
	}
	if (s->io_error) {
		session_reply(s, "%s", session_io_reply(s->io_errno));
		session_tx_reset(s);
		s->state = SESSION_COMMAND;
		if (resume)
			session_process(s);
		return;
	}
	s->state = SESSION_WAIT;
	s->async_pending = true;
	spool_commit_submit(s->server->committer, s->fd, session_commit_done,
			    s);
}

static void
session_commit_done(int status, void *context)
{
	struct smtp_session *s = context;
	int qfd = s->server->ctx->queue_notify_fd;

	s->async_pending = false;
	if (s->dead) {
		/* The client left before the 250: it will retry. */
		session_free(s);
		return;
	}
	if (status < 0) {
		session_reply(s, "%s", session_io_reply(-status));
		log_info("session=%s qid=%s event=reject reason=commit_failed",
			 s->id, s->qid);
		session_tx_reset(s);
	} else {
		close(s->fd);
		s->fd = -1;
		x_free(&s->path); /* committed: no longer ours to unlink */
		log_info("session=%s qid=%s event=queued size=%zu rcpts=%zu "
			 "from=<%s>%s",
			 s->id, s->qid, s->body_len, s->rcpt_count,
			 s->mail_from, s->quarantined ? " quarantine=yes" : "");
		session_reply(s, "250 2.0.0 Ok: queued as %s", s->qid);
		if (qfd >= 0 &&
		    send(qfd, s->qid, strlen(s->qid),
			 MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
		    errno != EAGAIN && errno != EWOULDBLOCK)
			log_warn("session=%s qid=%s event=notify_failed", s->id,
				 s->qid);
		s->messages++;
		s->tx_completed = true;
		session_tx_reset(s);
	}
	s->state = SESSION_COMMAND;
	session_process(s);
}

/* ------------------------------------------------------------------ */
/* filter phases before DATA (filters/filter_chain.h, rules/policy.h) */

/* A phase run came back: false when the session is gone (freed now) or
 * closing (a timeout while it waited: the close frees it). */
static bool
session_async_back(struct smtp_session *s)
{
	s->async_pending = false;
	if (s->dead) {
		session_free(s);
		return false;
	}
	return s->state != SESSION_CLOSING;
}

/* The policy's answer to the command of stage from a phase run. */
static void
session_stage_answer(struct smtp_session *s, enum policy_stage stage,
		     const struct filter_chain_result *fres,
		     struct policy_answer *ans)
{
	const struct moat_settings *set = s->server->set;
	struct policy_config pcfg = {
	    &set->policy_reject_symbols, &set->policy_tempfail_symbols,
	    set->policy_reject_score, set->smtp_delay_reject};
	struct policy_input pin;
	const char **names = xcalloc(fres->symbol_count + 1, sizeof(*names));

	for (size_t i = 0; i < fres->symbol_count; i++)
		names[i] = fres->symbols[i].name;
	memset(&pin, 0, sizeof(pin));
	pin.verdict = fres->verdict;
	pin.code = fres->code;
	pin.enhanced = fres->enhanced;
	pin.text = fres->text;
	pin.symbols = names;
	pin.symbol_count = fres->symbol_count;
	pin.score = fres->score;
	policy_decide_stage(&pcfg, stage, &pin, ans);
	free(names);
}

static const char *
stage_name(enum policy_stage stage)
{
	static const char *const names[] = {"connect", "helo", "mail", "rcpt",
					    "data"};

	return names[stage];
}

/* True when ans refuses; then r is the refusal (logged). */
static bool
session_refusal_make(struct smtp_session *s, enum policy_stage stage,
		     const struct policy_answer *ans,
		     const struct filter_chain_result *fres,
		     struct session_refusal *r)
{
	if (ans->action != POLICY_REJECT && ans->action != POLICY_TEMPFAIL)
		return false;
	memset(r, 0, sizeof(*r));
	r->set = true;
	r->temp = ans->action == POLICY_TEMPFAIL;
	snprintf(r->reply, sizeof(r->reply), "%d %s %s", ans->code,
		 ans->enhanced, ans->text);
	snprintf(r->by, sizeof(r->by), "%s",
		 strcmp(ans->rule, "verdict") == 0 &&
			 fres->verdict_filter != NULL
		     ? fres->verdict_filter
		     : ans->rule);
	log_info("session=%s event=filter_refusal stage=%s action=%s by=%s "
		 "code=%d answer=%s",
		 s->id, stage_name(stage), r->temp ? "tempfail" : "reject",
		 r->by, ans->code, ans->deferred ? "at_rcpt" : "now");
	return true;
}

static void
session_greet(struct smtp_session *s)
{
	session_reply(s, "220 %s %s", s->server->hostname,
		      s->server->set->smtp_banner);
}

static void
session_connect_done(const struct filter_chain_result *fres, void *context)
{
	struct smtp_session *s = context;
	struct policy_answer ans;
	struct session_refusal r;

	if (!session_async_back(s))
		return;
	s->state = SESSION_COMMAND;
	session_stage_answer(s, POLICY_STAGE_CONNECT, fres, &ans);
	if (session_refusal_make(s, POLICY_STAGE_CONNECT, &ans, fres, &r)) {
		s->refusal[SESSION_REFUSAL_CONNECT] = r;
		if (!ans.deferred) {
			/* RFC 5321 3.1: a refusing greeting, then only
			 * QUIT is served. */
			s->no_service = true;
			session_reply(s, "%s", r.reply);
			session_process(s);
			return;
		}
	}
	session_greet(s);
	session_process(s);
}

void
session_connect_phase(struct smtp_session *s)
{
	struct filter_envelope fenv;

	s->refusal[SESSION_REFUSAL_CONNECT].set = false;
	s->refusal[SESSION_REFUSAL_HELO].set = false;
	s->no_service = false;
	if (s->fsess == NULL ||
	    !filter_chain_wants(s->server->chain, FILTER_PHASE_CONNECT)) {
		session_greet(s);
		return;
	}
	session_fenv(s, &fenv, NULL);
	s->state = SESSION_WAIT;
	s->async_pending = true;
	filter_session_run(s->fsess, FILTER_PHASE_CONNECT, &fenv, -1, 0, 0,
			   session_connect_done, s);
}

static void session_helo_reply(struct smtp_session *s, bool ehlo);

static void
session_helo_done(const struct filter_chain_result *fres, void *context)
{
	struct smtp_session *s = context;
	struct policy_answer ans;
	struct session_refusal r;

	if (!session_async_back(s))
		return;
	s->state = SESSION_COMMAND;
	session_stage_answer(s, POLICY_STAGE_HELO, fres, &ans);
	if (session_refusal_make(s, POLICY_STAGE_HELO, &ans, fres, &r)) {
		if (!ans.deferred) {
			s->have_helo = false;
			session_reply(s, "%s", r.reply);
			(void)session_error(s);
			session_process(s);
			return;
		}
		s->refusal[SESSION_REFUSAL_HELO] = r;
	}
	session_helo_reply(s, s->helo_ehlo);
	session_process(s);
}

static void
session_mail_done(const struct filter_chain_result *fres, void *context)
{
	struct smtp_session *s = context;
	struct policy_answer ans;
	struct session_refusal r;

	if (!session_async_back(s))
		return;
	s->state = SESSION_COMMAND;
	session_stage_answer(s, POLICY_STAGE_MAIL, fres, &ans);
	if (session_refusal_make(s, POLICY_STAGE_MAIL, &ans, fres, &r)) {
		if (!ans.deferred) {
			session_reply(s, "%s", r.reply);
			s->tx_refused = ans.action;
			session_tx_reset(s);
			if (!r.temp)
				(void)session_error(s);
			session_process(s);
			return;
		}
		s->refusal[SESSION_REFUSAL_MAIL] = r;
	}
	session_reply(s, "250 2.1.0 Ok");
	session_process(s);
}

/* A refusal found before RCPT answers this RCPT; true when it did. A
 * refusal about the client does not bind a user who authenticated. */
static bool
session_rcpt_refused_early(struct smtp_session *s, const char *safe)
{
	static const char *const stages[] = {"connect", "helo", "mail"};

	for (size_t i = 0; i < SESSION_REFUSAL_SLOTS; i++) {
		const struct session_refusal *r = &s->refusal[i];

		if (!r->set ||
		    (i != SESSION_REFUSAL_MAIL && s->auth_user != NULL))
			continue;
		session_reply(s, "%s", r->reply);
		log_info("session=%s event=rcpt result=%s to=<%s> "
			 "reason=filter stage=%s by=%s",
			 s->id, r->temp ? "tempfail" : "rejected", safe,
			 stages[i], r->by);
		if (s->tx_refused != POLICY_REJECT)
			s->tx_refused =
			    r->temp ? POLICY_TEMPFAIL : POLICY_REJECT;
		if (!r->temp)
			(void)session_error(s);
		return true;
	}
	return false;
}

static void session_rcpt_accept(struct smtp_session *s, const char *address,
				const char *notify, const char *orcpt);

static void
session_rcpt_done(const struct filter_chain_result *fres, void *context)
{
	struct smtp_session *s = context;
	struct policy_answer ans;
	struct session_refusal r;
	char safe[128];

	if (!session_async_back(s))
		return;
	s->state = SESSION_COMMAND;
	session_stage_answer(s, POLICY_STAGE_RCPT, fres, &ans);
	if (session_refusal_make(s, POLICY_STAGE_RCPT, &ans, fres, &r)) {
		log_sanitize(s->pending_rcpt, strlen(s->pending_rcpt), safe,
			     sizeof(safe));
		session_reply(s, "%d %s <%s>: %s", ans.code, ans.enhanced,
			      s->pending_rcpt, ans.text);
		log_info("session=%s event=rcpt result=%s to=<%s> "
			 "reason=filter stage=rcpt by=%s",
			 s->id, r.temp ? "tempfail" : "rejected", safe, r.by);
		if (s->tx_refused != POLICY_REJECT)
			s->tx_refused = ans.action;
		if (!r.temp)
			(void)session_error(s);
	} else {
		session_rcpt_accept(s, s->pending_rcpt, s->pending_notify,
				    s->pending_orcpt);
	}
	s->pending_rcpt = s->pending_notify = s->pending_orcpt = NULL;
	session_process(s);
}

void
session_rcpt_add(struct smtp_session *s, const char *address,
		 const char *notify, const char *orcpt)
{
	struct filter_envelope fenv;

	if (s->fsess == NULL ||
	    !filter_chain_wants(s->server->chain, FILTER_PHASE_RCPT)) {
		session_rcpt_accept(s, address, notify, orcpt);
		return;
	}
	s->pending_rcpt = pool_strdup(s->tx_pool, address);
	s->pending_notify =
	    notify != NULL ? pool_strdup(s->tx_pool, notify) : NULL;
	s->pending_orcpt =
	    orcpt != NULL ? pool_strdup(s->tx_pool, orcpt) : NULL;
	session_fenv(s, &fenv, s->pending_rcpt);
	s->state = SESSION_WAIT;
	s->async_pending = true;
	filter_session_run(s->fsess, FILTER_PHASE_RCPT, &fenv, -1, 0, 0,
			   session_rcpt_done, s);
}

/* ------------------------------------------------------------------ */
/* commands */

static void
cmd_helo(struct smtp_session *s, const struct smtp_command *cmd, bool ehlo)
{
	size_t n = strlen(cmd->arg);
	char safe[128];

	if (n > SESSION_HELO_MAX)
		n = SESSION_HELO_MAX;
	memcpy(s->helo, cmd->arg, n);
	s->helo[n] = '\0';
	s->have_helo = true;
	s->esmtp = ehlo;
	session_tx_reset(s);
	s->refusal[SESSION_REFUSAL_HELO].set = false;
	log_info("session=%s event=helo verb=%s helo=%s", s->id,
		 ehlo ? "EHLO" : "HELO",
		 log_sanitize(s->helo, strlen(s->helo), safe, sizeof(safe)));
	if (s->fsess != NULL &&
	    filter_chain_wants(s->server->chain, FILTER_PHASE_HELO)) {
		struct filter_envelope fenv;

		session_fenv(s, &fenv, NULL);
		s->helo_ehlo = ehlo;
		s->state = SESSION_WAIT;
		s->async_pending = true;
		filter_session_run(s->fsess, FILTER_PHASE_HELO, &fenv, -1, 0, 0,
				   session_helo_done, s);
		return;
	}
	session_helo_reply(s, ehlo);
}

/* The answer to EHLO/HELO. */
static void
session_helo_reply(struct smtp_session *s, bool ehlo)
{
	const struct moat_settings *set = s->server->set;

	if (!ehlo) {
		session_reply(s, "250 %s", s->server->hostname);
		return;
	}
	session_reply(s, "250-%s", s->server->hostname);
	session_reply(s, "250-PIPELINING");
	session_reply(s, "250-SIZE %llu", set->smtp_max_message_size);
	session_reply(s, "250-8BITMIME");
	session_reply(s, "250-SMTPUTF8");
	session_reply(s, "250-ENHANCEDSTATUSCODES");
	if (smtp_session_xclient_allowed(s))
		session_reply(s, "250-XCLIENT NAME ADDR HELO");
	if (!s->tls && s->server->ctx->tls_ctx != NULL &&
	    s->kind != LISTENER_SMTPS)
		session_reply(s, "250-STARTTLS");
	if (s->kind != LISTENER_SMTP && s->auth_user == NULL &&
	    (s->tls || !set->smtp_require_tls_for_auth))
		session_reply(s, "250-AUTH PLAIN LOGIN");
	session_reply(s, "250-CHUNKING");
	session_reply(s, "250 DSN");
}

static void
cmd_mail(struct smtp_session *s, const struct smtp_command *cmd)
{
	const struct moat_settings *set = s->server->set;
	unsigned long long free_bytes = 0;
	char safe[128];

	if (!s->have_helo) {
		session_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		(void)session_error(s);
		return;
	}
	if (s->in_tx) {
		session_reply(s, "503 5.5.1 Error: nested MAIL command");
		(void)session_error(s);
		return;
	}
	if (s->kind != LISTENER_SMTP && s->auth_user == NULL) {
		session_reply(s, "530 5.7.0 Authentication required");
		log_info("session=%s event=reject reason=auth_required", s->id);
		(void)session_error(s);
		return;
	}
	if (cmd->has_size && cmd->size > set->smtp_max_message_size) {
		session_reply(s, "552 5.3.4 Message size exceeds fixed limit");
		log_info("session=%s event=reject reason=size_declared "
			 "size=%llu",
			 s->id, cmd->size);
		(void)session_error(s);
		return;
	}
	if (session_storage_low(s, cmd->has_size ? cmd->size : 0,
				&free_bytes)) {
		session_reply(s, "452 4.3.1 Insufficient system storage");
		log_warnx("session=%s event=reject reason=disk_full free=%llu "
			  "size=%llu min_free=%llu",
			  s->id, free_bytes, cmd->size, set->queue_min_free);
		return;
	}
	if (cmd->body == SMTP_BODY_BINARYMIME) {
		session_reply(s, "555 5.5.4 Unsupported parameter");
		(void)session_error(s);
		return;
	}
	if (s->auth_user != NULL && cmd->path[0] != '\0' &&
	    !directory_user_owns_address(s->server->dir, s->auth_user,
					 cmd->path)) {
		session_reply(s,
			      "553 5.7.1 Sender address not owned by user %s",
			      s->auth_user);
		log_info("session=%s event=reject reason=sender_not_owned "
			 "user=%s from=<%s>",
			 s->id, s->auth_user,
			 log_sanitize(cmd->path, strlen(cmd->path), safe,
				      sizeof(safe)));
		(void)session_error(s);
		return;
	}
	s->in_tx = true;
	s->commands_before_mail = 0;
	s->mail_from = pool_strdup(s->tx_pool, cmd->path);
	s->body = cmd->body;
	s->smtputf8 = cmd->smtputf8;
	s->ret = cmd->ret != NULL ? pool_strdup(s->tx_pool, cmd->ret) : NULL;
	s->envid =
	    cmd->envid != NULL ? pool_strdup(s->tx_pool, cmd->envid) : NULL;
	log_info("session=%s event=mail from=<%s> size=%llu", s->id,
		 log_sanitize(cmd->path, strlen(cmd->path), safe, sizeof(safe)),
		 cmd->size);
	if (s->fsess != NULL &&
	    filter_chain_wants(s->server->chain, FILTER_PHASE_MAIL)) {
		struct filter_envelope fenv;

		session_fenv(s, &fenv, NULL);
		s->state = SESSION_WAIT;
		s->async_pending = true;
		filter_session_run(s->fsess, FILTER_PHASE_MAIL, &fenv, -1, 0, 0,
				   session_mail_done, s);
		return;
	}
	session_reply(s, "250 2.1.0 Ok");
}

static void
rcpt_reject(struct smtp_session *s, const char *safe, const char *reason)
{
	log_info("session=%s event=rcpt result=rejected to=<%s> reason=%s",
		 s->id, safe, reason);
	(void)session_error(s);
}

/*
 * RFC 5321 4.5.1: a bare <postmaster> must reach the postmaster. It means
 * the postmaster of our primary domain: the host name when that is one of
 * our domains, else the first domain in the directory.
 */
static void
postmaster_address(struct smtp_session *s, char *out, size_t outsz)
{
	struct str_list domains = {0};
	char *error = NULL;
	const char *domain = s->server->hostname;

	if (!directory_domain_is_local(s->server->dir, domain) &&
	    directory_domain_list(s->server->dir, &domains, &error) == 0 &&
	    domains.count > 0)
		domain = domains.items[0];
	snprintf(out, outsz, "postmaster@%s", domain);
	str_list_free(&domains);
	free(error);
}

static void
cmd_rcpt(struct smtp_session *s, const struct smtp_command *cmd)
{
	struct str_list users = {0}, foreign = {0};
	enum directory_result res;
	char safe[128], lookup[SMTP_ADDRESS_BUF + 256];

	if (!s->in_tx) {
		session_reply(s, "503 5.5.1 Error: need MAIL command");
		(void)session_error(s);
		return;
	}
	log_sanitize(cmd->path, strlen(cmd->path), safe, sizeof(safe));
	if ((long long)s->rcpt_count >= s->server->set->smtp_max_recipients) {
		session_reply(s, "452 4.5.3 Too many recipients");
		log_info("session=%s event=rcpt result=rejected to=<%s> "
			 "reason=too_many_recipients",
			 s->id, safe);
		return;
	}
	/* Before the directory: a refused client learns nothing of it. */
	if (session_rcpt_refused_early(s, safe))
		return;
	if (strchr(cmd->path, '@') == NULL) /* bare <postmaster> */
		postmaster_address(s, lookup, sizeof(lookup));
	else
		snprintf(lookup, sizeof(lookup), "%s", cmd->path);
	res = directory_resolve(s->server->dir, lookup, &users, &foreign);
	str_list_free(&users);
	str_list_free(&foreign);
	switch (res) {
	case DIRECTORY_LOCAL:
		break;
	case DIRECTORY_UNKNOWN_USER:
		session_reply(s,
			      "550 5.1.1 <%s>: Recipient address rejected: "
			      "User unknown",
			      cmd->path);
		rcpt_reject(s, safe, "user_unknown");
		return;
	case DIRECTORY_NOT_LOCAL:
		if (s->auth_user != NULL)
			break;
		smtp_session_relay_rcpt(s, lookup, cmd->notify, cmd->orcpt);
		return;
	case DIRECTORY_ERROR:
	default:
		session_reply(s, "451 4.3.0 <%s>: Temporary lookup failure",
			      cmd->path);
		rcpt_reject(s, safe, "lookup_error");
		return;
	}
	session_rcpt_add(s, lookup, cmd->notify, cmd->orcpt);
}

static void
session_rcpt_accept(struct smtp_session *s, const char *address,
		    const char *notify, const char *orcpt)
{
	struct session_rcpt *r;
	char safe[128];

	log_sanitize(address, strlen(address), safe, sizeof(safe));
	if (s->rcpt_count == s->rcpt_alloc) {
		size_t n = s->rcpt_alloc == 0 ? 8 : s->rcpt_alloc * 2;
		struct session_rcpt *nr =
		    pool_alloc(s->tx_pool, n * sizeof(*nr));
		const char **na = pool_alloc(s->tx_pool, (n + 1) * sizeof(*na));

		if (s->rcpt_count > 0) {
			memcpy(nr, s->rcpts, s->rcpt_count * sizeof(*nr));
			memcpy(na, s->rcpt_addrs, s->rcpt_count * sizeof(*na));
		}
		s->rcpts = nr;
		s->rcpt_addrs = na;
		s->rcpt_alloc = n;
	}
	r = &s->rcpts[s->rcpt_count];
	r->address = pool_strdup(s->tx_pool, address);
	s->rcpt_addrs[s->rcpt_count++] = r->address;
	s->rcpt_addrs[s->rcpt_count] = NULL;
	r->notify = notify != NULL ? pool_strdup(s->tx_pool, notify) : NULL;
	r->orcpt = orcpt != NULL ? pool_strdup(s->tx_pool, orcpt) : NULL;
	s->rcpts_total++;
	log_info("session=%s event=rcpt result=accepted to=<%s>", s->id, safe);
	session_reply(s, "250 2.1.5 Ok");
}

/* Common checks before DATA/BDAT; NULL when the transaction may proceed. */
static const char *
data_precheck(struct smtp_session *s)
{
	if (!s->in_tx)
		return "503 5.5.1 Error: need MAIL command";
	if (s->rcpt_count == 0)
		return "554 5.5.1 Error: no valid recipients";
	return NULL;
}

static void
cmd_data(struct smtp_session *s)
{
	const char *err = data_precheck(s);

	if (err == NULL && s->bdat_used)
		err = "503 5.5.1 Error: DATA after BDAT";
	if (err != NULL) {
		session_reply(s, "%s", err);
		(void)session_error(s);
		return;
	}
	if (session_open_message(s) < 0) {
		session_reply(s, "%s", session_io_reply(errno));
		return;
	}
	session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	s->state = SESSION_DATA;
	session_set_timeout(s, s->server->set->smtp_data_timeout);
}

static void
cmd_bdat(struct smtp_session *s, const struct smtp_command *cmd)
{
	const char *err = data_precheck(s);

	s->bdat_remaining = cmd->chunk_size;
	s->bdat_last = cmd->last;
	s->bdat_reject = false;
	s->bdat_reply = NULL;
	if (err != NULL) {
		/* RFC 3030: the chunk follows anyway; read and drop it. */
		s->bdat_reject = true;
		s->bdat_reply = err;
	} else if (!s->bdat_used) {
		if (session_open_message(s) < 0) {
			s->bdat_reject = true;
			s->bdat_reply = session_io_reply(errno);
		} else {
			s->bdat_used = true;
		}
	}
	s->state = SESSION_BDAT;
	session_set_timeout(s, s->server->set->smtp_data_timeout);
}

static void
session_bdat_chunk_end(struct smtp_session *s)
{
	s->state = SESSION_COMMAND;
	session_set_timeout(s, s->server->set->smtp_command_timeout);
	if (s->bdat_reject) {
		session_reply(s, "%s", s->bdat_reply);
		if (s->bdat_used)
			session_tx_reset(s);
		(void)session_error(s);
		return;
	}
	if (!s->bdat_last) {
		session_reply(s, "250 2.0.0 %llu octets received",
			      (unsigned long long)s->body_len);
		return;
	}
	session_message_end(s);
}

static void
cmd_starttls(struct smtp_session *s)
{
	struct bufferevent *tls_bev;
	SSL *ssl;

	if (s->tls || s->server->ctx->tls_ctx == NULL ||
	    s->kind == LISTENER_SMTPS) {
		session_reply(s, "502 5.5.1 Error: command not implemented");
		(void)session_error(s);
		return;
	}
	ssl = SSL_new(s->server->ctx->tls_ctx);
	if (ssl == NULL) {
		session_reply(s, "454 4.7.0 TLS not available");
		return;
	}
	session_reply(s, "220 2.0.0 Ready to start TLS");
	tls_bev =
	    net_conn_starttls(s->server->base, s->bev, ssl, s->id, "starttls");
	if (tls_bev == NULL) {
		session_close_after_flush(s);
		return;
	}
	s->bev = tls_bev;
	s->tls = true;
	s->have_helo = false; /* RFC 3207 4.2: forget everything */
	s->esmtp = false;
	s->helo[0] = '\0';
	session_tx_reset(s);
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
			  session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_INPUT_HIGH);
	session_set_timeout(s, s->server->set->smtp_command_timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	log_info("session=%s event=starttls", s->id);
}

/* Commands that count toward smtp.max_commands_before_mail. */
static bool
is_idle_command(enum smtp_verb v)
{
	return v == SMTP_VERB_NOOP || v == SMTP_VERB_RSET ||
	       v == SMTP_VERB_VRFY || v == SMTP_VERB_HELP ||
	       v == SMTP_VERB_HELO || v == SMTP_VERB_EHLO ||
	       v == SMTP_VERB_EXPN;
}

/* Returns false when processing must stop (state change, closing). */
static bool
session_command(struct smtp_session *s, const char *line, size_t len)
{
	static struct smtp_command cmd; /* one loop thread: no sharing */
	const char *reply;
	unsigned int flags = s->smtputf8 ? SMTP_COMMAND_FLAG_UTF8 : 0;

	s->commands++;
	if (smtp_command_parse(line, len, flags, &cmd, &reply) < 0) {
		session_reply(s, "%s", reply);
		return !session_error(s);
	}
	if (s->no_service && cmd.verb != SMTP_VERB_QUIT &&
	    cmd.verb != SMTP_VERB_XCLIENT) {
		/* The greeting refused the client: only QUIT. */
		session_reply(s, "%s",
			      s->refusal[SESSION_REFUSAL_CONNECT].reply);
		return !session_error(s);
	}
	if (is_idle_command(cmd.verb) && !s->in_tx &&
	    s->server->set->smtp_max_commands_before_mail > 0 &&
	    ++s->commands_before_mail >
		s->server->set->smtp_max_commands_before_mail) {
		log_info("session=%s event=limit "
			 "limit=max_commands_before_mail",
			 s->id);
		session_reply(s, "421 4.7.0 %s Too many commands, closing",
			      s->server->hostname);
		session_close_after_flush(s);
		return false;
	}
	switch (cmd.verb) {
	case SMTP_VERB_HELO:
		cmd_helo(s, &cmd, false);
		break;
	case SMTP_VERB_EHLO:
		cmd_helo(s, &cmd, true);
		break;
	case SMTP_VERB_MAIL:
		cmd_mail(s, &cmd);
		break;
	case SMTP_VERB_RCPT:
		cmd_rcpt(s, &cmd);
		break;
	case SMTP_VERB_DATA:
		cmd_data(s);
		break;
	case SMTP_VERB_BDAT:
		cmd_bdat(s, &cmd);
		break;
	case SMTP_VERB_RSET:
		session_tx_reset(s);
		session_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_NOOP:
		session_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_QUIT:
		session_reply(s, "221 2.0.0 Bye");
		session_close_after_flush(s);
		return false;
	case SMTP_VERB_VRFY:
		session_reply(s, "252 2.5.0 Cannot VRFY user");
		break;
	case SMTP_VERB_EXPN:
		session_reply(s, "502 5.5.1 Error: command not implemented");
		break;
	case SMTP_VERB_HELP:
		session_reply(s, "214 2.0.0 https://www.rfc-editor.org/rfc/"
				 "rfc5321");
		break;
	case SMTP_VERB_STARTTLS:
		cmd_starttls(s);
		return false;
	case SMTP_VERB_AUTH:
		smtp_session_auth_command(s, &cmd);
		break;
	case SMTP_VERB_XCLIENT:
		smtp_session_xclient(s, &cmd);
		break;
	case SMTP_VERB_UNKNOWN:
		break;
	}
	return s->state != SESSION_CLOSING;
}

/* ------------------------------------------------------------------ */
/* input */

/* Longest line read at all, including CRLF (an AUTH line, RFC 4954);
 * other commands are held to 512 octets after the read. */
static size_t
session_line_max(const struct smtp_session *s)
{
	(void)s;
	return SMTP_COMMAND_AUTH_LINE_MAX + 2;
}

/* One line in COMMAND or AUTH states. Returns false to stop. */
static bool
session_input_line(struct smtp_session *s, struct evbuffer *in)
{
	static char line[SMTP_COMMAND_AUTH_LINE_MAX + 3];
	struct evbuffer_ptr eol;
	size_t n, eol_len = 0, avail = evbuffer_get_length(in);

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos < 0) {
		if (avail >= session_line_max(s)) {
			/* no LF within the limit: drop until the next LF */
			evbuffer_drain(in, avail);
			if (!s->skip_line) {
				s->skip_line = true;
				s->state = SESSION_COMMAND;
				session_reply(s, "500 5.5.2 Line too long");
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
	if (n + 1 > session_line_max(s)) {
		evbuffer_drain(in, n + 1);
		s->state = SESSION_COMMAND;
		session_reply(s, "500 5.5.2 Line too long");
		return !session_error(s);
	}
	evbuffer_remove(in, line, n + 1);
	if (n > 0 && line[n - 1] == '\r')
		n--; /* CRLF, or a bare LF as Postfix accepts */
	line[n] = '\0';
	if (s->state == SESSION_COMMAND) {
		/* 512 octets with CRLF for everything but AUTH */
		if (n > SMTP_COMMAND_LINE_MAX &&
		    !(n >= 5 && strncasecmp(line, "AUTH ", 5) == 0)) {
			session_reply(s, "500 5.5.2 Line too long");
			return !session_error(s);
		}
		return session_command(s, line, n);
	}
	smtp_session_auth_line(s, line, n);
	explicit_bzero(line, n);
	return s->state != SESSION_WAIT && s->state != SESSION_CLOSING;
}

void
session_process(struct smtp_session *s)
{
	struct evbuffer *in;
	bool done;

	if (s->bev == NULL)
		return;
	in = bufferevent_get_input(s->bev);
	for (;;) {
		if (s->state == SESSION_CLOSING || s->state == SESSION_WAIT)
			break;
		if (s->state == SESSION_COMMAND && session_stop_if_idle(s))
			break;
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) >
		    SESSION_OUTPUT_MAX) {
			log_info("session=%s event=limit limit=output_buffer",
				 s->id);
			session_kill(s);
			return;
		}
		if (s->state == SESSION_DATA) {
			struct evbuffer_iovec v;
			size_t used;

			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 ||
			    v.iov_len == 0)
				break;
			used = data_feed(s, v.iov_base, v.iov_len, true, &done);
			evbuffer_drain(in, used);
			if (done) {
				s->state = SESSION_COMMAND;
				session_set_timeout(
				    s, s->server->set->smtp_command_timeout);
				session_message_end(s);
			}
			continue;
		}
		if (s->state == SESSION_BDAT) {
			struct evbuffer_iovec v;
			size_t take;

			if (s->bdat_remaining == 0) {
				session_bdat_chunk_end(s);
				continue;
			}
			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 ||
			    v.iov_len == 0)
				break;
			take = v.iov_len;
			if (take > s->bdat_remaining)
				take = (size_t)s->bdat_remaining;
			if (!s->bdat_reject)
				(void)data_feed(s, v.iov_base, take, false,
						&done);
			evbuffer_drain(in, take);
			s->bdat_remaining -= take;
			continue;
		}
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
	struct smtp_session *s = arg;

	(void)bev;
	if (s->state == SESSION_CLOSING && net_conn_output_pending(s->bev) == 0)
		session_kill(s);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	log_debug("session=%s event=bufferevent what=0x%x state=%d", s->id,
		  (unsigned int)what, (int)s->state);
	if ((what & BEV_EVENT_TIMEOUT) && s->state == SESSION_WAIT &&
	    s->async_pending) {
		/* The client waits for us (a filter run, an auth check, a
		 * commit, each bounded by its own timeout): it is not idle.
		 * libevent stopped the direction that timed out: resume. */
		bufferevent_enable(s->bev, EV_READ | EV_WRITE);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && s->state != SESSION_CLOSING) {
		bool in_data =
		    s->state == SESSION_DATA || s->state == SESSION_BDAT;

		log_info("session=%s event=timeout state=%s", s->id,
			 in_data ? "data" : "command");
		if (in_data)
			session_tx_reset(s);
		session_reply(s, "421 4.4.2 %s Timeout, closing",
			      s->server->hostname);
		session_close_after_flush(s);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		net_conn_log_tls_errors(bev, s->id);
	if (s->state == SESSION_DATA || s->state == SESSION_BDAT || s->in_tx)
		log_info("session=%s event=lost_connection state=%s", s->id,
			 s->state == SESSION_DATA || s->state == SESSION_BDAT
			     ? "data"
			     : "transaction");
	session_kill(s);
}

/* ------------------------------------------------------------------ */
/* accept */

static size_t
sessions_from_ip(const struct smtp_server *srv, const char *ip)
{
	const struct smtp_session *s;
	size_t n = 0;

	for (s = srv->sessions; s != NULL; s = s->next) {
		if (!s->dead && strcmp(s->ip, ip) == 0)
			n++;
	}
	return n;
}

int
smtp_session_new(struct smtp_server *srv, int fd, const struct sockaddr *peer,
		 enum listener_kind kind)
{
	const struct moat_settings *set = srv->set;
	struct smtp_session *s;
	struct bufferevent *bev;
	char ip[64], reply[256];

	netaddr_ip(peer, ip, sizeof(ip));
	if ((set->smtp_max_connections > 0 &&
	     (long long)srv->session_count >= set->smtp_max_connections) ||
	    (set->smtp_max_connections_per_ip > 0 &&
	     (long long)sessions_from_ip(srv, ip) >=
		 set->smtp_max_connections_per_ip)) {
		bool global =
		    set->smtp_max_connections > 0 &&
		    (long long)srv->session_count >= set->smtp_max_connections;

		log_info("event=limit limit=%s ip=%s connections=%zu",
			 global ? "max_connections" : "max_connections_per_ip",
			 ip, srv->session_count);
		snprintf(reply, sizeof(reply),
			 "421 4.7.0 Too many connections from %s\r\n", ip);
		net_conn_refuse(fd, kind == LISTENER_SMTPS ? NULL : reply);
		return 0;
	}
	if (kind == LISTENER_SMTPS && srv->ctx->tls_ctx == NULL) {
		log_errorx("event=tls_unavailable ip=%s", ip);
		close(fd);
		return -1;
	}
	bev = net_conn_open(srv->base, fd,
			    kind == LISTENER_SMTPS ? srv->ctx->tls_ctx : NULL,
			    ip);
	if (bev == NULL)
		return -1;
	s = xcalloc(1, sizeof(*s));
	s->server = srv;
	s->bev = bev;
	s->tls = kind == LISTENER_SMTPS;
	s->kind = kind;
	s->fd = -1;
	s->state = SESSION_COMMAND;
	s->tx_pool = pool_new(4096);
	buf_init(&s->wbuf);
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	snprintf(s->peer_ip, sizeof(s->peer_ip), "%s", ip);
	net_conn_session_id(s->id, sizeof(s->id), &srv->session_counter);
	s->next = srv->sessions;
	if (srv->sessions != NULL)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->session_count++;

	log_info("session=%s event=connect ip=%s port=%d listener=%s", s->id,
		 ip, netaddr_port(peer),
		 kind == LISTENER_SMTP	       ? "smtp"
		 : kind == LISTENER_SUBMISSION ? "submission"
					       : "smtps");
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
			  session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_INPUT_HIGH);
	session_set_timeout(s, set->smtp_command_timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (filter_chain_count(srv->chain) > 0)
		s->fsess = filter_session_new(srv->chain);
	session_connect_phase(s);
	return 0;
}

void
smtp_session_shutdown_all(struct smtp_server *srv)
{
	struct smtp_session *s, *next;

	srv->stopping = true;
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		if (!s->dead && s->state == SESSION_COMMAND)
			(void)session_stop_if_idle(s);
	}
	if (srv->session_count == 0)
		event_base_loopexit(srv->base, NULL);
}

void
smtp_session_free_all(struct smtp_server *srv)
{
	while (srv->sessions != NULL) {
		srv->sessions->async_pending = false;
		session_free(srv->sessions);
	}
}
