/*
 * db: SQLite with the settings every Moat database uses (WAL, FULL sync,
 * foreign keys, busy timeout) and versioned schema migrations: each
 * migration runs in its own transaction together with the user_version
 * bump, so a crash leaves the schema at a whole version.
 */
#include "lib/db.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/xalloc.h"

/* How long a statement waits for another process's lock. */
#define DB_BUSY_TIMEOUT_MS 5000
/* Pause between attempts to switch a new file to WAL. */
#define DB_WAL_RETRY_MS 20

int
db_exec(sqlite3 *db, const char *sql, char **error_r)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		*error_r = xstrdup(msg != NULL ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
db_user_version(sqlite3 *db, int *version_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL) !=
	    SQLITE_OK)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*version_r = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* The journal mode's name (PRAGMA journal_mode, or its setting form) into
 * out; false when the statement fails (e.g. busy). */
static bool
db_journal_mode(sqlite3 *db, const char *sql, char *out, size_t outsz)
{
	sqlite3_stmt *stmt;
	bool ok = false;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return false;
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(stmt, 0);

		snprintf(out, outsz, "%s", t != NULL ? (const char *)t : "");
		ok = true;
	}
	sqlite3_finalize(stmt);
	return ok;
}

/*
 * Puts the file in WAL mode. Converting takes an exclusive lock and SQLite
 * does not run the busy handler for it, so two processes opening a new
 * file at once (smtpd and spamlearn at start, both on the Bayes database)
 * could fail at once with "database is locked". WAL is a property of the
 * file: it is read first (no lock after the first open), and converting is
 * retried for up to DB_BUSY_TIMEOUT_MS while it fails.
 */
static int
db_set_wal(sqlite3 *db, char **error_r)
{
	char mode[32];
	const struct timespec pause = {0, DB_WAL_RETRY_MS * 1000000L};

	for (int waited = 0;; waited += DB_WAL_RETRY_MS) {
		if (db_journal_mode(db, "PRAGMA journal_mode", mode,
				    sizeof(mode)) &&
		    strcmp(mode, "wal") == 0)
			return 0;
		/* answered: WAL, or a mode the file cannot leave (an
		 * in-memory database stays "memory"), as before */
		if (db_journal_mode(db, "PRAGMA journal_mode=WAL", mode,
				    sizeof(mode)))
			return 0;
		if (waited >= DB_BUSY_TIMEOUT_MS) {
			*error_r = xasprintf("cannot switch to WAL: %s",
					     sqlite3_errmsg(db));
			return -1;
		}
		nanosleep(&pause, NULL);
	}
}

int
db_open(const char *path, const struct db_migration *migrations, size_t count,
	sqlite3 **db_r, char **error_r)
{
	sqlite3 *db = NULL;
	char *error = NULL;
	int version = 0;

	if (sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		*error_r =
		    xasprintf("%s: %s", path,
			      db != NULL ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, DB_BUSY_TIMEOUT_MS);
	if (db_set_wal(db, &error) < 0 ||
	    db_exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
		    &error) < 0 ||
	    db_user_version(db, &version) < 0) {
		*error_r = xasprintf(
		    "%s: %s", path, error != NULL ? error : sqlite3_errmsg(db));
		free(error);
		sqlite3_close(db);
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		char *bump;

		if (migrations[i].version <= version)
			continue;
		if (db_exec(db, "BEGIN IMMEDIATE;", &error) == 0 &&
		    db_user_version(db, &version) == 0 &&
		    migrations[i].version <= version) {
			/* Another process opening the database at the same
			 * time applied it first. */
			if (db_exec(db, "COMMIT;", &error) == 0)
				continue;
		}
		bump = xasprintf("PRAGMA user_version = %d;",
				 migrations[i].version);
		if (error != NULL ||
		    db_exec(db, migrations[i].sql, &error) < 0 ||
		    db_exec(db, bump, &error) < 0 ||
		    db_exec(db, "COMMIT;", &error) < 0) {
			*error_r = xasprintf("%s: migration %d: %s", path,
					     migrations[i].version, error);
			free(error);
			free(bump);
			(void)sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
			sqlite3_close(db);
			return -1;
		}
		free(bump);
		version = migrations[i].version;
	}
	*db_r = db;
	return 0;
}

void
db_close(sqlite3 **db)
{
	if (*db == NULL)
		return;
	sqlite3_close(*db);
	*db = NULL;
}

void
db_bind_text(sqlite3_stmt *st, int index, const char *s)
{
	if (s != NULL)
		sqlite3_bind_text(st, index, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, index);
}
