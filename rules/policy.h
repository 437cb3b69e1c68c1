/*
 * policy: turns the verdict of the filter chain into the SMTP answer. The
 * admin rule engine (who/what/when/action) replaces the body of
 * policy_decide() later; its callers stay as they are.
 */
#ifndef MOAT_POLICY_H
#define MOAT_POLICY_H

enum policy_verdict {
	POLICY_CONTINUE, /* no filter objected: accept */
	POLICY_ACCEPT,
	POLICY_REJECT,
	POLICY_TEMPFAIL,
	POLICY_DISCARD,
	POLICY_QUARANTINE,
};

struct policy_answer {
	enum policy_verdict action; /* ACCEPT, REJECT, TEMPFAIL or DISCARD */
	int code;		    /* SMTP reply code, 0 = the default */
	const char *enhanced;	    /* "5.7.1", NULL = the default */
	const char *text;	    /* reply text, NULL = the default */
};

/* Maps a chain verdict (and its optional reply) to the final answer. */
void policy_decide(enum policy_verdict verdict, int code, const char *enhanced,
		   const char *text, struct policy_answer *answer_r);

#endif
