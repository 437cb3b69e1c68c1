/*
 * spam: the spam-scoring filter. At start it compiles Moat's default rule
 * set plus the admin's .cf files (filter.spam.rules_paths) once, and opens
 * the Bayes database when one is configured. Per message it builds the
 * rule engine's view from the MIME parse, asks Bayes for a probability,
 * evaluates every rule, adds each hit as a symbol, and sums its score with
 * the symbols earlier filters added (SPF, DNSBL, ClamAV...) into the
 * message's spam score. The thresholds (tag, quarantine, reject) go through
 * rules/policy.c to a verdict; X-Spam-Score, X-Spam-Status and
 * X-Spam-Symbols are added as header edits (incoming X-Spam-* fields are
 * removed first, so a sender cannot pre-tag its own mail), and tagged mail
 * can have its Subject tagged too (filter.spam.subject_tag, or the rule
 * files' rewrite_header Subject). Messages that
 * score clearly spam or clearly ham are learned (auto-learn) when enabled.
 *
 * Threads: the compiled rules and the Bayes handle are shared read-only or
 * locked; each message borrows a scratch from a small locked free list.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filters/dkim_verify.h"
#include "filters/filter.h"
#include "filters/mime.h"
#include "filters/psl.h"
#include "filters/spam_view.h"
#include "filters/spf.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/netblock.h"
#include "lib/xalloc.h"
#include "rules/bayes.h"
#include "rules/policy.h"
#include "rules/spam_rules.h"

/* Valid DKIM signatures the welcomelist checks look at (the dkim filter
 * verifies at most 50). */
#define SPAM_MAX_DKIM_DOMAINS 50

struct spam_filter_settings {
	bool default_rules;
	struct str_list rules_paths;
	char *tag_score;
	char *quarantine_score;
	char *reject_score;
	char *bayes_db;
	long long bayes_min_learns;
	long long bayes_max_tokens;
	char *bayes_combining;
	bool autolearn;
	char *autolearn_spam;
	char *autolearn_ham;
	unsigned long long max_scan_size;
	bool add_headers;
	long long prefilter_min;
	char *cache_dir;
	char *bayes_scores;
	char *psl;
	char *subject_tag;
	struct str_list trusted_relays;
	struct str_list link_trackers;
};

#define SF(field) offsetof(struct spam_filter_settings, field)

static int
spam_validate_subject_tag(const void *field, const char **error_r)
{
	const char *v = *(char *const *)field;

	if (strlen(v) > 128 || strpbrk(v, "\r\n") != NULL) {
		*error_r = "at most 128 characters on one line";
		return -1;
	}
	return 0;
}

static int
spam_validate_trusted_relays(const void *field, const char **error_r)
{
	const struct str_list *l = field;

	for (size_t i = 0; i < l->count; i++)
		if (!netblock_valid(l->items[i])) {
			*error_r =
			    "items must be addresses or networks in CIDR "
			    "notation (192.0.2.0/24, 2001:db8::/32)";
			return -1;
		}
	return 0;
}

static int
spam_validate_combining(const void *field, const char **error_r)
{
	struct bayes_params params;

	bayes_params_default(&params);
	if (bayes_params_set_combining(&params, *(char *const *)field) < 0) {
		*error_r = "must be logodds or chi2";
		return -1;
	}
	return 0;
}

static int
spam_validate_bayes_scores(const void *field, const char **error_r)
{
	const char *v = *(char *const *)field;

	if (strcmp(v, "moat") != 0 && strcmp(v, "rules") != 0) {
		*error_r = "must be moat or rules";
		return -1;
	}
	return 0;
}

static const struct setting_def spam_filter_setting_defs[] = {
    {"default_rules", SETTING_BOOL, "yes", SF(default_rules), 0, 0, NULL,
     "load Moat's built-in rule set"},
    {"rules_paths", SETTING_LIST, "", SF(rules_paths), 0, 0, NULL,
     "extra SpamAssassin .cf files or directories (e.g. "
     "/usr/share/spamassassin), loaded after the built-in set"},
    {"tag_score", SETTING_STRING, "5.0", SF(tag_score), 0, 0, NULL,
     "score from which mail is tagged spam (X-Spam-Status: Yes); 0 = off"},
    {"quarantine_score", SETTING_STRING, "0", SF(quarantine_score), 0, 0, NULL,
     "score from which mail is quarantined; 0 = off"},
    {"reject_score", SETTING_STRING, "15.0", SF(reject_score), 0, 0, NULL,
     "score from which mail is refused with 550 5.7.1; 0 = off"},
    {"bayes_db", SETTING_PATH, "", SF(bayes_db), 0, 0, NULL,
     "SQLite file of Bayes token counts (moatctl spam train); default "
     "data_dir/spam/bayes.db; set empty to turn Bayes off"},
    {"bayes_min_learns", SETTING_INT, "200", SF(bayes_min_learns), 1, 1000000,
     NULL, "spam and ham messages each learned before Bayes scores"},
    {"bayes_max_tokens", SETTING_INT, BAYES_MAX_TOKENS_DEFAULT,
     SF(bayes_max_tokens), 0, 1000000000, NULL,
     "tokens Bayes keeps: the spamlearn service expires those learned "
     "longest ago, hourly, down to three quarters of this (16 bytes of "
     "memory a token); 0 = no limit"},
    {"bayes_combining", SETTING_STRING, "logodds", SF(bayes_combining), 0, 0,
     spam_validate_combining,
     "how token probabilities combine: logodds (the 40 strongest tokens' "
     "log-odds summed) or chi2 (SpamAssassin's chi-square, 150 tokens)"},
    {"autolearn", SETTING_BOOL, "yes", SF(autolearn), 0, 0, NULL,
     "learn mail that scores clearly spam or clearly ham"},
    {"autolearn_spam", SETTING_STRING, "12.0", SF(autolearn_spam), 0, 0, NULL,
     "score (without Bayes) from which mail is learned as spam"},
    {"autolearn_ham", SETTING_STRING, "0.1", SF(autolearn_ham), 0, 0, NULL,
     "score (without Bayes) up to which mail is learned as ham"},
    {"max_scan_size", SETTING_SIZE, "1M", SF(max_scan_size), 1024,
     1024LL * 1024 * 1024, NULL,
     "bytes of each text area (body, raw body, whole message) scanned"},
    {"add_headers", SETTING_BOOL, "yes", SF(add_headers), 0, 0, NULL,
     "add X-Spam-Score, X-Spam-Status and X-Spam-Symbols"},
    {"prefilter_min", SETTING_INT, "32", SF(prefilter_min), 1, 1000000, NULL,
     "body rules from which Hyperscan prefilters (amd64)"},
    {"cache_dir", SETTING_PATH, "", SF(cache_dir), 0, 0, NULL,
     "directory caching the compiled Hyperscan databases, keyed by the "
     "rules, Hyperscan version and CPU; default data_dir/spam/cache; set "
     "empty to compile at every start"},
    {"bayes_scores", SETTING_STRING, "moat", SF(bayes_scores), 0, 0,
     spam_validate_bayes_scores,
     "whose BAYES_* scores count when rules_paths loads files that set "
     "them too: moat (the built-in set's, fitted to Moat's classifier) or "
     "rules (the files', e.g. SpamAssassin's, fitted to its own)"},
    {"psl", SETTING_PATH, PSL_DEFAULT_PATH, SF(psl), 0, 0, NULL,
     "Public Suffix List: organisations for check_fromname_spoof "
     "(FROM_NAME_SPOOF); empty or unreadable: a domain owns its "
     "subdomains only"},
    {"subject_tag", SETTING_STRING, "", SF(subject_tag), 0, 0,
     spam_validate_subject_tag,
     "text put in front of the Subject of mail tagged as spam, e.g. "
     "\"[SPAM _SCORE_]\" (_SCORE_: the score, _REQD_: the tag score); "
     "empty: a rule file's rewrite_header Subject, else none"},
    {"trusted_relays", SETTING_LIST, "", SF(trusted_relays), 0, 0,
     spam_validate_trusted_relays,
     "relays (CIDR) whose Received fields are believed, besides loopback "
     "and private ranges: the hosts in front of Moat, so that the sender "
     "reputation keys on the relay that handed mail in to them"},
    {"link_trackers", SETTING_LIST, SPAM_LINK_TRACKERS_DEFAULT,
     SF(link_trackers), 0, 0, NULL,
     "click trackers and link rewriters (host names, with their "
     "subdomains) whose links may show another address than theirs: "
     "check_uri_text_mismatch (URI_TEXT_MISMATCH) forgives them"},
};

struct spam_filter_state {
	const struct spam_filter_settings *settings;
	struct spam_rules *rules;
	struct bayes_db *bayes;
	struct bayes_params bayes_params;
	struct policy_spam_thresholds thresholds;
	struct psl *psl;
	double autolearn_spam, autolearn_ham;
	pthread_mutex_t lock;
	struct spam_scratch **free_scratch;
	size_t free_count;
};

static int
spam_parse_score(const char *s, double *v_r)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v < -10000 || v > 10000)
		return -1;
	*v_r = v;
	return 0;
}

static int
spam_filter_check(const void *settings_p, const char **error_r)
{
	const struct spam_filter_settings *s = settings_p;
	double t, q, r, as, ah;

	if (spam_parse_score(s->tag_score, &t) < 0 ||
	    spam_parse_score(s->quarantine_score, &q) < 0 ||
	    spam_parse_score(s->reject_score, &r) < 0) {
		*error_r = "filter.spam thresholds must be numbers";
		return -1;
	}
	if (spam_parse_score(s->autolearn_spam, &as) < 0 ||
	    spam_parse_score(s->autolearn_ham, &ah) < 0) {
		*error_r = "filter.spam.autolearn_* must be numbers";
		return -1;
	}
	if (as <= ah) {
		*error_r = "filter.spam.autolearn_spam must be above "
			   "autolearn_ham";
		return -1;
	}
	if ((t > 0 && r > 0 && r < t) || (q > 0 && r > 0 && r < q)) {
		*error_r = "filter.spam.reject_score must not be below the "
			   "tag and quarantine scores";
		return -1;
	}
	return 0;
}

static void
spam_filter_fini(void *state_p)
{
	struct spam_filter_state *st = state_p;
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->free_count; i++)
		spam_scratch_free(&st->free_scratch[i]);
	free(st->free_scratch);
	spam_rules_free(&st->rules);
	bayes_close(&st->bayes);
	psl_free(&st->psl);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* Creates the directory holding path when it is missing (one level). */
static void
spam_mkdir_parent(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');

	if (slash != NULL && slash != dir) {
		*slash = '\0';
		(void)mkdir(dir, 0750);
	}
	free(dir);
}

/* The load log: what compiled, how, the cache, and each disabled rule
 * with its reason (rule names and reasons come from the admin's files and
 * are plain: names are [A-Za-z0-9_], reasons are our own text). */
static void
spam_log_rules(const struct spam_rules *rules,
	       const struct spam_rules_stats *stats)
{
	static const char *const cache_names[] = {"off", "hit", "miss",
						  "rebuilt", "store_failed"};
	const char *prob = spam_rules_problems(rules), *nl;

	log_info(
	    "event=spam_rules rules=%zu active=%zu prefiltered=%zu "
	    "unsupported=%zu bad=%zu warnings=%zu hyperscan=%s utf=%zu "
	    "hs_databases=%zu compile_ms=%.0f cache=%s cache_file=%s",
	    stats->rules, stats->active, stats->prefiltered, stats->unsupported,
	    stats->bad, stats->warnings, stats->hyperscan ? "yes" : "no",
	    stats->utf, stats->hs_databases, stats->compile_ms,
	    cache_names[stats->cache],
	    *spam_rules_cache_file(rules) ? spam_rules_cache_file(rules) : "-");
	if (*spam_rules_cache_note(rules) != '\0')
		log_warnx("event=spam_rules_cache status=%s file=%s "
			  "reason=\"%s\"",
			  cache_names[stats->cache],
			  spam_rules_cache_file(rules),
			  spam_rules_cache_note(rules));
	for (const char *sk = spam_rules_skipped(rules); *sk != '\0';
	     sk = nl + 1) {
		const char *tab = strchr(sk, '\t');

		nl = strchr(sk, '\n');
		if (nl == NULL || tab == NULL || tab > nl)
			break;
		log_info("event=spam_rules_skipped rules=%.*s reason=\"%.*s\"",
			 (int)(tab - sk), sk, (int)(nl - tab - 1), tab + 1);
	}
	for (; *prob != '\0'; prob = nl + 1) {
		const char *colon;

		nl = strchr(prob, '\n');
		if (nl == NULL)
			break;
		colon = memchr(prob, ':', (size_t)(nl - prob));
		if (colon == NULL)
			continue;
		log_info("event=spam_rule_disabled rule=%.*s reason=\"%.*s\"",
			 (int)(colon - prob), prob, (int)(nl - colon - 2),
			 colon + 2);
	}
}

/* The Public Suffix List at path, or NULL (logged) when it cannot be read:
 * organisations then fall back to domains and their subdomains. */
static struct psl *
spam_load_psl(const char *path)
{
	struct psl *psl;
	char *error = NULL;

	if (path[0] == '\0')
		return NULL;
	psl = psl_load(path, &error);
	if (psl == NULL) {
		log_warnx("event=spam_psl error=\"%s\" note=\"FROM_NAME_SPOOF "
			  "compares domains and subdomains only\"",
			  error);
		free(error);
	}
	return psl;
}

static int
spam_filter_init(const void *settings_p, void **state_r, char **error_r)
{
	const struct spam_filter_settings *s = settings_p;
	struct spam_filter_state *st = xcalloc(1, sizeof(*st));
	struct spam_rules_stats stats;
	size_t i;

	pthread_mutex_init(&st->lock, NULL);
	st->settings = s;
	/* The shared MIME parse (the "mime" filter's limits when it is
	 * configured, the defaults otherwise). */
	mime_filter_register(NULL);
	(void)spam_parse_score(s->tag_score, &st->thresholds.tag);
	(void)spam_parse_score(s->quarantine_score, &st->thresholds.quarantine);
	(void)spam_parse_score(s->reject_score, &st->thresholds.reject);
	(void)spam_parse_score(s->autolearn_spam, &st->autolearn_spam);
	(void)spam_parse_score(s->autolearn_ham, &st->autolearn_ham);
	st->rules = spam_rules_new();
	spam_rules_set_prefilter_min(st->rules, (size_t)s->prefilter_min);
	spam_rules_set_score_set(st->rules, s->bayes_db[0] != '\0' ? 3 : 1);
	spam_rules_set_cache_dir(st->rules, s->cache_dir);
	if (s->default_rules)
		spam_rules_load_default(st->rules);
	for (i = 0; i < s->rules_paths.count; i++) {
		if (spam_rules_load_path(st->rules, s->rules_paths.items[i],
					 error_r) < 0) {
			spam_filter_fini(st);
			return -1;
		}
	}
	if (s->default_rules && s->rules_paths.count > 0 &&
	    strcmp(s->bayes_scores, "moat") == 0)
		spam_rules_load_default_scores(st->rules, "BAYES_");
	if (spam_rules_compile(st->rules, error_r) < 0) {
		spam_filter_fini(st);
		return -1;
	}
	spam_rules_get_stats(st->rules, &stats);
	spam_log_rules(st->rules, &stats);
	bayes_params_default(&st->bayes_params);
	(void)bayes_params_set_combining(&st->bayes_params, s->bayes_combining);
	st->bayes_params.min_spam = (unsigned int)s->bayes_min_learns;
	st->bayes_params.min_ham = (unsigned int)s->bayes_min_learns;
	st->psl = spam_load_psl(s->psl);
	if (s->bayes_db[0] != '\0') {
		spam_mkdir_parent(s->bayes_db);
		if (bayes_open(s->bayes_db, &st->bayes, error_r) < 0) {
			spam_filter_fini(st);
			return -1;
		}
	}
	*state_r = st;
	return 0;
}

static struct spam_scratch *
spam_scratch_get(struct spam_filter_state *st)
{
	struct spam_scratch *s = NULL;

	pthread_mutex_lock(&st->lock);
	if (st->free_count > 0)
		s = st->free_scratch[--st->free_count];
	pthread_mutex_unlock(&st->lock);
	return s != NULL ? s : spam_scratch_new(st->rules);
}

static void
spam_scratch_put(struct spam_filter_state *st, struct spam_scratch *s)
{
	pthread_mutex_lock(&st->lock);
	st->free_scratch = xreallocarray(st->free_scratch, st->free_count + 1,
					 sizeof(*st->free_scratch));
	st->free_scratch[st->free_count++] = s;
	pthread_mutex_unlock(&st->lock);
}

/* Reads up to max bytes of the message; returns the buffer (allocated). */
static char *
spam_read_message(const struct filter_body *body, size_t max, size_t *len_r)
{
	size_t len = body->len < max ? body->len : max, got = 0;
	char *data = xmalloc(len + 1);

	while (got < len) {
		ssize_t n = pread(body->fd, data + got, len - got,
				  body->offset + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(data);
			return NULL;
		}
		got += (size_t)n;
	}
	data[len] = '\0';
	*len_r = len;
	return data;
}

/* Appends "NAME(score)" items, folding before 76 columns. */
static void
spam_symbols_header(struct filter_context *ctx, struct buf *out)
{
	const struct filter_symbol *syms;
	size_t n, i, col = sizeof("X-Spam-Symbols: ") - 1;

	syms = filter_symbols(ctx, &n);
	for (i = 0; i < n; i++) {
		char item[160];
		int len = snprintf(item, sizeof(item), "%s(%.2f)", syms[i].name,
				   syms[i].score);

		if (len < 0 || (size_t)len >= sizeof(item))
			continue;
		if (out->len > 0) {
			if (col + 2 + (size_t)len > 76) {
				buf_append_str(out, ",\r\n\t");
				col = 8;
			} else {
				buf_append_str(out, ", ");
				col += 2;
			}
		}
		buf_append_str(out, item);
		col += (size_t)len;
	}
	if (out->len == 0)
		buf_append_str(out, "none");
}

static void
spam_remove_incoming(struct filter_context *ctx)
{
	const struct filter_header *h;
	size_t n, i;

	h = filter_headers(ctx, &n, NULL);
	for (i = 1; i < n; i++)
		if (strncasecmp(h[i].name, "X-Spam-", 7) == 0)
			filter_remove_header(ctx, i);
}

/*
 * Puts the subject tag (filter.spam.subject_tag, else the rule files'
 * rewrite_header Subject) in front of the Subject, _SCORE_ and _REQD_
 * filled in; a Subject already starting with it (its text before the
 * first _SCORE_ or _REQD_: the score may have changed) is left alone,
 * mail tagged by an earlier hop of Moat. The field moves to the top of the
 * header, where header edits go.
 */
static void
spam_tag_subject(const struct spam_filter_state *st, struct filter_context *ctx,
		 double total)
{
	const char *tag = st->settings->subject_tag[0] != '\0'
			      ? st->settings->subject_tag
			      : spam_rules_subject_tag(st->rules);
	const struct filter_header *h;
	struct buf v;
	size_t n, fixed = SIZE_MAX;
	long idx;

	if (tag == NULL || tag[0] == '\0')
		return;
	buf_init(&v);
	for (const char *p = tag; *p != '\0';) {
		bool score = strncmp(p, "_SCORE_", 7) == 0;

		if (!score && strncmp(p, "_REQD_", 6) != 0) {
			buf_append_char(&v, *p++);
			continue;
		}
		if (fixed == SIZE_MAX)
			fixed = v.len; /* the text before the first one */
		buf_printf(&v, "%.1f", score ? total : st->thresholds.tag);
		p += score ? 7 : 6;
	}
	if (fixed == SIZE_MAX || fixed == 0)
		fixed = v.len;
	h = filter_headers(ctx, &n, NULL);
	idx = filter_header_find(ctx, "Subject", 1);
	if (idx >= 0 && (size_t)idx < n) {
		const char *old = h[idx].value + strspn(h[idx].value, " \t");

		/* tagged already (at another score, maybe) */
		if (strncmp(old, buf_cstr(&v), fixed) == 0) {
			buf_free(&v);
			return;
		}
		filter_remove_header(ctx, (size_t)idx);
		buf_append_char(&v, ' ');
		buf_append_str(&v, old);
	}
	filter_add_header(ctx, "Subject", buf_cstr(&v));
	buf_free(&v);
}

/* A symbol from what was learned before (Bayes, the sender's learned
 * history): left out of the score autolearning judges by, as
 * SpamAssassin leaves out Bayes and its AWL, so learning never feeds on
 * itself. */
static bool
spam_is_learned_symbol(const char *name)
{
	return strncmp(name, "BAYES_", 6) == 0 ||
	       strncmp(name, "SENDER_LEARNED_", 15) == 0;
}

static void
spam_autolearn(struct spam_filter_state *st, struct filter_context *ctx,
	       const struct spam_view *view, const struct spam_result *result,
	       double total)
{
	struct bayes_tokens tokens;
	double learn_score = total;
	char *error = NULL;
	bool spam;
	size_t i;

	if (st->bayes == NULL || !st->settings->autolearn || result->gtube)
		return;
	for (i = 0; i < result->count; i++)
		if (spam_is_learned_symbol(result->hits[i].name))
			learn_score -= result->hits[i].score;
	if (learn_score >= st->autolearn_spam)
		spam = true;
	else if (learn_score <= st->autolearn_ham)
		spam = false;
	else
		return;
	bayes_tokens_init(&tokens);
	bayes_tokenize(&view->msg, &tokens);
	if (bayes_learn(st->bayes, &tokens, spam_view_key(view), spam, &error) <
	    0) {
		log_warnx("event=spam_autolearn qid=%s error=\"%s\"",
			  filter_envelope(ctx)->qid, error);
		free(error);
	} else {
		filter_add_symbol(
		    ctx, spam ? "BAYES_AUTOLEARN_SPAM" : "BAYES_AUTOLEARN_HAM",
		    0, NULL);
	}
	bayes_tokens_free(&tokens);
}

/* What the spf and dkim filters found, for the welcomelist checks: the
 * envelope sender, whether SPF passed for it, and the d= of every valid
 * DKIM signature (pointers into the dkim filter's data, which outlives the
 * message's evaluation; at most max). */
static void
spam_sender_auth(struct filter_context *ctx, struct spam_msg *msg,
		 const char **domains, size_t max)
{
	const struct filter_envelope *env = filter_envelope(ctx);
	const struct spf_result *spf = filter_data(ctx, "spf");
	const struct dkim_verify_result *dkim = filter_data(ctx, "dkim");
	size_t n = 0;

	msg->envelope_from = env->mail_from;
	msg->spf_pass = spf != NULL && env->mail_from[0] != '\0' &&
			spf->mailfrom == SPF_RESULT_CODE_PASS;
	for (size_t i = 0; dkim != NULL && i < dkim->count && n < max; i++)
		if (dkim->sigs[i].result == DKIM_RESULT_PASS &&
		    dkim->sigs[i].domain[0] != '\0')
			domains[n++] = dkim->sigs[i].domain;
	msg->dkim_domains = domains;
	msg->dkim_domain_count = n;
}

static int
spam_filter_run(void *state_p, struct filter_context *ctx,
		enum filter_phase phase)
{
	struct spam_filter_state *st = state_p;
	const struct filter_body *body = filter_body(ctx);
	const struct mime_message *mime;
	struct spam_scratch *scratch;
	struct spam_result result;
	struct spam_view view;
	enum policy_spam_action action;
	const char *error = NULL;
	char *full;
	size_t full_len = 0, i;
	double total;
	char value[256];
	const char *dkim_domains[SPAM_MAX_DKIM_DOMAINS];
	struct buf syms;

	if (phase != FILTER_PHASE_DATA)
		return 0;
	full = spam_read_message(body, (size_t)st->settings->max_scan_size,
				 &full_len);
	if (full == NULL) {
		filter_set_error(ctx, "cannot read the spooled message");
		return -1;
	}
	mime = mime_filter_get(ctx);
	if (mime == NULL) {
		filter_set_error(ctx, "cannot parse the spooled message");
		free(full);
		return -1;
	}
	spam_view_init(&view, mime, full, full_len,
		       (size_t)st->settings->max_scan_size);
	spam_view_set_psl(&view, st->psl);
	spam_view_set_trusted(&view, st->settings->trusted_relays.items,
			      st->settings->trusted_relays.count);
	spam_view_set_link_trackers(&view, st->settings->link_trackers.items,
				    st->settings->link_trackers.count);
	spam_sender_auth(ctx, &view.msg, dkim_domains,
			 sizeof(dkim_domains) / sizeof(dkim_domains[0]));
	if (st->bayes != NULL) {
		struct bayes_tokens tokens;
		char *berr = NULL;
		double prob;

		bayes_tokens_init(&tokens);
		bayes_tokenize(&view.msg, &tokens);
		if (bayes_classify(st->bayes, &tokens, &st->bayes_params, &prob,
				   &berr) == 1)
			view.msg.bayes = prob;
		else if (berr != NULL) {
			log_warnx("event=spam_bayes qid=%s error=\"%s\"",
				  filter_envelope(ctx)->qid, berr);
			free(berr);
		}
		bayes_tokens_free(&tokens);
		if (spam_view_sender_history(&view, st->bayes,
					     &st->bayes_params, &berr) < 0) {
			log_warnx("event=spam_bayes qid=%s error=\"%s\"",
				  filter_envelope(ctx)->qid, berr);
			free(berr);
		}
	}
	scratch = spam_scratch_get(st);
	if (spam_rules_eval(st->rules, scratch, &view.msg, &result, &error) <
	    0) {
		spam_scratch_put(st, scratch);
		filter_set_error(ctx, "rules: %s", error);
		spam_view_free(&view);
		free(full);
		return -1;
	}
	spam_scratch_put(st, scratch);
	for (i = 0; i < result.count; i++)
		filter_add_symbol(
		    ctx, result.hits[i].name, result.hits[i].score,
		    spam_rules_describe(st->rules, result.hits[i].name));
	total = filter_score(ctx);
	action = policy_spam_action(total, &st->thresholds);
	if (action == POLICY_SPAM_REJECT)
		filter_set_verdict(ctx, POLICY_REJECT, 550, "5.7.1",
				   result.gtube ? "Message rejected as spam "
						  "(GTUBE test string)"
						: "Message rejected as spam");
	else if (action == POLICY_SPAM_QUARANTINE)
		filter_set_verdict(ctx, POLICY_QUARANTINE, 0, NULL, NULL);
	if (action == POLICY_SPAM_TAG || action == POLICY_SPAM_QUARANTINE)
		spam_tag_subject(st, ctx, total);
	if (st->settings->add_headers) {
		spam_remove_incoming(ctx);
		snprintf(value, sizeof(value), "%.2f", total);
		filter_add_header(ctx, "X-Spam-Score", value);
		snprintf(value, sizeof(value),
			 "%s, score=%.2f required=%.2f "
			 "action=%s",
			 action >= POLICY_SPAM_TAG ? "Yes" : "No", total,
			 st->thresholds.tag, policy_spam_action_name(action));
		filter_add_header(ctx, "X-Spam-Status", value);
		if (action >= POLICY_SPAM_TAG)
			filter_add_header(ctx, "X-Spam-Flag", "YES");
		buf_init(&syms);
		spam_symbols_header(ctx, &syms);
		filter_add_header(ctx, "X-Spam-Symbols", buf_cstr(&syms));
		buf_free(&syms);
	}
	spam_autolearn(st, ctx, &view, &result, total);
	spam_result_free(&result);
	spam_view_free(&view);
	free(full);
	return 0;
}

static const char *const spam_filter_after[] = {
    "spf", "dkim", "dmarc", "arc", "dnsbl", "clamav", "attachments", NULL,
};

const struct filter filter_spam = {
    .name = "spam",
    .phases = FILTER_PHASE_DATA,
    .after = spam_filter_after,
    .settings = spam_filter_setting_defs,
    .settings_count =
	sizeof(spam_filter_setting_defs) / sizeof(spam_filter_setting_defs[0]),
    .settings_size = sizeof(struct spam_filter_settings),
    .check = spam_filter_check,
    .init = spam_filter_init,
    .run = spam_filter_run,
    .fini = spam_filter_fini,
};
