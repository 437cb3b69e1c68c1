/*
 * Helpers shared by the filter unit tests: reading fixtures from the tree
 * (tests/data) and from the shared test data (../shared/testdata, skipped
 * cleanly when absent), with LF line ends turned into CRLF as the spool
 * holds them.
 */
#ifndef MOAT_TEST_FILTER_HELPERS_H
#define MOAT_TEST_FILTER_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/buf.h"

#define SHARED_DIR MOAT_SOURCE_DIR "/../shared/testdata"
#define DATA_DIR   MOAT_SOURCE_DIR "/tests/data"

static inline int
test_read_file(const char *path, struct buf *out)
{
	FILE *f = fopen(path, "rb");
	char chunk[4096];
	size_t n;

	buf_init(out);
	if (f == NULL)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(out, chunk, n);
	fclose(f);
	return 0;
}

/* Reads a message and converts bare LF to CRLF. */
static inline int
test_read_message(const char *path, struct buf *out)
{
	struct buf raw;

	if (test_read_file(path, &raw) < 0)
		return -1;
	for (size_t i = 0; i < raw.len; i++) {
		if (raw.data[i] == '\n' && (i == 0 || raw.data[i - 1] != '\r'))
			buf_append_char(out, '\r');
		buf_append_char(out, raw.data[i]);
	}
	buf_free(&raw);
	return 0;
}

static inline int
test_shared_present(void)
{
	struct stat st;

	return stat(SHARED_DIR, &st) == 0;
}

/* The file's first line, without its line end. */
static inline char *
test_read_line(const char *path)
{
	struct buf b;
	char *s;

	if (test_read_file(path, &b) < 0)
		return NULL;
	s = buf_detach(&b);
	s[strcspn(s, "\r\n")] = '\0';
	return s;
}

#endif
