/*
 * dmarc_reporter: DMARC aggregate reports (RFC 7489 7.2) from the rows the
 * filter chain records (filters/dmarc_history.h). Builds one report per
 * policy domain and reporting interval (dmarc.report_interval, aligned to
 * UTC), for `moatctl dmarc report` and for the periodic sender that runs
 * in the queue process when dmarc.reports = yes: each report goes as a
 * mail (filters/dmarc_report.h) from dmarc.report_from to every mailto:
 * address of the domain's rua= that passes the external-destination check
 * of RFC 7489 7.1 and whose size limit the compressed report fits, written
 * as a queue file so relay/remote delivery, retries and DSNs apply, and
 * DKIM-signed when the report sender's domain has an active key. Rows
 * of a finished interval are deleted once its reports are queued; rows
 * older than dmarc.report_retention are deleted in any case.
 */
#ifndef MOAT_DMARC_REPORTER_H
#define MOAT_DMARC_REPORTER_H

#include <sqlite3.h>
#include <stdbool.h>

#include "filters/dmarc_history.h"
#include "filters/dmarc_report.h"
#include "filters/dmarc_rua.h"
#include "gateway/settings.h"
#include "lib/buf.h"

struct event_base;
struct dns;

/* One built report. */
struct dmarc_built {
	struct dmarc_report_data data; /* policy (with rua) and rows */
	struct buf xml, gz;
	char *filename;		     /* receiver!domain!begin!end.xml.gz */
	char *report_id;	     /* also in the Subject */
	char *receiver;		     /* domain of dmarc.report_from */
	unsigned long long messages; /* rows counted in it */
};
void dmarc_built_clear(struct dmarc_built *built);

/* Builds the report of one slot from the database. 0, or -1 with *error_r
 * allocated. */
int dmarc_reporter_build(sqlite3 *db, const struct moat_settings *settings,
			 const struct dmarc_history_slot *slot,
			 struct dmarc_built *built_r, char **error_r);

/*
 * RFC 7489 7.1: may a report about policy_domain go to rua_domain? Yes
 * when both have the same organisational domain, else when
 * "<policy_domain>._report._dmarc.<rua_domain>" has exactly one TXT record
 * and it starts with "v=DMARC1". When that record has its own rua= (7.1
 * step 7), its mailto: URIs on rua_domain itself replace the address: they
 * are in *override_r (count 0 = keep the address; may be NULL). dns NULL (no
 * resolver) is a temporary failure when the first rule fails. Returns 1 (yes),
 * 0 (no: NXDOMAIN, no or a bad record) or -1 (temporary: SERVFAIL, timeout, no
 * resolver); *why_r (static) says why not.
 */
int dmarc_reporter_authorized(struct dns *dns, const char *policy_domain,
			      const char *rua_domain,
			      struct dmarc_rua_list *override_r,
			      const char **why_r);

/* The message log database: DATA_DIR/messagelog.db. */
char *dmarc_reporter_db_path(const struct moat_settings *settings);

/* The sender in the queue process. */
struct dmarc_reporter;
/* Called on the event loop for every report queued (the queue delivers). */
typedef void dmarc_reporter_enqueue_fn(const char *qid, void *context);

/* Starts the periodic job on base (a tick per minute, or per
 * report_interval / 4 when shorter); each tick prunes and, with
 * dmarc.reports = yes, sends what finished intervals hold, on a thread of
 * its own so DNS never stalls the queue. NULL on failure (logged). */
struct dmarc_reporter *dmarc_reporter_new(struct event_base *base,
					  const struct moat_settings *settings,
					  const char *queue_dir,
					  dmarc_reporter_enqueue_fn *enqueue,
					  void *context);
/* Waits for a running job, then frees. */
void dmarc_reporter_free(struct dmarc_reporter **reporter);

/*
 * One pass of the job, synchronously (the thread's body; also for tests):
 * expires old rows and, when settings->dmarc_reports, reports and deletes
 * every slot that ended before now minus a grace period. Each queued
 * report's qid goes to on_qid. Returns the number of reports queued, or
 * -1 with *error_r allocated.
 */
int dmarc_reporter_run_once(const struct moat_settings *settings,
			    const char *queue_dir, long long now,
			    void (*on_qid)(const char *qid, void *ctx),
			    void *ctx, char **error_r);

#endif
