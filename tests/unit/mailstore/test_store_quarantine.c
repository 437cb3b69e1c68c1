/*
 * Unit tests for the store's quarantine operations (embedded backend,
 * mailstore/quarantine_db.c): From/Subject summaries, adding a message with
 * one entry per recipient (bytes stored once, idempotent by queue id),
 * listing by recipient and message, removal that drops the file with the
 * last entry, expiry, refused ids, ids and UIDVALIDITY that survive a
 * reopen and are never reused, and the per-user read-only Quarantine
 * mailbox (listed, only the user's entries, writes refused with the right
 * response code, COPY/MOVE out releases).
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
#include "mailstore/msg_structure.h"
#include "mailstore/store.h"
#include "store_fixture.h"

static const char message[] =
    "From: =?UTF-8?B?SsO2cmc=?= <joerg@remote.example>\r\n"
    "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= and\r\n more\r\n"
    "\r\n"
    "Subject: not this one\r\n";

static int
setup(void **state)
{
	/* The message sits at offset 3 behind an envelope stand-in. */
	*state = store_fixture_new("quar", "env", message);
	return 0;
}

static void
reopen(struct fixture *f)
{
	char *error = NULL;

	store_close(&f->store);
	assert_int_equal(store_open(f->dir, &f->store, &error), 0);
}

static int
add(struct fixture *f, const char *qid, const char *const *rcpts, size_t count,
    time_t expires)
{
	struct store_quarantine_new q;
	char *error = NULL;
	int rc, result = -1;

	memset(&q, 0, sizeof(q));
	q.qid = qid;
	q.mail_from = "sender@remote.example";
	q.received = 1000;
	q.expires = expires;
	q.reason = "Virus found: Eicar-Test-Signature";
	q.by = "clamav";
	q.symbols = "CLAMAV_VIRUS(0.00)";
	q.score = 1.5;
	q.fd = f->fd;
	q.offset = 3;
	q.size = strlen(message);
	q.rcpts = rcpts;
	q.rcpt_count = count;
	rc = store_quarantine_add(f->store, &q, 1, &result, &error);
	free(error);
	return rc < 0 ? -1 : result;
}

static size_t
count_entries(struct fixture *f, const char *rcpt, const char *qid)
{
	struct store_quarantine_entry *list = NULL;
	size_t count = 99;
	char *error = NULL;

	assert_int_equal(
	    store_quarantine_list(f->store, rcpt, qid, &list, &count, &error),
	    0);
	store_quarantine_entries_free(list, count);
	return count;
}

static bool
file_exists(struct fixture *f, const char *qid)
{
	char *path = xasprintf("%s/quarantine/msg/%s", f->dir, qid);
	struct stat st;
	bool ok = stat(path, &st) == 0;

	free(path);
	return ok;
}

/* ---- From / Subject summaries ---- */

static void
test_summary(void **state)
{
	static const struct {
		const char *header, *from, *subject;
	} rows[] = {
	    {"From: a@b.example\r\nSubject: hi\r\n\r\nbody", "a@b.example",
	     "hi"},
	    {"Subject: =?UTF-8?Q?caf=C3=A9?=\r\n\r\n", "", "caf\xc3\xa9"},
	    {"subject: folded\r\n\tline\r\n\r\n", "", "folded line"},
	    {"Subject: bell\x07 and  spaces\x1b[31m\r\n\r\n", "",
	     "bell and spaces [31m"},
	    {"X: y\n\nSubject: in the body\n", "", ""},
	    {"From: only\r\n", "only", ""},
	    {"", "", ""},
	    {"Subject: \r\n\r\n", "", ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *from = NULL, *subject = NULL;

		store_quarantine_summary(rows[i].header, strlen(rows[i].header),
					 &from, &subject);
		if (strcmp(from, rows[i].from) != 0 ||
		    strcmp(subject, rows[i].subject) != 0)
			fail_msg("row %zu: from '%s' subject '%s'", i, from,
				 subject);
		free(from);
		free(subject);
	}
}

static void
test_summary_long(void **state)
{
	char header[2048];
	char *from = NULL, *subject = NULL;
	size_t n = 0;

	(void)state;
	/* 300 two-byte characters: cut at 256 bytes, between characters. */
	n += (size_t)snprintf(header, sizeof(header), "Subject: x");
	for (int i = 0; i < 300; i++) {
		header[n++] = '\xc3';
		header[n++] = '\xa9';
	}
	memcpy(header + n, "\r\n\r\n", 5);
	store_quarantine_summary(header, strlen(header), &from, &subject);
	assert_true(strlen(subject) <= STORE_QUARANTINE_SUMMARY_MAX);
	assert_true(strlen(subject) >= STORE_QUARANTINE_SUMMARY_MAX - 1);
	assert_true(((unsigned char)subject[strlen(subject) - 1] & 0xc0) ==
		    0x80);
	free(from);
	free(subject);
}

/* ---- add, list, get ---- */

static void
test_add_list_get(void **state)
{
	struct fixture *f = *state;
	static const char *const one[] = {"demo@example.test"};
	static const char *const two[] = {"demo@example.test",
					  "bob@relay.example"};
	static const char *const dup[] = {"x@example.test", "X@example.test"};
	static const struct {
		const char *qid;
		const char *const *rcpts;
		size_t count, want_entries;
	} rows[] = {
	    {"AAAAAAAAAAAAAAAAAAA1", one, 1, 1},
	    {"AAAAAAAAAAAAAAAAAAA2", two, 2, 2},
	    {"AAAAAAAAAAAAAAAAAAA3", dup, 2, 1},
	};
	struct store_quarantine_entry e, *list = NULL;
	size_t count = 0;
	char *error = NULL;
	char got[256];
	int fd;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(
		    add(f, rows[i].qid, rows[i].rcpts, rows[i].count, 2000), 1);
		/* Again (a queue retry after a crash): nothing changes. */
		assert_int_equal(
		    add(f, rows[i].qid, rows[i].rcpts, rows[i].count, 2000), 0);
		assert_int_equal(count_entries(f, NULL, rows[i].qid),
				 rows[i].want_entries);
		assert_true(file_exists(f, rows[i].qid));
	}
	assert_int_equal(count_entries(f, NULL, NULL), 4);
	assert_int_equal(count_entries(f, "DEMO@example.test", NULL), 2);
	assert_int_equal(count_entries(f, "bob@relay.example", NULL), 1);
	assert_int_equal(count_entries(f, "nobody@example.test", NULL), 0);
	assert_int_equal(
	    count_entries(f, "demo@example.test", "AAAAAAAAAAAAAAAAAAA2"), 1);

	assert_int_equal(store_quarantine_list(f->store, NULL,
					       "AAAAAAAAAAAAAAAAAAA2", &list,
					       &count, &error),
			 0);
	assert_int_equal(count, 2);
	assert_true(list[0].id < list[1].id);
	assert_string_equal(list[0].path, list[1].path); /* stored once */
	assert_int_equal(store_quarantine_get(f->store, list[1].id, &e, &error),
			 1);
	assert_string_equal(e.qid, "AAAAAAAAAAAAAAAAAAA2");
	assert_string_equal(e.rcpt, "bob@relay.example");
	assert_string_equal(e.mail_from, "sender@remote.example");
	assert_string_equal(e.from, "J\xc3\xb6rg <joerg@remote.example>");
	assert_string_equal(e.subject, "Gr\xc3\xbc\xc3\x9f"
				       "e and more");
	assert_string_equal(e.reason, "Virus found: Eicar-Test-Signature");
	assert_string_equal(e.by, "clamav");
	assert_string_equal(e.symbols, "CLAMAV_VIRUS(0.00)");
	assert_true(e.score > 1.49 && e.score < 1.51);
	assert_int_equal(e.received, 1000);
	assert_int_equal(e.expires, 2000);
	assert_int_equal(e.size, strlen(message));
	fd = open(e.path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, got, sizeof(got)), (ssize_t)strlen(message));
	close(fd);
	assert_memory_equal(got, message, strlen(message));
	store_quarantine_entry_clear(&e);
	store_quarantine_entries_free(list, count);
	assert_int_equal(store_quarantine_get(f->store, 9999, &e, &error), 0);
}

static void
test_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const one[] = {"demo@example.test"};
	static const struct {
		const char *qid;
		size_t count;
	} rows[] = {
	    {"../../etc/passwd", 1},
	    {"", 1},
	    {"A/B", 1},
	    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 1}, /* 33 */
	    {".hidden", 1},
	    {"AAAA", 0}, /* no recipient */
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (add(f, rows[i].qid, one, rows[i].count, 2000) != -1)
			fail_msg("row %zu accepted", i);
	assert_int_equal(count_entries(f, NULL, NULL), 0);
}

/* ---- remove, prune ---- */

static void
test_remove_last_entry_drops_file(void **state)
{
	struct fixture *f = *state;
	static const char *const three[] = {"a@example.test", "b@example.test",
					    "c@example.test"};
	struct store_quarantine_entry *list = NULL;
	size_t count = 0;
	char *error = NULL;
	uint64_t ids[3], none = 424242;

	assert_int_equal(add(f, "BBBBBBBBBBBBBBBBBBB1", three, 3, 2000), 1);
	assert_int_equal(
	    store_quarantine_list(f->store, NULL, NULL, &list, &count, &error),
	    0);
	assert_int_equal(count, 3);
	for (size_t i = 0; i < 3; i++)
		ids[i] = list[i].id;
	store_quarantine_entries_free(list, count);

	assert_int_equal(store_quarantine_remove(f->store, &none, 1, &error),
			 0);
	assert_int_equal(store_quarantine_remove(f->store, ids, 1, &error), 1);
	assert_true(file_exists(f, "BBBBBBBBBBBBBBBBBBB1"));
	assert_int_equal(store_quarantine_remove(f->store, ids + 1, 1, &error),
			 1);
	assert_true(file_exists(f, "BBBBBBBBBBBBBBBBBBB1"));
	/* again: already gone */
	assert_int_equal(store_quarantine_remove(f->store, ids + 1, 1, &error),
			 0);
	assert_int_equal(store_quarantine_remove(f->store, ids, 3, &error), 1);
	assert_false(file_exists(f, "BBBBBBBBBBBBBBBBBBB1"));
	assert_int_equal(count_entries(f, NULL, NULL), 0);
	/* The qid may come back (a release re-quarantined is a new id
	 * anyway) and its entries get new ids. */
	assert_int_equal(add(f, "BBBBBBBBBBBBBBBBBBB1", three, 1, 2000), 1);
	reopen(f);
	assert_int_equal(
	    store_quarantine_list(f->store, NULL, NULL, &list, &count, &error),
	    0);
	assert_int_equal(count, 1);
	assert_true(list[0].id > ids[2]); /* never reused */
	store_quarantine_entries_free(list, count);
}

static void
test_prune(void **state)
{
	struct fixture *f = *state;
	static const char *const two[] = {"a@example.test", "b@example.test"};
	static const struct {
		const char *qid;
		time_t expires;
		bool kept; /* after prune at 5000 */
	} rows[] = {
	    {"CCCCCCCCCCCCCCCCCCC1", 4000, false},
	    {"CCCCCCCCCCCCCCCCCCC2", 5000, false}, /* expires == now */
	    {"CCCCCCCCCCCCCCCCCCC3", 5001, true},
	    {"CCCCCCCCCCCCCCCCCCC4", 90000, true},
	};
	char *error = NULL;
	size_t removed = 99;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(add(f, rows[i].qid, two, 2, rows[i].expires),
				 1);
	assert_int_equal(
	    store_quarantine_prune(f->store, 3000, 0, &removed, &error), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(
	    store_quarantine_prune(f->store, 5000, 0, &removed, &error), 0);
	assert_int_equal(removed, 4);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(file_exists(f, rows[i].qid), rows[i].kept);
		assert_int_equal(count_entries(f, NULL, rows[i].qid),
				 rows[i].kept ? 2 : 0);
	}
}

/* A retention given to prune applies to the entries already stored:
 * arrival (1000) plus retention, whatever expiry they were stored with. */
static void
test_prune_rebases_expiry(void **state)
{
	struct fixture *f = *state;
	static const char *const one[] = {"a@example.test"};
	struct store_quarantine_entry *list = NULL;
	size_t removed = 99, count = 0;
	char *error = NULL;

	assert_int_equal(add(f, "DDDDDDDDDDDDDDDDDDD1", one, 1, 90000), 1);
	/* Longer: kept, its expiry moved to 1000 + 10000. */
	assert_int_equal(
	    store_quarantine_prune(f->store, 5000, 10000, &removed, &error), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(
	    store_quarantine_list(f->store, NULL, NULL, &list, &count, &error),
	    0);
	assert_int_equal(count, 1);
	assert_int_equal(list[0].expires, 11000);
	store_quarantine_entries_free(list, count);
	/* Shorter: 1000 + 3000 is past at 5000. */
	assert_int_equal(
	    store_quarantine_prune(f->store, 5000, 3000, &removed, &error), 0);
	assert_int_equal(removed, 1);
	assert_false(file_exists(f, "DDDDDDDDDDDDDDDDDDD1"));
}

static void
test_uidvalidity_stable(void **state)
{
	struct fixture *f = *state;
	static const char *const two[] = {"a@example.test", "b@example.test"};
	struct store_quarantine_entry *list = NULL;
	uint32_t a = 0, b = 0, next = 0, next2 = 0, *uids = NULL;
	uint64_t m0 = 0, m1 = 0, m2 = 0, ids[1];
	size_t count = 0;
	char *error = NULL;

	assert_int_equal(
	    store_quarantine_status(f->store, &a, &next, &m0, &error), 0);
	assert_true(a != 0);
	assert_int_equal(next, 1);
	assert_int_equal(add(f, "DDDDDDDDDDDDDDDDDDD1", two, 2, 9000), 1);
	reopen(f);
	assert_int_equal(
	    store_quarantine_status(f->store, &b, &next2, &m1, &error), 0);
	assert_int_equal(a, b);
	assert_int_equal(next2, 3);
	assert_true(m1 > m0); /* an add is a change */
	assert_int_equal(store_quarantine_list(f->store, "b@example.test", NULL,
					       &list, &count, &error),
			 0);
	assert_int_equal(count, 1);
	assert_true(list[0].modseq > m0 && list[0].modseq <= m1);
	ids[0] = list[0].id;
	store_quarantine_entries_free(list, count);
	/* a removal too, remembered for b only (QRESYNC) */
	assert_int_equal(store_quarantine_remove(f->store, ids, 1, &error), 1);
	assert_int_equal(
	    store_quarantine_status(f->store, &b, &next2, &m2, &error), 0);
	assert_true(m2 > m1);
	assert_int_equal(next2, 3);
	assert_int_equal(store_quarantine_expunged_since(f->store,
							 "B@example.test", m1,
							 &uids, &count, &error),
			 0);
	assert_int_equal(count, 1);
	assert_int_equal(uids[0], ids[0]);
	free(uids);
	assert_int_equal(store_quarantine_expunged_since(f->store,
							 "b@example.test", m2,
							 &uids, &count, &error),
			 0);
	assert_int_equal(count, 0);
	free(uids);
	assert_int_equal(store_quarantine_expunged_since(f->store,
							 "a@example.test", 0,
							 &uids, &count, &error),
			 0);
	assert_int_equal(count, 0);
	free(uids);
}

/* ---- several messages in one call (the queue's group commit) ---- */

static void
test_add_batch(void **state)
{
	struct fixture *f = *state;
	static const char *const one[] = {"a@example.test"};
	static const char *const qids[] = {
	    "FFFFFFFFFFFFFFFFFFF1", "FFFFFFFFFFFFFFFFFFF2",
	    "FFFFFFFFFFFFFFFFFFF1", /* twice in one call: once */
	    "FFFFFFFFFFFFFFFFFFF3"};
	static const int want[] = {1, 1, 0, 0}; /* F3 is there already */
	struct store_quarantine_new q[4];
	int results[4];
	char *error = NULL;

	assert_int_equal(add(f, "FFFFFFFFFFFFFFFFFFF3", one, 1, 9000), 1);
	memset(q, 0, sizeof(q));
	for (size_t i = 0; i < 4; i++) {
		q[i].qid = qids[i];
		q[i].mail_from = "";
		q[i].reason = "r";
		q[i].by = "b";
		q[i].symbols = "";
		q[i].fd = f->fd;
		q[i].offset = 3;
		q[i].size = strlen(message);
		q[i].rcpts = one;
		q[i].rcpt_count = 1;
		q[i].expires = 9000;
	}
	assert_int_equal(store_quarantine_add(f->store, q, 4, results, &error),
			 0);
	for (size_t i = 0; i < 4; i++)
		if (results[i] != want[i])
			fail_msg("row %zu: %d", i, results[i]);
	assert_int_equal(count_entries(f, NULL, NULL), 3);
	for (size_t i = 0; i < 4; i++)
		assert_true(file_exists(f, qids[i]));
	/* One bad message refuses the whole call: nothing stored. */
	q[0].qid = "FFFFFFFFFFFFFFFFFFF4";
	q[1].qid = "../F5";
	assert_int_equal(store_quarantine_add(f->store, q, 2, results, &error),
			 -1);
	x_free(&error);
	assert_false(file_exists(f, "FFFFFFFFFFFFFFFFFFF4"));
	assert_int_equal(count_entries(f, NULL, NULL), 3);
}

/* ---- the per-user Quarantine mailbox ---- */

static void
test_quarantine_mailbox(void **state)
{
	struct fixture *f = *state;
	static const char *const both[] = {"demo@example.test",
					   "bob@example.test"};
	static const char *const bob[] = {"bob@example.test"};
	struct store_mailbox_info *boxes = NULL, info;
	struct store_message_info *msgs = NULL;
	struct store_flag_result *fr = NULL;
	struct msg_structure *ms = NULL;
	uint32_t *new_uids = NULL, *gone = NULL, validity = 0, uid, bob_uid;
	size_t count = 0, nfr = 0, ngone = 0;
	bool listed = false;
	char *error = NULL;
	static const struct {
		const char *what;
		const char *code;
	} refused[] = {
	    {"create", "[CANNOT]"},   {"delete", "[CANNOT]"},
	    {"rename", "[CANNOT]"},   {"rename-to", "[CANNOT]"},
	    {"flags", "[READ-ONLY]"}, {"expunge", "[READ-ONLY]"},
	    {"copy-in", "[CANNOT]"},  {"deliver", "[CANNOT]"},
	};

	assert_int_equal(
	    store_user_create(f->store, "demo@example.test", &error), 0);
	assert_int_equal(add(f, "EEEEEEEEEEEEEEEEEEE1", both, 2, 9000), 1);
	assert_int_equal(add(f, "EEEEEEEEEEEEEEEEEEE2", bob, 1, 9000), 1);

	assert_int_equal(store_mailbox_list(f->store, "demo@example.test",
					    &boxes, &count, &error),
			 0);
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			assert_true(strcmp(boxes[i - 1].name, boxes[i].name) <
				    0);
		listed = listed || strcmp(boxes[i].name, "Quarantine") == 0;
	}
	assert_true(listed);
	store_mailbox_info_free(boxes, count);

	assert_int_equal(store_mailbox_get(f->store, "demo@example.test",
					   "Quarantine", &info, &error),
			 1);
	assert_true(info.readonly);
	assert_int_equal(info.messages, 1);
	assert_int_equal(info.size, strlen(message));
	assert_int_equal(info.uidnext, 4);
	store_mailbox_info_clear(&info);

	/* demo sees one message (the shared one), bob two */
	assert_int_equal(store_list(f->store, "demo@example.test", "Quarantine",
				    &msgs, &count, &error),
			 0);
	assert_int_equal(count, 1);
	uid = msgs[0].uid;
	assert_string_equal(msgs[0].flags, "");
	assert_int_equal(msgs[0].internal_date, 1000);
	store_message_info_free(msgs, count);
	assert_int_equal(store_list(f->store, "bob@example.test", "Quarantine",
				    &msgs, &count, &error),
			 0);
	assert_int_equal(count, 2);
	bob_uid = msgs[1].uid;
	store_message_info_free(msgs, count);
	assert_int_equal(store_message_structure(f->store, "demo@example.test",
						 "Quarantine", uid, &ms,
						 &error),
			 1);
	msg_structure_free(&ms);
	assert_int_equal(store_message_structure(f->store, "demo@example.test",
						 "Quarantine", bob_uid, &ms,
						 &error),
			 0);

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		const char *w = refused[i].what;
		int rc = 0;

		if (strcmp(w, "create") == 0)
			rc = store_mailbox_create(f->store, "demo@example.test",
						  "Quarantine", NULL, &error);
		else if (strcmp(w, "delete") == 0)
			rc = store_mailbox_delete(f->store, "demo@example.test",
						  "Quarantine", &error);
		else if (strcmp(w, "rename") == 0)
			rc = store_mailbox_rename(f->store, "demo@example.test",
						  "Quarantine", "Q", &error);
		else if (strcmp(w, "rename-to") == 0)
			rc = store_mailbox_rename(f->store, "demo@example.test",
						  "Archive", "Quarantine",
						  &error);
		else if (strcmp(w, "flags") == 0)
			rc = store_flags_update(
			    f->store, "demo@example.test", "Quarantine", &uid,
			    1, STORE_FLAGS_ADD, "\\Seen", 0, &fr, &nfr, &error);
		else if (strcmp(w, "expunge") == 0)
			rc = store_expunge(f->store, "demo@example.test",
					   "Quarantine", &uid, 1, false, &gone,
					   &ngone, &error);
		else if (strcmp(w, "copy-in") == 0)
			rc = store_copy(f->store, "demo@example.test", "INBOX",
					"Quarantine", &uid, 1, false, &new_uids,
					&validity, &error);
		else {
			struct store_delivery d;

			memset(&d, 0, sizeof(d));
			d.user = "demo@example.test";
			d.mailbox = "Quarantine";
			d.fd = f->fd;
			d.size = 1;
			assert_int_equal(store_begin(f->store, &error), 0);
			rc = store_deliver(f->store, &d, NULL, &error);
			store_rollback(f->store);
		}
		if (rc != -1 || error == NULL ||
		    strncmp(error, refused[i].code, strlen(refused[i].code)) !=
			0)
			fail_msg("%s: rc %d error %s", w, rc,
				 error != NULL ? error : "(none)");
		x_free(&error);
	}

	/* Release out: demo's entry goes into Archive; bob's uid is not
	 * demo's to release. */
	{
		uint32_t uids[2] = {uid, bob_uid};

		assert_int_equal(store_copy(f->store, "demo@example.test",
					    "Quarantine", "Archive", uids, 2,
					    true, &new_uids, &validity, &error),
				 0);
		assert_int_equal(new_uids[0], 1);
		assert_int_equal(new_uids[1], 0);
		free(new_uids);
	}
	assert_int_equal(store_list(f->store, "demo@example.test", "Archive",
				    &msgs, &count, &error),
			 0);
	assert_int_equal(count, 1);
	{
		char got[1024];
		int fd = open(msgs[0].path, O_RDONLY);
		ssize_t n = read(fd, got, sizeof(got) - 1);

		close(fd);
		assert_true(n > 0);
		got[n] = '\0';
		assert_non_null(strstr(got, "Return-Path: "
					    "<sender@remote.example>\r\n"));
		assert_non_null(strstr(got,
				       "X-Moat-Released: by "
				       "demo@example.test via IMAP "
				       "(quarantine EEEEEEEEEEEEEEEEEEE1)"));
		assert_non_null(strstr(got, message));
	}
	store_message_info_free(msgs, count);
	assert_int_equal(count_entries(f, "demo@example.test", NULL), 0);
	assert_int_equal(count_entries(f, "bob@example.test", NULL), 2);
	assert_true(file_exists(f, "EEEEEEEEEEEEEEEEEEE1")); /* bob's */
	/* no such target */
	assert_int_equal(store_copy(f->store, "bob@example.test", "Quarantine",
				    "Nope", &bob_uid, 1, true, &new_uids,
				    &validity, &error),
			 -1);
	x_free(&error);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_summary),
	    cmocka_unit_test(test_summary_long),
	    cmocka_unit_test_setup_teardown(test_add_list_get, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_add_batch, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_remove_last_entry_drops_file,
					    setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_prune, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_prune_rebases_expiry, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_uidvalidity_stable, setup,
					    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_quarantine_mailbox, setup,
					    store_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
