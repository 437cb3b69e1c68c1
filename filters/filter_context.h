/*
 * filter_context: the per-message state behind the accessors of
 * filters/filter.h. Internal to the chain (filter_chain.c) and its unit
 * tests; filters see only the functions of filter.h.
 */
#ifndef MOAT_FILTER_CONTEXT_H
#define MOAT_FILTER_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "filters/filter.h"

struct pool;
struct dns;

struct filter_added_header {
	const char *filter;
	const char *name;
	const char *value;
};

struct filter_removed_header {
	const char *filter;
	size_t index;
};

struct filter_data_slot {
	const char *filter;
	void *data;
	void (*free_fn)(void *data);
};

/* Counts of everything a filter can add, to roll a failed filter back. */
struct filter_context_mark {
	size_t symbols, auth, added, removed, data;
	enum policy_verdict verdict;
	int code;
	const char *enhanced, *text, *verdict_filter;
};

struct filter_context {
	struct pool *pool;
	struct filter_envelope env;
	struct filter_body body;
	char *head; /* header section bytes (pool), headers point into it */
	struct filter_header *headers;
	size_t header_count;
	bool headers_truncated;

	struct filter_symbol *symbols;
	size_t symbol_count, symbol_alloc;
	struct filter_auth_result *auth;
	size_t auth_count, auth_alloc;
	struct filter_added_header *added;
	size_t added_count, added_alloc;
	struct filter_removed_header *removed;
	size_t removed_count, removed_alloc;
	struct filter_data_slot *data;
	size_t data_count, data_alloc;
	size_t data_shared; /* the first slots are another context's */
	size_t rcpt_alloc;

	enum policy_verdict verdict; /* strongest so far */
	int code;
	const char *enhanced, *text;
	const char *verdict_filter;

	/* the filter running now */
	const char *current;
	struct timespec deadline; /* CLOCK_MONOTONIC */
	char *error;		  /* pool; set by filter_set_error */

	struct filter_mime *mime;
	bool mime_tried;
	struct dns *dns; /* the worker thread's resolver, or NULL */
};

/* A context for one message (len bytes at offset in fd); env is
 * deep-copied. Nothing is read yet. */
struct filter_context *filter_context_new(const struct filter_envelope *env,
					  int fd, off_t offset, size_t len);
/* An empty context (no envelope, no message) whose pool grows in blocks of
 * pool_size bytes: the connection's or a transaction's context. */
struct filter_context *filter_context_new_empty(size_t pool_size);
/* Brings the envelope up to date with env: strings that changed are
 * copied, recipients beyond those already copied are appended (the list
 * only grows within a context), rcpt is copied. */
void filter_context_set_env(struct filter_context *ctx,
			    const struct filter_envelope *env);
/* The message: len bytes at offset in fd (not owned). */
void filter_context_set_body(struct filter_context *ctx, int fd, off_t offset,
			     size_t len);
/* Starts a transaction's context with the results of the connection's:
 * symbols, Authentication-Results, header additions and data slots are
 * shared (the slots without their destructor: from keeps them), so from
 * must outlive ctx. The verdict is copied too when with_verdict. */
void filter_context_seed(struct filter_context *ctx,
			 const struct filter_context *from, bool with_verdict);
/* Reads and parses the header section. 0, or -1 with errno. */
int filter_context_load(struct filter_context *ctx);
/* Frees data slots (their free_fn), the MIME tree and the pool. */
void filter_context_free(struct filter_context **ctx);

/* Sets the running filter and its deadline (timeout_ms from now). */
void filter_context_begin(struct filter_context *ctx, const char *filter,
			  long timeout_ms);
void filter_context_mark(const struct filter_context *ctx,
			 struct filter_context_mark *mark_r);
/* Drops everything added since mark (the filter failed, on_error=accept). */
void filter_context_rollback(struct filter_context *ctx,
			     const struct filter_context_mark *mark);
/* Ranks verdicts: higher is stronger (REJECT > TEMPFAIL > DISCARD >
 * QUARANTINE > ACCEPT > CONTINUE). */
int filter_verdict_rank(enum policy_verdict verdict);
const char *filter_verdict_name(enum policy_verdict verdict);

#endif
