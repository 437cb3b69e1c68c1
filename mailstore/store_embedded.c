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
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/buf.h"
#include "lib/db.h"
#include "lib/fileio.h"
#include "lib/xalloc.h"
#include "mailstore/msg_structure.h"

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
	se->data_dir = xstrdup(data_dir);
	se->mail_dir = xasprintf("%s/mail", data_dir);
	if (mkdir_p(se->mail_dir) < 0) {
		*error_r = xasprintf("%s: %s", se->mail_dir, strerror(errno));
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
	db_close(&se->db);
	free(se->fds);
	str_list_free(&se->paths);
	str_list_free(&se->dirs);
	free(se->mail_dir);
	free(se->data_dir);
	free(se);
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
		sqlite3_bind_int64(stmt, 3, (sqlite3_int64)time(NULL));
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

static int
embedded_begin(struct store *store, char **error_r)
{
	struct store_embedded *se = embedded(store);

	if (db_exec(se->db, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
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
	se->in_txn = false;
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

/* ---- message structure cache (msg_structure blobs) ---- */

/* Parses the message file at path; NULL if it cannot be read. */
static struct msg_structure *
structure_of_file(const char *path)
{
	struct msg_structure *s = NULL;
	struct stat st;
	char *error = NULL;
	void *map = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || st.st_size > (off_t)UINT32_MAX) {
		close(fd);
		return NULL;
	}
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
			   0);
		if (map == MAP_FAILED) {
			close(fd);
			return NULL;
		}
	}
	close(fd);
	if (msg_structure_parse(map != NULL ? map : "", (size_t)st.st_size, &s,
				&error) < 0) {
		free(error);
		s = NULL;
	}
	if (map != NULL)
		munmap(map, (size_t)st.st_size);
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
	if (sqlite3_prepare_v2(se->db,
			       "SELECT m.id, m.structure, m.file, b.id, "
			       "m.size FROM messages m JOIN mailboxes b ON "
			       "m.mailbox_id = b.id WHERE b.user = ? AND "
			       "b.name = ? AND m.uid = ?",
			       -1, &stmt, NULL) != SQLITE_OK) {
		free(udir);
		*error_r = xstrdup(sqlite3_errmsg(se->db));
		return -1;
	}
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, uid);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			*error_r = xstrdup(sqlite3_errmsg(se->db));
		sqlite3_finalize(stmt);
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
	path = xasprintf("%s/%lld/%s", udir, (long long)mbox_id,
			 (const char *)sqlite3_column_text(stmt, 2));
	sqlite3_finalize(stmt);
	free(udir);
	if (s == NULL) {
		/* Older message: parse once and keep the result. */
		s = structure_of_file(path);
		if (s == NULL) {
			*error_r =
			    xasprintf("reading %s: %s", path, strerror(errno));
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
	char name[64];
	unsigned char rnd[8];
	sqlite3_stmt *stmt = NULL;
	int fd = -1, rc, ret = -1;

	if (!se->in_txn) {
		*error_r = xstrdup("store_deliver outside a transaction");
		return -1;
	}
	if (key_delivered(se, d->key))
		return 0;
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
			       "saved_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &stmt, NULL) != SQLITE_OK)
		goto sql_error;
	sqlite3_bind_int64(stmt, 1, mbox_id);
	sqlite3_bind_int64(stmt, 2, uidnext);
	sqlite3_bind_int64(stmt, 3, modseq + 1);
	sqlite3_bind_int64(stmt, 4, (sqlite3_int64)d->internal_date);
	sqlite3_bind_int64(stmt, 5, (sqlite3_int64)(d->prefix_len + d->size));
	sqlite3_bind_text(stmt, 6, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 7, d->key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 8, (sqlite3_int64)time(NULL));
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
			       "m.internal_date, m.flags, m.file, b.id FROM "
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
    .message_structure = embedded_message_structure,
};
