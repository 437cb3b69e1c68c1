/*
 * fileio: whole-buffer writes and directory syncs, used by the queue and
 * the store wherever a file or a name must reach stable storage.
 */
#include "lib/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

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
