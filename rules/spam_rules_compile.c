/*
 * spam_rules_compile: turns the parsed rule table into something fast to
 * evaluate, once at load. Every regex goes through PCRE2 and its JIT, in
 * byte mode or, when it names code points above 0x7f, in UTF mode
 * (spam_regex.h); meta expressions are compiled and ordered so each meta
 * runs after the metas it reads (a cycle or a reference to a missing or
 * disabled rule disables the meta, as SpamAssassin does). Every disabled
 * rule keeps its reason, listed by spam_rules_problems() for the load log.
 *
 * When an area (body, rawbody, full) holds at least prefilter_min rules,
 * their Hyperscan forms are compiled in prefilter mode: Hyperscan may
 * report a rule that does not really match, never miss one, so PCRE2
 * confirms each candidate. Patterns Hyperscan cannot take stay outside and
 * always run. The compile is split into databases of SPAM_HS_CHUNK
 * patterns: Hyperscan's compile time and memory grow faster than linearly
 * with the pattern count, while scanning a few databases instead of one
 * costs little. With a cache directory the databases are serialised to
 * disk (spam_rules_cache.c) under a key over every input of the compile,
 * so the next start with the same rules deserialises them in milliseconds.
 * Compile-time memory is handed back to the system (malloc_trim) at the end.
 */
#include "rules/spam_rules_private.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef MOAT_HAVE_HYPERSCAN
#include <openssl/evp.h>
#endif

#include "lib/xalloc.h"
#include "rules/spam_regex.h"

/* Patterns per Hyperscan database (measured on Debian's rules: chunks of
 * about a hundred compile faster, and in a fraction of the memory, than
 * one database of all). */
#define SPAM_HS_CHUNK 128
/* Threads compiling chunks at once (at most the number of CPUs). */
#define SPAM_HS_THREADS 4

static void spam_rule_disable(struct spam_rules *rules, struct spam_rule *rule,
			      const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
spam_rule_disable(struct spam_rules *rules, struct spam_rule *rule,
		  const char *fmt, ...)
{
	va_list ap;

	(void)rules;
	rule->disabled = true;
	if (rule->why != NULL)
		return;
	va_start(ap, fmt);
	rule->why = xvasprintf(fmt, ap);
	va_end(ap);
}

static int
spam_resolve(const char *name, size_t len, void *context)
{
	const struct spam_rules *rules = context;
	int idx = spam_rules_find(rules, name, len);

	if (idx < 0 || rules->rules[idx].type == SPAM_RULE_NONE)
		return -1;
	return idx;
}

static int
spam_area_of(enum spam_rule_type type)
{
	switch (type) {
	case SPAM_RULE_BODY:
		return SPAM_AREA_BODY;
	case SPAM_RULE_RAWBODY:
		return SPAM_AREA_RAWBODY;
	case SPAM_RULE_FULL:
		return SPAM_AREA_FULL;
	default:
		return -1;
	}
}

static void
spam_compile_regex(struct spam_rules *rules, struct spam_rule *rule)
{
	struct spam_regex_prep prep;
	const char *perr;
	int err;
	PCRE2_SIZE off;
	uint32_t flags = rule->pcre_flags;

	if (spam_regex_prepare(rule->pattern, rule->pcre_flags, &prep, &perr) <
	    0) {
		char what[300];

		snprintf(what, sizeof(what), "rule %s: regex: %s", rule->name,
			 perr);
		if (rules->warning_lines < 20) {
			rules->warning_lines++;
			buf_printf(&rules->warnings, "%s\n", what);
		}
		spam_rule_disable(rules, rule, "regex: %s", perr);
		rules->stats.bad++;
		return;
	}
	/* Body text is matched line by line in SpamAssassin: ^ and $ anchor
	 * at each line. */
	if (rule->type == SPAM_RULE_BODY || rule->type == SPAM_RULE_RAWBODY)
		flags |= PCRE2_MULTILINE;
	if (prep.utf)
		flags |= PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
	rule->utf = prep.utf;
	rule->hs_pattern = prep.hs_pattern;
	prep.hs_pattern = NULL;
	spam_regex_prep_free(&prep);
	rule->re =
	    pcre2_compile((PCRE2_SPTR)rule->pattern, PCRE2_ZERO_TERMINATED,
			  flags, &err, &off, NULL);
	if (rule->re == NULL) {
		PCRE2_UCHAR msg[120];
		char what[300];

		pcre2_get_error_message(err, msg, sizeof(msg));
		snprintf(what, sizeof(what), "rule %s: regex: %s at offset %zu",
			 rule->name, (const char *)msg, (size_t)off);
		if (rules->warning_lines < 20) {
			/* Listed with the warnings, counted as bad. */
			rules->warning_lines++;
			buf_printf(&rules->warnings, "%s\n", what);
		}
		spam_rule_disable(rules, rule, "regex%s: %s at offset %zu",
				  prep.utf ? " (UTF mode)" : "",
				  (const char *)msg, (size_t)off);
		x_free(&rule->hs_pattern);
		rules->stats.bad++;
		return;
	}
	if (prep.utf)
		rules->stats.utf++;
	/* JIT for every regex: measured at about 40 ms for Debian's 1,400
	 * regexes, too little to be worth doing lazily. */
	(void)pcre2_jit_compile(rule->re, PCRE2_JIT_COMPLETE);
}

/* Disables a meta that did not compile, naming the first rule it reads
 * that does not exist (mostly: defined in a skipped ifplugin block). */
static void
spam_meta_disable(struct spam_rules *rules, struct spam_rule *rule,
		  const char *err)
{
	const char *p = rule->meta_src;

	while (*p != '\0') {
		const char *s = p;

		if (!isalpha((unsigned char)*p) && *p != '_') {
			p++;
			continue;
		}
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (spam_resolve(s, (size_t)(p - s), rules) < 0) {
			spam_rule_disable(rules, rule,
					  "meta: unknown rule %.*s "
					  "(undefined, or in a skipped "
					  "if/ifplugin block)",
					  (int)(p - s > 64 ? 64 : p - s), s);
			return;
		}
	}
	spam_rule_disable(rules, rule, "meta: %s", err);
}

/* Depth-first ordering of metas; state 0 new, 1 on the path, 2 done. */
static bool
spam_meta_visit(struct spam_rules *rules, int idx, unsigned char *state,
		int depth)
{
	struct spam_rule *rule = &rules->rules[idx];
	const int *deps;
	size_t n, i;

	if (state[idx] == 2)
		return !rule->disabled;
	if (state[idx] == 1 || depth > 256) {
		spam_rule_disable(rules, rule, "meta: in a cycle");
		return false;
	}
	if (rule->type != SPAM_RULE_META) {
		state[idx] = 2;
		return !rule->disabled;
	}
	state[idx] = 1;
	if (!rule->disabled) {
		n = spam_meta_deps(rule->meta, &deps);
		for (i = 0; i < n; i++)
			if (!spam_meta_visit(rules, deps[i], state, depth + 1))
				spam_rule_disable(
				    rules, rule, "meta: reads disabled rule %s",
				    rules->rules[deps[i]].name);
	}
	state[idx] = 2;
	if (!rule->disabled)
		rules->meta_order[rules->meta_order_count++] = idx;
	return !rule->disabled;
}

#ifdef MOAT_HAVE_HYPERSCAN
/* One area's Hyperscan candidates, in rule order. */
struct spam_hs_cands {
	int *rule;	     /* rule index */
	char **pattern;	     /* owned */
	unsigned int *flags; /* HS_FLAG_* */
	size_t count;
};

static void
spam_hs_cands_collect(struct spam_rules *rules, int area,
		      struct spam_hs_cands *c)
{
	size_t n = rules->area_count[area], i;

	memset(c, 0, sizeof(*c));
	if (rules->prefilter_min == (size_t)-1 || n < rules->prefilter_min)
		return;
	c->rule = xcalloc(n, sizeof(*c->rule));
	c->pattern = xcalloc(n, sizeof(*c->pattern));
	c->flags = xcalloc(n, sizeof(*c->flags));
	for (i = 0; i < n; i++) {
		int idx = rules->area_rules[area][i];
		struct spam_rule *rule = &rules->rules[idx];
		unsigned int f = HS_FLAG_PREFILTER | HS_FLAG_SINGLEMATCH |
				 HS_FLAG_ALLOWEMPTY;

		if (rule->disabled || rule->hs_pattern == NULL)
			continue;
		if (rule->pcre_flags & PCRE2_CASELESS)
			f |= HS_FLAG_CASELESS;
		if (rule->pcre_flags & PCRE2_DOTALL)
			f |= HS_FLAG_DOTALL;
		if (rule->type == SPAM_RULE_BODY ||
		    rule->type == SPAM_RULE_RAWBODY ||
		    (rule->pcre_flags & PCRE2_MULTILINE))
			f |= HS_FLAG_MULTILINE;
		c->rule[c->count] = idx;
		c->pattern[c->count] =
		    (rule->pcre_flags & PCRE2_EXTENDED)
			? xasprintf("(?x)%s", rule->hs_pattern)
			: xstrdup(rule->hs_pattern);
		c->flags[c->count] = f;
		c->count++;
	}
}

static void
spam_hs_cands_free(struct spam_hs_cands *c)
{
	size_t i;

	for (i = 0; i < c->count; i++)
		free(c->pattern[i]);
	free(c->pattern);
	free(c->rule);
	free(c->flags);
	memset(c, 0, sizeof(*c));
}

/* The cache key: a SHA-256 over every input of the compile. */
static void
spam_hs_key(const struct spam_hs_cands *cands, unsigned char *key)
{
	static const char tag[] = "moat spam hyperscan prefilter v1";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	hs_platform_info_t plat;
	const char *ver = hs_version();
	uint32_t u;
	unsigned int len = 0;
	int area;
	size_t i;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		abort();
	memset(&plat, 0, sizeof(plat));
	(void)hs_populate_platform(&plat);
	EVP_DigestUpdate(ctx, tag, sizeof(tag));
	EVP_DigestUpdate(ctx, ver, strlen(ver) + 1);
	EVP_DigestUpdate(ctx, &plat, sizeof(plat));
	u = SPAM_HS_CHUNK;
	EVP_DigestUpdate(ctx, &u, sizeof(u));
	u = SPAM_REGEX_MAX_REPEAT;
	EVP_DigestUpdate(ctx, &u, sizeof(u));
	for (area = 0; area < SPAM_AREA_COUNT; area++) {
		u = (uint32_t)cands[area].count;
		EVP_DigestUpdate(ctx, &u, sizeof(u));
		for (i = 0; i < cands[area].count; i++) {
			u = cands[area].flags[i];
			EVP_DigestUpdate(ctx, &u, sizeof(u));
			EVP_DigestUpdate(ctx, cands[area].pattern[i],
					 strlen(cands[area].pattern[i]) + 1);
		}
	}
	if (EVP_DigestFinal_ex(ctx, key, &len) != 1 ||
	    len != SPAM_CACHE_KEY_LEN)
		abort();
	EVP_MD_CTX_free(ctx);
}

/* Compiles candidates [from, to) of one area into one database; a pattern
 * Hyperscan refuses is left out (it then always runs in PCRE2). */
static void
spam_hs_compile_chunk(const struct spam_hs_cands *c, int area, size_t from,
		      size_t to, struct spam_hs_db **dbs, size_t *ndbs)
{
	size_t n = to - from, i, k = 0;
	const char **pats = xcalloc(n, sizeof(*pats));
	unsigned int *flags = xcalloc(n, sizeof(*flags));
	unsigned int *ids = xcalloc(n, sizeof(*ids));
	uint32_t *cand = xcalloc(n, sizeof(*cand));
	hs_compile_error_t *cerr = NULL;
	hs_database_t *db = NULL;

	for (i = from; i < to; i++) {
		hs_expr_info_t *info = NULL;

		if (hs_expression_info(c->pattern[i], c->flags[i], &info,
				       &cerr) != HS_SUCCESS) {
			hs_free_compile_error(cerr);
			cerr = NULL;
			continue;
		}
		free(info);
		pats[k] = c->pattern[i];
		flags[k] = c->flags[i];
		ids[k] = (unsigned int)k;
		cand[k] = (uint32_t)i;
		k++;
	}
	/* Drop each pattern the full compile refuses, then try again. */
	while (k > 0) {
		if (hs_compile_multi(pats, flags, ids, (unsigned int)k,
				     HS_MODE_BLOCK, NULL, &db,
				     &cerr) == HS_SUCCESS)
			break;
		db = NULL;
		if (cerr->expression < 0 || (size_t)cerr->expression >= k) {
			hs_free_compile_error(cerr);
			k = 0;
			break;
		}
		i = (size_t)cerr->expression;
		hs_free_compile_error(cerr);
		cerr = NULL;
		k--;
		pats[i] = pats[k];
		flags[i] = flags[k];
		cand[i] = cand[k];
		/* ids stay 0..k-1 */
	}
	if (db != NULL) {
		struct spam_hs_db *d;

		*dbs = xreallocarray(*dbs, *ndbs + 1, sizeof(**dbs));
		d = &(*dbs)[(*ndbs)++];
		memset(d, 0, sizeof(*d));
		d->area = area;
		d->db = db;
		d->count = k;
		d->cand = cand;
		cand = NULL;
	}
	free(cand);
	free(pats);
	free(flags);
	free(ids);
}

/* One chunk to compile; the chunks of all areas are shared out between a
 * few threads (the compile is CPU-bound and Hyperscan's compiler is
 * thread-safe), and their databases collected in chunk order. */
struct spam_hs_job {
	const struct spam_hs_cands *cands;
	int area;
	size_t from, to;
	struct spam_hs_db *dbs; /* 0 or 1 database */
	size_t ndbs;
};

struct spam_hs_pool {
	struct spam_hs_job *jobs;
	size_t count, next;
	pthread_mutex_t lock;
};

static void *
spam_hs_worker(void *arg)
{
	struct spam_hs_pool *pool = arg;

	for (;;) {
		struct spam_hs_job *job;

		pthread_mutex_lock(&pool->lock);
		job =
		    pool->next < pool->count ? &pool->jobs[pool->next++] : NULL;
		pthread_mutex_unlock(&pool->lock);
		if (job == NULL)
			return NULL;
		spam_hs_compile_chunk(job->cands, job->area, job->from, job->to,
				      &job->dbs, &job->ndbs);
	}
}

static void
spam_hs_compile_all(const struct spam_hs_cands *cands, struct spam_hs_db **dbs,
		    size_t *ndbs)
{
	struct spam_hs_pool pool;
	pthread_t threads[SPAM_HS_THREADS];
	size_t nthreads = 0, i, j;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int area;

	memset(&pool, 0, sizeof(pool));
	pthread_mutex_init(&pool.lock, NULL);
	for (area = 0; area < SPAM_AREA_COUNT; area++) {
		for (i = 0; i < cands[area].count; i += SPAM_HS_CHUNK) {
			struct spam_hs_job *job;

			pool.jobs = xreallocarray(pool.jobs, pool.count + 1,
						  sizeof(*pool.jobs));
			job = &pool.jobs[pool.count++];
			memset(job, 0, sizeof(*job));
			job->cands = &cands[area];
			job->area = area;
			job->from = i;
			job->to = i + SPAM_HS_CHUNK < cands[area].count
				      ? i + SPAM_HS_CHUNK
				      : cands[area].count;
		}
	}
	/* The calling thread works too; helpers only for several chunks. */
	while (nthreads + 1 < SPAM_HS_THREADS && (long)nthreads + 1 < cpus &&
	       nthreads + 1 < pool.count &&
	       pthread_create(&threads[nthreads], NULL, spam_hs_worker,
			      &pool) == 0)
		nthreads++;
	(void)spam_hs_worker(&pool);
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&pool.lock);
	for (i = 0; i < pool.count; i++) {
		for (j = 0; j < pool.jobs[i].ndbs; j++) {
			*dbs = xreallocarray(*dbs, *ndbs + 1, sizeof(**dbs));
			(*dbs)[(*ndbs)++] = pool.jobs[i].dbs[j];
		}
		free(pool.jobs[i].dbs);
	}
	free(pool.jobs);
}

static void
spam_note(struct spam_rules *rules, char *note)
{
	free(rules->cache_note);
	rules->cache_note = note;
}

static void
spam_build_hyperscan(struct spam_rules *rules)
{
	struct spam_hs_cands cands[SPAM_AREA_COUNT];
	size_t cand_count[SPAM_AREA_COUNT], total = 0, ndbs = 0, i, j;
	unsigned char key[SPAM_CACHE_KEY_LEN];
	struct spam_hs_db *dbs = NULL;
	bool loaded = false;
	int area;

	for (area = 0; area < SPAM_AREA_COUNT; area++) {
		spam_hs_cands_collect(rules, area, &cands[area]);
		cand_count[area] = cands[area].count;
		total += cands[area].count;
	}
	if (total == 0)
		goto done;
	spam_hs_key(cands, key);
	if (rules->cache_dir != NULL) {
		char *why = NULL;
		int ret = spam_cache_load(rules->cache_dir, key, cand_count,
					  &dbs, &ndbs, &why);

		free(rules->cache_file);
		rules->cache_file = spam_cache_path(rules->cache_dir, key);
		if (ret > 0) {
			loaded = true;
			rules->stats.cache = SPAM_CACHE_HIT;
		} else if (ret < 0) {
			rules->stats.cache = SPAM_CACHE_INVALID;
			spam_note(rules, why);
		} else {
			rules->stats.cache = SPAM_CACHE_MISS;
		}
	}
	if (!loaded) {
		spam_hs_compile_all(cands, &dbs, &ndbs);
		if (rules->cache_dir != NULL && ndbs > 0) {
			char *error = NULL;

			if (spam_cache_store(rules->cache_dir, key, dbs, ndbs,
					     &error) < 0) {
				rules->stats.cache = SPAM_CACHE_FAILED;
				spam_note(rules, error);
			}
		}
	}
	for (i = 0; i < ndbs; i++) {
		struct spam_hs_db *d = &dbs[i];

		d->map = xcalloc(d->count, sizeof(*d->map));
		for (j = 0; j < d->count; j++) {
			int idx = cands[d->area].rule[d->cand[j]];

			d->map[j] = idx;
			rules->rules[idx].hs_id = (int)j;
		}
		rules->stats.prefiltered += d->count;
	}
	rules->hs_dbs = dbs;
	rules->hs_db_count = ndbs;
	rules->stats.hs_databases = ndbs;
	rules->stats.hyperscan = ndbs > 0;
done:
	for (area = 0; area < SPAM_AREA_COUNT; area++)
		spam_hs_cands_free(&cands[area]);
}
#endif

static void
spam_collect_problems(struct spam_rules *rules)
{
	size_t i;

	buf_reset(&rules->skipped_text);
	for (i = 0; i < rules->skipped_count; i++)
		buf_printf(&rules->skipped_text, "%zu\t%s\n",
			   rules->skipped[i].count, rules->skipped[i].label);
	buf_reset(&rules->problems);
	for (i = 0; i < rules->count; i++) {
		const struct spam_rule *rule = &rules->rules[i];

		if (rule->type != SPAM_RULE_NONE && rule->disabled)
			buf_printf(&rules->problems, "%s: %s\n", rule->name,
				   rule->why != NULL ? rule->why : "disabled");
	}
}

int
spam_rules_compile(struct spam_rules *rules, char **error_r)
{
	unsigned char *state;
	struct timespec t0, t1;
	size_t i;

	(void)error_r;
	if (rules->compiled)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	{
		size_t warnings = rules->stats.warnings;

		memset(&rules->stats, 0, sizeof(rules->stats));
		rules->stats.warnings = warnings;
	}
	for (i = 0; i < rules->count; i++) {
		struct spam_rule *rule = &rules->rules[i];

		if (rule->type == SPAM_RULE_NONE)
			continue;
		rules->stats.rules++;
		if (!rule->has_score) {
			double d = strncmp(rule->name, "__", 2) == 0   ? 0
				   : strncmp(rule->name, "T_", 2) == 0 ? 0.01
								       : 1.0;

			rule->scores[0] = rule->scores[1] = rule->scores[2] =
			    rule->scores[3] = d;
		}
		switch (rule->type) {
		case SPAM_RULE_HEADER:
			rules->stats.header++;
			if (!rule->exists)
				spam_compile_regex(rules, rule);
			x_free(&rule->hs_pattern);
			break;
		case SPAM_RULE_BODY:
		case SPAM_RULE_RAWBODY:
		case SPAM_RULE_FULL:
			if (rule->type == SPAM_RULE_BODY)
				rules->stats.body++;
			else if (rule->type == SPAM_RULE_RAWBODY)
				rules->stats.rawbody++;
			else
				rules->stats.full++;
			spam_compile_regex(rules, rule);
			if (!rule->disabled) {
				int area = spam_area_of(rule->type);

				rules->area_rules[area] = xreallocarray(
				    rules->area_rules[area],
				    rules->area_count[area] + 1, sizeof(int));
				rules->area_rules[area]
						 [rules->area_count[area]++] =
				    (int)i;
			}
			break;
		case SPAM_RULE_URI:
			rules->stats.uri++;
			spam_compile_regex(rules, rule);
			x_free(&rule->hs_pattern);
			break;
		case SPAM_RULE_EVAL:
			rules->stats.eval++;
			if (rule->eval == SPAM_EVAL_UNSUPPORTED) {
				spam_rule_disable(
				    rules, rule, "unsupported eval: %s",
				    rule->eval_str != NULL ? rule->eval_str
							   : "?");
				rules->stats.unsupported++;
			}
			break;
		case SPAM_RULE_META: {
			const char *err;

			rules->stats.meta++;
			if (spam_meta_compile(rule->meta_src, spam_resolve,
					      rules, &rule->meta, &err) < 0) {
				spam_meta_disable(rules, rule, err);
				rules->stats.bad++;
			}
			break;
		}
		default:
			break;
		}
	}
	rules->meta_order = xcalloc(rules->count + 1, sizeof(int));
	state = xcalloc(rules->count + 1, 1);
	for (i = 0; i < rules->count; i++)
		if (rules->rules[i].type == SPAM_RULE_META)
			(void)spam_meta_visit(rules, (int)i, state, 0);
	free(state);
#ifdef MOAT_HAVE_HYPERSCAN
	spam_build_hyperscan(rules);
#endif
	for (i = 0; i < rules->count; i++) {
		struct spam_rule *rule = &rules->rules[i];

		if (rule->type != SPAM_RULE_NONE && !rule->disabled)
			rules->stats.active++;
		x_free(&rule->hs_pattern); /* compile-time only */
	}
	spam_collect_problems(rules);
#ifdef __GLIBC__
	/* Hyperscan's compile peaks far above what the databases keep:
	 * give the freed memory back instead of keeping it as heap. */
	(void)malloc_trim(0);
#endif
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rules->stats.compile_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
				  (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	rules->compiled = true;
	return 0;
}
