/*
 * spool_edit: header edits of the filter chain, applied by copying the
 * queue file once (see spool_edit.h). The copy uses copy_file_range(), so
 * the body moves inside the kernel; the header section is small. The
 * temporary name (QID.edit) is not a valid queue id, so the queue service
 * never picks it up; it is renamed over the original before the commit's
 * fsync of file and directory, which makes the rename durable too. Callers:
 * smtp_session.c, after the chain and before spool_commit_submit().
 */
#include "gateway/spool_edit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/queue_file.h"
#include "lib/fileio.h"
#include "lib/xalloc.h"

/* Copies len bytes at *in_off of in to the current end of out. */
static int
copy_range(int in, off_t *in_off, int out, size_t len)
{
	char buf[65536];

	while (len > 0) {
		ssize_t n = copy_file_range(in, in_off, out, NULL, len, 0);

		if (n > 0) {
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EXDEV && errno != ENOSYS &&
		    errno != EINVAL && errno != EOPNOTSUPP)
			return -1;
		if (n == 0) {
			errno = EIO; /* shorter than announced */
			return -1;
		}
		/* No in-kernel copy here: fall back to read/write. */
		while (len > 0) {
			size_t step = len < sizeof(buf) ? len : sizeof(buf);
			ssize_t r = pread(in, buf, step, *in_off);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				if (r == 0)
					errno = EIO;
				return -1;
			}
			if (fileio_write_all(out, buf, (size_t)r) < 0)
				return -1;
			*in_off += r;
			len -= (size_t)r;
		}
	}
	return 0;
}

int
spool_edit_apply(const char *path, int fd, size_t header_len, size_t data_len,
		 const struct filter_chain_result *result, const char *envelope,
		 size_t envelope_len, int *fd_r, size_t *data_len_r)
{
	char trailer[QUEUE_TRAILER_LEN + 1];
	char *tmp = xasprintf("%s.edit", path);
	size_t pos = 0, new_len = 0, insert_at = result->add_offset;
	off_t in_off = 0;
	int out, saved;

	out = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		   QUEUE_FILE_MODE_WRITING);
	if (out < 0) {
		saved = errno;
		free(tmp);
		errno = saved;
		return -1;
	}
	/* Envelope as is, or the replacement. */
	if (envelope != NULL) {
		if (fileio_write_all(out, envelope, envelope_len) < 0)
			goto fail;
	} else if (copy_range(fd, &in_off, out, header_len) < 0) {
		goto fail;
	}
	if (insert_at > data_len)
		insert_at = data_len;
	/* Message: segments between cuts, with the insertion. */
	for (size_t c = 0; c <= result->cut_count; c++) {
		size_t seg_end =
		    c < result->cut_count ? result->cuts[c].offset : data_len;

		if (seg_end > data_len || seg_end < pos) {
			errno = EINVAL;
			goto fail;
		}
		if (result->add_len > 0 && insert_at >= pos &&
		    insert_at <= seg_end) {
			size_t before = insert_at - pos;

			in_off = (off_t)(header_len + pos);
			if (copy_range(fd, &in_off, out, before) < 0 ||
			    fileio_write_all(out, result->add_headers,
					     result->add_len) < 0)
				goto fail;
			new_len += before + result->add_len;
			pos = insert_at;
			insert_at = (size_t)-1; /* done */
		}
		in_off = (off_t)(header_len + pos);
		if (copy_range(fd, &in_off, out, seg_end - pos) < 0)
			goto fail;
		new_len += seg_end - pos;
		if (c < result->cut_count) {
			pos = seg_end + result->cuts[c].len;
			if (pos > data_len) {
				errno = EINVAL;
				goto fail;
			}
		}
	}
	queue_trailer_format(new_len, trailer);
	if (fileio_write_all(out, trailer, QUEUE_TRAILER_LEN) < 0)
		goto fail;
	if (rename(tmp, path) < 0)
		goto fail;
	free(tmp);
	close(fd);
	*fd_r = out;
	*data_len_r = new_len;
	return 0;
fail:
	saved = errno;
	close(out);
	unlink(tmp);
	free(tmp);
	errno = saved;
	return -1;
}
