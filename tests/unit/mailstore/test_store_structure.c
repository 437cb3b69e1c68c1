/*
 * Unit tests for the structure cache of the embedded store: a delivered
 * message has its msg_structure blob in the index (with the Return-Path
 * prefix counted in its offsets), store_message_structure() returns it
 * without touching the file, a row without a blob (an older message) or
 * with a damaged blob is parsed from its file and cached, and a missing UID
 * or mailbox answers 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "mailstore/msg_structure.h"
#include "mailstore/store.h"
#include "store_fixture.h"

static const char message[] = "From: Ann <ann@example.test>\r\n"
			      "Subject: parts\r\n"
			      "Content-Type: multipart/mixed; boundary=b\r\n"
			      "\r\n"
			      "--b\r\n"
			      "\r\n"
			      "hello\r\n"
			      "--b\r\n"
			      "Content-Type: application/octet-stream\r\n"
			      "Content-Transfer-Encoding: base64\r\n"
			      "\r\n"
			      "aGk=\r\n"
			      "--b--\r\n";

static const char prefix[] = "Return-Path: <a@b.example>\r\n";

static const char want_body[] =
    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0)"
    "(\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 4) \"mixed\")";

static int
setup(void **state)
{
	struct fixture *f = store_fixture_new("structure", "", message);
	char *error = NULL;

	assert_int_equal(
	    store_user_create(f->store, "demo@example.test", &error), 0);
	*state = f;
	return 0;
}

static void
deliver_one(struct fixture *f, const char *key)
{
	struct store_delivery d;
	char *error = NULL;
	uint32_t uid;

	memset(&d, 0, sizeof(d));
	d.user = "demo@example.test";
	d.mailbox = "INBOX";
	d.key = key;
	d.prefix = prefix;
	d.prefix_len = strlen(prefix);
	d.fd = f->fd;
	d.size = strlen(message);
	d.internal_date = 1700000000;
	assert_int_equal(store_begin(f->store, &error), 0);
	assert_int_equal(store_deliver(f->store, &d, &uid, &error), 1);
	assert_int_equal(store_commit(f->store, &error), 0);
}

/* Runs one SQL statement on the index behind the store's back. */
static void
index_exec(struct fixture *f, const char *sql)
{
	char *path = xasprintf("%s/mail/index.db", f->dir);
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
}

static int
blob_count(struct fixture *f)
{
	char *path = xasprintf("%s/mail/index.db", f->dir);
	sqlite3 *db;
	sqlite3_stmt *stmt;
	int n;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT count(*) FROM messages "
					    "WHERE structure IS NOT NULL",
					    -1, &stmt, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	n = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	free(path);
	return n;
}

/* Fetches UID 1 and checks BODY and the offset of part 2. */
static void
check_uid1(struct fixture *f)
{
	struct msg_structure *s = NULL;
	struct msg_section sec;
	struct buf out = {0};
	char *error = NULL;
	const char *part2;

	assert_int_equal(store_message_structure(f->store, "demo@example.test",
						 "INBOX", 1, &s, &error),
			 1);
	assert_int_equal(msg_structure_size(s),
			 strlen(prefix) + strlen(message));
	msg_structure_bodystructure(s, false, &out);
	assert_string_equal(buf_cstr(&out), want_body);
	assert_int_equal(msg_structure_section(s, "2", &sec, &error), 1);
	part2 = strstr(message, "aGk=");
	assert_int_equal(sec.offset,
			 strlen(prefix) + (size_t)(part2 - message));
	buf_free(&out);
	msg_structure_free(&s);
}

static void
test_cached_at_delivery(void **state)
{
	struct fixture *f = *state;
	struct msg_structure *s = NULL;
	char *error = NULL;

	deliver_one(f, "Q1/0");
	assert_int_equal(blob_count(f), 1);
	check_uid1(f);
	/* The cached copy is used: the file may be gone. */
	index_exec(f, "UPDATE messages SET file = 'gone'");
	check_uid1(f);
	assert_int_equal(store_message_structure(f->store, "demo@example.test",
						 "INBOX", 2, &s, &error),
			 0);
	assert_int_equal(store_message_structure(f->store, "demo@example.test",
						 "Nowhere", 1, &s, &error),
			 0);
	assert_null(s);
}

static void
test_lazy_for_older_rows(void **state)
{
	struct fixture *f = *state;

	deliver_one(f, "Q1/0");
	index_exec(f, "UPDATE messages SET structure = NULL");
	assert_int_equal(blob_count(f), 0);
	check_uid1(f);
	assert_int_equal(blob_count(f), 1); /* cached now */
	/* A damaged blob is replaced. */
	index_exec(f, "UPDATE messages SET structure = x'4d534231ffff'");
	check_uid1(f);
	index_exec(f, "UPDATE messages SET file = 'gone'");
	check_uid1(f);
}

static void
test_missing_file(void **state)
{
	struct fixture *f = *state;
	struct msg_structure *s = NULL;
	char *error = NULL;

	deliver_one(f, "Q1/0");
	index_exec(f, "UPDATE messages SET structure = NULL, file = 'gone'");
	assert_int_equal(store_message_structure(f->store, "demo@example.test",
						 "INBOX", 1, &s, &error),
			 -1);
	assert_non_null(error);
	free(error);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_cached_at_delivery, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_lazy_for_older_rows, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_missing_file, setup,
					    store_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
