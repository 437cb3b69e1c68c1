/*
 * policy: turns the result of the filter chain into the SMTP answer. The
 * admin rule engine (who/what/when/action) replaces the body of
 * policy_decide() later; its callers stay as they are.
 *
 * Today: the chain's strongest verdict is applied as is (QUARANTINE is
 * accepted, and the queue keeps the message in the quarantine store); a
 * message the chain let through is rejected when it carries a symbol listed in
 * policy.reject_symbols or its score reaches policy.reject_score, and
 * deferred when it carries one listed in policy.tempfail_symbols.
 */
#ifndef MOAT_POLICY_H
#define MOAT_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct str_list;

enum policy_verdict {
	POLICY_CONTINUE, /* no filter objected: accept */
	POLICY_ACCEPT,
	POLICY_REJECT,
	POLICY_TEMPFAIL,
	POLICY_DISCARD,
	POLICY_QUARANTINE,
};

struct policy_config {
	const struct str_list *reject_symbols;	 /* NULL = none */
	const struct str_list *tempfail_symbols; /* NULL = none */
	long long reject_score;			 /* 0 = off */
	bool delay_reject; /* smtp.delay_reject: early rejects at RCPT */
};

/* What the chain found (strings owned by the caller). */
struct policy_input {
	enum policy_verdict verdict;
	int code; /* the verdict's reply, 0/NULL = default */
	const char *enhanced;
	const char *text;
	const char *const *symbols; /* symbol names */
	size_t symbol_count;
	double score;
};

struct policy_answer {
	enum policy_verdict action; /* ACCEPT, REJECT, TEMPFAIL, DISCARD or
				       QUARANTINE (accept, then quarantine) */
	int code;		    /* SMTP reply code, 0 = the default */
	const char *enhanced;	    /* "5.7.1", NULL = the default */
	const char *text;	    /* reply text, NULL = the default */
	const char *rule;	    /* why, for the log: "verdict",
				       "symbol", "score" */
	char buf[160];		    /* backs text when policy wrote it */
	bool deferred; /* policy_decide_stage: answer it at each RCPT */
};

/* Maps the chain's result to the final answer. config may be NULL (the
 * verdict alone decides). */
void policy_decide(const struct policy_config *config,
		   const struct policy_input *in,
		   struct policy_answer *answer_r);

/* ---- the answer at each SMTP command (filter phases) ---- */

enum policy_stage {
	POLICY_STAGE_CONNECT,
	POLICY_STAGE_HELO,
	POLICY_STAGE_MAIL,
	POLICY_STAGE_RCPT,
	POLICY_STAGE_DATA,
};

/*
 * The answer to the command of stage from what the chain found so far.
 * DATA: policy_decide(). Before DATA: a REJECT or TEMPFAIL verdict, then
 * policy.reject_symbols and policy.tempfail_symbols (not the score: it is
 * not complete before the message) refuse; anything else is ACCEPT (go
 * on; DISCARD and QUARANTINE act at DATA). code, enhanced and text are
 * always set for a refusal: the filter's reply, else 554 5.7.1 (CONNECT,
 * HELO: about the client), 550 5.7.1 (MAIL, RCPT) or 451 4.7.1.
 * deferred: stage is CONNECT, HELO or MAIL and config->delay_reject is on:
 * the caller answers the command as usual and this answer at each RCPT of
 * the session (CONNECT, HELO) or of the transaction (MAIL).
 */
void policy_decide_stage(const struct policy_config *config,
			 enum policy_stage stage, const struct policy_input *in,
			 struct policy_answer *answer_r);

/* ---- spam score thresholds (filters/spam.c) ---- */

enum policy_spam_action {
	POLICY_SPAM_NONE,	/* below the tag threshold */
	POLICY_SPAM_TAG,	/* X-Spam-Status: Yes, delivered */
	POLICY_SPAM_QUARANTINE, /* kept in the quarantine */
	POLICY_SPAM_REJECT,	/* refused in the session (550 5.7.1) */
};

/* Thresholds on the message's total score; a value <= 0 disables that
 * step (e.g. reject 0: never reject on score alone). */
struct policy_spam_thresholds {
	double tag;
	double quarantine;
	double reject;
};

/* The strongest action whose threshold the score reaches. */
enum policy_spam_action
policy_spam_action(double score, const struct policy_spam_thresholds *t);
/* The chain verdict for an action (TAG and NONE continue). */
enum policy_verdict policy_spam_verdict(enum policy_spam_action action);
/* "none", "tag", "quarantine", "reject". */
const char *policy_spam_action_name(enum policy_spam_action action);

#endif
