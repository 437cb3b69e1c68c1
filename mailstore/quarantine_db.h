/*
 * quarantine_db: the embedded store backend's quarantine (files + SQLite),
 * behind store.h's store_quarantine_* operations. store_embedded.c opens
 * one per store handle on first use and forwards to it; nobody else calls
 * it. Layout under DATA_DIR/quarantine/:
 *   index.db     messages (qid, file, sender, From, Subject, dates, size,
 *                reason, deciding filter, score, symbols, expiry) and
 *                entries (id, message, recipient)
 *   msg/QID      the message bytes, once per message
 *   tmp/         files being written (tmp -> fdatasync -> rename)
 * Each operation is one durable transaction; a message file is removed
 * only after the commit that dropped its last entry, so the index never
 * names a missing file (a crash in between leaves an orphan file, which
 * quarantine_db_prune() removes).
 */
#ifndef MOAT_QUARANTINE_DB_H
#define MOAT_QUARANTINE_DB_H

#include "mailstore/store.h"

struct quarantine_db;

/* Opens (creating) DATA_DIR/quarantine. 0, or -1 with *error_r. */
int quarantine_db_open(const char *data_dir, struct quarantine_db **q_r,
		       char **error_r);
void quarantine_db_close(struct quarantine_db **q);

/* The store.h operations, same contracts. */
int quarantine_db_add(struct quarantine_db *q,
		      const struct store_quarantine_new *msgs, size_t count,
		      int *results_r, char **error_r);
int quarantine_db_list(struct quarantine_db *q, const char *rcpt,
		       const char *qid,
		       struct store_quarantine_entry **entries_r,
		       size_t *count_r, char **error_r);
int quarantine_db_get(struct quarantine_db *q, uint64_t id,
		      struct store_quarantine_entry *entry_r, char **error_r);
int quarantine_db_remove(struct quarantine_db *q, const uint64_t *ids,
			 size_t count, char **error_r);
int quarantine_db_prune(struct quarantine_db *q, time_t now, time_t retention,
			size_t *removed_r, char **error_r);
int quarantine_db_status(struct quarantine_db *q, uint32_t *uidvalidity_r,
			 uint32_t *uidnext_r, uint64_t *highestmodseq_r,
			 char **error_r);
int quarantine_db_expunged_since(struct quarantine_db *q, const char *rcpt,
				 uint64_t modseq, uint32_t **uids_r,
				 size_t *count_r, char **error_r);

#endif
