/*
 * queue_control: the queue process's administration socket,
 * DATA_DIR/queue/control.sock (mode 0660). moatctl connects, writes one
 * command line ("flush", "retry QID", "hold QID", "release QID",
 * "delete QID", "summary"), reads the reply text until the queue closes
 * the connection. The commands run on the queue's event loop, so they never
 * race with a delivery in flight.
 */
#ifndef MOAT_QUEUE_CONTROL_H
#define MOAT_QUEUE_CONTROL_H

struct event_base;
struct delivery_remote;
struct queue_control;

/* NULL with *error_r allocated when the socket cannot be made. */
struct queue_control *queue_control_new(struct event_base *base,
					const char *data_dir,
					struct delivery_remote *remote,
					char **error_r);
void queue_control_free(struct queue_control **control);
/* "deliver QID": a message written into queue/ by someone else (moatctl
 * quarantine release) is handed to fn at once instead of waiting for the
 * next rescan. */
typedef void queue_control_enqueue_fn(const char *qid, void *context);
void queue_control_set_enqueue(struct queue_control *control,
			       queue_control_enqueue_fn *fn, void *context);

#endif
