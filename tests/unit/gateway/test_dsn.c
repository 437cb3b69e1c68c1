/*
 * Unit tests for gateway/dsn.c: the composed bounce and DELAY notice are
 * multipart/report messages (RFC 6522) with a message/delivery-status part
 * (RFC 3464) carrying the per-message and per-recipient fields, the
 * original header attached, CRLF line endings throughout; NOTIFY parsing;
 * reading the original's header block from a queue file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/dsn.h"

static const char original[] = "Received: from x\r\n"
			       "Subject: hello\r\n"
			       "Message-ID: <m1@example.test>\r\n";

static void
compose(enum dsn_kind kind, struct buf *out)
{
	static const struct dsn_rcpt rcpts[] = {
	    {"bob@remote.test", "rfc822;bob@remote.test", "5.1.1",
	     "mx1.remote.test", "550 5.1.1 no such user"},
	    {"carol@remote.test", NULL, "5.4.7", NULL, NULL},
	};
	struct dsn_report r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.reporting_mta = "mx.moat.test";
	r.qid = "0HOOOY4MPO500JW40000";
	r.sender = "alice@example.test";
	r.envid = "ENV123";
	r.arrival = 1700000000;
	r.now = 1700000600;
	r.retry_until = 1700432000;
	r.rcpts = rcpts;
	r.rcpt_count = 2;
	r.original = original;
	r.original_len = strlen(original);
	buf_init(out);
	dsn_compose(&r, out);
}

struct want {
	const char *text;
	bool present;
};

static void
check(const struct buf *b, const struct want *wants, size_t n)
{
	const char *s = buf_cstr(b);

	for (size_t i = 0; i < n; i++) {
		bool found = strstr(s, wants[i].text) != NULL;
		if (found != wants[i].present)
			fail_msg("'%s' %s in:\n%s", wants[i].text,
				 found ? "present" : "missing", s);
	}
	/* Every LF is part of a CRLF. */
	for (size_t i = 0; i < b->len; i++)
		if (b->data[i] == '\n')
			assert_true(i > 0 && b->data[i - 1] == '\r');
}

static void
test_dsn_failure(void **state)
{
	static const struct want wants[] = {
	    {"From: Mail Delivery System <MAILER-DAEMON@mx.moat.test>\r\n",
	     true},
	    {"To: <alice@example.test>\r\n", true},
	    {"Subject: Undelivered Mail Returned to Sender\r\n", true},
	    {"Auto-Submitted: auto-replied\r\n", true},
	    {"Content-Type: multipart/report; report-type=delivery-status;",
	     true},
	    {"Content-Type: message/delivery-status\r\n", true},
	    {"Reporting-MTA: dns; mx.moat.test\r\n", true},
	    {"Original-Envelope-Id: ENV123\r\n", true},
	    {"Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n", true},
	    {"\r\n\r\nFinal-Recipient: rfc822; bob@remote.test\r\n"
	     "Original-Recipient: rfc822;bob@remote.test\r\n"
	     "Action: failed\r\nStatus: 5.1.1\r\n"
	     "Remote-MTA: dns; mx1.remote.test\r\n"
	     "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n",
	     true},
	    {"Final-Recipient: rfc822; carol@remote.test\r\nAction: "
	     "failed\r\nStatus: 5.4.7\r\nLast-Attempt-Date:",
	     true},
	    {"Content-Type: text/rfc822-headers\r\n", true},
	    {"Subject: hello\r\nMessage-ID: <m1@example.test>\r\n", true},
	    {"Will-Retry-Until", false},
	    {"Action: delayed", false},
	};
	struct buf b;
	const char *s;
	char boundary[128];
	const char *p, *q;
	size_t parts = 0;

	(void)state;
	compose(DSN_FAILURE, &b);
	check(&b, wants, sizeof(wants) / sizeof(wants[0]));
	/* Three parts and a closing delimiter with the announced boundary. */
	s = buf_cstr(&b);
	p = strstr(s, "boundary=\"");
	assert_non_null(p);
	p += 10;
	q = strchr(p, '"');
	assert_non_null(q);
	snprintf(boundary, sizeof(boundary), "\r\n--%.*s", (int)(q - p), p);
	for (p = s; (p = strstr(p, boundary)) != NULL; p++)
		parts++;
	assert_int_equal(parts, 4);
	strncat(boundary, "--\r\n", sizeof(boundary) - strlen(boundary) - 1);
	assert_non_null(strstr(s, boundary));
	buf_free(&b);
}

static void
test_dsn_delay(void **state)
{
	static const struct want wants[] = {
	    {"Subject: Delayed Mail (still being retried)\r\n", true},
	    {"Action: delayed\r\n", true},
	    {"Will-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000\r\n", true},
	    {"Action: failed", false},
	};
	struct buf b;

	(void)state;
	compose(DSN_DELAY, &b);
	check(&b, wants, sizeof(wants) / sizeof(wants[0]));
	buf_free(&b);
}

static void
test_dsn_relayed(void **state)
{
	static const struct want wants[] = {
	    {"Subject: Successful Mail Delivery Report\r\n", true},
	    {"Action: relayed\r\n", true},
	    {"Will-Retry-Until", false},
	    {"Action: failed", false},
	};
	struct buf b;

	(void)state;
	compose(DSN_RELAYED, &b);
	check(&b, wants, sizeof(wants) / sizeof(wants[0]));
	buf_free(&b);
}

static void
test_dsn_delivered(void **state)
{
	static const struct want wants[] = {
	    {"Subject: Successful Mail Delivery Report\r\n", true},
	    {"Action: delivered\r\n", true},
	    {"delivered to the mailboxes", true},
	    {"Will-Retry-Until", false},
	    {"Action: relayed", false},
	    {"Action: failed", false},
	};
	struct buf b;

	(void)state;
	compose(DSN_DELIVERED, &b);
	check(&b, wants, sizeof(wants) / sizeof(wants[0]));
	buf_free(&b);
}

static void
test_dsn_notify(void **state)
{
	static const struct {
		const char *notify, *kind;
		bool want;
	} cases[] = {
	    {NULL, "FAILURE", true},
	    {NULL, "DELAY", false},
	    {"NEVER", "FAILURE", false},
	    {"SUCCESS", "FAILURE", false},
	    {"FAILURE,DELAY", "DELAY", true},
	    {"delay", "DELAY", true},
	    {"SUCCESS,FAILURE", "FAILURE", true},
	    {"DELAYX", "DELAY", false},
	    {"SUCCESS,DELAY", "SUCCESS", true},
	    {NULL, "SUCCESS", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(
		    dsn_notify_wants(cases[i].notify, cases[i].kind),
		    cases[i].want);
}

static void
test_dsn_read_original(void **state)
{
	char path[] = "/tmp/moat-dsn-XXXXXX";
	const char msg[] = "ENVELOPE\nSubject: x\r\nTo: y\r\n\r\nbody line\r\n";
	int fd = mkstemp(path);
	char *text = NULL;
	size_t len = 0;
	bool full = true;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	assert_int_equal(dsn_read_original(fd, 9, strlen(msg) - 9, false, &text,
					   &len, &full),
			 0);
	assert_false(full);
	assert_string_equal(text, "Subject: x\r\nTo: y\r\n");
	assert_int_equal(len, strlen(text));
	free(text);
	assert_int_equal(
	    dsn_read_original(fd, 9, strlen(msg) - 9, true, &text, &len, &full),
	    0);
	assert_true(full);
	assert_string_equal(text, msg + 9);
	free(text);
	close(fd);
	unlink(path);
}

int main(void);

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dsn_failure),
	    cmocka_unit_test(test_dsn_delay),
	    cmocka_unit_test(test_dsn_relayed),
	    cmocka_unit_test(test_dsn_delivered),
	    cmocka_unit_test(test_dsn_notify),
	    cmocka_unit_test(test_dsn_read_original),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
