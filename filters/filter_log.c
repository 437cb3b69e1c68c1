/*
 * filter_log: the summary line and the SQLite message log of the filter
 * chain (see filter_log.h). Workers format a record (all strings copied)
 * and queue it; one writer thread inserts every queued record in one
 * transaction. The database runs in WAL mode with synchronous=NORMAL: the
 * message log is a tracking aid, not part of the acknowledgement, so it does
 * not cost an fsync per message (the spool's fsync is what makes a 250
 * durable). Symbol details and addresses are stored as given by filters and
 * the envelope; no message content is logged.
 */
#include "filters/filter_log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "filters/dmarc_history.h"
#include "filters/filter_context.h"
#include "lib/buf.h"
#include "lib/db.h"
#include "lib/log.h"
#include "lib/xalloc.h"

struct log_symbol {
	char *filter, *name, *detail;
	double score;
};

struct log_filter {
	char *filter;
	unsigned long elapsed_us;
	const char *status; /* static */
};

struct log_record {
	struct log_record *next;
	char *qid, *session, *client_ip, *mail_from, *rcpts, *verdict;
	char *verdict_filter;
	double score;
	unsigned long elapsed_us;
	time_t time;
	struct log_filter *filters;
	size_t filter_count;
	struct log_symbol *symbols;
	size_t symbol_count;
	struct dmarc_history_entry *dmarc; /* DMARC report row, or NULL */
};

struct filter_log {
	sqlite3 *db;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond, idle;
	struct log_record *queue, **queue_tail;
	bool stop, busy;
};

static const struct db_migration log_migrations[] = {
    {1, "CREATE TABLE messages ("
	"  id INTEGER PRIMARY KEY,"
	"  qid TEXT NOT NULL,"
	"  time INTEGER NOT NULL,"
	"  session TEXT,"
	"  client_ip TEXT,"
	"  mail_from TEXT,"
	"  rcpts TEXT,"
	"  verdict TEXT NOT NULL,"
	"  verdict_filter TEXT,"
	"  score REAL NOT NULL,"
	"  elapsed_us INTEGER NOT NULL);"
	"CREATE INDEX messages_qid ON messages(qid);"
	"CREATE INDEX messages_time ON messages(time);"
	"CREATE TABLE message_filters ("
	"  message_id INTEGER NOT NULL REFERENCES messages(id)"
	"    ON DELETE CASCADE,"
	"  filter TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  elapsed_us INTEGER NOT NULL);"
	"CREATE INDEX message_filters_id ON message_filters(message_id);"
	"CREATE TABLE message_symbols ("
	"  message_id INTEGER NOT NULL REFERENCES messages(id)"
	"    ON DELETE CASCADE,"
	"  filter TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  score REAL NOT NULL,"
	"  detail TEXT);"
	"CREATE INDEX message_symbols_id ON message_symbols(message_id);"},
    /* DMARC aggregate-report history (filters/dmarc_history.h). */
    {2, DMARC_HISTORY_SCHEMA},
};

static void
record_free(struct log_record *r)
{
	free(r->qid);
	free(r->session);
	free(r->client_ip);
	free(r->mail_from);
	free(r->rcpts);
	free(r->verdict);
	free(r->verdict_filter);
	for (size_t i = 0; i < r->filter_count; i++)
		free(r->filters[i].filter);
	free(r->filters);
	for (size_t i = 0; i < r->symbol_count; i++) {
		free(r->symbols[i].filter);
		free(r->symbols[i].name);
		free(r->symbols[i].detail);
	}
	free(r->symbols);
	dmarc_history_entry_free(&r->dmarc);
	free(r);
}

/* Inserts a batch in one transaction; errors are logged and dropped. */
static void
log_write(struct filter_log *log, struct log_record *list)
{
	sqlite3_stmt *msg = NULL, *flt = NULL, *sym = NULL;
	char *err = NULL;

	if (db_exec(log->db, "BEGIN", &err) < 0)
		goto fail;
	if (sqlite3_prepare_v2(log->db,
			       "INSERT INTO messages (qid, time, session, "
			       "client_ip, mail_from, rcpts, verdict, "
			       "verdict_filter, score, elapsed_us) VALUES "
			       "(?,?,?,?,?,?,?,?,?,?)",
			       -1, &msg, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(log->db,
			       "INSERT INTO message_filters (message_id, "
			       "filter, status, elapsed_us) VALUES (?,?,?,?)",
			       -1, &flt, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(log->db,
			       "INSERT INTO message_symbols (message_id, "
			       "filter, name, score, detail) VALUES "
			       "(?,?,?,?,?)",
			       -1, &sym, NULL) != SQLITE_OK) {
		err = xstrdup(sqlite3_errmsg(log->db));
		goto rollback;
	}
	for (struct log_record *r = list; r != NULL; r = r->next) {
		sqlite3_int64 id;

		db_bind_text(msg, 1, r->qid);
		sqlite3_bind_int64(msg, 2, (sqlite3_int64)r->time);
		db_bind_text(msg, 3, r->session);
		db_bind_text(msg, 4, r->client_ip);
		db_bind_text(msg, 5, r->mail_from);
		db_bind_text(msg, 6, r->rcpts);
		db_bind_text(msg, 7, r->verdict);
		db_bind_text(msg, 8, r->verdict_filter);
		sqlite3_bind_double(msg, 9, r->score);
		sqlite3_bind_int64(msg, 10, (sqlite3_int64)r->elapsed_us);
		if (sqlite3_step(msg) != SQLITE_DONE) {
			err = xstrdup(sqlite3_errmsg(log->db));
			goto rollback;
		}
		sqlite3_reset(msg);
		id = sqlite3_last_insert_rowid(log->db);
		for (size_t i = 0; i < r->filter_count; i++) {
			sqlite3_bind_int64(flt, 1, id);
			db_bind_text(flt, 2, r->filters[i].filter);
			db_bind_text(flt, 3, r->filters[i].status);
			sqlite3_bind_int64(
			    flt, 4, (sqlite3_int64)r->filters[i].elapsed_us);
			if (sqlite3_step(flt) != SQLITE_DONE) {
				err = xstrdup(sqlite3_errmsg(log->db));
				goto rollback;
			}
			sqlite3_reset(flt);
		}
		for (size_t i = 0; i < r->symbol_count; i++) {
			sqlite3_bind_int64(sym, 1, id);
			db_bind_text(sym, 2, r->symbols[i].filter);
			db_bind_text(sym, 3, r->symbols[i].name);
			sqlite3_bind_double(sym, 4, r->symbols[i].score);
			db_bind_text(sym, 5, r->symbols[i].detail);
			if (sqlite3_step(sym) != SQLITE_DONE) {
				err = xstrdup(sqlite3_errmsg(log->db));
				goto rollback;
			}
			sqlite3_reset(sym);
		}
		if (r->dmarc != NULL &&
		    dmarc_history_insert(log->db, r->dmarc, &err) < 0)
			goto rollback;
	}
	sqlite3_finalize(msg);
	sqlite3_finalize(flt);
	sqlite3_finalize(sym);
	if (db_exec(log->db, "COMMIT", &err) < 0)
		goto fail;
	return;
rollback:
	sqlite3_finalize(msg);
	sqlite3_finalize(flt);
	sqlite3_finalize(sym);
	(void)sqlite3_exec(log->db, "ROLLBACK", NULL, NULL, NULL);
fail:
	log_errorx("event=messagelog_error reason=\"%s\"",
		   err != NULL ? err : "?");
	free(err);
}

static void *
log_writer(void *arg)
{
	struct filter_log *log = arg;

	pthread_mutex_lock(&log->lock);
	for (;;) {
		struct log_record *list, *next;

		while (log->queue == NULL && !log->stop)
			pthread_cond_wait(&log->cond, &log->lock);
		if (log->queue == NULL && log->stop)
			break;
		list = log->queue;
		log->queue = NULL;
		log->queue_tail = &log->queue;
		log->busy = true;
		pthread_mutex_unlock(&log->lock);
		log_write(log, list);
		for (; list != NULL; list = next) {
			next = list->next;
			record_free(list);
		}
		pthread_mutex_lock(&log->lock);
		log->busy = false;
		pthread_cond_broadcast(&log->idle);
	}
	pthread_mutex_unlock(&log->lock);
	return NULL;
}

int
filter_log_db_open(const char *path, sqlite3 **db_r, char **error_r)
{
	return db_open(path, log_migrations,
		       sizeof(log_migrations) / sizeof(log_migrations[0]), db_r,
		       error_r);
}

int
filter_log_open(const char *path, struct filter_log **log_r, char **error_r)
{
	struct filter_log *log = xcalloc(1, sizeof(*log));
	int rc;

	if (db_open(path, log_migrations,
		    sizeof(log_migrations) / sizeof(log_migrations[0]),
		    &log->db, error_r) < 0) {
		free(log);
		return -1;
	}
	if (db_exec(log->db, "PRAGMA synchronous=NORMAL", error_r) < 0) {
		db_close(&log->db);
		free(log);
		return -1;
	}
	pthread_mutex_init(&log->lock, NULL);
	pthread_cond_init(&log->cond, NULL);
	pthread_cond_init(&log->idle, NULL);
	log->queue_tail = &log->queue;
	rc = pthread_create(&log->thread, NULL, log_writer, log);
	if (rc != 0) {
		*error_r = xasprintf("message log thread: %s", strerror(rc));
		db_close(&log->db);
		pthread_mutex_destroy(&log->lock);
		pthread_cond_destroy(&log->cond);
		pthread_cond_destroy(&log->idle);
		free(log);
		return -1;
	}
	*log_r = log;
	return 0;
}

void
filter_log_flush(struct filter_log *log)
{
	if (log == NULL)
		return;
	pthread_mutex_lock(&log->lock);
	while (log->queue != NULL || log->busy)
		pthread_cond_wait(&log->idle, &log->lock);
	pthread_mutex_unlock(&log->lock);
}

void
filter_log_close(struct filter_log **logp)
{
	struct filter_log *log = *logp;

	if (log == NULL)
		return;
	pthread_mutex_lock(&log->lock);
	log->stop = true;
	pthread_cond_signal(&log->cond);
	pthread_mutex_unlock(&log->lock);
	pthread_join(log->thread, NULL);
	db_close(&log->db);
	pthread_mutex_destroy(&log->lock);
	pthread_cond_destroy(&log->cond);
	pthread_cond_destroy(&log->idle);
	x_free(logp);
}

void
filter_log_message(struct filter_log *log, const struct filter_context *ctx,
		   const struct filter_log_entry *entries, size_t count,
		   const struct filter_chain_result *result)
{
	struct buf line = {0};
	char safe[160];

	/* The summary line: names and numbers only (symbol names are
	 * [A-Z0-9_] by construction). */
	/* qid "-": a transaction refused before DATA. */
	buf_printf(&line, "session=%s qid=%s event=filters verdict=%s",
		   ctx->env.session_id,
		   ctx->env.qid[0] != '\0' ? ctx->env.qid : "-",
		   filter_verdict_name(result->verdict));
	if (result->verdict_filter != NULL)
		buf_printf(&line, " by=%s", result->verdict_filter);
	buf_printf(&line, " score=%.2f symbols=", result->score);
	for (size_t i = 0; i < result->symbol_count; i++)
		buf_printf(&line, "%s%s(%.2f)", i > 0 ? "," : "",
			   result->symbols[i].name, result->symbols[i].score);
	if (result->symbol_count == 0)
		buf_append_char(&line, '-');
	buf_append_str(&line, " time=");
	for (size_t i = 0; i < count; i++) {
		if (!entries[i].ran)
			continue;
		buf_printf(&line, "%s:%lu%s,", entries[i].filter,
			   entries[i].elapsed_us, entries[i].error ? "!" : "");
	}
	buf_printf(&line, "total:%luus", result->elapsed_us);
	log_info("%s", buf_cstr(&line));
	buf_free(&line);

	if (log == NULL)
		return;
	struct log_record *r = xcalloc(1, sizeof(*r));
	struct buf rcpts = {0};

	r->qid = xstrdup(ctx->env.qid);
	r->session = xstrdup(ctx->env.session_id);
	r->client_ip = xstrdup(ctx->env.client_ip);
	log_sanitize(ctx->env.mail_from, strlen(ctx->env.mail_from), safe,
		     sizeof(safe));
	r->mail_from = xstrdup(safe);
	for (size_t i = 0; i < ctx->env.rcpt_count; i++) {
		log_sanitize(ctx->env.rcpts[i], strlen(ctx->env.rcpts[i]), safe,
			     sizeof(safe));
		buf_printf(&rcpts, "%s%s", i > 0 ? " " : "", safe);
	}
	r->rcpts = buf_detach(&rcpts);
	r->verdict = xstrdup(filter_verdict_name(result->verdict));
	r->verdict_filter = result->verdict_filter != NULL
				? xstrdup(result->verdict_filter)
				: NULL;
	r->score = result->score;
	r->elapsed_us = result->elapsed_us;
	r->time = time(NULL);
	r->filters = xcalloc(count + 1, sizeof(*r->filters));
	for (size_t i = 0; i < count; i++) {
		if (!entries[i].ran)
			continue;
		r->filters[r->filter_count].filter = xstrdup(entries[i].filter);
		r->filters[r->filter_count].elapsed_us = entries[i].elapsed_us;
		r->filters[r->filter_count].status =
		    entries[i].error ? "error" : "ok";
		r->filter_count++;
	}
	r->symbols = xcalloc(result->symbol_count + 1, sizeof(*r->symbols));
	for (size_t i = 0; i < result->symbol_count; i++) {
		const struct filter_symbol *s = &result->symbols[i];

		r->symbols[i].filter = xstrdup(s->filter);
		r->symbols[i].name = xstrdup(s->name);
		r->symbols[i].detail =
		    s->detail != NULL ? xstrdup(s->detail) : NULL;
		r->symbols[i].score = s->score;
	}
	r->symbol_count = result->symbol_count;
	r->dmarc =
	    dmarc_history_entry_new(ctx, result->verdict, (long long)r->time);
	pthread_mutex_lock(&log->lock);
	*log->queue_tail = r;
	log->queue_tail = &r->next;
	pthread_cond_signal(&log->cond);
	pthread_mutex_unlock(&log->lock);
}
