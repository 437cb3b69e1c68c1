/*
 * dkim_sign: DKIM signatures (rsa-sha256, ed25519-sha256) for mail that
 * authenticated users submit, and the key store behind
 * `moatctl dkim genkey|list|show-dns`. Keys live under DATA_DIR/dkim:
 * DOMAIN/SELECTOR.pem (mode 0600) and DOMAIN/active (the selector in use).
 */
#ifndef MOAT_DKIM_SIGN_H
#define MOAT_DKIM_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/evp.h>

#include "filters/dkim_canon.h"
#include "filters/dkim_tags.h"

/* Signed when present (From is also over-signed once). */
#define DKIM_SIGN_DEFAULT_HEADERS                                              \
	"from:sender:reply-to:subject:date:message-id:to:cc:mime-version:"     \
	"content-type:content-transfer-encoding:in-reply-to:references:"       \
	"list-id:list-unsubscribe"

struct dkim_sign_key {
	char *domain;
	char *selector;
	EVP_PKEY *pkey;
	bool ed25519;
};

void dkim_sign_key_free(struct dkim_sign_key **key);

struct dkim_sign_options {
	enum dkim_c14n header_c14n;
	enum dkim_c14n body_c14n;
	const char *headers; /* colon-separated names; NULL = the default */
	time_t now;	     /* t= ; 0 = time(NULL) */
};

/* Signs msg (CRLF; headers split by mail_headers_parse). On success *field_r
 * is the whole "DKIM-Signature: ..." field, folded, without the final
 * CRLF (allocated). Returns 0, or -1 with *error_r (static). */
int dkim_sign_message(const struct dkim_sign_key *key,
		      const struct dkim_sign_options *opts, const char *msg,
		      size_t len, const struct mail_headers *headers,
		      char **field_r, const char **error_r);

/* Key store. Domain and selector names: letters, digits, '-', '.'.
 * genkey makes the key the active one for the domain; rsa keys are 2048
 * bits. Returns 0 or -1 with *error_r (allocated). */
int dkim_keystore_genkey(const char *dir, const char *domain,
			 const char *selector, bool ed25519, char **error_r);
/* The active key of domain: 1 and *key_r, 0 when none, -1 on error. */
int dkim_keystore_load(const char *dir, const char *domain,
		       struct dkim_sign_key **key_r, char **error_r);
/* One line per key: "domain selector rsa|ed25519 [active]". */
int dkim_keystore_list(const char *dir, char **text_r, char **error_r);
/* The TXT record of the active key, zone-file style. */
int dkim_keystore_dns_record(const char *dir, const char *domain, char **text_r,
			     char **error_r);
/* "v=DKIM1; k=...; p=..." of a key. */
char *dkim_key_record(const struct dkim_sign_key *key);
bool dkim_keystore_name_ok(const char *name);

#endif
