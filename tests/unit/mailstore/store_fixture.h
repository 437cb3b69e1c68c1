/*
 * store_fixture: the set-up the store's unit tests share: a temporary data
 * directory with a store open in it and a source file holding a message
 * behind some lead bytes (as a queue file holds its envelope first), and
 * the teardown that closes and removes it all. Header-only (static inline)
 * so that each tests/unit/mailstore/test_*.c stays one source file.
 */
#ifndef MOAT_TEST_STORE_FIXTURE_H
#define MOAT_TEST_STORE_FIXTURE_H

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

struct fixture {
	char dir[64];
	char *source; /* dir/source: lead bytes, then the message */
	int fd;	      /* source, open read-write */
	struct store *store;
};

/* A fixture in /tmp/moat-test-NAME-XXXXXX: the source file holds lead
 * then message, and a store is open in the directory (no users yet). */
static inline struct fixture *
store_fixture_new(const char *name, const char *lead, const char *message)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char *error = NULL;
	int n =
	    snprintf(f->dir, sizeof(f->dir), "/tmp/moat-test-%s-XXXXXX", name);

	assert_true(n > 0 && (size_t)n < sizeof(f->dir));
	assert_non_null(mkdtemp(f->dir));
	f->source = xasprintf("%s/source", f->dir);
	f->fd = open(f->source, O_RDWR | O_CREAT, 0600);
	assert_true(f->fd >= 0);
	assert_int_equal(write(f->fd, lead, strlen(lead)),
			 (ssize_t)strlen(lead));
	assert_int_equal(write(f->fd, message, strlen(message)),
			 (ssize_t)strlen(message));
	assert_int_equal(store_open(f->dir, &f->store, &error), 0);
	return f;
}

/* cmocka teardown: closes the store and the source, removes the directory. */
static inline int
store_fixture_teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);

	store_close(&f->store);
	close(f->fd);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f->source);
	free(f);
	return 0;
}

#endif
