/*
 * spool_commit: the group-commit thread behind every "250 queued". The
 * event loop submits (fd, callback) pairs; the committer thread takes the
 * whole pending list as one batch, makes it durable, and moves it to the
 * done list, then wakes the loop with event_active() (thread-safe because
 * smtpd calls evthread_use_pthreads() before creating its base). The loop
 * runs the callbacks. Invariants: a callback runs exactly once, on the loop
 * thread, after the file's data and directory entry are on stable storage
 * (status 0) or after the attempt failed (status -errno). Every message waiting
 * while the previous batch was flushed joins the next batch, so concurrent
 * sessions share one journal commit instead of paying one each.
 */
#include "gateway/spool_commit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/xalloc.h"

struct commit_item {
	struct commit_item *next;
	int fd;
	int status;
	spool_commit_cb *cb;
	void *context;
};

struct spool_committer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct commit_item *pending, **pending_tail;
	struct commit_item *done, **done_tail;
	struct event *done_event;
	int dir_fd;
	bool stop;
	unsigned long batches, files;
};

static int
commit_batch(struct spool_committer *c, struct commit_item *batch)
{
	/*
	 * Start write-back of every file of the batch first, so that the
	 * file system allocates all their blocks into one journal
	 * transaction; then fsync each (the first one commits that
	 * transaction for all, the rest find little left to do) and the
	 * spool directory once for the new names: one journal commit for
	 * the batch. Without the write-back first the file system would
	 * allocate, and commit, file by file; syncfs() walks every cached
	 * inode of the file system. fsync, not fdatasync: the file's ready
	 * mode (queue_file.h) is metadata that must be durable with it.
	 */
	for (struct commit_item *item = batch; item != NULL; item = item->next)
		(void)sync_file_range(item->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	for (struct commit_item *item = batch; item != NULL;
	     item = item->next) {
		if (fsync(item->fd) < 0) {
			int err = errno;

			log_error("event=commit_error op=fsync");
			return -err;
		}
	}
	if (fsync(c->dir_fd) < 0) {
		int err = errno;

		log_error("event=commit_error op=fsync_dir");
		return -err;
	}
	return 0;
}

static void *
committer_main(void *arg)
{
	struct spool_committer *c = arg;
	struct commit_item *batch, *item;
	unsigned long n;
	int status;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (c->pending == NULL && !c->stop)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->stop)
			break;
		batch = c->pending;
		c->pending = NULL;
		c->pending_tail = &c->pending;
		pthread_mutex_unlock(&c->lock);

		status = commit_batch(c, batch);
		n = 0;
		for (item = batch; item != NULL; item = item->next) {
			item->status = status;
			n++;
		}

		log_debug("event=commit files=%lu status=%d", n, status);
		pthread_mutex_lock(&c->lock);
		c->batches++;
		c->files += n;
		*c->done_tail = batch;
		for (item = batch; item->next != NULL; item = item->next)
			;
		c->done_tail = &item->next;
		event_active(c->done_event, EV_READ, 0);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void
committer_done(evutil_socket_t fd, short what, void *arg)
{
	struct spool_committer *c = arg;
	struct commit_item *list, *next;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&c->lock);
	list = c->done;
	c->done = NULL;
	c->done_tail = &c->done;
	pthread_mutex_unlock(&c->lock);
	for (; list != NULL; list = next) {
		next = list->next;
		list->cb(list->status, list->context);
		free(list);
	}
}

struct spool_committer *
spool_committer_new(struct event_base *base, int dir_fd, const char **error_r)
{
	struct spool_committer *c = xcalloc(1, sizeof(*c));

	c->dir_fd = dir_fd;
	c->pending_tail = &c->pending;
	c->done_tail = &c->done;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->done_event = event_new(base, -1, 0, committer_done, c);
	if (c->done_event == NULL ||
	    pthread_create(&c->thread, NULL, committer_main, c) != 0) {
		*error_r = "cannot start the committer thread";
		if (c->done_event != NULL)
			event_free(c->done_event);
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->cond);
		free(c);
		return NULL;
	}
	return c;
}

void
spool_committer_free(struct spool_committer **committer)
{
	struct spool_committer *c = *committer;
	struct commit_item *item, *next;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	for (item = c->pending; item != NULL; item = next) {
		next = item->next;
		free(item);
	}
	for (item = c->done; item != NULL; item = next) {
		next = item->next;
		free(item);
	}
	event_free(c->done_event);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
	*committer = NULL;
}

void
spool_commit_submit(struct spool_committer *c, int fd, spool_commit_cb *cb,
		    void *context)
{
	struct commit_item *item = xcalloc(1, sizeof(*item));

	item->fd = fd;
	item->cb = cb;
	item->context = context;
	pthread_mutex_lock(&c->lock);
	*c->pending_tail = item;
	c->pending_tail = &item->next;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

unsigned long
spool_committer_batches(const struct spool_committer *c)
{
	return c->batches;
}

unsigned long
spool_committer_files(const struct spool_committer *c)
{
	return c->files;
}
