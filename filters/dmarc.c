/*
 * dmarc: DMARC on libopendmarc. libopendmarc keeps its Public Suffix List
 * in a global table loaded once (dmarc_library_init); each evaluation uses
 * its own policy context, so threads evaluate in parallel. Moat finds the
 * record itself (dmarc_find_record: _dmarc.<From domain>, then the
 * organisational domain) and hands it over with
 * opendmarc_policy_store_dmarc(); libopendmarc never touches DNS here.
 * libopendmarc parses the record (p, sp, pct, adkim, aspf); alignment and
 * the organisational domain are Moat's (filters/psl.c), because the
 * library's suffix lookup knows no wildcard or exception rules and fails
 * the Public Suffix List's own tests. The library ignores pct, so the
 * sampling of RFC 7489 6.6.4 is ours too: a message outside the sample
 * gets the next milder disposition.
 */
#include "filters/dmarc.h"

#include <ctype.h>
#include <opendmarc/dmarc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/psl.h"
#include "lib/config.h"
#include "lib/xalloc.h"
#include "mailstore/msg_structure.h"

static pthread_rwlock_t dmarc_psl_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct psl *dmarc_psl;
static char *dmarc_psl_path;

int
dmarc_library_init(const char *psl_path, char **error_r)
{
	struct psl *psl;

	pthread_rwlock_wrlock(&dmarc_psl_lock);
	if (dmarc_psl_path != NULL && strcmp(dmarc_psl_path, psl_path) == 0) {
		pthread_rwlock_unlock(&dmarc_psl_lock);
		return 0;
	}
	psl = psl_load(psl_path, error_r);
	if (psl == NULL) {
		pthread_rwlock_unlock(&dmarc_psl_lock);
		return -1;
	}
	psl_free(&dmarc_psl);
	free(dmarc_psl_path);
	dmarc_psl = psl;
	dmarc_psl_path = xstrdup(psl_path);
	pthread_rwlock_unlock(&dmarc_psl_lock);
	return 0;
}

void
dmarc_library_deinit(void)
{
	pthread_rwlock_wrlock(&dmarc_psl_lock);
	psl_free(&dmarc_psl);
	x_free(&dmarc_psl_path);
	pthread_rwlock_unlock(&dmarc_psl_lock);
}

/* Lower case, without leading and trailing dots; NULL if a label is
 * empty. */
static char *
normalise_domain(const char *domain)
{
	size_t n;
	char *d;

	while (*domain == '.')
		domain++;
	d = xstrdup(domain);
	n = strlen(d);
	while (n > 0 && d[n - 1] == '.')
		d[--n] = '\0';
	if (n == 0 || strstr(d, "..") != NULL) {
		free(d);
		return NULL;
	}
	for (char *p = d; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

int
dmarc_org_domain(const char *domain, char *out, size_t size)
{
	char *d = normalise_domain(domain);
	int rc = -1;

	if (d == NULL)
		return -1;
	pthread_rwlock_rdlock(&dmarc_psl_lock);
	if (dmarc_psl != NULL)
		rc = psl_registrable(dmarc_psl, d, out, size);
	pthread_rwlock_unlock(&dmarc_psl_lock);
	free(d);
	return rc;
}

bool
dmarc_aligned(const char *from_domain, const char *other, bool strict)
{
	char a[256], b[256], *f = normalise_domain(from_domain),
			     *o = normalise_domain(other);
	bool aligned = false;

	if (f != NULL && o != NULL) {
		if (strcmp(f, o) == 0)
			aligned = true;
		else if (!strict && dmarc_org_domain(f, a, sizeof(a)) == 0 &&
			 dmarc_org_domain(o, b, sizeof(b)) == 0)
			aligned = strcmp(a, b) == 0;
	}
	free(f);
	free(o);
	return aligned;
}

int
dmarc_address_domain(const char *value, char **domain_r)
{
	size_t n = strlen(value), o = 0, start, end;
	char *clean = xmalloc(n + 1);
	int depth = 0;
	bool quoted = false;
	const char *at;

	/* blank out quoted strings and comments */
	for (size_t i = 0; i < n; i++) {
		char c = value[i];

		if (quoted) {
			if (c == '\\' && i + 1 < n)
				i++;
			else if (c == '"')
				quoted = false;
			clean[o++] = ' ';
			continue;
		}
		if (depth > 0) {
			if (c == '\\' && i + 1 < n)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			clean[o++] = ' ';
			continue;
		}
		if (c == '"') {
			quoted = true;
			clean[o++] = ' ';
		} else if (c == '(') {
			depth = 1;
			clean[o++] = ' ';
		} else {
			clean[o++] = c;
		}
	}
	clean[o] = '\0';
	at = strchr(clean, '@');
	if (at == NULL) {
		free(clean);
		return -1;
	}
	start = (size_t)(at - clean) + 1;
	end = start;
	while (clean[end] != '\0' &&
	       strchr(">,; \t\r\n)<\"", clean[end]) == NULL)
		end++;
	while (end > start && clean[end - 1] == '.')
		end--;
	if (end == start || end - start > 253) {
		free(clean);
		return -1;
	}
	*domain_r = xstrndup(clean + start, end - start);
	for (char *p = *domain_r; *p != '\0'; p++) {
		*p = (char)tolower((unsigned char)*p);
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' &&
		    *p != '_' && (unsigned char)*p < 0x80) {
			x_free(domain_r);
			free(clean);
			return -1;
		}
	}
	free(clean);
	return 0;
}

int
dmarc_from_domain(const struct mail_headers *headers, char **domain_r)
{
	const struct mail_header *from = NULL;
	char *value;
	int rc;

	for (size_t i = 0; i < headers->count; i++) {
		if (!mail_header_is(&headers->items[i], "from"))
			continue;
		if (from != NULL)
			return -1;
		from = &headers->items[i];
	}
	if (from == NULL)
		return -1;
	value = xstrndup(from->value, from->value_len);
	rc = dmarc_address_domain(value, domain_r);
	free(value);
	return rc;
}

/* Adds the domain of every mailbox of a From value (the RFC 5322 parser
 * IMAP ENVELOPE uses: quoted strings, comments and groups honoured). */
static void
from_value_domains(const char *v, size_t len, struct str_list *domains,
		   size_t *addresses)
{
	char *value = xstrndup(v, len), **all = NULL;
	size_t n = msg_address_all(value, &all);

	for (size_t i = 0; i < n; i++) {
		const char *at = strrchr(all[i], '@');
		char *d;
		bool known = false;

		/* "undisclosed" names no domain: the parser's placeholder */
		if (at != NULL &&
		    strcmp(at + 1, MSG_ADDRESS_MISSING_DOMAIN) != 0 &&
		    dmarc_address_domain(all[i], &d) == 0) {
			(*addresses)++;
			for (size_t k = 0; k < domains->count; k++)
				known |= strcmp(domains->items[k], d) == 0;
			if (!known && domains->count < DMARC_MAX_FROM_DOMAINS)
				str_list_add(domains, d);
			free(d);
		}
		free(all[i]);
	}
	free(all);
	free(value);
}

void
dmarc_from_domains(const struct mail_headers *headers,
		   struct str_list *domains_r, bool *several_r)
{
	size_t fields = 0, addresses = 0;

	for (size_t i = 0; i < headers->count; i++) {
		if (!mail_header_is(&headers->items[i], "from"))
			continue;
		fields++;
		from_value_domains(headers->items[i].value,
				   headers->items[i].value_len, domains_r,
				   &addresses);
	}
	*several_r = fields > 1 || addresses > 1;
}

/* The one TXT record starting with "v=DMARC1" (RFC 7489 6.6.3): 1 found, 0
 * none (or several). */
static int
pick_record(char *const *txt, size_t count, char **record_r)
{
	const char *found = NULL;

	for (size_t i = 0; i < count; i++) {
		const char *t = txt[i];

		while (*t == ' ' || *t == '\t')
			t++;
		if (strncasecmp(t, "v=DMARC1", 8) != 0 ||
		    (t[8] != '\0' && t[8] != ';' && t[8] != ' ' &&
		     t[8] != '\t'))
			continue;
		if (found != NULL)
			return 0;
		found = t;
	}
	if (found == NULL)
		return 0;
	*record_r = xstrdup(found);
	return 1;
}

int
dmarc_find_record(const char *from_domain, dmarc_lookup_fn *lookup,
		  void *context, char **record_r, char **policy_domain_r)
{
	char org[256], *name;
	char *const *txt;
	size_t count;
	enum dmarc_lookup_status st;

	name = xasprintf("_dmarc.%s", from_domain);
	st = lookup(context, name, &txt, &count);
	free(name);
	if (st == DMARC_LOOKUP_TEMPFAIL)
		return -1;
	if (st == DMARC_LOOKUP_FOUND && pick_record(txt, count, record_r)) {
		*policy_domain_r = xstrdup(from_domain);
		return 1;
	}
	if (dmarc_org_domain(from_domain, org, sizeof(org)) < 0 ||
	    strcasecmp(org, from_domain) == 0)
		return 0;
	name = xasprintf("_dmarc.%s", org);
	st = lookup(context, name, &txt, &count);
	free(name);
	if (st == DMARC_LOOKUP_TEMPFAIL)
		return -1;
	if (st == DMARC_LOOKUP_FOUND && pick_record(txt, count, record_r)) {
		*policy_domain_r = xstrdup(org);
		return 1;
	}
	return 0;
}

const char *
dmarc_outcome_name(enum dmarc_outcome outcome)
{
	switch (outcome) {
	case DMARC_OUTCOME_NONE:
		return "none";
	case DMARC_OUTCOME_PASS:
		return "pass";
	case DMARC_OUTCOME_FAIL:
		return "fail";
	case DMARC_OUTCOME_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

const char *
dmarc_disposition_name(enum dmarc_disposition disposition)
{
	switch (disposition) {
	case DMARC_DISPOSITION_NONE:
		return "none";
	case DMARC_DISPOSITION_QUARANTINE:
		return "quarantine";
	case DMARC_DISPOSITION_REJECT:
		return "reject";
	}
	return "none";
}

static char
policy_char(int p)
{
	switch (p) {
	case DMARC_RECORD_P_NONE:
		return 'n';
	case DMARC_RECORD_P_QUARANTINE:
		return 'q';
	case DMARC_RECORD_P_REJECT:
		return 'r';
	default:
		return '\0';
	}
}

int
dmarc_parse_status(const char *record)
{
	DMARC_POLICY_T *p = opendmarc_policy_connect_init(
	    (u_char *)"192.0.2.1", DMARC_POLICY_IP_TYPE_IPV4);
	int st;

	if (p == NULL)
		return DMARC_PARSE_ERROR_NO_ALLOC;
	st = opendmarc_policy_parse_dmarc(p, (u_char *)"example.com",
					  (u_char *)record);
	(void)opendmarc_policy_connect_shutdown(p);
	return st;
}

int
dmarc_evaluate(const struct dmarc_input *in, struct dmarc_result *result_r,
	       const char **error_r)
{
	DMARC_POLICY_T *pctx;
	int st, p = 0, sp = 0, pct = 100, adkim = 0, aspf = 0;
	bool sub;

	memset(result_r, 0, sizeof(*result_r));
	result_r->pct = 100;
	if (in->record == NULL) {
		result_r->outcome = DMARC_OUTCOME_NONE;
		return 0;
	}
	pctx = opendmarc_policy_connect_init((u_char *)"0.0.0.0",
					     DMARC_POLICY_IP_TYPE_IPV4);
	if (pctx == NULL) {
		*error_r = "opendmarc_policy_connect_init failed";
		return -1;
	}
	st = opendmarc_policy_parse_dmarc(pctx, (u_char *)in->from_domain,
					  (u_char *)in->record);
	if (st == DMARC_PARSE_OKAY) {
		(void)opendmarc_policy_fetch_p(pctx, &p);
		(void)opendmarc_policy_fetch_sp(pctx, &sp);
		(void)opendmarc_policy_fetch_pct(pctx, &pct);
		(void)opendmarc_policy_fetch_adkim(pctx, &adkim);
		(void)opendmarc_policy_fetch_aspf(pctx, &aspf);
	}
	(void)opendmarc_policy_connect_shutdown(pctx);
	if (st != DMARC_PARSE_OKAY) {
		result_r->outcome = DMARC_OUTCOME_PERMERROR;
		return 0;
	}
	result_r->p = policy_char(p);
	result_r->sp = policy_char(sp);
	result_r->pct = pct < 0 ? 100 : pct;
	result_r->adkim_strict = adkim == DMARC_RECORD_A_STRICT;
	result_r->aspf_strict = aspf == DMARC_RECORD_A_STRICT;

	for (size_t i = 0; in->dkim != NULL && i < in->dkim->count; i++) {
		const struct dkim_sig_result *s = &in->dkim->sigs[i];

		if (s->result != DKIM_RESULT_PASS || result_r->dkim_aligned)
			continue;
		snprintf(result_r->dkim_domain, sizeof(result_r->dkim_domain),
			 "%s", s->domain);
		result_r->dkim_aligned = dmarc_aligned(
		    in->from_domain, s->domain, result_r->adkim_strict);
	}
	result_r->spf_aligned = in->spf == DMARC_SPF_PASS &&
				in->spf_domain != NULL &&
				dmarc_aligned(in->from_domain, in->spf_domain,
					      result_r->aspf_strict);
	sub = strcasecmp(in->policy_domain, in->from_domain) != 0;
	result_r->used_sp = sub && result_r->sp != '\0';
	result_r->policy = result_r->used_sp ? result_r->sp : result_r->p;
	if (result_r->dkim_aligned || result_r->spf_aligned) {
		result_r->outcome = DMARC_OUTCOME_PASS;
		return 0;
	}
	result_r->outcome = DMARC_OUTCOME_FAIL;
	result_r->disposition =
	    result_r->policy == 'r'   ? DMARC_DISPOSITION_REJECT
	    : result_r->policy == 'q' ? DMARC_DISPOSITION_QUARANTINE
				      : DMARC_DISPOSITION_NONE;
	if (result_r->disposition != DMARC_DISPOSITION_NONE &&
	    result_r->pct < 100 && in->sample >= (unsigned)result_r->pct) {
		result_r->sampled_out = true;
		result_r->disposition =
		    result_r->disposition == DMARC_DISPOSITION_REJECT
			? DMARC_DISPOSITION_QUARANTINE
			: DMARC_DISPOSITION_NONE;
	}
	return 0;
}
