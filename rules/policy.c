/*
 * policy: the minimal policy step (see policy.h). The order is: a reject,
 * tempfail or discard verdict of the chain; then policy.reject_symbols,
 * policy.reject_score and policy.tempfail_symbols, in that order; otherwise
 * accept. Reply texts name the deciding symbol (symbol names are
 * [A-Z0-9_] by construction in the chain, so they are safe in a reply).
 */
#include "rules/policy.h"

#include <stdio.h>
#include <string.h>

#include "lib/config.h"

static const char *
policy_listed(const struct str_list *list, const struct policy_input *in)
{
	if (list == NULL)
		return NULL;
	for (size_t i = 0; i < in->symbol_count; i++)
		for (size_t j = 0; j < list->count; j++)
			if (strcmp(in->symbols[i], list->items[j]) == 0)
				return in->symbols[i];
	return NULL;
}

void
policy_decide(const struct policy_config *config, const struct policy_input *in,
	      struct policy_answer *answer_r)
{
	const char *sym;

	memset(answer_r, 0, sizeof(*answer_r));
	answer_r->code = in->code;
	answer_r->enhanced = in->enhanced;
	answer_r->text = in->text;
	answer_r->rule = "verdict";
	switch (in->verdict) {
	case POLICY_REJECT:
	case POLICY_TEMPFAIL:
	case POLICY_DISCARD:
		answer_r->action = in->verdict;
		return;
	case POLICY_CONTINUE:
	case POLICY_ACCEPT:
	case POLICY_QUARANTINE:
	default:
		break;
	}
	answer_r->code = 0;
	answer_r->enhanced = NULL;
	answer_r->text = NULL;
	answer_r->action = POLICY_ACCEPT;
	if (config == NULL)
		return;
	if ((sym = policy_listed(config->reject_symbols, in)) != NULL) {
		answer_r->action = POLICY_REJECT;
		answer_r->rule = "symbol";
		answer_r->code = 550;
		answer_r->enhanced =
		    strncmp(sym, "SPF_", 4) == 0 ? "5.7.23" : "5.7.1";
		snprintf(answer_r->buf, sizeof(answer_r->buf),
			 "Message rejected by policy (%s)", sym);
		answer_r->text = answer_r->buf;
		return;
	}
	if (config->reject_score > 0 &&
	    in->score >= (double)config->reject_score) {
		answer_r->action = POLICY_REJECT;
		answer_r->rule = "score";
		answer_r->code = 550;
		answer_r->enhanced = "5.7.1";
		snprintf(answer_r->buf, sizeof(answer_r->buf),
			 "Message rejected by policy (score %.1f)", in->score);
		answer_r->text = answer_r->buf;
		return;
	}
	if ((sym = policy_listed(config->tempfail_symbols, in)) != NULL) {
		answer_r->action = POLICY_TEMPFAIL;
		answer_r->rule = "symbol";
		answer_r->code = 451;
		answer_r->enhanced = "4.7.1";
		snprintf(answer_r->buf, sizeof(answer_r->buf),
			 "Message deferred by policy (%s)", sym);
		answer_r->text = answer_r->buf;
	}
}

/* ---- spam score thresholds ---- */

enum policy_spam_action
policy_spam_action(double score, const struct policy_spam_thresholds *t)
{
	if (t->reject > 0 && score >= t->reject)
		return POLICY_SPAM_REJECT;
	if (t->quarantine > 0 && score >= t->quarantine)
		return POLICY_SPAM_QUARANTINE;
	if (t->tag > 0 && score >= t->tag)
		return POLICY_SPAM_TAG;
	return POLICY_SPAM_NONE;
}

enum policy_verdict
policy_spam_verdict(enum policy_spam_action action)
{
	switch (action) {
	case POLICY_SPAM_REJECT:
		return POLICY_REJECT;
	case POLICY_SPAM_QUARANTINE:
		return POLICY_QUARANTINE;
	default:
		return POLICY_CONTINUE;
	}
}

const char *
policy_spam_action_name(enum policy_spam_action action)
{
	switch (action) {
	case POLICY_SPAM_REJECT:
		return "reject";
	case POLICY_SPAM_QUARANTINE:
		return "quarantine";
	case POLICY_SPAM_TAG:
		return "tag";
	default:
		return "none";
	}
}
