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
	/* Quarantine: accepted (250) and kept in the quarantine store by the
	 * queue, unless a rule below refuses it outright. */
	answer_r->action = in->verdict == POLICY_QUARANTINE ? POLICY_QUARANTINE
							    : POLICY_ACCEPT;
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

/* ---- the answer at each SMTP command ---- */

void
policy_decide_stage(const struct policy_config *config, enum policy_stage stage,
		    const struct policy_input *in,
		    struct policy_answer *answer_r)
{
	static const char *const what[] = {
	    "Client host rejected", "Client host rejected",
	    "Sender address rejected", "Recipient address rejected"};
	const char *sym = NULL;
	bool client =
	    stage == POLICY_STAGE_CONNECT || stage == POLICY_STAGE_HELO;

	if (stage == POLICY_STAGE_DATA) {
		policy_decide(config, in, answer_r);
		return;
	}
	memset(answer_r, 0, sizeof(*answer_r));
	answer_r->action = POLICY_ACCEPT;
	answer_r->rule = "verdict";
	if (in->verdict == POLICY_REJECT || in->verdict == POLICY_TEMPFAIL) {
		bool temp = in->verdict == POLICY_TEMPFAIL;

		answer_r->action = in->verdict;
		answer_r->code = in->code != 0 ? in->code
				 : temp	       ? 451
				 : client      ? 554
					       : 550;
		answer_r->enhanced = in->enhanced != NULL ? in->enhanced
				     : temp		  ? "4.7.1"
							  : "5.7.1";
		if (in->text != NULL)
			answer_r->text = in->text;
		else {
			snprintf(answer_r->buf, sizeof(answer_r->buf), "%s%s",
				 what[stage], temp ? ", try again later" : "");
			answer_r->text = answer_r->buf;
		}
	} else if (config != NULL &&
		   ((sym = policy_listed(config->reject_symbols, in)) != NULL ||
		    (sym = policy_listed(config->tempfail_symbols, in)) !=
			NULL)) {
		bool temp = policy_listed(config->reject_symbols, in) == NULL;

		answer_r->action = temp ? POLICY_TEMPFAIL : POLICY_REJECT;
		answer_r->rule = "symbol";
		answer_r->code = temp ? 451 : client ? 554 : 550;
		answer_r->enhanced = temp			    ? "4.7.1"
				     : strncmp(sym, "SPF_", 4) == 0 ? "5.7.23"
								    : "5.7.1";
		snprintf(answer_r->buf, sizeof(answer_r->buf),
			 "%s by policy (%s)", what[stage], sym);
		answer_r->text = answer_r->buf;
	} else {
		return;
	}
	answer_r->deferred = config != NULL && config->delay_reject &&
			     stage != POLICY_STAGE_RCPT;
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
