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
