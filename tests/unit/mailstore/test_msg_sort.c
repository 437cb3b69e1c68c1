/*
 * Unit tests for mailstore/msg_sort.c and msg_thread.c: base subject
 * extraction (RFC 5256 2.1, including its reply/forward indication),
 * SORT programs over a table of messages (every key, REVERSE, ties in
 * sequence order, RFC 5957 DISPLAY keys), and THREAD ORDEREDSUBJECT and
 * REFERENCES trees (reply chains, missing parents as dummies, subject
 * grouping of roots, loops, duplicate Message-IDs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "mailstore/msg_sort.h"
#include "mailstore/msg_structure.h"

struct subject_case {
	const char *raw;
	const char *want;
	bool reply;
};

static const struct subject_case subject_cases[] = {
    {"hello", "hello", false},
    {"Re: hello", "hello", true},
    {"RE:  Re:hello", "hello", true},
    {"Fwd: hello", "hello", true},
    {"FW: hello", "hello", true},
    {"fwd:hello", "hello", true},
    {"[PATCH] hello", "hello", false},
    {"[PATCH]", "[PATCH]", false},
    {"[a] [b] hello", "hello", false},
    {"Re: [list] Re: hello", "hello", true},
    {"[list] Re: hello", "hello", true},
    {"Re[2]: hello", "hello", true},
    {"Re [2] : hello", "hello", true},
    {"hello (fwd)", "hello", true},
    {"hello (FWD) (fwd)  ", "hello", true},
    {"[fwd: hello]", "hello", true},
    {"[Fwd: Re: hello (fwd)]", "hello", true},
    {"Re: [fwd: [list] hello]", "hello", true},
    {"  hello \t  world  ", "hello world", false},
    {"=?utf-8?q?Re=3A_caf=C3=A9?=", "caf\xc3\xa9", true},
    {"Reply needed", "Reply needed", false},
    {"Re:", "", true},
    {"", "", false},
    {NULL, "", false},
};

static void
test_base_subject(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(subject_cases) / sizeof(subject_cases[0]);
	     i++) {
		bool reply = !subject_cases[i].reply;
		char *base = msg_base_subject(subject_cases[i].raw, &reply);

		print_message("subject %s\n", subject_cases[i].raw != NULL
						  ? subject_cases[i].raw
						  : "(null)");
		assert_string_equal(base, subject_cases[i].want);
		assert_int_equal(reply, subject_cases[i].reply);
		free(base);
	}
}

/* A message of the test mailbox: its header, arrival and size. */
struct test_msg {
	const char *header;
	time_t arrival;
	uint64_t size;
};

static const struct test_msg sort_msgs[] = {
    /* 1 */ {"From: Zed <zed@example.test>\r\nTo: bob@example.test\r\n"
	     "Subject: Re: beta\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\n"
	     "\r\n",
	     300, 500},
    /* 2 */
    {"From: \"Anna\" <anna@example.test>\r\nTo: Carl <carl@x>\r\n"
     "Cc: dave@x\r\nSubject: alpha\r\n"
     "Date: Tue, 2 Jan 2024 12:00:00 +0200\r\n\r\n",
     100, 100},
    /* 3 */
    {"From: bob@example.test\r\nTo: \"Zoe\" <aaa@x>\r\n"
     "Subject: [list] Beta\r\nDate: not a date\r\n\r\n",
     200, 300},
    /* 4 */
    {"From: =?utf-8?q?=C3=89mile?= <emile@example.test>\r\n"
     "Subject: Alpha\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n",
     400, 100},
};

struct sort_case {
	const char *name;
	struct msg_sort_criterion program[3];
	size_t n;
	uint32_t want[4];
};

static const struct sort_case sort_cases[] = {
    {"ARRIVAL", {{MSG_SORT_ARRIVAL, false}}, 1, {2, 3, 1, 4}},
    {"REVERSE ARRIVAL", {{MSG_SORT_ARRIVAL, true}}, 1, {4, 1, 3, 2}},
    /* 3 has no usable Date: its arrival (200 s after the epoch) counts;
     * 2 is 10:00 UTC, like 1: the tie goes to the sequence. */
    {"DATE", {{MSG_SORT_DATE, false}}, 1, {3, 4, 1, 2}},
    {"SIZE", {{MSG_SORT_SIZE, false}}, 1, {2, 4, 3, 1}},
    {"SIZE REVERSE DATE",
     {{MSG_SORT_SIZE, false}, {MSG_SORT_DATE, true}},
     2,
     {2, 4, 3, 1}},
    {"SUBJECT", {{MSG_SORT_SUBJECT, false}}, 1, {2, 4, 1, 3}},
    {"SUBJECT REVERSE ARRIVAL",
     {{MSG_SORT_SUBJECT, false}, {MSG_SORT_ARRIVAL, true}},
     2,
     {4, 2, 1, 3}},
    {"FROM", {{MSG_SORT_FROM, false}}, 1, {2, 3, 4, 1}},
    {"TO", {{MSG_SORT_TO, false}}, 1, {4, 3, 1, 2}},
    {"CC", {{MSG_SORT_CC, false}}, 1, {1, 3, 4, 2}},
    /* DISPLAYFROM: anna, bob@example.test, emile (decoded, folded), zed */
    {"DISPLAYFROM", {{MSG_SORT_DISPLAYFROM, false}}, 1, {2, 3, 4, 1}},
    {"DISPLAYTO", {{MSG_SORT_DISPLAYTO, false}}, 1, {4, 1, 2, 3}},
};

static struct msg_sort_keys *
build_keys(const struct test_msg *msgs, size_t count)
{
	struct msg_sort_keys *keys = xcalloc(count, sizeof(*keys));

	for (size_t i = 0; i < count; i++) {
		struct msg_structure *s = NULL;
		char *error = NULL;

		assert_int_equal(msg_structure_parse(msgs[i].header,
						     strlen(msgs[i].header), &s,
						     &error),
				 0);
		msg_sort_keys_init(&keys[i], s, (uint32_t)(i + 1),
				   msgs[i].arrival, msgs[i].size);
		msg_structure_free(&s);
	}
	return keys;
}

static void
free_keys(struct msg_sort_keys *keys, size_t count)
{
	for (size_t i = 0; i < count; i++)
		msg_sort_keys_clear(&keys[i]);
	free(keys);
}

static void
test_sort(void **state)
{
	size_t n = sizeof(sort_msgs) / sizeof(sort_msgs[0]);
	struct msg_sort_keys *keys = build_keys(sort_msgs, n);
	enum msg_sort_key key;

	(void)state;
	assert_int_equal(keys[2].date, 200);
	assert_int_equal(keys[0].date, keys[1].date);
	for (size_t i = 0; i < sizeof(sort_cases) / sizeof(sort_cases[0]);
	     i++) {
		uint32_t ids[4];

		print_message("SORT (%s)\n", sort_cases[i].name);
		msg_sort(keys, n, sort_cases[i].program, sort_cases[i].n, ids);
		assert_memory_equal(ids, sort_cases[i].want, sizeof(ids));
	}
	assert_true(msg_sort_key_from_name("displayFrom", &key));
	assert_int_equal(key, MSG_SORT_DISPLAYFROM);
	assert_false(msg_sort_key_from_name("REVERSE", &key));
	free_keys(keys, n);
}

struct thread_case {
	const char *name;
	const char *const *headers; /* NULL-terminated */
	const char *orderedsubject;
	const char *references;
};

#define HDR(id, refs, subject, day)                                            \
	"Message-ID: " id "\r\n" refs "Subject: " subject "\r\n"               \
	"Date: " day " Jan 2024 10:00:00 +0000\r\n\r\n"

static const char *const thread_basic[] = {
    HDR("<1@x>", "", "A", "1"),
    HDR("<2@x>", "References: <1@x>\r\n", "Re: A", "2"),
    HDR("<3@x>", "References: <1@x>\r\n <2@x>\r\n", "Re: A", "3"),
    HDR("<4@x>", "In-Reply-To: <1@x> (sent by x)\r\n", "Re: A", "4"),
    HDR("<5@x>", "", "B", "5"),
    HDR("<6@x>", "References: <missing@x>\r\n", "C", "6"),
    HDR("<7@x>", "References: <missing@x>\r\n", "Re: C", "7"),
    HDR("<8@x>", "", "Re: B", "8"),
    NULL,
};

/* Out of date order, a loop (the first message read wins: 2 becomes the
 * parent of 1), a duplicate Message-ID, no Message-ID, two
 * unrelated roots with one subject (a dummy holds them). */
static const char *const thread_tricky[] = {
    HDR("<10@x>", "References: <11@x>\r\n", "loop", "10"),
    HDR("<11@x>", "References: <10@x>\r\n", "Re: loop", "11"),
    HDR("<12@x>", "", "same", "13"),
    HDR("<12@x>", "", "dup", "9"),
    "Subject: no id\r\nDate: 12 Jan 2024 10:00:00 +0000\r\n\r\n",
    HDR("<14@x>", "", "Same", "12"),
    HDR("<15@x>", "References: <12@x>\r\n", "Re: same", "14"),
    NULL,
};

static const struct thread_case thread_cases[] = {
    {"basic", thread_basic, "(1 (2)(3)(4))(5 8)(6 7)",
     "(1 (2 3)(4))(5 8)((6)(7))"},
    {"tricky", thread_tricky, "(4)(1 2)(5)(6 (3)(7))", "(4)(2 1)(5)((6)(3 7))"},
};

static void
test_thread(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(thread_cases) / sizeof(thread_cases[0]);
	     i++) {
		const struct thread_case *c = &thread_cases[i];
		struct test_msg msgs[16];
		struct msg_sort_keys *keys;
		struct buf out = {0};
		size_t n = 0;

		for (; c->headers[n] != NULL; n++) {
			msgs[n].header = c->headers[n];
			msgs[n].arrival = (time_t)n;
			msgs[n].size = 1;
		}
		keys = build_keys(msgs, n);
		print_message("THREAD %s\n", c->name);
		msg_thread_orderedsubject(keys, n, &out);
		assert_string_equal(buf_cstr(&out), c->orderedsubject);
		buf_reset(&out);
		msg_thread_references(keys, n, &out);
		assert_string_equal(buf_cstr(&out), c->references);
		buf_reset(&out);
		msg_thread_references(keys, 0, &out);
		assert_int_equal(out.len, 0);
		buf_free(&out);
		free_keys(keys, n);
	}
}

/* A long reply chain and a wide thread stay linear and valid. */
static void
test_thread_large(void **state)
{
	size_t n = 3000;
	struct msg_sort_keys *keys = xcalloc(n, sizeof(*keys));
	struct buf out = {0};
	int depth = 0, max_depth = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		keys[i].id = (uint32_t)(i + 1);
		keys[i].date = (time_t)i;
		keys[i].subject = xstrdup(i % 2 == 0 ? "chain" : "wide");
		keys[i].message_id = xasprintf("<%zu@x>", i);
		if (i >= 2) {
			/* evens chain on the previous even; odds all reply
			 * to message 1 */
			keys[i].references = xcalloc(1, sizeof(char *));
			keys[i].references[0] =
			    xasprintf("<%zu@x>", i % 2 == 0 ? i - 2 : 1);
			keys[i].nreferences = 1;
		}
	}
	msg_thread_references(keys, n, &out);
	for (size_t i = 0; i < out.len; i++) {
		if (out.data[i] == '(')
			depth++;
		else if (out.data[i] == ')')
			depth--;
		if (depth > max_depth)
			max_depth = depth;
		assert_true(depth >= 0);
	}
	assert_int_equal(depth, 0);
	assert_int_equal(max_depth, 2);
	assert_int_equal(strncmp(buf_cstr(&out), "(1 3 5 7 ", 9), 0);
	buf_reset(&out);
	msg_thread_orderedsubject(keys, n, &out);
	assert_int_equal(strncmp(buf_cstr(&out), "(1 (3)(5)", 9), 0);
	buf_free(&out);
	free_keys(keys, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base_subject),
	    cmocka_unit_test(test_sort),
	    cmocka_unit_test(test_thread),
	    cmocka_unit_test(test_thread_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
