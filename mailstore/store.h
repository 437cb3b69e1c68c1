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

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct store;
struct msg_structure;

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
};

struct store_message_info {
	uint32_t uid;
	uint64_t modseq;
	uint64_t size;
	time_t internal_date;
	char *flags; /* space separated, e.g. "\\Seen" */
	char *path;  /* absolute path of the message file */
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
	int (*message_structure)(struct store *store, const char *user,
				 const char *mailbox, uint32_t uid,
				 struct msg_structure **s_r, char **error_r);
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

#endif
