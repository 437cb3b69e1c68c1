/*
 * dmarc_filter: the "dmarc" filter. Runs after "spf" and "dkim" (it reads
 * their result data: struct spf_result from filter_data(ctx, "spf"), the
 * DKIM signatures from filter_data(ctx, "dkim")), finds the policy record
 * through the chain's resolver (_dmarc.<From domain>, then the organisational
 * domain of the Public Suffix List) and applies it: reject     -> 550 5.7.1 at
 * DATA (filter.dmarc.enforce = yes) quarantine -> verdict QUARANTINE, recorded
 * (until a quarantine store exists the policy step tags and delivers) none ->
 * recorded only. Mail from authenticated users is not evaluated (it is ours to
 * sign). The struct dmarc_result is left for later filters and rules
 * (filter_data(ctx, "dmarc")), with the header From and policy domains and
 * the record; at the end of the chain the message log turns it into the
 * aggregate-report row of the message (filters/dmarc_history.h), unless
 * the message is itself a DMARC report (Subject "Report Domain: ...").
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/auth_common.h"
#include "filters/dkim_verify.h"
#include "filters/dmarc.h"
#include "filters/dmarc_report.h"
#include "filters/filter.h"
#include "filters/spf.h"
#include "lib/dns.h"
#include "lib/xalloc.h"

struct dmarc_filter_settings {
	char *psl;
	bool enforce;
};

#define D(field) offsetof(struct dmarc_filter_settings, field)
static const struct setting_def dmarc_filter_defs[] = {
    {"psl", SETTING_PATH, "/usr/share/publicsuffix/public_suffix_list.dat",
     D(psl), 0, 0, NULL,
     "Public Suffix List, for organisational domains (Debian publicsuffix)"},
    {"enforce", SETTING_BOOL, "yes", D(enforce), 0, 0, NULL,
     "apply p=reject (550 5.7.1) and p=quarantine; no: record results only"},
};
#undef D

static const char *const dmarc_filter_after[] = {"spf", "dkim", NULL};

static int
dmarc_filter_init(const void *settings, void **state_r, char **error_r)
{
	const struct dmarc_filter_settings *set = settings;

	if (dmarc_library_init(set->psl, error_r) < 0)
		return -1;
	*state_r = (void *)set;
	return 0;
}

/* DNS lookups for dmarc_find_record(): the last answer is kept until the
 * next lookup or the end. */
struct dmarc_lookup_ctx {
	struct filter_context *ctx;
	struct dns_answer *answer;
};

static enum dmarc_lookup_status
dmarc_filter_lookup(void *context, const char *name, char *const **txt_r,
		    size_t *count_r)
{
	struct dmarc_lookup_ctx *lc = context;

	dns_answer_free(&lc->answer);
	*txt_r = NULL;
	*count_r = 0;
	if (filter_dns_lookup(lc->ctx, name, 16, &lc->answer) < 0 ||
	    lc->answer == NULL)
		return DMARC_LOOKUP_TEMPFAIL;
	switch (lc->answer->status) {
	case DNS_OK:
		*txt_r = lc->answer->txt;
		*count_r = lc->answer->count;
		return DMARC_LOOKUP_FOUND;
	case DNS_NXDOMAIN:
		return DMARC_LOOKUP_NONE;
	case DNS_PERMFAIL:
		return DMARC_LOOKUP_NONE;
	default:
		return DMARC_LOOKUP_TEMPFAIL;
	}
}

/* The SPF identity and result from the "spf" filter's struct spf_result
 * (filters/spf.h): the MAIL FROM identity, which for the null sender is the
 * HELO name (RFC 7489 3.1.2, RFC 7208 2.4). No data (spf not configured or
 * it did not judge the client): none. */
static enum dmarc_spf_result
spf_from_filter(struct filter_context *ctx, const char **domain_r)
{
	const struct spf_result *spf = filter_data(ctx, "spf");

	*domain_r = NULL;
	if (spf == NULL || spf->mailfrom_domain == NULL)
		return DMARC_SPF_NONE;
	*domain_r = spf->mailfrom_domain;
	switch (spf->mailfrom) {
	case SPF_RESULT_CODE_PASS:
		return DMARC_SPF_PASS;
	case SPF_RESULT_CODE_TEMPERROR:
		return DMARC_SPF_TEMPERROR;
	case SPF_RESULT_CODE_NONE:
		return DMARC_SPF_NONE;
	default:
		return DMARC_SPF_FAIL;
	}
}

/* Whether the message is itself a DMARC aggregate report (its Subject):
 * such mail is evaluated but kept out of our reports, so two reporting
 * gateways never report on each other's reports. */
static bool
message_is_report(struct filter_context *ctx)
{
	long i = filter_header_find(ctx, "Subject", 0);
	size_t n;
	const struct filter_header *h = filter_headers(ctx, &n, NULL);

	return i >= 0 && dmarc_report_subject_is_report(h[i].value);
}

static int
dmarc_filter_run(void *state, struct filter_context *ctx,
		 enum filter_phase phase)
{
	const struct dmarc_filter_settings *set = state;
	const struct filter_envelope *env = filter_envelope(ctx);
	struct mail_headers headers;
	struct dmarc_lookup_ctx lc = {ctx, NULL};
	struct dmarc_input in;
	struct dmarc_result r;
	char *from = NULL, *record = NULL, *pdom = NULL;
	const char *spf_domain = NULL;
	char *props = NULL, text[300];
	const char *error = NULL;
	int found;

	(void)phase;
	if (env->auth_user != NULL)
		return 0;
	auth_headers(ctx, &headers);
	if (dmarc_from_domain(&headers, &from) < 0) {
		mail_headers_clear(&headers);
		filter_add_symbol(ctx, "DMARC_BAD_FROM", 1.0,
				  "no single From address");
		filter_add_auth_result(ctx, "dmarc", "permerror",
				       "no single From address", NULL);
		return 0;
	}
	mail_headers_clear(&headers);
	found =
	    dmarc_find_record(from, dmarc_filter_lookup, &lc, &record, &pdom);
	dns_answer_free(&lc.answer);
	props = xasprintf("header.from=%s", from);
	if (found < 0) {
		filter_add_symbol(ctx, "DMARC_TEMPERROR", 0.0, from);
		filter_add_auth_result(ctx, "dmarc", "temperror",
				       "policy lookup failed", props);
		goto out;
	}
	if (found == 0) {
		filter_add_symbol(ctx, "DMARC_NONE", 0.0, from);
		filter_add_auth_result(ctx, "dmarc", "none", NULL, props);
		goto out;
	}
	memset(&in, 0, sizeof(in));
	in.client_ip = env->client_ip;
	in.from_domain = from;
	in.spf = spf_from_filter(ctx, &spf_domain);
	in.spf_domain = spf_domain;
	in.dkim = filter_data(ctx, "dkim");
	in.record = record;
	in.policy_domain = pdom;
	in.sample = arc4random_uniform(100);
	if (dmarc_evaluate(&in, &r, &error) < 0) {
		filter_set_error(ctx, "%s", error);
		free(props);
		free(from);
		free(record);
		free(pdom);
		return -1;
	}
	r.enforced = set->enforce;
	r.is_report = message_is_report(ctx);
	r.header_from = filter_strdup(ctx, from);
	r.policy_domain = filter_strdup(ctx, pdom);
	r.record = filter_strdup(ctx, record);
	r.spf = in.spf;
	{
		struct dmarc_result *copy = filter_alloc(ctx, sizeof(*copy));

		*copy = r;
		filter_set_data(ctx, copy, NULL); /* in the context's pool */
	}
	free(props);
	props = xasprintf("header.from=%s policy.dmarc=%s", from,
			  r.policy == 'r'   ? "reject"
			  : r.policy == 'q' ? "quarantine"
					    : "none");
	switch (r.outcome) {
	case DMARC_OUTCOME_PASS:
		filter_add_symbol(ctx, "DMARC_PASS", -0.1, from);
		filter_add_auth_result(ctx, "dmarc", "pass", NULL, props);
		break;
	case DMARC_OUTCOME_PERMERROR:
		filter_add_symbol(ctx, "DMARC_PERMERROR", 0.0, from);
		filter_add_auth_result(ctx, "dmarc", "permerror",
				       "unusable policy record", props);
		break;
	default:
		filter_add_auth_result(
		    ctx, "dmarc", "fail",
		    r.sampled_out ? "outside pct sample" : NULL, props);
		if (r.disposition == DMARC_DISPOSITION_REJECT) {
			filter_add_symbol(ctx, "DMARC_REJECT", 5.0, from);
			if (set->enforce) {
				snprintf(text, sizeof(text),
					 "Rejected by the DMARC policy of %s",
					 pdom);
				filter_set_verdict(ctx, POLICY_REJECT, 550,
						   "5.7.1", text);
			}
		} else if (r.disposition == DMARC_DISPOSITION_QUARANTINE) {
			filter_add_symbol(ctx, "DMARC_QUARANTINE", 3.0, from);
			if (set->enforce)
				filter_set_verdict(ctx, POLICY_QUARANTINE, 0,
						   NULL, NULL);
		} else {
			filter_add_symbol(ctx, "DMARC_FAIL_NONE", 1.0, from);
		}
	}
out:
	free(props);
	free(from);
	free(record);
	free(pdom);
	return 0;
}

const struct filter filter_dmarc = {
    .name = "dmarc",
    .phases = FILTER_PHASE_DATA,
    .after = dmarc_filter_after,
    .settings = dmarc_filter_defs,
    .settings_count = sizeof(dmarc_filter_defs) / sizeof(dmarc_filter_defs[0]),
    .settings_size = sizeof(struct dmarc_filter_settings),
    .check = NULL,
    .init = dmarc_filter_init,
    .run = dmarc_filter_run,
    .abort = NULL,
    .fini = NULL,
};
