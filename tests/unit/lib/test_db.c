/*
 * Unit tests for lib/db.c: processes opening one new database at the same
 * moment (as smtpd and spamlearn do at start) all succeed, the migrations
 * applied once; converting the new file to WAL must not fail on another
 * process's lock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/db.h"
#include "lib/xalloc.h"

#define OPENERS 6
#define ROUNDS	10

static const struct db_migration migrations[] = {
    {1, "CREATE TABLE t (x INTEGER);"},
    {2, "ALTER TABLE t ADD COLUMN y INTEGER NOT NULL DEFAULT 0;"
	"INSERT INTO t VALUES (1, 2);"},
    {3, "CREATE TABLE u (z TEXT);"},
};

static void
test_concurrent_first_open(void **state)
{
	char dir[] = "/tmp/moat-db-XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (int round = 0; round < ROUNDS; round++) {
		char *path = xasprintf("%s/r%d.db", dir, round);
		int gate[2], failed = 0;
		pid_t pids[OPENERS];
		sqlite3 *db;
		char *error = NULL;

		assert_int_equal(pipe(gate), 0);
		for (int i = 0; i < OPENERS; i++) {
			pids[i] = fork();
			assert_true(pids[i] >= 0);
			if (pids[i] == 0) {
				char c;

				close(gate[1]);
				/* all start at once, when the gate closes */
				if (read(gate[0], &c, 1) < 0)
					_exit(2);
				if (db_open(path, migrations, 3, &db, &error) <
				    0) {
					fprintf(stderr, "open: %s\n", error);
					_exit(1);
				}
				db_close(&db);
				_exit(0);
			}
		}
		close(gate[0]);
		close(gate[1]);
		for (int i = 0; i < OPENERS; i++) {
			int status;

			assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed++;
		}
		assert_int_equal(failed, 0);
		assert_int_equal(db_open(path, migrations, 3, &db, &error), 0);
		{
			sqlite3_stmt *st;

			assert_int_equal(
			    sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1,
					       &st, NULL),
			    SQLITE_OK);
			assert_int_equal(sqlite3_step(st), SQLITE_ROW);
			/* migration 2 ran once */
			assert_int_equal(sqlite3_column_int(st, 0), 1);
			sqlite3_finalize(st);
		}
		db_close(&db);
		free(path);
	}
	{
		char *cmd = xasprintf("rm -rf '%s'", dir);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_concurrent_first_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
