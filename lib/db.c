/*
 * db: SQLite with the settings every Moat database uses (WAL, FULL sync,
 * foreign keys, busy timeout) and versioned schema migrations: each
 * migration runs in its own transaction together with the user_version
 * bump, so a crash leaves the schema at a whole version.
 */
#include "lib/db.h"

#include <stdio.h>
#include <stdlib.h>

#include "lib/xalloc.h"

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
	sqlite3_busy_timeout(db, 5000);
	if (db_exec(db,
		    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
		    "PRAGMA foreign_keys=ON;",
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
