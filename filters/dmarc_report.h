/*
 * dmarc_report: builds DMARC aggregate reports (RFC 7489 7.2 and Appendix
 * C): the XML document, its gzip compression, the file name of 7.2.1.1
 * ("receiver!policy-domain!begin!end.xml.gz") and the report message (a
 * multipart/mixed mail with the application/gzip part and the Subject
 * "Report Domain: ... Submitter: ... Report-ID: ..."). Pure functions over
 * data the caller loaded (filters/dmarc_history.h); no I/O.
 */
#ifndef MOAT_DMARC_REPORT_H
#define MOAT_DMARC_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

/* One <record>: a group of messages with the same source, disposition,
 * results and identifiers, and how many there were. */
struct dmarc_report_row {
	char *source_ip;
	char *disposition; /* none | quarantine | reject */
	char *override;	   /* reason type (sampled_out, local_policy) or NULL */
	char *dkim, *spf;  /* DMARC alignment results: pass | fail */
	char *header_from, *envelope_from, *envelope_to; /* to may be NULL */
	char *dkim_sigs; /* "domain selector result" lines, '\n' between */
	char *spf_domain, *spf_scope, *spf_result;
	unsigned long long count;
};

/* <policy_published> and where reports go. */
struct dmarc_report_policy {
	char *domain;
	char *p, *sp;	    /* none | quarantine | reject; sp may be NULL */
	char *adkim, *aspf; /* r | s */
	int pct;
	char *fo;  /* NULL when absent */
	char *rua; /* the rua= value, NULL when absent */
};

struct dmarc_report_data {
	struct dmarc_report_policy policy;
	struct dmarc_report_row *rows;
	size_t count;
};
void dmarc_report_data_clear(struct dmarc_report_data *data);

struct dmarc_report_meta {
	const char *org_name;  /* dmarc.report_org */
	const char *email;     /* dmarc.report_from */
	const char *receiver;  /* our domain (the address's domain) */
	const char *report_id; /* unique per report */
	long long begin, end;  /* date_range, UTC seconds */
};

/*
 * Merges rows that have the same key (every field but count; their counts
 * add up) and sorts them by key, in place; data->count shrinks.
 */
void dmarc_report_group(struct dmarc_report_data *data);

/* Appends the XML document (UTF-8, every text escaped) of data to out.
 * Groups data first (dmarc_report_group). */
void dmarc_report_xml(const struct dmarc_report_meta *meta,
		      struct dmarc_report_data *data, struct buf *out);

/* Appends s to out with &, <, >, " and ' escaped and control characters
 * other than tab/newline replaced by '?' (XML 1.0 cannot carry them). */
void dmarc_report_xml_escape(struct buf *out, const char *s);

/* gzip (RFC 1952) of data into out. 0, or -1 with *error_r (static). */
int dmarc_report_gzip(const void *data, size_t len, struct buf *out,
		      const char **error_r);

/* "receiver!policy-domain!begin!end.xml.gz" into out (RFC 7489 7.2.1.1). */
void dmarc_report_filename(const struct dmarc_report_meta *meta,
			   const char *policy_domain, struct buf *out);

/*
 * The whole report message for one recipient (CRLF lines): From
 * meta->email, To rcpt, Date now, Message-ID, Subject "Report Domain:
 * <policy domain> Submitter: <receiver> Report-ID: <<id>>", a short text
 * part and the gzip as an application/gzip attachment (base64), with
 * the header "Auto-Submitted: auto-generated" that marks it as machine mail.
 */
void dmarc_report_message(const struct dmarc_report_meta *meta,
			  const char *policy_domain, const char *rcpt,
			  const void *gz, size_t gz_len, long long now,
			  struct buf *out);

/*
 * The short notice sent instead of a report too large for every rua
 * address (RFC 7489 7.2.2 error report): the same From/To/Subject headers
 * as the report (so it is not recorded as DMARC traffic either) and one
 * text/plain part whose lines are the 7.2.2 fields Report-Date,
 * Report-Domain, Report-ID, Report-Size (report_size bytes), Submitter and
 * Submitting-URI (uris, e.g. "mailto:a@b!10k, mailto:c@d!1k"). No
 * attachment.
 */
void dmarc_report_error_message(const struct dmarc_report_meta *meta,
				const char *policy_domain, const char *rcpt,
				size_t report_size, const char *uris,
				long long now, struct buf *out);

/*
 * May a report whose rows start at begin be kept for another try at the
 * reporter's next run, next_run seconds from now, when rows older than
 * retention seconds expire? True while all its rows would still be there.
 */
bool dmarc_report_may_retry(long long now, long long begin, long long retention,
			    long long next_run);

/* true when a Subject value is that of a DMARC aggregate report (the
 * "dmarc" filter does not record reports about reports). */
bool dmarc_report_subject_is_report(const char *subject);

#endif
