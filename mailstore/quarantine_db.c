/*
 * quarantine_db: the quarantine of the embedded store backend (see
 * quarantine_db.h for the layout). The queue adds a message with one entry
 * per recipient; moatctl and imapd list, read and remove entries; the
 * queue prunes expired ones. Several processes share the index (SQLite
 * WAL, busy timeout); message files are written once and never changed,
 * so readers need no lock. Message ids are queue ids, checked to be
 * [0-9A-Za-z] before they become file names. From and Subject are decoded
 * once, at add, with the IMAP search helpers (RFC 2047 and charsets), and
 * stored sanitised: no control character reaches a listing or a log.
 */
#include "mailstore/quarantine_db.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/db.h"
#include "lib/fileio.h"
#include "lib/xalloc.h"
#include "mailstore/msg_search.h"

#define QUARANTINE_HEADER_READ (64 * 1024) /* header bytes summarised */
#define QUARANTINE_ORPHAN_AGE  600	   /* seconds before cleanup */

struct quarantine_db {
	char *dir, *msg_dir, *tmp_dir;
	char *notify_path; /* imapd's (store_notify_path) */
	int notify_fd;
	sqlite3 *db;
};

static const struct db_migration quarantine_migrations[] = {
    {1, "CREATE TABLE q_messages ("
	"  id INTEGER PRIMARY KEY,"
	"  qid TEXT NOT NULL UNIQUE,"
	"  mail_from TEXT NOT NULL,"
	"  hdr_from TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  received INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  decided_by TEXT NOT NULL,"
	"  score REAL NOT NULL,"
	"  symbols TEXT NOT NULL);"
	"CREATE INDEX q_messages_expires ON q_messages(expires);"
	"CREATE TABLE q_entries ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  message_id INTEGER NOT NULL REFERENCES q_messages(id),"
	"  rcpt TEXT NOT NULL COLLATE NOCASE,"
	"  UNIQUE (message_id, rcpt));"
	"CREATE INDEX q_entries_rcpt ON q_entries(rcpt);"
	"CREATE TABLE q_meta (uidvalidity INTEGER NOT NULL);"},
    /* IMAP CONDSTORE/QRESYNC for the Quarantine mailboxes: one counter
     * bumped by every change, each entry's modseq, removed entries. */
    {2, "ALTER TABLE q_meta ADD COLUMN modseq INTEGER NOT NULL DEFAULT 1;"
	"ALTER TABLE q_entries ADD COLUMN modseq INTEGER NOT NULL DEFAULT 1;"
	"CREATE TABLE q_expunged ("
	"  rcpt TEXT NOT NULL COLLATE NOCASE,"
	"  id INTEGER NOT NULL,"
	"  modseq INTEGER NOT NULL);"
	"CREATE INDEX q_expunged_rcpt ON q_expunged(rcpt, modseq);"},
    /* The DSN parameters (RFC 3461) a release hands back to the queue:
     * RET and ENVID per message, NOTIFY and ORCPT per entry (NULL: none
     * given). */
    {3, "ALTER TABLE q_messages ADD COLUMN ret TEXT;"
	"ALTER TABLE q_messages ADD COLUMN envid TEXT;"
	"ALTER TABLE q_entries ADD COLUMN notify TEXT;"
	"ALTER TABLE q_entries ADD COLUMN orcpt TEXT;"},
};

static int quarantine_db_uidvalidity(struct quarantine_db *q,
				     uint32_t *uidvalidity_r, char **error_r);

/* Inside a transaction: the next modseq (the q_meta row exists: open
 * made it). 0 or -1. */
static int
bump_modseq(struct quarantine_db *q, sqlite3_int64 *modseq_r)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(q->db,
			       "UPDATE q_meta SET modseq = modseq + 1 "
			       "RETURNING modseq",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*modseq_r = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

static bool
qid_safe(const char *qid)
{
	size_t len = strlen(qid);

	if (len == 0 || len > 32)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((qid[i] >= '0' && qid[i] <= '9') ||
		      (qid[i] >= 'A' && qid[i] <= 'Z') ||
		      (qid[i] >= 'a' && qid[i] <= 'z')))
			return false;
	return true;
}

int
quarantine_db_open(const char *data_dir, struct quarantine_db **q_r,
		   char **error_r)
{
	struct quarantine_db *q = xcalloc(1, sizeof(*q));
	char *path;
	int ret;

	q->notify_fd = -1;
	q->notify_path = store_notify_path(data_dir);
	q->dir = xasprintf("%s/quarantine", data_dir);
	q->msg_dir = xasprintf("%s/msg", q->dir);
	q->tmp_dir = xasprintf("%s/tmp", q->dir);
	if ((mkdir(q->dir, 0750) < 0 && errno != EEXIST) ||
	    (mkdir(q->msg_dir, 0750) < 0 && errno != EEXIST) ||
	    (mkdir(q->tmp_dir, 0750) < 0 && errno != EEXIST)) {
		*error_r = xasprintf("%s: %s", q->dir, strerror(errno));
		quarantine_db_close(&q);
		return -1;
	}
	path = xasprintf("%s/index.db", q->dir);
	ret = db_open(path, quarantine_migrations,
		      sizeof(quarantine_migrations) /
			  sizeof(quarantine_migrations[0]),
		      &q->db, error_r);
	free(path);
	if (ret == 0) {
		uint32_t uidvalidity;

		/* the q_meta row bump_modseq() needs */
		ret = quarantine_db_uidvalidity(q, &uidvalidity, error_r);
	}
	if (ret < 0) {
		quarantine_db_close(&q);
		return -1;
	}
	*q_r = q;
	return 0;
}

void
quarantine_db_close(struct quarantine_db **qp)
{
	struct quarantine_db *q = *qp;

	if (q == NULL)
		return;
	db_close(&q->db);
	if (q->notify_fd >= 0)
		close(q->notify_fd);
	free(q->notify_path);
	free(q->dir);
	free(q->msg_dir);
	free(q->tmp_dir);
	x_free(qp);
}

/* Tells imapd that these users' Quarantine mailboxes changed (datagrams
 * "user\tQuarantine", as the store announces its own changes; never
 * blocks, may be lost: sessions also look on every command). */
static void
notify(struct quarantine_db *q, const struct str_list *rcpts)
{
	struct str_list messages = {0};

	for (size_t i = 0; i < rcpts->count; i++) {
		char *m = xasprintf("%s\t%s", rcpts->items[i],
				    STORE_QUARANTINE_MAILBOX);

		str_list_add(&messages, m);
		free(m);
	}
	store_notify_send(&q->notify_fd, q->notify_path, &messages);
	str_list_free(&messages);
}

/* ------------------------------------------------------------------ */
/* From and Subject */

/* Appends text with control characters (and DEL) as spaces, runs of spaces
 * collapsed, cut to max bytes at a UTF-8 character boundary. */
static char *
summary_clean(const char *text, size_t len)
{
	struct buf out;
	bool space = true; /* drops leading spaces */

	buf_init(&out);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c == 0x7f)
			c = ' ';
		if (c == ' ') {
			if (space)
				continue;
			space = true;
		} else {
			space = false;
		}
		buf_append_char(&out, (char)c);
	}
	while (out.len > 0 && out.data[out.len - 1] == ' ')
		buf_truncate(&out, out.len - 1);
	if (out.len > STORE_QUARANTINE_SUMMARY_MAX) {
		size_t cut = STORE_QUARANTINE_SUMMARY_MAX;

		/* back to the first byte of a character */
		while (cut > 0 && ((unsigned char)out.data[cut] & 0xc0) == 0x80)
			cut--;
		buf_truncate(&out, cut);
	}
	return buf_detach(&out);
}

void
store_quarantine_summary(const char *data, size_t len, char **from_r,
			 char **subject_r)
{
	size_t hlen = len;
	struct buf value;

	/* The header ends at the first empty line. */
	for (size_t i = 0; i + 1 < len; i++) {
		if (data[i] == '\n' && (data[i + 1] == '\n' ||
					(data[i + 1] == '\r' && i + 2 < len &&
					 data[i + 2] == '\n'))) {
			hlen = i + 1;
			break;
		}
	}
	buf_init(&value);
	(void)msg_search_header_field(data, hlen, "From", &value);
	*from_r =
	    summary_clean(value.data != NULL ? value.data : "", value.len);
	buf_reset(&value);
	(void)msg_search_header_field(data, hlen, "Subject", &value);
	*subject_r =
	    summary_clean(value.data != NULL ? value.data : "", value.len);
	buf_free(&value);
}

/* ------------------------------------------------------------------ */
/* adding */

static int
copy_out(int out, int in, off_t offset, size_t size, struct buf *head)
{
	char chunk[65536];
	size_t done = 0;

	while (done < size) {
		size_t want =
		    size - done < sizeof(chunk) ? size - done : sizeof(chunk);
		ssize_t n = pread(in, chunk, want, offset + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		if (head->len < QUARANTINE_HEADER_READ) {
			size_t room = QUARANTINE_HEADER_READ - head->len;

			buf_append(head, chunk,
				   (size_t)n < room ? (size_t)n : room);
		}
		if (fileio_write_all(out, chunk, (size_t)n) < 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* 1 the qid is known, 0 not, -1 error. */
static int
qid_known(struct quarantine_db *q, const char *qid)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(q->db, "SELECT 1 FROM q_messages WHERE qid = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
insert_rows(struct quarantine_db *q, const struct store_quarantine_new *m,
	    const char *from, const char *subject)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 mid, modseq;

	if (sqlite3_prepare_v2(
		q->db,
		"INSERT INTO q_messages(qid, mail_from, hdr_from, subject, "
		"received, expires, size, reason, decided_by, score, symbols, "
		"ret, envid) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, m->qid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->mail_from != NULL ? m->mail_from : "", -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 3, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)m->received);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)m->expires);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)m->size);
	sqlite3_bind_text(st, 8, m->reason != NULL ? m->reason : "", -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 9, m->by != NULL ? m->by : "", -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 10, m->score);
	sqlite3_bind_text(st, 11, m->symbols != NULL ? m->symbols : "", -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 12, m->ret, -1, SQLITE_STATIC); /* NULL: NULL */
	sqlite3_bind_text(st, 13, m->envid, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	mid = sqlite3_last_insert_rowid(q->db);
	if (bump_modseq(q, &modseq) < 0 ||
	    sqlite3_prepare_v2(q->db,
			       "INSERT OR IGNORE INTO q_entries(message_id, "
			       "rcpt, modseq, notify, orcpt) "
			       "VALUES (?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	for (size_t i = 0; i < m->rcpt_count; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, mid);
		sqlite3_bind_text(st, 2, m->rcpts[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, modseq);
		sqlite3_bind_text(st, 4,
				  m->notify != NULL ? m->notify[i] : NULL, -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 5, m->orcpt != NULL ? m->orcpt[i] : NULL,
				  -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_finalize(st);
			return -1;
		}
	}
	sqlite3_finalize(st);
	return 0;
}

/* One message of an add, between its file and its rows. */
struct add_item {
	const struct store_quarantine_new *m;
	char *tmp, *final, *from, *subject;
	int fd;
	bool renamed;
};

static void
add_item_clear(struct add_item *it, bool unlink_files)
{
	if (it->fd >= 0)
		close(it->fd);
	if (unlink_files) {
		(void)unlink(it->renamed ? it->final : it->tmp);
	}
	free(it->tmp);
	free(it->final);
	free(it->from);
	free(it->subject);
	memset(it, 0, sizeof(*it));
	it->fd = -1;
}

/* Writes the message file to tmp/ (not yet synced) and reads its summary.
 * 0 or -1 (errno). */
static int
add_item_write(struct quarantine_db *q, struct add_item *it)
{
	unsigned char rnd[6];
	struct buf head;
	int ret = -1;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	it->tmp =
	    xasprintf("%s/%s.%02x%02x%02x%02x%02x%02x", q->tmp_dir, it->m->qid,
		      rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	it->final = xasprintf("%s/%s", q->msg_dir, it->m->qid);
	buf_init(&head);
	it->fd = open(it->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (it->fd >= 0 && copy_out(it->fd, it->m->fd, it->m->offset,
				    it->m->size, &head) == 0) {
		/* start write-back now: one journal commit for the batch */
		(void)sync_file_range(it->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		store_quarantine_summary(head.data != NULL ? head.data : "",
					 head.len, &it->from, &it->subject);
		ret = 0;
	}
	buf_free(&head);
	return ret;
}

int
quarantine_db_add(struct quarantine_db *q,
		  const struct store_quarantine_new *msgs, size_t count,
		  int *results_r, char **error_r)
{
	struct add_item *items = xcalloc(count + 1, sizeof(*items));
	struct str_list rcpts = {0};
	size_t n = 0;
	int ret = -1;

	for (size_t i = 0; i < count; i++) {
		int rc;

		results_r[i] = 0;
		if (!qid_safe(msgs[i].qid) || msgs[i].rcpt_count == 0) {
			*error_r = xstrdup(
			    "quarantine: bad message id or no recipient");
			goto out;
		}
		rc = qid_known(q, msgs[i].qid);
		for (size_t k = 0; k < n && rc == 0; k++)
			if (strcmp(items[k].m->qid, msgs[i].qid) == 0)
				rc = 1; /* twice in this call */
		if (rc < 0) {
			*error_r = xstrdup(sqlite3_errmsg(q->db));
			goto out;
		}
		if (rc == 1)
			continue;
		items[n].fd = -1;
		items[n].m = &msgs[i];
		results_r[i] = 1;
		if (add_item_write(q, &items[n++]) < 0) {
			*error_r = xasprintf("writing %s: %s", items[n - 1].tmp,
					     strerror(errno));
			goto out;
		}
	}
	if (n == 0) {
		ret = 0;
		goto out;
	}
	/* The files, then their names, then the rows: the index never names
	 * a file that a crash could lose. */
	for (size_t k = 0; k < n; k++) {
		if (fdatasync(items[k].fd) < 0) {
			*error_r = xasprintf("writing %s: %s", items[k].tmp,
					     strerror(errno));
			goto out;
		}
	}
	for (size_t k = 0; k < n; k++) {
		if (rename(items[k].tmp, items[k].final) < 0) {
			*error_r = xasprintf("renaming %s: %s", items[k].tmp,
					     strerror(errno));
			goto out;
		}
		items[k].renamed = true;
	}
	if (fileio_sync_dir(q->msg_dir) < 0) {
		*error_r = xasprintf("%s: %s", q->msg_dir, strerror(errno));
		goto out;
	}
	if (db_exec(q->db, "BEGIN IMMEDIATE", error_r) < 0)
		goto out;
	for (size_t k = 0; k < n; k++) {
		if (insert_rows(q, items[k].m, items[k].from,
				items[k].subject) < 0) {
			*error_r = xstrdup(sqlite3_errmsg(q->db));
			(void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
			goto out;
		}
	}
	if (db_exec(q->db, "COMMIT", error_r) < 0) {
		(void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	ret = 0;
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < items[k].m->rcpt_count; i++)
			str_list_add(&rcpts, items[k].m->rcpts[i]);
	notify(q, &rcpts);
out:
	for (size_t k = 0; k < n; k++)
		add_item_clear(&items[k], ret < 0);
	if (ret < 0)
		for (size_t i = 0; i < count; i++)
			results_r[i] = 0;
	free(items);
	str_list_free(&rcpts);
	return ret;
}

/* ------------------------------------------------------------------ */
/* reading */

#define ENTRY_COLUMNS                                                          \
	"SELECT e.id, m.qid, e.rcpt, m.mail_from, m.hdr_from, m.subject, "     \
	"m.received, m.expires, m.size, m.reason, m.decided_by, m.score, "     \
	"m.symbols, e.modseq, m.ret, m.envid, e.notify, e.orcpt "              \
	"FROM q_entries e JOIN q_messages m ON e.message_id = m.id "

static char *
column_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return xstrdup(t != NULL ? (const char *)t : "");
}

/* A column that may be NULL: NULL, or a copy. */
static char *
column_dup_null(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t != NULL ? xstrdup((const char *)t) : NULL;
}

static void
entry_fill(struct quarantine_db *q, sqlite3_stmt *st,
	   struct store_quarantine_entry *e)
{
	e->id = (uint64_t)sqlite3_column_int64(st, 0);
	e->qid = column_dup(st, 1);
	e->rcpt = column_dup(st, 2);
	e->mail_from = column_dup(st, 3);
	e->from = column_dup(st, 4);
	e->subject = column_dup(st, 5);
	e->received = (time_t)sqlite3_column_int64(st, 6);
	e->expires = (time_t)sqlite3_column_int64(st, 7);
	e->size = (uint64_t)sqlite3_column_int64(st, 8);
	e->reason = column_dup(st, 9);
	e->by = column_dup(st, 10);
	e->score = sqlite3_column_double(st, 11);
	e->symbols = column_dup(st, 12);
	e->modseq = (uint64_t)sqlite3_column_int64(st, 13);
	e->ret = column_dup_null(st, 14);
	e->envid = column_dup_null(st, 15);
	e->notify = column_dup_null(st, 16);
	e->orcpt = column_dup_null(st, 17);
	e->path = xasprintf("%s/%s", q->msg_dir, e->qid);
}

int
quarantine_db_list(struct quarantine_db *q, const char *rcpt, const char *qid,
		   struct store_quarantine_entry **entries_r, size_t *count_r,
		   char **error_r)
{
	struct store_quarantine_entry *list = NULL;
	size_t count = 0;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(q->db,
			       ENTRY_COLUMNS
			       "WHERE (?1 IS NULL OR e.rcpt = ?1) AND "
			       "(?2 IS NULL OR m.qid = ?2) ORDER BY e.id",
			       -1, &st, NULL) != SQLITE_OK) {
		*error_r = xstrdup(sqlite3_errmsg(q->db));
		return -1;
	}
	db_bind_text(st, 1, rcpt);
	db_bind_text(st, 2, qid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		list = xreallocarray(list, count + 1, sizeof(*list));
		memset(&list[count], 0, sizeof(list[count]));
		entry_fill(q, st, &list[count++]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_quarantine_entries_free(list, count);
		*error_r = xstrdup(sqlite3_errmsg(q->db));
		return -1;
	}
	*entries_r = list;
	*count_r = count;
	return 0;
}

int
quarantine_db_get(struct quarantine_db *q, uint64_t id,
		  struct store_quarantine_entry *entry_r, char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	memset(entry_r, 0, sizeof(*entry_r));
	if (sqlite3_prepare_v2(q->db, ENTRY_COLUMNS "WHERE e.id = ?", -1, &st,
			       NULL) != SQLITE_OK) {
		*error_r = xstrdup(sqlite3_errmsg(q->db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		entry_fill(q, st, entry_r);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		*error_r = xstrdup(sqlite3_errmsg(q->db));
		return -1;
	}
	return rc == SQLITE_ROW ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* removing */

static void
add_once(struct str_list *list, const char *s)
{
	for (size_t i = 0; i < list->count; i++)
		if (strcasecmp(list->items[i], s) == 0)
			return;
	str_list_add(list, s);
}

/*
 * Inside a transaction: deletes the entries of where_sql (bound to arg),
 * then every message left without an entry, collecting their qids into
 * gone. Returns the number of entries deleted, or -1.
 */
static int
delete_entries(struct quarantine_db *q, const char *where_sql,
	       sqlite3_int64 arg, struct str_list *gone, struct str_list *rcpts)
{
	sqlite3_stmt *st, *ins = NULL;
	char *sql = xasprintf(
	    "INSERT INTO q_expunged(rcpt, id, modseq) SELECT rcpt, id, "
	    "(SELECT modseq + 1 FROM q_meta) FROM q_entries WHERE %s",
	    where_sql);
	sqlite3_int64 modseq;
	int n = 0, rc;

	/* Remembered for QRESYNC first (all with the next modseq), then
	 * deleted. */
	if (sqlite3_prepare_v2(q->db, sql, -1, &ins, NULL) != SQLITE_OK) {
		free(sql);
		return -1;
	}
	free(sql);
	sqlite3_bind_int64(ins, 1, arg);
	rc = sqlite3_step(ins);
	sqlite3_finalize(ins);
	if (rc != SQLITE_DONE)
		return -1;
	sql = xasprintf("DELETE FROM q_entries WHERE %s RETURNING rcpt",
			where_sql);
	if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK) {
		free(sql);
		return -1;
	}
	free(sql);
	sqlite3_bind_int64(st, 1, arg);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		add_once(rcpts, (const char *)sqlite3_column_text(st, 0));
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (n == 0)
		return 0;
	if (bump_modseq(q, &modseq) < 0)
		return -1;
	if (sqlite3_prepare_v2(q->db,
			       "DELETE FROM q_messages WHERE id NOT IN (SELECT "
			       "message_id FROM q_entries) RETURNING qid",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW)
		str_list_add(gone, (const char *)sqlite3_column_text(st, 0));
	if (sqlite3_finalize(st) != SQLITE_OK)
		return -1;
	return n;
}

static void
unlink_messages(struct quarantine_db *q, const struct str_list *gone)
{
	for (size_t i = 0; i < gone->count; i++) {
		char *path;

		if (!qid_safe(gone->items[i]))
			continue;
		path = xasprintf("%s/%s", q->msg_dir, gone->items[i]);
		(void)unlink(path);
		free(path);
	}
	if (gone->count > 0)
		(void)fileio_sync_dir(q->msg_dir);
}

int
quarantine_db_remove(struct quarantine_db *q, const uint64_t *ids, size_t count,
		     char **error_r)
{
	struct str_list gone = {0}, rcpts = {0};
	int total = 0;

	if (db_exec(q->db, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		int n = delete_entries(q, "id = ?", (sqlite3_int64)ids[i],
				       &gone, &rcpts);

		if (n < 0) {
			*error_r = xstrdup(sqlite3_errmsg(q->db));
			(void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
			total = -1;
			goto out;
		}
		total += n;
	}
	if (db_exec(q->db, "COMMIT", error_r) < 0) {
		(void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		total = -1;
		goto out;
	}
	unlink_messages(q, &gone);
	notify(q, &rcpts);
out:
	str_list_free(&gone);
	str_list_free(&rcpts);
	return total;
}

/* Message files (and temporary files) no row names, older than the
 * orphan age: left by a crash between a commit and an unlink. */
static void
remove_orphans(struct quarantine_db *q, time_t now)
{
	const char *dirs[] = {q->msg_dir, q->tmp_dir};

	for (size_t d = 0; d < 2; d++) {
		DIR *dir = opendir(dirs[d]);
		struct dirent *de;

		if (dir == NULL)
			continue;
		while ((de = readdir(dir)) != NULL) {
			char *path;
			struct stat st;

			if (de->d_name[0] == '.')
				continue;
			if (d == 0 && (!qid_safe(de->d_name) ||
				       qid_known(q, de->d_name) != 0))
				continue;
			path = xasprintf("%s/%s", dirs[d], de->d_name);
			if (stat(path, &st) == 0 &&
			    now - st.st_mtime > QUARANTINE_ORPHAN_AGE)
				(void)unlink(path);
			free(path);
		}
		closedir(dir);
	}
}

/* Inside a transaction: every message expires retention after it arrived
 * (the current setting, not the one it was stored under). 0 or -1. */
static int
rebase_expiry(struct quarantine_db *q, time_t retention, char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(q->db,
			       "UPDATE q_messages SET expires = received + ?1 "
			       "WHERE expires <> received + ?1",
			       -1, &st, NULL) != SQLITE_OK) {
		*error_r = xstrdup(sqlite3_errmsg(q->db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)retention);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		*error_r = xstrdup(sqlite3_errmsg(q->db));
		return -1;
	}
	return 0;
}

int
quarantine_db_prune(struct quarantine_db *q, time_t now, time_t retention,
		    size_t *removed_r, char **error_r)
{
	struct str_list gone = {0}, rcpts = {0};
	int n, ret = -1;

	*removed_r = 0;
	if (db_exec(q->db, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if (retention > 0 && rebase_expiry(q, retention, error_r) < 0) {
		(void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	n = delete_entries(q,
			   "message_id IN (SELECT id FROM q_messages WHERE "
			   "expires <= ?)",
			   (sqlite3_int64)now, &gone, &rcpts);
	if (n < 0) {
		*error_r = xstrdup(sqlite3_errmsg(q->db));
		(void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	if (db_exec(q->db, "COMMIT", error_r) < 0) {
		(void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	unlink_messages(q, &gone);
	notify(q, &rcpts);
	remove_orphans(q, now);
	*removed_r = (size_t)n;
	ret = 0;
out:
	str_list_free(&gone);
	str_list_free(&rcpts);
	return ret;
}

static int
quarantine_db_uidvalidity(struct quarantine_db *q, uint32_t *uidvalidity_r,
			  char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (sqlite3_prepare_v2(q->db,
				       "SELECT uidvalidity FROM q_meta LIMIT 1",
				       -1, &st, NULL) != SQLITE_OK)
			break;
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*uidvalidity_r = (uint32_t)sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
			return 0;
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			break;
		/* First use: the clock, as mailboxes get theirs. Two
		 * processes racing insert one row each; the first wins. */
		if (sqlite3_prepare_v2(
			q->db,
			"INSERT INTO q_meta(uidvalidity) SELECT ? "
			"WHERE NOT EXISTS (SELECT 1 FROM q_meta)",
			-1, &st, NULL) != SQLITE_OK)
			break;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)(uint32_t)time(NULL));
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			break;
	}
	*error_r = xstrdup(sqlite3_errmsg(q->db));
	return -1;
}

/* The id the next entry gets: AUTOINCREMENT never hands out an id again,
 * so this never goes down (IMAP UIDNEXT). */
static int
next_entry_id(struct quarantine_db *q, uint32_t *uidnext_r)
{
	sqlite3_stmt *st;
	int rc;

	*uidnext_r = 1;
	if (sqlite3_prepare_v2(q->db,
			       "SELECT seq FROM sqlite_sequence WHERE name = "
			       "'q_entries'",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*uidnext_r = (uint32_t)sqlite3_column_int64(st, 0) + 1;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int
quarantine_db_status(struct quarantine_db *q, uint32_t *uidvalidity_r,
		     uint32_t *uidnext_r, uint64_t *highestmodseq_r,
		     char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	if (quarantine_db_uidvalidity(q, uidvalidity_r, error_r) < 0)
		return -1;
	if (next_entry_id(q, uidnext_r) < 0 ||
	    sqlite3_prepare_v2(q->db, "SELECT modseq FROM q_meta LIMIT 1", -1,
			       &st, NULL) != SQLITE_OK) {
		*error_r = xstrdup(sqlite3_errmsg(q->db));
		return -1;
	}
	rc = sqlite3_step(st);
	*highestmodseq_r =
	    rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 1;
	sqlite3_finalize(st);
	return 0;
}

int
quarantine_db_expunged_since(struct quarantine_db *q, const char *rcpt,
			     uint64_t modseq, uint32_t **uids_r,
			     size_t *count_r, char **error_r)
{
	uint32_t *uids = NULL;
	size_t count = 0;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(q->db,
			       "SELECT id FROM q_expunged WHERE rcpt = ? AND "
			       "modseq > ? ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK) {
		*error_r = xstrdup(sqlite3_errmsg(q->db));
		return -1;
	}
	sqlite3_bind_text(st, 1, rcpt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)modseq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uids = xreallocarray(uids, count + 1, sizeof(*uids));
		uids[count++] = (uint32_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(uids);
		*error_r = xstrdup(sqlite3_errmsg(q->db));
		return -1;
	}
	*uids_r = uids != NULL ? uids : xcalloc(1, sizeof(*uids));
	*count_r = count;
	return 0;
}
