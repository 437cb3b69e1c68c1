/*
 * queue_state: the retry schedule of a message waiting for remote delivery,
 * kept beside it as DATA_DIR/queue/deferred/QID.state so a restart keeps
 * every message's schedule. Text, one "key value" per line:
 *
 *   failures N        attempts that failed temporarily
 *   next T            Unix time of the next attempt (0: as soon as possible)
 *   warned 0|1        a DELAY notice was sent
 *   held 0|1          held by the admin (moatctl queue hold), or a bounce
 *                     that could not be delivered (kept, never re-bounced)
 *   error I TEXT      the last temporary error of recipient index I
 *
 * Written durably (tmp, fsync, rename). A missing file is a fresh message.
 */
#ifndef MOAT_QUEUE_STATE_H
#define MOAT_QUEUE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define QUEUE_STATE_ERROR_MAX 400

struct queue_state {
	unsigned int failures;
	time_t next;
	bool warned, held;
	char **errors; /* rcpt_count items, NULL where none */
	size_t rcpt_count;
};

/* Loads dir/QID.state for a message of rcpt_count recipients (defaults when
 * the file is missing). Returns 0, or -1 when it exists but is unreadable. */
int queue_state_load(const char *dir, const char *qid, size_t rcpt_count,
		     struct queue_state *state_r);
/* Writes dir/QID.state durably. 0 or -1 (errno). */
int queue_state_save(const char *dir, const char *qid,
		     const struct queue_state *state);
/* Sets recipient i's last error (copied, control characters replaced). */
void queue_state_set_error(struct queue_state *state, size_t i,
			   const char *text);
void queue_state_free(struct queue_state *state);

#endif
