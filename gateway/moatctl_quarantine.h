/*
 * moatctl_quarantine: `moatctl quarantine list|show|release|delete` (see
 * moatctl_quarantine.c).
 */
#ifndef MOAT_MOATCTL_QUARANTINE_H
#define MOAT_MOATCTL_QUARANTINE_H

#include "gateway/settings.h"
#include "mailstore/store.h"

/* argv[0] is the subcommand. Returns the exit status (0 ok, 1 failed), or
 * -1 on a usage error. */
int moatctl_quarantine(const struct moat_settings *settings, int argc,
		       char **argv);

/*
 * Writes a released copy of a quarantined message into DATA_DIR/queue as a
 * new queue file (envelope: the original sender, RET and ENVID, and one
 * recipient per entry, each with its NOTIFY and ORCPT; then
 * "X-Moat-Released:" naming who released it and the quarantine id, then
 * the stored bytes; tmp -> fsync -> rename -> directory fsync) and asks a
 * running queue to deliver it now. entries (count >= 1) are entries of one
 * message. The queue delivers it normally; the filter chain never sees it
 * again. 0 with *qid_r set, or -1 with *error_r allocated.
 */
int quarantine_release_enqueue(const struct moat_settings *settings,
			       const struct store_quarantine_entry *entries,
			       size_t count, const char *quarantine_id,
			       const char *who, char qid_r[32], char **error_r);

#endif
