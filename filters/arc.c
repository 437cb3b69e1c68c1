/*
 * arc: ARC validation and sealing (RFC 8617) on dkim_canon.
 *
 * Validation (RFC 8617 5.2): gather the ARC sets by instance (i=1..N, each
 * exactly one ARC-Authentication-Results, ARC-Message-Signature and
 * ARC-Seal, N <= 50), check each seal's cv= (none for i=1, pass above;
 * a newest cv=fail fails the chain), verify the newest
 * ARC-Message-Signature like a DKIM signature (its own c=, h= without
 * ARC-Seal, bh=, optional l=), then every ARC-Seal from N down to 1 over
 * the relaxed sets 1..i. Any defect is a fail with a static reason.
 *
 * Sealing writes tags in the order and form the ValiMail suite fixes
 * (alphabetical, one space after each ';'), relaxed/relaxed, so signatures
 * are reproducible; the ARC-Message-Signature also covers the new
 * ARC-Authentication-Results when h= names it.
 */
#include "filters/arc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/xalloc.h"

const char *
arc_cv_name(enum arc_cv cv)
{
	switch (cv) {
	case ARC_CV_NONE:
		return "none";
	case ARC_CV_PASS:
		return "pass";
	case ARC_CV_FAIL:
		return "fail";
	}
	return "fail";
}

struct arc_set {
	const struct mail_header *aar, *ams, *as;
	struct dkim_tags ams_tags, as_tags;
};

/* "i=N" at the start of an AAR value: N (1..50), or -1. */
static int
aar_instance(const char *v, size_t len)
{
	size_t p = 0;
	int n = 0;

	while (p < len && isspace((unsigned char)v[p]))
		p++;
	if (p + 2 > len || v[p] != 'i')
		return -1;
	p++;
	while (p < len && isspace((unsigned char)v[p]))
		p++;
	if (p >= len || v[p] != '=')
		return -1;
	p++;
	while (p < len && isspace((unsigned char)v[p]))
		p++;
	if (p >= len || !isdigit((unsigned char)v[p]))
		return -1;
	while (p < len && isdigit((unsigned char)v[p])) {
		n = n * 10 + (v[p] - '0');
		if (n > ARC_MAX_INSTANCES)
			return -1;
		p++;
	}
	while (p < len && isspace((unsigned char)v[p]))
		p++;
	if (p >= len || v[p] != ';')
		return -1;
	return n >= 1 ? n : -1;
}

static int
tag_instance(const struct dkim_tags *tags)
{
	const char *i = dkim_tags_get(tags, "i");
	int n = 0;

	if (i == NULL || *i == '\0')
		return -1;
	for (; *i != '\0'; i++) {
		if (!isdigit((unsigned char)*i))
			return -1;
		n = n * 10 + (*i - '0');
		if (n > ARC_MAX_INSTANCES)
			return -1;
	}
	return n >= 1 ? n : -1;
}

static void
sets_clear(struct arc_set *sets, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		dkim_tags_clear(&sets[i].ams_tags);
		dkim_tags_clear(&sets[i].as_tags);
	}
}

/* Fills sets[1..N]; returns N (0: no ARC field), or -1 with *reason_r. */
static int
collect_sets(const struct mail_headers *headers, struct arc_set *sets,
	     const char **reason_r)
{
	int max = 0;
	const char *err;

	for (size_t k = 0; k < headers->count; k++) {
		const struct mail_header *h = &headers->items[k];
		int i;

		if (mail_header_is(h, "ARC-Authentication-Results")) {
			i = aar_instance(h->value, h->value_len);
			if (i < 0) {
				*reason_r =
				    "bad i= in ARC-Authentication-Results";
				return -1;
			}
			if (sets[i].aar != NULL) {
				*reason_r =
				    "duplicate ARC-Authentication-Results";
				return -1;
			}
			sets[i].aar = h;
		} else if (mail_header_is(h, "ARC-Message-Signature") ||
			   mail_header_is(h, "ARC-Seal")) {
			bool seal = mail_header_is(h, "ARC-Seal");
			struct dkim_tags tags;

			if (dkim_tags_parse(h->value, h->value_len, &tags,
					    &err) < 0) {
				dkim_tags_clear(&tags);
				*reason_r = "malformed ARC signature tags";
				return -1;
			}
			i = tag_instance(&tags);
			if (i < 0 ||
			    (seal ? sets[i].as : sets[i].ams) != NULL) {
				dkim_tags_clear(&tags);
				*reason_r = i < 0 ? "bad i= in ARC signature"
						  : "duplicate ARC signature";
				return -1;
			}
			if (seal) {
				sets[i].as = h;
				sets[i].as_tags = tags;
			} else {
				sets[i].ams = h;
				sets[i].ams_tags = tags;
			}
		} else {
			continue;
		}
		if (i > max)
			max = i;
	}
	for (int i = 1; i <= max; i++)
		if (sets[i].aar == NULL || sets[i].ams == NULL ||
		    sets[i].as == NULL) {
			*reason_r = "incomplete ARC set";
			return -1;
		}
	return max;
}

/* Public key for d=/s= from the table; NULL with *reason_r. */
static EVP_PKEY *
lookup_key(const struct dkim_keys *keys, const struct dkim_tags *sig,
	   bool *tempfail_r, const char **reason_r)
{
	const char *d = dkim_tags_get(sig, "d"), *s = dkim_tags_get(sig, "s");
	const char *a = dkim_tags_get(sig, "a");
	char *name, *const *txt;
	size_t count;
	enum dkim_key_status st;
	struct dkim_tags kt;
	const char *err, *k, *p;
	EVP_PKEY *key = NULL;

	if (d == NULL || s == NULL || *d == '\0' || *s == '\0') {
		*reason_r = "missing d= or s=";
		return NULL;
	}
	name = xasprintf("%s._domainkey.%s", s, d);
	st = dkim_keys_get(keys, name, &txt, &count);
	free(name);
	if (st == DKIM_KEY_TEMPFAIL) {
		*tempfail_r = true;
		*reason_r = "key lookup failed";
		return NULL;
	}
	if (st != DKIM_KEY_FOUND || count == 0) {
		*reason_r = "no key";
		return NULL;
	}
	if (dkim_tags_parse(txt[0], strlen(txt[0]), &kt, &err) < 0) {
		dkim_tags_clear(&kt);
		*reason_r = "malformed key record";
		return NULL;
	}
	k = dkim_tags_get(&kt, "k");
	p = dkim_tags_get(&kt, "p");
	if (a != NULL && strcmp(a, "ed25519-sha256") == 0
		? (k == NULL || strcmp(k, "ed25519") != 0)
		: (k != NULL && strcmp(k, "rsa") != 0))
		*reason_r = "key type does not match a=";
	else if ((key = dkim_public_key(k, p)) == NULL)
		*reason_r =
		    p != NULL && *p == '\0' ? "key revoked" : "unusable key";
	else if (EVP_PKEY_get_id(key) == EVP_PKEY_RSA &&
		 EVP_PKEY_get_bits(key) < 1024) {
		*reason_r = "key too small";
		EVP_PKEY_free(key);
		key = NULL;
	}
	dkim_tags_clear(&kt);
	return key;
}

static bool
alg_ok(const char *a)
{
	return a != NULL && (strcmp(a, "rsa-sha256") == 0 ||
			     strcmp(a, "ed25519-sha256") == 0);
}

static bool
h_has(const char *h, const char *name)
{
	size_t n = strlen(name);

	while (*h != '\0') {
		const char *end = strchr(h, ':');
		size_t len = end != NULL ? (size_t)(end - h) : strlen(h);

		if (len == n && strncasecmp(h, name, n) == 0)
			return true;
		h += len;
		if (*h == ':')
			h++;
	}
	return false;
}

/* Verifies the ARC-Message-Signature of set (like DKIM). */
static bool
verify_ams(const struct mail_headers *headers, const char *msg, size_t len,
	   const struct dkim_keys *keys, const struct arc_set *set,
	   bool *tempfail_r, const char **reason_r)
{
	const struct dkim_tags *t = &set->ams_tags;
	const char *a = dkim_tags_get(t, "a"), *b = dkim_tags_get(t, "b"),
		   *bh = dkim_tags_get(t, "bh"), *h = dkim_tags_get(t, "h"),
		   *c = dkim_tags_get(t, "c"), *l = dkim_tags_get(t, "l");
	/* without c=, the suite and dkimpy read relaxed/relaxed for ARC */
	enum dkim_c14n hc = DKIM_C14N_RELAXED, bc = DKIM_C14N_RELAXED;
	struct dkim_body_hash *bhash;
	char got_bh[45];
	long long limit = -1;
	struct buf data;
	EVP_PKEY *key;
	int rc;

	if (!alg_ok(a) || b == NULL || *b == '\0' || bh == NULL ||
	    *bh == '\0' || h == NULL) {
		*reason_r = "ARC-Message-Signature lacks a required tag";
		return false;
	}
	if (h_has(h, "arc-seal")) {
		*reason_r = "ARC-Message-Signature signs ARC-Seal";
		return false;
	}
	if (c != NULL) {
		const char *slash = strchr(c, '/');

		if (dkim_c14n_parse(
			c, slash != NULL ? (size_t)(slash - c) : strlen(c),
			&hc) < 0 ||
		    (slash != NULL &&
		     dkim_c14n_parse(slash + 1, strlen(slash + 1), &bc) < 0)) {
			*reason_r = "bad c=";
			return false;
		}
	}
	if (l != NULL) {
		char *end;

		limit = strtoll(l, &end, 10);
		if (*l == '\0' || *end != '\0' || limit < 0) {
			*reason_r = "bad l=";
			return false;
		}
	}
	bhash = dkim_body_hash_new(bc, limit);
	if (headers->body_offset < len)
		dkim_body_hash_update(bhash, msg + headers->body_offset,
				      len - headers->body_offset);
	dkim_body_hash_final(&bhash, got_bh);
	if (strcmp(got_bh, bh) != 0) {
		*reason_r = "ARC-Message-Signature body hash mismatch";
		return false;
	}
	key = lookup_key(keys, t, tempfail_r, reason_r);
	if (key == NULL)
		return false;
	buf_init(&data);
	dkim_canon_selected(hc, headers, h, set->ams, &data);
	{
		struct buf stripped;

		buf_init(&stripped);
		dkim_strip_b_value(set->ams->field, set->ams->len, &stripped);
		dkim_canon_header(hc, stripped.data, stripped.len, false,
				  &data);
		buf_free(&stripped);
	}
	rc = dkim_verify_data(key, data.data, data.len, b);
	buf_free(&data);
	EVP_PKEY_free(key);
	if (rc != 1) {
		*reason_r = "ARC-Message-Signature did not verify";
		return false;
	}
	return true;
}

/* Appends the relaxed sets 1..upto for a seal; the last seal's b= value is
 * left empty and it gets no CRLF (the seal being made or checked). */
static void
seal_data(const struct arc_set *sets, int upto, struct buf *data)
{
	for (int j = 1; j <= upto; j++) {
		dkim_canon_header(DKIM_C14N_RELAXED, sets[j].aar->field,
				  sets[j].aar->len, true, data);
		dkim_canon_header(DKIM_C14N_RELAXED, sets[j].ams->field,
				  sets[j].ams->len, true, data);
		if (j < upto) {
			dkim_canon_header(DKIM_C14N_RELAXED, sets[j].as->field,
					  sets[j].as->len, true, data);
		} else {
			struct buf stripped;

			buf_init(&stripped);
			dkim_strip_b_value(sets[j].as->field, sets[j].as->len,
					   &stripped);
			dkim_canon_header(DKIM_C14N_RELAXED, stripped.data,
					  stripped.len, false, data);
			buf_free(&stripped);
		}
	}
}

void
arc_verify(const struct mail_headers *headers, const char *msg, size_t len,
	   const struct dkim_keys *keys, struct arc_result *result_r)
{
	struct arc_set sets[ARC_MAX_INSTANCES + 1];
	int n;

	memset(result_r, 0, sizeof(*result_r));
	memset(sets, 0, sizeof(sets));
	n = collect_sets(headers, sets, &result_r->reason);
	if (n == 0) {
		result_r->cv = ARC_CV_NONE;
		return;
	}
	result_r->cv = ARC_CV_FAIL;
	if (n < 0)
		goto out;
	result_r->instances = (unsigned)n;
	{
		const char *d = dkim_tags_get(&sets[n].as_tags, "d");

		snprintf(result_r->domain, sizeof(result_r->domain), "%s",
			 d != NULL ? d : "");
	}
	for (int i = 1; i <= n; i++) {
		const char *cv = dkim_tags_get(&sets[i].as_tags, "cv");

		if (cv == NULL || strcmp(cv, i == 1 ? "none" : "pass") != 0) {
			result_r->reason = cv != NULL && strcmp(cv, "fail") == 0
					       ? "the chain failed before"
					       : "bad cv= in ARC-Seal";
			goto out;
		}
		if (dkim_tags_get(&sets[i].as_tags, "h") != NULL) {
			result_r->reason = "ARC-Seal with h=";
			goto out;
		}
	}
	if (!verify_ams(headers, msg, len, keys, &sets[n], &result_r->tempfail,
			&result_r->reason))
		goto out;
	for (int i = n; i >= 1; i--) {
		const struct dkim_tags *t = &sets[i].as_tags;
		const char *b = dkim_tags_get(t, "b");
		struct buf data;
		EVP_PKEY *key;
		int rc;

		if (!alg_ok(dkim_tags_get(t, "a")) || b == NULL || *b == '\0') {
			result_r->reason = "ARC-Seal lacks a required tag";
			goto out;
		}
		key =
		    lookup_key(keys, t, &result_r->tempfail, &result_r->reason);
		if (key == NULL)
			goto out;
		buf_init(&data);
		seal_data(sets, i, &data);
		rc = dkim_verify_data(key, data.data, data.len, b);
		buf_free(&data);
		EVP_PKEY_free(key);
		if (rc != 1) {
			result_r->reason = "ARC-Seal did not verify";
			goto out;
		}
	}
	result_r->cv = ARC_CV_PASS;
	result_r->reason = NULL;
out:
	sets_clear(sets, ARC_MAX_INSTANCES + 1);
}

size_t
arc_key_names(const struct mail_headers *headers, char ***names_r)
{
	char **a = NULL, **b = NULL;
	size_t na = dkim_key_names(headers, "ARC-Seal", ARC_MAX_INSTANCES, &a);
	size_t nb = dkim_key_names(headers, "ARC-Message-Signature",
				   ARC_MAX_INSTANCES, &b);
	char **all = xcalloc(na + nb + 1, sizeof(*all));
	size_t n = 0;

	for (size_t i = 0; i < na; i++)
		all[n++] = a[i];
	for (size_t i = 0; i < nb; i++) {
		bool dup = false;

		for (size_t j = 0; j < n && !dup; j++)
			dup = strcmp(all[j], b[i]) == 0;
		if (dup)
			free(b[i]);
		else
			all[n++] = b[i];
	}
	free(a);
	free(b);
	*names_r = all;
	return n;
}

/* --- sealing ------------------------------------------------------------- */

/* The results of the Authentication-Results fields of authserv_id, each
 * trimmed, joined with ";\r\n\t" after "authserv_id; ". */
static void
consolidate_ar(const struct mail_headers *headers, const char *authserv_id,
	       struct buf *out)
{
	size_t id_len = strlen(authserv_id);
	bool any = false;

	buf_append_str(out, authserv_id);
	for (size_t k = 0; k < headers->count; k++) {
		const struct mail_header *h = &headers->items[k];
		const char *v = h->value, *end = h->value + h->value_len;
		int depth = 0;
		bool quoted = false;
		const char *start;

		if (!mail_header_is(h, "Authentication-Results"))
			continue;
		while (v < end && isspace((unsigned char)*v))
			v++;
		if ((size_t)(end - v) < id_len ||
		    strncasecmp(v, authserv_id, id_len) != 0 ||
		    (v + id_len < end && !isspace((unsigned char)v[id_len]) &&
		     v[id_len] != ';'))
			continue;
		v = memchr(v, ';', (size_t)(end - v));
		if (v == NULL)
			continue;
		start = ++v;
		for (; v <= end; v++) {
			bool at_end = v == end;

			if (!at_end && quoted) {
				if (*v == '"')
					quoted = false;
				continue;
			}
			if (!at_end && *v == '"')
				quoted = true;
			else if (!at_end && *v == '(')
				depth++;
			else if (!at_end && *v == ')' && depth > 0)
				depth--;
			if (at_end || (*v == ';' && depth == 0)) {
				const char *a = start, *z = v;

				while (a < z && isspace((unsigned char)*a))
					a++;
				while (z > a && isspace((unsigned char)z[-1]))
					z--;
				if (z > a &&
				    !(z - a == 4 &&
				      strncasecmp(a, "none", 4) == 0)) {
					buf_append_str(out,
						       any ? ";\r\n\t" : "; ");
					for (const char *c = a; c < z; c++)
						if (*c != '\r' && *c != '\n')
							buf_append_char(out,
									*c);
					any = true;
				}
				start = v + 1;
			}
		}
	}
	if (!any)
		buf_append_str(out, "; none");
}

/* Appends a tag; tags are separated by exactly "; " and never folded: the
 * suite's reproducible form (the seal covers the message signature as
 * written, and folding inside b= would survive relaxed canonicalisation
 * as a space). A set stays well under the 998-octet line limit. */
static void
add_tag(struct buf *f, size_t *col, bool first, const char *tag)
{
	if (!first)
		buf_append_str(f, "; ");
	buf_append_str(f, tag);
	*col += strlen(tag) + 2;
}

/* Inserts the base64 signature after "b=" of an unsigned field. */
static char *
insert_b(const char *field, const char *sig)
{
	const char *b = strstr(field, " b=;");
	struct buf out;

	if (b == NULL)
		return NULL;
	buf_init(&out);
	buf_append(&out, field, (size_t)(b - field) + 3);
	buf_append_str(&out, sig);
	buf_append_str(&out, b + 3);
	return buf_detach(&out);
}

static char *
lower(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

int
arc_seal(const struct dkim_sign_key *key, const struct arc_seal_options *opts,
	 const struct mail_headers *headers, const char *msg, size_t len,
	 enum arc_cv chain_cv, char **aar_r, char **ams_r, char **as_r,
	 const char **error_r)
{
	struct arc_set sets[ARC_MAX_INSTANCES + 1];
	const char *reason = NULL,
		   *alg = key->ed25519 ? "ed25519-sha256" : "rsa-sha256";
	int n;
	struct buf aar, ams, as, data;
	struct mail_headers with;
	struct mail_header *items;
	struct dkim_body_hash *bhash;
	char bh[45], *tag, *sig = NULL, *d = lower(key->domain),
			   *h = lower(opts->sign_headers);
	size_t col;
	int rc = -1;

	*aar_r = *ams_r = *as_r = NULL;
	memset(sets, 0, sizeof(sets));
	n = collect_sets(headers, sets, &reason);
	if (n < 0 || n >= ARC_MAX_INSTANCES ||
	    (n > 0 && strcmp(dkim_tags_get(&sets[n].as_tags, "cv") != NULL
				 ? dkim_tags_get(&sets[n].as_tags, "cv")
				 : "",
			     "fail") == 0)) {
		*error_r = n < 0 ? reason
			   : n >= ARC_MAX_INSTANCES
			       ? "too many ARC instances"
			       : "the chain failed before: no set is added";
		sets_clear(sets, ARC_MAX_INSTANCES + 1);
		free(d);
		free(h);
		return -1;
	}
	n++;

	/* ARC-Authentication-Results */
	buf_init(&aar);
	buf_printf(&aar, "ARC-Authentication-Results: i=%d; ", n);
	if (opts->results != NULL)
		buf_append_str(&aar, opts->results);
	else
		consolidate_ar(headers, opts->authserv_id, &aar);

	/* ARC-Message-Signature over the headers plus the new AAR */
	bhash = dkim_body_hash_new(DKIM_C14N_RELAXED, -1);
	if (headers->body_offset < len)
		dkim_body_hash_update(bhash, msg + headers->body_offset,
				      len - headers->body_offset);
	dkim_body_hash_final(&bhash, bh);
	buf_init(&ams);
	buf_append_str(&ams, "ARC-Message-Signature: ");
	col = 23;
	tag = xasprintf("a=%s", alg);
	add_tag(&ams, &col, true, tag);
	free(tag);
	add_tag(&ams, &col, false, "b=");
	tag = xasprintf("bh=%s", bh);
	add_tag(&ams, &col, false, tag);
	free(tag);
	add_tag(&ams, &col, false, "c=relaxed/relaxed");
	tag = xasprintf("d=%s", d);
	add_tag(&ams, &col, false, tag);
	free(tag);
	tag = xasprintf("h=%s", h);
	add_tag(&ams, &col, false, tag);
	free(tag);
	tag = xasprintf("i=%d", n);
	add_tag(&ams, &col, false, tag);
	free(tag);
	tag = xasprintf("s=%s", key->selector);
	add_tag(&ams, &col, false, tag);
	free(tag);
	tag = xasprintf("t=%lld", (long long)opts->now);
	add_tag(&ams, &col, false, tag);
	free(tag);

	items = xcalloc(headers->count + 1, sizeof(*items));
	items[0].field = aar.data;
	items[0].len = aar.len;
	items[0].name = aar.data;
	items[0].name_len = strlen("ARC-Authentication-Results");
	memcpy(items + 1, headers->items, headers->count * sizeof(*items));
	with.items = items;
	with.count = headers->count + 1;
	with.body_offset = headers->body_offset;
	buf_init(&data);
	dkim_canon_selected(DKIM_C14N_RELAXED, &with, h, NULL, &data);
	dkim_canon_header(DKIM_C14N_RELAXED, ams.data, ams.len, false, &data);
	free(items);
	if (dkim_sign_data(key->pkey, data.data, data.len, &sig) < 0) {
		*error_r = "signing failed";
		goto out;
	}
	*ams_r = insert_b(buf_cstr(&ams), sig);
	x_free(&sig);
	if (*ams_r == NULL) {
		*error_r = "cannot place the signature";
		goto out;
	}

	/* ARC-Seal */
	buf_init(&as);
	buf_append_str(&as, "ARC-Seal: ");
	col = 10;
	tag = xasprintf("a=%s", alg);
	add_tag(&as, &col, true, tag);
	free(tag);
	add_tag(&as, &col, false, "b=");
	tag = xasprintf("cv=%s", arc_cv_name(n == 1 ? ARC_CV_NONE : chain_cv));
	add_tag(&as, &col, false, tag);
	free(tag);
	tag = xasprintf("d=%s", d);
	add_tag(&as, &col, false, tag);
	free(tag);
	tag = xasprintf("i=%d", n);
	add_tag(&as, &col, false, tag);
	free(tag);
	tag = xasprintf("s=%s", key->selector);
	add_tag(&as, &col, false, tag);
	free(tag);
	tag = xasprintf("t=%lld", (long long)opts->now);
	add_tag(&as, &col, false, tag);
	free(tag);

	buf_reset(&data);
	/* RFC 8617 5.1.1: a seal with cv=fail covers its own set only */
	for (int j = 1; j < n && chain_cv != ARC_CV_FAIL; j++) {
		if (sets[j].aar == NULL || sets[j].ams == NULL ||
		    sets[j].as == NULL)
			continue;
		dkim_canon_header(DKIM_C14N_RELAXED, sets[j].aar->field,
				  sets[j].aar->len, true, &data);
		dkim_canon_header(DKIM_C14N_RELAXED, sets[j].ams->field,
				  sets[j].ams->len, true, &data);
		dkim_canon_header(DKIM_C14N_RELAXED, sets[j].as->field,
				  sets[j].as->len, true, &data);
	}
	dkim_canon_header(DKIM_C14N_RELAXED, aar.data, aar.len, true, &data);
	dkim_canon_header(DKIM_C14N_RELAXED, *ams_r, strlen(*ams_r), true,
			  &data);
	dkim_canon_header(DKIM_C14N_RELAXED, as.data, as.len, false, &data);
	if (dkim_sign_data(key->pkey, data.data, data.len, &sig) < 0) {
		*error_r = "signing failed";
		goto out_as;
	}
	*as_r = insert_b(buf_cstr(&as), sig);
	free(sig);
	if (*as_r == NULL) {
		*error_r = "cannot place the signature";
		goto out_as;
	}
	*aar_r = buf_detach(&aar);
	rc = 0;
out_as:
	buf_free(&as);
out:
	if (rc < 0)
		x_free(ams_r);
	sets_clear(sets, ARC_MAX_INSTANCES + 1);
	buf_free(&aar);
	buf_free(&ams);
	buf_free(&data);
	free(d);
	free(h);
	return rc;
}
