/*
 * dmarc: DMARC (RFC 7489) evaluation on libopendmarc. The policy record is
 * found through a lookup callback (the filter passes lib/dns answers, the
 * tests a table): first _dmarc.<From domain>, then _dmarc.<organisational
 * domain> from the Public Suffix List. Alignment (relaxed/strict), p, sp
 * and pct give the disposition: none, quarantine or reject.
 */
#ifndef MOAT_DMARC_H
#define MOAT_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "filters/dkim_tags.h"
#include "filters/dkim_verify.h"

/* Once per process: psl_path is the Public Suffix List
 * (/usr/share/publicsuffix/public_suffix_list.dat). 0, or -1 with *error_r
 * allocated. Later calls with the same path are no-ops; another path
 * replaces the list (tests only: never while evaluations run). */
int dmarc_library_init(const char *psl_path, char **error_r);
void dmarc_library_deinit(void);

/* Organisational domain of domain into out (lower case). 0, or -1. */
int dmarc_org_domain(const char *domain, char *out, size_t size);
/* RFC 7489 3.1 alignment: 1 aligned, 0 not. */
bool dmarc_aligned(const char *from_domain, const char *other, bool strict);

/* The domain of the RFC5322.From field: exactly one From field with one
 * address. 0 and *domain_r (lower case, allocated), or -1. */
int dmarc_from_domain(const struct mail_headers *headers, char **domain_r);
/* Domain of the first address in a From value (parser exposed for the
 * opendmarc finddomain vectors). 0, or -1. */
int dmarc_address_domain(const char *value, char **domain_r);
/* Every domain of every address of every From field, each once (lower
 * case, in order, at most DMARC_MAX_FROM_DOMAINS), added to domains_r;
 * *several_r when there is more than one From field or address (RFC 5322
 * wants one field; a second field or mailbox in another domain is how a
 * sender hides a domain from a check that reads only one). */
#define DMARC_MAX_FROM_DOMAINS 8
struct str_list;
void dmarc_from_domains(const struct mail_headers *headers,
			struct str_list *domains_r, bool *several_r);

enum dmarc_lookup_status {
	DMARC_LOOKUP_FOUND, /* txt/count filled (count may be 0) */
	DMARC_LOOKUP_NONE,  /* NXDOMAIN */
	DMARC_LOOKUP_TEMPFAIL,
};
/* Looks name up as TXT; *txt_r stays owned by the callee until the next
 * call or the end of dmarc_find_record(). */
typedef enum dmarc_lookup_status dmarc_lookup_fn(void *context,
						 const char *name,
						 char *const **txt_r,
						 size_t *count_r);

/* 1 and the record and where it was found (allocated), 0 when there is no
 * record, -1 on a temporary DNS failure. */
int dmarc_find_record(const char *from_domain, dmarc_lookup_fn *lookup,
		      void *context, char **record_r, char **policy_domain_r);

enum dmarc_spf_result {
	DMARC_SPF_NONE,
	DMARC_SPF_PASS,
	DMARC_SPF_FAIL, /* fail, softfail, neutral, permerror */
	DMARC_SPF_TEMPERROR,
};

struct dmarc_input {
	const char *client_ip;
	const char *from_domain;
	const char *spf_domain; /* MAIL FROM domain (or HELO), may be NULL */
	enum dmarc_spf_result spf;
	const struct dkim_verify_result *dkim; /* may be NULL */
	const char *record;		       /* NULL: none found */
	const char *policy_domain;	       /* where the record was found */
	unsigned sample;		       /* 0..99, compared with pct */
};

enum dmarc_outcome {
	DMARC_OUTCOME_NONE, /* no policy */
	DMARC_OUTCOME_PASS,
	DMARC_OUTCOME_FAIL,
	DMARC_OUTCOME_PERMERROR, /* unusable record */
};

enum dmarc_disposition {
	DMARC_DISPOSITION_NONE,
	DMARC_DISPOSITION_QUARANTINE,
	DMARC_DISPOSITION_REJECT,
};

struct dmarc_result {
	enum dmarc_outcome outcome;
	enum dmarc_disposition disposition; /* after pct */
	char policy;  /* 'n', 'q', 'r' of the policy applied (p or sp) */
	char p, sp;   /* as published ('\0' when absent) */
	bool used_sp; /* the subdomain policy applied */
	int pct;
	bool sampled_out; /* pct made the disposition milder */
	bool dkim_aligned;
	bool spf_aligned;
	bool adkim_strict, aspf_strict;
	char dkim_domain[256]; /* the aligned (or first passing) d= */

	/* Filled by the "dmarc" filter for the aggregate-report history
	 * (filters/dmarc_history.h); strings live as long as the message's
	 * filter context. dmarc_evaluate() leaves them zero. */
	bool enforced;		   /* filter.dmarc.enforce = yes */
	bool is_report;		   /* the message is itself a DMARC report */
	const char *header_from;   /* RFC5322.From domain */
	const char *policy_domain; /* where the record was found */
	const char *record;	   /* the record as published */
	enum dmarc_spf_result spf; /* the SPF input of the evaluation */
};

const char *dmarc_outcome_name(enum dmarc_outcome outcome);
const char *dmarc_disposition_name(enum dmarc_disposition disposition);

/* Evaluates; 0, or -1 with *error_r (static) on an internal failure. */
int dmarc_evaluate(const struct dmarc_input *in, struct dmarc_result *result_r,
		   const char **error_r);

/* libopendmarc's record parser status for record (DMARC_PARSE_*), for the
 * opendmarc parse vectors. */
int dmarc_parse_status(const char *record);

#endif
