/*
 * smtp_session_private: the session state shared by the files that make up
 * one SMTP session (smtp_session.c: connection, commands, DATA/BDAT;
 * smtp_session_auth.c: the AUTH dialogue). Not for use outside them.
 */
#ifndef MOAT_SMTP_SESSION_PRIVATE_H
#define MOAT_SMTP_SESSION_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "gateway/queue_file.h"
#include "gateway/service.h"
#include "gateway/smtp_command.h"
#include "gateway/smtp_session.h"
#include "lib/buf.h"
#include "mailstore/sasl.h"

#define SESSION_HELO_MAX 255

enum session_state {
	SESSION_COMMAND,
	SESSION_DATA,
	SESSION_BDAT,	    /* reading a chunk */
	SESSION_AUTH_PLAIN, /* waiting for the PLAIN response line */
	SESSION_AUTH_LOGIN_USER,
	SESSION_AUTH_LOGIN_PASS,
	SESSION_WAIT,	 /* auth check, auth delay or commit in flight */
	SESSION_CLOSING, /* flushing the last reply */
};

/* Refusals found by the filter chain before RCPT and answered there
 * (smtp.delay_reject): one slot per stage. */
enum session_refusal_slot {
	SESSION_REFUSAL_CONNECT,
	SESSION_REFUSAL_HELO,
	SESSION_REFUSAL_MAIL,
	SESSION_REFUSAL_SLOTS,
};

struct session_refusal {
	bool set;
	bool temp;	 /* 4xx */
	char reply[256]; /* "550 5.7.1 text" */
	char by[32];	 /* the filter or rule, for the log */
};

struct session_rcpt {
	char *address;
	char *notify;
	char *orcpt;
};

struct smtp_session {
	struct smtp_session *prev, *next;
	struct smtp_server *server;
	struct bufferevent *bev;
	enum listener_kind kind;
	enum session_state state;
	char id[24];
	char ip[64];
	char client_name[256]; /* verified or XCLIENT NAME; "" = unknown */
	char peer_ip[64];      /* the real peer (ip may come from XCLIENT) */
	char helo[SESSION_HELO_MAX + 1];
	bool have_helo, esmtp, tls, dead, async_pending, skip_line;
	char *auth_user;
	char auth_login[SASL_FIELD_MAX + 1];
	struct event *delay_timer;
	struct event *close_timer;
	unsigned int close_polls;

	/* counters */
	unsigned long commands, messages, rcpts_total, errors;
	long long commands_before_mail;

	/* transaction (strings in tx_pool) */
	struct pool *tx_pool;
	bool in_tx;
	char *mail_from;
	enum smtp_body body;
	bool smtputf8;
	char *ret, *envid;
	struct session_rcpt *rcpts;
	size_t rcpt_count, rcpt_alloc;

	/* filter phases (filters/filter_chain.h) */
	struct filter_session *fsess; /* NULL: no filters configured */
	struct session_refusal refusal[SESSION_REFUSAL_SLOTS];
	bool no_service;	 /* greeting was a refusal: only QUIT */
	bool helo_ehlo;		 /* the EHLO/HELO whose phase runs */
	bool tx_completed;	 /* the message was accepted (queued) */
	bool tx_data_run;	 /* the DATA phase ran (and logged) */
	int tx_refused;		 /* POLICY_REJECT/TEMPFAIL of MAIL or a RCPT */
	const char **rcpt_addrs; /* rcpts[i].address, for the envelope */
	char *pending_rcpt, *pending_notify, *pending_orcpt; /* tx_pool */

	/* message being received */
	char qid[QUEUE_ID_MAX];
	char *path;
	int fd;
	struct buf wbuf;
	size_t header_len; /* envelope bytes at the start of the file */
	time_t arrival;	   /* the envelope's, kept for a rewrite */
	bool quarantined;  /* the policy step said quarantine */
	size_t data_len;   /* bytes after the envelope (Received + message) */
	size_t body_len;   /* message bytes as received (size limit) */
	size_t line_len;
	bool bol, cr_pending, dot_pending, dot_cr_pending;
	bool bad_eol, has_nul, line_too_long, too_big, io_error;
	int io_errno; /* the first queue-file error (errno) */
	bool bdat_used, bdat_last, bdat_reject;
	const char *bdat_reply;
	unsigned long long bdat_remaining;
};

/* Queues one reply line (CRLF added). */
void session_reply(struct smtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Counts an error; true when the session was closed for too many. */
bool session_error(struct smtp_session *s);
void session_free(struct smtp_session *s);
/* Runs the commands waiting in the input buffer. */
void session_process(struct smtp_session *s);

/* A valid recipient: runs the RCPT phase of the filters, then adds it to
 * the transaction and replies 250, or refuses it. May leave the session
 * waiting (SESSION_WAIT) for the filters. */
void session_rcpt_add(struct smtp_session *s, const char *address,
		      const char *notify, const char *orcpt);
/* Runs the CONNECT phase and sends the greeting (after accept and
 * XCLIENT). May leave the session waiting. */
void session_connect_phase(struct smtp_session *s);

/* smtp_session_relay.c: RCPT to a domain that is not ours, without AUTH:
 * accepted for relay domains (optionally after a probe), else 554. */
void smtp_session_relay_rcpt(struct smtp_session *s, const char *address,
			     const char *notify, const char *orcpt);

/* smtp_session_auth.c */
void smtp_session_auth_command(struct smtp_session *s,
			       const struct smtp_command *cmd);
/* One line of an AUTH exchange in progress. */
void smtp_session_auth_line(struct smtp_session *s, const char *line,
			    size_t len);

/* smtp_session_xclient.c */
/* True when the real peer is in smtp.xclient_trusted. */
bool smtp_session_xclient_allowed(const struct smtp_session *s);
void smtp_session_xclient(struct smtp_session *s,
			  const struct smtp_command *cmd);

#endif
