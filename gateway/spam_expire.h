/*
 * spam_expire: keeps the Bayes token table bounded. Auto-learning and
 * users' training add tokens with every message learned, so without
 * expiry the database and the classifier's in-memory copy of it (16 bytes
 * a token) grow for ever. The spamlearn service calls spam_expire_run() at
 * start and every hour; `moatctl spam expire` does it by hand.
 */
#ifndef MOAT_SPAM_EXPIRE_H
#define MOAT_SPAM_EXPIRE_H

#include <stdint.h>

#include "gateway/settings.h"
#include "rules/bayes.h"

/* Seconds between expiry runs in the spamlearn service. */
#define SPAM_EXPIRE_INTERVAL 3600

/* filter.spam.bayes_max_tokens (its default when unset); 0 = no limit. */
uint64_t spam_expire_max_tokens(const struct moat_settings *settings);
/* The Bayes database path when the spam filter runs with Bayes, else
 * NULL. */
const char *spam_expire_bayes_path(const struct moat_settings *settings);
/*
 * Expires db's tokens down to the limit (rules/bayes.h's bayes_expire()),
 * logging what it removed: 0 with *removed_r and *remain_r (tokens left)
 * set, or -1 with *error_r allocated.
 */
int spam_expire_run(struct bayes_db *db, uint64_t max_tokens,
		    uint64_t *removed_r, uint64_t *remain_r, char **error_r);

#endif
