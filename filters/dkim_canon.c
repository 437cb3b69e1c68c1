/*
 * dkim_canon: the byte-exact parts of DKIM that Moat computes itself, for
 * signing (dkim_sign) and for ARC (arc), both of which libopendkim cannot
 * do for us (its Ed25519 signer leaks; it has no ARC). Canonicalisation
 * follows RFC 6376 3.4 exactly: simple keeps header fields as they are and
 * drops trailing empty body lines (an empty body is one CRLF); relaxed
 * lower-cases names, unfolds, collapses whitespace runs, strips trailing
 * whitespace and trailing empty lines (an empty body is empty). The body
 * hash streams line by line so a pull reader can feed it.
 */
#include "filters/dkim_canon.h"

#include <ctype.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"

int
dkim_c14n_parse(const char *name, size_t len, enum dkim_c14n *c14n_r)
{
	if (len == 6 && strncasecmp(name, "simple", 6) == 0)
		*c14n_r = DKIM_C14N_SIMPLE;
	else if (len == 7 && strncasecmp(name, "relaxed", 7) == 0)
		*c14n_r = DKIM_C14N_RELAXED;
	else
		return -1;
	return 0;
}

const char *
dkim_c14n_name(enum dkim_c14n c14n)
{
	return c14n == DKIM_C14N_RELAXED ? "relaxed" : "simple";
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

void
dkim_canon_header(enum dkim_c14n c14n, const char *field, size_t len, bool crlf,
		  struct buf *out)
{
	const char *colon = memchr(field, ':', len);
	size_t name_len, i;
	bool space = false, started = false;

	if (c14n == DKIM_C14N_SIMPLE || colon == NULL) {
		buf_append(out, field, len);
		if (crlf)
			buf_append(out, "\r\n", 2);
		return;
	}
	name_len = (size_t)(colon - field);
	while (name_len > 0 && is_wsp(field[name_len - 1]))
		name_len--;
	for (i = 0; i < name_len; i++)
		buf_append_char(out, (char)tolower((unsigned char)field[i]));
	buf_append_char(out, ':');
	for (i = name_len + 1; i < len; i++) {
		char c = field[i];

		if (i <= (size_t)(colon - field))
			continue;
		if (c == '\r' || c == '\n')
			continue;
		if (is_wsp(c)) {
			space = started;
			continue;
		}
		if (space)
			buf_append_char(out, ' ');
		space = false;
		started = true;
		buf_append_char(out, c);
	}
	if (crlf)
		buf_append(out, "\r\n", 2);
}

struct dkim_body_hash {
	enum dkim_c14n c14n;
	long long remaining; /* -1: unlimited */
	EVP_MD_CTX *sha;
	struct buf line;
	size_t pending_empty;
	bool any; /* a non-empty line was emitted */
};

struct dkim_body_hash *
dkim_body_hash_new(enum dkim_c14n c14n, long long limit)
{
	struct dkim_body_hash *h = xcalloc(1, sizeof(*h));

	h->c14n = c14n;
	h->remaining = limit;
	h->sha = EVP_MD_CTX_new();
	if (h->sha == NULL ||
	    EVP_DigestInit_ex(h->sha, EVP_sha256(), NULL) != 1)
		abort();
	buf_init(&h->line);
	return h;
}

static void
body_emit(struct dkim_body_hash *h, const char *data, size_t len)
{
	if (h->remaining >= 0) {
		if ((long long)len > h->remaining)
			len = (size_t)h->remaining;
		h->remaining -= (long long)len;
	}
	if (len > 0)
		(void)EVP_DigestUpdate(h->sha, data, len);
}

static void
body_line(struct dkim_body_hash *h, const char *p, size_t len)
{
	struct buf tmp;

	if (h->c14n == DKIM_C14N_RELAXED) {
		bool space = false;

		buf_init(&tmp);
		for (size_t i = 0; i < len; i++) {
			if (is_wsp(p[i])) {
				space = true;
				continue;
			}
			if (space)
				buf_append_char(&tmp, ' ');
			space = false;
			buf_append_char(&tmp, p[i]);
		}
		p = buf_cstr(&tmp);
		len = tmp.len;
	}
	if (len == 0) {
		h->pending_empty++;
	} else {
		for (; h->pending_empty > 0; h->pending_empty--)
			body_emit(h, "\r\n", 2);
		body_emit(h, p, len);
		body_emit(h, "\r\n", 2);
		h->any = true;
	}
	if (h->c14n == DKIM_C14N_RELAXED)
		buf_free(&tmp);
}

void
dkim_body_hash_update(struct dkim_body_hash *h, const char *data, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - data) : len;

		buf_append(&h->line, data, n);
		if (nl == NULL)
			return;
		if (h->line.len > 0 && h->line.data[h->line.len - 1] == '\r')
			h->line.len--;
		body_line(h, buf_cstr(&h->line), h->line.len);
		buf_reset(&h->line);
		data += n + 1;
		len -= n + 1;
	}
}

void
dkim_body_hash_final(struct dkim_body_hash **hp, char out[45])
{
	struct dkim_body_hash *h = *hp;
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *b64;

	if (h->line.len > 0)
		body_line(h, buf_cstr(&h->line), h->line.len);
	if (!h->any && h->c14n == DKIM_C14N_SIMPLE)
		body_emit(h, "\r\n", 2);
	(void)EVP_DigestFinal_ex(h->sha, md, NULL);
	EVP_MD_CTX_free(h->sha);
	b64 = dkim_base64(md, sizeof(md));
	snprintf(out, 45, "%s", b64);
	free(b64);
	buf_free(&h->line);
	x_free(hp);
}

void
dkim_canon_selected(enum dkim_c14n c14n, const struct mail_headers *hdrs,
		    const char *h_list, const struct mail_header *skip,
		    struct buf *out)
{
	bool *used = xcalloc(hdrs->count + 1, sizeof(*used));
	const char *p = h_list;

	while (*p != '\0') {
		const char *end = strchr(p, ':');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);

		for (size_t i = hdrs->count; n > 0 && i > 0; i--) {
			const struct mail_header *h = &hdrs->items[i - 1];

			if (used[i - 1] || h == skip || h->name_len != n ||
			    strncasecmp(h->name, p, n) != 0)
				continue;
			used[i - 1] = true;
			dkim_canon_header(c14n, h->field, h->len, true, out);
			break;
		}
		p += n;
		if (*p == ':')
			p++;
	}
	free(used);
}

void
dkim_strip_b_value(const char *field, size_t len, struct buf *out)
{
	const char *colon = memchr(field, ':', len);
	size_t pos = colon != NULL ? (size_t)(colon - field) + 1 : len;

	while (pos < len) {
		const char *semi = memchr(field + pos, ';', len - pos);
		size_t end = semi != NULL ? (size_t)(semi - field) : len;
		const char *eq = memchr(field + pos, '=', end - pos);

		if (eq != NULL) {
			size_t ns = pos, ne = (size_t)(eq - field);

			while (ns < ne && isspace((unsigned char)field[ns]))
				ns++;
			while (ne > ns && isspace((unsigned char)field[ne - 1]))
				ne--;
			if (ne - ns == 1 && field[ns] == 'b') {
				size_t vstart = (size_t)(eq - field) + 1;

				buf_append(out, field, vstart);
				buf_append(out, field + end, len - end);
				return;
			}
		}
		pos = end + 1;
	}
	buf_append(out, field, len);
}

char *
dkim_base64(const unsigned char *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

unsigned char *
dkim_unbase64(const char *text, size_t *len_r)
{
	size_t n = strlen(text), o = 0, pad = 0;
	char *clean = xmalloc(n + 1);
	unsigned char *out;
	int got;

	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)text[i]))
			clean[o++] = text[i];
	clean[o] = '\0';
	if (o == 0 || o % 4 != 0 || o > 65536) {
		free(clean);
		return NULL;
	}
	if (clean[o - 1] == '=')
		pad++;
	if (clean[o - 2] == '=')
		pad++;
	out = xmalloc(o / 4 * 3 + 1);
	got = EVP_DecodeBlock(out, (unsigned char *)clean, (int)o);
	free(clean);
	if (got < 0 || (size_t)got < pad) {
		free(out);
		return NULL;
	}
	*len_r = (size_t)got - pad;
	return out;
}

int
dkim_sign_data(EVP_PKEY *key, const char *data, size_t len, char **sig_r)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[SHA256_DIGEST_LENGTH], *sig = NULL;
	size_t siglen = 0;
	int rc = -1;
	bool ed = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519;

	if (ctx == NULL)
		return -1;
	if (ed) {
		SHA256((const unsigned char *)data, len, md);
		if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
		    EVP_DigestSign(ctx, NULL, &siglen, md, sizeof(md)) == 1) {
			sig = xmalloc(siglen);
			if (EVP_DigestSign(ctx, sig, &siglen, md, sizeof(md)) ==
			    1)
				rc = 0;
		}
	} else if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) ==
		       1 &&
		   EVP_DigestSignUpdate(ctx, data, len) == 1 &&
		   EVP_DigestSignFinal(ctx, NULL, &siglen) == 1) {
		sig = xmalloc(siglen);
		if (EVP_DigestSignFinal(ctx, sig, &siglen) == 1)
			rc = 0;
	}
	if (rc == 0)
		*sig_r = dkim_base64(sig, siglen);
	free(sig);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
dkim_verify_data(EVP_PKEY *key, const char *data, size_t len,
		 const char *sig_b64)
{
	EVP_MD_CTX *ctx;
	unsigned char md[SHA256_DIGEST_LENGTH], *sig;
	size_t siglen;
	int rc = -1;

	sig = dkim_unbase64(sig_b64, &siglen);
	if (sig == NULL)
		return -1;
	ctx = EVP_MD_CTX_new();
	if (ctx != NULL && EVP_PKEY_get_id(key) == EVP_PKEY_ED25519) {
		SHA256((const unsigned char *)data, len, md);
		if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1)
			rc = EVP_DigestVerify(ctx, sig, siglen, md,
					      sizeof(md)) == 1
				 ? 1
				 : 0;
	} else if (ctx != NULL &&
		   EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) ==
		       1 &&
		   EVP_DigestVerifyUpdate(ctx, data, len) == 1) {
		rc = EVP_DigestVerifyFinal(ctx, sig, siglen) == 1 ? 1 : 0;
	}
	EVP_MD_CTX_free(ctx);
	free(sig);
	return rc;
}

EVP_PKEY *
dkim_public_key(const char *k, const char *p_b64)
{
	unsigned char *der;
	const unsigned char *q;
	size_t len;
	EVP_PKEY *key = NULL;

	if (p_b64 == NULL || *p_b64 == '\0')
		return NULL;
	der = dkim_unbase64(p_b64, &len);
	if (der == NULL)
		return NULL;
	if (k != NULL && strcmp(k, "ed25519") == 0) {
		if (len == 32)
			key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519,
							  NULL, der, len);
	} else if (k == NULL || strcmp(k, "rsa") == 0) {
		q = der;
		key = d2i_PUBKEY(NULL, &q, (long)len);
		if (key == NULL) {
			q = der;
			key = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)len);
		}
		if (key != NULL && EVP_PKEY_get_id(key) != EVP_PKEY_RSA) {
			EVP_PKEY_free(key);
			key = NULL;
		}
	}
	free(der);
	return key;
}
