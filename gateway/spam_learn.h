/*
 * spam_learn: the consumer of users' spam-training requests. imapd (in the
 * mailstore, which must not call the classifier) writes requests to the
 * spool of mailstore/train_spool.h; the spamlearn service (a row of the
 * master's service table) applies them to the Bayes database with
 * bayes_learn(), logs one line per message and counts what it did in
 * DATA_DIR/spam/user_training.db, which `moatctl spam stats` prints.
 */
#ifndef MOAT_SPAM_LEARN_H
#define MOAT_SPAM_LEARN_H

#include <stdbool.h>
#include <stddef.h>

#include "gateway/service.h"
#include "gateway/settings.h"

/* What user training did so far. */
struct spam_learn_stats {
	unsigned long long spam;    /* messages learned as spam */
	unsigned long long ham;	    /* messages learned as ham */
	unsigned long long known;   /* already learned as that class */
	unsigned long long missing; /* message file gone or unreadable */
	unsigned long long bad;	    /* malformed requests removed */
};

/* Whether users train Bayes: spam.user_training, the spam filter in
 * `filters` and a Bayes database (filter.spam.bayes_db). */
bool spam_learn_enabled(const struct moat_settings *settings);
/* DATA_DIR/spam/training, allocated. */
char *spam_learn_spool_dir(const struct moat_settings *settings);
/* DATA_DIR/spam/user_training.db, allocated. */
char *spam_learn_stats_path(const struct moat_settings *settings);
/* Reads the counters; all zero when the file does not exist yet. 0, or
 * -1 with *error_r allocated. */
int spam_learn_stats_read(const char *path, struct spam_learn_stats *st_r,
			  char **error_r);

struct spam_learn;

/* Opens the Bayes database and the counters. 0, or -1 with *error_r
 * allocated. */
int spam_learn_open(const struct moat_settings *settings,
		    struct spam_learn **learn_r, char **error_r);
void spam_learn_free(struct spam_learn **learn);
/*
 * Applies up to max_requests pending requests in order and removes them.
 * Returns 1 when requests remain, 0 when the spool is empty, -1 when the
 * database failed (the request stays for a later try; logged).
 */
int spam_learn_apply(struct spam_learn *learn, size_t max_requests);

/* The service row: applies requests when the spool changes (inotify) and
 * every minute, until SIGTERM; idle in that when user training is off.
 * Expires Bayes tokens at start and hourly (gateway/spam_expire.h). */
int spam_learn_run(struct service_context *ctx);

#endif
