/*
 * filter_chain: runs the configured filters (filters/filter.h) phase by
 * phase as an SMTP session goes (connect, HELO, MAIL, each RCPT, the end of
 * DATA), on a pool of worker threads, and hands the outcome of each run
 * back on the event loop: the strongest verdict, the symbols and score, and
 * at DATA the header edits smtpd applies to the spool file
 * (Authentication-Results among them). smtpd keeps one struct
 * filter_session per SMTP session (filter_session_*); filter_chain_submit()
 * and filter_chain_run_now() run every phase over one message at once
 * (tools, tests).
 *
 * Configuration: moat.conf's "filters" list names the filters in order;
 * "filter.NAME.KEY = value" lines (struct config_map) set their options.
 * filter_chain_check() validates both without starting anything (for
 * --check-config); filter_chain_new() validates, allocates each filter's
 * settings and calls its init().
 */
#ifndef MOAT_FILTER_CHAIN_H
#define MOAT_FILTER_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "filters/filter.h"
#include "lib/config.h"
#include "rules/policy.h"

struct event_base;
struct filter_chain;
struct filter_job;

struct filter_chain_config {
	const struct str_list *names;	    /* "filters" */
	const struct config_map *map;	    /* "filter.*" lines */
	const struct str_list *dns_servers; /* for filter_dns_lookup() */
	unsigned int threads;		    /* 0 = one per CPU */
	const char *authserv_id;	    /* for Authentication-Results */
	const char *message_log;	    /* SQLite path, NULL = none */
};

/* One header field to remove: bytes [offset, offset + len) of the message. */
struct filter_chain_cut {
	size_t offset;
	size_t len;
};

struct filter_chain_result {
	enum policy_verdict verdict; /* the strongest of the chain */
	int code;		     /* optional SMTP reply, 0/NULL = default */
	const char *enhanced;
	const char *text;
	const char *verdict_filter; /* who set it, NULL when CONTINUE */
	double score;
	const struct filter_symbol *symbols;
	size_t symbol_count;
	/* Header edits: fields to insert after the first header field
	 * (smtpd's Received), complete with CRLFs; removals sorted by offset,
	 * not overlapping. */
	const char *add_headers;
	size_t add_len;
	size_t add_offset; /* where they go: after the first field */
	const struct filter_chain_cut *cuts;
	size_t cut_count;
	unsigned long elapsed_us; /* time the chain took */
};

/* Runs on the event loop; result is valid during the call only. */
typedef void filter_chain_done_fn(const struct filter_chain_result *result,
				  void *context);

/*
 * Checks a configuration: every name is a registered filter, listed once,
 * in an order that respects each filter's "after"; every "filter.NAME.KEY"
 * names a configured or registered filter and a setting it has, with a
 * valid value; each filter's check() passes. 0, or -1 with *error_r
 * allocated ("file:line: message" for a bad line).
 */
int filter_chain_check(const struct filter_chain_config *config,
		       char **error_r);

/* Checks the "filters" list alone (registered, once each, "after" order
 * kept). 0, or -1 with *error_r (thread-local). */
int filter_chain_validate_names(const struct str_list *names,
				const char **error_r);
/* Prints every registered filter's settings (--help-settings). */
void filter_chain_print_settings(FILE *out);
/* True when an Authentication-Results field value claims authserv_id. */
bool filter_chain_ar_claims(const char *value, const char *authserv_id);

/*
 * Builds the chain: check, settings, init() of every filter, worker
 * threads. base is the loop the results come back on
 * (evthread_use_pthreads() first). NULL with *error_r allocated.
 */
struct filter_chain *filter_chain_new(struct event_base *base,
				      const struct filter_chain_config *config,
				      char **error_r);
/* Stops the workers after the messages in progress (their callbacks are not
 * run), calls fini() of every filter and frees the chain. */
void filter_chain_free(struct filter_chain **chain);
/* Number of configured filters (0: filter_chain_submit still builds the
 * Authentication-Results-free result, cheaply). */
size_t filter_chain_count(const struct filter_chain *chain);

/* ------------------------------------------------------------------ */
/* one SMTP session */

struct filter_session;

/* True when some configured filter wants phase (else a run of it would do
 * nothing: the caller may skip it). */
bool filter_chain_wants(const struct filter_chain *chain,
			enum filter_phase phase);
/* "connect", "helo", "mail", "rcpt", "data" ("all" for 0). */
const char *filter_phase_name(enum filter_phase phase);

/* The chain's state for one SMTP session; free it with
 * filter_session_free() before the chain. */
struct filter_session *filter_session_new(struct filter_chain *chain);
/*
 * Runs one phase for the session: every configured filter that wants it,
 * in order, on a worker (never inside this call). env is the envelope so
 * far (copied; env->rcpt is the recipient at FILTER_PHASE_RCPT); fd,
 * offset and len are the message at FILTER_PHASE_DATA (fd is dup()ed; -1
 * otherwise). done runs later on the loop exactly once, unless the session
 * or the chain is freed first. One run at a time: the caller waits for
 * done before the next (after a watchdog answer, a run while the stuck one
 * is still out is answered TEMPFAIL at once). The result's symbols and
 * score are everything found so far in the session's transaction (or
 * connection); its verdict is what the chain found so far: one left by an
 * earlier phase stays (connect REJECT is still REJECT at RCPT), except a
 * verdict at RCPT, which is about that recipient only.
 */
void filter_session_run(struct filter_session *fs, enum filter_phase phase,
			const struct filter_envelope *env, int fd, off_t offset,
			size_t len, filter_chain_done_fn *done, void *context);
/* The transaction ended (RSET, MAIL refused, new MAIL/EHLO, the message
 * answered, QUIT, disconnect). completed: the message was accepted
 * (queued or discarded), so filters are not told; otherwise abort() of
 * every filter whose run() was called for it. No-op without one. */
void filter_session_end_tx(struct filter_session *fs, bool completed);
/* XCLIENT: the session is another client now: everything found since the
 * connection (and the transaction) goes, with abort(); then run CONNECT. */
void filter_session_reset_connection(struct filter_session *fs);
/* A transaction refused before DATA (by a filter or by policy): the
 * summary log line ("qid=-") and the message-log row, with env and
 * action (REJECT or TEMPFAIL). Call before filter_session_end_tx(). */
void filter_session_log_refused(struct filter_session *fs,
				const struct filter_envelope *env,
				enum policy_verdict action);
/* The session is over: abort() for the transaction's filters and for
 * those that ran at CONNECT/HELO, then frees (when a run the watchdog gave
 * up on is still out, when it returns). NULLs *fs. */
void filter_session_free(struct filter_session **fs);

/* ------------------------------------------------------------------ */
/* one message at once */

/*
 * Queues one message, every phase in one run: env is copied; the message is len
 * bytes at offset in fd, which the caller keeps open and unchanged until done
 * runs. done runs later on the loop, never inside this call, exactly once
 * unless the chain is freed first.
 */
void filter_chain_submit(struct filter_chain *chain,
			 const struct filter_envelope *env, int fd,
			 off_t offset, size_t len, filter_chain_done_fn *done,
			 void *context);

/*
 * Runs the chain synchronously on the calling thread (tests, tools): same
 * work as one worker job. Returns the context's result through done before
 * returning.
 */
void filter_chain_run_now(struct filter_chain *chain,
			  const struct filter_envelope *env, int fd,
			  off_t offset, size_t len, filter_chain_done_fn *done,
			  void *context);

#endif
