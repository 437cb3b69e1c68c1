/*
 * spam_learn: applies users' spam-training requests (see spam_learn.h and
 * mailstore/train_spool.h). The spamlearn service is its own process, so
 * parsing user-supplied messages (APPENDed to Junk) for training never runs
 * inside imapd, and the mailstore never reaches up to the classifier.
 *
 * Each request (one IMAP command's messages, one class) is read in spool
 * order, each message parsed with the same MIME code and message view as
 * the spam filter and `moatctl spam train`, and learned under the same key
 * (spam_view_key: the Message-Id), so a message learned at delivery by
 * auto-learn, by the admin or by another user counts once, and learning it
 * as the other class moves its tokens (bayes_learn's contract). One Bayes
 * transaction per request; the request's files are removed only after it
 * commits. A crash in between applies the request again, which bayes_learn
 * makes harmless. A database error (e.g. the Bayes file locked for longer
 * than the busy timeout) leaves the request for the next round.
 *
 * Wake-ups: an inotify watch on the spool directory (a request appears by
 * rename), and a one-minute timer that also removes debris a crash left.
 * Whenever the spam filter runs with Bayes, training or not, the service
 * also keeps the token table bounded (gateway/spam_expire.h): at start and
 * every hour.
 */
#include "gateway/spam_learn.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "filters/mime.h"
#include "filters/spam_view.h"
#include "gateway/spam_expire.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/fileio.h"
#include "lib/db.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "mailstore/train_spool.h"
#include "rules/bayes.h"

#define SPAM_LEARN_SCAN_MAX    (1024u * 1024)
#define SPAM_LEARN_MAX_MESSAGE (64u * 1024 * 1024)
#define SPAM_LEARN_BATCH       20 /* requests per loop turn */
#define SPAM_LEARN_INTERVAL    60 /* seconds between rescans */
#define SPAM_LEARN_DEBRIS_AGE  600

struct spam_learn {
	char *dir;
	struct bayes_db *bayes;
	/* filter.spam.trusted_relays, for the sender key as the filter
	 * computes it */
	struct str_list trusted;
	sqlite3 *stats;
	sqlite3_stmt *stats_add;
};

static const struct db_migration spam_learn_migrations[] = {
    {1, "CREATE TABLE stats (id INTEGER PRIMARY KEY CHECK (id = 1), spam "
	"INTEGER NOT NULL, ham INTEGER NOT NULL, known INTEGER NOT NULL, "
	"missing INTEGER NOT NULL, bad INTEGER NOT NULL);"
	"INSERT INTO stats VALUES (1, 0, 0, 0, 0, 0);"},
};

bool
spam_learn_enabled(const struct moat_settings *settings)
{
	return settings->spam_user_training &&
	       spam_expire_bayes_path(settings) != NULL;
}

char *
spam_learn_spool_dir(const struct moat_settings *settings)
{
	return xasprintf("%s/spam/training", settings->data_dir);
}

char *
spam_learn_stats_path(const struct moat_settings *settings)
{
	return xasprintf("%s/spam/user_training.db", settings->data_dir);
}

int
spam_learn_stats_read(const char *path, struct spam_learn_stats *st_r,
		      char **error_r)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int ret = -1;

	memset(st_r, 0, sizeof(*st_r));
	if (access(path, F_OK) < 0)
		return 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		*error_r = xasprintf("%s: %s", path,
				     db != NULL ? sqlite3_errmsg(db) : "?");
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db,
			       "SELECT spam, ham, known, missing, bad FROM "
			       "stats WHERE id = 1",
			       -1, &stmt, NULL) != SQLITE_OK) {
		*error_r = xasprintf("%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		st_r->spam = (unsigned long long)sqlite3_column_int64(stmt, 0);
		st_r->ham = (unsigned long long)sqlite3_column_int64(stmt, 1);
		st_r->known = (unsigned long long)sqlite3_column_int64(stmt, 2);
		st_r->missing =
		    (unsigned long long)sqlite3_column_int64(stmt, 3);
		st_r->bad = (unsigned long long)sqlite3_column_int64(stmt, 4);
	}
	ret = 0;
out:
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return ret;
}

int
spam_learn_open(const struct moat_settings *settings,
		struct spam_learn **learn_r, char **error_r)
{
	const char *db = moat_settings_filter_value(settings, "spam.bayes_db");
	const char *trusted =
	    moat_settings_filter_value(settings, "spam.trusted_relays");
	struct spam_learn *l = xcalloc(1, sizeof(*l));
	char *spam_dir = xasprintf("%s/spam", settings->data_dir);
	char *stats = spam_learn_stats_path(settings);
	int ret = -1;

	(void)mkdir(spam_dir, 0750);
	l->dir = spam_learn_spool_dir(settings);
	if (trusted != NULL)
		config_split_list(&l->trusted, trusted);
	if (db == NULL || db[0] == '\0') {
		*error_r = xstrdup("no Bayes database (filter.spam.bayes_db)");
		goto out;
	}
	if (bayes_open(db, &l->bayes, error_r) < 0)
		goto out;
	if (db_open(stats, spam_learn_migrations,
		    sizeof(spam_learn_migrations) /
			sizeof(spam_learn_migrations[0]),
		    &l->stats, error_r) < 0)
		goto out;
	if (sqlite3_prepare_v2(l->stats,
			       "UPDATE stats SET spam = spam + ?, ham = ham + "
			       "?, known = known + ?, missing = missing + ?, "
			       "bad = bad + ? WHERE id = 1",
			       -1, &l->stats_add, NULL) != SQLITE_OK) {
		*error_r = xasprintf("%s: %s", stats, sqlite3_errmsg(l->stats));
		goto out;
	}
	ret = 0;
out:
	free(spam_dir);
	free(stats);
	if (ret < 0)
		spam_learn_free(&l);
	*learn_r = l;
	return ret;
}

void
spam_learn_free(struct spam_learn **lp)
{
	struct spam_learn *l = *lp;

	if (l == NULL)
		return;
	sqlite3_finalize(l->stats_add);
	db_close(&l->stats);
	bayes_close(&l->bayes);
	str_list_free(&l->trusted);
	free(l->dir);
	x_free(lp);
}

static void
spam_learn_count(struct spam_learn *l, const struct spam_learn_stats *d)
{
	sqlite3_bind_int64(l->stats_add, 1, (sqlite3_int64)d->spam);
	sqlite3_bind_int64(l->stats_add, 2, (sqlite3_int64)d->ham);
	sqlite3_bind_int64(l->stats_add, 3, (sqlite3_int64)d->known);
	sqlite3_bind_int64(l->stats_add, 4, (sqlite3_int64)d->missing);
	sqlite3_bind_int64(l->stats_add, 5, (sqlite3_int64)d->bad);
	if (sqlite3_step(l->stats_add) != SQLITE_DONE)
		log_warnx("event=spam_training_stats error=\"%s\"",
			  sqlite3_errmsg(l->stats));
	sqlite3_reset(l->stats_add);
}

/* Reads a staged message (at most SPAM_LEARN_MAX_MESSAGE bytes). */
static int
spam_learn_read(const char *path, struct buf *out)
{
	return fileio_read_all(path, O_NOFOLLOW, SPAM_LEARN_MAX_MESSAGE, out);
}

/* Learns one message: 1 learned, 0 already known, -1 database error,
 * -2 message missing or unreadable. */
static int
spam_learn_message(struct spam_learn *l, const char *path, bool spam)
{
	struct mime_message *mime;
	struct spam_view view;
	struct bayes_tokens tokens;
	struct buf data;
	char *error = NULL;
	int ret;

	buf_init(&data);
	if (spam_learn_read(path, &data) < 0) {
		buf_free(&data);
		return -2;
	}
	mime = mime_parse_buffer(buf_cstr(&data), data.len, NULL);
	spam_view_init(&view, mime, buf_cstr(&data), data.len,
		       SPAM_LEARN_SCAN_MAX);
	spam_view_set_trusted(&view, l->trusted.items, l->trusted.count);
	bayes_tokens_init(&tokens);
	bayes_tokenize(&view.msg, &tokens);
	ret =
	    bayes_learn(l->bayes, &tokens, spam_view_key(&view), spam, &error);
	if (ret < 0) {
		log_errorx("event=spam_user_train error=\"%s\"", error);
		free(error);
	}
	bayes_tokens_free(&tokens);
	spam_view_free(&view);
	mime_message_free(&mime);
	buf_free(&data);
	return ret;
}

/* Applies one request; 0 done (files removed), -1 database error. */
static int
spam_learn_request(struct spam_learn *l, const char *id)
{
	struct train_request req;
	struct spam_learn_stats d;
	const char *perror = NULL;
	char user[128], mailbox[128], *error = NULL;
	bool spam;
	int rc;

	memset(&d, 0, sizeof(d));
	rc = train_spool_read(l->dir, id, &req, &perror);
	if (rc < 0) {
		/* Gone since the listing, or unreadable: try later. */
		log_warn("event=spam_user_train request=%s error=\"%s\"", id,
			 perror);
		return 0;
	}
	if (rc == 0) {
		log_warnx("event=spam_user_train request=%s result=bad "
			  "error=\"%s\"",
			  id, perror);
		train_spool_remove(l->dir, id, 0);
		d.bad = 1;
		spam_learn_count(l, &d);
		return 0;
	}
	spam = req.cls == TRAIN_SPAM;
	log_sanitize(req.user, strlen(req.user), user, sizeof(user));
	log_sanitize(req.mailbox, strlen(req.mailbox), mailbox,
		     sizeof(mailbox));
	if (bayes_begin(l->bayes, &error) < 0) {
		log_errorx("event=spam_user_train error=\"%s\"", error);
		free(error);
		train_request_clear(&req);
		return -1;
	}
	for (size_t i = 0; i < req.count; i++) {
		char *path = train_spool_message_path(l->dir, id, i);
		const char *result;

		rc = spam_learn_message(l, path, spam);
		free(path);
		if (rc == -1) {
			(void)bayes_commit(l->bayes, &error);
			free(error);
			train_request_clear(&req);
			return -1;
		}
		if (rc == 1) {
			result = "learned";
			if (spam)
				d.spam++;
			else
				d.ham++;
		} else if (rc == 0) {
			result = "known";
			d.known++;
		} else {
			result = "missing";
			d.missing++;
		}
		log_info("event=spam_user_train user=%s class=%s reason=%s "
			 "mailbox=\"%s\" uid=%u result=%s",
			 user, train_class_name(req.cls),
			 train_reason_name(req.reason), mailbox, req.uids[i],
			 result);
	}
	if (bayes_commit(l->bayes, &error) < 0) {
		log_errorx("event=spam_user_train error=\"%s\"", error);
		free(error);
		train_request_clear(&req);
		return -1;
	}
	train_spool_remove(l->dir, id, req.count);
	spam_learn_count(l, &d);
	train_request_clear(&req);
	return 0;
}

int
spam_learn_apply(struct spam_learn *l, size_t max_requests)
{
	char **ids = NULL, *error = NULL;
	size_t count = 0, i;
	int ret = 0;

	if (train_spool_list(l->dir, &ids, &count, &error) < 0) {
		log_errorx("event=spam_user_train error=\"%s\"", error);
		free(error);
		return -1;
	}
	for (i = 0; i < count && i < max_requests; i++)
		if (spam_learn_request(l, ids[i]) < 0) {
			ret = -1;
			break;
		}
	if (ret == 0 && count > max_requests)
		ret = 1;
	train_spool_ids_free(ids, count);
	return ret;
}

/* ------------------------------------------------------------------ */
/* the service */

struct spam_learn_service {
	struct event_base *base;
	struct spam_learn *learn;
	struct event *work, *timer, *watch, *expire;
	int inotify_fd;
	struct bayes_db *expire_db; /* token expiry: NULL when off */
	uint64_t max_tokens;
};

/* Token expiry (gateway/spam_expire.h): at start, then hourly. */
static void
spam_learn_on_expire(evutil_socket_t fd, short what, void *arg)
{
	struct spam_learn_service *svc = arg;
	uint64_t removed, remain;
	char *error = NULL;

	(void)fd;
	(void)what;
	if (spam_expire_run(svc->expire_db, svc->max_tokens, &removed, &remain,
			    &error) < 0) {
		log_errorx("event=bayes_expire error=\"%s\"", error);
		free(error);
	}
}

static void
spam_learn_on_work(evutil_socket_t fd, short what, void *arg)
{
	struct spam_learn_service *svc = arg;

	(void)fd;
	(void)what;
	/* More than one batch waiting: yield to the loop, then go on. */
	if (spam_learn_apply(svc->learn, SPAM_LEARN_BATCH) == 1)
		event_active(svc->work, 0, 0);
}

static void
spam_learn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct spam_learn_service *svc = arg;
	size_t n;

	(void)fd;
	(void)what;
	n = train_spool_cleanup(svc->learn->dir, time(NULL),
				SPAM_LEARN_DEBRIS_AGE);
	if (n > 0)
		log_info("event=spam_training_cleanup removed=%zu", n);
	event_active(svc->work, 0, 0);
}

static void
spam_learn_on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct spam_learn_service *svc = arg;
	char events[4096];

	(void)what;
	while (read(fd, events, sizeof(events)) > 0)
		;
	event_active(svc->work, 0, 0);
}

static void
spam_learn_on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct spam_learn_service *svc = arg;

	(void)sig;
	(void)what;
	event_base_loopbreak(svc->base);
}

int
spam_learn_run(struct service_context *ctx)
{
	struct spam_learn_service svc;
	struct timeval interval = {SPAM_LEARN_INTERVAL, 0};
	struct event *sigterm, *sigint;
	char *error = NULL;
	const char *bayes_path;
	bool enabled = spam_learn_enabled(ctx->settings);

	memset(&svc, 0, sizeof(svc));
	svc.inotify_fd = -1;
	svc.base = event_base_new();
	if (svc.base == NULL)
		return 1;
	sigterm = evsignal_new(svc.base, SIGTERM, spam_learn_on_stop, &svc);
	sigint = evsignal_new(svc.base, SIGINT, spam_learn_on_stop, &svc);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	if (enabled && spam_learn_open(ctx->settings, &svc.learn, &error) < 0) {
		log_errorx("event=spam_training status=off error=\"%s\"",
			   error);
		free(error);
		enabled = false;
	}
	if (enabled) {
		mime_init();
		if (mkdir(svc.learn->dir, 0700) < 0 && errno != EEXIST)
			log_warn("event=mkdir path=%s", svc.learn->dir);
		svc.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (svc.inotify_fd < 0 ||
		    inotify_add_watch(svc.inotify_fd, svc.learn->dir,
				      IN_MOVED_TO) < 0)
			log_warn("event=spam_training note=\"no inotify; "
				 "applying requests every %ds\"",
				 SPAM_LEARN_INTERVAL);
		svc.work = event_new(svc.base, -1, 0, spam_learn_on_work, &svc);
		svc.timer = event_new(svc.base, -1, EV_PERSIST,
				      spam_learn_on_timer, &svc);
		event_add(svc.timer, &interval);
		if (svc.inotify_fd >= 0) {
			svc.watch = event_new(svc.base, svc.inotify_fd,
					      EV_READ | EV_PERSIST,
					      spam_learn_on_inotify, &svc);
			event_add(svc.watch, NULL);
		}
		event_active(svc.work, 0, 0);
		log_info("event=spam_training status=on spool=%s",
			 svc.learn->dir);
	} else {
		log_info("event=spam_training status=off");
	}
	bayes_path = spam_expire_bayes_path(ctx->settings);
	svc.max_tokens = spam_expire_max_tokens(ctx->settings);
	if (bayes_path != NULL && svc.max_tokens > 0 &&
	    bayes_open(bayes_path, &svc.expire_db, &error) < 0) {
		log_errorx("event=bayes_expire status=off error=\"%s\"", error);
		free(error);
	}
	if (svc.expire_db != NULL) {
		struct timeval hourly = {SPAM_EXPIRE_INTERVAL, 0};

		svc.expire = event_new(svc.base, -1, EV_PERSIST,
				       spam_learn_on_expire, &svc);
		event_add(svc.expire, &hourly);
		event_active(svc.expire, 0, 0);
	}
	event_base_dispatch(svc.base);
	if (svc.expire != NULL)
		event_free(svc.expire);
	bayes_close(&svc.expire_db);
	if (svc.watch != NULL)
		event_free(svc.watch);
	if (svc.timer != NULL)
		event_free(svc.timer);
	if (svc.work != NULL)
		event_free(svc.work);
	if (svc.inotify_fd >= 0)
		close(svc.inotify_fd);
	event_free(sigterm);
	event_free(sigint);
	spam_learn_free(&svc.learn);
	event_base_free(svc.base);
	return 0;
}
