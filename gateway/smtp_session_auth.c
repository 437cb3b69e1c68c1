/*
 * smtp_session_auth: the AUTH dialogue of an SMTP session (RFC 4954):
 * PLAIN with an initial response or a continuation, LOGIN in two steps.
 * Password checks run in auth_pool's worker threads, after the client
 * address's penalty (auth_throttle); a failure is answered after a growing
 * delay, and the session waits (SESSION_WAIT) meanwhile. Called by
 * smtp_session.c only.
 */
#include "gateway/smtp_session_private.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "mailstore/auth_pool.h"
#include "mailstore/auth_throttle.h"
#include "mailstore/directory.h"

static void session_auth_result(int result, const char *canonical,
				void *context);

static void
auth_start_verify(struct smtp_session *s, const char *login,
		  const char *password)
{
	s->state = SESSION_WAIT;
	s->async_pending = true;
	snprintf(s->auth_login, sizeof(s->auth_login), "%s", login);
	auth_pool_verify(s->server->auth, login, password,
			 auth_throttle_wait_ms(s->server->throttle, s->ip,
					       auth_throttle_now_ms()),
			 session_auth_result, s);
}

static void
auth_delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)fd;
	(void)what;
	session_reply(s, "535 5.7.8 Authentication credentials invalid");
	s->state = SESSION_COMMAND;
	if (session_error(s))
		return;
	session_process(s);
}

static void
session_auth_result(int result, const char *canonical, void *context)
{
	struct smtp_session *s = context;
	char safe[128];

	s->async_pending = false;
	if (s->dead) {
		session_free(s);
		return;
	}
	log_sanitize(s->auth_login, strlen(s->auth_login), safe, sizeof(safe));
	if (result == 1) {
		s->auth_user = xstrdup(canonical);
		auth_throttle_success(s->server->throttle, s->ip);
		log_info("session=%s event=auth result=ok user=%s", s->id,
			 s->auth_user);
		session_reply(s, "235 2.7.0 Authentication successful");
	} else if (result == 0) {
		unsigned int ms = auth_throttle_failure(
		    s->server->throttle, s->ip, auth_throttle_now_ms());
		struct timeval tv = {(time_t)(ms / 1000),
				     (suseconds_t)(ms % 1000) * 1000};

		log_info("session=%s event=auth result=fail user=%s ip=%s "
			 "delay_ms=%u",
			 s->id, safe, s->ip, ms);
		if (s->delay_timer == NULL)
			s->delay_timer =
			    evtimer_new(s->server->base, auth_delay_done, s);
		evtimer_add(s->delay_timer, &tv);
		return; /* stays in SESSION_WAIT until the timer */
	} else {
		log_info("session=%s event=auth result=error user=%s", s->id,
			 safe);
		session_reply(s, "454 4.7.0 Temporary authentication failure");
	}
	explicit_bzero(s->auth_login, sizeof(s->auth_login));
	s->state = SESSION_COMMAND;
	session_process(s);
}

static void
auth_plain_response(struct smtp_session *s, const char *b64)
{
	char login[SASL_FIELD_MAX + 1], pass[SASL_FIELD_MAX + 1];

	s->state = SESSION_COMMAND;
	if (sasl_plain_decode(b64, login, pass) < 0) {
		session_reply(s, "501 5.5.2 Cannot decode response");
		(void)session_error(s);
		return;
	}
	auth_start_verify(s, login, pass);
	explicit_bzero(pass, sizeof(pass));
}

void
smtp_session_auth_command(struct smtp_session *s,
			  const struct smtp_command *cmd)
{
	const char *mech = cmd->auth_mechanism;
	const char *init = cmd->auth_initial;

	if (s->kind == LISTENER_SMTP) {
		session_reply(s, "503 5.5.1 Error: authentication not enabled");
		(void)session_error(s);
		return;
	}
	if (!s->have_helo || !s->esmtp) {
		session_reply(s, "503 5.5.1 Error: send EHLO first");
		(void)session_error(s);
		return;
	}
	if (s->auth_user != NULL) {
		session_reply(s, "503 5.5.1 Error: already authenticated");
		(void)session_error(s);
		return;
	}
	if (s->in_tx) {
		session_reply(s, "503 5.5.1 Error: MAIL transaction in "
				 "progress");
		(void)session_error(s);
		return;
	}
	if (!s->tls && s->server->set->smtp_require_tls_for_auth) {
		session_reply(s, "538 5.7.11 Encryption required for "
				 "requested authentication mechanism");
		(void)session_error(s);
		return;
	}
	if (strcmp(mech, "PLAIN") == 0) {
		if (init[0] == '\0') {
			s->state = SESSION_AUTH_PLAIN;
			session_reply(s, "334 ");
			return;
		}
		auth_plain_response(s, init);
		return;
	}
	if (strcmp(mech, "LOGIN") == 0) {
		if (init[0] != '\0' && strcmp(init, "=") != 0) {
			if (sasl_login_decode(init, strlen(init),
					      s->auth_login) < 0) {
				session_reply(s, "501 5.5.2 Cannot decode "
						 "response");
				(void)session_error(s);
				return;
			}
			s->state = SESSION_AUTH_LOGIN_PASS;
			session_reply(s, "334 " SASL_LOGIN_PASS_CHALLENGE);
			return;
		}
		s->state = SESSION_AUTH_LOGIN_USER;
		session_reply(s, "334 " SASL_LOGIN_USER_CHALLENGE);
		return;
	}
	session_reply(s, "504 5.5.4 Unrecognized authentication type");
	(void)session_error(s);
}

/* A line while in one of the AUTH continuation states. */
void
smtp_session_auth_line(struct smtp_session *s, const char *line, size_t len)
{
	char pass[SASL_FIELD_MAX + 1];

	if (len == 1 && line[0] == '*') {
		s->state = SESSION_COMMAND;
		session_reply(s, "501 5.7.0 Authentication aborted");
		(void)session_error(s);
		return;
	}
	if (memchr(line, '\0', len) != NULL) {
		s->state = SESSION_COMMAND;
		session_reply(s, "501 5.5.2 Cannot decode response");
		(void)session_error(s);
		return;
	}
	switch (s->state) {
	case SESSION_AUTH_PLAIN:
		auth_plain_response(s, line);
		return;
	case SESSION_AUTH_LOGIN_USER:
		if (sasl_login_decode(line, len, s->auth_login) < 0) {
			s->state = SESSION_COMMAND;
			session_reply(s, "501 5.5.2 Cannot decode response");
			(void)session_error(s);
			return;
		}
		s->state = SESSION_AUTH_LOGIN_PASS;
		session_reply(s, "334 " SASL_LOGIN_PASS_CHALLENGE);
		return;
	case SESSION_AUTH_LOGIN_PASS: {
		char login[SASL_FIELD_MAX + 1];

		if (sasl_login_decode(line, len, pass) < 0) {
			s->state = SESSION_COMMAND;
			session_reply(s, "501 5.5.2 Cannot decode response");
			(void)session_error(s);
			return;
		}
		memcpy(login, s->auth_login, sizeof(login));
		auth_start_verify(s, login, pass);
		explicit_bzero(pass, sizeof(pass));
		return;
	}
	default:
		return;
	}
}

/* STARTTLS: reply, drop pipelined clear text, wrap the connection. */
