/*
 * spool_edit: applies the filter chain's header edits to a queue file before
 * it is committed, so every later reader (local delivery, relay, remote
 * delivery, moatctl) sees the edited message without knowing about edits.
 */
#ifndef MOAT_SPOOL_EDIT_H
#define MOAT_SPOOL_EDIT_H

#include <stddef.h>

#include "filters/filter_chain.h"

/*
 * Rewrites the queue file at path (open as fd, envelope of header_len bytes,
 * message of data_len bytes, trailer after it) into path.edit: the envelope
 * (or, when envelope is not NULL, the envelope_len bytes there instead: a
 * quarantine verdict is recorded so), the message with result's fields inserted
 * after the first header field and its cuts left out, and a new trailer; then
 * renames it over path. Nothing is fsync'd (the commit that follows does). On
 * success returns 0, closes fd and sets *fd_r (O_RDWR) and *data_len_r to the
 * new file's; on failure returns -1 with errno, fd and path untouched.
 */
int spool_edit_apply(const char *path, int fd, size_t header_len,
		     size_t data_len, const struct filter_chain_result *result,
		     const char *envelope, size_t envelope_len, int *fd_r,
		     size_t *data_len_r);

#endif
