/*
 * Unit tests for the filter chain: the header parser that feeds the
 * filters, the configuration check (unknown filters and settings, "after"
 * order, built-in timeout/on_error), and whole runs over a message with test
 * filters: verdicts, symbols, result data passed between filters, on_error,
 * timeouts, Authentication-Results and the removal of a spoofed one.
 *
 * The test filters live here only: this file defines filter_registry[] and
 * filter_registry_find() itself, so the linker takes them instead of
 * filters/filter_registry.c from the static library.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <ctype.h>
#include <malloc.h>
#include <time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "filters/filter.h"
#include "filters/filter_chain.h"
#include "filters/filter_headers.h"
#include "lib/pool.h"
#include "lib/xalloc.h"

/* ------------------------------------------------------------------ */
/* test filters */

struct tag_settings {
	char *symbol;
	long long score;
};

static const struct setting_def tag_defs[] = {
    {"symbol", SETTING_STRING, "TAGGED", offsetof(struct tag_settings, symbol),
     0, 0, NULL, "symbol to add"},
    {"score", SETTING_INT, "1", offsetof(struct tag_settings, score), -100, 100,
     NULL, "its score"},
};

static int
tag_init(const void *settings, void **state_r, char **error_r)
{
	(void)error_r;
	*state_r = (void *)settings;
	return 0;
}

static int
tag_run(void *state, struct filter_context *ctx, enum filter_phase phase)
{
	const struct tag_settings *set = state;
	int *data = malloc(sizeof(*data));

	(void)phase;
	*data = 42;
	filter_add_symbol(ctx, set->symbol, (double)set->score, "tagged");
	filter_add_auth_result(ctx, "spf", "pass", NULL,
			       "smtp.mailfrom=example.org");
	filter_add_header(ctx, "X-Tag", "yes\r\nInjected: no");
	filter_set_data(ctx, data, free);
	return 0;
}

static const struct filter filter_tag = {
    .name = "tag",
    .phases = FILTER_PHASE_DATA,
    .settings = tag_defs,
    .settings_count = 2,
    .settings_size = sizeof(struct tag_settings),
    .init = tag_init,
    .run = tag_run,
};

static const char *const reader_after[] = {"tag", NULL};

/* Reads the tag filter's data and the headers; rejects on a header. */
static int
reader_run(void *state, struct filter_context *ctx, enum filter_phase phase)
{
	const int *data = filter_data(ctx, "tag");
	size_t count;
	bool truncated;
	const struct filter_header *h = filter_headers(ctx, &count, &truncated);
	long i = filter_header_find(ctx, "X-Reject", 0);
	struct filter_reader *r = filter_reader_new(ctx, false);
	const unsigned char *chunk;
	size_t n, body = 0;

	(void)state;
	(void)phase;
	(void)h;
	while (filter_reader_read(r, &chunk, &n) == 1)
		body += n;
	filter_reader_free(&r);
	filter_add_symbol(ctx, data != NULL && *data == 42 ? "SAW_TAG" : "NO",
			  0, NULL);
	if (body == strlen("body line\r\n"))
		filter_add_symbol(ctx, "BODY_OK", 0, NULL);
	if (i >= 0)
		filter_set_verdict(ctx, POLICY_REJECT, 554, "5.7.0",
				   "No\r\nthanks");
	return 0;
}

static const struct filter filter_reader = {
    .name = "reader",
    .phases = FILTER_PHASE_DATA,
    .after = reader_after,
    .run = reader_run,
};

static int
fail_run(void *state, struct filter_context *ctx, enum filter_phase phase)
{
	(void)state;
	(void)phase;
	filter_add_symbol(ctx, "BEFORE_FAIL", 5, NULL);
	filter_set_verdict(ctx, POLICY_REJECT, 0, NULL, NULL);
	filter_set_error(ctx, "broken %d", 7);
	return -1;
}

static const struct filter filter_fail = {
    .name = "fail",
    .phases = FILTER_PHASE_DATA,
    .run = fail_run,
};

static int slow_aborts;

static int
slow_run(void *state, struct filter_context *ctx, enum filter_phase phase)
{
	(void)state;
	(void)phase;
	while (filter_remaining_ms(ctx) > 0)
		usleep(20000);
	return 0;
}

static void
slow_abort(void *state, struct filter_context *ctx)
{
	(void)state;
	(void)ctx;
	slow_aborts++;
}

static const struct filter filter_slow = {
    .name = "slow",
    .phases = FILTER_PHASE_DATA,
    .run = slow_run,
    .abort = slow_abort,
};

/* Ignores its deadline: only the watchdog can answer for it. */
static int
stuck_run(void *state, struct filter_context *ctx, enum filter_phase phase)
{
	(void)state;
	(void)ctx;
	(void)phase;
	usleep(2500 * 1000);
	return 0;
}

static const struct filter filter_stuck = {
    .name = "stuck",
    .phases = FILTER_PHASE_DATA,
    .run = stuck_run,
};

/* The probe: records every call (phase, recipient, abort) in probe_log,
 * adds PROBE[2]_<PHASE> at each run, and rejects, accepts or sleeps where
 * its settings say. Two instances ("probe", "probe2") show ordering. */
struct probe_settings {
	char *reject_phase, *accept_phase, *reject_rcpt, *sleep_phase;
	long long sleep_ms;
};

#define PS(f) offsetof(struct probe_settings, f)
static const struct setting_def probe_defs[] = {
    {"reject_phase", SETTING_STRING, "", PS(reject_phase), 0, 0, NULL, "x"},
    {"accept_phase", SETTING_STRING, "", PS(accept_phase), 0, 0, NULL, "x"},
    {"reject_rcpt", SETTING_STRING, "", PS(reject_rcpt), 0, 0, NULL, "x"},
    {"sleep_phase", SETTING_STRING, "", PS(sleep_phase), 0, 0, NULL, "x"},
    {"sleep_ms", SETTING_INT, "0", PS(sleep_ms), 0, 10000, NULL, "x"},
};

struct probe_state {
	const char *name;
	const struct probe_settings *set;
};

static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static char probe_log[2048];

static void
probe_record(const char *fmt, ...)
{
	size_t n;
	va_list ap;

	pthread_mutex_lock(&probe_lock);
	n = strlen(probe_log);
	va_start(ap, fmt);
	vsnprintf(probe_log + n, sizeof(probe_log) - n, fmt, ap);
	va_end(ap);
	n = strlen(probe_log);
	if (n + 1 < sizeof(probe_log))
		strcat(probe_log, " ");
	pthread_mutex_unlock(&probe_lock);
}

static void
probe_reset(void)
{
	pthread_mutex_lock(&probe_lock);
	probe_log[0] = '\0';
	pthread_mutex_unlock(&probe_lock);
}

static int
probe_init_named(const char *name, const void *settings, void **state_r)
{
	struct probe_state *st = xcalloc(1, sizeof(*st));

	st->name = name;
	st->set = settings;
	*state_r = st;
	return 0;
}

static int
probe_init(const void *settings, void **state_r, char **error_r)
{
	(void)error_r;
	return probe_init_named("probe", settings, state_r);
}

static int
probe2_init(const void *settings, void **state_r, char **error_r)
{
	(void)error_r;
	return probe_init_named("probe2", settings, state_r);
}

static int
probe_run(void *state, struct filter_context *ctx, enum filter_phase phase)
{
	const struct probe_state *st = state;
	const struct filter_envelope *env = filter_envelope(ctx);
	const char *ph = filter_phase_name(phase);
	char sym[40];

	if (phase == FILTER_PHASE_RCPT)
		probe_record("%s:%s:%s", st->name, ph, env->rcpt);
	else
		probe_record("%s:%s", st->name, ph);
	snprintf(sym, sizeof(sym), "%s_%s", st->name, ph);
	for (char *c = sym; *c != '\0'; c++)
		*c = (char)toupper((unsigned char)*c);
	filter_add_symbol(ctx, sym, 1, NULL);
	if (strcmp(st->set->sleep_phase, ph) == 0)
		usleep((useconds_t)st->set->sleep_ms * 1000);
	if (strcmp(st->set->reject_phase, ph) == 0)
		filter_set_verdict(ctx, POLICY_REJECT, 0, NULL,
				   "probe says no");
	if (strcmp(st->set->accept_phase, ph) == 0)
		filter_set_verdict(ctx, POLICY_ACCEPT, 0, NULL, NULL);
	if (phase == FILTER_PHASE_RCPT &&
	    strcmp(st->set->reject_rcpt, env->rcpt) == 0)
		filter_set_verdict(ctx, POLICY_REJECT, 550, "5.7.1",
				   "no such rcpt");
	return 0;
}

static void
probe_abort(void *state, struct filter_context *ctx)
{
	const struct probe_state *st = state;

	/* The connection's context never has a sender. */
	probe_record("abort:%s:%s", st->name,
		     filter_envelope(ctx)->mail_from[0] != '\0' ? "tx"
								: "conn");
}

static void
probe_fini(void *state)
{
	free(state);
}

#define PROBE_PHASES                                                           \
	(FILTER_PHASE_CONNECT | FILTER_PHASE_HELO | FILTER_PHASE_MAIL |        \
	 FILTER_PHASE_RCPT | FILTER_PHASE_DATA)

static const struct filter filter_probe = {
    .name = "probe",
    .phases = PROBE_PHASES,
    .settings = probe_defs,
    .settings_count = sizeof(probe_defs) / sizeof(probe_defs[0]),
    .settings_size = sizeof(struct probe_settings),
    .init = probe_init,
    .run = probe_run,
    .abort = probe_abort,
    .fini = probe_fini,
};

static const struct filter filter_probe2 = {
    .name = "probe2",
    .phases = PROBE_PHASES,
    .settings = probe_defs,
    .settings_count = sizeof(probe_defs) / sizeof(probe_defs[0]),
    .settings_size = sizeof(struct probe_settings),
    .init = probe2_init,
    .run = probe_run,
    .abort = probe_abort,
    .fini = probe_fini,
};

/* Wants MAIL only: phases nobody wants are skipped by the session. */
static const struct filter filter_mailonly = {
    .name = "mailonly",
    .phases = FILTER_PHASE_MAIL,
    .run = probe_run,
    .init = probe_init,
    .fini = probe_fini,
    .settings = probe_defs,
    .settings_count = sizeof(probe_defs) / sizeof(probe_defs[0]),
    .settings_size = sizeof(struct probe_settings),
};

const struct filter *const filter_registry[] = {
    &filter_tag,    &filter_reader,   &filter_fail,
    &filter_slow,   &filter_stuck,    &filter_probe,
    &filter_probe2, &filter_mailonly, NULL,
};

const struct filter *
filter_registry_find(const char *name)
{
	for (size_t i = 0; filter_registry[i] != NULL; i++)
		if (strcmp(filter_registry[i]->name, name) == 0)
			return filter_registry[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* header parser */

struct header_case {
	const char *name;
	const char *input;
	size_t fields;
	const char *first_name, *first_value;
	long body_offset; /* -1: len */
	bool truncated;
};

static const struct header_case header_cases[] = {
    {"simple", "A: 1\r\nB: 2\r\n\r\nbody", 2, "A", " 1", 14, false},
    {"folded", "Subject: a\r\n\tb\r\nX: y\r\n\r\n", 2, "Subject", " a\r\n\tb",
     24, false},
    {"no body", "A: 1\r\n", 1, "A", " 1", -1, false},
    {"no blank line, text", "A: 1\r\nnot a header\r\n", 1, "A", " 1", 6, false},
    {"bare LF", "A: 1\nB: 2\n\nbody", 2, "A", " 1", 11, false},
    {"empty", "", 0, NULL, NULL, -1, false},
    {"blank first", "\r\nbody", 0, NULL, NULL, 2, false},
    {"space in name", "Bad Name: x\r\n\r\n", 0, NULL, NULL, 0, false},
    {"empty name", ": x\r\n\r\n", 0, NULL, NULL, 0, false},
    {"no colon", "Header\r\n", 0, NULL, NULL, 0, false},
    {"empty value", "A:\r\n\r\n", 1, "A", "", 6, false},
    {"cr only line", "A: 1\r\r\n\r\n", 1, "A", " 1\r", 9, false},
};

static void
test_headers_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(header_cases) / sizeof(header_cases[0]);
	     i++) {
		const struct header_case *c = &header_cases[i];
		struct pool *pool = pool_new(1024);
		struct filter_header *h;
		size_t count, body;
		bool truncated;
		size_t len = strlen(c->input);

		filter_headers_parse(pool, c->input, len, &h, &count,
				     &truncated, &body);
		if (count != c->fields)
			fail_msg("%s: %zu fields, want %zu", c->name, count,
				 c->fields);
		if (c->first_name != NULL) {
			assert_string_equal(h[0].name, c->first_name);
			assert_string_equal(h[0].value, c->first_value);
			assert_int_equal(h[0].offset, 0);
		}
		if (body != (c->body_offset < 0 ? len : (size_t)c->body_offset))
			fail_msg("%s: body at %zu", c->name, body);
		assert_int_equal(truncated, c->truncated);
		pool_free(&pool);
	}
}

static void
test_headers_limits(void **state)
{
	struct pool *pool = pool_new(1024);
	struct filter_header *h;
	size_t count, body;
	bool truncated;
	char *big = xmalloc(2000 * 8 + 1);

	(void)state;
	for (int i = 0; i < 2000; i++)
		memcpy(big + i * 8, "X: 123\r\n", 8);
	big[2000 * 8] = '\0';
	filter_headers_parse(pool, big, 2000 * 8, &h, &count, &truncated,
			     &body);
	assert_int_equal(count, FILTER_HEADERS_MAX_FIELDS);
	assert_true(truncated);
	free(big);
	pool_free(&pool);
}

/* ------------------------------------------------------------------ */
/* configuration */

struct config_case {
	const char *name;
	const char *filters; /* space separated */
	const char *key, *value;
	const char *want_error; /* substring, NULL = ok */
};

static const struct config_case config_cases[] = {
    {"empty", "", NULL, NULL, NULL},
    {"ok", "tag reader", "tag.score", "5", NULL},
    {"unknown filter", "tag nope", NULL, NULL, "unknown filter 'nope'"},
    {"twice", "tag tag", NULL, NULL, "listed twice"},
    {"order", "reader tag", NULL, NULL, "'reader' must come after 'tag'"},
    {"unknown key", "tag", "tag.colour", "red", "t.conf:7: filter.tag.colour"},
    {"bad value", "tag", "tag.score", "lots", "invalid integer"},
    {"out of range", "tag", "tag.score", "1000", "above maximum"},
    {"unknown filter key", "tag", "nope.x", "1", "unknown filter 'nope'"},
    {"not configured ok", "", "tag.score", "3", NULL},
    {"timeout", "tag", "tag.timeout", "5s", NULL},
    {"bad timeout", "tag", "tag.timeout", "0s", "from 1s to 10m"},
    {"on_error", "tag", "tag.on_error", "accept", NULL},
    {"bad on_error", "tag", "tag.on_error", "maybe", "tempfail or accept"},
    {"no settings", "reader", "reader.x", "1", "unknown setting"},
    {"no key", "tag", "tag", "1", "unknown filter"},
};

static void
split_names(const char *text, struct str_list *list)
{
	char *copy = xstrdup(text), *save = NULL;

	for (char *t = strtok_r(copy, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save))
		str_list_add(list, t);
	free(copy);
}

static void
test_config_check(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(config_cases) / sizeof(config_cases[0]);
	     i++) {
		const struct config_case *c = &config_cases[i];
		struct str_list names = {0};
		struct config_map map = {0};
		struct config_map_entry e;
		struct filter_chain_config cfg = {0};
		char *error = NULL;
		int rc;

		split_names(c->filters, &names);
		if (c->key != NULL) {
			e.key = (char *)c->key;
			e.value = (char *)c->value;
			e.file = (char *)"t.conf";
			e.line = 7;
			map.items = &e;
			map.count = 1;
		}
		cfg.names = &names;
		cfg.map = &map;
		rc = filter_chain_check(&cfg, &error);
		if (c->want_error == NULL && rc != 0)
			fail_msg("%s: unexpected error %s", c->name, error);
		if (c->want_error != NULL &&
		    (rc == 0 || strstr(error, c->want_error) == NULL))
			fail_msg("%s: got '%s'", c->name,
				 error != NULL ? error : "ok");
		free(error);
		str_list_free(&names);
	}
}

/* The whole moat.conf path: a filter.* line through lib/config. */
static void
test_config_map_lines(void **state)
{
	struct s {
		struct config_map map;
		struct str_list list;
	} s;
	static const struct setting_def defs[] = {
	    {"filter.", SETTING_MAP, "", offsetof(struct s, map), 0, 0, NULL,
	     "x"},
	    {"filters", SETTING_LIST, "", offsetof(struct s, list), 0, 0, NULL,
	     "x"},
	};
	const char *text = "filters = tag\nfilter.tag.score = \"7\"\n"
			   "filter.tag.symbol = X # c\n";
	const char *dup = "filter.tag.score = 1\nfilter.tag.score = 2\n";
	char *error = NULL;

	(void)state;
	assert_int_equal(config_parse_text(defs, 2, &s, text, strlen(text),
					   "m.conf", &error),
			 0);
	assert_int_equal(s.map.count, 2);
	assert_string_equal(s.map.items[0].key, "tag.score");
	assert_string_equal(s.map.items[0].value, "7");
	assert_int_equal(s.map.items[1].line, 3);
	assert_string_equal(s.map.items[1].value, "X");
	config_free(defs, 2, &s);
	assert_int_equal(
	    config_parse_text(defs, 2, &s, dup, strlen(dup), "m.conf", &error),
	    -1);
	assert_non_null(
	    strstr(error, "m.conf:2: 'filter.tag.score' set twice"));
	free(error);
	config_free(defs, 2, &s);
}

/* ------------------------------------------------------------------ */
/* runs */

static const char message[] =
    "Received: from x by y; Tue, 1 Dec 2026 00:00:00 +0000\r\n"
    "Authentication-Results: mx.example; spf=pass\r\n"
    "Subject: hi\r\n"
    "Authentication-Results: other.example; spf=fail\r\n"
    "Authentication-Results: (c) MX.EXAMPLE ; dkim=pass\r\n"
    "\r\n"
    "body line\r\n";

static const char reject_message[] = "Received: from x\r\n"
				     "X-Reject: yes\r\n"
				     "\r\n"
				     "body line\r\n";

struct run_out {
	enum policy_verdict verdict;
	int code;
	char text[128];
	char enhanced[16];
	char names[256];
	char add[1024];
	size_t add_offset;
	size_t cut_count;
	size_t cuts[8][2];
	double score;
};

static void
run_done(const struct filter_chain_result *r, void *context)
{
	struct run_out *o = context;

	memset(o, 0, sizeof(*o));
	o->verdict = r->verdict;
	o->code = r->code;
	snprintf(o->text, sizeof(o->text), "%s", r->text ? r->text : "");
	snprintf(o->enhanced, sizeof(o->enhanced), "%s",
		 r->enhanced ? r->enhanced : "");
	for (size_t i = 0; i < r->symbol_count; i++) {
		strncat(o->names, r->symbols[i].name,
			sizeof(o->names) - strlen(o->names) - 2);
		strcat(o->names, " ");
	}
	snprintf(o->add, sizeof(o->add), "%.*s", (int)r->add_len,
		 r->add_headers);
	o->add_offset = r->add_offset;
	o->cut_count = r->cut_count;
	for (size_t i = 0; i < r->cut_count && i < 8; i++) {
		o->cuts[i][0] = r->cuts[i].offset;
		o->cuts[i][1] = r->cuts[i].len;
	}
	o->score = r->score;
}

static int
message_fd(const char *text)
{
	char path[] = "/tmp/moat-test-chain-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	/* Some envelope bytes first, as in a queue file. */
	assert_int_equal(write(fd, "ENVELOPE\n", 9), 9);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

static void
run(const char *filters, struct config_map *map, const char *text,
    struct run_out *out)
{
	struct str_list names = {0};
	struct filter_chain_config cfg = {0};
	struct filter_envelope env = {0};
	struct filter_chain *chain;
	const char *rcpts[] = {"u@example.org"};
	char *error = NULL;
	int fd = message_fd(text);

	split_names(filters, &names);
	cfg.names = &names;
	cfg.map = map;
	cfg.authserv_id = "mx.example";
	chain = filter_chain_new(NULL, &cfg, &error);
	if (chain == NULL)
		fail_msg("chain: %s", error);
	env.session_id = "S1";
	env.qid = "Q1";
	env.client_ip = "192.0.2.1";
	env.helo = "h.example";
	env.mail_from = "a@example.org";
	env.rcpts = rcpts;
	env.rcpt_count = 1;
	filter_chain_run_now(chain, &env, fd, 9, strlen(text), run_done, out);
	filter_chain_free(&chain);
	str_list_free(&names);
	close(fd);
}

static void
test_run_results_and_edits(void **state)
{
	struct run_out o;
	const char *claims_end;

	(void)state;
	run("tag reader", NULL, message, &o);
	assert_int_equal(o.verdict, POLICY_CONTINUE);
	assert_string_equal(o.names, "TAGGED SAW_TAG BODY_OK ");
	assert_true(o.score == 1.0);
	assert_string_equal(o.add, "Authentication-Results: mx.example;\r\n"
				   "\tspf=pass smtp.mailfrom=example.org\r\n"
				   "X-Tag: yes  Injected: no\r\n");
	claims_end = strstr(message, "Authentication-Results: mx.example");
	assert_int_equal(o.add_offset, (size_t)(claims_end - message));
	/* Both spoofs claiming mx.example go, the other one stays. */
	assert_int_equal(o.cut_count, 2);
	assert_int_equal(o.cuts[0][0], (size_t)(claims_end - message));
	assert_int_equal(o.cuts[0][1],
			 strlen("Authentication-Results: mx.example; "
				"spf=pass\r\n"));
	assert_int_equal(
	    o.cuts[1][0],
	    (size_t)(strstr(message, "Authentication-Results: (c)") - message));
}

static void
test_run_reject_sanitised(void **state)
{
	struct run_out o;

	(void)state;
	run("tag reader", NULL, reject_message, &o);
	assert_int_equal(o.verdict, POLICY_REJECT);
	assert_int_equal(o.code, 554);
	assert_string_equal(o.enhanced, "5.7.0");
	assert_string_equal(o.text, "No??thanks");
}

static void
test_run_on_error(void **state)
{
	struct config_map_entry e = {(char *)"fail.on_error", (char *)"accept",
				     (char *)"t", 1};
	struct config_map map = {&e, 1};
	struct run_out o;

	(void)state;
	/* Default tempfail: what the failed filter added is dropped. */
	run("fail tag", NULL, message, &o);
	assert_int_equal(o.verdict, POLICY_TEMPFAIL);
	assert_int_equal(o.code, 451);
	assert_string_equal(o.names, "");
	/* accept: the chain goes on without it. */
	run("fail tag", &map, message, &o);
	assert_int_equal(o.verdict, POLICY_CONTINUE);
	assert_string_equal(o.names, "TAGGED ");
}

static void
test_run_timeout(void **state)
{
	struct config_map_entry e[] = {
	    {(char *)"slow.timeout", (char *)"1s", (char *)"t", 1},
	    {(char *)"slow.on_error", (char *)"accept", (char *)"t", 2},
	};
	struct config_map map = {e, 1};
	struct run_out o;

	(void)state;
	slow_aborts = 0;
	run("tag slow", &map, message, &o);
	assert_int_equal(o.verdict, POLICY_TEMPFAIL);
	assert_int_equal(slow_aborts, 1); /* not accepted: abort called */
	map.count = 2;
	run("slow tag", &map, message, &o);
	assert_int_equal(o.verdict, POLICY_CONTINUE);
	assert_string_equal(o.names, "TAGGED ");
}

struct watchdog_state {
	int calls;
	enum policy_verdict verdict;
	struct event_base *base;
};

static void
watchdog_done(const struct filter_chain_result *r, void *context)
{
	struct watchdog_state *w = context;

	w->calls++;
	w->verdict = r->verdict;
}

/* A filter that overruns its budget (1s timeout + 1s grace) is answered
 * by the watchdog once; its late result is dropped. */
static void
test_watchdog(void **state)
{
	struct config_map_entry e = {(char *)"stuck.timeout", (char *)"1s",
				     (char *)"t", 1};
	struct config_map map = {&e, 1};
	struct str_list names = {0};
	struct filter_chain_config cfg = {0};
	struct filter_envelope env = {0};
	struct watchdog_state w = {0, POLICY_CONTINUE, NULL};
	struct filter_chain *chain;
	struct timeval wait = {3, 500000};
	char *error = NULL;
	int fd = message_fd(message);

	(void)state;
	evthread_use_pthreads();
	w.base = event_base_new();
	split_names("stuck", &names);
	cfg.names = &names;
	cfg.map = &map;
	cfg.threads = 1;
	cfg.authserv_id = "mx.example";
	chain = filter_chain_new(w.base, &cfg, &error);
	assert_non_null(chain);
	env.session_id = "S2";
	env.qid = "Q2";
	env.client_ip = "192.0.2.1";
	env.mail_from = "";
	filter_chain_submit(chain, &env, fd, 9, strlen(message), watchdog_done,
			    &w);
	close(fd); /* the job has its own descriptor */
	event_base_loopexit(w.base, &wait);
	event_base_dispatch(w.base);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.verdict, POLICY_TEMPFAIL);
	filter_chain_free(&chain);
	event_base_free(w.base);
	str_list_free(&names);
}

/* ------------------------------------------------------------------ */
/* phases of one session (filter_session_*) with the probes */

struct sess {
	struct event_base *base;
	struct filter_chain *chain;
	struct filter_session *fs;
	struct filter_envelope env;
	const char *rcpts[8];
	int calls;
	struct run_out out;
	int fd;
};

static void
sess_done(const struct filter_chain_result *r, void *context)
{
	struct sess *t = context;

	run_done(r, &t->out);
	t->calls++;
}

static void
sess_open(struct sess *t, const char *filters, struct config_map *map)
{
	struct str_list names = {0};
	struct filter_chain_config cfg = {0};
	char *error = NULL;

	memset(t, 0, sizeof(*t));
	evthread_use_pthreads();
	t->base = event_base_new();
	split_names(filters, &names);
	cfg.names = &names;
	cfg.map = map;
	cfg.threads = 2;
	cfg.authserv_id = "mx.example";
	t->chain = filter_chain_new(t->base, &cfg, &error);
	if (t->chain == NULL)
		fail_msg("chain: %s", error);
	str_list_free(&names);
	t->fs = filter_session_new(t->chain);
	t->env.session_id = "S9";
	t->env.qid = "";
	t->env.client_ip = "192.0.2.1";
	t->env.helo = "";
	t->env.mail_from = "";
	t->env.rcpts = t->rcpts;
	t->fd = message_fd(message);
	probe_reset();
}

static void
sess_close(struct sess *t)
{
	filter_session_free(&t->fs);
	filter_chain_free(&t->chain);
	event_base_free(t->base);
	close(t->fd);
}

/* Runs one phase and waits for its answer on the loop. */
static void
sess_run(struct sess *t, enum filter_phase phase, const char *rcpt)
{
	int before = t->calls;

	t->env.rcpt = rcpt;
	filter_session_run(t->fs, phase, &t->env, t->fd, 9, strlen(message),
			   sess_done, t);
	while (t->calls == before)
		event_base_loop(t->base, EVLOOP_ONCE);
	t->env.rcpt = NULL;
}

static void
sess_add_rcpt(struct sess *t, const char *rcpt)
{
	t->rcpts[t->env.rcpt_count++] = rcpt;
}

static void
assert_log(const char *want)
{
	char got[sizeof(probe_log)];

	pthread_mutex_lock(&probe_lock);
	memcpy(got, probe_log, sizeof(got));
	probe_log[0] = '\0';
	pthread_mutex_unlock(&probe_lock);
	if (strcmp(got, want) != 0)
		fail_msg("calls:\n  got  '%s'\n  want '%s'", got, want);
}

/* Each phase when the session reaches it; connection results kept across
 * transactions, transaction results dropped at its end; abort() only for
 * a transaction that did not complete, and for the connection at the end. */
static void
test_phase_sequence(void **state)
{
	struct sess t;

	(void)state;
	sess_open(&t, "probe probe2", NULL);
	sess_run(&t, FILTER_PHASE_CONNECT, NULL);
	assert_log("probe:connect probe2:connect ");
	assert_string_equal(t.out.names, "PROBE_CONNECT PROBE2_CONNECT ");
	t.env.helo = "h.example";
	sess_run(&t, FILTER_PHASE_HELO, NULL);
	assert_log("probe:helo probe2:helo ");
	t.env.mail_from = "a@example.org";
	sess_run(&t, FILTER_PHASE_MAIL, NULL);
	sess_run(&t, FILTER_PHASE_RCPT, "u1@example.org");
	sess_add_rcpt(&t, "u1@example.org");
	sess_run(&t, FILTER_PHASE_RCPT, "u2@example.org");
	sess_add_rcpt(&t, "u2@example.org");
	assert_log("probe:mail probe2:mail probe:rcpt:u1@example.org "
		   "probe2:rcpt:u1@example.org probe:rcpt:u2@example.org "
		   "probe2:rcpt:u2@example.org ");
	t.env.qid = "Q9";
	sess_run(&t, FILTER_PHASE_DATA, NULL);
	assert_log("probe:data probe2:data ");
	assert_int_equal(t.out.verdict, POLICY_CONTINUE);
	/* The DATA run sees everything found before it. */
	assert_string_equal(t.out.names,
			    "PROBE_CONNECT PROBE2_CONNECT PROBE_HELO "
			    "PROBE2_HELO PROBE_MAIL PROBE2_MAIL PROBE_RCPT "
			    "PROBE2_RCPT PROBE_RCPT PROBE2_RCPT PROBE_DATA "
			    "PROBE2_DATA ");
	filter_session_end_tx(t.fs, true); /* queued: nobody is told */
	assert_log("");

	/* A second transaction starts from the connection's results. */
	t.env.qid = "";
	t.env.rcpt_count = 0;
	t.env.mail_from = "b@example.org";
	sess_run(&t, FILTER_PHASE_MAIL, NULL);
	assert_string_equal(t.out.names, "PROBE_CONNECT PROBE2_CONNECT "
					 "PROBE_HELO PROBE2_HELO PROBE_MAIL "
					 "PROBE2_MAIL ");
	assert_log("probe:mail probe2:mail ");
	filter_session_end_tx(t.fs, false); /* RSET */
	assert_log("abort:probe:tx abort:probe2:tx ");
	filter_session_end_tx(t.fs, false); /* nothing left to abort */
	assert_log("");
	/* A new EHLO replaces the HELO results. */
	t.env.mail_from = "";
	t.env.helo = "other.example";
	sess_run(&t, FILTER_PHASE_HELO, NULL);
	assert_string_equal(t.out.names, "PROBE_CONNECT PROBE2_CONNECT "
					 "PROBE_HELO PROBE2_HELO ");
	assert_log("probe:helo probe2:helo ");
	filter_session_free(&t.fs); /* disconnect */
	assert_log("abort:probe:conn abort:probe2:conn ");
	sess_close(&t);
}

/* A reject at RCPT refuses that recipient only: the later filters do not
 * run for it and what it added is dropped; the others go on. */
static void
test_phase_rcpt_reject(void **state)
{
	struct config_map_entry e = {(char *)"probe.reject_rcpt",
				     (char *)"bad@example.org", (char *)"t", 1};
	struct config_map map = {&e, 1};
	struct sess t;

	(void)state;
	sess_open(&t, "probe probe2", &map);
	t.env.mail_from = "a@example.org";
	sess_run(&t, FILTER_PHASE_MAIL, NULL);
	sess_run(&t, FILTER_PHASE_RCPT, "bad@example.org");
	assert_int_equal(t.out.verdict, POLICY_REJECT);
	assert_int_equal(t.out.code, 550);
	assert_string_equal(t.out.text, "no such rcpt");
	sess_run(&t, FILTER_PHASE_RCPT, "good@example.org");
	assert_int_equal(t.out.verdict, POLICY_CONTINUE);
	sess_add_rcpt(&t, "good@example.org");
	assert_log("probe:mail probe2:mail probe:rcpt:bad@example.org "
		   "probe:rcpt:good@example.org probe2:rcpt:good@example.org ");
	t.env.qid = "Q2";
	sess_run(&t, FILTER_PHASE_DATA, NULL);
	assert_int_equal(t.out.verdict, POLICY_CONTINUE);
	assert_string_equal(t.out.names, "PROBE_MAIL PROBE2_MAIL PROBE_RCPT "
					 "PROBE2_RCPT PROBE_DATA PROBE2_DATA ");
	assert_log("probe:data probe2:data ");
	filter_session_end_tx(t.fs, true);
	sess_close(&t);
	assert_log(""); /* no CONNECT/HELO run: nothing to abort */
}

/* A reject at CONNECT stays: every later run answers it at once without
 * calling a filter; at the end only the filter that ran hears abort(). */
static void
test_phase_connect_reject_persists(void **state)
{
	struct config_map_entry e = {(char *)"probe.reject_phase",
				     (char *)"connect", (char *)"t", 1};
	struct config_map map = {&e, 1};
	struct sess t;

	(void)state;
	sess_open(&t, "probe probe2", &map);
	sess_run(&t, FILTER_PHASE_CONNECT, NULL);
	assert_int_equal(t.out.verdict, POLICY_REJECT);
	assert_string_equal(t.out.text, "probe says no");
	t.env.mail_from = "a@example.org";
	sess_run(&t, FILTER_PHASE_MAIL, NULL);
	assert_int_equal(t.out.verdict, POLICY_REJECT);
	sess_run(&t, FILTER_PHASE_RCPT, "u@example.org");
	assert_int_equal(t.out.verdict, POLICY_REJECT);
	assert_log("probe:connect ");
	filter_session_end_tx(t.fs, false);
	assert_log("");
	/* An authenticated user is not bound by it (the session decides
	 * whether to answer it; the transaction starts without it). */
	t.env.auth_user = "user@example.test";
	sess_run(&t, FILTER_PHASE_MAIL, NULL);
	assert_int_equal(t.out.verdict, POLICY_CONTINUE);
	assert_log("probe:mail probe2:mail ");
	filter_session_end_tx(t.fs, false);
	assert_log("abort:probe:tx abort:probe2:tx ");
	filter_session_free(&t.fs);
	assert_log("abort:probe:conn ");
	sess_close(&t);
}

/* ACCEPT (an allow-list) skips every later filter of every later phase. */
static void
test_phase_accept_skips_later(void **state)
{
	struct config_map_entry e = {(char *)"probe.accept_phase",
				     (char *)"helo", (char *)"t", 1};
	struct config_map map = {&e, 1};
	struct sess t;

	(void)state;
	sess_open(&t, "probe probe2", &map);
	sess_run(&t, FILTER_PHASE_HELO, NULL);
	assert_int_equal(t.out.verdict, POLICY_ACCEPT);
	t.env.mail_from = "a@example.org";
	sess_run(&t, FILTER_PHASE_MAIL, NULL);
	sess_run(&t, FILTER_PHASE_RCPT, "u@example.org");
	sess_add_rcpt(&t, "u@example.org");
	sess_run(&t, FILTER_PHASE_DATA, NULL);
	assert_int_equal(t.out.verdict, POLICY_ACCEPT);
	assert_log("probe:helo ");
	filter_session_end_tx(t.fs, true);
	sess_close(&t);
}

/* A later filter's reject at DATA: abort() for every filter that ran for
 * the transaction, once, on the worker; the end of the transaction does
 * not repeat it. */
static void
test_phase_data_reject_aborts(void **state)
{
	struct config_map_entry e = {(char *)"probe2.reject_phase",
				     (char *)"data", (char *)"t", 1};
	struct config_map map = {&e, 1};
	struct sess t;

	(void)state;
	sess_open(&t, "probe probe2", &map);
	t.env.mail_from = "a@example.org";
	sess_run(&t, FILTER_PHASE_MAIL, NULL);
	sess_add_rcpt(&t, "u@example.org");
	t.env.qid = "Q1";
	sess_run(&t, FILTER_PHASE_DATA, NULL);
	assert_int_equal(t.out.verdict, POLICY_REJECT);
	assert_log("probe:mail probe2:mail probe:data probe2:data "
		   "abort:probe:tx abort:probe2:tx ");
	filter_session_end_tx(t.fs, false);
	assert_log("");
	sess_close(&t);
}

/* The client goes while a run is in flight: the session's filter state
 * stays with the worker, no callback comes, and abort() reaches the
 * transaction's and the connection's filters once the run is back. */
static void
test_phase_free_while_running(void **state)
{
	struct config_map_entry e[] = {
	    {(char *)"probe.sleep_phase", (char *)"mail", (char *)"t", 1},
	    {(char *)"probe.sleep_ms", (char *)"300", (char *)"t", 2},
	};
	struct config_map map = {e, 2};
	struct timeval wait = {1, 0};
	struct sess t;

	(void)state;
	sess_open(&t, "probe", &map);
	sess_run(&t, FILTER_PHASE_CONNECT, NULL);
	assert_log("probe:connect ");
	t.env.mail_from = "a@example.org";
	filter_session_run(t.fs, FILTER_PHASE_MAIL, &t.env, -1, 0, 0, sess_done,
			   &t);
	filter_session_end_tx(t.fs, false);
	filter_session_free(&t.fs);
	event_base_loopexit(t.base, &wait);
	event_base_dispatch(t.base);
	assert_int_equal(t.calls, 1); /* the CONNECT run only */
	assert_log("probe:mail abort:probe:tx abort:probe:conn ");
	sess_close(&t);
}

/* The watchdog answers a stuck MAIL run; a run while it is still out is
 * answered TEMPFAIL at once; the RSET is applied when it comes back. */
static void
test_phase_watchdog_busy(void **state)
{
	struct config_map_entry e[] = {
	    {(char *)"probe.sleep_phase", (char *)"mail", (char *)"t", 1},
	    {(char *)"probe.sleep_ms", (char *)"2600", (char *)"t", 2},
	    {(char *)"probe.timeout", (char *)"1s", (char *)"t", 3},
	};
	struct config_map map = {e, 3};
	struct timeval wait = {2, 0};
	struct sess t;

	(void)state;
	sess_open(&t, "probe", &map);
	t.env.mail_from = "a@example.org";
	sess_run(&t, FILTER_PHASE_MAIL, NULL);
	assert_int_equal(t.out.verdict, POLICY_TEMPFAIL); /* the watchdog */
	sess_run(&t, FILTER_PHASE_RCPT, "u@example.org");
	assert_int_equal(t.out.verdict, POLICY_TEMPFAIL);
	filter_session_end_tx(t.fs, false);
	assert_log("probe:mail ");
	event_base_loopexit(t.base, &wait);
	event_base_dispatch(t.base);
	assert_int_equal(t.calls, 2); /* no late callback */
	assert_log("abort:probe:tx ");
	sess_close(&t);
}

/* Figures for the record (printed, never asserted): the mean time of one
 * phase run through the pool and back on the loop with a filter that does
 * nothing but add a symbol, and the heap one session costs after a
 * CONNECT and a HELO run. */
static void
test_phase_figures(void **state)
{
	enum { RUNS = 2000, SESSIONS = 200 };
	struct filter_session *many[SESSIONS];
	struct timespec t0, t1;
	struct mallinfo2 m0, m1;
	struct sess t;
	double us;

	(void)state;
	sess_open(&t, "mailonly", NULL);
	t.env.mail_from = "a@example.org";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < RUNS; i++) {
		sess_run(&t, FILTER_PHASE_MAIL, NULL);
		filter_session_end_tx(t.fs, true);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 +
	      (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) /
	     RUNS;
	probe_reset();
	sess_close(&t);

	sess_open(&t, "probe", NULL);
	m0 = mallinfo2();
	for (int i = 0; i < SESSIONS; i++) {
		struct filter_session *keep = t.fs;

		t.fs = filter_session_new(t.chain);
		sess_run(&t, FILTER_PHASE_CONNECT, NULL);
		sess_run(&t, FILTER_PHASE_HELO, NULL);
		many[i] = t.fs;
		t.fs = keep;
	}
	m1 = mallinfo2();
	printf("figures: %.1f us per phase run (pool round trip), %zu bytes "
	       "per session after CONNECT+HELO\n",
	       us, (size_t)(m1.uordblks - m0.uordblks) / SESSIONS);
	for (int i = 0; i < SESSIONS; i++)
		filter_session_free(&many[i]);
	probe_reset();
	sess_close(&t);
}

static void
test_chain_wants(void **state)
{
	struct sess t;

	(void)state;
	sess_open(&t, "mailonly", NULL);
	assert_true(filter_chain_wants(t.chain, FILTER_PHASE_MAIL));
	assert_false(filter_chain_wants(t.chain, FILTER_PHASE_CONNECT));
	assert_false(filter_chain_wants(t.chain, FILTER_PHASE_RCPT));
	assert_false(filter_chain_wants(NULL, FILTER_PHASE_MAIL));
	sess_close(&t);
}

struct claims_case {
	const char *value, *id;
	bool want;
};

static void
test_ar_claims(void **state)
{
	static const struct claims_case cases[] = {
	    {" mx.example; spf=pass", "mx.example", true},
	    {"MX.Example;spf=pass", "mx.example", true},
	    {" (comment (nested)) mx.example 1; none", "mx.example", true},
	    {" mx.example.evil; spf=pass", "mx.example", false},
	    {" other; spf=pass", "mx.example", false},
	    {" mx.example", "mx.example", true},
	    {"", "mx.example", false},
	    {" (unterminated mx.example", "mx.example", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (filter_chain_ar_claims(cases[i].value, cases[i].id) !=
		    cases[i].want)
			fail_msg("case %zu: '%s'", i, cases[i].value);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_headers_parse),
	    cmocka_unit_test(test_headers_limits),
	    cmocka_unit_test(test_config_check),
	    cmocka_unit_test(test_config_map_lines),
	    cmocka_unit_test(test_run_results_and_edits),
	    cmocka_unit_test(test_run_reject_sanitised),
	    cmocka_unit_test(test_run_on_error),
	    cmocka_unit_test(test_run_timeout),
	    cmocka_unit_test(test_ar_claims),
	    cmocka_unit_test(test_watchdog),
	    cmocka_unit_test(test_phase_sequence),
	    cmocka_unit_test(test_phase_rcpt_reject),
	    cmocka_unit_test(test_phase_connect_reject_persists),
	    cmocka_unit_test(test_phase_accept_skips_later),
	    cmocka_unit_test(test_phase_data_reject_aborts),
	    cmocka_unit_test(test_phase_free_while_running),
	    cmocka_unit_test(test_phase_watchdog_busy),
	    cmocka_unit_test(test_chain_wants),
	    cmocka_unit_test(test_phase_figures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
