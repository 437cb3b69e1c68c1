/*
 * filter_chain: runs the configured filters over one spooled message after
 * DATA and before the 250, and returns one verdict for the policy step.
 * No filter is registered yet (the chain arrives with the sender
 * authentication issue); the call site in smtpd is final.
 */
#ifndef MOAT_FILTER_CHAIN_H
#define MOAT_FILTER_CHAIN_H

#include <stddef.h>
#include <sys/types.h>
#include "rules/policy.h"

struct filter_envelope {
	const char *qid;
	const char *client_ip;
	const char *helo;
	const char *mail_from;
	const char *auth_user; /* NULL when not authenticated */
	const char *const *rcpts;
	size_t rcpt_count;
};

struct filter_message {
	int fd; /* read-only view: len bytes at offset */
	off_t offset;
	size_t len;
};

struct filter_chain_result {
	enum policy_verdict verdict;
	int code;
	const char *enhanced;
	const char *text;
};

/* Runs every filter in order; never modifies the message. */
void filter_chain_run(const struct filter_envelope *envelope,
		      const struct filter_message *message,
		      struct filter_chain_result *result_r);

#endif
