/*
 * Unit tests for mailstore/train_spool.c: the training request's text
 * form (a table of good and bad requests, a format/parse round trip) and
 * the spool itself in a temporary directory: staging by hard link and by
 * data, the max_pending bound, commit and abort, listing in order,
 * reading, removal and the clean-up of crash debris.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "mailstore/train_spool.h"

#define HEAD                                                                   \
	"moat-train 1\nuser demo@example.test\nclass spam\nreason move\n"      \
	"mailbox INBOX\ntime 1764633600\n"

struct parse_case {
	const char *name;
	const char *text;
	bool ok;
	size_t count; /* uids when ok */
};

static const struct parse_case parse_cases[] = {
    {"minimal", HEAD "uid 5\n", true, 1},
    {"several", HEAD "uid 5\nuid 0\nuid 4294967295\n", true, 3},
    {"any order",
     "moat-train 1\ntime 1\nmailbox Junk/Old mail\nreason flag\nclass "
     "ham\nuser u@x\nuid 1\n",
     true, 1},
    {"utf-8 mailbox",
     "moat-train 1\nuser u@x\nclass ham\nreason copy\nmailbox "
     "Entw\xc3\xbcrfe\ntime 0\nuid 1\n",
     true, 1},
    {"no uid", HEAD, false, 0},
    {"empty", "", false, 0},
    {"wrong magic", "moat-train 2\nuser u\n", false, 0},
    {"no final newline", HEAD "uid 5", false, 0},
    {"missing class",
     "moat-train 1\nuser u@x\nreason move\nmailbox INBOX\ntime 1\nuid "
     "1\n",
     false, 0},
    {"repeated user", HEAD "user v@x\nuid 1\n", false, 0},
    {"unknown field", HEAD "path /etc/passwd\nuid 1\n", false, 0},
    {"uid too big", HEAD "uid 4294967296\n", false, 0},
    {"uid not a number", HEAD "uid 12a\n", false, 0},
    {"uid empty", HEAD "uid \n", false, 0},
    {"negative time",
     "moat-train 1\nuser u@x\nclass spam\nreason move\nmailbox "
     "INBOX\ntime -1\nuid 1\n",
     false, 0},
    {"bad class",
     "moat-train 1\nuser u@x\nclass maybe\nreason move\nmailbox "
     "INBOX\ntime 1\nuid 1\n",
     false, 0},
    {"bad reason",
     "moat-train 1\nuser u@x\nclass spam\nreason sieve\nmailbox "
     "INBOX\ntime 1\nuid 1\n",
     false, 0},
    {"space in user",
     "moat-train 1\nuser u x\nclass spam\nreason move\nmailbox "
     "INBOX\ntime 1\nuid 1\n",
     false, 0},
    {"control in mailbox",
     "moat-train 1\nuser u@x\nclass spam\nreason move\nmailbox "
     "IN\tBOX\ntime 1\nuid 1\n",
     false, 0},
    {"empty mailbox",
     "moat-train 1\nuser u@x\nclass spam\nreason move\nmailbox \ntime "
     "1\nuid 1\n",
     false, 0},
    {"field after uid", HEAD "uid 1\nclass ham\n", false, 0},
    {"line without value", HEAD "uid\n", false, 0},
    {"blank line", HEAD "\nuid 1\n", false, 0},
    {"CR", HEAD "uid 1\r\n", false, 0},
};

static void
test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	     i++) {
		const struct parse_case *c = &parse_cases[i];
		struct train_request req;
		const char *error = NULL;
		int rc;

		print_message("case: %s\n", c->name);
		rc =
		    train_request_parse(c->text, strlen(c->text), &req, &error);
		if (c->ok) {
			assert_int_equal(rc, 0);
			assert_int_equal(req.count, c->count);
		} else {
			assert_int_equal(rc, -1);
			assert_non_null(error);
			assert_null(req.uids);
			assert_int_equal(req.count, 0);
		}
		train_request_clear(&req);
	}
}

static void
test_parse_nul_and_size(void **state)
{
	static const char text[] = HEAD "uid 1\n";
	struct train_request req;
	const char *error;
	char *big;

	(void)state;
	/* A NUL inside the request. */
	assert_int_equal(train_request_parse(text, sizeof(text), &req, &error),
			 -1);
	big = malloc(TRAIN_REQUEST_MAX + 2);
	memset(big, 'x', TRAIN_REQUEST_MAX + 2);
	memcpy(big, text, sizeof(text) - 1);
	big[TRAIN_REQUEST_MAX + 1] = '\n';
	assert_int_equal(
	    train_request_parse(big, TRAIN_REQUEST_MAX + 2, &req, &error), -1);
	free(big);
}

static void
test_format_round_trip(void **state)
{
	uint32_t uids[] = {1, 7, 4294967295u};
	struct train_request req, back;
	const char *error = NULL;
	struct buf text;

	(void)state;
	memset(&req, 0, sizeof(req));
	snprintf(req.user, sizeof(req.user), "%s", "bob@example.test");
	snprintf(req.mailbox, sizeof(req.mailbox), "%s", "Lists/Old stuff");
	req.cls = TRAIN_HAM;
	req.reason = TRAIN_REASON_COPY;
	req.time = 1764633600;
	req.uids = uids;
	req.count = 3;
	buf_init(&text);
	train_request_format(&req, &text);
	assert_int_equal(
	    train_request_parse(text.data, text.len, &back, &error), 0);
	assert_string_equal(back.user, req.user);
	assert_string_equal(back.mailbox, req.mailbox);
	assert_int_equal(back.cls, TRAIN_HAM);
	assert_int_equal(back.reason, TRAIN_REASON_COPY);
	assert_int_equal(back.time, 1764633600);
	assert_int_equal(back.count, 3);
	assert_memory_equal(back.uids, uids, sizeof(uids));
	train_request_clear(&back);
	buf_free(&text);
	assert_string_equal(train_class_name(TRAIN_SPAM), "spam");
	assert_string_equal(train_reason_name(TRAIN_REASON_APPEND), "append");
}

static void
test_validators(void **state)
{
	(void)state;
	assert_true(train_request_valid_user("a@b"));
	assert_false(train_request_valid_user(""));
	assert_false(train_request_valid_user("a b"));
	assert_false(train_request_valid_user("a\x7f"));
	assert_true(train_request_valid_mailbox("Junk/2026 old"));
	assert_false(train_request_valid_mailbox(""));
	assert_false(train_request_valid_mailbox("a\nb"));
}

static char *
make_tmpdir(void)
{
	char tmpl[] = "/tmp/test_train_spool.XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static size_t
count_files(const char *dir)
{
	char cmd[512];
	size_t n = 0;
	FILE *p;
	int c;

	snprintf(cmd, sizeof(cmd), "ls -A %s", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((c = fgetc(p)) != EOF)
		if (c == '\n')
			n++;
	pclose(p);
	return n;
}

static void
rm_rf(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void
test_spool_write_read(void **state)
{
	char *top = make_tmpdir(), *dir, *msg, *error = NULL, **ids = NULL;
	struct train_spool *spool = NULL;
	struct train_batch *b;
	struct train_request req;
	const char *perror;
	struct stat a, l;
	size_t n = 0;

	(void)state;
	dir = xasprintf("%s/spool", top);
	msg = xasprintf("%s/stored", top);
	write_file(msg, "Subject: hi\r\n\r\nbody\r\n");
	assert_int_equal(train_spool_open(dir, 3, &spool, &error), 0);
	assert_string_equal(train_spool_dir(spool), dir);
	/* Invalid names are refused. */
	assert_null(train_batch_new(spool, "a b", "INBOX", TRAIN_SPAM,
				    TRAIN_REASON_MOVE));
	b = train_batch_new(spool, "demo@example.test", "INBOX", TRAIN_SPAM,
			    TRAIN_REASON_MOVE);
	assert_non_null(b);
	assert_int_equal(train_batch_add(b, 7, msg, NULL, 0, &error), 1);
	assert_int_equal(
	    train_batch_add(b, 8, NULL, "X: y\r\n\r\nz\r\n", 10, &error), 1);
	assert_int_equal(train_batch_count(b), 2);
	/* Staged, not yet a request. */
	assert_int_equal(train_spool_pending(dir), 2);
	assert_int_equal(train_spool_list(dir, &ids, &n, &error), 0);
	assert_int_equal(n, 0);
	assert_int_equal(train_batch_commit(&b, &error), 0);
	assert_null(b);
	assert_int_equal(train_spool_list(dir, &ids, &n, &error), 0);
	assert_int_equal(n, 1);
	assert_int_equal(train_spool_read(dir, ids[0], &req, &perror), 1);
	assert_string_equal(req.user, "demo@example.test");
	assert_string_equal(req.mailbox, "INBOX");
	assert_int_equal(req.count, 2);
	assert_int_equal(req.uids[0], 7);
	assert_int_equal(req.uids[1], 8);
	{
		/* Message 0 is the stored file itself (a hard link). */
		char *p = train_spool_message_path(dir, ids[0], 0);

		assert_int_equal(stat(msg, &a), 0);
		assert_int_equal(stat(p, &l), 0);
		assert_int_equal(a.st_ino, l.st_ino);
		free(p);
	}
	train_spool_remove(dir, ids[0], req.count);
	train_request_clear(&req);
	train_spool_ids_free(ids, n);
	assert_int_equal(count_files(dir), 0);
	train_spool_free(&spool);
	assert_null(spool);
	free(msg);
	free(dir);
	rm_rf(top);
	free(top);
}

static void
test_spool_bound_order_abort(void **state)
{
	char *top = make_tmpdir(), *error = NULL, **ids = NULL;
	struct train_spool *spool = NULL;
	struct train_batch *b, *b2;
	size_t n = 0;

	(void)state;
	assert_int_equal(train_spool_open(top, 3, &spool, &error), 0);
	b = train_batch_new(spool, "u@x", "INBOX", TRAIN_SPAM,
			    TRAIN_REASON_COPY);
	for (int i = 0; i < 5; i++)
		assert_int_equal(
		    train_batch_add(b, (uint32_t)i, NULL, "a", 1, &error),
		    i < 3 ? 1 : 0);
	assert_int_equal(train_batch_count(b), 3);
	assert_int_equal(train_batch_dropped(b), 2);
	assert_int_equal(train_batch_commit(&b, &error), 0);
	/* The spool is full: the next batch stages nothing and commits
	 * nothing. */
	b = train_batch_new(spool, "u@x", "INBOX", TRAIN_HAM,
			    TRAIN_REASON_FLAG);
	assert_int_equal(train_batch_add(b, 9, NULL, "a", 1, &error), 0);
	assert_int_equal(train_batch_commit(&b, &error), 0);
	assert_int_equal(train_spool_list(top, &ids, &n, &error), 0);
	assert_int_equal(n, 1);
	train_spool_remove(top, ids[0], 3);
	train_spool_ids_free(ids, n);
	/* Abort removes what was staged; ids sort in creation order. */
	b = train_batch_new(spool, "u@x", "INBOX", TRAIN_HAM,
			    TRAIN_REASON_FLAG);
	assert_int_equal(train_batch_add(b, 1, NULL, "a", 1, &error), 1);
	train_batch_abort(&b);
	assert_null(b);
	assert_int_equal(count_files(top), 0);
	b = train_batch_new(spool, "u@x", "First", TRAIN_HAM,
			    TRAIN_REASON_FLAG);
	b2 = train_batch_new(spool, "u@x", "Second", TRAIN_SPAM,
			     TRAIN_REASON_FLAG);
	assert_int_equal(train_batch_add(b2, 2, NULL, "b", 1, &error), 1);
	assert_int_equal(train_batch_add(b, 1, NULL, "a", 1, &error), 1);
	assert_int_equal(train_batch_commit(&b2, &error), 0);
	assert_int_equal(train_batch_commit(&b, &error), 0);
	assert_int_equal(train_spool_list(top, &ids, &n, &error), 0);
	assert_int_equal(n, 2);
	{
		struct train_request r;
		const char *perror;

		assert_int_equal(train_spool_read(top, ids[0], &r, &perror), 1);
		assert_string_equal(r.mailbox, "First");
		train_request_clear(&r);
	}
	train_spool_ids_free(ids, n);
	train_spool_free(&spool);
	rm_rf(top);
	free(top);
}

static void
test_spool_cleanup_and_bad(void **state)
{
	char *top = make_tmpdir(), path[512], *error = NULL, **ids = NULL;
	struct train_request req;
	const char *perror;
	size_t n = 0;

	(void)state;
	/* Debris: a staged message without a request, a temporary file;
	 * and a request with its message, which must stay. */
	snprintf(path, sizeof(path), "%s/0000000000000001-1-1.0.msg", top);
	write_file(path, "x");
	snprintf(path, sizeof(path), "%s/0000000000000001-1-2.tmp", top);
	write_file(path, "x");
	snprintf(path, sizeof(path), "%s/0000000000000001-1-3.0.msg", top);
	write_file(path, "x");
	snprintf(path, sizeof(path), "%s/0000000000000001-1-3.req", top);
	write_file(path, HEAD "uid 1\n");
	snprintf(path, sizeof(path), "%s/unrelated", top);
	write_file(path, "x");
	assert_int_equal(train_spool_pending(top), 2);
	/* Too young to be debris. */
	assert_int_equal(train_spool_cleanup(top, time(NULL), 600), 0);
	assert_int_equal(train_spool_cleanup(top, time(NULL) + 601, 600), 2);
	assert_int_equal(count_files(top), 3);
	/* A malformed request reads as 0. */
	snprintf(path, sizeof(path), "%s/0000000000000002-1-1.req", top);
	write_file(path, "moat-train 1\nuser\n");
	assert_int_equal(train_spool_list(top, &ids, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_int_equal(train_spool_read(top, ids[1], &req, &perror), 0);
	assert_non_null(perror);
	assert_int_equal(
	    train_spool_read(top, "0000000000000009-1-1", &req, &perror), -1);
	train_spool_ids_free(ids, n);
	/* A missing directory is an empty spool. */
	snprintf(path, sizeof(path), "%s/none", top);
	assert_int_equal(train_spool_list(path, &ids, &n, &error), 0);
	assert_int_equal(n, 0);
	assert_int_equal(train_spool_pending(path), 0);
	rm_rf(top);
	free(top);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_parse_nul_and_size),
	    cmocka_unit_test(test_format_round_trip),
	    cmocka_unit_test(test_validators),
	    cmocka_unit_test(test_spool_write_read),
	    cmocka_unit_test(test_spool_bound_order_abort),
	    cmocka_unit_test(test_spool_cleanup_and_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
