/*
 * policy: the minimal policy step. Until the rule engine exists, a chain
 * verdict maps one to one onto the SMTP answer; QUARANTINE is accepted and
 * delivered (the quarantine store arrives with the rules issue).
 */
#include "rules/policy.h"

#include <stddef.h>

void
policy_decide(enum policy_verdict verdict, int code, const char *enhanced,
	      const char *text, struct policy_answer *answer_r)
{
	answer_r->code = code;
	answer_r->enhanced = enhanced;
	answer_r->text = text;
	switch (verdict) {
	case POLICY_REJECT:
	case POLICY_TEMPFAIL:
	case POLICY_DISCARD:
		answer_r->action = verdict;
		break;
	case POLICY_CONTINUE:
	case POLICY_ACCEPT:
	case POLICY_QUARANTINE:
	default:
		answer_r->action = POLICY_ACCEPT;
		answer_r->code = 0;
		answer_r->enhanced = NULL;
		answer_r->text = NULL;
		break;
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
