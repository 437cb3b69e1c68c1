/*
 * Unit tests for lib/fileio.c: fileio_read_all over a table of files
 * (empty, small, exactly at the bound, one byte over, larger than one read
 * chunk), a missing file, and a symlink refused with O_NOFOLLOW; and
 * fileio_write_all writing what it is given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fileio.h"

static char dir[] = "/tmp/moat-test-fileio-XXXXXX";

static char *
path_of(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static void
make_file(const char *name, size_t len)
{
	int fd = open(path_of(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char *data = malloc(len + 1);

	assert_true(fd >= 0);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)('a' + i % 26);
	assert_int_equal(fileio_write_all(fd, data, len), 0);
	close(fd);
	free(data);
}

static void
test_read_all_table(void **state)
{
	static const struct {
		const char *name;
		size_t len, max;
		int ret, err;
	} cases[] = {
	    {"empty", 0, 10, 0, 0},
	    {"small", 5, 10, 0, 0},
	    {"at the bound", 10, 10, 0, 0},
	    {"one over", 11, 10, -1, EFBIG},
	    {"several chunks", 200000, 300000, 0, 0},
	    {"large, over", 200000, 100000, -1, EFBIG},
	};

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		int ret;

		make_file("f", cases[i].len);
		buf_init(&b);
		errno = 0;
		ret = fileio_read_all(path_of("f"), 0, cases[i].max, &b);
		if (ret != cases[i].ret || (ret < 0 && errno != cases[i].err))
			fail_msg("%s: ret %d errno %d", cases[i].name, ret,
				 errno);
		if (ret == 0) {
			assert_int_equal(b.len, cases[i].len);
			for (size_t k = 0; k < b.len; k++)
				assert_int_equal(b.data[k], 'a' + k % 26);
		}
		buf_free(&b);
	}
	unlink(path_of("f"));
}

static void
test_read_all_missing_and_symlink(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	errno = 0;
	assert_int_equal(fileio_read_all(path_of("missing"), 0, 10, &b), -1);
	assert_int_equal(errno, ENOENT);
	make_file("target", 3);
	/* path_of() returns one static buffer: relative target */
	assert_int_equal(symlink("target", path_of("link")), 0);
	assert_int_equal(fileio_read_all(path_of("link"), 0, 10, &b), 0);
	assert_int_equal(b.len, 3);
	errno = 0;
	assert_int_equal(fileio_read_all(path_of("link"), O_NOFOLLOW, 10, &b),
			 -1);
	assert_int_equal(errno, ELOOP);
	buf_free(&b);
	unlink(path_of("link"));
	unlink(path_of("target"));
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_all_table),
	    cmocka_unit_test(test_read_all_missing_and_symlink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
