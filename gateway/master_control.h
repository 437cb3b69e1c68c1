/*
 * master_control: the master's Unix control socket DATA_DIR/moatd.sock.
 * moatctl connects, sends one command line ("status"), reads the reply
 * until EOF. The socket is 0660, owned by root and the run user's group.
 */
#ifndef MOAT_MASTER_CONTROL_H
#define MOAT_MASTER_CONTROL_H

#include "lib/buf.h"

struct event_base;
struct master_control;

/* Fills reply for one command line; called on the master's loop. */
typedef void master_control_handler_fn(const char *command, struct buf *reply,
				       void *context);

/* Binds path (removing a stale socket). NULL with *error_r on failure. */
struct master_control *master_control_new(struct event_base *base,
					  const char *path, gid_t gid,
					  master_control_handler_fn *handler,
					  void *context, char **error_r);
/* Closes and unlinks the socket. */
void master_control_free(struct master_control **control);
/* The listening fd (children close it after fork). */
int master_control_fd(const struct master_control *control);

#endif
