/*
 * moatctl_spam: `moatctl spam ...`, the administrator's side of spam
 * scoring. `train --spam|--ham PATH...` feeds the Bayes database from
 * message files, directories of them (one level) and mbox files;
 * `check PATH...` scores messages with the configured rule set (and Bayes
 * when there is a database) and prints one line per message; `stats`
 * prints what Bayes has learned (and how much of it users taught from
 * their Junk folders, gateway/spam_learn.c) and what the rule set holds;
 * `expire [--max N]` bounds the token table now, as the spamlearn service
 * does hourly (gateway/spam_expire.h). The
 * Bayes database is --db PATH, else moat.conf's filter.spam.bayes_db; rule
 * files are the built-in set plus filter.spam.rules_paths and --rules.
 *
 * Messages are parsed with the same MIME code and message view as the
 * filter, so what is trained is exactly what is later classified.
 */
#include "gateway/moatctl_spam.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filters/mime.h"
#include "filters/psl.h"
#include "filters/spam_view.h"
#include "gateway/spam_expire.h"
#include "gateway/spam_learn.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/fileio.h"
#include "lib/xalloc.h"
#include "mailstore/train_spool.h"
#include "rules/bayes.h"
#include "rules/spam_rules.h"

#define SPAM_CTL_MAX_FILE (256u * 1024 * 1024)
#define SPAM_CTL_SCAN_MAX (1024u * 1024)
#define SPAM_CTL_BATCH	  500

typedef int spam_ctl_msg_fn(void *context, const char *name, const char *data,
			    size_t len);

/* A value of moat.conf's "filter.KEY" lines, or NULL. */
static const char *
spam_ctl_setting(const struct moat_settings *settings, const char *key)
{
	size_t i;

	for (i = 0; i < settings->filter_settings.count; i++)
		if (strcmp(settings->filter_settings.items[i].key, key) == 0)
			return settings->filter_settings.items[i].value;
	return NULL;
}

static int
spam_ctl_read(const char *path, struct buf *out)
{
	return fileio_read_all(path, 0, SPAM_CTL_MAX_FILE, out);
}

/* Splits an mbox ("From " lines after a blank line or at the start) and
 * undoes ">From " quoting. */
static int
spam_ctl_mbox(const char *name, const char *data, size_t len,
	      spam_ctl_msg_fn *fn, void *context)
{
	struct buf msg;
	size_t i = 0;
	int ret = 0;
	bool in_msg = false;

	buf_init(&msg);
	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t n = nl != NULL ? (size_t)(nl - (data + i)) + 1 : len - i;
		const char *line = data + i;

		if (n >= 5 && memcmp(line, "From ", 5) == 0 &&
		    (i == 0 || (i >= 2 && data[i - 2] == '\n'))) {
			if (in_msg && fn(context, name, msg.data, msg.len) < 0)
				ret = -1;
			buf_reset(&msg);
			in_msg = true;
		} else if (in_msg) {
			size_t q = 0;

			while (q < n && line[q] == '>')
				q++;
			if (q > 0 && n - q >= 5 &&
			    memcmp(line + q, "From ", 5) == 0)
				buf_append(&msg, line + 1, n - 1);
			else
				buf_append(&msg, line, n);
		}
		i += n;
	}
	if (in_msg && fn(context, name, buf_cstr(&msg), msg.len) < 0)
		ret = -1;
	buf_free(&msg);
	return ret;
}

static int
spam_ctl_file(const char *path, spam_ctl_msg_fn *fn, void *context)
{
	struct buf data;
	int ret;

	buf_init(&data);
	if (spam_ctl_read(path, &data) < 0) {
		fprintf(stderr, "moatctl: %s: %s\n", path, strerror(errno));
		buf_free(&data);
		return -1;
	}
	if (data.len >= 5 && memcmp(data.data, "From ", 5) == 0)
		ret = spam_ctl_mbox(path, data.data, data.len, fn, context);
	else
		ret = fn(context, path, buf_cstr(&data), data.len);
	buf_free(&data);
	return ret;
}

static int
spam_ctl_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
spam_ctl_path(const char *path, spam_ctl_msg_fn *fn, void *context)
{
	struct stat st;
	struct dirent *de;
	char **names = NULL;
	size_t count = 0, i;
	int ret = 0;
	DIR *dir;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "moatctl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return spam_ctl_file(path, fn, context);
	dir = opendir(path);
	if (dir == NULL) {
		fprintf(stderr, "moatctl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		names = xreallocarray(names, count + 1, sizeof(*names));
		names[count++] = xasprintf("%s/%s", path, de->d_name);
	}
	closedir(dir);
	if (count > 1)
		qsort(names, count, sizeof(*names), spam_ctl_cmp);
	for (i = 0; i < count; i++) {
		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode) &&
		    spam_ctl_file(names[i], fn, context) < 0)
			ret = -1;
		free(names[i]);
	}
	free(names);
	return ret;
}

struct spam_ctl_train {
	struct bayes_db *db;
	struct str_list trusted; /* filter.spam.trusted_relays */
	bool spam;
	unsigned long learned, skipped, pending;
};

static int
spam_ctl_train_one(void *context, const char *name, const char *data,
		   size_t len)
{
	struct spam_ctl_train *t = context;
	struct mime_message *mime = mime_parse_buffer(data, len, NULL);
	struct spam_view view;
	struct bayes_tokens tokens;
	char *error = NULL;
	int ret;

	spam_view_init(&view, mime, data, len, SPAM_CTL_SCAN_MAX);
	spam_view_set_trusted(&view, t->trusted.items, t->trusted.count);
	bayes_tokens_init(&tokens);
	bayes_tokenize(&view.msg, &tokens);
	ret =
	    bayes_learn(t->db, &tokens, spam_view_key(&view), t->spam, &error);
	bayes_tokens_free(&tokens);
	spam_view_free(&view);
	mime_message_free(&mime);
	if (ret < 0) {
		fprintf(stderr, "moatctl: %s: %s\n", name, error);
		free(error);
		return -1;
	}
	if (ret == 1)
		t->learned++;
	else
		t->skipped++;
	if (++t->pending >= SPAM_CTL_BATCH) {
		t->pending = 0;
		if (bayes_commit(t->db, &error) < 0 ||
		    bayes_begin(t->db, &error) < 0) {
			fprintf(stderr, "moatctl: %s\n", error);
			free(error);
			return -1;
		}
	}
	return 0;
}

static int
spam_ctl_open_db(const struct moat_settings *settings, const char *db_path,
		 struct bayes_db **db_r, bool required)
{
	char *error = NULL;

	if (db_path == NULL)
		db_path = spam_ctl_setting(settings, "spam.bayes_db");
	if (db_path == NULL || db_path[0] == '\0') {
		if (!required)
			return 0;
		fprintf(stderr, "moatctl: no Bayes database: set "
				"filter.spam.bayes_db in moat.conf or give "
				"--db PATH\n");
		return -1;
	}
	if (strchr(db_path, '/') != NULL) {
		char *dir = xstrdup(db_path), *slash = strrchr(dir, '/');

		if (slash != dir) {
			*slash = '\0';
			(void)mkdir(dir, 0750);
		}
		free(dir);
	}
	if (bayes_open(db_path, db_r, &error) < 0) {
		fprintf(stderr, "moatctl: %s\n", error);
		free(error);
		return -1;
	}
	return 0;
}

/* filter.spam.trusted_relays from moat.conf, as the spam filter reads it,
 * so that sender keys agree with those learned in moatd. */
static void
spam_ctl_trusted(const struct moat_settings *settings, struct str_list *out)
{
	const char *v = spam_ctl_setting(settings, "spam.trusted_relays");

	if (v != NULL)
		config_split_list(out, v);
}

/* filter.spam.link_trackers from moat.conf, or the spam filter's
 * default. */
static void
spam_ctl_link_trackers(const struct moat_settings *settings,
		       struct str_list *out)
{
	const char *v = spam_ctl_setting(settings, "spam.link_trackers");

	config_split_list(out, v != NULL ? v : SPAM_LINK_TRACKERS_DEFAULT);
}

static int
spam_ctl_train(const struct moat_settings *settings, const char *db_path,
	       bool spam, int argc, char **argv)
{
	struct spam_ctl_train t;
	char *error = NULL;
	int i, ret = 0;

	memset(&t, 0, sizeof(t));
	t.spam = spam;
	if (spam_ctl_open_db(settings, db_path, &t.db, true) < 0)
		return 1;
	spam_ctl_trusted(settings, &t.trusted);
	if (bayes_begin(t.db, &error) < 0) {
		fprintf(stderr, "moatctl: %s\n", error);
		free(error);
		bayes_close(&t.db);
		return 1;
	}
	for (i = 0; i < argc; i++)
		if (spam_ctl_path(argv[i], spam_ctl_train_one, &t) < 0)
			ret = 1;
	if (bayes_commit(t.db, &error) < 0) {
		fprintf(stderr, "moatctl: %s\n", error);
		free(error);
		ret = 1;
	}
	printf("learned %lu %s message%s (%lu already known)\n", t.learned,
	       spam ? "spam" : "ham", t.learned == 1 ? "" : "s", t.skipped);
	bayes_close(&t.db);
	str_list_free(&t.trusted);
	return ret;
}

struct spam_ctl_check {
	struct spam_rules *rules;
	struct spam_scratch *scratch;
	struct bayes_db *db;
	struct bayes_params params;
	struct psl *psl;
	struct str_list trusted;  /* filter.spam.trusted_relays */
	struct str_list trackers; /* filter.spam.link_trackers */
	double threshold;
	unsigned long total, spam;
};

static int
spam_ctl_check_one(void *context, const char *name, const char *data,
		   size_t len)
{
	struct spam_ctl_check *c = context;
	struct mime_message *mime = mime_parse_buffer(data, len, NULL);
	struct spam_view view;
	struct spam_result result;
	const char *error = NULL;
	size_t i;

	spam_view_init(&view, mime, data, len, SPAM_CTL_SCAN_MAX);
	spam_view_set_psl(&view, c->psl);
	spam_view_set_trusted(&view, c->trusted.items, c->trusted.count);
	spam_view_set_link_trackers(&view, c->trackers.items,
				    c->trackers.count);
	if (c->db != NULL) {
		struct bayes_tokens tokens;
		char *berr = NULL;
		double prob;

		bayes_tokens_init(&tokens);
		bayes_tokenize(&view.msg, &tokens);
		if (bayes_classify(c->db, &tokens, &c->params, &prob, &berr) ==
		    1)
			view.msg.bayes = prob;
		free(berr);
		berr = NULL;
		bayes_tokens_free(&tokens);
		(void)spam_view_sender_history(&view, c->db, &c->params, &berr);
		free(berr);
	}
	if (spam_rules_eval(c->rules, c->scratch, &view.msg, &result, &error) <
	    0) {
		fprintf(stderr, "moatctl: %s\n", error);
		spam_view_free(&view);
		mime_message_free(&mime);
		return -1;
	}
	c->total++;
	if (result.score >= c->threshold)
		c->spam++;
	printf("%s %.2f %s", result.score >= c->threshold ? "spam" : "ham",
	       result.score, name);
	for (i = 0; i < result.count; i++)
		printf("%s%s(%.2f)", i == 0 ? " " : ",", result.hits[i].name,
		       result.hits[i].score);
	if (view.msg.bayes >= 0)
		printf(" bayes=%.4f", view.msg.bayes);
	printf("\n");
	spam_result_free(&result);
	spam_view_free(&view);
	mime_message_free(&mime);
	return 0;
}

static struct spam_rules *
spam_ctl_rules(const struct moat_settings *settings, const char *extra,
	       bool with_bayes)
{
	struct spam_rules *rules = spam_rules_new();
	const char *paths = spam_ctl_setting(settings, "spam.rules_paths");
	const char *def = spam_ctl_setting(settings, "spam.default_rules");
	const char *cache = spam_ctl_setting(settings, "spam.cache_dir");
	const char *bscores = spam_ctl_setting(settings, "spam.bayes_scores");
	char *error = NULL, *copy, *p, *item;
	bool loaded = false;

	if (def == NULL || strcmp(def, "no") != 0)
		spam_rules_load_default(rules);
	spam_rules_set_score_set(rules, with_bayes ? 3 : 1);
	spam_rules_set_cache_dir(rules, cache);
	for (int pass = 0; pass < 2; pass++) {
		const char *list = pass == 0 ? paths : extra;

		if (list == NULL)
			continue;
		copy = xstrdup(list);
		p = copy;
		while ((item = strsep(&p, ", ")) != NULL) {
			if (*item == '\0')
				continue;
			if (spam_rules_load_path(rules, item, &error) < 0) {
				fprintf(stderr, "moatctl: %s\n", error);
				free(error);
				error = NULL;
			}
			loaded = true;
		}
		free(copy);
	}
	/* filter.spam.bayes_scores, as the spam filter does. */
	if (loaded && (def == NULL || strcmp(def, "no") != 0) &&
	    (bscores == NULL || strcmp(bscores, "rules") != 0))
		spam_rules_load_default_scores(rules, "BAYES_");
	if (spam_rules_compile(rules, &error) < 0) {
		fprintf(stderr, "moatctl: %s\n", error);
		free(error);
		spam_rules_free(&rules);
		return NULL;
	}
	return rules;
}

static int
spam_ctl_check(const struct moat_settings *settings, const char *db_path,
	       const char *rules_path, int argc, char **argv)
{
	struct spam_ctl_check c;
	const char *tag = spam_ctl_setting(settings, "spam.tag_score");
	const char *min = spam_ctl_setting(settings, "spam.bayes_min_learns");
	const char *combining =
	    spam_ctl_setting(settings, "spam.bayes_combining");
	const char *psl_path;
	char *psl_error = NULL;
	int i, ret = 0;

	memset(&c, 0, sizeof(c));
	c.threshold = tag != NULL ? strtod(tag, NULL) : 5.0;
	bayes_params_default(&c.params);
	if (min != NULL)
		c.params.min_spam = c.params.min_ham =
		    (unsigned int)strtoul(min, NULL, 10);
	if (combining != NULL &&
	    bayes_params_set_combining(&c.params, combining) < 0) {
		fprintf(stderr, "moatctl: filter.spam.bayes_combining: must be "
				"logodds or chi2\n");
		return 1;
	}
	if (spam_ctl_open_db(settings, db_path, &c.db, false) < 0)
		return 1;
	c.rules = spam_ctl_rules(settings, rules_path, c.db != NULL);
	if (c.rules == NULL) {
		bayes_close(&c.db);
		return 1;
	}
	c.scratch = spam_scratch_new(c.rules);
	spam_ctl_trusted(settings, &c.trusted);
	spam_ctl_link_trackers(settings, &c.trackers);
	psl_path = spam_ctl_setting(settings, "spam.psl");
	if (psl_path == NULL)
		psl_path = PSL_DEFAULT_PATH;
	if (psl_path[0] != '\0' &&
	    (c.psl = psl_load(psl_path, &psl_error)) == NULL) {
		fprintf(stderr,
			"moatctl: %s (FROM_NAME_SPOOF compares domains "
			"and subdomains only)\n",
			psl_error);
		free(psl_error);
	}
	for (i = 0; i < argc; i++)
		if (spam_ctl_path(argv[i], spam_ctl_check_one, &c) < 0)
			ret = 1;
	fprintf(stderr, "%lu messages, %lu at or above %.2f\n", c.total, c.spam,
		c.threshold);
	spam_scratch_free(&c.scratch);
	spam_rules_free(&c.rules);
	bayes_close(&c.db);
	str_list_free(&c.trusted);
	str_list_free(&c.trackers);
	psl_free(&c.psl);
	return ret;
}

/* The users' side (gateway/spam_learn.c): what the spamlearn service
 * applied, and what waits in the spool. */
static int
spam_ctl_user_training(const struct moat_settings *settings)
{
	char *path = spam_learn_stats_path(settings);
	char *dir = spam_learn_spool_dir(settings);
	struct spam_learn_stats st;
	char *error = NULL;
	int ret = 0;

	if (spam_learn_stats_read(path, &st, &error) < 0) {
		fprintf(stderr, "moatctl: %s\n", error);
		free(error);
		ret = 1;
	} else {
		printf("user training (%s): %llu spam, %llu ham learned, "
		       "%llu already known, %llu missing, %llu bad; %zu "
		       "pending\n",
		       spam_learn_enabled(settings) ? "on" : "off", st.spam,
		       st.ham, st.known, st.missing, st.bad,
		       train_spool_pending(dir));
	}
	free(path);
	free(dir);
	return ret;
}

static int
spam_ctl_stats(const struct moat_settings *settings, const char *db_path,
	       const char *rules_path)
{
	struct spam_rules *rules = spam_ctl_rules(settings, rules_path, true);
	struct spam_rules_stats st;
	struct bayes_db *db = NULL;
	unsigned int ns, nh;
	uint64_t tokens;
	char *error = NULL;

	if (rules == NULL)
		return 1;
	spam_rules_get_stats(rules, &st);
	printf("rules: %zu defined, %zu active (header %zu, body %zu, rawbody "
	       "%zu, full %zu, uri %zu, meta %zu, eval %zu), %zu "
	       "unsupported, %zu bad, %zu warnings, hyperscan %s (%zu "
	       "prefiltered)\n",
	       st.rules, st.active, st.header, st.body, st.rawbody, st.full,
	       st.uri, st.meta, st.eval, st.unsupported, st.bad, st.warnings,
	       st.hyperscan ? "yes" : "no", st.prefiltered);
	if (st.warnings > 0)
		printf("%s", spam_rules_warnings(rules));
	{
		static const char *const cache_names[] = {
		    "off", "hit", "miss", "rebuilt", "not stored"};
		const char *prob = spam_rules_problems(rules), *nl;

		printf("compile: %.0f ms, %zu regexes in UTF mode, %zu "
		       "Hyperscan databases, cache %s%s%s%s%s\n",
		       st.compile_ms, st.utf, st.hs_databases,
		       cache_names[st.cache],
		       *spam_rules_cache_file(rules) ? " " : "",
		       spam_rules_cache_file(rules),
		       *spam_rules_cache_note(rules) ? ": " : "",
		       spam_rules_cache_note(rules));
		for (const char *sk = spam_rules_skipped(rules); *sk != '\0';
		     sk = nl + 1) {
			const char *tab = strchr(sk, '\t');

			nl = strchr(sk, '\n');
			if (nl == NULL || tab == NULL || tab > nl)
				break;
			printf("skipped: %.*s test definitions: %.*s\n",
			       (int)(tab - sk), sk, (int)(nl - tab - 1),
			       tab + 1);
		}
		for (; *prob != '\0'; prob = nl + 1) {
			nl = strchr(prob, '\n');
			if (nl == NULL)
				break;
			printf("disabled: %.*s\n", (int)(nl - prob), prob);
		}
	}
	spam_rules_free(&rules);
	if (spam_ctl_open_db(settings, db_path, &db, false) < 0)
		return 1;
	if (db == NULL) {
		printf("bayes: no database configured\n");
		return 0;
	}
	if (bayes_counts(db, &ns, &nh, &error) < 0) {
		fprintf(stderr, "moatctl: %s\n", error);
		free(error);
		bayes_close(&db);
		return 1;
	}
	printf("bayes: %u spam, %u ham learned\n", ns, nh);
	if (bayes_token_total(db, &tokens, &error) == 0) {
		printf("bayes: %llu tokens", (unsigned long long)tokens);
		if (spam_expire_max_tokens(settings) > 0)
			printf(" (kept to %llu, filter.spam.bayes_max_tokens)",
			       (unsigned long long)spam_expire_max_tokens(
				   settings));
		printf("\n");
	} else {
		fprintf(stderr, "moatctl: %s\n", error);
		free(error);
	}
	bayes_close(&db);
	return spam_ctl_user_training(settings);
}

/* `spam expire [--max N]`: the spamlearn service's hourly expiry, now. */
static int
spam_ctl_expire(const struct moat_settings *settings, const char *db_path,
		const char *max_text)
{
	uint64_t max = spam_expire_max_tokens(settings), removed, remain;
	struct bayes_db *db = NULL;
	char *error = NULL, *end;
	int ret = 0;

	if (max_text != NULL) {
		max = (uint64_t)strtoull(max_text, &end, 10);
		if (*max_text < '0' || *max_text > '9' || *end != '\0') {
			fprintf(stderr, "moatctl: --max: a token count\n");
			return 1;
		}
	}
	if (spam_ctl_open_db(settings, db_path, &db, true) < 0)
		return 1;
	if (spam_expire_run(db, max, &removed, &remain, &error) < 0) {
		fprintf(stderr, "moatctl: %s\n", error);
		free(error);
		ret = 1;
	} else {
		printf("expired %llu tokens, %llu remain",
		       (unsigned long long)removed, (unsigned long long)remain);
		if (max > 0)
			printf(" (limit %llu)", (unsigned long long)max);
		printf("\n");
	}
	bayes_close(&db);
	return ret;
}

int
moatctl_spam(const struct moat_settings *settings, int argc, char **argv)
{
	const char *db = NULL, *rules = NULL, *max = NULL;
	int mode = 0, i, k = 0;
	char **rest;

	if (argc < 1)
		return -1;
	mime_init();
	rest = xcalloc((size_t)argc + 1, sizeof(*rest));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--spam") == 0)
			mode = 1;
		else if (strcmp(argv[i], "--ham") == 0)
			mode = 2;
		else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
			db = argv[++i];
		else if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc)
			rules = argv[++i];
		else if (strcmp(argv[i], "--max") == 0 && i + 1 < argc)
			max = argv[++i];
		else
			rest[k++] = argv[i];
	}
	if (strcmp(argv[0], "train") == 0 && mode != 0 && k > 0)
		i = spam_ctl_train(settings, db, mode == 1, k, rest);
	else if (strcmp(argv[0], "check") == 0 && mode == 0 && k > 0)
		i = spam_ctl_check(settings, db, rules, k, rest);
	else if (strcmp(argv[0], "stats") == 0 && mode == 0 && k == 0)
		i = spam_ctl_stats(settings, db, rules);
	else if (strcmp(argv[0], "expire") == 0 && mode == 0 && k == 0)
		i = spam_ctl_expire(settings, db, max);
	else
		i = -1;
	free(rest);
	return i;
}
