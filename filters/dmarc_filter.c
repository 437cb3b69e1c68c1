/*
 * dmarc_filter: the "dmarc" filter. Runs after "spf" and "dkim" (it reads
 * their results: SPF from its Authentication-Results entry, DKIM from
 * filter_data(ctx, "dkim")), finds the policy record through the chain's
 * resolver (_dmarc.<From domain>, then the organisational domain of the
 * Public Suffix List) and applies it:
 *   reject     -> 550 5.7.1 at DATA (filter.dmarc.enforce = yes)
 *   quarantine -> verdict QUARANTINE, recorded (until a quarantine store
 *                 exists the policy step tags and delivers)
 *   none       -> recorded only.
 * Mail from authenticated users is not evaluated (it is ours to sign).
 * Every evaluation leaves DMARC_REPORT (score 0) whose detail holds the
 * aggregate-report row (RFC 7489 7.2: source IP, header from, policy
 * domain, published p/sp/pct, disposition, DKIM and SPF results and
 * alignment) in the message log; the struct dmarc_result is left for
 * later filters and rules (filter_data(ctx, "dmarc")).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/auth_common.h"
#include "filters/dkim_verify.h"
#include "filters/dmarc.h"
#include "filters/filter.h"
#include "lib/buf.h"
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

/* The SPF identity and result from the "spf" filter's A-R entry:
 * props "smtp.mailfrom=[local@]domain" or "smtp.helo=domain". */
static enum dmarc_spf_result
spf_from_auth(struct filter_context *ctx, char **domain_r)
{
	size_t n = 0;
	const struct filter_auth_result *ar = filter_auth_results(ctx, &n);

	*domain_r = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *p, *v;

		if (strcmp(ar[i].method, "spf") != 0 || ar[i].props == NULL)
			continue;
		p = strstr(ar[i].props, "smtp.mailfrom=");
		v = p != NULL ? p + strlen("smtp.mailfrom=") : NULL;
		if (v == NULL &&
		    (p = strstr(ar[i].props, "smtp.helo=")) != NULL)
			v = p + strlen("smtp.helo=");
		if (v == NULL)
			continue;
		{
			size_t len = strcspn(v, " ;");
			const char *at = memchr(v, '@', len);

			if (at != NULL) {
				len -= (size_t)(at + 1 - v);
				v = at + 1;
			}
			*domain_r = xstrndup(v, len);
		}
		if (strcmp(ar[i].result, "pass") == 0)
			return DMARC_SPF_PASS;
		if (strcmp(ar[i].result, "temperror") == 0)
			return DMARC_SPF_TEMPERROR;
		if (strcmp(ar[i].result, "none") == 0)
			return DMARC_SPF_NONE;
		return DMARC_SPF_FAIL;
	}
	return DMARC_SPF_NONE;
}

static void
dmarc_report_row(struct filter_context *ctx, const struct dmarc_input *in,
		 const struct dmarc_result *r, const char *spf_domain)
{
	struct buf b;

	buf_init(&b);
	buf_printf(&b,
		   "ip=%s header_from=%s policy_domain=%s p=%s sp=%s pct=%d "
		   "disposition=%s dkim=%s dkim_domain=%s spf=%s "
		   "spf_domain=%s",
		   in->client_ip != NULL ? in->client_ip : "", in->from_domain,
		   in->policy_domain != NULL ? in->policy_domain : "",
		   r->p == 'r'	 ? "reject"
		   : r->p == 'q' ? "quarantine"
				 : "none",
		   r->sp == 'r'	  ? "reject"
		   : r->sp == 'q' ? "quarantine"
		   : r->sp == 'n' ? "none"
				  : "",
		   r->pct, dmarc_disposition_name(r->disposition),
		   r->dkim_aligned ? "pass" : "fail", r->dkim_domain,
		   r->spf_aligned ? "pass" : "fail",
		   spf_domain != NULL ? spf_domain : "");
	filter_add_symbol(ctx, "DMARC_REPORT", 0.0, buf_cstr(&b));
	buf_free(&b);
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
	char *from = NULL, *record = NULL, *pdom = NULL, *spf_domain = NULL;
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
	in.spf = spf_from_auth(ctx, &spf_domain);
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
		free(spf_domain);
		return -1;
	}
	dmarc_report_row(ctx, &in, &r, spf_domain);
	{
		struct dmarc_result *copy = xmalloc(sizeof(*copy));

		*copy = r;
		filter_set_data(ctx, copy, free);
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
	free(spf_domain);
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
