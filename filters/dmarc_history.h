/*
 * dmarc_history: the per-message data of DMARC aggregate reports (RFC 7489
 * 7.2), one row per message the "dmarc" filter evaluated, kept in the
 * message log database (DATA_DIR/messagelog.db, table dmarc_messages,
 * created by filter_log's migrations). The chain's message-log writer
 * inserts the rows (filter_log.c); the report sender
 * (gateway/dmarc_reporter.c) and `moatctl dmarc report` read them grouped
 * per policy domain and reporting interval, and delete them once reported
 * or older than the retention.
 *
 * What a row holds: time, qid, source IP, header From domain, envelope
 * from/to domains, the policy domain and the policy as published (p, sp,
 * pct, adkim, aspf, fo, rua), the disposition applied and why it differs
 * from the policy (sampled_out: pct; local_policy: filter.dmarc.enforce =
 * no or a milder final verdict), DMARC's DKIM and SPF alignment results,
 * every DKIM signature (domain, selector, result) and the SPF identity
 * (domain, scope mfrom/helo, result). Peer-supplied strings are cut to
 * safe characters before they are stored.
 */
#ifndef MOAT_DMARC_HISTORY_H
#define MOAT_DMARC_HISTORY_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "filters/dmarc_report.h"
#include "rules/policy.h"

struct filter_context;

/* Migration of the message-log database that creates the table. */
#define DMARC_HISTORY_SCHEMA                                                   \
	"CREATE TABLE dmarc_messages ("                                        \
	"  id INTEGER PRIMARY KEY,"                                            \
	"  time INTEGER NOT NULL,"                                             \
	"  qid TEXT,"                                                          \
	"  source_ip TEXT NOT NULL,"                                           \
	"  header_from TEXT NOT NULL,"                                         \
	"  envelope_from TEXT NOT NULL,"                                       \
	"  envelope_to TEXT,"                                                  \
	"  policy_domain TEXT NOT NULL,"                                       \
	"  p TEXT NOT NULL, sp TEXT, pct INTEGER NOT NULL,"                    \
	"  adkim TEXT NOT NULL, aspf TEXT NOT NULL, fo TEXT, rua TEXT,"        \
	"  disposition TEXT NOT NULL,"                                         \
	"  override TEXT,"                                                     \
	"  dkim TEXT NOT NULL,"                                                \
	"  spf TEXT NOT NULL,"                                                 \
	"  dkim_sigs TEXT NOT NULL,"                                           \
	"  spf_domain TEXT NOT NULL,"                                          \
	"  spf_scope TEXT NOT NULL,"                                           \
	"  spf_result TEXT NOT NULL);"                                         \
	"CREATE INDEX dmarc_messages_domain ON dmarc_messages(policy_domain,"  \
	"  time);"                                                             \
	"CREATE INDEX dmarc_messages_time ON dmarc_messages(time);"

/* One message's row. */
struct dmarc_history_entry {
	long long time;
	char *qid, *source_ip, *header_from, *envelope_from, *envelope_to;
	char *policy_domain, *fo, *rua;
	char p[12], sp[12], adkim[2], aspf[2];
	int pct;
	const char *disposition, *override, *dkim, *spf; /* static */
	char *dkim_sigs; /* "domain selector result" lines, '\n' between */
	char *spf_domain;
	const char *spf_scope, *spf_result; /* static */
};

/*
 * The row for the message of ctx, whose chain ended with verdict, or NULL
 * when DMARC did not evaluate a policy for it (no record, temperror,
 * authenticated submission, the message is a DMARC report itself) or the
 * message was not disposed of (tempfail: it comes back).
 */
struct dmarc_history_entry *
dmarc_history_entry_new(const struct filter_context *ctx,
			enum policy_verdict verdict, long long now);
void dmarc_history_entry_free(struct dmarc_history_entry **entry);

/* Inserts one row (inside the caller's transaction). 0, or -1 with
 * *error_r allocated. */
int dmarc_history_insert(sqlite3 *db, const struct dmarc_history_entry *entry,
			 char **error_r);

/* One report to build: a policy domain and an interval [begin, end). */
struct dmarc_history_slot {
	char *policy_domain;
	long long begin, end;
	long long max_id; /* rows after it (written late) are not touched */
	long long rows;
};

/*
 * The (policy domain, interval) pairs with rows in [from, to), intervals
 * aligned to multiples of interval seconds (UTC) and cut to [from, to);
 * domain NULL = every domain. 0 with *slots_r and *count_r (free with
 * dmarc_history_slots_free), or -1 with *error_r allocated.
 */
int dmarc_history_slots(sqlite3 *db, const char *domain, long long from,
			long long to, long long interval,
			struct dmarc_history_slot **slots_r, size_t *count_r,
			char **error_r);
void dmarc_history_slots_free(struct dmarc_history_slot **slots, size_t count);

/*
 * The report data of one slot: the policy as last published in it and the
 * rows grouped (source IP, disposition, results, identifiers) with counts.
 * 0 with *data_r filled (dmarc_report_data_clear), or -1 with *error_r.
 */
int dmarc_history_load(sqlite3 *db, const struct dmarc_history_slot *slot,
		       struct dmarc_report_data *data_r, char **error_r);

/* Deletes the rows of one slot (reported). Returns the number deleted, or
 * -1 with *error_r. */
long long dmarc_history_delete_slot(sqlite3 *db,
				    const struct dmarc_history_slot *slot,
				    char **error_r);
/* Deletes every row older than before (retention). Count or -1. */
long long dmarc_history_expire(sqlite3 *db, long long before, char **error_r);

#endif
