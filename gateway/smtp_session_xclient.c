/*
 * smtp_session_xclient: Postfix's XCLIENT command (NAME, ADDR, HELO), which
 * lets a trusted client present the session as coming from another
 * address. Moat has it for tests: the SPF code (like libspf2) treats
 * loopback clients specially, so tests present 192.0.2.x addresses this way.
 * It is refused unless the real peer address is listed in
 * smtp.xclient_trusted (empty by default), outside a mail transaction only,
 * and answered like Postfix: a fresh 220 greeting after which the client
 * starts over with EHLO. Values are xtext (RFC 3461); "[UNAVAILABLE]" and
 * "[TEMPUNAVAIL]" clear an attribute; PROTO, PORT, DESTADDR, DESTPORT are
 * accepted and ignored; LOGIN and unknown attributes are refused.
 */
#include "gateway/smtp_session_private.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "filters/filter_chain.h"
#include "lib/log.h"
#include "lib/xalloc.h"

bool
smtp_session_xclient_allowed(const struct smtp_session *s)
{
	const struct str_list *trusted = &s->server->set->smtp_xclient_trusted;

	for (size_t i = 0; i < trusted->count; i++)
		if (strcmp(trusted->items[i], s->peer_ip) == 0)
			return true;
	return false;
}

/* Decodes xtext in place ("+XX" hex); -1 on a bad escape or a control. */
static int
xtext_decode(char *s)
{
	char *out = s;

	for (; *s != '\0'; s++) {
		if (*s == '+') {
			unsigned int v;

			if (!isxdigit((unsigned char)s[1]) ||
			    !isxdigit((unsigned char)s[2]) ||
			    sscanf(s + 1, "%2x", &v) != 1 || v < 0x20 ||
			    v == 0x7f)
				return -1;
			*out++ = (char)v;
			s += 2;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
	return 0;
}

void
smtp_session_xclient(struct smtp_session *s, const struct smtp_command *cmd)
{
	char args[512], *save = NULL, *tok;
	char addr[64] = "", name[256] = "", helo[SESSION_HELO_MAX + 1] = "";
	bool have_addr = false, have_name = false, have_helo = false;
	char safe[64];

	if (!smtp_session_xclient_allowed(s)) {
		session_reply(s, "550 5.7.0 Error: insufficient authorization");
		(void)session_error(s);
		return;
	}
	if (s->in_tx) {
		session_reply(s, "503 5.5.1 Error: MAIL transaction in "
				 "progress");
		return;
	}
	if (snprintf(args, sizeof(args), "%s", cmd->arg) >= (int)sizeof(args)) {
		session_reply(s, "501 5.5.4 Bad XCLIENT syntax");
		return;
	}
	for (tok = strtok_r(args, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '='), *value;
		bool unavailable;

		if (eq == NULL) {
			session_reply(s, "501 5.5.4 Bad XCLIENT syntax");
			return;
		}
		*eq = '\0';
		value = eq + 1;
		if (xtext_decode(value) < 0) {
			session_reply(s, "501 5.5.4 Bad XCLIENT value");
			return;
		}
		unavailable = strcasecmp(value, "[UNAVAILABLE]") == 0 ||
			      strcasecmp(value, "[TEMPUNAVAIL]") == 0;
		if (strcasecmp(tok, "ADDR") == 0) {
			struct in_addr a4;
			struct in6_addr a6;
			const char *a = value;

			if (strncasecmp(a, "IPV6:", 5) == 0)
				a += 5;
			if (unavailable ||
			    (inet_pton(AF_INET, a, &a4) != 1 &&
			     inet_pton(AF_INET6, a, &a6) != 1) ||
			    strlen(a) >= sizeof(addr)) {
				session_reply(s, "501 5.5.4 Bad XCLIENT "
						 "ADDR value");
				return;
			}
			snprintf(addr, sizeof(addr), "%s", a);
			have_addr = true;
		} else if (strcasecmp(tok, "NAME") == 0) {
			snprintf(name, sizeof(name), "%s",
				 unavailable ? "" : value);
			have_name = true;
		} else if (strcasecmp(tok, "HELO") == 0) {
			snprintf(helo, sizeof(helo), "%s",
				 unavailable ? "" : value);
			have_helo = true;
		} else if (strcasecmp(tok, "PROTO") == 0 ||
			   strcasecmp(tok, "PORT") == 0 ||
			   strcasecmp(tok, "DESTADDR") == 0 ||
			   strcasecmp(tok, "DESTPORT") == 0) {
			/* accepted, not used */
		} else {
			session_reply(s,
				      "501 5.5.4 Bad XCLIENT attribute name");
			return;
		}
	}
	if (have_addr)
		snprintf(s->ip, sizeof(s->ip), "%s", addr);
	if (have_name)
		snprintf(s->client_name, sizeof(s->client_name), "%s", name);
	if (have_helo) {
		snprintf(s->helo, sizeof(s->helo), "%s", helo);
		s->have_helo = helo[0] != '\0';
	} else {
		s->have_helo = false;
		s->helo[0] = '\0';
	}
	log_info("session=%s event=xclient peer=%s ip=%s", s->id, s->peer_ip,
		 log_sanitize(s->ip, strlen(s->ip), safe, sizeof(safe)));
	/* A new client for the filters too: the connection's results go,
	 * the CONNECT phase runs again, then the 220. */
	filter_session_reset_connection(s->fsess);
	session_connect_phase(s);
}
