/*
 * store_embedded: the default message store. One file per message under
 * DATA_DIR/mail/<domain>/<local>/<mailbox id>/, one SQLite index
 * DATA_DIR/mail/index.db.
 *
 * A delivery writes the file in the user's tmp/ directory and renames it
 * into the mailbox directory, then inserts its index row, all inside one
 * SQLite transaction. store_commit() first makes every file of the
 * transaction durable (fdatasync of each file, which ext4 and XFS fold into
 * one journal commit, then one fsync per touched directory), then commits
 * the index. So
 * the index never names a file that could be lost; a crash between rename
 * and commit leaves an unindexed file, which readers ignore. The
 * delivery_key column is UNIQUE: delivering a key twice stores once.
 */
#include "mailstore/store_private.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/buf.h"
#include "lib/db.h"
#include "lib/fileio.h"
#include "lib/xalloc.h"
#include "mailstore/msg_structure.h"
#include "mailstore/quarantine_db.h"

struct store_embedded {
	struct store store;
	char *data_dir;
	char *mail_dir;
	sqlite3 *db;
	bool in_txn;
	int *fds;	       /* files written in this transaction */
	struct str_list paths; /* their final paths */
	struct str_list dirs;  /* directories to fsync */
	size_t nfds;
	struct str_list notify; /* "user\tmailbox" to announce at commit */
	bool relaxed;		/* store_set_relaxed_sync() */
	int notify_fd;
	char *notify_path;
	sqlite3_stmt *structure_get; /* prepared once (FETCH asks per UID) */
	struct quarantine_db *quarantine; /* opened on first use */
};

static const char *const special_mailboxes[][2] = {
    {"INBOX", ""},	{"Drafts", "\\Drafts"}, {"Sent", "\\Sent"},
    {"Junk", "\\Junk"}, {"Trash", "\\Trash"},	{"Archive", "\\Archive"},
};

static const struct db_migration store_migrations[] = {
    {1, "CREATE TABLE mailboxes ("
	"  id INTEGER PRIMARY KEY,"
	"  user TEXT NOT NULL COLLATE NOCASE,"
	"  name TEXT NOT NULL,"
	"  uidvalidity INTEGER NOT NULL,"
	"  uidnext INTEGER NOT NULL DEFAULT 1,"
	"  highestmodseq INTEGER NOT NULL DEFAULT 1,"
	"  special_use TEXT NOT NULL DEFAULT '',"
	"  subscribed INTEGER NOT NULL DEFAULT 1,"
	"  UNIQUE (user, name));"
	"CREATE TABLE messages ("
	"  id INTEGER PRIMARY KEY,"
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id)"
	"    ON DELETE CASCADE,"
	"  uid INTEGER NOT NULL,"
	"  modseq INTEGER NOT NULL,"
	"  flags TEXT NOT NULL DEFAULT '',"
	"  internal_date INTEGER NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  file TEXT NOT NULL,"
	"  delivery_key TEXT UNIQUE,"
	"  saved_date INTEGER NOT NULL,"
	"  UNIQUE (mailbox_id, uid));"},
    /* The MIME structure of each message (msg_structure blob), computed
     * at delivery; NULL for older rows, filled lazily. */
    {2, "ALTER TABLE messages ADD COLUMN structure BLOB;"},
    /* IMAP: expunged UIDs for QRESYNC, a per-user UIDVALIDITY counter so a
     * re-created mailbox never repeats one. */
    {3, "CREATE TABLE expunged ("
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id)"
	"    ON DELETE CASCADE,"
	"  uid INTEGER NOT NULL,"
	"  modseq INTEGER NOT NULL);"
	"CREATE INDEX expunged_mailbox ON expunged(mailbox_id, modseq);"
	"CREATE TABLE store_users ("
	"  user TEXT PRIMARY KEY COLLATE NOCASE,"
	"  last_uidvalidity INTEGER NOT NULL);"},
};

static struct store_embedded *
embedded(struct store *store)
{
	return (struct store_embedded *)store;
}

/* A path component taken from an address must not escape its parent. */
static bool
component_safe(const char *s, size_t len)
{
	if (len == 0 || len > 255 || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
			return false;
	}
	return true;
}

/* DATA_DIR/mail/<domain>/<local> in lower case domain; NULL if unsafe. */
static char *
user_dir(struct store_embedded *se, const char *user)
{
	const char *at = strrchr(user, '@');
	char *domain, *dir;

	if (at == NULL || !component_safe(user, (size_t)(at - user)) ||
	    !component_safe(at + 1, strlen(at + 1)))
		return NULL;
	domain = xstrdup(at + 1);
	for (char *p = domain; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	dir = xasprintf("%s/%s/%.*s", se->mail_dir, domain, (int)(at - user),
			user);
	free(domain);
	return dir;
}

static int
mkdir_p(const char *path)
{
	char *copy;
	int ret = 0;

	/* The common case (it exists) costs one system call. */
	if (mkdir(path, 0750) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	copy = xstrdup(path);

	for (char *p = copy + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0750) < 0 && errno != EEXIST)
			ret = -1;
		*p = '/';
	}
	if (ret == 0 && mkdir(copy, 0750) < 0 && errno != EEXIST)
		ret = -1;
	free(copy);
	return ret;
}

static int
embedded_open(const char *data_dir, struct store **store_r, char **error_r)
{
	struct store_embedded *se = xcalloc(1, sizeof(*se));
	char *path;
	int ret;

	se->store.backend = &store_backend_embedded;
	se->notify_fd = -1;
	se->notify_path = store_notify_path(data_dir);
	se->data_dir = xstrdup(data_dir);
	se->mail_dir = xasprintf("%s/mail", data_dir);
	if (mkdir_p(se->mail_dir) < 0) {
		*error_r = xasprintf("%s: %s", se->mail_dir, strerror(errno));
		free(se->notify_path);
		free(se->mail_dir);
		free(se->data_dir);
		free(se);
		return -1;
	}
	path = xasprintf("%s/index.db", se->mail_dir);
	ret = db_open(path, store_migrations,
		      sizeof(store_migrations) / sizeof(store_migrations[0]),
		      &se->db, error_r);
	free(path);
	if (ret < 0) {
		free(se->notify_path);
		free(se->mail_dir);
		free(se->data_dir);
		free(se);
		return -1;
	}
	*store_r = &se->store;
	return 0;
}

static void embedded_rollback(struct store *store);

static void
embedded_close(struct store *store)
{
	struct store_embedded *se = embedded(store);

	if (se->in_txn)
		embedded_rollback(store);
	sqlite3_finalize(se->structure_get);
	quarantine_db_close(&se->quarantine);
	db_close(&se->db);
	free(se->fds);
	str_list_free(&se->paths);
	str_list_free(&se->dirs);
	str_list_free(&se->notify);
	if (se->notify_fd >= 0)
		close(se->notify_fd);
	free(se->notify_path);
	free(se->mail_dir);
	free(se->data_dir);
	free(se);
}

/*
 * A UIDVALIDITY the user never had: the clock, or one more than the last
 * one handed out when the clock has not moved on (the counter lives in
 * store_users, so a deleted and re-created mailbox gets a new one).
 */
static uint32_t
next_uidvalidity(struct store_embedded *se, const char *user)
{
	sqlite3_stmt *stmt;
	sqlite3_int64 last = 0, now = (sqlite3_int64)time(NULL), next;

	if (sqlite3_prepare_v2(se->db,
			       "SELECT last_uidvalidity FROM store_users "
			       "WHERE user = ?",
			       -1, &stmt, NULL) != SQLITE_OK)
		return (uint32_t)now;
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		last = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	next = now > last ? now : last + 1;
	if (next > 0xffffffffLL)
		next = 1;
	if (sqlite3_prepare_v2(
		se->db,
		"INSERT INTO store_users(user, last_uidvalidity) "
		"VALUES (?, ?) ON CONFLICT(user) DO UPDATE SET "
		"last_uidvalidity = excluded.last_uidvalidity",
		-1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 2, next);
		(void)sqlite3_step(stmt);
		sqlite3_finalize(stmt);
	}
	return (uint32_t)next;
}

static int
embedded_user_create(struct store *store, const char *user, char **error_r)
{
	struct store_embedded *se = embedded(store);
	char *dir = user_dir(se, user);
	char *tmp;
	sqlite3_stmt *stmt;
	int rc = SQLITE_DONE;

	if (dir == NULL) {
		*error_r =
		    xasprintf("unsafe user name for the store: %s", user);
		return -1;
	}
	tmp = xasprintf("%s/tmp", dir);
	if (mkdir_p(tmp) < 0) {
		*error_r = xasprintf("%s: %s", tmp, strerror(errno));
		free(tmp);
		free(dir);
		return -1;
	}
	free(tmp);
	free(dir);
	if (sqlite3_prepare_v2(se->db,
			       "INSERT OR IGNORE INTO mailboxes(user, name, "
			       "uidvalidity, special_use) VALUES (?, ?, ?, ?)",
			       -1, &stmt, NULL) != SQLITE_OK) {
		*error_r = xstrdup(sqlite3_errmsg(se->db));
		return -1;
	}
	for (size_t i = 0;
	     i < sizeof(special_mailboxes) / sizeof(special_mailboxes[0]);
	     i++) {
		sqlite3_reset(stmt);
		sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, special_mailboxes[i][0], -1,
				  SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 3,
				   (sqlite3_int64)next_uidvalidity(se, user));
		sqlite3_bind_text(stmt, 4, special_mailboxes[i][1], -1,
				  SQLITE_STATIC);
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE)
			break;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		*error_r = xstrdup(sqlite3_errmsg(se->db));
		return -1;
	}
	return 0;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int
embedded_user_delete(struct store *store, const char *user, char **error_r)
{
	struct store_embedded *se = embedded(store);
	char *dir = user_dir(se, user);
	sqlite3_stmt *stmt;
	int rc;

	if (dir == NULL) {
		*error_r =
		    xasprintf("unsafe user name for the store: %s", user);
		return -1;
	}
	if (sqlite3_prepare_v2(se->db, "DELETE FROM mailboxes WHERE user = ?",
			       -1, &stmt, NULL) != SQLITE_OK) {
		free(dir);
		*error_r = xstrdup(sqlite3_errmsg(se->db));
		return -1;
	}
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		free(dir);
		*error_r = xstrdup(sqlite3_errmsg(se->db));
		return -1;
	}
	(void)nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
	return 0;
}

/* In relaxed mode, durable transactions switch to synchronous=FULL for
 * their commit and back to NORMAL after (both are cheap outside a
 * transaction). */
static void
sync_full(struct store_embedded *se, bool full)
{
	if (se->relaxed)
		(void)sqlite3_exec(se->db,
				   full ? "PRAGMA synchronous=FULL"
					: "PRAGMA synchronous=NORMAL",
				   NULL, NULL, NULL);
}

static void
embedded_set_relaxed_sync(struct store *store, bool relaxed)
{
	struct store_embedded *se = embedded(store);

	se->relaxed = true;
	sync_full(se, !relaxed);
	se->relaxed = relaxed;
}

static int
embedded_begin(struct store *store, char **error_r)
{
	struct store_embedded *se = embedded(store);

	sync_full(se, true);
	if (db_exec(se->db, "BEGIN IMMEDIATE", error_r) < 0) {
		sync_full(se, false);
		return -1;
	}
	se->in_txn = true;
	return 0;
}

static void
txn_forget(struct store_embedded *se, bool unlink_files)
{
	for (size_t i = 0; i < se->nfds; i++)
		close(se->fds[i]);
	if (unlink_files)
		for (size_t i = 0; i < se->paths.count; i++)
			(void)unlink(se->paths.items[i]);
	x_free(&se->fds);
	se->nfds = 0;
	str_list_free(&se->paths);
	str_list_free(&se->dirs);
	if (unlink_files)
		str_list_free(&se->notify);
	se->in_txn = false;
	sync_full(se, false);
}

static void
embedded_rollback(struct store *store)
{
	struct store_embedded *se = embedded(store);

	(void)sqlite3_exec(se->db, "ROLLBACK", NULL, NULL, NULL);
	txn_forget(se, true);
}

static bool
key_delivered(struct store_embedded *se, const char *key)
{
	sqlite3_stmt *stmt;
	bool found = false;

	if (sqlite3_prepare_v2(se->db,
			       "SELECT 1 FROM messages WHERE delivery_key = ?",
			       -1, &stmt, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	found = sqlite3_step(stmt) == SQLITE_ROW;
	sqlite3_finalize(stmt);
	return found;
}

/* 1 found, 0 missing, -1 error. */
static int
mailbox_get(struct store_embedded *se, const char *user, const char *name,
	    sqlite3_int64 *id_r, sqlite3_int64 *uidnext_r,
	    sqlite3_int64 *modseq_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (sqlite3_prepare_v2(se->db,
			       "SELECT id, uidnext, highestmodseq FROM "
			       "mailboxes WHERE user = ? AND name = ?",
			       -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*id_r = sqlite3_column_int64(stmt, 0);
		*uidnext_r = sqlite3_column_int64(stmt, 1);
		*modseq_r = sqlite3_column_int64(stmt, 2);
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Writes prefix + source bytes to fd. */
static int
copy_message(int fd, const struct store_delivery *d)
{
	char chunk[65536];
	size_t done = 0;

	if (d->prefix_len > 0 &&
	    fileio_write_all(fd, d->prefix, d->prefix_len) < 0)
		return -1;
	while (done < d->size) {
		size_t want = d->size - done < sizeof(chunk) ? d->size - done
							     : sizeof(chunk);
		ssize_t n = pread(d->fd, chunk, want, d->offset + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* source shorter than promised */
			return -1;
		}
		if (fileio_write_all(fd, chunk, (size_t)n) < 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static void
add_dir_once(struct str_list *dirs, const char *dir)
{
	for (size_t i = 0; i < dirs->count; i++)
		if (strcmp(dirs->items[i], dir) == 0)
			return;
	str_list_add(dirs, dir);
}

static int embedded_quota_usage(struct store *store, const char *user,
				uint64_t *bytes_r, uint64_t *messages_r,
				char **error_r);

/* ------------------------------------------------------------------ */
/* change notification (see store.h) */

static void
notify_later(struct store_embedded *se, const char *user, const char *mailbox)
{
	char *item = xasprintf("%s\t%s", user, mailbox);

	add_dir_once(&se->notify, item);
	free(item);
}

static void
notify_flush(struct store_embedded *se)
{
	store_notify_send(&se->notify_fd, se->notify_path, &se->notify);
	str_list_free(&se->notify);
}

static void
notify_now(struct store_embedded *se, const char *user, const char *mailbox)
{
	notify_later(se, user, mailbox);
	notify_flush(se);
}

/* ------------------------------------------------------------------ */
/* flags */

static const char *const system_flags[] = {"\\Seen", "\\Answered", "\\Flagged",
					   "\\Deleted", "\\Draft"};

/* Canonical flag list: system flags in their usual case, no duplicates
 * (case-insensitive), no \Recent, tokens separated by one space. */
static char *
flags_normalize(const char *flags)
{
	struct str_list seen;
	struct buf out;
	const char *p = flags;

	memset(&seen, 0, sizeof(seen));
	buf_init(&out);
	while (*p != '\0') {
		size_t n;
		char *tok;
		bool dup = false;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n == 0)
			break;
		tok = xstrndup(p, n);
		p += n;
		for (size_t i = 0;
		     i < sizeof(system_flags) / sizeof(system_flags[0]); i++)
			if (strcasecmp(tok, system_flags[i]) == 0) {
				free(tok);
				tok = xstrdup(system_flags[i]);
			}
		if (strcasecmp(tok, "\\Recent") == 0)
			dup = true;
		for (size_t i = 0; i < seen.count && !dup; i++)
			if (strcasecmp(seen.items[i], tok) == 0)
				dup = true;
		if (!dup) {
			str_list_add(&seen, tok);
			if (out.len > 0)
				buf_append_char(&out, ' ');
			buf_append_str(&out, tok);
		}
		free(tok);
	}
	str_list_free(&seen);
	return buf_detach(&out);
}

static bool
flags_has(const char *flags, const char *flag)
{
	size_t n = strlen(flag);
	const char *p = flags;

	while (*p != '\0') {
		size_t len;

		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == n && strncasecmp(p, flag, n) == 0)
			return true;
		p += len;
	}
	return false;
}

/* The flags after applying change with mode; allocated, normalised. */
static char *
flags_apply(const char *current, enum store_flags_mode mode, const char *change)
{
	struct buf out;
	const char *p;
	char *result;

	if (mode == STORE_FLAGS_REPLACE)
		return flags_normalize(change);
	buf_init(&out);
	if (mode == STORE_FLAGS_ADD) {
		buf_printf(&out, "%s %s", current, change);
	} else {
		p = current;
		while (*p != '\0') {
			size_t len;
			char *tok;

			while (*p == ' ')
				p++;
			len = strcspn(p, " ");
			if (len == 0)
				break;
			tok = xstrndup(p, len);
			if (!flags_has(change, tok)) {
				buf_append_char(&out, ' ');
				buf_append_str(&out, tok);
			}
			free(tok);
			p += len;
		}
	}
	result = flags_normalize(buf_cstr(&out));
	buf_free(&out);
	return result;
}

/* ---- message structure cache (msg_structure blobs) ---- */

/* Parses the message file at path; NULL if it cannot be read. */
static struct msg_structure *
structure_of_file(const char *path)
{
	struct msg_structure *s = NULL;
	char *error = NULL;

	if (msg_structure_parse_file(path, &s, &error) < 0) {
		free(error);
		return NULL;
	}
	return s;
}

/* Stores the structure blob of a message row. 0, or -1 on an SQL error
 * (sqlite3_errmsg tells). A file that cannot be parsed leaves NULL, which
 * readers fill lazily. */
static int
structure_save(struct store_embedded *se, const struct msg_structure *s,
	       sqlite3_int64 rowid)
{
	struct buf blob = {0};
	sqlite3_stmt *stmt;
	int rc;

	if (sqlite3_prepare_v2(se->db,
			       "UPDATE messages SET structure = ? WHERE id = ?",
			       -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	msg_structure_serialize(s, &blob);
	sqlite3_bind_blob(stmt, 1, blob.data, (int)blob.len, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, rowid);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	buf_free(&blob);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
structure_store(struct store_embedded *se, const char *path,
		sqlite3_int64 rowid)
{
	struct msg_structure *s = structure_of_file(path);
	int ret;

	if (s == NULL)
		return 0;
	ret = structure_save(se, s, rowid);
	msg_structure_free(&s);
	return ret;
}

static int
embedded_message_structure(struct store *store, const char *user,
			   const char *mailbox, uint32_t uid,
			   struct msg_structure **s_r, char **error_r)
{
	struct store_embedded *se = embedded(store);
	sqlite3_stmt *stmt;
	sqlite3_int64 rowid, mbox_id;
	char *udir, *path, *error = NULL;
	struct msg_structure *s = NULL;
	int rc;

	udir = user_dir(se, user);
	if (udir == NULL) {
		*error_r =
		    xasprintf("unsafe user name for the store: %s", user);
		return -1;
	}
	if (se->structure_get == NULL &&
	    sqlite3_prepare_v2(se->db,
			       "SELECT m.id, m.structure, m.file, b.id, "
			       "m.size FROM messages m JOIN mailboxes b ON "
			       "m.mailbox_id = b.id WHERE b.user = ? AND "
			       "b.name = ? AND m.uid = ?",
			       -1, &se->structure_get, NULL) != SQLITE_OK) {
		free(udir);
		*error_r = xstrdup(sqlite3_errmsg(se->db));
		return -1;
	}
	stmt = se->structure_get;
	sqlite3_reset(stmt);
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, uid);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			*error_r = xstrdup(sqlite3_errmsg(se->db));
		sqlite3_reset(stmt);
		free(udir);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	rowid = sqlite3_column_int64(stmt, 0);
	if (sqlite3_column_type(stmt, 1) == SQLITE_BLOB &&
	    msg_structure_deserialize(sqlite3_column_blob(stmt, 1),
				      (size_t)sqlite3_column_bytes(stmt, 1), &s,
				      &error) < 0)
		x_free(&error); /* damaged or older version: parse again */
	if (s != NULL &&
	    msg_structure_size(s) != (uint64_t)sqlite3_column_int64(stmt, 4))
		msg_structure_free(&s);
	mbox_id = sqlite3_column_int64(stmt, 3);
	path = s != NULL
		   ? NULL
		   : xasprintf("%s/%lld/%s", udir, (long long)mbox_id,
			       (const char *)sqlite3_column_text(stmt, 2));
	sqlite3_reset(stmt);
	free(udir);
	if (s == NULL) {
		/* Older message: parse once and keep the result. */
		if (msg_structure_parse_file(path, &s, &error) < 0) {
			*error_r = xasprintf("reading %s", error);
			free(error);
			free(path);
			return -1;
		}
		(void)structure_save(se, s, rowid); /* a cache: best effort */
	}
	free(path);
	*s_r = s;
	return 1;
}

static int
embedded_deliver(struct store *store, const struct store_delivery *d,
		 uint32_t *uid_r, char **error_r)
{
	struct store_embedded *se = embedded(store);
	sqlite3_int64 mbox_id, uidnext, modseq;
	char *udir = NULL, *mdir = NULL, *tmp = NULL, *final = NULL;
	char name[64], *flags = NULL;
	unsigned char rnd[8];
	sqlite3_stmt *stmt = NULL;
	int fd = -1, rc, ret = -1;

	if (!se->in_txn) {
		*error_r = xstrdup("store_deliver outside a transaction");
		return -1;
	}
	if (d->key != NULL && key_delivered(se, d->key))
		return 0;
	if (se->store.quota > 0) {
		uint64_t used = 0, count = 0;
		char *qerr = NULL;

		if (embedded_quota_usage(store, d->user, &used, &count, &qerr) <
		    0) {
			*error_r = qerr;
			return -1;
		}
		if (used + d->prefix_len + d->size > se->store.quota) {
			*error_r = xstrdup("mailbox full (quota exceeded)");
			return 2;
		}
	}
	rc = mailbox_get(se, d->user, d->mailbox, &mbox_id, &uidnext, &modseq);
	if (rc == 0 && strcmp(d->mailbox, "INBOX") == 0) {
		if (embedded_user_create(store, d->user, error_r) < 0)
			return -1;
		rc = mailbox_get(se, d->user, d->mailbox, &mbox_id, &uidnext,
				 &modseq);
	}
	if (rc <= 0) {
		*error_r = rc == 0 ? xasprintf("no mailbox %s for %s",
					       d->mailbox, d->user)
				   : xstrdup(sqlite3_errmsg(se->db));
		return -1;
	}
	udir = user_dir(se, d->user);
	if (udir == NULL) {
		*error_r =
		    xasprintf("unsafe user name for the store: %s", d->user);
		return -1;
	}
	mdir = xasprintf("%s/%lld", udir, (long long)mbox_id);
	tmp = xasprintf("%s/tmp", udir);
	if (mkdir_p(mdir) < 0 || mkdir_p(tmp) < 0) {
		*error_r = xasprintf("%s: %s", mdir, strerror(errno));
		goto out;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	snprintf(name, sizeof(name), "%lld.%02x%02x%02x%02x%02x%02x%02x%02x",
		 (long long)uidnext, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
		 rnd[5], rnd[6], rnd[7]);
	free(tmp);
	tmp = xasprintf("%s/tmp/%s", udir, name);
	final = xasprintf("%s/%s", mdir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0 || copy_message(fd, d) < 0 || rename(tmp, final) < 0) {
		*error_r = xasprintf("writing %s: %s", final, strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	if (sqlite3_prepare_v2(se->db,
			       "INSERT INTO messages(mailbox_id, uid, modseq, "
			       "internal_date, size, file, delivery_key, "
			       "saved_date, flags) VALUES (?, ?, ?, ?, ?, ?, "
			       "?, ?, ?)",
			       -1, &stmt, NULL) != SQLITE_OK)
		goto sql_error;
	sqlite3_bind_int64(stmt, 1, mbox_id);
	sqlite3_bind_int64(stmt, 2, uidnext);
	sqlite3_bind_int64(stmt, 3, modseq + 1);
	sqlite3_bind_int64(stmt, 4, (sqlite3_int64)d->internal_date);
	sqlite3_bind_int64(stmt, 5, (sqlite3_int64)(d->prefix_len + d->size));
	sqlite3_bind_text(stmt, 6, name, -1, SQLITE_STATIC);
	if (d->key != NULL)
		sqlite3_bind_text(stmt, 7, d->key, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 7);
	sqlite3_bind_int64(stmt, 8, (sqlite3_int64)time(NULL));
	flags = flags_normalize(d->flags != NULL ? d->flags : "");
	sqlite3_bind_text(stmt, 9, flags, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		goto sql_error;
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (structure_store(se, final, sqlite3_last_insert_rowid(se->db)) < 0)
		goto sql_error;
	if (sqlite3_prepare_v2(se->db,
			       "UPDATE mailboxes SET uidnext = ?, "
			       "highestmodseq = ? WHERE id = ?",
			       -1, &stmt, NULL) != SQLITE_OK)
		goto sql_error;
	sqlite3_bind_int64(stmt, 1, uidnext + 1);
	sqlite3_bind_int64(stmt, 2, modseq + 1);
	sqlite3_bind_int64(stmt, 3, mbox_id);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		goto sql_error;
	sqlite3_finalize(stmt);
	stmt = NULL;
	se->fds = xreallocarray(se->fds, se->nfds + 1, sizeof(*se->fds));
	se->fds[se->nfds++] = fd;
	fd = -1;
	str_list_add(&se->paths, final);
	add_dir_once(&se->dirs, mdir);
	notify_later(se, d->user, d->mailbox);
	if (uid_r != NULL)
		*uid_r = (uint32_t)uidnext;
	ret = 1;
	goto out;
sql_error:
	*error_r = xstrdup(sqlite3_errmsg(se->db));
	sqlite3_finalize(stmt);
	(void)unlink(final);
out:
	if (fd >= 0)
		close(fd);
	free(flags);
	free(udir);
	free(mdir);
	free(tmp);
	free(final);
	return ret;
}

static int
embedded_commit(struct store *store, char **error_r)
{
	struct store_embedded *se = embedded(store);
	int ret = 0;

	/* Write-back of all files first: one journal commit for the batch
	 * (see spool_commit.c). */
	for (size_t i = 0; i < se->nfds; i++)
		(void)sync_file_range(se->fds[i], 0, 0, SYNC_FILE_RANGE_WRITE);
	for (size_t i = 0; i < se->nfds && ret == 0; i++)
		if (fdatasync(se->fds[i]) < 0)
			ret = -1;
	for (size_t i = 0; i < se->dirs.count && ret == 0; i++)
		if (fileio_sync_dir(se->dirs.items[i]) < 0)
			ret = -1;
	if (ret < 0) {
		*error_r = xasprintf("flushing messages: %s", strerror(errno));
		embedded_rollback(store);
		return -1;
	}
	if (db_exec(se->db, "COMMIT", error_r) < 0) {
		embedded_rollback(store);
		return -1;
	}
	txn_forget(se, false);
	notify_flush(se);
	return 0;
}

static int
embedded_list(struct store *store, const char *user, const char *mailbox,
	      struct store_message_info **messages_r, size_t *count_r,
	      char **error_r)
{
	struct store_embedded *se = embedded(store);
	struct store_message_info *list = NULL;
	size_t count = 0;
	sqlite3_stmt *stmt;
	char *udir = user_dir(se, user);
	int rc;

	if (udir == NULL) {
		*error_r =
		    xasprintf("unsafe user name for the store: %s", user);
		return -1;
	}
	if (sqlite3_prepare_v2(se->db,
			       "SELECT m.uid, m.modseq, m.size, "
			       "m.internal_date, m.flags, m.file, b.id, "
			       "m.saved_date FROM "
			       "messages m JOIN mailboxes b ON m.mailbox_id = "
			       "b.id WHERE b.user = ? AND b.name = ? ORDER BY "
			       "m.uid",
			       -1, &stmt, NULL) != SQLITE_OK) {
		free(udir);
		*error_r = xstrdup(sqlite3_errmsg(se->db));
		return -1;
	}
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, mailbox, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct store_message_info *m;

		list = xreallocarray(list, count + 1, sizeof(*list));
		m = &list[count++];
		m->uid = (uint32_t)sqlite3_column_int64(stmt, 0);
		m->modseq = (uint64_t)sqlite3_column_int64(stmt, 1);
		m->size = (uint64_t)sqlite3_column_int64(stmt, 2);
		m->internal_date = (time_t)sqlite3_column_int64(stmt, 3);
		m->flags = xstrdup((const char *)sqlite3_column_text(stmt, 4));
		m->path = xasprintf("%s/%lld/%s", udir,
				    (long long)sqlite3_column_int64(stmt, 6),
				    (const char *)sqlite3_column_text(stmt, 5));
		m->saved_date = (time_t)sqlite3_column_int64(stmt, 7);
	}
	sqlite3_finalize(stmt);
	free(udir);
	if (rc != SQLITE_DONE) {
		store_message_info_free(list, count);
		*error_r = xstrdup(sqlite3_errmsg(se->db));
		return -1;
	}
	*messages_r = list;
	*count_r = count;
	return 0;
}

/* ------------------------------------------------------------------ */
/* IMAP operations */

static char *
sql_error(struct store_embedded *se)
{
	return xstrdup(sqlite3_errmsg(se->db));
}

/* "INBOX" in any case is INBOX, also as the first level of a path. */
static char *
canon_name(const char *name)
{
	if (strncasecmp(name, "INBOX", 5) == 0 &&
	    (name[5] == '\0' || name[5] == '/'))
		return xasprintf("INBOX%s", name + 5);
	return xstrdup(name);
}

static bool
name_valid(const char *name)
{
	size_t len = strlen(name);
	const char *p = name;

	if (len == 0 || len > 512 || name[0] == '/' || name[len - 1] == '/')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch < 0x20 || ch == 0x7f || ch == '*' || ch == '%')
			return false;
	}
	while (*p != '\0') {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

struct mbox_row {
	sqlite3_int64 id, uidvalidity, uidnext, modseq;
};

/* 1 found, 0 missing, -1 error. */
static int
mbox_row_get(struct store_embedded *se, const char *user, const char *name,
	     struct mbox_row *row)
{
	sqlite3_stmt *stmt;
	int rc;

	if (sqlite3_prepare_v2(se->db,
			       "SELECT id, uidvalidity, uidnext, "
			       "highestmodseq FROM mailboxes WHERE user = ? "
			       "AND name = ?",
			       -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		row->id = sqlite3_column_int64(stmt, 0);
		row->uidvalidity = sqlite3_column_int64(stmt, 1);
		row->uidnext = sqlite3_column_int64(stmt, 2);
		row->modseq = sqlite3_column_int64(stmt, 3);
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Looks the mailbox up for an operation; -1 with a client-facing error. */
static int
mbox_require(struct store_embedded *se, const char *user, const char *name,
	     struct mbox_row *row, char **error_r)
{
	int rc = mbox_row_get(se, user, name, row);

	if (rc < 0) {
		*error_r = sql_error(se);
		return -1;
	}
	if (rc == 0) {
		*error_r = xstrdup("[NONEXISTENT] no such mailbox");
		return -1;
	}
	return 0;
}

/* durable: the commit waits for the disk even in relaxed mode (expunge,
 * copy, move, delete: files are unlinked or linked around them). */
static int
txn_begin(struct store_embedded *se, bool durable, char **error_r)
{
	if (se->in_txn) {
		*error_r = xstrdup("store busy with a delivery transaction");
		return -1;
	}
	if (durable)
		sync_full(se, true);
	if (db_exec(se->db, "BEGIN IMMEDIATE", error_r) < 0) {
		sync_full(se, false);
		return -1;
	}
	return 0;
}

static int
txn_commit(struct store_embedded *se, char **error_r)
{
	int ret = 0;

	if (db_exec(se->db, "COMMIT", error_r) < 0) {
		(void)sqlite3_exec(se->db, "ROLLBACK", NULL, NULL, NULL);
		ret = -1;
	}
	sync_full(se, false);
	return ret;
}

static void
txn_abort(struct store_embedded *se)
{
	(void)sqlite3_exec(se->db, "ROLLBACK", NULL, NULL, NULL);
	sync_full(se, false);
}

/* Runs one statement with text/int64 bindings given as a format: 't' text,
 * 'i' int64. 0 or -1. */
static int
sql_run(struct store_embedded *se, const char *sql, const char *types, ...)
{
	sqlite3_stmt *stmt;
	va_list ap;
	int rc;

	if (sqlite3_prepare_v2(se->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	va_start(ap, types);
	for (int i = 0; types[i] != '\0'; i++) {
		if (types[i] == 't')
			sqlite3_bind_text(stmt, i + 1, va_arg(ap, const char *),
					  -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(stmt, i + 1,
					   va_arg(ap, sqlite3_int64));
	}
	va_end(ap);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static int
embedded_quota_usage(struct store *store, const char *user, uint64_t *bytes_r,
		     uint64_t *messages_r, char **error_r)
{
	struct store_embedded *se = embedded(store);
	sqlite3_stmt *stmt;
	int rc;

	if (sqlite3_prepare_v2(se->db,
			       "SELECT COALESCE(SUM(m.size), 0), COUNT(m.id) "
			       "FROM messages m JOIN mailboxes b ON "
			       "m.mailbox_id = b.id WHERE b.user = ?",
			       -1, &stmt, NULL) != SQLITE_OK) {
		*error_r = sql_error(se);
		return -1;
	}
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*bytes_r = (uint64_t)sqlite3_column_int64(stmt, 0);
		*messages_r = (uint64_t)sqlite3_column_int64(stmt, 1);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW) {
		*error_r = sql_error(se);
		return -1;
	}
	return 0;
}

static int
embedded_mailbox_list(struct store *store, const char *user,
		      struct store_mailbox_info **list_r, size_t *count_r,
		      char **error_r)
{
	struct store_embedded *se = embedded(store);
	struct store_mailbox_info *list = NULL;
	size_t count = 0;
	sqlite3_stmt *stmt;
	int rc;

	if (sqlite3_prepare_v2(se->db,
			       "SELECT name, special_use, subscribed, "
			       "uidvalidity, uidnext, highestmodseq FROM "
			       "mailboxes WHERE user = ? ORDER BY name",
			       -1, &stmt, NULL) != SQLITE_OK) {
		*error_r = sql_error(se);
		return -1;
	}
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct store_mailbox_info *m;

		list = xreallocarray(list, count + 1, sizeof(*list));
		m = &list[count++];
		memset(m, 0, sizeof(*m));
		m->name = xstrdup((const char *)sqlite3_column_text(stmt, 0));
		m->special_use =
		    xstrdup((const char *)sqlite3_column_text(stmt, 1));
		m->subscribed = sqlite3_column_int(stmt, 2) != 0;
		m->uidvalidity = (uint32_t)sqlite3_column_int64(stmt, 3);
		m->uidnext = (uint32_t)sqlite3_column_int64(stmt, 4);
		m->highestmodseq = (uint64_t)sqlite3_column_int64(stmt, 5);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_mailbox_info_free(list, count);
		*error_r = sql_error(se);
		return -1;
	}
	*list_r = list;
	*count_r = count;
	return 0;
}

static int
embedded_mailbox_get(struct store *store, const char *user, const char *name,
		     struct store_mailbox_info *info_r, char **error_r)
{
	struct store_embedded *se = embedded(store);
	char *canon = canon_name(name);
	sqlite3_stmt *stmt;
	int rc;

	memset(info_r, 0, sizeof(*info_r));
	if (sqlite3_prepare_v2(
		se->db,
		"SELECT b.name, b.special_use, b.subscribed, b.uidvalidity, "
		"b.uidnext, b.highestmodseq, COUNT(m.id), "
		"COALESCE(SUM(m.flags NOT LIKE '%\\Seen%'), 0), "
		"COALESCE(SUM(m.flags LIKE '%\\Deleted%'), 0), "
		"COALESCE(SUM(m.size), 0) FROM mailboxes b LEFT JOIN messages "
		"m ON m.mailbox_id = b.id WHERE b.user = ? AND b.name = ? "
		"GROUP BY b.id",
		-1, &stmt, NULL) != SQLITE_OK) {
		free(canon);
		*error_r = sql_error(se);
		return -1;
	}
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, canon, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		info_r->name =
		    xstrdup((const char *)sqlite3_column_text(stmt, 0));
		info_r->special_use =
		    xstrdup((const char *)sqlite3_column_text(stmt, 1));
		info_r->subscribed = sqlite3_column_int(stmt, 2) != 0;
		info_r->uidvalidity = (uint32_t)sqlite3_column_int64(stmt, 3);
		info_r->uidnext = (uint32_t)sqlite3_column_int64(stmt, 4);
		info_r->highestmodseq = (uint64_t)sqlite3_column_int64(stmt, 5);
		info_r->messages = (uint32_t)sqlite3_column_int64(stmt, 6);
		info_r->unseen = (uint32_t)sqlite3_column_int64(stmt, 7);
		info_r->deleted = (uint32_t)sqlite3_column_int64(stmt, 8);
		info_r->size = (uint64_t)sqlite3_column_int64(stmt, 9);
	}
	sqlite3_finalize(stmt);
	free(canon);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		*error_r = sql_error(se);
		return -1;
	}
	return rc == SQLITE_ROW ? 1 : 0;
}

/* Inserts name (and its missing parents) inside a transaction. */
static int
mailbox_insert(struct store_embedded *se, const char *user, const char *name,
	       const char *special_use, bool must_be_new, char **error_r)
{
	struct mbox_row row;
	char *copy = xstrdup(name);
	int rc;

	/* parents first */
	for (char *p = strchr(copy, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		rc = mbox_row_get(se, user, copy, &row);
		if (rc == 0 &&
		    sql_run(se,
			    "INSERT INTO mailboxes(user, name, "
			    "uidvalidity) VALUES (?, ?, ?)",
			    "tti", user, copy,
			    (sqlite3_int64)next_uidvalidity(se, user)) < 0)
			rc = -1;
		*p = '/';
		if (rc < 0) {
			free(copy);
			*error_r = sql_error(se);
			return -1;
		}
	}
	free(copy);
	rc = mbox_row_get(se, user, name, &row);
	if (rc < 0) {
		*error_r = sql_error(se);
		return -1;
	}
	if (rc == 1) {
		if (!must_be_new)
			return 0;
		*error_r = xstrdup("[ALREADYEXISTS] mailbox already exists");
		return -1;
	}
	if (sql_run(se,
		    "INSERT INTO mailboxes(user, name, uidvalidity, "
		    "special_use) VALUES (?, ?, ?, ?)",
		    "ttit", user, name,
		    (sqlite3_int64)next_uidvalidity(se, user),
		    special_use != NULL ? special_use : "") < 0) {
		*error_r = sql_error(se);
		return -1;
	}
	return 0;
}

static int
embedded_mailbox_create(struct store *store, const char *user, const char *name,
			const char *special_use, char **error_r)
{
	struct store_embedded *se = embedded(store);
	char *canon = canon_name(name);
	int ret = -1;

	if (!name_valid(canon)) {
		*error_r = xstrdup("[CANNOT] invalid mailbox name");
		free(canon);
		return -1;
	}
	if (txn_begin(se, false, error_r) < 0) {
		free(canon);
		return -1;
	}
	if (mailbox_insert(se, user, canon, special_use, true, error_r) < 0)
		txn_abort(se);
	else
		ret = txn_commit(se, error_r);
	free(canon);
	return ret;
}

static int
embedded_mailbox_delete(struct store *store, const char *user, const char *name,
			char **error_r)
{
	struct store_embedded *se = embedded(store);
	char *canon = canon_name(name), *udir = NULL, *mdir = NULL;
	struct mbox_row row;

	if (strcmp(canon, "INBOX") == 0) {
		free(canon);
		*error_r = xstrdup("[CANNOT] INBOX cannot be deleted");
		return -1;
	}
	udir = user_dir(se, user);
	if (udir == NULL) {
		free(canon);
		*error_r = xstrdup("unsafe user name");
		return -1;
	}
	if (txn_begin(se, true, error_r) < 0)
		goto fail;
	if (mbox_require(se, user, canon, &row, error_r) < 0) {
		txn_abort(se);
		goto fail;
	}
	if (sql_run(se, "DELETE FROM messages WHERE mailbox_id = ?", "i",
		    row.id) < 0 ||
	    sql_run(se, "DELETE FROM expunged WHERE mailbox_id = ?", "i",
		    row.id) < 0 ||
	    sql_run(se, "DELETE FROM mailboxes WHERE id = ?", "i", row.id) <
		0) {
		*error_r = sql_error(se);
		txn_abort(se);
		goto fail;
	}
	if (txn_commit(se, error_r) < 0)
		goto fail;
	mdir = xasprintf("%s/%lld", udir, (long long)row.id);
	(void)nftw(mdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	notify_now(se, user, canon);
	free(mdir);
	free(udir);
	free(canon);
	return 0;
fail:
	free(udir);
	free(canon);
	return -1;
}

static int
embedded_mailbox_rename(struct store *store, const char *user, const char *from,
			const char *to, char **error_r)
{
	struct store_embedded *se = embedded(store);
	char *cfrom = canon_name(from), *cto = canon_name(to);
	struct mbox_row row, other;
	int rc, ret = -1;

	if (!name_valid(cto)) {
		*error_r = xstrdup("[CANNOT] invalid mailbox name");
		goto out;
	}
	if (strcmp(cto, "INBOX") == 0 ||
	    (strncmp(cto, cfrom, strlen(cfrom)) == 0 &&
	     (cto[strlen(cfrom)] == '/' || cto[strlen(cfrom)] == '\0'))) {
		*error_r = xstrdup("[CANNOT] cannot rename to that name");
		goto out;
	}
	if (txn_begin(se, false, error_r) < 0)
		goto out;
	if (mbox_require(se, user, cfrom, &row, error_r) < 0)
		goto abort;
	rc = mbox_row_get(se, user, cto, &other);
	if (rc != 0) {
		*error_r = rc < 0 ? sql_error(se)
				  : xstrdup("[ALREADYEXISTS] target mailbox "
					    "already exists");
		goto abort;
	}
	/* parents of the new name */
	{
		char *slash = strrchr(cto, '/');
		if (slash != NULL) {
			char *parent = xstrndup(cto, (size_t)(slash - cto));
			rc = mailbox_insert(se, user, parent, NULL, false,
					    error_r);
			free(parent);
			if (rc < 0)
				goto abort;
		}
	}
	if (sql_run(se, "UPDATE mailboxes SET name = ? WHERE id = ?", "ti", cto,
		    row.id) < 0) {
		*error_r = sql_error(se);
		goto abort;
	}
	if (strcmp(cfrom, "INBOX") == 0) {
		/* INBOX's messages went with the row; a new empty INBOX. */
		if (sql_run(se,
			    "INSERT INTO mailboxes(user, name, uidvalidity) "
			    "VALUES (?, 'INBOX', ?)",
			    "ti", user,
			    (sqlite3_int64)next_uidvalidity(se, user)) < 0) {
			*error_r = sql_error(se);
			goto abort;
		}
	} else {
		char *prefix = xasprintf("%s/", cfrom);
		rc = sql_run(se,
			     "UPDATE mailboxes SET name = ? || substr(name, ?) "
			     "WHERE user = ? AND substr(name, 1, ?) = ?",
			     "titit", cto, (sqlite3_int64)strlen(cfrom) + 1,
			     user, (sqlite3_int64)strlen(prefix), prefix);
		free(prefix);
		if (rc < 0) {
			*error_r = sql_error(se);
			goto abort;
		}
	}
	ret = txn_commit(se, error_r);
	if (ret == 0) {
		notify_now(se, user, cfrom);
		notify_now(se, user, cto);
	}
	goto out;
abort:
	txn_abort(se);
out:
	free(cfrom);
	free(cto);
	return ret;
}

static int
embedded_mailbox_subscribe(struct store *store, const char *user,
			   const char *name, bool subscribed, char **error_r)
{
	struct store_embedded *se = embedded(store);
	char *canon = canon_name(name);
	struct mbox_row row;
	int ret = -1;

	if (mbox_require(se, user, canon, &row, error_r) == 0) {
		if (sql_run(se,
			    "UPDATE mailboxes SET subscribed = ? WHERE id = ?",
			    "ii", (sqlite3_int64)subscribed, row.id) < 0)
			*error_r = sql_error(se);
		else
			ret = 0;
	}
	free(canon);
	return ret;
}

static int
embedded_flags_update(struct store *store, const char *user,
		      const char *mailbox, const uint32_t *uids, size_t count,
		      enum store_flags_mode mode, const char *flags,
		      uint64_t unchangedsince,
		      struct store_flag_result **results_r, size_t *nresults_r,
		      char **error_r)
{
	struct store_embedded *se = embedded(store);
	struct store_flag_result *res = xcalloc(count + 1, sizeof(*res));
	char *canon = canon_name(mailbox);
	sqlite3_stmt *sel = NULL, *upd = NULL;
	struct mbox_row row;
	size_t n = 0;
	bool any = false;

	if (txn_begin(se, false, error_r) < 0)
		goto fail_nt;
	if (mbox_require(se, user, canon, &row, error_r) < 0)
		goto fail;
	if (sqlite3_prepare_v2(se->db,
			       "SELECT flags, modseq FROM messages WHERE "
			       "mailbox_id = ? AND uid = ?",
			       -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(se->db,
			       "UPDATE messages SET flags = ?, modseq = ? "
			       "WHERE mailbox_id = ? AND uid = ?",
			       -1, &upd, NULL) != SQLITE_OK) {
		*error_r = sql_error(se);
		goto fail;
	}
	for (size_t i = 0; i < count; i++) {
		const char *cur;
		char *next;

		sqlite3_reset(sel);
		sqlite3_bind_int64(sel, 1, row.id);
		sqlite3_bind_int64(sel, 2, uids[i]);
		if (sqlite3_step(sel) != SQLITE_ROW)
			continue;
		cur = (const char *)sqlite3_column_text(sel, 0);
		res[n].uid = uids[i];
		res[n].modseq = (uint64_t)sqlite3_column_int64(sel, 1);
		if (unchangedsince != 0 && res[n].modseq > unchangedsince) {
			res[n].flags = xstrdup(cur);
			n++;
			continue;
		}
		next = flags_apply(cur, mode, flags);
		if (strcmp(next, cur) != 0) {
			sqlite3_reset(upd);
			sqlite3_bind_text(upd, 1, next, -1, SQLITE_STATIC);
			sqlite3_bind_int64(upd, 2, row.modseq + 1);
			sqlite3_bind_int64(upd, 3, row.id);
			sqlite3_bind_int64(upd, 4, uids[i]);
			if (sqlite3_step(upd) != SQLITE_DONE) {
				free(next);
				*error_r = sql_error(se);
				goto fail;
			}
			res[n].changed = true;
			res[n].modseq = (uint64_t)row.modseq + 1;
			any = true;
		}
		res[n].flags = next;
		n++;
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	sel = upd = NULL;
	if (any &&
	    sql_run(se, "UPDATE mailboxes SET highestmodseq = ? WHERE id = ?",
		    "ii", row.modseq + 1, row.id) < 0) {
		*error_r = sql_error(se);
		goto fail;
	}
	if (txn_commit(se, error_r) < 0)
		goto fail_nt;
	if (any)
		notify_now(se, user, canon);
	free(canon);
	*results_r = res;
	*nresults_r = n;
	return 0;
fail:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	txn_abort(se);
fail_nt:
	store_flag_results_free(res, n);
	free(canon);
	return -1;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Deletes rows of uids (inside a transaction); files to unlink after the
 * commit go to paths. new_modseq is the mailbox's next modseq. */
static int
expunge_rows(struct store_embedded *se, const char *udir,
	     const struct mbox_row *row, const uint32_t *uids, size_t count,
	     bool only_deleted, sqlite3_int64 new_modseq, uint32_t **gone_r,
	     size_t *ngone_r, struct str_list *paths, char **error_r)
{
	sqlite3_stmt *sel = NULL, *del = NULL, *ins = NULL;
	uint32_t *gone = xcalloc(count + 1, sizeof(*gone));
	size_t n = 0;

	if (sqlite3_prepare_v2(se->db,
			       "SELECT flags, file FROM messages WHERE "
			       "mailbox_id = ? AND uid = ?",
			       -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(se->db,
			       "DELETE FROM messages WHERE mailbox_id = ? AND "
			       "uid = ?",
			       -1, &del, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(se->db,
			       "INSERT INTO expunged(mailbox_id, uid, modseq) "
			       "VALUES (?, ?, ?)",
			       -1, &ins, NULL) != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < count; i++) {
		char *file;

		sqlite3_reset(sel);
		sqlite3_bind_int64(sel, 1, row->id);
		sqlite3_bind_int64(sel, 2, uids[i]);
		if (sqlite3_step(sel) != SQLITE_ROW)
			continue;
		if (only_deleted &&
		    !flags_has((const char *)sqlite3_column_text(sel, 0),
			       "\\Deleted"))
			continue;
		file = xasprintf("%s/%lld/%s", udir, (long long)row->id,
				 (const char *)sqlite3_column_text(sel, 1));
		sqlite3_reset(del);
		sqlite3_bind_int64(del, 1, row->id);
		sqlite3_bind_int64(del, 2, uids[i]);
		sqlite3_reset(ins);
		sqlite3_bind_int64(ins, 1, row->id);
		sqlite3_bind_int64(ins, 2, uids[i]);
		sqlite3_bind_int64(ins, 3, new_modseq);
		if (sqlite3_step(del) != SQLITE_DONE ||
		    sqlite3_step(ins) != SQLITE_DONE) {
			free(file);
			goto fail;
		}
		str_list_add(paths, file);
		free(file);
		gone[n++] = uids[i];
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	if (n > 0 &&
	    sql_run(se, "UPDATE mailboxes SET highestmodseq = ? WHERE id = ?",
		    "ii", new_modseq, row->id) < 0) {
		*error_r = sql_error(se);
		free(gone);
		return -1;
	}
	qsort(gone, n, sizeof(*gone), cmp_u32);
	*gone_r = gone;
	*ngone_r = n;
	return 0;
fail:
	*error_r = sql_error(se);
	sqlite3_finalize(sel);
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	free(gone);
	return -1;
}

static int
embedded_expunge(struct store *store, const char *user, const char *mailbox,
		 const uint32_t *uids, size_t count, bool only_deleted,
		 uint32_t **expunged_r, size_t *nexpunged_r, char **error_r)
{
	struct store_embedded *se = embedded(store);
	char *canon = canon_name(mailbox), *udir = user_dir(se, user);
	struct str_list paths;
	struct mbox_row row;
	int ret = -1;

	memset(&paths, 0, sizeof(paths));
	if (udir == NULL) {
		*error_r = xstrdup("unsafe user name");
		goto out;
	}
	if (txn_begin(se, true, error_r) < 0)
		goto out;
	if (mbox_require(se, user, canon, &row, error_r) < 0 ||
	    expunge_rows(se, udir, &row, uids, count, only_deleted,
			 row.modseq + 1, expunged_r, nexpunged_r, &paths,
			 error_r) < 0) {
		txn_abort(se);
		goto out;
	}
	if (txn_commit(se, error_r) < 0) {
		x_free(expunged_r);
		goto out;
	}
	for (size_t i = 0; i < paths.count; i++)
		(void)unlink(paths.items[i]);
	if (*nexpunged_r > 0)
		notify_now(se, user, canon);
	ret = 0;
out:
	str_list_free(&paths);
	free(udir);
	free(canon);
	return ret;
}

static int
embedded_expunged_since(struct store *store, const char *user,
			const char *mailbox, uint64_t modseq, uint32_t **uids_r,
			size_t *count_r, char **error_r)
{
	struct store_embedded *se = embedded(store);
	char *canon = canon_name(mailbox);
	uint32_t *uids = NULL;
	size_t n = 0;
	sqlite3_stmt *stmt;
	struct mbox_row row;
	int rc;

	if (mbox_require(se, user, canon, &row, error_r) < 0) {
		free(canon);
		return -1;
	}
	free(canon);
	if (sqlite3_prepare_v2(se->db,
			       "SELECT uid FROM expunged WHERE mailbox_id = ? "
			       "AND modseq > ? ORDER BY uid",
			       -1, &stmt, NULL) != SQLITE_OK) {
		*error_r = sql_error(se);
		return -1;
	}
	sqlite3_bind_int64(stmt, 1, row.id);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)modseq);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		uids = xreallocarray(uids, n + 1, sizeof(*uids));
		uids[n++] = (uint32_t)sqlite3_column_int64(stmt, 0);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		free(uids);
		*error_r = sql_error(se);
		return -1;
	}
	*uids_r = uids;
	*count_r = n;
	return 0;
}

static int
embedded_copy(struct store *store, const char *user, const char *from,
	      const char *to, const uint32_t *uids, size_t count, bool move,
	      uint32_t **new_uids_r, uint32_t *uidvalidity_r, char **error_r)
{
	struct store_embedded *se = embedded(store);
	char *cfrom = canon_name(from), *cto = canon_name(to);
	char *udir = user_dir(se, user), *ddir = NULL;
	uint32_t *new_uids = xcalloc(count + 1, sizeof(*new_uids));
	uint32_t *moved = xcalloc(count + 1, sizeof(*moved));
	struct str_list links, old_paths;
	struct mbox_row src, dst;
	sqlite3_stmt *sel = NULL, *ins = NULL;
	sqlite3_int64 uidnext;
	uint64_t extra = 0;
	size_t nmoved = 0;
	int ret = -1;

	memset(&links, 0, sizeof(links));
	memset(&old_paths, 0, sizeof(old_paths));
	if (udir == NULL) {
		*error_r = xstrdup("unsafe user name");
		goto out;
	}
	if (txn_begin(se, true, error_r) < 0)
		goto out;
	if (mbox_require(se, user, cfrom, &src, error_r) < 0)
		goto abort;
	if (mbox_row_get(se, user, cto, &dst) != 1) {
		*error_r = xstrdup("[TRYCREATE] no such mailbox");
		goto abort;
	}
	if (move && src.id == dst.id) {
		*error_r = xstrdup("[CANNOT] source and target are the same");
		goto abort;
	}
	ddir = xasprintf("%s/%lld", udir, (long long)dst.id);
	if (mkdir_p(ddir) < 0) {
		*error_r = xasprintf("%s: %s", ddir, strerror(errno));
		goto abort;
	}
	if (sqlite3_prepare_v2(se->db,
			       "SELECT flags, internal_date, size, file, "
			       "structure FROM messages WHERE mailbox_id = ? "
			       "AND uid = ?",
			       -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(se->db,
			       "INSERT INTO messages(mailbox_id, uid, modseq, "
			       "flags, internal_date, size, file, saved_date, "
			       "structure) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &ins, NULL) != SQLITE_OK) {
		*error_r = sql_error(se);
		goto abort;
	}
	if (!move && se->store.quota > 0) {
		uint64_t used = 0, msgs = 0;
		if (embedded_quota_usage(store, user, &used, &msgs, error_r) <
		    0)
			goto abort;
		for (size_t i = 0; i < count; i++) {
			sqlite3_reset(sel);
			sqlite3_bind_int64(sel, 1, src.id);
			sqlite3_bind_int64(sel, 2, uids[i]);
			if (sqlite3_step(sel) == SQLITE_ROW)
				extra += (uint64_t)sqlite3_column_int64(sel, 2);
		}
		if (used + extra > se->store.quota) {
			*error_r = xstrdup("[OVERQUOTA] quota exceeded");
			goto abort;
		}
	}
	uidnext = dst.uidnext;
	for (size_t i = 0; i < count; i++) {
		char name[64], *srcpath, *dstpath;
		unsigned char rnd[8];

		sqlite3_reset(sel);
		sqlite3_bind_int64(sel, 1, src.id);
		sqlite3_bind_int64(sel, 2, uids[i]);
		if (sqlite3_step(sel) != SQLITE_ROW)
			continue;
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			memset(rnd, 0, sizeof(rnd));
		snprintf(name, sizeof(name),
			 "%lld.%02x%02x%02x%02x%02x%02x%02x%02x",
			 (long long)uidnext, rnd[0], rnd[1], rnd[2], rnd[3],
			 rnd[4], rnd[5], rnd[6], rnd[7]);
		srcpath = xasprintf("%s/%lld/%s", udir, (long long)src.id,
				    (const char *)sqlite3_column_text(sel, 3));
		dstpath = xasprintf("%s/%s", ddir, name);
		if (link(srcpath, dstpath) < 0) {
			*error_r = xasprintf("linking %s: %s", dstpath,
					     strerror(errno));
			free(srcpath);
			free(dstpath);
			goto abort;
		}
		str_list_add(&links, dstpath);
		str_list_add(&old_paths, srcpath);
		free(srcpath);
		free(dstpath);
		sqlite3_reset(ins);
		sqlite3_bind_int64(ins, 1, dst.id);
		sqlite3_bind_int64(ins, 2, uidnext);
		sqlite3_bind_int64(ins, 3, dst.modseq + 1);
		sqlite3_bind_text(ins, 4,
				  (const char *)sqlite3_column_text(sel, 0), -1,
				  SQLITE_TRANSIENT);
		sqlite3_bind_int64(ins, 5, sqlite3_column_int64(sel, 1));
		sqlite3_bind_int64(ins, 6, sqlite3_column_int64(sel, 2));
		sqlite3_bind_text(ins, 7, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 8, (sqlite3_int64)time(NULL));
		if (sqlite3_column_type(sel, 4) == SQLITE_BLOB)
			sqlite3_bind_blob(ins, 9, sqlite3_column_blob(sel, 4),
					  sqlite3_column_bytes(sel, 4),
					  SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(ins, 9);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			*error_r = sql_error(se);
			goto abort;
		}
		new_uids[i] = (uint32_t)uidnext++;
		moved[nmoved++] = uids[i];
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(ins);
	sel = ins = NULL;
	if (nmoved > 0 &&
	    sql_run(se,
		    "UPDATE mailboxes SET uidnext = ?, highestmodseq = ? "
		    "WHERE id = ?",
		    "iii", uidnext, dst.modseq + 1, dst.id) < 0) {
		*error_r = sql_error(se);
		goto abort;
	}
	if (move && nmoved > 0) {
		uint32_t *gone = NULL;
		size_t ngone = 0;
		struct str_list unused;

		memset(&unused, 0, sizeof(unused));
		if (expunge_rows(se, udir, &src, moved, nmoved, false,
				 src.modseq + 1, &gone, &ngone, &unused,
				 error_r) < 0) {
			str_list_free(&unused);
			goto abort;
		}
		free(gone);
		str_list_free(&unused);
	}
	if (nmoved > 0 && fileio_sync_dir(ddir) < 0) {
		*error_r = xasprintf("%s: %s", ddir, strerror(errno));
		goto abort;
	}
	if (txn_commit(se, error_r) < 0) {
		for (size_t i = 0; i < links.count; i++)
			(void)unlink(links.items[i]);
		goto out;
	}
	if (move)
		for (size_t i = 0; i < old_paths.count; i++)
			(void)unlink(old_paths.items[i]);
	if (nmoved > 0) {
		notify_later(se, user, cto);
		if (move)
			notify_later(se, user, cfrom);
		notify_flush(se);
	}
	*new_uids_r = new_uids;
	new_uids = NULL;
	*uidvalidity_r = (uint32_t)dst.uidvalidity;
	ret = 0;
	goto out;
abort:
	sqlite3_finalize(sel);
	sqlite3_finalize(ins);
	txn_abort(se);
	for (size_t i = 0; i < links.count; i++)
		(void)unlink(links.items[i]);
out:
	str_list_free(&links);
	str_list_free(&old_paths);
	free(new_uids);
	free(moved);
	free(ddir);
	free(udir);
	free(cfrom);
	free(cto);
	return ret;
}

/* ------------------------------------------------------------------ */
/* quarantine (mailstore/quarantine_db.c) */

static struct quarantine_db *
quarantine_of(struct store *store, char **error_r)
{
	struct store_embedded *se = embedded(store);

	if (se->quarantine == NULL &&
	    quarantine_db_open(se->data_dir, &se->quarantine, error_r) < 0)
		return NULL;
	return se->quarantine;
}

static int
embedded_quarantine_add(struct store *store,
			const struct store_quarantine_new *msgs, size_t count,
			int *results_r, char **error_r)
{
	struct quarantine_db *qdb = quarantine_of(store, error_r);

	return qdb == NULL
		   ? -1
		   : quarantine_db_add(qdb, msgs, count, results_r, error_r);
}

static int
embedded_quarantine_list(struct store *store, const char *rcpt, const char *qid,
			 struct store_quarantine_entry **entries_r,
			 size_t *count_r, char **error_r)
{
	struct quarantine_db *qdb = quarantine_of(store, error_r);

	return qdb == NULL ? -1
			   : quarantine_db_list(qdb, rcpt, qid, entries_r,
						count_r, error_r);
}

static int
embedded_quarantine_get(struct store *store, uint64_t id,
			struct store_quarantine_entry *entry_r, char **error_r)
{
	struct quarantine_db *qdb = quarantine_of(store, error_r);

	return qdb == NULL ? -1 : quarantine_db_get(qdb, id, entry_r, error_r);
}

static int
embedded_quarantine_remove(struct store *store, const uint64_t *ids,
			   size_t count, char **error_r)
{
	struct quarantine_db *qdb = quarantine_of(store, error_r);

	return qdb == NULL ? -1
			   : quarantine_db_remove(qdb, ids, count, error_r);
}

static int
embedded_quarantine_prune(struct store *store, time_t now, time_t retention,
			  size_t *removed_r, char **error_r)
{
	struct quarantine_db *qdb = quarantine_of(store, error_r);

	*removed_r = 0;
	return qdb == NULL ? -1
			   : quarantine_db_prune(qdb, now, retention, removed_r,
						 error_r);
}

static int
embedded_quarantine_status(struct store *store, uint32_t *uidvalidity_r,
			   uint32_t *uidnext_r, uint64_t *highestmodseq_r,
			   char **error_r)
{
	struct quarantine_db *qdb = quarantine_of(store, error_r);

	return qdb == NULL ? -1
			   : quarantine_db_status(qdb, uidvalidity_r, uidnext_r,
						  highestmodseq_r, error_r);
}

static int
embedded_quarantine_expunged_since(struct store *store, const char *rcpt,
				   uint64_t modseq, uint32_t **uids_r,
				   size_t *count_r, char **error_r)
{
	struct quarantine_db *qdb = quarantine_of(store, error_r);

	return qdb == NULL ? -1
			   : quarantine_db_expunged_since(
				 qdb, rcpt, modseq, uids_r, count_r, error_r);
}

const struct store_backend store_backend_embedded = {
    .name = "embedded",
    .open = embedded_open,
    .close = embedded_close,
    .user_create = embedded_user_create,
    .user_delete = embedded_user_delete,
    .begin = embedded_begin,
    .deliver = embedded_deliver,
    .commit = embedded_commit,
    .rollback = embedded_rollback,
    .list = embedded_list,
    .mailbox_list = embedded_mailbox_list,
    .mailbox_get = embedded_mailbox_get,
    .mailbox_create = embedded_mailbox_create,
    .mailbox_delete = embedded_mailbox_delete,
    .mailbox_rename = embedded_mailbox_rename,
    .mailbox_subscribe = embedded_mailbox_subscribe,
    .flags_update = embedded_flags_update,
    .expunge = embedded_expunge,
    .expunged_since = embedded_expunged_since,
    .copy = embedded_copy,
    .quota_usage = embedded_quota_usage,
    .set_relaxed_sync = embedded_set_relaxed_sync,
    .message_structure = embedded_message_structure,
    .quarantine_add = embedded_quarantine_add,
    .quarantine_list = embedded_quarantine_list,
    .quarantine_get = embedded_quarantine_get,
    .quarantine_remove = embedded_quarantine_remove,
    .quarantine_prune = embedded_quarantine_prune,
    .quarantine_status = embedded_quarantine_status,
    .quarantine_expunged_since = embedded_quarantine_expunged_since,
};
