/*
 * fileio: the few file operations durability depends on, in one place:
 * writing a whole buffer (retrying short writes and EINTR) and making a
 * directory's entries durable.
 */
#ifndef MOAT_FILEIO_H
#define MOAT_FILEIO_H

#include <stddef.h>

/* Writes all len bytes; 0, or -1 with errno set. */
int fileio_write_all(int fd, const void *data, size_t len);
/* fsync of a directory (new, renamed or removed names); 0 or -1. */
int fileio_sync_dir(const char *dir);

#endif
