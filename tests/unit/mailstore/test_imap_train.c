/*
 * Unit tests for the decisions of mailstore/imap_train.c: which COPY/MOVE
 * between mailboxes of which special use teaches spam or ham, which STORE
 * flag lists do, and the case-insensitive keyword match behind them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailstore/imap_private.h"

struct copy_case {
	const char *src, *dst;
	int want;
};

static const struct copy_case copy_cases[] = {
    {"", "\\Junk", TRAIN_SPAM},
    {NULL, "\\Junk", TRAIN_SPAM},
    {"\\Trash", "\\Junk", TRAIN_SPAM},
    {"\\Sent", "\\junk", TRAIN_SPAM},
    {"\\Junk", "", TRAIN_HAM},
    {"\\Junk", "\\Archive", TRAIN_HAM},
    {"\\Junk", "\\Trash", -1},
    {"\\Junk", "\\Junk", -1},
    {"", "", -1},
    {"", "\\Trash", -1},
    {"\\Archive", "\\Sent", -1},
};

struct flag_case {
	const char *flags;
	bool remove;
	int want;
};

static const struct flag_case flag_cases[] = {
    {"$Junk", false, TRAIN_SPAM},
    {"\\Seen $junk", false, TRAIN_SPAM},
    {"$NotJunk", false, TRAIN_HAM},
    {"$notjunk \\Flagged", false, TRAIN_HAM},
    {"$Junk $NotJunk", false, -1},
    {"$Junk", true, -1},
    {"$NotJunk", true, -1},
    {"\\Seen", false, -1},
    {"", false, -1},
    {"$JunkMail", false, -1},
    {"Junk", false, -1},
};

static void
test_copy_class(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(copy_cases) / sizeof(copy_cases[0]);
	     i++) {
		const struct copy_case *c = &copy_cases[i];

		print_message("case: %s -> %s\n", c->src ? c->src : "(null)",
			      c->dst);
		assert_int_equal(imap_train_copy_class(c->src, c->dst),
				 c->want);
	}
}

static void
test_flag_class(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(flag_cases) / sizeof(flag_cases[0]);
	     i++) {
		const struct flag_case *c = &flag_cases[i];

		print_message("case: %s%s\n", c->remove ? "-" : "+", c->flags);
		assert_int_equal(imap_train_flag_class(c->flags, c->remove),
				 c->want);
	}
}

static void
test_has_keyword(void **state)
{
	(void)state;
	assert_true(imap_train_has_keyword("\\Seen $Junk", "$Junk"));
	assert_true(imap_train_has_keyword("$JUNK", "$Junk"));
	assert_false(imap_train_has_keyword("$Junky", "$Junk"));
	assert_false(imap_train_has_keyword("x$Junk", "$Junk"));
	assert_false(imap_train_has_keyword("", "$Junk"));
	assert_false(imap_train_has_keyword(NULL, "$Junk"));
	assert_true(imap_train_has_keyword("a  $Junk ", "$Junk"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_copy_class),
	    cmocka_unit_test(test_flag_class),
	    cmocka_unit_test(test_has_keyword),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
