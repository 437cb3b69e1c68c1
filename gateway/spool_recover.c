/*
 * spool_recover: removes the queue files a dead smtpd left unready, and
 * converts a spool from before the ready mark (see spool_recover.h).
 */
#include "gateway/spool_recover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/queue_file.h"
#include "lib/log.h"

#define READY_MARKER ".ready-mark"

/* Creates the marker durably. 0 or -1 (logged). */
static int
marker_create(int dir_fd, const char *queue_dir)
{
	int fd = openat(dir_fd, READY_MARKER,
			O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || fsync(fd) < 0 || fsync(dir_fd) < 0) {
		log_error("event=spool_recover what=marker path=%s/%s",
			  queue_dir, READY_MARKER);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
spool_recover(int dir_fd, const char *queue_dir, int notify_fd)
{
	struct stat st;
	bool legacy = fstatat(dir_fd, READY_MARKER, &st, 0) < 0;
	size_t removed = 0, converted = 0;
	struct dirent *de;
	DIR *d;
	int fd = dup(dir_fd);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		log_error("event=spool_recover what=opendir path=%s",
			  queue_dir);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!queue_id_valid(de->d_name) ||
		    fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || queue_file_is_ready(&st))
			continue;
		if (legacy) {
			if (fchmodat(dir_fd, de->d_name, QUEUE_FILE_MODE_READY,
				     0) < 0)
				log_error("event=spool_recover what=chmod "
					  "qid=%s",
					  de->d_name);
			else
				converted++;
			/* Best effort: the periodic rescan finds it too. */
			if (notify_fd >= 0)
				(void)send(notify_fd, de->d_name,
					   strlen(de->d_name),
					   MSG_DONTWAIT | MSG_NOSIGNAL);
		} else if (unlinkat(dir_fd, de->d_name, 0) < 0) {
			log_error("event=spool_recover what=unlink qid=%s",
				  de->d_name);
		} else {
			log_info("qid=%s event=incomplete_removed "
				 "note=\"never acknowledged: left by a stopped "
				 "smtpd\"",
				 de->d_name);
			removed++;
		}
	}
	closedir(d);
	if (legacy) {
		if (converted > 0)
			log_info("event=spool_recover converted=%zu "
				 "note=\"queue files from before the ready "
				 "mark, taken as complete\"",
				 converted);
		/* Converted modes must be durable before the marker. */
		if (converted > 0 && syncfs(dir_fd) < 0) {
			log_error("event=spool_recover what=syncfs path=%s",
				  queue_dir);
			return -1;
		}
		return marker_create(dir_fd, queue_dir);
	}
	if (removed > 0 && fsync(dir_fd) < 0) {
		log_error("event=spool_recover what=fsync path=%s", queue_dir);
		return -1;
	}
	return 0;
}
