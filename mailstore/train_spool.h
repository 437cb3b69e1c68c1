/*
 * train_spool: users' spam-training requests, written durably by imapd (a
 * message moved or copied into or out of the Junk mailbox, appended to it,
 * or given the $Junk / $NotJunk keyword) and applied later by the
 * gateway's spamlearn service, which owns the Bayes writes. The mailstore
 * never calls the classifier: this directory is the only link.
 *
 * Layout of the spool directory (DATA_DIR/spam/training, mode 0700):
 *   ID.N.msg  message N of request ID: a hard link to the stored message
 *             file (a copy when linking is impossible, or the APPENDed
 *             bytes), so a later expunge does not lose it
 *   ID.req    the request (train_request_format), written ID.tmp -> fsync
 *             -> rename after its messages; only then is it visible
 * ID is "<16 hex digits of microseconds>-<pid>-<counter>", so names sort
 * in the order the requests were made (a move into Junk, then out again,
 * is applied in that order). Readers never take a path from a request's
 * content: message files are named from the request's own file name.
 */
#ifndef MOAT_TRAIN_SPOOL_H
#define MOAT_TRAIN_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"

#define TRAIN_USER_MAX	  320
#define TRAIN_MAILBOX_MAX 1000
#define TRAIN_ENTRIES_MAX 100000
#define TRAIN_REQUEST_MAX (1024 * 1024) /* bytes of one ID.req file */
#define TRAIN_ID_MAX	  48

enum train_class {
	TRAIN_SPAM,
	TRAIN_HAM,
};

enum train_reason {
	TRAIN_REASON_MOVE,    /* MOVE into or out of Junk */
	TRAIN_REASON_COPY,    /* COPY into or out of Junk */
	TRAIN_REASON_APPEND,  /* APPEND into Junk */
	TRAIN_REASON_FLAG,    /* $Junk / $NotJunk keyword set */
	TRAIN_REASON_RELEASE, /* released from the quarantine (ham) */
};

/* One request: one IMAP command's messages, all of one class. */
struct train_request {
	char user[TRAIN_USER_MAX + 1];
	/* the mailbox the messages were in (the target for APPEND) */
	char mailbox[TRAIN_MAILBOX_MAX + 1];
	enum train_class cls;
	enum train_reason reason;
	int64_t time;
	uint32_t *uids; /* entry N is message file ID.N.msg */
	size_t count;
};

const char *train_class_name(enum train_class cls);
const char *train_reason_name(enum train_reason reason);

/*
 * The text form, LF-terminated lines:
 *   moat-train 1
 *   user demo@example.test
 *   class spam|ham
 *   reason move|copy|append|flag|release
 *   mailbox INBOX
 *   time 1764633600
 *   uid 5            (one line per message, at least one)
 * Appends it to out.
 */
void train_request_format(const struct train_request *req, struct buf *out);
/*
 * Parses the text form strictly (every field once, in any order before
 * the uid lines; user printable ASCII without spaces; mailbox without
 * control characters; limits above). 0 with *req_r filled (free with
 * train_request_clear), or -1 with *error_r static and *req_r empty.
 */
int train_request_parse(const char *data, size_t len,
			struct train_request *req_r, const char **error_r);
void train_request_clear(struct train_request *req);
/* true when user and mailbox would be accepted by the parser. */
bool train_request_valid_user(const char *user);
bool train_request_valid_mailbox(const char *mailbox);

/* ---- writer (imapd) ---- */

struct train_spool;
struct train_batch;

/*
 * Opens (creating, mode 0700) the spool directory. max_pending bounds the
 * messages waiting in it: more are dropped (train_batch_add returns 0).
 * 0, or -1 with *error_r allocated.
 */
int train_spool_open(const char *dir, size_t max_pending,
		     struct train_spool **spool_r, char **error_r);
void train_spool_free(struct train_spool **spool);
const char *train_spool_dir(const struct train_spool *spool);

/* Starts a request for one command. user and mailbox must be valid
 * (train_request_valid_*); NULL otherwise. */
struct train_batch *train_batch_new(struct train_spool *spool, const char *user,
				    const char *mailbox, enum train_class cls,
				    enum train_reason reason);
/*
 * Stages one message: hard-links the message file at path (copying it
 * when the link fails, e.g. across file systems), or writes len bytes of
 * data when path is NULL. 1 staged, 0 dropped because the spool holds
 * max_pending messages, -1 with *error_r allocated.
 */
int train_batch_add(struct train_batch *batch, uint32_t uid, const char *path,
		    const void *data, size_t len, char **error_r);
size_t train_batch_count(const struct train_batch *batch);
size_t train_batch_dropped(const struct train_batch *batch);
/*
 * Makes the request visible and durable (nothing is written when no
 * message was staged) and frees the batch. 0, or -1 with *error_r
 * allocated (the staged messages are removed).
 */
int train_batch_commit(struct train_batch **batch, char **error_r);
/* Removes what was staged and frees the batch. */
void train_batch_abort(struct train_batch **batch);

/* ---- reader (the gateway's spamlearn service, moatctl) ---- */

/* Request ids in the directory, sorted (free each and the array). A
 * missing directory is an empty list. 0, or -1 with *error_r allocated. */
int train_spool_list(const char *dir, char ***ids_r, size_t *count_r,
		     char **error_r);
void train_spool_ids_free(char **ids, size_t count);
/* Reads and parses ID.req: 1 parsed, 0 malformed (*error_r static), -1
 * on an I/O error (errno set, *error_r static). */
int train_spool_read(const char *dir, const char *id,
		     struct train_request *req_r, const char **error_r);
/* DIR/ID.N.msg, allocated. */
char *train_spool_message_path(const char *dir, const char *id, size_t n);
/* Removes ID's message files (count of them) and then ID.req. */
void train_spool_remove(const char *dir, const char *id, size_t count);
/* Messages waiting (ID.N.msg files); 0 when the directory is missing. */
size_t train_spool_pending(const char *dir);
/* Removes message and temporary files that belong to no request and are
 * older than max_age seconds (left by a crash). Returns how many. */
size_t train_spool_cleanup(const char *dir, time_t now, unsigned int max_age);

#endif
