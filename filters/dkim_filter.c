/*
 * dkim_filter: the "dkim" filter (verification of every DKIM-Signature)
 * and the "dkim_sign" filter (signing mail that authenticated users
 * submit).
 *
 * dkim: key records of every signature are looked up first (lib/dns via
 * filter_dns_lookup), then libopendkim verifies while the body streams
 * through the chain's pull reader. Each signature becomes an
 * Authentication-Results entry (dkim=pass header.d=... header.s=...
 * header.b=...); the results are left as struct dkim_verify_result for
 * DMARC (filter_data(ctx, "dkim")). Symbols: DKIM_VALID, DKIM_INVALID,
 * DKIM_TEMPERROR, DKIM_PERMERROR, DKIM_NONE, and DKIM_BODY_LENGTH (l=
 * present) / DKIM_BODY_LENGTH_UNSIGNED (content after the signed length:
 * the classic l= abuse). DKIM never rejects by itself.
 *
 * dkim_sign: for sessions with an authenticated user, the RFC5322.From
 * domain's active key (the key store of `moatctl dkim`, kept loaded and
 * reloaded when the active key changes) signs; the DKIM-Signature goes in
 * as a header edit.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "filters/auth_common.h"
#include "filters/dkim_sign.h"
#include "filters/dkim_verify.h"
#include "filters/dmarc.h"
#include "filters/filter.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* --- dkim (verify) --------------------------------------------------- */

struct dkim_filter_settings {
	long long max_signatures;
	long long min_key_bits;
};

#define V(field) offsetof(struct dkim_filter_settings, field)
static const struct setting_def dkim_filter_defs[] = {
    {"max_signatures", SETTING_INT, "10", V(max_signatures), 1, 50, NULL,
     "signatures verified per message; further ones are ignored"},
    {"min_key_bits", SETTING_INT, "1024", V(min_key_bits), 512, 8192, NULL,
     "RSA keys shorter than this give dkim=policy (RFC 8301: 1024)"},
};
#undef V

static int
dkim_filter_init(const void *settings, void **state_r, char **error_r)
{
	const struct dkim_filter_settings *set = settings;
	struct dkim_verify_options opts = {0};
	struct dkim_verifier *v;

	opts.max_signatures = (unsigned)set->max_signatures;
	opts.min_key_bits = (unsigned)set->min_key_bits;
	v = dkim_verifier_new(&opts, error_r);
	if (v == NULL)
		return -1;
	if (!dkim_verifier_has_ed25519(v))
		log_warnx("dkim: libopendkim without Ed25519: such signatures "
			  "are permerror");
	*state_r = v;
	return 0;
}

static void
dkim_filter_fini(void *state)
{
	struct dkim_verifier *v = state;

	dkim_verifier_free(&v);
}

static void
dkim_result_free(void *data)
{
	struct dkim_verify_result *r = data;

	dkim_verify_result_clear(r);
	free(r);
}

static void
dkim_symbols(struct filter_context *ctx, const struct dkim_verify_result *r)
{
	bool valid = false, invalid = false, temp = false, perm = false;
	bool length = false, unsigned_tail = false;

	for (size_t i = 0; i < r->count; i++) {
		switch (r->sigs[i].result) {
		case DKIM_RESULT_PASS:
			valid = true;
			break;
		case DKIM_RESULT_FAIL:
			invalid = true;
			break;
		case DKIM_RESULT_TEMPERROR:
			temp = true;
			break;
		default:
			perm = true;
		}
		length |= r->sigs[i].body_length;
		unsigned_tail |= r->sigs[i].body_unsigned;
	}
	if (r->count == 0)
		filter_add_symbol(ctx, "DKIM_NONE", 0.0, NULL);
	if (valid)
		filter_add_symbol(ctx, "DKIM_VALID", -0.1, NULL);
	if (invalid)
		filter_add_symbol(ctx, "DKIM_INVALID", 1.0, NULL);
	if (temp)
		filter_add_symbol(ctx, "DKIM_TEMPERROR", 0.0, NULL);
	if (perm)
		filter_add_symbol(ctx, "DKIM_PERMERROR", 0.5, NULL);
	if (length)
		filter_add_symbol(ctx, "DKIM_BODY_LENGTH", 0.5,
				  "a signature covers part of the body (l=)");
	if (unsigned_tail)
		filter_add_symbol(ctx, "DKIM_BODY_LENGTH_UNSIGNED", 3.0,
				  "content after the signed body length");
}

static int
dkim_filter_run(void *state, struct filter_context *ctx,
		enum filter_phase phase)
{
	struct dkim_verifier *verifier = state;
	const struct filter_envelope *env = filter_envelope(ctx);
	struct mail_headers headers;
	struct dkim_keys *keys = dkim_keys_new();
	struct dkim_verify_result *result = xcalloc(1, sizeof(*result));
	struct dkim_verify *v;
	struct filter_reader *reader;
	const unsigned char *chunk;
	size_t size;
	char **names = NULL;
	size_t n;
	int rc;
	const char *error = NULL;

	(void)phase;
	auth_headers(ctx, &headers);
	n = dkim_key_names(&headers, "DKIM-Signature", 50, &names);
	auth_lookup_keys(ctx, names, n, keys);
	auth_names_free(names, n);

	v = dkim_verify_begin(verifier, keys, env->qid);
	for (size_t i = 0; i < headers.count; i++)
		dkim_verify_header(v, headers.items[i].field,
				   headers.items[i].len);
	reader = filter_reader_new(ctx, false);
	while ((rc = filter_reader_read(reader, &chunk, &size)) == 1)
		dkim_verify_body(v, (const char *)chunk, size);
	filter_reader_free(&reader);
	if (rc < 0 || dkim_verify_end(&v, result, &error) < 0) {
		if (v != NULL)
			(void)dkim_verify_end(&v, result, &error);
		filter_set_error(ctx, "%s",
				 error != NULL ? error : "cannot read body");
		dkim_result_free(result);
		dkim_keys_free(&keys);
		mail_headers_clear(&headers);
		return -1;
	}
	for (size_t i = 0; i < result->count; i++) {
		const struct dkim_sig_result *s = &result->sigs[i];
		char *props = xasprintf("header.d=%s header.s=%s header.b=%s",
					s->domain, s->selector, s->b_prefix);

		filter_add_auth_result(ctx, "dkim", dkim_result_name(s->result),
				       s->reason, props);
		free(props);
	}
	if (result->count == 0)
		filter_add_auth_result(ctx, "dkim", "none", NULL, NULL);
	dkim_symbols(ctx, result);
	filter_set_data(ctx, result, dkim_result_free);
	dkim_keys_free(&keys);
	mail_headers_clear(&headers);
	return 0;
}

const struct filter filter_dkim = {
    .name = "dkim",
    .phases = FILTER_PHASE_DATA,
    .after = NULL,
    .settings = dkim_filter_defs,
    .settings_count = sizeof(dkim_filter_defs) / sizeof(dkim_filter_defs[0]),
    .settings_size = sizeof(struct dkim_filter_settings),
    .check = NULL,
    .init = dkim_filter_init,
    .run = dkim_filter_run,
    .abort = NULL,
    .fini = dkim_filter_fini,
};

/* --- dkim_sign ------------------------------------------------------- */

struct dkim_sign_settings {
	char *key_dir;
	char *headers;
	char *canonicalization;
};

static int
dkim_sign_parse_c(const char *c, enum dkim_c14n *h_r, enum dkim_c14n *b_r)
{
	const char *slash = strchr(c, '/');

	if (dkim_c14n_parse(c, slash != NULL ? (size_t)(slash - c) : strlen(c),
			    h_r) < 0)
		return -1;
	*b_r = DKIM_C14N_SIMPLE;
	return slash == NULL ||
		       dkim_c14n_parse(slash + 1, strlen(slash + 1), b_r) == 0
		   ? 0
		   : -1;
}

static int
dkim_sign_validate_c(const void *field, const char **error_r)
{
	enum dkim_c14n h, b;

	if (dkim_sign_parse_c(*(char *const *)field, &h, &b) < 0) {
		*error_r = "must be simple or relaxed, optionally /simple or "
			   "/relaxed";
		return -1;
	}
	return 0;
}

static int
dkim_sign_validate_headers(const void *field, const char **error_r)
{
	const char *v = *(char *const *)field;

	for (; *v != '\0'; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
		      (*v >= '0' && *v <= '9') || *v == '-' || *v == ':')) {
			*error_r = "header names separated by ':'";
			return -1;
		}
	return 0;
}

#define S(field) offsetof(struct dkim_sign_settings, field)
static const struct setting_def dkim_sign_defs[] = {
    {"key_dir", SETTING_PATH, "", S(key_dir), 0, 0, NULL,
     "DKIM key store written by `moatctl dkim genkey` (empty: "
     "DATA_DIR/dkim)"},
    {"headers", SETTING_STRING, DKIM_SIGN_DEFAULT_HEADERS, S(headers), 0, 0,
     dkim_sign_validate_headers,
     "header fields signed when present, ':'-separated (From is always "
     "signed, and over-signed once)"},
    {"canonicalization", SETTING_STRING, "relaxed/relaxed", S(canonicalization),
     0, 0, dkim_sign_validate_c,
     "header/body canonicalization: simple or relaxed each"},
};
#undef S

/* Loaded keys by domain, reloaded when DOMAIN/active changes (genkey
 * renames a new one into place). Shared by the worker threads. */
struct dkim_key_cache_entry {
	char *domain;
	struct timespec active_mtime;
	struct dkim_sign_key *key;
};

struct dkim_sign_state {
	const struct dkim_sign_settings *set;
	struct dkim_sign_options opts;
	char *headers; /* always starting with from */
	pthread_mutex_t lock;
	struct dkim_key_cache_entry *cache;
	size_t cache_count;
};

/* A copy of key sharing its EVP_PKEY (reference counted). */
static struct dkim_sign_key *
key_ref(const struct dkim_sign_key *key)
{
	struct dkim_sign_key *k = xcalloc(1, sizeof(*k));

	k->domain = xstrdup(key->domain);
	k->selector = xstrdup(key->selector);
	k->ed25519 = key->ed25519;
	EVP_PKEY_up_ref(key->pkey);
	k->pkey = key->pkey;
	return k;
}

/* dkim_keystore_load() through the cache: 1, 0 or -1 like it. */
static int
dkim_sign_key_get(struct dkim_sign_state *st, const char *domain,
		  struct dkim_sign_key **key_r, char **error_r)
{
	char *path = xasprintf("%s/%s/active", st->set->key_dir, domain);
	struct stat sb;
	struct dkim_key_cache_entry *e = NULL;
	int rc;

	*key_r = NULL;
	if (!dkim_keystore_name_ok(domain) || stat(path, &sb) < 0) {
		free(path);
		return 0;
	}
	free(path);
	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < st->cache_count && e == NULL; i++)
		if (strcmp(st->cache[i].domain, domain) == 0)
			e = &st->cache[i];
	if (e != NULL && e->active_mtime.tv_sec == sb.st_mtim.tv_sec &&
	    e->active_mtime.tv_nsec == sb.st_mtim.tv_nsec) {
		*key_r = key_ref(e->key);
		pthread_mutex_unlock(&st->lock);
		return 1;
	}
	rc = dkim_keystore_load(st->set->key_dir, domain, key_r, error_r);
	if (rc == 1) {
		if (e == NULL) {
			st->cache = xreallocarray(
			    st->cache, st->cache_count + 1, sizeof(*st->cache));
			e = &st->cache[st->cache_count++];
			e->domain = xstrdup(domain);
		} else {
			dkim_sign_key_free(&e->key);
		}
		e->active_mtime = sb.st_mtim;
		e->key = key_ref(*key_r);
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int
dkim_sign_init(const void *settings, void **state_r, char **error_r)
{
	const struct dkim_sign_settings *set = settings;
	struct dkim_sign_state *st = xcalloc(1, sizeof(*st));

	if (set->key_dir[0] == '\0') {
		*error_r = xstrdup("filter.dkim_sign.key_dir is not set");
		free(st);
		return -1;
	}
	st->set = set;
	(void)dkim_sign_parse_c(set->canonicalization, &st->opts.header_c14n,
				&st->opts.body_c14n);
	st->headers = xasprintf("from:%s", set->headers);
	pthread_mutex_init(&st->lock, NULL);
	st->opts.headers = st->headers;
	*state_r = st;
	return 0;
}

static void
dkim_sign_fini(void *state)
{
	struct dkim_sign_state *st = state;

	for (size_t i = 0; i < st->cache_count; i++) {
		free(st->cache[i].domain);
		dkim_sign_key_free(&st->cache[i].key);
	}
	free(st->cache);
	pthread_mutex_destroy(&st->lock);
	free(st->headers);
	free(st);
}

static int
dkim_sign_run(void *state, struct filter_context *ctx, enum filter_phase phase)
{
	struct dkim_sign_state *st = state;
	const struct filter_envelope *env = filter_envelope(ctx);
	struct mail_headers headers;
	struct dkim_sign_key *key = NULL;
	struct dkim_sign_options opts = st->opts;
	struct buf msg;
	char *domain = NULL, *error = NULL, *field = NULL;
	const char *serr = NULL;
	int rc;

	(void)phase;
	if (env->auth_user == NULL)
		return 0;
	auth_headers(ctx, &headers);
	if (dmarc_from_domain(&headers, &domain) < 0) {
		filter_add_symbol(ctx, "DKIM_SIGN_NO_FROM", 0.0,
				  "no single From address to sign for");
		mail_headers_clear(&headers);
		return 0;
	}
	rc = dkim_sign_key_get(st, domain, &key, &error);
	if (rc <= 0) {
		if (rc < 0) {
			filter_set_error(ctx, "dkim key of %s: %s", domain,
					 error);
			free(error);
		}
		free(domain);
		mail_headers_clear(&headers);
		return rc;
	}
	if (auth_read_message(ctx, &msg) < 0) {
		dkim_sign_key_free(&key);
		free(domain);
		mail_headers_clear(&headers);
		return -1;
	}
	/* the header edits go under the chain's parse: sign that view */
	rc = dkim_sign_message(key, &opts, msg.data, msg.len, &headers, &field,
			       &serr);
	if (rc == 0) {
		filter_add_header(ctx, "DKIM-Signature",
				  field + strlen("DKIM-Signature: "));
		filter_add_symbol(ctx, "DKIM_SIGNED", 0.0, domain);
	} else {
		filter_set_error(ctx, "signing for %s: %s", domain, serr);
	}
	free(field);
	buf_free(&msg);
	dkim_sign_key_free(&key);
	free(domain);
	mail_headers_clear(&headers);
	return rc;
}

const struct filter filter_dkim_sign = {
    .name = "dkim_sign",
    .phases = FILTER_PHASE_DATA,
    .after = NULL,
    .settings = dkim_sign_defs,
    .settings_count = sizeof(dkim_sign_defs) / sizeof(dkim_sign_defs[0]),
    .settings_size = sizeof(struct dkim_sign_settings),
    .check = NULL,
    .init = dkim_sign_init,
    .run = dkim_sign_run,
    .abort = NULL,
    .fini = dkim_sign_fini,
};
