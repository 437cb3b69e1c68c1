/*
 * spf: the SPF filter (RFC 7208) on libspf2, for the MAIL FROM and HELO
 * identities. Its result data, struct spf_result, is what DMARC reads:
 *
 *   const struct spf_result *spf = filter_data(ctx, "spf");
 *
 * The evaluation itself (spf_evaluate) takes any resolver, so the RFC 7208
 * test-suite driver runs exactly the code the filter runs.
 */
#ifndef MOAT_SPF_H
#define MOAT_SPF_H

#include <stdbool.h>
#include <stddef.h>

#include "filters/filter.h"
#include "lib/dns.h"

enum spf_result_code {
	SPF_RESULT_CODE_NONE,
	SPF_RESULT_CODE_NEUTRAL,
	SPF_RESULT_CODE_PASS,
	SPF_RESULT_CODE_FAIL,
	SPF_RESULT_CODE_SOFTFAIL,
	SPF_RESULT_CODE_TEMPERROR,
	SPF_RESULT_CODE_PERMERROR,
};

/* Result data of the "spf" filter (filter_data(ctx, "spf")). */
struct spf_result {
	/* MAIL FROM identity; for the null sender <> this is the HELO
	 * identity (RFC 7208 2.4) and mailfrom_domain is the HELO name. */
	enum spf_result_code mailfrom;
	const char *mailfrom_domain; /* NULL when there was none to check */
	/* HELO identity (filter.spf.helo = yes), else NONE. */
	enum spf_result_code helo;
	const char *helo_domain; /* NULL when not checked */
};

/* "pass", "fail", ... as in RFC 7208 and Authentication-Results. */
const char *spf_result_name(enum spf_result_code code);

/* The lookup spf_evaluate() uses: 0 with *answer_r, or -1. */
struct spf_resolver {
	int (*lookup)(void *arg, const char *name, int rrtype,
		      struct dns_answer **answer_r);
	void *arg;
};

struct spf_evaluation {
	enum spf_result_code result;
	/* Why, for logs and the A-R reason (static or the buffer below). */
	const char *reason;
	bool unsafe_record; /* a record failed spf_record_check() */
	unsigned int void_lookups;
	unsigned int lookups;
	char detail[160];
};

/*
 * Evaluates SPF for client address ip (text), HELO name helo and envelope
 * sender (empty or NULL: the HELO identity is checked). Uses res for every
 * DNS query. Never fails: problems are results (temperror, permerror,
 * none).
 */
void spf_evaluate(const struct spf_resolver *res, const char *ip,
		  const char *helo, const char *sender,
		  struct spf_evaluation *out);

/*
 * The CVE-2023-42118 guard: checks one TXT string before libspf2 sees it.
 * Accepts only printable US-ASCII; every '%' must start "%%", "%_", "%-"
 * or a well-formed macro "%{" letter [digits] ["r"] [delimiters] "}" with
 * letter in [slodiphcrtv] (either case), digits 1..128 without a leading
 * zero, delimiters from ".-+,/_="; each term must fit libspf2's compile
 * buffer with a margin. Returns 0 when the record may be handed to
 * libspf2, -1 with *reason_r (static) otherwise.
 */
int spf_record_check(const char *record, const char **reason_r);

/*
 * RFC 7208 syntax check and normal form of an SPF record, applied before
 * libspf2 compiles it: spf_record_check() first; then every term must parse
 * (mechanism names, domain-specs ending in a valid top label or a macro,
 * CIDR lengths without leading zeros, addresses); redirect= and exp= at most
 * once. The normal form lists mechanisms, then exp=, then redirect= (dropped
 * when "all" is present), drops unknown modifiers, writes an ip4/ip6 /0
 * as two /1 (libspf2 refuses /0), keeps on a/mx only the CIDR length of
 * the client's family (client_v6) and writes "a/0" for an IPv4 client as
 * "exists" on the same domain. Returns 0 with *out_r (free()), or -1
 * with *reason_r (static): the record is a permerror.
 */
int spf_record_normalize(const char *record, bool client_v6, char **out_r,
			 const char **reason_r);

extern const struct filter filter_spf;

#endif
