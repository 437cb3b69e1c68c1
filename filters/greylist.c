/*
 * greylist: the triplet store and the "greylist" filter (see greylist.h).
 * One row per triplet (first attempt, last attempt, passed). By default
 * (min_score > 0) the filter runs at DATA after the scoring filters so it
 * can greylist only what already looks suspicious; each message is deferred
 * when any of its recipients' triplets is new or early, and every triplet
 * is recorded, so the retry passes for all recipients at once. With
 * min_score 0 it greylists everything, at RCPT, one recipient at a time.
 * Triplets hold addresses lower-cased; nothing from the message is logged
 * beyond the sanitised sender key.
 */
#include "filters/greylist.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "filters/filter.h"
#include "filters/spf.h"
#include "lib/buf.h"
#include "lib/db.h"
#include "lib/log.h"
#include "lib/netblock.h"
#include "lib/xalloc.h"

struct greylist {
	sqlite3 *db;
	pthread_mutex_t lock;
	struct greylist_times times;
	sqlite3_stmt *get, *put, *touch;
	unsigned long checks;
};

static const struct db_migration greylist_migrations[] = {
    {1, "CREATE TABLE triplets (triplet TEXT PRIMARY KEY, first INTEGER NOT "
	"NULL, last INTEGER NOT NULL, passed INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX triplets_last ON triplets (last);"},
};

int
greylist_open(const char *path, const struct greylist_times *times,
	      struct greylist **gl_r, char **error_r)
{
	struct greylist *gl = xcalloc(1, sizeof(*gl));

	if (db_open(path[0] != '\0' ? path : ":memory:", greylist_migrations, 1,
		    &gl->db, error_r) < 0) {
		free(gl);
		return -1;
	}
	(void)sqlite3_exec(gl->db, "PRAGMA synchronous=NORMAL", NULL, NULL,
			   NULL);
	if (sqlite3_prepare_v2(gl->db,
			       "SELECT first, passed FROM triplets WHERE "
			       "triplet = ?",
			       -1, &gl->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(gl->db,
			       "INSERT OR REPLACE INTO triplets (triplet, "
			       "first, last, passed) VALUES (?, ?, ?, ?)",
			       -1, &gl->put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(gl->db,
			       "UPDATE triplets SET last = ? WHERE triplet = ?",
			       -1, &gl->touch, NULL) != SQLITE_OK) {
		*error_r = xasprintf("greylist: %s", sqlite3_errmsg(gl->db));
		greylist_close(&gl);
		return -1;
	}
	pthread_mutex_init(&gl->lock, NULL);
	gl->times = *times;
	*gl_r = gl;
	return 0;
}

void
greylist_close(struct greylist **glp)
{
	struct greylist *gl = *glp;

	if (gl == NULL)
		return;
	sqlite3_finalize(gl->get);
	sqlite3_finalize(gl->put);
	sqlite3_finalize(gl->touch);
	db_close(&gl->db);
	pthread_mutex_destroy(&gl->lock);
	x_free(glp);
}

static int
greylist_put(struct greylist *gl, const char *triplet, time_t first,
	     time_t last, bool passed)
{
	int rc;

	sqlite3_bind_text(gl->put, 1, triplet, -1, SQLITE_STATIC);
	sqlite3_bind_int64(gl->put, 2, (sqlite3_int64)first);
	sqlite3_bind_int64(gl->put, 3, (sqlite3_int64)last);
	sqlite3_bind_int(gl->put, 4, passed ? 1 : 0);
	rc = sqlite3_step(gl->put);
	sqlite3_reset(gl->put);
	sqlite3_clear_bindings(gl->put);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
greylist_check(struct greylist *gl, const char *triplet, time_t now,
	       enum greylist_status *status_r, char **error_r)
{
	bool found = false, passed = false;
	time_t first = 0;
	int rc, ret = 0;

	pthread_mutex_lock(&gl->lock);
	sqlite3_bind_text(gl->get, 1, triplet, -1, SQLITE_STATIC);
	rc = sqlite3_step(gl->get);
	if (rc == SQLITE_ROW) {
		found = true;
		first = (time_t)sqlite3_column_int64(gl->get, 0);
		passed = sqlite3_column_int(gl->get, 1) != 0;
	}
	sqlite3_reset(gl->get);
	sqlite3_clear_bindings(gl->get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ret = -1;
		goto out;
	}
	if (found && passed) {
		*status_r = GREYLIST_KNOWN;
		sqlite3_bind_int64(gl->touch, 1, (sqlite3_int64)now);
		sqlite3_bind_text(gl->touch, 2, triplet, -1, SQLITE_STATIC);
		rc = sqlite3_step(gl->touch);
		sqlite3_reset(gl->touch);
		sqlite3_clear_bindings(gl->touch);
		ret = rc == SQLITE_DONE ? 0 : -1;
	} else if (found && now >= first &&
		   now - first < (time_t)gl->times.delay) {
		*status_r = GREYLIST_EARLY;
		ret = 0;
	} else if (found && now >= first &&
		   now - first <= (time_t)gl->times.retry_window) {
		*status_r = GREYLIST_PASSED;
		ret = greylist_put(gl, triplet, first, now, true);
	} else {
		/* New, expired or a clock that went back: start again. */
		*status_r = GREYLIST_NEW;
		ret = greylist_put(gl, triplet, now, now, false);
	}
out:
	if (ret < 0)
		*error_r = xasprintf("greylist: %s", sqlite3_errmsg(gl->db));
	pthread_mutex_unlock(&gl->lock);
	return ret;
}

int
greylist_expire(struct greylist *gl, time_t now)
{
	sqlite3_stmt *st = NULL;
	int ret = -1;

	pthread_mutex_lock(&gl->lock);
	if (sqlite3_prepare_v2(gl->db,
			       "DELETE FROM triplets WHERE (passed = 0 AND "
			       "first < ?1) OR (passed = 1 AND last < ?2)",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(
		    st, 1, (sqlite3_int64)(now - gl->times.retry_window));
		sqlite3_bind_int64(
		    st, 2, (sqlite3_int64)(now - gl->times.pass_lifetime));
		if (sqlite3_step(st) == SQLITE_DONE)
			ret = sqlite3_changes(gl->db);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&gl->lock);
	return ret;
}

int
greylist_sender_key(const char *client_ip, const char *spf_domain, char *out,
		    size_t outsz)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	size_t i;
	int n;

	if (spf_domain != NULL && spf_domain[0] != '\0') {
		n = snprintf(out, outsz, "spf:%s", spf_domain);
		if (n < 0 || (size_t)n >= outsz)
			return -1;
		for (i = 4; out[i] != '\0'; i++)
			out[i] = (char)tolower((unsigned char)out[i]);
		return 0;
	}
	if (inet_pton(AF_INET, client_ip, a) == 1) {
		n = snprintf(out, outsz, "net:%u.%u.%u.0/24", a[0], a[1], a[2]);
	} else if (inet_pton(AF_INET6, client_ip, a) == 1) {
		memset(a + 8, 0, 8);
		if (inet_ntop(AF_INET6, a, text, sizeof(text)) == NULL)
			return -1;
		n = snprintf(out, outsz, "net:%s/64", text);
	} else {
		return -1;
	}
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

bool
greylist_domain_listed(const char *domain, char *const *list, size_t count)
{
	size_t dl = strlen(domain), i;

	for (i = 0; i < count; i++) {
		size_t il = strlen(list[i]);

		if (il == 0 || il > dl)
			continue;
		if (strcasecmp(domain + dl - il, list[i]) == 0 &&
		    (il == dl || domain[dl - il - 1] == '.'))
			return true;
	}
	return false;
}

/* --- the "greylist" filter ---------------------------------------------- */

struct greylist_settings {
	char *db;
	unsigned int delay;
	unsigned int retry_window;
	unsigned int pass_lifetime;
	char *min_score;
	struct str_list allow_domains;
	struct str_list allow_networks;
};

#define G(field) offsetof(struct greylist_settings, field)

static const struct setting_def greylist_setting_defs[] = {
    {"db", SETTING_PATH, "", G(db), 0, 0, NULL,
     "SQLite file of triplets; default data_dir/spam/greylist.db; empty "
     "= kept in memory by smtpd"},
    {"delay", SETTING_DURATION, "5m", G(delay), 1, 86400, NULL,
     "how long a new triplet is deferred"},
    {"retry_window", SETTING_DURATION, "12h", G(retry_window), 60, 7 * 86400,
     NULL, "how long a deferred triplet waits for its retry"},
    {"pass_lifetime", SETTING_DURATION, "36d", G(pass_lifetime), 3600,
     400 * 86400, NULL, "how long a passed triplet is remembered"},
    {"min_score", SETTING_STRING, "3.0", G(min_score), 0, 0, NULL,
     "greylist only mail whose score so far reaches this at DATA (0 = "
     "all, per recipient at RCPT)"},
    {"allow_domains", SETTING_LIST,
     "google.com gmail.com googlemail.com outlook.com hotmail.com live.com "
     "microsoft.com office365.com yahoo.com yahoo.co.uk aol.com icloud.com "
     "apple.com me.com amazon.com amazonses.com facebookmail.com "
     "linkedin.com twitter.com github.com paypal.com sendgrid.net "
     "mailgun.org mailchimp.com mcsv.net salesforce.com zoho.com gmx.net "
     "gmx.de web.de protonmail.ch proton.me fastmail.com",
     G(allow_domains), 0, 0, NULL,
     "SPF-authenticated sender domains (and subdomains) never greylisted"},
    {"allow_networks", SETTING_LIST, "", G(allow_networks), 0, 0, NULL,
     "client networks (CIDR) never greylisted"},
};

struct greylist_filter_state {
	const struct greylist_settings *settings;
	struct greylist *gl;
	double min_score;
};

static int
greylist_parse_score(const char *s, double *v_r)
{
	char *end;

	*v_r = strtod(s, &end);
	return end == s || *end != '\0' || *v_r != *v_r ? -1 : 0;
}

static int
greylist_filter_check(const void *settings_p, const char **error_r)
{
	const struct greylist_settings *s = settings_p;
	double v;

	if (greylist_parse_score(s->min_score, &v) < 0) {
		*error_r = "filter.greylist.min_score must be a number";
		return -1;
	}
	if (s->retry_window <= s->delay) {
		*error_r = "filter.greylist.retry_window must exceed delay";
		return -1;
	}
	return 0;
}

static int
greylist_filter_init(const void *settings_p, void **state_r, char **error_r)
{
	const struct greylist_settings *s = settings_p;
	struct greylist_filter_state *st = xcalloc(1, sizeof(*st));
	struct greylist_times times = {s->delay, s->retry_window,
				       s->pass_lifetime};

	st->settings = s;
	(void)greylist_parse_score(s->min_score, &st->min_score);
	if (s->db[0] != '\0') {
		char *dir = xstrdup(s->db), *slash = strrchr(dir, '/');

		if (slash != NULL && slash != dir) {
			*slash = '\0';
			(void)mkdir(dir, 0750);
		}
		free(dir);
	}
	if (greylist_open(s->db, &times, &st->gl, error_r) < 0) {
		free(st);
		return -1;
	}
	*state_r = st;
	return 0;
}

static void
greylist_filter_fini(void *state_p)
{
	struct greylist_filter_state *st = state_p;

	if (st == NULL)
		return;
	greylist_close(&st->gl);
	free(st);
}

static void
greylist_lower_append(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++)
		buf_append_char(b, (char)tolower((unsigned char)*s));
}

/* Whether the triplets of this session apply; the sender key into key.
 * 0 = go on, 1 = skip. */
static int
greylist_applies(const struct greylist_filter_state *st,
		 struct filter_context *ctx, char *key, size_t keysz)
{
	const struct filter_envelope *env = filter_envelope(ctx);
	const struct spf_result *spf = filter_data(ctx, "spf");
	const char *spf_domain = NULL;

	if (env->auth_user != NULL || env->submission)
		return 1;
	if (spf != NULL && spf->mailfrom == SPF_RESULT_CODE_PASS &&
	    spf->mailfrom_domain != NULL && env->mail_from[0] != '\0')
		spf_domain = spf->mailfrom_domain;
	if (spf_domain != NULL &&
	    greylist_domain_listed(spf_domain,
				   st->settings->allow_domains.items,
				   st->settings->allow_domains.count))
		return 1;
	if (netblock_match(env->client_ip, st->settings->allow_networks.items,
			   st->settings->allow_networks.count))
		return 1;
	if (greylist_sender_key(env->client_ip, spf_domain, key, keysz) < 0)
		return 1; /* no usable address (a local socket): skip */
	return 0;
}

/* Checks and records the triplet of one recipient; -1 after
 * filter_set_error(). */
static int
greylist_one(struct greylist_filter_state *st, struct filter_context *ctx,
	     const char *key, const char *rcpt, time_t now,
	     enum greylist_status *status_r)
{
	const struct filter_envelope *env = filter_envelope(ctx);
	struct buf triplet;
	char *error = NULL;
	int rc;

	buf_init(&triplet);
	buf_append_str(&triplet, key);
	buf_append_char(&triplet, ' ');
	greylist_lower_append(&triplet, env->mail_from);
	buf_append_char(&triplet, ' ');
	greylist_lower_append(&triplet, rcpt);
	rc = greylist_check(st->gl, buf_cstr(&triplet), now, status_r, &error);
	buf_free(&triplet);
	if (rc < 0) {
		filter_set_error(ctx, "%s", error);
		free(error);
		return -1;
	}
	if (__atomic_add_fetch(&st->gl->checks, 1, __ATOMIC_RELAXED) % 1000 ==
	    0)
		(void)greylist_expire(st->gl, now);
	return 0;
}

/*
 * Two modes. With min_score 0 (greylist everything, as postgrey) it runs
 * at RCPT: each recipient whose triplet is new or early is deferred on its
 * own (451 4.7.1 to that RCPT), the others go on. With a min_score it runs
 * at DATA, after the scoring filters: the message is deferred when any of
 * its recipients' triplets is new or early.
 */
static int
greylist_filter_run(void *state_p, struct filter_context *ctx,
		    enum filter_phase phase)
{
	struct greylist_filter_state *st = state_p;
	const struct filter_envelope *env = filter_envelope(ctx);
	char key[128], safe[128];
	bool defer = false, passed = false;
	bool at_rcpt = st->min_score <= 0;
	time_t now = time(NULL);
	size_t i;

	if (at_rcpt != (phase == FILTER_PHASE_RCPT))
		return 0;
	if (!at_rcpt && filter_score(ctx) < st->min_score)
		return 0;
	if (greylist_applies(st, ctx, key, sizeof(key)) != 0)
		return 0;
	for (i = 0; i < (at_rcpt ? 1 : env->rcpt_count); i++) {
		enum greylist_status status;

		if (greylist_one(st, ctx, key,
				 at_rcpt ? env->rcpt : env->rcpts[i], now,
				 &status) < 0)
			return -1;
		if (status == GREYLIST_NEW || status == GREYLIST_EARLY)
			defer = true;
		else if (status == GREYLIST_PASSED)
			passed = true;
	}
	log_sanitize(key, strlen(key), safe, sizeof(safe));
	if (defer) {
		filter_add_symbol(ctx, "GREYLIST_DEFER", 0, safe);
		filter_set_verdict(ctx, POLICY_TEMPFAIL, 451, "4.7.1",
				   "Greylisted, please try again later");
	} else if (passed) {
		const struct filter_symbol *syms;
		size_t n;
		bool have = false;

		syms = filter_symbols(ctx, &n);
		for (size_t k = 0; k < n && !have; k++)
			have = strcmp(syms[k].name, "GREYLIST_PASSED") == 0;
		if (!have)
			filter_add_symbol(ctx, "GREYLIST_PASSED", 0, safe);
	}
	return 0;
}

static const char *const greylist_filter_after[] = {
    "spf", "dkim", "dmarc", "dnsbl", "spam", NULL,
};

const struct filter filter_greylist = {
    .name = "greylist",
    .phases = FILTER_PHASE_RCPT | FILTER_PHASE_DATA,
    .after = greylist_filter_after,
    .settings = greylist_setting_defs,
    .settings_count =
	sizeof(greylist_setting_defs) / sizeof(greylist_setting_defs[0]),
    .settings_size = sizeof(struct greylist_settings),
    .check = greylist_filter_check,
    .init = greylist_filter_init,
    .run = greylist_filter_run,
    .fini = greylist_filter_fini,
};
