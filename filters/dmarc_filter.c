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
#include "filters/psl.h"
#include "filters/spf.h"
#include "lib/config.h"
#include "lib/dns.h"
#include "lib/xalloc.h"

struct dmarc_filter_settings {
	char *psl;
	bool enforce;
	bool require_from;
};

#define D(field) offsetof(struct dmarc_filter_settings, field)
static const struct setting_def dmarc_filter_defs[] = {
    {"psl", SETTING_PATH, PSL_DEFAULT_PATH, D(psl), 0, 0, NULL,
     "Public Suffix List, for organisational domains (Debian publicsuffix)"},
    {"enforce", SETTING_BOOL, "yes", D(enforce), 0, 0, NULL,
     "apply p=reject (550 5.7.1) and p=quarantine; no: record results only"},
    {"require_from", SETTING_BOOL, "yes", D(require_from), 0, 0, NULL,
     "refuse mail without a usable From address (550 5.7.1, as Gmail "
     "does): no From, an empty one, a group or a name without address "
     "cannot be checked; no: the symbol DMARC_BAD_FROM only"},
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

/* One From domain's evaluation. */
struct dmarc_one {
	char *from, *record, *pdom;
	int found; /* dmarc_find_record(): -1 temperror, 0 none, 1 record */
	struct dmarc_result r;
	int rank; /* how strict the outcome is: the strictest one decides */
};

static void
dmarc_one_clear(struct dmarc_one *o)
{
	free(o->from);
	free(o->record);
	free(o->pdom);
	memset(o, 0, sizeof(*o));
}

/* Looks up and evaluates from's policy. 0, or -1 with *error_r. */
static int
dmarc_one_evaluate(struct filter_context *ctx, const char *from,
		   struct dmarc_one *o, const char **error_r)
{
	struct dmarc_lookup_ctx lc = {ctx, NULL};
	const char *spf_domain = NULL;
	struct dmarc_input in;

	memset(o, 0, sizeof(*o));
	o->from = xstrdup(from);
	o->found = dmarc_find_record(from, dmarc_filter_lookup, &lc, &o->record,
				     &o->pdom);
	dns_answer_free(&lc.answer);
	if (o->found <= 0) {
		o->rank = o->found < 0 ? 1 : 0;
		return 0;
	}
	memset(&in, 0, sizeof(in));
	in.client_ip = filter_envelope(ctx)->client_ip;
	in.from_domain = o->from;
	in.spf = spf_from_filter(ctx, &spf_domain);
	in.spf_domain = spf_domain;
	in.dkim = filter_data(ctx, "dkim");
	in.record = o->record;
	in.policy_domain = o->pdom;
	in.sample = arc4random_uniform(100);
	if (dmarc_evaluate(&in, &o->r, error_r) < 0)
		return -1;
	o->r.spf = in.spf;
	if (o->r.outcome == DMARC_OUTCOME_PASS)
		o->rank = 0;
	else if (o->r.outcome == DMARC_OUTCOME_PERMERROR)
		o->rank = 1;
	else if (o->r.disposition == DMARC_DISPOSITION_REJECT)
		o->rank = 5;
	else if (o->r.disposition == DMARC_DISPOSITION_QUARANTINE)
		o->rank = 4;
	else
		o->rank = 3;
	return 0;
}

/*
 * RFC 5322 wants one From field with, without a Sender, one address. A
 * message with several (fields, or mailboxes in one field) is evaluated
 * for every domain among them and the strictest result applies: else a
 * second From, or a second mailbox, hides the domain a mail program shows
 * from the check (RFC 7489 6.6.1 lets the receiver apply DMARC to each).
 */
static int
dmarc_filter_run(void *state, struct filter_context *ctx,
		 enum filter_phase phase)
{
	const struct dmarc_filter_settings *set = state;
	const struct filter_envelope *env = filter_envelope(ctx);
	struct mail_headers headers;
	struct str_list domains = {0};
	struct dmarc_one best, one;
	struct dmarc_result r;
	char *props = NULL, text[300];
	const char *from, *error = NULL;
	bool several = false;

	(void)phase;
	if (env->auth_user != NULL)
		return 0;
	auth_headers(ctx, &headers);
	dmarc_from_domains(&headers, &domains, &several);
	mail_headers_clear(&headers);
	if (domains.count == 0) {
		filter_add_symbol(ctx, "DMARC_BAD_FROM", 1.0,
				  "no usable From address");
		filter_add_auth_result(ctx, "dmarc", "permerror",
				       "no single From address", NULL);
		/* A From that names no domain (none, empty, a group, an
		 * encoded word that only looks like an address) is what a
		 * spoof without DMARC's check looks like. */
		if (set->require_from)
			filter_set_verdict(ctx, POLICY_REJECT, 550, "5.7.1",
					   "Message must have a From address "
					   "(RFC 5322 3.6.2)");
		str_list_free(&domains);
		return 0;
	}
	if (several)
		filter_add_symbol(ctx, "DMARC_BAD_FROM", 1.0,
				  "several From addresses");
	memset(&best, 0, sizeof(best));
	best.rank = -1;
	for (size_t i = 0; i < domains.count; i++) {
		if (dmarc_one_evaluate(ctx, domains.items[i], &one, &error) <
		    0) {
			filter_set_error(ctx, "%s", error);
			dmarc_one_clear(&one);
			dmarc_one_clear(&best);
			str_list_free(&domains);
			return -1;
		}
		if (one.rank > best.rank) {
			dmarc_one_clear(&best);
			best = one;
		} else {
			dmarc_one_clear(&one);
		}
	}
	str_list_free(&domains);
	from = best.from;
	props = xasprintf("header.from=%s", from);
	if (best.found < 0) {
		filter_add_symbol(ctx, "DMARC_TEMPERROR", 0.0, from);
		filter_add_auth_result(ctx, "dmarc", "temperror",
				       "policy lookup failed", props);
		goto out;
	}
	if (best.found == 0) {
		filter_add_symbol(ctx, "DMARC_NONE", 0.0, from);
		filter_add_auth_result(ctx, "dmarc", "none", NULL, props);
		goto out;
	}
	r = best.r;
	r.enforced = set->enforce;
	r.is_report = message_is_report(ctx);
	r.header_from = filter_strdup(ctx, from);
	r.policy_domain = filter_strdup(ctx, best.pdom);
	r.record = filter_strdup(ctx, best.record);
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
					 best.pdom);
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
	dmarc_one_clear(&best);
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
