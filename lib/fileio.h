/*
 * fileio: the few file operations durability depends on, in one place:
 * writing a whole buffer (retrying short writes and EINTR) and making a
 * directory's entries durable; and reading a whole file with a size bound.
 */
#ifndef MOAT_FILEIO_H
#define MOAT_FILEIO_H

#include <stddef.h>

struct buf;

/* Writes all len bytes; 0, or -1 with errno set. */
int fileio_write_all(int fd, const void *data, size_t len);
/* fsync of a directory (new, renamed or removed names); 0 or -1. */
int fileio_sync_dir(const char *dir);
/* Appends the whole file at path to out, opened with O_RDONLY|O_CLOEXEC
 * plus extra_flags (e.g. O_NOFOLLOW). 0, or -1 with errno set: EFBIG when
 * the file holds more than max bytes (out then holds what was read). */
int fileio_read_all(const char *path, int extra_flags, size_t max,
		    struct buf *out);

#endif
