/*
 * filter: the stable interface between the filter chain and each filter
 * (ARCHITECTURE.md §4). A filter is a struct filter: a name, the SMTP phases
 * it wants, the filters it must run after, its settings table and four
 * functions, init / run / abort / fini. Filters are listed once in the static
 * table of filters/filter_registry.c; moat.conf chooses which run and in
 * which order ("filters = spf dkim dmarc ...") and sets their options as
 * "filter.NAME.KEY = value" lines.
 *
 * Execution model (phases):
 * - init() runs once per smtpd process after the settings are loaded and
 *   before any message; fini() at shutdown. The state init() returns is
 *   shared by every worker thread: make it read-only or lock it.
 * - Each phase runs when the SMTP session reaches it: CONNECT after accept,
 *   before the 220 greeting (and again after XCLIENT); HELO at each
 *   EHLO/HELO; MAIL at MAIL FROM; RCPT at each RCPT TO, with that recipient
 *   in filter_envelope()->rcpt (after the recipient was validated); DATA at
 *   the end of DATA/BDAT with the message spooled. For one phase the chain
 *   runs, in the configured order, every filter whose "phases" has that
 *   bit. The session waits for the result before it answers the command;
 *   the event loop never blocks.
 * - run() runs on a worker thread of the chain's pool (never on the event
 *   loop). It may block (DNS through filter_dns_lookup(), sockets) but must
 *   give up when filter_remaining_ms() reaches 0 (each run of a phase gets
 *   the filter's whole timeout). The runs of one session happen one after
 *   another, never in parallel, so a context needs no locking; different
 *   sessions run in parallel.
 * - Two contexts per session: the connection's (CONNECT and HELO results,
 *   kept for every transaction of the session; a new EHLO drops what the
 *   previous HELO phase added) and the transaction's (MAIL, RCPT, DATA;
 *   dropped at RSET, a new MAIL, EHLO or the end of the message). The
 *   transaction's context starts with a copy of the connection's results
 *   (symbols, scores, Authentication-Results entries, filter_data()), so
 *   the DATA phase sees everything found before it. The envelope grows as
 *   the session goes: helo is "" at CONNECT, mail_from "" before MAIL,
 *   rcpts lists the recipients accepted so far, qid is "" before DATA.
 *   Headers and the body exist at DATA only.
 * - A filter reads through the context (envelope, parsed header list, a
 *   pull reader over the bytes, earlier results) and answers only through
 *   it: a verdict, symbols with scores, header edits, Authentication-
 *   Results entries and result data for later filters. Filters never
 *   touch the message bytes: the core applies header edits.
 * - A watchdog on the event loop answers 451 4.7.1 for a run whose filters
 *   together overrun the sum of their timeouts plus one second (a run()
 *   stuck in a call without a timeout); the late result is dropped, and
 *   later runs of that session answer 451 until the stuck one returns. The
 *   message is read through the chain's own descriptor, so this is safe.
 * - run() returns 0 when it reached a result (whatever it is: an SPF fail is
 *   a result) and -1 on an internal error (resolver down, clamd gone,
 *   timeout), after filter_set_error(). On -1 or when the filter overran its
 *   timeout, the chain applies the filter's on_error: "tempfail" (the
 *   default) answers 451 4.7.1 and ends the run; "accept" drops what the
 *   filter added and carries on with the next filter.
 * - Verdicts: CONTINUE (the default) goes on. REJECT, TEMPFAIL and DISCARD
 *   end the chain; ACCEPT ends it too (an allow-list hit skips every later
 *   filter, of this phase and of the later phases). QUARANTINE is recorded
 *   and the chain goes on. rules/policy.c maps the verdict, the symbols and
 *   the score to the SMTP answer of the command (policy_decide_stage()):
 *   a REJECT/TEMPFAIL at CONNECT, HELO or MAIL is answered at each RCPT
 *   when smtp.delay_reject is on (the default, as Postfix), else at once;
 *   one at RCPT refuses that recipient only (its symbols are dropped, the
 *   transaction goes on); one at DATA refuses the message. A verdict found
 *   at CONNECT/HELO is not applied to a session that authenticated.
 * - abort() is called for each filter whose run() was called for a
 *   transaction (MAIL, RCPT, DATA) that ends without reaching its end: a
 *   refused message (on the worker thread, right after the DATA run), RSET,
 *   a new MAIL or EHLO, a refused MAIL, QUIT or a disconnect, a timeout
 *   (on the event loop, between runs, never while a run of that session is
 *   in progress: the session waits for a run in flight first). At the end
 *   of the session it is also called, with the connection's context, for
 *   each filter that ran at CONNECT or HELO. So abort() must be quick and
 *   must not block. Data attached with filter_set_data() is freed by the
 *   chain in any case. May be NULL.
 *
 * Built-in per-filter settings handled by the chain, for every filter:
 *   filter.NAME.timeout  = 10s          (duration, 1s..10m)
 *   filter.NAME.on_error = tempfail     (tempfail | accept)
 * Every other "filter.NAME.KEY" must be in the filter's settings table;
 * unknown filter names and keys fail `moatd --check-config` with file:line.
 *
 * Strings handed to the filter_* functions are copied; strings returned by
 * them live until the message's context is freed.
 */
#ifndef MOAT_FILTER_H
#define MOAT_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/config.h"
#include "lib/dns.h"
#include "rules/policy.h"

struct filter_context;
struct filter_reader;
/* The parsed MIME tree, defined by filters/mime.h (the content filters'
 * module). The chain only keeps the slot; see filter_mime_register(). */
struct filter_mime;

enum filter_phase {
	FILTER_PHASE_CONNECT = 1 << 0,
	FILTER_PHASE_HELO = 1 << 1,
	FILTER_PHASE_MAIL = 1 << 2,
	FILTER_PHASE_RCPT = 1 << 3,
	FILTER_PHASE_DATA = 1 << 4,
};

struct filter {
	/* Name in moat.conf and in logs: [a-z0-9_]+. */
	const char *name;
	/* FILTER_PHASE_* bits: the phases at which run() is called (see the
	 * execution model above). */
	unsigned int phases;
	/* NULL-terminated names of filters this one must run after when they
	 * are configured (DMARC: "spf", "dkim"); --check-config rejects an
	 * order that breaks it. NULL = none. */
	const char *const *after;

	/* The filter's own settings: a table whose names are the KEY part of
	 * "filter.NAME.KEY", with offsets into a struct of settings_size
	 * bytes the chain allocates, fills (defaults, then moat.conf) and
	 * passes to init(). settings_count 0 = no settings. */
	const struct setting_def *settings;
	size_t settings_count;
	size_t settings_size;
	/* Optional cross-field check after parsing; -1 with *error_r
	 * (static) fails --check-config. */
	int (*check)(const void *settings, const char **error_r);

	/* Once per process; *state_r is passed to run/abort/fini. 0, or -1
	 * with *error_r allocated (smtpd then refuses to start). */
	int (*init)(const void *settings, void **state_r, char **error_r);
	/* One phase of one message; see the execution model above. */
	int (*run)(void *state, struct filter_context *ctx,
		   enum filter_phase phase);
	/* Optional; see above. */
	void (*abort)(void *state, struct filter_context *ctx);
	/* Optional; frees the state. */
	void (*fini)(void *state);
};

/* ------------------------------------------------------------------ */
/* what run() reads */

struct filter_envelope {
	const char *session_id;
	const char *qid;	  /* "" before DATA */
	const char *client_ip;	  /* textual address, no port */
	const char *client_name;  /* verified reverse name, or NULL */
	const char *helo;	  /* "" when the client sent none */
	const char *mail_from;	  /* "" for the null sender <> */
	const char *const *rcpts; /* rcpt_count addresses, without <> */
	size_t rcpt_count;
	const char *auth_user;	    /* authenticated user, or NULL */
	bool submission;	    /* arrived on 587 or 465 */
	bool tls;		    /* the session is encrypted */
	const char *local_hostname; /* our host name (Received, A-R) */
	const char *rcpt; /* RCPT phase: the recipient checked, else NULL */
};

/*
 * One header field of the message as received. raw/raw_len is the whole
 * field, name, colon, folded continuation lines and the final CRLF, byte for
 * byte (what DKIM canonicalises). name is a NUL-terminated copy of the field
 * name. value is a NUL-terminated copy of everything after the colon up to
 * (not including) the final CRLF, folding kept.
 * The first field is the Received line smtpd added itself.
 */
struct filter_header {
	const char *name;
	const char *value;
	const char *raw;
	size_t raw_len;
	size_t offset; /* of the field within the message */
};

const struct filter_envelope *filter_envelope(const struct filter_context *ctx);

/* The header fields in message order. truncated_r (may be NULL) is set
 * when the header section exceeded the parser's limits (1000 fields or
 * 1 MiB); the fields before the limit are still listed. */
const struct filter_header *filter_headers(const struct filter_context *ctx,
					   size_t *count_r, bool *truncated_r);
/* Index of the first field named name (case-insensitive) at or after
 * start, or -1. */
long filter_header_find(const struct filter_context *ctx, const char *name,
			size_t start);

/*
 * The message bytes: len bytes at offset in fd (the Received line smtpd
 * added comes first); the body starts body_offset bytes into the message
 * (after the blank line; equals len when there is no body). fd is shared:
 * read it with pread() only, never read()/lseek().
 */
struct filter_body {
	int fd;
	off_t offset;
	size_t len;
	size_t body_offset;
};
const struct filter_body *filter_body(const struct filter_context *ctx);

/*
 * Pull reader over the message (whole = true) or over the body only.
 * filter_reader_read() returns 1 with the next chunk in *data_r and *size_r
 * (valid until the next call), 0 at the end, -1 on a read error (errno).
 */
struct filter_reader *filter_reader_new(struct filter_context *ctx, bool whole);
int filter_reader_read(struct filter_reader *reader,
		       const unsigned char **data_r, size_t *size_r);
void filter_reader_free(struct filter_reader **reader);

/*
 * The MIME tree slot. The content module registers its parser once at
 * start-up (from its filter's init(), before any message); the first
 * filter_mime() call of a message parses, later ones return the same tree,
 * freed with the context. NULL when no parser is registered or the parse
 * failed.
 */
struct filter_mime_ops {
	struct filter_mime *(*parse)(struct filter_context *ctx);
	void (*free)(struct filter_mime *mime);
};
void filter_mime_register(const struct filter_mime_ops *ops);
struct filter_mime *filter_mime(struct filter_context *ctx);

/* ------------------------------------------------------------------ */
/* earlier filters' results */

struct filter_symbol {
	const char *filter; /* name of the filter that added it */
	const char *name;   /* [A-Z0-9_]+, e.g. "SPF_FAIL" */
	double score;	    /* positive = spammier */
	const char *detail; /* short explanation, or NULL (logged) */
};

/* Symbols added so far, in order; the sum of their scores. */
const struct filter_symbol *filter_symbols(const struct filter_context *ctx,
					   size_t *count_r);
double filter_score(const struct filter_context *ctx);

/*
 * Result data a filter left for later ones (filter_set_data), or NULL when
 * that filter is not configured, has not run or left none. Its type is
 * declared in that filter's header: e.g. filters/spf.h declares
 * struct spf_result, which DMARC reads with
 *   const struct spf_result *spf = filter_data(ctx, "spf");
 */
const void *filter_data(const struct filter_context *ctx, const char *filter);

/* One RFC 8601 "resinfo" of the Authentication-Results header. */
struct filter_auth_result {
	const char *filter;
	const char *method; /* "spf", "dkim", "dmarc", "arc" */
	const char *result; /* "pass", "fail", ... */
	const char *reason; /* free text for reason="...", or NULL */
	const char *props;  /* "smtp.mailfrom=example.org", or NULL */
};
const struct filter_auth_result *
filter_auth_results(const struct filter_context *ctx, size_t *count_r);

/* ------------------------------------------------------------------ */
/* what run() produces */

/*
 * The filter's verdict (see the model above). code/enhanced/text are the
 * optional SMTP reply (0/NULL = the default for the verdict: 550 5.7.1,
 * 451 4.7.1); text must be printable ASCII (others become '?').
 */
void filter_set_verdict(struct filter_context *ctx, enum policy_verdict verdict,
			int code, const char *enhanced, const char *text);
/* Adds a named symbol with its score. */
void filter_add_symbol(struct filter_context *ctx, const char *name,
		       double score, const char *detail);
/* Adds an Authentication-Results entry; the core writes the header. */
void filter_add_auth_result(struct filter_context *ctx, const char *method,
			    const char *result, const char *reason,
			    const char *props);
/*
 * Header edits, applied by the core to the stored message (every copy:
 * mailstore, relay, remote). An added field goes on top of the header,
 * below smtpd's Received line, in the order added; value is the text after
 * "Name: " (folded with CRLF + whitespace if long; no bare CR/LF). Removal
 * names a field by its index in filter_headers().
 */
void filter_add_header(struct filter_context *ctx, const char *name,
		       const char *value);
void filter_remove_header(struct filter_context *ctx, size_t index);
/* Result data for later filters (one per filter; replaces any earlier),
 * freed with free_fn (may be NULL) when the context goes. */
void filter_set_data(struct filter_context *ctx, void *data,
		     void (*free_fn)(void *data));
/* Records why run() is about to return -1 (logged, sanitised). */
void filter_set_error(struct filter_context *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------ */
/* services */

/* Milliseconds left before this filter's timeout (0 = overrun). */
long filter_remaining_ms(const struct filter_context *ctx);
/* Memory that lives as long as the message's context. */
void *filter_alloc(struct filter_context *ctx, size_t size);
char *filter_strdup(struct filter_context *ctx, const char *s);
/*
 * A DNS lookup through Moat's resolver (dns.servers), blocking the calling
 * worker thread at most until the filter's timeout. rrtype as in lib/dns.h
 * (1 A, 28 AAAA, 15 MX, 16 TXT, 12 PTR). Returns 0 with *answer_r (free it
 * with dns_answer_free(); a timeout is status DNS_TEMPFAIL), or -1 when the
 * resolver cannot be used at all.
 */
int filter_dns_lookup(struct filter_context *ctx, const char *name, int rrtype,
		      struct dns_answer **answer_r);
/* filter_dns_lookup() for n names side by side (a blocklist's many
 * domains): answers_r[i] for names[i], each to free. */
int filter_dns_lookup_many(struct filter_context *ctx, const char *const *names,
			   size_t n, int rrtype, struct dns_answer **answers_r);

/* ------------------------------------------------------------------ */
/* the registry (filters/filter_registry.c) */

/* Every filter Moat has, NULL-terminated. */
extern const struct filter *const filter_registry[];
/* The filter with that name, or NULL. */
const struct filter *filter_registry_find(const char *name);

#endif
