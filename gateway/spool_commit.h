/*
 * spool_commit: group commit of queue files. One committer thread per smtpd
 * makes files durable in batches: everything pending when it wakes is one
 * batch, made durable by one fsync per file (after a write-back of all, so
 * that the first fsync commits the journal for the batch) and one of the
 * spool directory. Completions come back on the event loop that created
 * the committer.
 */
#ifndef MOAT_SPOOL_COMMIT_H
#define MOAT_SPOOL_COMMIT_H

struct event_base;
struct spool_committer;

/* Runs on the event loop; status 0 durable, else -errno (logged). */
typedef void spool_commit_cb(int status, void *context);

/*
 * Starts the committer thread. dir_fd (owned by the caller, kept open for
 * the committer's life) is the spool directory. evthread_use_pthreads() must
 * have been called before base was created. Returns NULL with *error_r
 * (static) when the thread cannot start.
 */
struct spool_committer *spool_committer_new(struct event_base *base, int dir_fd,
					    const char **error_r);
/* Stops the thread after the batch in progress; files still pending are
 * completed with status -1 without running their callbacks. */
void spool_committer_free(struct spool_committer **committer);

/* Queues fd (kept open by the caller until the callback) for a durable
 * commit; cb(status, context) runs later on the event loop, never inside
 * this call. */
void spool_commit_submit(struct spool_committer *committer, int fd,
			 spool_commit_cb *cb, void *context);

/* Counters for tests and logs. */
unsigned long spool_committer_batches(const struct spool_committer *c);
unsigned long spool_committer_files(const struct spool_committer *c);

#endif
