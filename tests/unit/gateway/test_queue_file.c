/*
 * Unit tests for queue_file: queue ids, envelope encoding round trips,
 * strict decoding of broken headers, the trailer check that tells an
 * acknowledged message from one cut short by a crash, and the ready mode.
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

#include "gateway/queue_file.h"
#include "lib/xalloc.h"

static void
test_queue_id_unique_and_valid(void **state)
{
	enum { N = 100000 };
	char(*ids)[QUEUE_ID_MAX] = xcalloc(N, QUEUE_ID_MAX);

	(void)state;
	for (int i = 0; i < N; i++) {
		queue_id_new(ids[i]);
		assert_true(queue_id_valid(ids[i]));
		/* Time-ordered within a process. */
		if (i > 0)
			assert_true(strcmp(ids[i - 1], ids[i]) < 0);
	}
	free(ids);
	assert_false(queue_id_valid(""));
	assert_false(queue_id_valid("0HOEVX3OU5A00AVE000"));
	assert_false(queue_id_valid("0HOEVX3OU5A00AVE000a"));
	assert_false(queue_id_valid("../../../etc/passwd0"));
}

static void
round_trip(const struct queue_envelope *in)
{
	struct queue_envelope out;
	struct buf b;
	const char *error = NULL;
	size_t header_len = 0;

	buf_init(&b);
	queue_envelope_encode(in, &b);
	buf_append_str(&b, "message bytes");
	assert_int_equal(
	    queue_envelope_decode(b.data, b.len, &out, &header_len, &error), 1);
	assert_string_equal(b.data + header_len, "message bytes");
	assert_string_equal(out.qid, in->qid);
	assert_string_equal(out.mail_from, in->mail_from);
	assert_int_equal(out.rcpt_count, in->rcpt_count);
	for (size_t i = 0; i < in->rcpt_count; i++) {
		assert_string_equal(out.rcpts[i].address, in->rcpts[i].address);
		if (in->rcpts[i].notify == NULL)
			assert_null(out.rcpts[i].notify);
		else
			assert_string_equal(out.rcpts[i].notify,
					    in->rcpts[i].notify);
		if (in->rcpts[i].orcpt == NULL)
			assert_null(out.rcpts[i].orcpt);
		else
			assert_string_equal(out.rcpts[i].orcpt,
					    in->rcpts[i].orcpt);
	}
	if (in->helo != NULL)
		assert_string_equal(out.helo, in->helo);
	if (in->envid != NULL)
		assert_string_equal(out.envid, in->envid);
	assert_int_equal(out.smtputf8, in->smtputf8);
	assert_int_equal(out.arrival, in->arrival);
	if (in->quarantine == NULL) {
		assert_null(out.quarantine);
	} else {
		assert_string_equal(out.quarantine, in->quarantine);
		assert_string_equal(out.quarantine_by, in->quarantine_by);
		assert_string_equal(out.symbols, in->symbols);
		assert_true(out.score > in->score - 0.001 &&
			    out.score < in->score + 0.001);
	}
	/* Every strict prefix of the header asks for more data. */
	for (size_t n = 0; n < header_len; n++) {
		struct queue_envelope partial;
		assert_int_equal(queue_envelope_decode(b.data, n, &partial,
						       &header_len, &error),
				 0);
	}
	queue_envelope_free(&out);
	buf_free(&b);
}

static void
test_envelope_round_trips(void **state)
{
	struct queue_envelope env;

	(void)state;
	memset(&env, 0, sizeof(env));
	queue_id_new(env.qid);
	env.mail_from = xstrdup("");
	env.arrival = 1700000000;
	queue_envelope_add_rcpt(&env, "demo@example.test", NULL, NULL);
	round_trip(&env);
	queue_envelope_free(&env);

	memset(&env, 0, sizeof(env));
	queue_id_new(env.qid);
	env.mail_from = xstrdup("sender+tag@remote.example");
	env.body = xstrdup("8BITMIME");
	env.ret = xstrdup("HDRS");
	env.envid = xstrdup("QQ314159");
	env.smtputf8 = true;
	env.helo = xstrdup("helo with spaces % and\ttabs\x7f");
	env.client_ip = xstrdup("2001:db8::1");
	env.auth_user = xstrdup("demo@example.test");
	env.arrival = 1;
	queue_envelope_add_rcpt(&env, "j\xc3\xb6rg@example.test",
				"SUCCESS,DELAY",
				"rfc822;j\xc3\xb6rg@example.test");
	queue_envelope_add_rcpt(&env, "\"quoted local\"@example.test", "NEVER",
				NULL);
	round_trip(&env);
	queue_envelope_free(&env);
}

/* The quarantine verdict and why travel with the envelope. */
static void
test_envelope_quarantine(void **state)
{
	static const struct {
		const char *reason, *by, *symbols;
		double score;
	} rows[] = {
	    {"Virus found: Eicar-Test-Signature", "clamav",
	     "CLAMAV_VIRUS(0.00)", 0},
	    {"spam score 7.5", "spam", "BAYES_99(3.50),URI_X(4.00)", 7.5},
	    {"DMARC policy quarantine", "dmarc", "", -1.25},
	    {"100% \x01odd\n bytes", "x", "-", 1234.125},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct queue_envelope env;

		memset(&env, 0, sizeof(env));
		queue_id_new(env.qid);
		env.mail_from = xstrdup("a@b.example");
		env.arrival = 5;
		env.quarantine = xstrdup(rows[i].reason);
		env.quarantine_by = xstrdup(rows[i].by);
		env.symbols = xstrdup(rows[i].symbols);
		env.score = rows[i].score;
		queue_envelope_add_rcpt(&env, "demo@example.test", NULL, NULL);
		round_trip(&env);
		queue_envelope_free(&env);
	}
}

static void
test_envelope_rejects_broken_headers(void **state)
{
	static const char *const bad[] = {
	    "XMOATQ 1\nqid 0HOEVX3OU5A00AVE0000\n\n",
	    "MOATQ 1\nqid 0HOEVX3OU5A00AVE0000\nfrom a@b\n\n", /* no rcpt */
	    "MOATQ 1\nfrom a@b\nrcpt c@d - -\n\n",	       /* no qid */
	    "MOATQ 1\nqid bad\nfrom a@b\nrcpt c@d - -\n\n",
	    "MOATQ 1\nqid 0HOEVX3OU5A00AVE0000\nfrom a@b\nrcpt c@d\n\n",
	    "MOATQ 1\nqid 0HOEVX3OU5A00AVE0000\nfrom a%0@b\nrcpt c@d - -\n\n",
	    "MOATQ 1\nqid 0HOEVX3OU5A00AVE0000\nfrom a%00b\nrcpt c@d - -\n\n",
	    "MOATQ 1\nqid 0HOEVX3OU5A00AVE0000\nfrom a\nfrom b\nrcpt c@d - "
	    "-\n\n",
	    "MOATQ 1\nqid 0HOEVX3OU5A00AVE0000\nfrom a\narrival 12x\nrcpt c@d "
	    "- -\n\n",
	    "MOATQ 1\nqid 0HOEVX3OU5A00AVE0000\nfrom a\nrcpt  - -\n\n",
	    "MOATQ 1\nnoval\n\n",
	    "MOATQ 1\nqid 0HOEVX3OU5A00AVE0000\nfrom a\nscore 1e9\nrcpt c@d "
	    "- -\n\n",
	    "MOATQ 1\nqid 0HOEVX3OU5A00AVE0000\nfrom a\nscore \nrcpt c@d "
	    "- -\n\n",
	    "MOATQ 1\nqid 0HOEVX3OU5A00AVE0000\nfrom a\nquarantine x\n"
	    "quarantine y\nrcpt c@d - -\n\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct queue_envelope env;
		const char *error = NULL;
		size_t header_len;

		assert_int_equal(queue_envelope_decode(bad[i], strlen(bad[i]),
						       &env, &header_len,
						       &error),
				 -1);
		assert_non_null(error);
	}
}

static char *
write_queue_file(const char *dir, const char *message, size_t len, bool trailer,
		 long adjust)
{
	struct queue_envelope env;
	struct buf b;
	char *path;
	char t[QUEUE_TRAILER_LEN + 1];
	int fd;

	memset(&env, 0, sizeof(env));
	queue_id_new(env.qid);
	env.mail_from = xstrdup("a@b.example");
	queue_envelope_add_rcpt(&env, "demo@example.test", NULL, NULL);
	buf_init(&b);
	queue_envelope_encode(&env, &b);
	buf_append(&b, message, len);
	if (trailer) {
		queue_trailer_format((size_t)((long)len + adjust), t);
		buf_append(&b, t, QUEUE_TRAILER_LEN);
	}
	path = xasprintf("%s/%s", dir, env.qid);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
	close(fd);
	buf_free(&b);
	queue_envelope_free(&env);
	return path;
}

static void
test_queue_file_trailer(void **state)
{
	char dir[] = "/tmp/moat-test-queue-XXXXXX";
	const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct queue_envelope env;
	const char *error;
	off_t offset;
	size_t len;
	char *path, got[64];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = write_queue_file(dir, msg, strlen(msg), true, 0);
	assert_int_equal(
	    queue_file_open(path, &env, &fd, &offset, &len, &error), 0);
	assert_int_equal(len, strlen(msg));
	assert_int_equal(pread(fd, got, len, offset), (ssize_t)len);
	assert_memory_equal(got, msg, len);
	close(fd);
	queue_envelope_free(&env);
	unlink(path);
	free(path);

	/* Cut short by a crash: no trailer. */
	path = write_queue_file(dir, msg, strlen(msg), false, 0);
	assert_int_equal(
	    queue_file_open(path, &env, &fd, &offset, &len, &error), -1);
	unlink(path);
	free(path);
	/* A trailer whose length does not match the file. */
	path = write_queue_file(dir, msg, strlen(msg), true, 1);
	assert_int_equal(
	    queue_file_open(path, &env, &fd, &offset, &len, &error), -1);
	unlink(path);
	free(path);
	rmdir(dir);
}

static void
test_queue_file_publish_is_ready(void **state)
{
	char dir[] = "/tmp/moat-test-queue-XXXXXX";
	const char data[] = "MOATQ 1\nqid 0000000000000000000P\n";
	const char *error = NULL;
	struct stat st;
	char *path;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(queue_file_publish(dir, "0000000000000000000P", data,
					    strlen(data), &error),
			 0);
	path = xasprintf("%s/0000000000000000000P", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(queue_file_is_ready(&st));
	assert_int_equal(st.st_mode & 07777, QUEUE_FILE_MODE_READY);
	assert_int_equal(st.st_size, (off_t)strlen(data));
	/* The name is taken: nothing is overwritten, an error is given. */
	assert_int_equal(
	    queue_file_publish(dir, "0000000000000000000P", "x", 1, &error),
	    -1);
	assert_non_null(error);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, (off_t)strlen(data));
	/* No QID.new is left, after success or failure. */
	{
		char *tmp = xasprintf("%s" QUEUE_FILE_NEW_SUFFIX, path);

		assert_int_equal(stat(tmp, &st), -1);
		free(tmp);
	}
	unlink(path);

	/* A file being written is not ready until it is marked. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, QUEUE_FILE_MODE_WRITING);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_false(queue_file_is_ready(&st));
	assert_int_equal(queue_file_mark_ready(fd), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(queue_file_is_ready(&st));
	close(fd);
	unlink(path);
	free(path);
	rmdir(dir);
}

int main(void);

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_queue_id_unique_and_valid),
	    cmocka_unit_test(test_envelope_round_trips),
	    cmocka_unit_test(test_envelope_quarantine),
	    cmocka_unit_test(test_envelope_rejects_broken_headers),
	    cmocka_unit_test(test_queue_file_trailer),
	    cmocka_unit_test(test_queue_file_publish_is_ready),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
