/*
 * Unit tests for directory: domains, users and aliases, the admin error
 * messages, recipient resolution (aliases, chains, loops, +detail, case)
 * and sender ownership, on a temporary data directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "mailstore/directory.h"

struct fixture {
	char dir[64];
	struct directory *d;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char *error = NULL;

	snprintf(f->dir, sizeof(f->dir), "/tmp/moat-test-dir-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(directory_open(f->dir, &f->d, &error), 0);
	assert_int_equal(directory_domain_add(f->d, "example.test", &error), 0);
	assert_int_equal(directory_domain_add(f->d, "Other.Test", &error), 0);
	assert_int_equal(
	    directory_user_add(f->d, "demo@example.test", "h1", &error), 0);
	assert_int_equal(
	    directory_user_add(f->d, "Bob@EXAMPLE.test", "h2", &error), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);

	directory_close(&f->d);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

/* Resolves address; returns the result and the users joined by ','. */
static enum directory_result
resolve(struct directory *d, const char *address, char *out, size_t outsz)
{
	struct str_list users = {0}, foreign = {0};
	enum directory_result r =
	    directory_resolve(d, address, &users, &foreign);
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < users.count; i++)
		o += (size_t)snprintf(out + o, outsz - o, "%s%s",
				      i > 0 ? "," : "", users.items[i]);
	for (size_t i = 0; i < foreign.count; i++)
		o += (size_t)snprintf(out + o, outsz - o, "%sremote:%s",
				      o > 0 ? "," : "", foreign.items[i]);
	str_list_free(&users);
	str_list_free(&foreign);
	return r;
}

static void
test_admin_errors(void **state)
{
	struct fixture *f = *state;
	char *error = NULL;

	assert_int_equal(
	    directory_user_add(f->d, "x@nowhere.example", "h", &error), -1);
	assert_non_null(strstr(error, "unknown domain nowhere.example"));
	x_free(&error);
	assert_int_equal(
	    directory_user_add(f->d, "DEMO@example.test", "h", &error), -1);
	assert_non_null(strstr(error, "exists"));
	x_free(&error);
	assert_int_equal(
	    directory_user_add(f->d, "a..b@example.test", "h", &error), -1);
	assert_non_null(strstr(error, "invalid address"));
	x_free(&error);
	assert_int_equal(
	    directory_user_add(f->d, "../x@example.test", "h", &error), -1);
	x_free(&error);
	assert_int_equal(directory_domain_add(f->d, "bad domain", &error), -1);
	x_free(&error);
	assert_int_equal(directory_domain_add(f->d, "EXAMPLE.TEST", &error),
			 -1);
	assert_non_null(strstr(error, "exists"));
	x_free(&error);
	assert_int_equal(directory_domain_del(f->d, "example.test", &error),
			 -1);
	assert_non_null(strstr(error, "still has 2 users"));
	x_free(&error);
	assert_int_equal(directory_user_del(f->d, "ghost@example.test", &error),
			 -1);
	assert_non_null(strstr(error, "no such user"));
	x_free(&error);
	assert_int_equal(directory_domain_del(f->d, "other.test", &error), 0);
	assert_int_equal(directory_user_count(f->d), 2);
}

static void
test_resolve_table(void **state)
{
	struct fixture *f = *state;
	char *error = NULL;
	char got[512];
	static const struct {
		const char *name, *address;
		enum directory_result want;
		const char *users;
	} cases[] = {
	    {"user", "demo@example.test", DIRECTORY_LOCAL, "demo@example.test"},
	    {"case", "DEMO@Example.TEST", DIRECTORY_LOCAL, "demo@example.test"},
	    {"stored case", "bob@example.test", DIRECTORY_LOCAL,
	     "Bob@example.test"},
	    {"detail", "demo+list@example.test", DIRECTORY_LOCAL,
	     "demo@example.test"},
	    {"alias", "info@example.test", DIRECTORY_LOCAL,
	     "demo@example.test"},
	    {"chain", "all@example.test", DIRECTORY_LOCAL,
	     "Bob@example.test,demo@example.test"},
	    {"detail of alias", "info+x@example.test", DIRECTORY_LOCAL,
	     "demo@example.test"},
	    {"loop", "loop1@example.test", DIRECTORY_UNKNOWN_USER, ""},
	    {"foreign target", "fwd@example.test", DIRECTORY_LOCAL,
	     "remote:friend@remote.example"},
	    {"unknown", "nobody@example.test", DIRECTORY_UNKNOWN_USER, ""},
	    {"not local", "demo@remote.example", DIRECTORY_NOT_LOCAL, ""},
	    {"garbage", "no-at-sign", DIRECTORY_UNKNOWN_USER, ""},
	    {"plus only", "+@example.test", DIRECTORY_UNKNOWN_USER, ""},
	};

	assert_int_equal(directory_alias_add(f->d, "info@example.test",
					     "demo@example.test", &error),
			 0);
	assert_int_equal(directory_alias_add(f->d, "all@example.test",
					     "info@example.test", &error),
			 0);
	assert_int_equal(directory_alias_add(f->d, "all@example.test",
					     "bob@example.test", &error),
			 0);
	assert_int_equal(directory_alias_add(f->d, "loop1@example.test",
					     "loop2@example.test", &error),
			 0);
	assert_int_equal(directory_alias_add(f->d, "loop2@example.test",
					     "loop1@example.test", &error),
			 0);
	assert_int_equal(directory_alias_add(f->d, "fwd@example.test",
					     "friend@remote.example", &error),
			 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum directory_result r =
		    resolve(f->d, cases[i].address, got, sizeof(got));
		if (r != cases[i].want || strcmp(got, cases[i].users) != 0)
			fail_msg("%s: %s -> %d '%s', want %d '%s'",
				 cases[i].name, cases[i].address, r, got,
				 cases[i].want, cases[i].users);
	}
}

static void
test_owns_address(void **state)
{
	struct fixture *f = *state;
	char *error = NULL;

	assert_int_equal(directory_alias_add(f->d, "me@example.test",
					     "demo@example.test", &error),
			 0);
	assert_true(directory_user_owns_address(f->d, "demo@example.test",
						"demo@example.test"));
	assert_true(directory_user_owns_address(f->d, "demo@example.test",
						"Demo+x@example.test"));
	assert_true(directory_user_owns_address(f->d, "demo@example.test",
						"me@example.test"));
	assert_false(directory_user_owns_address(f->d, "demo@example.test",
						 "bob@example.test"));
	assert_false(directory_user_owns_address(f->d, "demo@example.test",
						 "demo@remote.example"));
}

static void
test_credentials(void **state)
{
	struct fixture *f = *state;
	char *canonical = NULL, *hash = NULL, *error = NULL;

	assert_int_equal(directory_user_credentials(f->d, "BOB@example.TEST",
						    &canonical, &hash),
			 1);
	assert_string_equal(canonical, "Bob@example.test");
	assert_string_equal(hash, "h2");
	free(canonical);
	free(hash);
	assert_int_equal(
	    directory_user_set_password(f->d, "bob@example.test", "h3", &error),
	    0);
	assert_int_equal(directory_user_credentials(f->d, "bob@example.test",
						    &canonical, &hash),
			 1);
	assert_string_equal(hash, "h3");
	free(canonical);
	free(hash);
	assert_int_equal(directory_user_credentials(f->d, "nobody@example.test",
						    &canonical, &hash),
			 0);
}

int main(void);

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_admin_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resolve_table, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_owns_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_credentials, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
