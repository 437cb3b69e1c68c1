/*
 * spam_rules_compile: turns the parsed rule table into something fast to
 * evaluate, once at load. Every regex goes through PCRE2 and its JIT; meta
 * expressions are compiled and ordered so each meta runs after the metas it
 * reads (a cycle or a reference to a missing or disabled rule disables the
 * meta, as SpamAssassin does). When an area (body, rawbody, full) holds at
 * least prefilter_min rules, its patterns are also compiled into one
 * Hyperscan database in prefilter mode: Hyperscan may report a rule that
 * does not really match, never miss one, so PCRE2 confirms each candidate.
 * Patterns Hyperscan cannot take stay outside the database and always run.
 */
#include "rules/spam_rules_private.h"

#include <stdio.h>
#include <string.h>

#include "lib/xalloc.h"

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
	int err;
	PCRE2_SIZE off;
	uint32_t flags = rule->pcre_flags;

	/* Body text is matched line by line in SpamAssassin: ^ and $ anchor
	 * at each line. */
	if (rule->type == SPAM_RULE_BODY || rule->type == SPAM_RULE_RAWBODY)
		flags |= PCRE2_MULTILINE;
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
		rule->disabled = true;
		rules->stats.bad++;
		return;
	}
	(void)pcre2_jit_compile(rule->re, PCRE2_JIT_COMPLETE);
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
		rule->disabled = true; /* cycle */
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
				rule->disabled = true;
	}
	state[idx] = 2;
	if (!rule->disabled)
		rules->meta_order[rules->meta_order_count++] = idx;
	return !rule->disabled;
}

#ifdef MOAT_HAVE_HYPERSCAN
static void
spam_build_hyperscan(struct spam_rules *rules, int area)
{
	size_t n = rules->area_count[area], i, k = 0;
	const char **pats = xcalloc(n, sizeof(*pats));
	unsigned int *flags = xcalloc(n, sizeof(*flags));
	unsigned int *ids = xcalloc(n, sizeof(*ids));
	char **owned = xcalloc(n, sizeof(*owned));
	hs_compile_error_t *cerr = NULL;
	hs_database_t *db = NULL;

	rules->hs_map[area] = xcalloc(n, sizeof(int));
	for (i = 0; i < n; i++) {
		struct spam_rule *rule =
		    &rules->rules[rules->area_rules[area][i]];
		unsigned int f = HS_FLAG_PREFILTER | HS_FLAG_SINGLEMATCH |
				 HS_FLAG_ALLOWEMPTY;
		hs_expr_info_t *info = NULL;

		if (rule->disabled)
			continue;
		if (rule->pcre_flags & PCRE2_CASELESS)
			f |= HS_FLAG_CASELESS;
		if (rule->pcre_flags & PCRE2_DOTALL)
			f |= HS_FLAG_DOTALL;
		if (rule->type == SPAM_RULE_BODY ||
		    rule->type == SPAM_RULE_RAWBODY ||
		    (rule->pcre_flags & PCRE2_MULTILINE))
			f |= HS_FLAG_MULTILINE;
		owned[k] = (rule->pcre_flags & PCRE2_EXTENDED)
			       ? xasprintf("(?x)%s", rule->pattern)
			       : xstrdup(rule->pattern);
		if (hs_expression_info(owned[k], f, &info, &cerr) !=
		    HS_SUCCESS) {
			hs_free_compile_error(cerr);
			cerr = NULL;
			x_free(&owned[k]);
			continue;
		}
		free(info);
		pats[k] = owned[k];
		flags[k] = f;
		ids[k] = (unsigned int)k;
		rules->hs_map[area][k] = rules->area_rules[area][i];
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
		rules->hs_map[area][i] = rules->hs_map[area][k];
		/* ids stay 0..k-1 */
	}
	if (db != NULL) {
		rules->hs_db[area] = db;
		rules->hs_count[area] = k;
		for (i = 0; i < k; i++)
			rules->rules[rules->hs_map[area][i]].hs_id = (int)i;
		rules->stats.prefiltered += k;
		rules->stats.hyperscan = true;
	}
	for (i = 0; i < n; i++)
		free(owned[i]);
	free(owned);
	free(pats);
	free(flags);
	free(ids);
}
#endif

int
spam_rules_compile(struct spam_rules *rules, char **error_r)
{
	unsigned char *state;
	size_t i;
	int area;

	(void)error_r;
	if (rules->compiled)
		return 0;
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
				area = spam_area_of(rule->type);
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
			break;
		case SPAM_RULE_EVAL:
			rules->stats.eval++;
			if (rule->eval == SPAM_EVAL_UNSUPPORTED) {
				rule->disabled = true;
				rules->stats.unsupported++;
			}
			break;
		case SPAM_RULE_META: {
			const char *err;

			rules->stats.meta++;
			if (spam_meta_compile(rule->meta_src, spam_resolve,
					      rules, &rule->meta, &err) < 0) {
				rule->disabled = true;
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
	for (area = 0; area < SPAM_AREA_COUNT; area++)
		if (rules->prefilter_min != (size_t)-1 &&
		    rules->area_count[area] >= rules->prefilter_min)
			spam_build_hyperscan(rules, area);
#else
	(void)area;
#endif
	for (i = 0; i < rules->count; i++)
		if (rules->rules[i].type != SPAM_RULE_NONE &&
		    !rules->rules[i].disabled)
			rules->stats.active++;
	rules->compiled = true;
	return 0;
}
