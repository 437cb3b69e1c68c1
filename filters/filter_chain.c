/*
 * filter_chain: the configured filters, their settings and state, and the
 * pool of worker threads that runs them phase by phase for each SMTP
 * session (see filter_chain.h and, for the filters' side, filter.h).
 *
 * A job is one phase of one session (or, for filter_chain_submit(), every
 * phase of one message): submitted on the event loop after the session's
 * context for it is brought up to date, queued, taken by a worker that runs
 * the filters wanting that phase in order (at DATA after reading and
 * parsing the header, then building the header edits and logging the
 * summary line) and moves the job to the done list; the loop is woken with
 * event_active() and runs the callbacks. A session has at most one job in
 * flight (busy): while it is out the worker owns the session's contexts,
 * and everything that changes them (end of a transaction, XCLIENT, the
 * end of the session) waits for it in chain_done(). Sessions run in
 * parallel. Each worker has its own resolver (lib/dns private context) for
 * filter_dns_lookup(), so no lookup crosses threads.
 *
 * Ownership: the SMTP session owns its struct filter_session until
 * filter_session_free(); a session freed while a job is out is only marked
 * (free_pending) and destroyed by chain_done() when the job comes back (or
 * by filter_chain_free()), and no callback is made for it, so the worker
 * never sees freed memory and the SMTP session may go at once.
 *
 * Timeouts are cooperative: a filter gets a deadline (filter_remaining_ms()),
 * every lookup through filter_dns_lookup() is bounded by it, and a run() that
 * returns after its deadline counts as an error, answered by its on_error.
 * A watchdog timer per job (the sum of the timeouts of the filters of that
 * phase plus a grace) answers for a filter that never returns; the DATA run
 * reads the message through its own dup()ed descriptor, so the session may
 * drop its file.
 */
#include "filters/filter_chain.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "filters/filter_context.h"
#include "filters/filter_log.h"
#include "lib/buf.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/pool.h"
#include "lib/xalloc.h"

#define CHAIN_TIMEOUT_DEFAULT_MS 10000
#define CHAIN_THREADS_MAX	 64
#define CHAIN_WATCHDOG_GRACE_MS	 1000

/* One configured filter. */
struct chain_filter {
	const struct filter *filter;
	void *settings; /* filter->settings_size bytes, or NULL */
	void *state;
	bool inited;
	long timeout_ms;
	bool on_error_accept;
};

/*
 * The chain's side of one SMTP session (filter_chain.h): the connection's
 * context (CONNECT and HELO results) and the transaction's (MAIL, RCPT,
 * DATA, seeded from the connection's), and which filters ran at each level
 * so that abort() reaches exactly those. While a run is in flight (busy)
 * the worker owns both contexts; everything else happens on the loop.
 */
struct filter_session {
	struct filter_session *prev, *next; /* chain->sessions (loop) */
	struct filter_chain *chain;
	struct filter_context *conn, *tx;
	struct filter_context_mark helo_mark; /* conn after CONNECT */
	bool have_helo_mark;
	bool *conn_ran, *tx_ran;		    /* per configured filter */
	struct filter_log_entry *conn_log, *tx_log; /* per filter */
	enum policy_verdict tx_seen; /* strongest verdict of the tx */
	const char *tx_seen_filter;
	int fd_dup; /* the DATA run's own descriptor, or -1 */
	/* on the loop only */
	unsigned int refs; /* jobs not yet through chain_done() */
	bool busy;	   /* a run is in flight: the worker owns it */
	bool free_pending, end_pending, reset_pending;
	bool end_completed;
};

struct chain_job {
	struct chain_job *next;
	struct filter_chain *chain;
	struct filter_session *fs;
	enum filter_phase phase; /* 0: every phase (one-shot) */
	filter_chain_done_fn *done;
	void *context;
	struct filter_chain_result result;
	struct timespec start;
	struct event *timer; /* the watchdog (loop thread), or NULL */
	bool synthetic;	     /* answered without a run (session busy) */
	bool finished;	     /* the worker is done with it (lock) */
	bool abandoned;	     /* answered by the watchdog (lock) */
};

struct filter_chain {
	struct chain_filter *filters;
	size_t count;
	char *authserv_id;
	struct str_list dns_servers;
	struct filter_log *msglog;

	struct event *done_event;
	pthread_t *threads;
	size_t thread_count;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct chain_job *queue, **queue_tail;
	struct chain_job *done_list, **done_tail;
	bool stop;
	struct dns *now_dns; /* for filter_chain_run_now() */
	struct event_base *base;
	long budget_ms;		 /* the watchdog: every timeout, plus a grace */
	long phase_budget_ms[5]; /* the same per phase */
	unsigned int phases;	 /* every phase some filter wants */
	struct filter_session *sessions; /* live ones (loop) */
};

/* ------------------------------------------------------------------ */
/* configuration */

static _Thread_local char chain_error[256];

/* The map entries apply to filters by name; "NAME.KEY". */
static bool
split_key(const char *key, char *name, size_t namesz, const char **rest_r)
{
	const char *dot = strchr(key, '.');
	size_t n;

	if (dot == NULL || dot == key || dot[1] == '\0')
		return false;
	n = (size_t)(dot - key);
	if (n >= namesz)
		return false;
	memcpy(name, key, n);
	name[n] = '\0';
	*rest_r = dot + 1;
	return true;
}

static void
chain_filters_free(struct chain_filter *filters, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		struct chain_filter *cf = &filters[i];

		if (cf->inited && cf->filter->fini != NULL)
			cf->filter->fini(cf->state);
		if (cf->settings != NULL) {
			config_free(cf->filter->settings,
				    cf->filter->settings_count, cf->settings);
			free(cf->settings);
		}
	}
	free(filters);
}

/* Applies one built-in key (timeout, on_error); 1 applied, 0 not
 * built-in, -1 bad value (*msg_r allocated). */
static int
chain_builtin(struct chain_filter *cf, const char *key, const char *value,
	      char **msg_r)
{
	if (strcmp(key, "timeout") == 0) {
		unsigned int secs;

		if (config_parse_duration(value, &secs) < 0 || secs < 1 ||
		    secs > 600) {
			*msg_r = xstrdup("expected a duration from 1s to 10m");
			return -1;
		}
		cf->timeout_ms = (long)secs * 1000;
		return 1;
	}
	if (strcmp(key, "on_error") == 0) {
		if (strcmp(value, "tempfail") == 0)
			cf->on_error_accept = false;
		else if (strcmp(value, "accept") == 0)
			cf->on_error_accept = true;
		else {
			*msg_r = xstrdup("expected tempfail or accept");
			return -1;
		}
		return 1;
	}
	return 0;
}

/*
 * Builds the configured filters with their settings (no init()). Map
 * entries for registered filters that are not in the list are checked
 * against a scratch instance. 0, or -1 with *error_r allocated.
 */
static int
chain_build(const struct filter_chain_config *config,
	    struct chain_filter **filters_r, size_t *count_r, char **error_r)
{
	size_t count = config->names != NULL ? config->names->count : 0;
	struct chain_filter *filters = xcalloc(count + 1, sizeof(*filters));
	const char *err = NULL;

	if (filter_chain_validate_names(config->names, &err) < 0) {
		*error_r = xasprintf("filters: %s", err);
		free(filters);
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		struct chain_filter *cf = &filters[i];

		cf->filter = filter_registry_find(config->names->items[i]);
		cf->timeout_ms = CHAIN_TIMEOUT_DEFAULT_MS;
		if (cf->filter->settings_size > 0) {
			cf->settings = xcalloc(1, cf->filter->settings_size);
			if (config_defaults(cf->filter->settings,
					    cf->filter->settings_count,
					    cf->settings, error_r) < 0) {
				chain_filters_free(filters, i + 1);
				return -1;
			}
		}
	}
	for (size_t m = 0; config->map != NULL && m < config->map->count; m++) {
		const struct config_map_entry *e = &config->map->items[m];
		struct chain_filter scratch, *cf = NULL;
		const char *key;
		char name[64], *msg = NULL;
		int rc;

		if (!split_key(e->key, name, sizeof(name), &key) ||
		    filter_registry_find(name) == NULL) {
			*error_r = xasprintf(
			    "%s:%u: filter.%s: unknown filter "
			    "'%s' (see moatd --help-settings)",
			    e->file, e->line, e->key,
			    split_key(e->key, name, sizeof(name), &key)
				? name
				: e->key);
			chain_filters_free(filters, count);
			return -1;
		}
		for (size_t i = 0; i < count; i++)
			if (strcmp(filters[i].filter->name, name) == 0)
				cf = &filters[i];
		if (cf == NULL) {
			/* Registered but not in "filters": check only. */
			memset(&scratch, 0, sizeof(scratch));
			scratch.filter = filter_registry_find(name);
			cf = &scratch;
			if (cf->filter->settings_size > 0) {
				cf->settings =
				    xcalloc(1, cf->filter->settings_size);
				if (config_defaults(cf->filter->settings,
						    cf->filter->settings_count,
						    cf->settings,
						    error_r) < 0) {
					config_free(cf->filter->settings,
						    cf->filter->settings_count,
						    cf->settings);
					free(cf->settings);
					chain_filters_free(filters, count);
					return -1;
				}
			}
		}
		rc = chain_builtin(cf, key, e->value, &msg);
		if (rc == 0) {
			if (cf->settings == NULL) {
				msg = xasprintf("unknown setting");
				rc = -1;
			} else {
				char *m2 = NULL;

				rc = config_set_by_name(
				    cf->filter->settings,
				    cf->filter->settings_count, cf->settings,
				    key, e->value, &m2);
				if (rc < 0) {
					/* m2 is "key: message" */
					const char *colon = strstr(m2, ": ");

					msg = xstrdup(colon != NULL ? colon + 2
								    : m2);
					free(m2);
				}
			}
		}
		if (cf == &scratch && cf->settings != NULL) {
			config_free(cf->filter->settings,
				    cf->filter->settings_count, cf->settings);
			free(cf->settings);
		}
		if (rc < 0) {
			*error_r = xasprintf("%s:%u: filter.%s: %s", e->file,
					     e->line, e->key, msg);
			free(msg);
			chain_filters_free(filters, count);
			return -1;
		}
	}
	for (size_t i = 0; i < count; i++) {
		const struct chain_filter *cf = &filters[i];
		const char *cerr = NULL;

		if (cf->filter->check != NULL &&
		    cf->filter->check(cf->settings, &cerr) < 0) {
			*error_r = xasprintf("filter.%s: %s", cf->filter->name,
					     cerr != NULL ? cerr : "invalid");
			chain_filters_free(filters, count);
			return -1;
		}
	}
	*filters_r = filters;
	*count_r = count;
	return 0;
}

int
filter_chain_validate_names(const struct str_list *names, const char **error_r)
{
	size_t count = names != NULL ? names->count : 0;

	for (size_t i = 0; i < count; i++) {
		const struct filter *f = filter_registry_find(names->items[i]);
		char shown[64];

		log_sanitize(names->items[i], strlen(names->items[i]), shown,
			     sizeof(shown));
		if (f == NULL) {
			snprintf(chain_error, sizeof(chain_error),
				 "unknown filter '%s'", shown);
			*error_r = chain_error;
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(names->items[j], names->items[i]) == 0) {
				snprintf(chain_error, sizeof(chain_error),
					 "filter '%s' listed twice", shown);
				*error_r = chain_error;
				return -1;
			}
		}
		/* Every "after" that is configured must come earlier. */
		for (size_t a = 0; f->after != NULL && f->after[a] != NULL;
		     a++) {
			for (size_t j = i + 1; j < count; j++) {
				if (strcmp(names->items[j], f->after[a]) != 0)
					continue;
				snprintf(chain_error, sizeof(chain_error),
					 "filter '%s' must come after '%s'",
					 f->name, f->after[a]);
				*error_r = chain_error;
				return -1;
			}
		}
	}
	return 0;
}

int
filter_chain_check(const struct filter_chain_config *config, char **error_r)
{
	struct chain_filter *filters;
	size_t count;

	if (chain_build(config, &filters, &count, error_r) < 0)
		return -1;
	chain_filters_free(filters, count);
	return 0;
}

void
filter_chain_print_settings(FILE *out)
{
	for (size_t i = 0; filter_registry[i] != NULL; i++) {
		const struct filter *f = filter_registry[i];

		fprintf(out,
			"filter.%s.timeout = 10s\n    time allowed "
			"per message (duration, 1s to 10m)\n",
			f->name);
		fprintf(out,
			"filter.%s.on_error = tempfail\n    when the "
			"filter fails: tempfail (451) or accept (skip it)"
			"\n",
			f->name);
		for (size_t j = 0; j < f->settings_count; j++) {
			const struct setting_def *d = &f->settings[j];

			fprintf(out, "filter.%s.%s = %s\n    %s\n", f->name,
				d->name,
				d->default_value != NULL &&
					d->default_value[0] != '\0'
				    ? d->default_value
				    : "\"\"",
				d->help);
		}
	}
}

/* ------------------------------------------------------------------ */
/* running one message */

static void
timespec_now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

static unsigned long
elapsed_us(const struct timespec *since)
{
	struct timespec now;
	long long us;

	timespec_now(&now);
	us = (long long)(now.tv_sec - since->tv_sec) * 1000000 +
	     (now.tv_nsec - since->tv_nsec) / 1000;
	return us > 0 ? (unsigned long)us : 0;
}

static bool
verdict_ends_chain(enum policy_verdict v)
{
	return v == POLICY_REJECT || v == POLICY_TEMPFAIL ||
	       v == POLICY_DISCARD || v == POLICY_ACCEPT;
}

/* Appends s as an RFC 8601 value: a token as is, else a quoted-string. */
static void
append_value(struct buf *out, const char *s)
{
	bool token = s[0] != '\0';

	for (const char *c = s; *c != '\0'; c++)
		if (*c <= ' ' || *c >= 0x7f || strchr("()<>,;:\\\"/[]?=", *c))
			token = false;
	if (token) {
		buf_append_str(out, s);
		return;
	}
	buf_append_char(out, '"');
	for (const char *c = s; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			buf_append_char(out, '\\');
		buf_append_char(out, *c);
	}
	buf_append_char(out, '"');
}

/*
 * True when an Authentication-Results value names authserv_id: the first
 * token after whitespace and comments, compared without case.
 */
bool
filter_chain_ar_claims(const char *value, const char *authserv_id)
{
	const char *p = value;
	size_t n = strlen(authserv_id);
	int depth = 0;

	for (;;) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
		} else if (*p == '(') {
			depth = 1;
			for (p++; *p != '\0' && depth > 0; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				else if (*p == '(')
					depth++;
				else if (*p == ')')
					depth--;
			}
		} else {
			break;
		}
	}
	if (n == 0 || strncasecmp(p, authserv_id, n) != 0)
		return false;
	p += n;
	return *p == '\0' || *p == ';' || *p == ' ' || *p == '\t' ||
	       *p == '\r' || *p == '\n' || *p == '(' || *p == '/';
}

/* Authentication-Results, then the filters' additions; the removals. */
static void
chain_build_edits(struct filter_chain *chain, struct filter_context *ctx,
		  struct filter_chain_result *res)
{
	struct buf out = {0};
	size_t ncut = 0;
	struct filter_chain_cut *cuts;
	bool *cut;

	/* Spoofed Authentication-Results claiming our authserv-id go. */
	cut = pool_zalloc(ctx->pool, ctx->header_count + 1);
	for (size_t i = 1; i < ctx->header_count; i++)
		if (strcasecmp(ctx->headers[i].name,
			       "Authentication-Results") == 0 &&
		    filter_chain_ar_claims(ctx->headers[i].value,
					   chain->authserv_id))
			cut[i] = true;
	for (size_t i = 0; i < ctx->removed_count; i++)
		cut[ctx->removed[i].index] = true;

	if (ctx->auth_count > 0) {
		buf_printf(&out, "Authentication-Results: %s",
			   chain->authserv_id);
		for (size_t i = 0; i < ctx->auth_count; i++) {
			const struct filter_auth_result *a = &ctx->auth[i];

			buf_printf(&out, ";\r\n\t%s=%s", a->method, a->result);
			if (a->reason != NULL) {
				buf_append_str(&out, " reason=");
				append_value(&out, a->reason);
			}
			if (a->props != NULL && a->props[0] != '\0')
				buf_printf(&out, " %s", a->props);
		}
		buf_append_str(&out, "\r\n");
	}
	for (size_t i = 0; i < ctx->added_count; i++)
		buf_printf(&out, "%s: %s\r\n", ctx->added[i].name,
			   ctx->added[i].value);
	res->add_len = out.len;
	res->add_offset = ctx->header_count > 0 ? ctx->headers[0].raw_len : 0;
	res->add_headers = pool_strndup(ctx->pool, buf_cstr(&out), out.len);
	buf_free(&out);

	for (size_t i = 0; i < ctx->header_count; i++)
		if (cut[i])
			ncut++;
	cuts = pool_alloc(ctx->pool, (ncut + 1) * sizeof(*cuts));
	ncut = 0;
	for (size_t i = 0; i < ctx->header_count; i++) {
		if (!cut[i])
			continue;
		cuts[ncut].offset = ctx->headers[i].offset;
		cuts[ncut].len = ctx->headers[i].raw_len;
		ncut++;
	}
	res->cuts = cuts;
	res->cut_count = ncut;
}

static const enum filter_phase phase_order[] = {
    FILTER_PHASE_CONNECT, FILTER_PHASE_HELO, FILTER_PHASE_MAIL,
    FILTER_PHASE_RCPT,	  FILTER_PHASE_DATA,
};

static size_t
phase_index(enum filter_phase phase)
{
	for (size_t i = 0; i < 5; i++)
		if (phase_order[i] == phase)
			return i;
	return 4;
}

const char *
filter_phase_name(enum filter_phase phase)
{
	static const char *const names[] = {"connect", "helo", "mail", "rcpt",
					    "data"};

	return phase == 0 ? "all" : names[phase_index(phase)];
}

static bool
is_conn_phase(enum filter_phase phase)
{
	return phase == FILTER_PHASE_CONNECT || phase == FILTER_PHASE_HELO;
}

static bool
verdict_refuses(enum policy_verdict v)
{
	return v == POLICY_REJECT || v == POLICY_TEMPFAIL ||
	       v == POLICY_DISCARD;
}

/*
 * Runs, in order, every filter that wants phase over ctx (worker thread),
 * until a verdict ends the chain; a verdict an earlier phase left ends it
 * before the first. ran/log: per configured filter.
 */
static void
chain_run_phase(struct filter_chain *chain, struct filter_context *ctx,
		enum filter_phase phase, bool *ran,
		struct filter_log_entry *log)
{
	char safe[160];

	for (size_t i = 0; i < chain->count; i++) {
		struct chain_filter *cf = &chain->filters[i];
		struct filter_log_entry *le = &log[i];
		struct filter_context_mark mark;
		struct timespec t0;
		int rc;

		if ((cf->filter->phases & (unsigned int)phase) == 0)
			continue;
		if (verdict_ends_chain(ctx->verdict))
			break;
		filter_context_mark(ctx, &mark);
		filter_context_begin(ctx, cf->filter->name, cf->timeout_ms);
		timespec_now(&t0);
		rc = cf->filter->run(cf->state, ctx, phase);
		ran[i] = true;
		le->filter = cf->filter->name;
		le->elapsed_us += elapsed_us(&t0);
		le->ran = true;
		if (rc == 0 && filter_remaining_ms(ctx) == 0) {
			rc = -1;
			if (ctx->error == NULL)
				filter_set_error(ctx, "timeout after %ld ms",
						 cf->timeout_ms);
		}
		if (rc < 0) {
			le->error = true;
			filter_context_rollback(ctx, &mark);
			log_sanitize(ctx->error != NULL ? ctx->error : "failed",
				     SIZE_MAX, safe, sizeof(safe));
			log_warnx("session=%s qid=%s event=filter_error "
				  "filter=%s phase=%s reason=\"%s\" action=%s",
				  ctx->env.session_id, ctx->env.qid,
				  cf->filter->name, filter_phase_name(phase),
				  safe,
				  cf->on_error_accept ? "accept" : "tempfail");
			if (!cf->on_error_accept) {
				ctx->current = NULL;
				filter_set_verdict(ctx, POLICY_TEMPFAIL, 451,
						   "4.7.1",
						   "Temporary filter failure, "
						   "try again later");
				break;
			}
			continue;
		}
		if (verdict_ends_chain(ctx->verdict))
			break;
	}
	ctx->current = NULL;
}

/* Calls abort() of every filter marked in ran, then clears the marks. */
static void
chain_abort_ran(struct filter_chain *chain, bool *ran,
		struct filter_context *ctx)
{
	for (size_t i = 0; i < chain->count; i++) {
		if (!ran[i])
			continue;
		ran[i] = false;
		if (chain->filters[i].filter->abort != NULL && ctx != NULL)
			chain->filters[i].filter->abort(chain->filters[i].state,
							ctx);
	}
}

static void
chain_result_fill(struct filter_context *ctx, struct filter_chain_result *res)
{
	res->verdict = ctx->verdict;
	res->code = ctx->code;
	res->enhanced = ctx->enhanced;
	res->text = ctx->text;
	res->verdict_filter = ctx->verdict_filter;
	res->symbols = filter_symbols(ctx, &res->symbol_count);
	res->score = filter_score(ctx);
}

/* One job on the calling (worker) thread: one phase of a session, or every
 * phase of a one-shot message. */
static void
chain_job_run(struct filter_chain *chain, struct chain_job *job,
	      struct dns *dns)
{
	struct filter_session *fs = job->fs;
	bool conn = is_conn_phase(job->phase);
	struct filter_context *ctx = conn ? fs->conn : fs->tx;
	bool *ran = conn ? fs->conn_ran : fs->tx_ran;
	struct filter_log_entry *log = conn ? fs->conn_log : fs->tx_log;
	struct filter_chain_result *res = &job->result;
	struct filter_context_mark mark;
	bool message = job->phase == 0 || job->phase == FILTER_PHASE_DATA;

	ctx->dns = dns;
	filter_context_mark(ctx, &mark);
	if (message && filter_context_load(ctx) < 0) {
		log_warn("session=%s qid=%s event=filter_error "
			 "reason=\"cannot read the message\"",
			 ctx->env.session_id, ctx->env.qid);
		ctx->current = NULL;
		filter_set_verdict(ctx, POLICY_TEMPFAIL, 451, "4.3.0",
				   "Temporary error reading the message");
	}
	if (job->phase == 0) {
		for (size_t p = 0; p < 5; p++)
			chain_run_phase(chain, ctx, phase_order[p], ran, log);
	} else {
		chain_run_phase(chain, ctx, job->phase, ran, log);
	}
	chain_result_fill(ctx, res);
	if (!conn && filter_verdict_rank(ctx->verdict) >
			 filter_verdict_rank(fs->tx_seen)) {
		fs->tx_seen = ctx->verdict;
		fs->tx_seen_filter = ctx->verdict_filter;
	}
	if (job->phase == FILTER_PHASE_RCPT && ctx->verdict != mark.verdict) {
		/* A verdict at RCPT is about that recipient only: a refused
		 * one leaves nothing behind, an allow-listed one does not
		 * end the chain for the others. */
		if (ctx->verdict == POLICY_REJECT ||
		    ctx->verdict == POLICY_TEMPFAIL) {
			filter_context_rollback(ctx, &mark);
		} else if (ctx->verdict == POLICY_ACCEPT) {
			ctx->verdict = mark.verdict;
			ctx->code = mark.code;
			ctx->enhanced = mark.enhanced;
			ctx->text = mark.text;
			ctx->verdict_filter = mark.verdict_filter;
		}
	}
	if (message) {
		/* The message will not be accepted: tell the filters. */
		if (verdict_refuses(ctx->verdict))
			chain_abort_ran(chain, fs->tx_ran, ctx);
		chain_build_edits(chain, ctx, res);
		res->elapsed_us = elapsed_us(&job->start);
		filter_log_message(chain->msglog, ctx, log, chain->count, res);
	} else {
		res->elapsed_us = elapsed_us(&job->start);
	}
	ctx->dns = NULL;
}

static void
chain_job_free(struct chain_job *job)
{
	if (job->timer != NULL)
		event_free(job->timer);
	free(job);
}

/* ------------------------------------------------------------------ */
/* sessions (loop thread) */

struct filter_session *
filter_session_new(struct filter_chain *chain)
{
	struct filter_session *fs = xcalloc(1, sizeof(*fs));
	size_t n = chain->count + 1;

	fs->chain = chain;
	fs->fd_dup = -1;
	fs->conn_ran = xcalloc(n, sizeof(*fs->conn_ran));
	fs->tx_ran = xcalloc(n, sizeof(*fs->tx_ran));
	fs->conn_log = xcalloc(n, sizeof(*fs->conn_log));
	fs->tx_log = xcalloc(n, sizeof(*fs->tx_log));
	fs->next = chain->sessions;
	if (chain->sessions != NULL)
		chain->sessions->prev = fs;
	chain->sessions = fs;
	return fs;
}

bool
filter_chain_wants(const struct filter_chain *chain, enum filter_phase phase)
{
	return chain != NULL && (chain->phases & (unsigned int)phase) != 0;
}

/* Ends the transaction: aborts unless it completed, drops its context. */
static void
session_end_tx_now(struct filter_session *fs, bool completed)
{
	struct filter_chain *chain = fs->chain;

	if (!completed)
		chain_abort_ran(chain, fs->tx_ran, fs->tx);
	memset(fs->tx_ran, 0, chain->count * sizeof(*fs->tx_ran));
	memset(fs->tx_log, 0, chain->count * sizeof(*fs->tx_log));
	filter_context_free(&fs->tx);
	if (fs->fd_dup >= 0) {
		close(fs->fd_dup);
		fs->fd_dup = -1;
	}
	fs->tx_seen = POLICY_CONTINUE;
	fs->tx_seen_filter = NULL;
}

/* Drops the connection's results (after the transaction's). */
static void
session_reset_conn_now(struct filter_session *fs)
{
	struct filter_chain *chain = fs->chain;

	session_end_tx_now(fs, false);
	chain_abort_ran(chain, fs->conn_ran, fs->conn);
	memset(fs->conn_log, 0, chain->count * sizeof(*fs->conn_log));
	filter_context_free(&fs->conn);
	fs->have_helo_mark = false;
}

static void
session_destroy(struct filter_session *fs)
{
	struct filter_chain *chain = fs->chain;

	session_reset_conn_now(fs);
	if (fs->prev != NULL)
		fs->prev->next = fs->next;
	else
		chain->sessions = fs->next;
	if (fs->next != NULL)
		fs->next->prev = fs->prev;
	free(fs->conn_ran);
	free(fs->tx_ran);
	free(fs->conn_log);
	free(fs->tx_log);
	free(fs);
}

void
filter_session_end_tx(struct filter_session *fs, bool completed)
{
	if (fs == NULL)
		return;
	if (fs->busy) {
		/* After a watchdog answer: when the run comes back. */
		fs->end_pending = true;
		fs->end_completed = completed;
		return;
	}
	if (fs->tx != NULL)
		session_end_tx_now(fs, completed);
}

void
filter_session_reset_connection(struct filter_session *fs)
{
	if (fs == NULL)
		return;
	if (fs->busy) {
		fs->reset_pending = true;
		return;
	}
	session_reset_conn_now(fs);
}

void
filter_session_log_refused(struct filter_session *fs,
			   const struct filter_envelope *env,
			   enum policy_verdict action)
{
	struct filter_chain *chain;
	struct filter_context *ctx;
	struct filter_chain_result res;
	struct filter_log_entry *log;

	if (fs == NULL || fs->busy)
		return;
	chain = fs->chain;
	ctx = fs->tx != NULL ? fs->tx : fs->conn;
	log = fs->tx != NULL ? fs->tx_log : fs->conn_log;
	if (ctx == NULL)
		return; /* no filter ran: nothing to tell */
	filter_context_set_env(ctx, env);
	memset(&res, 0, sizeof(res));
	chain_result_fill(ctx, &res);
	res.verdict = action;
	res.verdict_filter =
	    verdict_refuses(fs->tx_seen) && fs->tx_seen_filter != NULL
		? fs->tx_seen_filter
	    : verdict_refuses(ctx->verdict) ? ctx->verdict_filter
					    : "policy";
	for (size_t i = 0; i < chain->count; i++)
		res.elapsed_us += log[i].elapsed_us;
	filter_log_message(chain->msglog, ctx, log, chain->count, &res);
}

void
filter_session_free(struct filter_session **fsp)
{
	struct filter_session *fs = *fsp;

	if (fs == NULL)
		return;
	*fsp = NULL;
	fs->free_pending = true;
	if (fs->busy || fs->refs > 0)
		return; /* chain_done() finishes it */
	session_destroy(fs);
}

/*
 * The watchdog, on the loop: a filter that ignores its deadline (a
 * blocking call without a timeout) must not hold the session. The command
 * is answered 451 now; the worker keeps the session's contexts (the
 * message through its own descriptor, so the session may close and unlink
 * the file) and the job goes without a callback when the worker returns.
 */
static void
chain_job_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct chain_job *job = arg;
	struct filter_chain *chain = job->chain;
	struct filter_chain_result res;
	bool abandon;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&chain->lock);
	abandon = !job->finished;
	if (abandon)
		job->abandoned = true;
	pthread_mutex_unlock(&chain->lock);
	if (!abandon)
		return; /* the result is on its way to chain_done() */
	log_warnx("session=%s event=filter_watchdog phase=%s budget_ms=%ld "
		  "action=tempfail",
		  job->fs->tx != NULL && !is_conn_phase(job->phase)
		      ? job->fs->tx->env.session_id
		  : job->fs->conn != NULL ? job->fs->conn->env.session_id
					  : "-",
		  filter_phase_name(job->phase),
		  chain->phase_budget_ms[phase_index(job->phase)]);
	memset(&res, 0, sizeof(res));
	res.verdict = POLICY_TEMPFAIL;
	res.code = 451;
	res.enhanced = "4.7.1";
	res.text = "Filter timeout, try again later";
	res.verdict_filter = "watchdog";
	res.elapsed_us = (unsigned long)chain->budget_ms * 1000;
	job->done(&res, job->context);
}

/* ------------------------------------------------------------------ */
/* the pool */

static void *
chain_worker(void *arg)
{
	struct filter_chain *chain = arg;
	struct dns *dns = NULL;
	char *err = NULL;

	dns = dns_new(NULL, &chain->dns_servers, &err);
	if (dns == NULL) {
		log_errorx("event=filter_resolver_failed reason=\"%s\"",
			   err != NULL ? err : "?");
		free(err);
	}
	pthread_mutex_lock(&chain->lock);
	for (;;) {
		struct chain_job *job;

		while (chain->queue == NULL && !chain->stop)
			pthread_cond_wait(&chain->cond, &chain->lock);
		if (chain->stop)
			break;
		job = chain->queue;
		chain->queue = job->next;
		if (chain->queue == NULL)
			chain->queue_tail = &chain->queue;
		job->next = NULL;
		pthread_mutex_unlock(&chain->lock);
		/* Abandoned or not, the run goes through: the session's
		 * contexts must stay consistent for the runs after it. */
		chain_job_run(chain, job, dns);
		pthread_mutex_lock(&chain->lock);
		job->finished = true;
		*chain->done_tail = job;
		chain->done_tail = &job->next;
		event_active(chain->done_event, EV_READ, 0);
	}
	pthread_mutex_unlock(&chain->lock);
	dns_free(&dns);
	return NULL;
}

/* A one-shot session (filter_chain_submit) ends with its only job. */
static void
chain_oneshot_end(struct filter_session *fs, enum policy_verdict verdict)
{
	filter_session_end_tx(fs, !verdict_refuses(verdict));
	filter_session_free(&fs);
}

static void
chain_done(evutil_socket_t fd, short what, void *arg)
{
	struct filter_chain *chain = arg;
	struct chain_job *list, *next;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&chain->lock);
	list = chain->done_list;
	chain->done_list = NULL;
	chain->done_tail = &chain->done_list;
	pthread_mutex_unlock(&chain->lock);
	for (; list != NULL; list = next) {
		struct filter_session *fs = list->fs;
		bool call;

		next = list->next;
		fs->refs--;
		if (!list->synthetic)
			fs->busy = false;
		call = !list->abandoned && !fs->free_pending;
		if (call) {
			/* done may end the transaction or free fs: fs is not
			 * touched after it. */
			list->done(&list->result, list->context);
			if (list->phase == 0)
				chain_oneshot_end(fs, list->result.verdict);
		} else if (list->phase == 0) {
			chain_oneshot_end(fs, POLICY_TEMPFAIL);
		} else if (!fs->busy) {
			if (fs->end_pending)
				session_end_tx_now(fs, fs->end_completed);
			if (fs->reset_pending)
				session_reset_conn_now(fs);
			fs->end_pending = fs->reset_pending = false;
			if (fs->free_pending && fs->refs == 0)
				session_destroy(fs);
		}
		chain_job_free(list);
	}
}

/* Queues a job (loop thread), with its watchdog. */
static void
chain_job_queue(struct filter_chain *chain, struct chain_job *job,
		long budget_ms)
{
	job->fs->refs++;
	if (chain->base != NULL && chain->thread_count > 0) {
		struct timeval tv = {budget_ms / 1000,
				     (budget_ms % 1000) * 1000};

		job->timer = evtimer_new(chain->base, chain_job_watchdog, job);
		if (job->timer != NULL)
			evtimer_add(job->timer, &tv);
	}
	pthread_mutex_lock(&chain->lock);
	if (chain->thread_count == 0) {
		/* No workers (no filters): complete on the next loop turn. */
		*chain->done_tail = job;
		chain->done_tail = &job->next;
		job->finished = true;
		pthread_mutex_unlock(&chain->lock);
		if (!job->synthetic)
			chain_job_run(chain, job, NULL);
		if (chain->done_event != NULL)
			event_active(chain->done_event, EV_READ, 0);
		return;
	}
	if (job->synthetic) {
		*chain->done_tail = job;
		chain->done_tail = &job->next;
		job->finished = true;
		pthread_mutex_unlock(&chain->lock);
		event_active(chain->done_event, EV_READ, 0);
		return;
	}
	*chain->queue_tail = job;
	chain->queue_tail = &job->next;
	pthread_cond_signal(&chain->cond);
	pthread_mutex_unlock(&chain->lock);
}

struct filter_chain *
filter_chain_new(struct event_base *base,
		 const struct filter_chain_config *config, char **error_r)
{
	struct filter_chain *chain = xcalloc(1, sizeof(*chain));
	long ncpu;

	if (chain_build(config, &chain->filters, &chain->count, error_r) < 0) {
		free(chain);
		return NULL;
	}
	chain->authserv_id = xstrdup(
	    config->authserv_id != NULL ? config->authserv_id : "localhost");
	for (size_t i = 0;
	     config->dns_servers != NULL && i < config->dns_servers->count; i++)
		str_list_add(&chain->dns_servers,
			     config->dns_servers->items[i]);
	pthread_mutex_init(&chain->lock, NULL);
	pthread_cond_init(&chain->cond, NULL);
	chain->queue_tail = &chain->queue;
	chain->done_tail = &chain->done_list;
	for (size_t i = 0; i < chain->count; i++) {
		struct chain_filter *cf = &chain->filters[i];
		char *err = NULL;

		if (cf->filter->init != NULL &&
		    cf->filter->init(cf->settings, &cf->state, &err) < 0) {
			*error_r = xasprintf("filter %s: %s", cf->filter->name,
					     err != NULL ? err : "init failed");
			free(err);
			filter_chain_free(&chain);
			return NULL;
		}
		cf->inited = true;
	}
	if (config->message_log != NULL &&
	    filter_log_open(config->message_log, &chain->msglog, error_r) < 0) {
		filter_chain_free(&chain);
		return NULL;
	}
	chain->base = base;
	chain->budget_ms = CHAIN_WATCHDOG_GRACE_MS;
	for (size_t p = 0; p < 5; p++)
		chain->phase_budget_ms[p] = CHAIN_WATCHDOG_GRACE_MS;
	for (size_t i = 0; i < chain->count; i++) {
		const struct chain_filter *cf = &chain->filters[i];

		chain->budget_ms += cf->timeout_ms;
		chain->phases |= cf->filter->phases;
		for (size_t p = 0; p < 5; p++)
			if (cf->filter->phases & (unsigned int)phase_order[p])
				chain->phase_budget_ms[p] += cf->timeout_ms;
	}
	if (base == NULL)
		return chain; /* filter_chain_run_now() only */
	chain->done_event = event_new(base, -1, 0, chain_done, chain);
	if (chain->count == 0)
		return chain; /* nothing to run: no threads */
	ncpu = config->threads > 0 ? (long)config->threads
				   : sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > CHAIN_THREADS_MAX)
		ncpu = CHAIN_THREADS_MAX;
	chain->threads = xcalloc((size_t)ncpu, sizeof(*chain->threads));
	for (long i = 0; i < ncpu; i++) {
		int rc = pthread_create(&chain->threads[chain->thread_count],
					NULL, chain_worker, chain);

		if (rc != 0) {
			*error_r = xasprintf("cannot start filter threads: %s",
					     strerror(rc));
			filter_chain_free(&chain);
			return NULL;
		}
		chain->thread_count++;
	}
	return chain;
}

void
filter_chain_free(struct filter_chain **chainp)
{
	struct filter_chain *chain = *chainp;
	struct chain_job *job, *next;

	if (chain == NULL)
		return;
	pthread_mutex_lock(&chain->lock);
	chain->stop = true;
	pthread_cond_broadcast(&chain->cond);
	pthread_mutex_unlock(&chain->lock);
	for (size_t i = 0; i < chain->thread_count; i++)
		pthread_join(chain->threads[i], NULL);
	for (job = chain->queue; job != NULL; job = next) {
		next = job->next;
		chain_job_free(job);
	}
	for (job = chain->done_list; job != NULL; job = next) {
		next = job->next;
		chain_job_free(job);
	}
	/* Sessions still here lost their owner's callbacks: abort and go. */
	while (chain->sessions != NULL)
		session_destroy(chain->sessions);
	if (chain->done_event != NULL)
		event_free(chain->done_event);
	free(chain->threads);
	chain_filters_free(chain->filters, chain->count);
	filter_log_close(&chain->msglog);
	dns_free(&chain->now_dns);
	str_list_free(&chain->dns_servers);
	free(chain->authserv_id);
	pthread_mutex_destroy(&chain->lock);
	pthread_cond_destroy(&chain->cond);
	x_free(chainp);
}

size_t
filter_chain_count(const struct filter_chain *chain)
{
	return chain != NULL ? chain->count : 0;
}

/* Brings the session's context for phase up to date (loop thread). */
static void
session_prepare(struct filter_session *fs, enum filter_phase phase,
		const struct filter_envelope *env, int fd, off_t offset,
		size_t len)
{
	if (is_conn_phase(phase)) {
		if (fs->conn == NULL) {
			fs->conn = filter_context_new_empty(2048);
			fs->have_helo_mark = false;
		}
		if (phase == FILTER_PHASE_HELO) {
			/* A new EHLO replaces what the last one found. */
			if (fs->have_helo_mark)
				filter_context_rollback(fs->conn,
							&fs->helo_mark);
			else
				filter_context_mark(fs->conn, &fs->helo_mark);
			fs->have_helo_mark = true;
		}
		filter_context_set_env(fs->conn, env);
		return;
	}
	if (fs->tx == NULL) {
		fs->tx = filter_context_new_empty(8192);
		if (fs->conn != NULL) {
			/* A verdict about the client does not bind a user
			 * who authenticated since (smtp-policy.md). */
			filter_context_seed(fs->tx, fs->conn,
					    env->auth_user == NULL);
			memcpy(fs->tx_log, fs->conn_log,
			       fs->chain->count * sizeof(*fs->tx_log));
		}
		fs->tx_seen = POLICY_CONTINUE;
		fs->tx_seen_filter = NULL;
	}
	filter_context_set_env(fs->tx, env);
	if (phase == 0 || phase == FILTER_PHASE_DATA) {
		int own = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;

		/* The run reads through its own descriptor, so that a
		 * session the watchdog answered may close its file. */
		if (fs->fd_dup >= 0)
			close(fs->fd_dup);
		fs->fd_dup = own;
		filter_context_set_body(fs->tx, own >= 0 ? own : fd, offset,
					len);
	}
}

void
filter_session_run(struct filter_session *fs, enum filter_phase phase,
		   const struct filter_envelope *env, int fd, off_t offset,
		   size_t len, filter_chain_done_fn *done, void *context)
{
	struct filter_chain *chain = fs->chain;
	struct chain_job *job = xcalloc(1, sizeof(*job));

	job->chain = chain;
	job->fs = fs;
	job->phase = phase;
	job->done = done;
	job->context = context;
	timespec_now(&job->start);
	if (fs->busy) {
		/* A run the watchdog gave up on still holds the contexts. */
		job->synthetic = true;
		job->result.verdict = POLICY_TEMPFAIL;
		job->result.code = 451;
		job->result.enhanced = "4.7.1";
		job->result.text = "Filter timeout, try again later";
		job->result.verdict_filter = "watchdog";
		chain_job_queue(chain, job, 0);
		return;
	}
	session_prepare(fs, phase, env, fd, offset, len);
	fs->busy = true;
	chain_job_queue(chain, job,
			phase == 0
			    ? chain->budget_ms
			    : chain->phase_budget_ms[phase_index(phase)]);
}

void
filter_chain_submit(struct filter_chain *chain,
		    const struct filter_envelope *env, int fd, off_t offset,
		    size_t len, filter_chain_done_fn *done, void *context)
{
	struct filter_session *fs = filter_session_new(chain);

	filter_session_run(fs, 0, env, fd, offset, len, done, context);
}

void
filter_chain_run_now(struct filter_chain *chain,
		     const struct filter_envelope *env, int fd, off_t offset,
		     size_t len, filter_chain_done_fn *done, void *context)
{
	struct filter_session *fs = filter_session_new(chain);
	struct chain_job job;

	if (chain->now_dns == NULL) {
		char *err = NULL;

		chain->now_dns = dns_new(NULL, &chain->dns_servers, &err);
		free(err);
	}
	memset(&job, 0, sizeof(job));
	job.chain = chain;
	job.fs = fs;
	timespec_now(&job.start);
	session_prepare(fs, 0, env, fd, offset, len);
	chain_job_run(chain, &job, chain->now_dns);
	done(&job.result, context);
	session_end_tx_now(fs, !verdict_refuses(job.result.verdict));
	session_destroy(fs);
}

/* ------------------------------------------------------------------ */
/* services for filters that need the chain */

int
filter_dns_lookup(struct filter_context *ctx, const char *name, int rrtype,
		  struct dns_answer **answer_r)
{
	long left = filter_remaining_ms(ctx);

	if (ctx->dns == NULL)
		return -1;
	if (left <= 0) {
		struct dns_answer *a = xcalloc(1, sizeof(*a));

		a->status = DNS_TEMPFAIL;
		a->rrtype = rrtype;
		*answer_r = a;
		return 0;
	}
	return dns_lookup_wait(ctx->dns, name, rrtype, left, answer_r);
}

int
filter_dns_lookup_many(struct filter_context *ctx, const char *const *names,
		       size_t n, int rrtype, struct dns_answer **answers_r)
{
	long left = filter_remaining_ms(ctx);

	if (ctx->dns == NULL)
		return -1;
	if (left <= 0) {
		for (size_t i = 0; i < n; i++) {
			answers_r[i] = xcalloc(1, sizeof(*answers_r[i]));
			answers_r[i]->status = DNS_TEMPFAIL;
			answers_r[i]->rrtype = rrtype;
		}
		return 0;
	}
	return dns_lookup_wait_many(ctx->dns, names, n, rrtype, left,
				    answers_r);
}
