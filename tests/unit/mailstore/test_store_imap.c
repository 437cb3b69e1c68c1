/*
 * Unit tests for the IMAP operations of the embedded store: mailbox
 * create/rename/delete/subscribe (parents made, INBOX rules, invalid
 * names), flag updates with modseq bumps and UNCHANGEDSINCE, expunge
 * (\Deleted only, remembered for QRESYNC, UIDs never reused), copy and
 * move with new UIDs, APPEND-style delivery with flags, status counters
 * and the per-user quota.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "mailstore/store.h"
#include "store_fixture.h"

#define USER "demo@example.test"

static const char message[] = "Subject: test\r\n\r\nbody\r\n";

static int
setup(void **state)
{
	struct fixture *f = store_fixture_new("simap", "", message);
	char *error = NULL;

	assert_int_equal(store_user_create(f->store, USER, &error), 0);
	*state = f;
	return 0;
}

static int
append(struct fixture *f, const char *mailbox, const char *flags,
       uint32_t *uid_r)
{
	struct store_delivery d;
	char *error = NULL;
	int rc;

	memset(&d, 0, sizeof(d));
	d.user = USER;
	d.mailbox = mailbox;
	d.fd = f->fd;
	d.size = strlen(message);
	d.internal_date = 1700000000;
	d.flags = flags;
	assert_int_equal(store_begin(f->store, &error), 0);
	rc = store_deliver(f->store, &d, uid_r, &error);
	if (rc != 1) {
		store_rollback(f->store);
		free(error);
		return rc;
	}
	assert_int_equal(store_commit(f->store, &error), 0);
	return rc;
}

static struct store_mailbox_info
status(struct fixture *f, const char *name)
{
	struct store_mailbox_info info;
	char *error = NULL;

	assert_int_equal(store_mailbox_get(f->store, USER, name, &info, &error),
			 1);
	return info;
}

static void
test_mailboxes(void **state)
{
	struct fixture *f = *state;
	struct store_mailbox_info *list, info;
	size_t count;
	char *error = NULL;
	uint32_t v1;
	static const char *const bad[] = {"",	"/a",	"a/", "a//b", "a/../b",
					  "..", "a\tb", "a*", "./x"};

	assert_int_equal(
	    store_mailbox_create(f->store, USER, "a/b/c", NULL, &error), 0);
	assert_int_equal(
	    store_mailbox_list(f->store, USER, &list, &count, &error), 0);
	/* 6 special + Quarantine + a, a/b, a/b/c */
	assert_int_equal(count, 10);
	store_mailbox_info_free(list, count);
	assert_int_equal(
	    store_mailbox_create(f->store, USER, "a/b", NULL, &error), -1);
	assert_non_null(strstr(error, "ALREADYEXISTS"));
	x_free(&error);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    store_mailbox_create(f->store, USER, bad[i], NULL, &error),
		    -1);
		x_free(&error);
	}
	/* rename moves children */
	assert_int_equal(
	    store_mailbox_rename(f->store, USER, "a", "x/y", &error), 0);
	info = status(f, "x/y/b/c");
	store_mailbox_info_clear(&info);
	assert_int_equal(
	    store_mailbox_get(f->store, USER, "a/b", &info, &error), 0);
	/* delete and re-create: a new UIDVALIDITY */
	info = status(f, "x/y/b/c");
	v1 = info.uidvalidity;
	store_mailbox_info_clear(&info);
	assert_int_equal(
	    store_mailbox_delete(f->store, USER, "x/y/b/c", &error), 0);
	assert_int_equal(
	    store_mailbox_create(f->store, USER, "x/y/b/c", NULL, &error), 0);
	info = status(f, "x/y/b/c");
	assert_true(info.uidvalidity != v1);
	store_mailbox_info_clear(&info);
	/* INBOX */
	assert_int_equal(store_mailbox_delete(f->store, USER, "inbox", &error),
			 -1);
	x_free(&error);
	assert_int_equal(
	    store_mailbox_subscribe(f->store, USER, "Sent", false, &error), 0);
	info = status(f, "Sent");
	assert_false(info.subscribed);
	assert_string_equal(info.special_use, "\\Sent");
	store_mailbox_info_clear(&info);
}

static void
test_flags_expunge(void **state)
{
	struct fixture *f = *state;
	struct store_mailbox_info info;
	struct store_flag_result *res;
	uint32_t uids[3], *gone, *vanished;
	size_t n, ngone, nvanished;
	uint64_t modseq;
	char *error = NULL;

	for (int i = 0; i < 3; i++)
		assert_int_equal(
		    append(f, "INBOX", "\\seen $Label1 \\Seen", &uids[i]), 1);
	info = status(f, "INBOX");
	assert_int_equal(info.messages, 3);
	assert_int_equal(info.unseen, 0);
	modseq = info.highestmodseq;
	store_mailbox_info_clear(&info);

	assert_int_equal(store_flags_update(f->store, USER, "INBOX", uids, 2,
					    STORE_FLAGS_ADD, "\\Deleted", 0,
					    &res, &n, &error),
			 0);
	assert_int_equal(n, 2);
	assert_true(res[0].changed);
	assert_string_equal(res[0].flags, "\\Seen $Label1 \\Deleted");
	assert_int_equal(res[0].modseq, modseq + 1);
	store_flag_results_free(res, n);

	/* UNCHANGEDSINCE below the message's modseq: refused */
	assert_int_equal(store_flags_update(f->store, USER, "INBOX", uids, 1,
					    STORE_FLAGS_REMOVE, "\\Seen",
					    modseq, &res, &n, &error),
			 0);
	assert_int_equal(n, 1);
	assert_false(res[0].changed);
	store_flag_results_free(res, n);

	assert_int_equal(store_flags_update(f->store, USER, "INBOX", &uids[2],
					    1, STORE_FLAGS_REPLACE, "", 0, &res,
					    &n, &error),
			 0);
	assert_string_equal(res[0].flags, "");
	store_flag_results_free(res, n);

	info = status(f, "INBOX");
	assert_int_equal(info.deleted, 2);
	assert_int_equal(info.unseen, 1);
	modseq = info.highestmodseq;
	store_mailbox_info_clear(&info);

	assert_int_equal(store_expunge(f->store, USER, "INBOX", uids, 3, true,
				       &gone, &ngone, &error),
			 0);
	assert_int_equal(ngone, 2);
	assert_int_equal(gone[0], uids[0]);
	free(gone);
	assert_int_equal(store_expunged_since(f->store, USER, "INBOX", modseq,
					      &vanished, &nvanished, &error),
			 0);
	assert_int_equal(nvanished, 2);
	free(vanished);
	/* UIDs are not reused */
	assert_int_equal(append(f, "INBOX", NULL, &uids[0]), 1);
	assert_int_equal(uids[0], uids[2] + 1);
}

static void
test_copy_move(void **state)
{
	struct fixture *f = *state;
	struct store_mailbox_info info;
	struct store_message_info *msgs;
	uint32_t uids[2], *new_uids, validity;
	size_t count;
	char *error = NULL;

	assert_int_equal(append(f, "INBOX", "\\Flagged", &uids[0]), 1);
	assert_int_equal(append(f, "INBOX", NULL, &uids[1]), 1);
	assert_int_equal(store_copy(f->store, USER, "INBOX", "Archive", uids, 2,
				    false, &new_uids, &validity, &error),
			 0);
	assert_int_equal(new_uids[0], 1);
	assert_int_equal(new_uids[1], 2);
	free(new_uids);
	assert_int_equal(store_copy(f->store, USER, "INBOX", "Trash", uids, 1,
				    true, &new_uids, &validity, &error),
			 0);
	free(new_uids);
	info = status(f, "INBOX");
	assert_int_equal(info.messages, 1);
	store_mailbox_info_clear(&info);
	assert_int_equal(
	    store_list(f->store, USER, "Trash", &msgs, &count, &error), 0);
	assert_int_equal(count, 1);
	assert_string_equal(msgs[0].flags, "\\Flagged");
	assert_int_equal(access(msgs[0].path, R_OK), 0);
	store_message_info_free(msgs, count);
	assert_int_equal(store_copy(f->store, USER, "INBOX", "Nowhere", uids, 1,
				    false, &new_uids, &validity, &error),
			 -1);
	assert_non_null(strstr(error, "TRYCREATE"));
	free(error);
}

static void
test_quota(void **state)
{
	struct fixture *f = *state;
	uint64_t bytes, msgs;
	uint32_t uid;
	char *error = NULL;

	store_set_quota(f->store, 2 * strlen(message));
	assert_int_equal(append(f, "INBOX", NULL, &uid), 1);
	assert_int_equal(append(f, "INBOX", NULL, &uid), 1);
	assert_int_equal(append(f, "INBOX", NULL, &uid), 2);
	assert_int_equal(
	    store_quota_usage(f->store, USER, &bytes, &msgs, &error), 0);
	assert_int_equal(bytes, 2 * strlen(message));
	assert_int_equal(msgs, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_mailboxes, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_flags_expunge, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_copy_move, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_quota, setup,
					    store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
