/*
 * queue_service: the queue process. It learns of new messages from smtpd's
 * datagrams (one queue id each) and from rescans of DATA_DIR/queue, and
 * delivers them locally in batches: one store transaction (and so one
 * flush of message files and one index commit) for up to
 * queue.delivery_batch messages. Only after that commit is a queue file
 * removed, and every store delivery carries the key "QID/RCPT-INDEX/USER",
 * so a crash at any point neither loses a message nor delivers it twice.
 *
 * Every recipient this first pass cannot finish moves the message to
 * DATA_DIR/queue/deferred/ (with a QID.done file listing the recipients
 * already handled), where the delivery engine of delivery_remote.c owns
 * it: recipients outside our domains, a local mailbox over quota, and a
 * user who vanished since RCPT. That engine already has the retry
 * schedule, the lifetime (relay.*), QID.state and the DSN rules (one DSN
 * per failure, never to <>), so local failures reuse them instead of a
 * second machinery here: it resolves each recipient again and, for local
 * users, calls back into this file's store (local_deliver), so a full
 * mailbox is retried locally (4.2.2, never sent to a remote host) and
 * bounced with 5.2.2 when the lifetime ends; an unknown user bounces
 * with 5.1.1 at once.
 *
 * Rescans take every complete (ready, see queue_file.h) file not already
 * pending, whatever its age: files still being written are not ready, and
 * smtpd removes the ones a crash left behind when it starts. Besides the
 * start-up scan and the periodic one (queue.scan_interval), a scan runs a
 * second after each busy spell: smtpd's datagrams are sent without
 * blocking, and those beyond the socket buffer are dropped while the
 * queue is busy, so the drain scan finds the files they named.
 *
 * A message smtpd quarantined (its envelope says why) is not delivered:
 * each recipient gets an entry in the quarantine store instead (a local
 * address one per mailbox user it resolves to, any other address as it
 * is). The batch's quarantined messages are stored in one durable store
 * call (group commit), keyed by queue id, before their queue files go. Expired
 * entries are pruned every quarantine.prune_interval.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gateway/delivery_remote.h"
#include "gateway/dmarc_reporter.h"
#include "gateway/dsn.h"
#include "gateway/queue_control.h"
#include "gateway/queue_file.h"
#include "gateway/service.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/fileio.h"
#include "lib/xalloc.h"
#include "mailstore/directory.h"
#include "mailstore/store.h"

#define QUEUE_CORRUPT_AGE  600
#define QUEUE_DRAIN_SCAN_S 1
#define QUEUE_RETRY_MIN	   5
#define QUEUE_RETRY_MAX	   300

struct pending {
	char qid[QUEUE_ID_MAX];
	time_t not_before;
	unsigned int failures;
	bool alone; /* from a failed batch: retried in a batch of its own */
};

struct queue_service {
	const struct moat_settings *settings;
	struct event_base *base;
	struct directory *dir;
	struct store *store;
	char *queue_dir;
	struct pending *pending;
	size_t count, cap;
	struct event *notify_event;
	struct event *scan_timer;
	struct event *drain_timer; /* a scan after a busy spell */
	struct event *work_event;
	struct event *retry_timer;
	struct delivery_remote *remote; /* delivery_remote.c */
	struct queue_control *control;
	struct dmarc_reporter *dmarc; /* DMARC aggregate reports */
	struct event *prune_timer;    /* quarantine expiry */
	bool stopping;
};

/* One message of a batch, between open and the end of the commit. */
struct batch_item {
	struct pending entry;
	struct queue_envelope env;
	int fd;
	off_t offset;
	size_t len;
	bool *done;	  /* per recipient: reached its final state */
	bool *stored;	  /* per recipient: stored by this batch */
	bool remote_left; /* some recipient waits for remote delivery */
	char *prefix;
};

static void
pending_add(struct queue_service *qs, const char *qid, time_t not_before,
	    unsigned int failures)
{
	struct pending *p;

	if (qs->count == qs->cap) {
		qs->cap = qs->cap == 0 ? 256 : qs->cap * 2;
		qs->pending =
		    xreallocarray(qs->pending, qs->cap, sizeof(*qs->pending));
	}
	p = &qs->pending[qs->count++];
	memcpy(p->qid, qid, QUEUE_ID_MAX);
	p->not_before = not_before;
	p->failures = failures;
	p->alone = false;
}

static void
queue_kick(struct queue_service *qs)
{
	if (!qs->stopping)
		event_active(qs->work_event, 0, 0);
}

static char *
queue_path(struct queue_service *qs, const char *name)
{
	return xasprintf("%s/%s", qs->queue_dir, name);
}

static int
compare_qid(const void *a, const void *b)
{
	return strcmp(((const struct pending *)a)->qid,
		      ((const struct pending *)b)->qid);
}

static void on_notify(evutil_socket_t fd, short what, void *arg);

/* Adds every ready queue file that is not pending yet. */
static void
queue_scan(struct queue_service *qs)
{
	struct pending *sorted;
	DIR *d;
	struct dirent *de;
	size_t added = 0, known;

	/* Datagrams already received name files the scan would add twice. */
	on_notify(event_get_fd(qs->notify_event), EV_READ, qs);
	d = opendir(qs->queue_dir);
	if (d == NULL) {
		log_warn("event=scan dir=%s", qs->queue_dir);
		return;
	}
	known = qs->count;
	sorted = xcalloc(known + 1, sizeof(*sorted));
	if (known > 0)
		memcpy(sorted, qs->pending, known * sizeof(*sorted));
	qsort(sorted, known, sizeof(*sorted), compare_qid);
	while ((de = readdir(d)) != NULL) {
		struct pending key;
		struct stat st;

		if (!queue_id_valid(de->d_name))
			continue;
		memset(&key, 0, sizeof(key));
		memcpy(key.qid, de->d_name, 21);
		if (bsearch(&key, sorted, known, sizeof(*sorted),
			    compare_qid) != NULL)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
			0 ||
		    !queue_file_is_ready(&st))
			continue;
		pending_add(qs, de->d_name, 0, 0);
		added++;
	}
	closedir(d);
	free(sorted);
	if (added > 0) {
		log_info("event=scan found=%zu", added);
		queue_kick(qs);
	}
}

/* At start: a QID.new file is a queue_file_publish() this process did not
 * finish (a crash): never linked, never announced, so removed. */
static void
queue_remove_unpublished(struct queue_service *qs)
{
	const size_t suffix = sizeof(QUEUE_FILE_NEW_SUFFIX) - 1;
	DIR *d = opendir(qs->queue_dir);
	struct dirent *de;
	char qid[QUEUE_ID_MAX];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len <= suffix || len - suffix >= sizeof(qid) ||
		    strcmp(de->d_name + len - suffix, QUEUE_FILE_NEW_SUFFIX) !=
			0)
			continue;
		memcpy(qid, de->d_name, len - suffix);
		qid[len - suffix] = '\0';
		if (queue_id_valid(qid) &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_info("qid=%s event=unpublished_removed", qid);
	}
	closedir(d);
}

static void
on_scan_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	queue_scan(arg);
}

static void
on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct queue_service *qs = arg;
	char qid[64];
	ssize_t n;
	bool any = false;

	(void)what;
	while ((n = recv(fd, qid, sizeof(qid) - 1, MSG_DONTWAIT)) > 0) {
		qid[n] = '\0';
		if (queue_id_valid(qid)) {
			pending_add(qs, qid, 0, 0);
			any = true;
		}
	}
	if (any)
		queue_kick(qs);
}

/* Opens one queue file. 1 ok, 0 skip (gone, or not ready and young), -1
 * corrupt (moved aside: a ready file that does not parse, or an old one
 * that never became ready). */
static int
item_open(struct queue_service *qs, struct batch_item *item)
{
	char *path = queue_path(qs, item->entry.qid);
	const char *error = NULL;
	struct stat st;
	int ret = 1;

	if (queue_file_open(path, &item->env, &item->fd, &item->offset,
			    &item->len, &error) < 0) {
		ret = 0;
		/* A ready file is complete: if it does not parse (as
		 * opposed to cannot be opened now), it never will. */
		if (stat(path, &st) == 0 &&
		    ((queue_file_is_ready(&st) &&
		      strcmp(error, "cannot open") != 0) ||
		     time(NULL) - st.st_mtime > QUEUE_CORRUPT_AGE)) {
			char *aside = xasprintf("%s/corrupt/%s", qs->queue_dir,
						item->entry.qid);
			log_errorx("qid=%s event=corrupt reason=\"%s\" "
				   "action=moved path=%s",
				   item->entry.qid, error, aside);
			(void)rename(path, aside);
			free(aside);
			ret = -1;
		}
		free(path);
		return ret;
	}
	free(path);
	item->done = xcalloc(item->env.rcpt_count + 1, sizeof(bool));
	item->stored = xcalloc(item->env.rcpt_count + 1, sizeof(bool));
	queue_done_load(qs->queue_dir, item->entry.qid, item->done,
			item->env.rcpt_count);
	item->prefix = xasprintf("Return-Path: <%s>\r\n", item->env.mail_from);
	return 1;
}

static void
item_free(struct batch_item *item)
{
	if (item->fd >= 0)
		close(item->fd);
	queue_envelope_free(&item->env);
	free(item->done);
	free(item->stored);
	free(item->prefix);
	memset(item, 0, sizeof(*item));
	item->fd = -1;
}

/* Delivers every local recipient of item in the open transaction. */
static int
item_deliver(struct queue_service *qs, struct batch_item *item, char **error_r)
{
	for (size_t i = 0; i < item->env.rcpt_count; i++) {
		const char *rcpt = item->env.rcpts[i].address;
		struct str_list users = {0}, foreign = {0};
		enum directory_result r;
		bool over_quota = false;

		if (item->done[i])
			continue;
		r = directory_resolve(qs->dir, rcpt, &users, &foreign);
		if (r == DIRECTORY_ERROR) {
			*error_r = xstrdup("directory lookup failed");
			str_list_free(&users);
			str_list_free(&foreign);
			return -1;
		}
		/* An alias with foreign targets waits for remote delivery;
		 * its local users are delivered now (the delivery keys make
		 * the later retry of this recipient harmless). */
		if (foreign.count > 0)
			item->remote_left = true;
		if (r == DIRECTORY_NOT_LOCAL) {
			item->remote_left = true;
			str_list_free(&users);
			str_list_free(&foreign);
			continue;
		}
		if (r == DIRECTORY_UNKNOWN_USER) {
			/* The deferred engine bounces it (5.1.1). */
			log_warnx("qid=%s to=<%s> status=failed dsn=5.1.1 "
				  "reason=\"user unknown at delivery\"",
				  item->entry.qid, rcpt);
			item->remote_left = true;
			str_list_free(&users);
			str_list_free(&foreign);
			continue;
		}
		for (size_t u = 0; u < users.count; u++) {
			struct store_delivery d;
			char *key = xasprintf("%s/%zu/%s", item->entry.qid, i,
					      users.items[u]);
			uint32_t uid = 0;
			int rc;

			memset(&d, 0, sizeof(d));
			d.user = users.items[u];
			d.mailbox = "INBOX";
			d.key = key;
			d.prefix = item->prefix;
			d.prefix_len = strlen(item->prefix);
			d.fd = item->fd;
			d.offset = item->offset;
			d.size = item->len;
			d.internal_date = item->env.arrival;
			rc = store_deliver(qs->store, &d, &uid, error_r);
			free(key);
			if (rc < 0) {
				str_list_free(&users);
				str_list_free(&foreign);
				return -1;
			}
			if (rc == 2) {
				/* Over quota: nothing stored; the recipient
				 * stays pending (deferred) for a retry. */
				log_warnx("qid=%s to=<%s> user=%s "
					  "status=deferred dsn=4.2.2 "
					  "reason=\"mailbox full (quota)\"",
					  item->entry.qid, rcpt,
					  users.items[u]);
				x_free(error_r);
				item->remote_left = true;
				over_quota = true;
				continue;
			}
			log_info("qid=%s to=<%s> user=%s mailbox=INBOX uid=%u "
				 "size=%zu status=%s",
				 item->entry.qid, rcpt, users.items[u], uid,
				 item->len, rc == 1 ? "sent" : "duplicate");
			if (rc == 1)
				item->stored[i] = true;
		}
		if (foreign.count == 0 && !over_quota)
			item->done[i] = true;
		else
			item->stored[i] = false; /* reported when complete */
		str_list_free(&users);
		str_list_free(&foreign);
	}
	return 0;
}

/* The quarantine entries' recipients of item: local users for local
 * addresses, any other address as it is; (*notify_r)[k] and (*orcpt_r)[k]
 * are the DSN parameters of the envelope recipient entry k came from
 * (pointers into item's envelope). 0, or -1 (directory error). */
static int
item_quarantine_rcpts(struct queue_service *qs, struct batch_item *item,
		      struct str_list *rcpts, const char ***notify_r,
		      const char ***orcpt_r)
{
	*notify_r = *orcpt_r = NULL;
	for (size_t i = 0; i < item->env.rcpt_count; i++) {
		const char *rcpt = item->env.rcpts[i].address;
		struct str_list users = {0}, foreign = {0};
		enum directory_result r;
		size_t before = rcpts->count;

		if (item->done[i])
			continue;
		r = directory_resolve(qs->dir, rcpt, &users, &foreign);
		if (r == DIRECTORY_ERROR) {
			str_list_free(&users);
			str_list_free(&foreign);
			return -1;
		}
		if (r != DIRECTORY_LOCAL || users.count + foreign.count == 0)
			str_list_add(rcpts, rcpt);
		for (size_t u = 0; u < users.count; u++)
			str_list_add(rcpts, users.items[u]);
		for (size_t u = 0; u < foreign.count; u++)
			str_list_add(rcpts, foreign.items[u]);
		str_list_free(&users);
		str_list_free(&foreign);
		*notify_r = xreallocarray(*notify_r, rcpts->count + 1,
					  sizeof(**notify_r));
		*orcpt_r = xreallocarray(*orcpt_r, rcpts->count + 1,
					 sizeof(**orcpt_r));
		for (size_t k = before; k < rcpts->count; k++) {
			(*notify_r)[k] = item->env.rcpts[i].notify;
			(*orcpt_r)[k] = item->env.rcpts[i].orcpt;
		}
	}
	return 0;
}

static void item_finish(struct queue_service *qs, struct batch_item *item);
static void schedule_retry(struct queue_service *qs, struct batch_item *items,
			   size_t n, bool split);

/*
 * Stores the batch's quarantined messages (items[idx[k]]) in the
 * quarantine in one durable store call (group commit), then finishes
 * their queue files. A message whose recipients cannot be resolved, or
 * every message when the store fails, stays queued and is retried.
 */
static void
queue_quarantine(struct queue_service *qs, struct batch_item *items,
		 const size_t *idx, size_t n)
{
	struct store_quarantine_new *q = xcalloc(n + 1, sizeof(*q));
	struct str_list *rcpts = xcalloc(n + 1, sizeof(*rcpts));
	const char ***notify = xcalloc(n + 1, sizeof(*notify));
	const char ***orcpt = xcalloc(n + 1, sizeof(*orcpt));
	struct batch_item **its = xcalloc(n + 1, sizeof(*its));
	int *results = xcalloc(n + 1, sizeof(*results));
	char *error = NULL;
	size_t m = 0;

	for (size_t k = 0; k < n; k++) {
		struct batch_item *item = &items[idx[k]];

		if (item_quarantine_rcpts(qs, item, &rcpts[m], &notify[m],
					  &orcpt[m]) < 0) {
			log_errorx("qid=%s event=quarantine status=deferred "
				   "error=\"directory lookup failed\"",
				   item->entry.qid);
			str_list_free(&rcpts[m]);
			x_free(&notify[m]);
			x_free(&orcpt[m]);
			schedule_retry(qs, item, 1, false);
			continue;
		}
		if (rcpts[m].count == 0) { /* every recipient done before */
			item_finish(qs, item);
			str_list_free(&rcpts[m]);
			x_free(&notify[m]);
			x_free(&orcpt[m]);
			continue;
		}
		q[m].qid = item->entry.qid;
		q[m].mail_from = item->env.mail_from;
		q[m].received = item->env.arrival;
		q[m].expires = item->env.arrival +
			       (time_t)qs->settings->quarantine_retention;
		q[m].reason = item->env.quarantine;
		q[m].by = item->env.quarantine_by != NULL
			      ? item->env.quarantine_by
			      : "";
		q[m].symbols =
		    item->env.symbols != NULL ? item->env.symbols : "";
		q[m].score = item->env.score;
		q[m].fd = item->fd;
		q[m].offset = item->offset;
		q[m].size = item->len;
		q[m].rcpts = (const char *const *)rcpts[m].items;
		q[m].rcpt_count = rcpts[m].count;
		q[m].ret = item->env.ret;
		q[m].envid = item->env.envid;
		q[m].notify = notify[m];
		q[m].orcpt = orcpt[m];
		its[m++] = item;
	}
	if (m > 0 &&
	    store_quarantine_add(qs->store, q, m, results, &error) < 0) {
		log_errorx("event=quarantine status=deferred messages=%zu "
			   "error=\"%s\"",
			   m, error);
		free(error);
		for (size_t k = 0; k < m; k++)
			schedule_retry(qs, its[k], 1, false);
		m = 0;
	}
	for (size_t k = 0; k < m; k++) {
		struct batch_item *item = its[k];
		char reason[200], by[64];

		log_sanitize(q[k].reason, strlen(q[k].reason), reason,
			     sizeof(reason));
		log_sanitize(q[k].by, strlen(q[k].by), by, sizeof(by));
		for (size_t i = 0; i < rcpts[k].count; i++)
			log_info("qid=%s to=<%s> status=quarantined by=%s "
				 "score=%.2f size=%zu reason=\"%s\"%s",
				 item->entry.qid, rcpts[k].items[i], by,
				 q[k].score, item->len, reason,
				 results[k] == 0 ? " duplicate=yes" : "");
		for (size_t i = 0; i < item->env.rcpt_count; i++)
			item->done[i] = true;
		item->remote_left = false;
		item_finish(qs, item);
	}
	(void)fileio_sync_dir(qs->queue_dir);
	for (size_t k = 0; k < n; k++) {
		str_list_free(&rcpts[k]);
		free(notify[k]);
		free(orcpt[k]);
	}
	free(rcpts);
	free(notify);
	free(orcpt);
	free(results);
	free(its);
	free(q);
}

/* delivery_local_fn: one local user of a deferred message, in its own
 * store transaction (the event loop never runs it inside a batch). */
static int
local_deliver(void *context, const char *qid, size_t rcpt, const char *user,
	      int fd, long long offset, size_t len, const char *mail_from,
	      time_t arrival, char **error_r)
{
	struct queue_service *qs = context;
	struct store_delivery d;
	char *key = xasprintf("%s/%zu/%s", qid, rcpt, user);
	char *prefix = xasprintf("Return-Path: <%s>\r\n", mail_from);
	uint32_t uid = 0;
	int rc;

	memset(&d, 0, sizeof(d));
	d.user = user;
	d.mailbox = "INBOX";
	d.key = key;
	d.prefix = prefix;
	d.prefix_len = strlen(prefix);
	d.fd = fd;
	d.offset = (off_t)offset;
	d.size = len;
	d.internal_date = arrival;
	rc = store_begin(qs->store, error_r);
	if (rc == 0) {
		rc = store_deliver(qs->store, &d, &uid, error_r);
		if (rc < 0 || rc == 2) {
			store_rollback(qs->store);
			if (rc == 2)
				x_free(error_r);
		} else if (store_commit(qs->store, error_r) < 0) {
			rc = -1;
		} else {
			rc = 1;
		}
	}
	free(key);
	free(prefix);
	return rc;
}

/* RFC 3461 NOTIFY=SUCCESS: one "delivered" DSN for the recipients this
 * batch stored completely. After the commit, so a rollback never reports;
 * a crash between the two loses the report, never duplicates it. */
static void
item_success_dsn(struct queue_service *qs, struct batch_item *item)
{
	struct dsn_rcpt *rcpts;
	size_t n = 0;
	char qid[32];

	if (item->env.mail_from[0] == '\0')
		return;
	rcpts = xcalloc(item->env.rcpt_count + 1, sizeof(*rcpts));
	for (size_t i = 0; i < item->env.rcpt_count; i++) {
		const struct queue_rcpt *qr = &item->env.rcpts[i];

		if (!item->stored[i] || qr->notify == NULL ||
		    !dsn_notify_wants(qr->notify, "SUCCESS"))
			continue;
		rcpts[n].address = qr->address;
		rcpts[n].orcpt = qr->orcpt;
		rcpts[n].status = "2.0.0";
		n++;
	}
	if (n > 0 &&
	    dsn_send(qs->queue_dir, qs->settings->hostname, &item->env,
		     item->fd, (long long)item->offset, item->len,
		     DSN_DELIVERED, rcpts, n, item->env.arrival, qid) == 0) {
		pending_add(qs, qid, 0, 0);
		queue_kick(qs);
	}
	free(rcpts);
}

/* After the store commit: drop finished files, set deferred ones aside. */
static void
item_finish(struct queue_service *qs, struct batch_item *item)
{
	char *path = queue_path(qs, item->entry.qid);
	char *done_name = xasprintf("%s.done", item->entry.qid);
	char *done_path = queue_path(qs, done_name);

	if (!item->remote_left) {
		(void)unlink(path);
		(void)unlink(done_path);
	} else {
		char *deferred = xasprintf("%s/deferred", qs->queue_dir);
		char *to = xasprintf("%s/%s", deferred, item->entry.qid);
		char *to_done =
		    xasprintf("%s/%s.done", deferred, item->entry.qid);

		bool any_done = false;

		for (size_t i = 0; i < item->env.rcpt_count; i++)
			any_done = any_done || item->done[i];
		/* The file is durable already; a rename lost in a crash
		 * leaves it in queue/ to be handled again (delivery keys
		 * make that harmless), so neither a .done file without
		 * content nor a directory sync is needed here. */
		if ((!any_done ||
		     queue_done_save(deferred, item->entry.qid, item->done,
				     item->env.rcpt_count) == 0) &&
		    rename(path, to) == 0) {
			(void)unlink(done_path);
			log_info("qid=%s status=remote path=%s",
				 item->entry.qid, to);
			delivery_remote_add(qs->remote, item->entry.qid);
		} else {
			log_error("qid=%s event=defer path=%s", item->entry.qid,
				  to);
			(void)unlink(to_done);
		}
		free(deferred);
		free(to);
		free(to_done);
	}
	free(path);
	free(done_name);
	free(done_path);
}

static void
schedule_retry(struct queue_service *qs, struct batch_item *items, size_t n,
	       bool split)
{
	time_t now = time(NULL);
	struct timeval tv = {QUEUE_RETRY_MIN, 0};

	for (size_t i = 0; i < n; i++) {
		unsigned int failures = items[i].entry.failures + 1;
		unsigned int delay = QUEUE_RETRY_MIN;

		/* A failed batch is retried message by message at once, so
		 * that one bad message does not hold the others back. */
		if (split) {
			pending_add(qs, items[i].entry.qid, 0,
				    items[i].entry.failures);
			qs->pending[qs->count - 1].alone = true;
			continue;
		}
		for (unsigned int f = 1;
		     f < failures && delay < QUEUE_RETRY_MAX; f++)
			delay *= 2;
		if (delay > QUEUE_RETRY_MAX)
			delay = QUEUE_RETRY_MAX;
		pending_add(qs, items[i].entry.qid, now + delay, failures);
	}
	if (!split)
		evtimer_add(qs->retry_timer, &tv);
}

/* Takes up to max due entries out of the pending list; an entry to be
 * retried alone is taken by itself (else a failed batch, split, would
 * come back as the same batch and fail again at once, without end). */
static size_t
take_due(struct queue_service *qs, struct pending *out, size_t max)
{
	time_t now = time(NULL);
	size_t n = 0, keep = 0;

	for (size_t i = 0; i < qs->count; i++) {
		if (qs->pending[i].alone && qs->pending[i].not_before <= now) {
			out[0] = qs->pending[i];
			memmove(&qs->pending[i], &qs->pending[i + 1],
				(qs->count - i - 1) * sizeof(*qs->pending));
			qs->count--;
			return 1;
		}
	}
	for (size_t i = 0; i < qs->count; i++) {
		if (n < max && qs->pending[i].not_before <= now)
			out[n++] = qs->pending[i];
		else
			qs->pending[keep++] = qs->pending[i];
	}
	qs->count = keep;
	return n;
}

static void
queue_work_batch(struct queue_service *qs, size_t max)
{
	struct pending *due = xcalloc(max, sizeof(*due));
	struct batch_item *items = xcalloc(max, sizeof(*items));
	size_t ndue = take_due(qs, due, max), nitems = 0;
	char *error = NULL;
	int failed = 0;

	for (size_t i = 0; i < ndue; i++) {
		struct batch_item *item = &items[nitems];

		item->fd = -1;
		item->entry = due[i];
		/* The same message may be pending twice (notify + scan). */
		for (size_t j = 0; j < nitems; j++)
			if (strcmp(items[j].entry.qid, due[i].qid) == 0)
				goto next;
		if (item_open(qs, item) == 1)
			nitems++;
		else
			item_free(item);
	next:;
	}
	/* Quarantined messages go to the quarantine store, all in one
	 * durable call, and leave the batch. */
	{
		size_t *qidx = xcalloc(nitems + 1, sizeof(*qidx)), nq = 0;

		for (size_t i = 0; i < nitems; i++)
			if (items[i].env.quarantine != NULL)
				qidx[nq++] = i;
		if (nq > 0)
			queue_quarantine(qs, items, qidx, nq);
		for (size_t k = nq; k-- > 0;) {
			/* from the end: the moved item was already seen */
			item_free(&items[qidx[k]]);
			items[qidx[k]] = items[--nitems];
			memset(&items[nitems], 0, sizeof(items[nitems]));
			items[nitems].fd = -1;
		}
		free(qidx);
	}
	if (nitems == 0)
		goto out;
	if (store_begin(qs->store, &error) < 0) {
		failed = 1;
	} else {
		for (size_t i = 0; i < nitems && !failed; i++)
			if (item_deliver(qs, &items[i], &error) < 0)
				failed = 1;
		if (failed)
			store_rollback(qs->store);
		else if (store_commit(qs->store, &error) < 0)
			failed = 1;
	}
	if (failed) {
		log_errorx("event=delivery status=deferred messages=%zu "
			   "error=\"%s\"",
			   nitems, error != NULL ? error : "unknown");
		schedule_retry(qs, items, nitems, nitems > 1);
	} else {
		for (size_t i = 0; i < nitems; i++) {
			item_success_dsn(qs, &items[i]);
			item_finish(qs, &items[i]);
		}
		(void)fileio_sync_dir(qs->queue_dir);
	}
out:
	for (size_t i = 0; i < nitems; i++)
		item_free(&items[i]);
	free(error);
	free(items);
	free(due);
}

static void
on_work(evutil_socket_t fd, short what, void *arg)
{
	struct queue_service *qs = arg;
	size_t max = (size_t)qs->settings->queue_delivery_batch;

	(void)fd;
	(void)what;
	if (qs->stopping)
		return;
	/* Drain fresh notifications first so they join this batch. */
	on_notify(event_get_fd(qs->notify_event), EV_READ, qs);
	queue_work_batch(qs, max);
	/* Yield to the loop between batches; continue if more is due. */
	for (size_t i = 0; i < qs->count; i++) {
		if (qs->pending[i].not_before <= time(NULL)) {
			queue_kick(qs);
			return;
		}
	}
	/* Idle again: look for files whose datagram was dropped. */
	if (!evtimer_pending(qs->drain_timer, NULL)) {
		struct timeval tv = {QUEUE_DRAIN_SCAN_S, 0};

		evtimer_add(qs->drain_timer, &tv);
	}
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	queue_kick(arg);
}

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct queue_service *qs = arg;

	(void)sig;
	(void)what;
	qs->stopping = true;
	event_base_loopbreak(qs->base);
}

static void
on_prune(evutil_socket_t fd, short what, void *arg)
{
	struct queue_service *qs = arg;
	char *error = NULL;
	size_t removed = 0;

	(void)fd;
	(void)what;
	if (store_quarantine_prune(qs->store, time(NULL),
				   (time_t)qs->settings->quarantine_retention,
				   &removed, &error) < 0) {
		log_errorx("event=quarantine_prune error=\"%s\"", error);
		free(error);
	} else if (removed > 0) {
		log_info("event=quarantine_prune removed=%zu", removed);
	}
}

/* delivery_remote hands us the DSNs it writes into queue/. */
static void
on_remote_enqueue(const char *qid, void *context)
{
	struct queue_service *qs = context;

	pending_add(qs, qid, 0, 0);
	queue_kick(qs);
}

int
queue_run(struct service_context *ctx)
{
	struct queue_service qs;
	struct timeval scan = {0, 0};
	struct event *sigterm, *sigint;
	char *error = NULL;
	char *sub;

	memset(&qs, 0, sizeof(qs));
	qs.settings = ctx->settings;
	qs.queue_dir = xasprintf("%s/queue", ctx->settings->data_dir);
	for (int i = 0; i < 2; i++) {
		sub = xasprintf("%s/%s", qs.queue_dir,
				i == 0 ? "deferred" : "corrupt");
		if (mkdir(sub, 0750) < 0 && errno != EEXIST)
			log_warn("event=mkdir path=%s", sub);
		free(sub);
	}
	if (directory_open(ctx->settings->data_dir, &qs.dir, &error) < 0 ||
	    store_open(ctx->settings->data_dir, &qs.store, &error) < 0) {
		log_errorx("event=start error=\"%s\"", error);
		free(error);
		directory_close(&qs.dir);
		free(qs.queue_dir);
		return 1;
	}
	store_set_quota(qs.store, ctx->settings->mailstore_quota);
	qs.base = event_base_new();
	qs.notify_event = event_new(qs.base, ctx->queue_notify_fd,
				    EV_READ | EV_PERSIST, on_notify, &qs);
	qs.scan_timer = event_new(qs.base, -1, EV_PERSIST, on_scan_timer, &qs);
	qs.drain_timer = evtimer_new(qs.base, on_scan_timer, &qs);
	qs.work_event = event_new(qs.base, -1, 0, on_work, &qs);
	qs.retry_timer = evtimer_new(qs.base, on_retry, &qs);
	sigterm = evsignal_new(qs.base, SIGTERM, on_stop, &qs);
	sigint = evsignal_new(qs.base, SIGINT, on_stop, &qs);
	event_add(qs.notify_event, NULL);
	scan.tv_sec = ctx->settings->queue_scan_interval;
	event_add(qs.scan_timer, &scan);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	qs.remote = delivery_remote_new(qs.base, ctx->settings,
					on_remote_enqueue, &qs, &error);
	if (qs.remote != NULL)
		delivery_remote_set_local(qs.remote, local_deliver, &qs);
	if (qs.remote != NULL)
		qs.control = queue_control_new(qs.base, ctx->settings->data_dir,
					       qs.remote, &error);
	if (qs.control != NULL)
		queue_control_set_enqueue(qs.control, on_remote_enqueue, &qs);
	if (qs.remote == NULL || qs.control == NULL) {
		log_errorx("event=start error=\"%s\"", error);
		free(error);
		qs.stopping = true;
	}
	/* DMARC aggregate reports (rows come from the message log): pruning
	 * always, sending when dmarc.reports = yes. */
	if (!qs.stopping && ctx->settings->filters_message_log)
		qs.dmarc =
		    dmarc_reporter_new(qs.base, ctx->settings, qs.queue_dir,
				       on_remote_enqueue, &qs);
	/* Quarantine expiry: now, then every prune_interval. */
	qs.prune_timer = event_new(qs.base, -1, EV_PERSIST, on_prune, &qs);
	{
		struct timeval prune = {
		    (time_t)ctx->settings->quarantine_prune_interval, 0};

		event_add(qs.prune_timer, &prune);
	}
	if (!qs.stopping)
		on_prune(-1, 0, &qs);
	/* Everything already on disk at start is ours to deliver. */
	queue_remove_unpublished(&qs);
	queue_scan(&qs);
	if (!qs.stopping)
		event_base_dispatch(qs.base);
	dmarc_reporter_free(&qs.dmarc);
	queue_control_free(&qs.control);
	delivery_remote_free(&qs.remote);
	event_free(sigterm);
	event_free(sigint);
	event_free(qs.notify_event);
	event_free(qs.scan_timer);
	event_free(qs.drain_timer);
	event_free(qs.work_event);
	event_free(qs.retry_timer);
	event_free(qs.prune_timer);
	event_base_free(qs.base);
	store_close(&qs.store);
	directory_close(&qs.dir);
	free(qs.pending);
	free(qs.queue_dir);
	return 0;
}
