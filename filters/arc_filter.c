/*
 * arc_filter: the "arc" filter. Validates the incoming ARC chain
 * (arc=pass|fail|none in Authentication-Results, symbols ARC_PASS,
 * ARC_FAIL, ARC_NONE; struct arc_result left for later filters) so mail
 * that crossed mailing lists and forwarders can still be judged, and, with
 * filter.arc.seal = yes, seals the messages Moat relays on with its own
 * ARC set (key of filter.arc.domain from the DKIM key store). The
 * ARC-Authentication-Results carries the results of the filters that ran
 * before it (place "arc" after spf, dkim and dmarc). Mail submitted by
 * authenticated users is signed by dkim_sign, not sealed; a chain whose
 * newest seal already says cv=fail gets no new set (RFC 8617 5.1.2).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filters/arc.h"
#include "filters/auth_common.h"
#include "filters/filter.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

struct arc_filter_settings {
	bool seal;
	char *domain;
	char *key_dir;
	char *headers;
	char *authserv_id;
};

#define A(field) offsetof(struct arc_filter_settings, field)
static const struct setting_def arc_filter_defs[] = {
    {"seal", SETTING_BOOL, "no", A(seal), 0, 0, NULL,
     "add Moat's ARC set to the messages it accepts from other servers"},
    {"domain", SETTING_STRING, "", A(domain), 0, 0, NULL,
     "sealing domain (d=); its active key in key_dir signs"},
    {"key_dir", SETTING_PATH, "", A(key_dir), 0, 0, NULL,
     "key store of `moatctl dkim` (default: DATA_DIR/dkim)"},
    {"headers", SETTING_STRING,
     "from:to:cc:subject:date:message-id:mime-version:content-type:"
     "content-transfer-encoding:reply-to:in-reply-to:references",
     A(headers), 0, 0, NULL,
     "header fields the ARC-Message-Signature covers, ':'-separated"},
    {"authserv_id", SETTING_STRING, "", A(authserv_id), 0, 0, NULL,
     "authserv-id in ARC-Authentication-Results (empty: the host name; keep "
     "it equal to filters.authserv_id)"},
};
#undef A

static int
arc_filter_check(const void *settings, const char **error_r)
{
	const struct arc_filter_settings *set = settings;

	if (set->seal && set->domain[0] == '\0') {
		*error_r = "filter.arc.seal = yes needs filter.arc.domain";
		return -1;
	}
	return 0;
}

static int
arc_filter_init(const void *settings, void **state_r, char **error_r)
{
	(void)error_r;
	*state_r = (void *)settings;
	return 0;
}

/* "method=result (reason) props" of the earlier filters, '; '-joined. */
static void
arc_results_text(struct filter_context *ctx, const char *authserv_id,
		 const struct arc_result *r, struct buf *out)
{
	size_t n = 0;
	const struct filter_auth_result *ar = filter_auth_results(ctx, &n);

	buf_printf(out, "%s; arc=%s", authserv_id, arc_cv_name(r->cv));
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ar[i].method, "arc") == 0)
			continue;
		buf_printf(out, ";\r\n\t%s=%s", ar[i].method, ar[i].result);
		if (ar[i].reason != NULL) {
			buf_append_str(out, " (");
			for (const char *c = ar[i].reason; *c != '\0'; c++)
				if (*c >= 0x20 && *c < 0x7f && *c != '(' &&
				    *c != ')' && *c != '\\')
					buf_append_char(out, *c);
			buf_append_char(out, ')');
		}
		if (ar[i].props != NULL)
			buf_printf(out, " %s", ar[i].props);
	}
}

static void
arc_result_free(void *data)
{
	free(data);
}

static int
arc_filter_seal(const struct arc_filter_settings *set,
		struct filter_context *ctx, const struct mail_headers *headers,
		const struct buf *msg, const struct arc_result *r)
{
	const struct filter_envelope *env = filter_envelope(ctx);
	const char *dir = set->key_dir;
	const char *id = set->authserv_id[0] != '\0' ? set->authserv_id
						     : env->local_hostname;
	struct dkim_sign_key *key = NULL;
	struct arc_seal_options o;
	struct buf results;
	char *aar = NULL, *ams = NULL, *as = NULL, *error = NULL;
	const char *serr = NULL;
	int rc;

	if (dir[0] == '\0') {
		filter_set_error(ctx, "filter.arc.key_dir is not set");
		return -1;
	}
	rc = dkim_keystore_load(dir, set->domain, &key, &error);
	if (rc <= 0) {
		filter_set_error(ctx, "ARC key of %s: %s", set->domain,
				 rc < 0 ? error : "none (moatctl dkim genkey)");
		free(error);
		return -1;
	}
	buf_init(&results);
	arc_results_text(ctx, id, r, &results);
	memset(&o, 0, sizeof(o));
	o.authserv_id = id;
	o.sign_headers = set->headers;
	o.now = time(NULL);
	o.results = buf_cstr(&results);
	rc = arc_seal(key, &o, headers, msg->data, msg->len, r->cv, &aar, &ams,
		      &as, &serr);
	if (rc == 0) {
		/* added on top in this order: the seal ends up first */
		filter_add_header(ctx, "ARC-Seal", as + strlen("ARC-Seal: "));
		filter_add_header(ctx, "ARC-Message-Signature",
				  ams + strlen("ARC-Message-Signature: "));
		filter_add_header(ctx, "ARC-Authentication-Results",
				  aar + strlen("ARC-Authentication-Results: "));
		filter_add_symbol(ctx, "ARC_SEALED", 0.0, set->domain);
	} else {
		/* a failed or overlong chain is not sealed: not an error */
		filter_add_symbol(ctx, "ARC_NOT_SEALED", 0.0, serr);
		rc = 0;
	}
	free(aar);
	free(ams);
	free(as);
	buf_free(&results);
	dkim_sign_key_free(&key);
	return rc;
}

static int
arc_filter_run(void *state, struct filter_context *ctx, enum filter_phase phase)
{
	const struct arc_filter_settings *set = state;
	const struct filter_envelope *env = filter_envelope(ctx);
	struct mail_headers headers;
	struct dkim_keys *keys = dkim_keys_new();
	struct arc_result *r = xcalloc(1, sizeof(*r));
	struct buf msg;
	char **names = NULL, *props;
	size_t n;
	int rc = 0;

	(void)phase;
	/* no ARC field and nothing to seal: no need to read the message */
	if (!(set->seal && env->auth_user == NULL) &&
	    filter_header_find(ctx, "ARC-Seal", 0) < 0 &&
	    filter_header_find(ctx, "ARC-Message-Signature", 0) < 0 &&
	    filter_header_find(ctx, "ARC-Authentication-Results", 0) < 0) {
		props = xasprintf("smtp.remote-ip=%s", env->client_ip);
		filter_add_auth_result(ctx, "arc", "none", NULL, props);
		free(props);
		filter_add_symbol(ctx, "ARC_NONE", 0.0, NULL);
		filter_set_data(ctx, r, arc_result_free);
		dkim_keys_free(&keys);
		return 0;
	}
	if (auth_read_message(ctx, &msg) < 0) {
		dkim_keys_free(&keys);
		free(r);
		return -1;
	}
	auth_headers(ctx, &headers);
	n = arc_key_names(&headers, &names);
	auth_lookup_keys(ctx, names, n, keys);
	auth_names_free(names, n);
	arc_verify(&headers, msg.data, msg.len, keys, r);
	props = xasprintf("smtp.remote-ip=%s", env->client_ip);
	filter_add_auth_result(ctx, "arc", arc_cv_name(r->cv), r->reason,
			       props);
	free(props);
	filter_add_symbol(ctx,
			  r->cv == ARC_CV_PASS	 ? "ARC_PASS"
			  : r->cv == ARC_CV_FAIL ? "ARC_FAIL"
						 : "ARC_NONE",
			  r->cv == ARC_CV_FAIL ? 0.5 : 0.0,
			  r->cv == ARC_CV_PASS ? r->domain : r->reason);
	if (set->seal && env->auth_user == NULL)
		rc = arc_filter_seal(set, ctx, &headers, &msg, r);
	filter_set_data(ctx, r, arc_result_free);
	mail_headers_clear(&headers);
	dkim_keys_free(&keys);
	buf_free(&msg);
	return rc;
}

const struct filter filter_arc = {
    .name = "arc",
    .phases = FILTER_PHASE_DATA,
    .after = NULL,
    .settings = arc_filter_defs,
    .settings_count = sizeof(arc_filter_defs) / sizeof(arc_filter_defs[0]),
    .settings_size = sizeof(struct arc_filter_settings),
    .check = arc_filter_check,
    .init = arc_filter_init,
    .run = arc_filter_run,
    .abort = NULL,
    .fini = NULL,
};
