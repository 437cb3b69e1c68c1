/*
 * db: the SQLite layer. Opens a database in WAL mode with a busy timeout and
 * foreign keys on, and brings its schema up to date by applying numbered
 * migrations in order inside one transaction each (PRAGMA user_version holds
 * the version reached). Callers keep using the sqlite3 API for statements.
 */
#ifndef MOAT_DB_H
#define MOAT_DB_H

#include <sqlite3.h>
#include <stddef.h>

struct db_migration {
	int version;	 /* 1, 2, 3, ... in order */
	const char *sql; /* one or more statements */
};

/*
 * Opens (creating) path and applies migrations with version > user_version.
 * synchronous=FULL so a commit is durable. Returns 0 or -1 with *error_r
 * allocated.
 */
int db_open(const char *path, const struct db_migration *migrations,
	    size_t count, sqlite3 **db_r, char **error_r);
void db_close(sqlite3 **db);
/* sqlite3_exec that returns 0/-1 and fills *error_r (allocated). */
int db_exec(sqlite3 *db, const char *sql, char **error_r);
/* Binds s (SQLITE_STATIC: it must outlive the step) or NULL as SQL NULL. */
void db_bind_text(sqlite3_stmt *st, int index, const char *s);

#endif
