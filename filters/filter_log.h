/*
 * filter_log: the per-message story of the filter chain. One summary log
 * line per message (qid, verdict, score, symbols, time per filter), and the
 * message log in SQLite (DATA_DIR/messagelog.db) for message tracking: one
 * row per message, per filter run and per symbol, and the DMARC
 * aggregate-report rows (filters/dmarc_history.h). Rows are written by a
 * writer thread in batches, so a worker never waits for the database.
 */
#ifndef MOAT_FILTER_LOG_H
#define MOAT_FILTER_LOG_H

#include <stdbool.h>
#include <sqlite3.h>
#include <stddef.h>

#include "filters/filter_chain.h"

struct filter_context;
struct filter_log;

/* What the chain recorded for one configured filter. */
struct filter_log_entry {
	const char *filter; /* NULL when it did not run */
	unsigned long elapsed_us;
	bool ran;
	bool error;
};

/* Opens (creating) the database and starts the writer. 0, or -1 with
 * *error_r allocated. */
int filter_log_open(const char *path, struct filter_log **log_r,
		    char **error_r);
/* Opens (creating, migrating) the message-log database for a reader or
 * another writer (the DMARC report sender, moatctl). 0, or -1 with
 * *error_r allocated. */
int filter_log_db_open(const char *path, sqlite3 **db_r, char **error_r);
/* Writes what is queued, stops the writer, closes the database. */
void filter_log_close(struct filter_log **log);
/* Logs the summary line and, when log is not NULL, queues the rows. */
void filter_log_message(struct filter_log *log,
			const struct filter_context *ctx,
			const struct filter_log_entry *entries, size_t count,
			const struct filter_chain_result *result);
/* Blocks until every queued row is written (tests). */
void filter_log_flush(struct filter_log *log);

#endif
