/*
 * dkim_verify: DKIM signature verification (RFC 6376, RSA and RFC 8463
 * Ed25519) on libopendkim. Every signature of a message is checked and
 * reported on its own (domain, selector, result), for
 * Authentication-Results and for DMARC. Key records come from a
 * struct dkim_keys filled through lib/dns beforehand; libopendkim's DNS
 * hooks (init, close, start, cancel, wait) are all replaced so that it
 * never opens a resolver of its own.
 */
#ifndef MOAT_DKIM_VERIFY_H
#define MOAT_DKIM_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "filters/dkim_keys.h"

enum dkim_result {
	DKIM_RESULT_NONE,
	DKIM_RESULT_PASS,
	DKIM_RESULT_FAIL,
	DKIM_RESULT_POLICY,
	DKIM_RESULT_NEUTRAL,
	DKIM_RESULT_TEMPERROR,
	DKIM_RESULT_PERMERROR,
};

/* "pass", "fail", ... as RFC 8601 spells them. */
const char *dkim_result_name(enum dkim_result result);

struct dkim_sig_result {
	enum dkim_result result;
	char *domain;	    /* d= (lower case), "" if absent */
	char *selector;	    /* s=, "" if absent */
	char *identity;	    /* i=, or NULL */
	char *algorithm;    /* a=, "" if absent */
	char *b_prefix;	    /* first 8 characters of b= (RFC 6008 header.b) */
	const char *reason; /* static text when not pass, else NULL */
	unsigned key_bits;
	bool body_length;   /* an l= tag is present */
	bool body_unsigned; /* l= covers less than the whole body */
};

struct dkim_verify_result {
	size_t count;
	struct dkim_sig_result *sigs;
};

void dkim_verify_result_clear(struct dkim_verify_result *result);

struct dkim_verify_options {
	time_t fixed_time;	 /* 0 = now; test vectors use their own time */
	unsigned min_key_bits;	 /* 0 = 1024 (RFC 8301) */
	unsigned max_signatures; /* 0 = 10; further ones are ignored */
};

struct dkim_verifier;

/* One per process (a libopendkim library handle); safe to share between
 * threads. Returns NULL with *error_r (allocated) on failure. */
struct dkim_verifier *dkim_verifier_new(const struct dkim_verify_options *opts,
					char **error_r);
void dkim_verifier_free(struct dkim_verifier **verifier);
/* Whether the library verifies Ed25519 (false: such signatures permerror).
 */
bool dkim_verifier_has_ed25519(const struct dkim_verifier *verifier);

/* Verifies one message: headers already split from msg (CRLF lines), body
 * at headers->body_offset. keys must answer every name that
 * dkim_key_names(headers, "DKIM-Signature") listed. Returns 0 with
 * *result_r filled (count 0: no signature), or -1 with *error_r (static)
 * on an internal failure. */
int dkim_verify_message(struct dkim_verifier *verifier,
			const struct dkim_keys *keys, const char *id,
			const char *msg, size_t len,
			const struct mail_headers *headers,
			struct dkim_verify_result *result_r,
			const char **error_r);

/* Streaming form of the same, for a pull reader over the body. */
struct dkim_verify;
struct dkim_verify *dkim_verify_begin(struct dkim_verifier *verifier,
				      const struct dkim_keys *keys,
				      const char *id);
void dkim_verify_header(struct dkim_verify *v, const char *field, size_t len);
void dkim_verify_body(struct dkim_verify *v, const char *data, size_t len);
/* Finishes and frees *v. Returns 0 or -1 like dkim_verify_message(). */
int dkim_verify_end(struct dkim_verify **v, struct dkim_verify_result *result_r,
		    const char **error_r);

#endif
