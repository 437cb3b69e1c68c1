/*
 * arc: Authenticated Received Chain (RFC 8617). arc_verify() validates the
 * chain of ARC sets of an incoming message (structure, the newest
 * ARC-Message-Signature, every ARC-Seal) with keys from a struct dkim_keys;
 * arc_seal() adds Moat's own set (ARC-Authentication-Results,
 * ARC-Message-Signature, ARC-Seal) to a message it relays on. Built on
 * dkim_canon (canonicalisation, OpenSSL signatures): libopendkim has no ARC.
 */
#ifndef MOAT_ARC_H
#define MOAT_ARC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "filters/dkim_keys.h"
#include "filters/dkim_sign.h"
#include "filters/dkim_tags.h"

#define ARC_MAX_INSTANCES 50

enum arc_cv {
	ARC_CV_NONE,
	ARC_CV_PASS,
	ARC_CV_FAIL,
};

const char *arc_cv_name(enum arc_cv cv);

struct arc_result {
	enum arc_cv cv;
	unsigned instances; /* N, the newest instance (0: no chain) */
	const char *reason; /* static, when fail */
	bool tempfail;	    /* a key lookup failed (cv is fail) */
	char domain[256];   /* d= of the newest ARC-Seal */
};

/* Validates the chain. headers split from msg (CRLF). */
void arc_verify(const struct mail_headers *headers, const char *msg, size_t len,
		const struct dkim_keys *keys, struct arc_result *result_r);

/* Key names of every ARC-Seal and ARC-Message-Signature (max 2 * 50). */
size_t arc_key_names(const struct mail_headers *headers, char ***names_r);

struct arc_seal_options {
	const char *authserv_id;
	const char *sign_headers; /* colon-separated, as written in h= */
	time_t now;		  /* t= */
	/* AAR payload after "i=N; ": NULL = consolidate the message's
	 * Authentication-Results fields that carry authserv_id. */
	const char *results;
};

/* Makes the next ARC set. chain_cv is the validation result of the
 * existing chain (arc_verify). Each output is the whole field
 * ("ARC-Seal: ..."), without the final CRLF (allocated). Returns 0, or -1
 * with *error_r (static): a malformed chain, too many instances, a
 * signing failure, or a newest seal with cv=fail (RFC 8617 5.1.2: no set
 * is added after that). A chain that fails validation now is sealed with
 * cv=fail. */
int arc_seal(const struct dkim_sign_key *key,
	     const struct arc_seal_options *opts,
	     const struct mail_headers *headers, const char *msg, size_t len,
	     enum arc_cv chain_cv, char **aar_r, char **ams_r, char **as_r,
	     const char **error_r);

#endif
