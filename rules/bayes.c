/*
 * bayes: tokeniser, SQLite token store and combining (log-odds or chi-square)
 * (see bayes.h). Tokens are stored as 64-bit FNV-1a hashes (INTEGER PRIMARY
 * KEY), so a lookup is one B-tree probe and no message text is kept on
 * disk. Learning runs in a SAVEPOINT so callers may batch many messages in
 * one outer transaction (bayes_begin/bayes_commit). The database runs with
 * synchronous=NORMAL: losing the last learnings in a power cut is
 * acceptable for statistics, fsync per message is not.
 */
#include "rules/bayes.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/db.h"
#include "lib/xalloc.h"

#define BAYES_MAX_TOKENS 10000
/* Token tables larger than this are not copied into memory (16 bytes a
 * token): lookups then go to SQLite. */
#define BAYES_SNAPSHOT_MAX 8000000

/* A copy of the token table in memory, ascending by hash as SQLite keeps
 * it (signed 64-bit rowids): a lookup is a binary search instead of a
 * B-tree probe through SQLite's virtual machine. */
struct bayes_snapshot {
	sqlite3_int64 *hashes;
	uint32_t *spam, *ham;
	size_t count, cap;
	unsigned int nspam, nham;
	long long version;	   /* PRAGMA data_version when loaded */
	unsigned long long writes; /* db->writes when loaded */
	time_t loaded;		   /* last load attempt */
	bool valid, failed;
};

struct bayes_db {
	sqlite3 *db;
	pthread_mutex_t lock;
	sqlite3_stmt *get, *upsert, *seen_get, *seen_put, *vars_get, *vars_add;
	sqlite3_stmt *scan, *version;
	struct bayes_snapshot snap;
	unsigned long long writes; /* learnings through this connection */
};

static const struct db_migration bayes_migrations[] = {
    {1, "CREATE TABLE tokens (hash INTEGER PRIMARY KEY, spam INTEGER NOT "
	"NULL DEFAULT 0, ham INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE seen (key INTEGER PRIMARY KEY, spam INTEGER NOT NULL);"
	"CREATE TABLE vars (id INTEGER PRIMARY KEY CHECK (id = 1), nspam "
	"INTEGER NOT NULL, nham INTEGER NOT NULL);"
	"INSERT INTO vars VALUES (1, 0, 0);"},
    /* the day (since the epoch) each token was last learned, for expiry;
     * tokens there before count as learned on the upgrade's day */
    {2, "ALTER TABLE tokens ADD COLUMN day INTEGER NOT NULL DEFAULT 0;"
	"UPDATE tokens SET day = CAST(strftime('%s', 'now') AS INTEGER) / "
	"86400;"},
    /* and each message's learning record, forgotten with its tokens */
    {3, "ALTER TABLE seen ADD COLUMN day INTEGER NOT NULL DEFAULT 0;"
	"UPDATE seen SET day = CAST(strftime('%s', 'now') AS INTEGER) / "
	"86400;"},
};

void
bayes_params_default(struct bayes_params *params_r)
{
	params_r->robinson_s = 0.300;
	params_r->robinson_x = 0.538;
	params_r->min_strength = 0.346;
	params_r->max_tokens = 40;
	params_r->combining = BAYES_COMBINE_LOGODDS;
	params_r->logodds_scale = 5.0;
	params_r->min_spam = 200;
	params_r->min_ham = 200;
	params_r->snapshot_max_age = 30;
}

int
bayes_params_set_combining(struct bayes_params *params, const char *name)
{
	if (strcmp(name, "logodds") == 0) {
		params->combining = BAYES_COMBINE_LOGODDS;
		params->max_tokens = 40;
	} else if (strcmp(name, "chi2") == 0) {
		params->combining = BAYES_COMBINE_CHI2;
		params->max_tokens = 150;
	} else {
		return -1;
	}
	return 0;
}

uint64_t
bayes_hash(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = 14695981039346656037ull ^ seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

void
bayes_tokens_init(struct bayes_tokens *tokens)
{
	memset(tokens, 0, sizeof(*tokens));
}

void
bayes_tokens_free(struct bayes_tokens *tokens)
{
	free(tokens->hashes);
	memset(tokens, 0, sizeof(*tokens));
}

void
bayes_tokens_add(struct bayes_tokens *tokens, const char *token, size_t len)
{
	if (tokens->count >= BAYES_MAX_TOKENS)
		return;
	if (tokens->count == tokens->cap) {
		tokens->cap = tokens->cap == 0 ? 256 : tokens->cap * 2;
		tokens->hashes = xreallocarray(tokens->hashes, tokens->cap,
					       sizeof(*tokens->hashes));
	}
	tokens->hashes[tokens->count++] = bayes_hash(token, len, 0);
}

static int
bayes_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

void
bayes_tokens_finish(struct bayes_tokens *tokens)
{
	size_t i, n = 0;

	if (tokens->count == 0)
		return;
	qsort(tokens->hashes, tokens->count, sizeof(*tokens->hashes),
	      bayes_u64_cmp);
	for (i = 0; i < tokens->count; i++)
		if (n == 0 || tokens->hashes[n - 1] != tokens->hashes[i])
			tokens->hashes[n++] = tokens->hashes[i];
	tokens->count = n;
}

double
bayes_token_prob(unsigned int spam_count, unsigned int ham_count,
		 unsigned int nspam, unsigned int nham,
		 const struct bayes_params *params)
{
	double rs, rh, p, n;

	if (nspam == 0 || nham == 0)
		return params->robinson_x;
	rs = (double)spam_count / nspam;
	rh = (double)ham_count / nham;
	if (rs + rh == 0)
		return params->robinson_x;
	p = rs / (rs + rh);
	n = (double)spam_count + ham_count;
	return (params->robinson_s * params->robinson_x + n * p) /
	       (params->robinson_s + n);
}

double
bayes_chi2q(double x2, unsigned int v)
{
	double m = x2 / 2.0, logterm, sum;
	unsigned int i;

	if (x2 <= 0)
		return 1.0;
	/* Terms in log space so exp(-m) cannot underflow the whole sum. */
	logterm = -m;
	sum = exp(logterm);
	for (i = 1; i < v / 2; i++) {
		logterm += log(m / i);
		sum += exp(logterm);
	}
	return sum < 1.0 ? sum : 1.0;
}

/* Keeps a probability off 0 and 1, where its logarithms are infinite. */
static double
bayes_clamp_prob(double p)
{
	return p < 1e-9 ? 1e-9 : p > 1 - 1e-9 ? 1 - 1e-9 : p;
}

double
bayes_combine(const double *probs, size_t n)
{
	double ls = 0, lh = 0, s, h;
	size_t i;

	if (n == 0)
		return 0.5;
	for (i = 0; i < n; i++) {
		double p = bayes_clamp_prob(probs[i]);

		ls += log(1.0 - p);
		lh += log(p);
	}
	s = 1.0 - bayes_chi2q(-2.0 * ls, (unsigned int)(2 * n));
	h = 1.0 - bayes_chi2q(-2.0 * lh, (unsigned int)(2 * n));
	return ((s - h) + 1.0) / 2.0;
}

double
bayes_combine_logodds(const double *probs, size_t n, double scale)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		double p = bayes_clamp_prob(probs[i]);

		sum += log(p / (1.0 - p));
	}
	sum /= scale > 0 ? scale : 1.0;
	if (sum > 700)
		sum = 700;
	if (sum < -700)
		sum = -700;
	return 1.0 / (1.0 + exp(-sum));
}

static char *
bayes_sql_error(struct bayes_db *db, const char *what)
{
	return xasprintf("bayes %s: %s", what, sqlite3_errmsg(db->db));
}

int
bayes_open(const char *path, struct bayes_db **db_r, char **error_r)
{
	struct bayes_db *db = xcalloc(1, sizeof(*db));

	if (db_open(path, bayes_migrations,
		    sizeof(bayes_migrations) / sizeof(bayes_migrations[0]),
		    &db->db, error_r) < 0) {
		free(db);
		return -1;
	}
	(void)sqlite3_exec(db->db, "PRAGMA synchronous=NORMAL", NULL, NULL,
			   NULL);
	/* A message looks up a few thousand tokens: read the token table
	 * through a memory map and a larger page cache rather than one
	 * pread() per page (measured: about half the classifier's CPU went
	 * to system calls). */
	(void)sqlite3_exec(
	    db->db, "PRAGMA mmap_size=268435456; PRAGMA cache_size=-16384",
	    NULL, NULL, NULL);
	if (sqlite3_prepare_v2(db->db,
			       "SELECT spam, ham FROM tokens WHERE hash = ?",
			       -1, &db->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
		db->db,
		"INSERT INTO tokens (hash, spam, ham, day) VALUES (?1, max(?2, "
		"0), max(?3, 0), ?4) ON CONFLICT(hash) DO UPDATE SET spam = "
		"max(spam + ?2, 0), ham = max(ham + ?3, 0), day = ?4",
		-1, &db->upsert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db->db, "SELECT spam FROM seen WHERE key = ?",
			       -1, &db->seen_get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db->db,
			       "INSERT OR REPLACE INTO seen (key, spam, day) "
			       "VALUES (?, ?, ?)",
			       -1, &db->seen_put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db->db,
			       "SELECT nspam, nham FROM vars WHERE id = 1", -1,
			       &db->vars_get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db->db,
			       "UPDATE vars SET nspam = max(nspam + ?, 0), "
			       "nham = max(nham + ?, 0) WHERE id = 1",
			       -1, &db->vars_add, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
		db->db, "SELECT hash, spam, ham FROM tokens ORDER BY hash", -1,
		&db->scan, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db->db, "PRAGMA data_version", -1, &db->version,
			       NULL) != SQLITE_OK) {
		*error_r = bayes_sql_error(db, "prepare");
		bayes_close(&db);
		return -1;
	}
	pthread_mutex_init(&db->lock, NULL);
	*db_r = db;
	return 0;
}

void
bayes_close(struct bayes_db **dbp)
{
	struct bayes_db *db = *dbp;

	if (db == NULL)
		return;
	sqlite3_finalize(db->get);
	sqlite3_finalize(db->upsert);
	sqlite3_finalize(db->seen_get);
	sqlite3_finalize(db->seen_put);
	sqlite3_finalize(db->vars_get);
	sqlite3_finalize(db->vars_add);
	sqlite3_finalize(db->scan);
	sqlite3_finalize(db->version);
	free(db->snap.hashes);
	free(db->snap.spam);
	free(db->snap.ham);
	db_close(&db->db);
	pthread_mutex_destroy(&db->lock);
	x_free(dbp);
}

static int
bayes_step_done(sqlite3_stmt *stmt)
{
	int rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
bayes_apply(struct bayes_db *db, const struct bayes_tokens *tokens, int dspam,
	    int dham)
{
	sqlite3_int64 day = (sqlite3_int64)(time(NULL) / 86400);
	size_t i;

	for (i = 0; i < tokens->count; i++) {
		sqlite3_bind_int64(db->upsert, 1,
				   (sqlite3_int64)tokens->hashes[i]);
		sqlite3_bind_int(db->upsert, 2, dspam);
		sqlite3_bind_int(db->upsert, 3, dham);
		sqlite3_bind_int64(db->upsert, 4, day);
		if (bayes_step_done(db->upsert) < 0)
			return -1;
	}
	sqlite3_bind_int(db->vars_add, 1, dspam);
	sqlite3_bind_int(db->vars_add, 2, dham);
	return bayes_step_done(db->vars_add);
}

int
bayes_learn(struct bayes_db *db, const struct bayes_tokens *tokens,
	    uint64_t key, bool spam, char **error_r)
{
	int prev = -1, ret = 1;

	pthread_mutex_lock(&db->lock);
	if (sqlite3_exec(db->db, "SAVEPOINT learn", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		*error_r = bayes_sql_error(db, "savepoint");
		pthread_mutex_unlock(&db->lock);
		return -1;
	}
	sqlite3_bind_int64(db->seen_get, 1, (sqlite3_int64)key);
	if (sqlite3_step(db->seen_get) == SQLITE_ROW)
		prev = sqlite3_column_int(db->seen_get, 0);
	sqlite3_reset(db->seen_get);
	if (prev == (spam ? 1 : 0)) {
		ret = 0;
		goto done;
	}
	/* Learned as the other class before: undo that first. */
	if (prev >= 0 &&
	    bayes_apply(db, tokens, prev ? -1 : 0, prev ? 0 : -1) < 0)
		goto fail;
	if (bayes_apply(db, tokens, spam ? 1 : 0, spam ? 0 : 1) < 0)
		goto fail;
	sqlite3_bind_int64(db->seen_put, 1, (sqlite3_int64)key);
	sqlite3_bind_int(db->seen_put, 2, spam ? 1 : 0);
	sqlite3_bind_int64(db->seen_put, 3,
			   (sqlite3_int64)(time(NULL) / 86400));
	if (bayes_step_done(db->seen_put) < 0)
		goto fail;
	db->writes++;
done:
	if (sqlite3_exec(db->db, "RELEASE learn", NULL, NULL, NULL) !=
	    SQLITE_OK)
		goto fail;
	pthread_mutex_unlock(&db->lock);
	return ret;
fail:
	*error_r = bayes_sql_error(db, "learn");
	(void)sqlite3_exec(db->db, "ROLLBACK TO learn; RELEASE learn", NULL,
			   NULL, NULL);
	pthread_mutex_unlock(&db->lock);
	return -1;
}

static int
bayes_exec(struct bayes_db *db, const char *sql, char **error_r)
{
	int ret = 0;

	pthread_mutex_lock(&db->lock);
	if (sqlite3_exec(db->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		*error_r = bayes_sql_error(db, sql);
		ret = -1;
	}
	pthread_mutex_unlock(&db->lock);
	return ret;
}

int
bayes_begin(struct bayes_db *db, char **error_r)
{
	return bayes_exec(db, "BEGIN IMMEDIATE", error_r);
}

int
bayes_commit(struct bayes_db *db, char **error_r)
{
	return bayes_exec(db, "COMMIT", error_r);
}

static int
bayes_counts_locked(struct bayes_db *db, unsigned int *nspam_r,
		    unsigned int *nham_r)
{
	int rc = sqlite3_step(db->vars_get);

	if (rc == SQLITE_ROW) {
		*nspam_r = (unsigned int)sqlite3_column_int64(db->vars_get, 0);
		*nham_r = (unsigned int)sqlite3_column_int64(db->vars_get, 1);
	}
	sqlite3_reset(db->vars_get);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
bayes_counts(struct bayes_db *db, unsigned int *nspam_r, unsigned int *nham_r,
	     char **error_r)
{
	int ret;

	pthread_mutex_lock(&db->lock);
	ret = bayes_counts_locked(db, nspam_r, nham_r);
	if (ret < 0)
		*error_r = bayes_sql_error(db, "counts");
	pthread_mutex_unlock(&db->lock);
	return ret;
}

static int
bayes_strength_cmp(const void *a, const void *b)
{
	double x = fabs(*(const double *)a - 0.5);
	double y = fabs(*(const double *)b - 0.5);

	return x > y ? -1 : x < y ? 1 : 0;
}

/* PRAGMA data_version: changes when another connection commits. */
static long long
bayes_data_version(struct bayes_db *db)
{
	long long v = -1;

	if (sqlite3_step(db->version) == SQLITE_ROW)
		v = sqlite3_column_int64(db->version, 0);
	sqlite3_reset(db->version);
	return v;
}

/* Reloads the snapshot (lock held). 0, or -1 when the table is too large
 * or cannot be read (the snapshot is then invalid). */
static int
bayes_snapshot_load(struct bayes_db *db, long long version)
{
	struct bayes_snapshot *sn = &db->snap;
	bool own_txn = sqlite3_get_autocommit(db->db) != 0;
	int rc = SQLITE_DONE, ret = 0;

	sn->valid = false;
	sn->count = 0;
	sn->version = version;
	sn->writes = db->writes;
	sn->loaded = time(NULL);
	if (own_txn)
		(void)sqlite3_exec(db->db, "BEGIN", NULL, NULL, NULL);
	if (bayes_counts_locked(db, &sn->nspam, &sn->nham) < 0)
		ret = -1;
	while (ret == 0 && (rc = sqlite3_step(db->scan)) == SQLITE_ROW) {
		if (sn->count == BAYES_SNAPSHOT_MAX) {
			ret = -1;
			break;
		}
		if (sn->count == sn->cap) {
			sn->cap = sn->cap == 0 ? 4096 : sn->cap * 2;
			sn->hashes = xreallocarray(sn->hashes, sn->cap,
						   sizeof(*sn->hashes));
			sn->spam =
			    xreallocarray(sn->spam, sn->cap, sizeof(*sn->spam));
			sn->ham =
			    xreallocarray(sn->ham, sn->cap, sizeof(*sn->ham));
		}
		sn->hashes[sn->count] = sqlite3_column_int64(db->scan, 0);
		sn->spam[sn->count] =
		    (uint32_t)sqlite3_column_int64(db->scan, 1);
		sn->ham[sn->count] =
		    (uint32_t)sqlite3_column_int64(db->scan, 2);
		sn->count++;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -1;
	sqlite3_reset(db->scan);
	if (own_txn)
		(void)sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL);
	sn->failed = ret < 0;
	sn->valid = ret == 0;
	return ret;
}

/* Looks hash up in the snapshot: true with the counts when present. */
static bool
bayes_snapshot_get(const struct bayes_snapshot *sn, uint64_t hash,
		   unsigned int *spam_r, unsigned int *ham_r)
{
	sqlite3_int64 key = (sqlite3_int64)hash;
	size_t lo = 0, hi = sn->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sn->hashes[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == sn->count || sn->hashes[lo] != key)
		return false;
	*spam_r = sn->spam[lo];
	*ham_r = sn->ham[lo];
	return true;
}

/*
 * Makes the snapshot current enough (lock held): reloaded when the
 * database changed (another process's commit, or a learning through this
 * handle) and the snapshot is older than params->snapshot_max_age, or
 * still short of the minimum learnings. Returns true when it is usable.
 */
static bool
bayes_snapshot_ready(struct bayes_db *db, const struct bayes_params *params)
{
	struct bayes_snapshot *sn = &db->snap;
	long long version;
	bool changed, stale;

	if (params->snapshot_max_age < 0)
		return false;
	version = bayes_data_version(db);
	/* never loaded, or changed since (a failed load, e.g. a table too
	 * large to copy, is retried only after the same delay) */
	changed = (!sn->valid && !sn->failed) || version != sn->version ||
		  db->writes != sn->writes;
	stale = (!sn->valid && !sn->failed) ||
		(sn->valid && (sn->nspam < params->min_spam ||
			       sn->nham < params->min_ham)) ||
		time(NULL) - sn->loaded >= params->snapshot_max_age;
	if (changed && stale)
		(void)bayes_snapshot_load(db, version);
	return sn->valid;
}

int
bayes_classify(struct bayes_db *db, const struct bayes_tokens *tokens,
	       const struct bayes_params *params, double *prob_r,
	       char **error_r)
{
	unsigned int nspam, nham;
	double *probs;
	size_t i, n = 0;
	bool own_txn = false, snap;

	pthread_mutex_lock(&db->lock);
	snap = bayes_snapshot_ready(db, params);
	if (snap) {
		nspam = db->snap.nspam;
		nham = db->snap.nham;
	} else if (bayes_counts_locked(db, &nspam, &nham) < 0) {
		*error_r = bayes_sql_error(db, "counts");
		pthread_mutex_unlock(&db->lock);
		return -1;
	}
	if (nspam < params->min_spam || nham < params->min_ham || nspam == 0 ||
	    nham == 0) {
		pthread_mutex_unlock(&db->lock);
		return 0;
	}
	if (!snap) {
		own_txn = sqlite3_get_autocommit(db->db) != 0;
		if (own_txn)
			(void)sqlite3_exec(db->db, "BEGIN", NULL, NULL, NULL);
	}
	probs = xcalloc(tokens->count + 1, sizeof(*probs));
	for (i = 0; i < tokens->count; i++) {
		unsigned int s, h;
		bool found = false;

		if (snap) {
			found = bayes_snapshot_get(&db->snap, tokens->hashes[i],
						   &s, &h);
		} else {
			sqlite3_bind_int64(db->get, 1,
					   (sqlite3_int64)tokens->hashes[i]);
			if (sqlite3_step(db->get) == SQLITE_ROW) {
				s = (unsigned int)sqlite3_column_int(db->get,
								     0);
				h = (unsigned int)sqlite3_column_int(db->get,
								     1);
				found = true;
			}
			sqlite3_reset(db->get);
		}
		if (found) {
			double f = bayes_token_prob(s, h, nspam, nham, params);

			if (fabs(f - 0.5) >= params->min_strength)
				probs[n++] = f;
		}
	}
	if (own_txn)
		(void)sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL);
	pthread_mutex_unlock(&db->lock);
	if (n > 1)
		qsort(probs, n, sizeof(*probs), bayes_strength_cmp);
	if (n > params->max_tokens)
		n = params->max_tokens;
	*prob_r = params->combining == BAYES_COMBINE_CHI2
		      ? bayes_combine(probs, n)
		      : bayes_combine_logodds(probs, n, params->logodds_scale);
	free(probs);
	return 1;
}

int
bayes_token_counts(struct bayes_db *db, const char *token, size_t len,
		   const struct bayes_params *params, unsigned int *spam_r,
		   unsigned int *ham_r, char **error_r)
{
	uint64_t hash = bayes_hash(token, len, 0);
	int ret = 0, rc;

	*spam_r = *ham_r = 0;
	pthread_mutex_lock(&db->lock);
	if (bayes_snapshot_ready(db, params)) {
		(void)bayes_snapshot_get(&db->snap, hash, spam_r, ham_r);
	} else {
		sqlite3_bind_int64(db->get, 1, (sqlite3_int64)hash);
		rc = sqlite3_step(db->get);
		if (rc == SQLITE_ROW) {
			*spam_r = (unsigned int)sqlite3_column_int(db->get, 0);
			*ham_r = (unsigned int)sqlite3_column_int(db->get, 1);
		} else if (rc != SQLITE_DONE) {
			*error_r = bayes_sql_error(db, "token lookup");
			ret = -1;
		}
		sqlite3_reset(db->get);
	}
	pthread_mutex_unlock(&db->lock);
	return ret;
}

/* One integer from sql (lock held); -1 on error. */
static sqlite3_int64
bayes_query_int(struct bayes_db *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 v = -1;

	if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int
bayes_token_total(struct bayes_db *db, uint64_t *count_r, char **error_r)
{
	sqlite3_int64 n;

	pthread_mutex_lock(&db->lock);
	n = bayes_query_int(db, "SELECT count(*) FROM tokens");
	if (n < 0)
		*error_r = bayes_sql_error(db, "count");
	pthread_mutex_unlock(&db->lock);
	*count_r = n < 0 ? 0 : (uint64_t)n;
	return n < 0 ? -1 : 0;
}

int
bayes_expire(struct bayes_db *db, uint64_t max_tokens, uint64_t *removed_r,
	     uint64_t *forgotten_r, char **error_r)
{
	sqlite3_stmt *del = NULL;
	sqlite3_int64 n, target = (sqlite3_int64)(max_tokens / 4 * 3);
	uint64_t removed = 0;

	*removed_r = *forgotten_r = 0;
	if (max_tokens == 0)
		return 0;
	pthread_mutex_lock(&db->lock);
	if (sqlite3_exec(db->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		*error_r = bayes_sql_error(db, "expire");
		pthread_mutex_unlock(&db->lock);
		return -1;
	}
	n = bayes_query_int(db, "SELECT count(*) FROM tokens");
	if (n < 0)
		goto fail;
	if ((uint64_t)n <= max_tokens)
		goto done;
	/* tokens no class counts any more (left by unlearning) */
	if (sqlite3_exec(db->db,
			 "DELETE FROM tokens WHERE spam = 0 AND ham = 0", NULL,
			 NULL, NULL) != SQLITE_OK)
		goto fail;
	removed = (uint64_t)sqlite3_changes(db->db);
	n -= (sqlite3_int64)removed;
	if (n > target) {
		if (sqlite3_prepare_v2(db->db,
				       "DELETE FROM tokens WHERE hash IN "
				       "(SELECT hash FROM tokens ORDER BY "
				       "day, spam + ham LIMIT ?)",
				       -1, &del, NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_int64(del, 1, n - target);
		if (sqlite3_step(del) != SQLITE_DONE)
			goto fail;
		removed += (uint64_t)sqlite3_changes(db->db);
		sqlite3_finalize(del);
		del = NULL;
		/* messages learned before every token left: their tokens
		 * are gone, so is the record that they were learned */
		if (sqlite3_exec(db->db,
				 "DELETE FROM seen WHERE day < (SELECT "
				 "min(day) FROM tokens)",
				 NULL, NULL, NULL) != SQLITE_OK)
			goto fail;
		*forgotten_r = (uint64_t)sqlite3_changes(db->db);
	}
done:
	if (sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (removed > 0)
		db->writes++; /* the snapshot reloads */
	pthread_mutex_unlock(&db->lock);
	*removed_r = removed;
	return 0;
fail:
	*error_r = bayes_sql_error(db, "expire");
	sqlite3_finalize(del);
	(void)sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&db->lock);
	return -1;
}
