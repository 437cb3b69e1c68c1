/*
 * queue_file: the on-disk encoding of one queued message, one file per
 * message under DATA_DIR/queue/. Layout:
 *
 *   "MOATQ 1\n"
 *   envelope lines "key value\n" (values percent-encoded: %XX for bytes
 *   < 0x21, '%' and 0x7f), one "rcpt ..." line per recipient
 *   "\n"
 *   the message bytes (CRLF lines, exactly as accepted, Received: first)
 *   trailer: "\nMOATEND " and 16 hex digits of the message length "\n"
 *
 * A file is complete once its owner-execute bit is set (mode 0700, as
 * Postfix marks its queue files): every writer sets it with
 * queue_file_mark_ready() just before the fsync that precedes the 250 (or
 * the rename that publishes it), so a file without it is still being
 * written or filtered, or was abandoned by a crash and never
 * acknowledged; rescans take only ready files, at any age. A ready file
 * without a valid trailer is corrupt. Delivery
 * progress is kept in a separate file QID.done: one line per recipient index
 * that reached its final state.
 */
#ifndef MOAT_QUEUE_FILE_H
#define MOAT_QUEUE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include "lib/buf.h"

#define QUEUE_ID_MAX	  32
#define QUEUE_TRAILER_LEN 26 /* "\nMOATEND " (9) + 16 hex + "\n" */

/* Mode of a queue file while it is written, and once it is complete. */
#define QUEUE_FILE_MODE_WRITING 0600
#define QUEUE_FILE_MODE_READY	0700

struct queue_rcpt {
	char *address; /* as given in RCPT TO (without <>) */
	char *notify;  /* DSN NOTIFY= value or NULL */
	char *orcpt;   /* DSN ORCPT= value or NULL */
};

struct queue_envelope {
	char qid[QUEUE_ID_MAX];
	char *mail_from; /* "" for the null sender <> */
	char *body;	 /* "7BIT", "8BITMIME" or NULL */
	char *ret;	 /* DSN RET= FULL|HDRS or NULL */
	char *envid;	 /* DSN ENVID= or NULL */
	bool smtputf8;
	char *auth_user; /* authenticated user or NULL */
	char *client_ip;
	char *helo;
	time_t arrival;
	/* Quarantined by the filter chain (the queue stores it in the
	 * quarantine instead of delivering it): quarantine is the reason
	 * (NULL: not quarantined), quarantine_by the filter or policy rule
	 * that decided, symbols "NAME(score),..." and score the chain's. */
	char *quarantine;
	char *quarantine_by;
	char *symbols;
	double score;
	struct queue_rcpt *rcpts;
	size_t rcpt_count;
};

/* Marks an open queue file complete (before its fsync). 0 or -1 (errno). */
int queue_file_mark_ready(int fd);
/* Whether stat data describes a complete queue file. */
bool queue_file_is_ready(const struct stat *st);
/* Writes the whole queue file data (envelope, message, trailer) as
 * QUEUE_DIR/QID, marked ready and durable (file and directory fsync'd)
 * before it returns 0 (written as QID.new, then linked: QID appears
 * complete); on failure nothing is left and -1 with a static error_r. An
 * existing QID is never replaced. */
#define QUEUE_FILE_NEW_SUFFIX ".new"
int queue_file_publish(const char *queue_dir, const char *qid, const char *data,
		       size_t len, const char **error_r);

/* Unique queue id: 20 characters [0-9A-Z], time-ordered. */
void queue_id_new(char out[QUEUE_ID_MAX]);
bool queue_id_valid(const char *qid);

/* Appends the header (magic, envelope lines, blank line) to out. */
void queue_envelope_encode(const struct queue_envelope *env, struct buf *out);
/* Parses a header from data. Returns 1 and *header_len_r on success, 0 when
 * more data is needed, -1 on malformed input with *error_r (static). */
int queue_envelope_decode(const char *data, size_t len,
			  struct queue_envelope *env_r, size_t *header_len_r,
			  const char **error_r);
void queue_envelope_free(struct queue_envelope *env);
void queue_envelope_add_rcpt(struct queue_envelope *env, const char *address,
			     const char *notify, const char *orcpt);
/* The 25-byte trailer for a message of data_len bytes. */
void queue_trailer_format(size_t data_len, char out[QUEUE_TRAILER_LEN + 1]);

/*
 * Opens and validates a complete queue file: envelope parsed, trailer
 * present and consistent. On success returns 0 with *fd_r open (O_RDONLY),
 * the message at [*data_offset_r, *data_offset_r + *data_len_r). Returns -1
 * with *error_r (static) when incomplete or malformed.
 */
int queue_file_open(const char *path, struct queue_envelope *env_r, int *fd_r,
		    off_t *data_offset_r, size_t *data_len_r,
		    const char **error_r);

/*
 * QID.done in dir: the indexes of the recipients already delivered, one per
 * line. queue_done_load() sets done[i] for each index below count (a missing
 * file sets nothing); queue_done_save() rewrites the file durably (tmp,
 * fsync, rename) and returns 0, or -1 with the file unchanged.
 */
void queue_done_load(const char *dir, const char *qid, bool *done,
		     size_t count);
int queue_done_save(const char *dir, const char *qid, const bool *done,
		    size_t count);

#endif
