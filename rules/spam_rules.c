/*
 * spam_rules: the parser of SpamAssassin .cf files. It reads the directives
 * that matter (header, body, rawbody, full, uri, meta, score, describe,
 * tflags) into the rule table, skips if/ifplugin blocks whose condition it
 * cannot honour, and ignores the rest (lang, priority, report templates...).
 * Parsing never fails on content: a malformed line becomes a warning, so an
 * admin's old rule files load as far as they can, like SpamAssassin's lint.
 * Compilation (spam_rules_compile.c) happens once all files are read.
 */
#include "rules/spam_rules_private.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/xalloc.h"

#define SPAM_MAX_LINE	       65536
#define SPAM_MAX_NAME	       128
#define SPAM_MAX_IF_DEPTH      32
#define SPAM_MAX_WARNING_LINES 20
#define SPAM_MAX_FILE	       (64u * 1024 * 1024)
/* The SpamAssassin version whose rules we accept in `if version` tests. */
#define SPAM_EMULATED_VERSION 4.000000

/* Plugins whose rules we evaluate: ifplugin blocks for others are skipped. */
static const char *const spam_supported_plugins[] = {
    "Mail::SpamAssassin::Plugin::Bayes",
    "Mail::SpamAssassin::Plugin::Check",
    /* Partly: their rules load; a rule whose eval: Moat lacks is
     * disabled (moatctl spam stats names it), the others run. */
    "Mail::SpamAssassin::Plugin::HeaderEval",
    "Mail::SpamAssassin::Plugin::MIMEEval",
    "Mail::SpamAssassin::Plugin::HTMLEval",
    "Mail::SpamAssassin::Plugin::BodyEval",
    "Mail::SpamAssassin::Plugin::RelayEval",
    "Mail::SpamAssassin::Plugin::WLBLEval",
};

struct spam_rules *
spam_rules_new(void)
{
	struct spam_rules *rules = xcalloc(1, sizeof(*rules));

	rules->score_set = 3;
	rules->prefilter_min = 32;
	return rules;
}

static void
spam_rule_clear_test(struct spam_rule *rule)
{
	x_free(&rule->header);
	x_free(&rule->if_unset);
	x_free(&rule->pattern);
	x_free(&rule->eval_str);
	x_free(&rule->meta_src);
	x_free(&rule->hs_pattern);
	x_free(&rule->why);
	rule->utf = false;
	if (rule->re != NULL) {
		pcre2_code_free(rule->re);
		rule->re = NULL;
	}
	spam_meta_free(&rule->meta);
	rule->exists = false;
	rule->negate = false;
	rule->hmod = SPAM_HDR_VALUE;
	rule->hraw = false;
	rule->eval = SPAM_EVAL_UNSUPPORTED;
	rule->type = SPAM_RULE_NONE;
	rule->pcre_flags = 0;
	rule->disabled = false;
}

void
spam_rules_free(struct spam_rules **rules_p)
{
	struct spam_rules *rules = *rules_p;
	size_t i;

	if (rules == NULL)
		return;
	for (i = 0; i < rules->count; i++) {
		spam_rule_clear_test(&rules->rules[i]);
		free(rules->rules[i].name);
		free(rules->rules[i].describe);
	}
	free(rules->rules);
	free(rules->hash);
	free(rules->meta_order);
	for (i = 0; i < SPAM_AREA_COUNT; i++)
		free(rules->area_rules[i]);
#ifdef MOAT_HAVE_HYPERSCAN
	spam_hs_dbs_free(&rules->hs_dbs, &rules->hs_db_count);
#endif
	free(rules->cache_dir);
	free(rules->cache_file);
	free(rules->cache_note);
	free(rules->subject_tag);
	buf_free(&rules->problems);
	spam_wlbl_free(rules);
	buf_free(&rules->skipped_text);
	buf_free(&rules->warnings);
	x_free(rules_p);
}

void
spam_rules_set_score_set(struct spam_rules *rules, int set)
{
	if (set >= 0 && set <= 3)
		rules->score_set = set;
}

void
spam_rules_set_prefilter_min(struct spam_rules *rules, size_t min)
{
	rules->prefilter_min = min;
}

void
spam_rules_set_cache_dir(struct spam_rules *rules, const char *dir)
{
	x_free(&rules->cache_dir);
	if (dir != NULL && dir[0] != '\0')
		rules->cache_dir = xstrdup(dir);
}

const char *
spam_rules_cache_file(const struct spam_rules *rules)
{
	return rules->cache_file != NULL ? rules->cache_file : "";
}

const char *
spam_rules_cache_note(const struct spam_rules *rules)
{
	return rules->cache_note != NULL ? rules->cache_note : "";
}

const char *
spam_rules_problems(const struct spam_rules *rules)
{
	return buf_cstr(&rules->problems);
}

const char *
spam_rules_skipped(const struct spam_rules *rules)
{
	return buf_cstr(&rules->skipped_text);
}

void
spam_rules_warn(struct spam_rules *rules, const char *file, unsigned int line,
		const char *what)
{
	rules->stats.warnings++;
	if (rules->warning_lines >= SPAM_MAX_WARNING_LINES)
		return;
	rules->warning_lines++;
	buf_printf(&rules->warnings, "%s:%u: %s\n", file, line, what);
}

const char *
spam_rules_warnings(const struct spam_rules *rules)
{
	return buf_cstr(&rules->warnings);
}

static uint32_t
spam_name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 16777619u;
	}
	return h;
}

int
spam_rules_find(const struct spam_rules *rules, const char *name, size_t len)
{
	size_t i, mask;

	if (rules->hash_cap == 0)
		return -1;
	mask = rules->hash_cap - 1;
	for (i = spam_name_hash(name, len) & mask; rules->hash[i] != 0;
	     i = (i + 1) & mask) {
		const char *n = rules->rules[rules->hash[i] - 1].name;

		if (strncmp(n, name, len) == 0 && n[len] == '\0')
			return rules->hash[i] - 1;
	}
	return -1;
}

static void
spam_hash_insert(struct spam_rules *rules, int idx)
{
	const char *name = rules->rules[idx].name;
	size_t i, mask = rules->hash_cap - 1;

	for (i = spam_name_hash(name, strlen(name)) & mask; rules->hash[i] != 0;
	     i = (i + 1) & mask)
		;
	rules->hash[i] = idx + 1;
}

/* Finds or creates the rule called name. */
static struct spam_rule *
spam_rule_get(struct spam_rules *rules, const char *name)
{
	int idx = spam_rules_find(rules, name, strlen(name));
	struct spam_rule *rule;
	size_t i;

	if (idx >= 0)
		return &rules->rules[idx];
	if (rules->count == rules->cap) {
		rules->cap = rules->cap == 0 ? 64 : rules->cap * 2;
		rules->rules =
		    xreallocarray(rules->rules, rules->cap, sizeof(*rule));
	}
	if ((rules->count + 1) * 2 > rules->hash_cap) {
		rules->hash_cap =
		    rules->hash_cap == 0 ? 128 : rules->hash_cap * 2;
		free(rules->hash);
		rules->hash = xcalloc(rules->hash_cap, sizeof(*rules->hash));
		for (i = 0; i < rules->count; i++)
			spam_hash_insert(rules, (int)i);
	}
	rule = &rules->rules[rules->count];
	memset(rule, 0, sizeof(*rule));
	rule->name = xstrdup(name);
	rule->hs_id = -1;
	rule->maxhits = SPAM_MAX_HITS_DEFAULT;
	spam_hash_insert(rules, (int)rules->count);
	rules->count++;
	return rule;
}

static bool
spam_valid_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > SPAM_MAX_NAME ||
	    !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (i = 1; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

/* Splits the next whitespace-separated word off *p (NUL-terminating it). */
static char *
spam_next_word(char **p)
{
	char *s = *p, *w;

	while (*s != '\0' && isspace((unsigned char)*s))
		s++;
	if (*s == '\0') {
		*p = s;
		return NULL;
	}
	w = s;
	while (*s != '\0' && !isspace((unsigned char)*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*p = s;
	return w;
}

static char *
spam_trim(char *s)
{
	size_t n;

	while (*s != '\0' && isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/*
 * Parses a Perl match operator: /re/flags or m{re}flags (any delimiter).
 * On success stores the pattern and PCRE2 flags and returns a pointer after
 * the flags; NULL on a malformed regex.
 */
static const char *
spam_parse_regex(const char *s, char **pattern_r, uint32_t *flags_r)
{
	char open, close;
	const char *p, *start;
	uint32_t flags = 0;
	int nest = 0;

	if (*s == 'm' && s[1] != '\0' && !isalnum((unsigned char)s[1]) &&
	    !isspace((unsigned char)s[1]))
		s++;
	else if (*s != '/')
		return NULL;
	open = *s;
	switch (open) {
	case '{':
		close = '}';
		break;
	case '(':
		close = ')';
		break;
	case '[':
		close = ']';
		break;
	case '<':
		close = '>';
		break;
	default:
		close = open;
		break;
	}
	start = p = s + 1;
	for (; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
			continue;
		}
		if (open != close && *p == open) {
			nest++;
		} else if (*p == close) {
			if (nest == 0)
				break;
			nest--;
		}
	}
	if (*p != close)
		return NULL;
	*pattern_r = xstrndup(start, (size_t)(p - start));
	for (p++; isalpha((unsigned char)*p); p++) {
		switch (*p) {
		case 'i':
			flags |= PCRE2_CASELESS;
			break;
		case 's':
			flags |= PCRE2_DOTALL;
			break;
		case 'm':
			flags |= PCRE2_MULTILINE;
			break;
		case 'x':
			flags |= PCRE2_EXTENDED;
			break;
		default: /* g, o, u: no meaning for a match test */
			break;
		}
	}
	*flags_r = flags;
	return p;
}

/* Parses "eval:name(args)" into the rule. Unknown functions stay
 * SPAM_EVAL_UNSUPPORTED (the rule is disabled at compile time). */
static void
spam_parse_eval(struct spam_rule *rule, const char *s)
{
	static const struct {
		const char *name;
		enum spam_eval_fn fn;
	} fns[] = {
	    {"check_bayes", SPAM_EVAL_BAYES},
	    {"check_for_missing_to_header", SPAM_EVAL_MISSING_TO},
	    {"subject_is_all_caps", SPAM_EVAL_SUBJECT_ALL_CAPS},
	    {"check_body_length", SPAM_EVAL_BODY_LENGTH},
	    {"check_for_missing_header", SPAM_EVAL_MISSING_HEADER},
	    {"check_gtube", SPAM_EVAL_GTUBE},
	    {"check_outlook_message_id", SPAM_EVAL_OUTLOOK_MSGID},
	    {"check_for_shifted_date", SPAM_EVAL_SHIFTED_DATE},
	    {"check_illegal_chars", SPAM_EVAL_ILLEGAL_CHARS},
	    {"html_image_only", SPAM_EVAL_HTML_IMAGE_ONLY},
	    {"check_for_mime_html", SPAM_EVAL_MIME_HTML},
	    {"check_for_mime_html_only", SPAM_EVAL_MIME_HTML_ONLY},
	    {"similar_recipients", SPAM_EVAL_SIMILAR_RECIPS},
	    {"sorted_recipients", SPAM_EVAL_SORTED_RECIPS},
	    {"check_fromname_spoof", SPAM_EVAL_FROMNAME_SPOOF},
	    {"check_from_homograph", SPAM_EVAL_FROM_HOMOGRAPH},
	    {"check_uri_homograph", SPAM_EVAL_URI_HOMOGRAPH},
	    {"check_uri_text_mismatch", SPAM_EVAL_URI_TEXT_MISMATCH},
	    {"html_tag_exists", SPAM_EVAL_HTML_TAG_EXISTS},
	    {"html_test", SPAM_EVAL_HTML_TEST},
	    {"check_text_obfuscation", SPAM_EVAL_TEXT_OBFUSCATION},
	    {"check_sender_learned_ham", SPAM_EVAL_SENDER_HAM},
	    {"check_from_in_welcomelist", SPAM_EVAL_WL_FROM},
	    {"check_from_in_whitelist", SPAM_EVAL_WL_FROM},
	    {"check_from_in_blocklist", SPAM_EVAL_BL_FROM},
	    {"check_from_in_blacklist", SPAM_EVAL_BL_FROM},
	    {"check_for_spf_welcomelist_from", SPAM_EVAL_WL_SPF},
	    {"check_for_spf_whitelist_from", SPAM_EVAL_WL_SPF},
	    {"check_for_def_spf_welcomelist_from", SPAM_EVAL_DEF_WL_SPF},
	    {"check_for_def_spf_whitelist_from", SPAM_EVAL_DEF_WL_SPF},
	    {"check_for_dkim_welcomelist_from", SPAM_EVAL_WL_DKIM},
	    {"check_for_dkim_whitelist_from", SPAM_EVAL_WL_DKIM},
	    {"check_for_def_dkim_welcomelist_from", SPAM_EVAL_DEF_WL_DKIM},
	    {"check_for_def_dkim_whitelist_from", SPAM_EVAL_DEF_WL_DKIM},
	};
	const char *paren = strchr(s, '(');
	size_t nlen = paren != NULL ? (size_t)(paren - s) : strlen(s), i;
	char args[256], *a, *arg;
	int n = 0;

	rule->type = SPAM_RULE_EVAL;
	rule->eval = SPAM_EVAL_UNSUPPORTED;
	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		if (strlen(fns[i].name) == nlen &&
		    strncmp(fns[i].name, s, nlen) == 0)
			rule->eval = fns[i].fn;
	}
	if (rule->eval == SPAM_EVAL_UNSUPPORTED) {
		/* Its name, for the load log. */
		rule->eval_str = xstrndup(s, nlen < 64 ? nlen : 64);
		return;
	}
	if (paren == NULL)
		return;
	snprintf(args, sizeof(args), "%s", paren + 1);
	a = strrchr(args, ')');
	if (a != NULL)
		*a = '\0';
	a = args;
	while ((arg = strsep(&a, ",")) != NULL) {
		arg = spam_trim(arg);
		if (*arg == '\'' || *arg == '"') {
			size_t l = strlen(arg);

			arg++;
			if (l >= 2)
				arg[l - 2] = '\0';
		}
		if (n == 0 && (rule->eval == SPAM_EVAL_MISSING_HEADER ||
			       rule->eval == SPAM_EVAL_ILLEGAL_CHARS ||
			       rule->eval == SPAM_EVAL_HTML_TAG_EXISTS ||
			       rule->eval == SPAM_EVAL_HTML_TEST)) {
			rule->eval_str = xstrdup(arg);
		} else if (rule->eval == SPAM_EVAL_ILLEGAL_CHARS) {
			if (n < 3)
				rule->eval_num[n - 1] = strtod(arg, NULL);
		} else if (n < 2) {
			/* 'undef' (no bound) is NAN */
			rule->eval_num[n] =
			    strcmp(arg, "undef") == 0 ? NAN : strtod(arg, NULL);
		}
		n++;
	}
	if (rule->eval == SPAM_EVAL_HTML_TEST &&
	    !spam_html_test_known(rule->eval_str)) {
		/* one of the parser's results Moat does not record */
		char *what =
		    xasprintf("html_test('%.40s')",
			      rule->eval_str != NULL ? rule->eval_str : "");

		free(rule->eval_str);
		rule->eval_str = what;
		rule->eval = SPAM_EVAL_UNSUPPORTED;
	}
}

static void
spam_parse_test(struct spam_rules *rules, enum spam_rule_type type, char *rest,
		const char *file, unsigned int line)
{
	char *name = spam_next_word(&rest), *def;
	struct spam_rule *rule;
	const char *after;

	if (name == NULL || !spam_valid_name(name, strlen(name))) {
		spam_rules_warn(rules, file, line, "bad rule name");
		return;
	}
	def = spam_trim(rest);
	if (*def == '\0') {
		spam_rules_warn(rules, file, line, "rule without a test");
		return;
	}
	rule = spam_rule_get(rules, name);
	spam_rule_clear_test(rule);
	if (type == SPAM_RULE_META) {
		rule->type = SPAM_RULE_META;
		rule->meta_src = xstrdup(def);
		return;
	}
	if (strncmp(def, "eval:", 5) == 0) {
		spam_parse_eval(rule, def + 5);
		rule->eval_area = type;
		return;
	}
	if (type == SPAM_RULE_HEADER) {
		char *hname, *op, *mod;

		if (strncmp(def, "exists:", 7) == 0) {
			rule->type = SPAM_RULE_HEADER;
			rule->exists = true;
			rule->header = xstrdup(spam_trim(def + 7));
			return;
		}
		if (strncmp(def, "rbl", 3) == 0 && strchr(def, ':') != NULL) {
			rule->type = SPAM_RULE_EVAL; /* unsupported */
			rule->eval_str = xstrdup("rbl");
			return;
		}
		hname = spam_next_word(&def);
		op = spam_next_word(&def);
		if (hname == NULL || op == NULL ||
		    (strcmp(op, "=~") != 0 && strcmp(op, "!~") != 0)) {
			spam_rules_warn(rules, file, line, "bad header rule");
			return;
		}
		mod = strchr(hname, ':');
		if (mod != NULL) {
			char *m;

			*mod++ = '\0';
			while ((m = strsep(&mod, ":")) != NULL) {
				if (strcmp(m, "raw") == 0)
					rule->hraw = true;
				else if (strcmp(m, "name") == 0)
					rule->hmod = SPAM_HDR_NAME;
				else if (strcmp(m, "addr") == 0)
					rule->hmod = SPAM_HDR_ADDR;
				else {
					spam_rules_warn(
					    rules, file, line,
					    "unknown header modifier");
					rule->hraw = false;
					rule->hmod = SPAM_HDR_VALUE;
					return;
				}
			}
		}
		rule->header = xstrdup(hname);
		rule->negate = op[0] == '!';
		def = spam_trim(def);
		after =
		    spam_parse_regex(def, &rule->pattern, &rule->pcre_flags);
		if (after == NULL) {
			spam_rules_warn(rules, file, line, "bad regex");
			x_free(&rule->header);
			return;
		}
		after = strstr(after, "[if-unset:");
		if (after != NULL) {
			char *end;

			rule->if_unset = xstrdup(after + 10);
			end = strrchr(rule->if_unset, ']');
			if (end != NULL)
				*end = '\0';
			end = spam_trim(rule->if_unset);
			memmove(rule->if_unset, end, strlen(end) + 1);
		}
		rule->type = SPAM_RULE_HEADER;
		return;
	}
	after = spam_parse_regex(def, &rule->pattern, &rule->pcre_flags);
	if (after == NULL) {
		spam_rules_warn(rules, file, line, "bad regex");
		return;
	}
	rule->type = type;
}

static void
spam_parse_score(struct spam_rules *rules, char *rest, const char *file,
		 unsigned int line)
{
	char *name = spam_next_word(&rest), *w, *end;
	double v[4];
	int n = 0, i;
	struct spam_rule *rule;

	if (name == NULL || !spam_valid_name(name, strlen(name))) {
		spam_rules_warn(rules, file, line, "bad score line");
		return;
	}
	while (n < 4 && (w = spam_next_word(&rest)) != NULL) {
		if (*w == '(') /* relative scores: not supported */
			return;
		v[n] = strtod(w, &end);
		if (end == w || *end != '\0' || v[n] != v[n] || v[n] > 1e6 ||
		    v[n] < -1e6) {
			spam_rules_warn(rules, file, line, "bad score");
			return;
		}
		n++;
	}
	if (n == 0) {
		spam_rules_warn(rules, file, line, "score without value");
		return;
	}
	rule = spam_rule_get(rules, name);
	for (i = 0; i < 4; i++)
		rule->scores[i] = n == 4 ? v[i] : v[0];
	rule->has_score = true;
}

static void
spam_parse_tflags(struct spam_rules *rules, char *rest, const char *file,
		  unsigned int line)
{
	char *name = spam_next_word(&rest), *w;
	struct spam_rule *rule;

	if (name == NULL || !spam_valid_name(name, strlen(name))) {
		spam_rules_warn(rules, file, line, "bad tflags line");
		return;
	}
	rule = spam_rule_get(rules, name);
	rule->tflags = 0;
	while ((w = spam_next_word(&rest)) != NULL) {
		if (strcmp(w, "multiple") == 0)
			rule->tflags |= SPAM_TF_MULTIPLE;
		else if (strcmp(w, "nice") == 0)
			rule->tflags |= SPAM_TF_NICE;
		else if (strcmp(w, "net") == 0)
			rule->tflags |= SPAM_TF_NET;
		else if (strcmp(w, "learn") == 0)
			rule->tflags |= SPAM_TF_LEARN;
		else if (strcmp(w, "noautolearn") == 0)
			rule->tflags |= SPAM_TF_NOAUTOLEARN;
		else if (strncmp(w, "maxhits=", 8) == 0) {
			long m = strtol(w + 8, NULL, 10);

			if (m > 0 && m <= SPAM_MAX_HITS_DEFAULT)
				rule->maxhits = (unsigned int)m;
		}
	}
}

static void
spam_parse_describe(struct spam_rules *rules, char *rest)
{
	char *name = spam_next_word(&rest);
	struct spam_rule *rule;

	if (name == NULL || !spam_valid_name(name, strlen(name)))
		return;
	rule = spam_rule_get(rules, name);
	free(rule->describe);
	rule->describe = xstrdup(spam_trim(rest));
}

/* SpamAssassin features Moat's engine has, for `if can(...)`: rules with
 * tflags multiple never loop on empty matches (bug 6558); regexes have
 * Perl 5.10's syntax (PCRE2); check_body_length() exists. Every other
 * can() is false. */
static const char *const spam_supported_features[] = {
    "Mail::SpamAssassin::Conf::feature_bug6558_free",
    "Mail::SpamAssassin::Conf::feature_welcomelist_blocklist",
    "Mail::SpamAssassin::Conf::perl_min_version_5010000",
    "Mail::SpamAssassin::Plugin::BodyEval::has_check_body_length",
};

/* Evaluates the condition of an `if` line: version comparisons, plugin()
 * and can() (spam_supported_features). */
static bool
spam_if_condition(const char *cond)
{
	char buf[256], *p, *q;
	bool neg = false, result;

	snprintf(buf, sizeof(buf), "%s", cond);
	p = spam_trim(buf);
	while (*p == '(' || *p == '!' || isspace((unsigned char)*p)) {
		if (*p == '!')
			neg = !neg;
		p++;
	}
	q = p + strlen(p);
	while (q > p && (q[-1] == ')' || isspace((unsigned char)q[-1])))
		*--q = '\0';
	if (strncmp(p, "version", 7) == 0) {
		const char *op = p + 7;
		double v;

		while (isspace((unsigned char)*op))
			op++;
		q = (char *)op;
		while (*q == '<' || *q == '>' || *q == '=' || *q == '!')
			q++;
		v = strtod(q, NULL);
		if (strncmp(op, ">=", 2) == 0)
			result = SPAM_EMULATED_VERSION >= v;
		else if (strncmp(op, "<=", 2) == 0)
			result = SPAM_EMULATED_VERSION <= v;
		else if (strncmp(op, "==", 2) == 0)
			result = SPAM_EMULATED_VERSION == v;
		else if (strncmp(op, "!=", 2) == 0)
			result = SPAM_EMULATED_VERSION != v;
		else if (*op == '>')
			result = SPAM_EMULATED_VERSION > v;
		else if (*op == '<')
			result = SPAM_EMULATED_VERSION < v;
		else
			result = false;
	} else if (strncmp(p, "plugin", 6) == 0) {
		size_t i;

		p += 6;
		while (*p == '(' || isspace((unsigned char)*p))
			p++;
		result = false;
		for (i = 0; i < sizeof(spam_supported_plugins) /
				    sizeof(spam_supported_plugins[0]);
		     i++)
			if (strcmp(p, spam_supported_plugins[i]) == 0)
				result = true;
	} else if (strncmp(p, "can", 3) == 0) {
		size_t i;

		p += 3;
		while (*p == '(' || isspace((unsigned char)*p))
			p++;
		result = false;
		for (i = 0; i < sizeof(spam_supported_features) /
				    sizeof(spam_supported_features[0]);
		     i++)
			if (strcmp(p, spam_supported_features[i]) == 0)
				result = true;
	} else {
		result = false;
	}
	return neg ? !result : result;
}

static bool
spam_plugin_supported(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(spam_supported_plugins) /
			    sizeof(spam_supported_plugins[0]);
	     i++)
		if (strcmp(name, spam_supported_plugins[i]) == 0)
			return true;
	return false;
}

struct spam_parse_state {
	/* one entry per open if/ifplugin: is this branch active? */
	bool active[SPAM_MAX_IF_DEPTH];
	bool parent[SPAM_MAX_IF_DEPTH];
	int depth;
	int overflow; /* levels past SPAM_MAX_IF_DEPTH, all inactive */
	/* the if/ifplugin line of each level, for the load log */
	char label[SPAM_MAX_IF_DEPTH][96];
};

/* Directives that define a test (counted when skipped). */
static bool
spam_defines_test(const char *cmd)
{
	static const char *const cmds[] = {
	    "header",	"body",	     "rawbody",	   "full",
	    "uri",	"meta",	     "mimeheader", "askdns",
	    "urirhsbl", "urirhssub", "uridnsbl",   "uridnssub"};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmd, cmds[i]) == 0)
			return true;
	return false;
}

/* Counts a test definition that is not loaded, by why (the outermost
 * false if/ifplugin, or an unimplemented directive). */
static void
spam_count_skipped(struct spam_rules *rules, const char *why)
{
	size_t i;

	for (i = 0; i < rules->skipped_count; i++) {
		if (strcmp(rules->skipped[i].label, why) == 0) {
			rules->skipped[i].count++;
			return;
		}
	}
	if (rules->skipped_count ==
	    sizeof(rules->skipped) / sizeof(rules->skipped[0]))
		i = rules->skipped_count - 1; /* the last one collects */
	else
		i = rules->skipped_count++;
	snprintf(rules->skipped[i].label, sizeof(rules->skipped[i].label), "%s",
		 why);
	rules->skipped[i].count++;
}

/* The reason a line is inactive: the outermost false branch. */
static const char *
spam_state_why(const struct spam_parse_state *st)
{
	for (int i = 0; i < st->depth; i++)
		if (!st->active[i])
			return st->label[i];
	return "if/ifplugin nested too deep";
}

static bool
spam_state_active(const struct spam_parse_state *st)
{
	return st->overflow == 0 &&
	       (st->depth == 0 || st->active[st->depth - 1]);
}

/* "rewrite_header Subject TEXT": the tag put in front of the Subject of
 * mail tagged as spam (SpamAssassin's; _SCORE_ and _REQD_ are filled in
 * by the spam filter). Other fields (From, To) are not rewritten. */
static void
spam_parse_rewrite_header(struct spam_rules *rules, const char *p,
			  const char *file, unsigned int lineno)
{
	size_t n = strcspn(p, " \t");
	const char *text = p + n + strspn(p + n, " \t");

	if (n != 7 || strncasecmp(p, "subject", 7) != 0) {
		spam_rules_warn(rules, file, lineno,
				"rewrite_header: only Subject is rewritten");
		return;
	}
	if (*text == '\0' || strlen(text) > 128 ||
	    strpbrk(text, "\r\n") != NULL) {
		spam_rules_warn(rules, file, lineno,
				"rewrite_header Subject: bad text");
		return;
	}
	free(rules->subject_tag);
	rules->subject_tag = xstrdup(text);
}

static void
spam_parse_line(struct spam_rules *rules, struct spam_parse_state *st,
		char *line, const char *file, unsigned int lineno)
{
	char *p, *q, *cmd;
	const char *why_wlbl = NULL;

	/* Comments: '#' not preceded by a backslash; then "\#" is '#'. */
	for (p = line; *p != '\0'; p++) {
		if (*p == '#' && (p == line || p[-1] != '\\')) {
			*p = '\0';
			break;
		}
	}
	for (p = q = line; *p != '\0'; p++) {
		if (*p == '\\' && p[1] == '#')
			continue;
		*q++ = *p;
	}
	*q = '\0';
	p = line;
	cmd = spam_next_word(&p);
	if (cmd == NULL)
		return;
	for (q = cmd; *q != '\0'; q++)
		*q = (char)tolower((unsigned char)*q);

	if (strcmp(cmd, "if") == 0 || strcmp(cmd, "ifplugin") == 0) {
		bool cond, outer = spam_state_active(st);

		if (st->depth >= SPAM_MAX_IF_DEPTH || st->overflow > 0) {
			st->overflow++;
			return;
		}
		cond = cmd[2] == '\0' ? spam_if_condition(p)
				      : spam_plugin_supported(spam_trim(p));
		st->parent[st->depth] = outer;
		st->active[st->depth] = outer && cond;
		snprintf(st->label[st->depth], sizeof(st->label[st->depth]),
			 "%s %s", cmd, spam_trim(p));
		st->depth++;
		return;
	}
	if (strcmp(cmd, "else") == 0) {
		if (st->overflow > 0)
			return;
		if (st->depth == 0) {
			spam_rules_warn(rules, file, lineno, "else without if");
			return;
		}
		st->active[st->depth - 1] =
		    st->parent[st->depth - 1] && !st->active[st->depth - 1];
		if (strncmp(st->label[st->depth - 1], "else of ", 8) != 0) {
			char *l = st->label[st->depth - 1];

			/* "else of " + the label, cut to fit. */
			memmove(l + 8, l, sizeof(st->label[0]) - 9);
			memcpy(l, "else of ", 8);
			l[sizeof(st->label[0]) - 1] = '\0';
		}
		return;
	}
	if (strcmp(cmd, "endif") == 0) {
		if (st->overflow > 0)
			st->overflow--;
		else if (st->depth == 0)
			spam_rules_warn(rules, file, lineno,
					"endif without if");
		else
			st->depth--;
		return;
	}
	if (!spam_state_active(st)) {
		if (spam_defines_test(cmd))
			spam_count_skipped(rules, spam_state_why(st));
		return;
	}
	if (strcmp(cmd, "header") == 0)
		spam_parse_test(rules, SPAM_RULE_HEADER, p, file, lineno);
	else if (strcmp(cmd, "body") == 0)
		spam_parse_test(rules, SPAM_RULE_BODY, p, file, lineno);
	else if (strcmp(cmd, "rawbody") == 0)
		spam_parse_test(rules, SPAM_RULE_RAWBODY, p, file, lineno);
	else if (strcmp(cmd, "full") == 0)
		spam_parse_test(rules, SPAM_RULE_FULL, p, file, lineno);
	else if (strcmp(cmd, "uri") == 0)
		spam_parse_test(rules, SPAM_RULE_URI, p, file, lineno);
	else if (strcmp(cmd, "meta") == 0)
		spam_parse_test(rules, SPAM_RULE_META, p, file, lineno);
	else if (strcmp(cmd, "score") == 0)
		spam_parse_score(rules, p, file, lineno);
	else if (strcmp(cmd, "describe") == 0)
		spam_parse_describe(rules, p);
	else if (strcmp(cmd, "tflags") == 0)
		spam_parse_tflags(rules, p, file, lineno);
	else if (spam_wlbl_directive(rules, cmd, p, &why_wlbl)) {
		if (why_wlbl != NULL)
			spam_rules_warn(rules, file, lineno, why_wlbl);
	} else if (strcmp(cmd, "rewrite_header") == 0) {
		spam_parse_rewrite_header(rules, p, file, lineno);
	} else if (strcmp(cmd, "mimeheader") == 0 ||
		   strcmp(cmd, "askdns") == 0 || strcmp(cmd, "urirhsbl") == 0 ||
		   strcmp(cmd, "urirhssub") == 0 ||
		   strcmp(cmd, "uridnsbl") == 0 ||
		   strcmp(cmd, "uridnssub") == 0) {
		char why[64];

		rules->stats.unsupported++;
		snprintf(why, sizeof(why), "%s (not implemented)", cmd);
		spam_count_skipped(rules, why);
	}
	/* Everything else (lang, priority, report, required_score, ...) has
	 * no meaning for Moat's scoring and is ignored. */
}

int
spam_rules_parse_text(struct spam_rules *rules, const char *text, size_t len,
		      const char *filename)
{
	struct spam_parse_state st;
	struct buf line;
	size_t i = 0;
	unsigned int lineno = 0;

	if (rules->compiled)
		return 0;
	memset(&st, 0, sizeof(st));
	buf_init(&line);
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl != NULL ? (size_t)(nl - (text + i)) : len - i;

		lineno++;
		buf_reset(&line);
		if (n > SPAM_MAX_LINE) {
			spam_rules_warn(rules, filename, lineno,
					"line too long");
		} else if (memchr(text + i, '\0', n) != NULL) {
			spam_rules_warn(rules, filename, lineno, "NUL in line");
		} else {
			buf_append(&line, text + i, n);
			if (line.len > 0 && line.data[line.len - 1] == '\r')
				buf_truncate(&line, line.len - 1);
			spam_parse_line(rules, &st, line.data, filename,
					lineno);
		}
		i += n + (nl != NULL ? 1 : 0);
	}
	if (st.depth > 0 || st.overflow > 0)
		spam_rules_warn(rules, filename, lineno, "if without endif");
	buf_free(&line);
	return 0;
}

void
spam_rules_load_default(struct spam_rules *rules)
{
	spam_rules_parse_text(rules, (const char *)spam_default_rules,
			      spam_default_rules_len, "moat_default.cf");
}

void
spam_rules_load_default_scores(struct spam_rules *rules, const char *prefix)
{
	const char *text = (const char *)spam_default_rules;
	size_t len = spam_default_rules_len, i = 0, plen = strlen(prefix);
	struct buf scores;

	buf_init(&scores);
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl != NULL ? (size_t)(nl - (text + i)) : len - i;

		if (n > 6 + plen && strncmp(text + i, "score ", 6) == 0) {
			const char *name = text + i + 6;

			while (name < text + i + n && *name == ' ')
				name++;
			if ((size_t)(text + i + n - name) > plen &&
			    strncmp(name, prefix, plen) == 0) {
				buf_append(&scores, text + i, n);
				buf_append_char(&scores, '\n');
			}
		}
		i += n + (nl != NULL ? 1 : 0);
	}
	spam_rules_parse_text(rules, buf_cstr(&scores), scores.len,
			      "moat_default.cf");
	buf_free(&scores);
}

static int
spam_load_file(struct spam_rules *rules, const char *path, char **error_r)
{
	struct buf text;

	buf_init(&text);
	if (fileio_read_all(path, 0, SPAM_MAX_FILE, &text) < 0) {
		*error_r = errno == EFBIG
			       ? xasprintf("%s: file too large", path)
			       : xasprintf("%s: %s", path, strerror(errno));
		buf_free(&text);
		return -1;
	}
	spam_rules_parse_text(rules, buf_cstr(&text), text.len, path);
	buf_free(&text);
	return 0;
}

static int
spam_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
spam_rules_load_path(struct spam_rules *rules, const char *path, char **error_r)
{
	struct stat st;
	DIR *dir;
	struct dirent *de;
	char **names = NULL;
	size_t count = 0, i;
	int ret = 0;

	if (stat(path, &st) < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return spam_load_file(rules, path, error_r);
	dir = opendir(path);
	if (dir == NULL) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l < 4 || strcmp(de->d_name + l - 3, ".cf") != 0 ||
		    de->d_name[0] == '.')
			continue;
		names = xreallocarray(names, count + 1, sizeof(*names));
		names[count++] = xasprintf("%s/%s", path, de->d_name);
	}
	closedir(dir);
	if (count > 0)
		qsort(names, count, sizeof(*names), spam_cmp_str);
	for (i = 0; i < count; i++) {
		if (ret == 0 && spam_load_file(rules, names[i], error_r) < 0)
			ret = -1;
		free(names[i]);
	}
	free(names);
	return ret;
}

const char *
spam_rules_describe(const struct spam_rules *rules, const char *name)
{
	int idx = spam_rules_find(rules, name, strlen(name));

	return idx < 0 ? NULL : rules->rules[idx].describe;
}

const char *
spam_rules_subject_tag(const struct spam_rules *rules)
{
	return rules->subject_tag;
}

void
spam_rules_get_stats(const struct spam_rules *rules,
		     struct spam_rules_stats *stats_r)
{
	*stats_r = rules->stats;
}
