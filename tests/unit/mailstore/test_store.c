/*
 * Unit tests for the embedded store: user creation with the special-use
 * mailboxes, delivery with a prefix, idempotence by delivery key, rollback
 * leaving no file, UIDs increasing across transactions and reopenings,
 * and refusal of user names that would escape the store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "mailstore/store.h"
#include "store_fixture.h"

static const char message[] = "Subject: test\r\n\r\nbody\r\n";

static int
setup(void **state)
{
	/* The message sits at offset 5 behind some other bytes. */
	struct fixture *f = store_fixture_new("store", "xxxxx", message);
	char *error = NULL;

	assert_int_equal(
	    store_user_create(f->store, "demo@example.test", &error), 0);
	*state = f;
	return 0;
}

static int
deliver(struct fixture *f, const char *key, uint32_t *uid_r)
{
	struct store_delivery d;
	char *error = NULL;
	int rc;

	memset(&d, 0, sizeof(d));
	d.user = "demo@example.test";
	d.mailbox = "INBOX";
	d.key = key;
	d.prefix = "Return-Path: <a@b.example>\r\n";
	d.prefix_len = strlen(d.prefix);
	d.fd = f->fd;
	d.offset = 5;
	d.size = strlen(message);
	d.internal_date = 1700000000;
	rc = store_deliver(f->store, &d, uid_r, &error);
	free(error);
	return rc;
}

static void
read_file(const char *path, char *out, size_t outsz)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, out, outsz - 1);
	assert_true(n >= 0);
	out[n] = '\0';
	close(fd);
}

static void
test_deliver_and_list(void **state)
{
	struct fixture *f = *state;
	struct store_message_info *list = NULL;
	size_t count = 0;
	char *error = NULL, got[256];
	uint32_t uid = 0;

	assert_int_equal(store_begin(f->store, &error), 0);
	assert_int_equal(deliver(f, "Q1/0/demo", &uid), 1);
	assert_int_equal(uid, 1);
	assert_int_equal(deliver(f, "Q2/0/demo", &uid), 1);
	assert_int_equal(uid, 2);
	assert_int_equal(store_commit(f->store, &error), 0);
	assert_int_equal(store_list(f->store, "demo@example.test", "INBOX",
				    &list, &count, &error),
			 0);
	assert_int_equal(count, 2);
	assert_int_equal(list[0].uid, 1);
	assert_int_equal(list[1].uid, 2);
	assert_true(list[1].modseq > list[0].modseq);
	assert_int_equal(list[0].size,
			 strlen("Return-Path: <a@b.example>\r\n") +
			     strlen(message));
	assert_int_equal(list[0].internal_date, 1700000000);
	read_file(list[0].path, got, sizeof(got));
	assert_string_equal(got, "Return-Path: <a@b.example>\r\n"
				 "Subject: test\r\n\r\nbody\r\n");
	store_message_info_free(list, count);
}

static void
test_idempotent_by_key(void **state)
{
	struct fixture *f = *state;
	struct store_message_info *list = NULL;
	size_t count = 0;
	char *error = NULL;
	uint32_t uid = 0;

	assert_int_equal(store_begin(f->store, &error), 0);
	assert_int_equal(deliver(f, "QX/0/demo", &uid), 1);
	assert_int_equal(store_commit(f->store, &error), 0);
	/* A redelivery after a crash: stored once. */
	assert_int_equal(store_begin(f->store, &error), 0);
	assert_int_equal(deliver(f, "QX/0/demo", &uid), 0);
	assert_int_equal(store_commit(f->store, &error), 0);
	assert_int_equal(store_list(f->store, "demo@example.test", "INBOX",
				    &list, &count, &error),
			 0);
	assert_int_equal(count, 1);
	store_message_info_free(list, count);
}

static void
test_rollback_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct store_message_info *list = NULL;
	size_t count = 0;
	char *error = NULL, *cmd, *listing;
	uint32_t uid = 0;
	char out[64];
	FILE *p;

	assert_int_equal(store_begin(f->store, &error), 0);
	assert_int_equal(deliver(f, "QR/0/demo", &uid), 1);
	store_rollback(f->store);
	assert_int_equal(store_list(f->store, "demo@example.test", "INBOX",
				    &list, &count, &error),
			 0);
	assert_int_equal(count, 0);
	store_message_info_free(list, count);
	listing = xasprintf("%s/mail/example.test/demo", f->dir);
	cmd = xasprintf("find '%s' -type f | wc -l", listing);
	p = popen(cmd, "r");
	assert_non_null(fgets(out, sizeof(out), p));
	pclose(p);
	assert_int_equal(atoi(out), 0);
	free(cmd);
	free(listing);
}

static void
test_uids_survive_reopen(void **state)
{
	struct fixture *f = *state;
	char *error = NULL;
	uint32_t uid = 0;
	char key[32];

	for (int t = 0; t < 3; t++) {
		assert_int_equal(store_begin(f->store, &error), 0);
		for (int i = 0; i < 4; i++) {
			snprintf(key, sizeof(key), "Q%d/%d", t, i);
			assert_int_equal(deliver(f, key, &uid), 1);
		}
		assert_int_equal(store_commit(f->store, &error), 0);
		store_close(&f->store);
		assert_int_equal(store_open(f->dir, &f->store, &error), 0);
	}
	assert_int_equal(uid, 12);
	assert_int_equal(store_begin(f->store, &error), 0);
	assert_int_equal(deliver(f, "Qlast", &uid), 1);
	assert_int_equal(uid, 13);
	assert_int_equal(store_commit(f->store, &error), 0);
}

static void
test_unsafe_users_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
	    "../evil@example.test", "a/b@example.test", "x@../example.test",
	    ".hidden@x.test", "no-at-sign"};
	char *error = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(store_user_create(f->store, bad[i], &error),
				 -1);
		x_free(&error);
	}
}

int main(void);

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_deliver_and_list, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_idempotent_by_key, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_uids_survive_reopen, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_unsafe_users_refused, setup,
					    store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
