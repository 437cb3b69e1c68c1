/*
 * store: the message store behind a table of operations (struct
 * store_backend), so that a PostgreSQL backend can sit beside the embedded
 * one later. The embedded backend keeps each message as a file under
 * DATA_DIR/mail/<domain>/<local>/<mailbox-id>/ (written tmp -> fsync ->
 * rename) and an index in DATA_DIR/mail/index.db: mailboxes (name,
 * UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ) and messages (UID, flags, internal
 * date, size, modseq, file name, delivery key).
 *
 * Deliveries are grouped: store_begin(), any number of store_deliver(),
 * store_commit(). store_commit() makes every message file and the index
 * durable before it returns 0; until then nothing is visible. A delivery key
 * (e.g. "QID/rcpt-index") makes delivery idempotent: delivering the same key
 * twice stores the message once.
 *
 * One struct store per thread.
 */
#ifndef MOAT_STORE_H
#define MOAT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct store;
struct msg_structure;
struct store_quarantine_new;
struct store_quarantine_entry;
struct str_list;

struct store_delivery {
	const char *user;    /* canonical user address */
	const char *mailbox; /* "INBOX" for now */
	const char *key;     /* delivery key for idempotence */
	const char *prefix;  /* bytes to write first (e.g. Return-Path:) */
	size_t prefix_len;
	int fd; /* message source: size bytes at offset in fd */
	off_t offset;
	size_t size;
	time_t internal_date;
	const char *flags; /* NULL or space separated (APPEND) */
};

struct store_message_info {
	uint32_t uid;
	uint64_t modseq;
	uint64_t size;
	time_t internal_date;
	char *flags; /* space separated, e.g. "\\Seen" */
	char *path;  /* absolute path of the message file */
	time_t saved_date;
};

/* A mailbox of a user, with its counters (store_mailbox_get/list). */
struct store_mailbox_info {
	char *name;	   /* UTF-8, hierarchy delimiter '/' */
	char *special_use; /* "" or e.g. "\\Sent" */
	bool subscribed;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	/* counters: only filled by store_mailbox_get() */
	uint32_t messages, unseen, deleted;
	uint64_t size;
	bool readonly; /* the Quarantine mailbox: SELECT is read-only */
};

enum store_flags_mode {
	STORE_FLAGS_REPLACE,
	STORE_FLAGS_ADD,
	STORE_FLAGS_REMOVE,
};

/* One message after a flag update: its flags and modseq now. */
struct store_flag_result {
	uint32_t uid;
	uint64_t modseq;
	char *flags;
	bool changed;
};

struct store_backend {
	const char *name;
	int (*open)(const char *data_dir, struct store **store_r,
		    char **error_r);
	void (*close)(struct store *store);
	int (*user_create)(struct store *store, const char *user,
			   char **error_r);
	int (*user_delete)(struct store *store, const char *user,
			   char **error_r);
	int (*begin)(struct store *store, char **error_r);
	int (*deliver)(struct store *store, const struct store_delivery *d,
		       uint32_t *uid_r, char **error_r);
	int (*commit)(struct store *store, char **error_r);
	void (*rollback)(struct store *store);
	int (*list)(struct store *store, const char *user, const char *mailbox,
		    struct store_message_info **messages_r, size_t *count_r,
		    char **error_r);
	/* IMAP operations (see the public wrappers below) */
	int (*mailbox_list)(struct store *store, const char *user,
			    struct store_mailbox_info **list_r, size_t *count_r,
			    char **error_r);
	int (*mailbox_get)(struct store *store, const char *user,
			   const char *name, struct store_mailbox_info *info_r,
			   char **error_r);
	int (*mailbox_create)(struct store *store, const char *user,
			      const char *name, const char *special_use,
			      char **error_r);
	int (*mailbox_delete)(struct store *store, const char *user,
			      const char *name, char **error_r);
	int (*mailbox_rename)(struct store *store, const char *user,
			      const char *from, const char *to, char **error_r);
	int (*mailbox_subscribe)(struct store *store, const char *user,
				 const char *name, bool subscribed,
				 char **error_r);
	int (*flags_update)(struct store *store, const char *user,
			    const char *mailbox, const uint32_t *uids,
			    size_t count, enum store_flags_mode mode,
			    const char *flags, uint64_t unchangedsince,
			    struct store_flag_result **results_r,
			    size_t *nresults_r, char **error_r);
	int (*expunge)(struct store *store, const char *user,
		       const char *mailbox, const uint32_t *uids, size_t count,
		       bool only_deleted, uint32_t **expunged_r,
		       size_t *nexpunged_r, char **error_r);
	int (*expunged_since)(struct store *store, const char *user,
			      const char *mailbox, uint64_t modseq,
			      uint32_t **uids_r, size_t *count_r,
			      char **error_r);
	int (*copy)(struct store *store, const char *user, const char *from,
		    const char *to, const uint32_t *uids, size_t count,
		    bool move, uint32_t **new_uids_r, uint32_t *uidvalidity_r,
		    char **error_r);
	int (*quota_usage)(struct store *store, const char *user,
			   uint64_t *bytes_r, uint64_t *messages_r,
			   char **error_r);
	void (*set_relaxed_sync)(struct store *store, bool relaxed);
	int (*message_structure)(struct store *store, const char *user,
				 const char *mailbox, uint32_t uid,
				 struct msg_structure **s_r, char **error_r);
	/* quarantine (see "Quarantine" below) */
	int (*quarantine_add)(struct store *store,
			      const struct store_quarantine_new *msgs,
			      size_t count, int *results_r, char **error_r);
	int (*quarantine_list)(struct store *store, const char *rcpt,
			       const char *qid,
			       struct store_quarantine_entry **entries_r,
			       size_t *count_r, char **error_r);
	int (*quarantine_get)(struct store *store, uint64_t id,
			      struct store_quarantine_entry *entry_r,
			      char **error_r);
	int (*quarantine_remove)(struct store *store, const uint64_t *ids,
				 size_t count, char **error_r);
	int (*quarantine_prune)(struct store *store, time_t now,
				time_t retention, size_t *removed_r,
				char **error_r);
	int (*quarantine_status)(struct store *store, uint32_t *uidvalidity_r,
				 uint32_t *uidnext_r, uint64_t *highestmodseq_r,
				 char **error_r);
	int (*quarantine_expunged_since)(struct store *store, const char *rcpt,
					 uint64_t modseq, uint32_t **uids_r,
					 size_t *count_r, char **error_r);
};

extern const struct store_backend store_backend_embedded;

/* Opens the embedded backend. 0, or -1 with *error_r allocated. */
int store_open(const char *data_dir, struct store **store_r, char **error_r);
void store_close(struct store **store);
/* Creates INBOX, Drafts, Sent, Junk, Trash and Archive for user (idempotent).
 */
int store_user_create(struct store *store, const char *user, char **error_r);
/* Removes the user's mailboxes and files. */
int store_user_delete(struct store *store, const char *user, char **error_r);
int store_begin(struct store *store, char **error_r);
/* 1 stored (*uid_r set), 0 already delivered under d->key, -1 error (the
 * transaction must then be rolled back). The user must exist in the store. */
int store_deliver(struct store *store, const struct store_delivery *d,
		  uint32_t *uid_r, char **error_r);
int store_commit(struct store *store, char **error_r);
void store_rollback(struct store *store);
/* Messages of a mailbox in UID order; free with store_message_info_free. */
int store_list(struct store *store, const char *user, const char *mailbox,
	       struct store_message_info **messages_r, size_t *count_r,
	       char **error_r);
void store_message_info_free(struct store_message_info *messages, size_t count);
/* The MIME structure of a message (mailstore/msg_structure.h), for IMAP
 * ENVELOPE, BODYSTRUCTURE, BODY[section] and BINARY. It is computed once at
 * delivery (and APPEND, which delivers) and kept in the index; a message
 * stored before that, or whose cached copy is damaged, is parsed from its
 * file now and the result cached. 1 found (*s_r set; free with
 * msg_structure_free), 0 no such UID in the mailbox, -1 with *error_r
 * allocated. The structure's offsets are those of the message file. */
int store_message_structure(struct store *store, const char *user,
			    const char *mailbox, uint32_t uid,
			    struct msg_structure **s_r, char **error_r);

/*
 * IMAP operations. Mailbox names are UTF-8 with '/' as the hierarchy
 * delimiter; "INBOX" is case-insensitive. Each returns 0 (or 1/0 where
 * stated), or -1 with *error_r allocated. Errors the client caused (no such
 * mailbox, already exists, over quota) are -1 too; their message is meant
 * for the client's NO reply. Every change bumps the mailbox's
 * HIGHESTMODSEQ and is announced to the IMAP service (store_notify_*).
 */

/* Per-user quota in bytes (0 = none); enforced by deliver (returns 2 when
 * over quota: nothing stored, the transaction stays usable), APPEND and
 * COPY. */
void store_set_quota(struct store *store, uint64_t bytes);
/* Which quarantine entries a user's "Quarantine" mailbox shows (and lets
 * the user release): those decided by one of filters (the entry's "by"),
 * kept by the caller; NULL (the default) shows every one. An entry it
 * hides is not there for the user at all (list, fetch, copy, move). */
void store_set_quarantine_user_filters(struct store *store,
				       const struct str_list *filters);
uint64_t store_get_quota(const struct store *store);
int store_quota_usage(struct store *store, const char *user, uint64_t *bytes_r,
		      uint64_t *messages_r, char **error_r);

/* The user's mailboxes, sorted by name (no counters). */
int store_mailbox_list(struct store *store, const char *user,
		       struct store_mailbox_info **list_r, size_t *count_r,
		       char **error_r);
void store_mailbox_info_free(struct store_mailbox_info *list, size_t count);
/* 1 found (info_r filled with counters; free with
 * store_mailbox_info_clear), 0 no such mailbox, -1 error. */
int store_mailbox_get(struct store *store, const char *user, const char *name,
		      struct store_mailbox_info *info_r, char **error_r);
void store_mailbox_info_clear(struct store_mailbox_info *info);
/* A fresh UIDVALIDITY, never one the user had before. */
int store_mailbox_create(struct store *store, const char *user,
			 const char *name, const char *special_use,
			 char **error_r);
/* Removes the mailbox and its messages (not its children). INBOX cannot be
 * deleted. */
int store_mailbox_delete(struct store *store, const char *user,
			 const char *name, char **error_r);
/* Renames a mailbox and its children. Renaming INBOX moves its messages
 * to the new mailbox and leaves INBOX empty (RFC 9051 6.3.6). */
int store_mailbox_rename(struct store *store, const char *user,
			 const char *from, const char *to, char **error_r);
int store_mailbox_subscribe(struct store *store, const char *user,
			    const char *name, bool subscribed, char **error_r);
/*
 * Changes the flags of the given UIDs (missing ones are skipped). With
 * unchangedsince != 0 (CONDSTORE), a message whose modseq is above it is
 * not changed and comes back with changed = false and modseq set. Every
 * message found is in *results_r (free with store_flag_results_free);
 * changed ones share one new modseq.
 */
int store_flags_update(struct store *store, const char *user,
		       const char *mailbox, const uint32_t *uids, size_t count,
		       enum store_flags_mode mode, const char *flags,
		       uint64_t unchangedsince,
		       struct store_flag_result **results_r, size_t *nresults_r,
		       char **error_r);
void store_flag_results_free(struct store_flag_result *results, size_t count);
/* Removes the given UIDs (only those flagged \Deleted when only_deleted);
 * *expunged_r (malloc'ed, ascending) lists what went. UIDs are never
 * reused; the expunge is remembered for QRESYNC. */
int store_expunge(struct store *store, const char *user, const char *mailbox,
		  const uint32_t *uids, size_t count, bool only_deleted,
		  uint32_t **expunged_r, size_t *nexpunged_r, char **error_r);
/* UIDs expunged from the mailbox with a modseq above modseq (ascending). */
int store_expunged_since(struct store *store, const char *user,
			 const char *mailbox, uint64_t modseq,
			 uint32_t **uids_r, size_t *count_r, char **error_r);
/* Copies (or moves) the given UIDs, in ascending order, to mailbox to;
 * *new_uids_r[i] is the new UID of uids[i] (0 when it was missing). The
 * file is hard-linked, not copied. */
int store_copy(struct store *store, const char *user, const char *from,
	       const char *to, const uint32_t *uids, size_t count, bool move,
	       uint32_t **new_uids_r, uint32_t *uidvalidity_r, char **error_r);

/*
 * Change notification: after each commit that changed a user's mailboxes,
 * the store sends one datagram ("user\tmailbox") to the Unix socket
 * DATA_DIR/mail/notify.sock, if someone (imapd) has bound it. Sends never
 * block and may be lost; readers also re-check on every command.
 */
char *store_notify_path(const char *data_dir);
/* Sends each of messages ("user\tmailbox") as one datagram to the socket
 * at path, opening *fd (a non-blocking datagram socket the caller keeps
 * and closes; -1 at first) when needed. Never blocks; a lost datagram
 * (nobody listening, a full queue, a path too long) is ignored. */
void store_notify_send(int *fd, const char *path,
		       const struct str_list *messages);

/*
 * Relaxed durability for this store handle (imapd): flag changes, mailbox
 * creation, renames and subscriptions commit without waiting for the disk
 * (SQLite synchronous=NORMAL in WAL mode: a power loss may undo the last of
 * them, never corrupt the index), as Dovecot does by default. Deliveries,
 * APPEND, expunges, copies, moves and deletions still wait for the disk.
 */
void store_set_relaxed_sync(struct store *store, bool relaxed);

/*
 * Quarantine (ARCHITECTURE.md section 3, step 6): messages the filter
 * chain quarantined, kept instead of delivered. The message bytes are
 * stored once per message (the queue id names it) and shared by one entry
 * per recipient: a local user, or any address (relay domains, remote
 * recipients). Entry ids are unique and never reused (they are the UIDs
 * of the user's read-only IMAP mailbox "Quarantine"). The embedded
 * backend keeps DATA_DIR/quarantine/index.db and one file per message
 * under DATA_DIR/quarantine/msg/. Each call is its own durable
 * transaction (store_begin() is not needed and must not be open).
 */
struct store_quarantine_new {
	const char *qid;       /* message id: the queue id, [0-9A-Z]{1,32} */
	const char *mail_from; /* envelope sender, "" for <> */
	time_t received;
	time_t expires;	    /* pruned by store_quarantine_prune() after this */
	const char *reason; /* why, e.g. "Virus found: Eicar-Test-Signature" */
	const char *by;	    /* the filter or rule that decided, e.g. "clamav" */
	const char *symbols; /* "NAME(score),..." or "" */
	double score;
	int fd; /* the message: size bytes at offset in fd */
	off_t offset;
	size_t size;
	const char *const *rcpts; /* one entry each (duplicates once) */
	size_t rcpt_count;
	/* DSN parameters (RFC 3461), NULL when not given: RET and ENVID of
	 * the message; NOTIFY and ORCPT per recipient (arrays parallel to
	 * rcpts, or NULL, their items NULL when not given). */
	const char *ret, *envid;
	const char *const *notify, *const *orcpt;
};

struct store_quarantine_entry {
	uint64_t id;	 /* the entry */
	uint64_t modseq; /* when it was added */
	char *qid;	 /* its message */
	char *rcpt;
	char *mail_from;
	char *from;    /* From: decoded to UTF-8, controls replaced */
	char *subject; /* Subject: likewise */
	time_t received, expires;
	uint64_t size;
	char *reason, *by, *symbols;
	double score;
	char *path; /* the message file (read-only, shared by the entries) */
	char *ret, *envid, *notify, *orcpt; /* DSN parameters, or NULL */
};

/* Stores the messages and their entries, durably (every file fdatasync'd,
 * their directory fsync'd, then one index commit for all: group commit)
 * before it returns. results_r[i]: 1 stored, 0 the qid was already there
 * (nothing changed: a queue retry after a crash). 0, or -1 with *error_r
 * allocated and nothing stored. */
int store_quarantine_add(struct store *store,
			 const struct store_quarantine_new *msgs, size_t count,
			 int *results_r, char **error_r);
/* Entries by id; rcpt (case-insensitive) and qid filter when not NULL.
 * Free with store_quarantine_entries_free. 0 or -1. */
int store_quarantine_list(struct store *store, const char *rcpt,
			  const char *qid,
			  struct store_quarantine_entry **entries_r,
			  size_t *count_r, char **error_r);
/* 1 found (free with store_quarantine_entry_clear), 0 no such entry, -1. */
int store_quarantine_get(struct store *store, uint64_t id,
			 struct store_quarantine_entry *entry_r,
			 char **error_r);
/* Removes the entries (missing ones are skipped) and the message file of
 * each message whose last entry went. Returns how many were removed, or
 * -1 with *error_r allocated. */
int store_quarantine_remove(struct store *store, const uint64_t *ids,
			    size_t count, char **error_r);
/* Removes every entry expired at now (expires <= now), files as above.
 * retention > 0 first sets every message's expiry to its arrival plus
 * retention, so that a changed quarantine.retention applies to the
 * entries already there; 0 keeps each one's. 0 with *removed_r, or -1. */
int store_quarantine_prune(struct store *store, time_t now, time_t retention,
			   size_t *removed_r, char **error_r);
/* The UIDVALIDITY of every user's Quarantine mailbox (fixed at creation),
 * the next entry id (never lower than any id handed out) and the modseq of
 * the last change (every add and removal bumps it). 0 or -1. */
int store_quarantine_status(struct store *store, uint32_t *uidvalidity_r,
			    uint32_t *uidnext_r, uint64_t *highestmodseq_r,
			    char **error_r);
/* Ids of rcpt's entries removed (released, deleted, expired) with a modseq
 * above modseq, ascending (QRESYNC). 0 or -1. */
int store_quarantine_expunged_since(struct store *store, const char *rcpt,
				    uint64_t modseq, uint32_t **uids_r,
				    size_t *count_r, char **error_r);
void store_quarantine_entry_clear(struct store_quarantine_entry *entry);
void store_quarantine_entries_free(struct store_quarantine_entry *entries,
				   size_t count);
/*
 * From and Subject of a message's header (data: the message or its first
 * bytes), decoded (RFC 2047, charsets) to UTF-8, control characters
 * replaced by spaces, at most STORE_QUARANTINE_SUMMARY_MAX bytes (cut at
 * a character boundary); "" when absent. Both allocated.
 */
#define STORE_QUARANTINE_SUMMARY_MAX 256

/*
 * Quarantine mailbox: every user has a mailbox of this name holding the
 * quarantine entries addressed to them (UID = entry id, UIDVALIDITY and
 * UIDNEXT from store_quarantine_status(), no flags). store_mailbox_list()
 * lists it, store_mailbox_get() reports it with readonly set, store_list()
 * and store_message_structure() read it. Writes are refused with a
 * response code for the client: STORE and EXPUNGE "[READ-ONLY]", APPEND,
 * COPY into it, CREATE, DELETE and RENAME "[CANNOT]". store_copy() out of
 * it (copy or move alike) releases the user's entries into the target
 * mailbox (with Return-Path and "X-Moat-Released: by USER via IMAP") and
 * removes them; training is the caller's business.
 */
#define STORE_QUARANTINE_MAILBOX "Quarantine"
void store_quarantine_summary(const char *data, size_t len, char **from_r,
			      char **subject_r);

#endif
