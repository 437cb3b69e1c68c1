/*
 * dkim_canon: DKIM canonicalisation (RFC 6376 3.4), header selection
 * (RFC 6376 5.4.2) and the signature primitives over OpenSSL's EVP API
 * (rsa-sha256, and ed25519-sha256 of RFC 8463: Ed25519 over the SHA-256 of
 * the canonical header data). Shared by dkim_sign and arc; libopendkim is
 * not used for signing (its Ed25519 signer leaks per signature).
 */
#ifndef MOAT_DKIM_CANON_H
#define MOAT_DKIM_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>

#include "filters/dkim_tags.h"
#include "lib/buf.h"

enum dkim_c14n {
	DKIM_C14N_SIMPLE,
	DKIM_C14N_RELAXED,
};

/* "simple" / "relaxed" to enum: 0, or -1 if unknown. */
int dkim_c14n_parse(const char *name, size_t len, enum dkim_c14n *c14n_r);
const char *dkim_c14n_name(enum dkim_c14n c14n);

/* Appends one canonical header field and, if crlf, its CRLF. */
void dkim_canon_header(enum dkim_c14n c14n, const char *field, size_t len,
		       bool crlf, struct buf *out);

/* Streaming body hash (SHA-256), honouring an optional length limit. */
struct dkim_body_hash;
/* limit: bytes of canonical body to hash, or -1 for all. */
struct dkim_body_hash *dkim_body_hash_new(enum dkim_c14n c14n, long long limit);
void dkim_body_hash_update(struct dkim_body_hash *h, const char *data,
			   size_t len);
/* Writes the base64 digest (44 chars + NUL); frees *h. */
void dkim_body_hash_final(struct dkim_body_hash **h, char out[45]);

/* Appends the canonical form of the header fields named in the h= list
 * (colon-separated, as in the tag), each picked from the bottom up as RFC
 * 6376 5.4.2 says; names with no instance left contribute nothing. skip is
 * a field (by pointer) never picked (the signature being verified). */
void dkim_canon_selected(enum dkim_c14n c14n, const struct mail_headers *hdrs,
			 const char *h_list, const struct mail_header *skip,
			 struct buf *out);

/* The field with the value of its b= tag removed (for hashing). */
void dkim_strip_b_value(const char *field, size_t len, struct buf *out);

/* rsa-sha256 or ed25519-sha256 over data. Returns 0 with the base64
 * signature in *sig_r (allocated), or -1. */
int dkim_sign_data(EVP_PKEY *key, const char *data, size_t len, char **sig_r);
/* 1 good, 0 bad, -1 unusable key or signature encoding. */
int dkim_verify_data(EVP_PKEY *key, const char *data, size_t len,
		     const char *sig_b64);
/* Public key from a key record's p= (base64) and k= ("rsa" default,
 * "ed25519"). NULL when malformed or revoked (empty p=). */
EVP_PKEY *dkim_public_key(const char *k, const char *p_b64);

/* Base64 helpers (standard alphabet, whitespace ignored on decode). */
char *dkim_base64(const unsigned char *data, size_t len);
unsigned char *dkim_unbase64(const char *text, size_t *len_r);

#endif
