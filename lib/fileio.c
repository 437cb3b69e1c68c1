/*
 * fileio: whole-buffer writes and directory syncs, used by the queue and
 * the store wherever a file or a name must reach stable storage, and the
 * bounded whole-file read that rule files, training requests and messages
 * to learn share.
 */
#include "lib/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "lib/buf.h"

int
fileio_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
fileio_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret, saved;

	if (fd < 0)
		return -1;
	ret = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

int
fileio_read_all(const char *path, int extra_flags, size_t max, struct buf *out)
{
	char chunk[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | extra_flags);

	if (fd < 0)
		return -1;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		if (out->len + (size_t)n > max) {
			close(fd);
			errno = EFBIG;
			return -1;
		}
		buf_append(out, chunk, (size_t)n);
	}
	close(fd);
	return 0;
}
