/*
 * sender_domain: the envelope sender's domain must be able to receive
 * mail, as Postfix's reject_unknown_sender_domain asks: a domain that
 * does not exist (NXDOMAIN), has neither MX nor address records, or
 * publishes a null MX (RFC 7505: "accepts no mail") can take no bounce
 * and no reply, and mail from it is forged or junk. At MAIL FROM, before
 * the message is sent: such a sender gets 550 5.1.8 (5.7.27 for a null
 * MX, RFC 7505 4.2) or, with action = score, a symbol of 4 points. A DNS
 * failure accepts the mail (SENDER_DOMAIN_DNS_ERROR, logged) unless
 * defer_on_dns_error asks for 451 4.4.3. Not checked: the null sender <>
 * (bounces), address literals, authenticated users, and by default
 * clients on internal networks (skip_internal).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "filters/filter.h"
#include "filters/url_host.h"
#include "lib/config.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/netblock.h"

#define SENDER_DOMAIN_MAX 254

struct sender_domain_settings {
	char *action;
	bool skip_internal;
	bool defer_on_dns_error;
};

/* The score of SENDER_DOMAIN_UNKNOWN and SENDER_DOMAIN_NULL_MX: with
 * action = score, under the tag score alone, spam with one more sign. */
#define SENDER_DOMAIN_SCORE 4.0

static int
sender_domain_validate_action(const void *field, const char **error_r)
{
	const char *v = *(char *const *)field;

	if (strcmp(v, "reject") != 0 && strcmp(v, "score") != 0) {
		*error_r = "must be reject or score";
		return -1;
	}
	return 0;
}

#define S(f) offsetof(struct sender_domain_settings, f)
static const struct setting_def sender_domain_setting_defs[] = {
    {"action", SETTING_STRING, "reject", S(action), 0, 0,
     sender_domain_validate_action,
     "reject (550 at MAIL FROM) or score (the symbol alone) for a sender "
     "domain that cannot receive mail"},
    {"skip_internal", SETTING_BOOL, "yes", S(skip_internal), 0, 0, NULL,
     "no check for clients on loopback and private networks (internal "
     "hosts may send as made-up domains)"},
    {"defer_on_dns_error", SETTING_BOOL, "no", S(defer_on_dns_error), 0, 0,
     NULL,
     "answer 451 4.4.3 when the lookup fails (no: accept, with "
     "SENDER_DOMAIN_DNS_ERROR)"},
};
#undef S

/* What DNS says of the domain. */
enum sender_domain_state {
	SENDER_DOMAIN_OK,
	SENDER_DOMAIN_UNKNOWN, /* NXDOMAIN, or no MX, A or AAAA */
	SENDER_DOMAIN_NULL_MX,
	SENDER_DOMAIN_DNS_ERROR,
};

/* Whether the domain has A or AAAA records (RFC 5321 5.1's implicit MX). */
static enum sender_domain_state
sender_domain_addresses(struct filter_context *ctx, const char *domain)
{
	static const int types[] = {1, 28}; /* A, AAAA */
	enum sender_domain_state state = SENDER_DOMAIN_UNKNOWN;

	for (size_t i = 0; i < 2 && state != SENDER_DOMAIN_OK; i++) {
		struct dns_answer *a = NULL;

		if (filter_dns_lookup(ctx, domain, types[i], &a) < 0)
			return SENDER_DOMAIN_DNS_ERROR;
		if (a->status == DNS_OK && a->count > 0)
			state = SENDER_DOMAIN_OK;
		else if (a->status == DNS_TEMPFAIL)
			state = SENDER_DOMAIN_DNS_ERROR;
		dns_answer_free(&a);
	}
	return state;
}

static enum sender_domain_state
sender_domain_lookup(struct filter_context *ctx, const char *domain)
{
	struct dns_answer *mx = NULL;
	enum sender_domain_state state;

	if (filter_dns_lookup(ctx, domain, 15, &mx) < 0)
		return SENDER_DOMAIN_DNS_ERROR;
	switch (mx->status) {
	case DNS_NXDOMAIN:
		state = SENDER_DOMAIN_UNKNOWN;
		break;
	case DNS_OK:
		if (mx->count == 0)
			state = sender_domain_addresses(ctx, domain);
		else if (mx->count == 1 && mx->mx_host != NULL &&
			 (strcmp(mx->mx_host[0], ".") == 0 ||
			  mx->mx_host[0][0] == '\0'))
			state = SENDER_DOMAIN_NULL_MX;
		else
			state = SENDER_DOMAIN_OK;
		break;
	default:
		state = SENDER_DOMAIN_DNS_ERROR;
		break;
	}
	dns_answer_free(&mx);
	return state;
}

static int
sender_domain_init(const void *settings, void **state_r, char **error_r)
{
	(void)error_r;
	*state_r = (void *)settings;
	return 0;
}

/* What each state but OK adds: its symbol and score, and the reply of
 * the verdict (refusals under action = reject, the deferral under
 * defer_on_dns_error) after "sender domain NAME". */
static const struct {
	const char *symbol;
	double score;
	enum policy_verdict verdict;
	int code;
	const char *enhanced, *text;
} sender_domain_outcomes[] = {
    [SENDER_DOMAIN_UNKNOWN] = {"SENDER_DOMAIN_UNKNOWN", SENDER_DOMAIN_SCORE,
			       POLICY_REJECT, 550, "5.1.8", " not found"},
    [SENDER_DOMAIN_NULL_MX] = {"SENDER_DOMAIN_NULL_MX", SENDER_DOMAIN_SCORE,
			       POLICY_REJECT, 550, "5.7.27",
			       " accepts no mail (null MX)"},
    [SENDER_DOMAIN_DNS_ERROR] = {"SENDER_DOMAIN_DNS_ERROR", 0, POLICY_TEMPFAIL,
				 451, "4.4.3", ": DNS lookup failed"},
};

static int
sender_domain_run(void *state, struct filter_context *ctx,
		  enum filter_phase phase)
{
	const struct sender_domain_settings *set = state;
	const struct filter_envelope *env = filter_envelope(ctx);
	const char *at = strrchr(env->mail_from, '@');
	char domain[SENDER_DOMAIN_MAX + 1], text[SENDER_DOMAIN_MAX + 80];
	enum sender_domain_state found;
	bool act;

	(void)phase;
	if (at == NULL || at[1] == '\0' || at[1] == '[' ||
	    env->auth_user != NULL ||
	    (set->skip_internal && netblock_is_internal(env->client_ip)))
		return 0;
	if (host_normalize(at + 1, strlen(at + 1), domain, sizeof(domain))) {
		found = sender_domain_lookup(ctx, domain);
	} else {
		found = SENDER_DOMAIN_UNKNOWN;
		snprintf(domain, sizeof(domain), "(not a domain name)");
	}
	if (found == SENDER_DOMAIN_OK)
		return 0;
	snprintf(text, sizeof(text), "sender domain %s%s", domain,
		 sender_domain_outcomes[found].text);
	filter_add_symbol(ctx, sender_domain_outcomes[found].symbol,
			  sender_domain_outcomes[found].score, text);
	act = found == SENDER_DOMAIN_DNS_ERROR
		  ? set->defer_on_dns_error
		  : strcmp(set->action, "reject") == 0;
	if (act)
		filter_set_verdict(ctx, sender_domain_outcomes[found].verdict,
				   sender_domain_outcomes[found].code,
				   sender_domain_outcomes[found].enhanced,
				   text);
	return 0;
}

const struct filter filter_sender_domain = {
    .name = "sender_domain",
    .phases = FILTER_PHASE_MAIL,
    .settings = sender_domain_setting_defs,
    .settings_count = sizeof(sender_domain_setting_defs) /
		      sizeof(sender_domain_setting_defs[0]),
    .settings_size = sizeof(struct sender_domain_settings),
    .init = sender_domain_init,
    .run = sender_domain_run,
};
