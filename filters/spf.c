/*
 * spf: the SPF filter (RFC 7208) on libspf2. libspf2 evaluates the policy;
 * Moat gives it its own DNS layer (a SPF_dns_server_t whose lookup calls
 * the filter's resolver, so every query goes through lib/dns with the
 * filter's deadline, never through /etc/resolv.conf) and guards it:
 *
 * - Every TXT string passes spf_record_check() before libspf2 compiles or
 *   expands it (CVE-2023-42118, an integer underflow in libspf2's macro
 *   handling, is not fixed in Debian 12's 1.2.10). An SPF record that fails
 *   is replaced by one libspf2 answers with permerror; any other TXT string
 *   that fails (an exp= explanation) by a plain text.
 * - Identities with bytes outside printable ASCII never reach libspf2
 *   (its URL encoding of such bytes overflowed in the past): result none.
 * - The lookup limits are libspf2's (10 DNS mechanisms, 10 MX and PTR
 *   names) plus the void lookup limit it lacks: more than two A/AAAA/MX
 *   answers that are NXDOMAIN or empty make the result permerror.
 * - libspf2 passes any 127.0.0.0/8 client unconditionally; the filter
 *   skips loopback clients instead (no result), and tests present other
 *   addresses through XCLIENT.
 *
 * The filter runs in the data phase on a chain worker: it checks MAIL FROM
 * (or HELO for the null sender) and, with filter.spf.helo, the HELO name;
 * adds the symbols SPF_<RESULT> / SPF_HELO_<RESULT>, Authentication-Results
 * entries, and struct spf_result for DMARC. The verdict is left to the
 * policy step (rules/policy.c, policy.reject_symbols).
 */
#include "filters/spf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>
#include <spf2/spf_dns_rr.h>

#include "lib/buf.h"
#include "lib/xalloc.h"

#define SPF_VOID_LOOKUP_MAX 2
#define SPF_RECORD_MAX	    2048
/* libspf2 compiles each term into SPF_MAX_MECH_LEN (511) bytes; keep a
 * margin below it so no term comes near the edge where its length
 * arithmetic underflows. */
#define SPF_TERM_BUDGET	  448
#define SPF_UNSAFE_RECORD "v=spf1 moat-unsafe-record"
#define SPF_UNSAFE_TEXT	  "explanation withheld"

const char *
spf_result_name(enum spf_result_code code)
{
	switch (code) {
	case SPF_RESULT_CODE_NEUTRAL:
		return "neutral";
	case SPF_RESULT_CODE_PASS:
		return "pass";
	case SPF_RESULT_CODE_FAIL:
		return "fail";
	case SPF_RESULT_CODE_SOFTFAIL:
		return "softfail";
	case SPF_RESULT_CODE_TEMPERROR:
		return "temperror";
	case SPF_RESULT_CODE_PERMERROR:
		return "permerror";
	case SPF_RESULT_CODE_NONE:
	default:
		return "none";
	}
}

/* ------------------------------------------------------------------ */
/* the macro guard */

static size_t
align4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/* Checks one macro starting after "%{"; returns its length up to and
 * including '}', or 0 when malformed. */
static size_t
check_macro(const char *p, const char **reason_r)
{
	const char *start = p;
	unsigned int digits = 0, value = 0;

	if (strchr("slodiphcrtvSLODIPHCRTV", *p) == NULL || *p == '\0') {
		*reason_r = "unknown macro letter";
		return 0;
	}
	p++;
	if (*p == '0') {
		*reason_r = "macro digits with a leading zero";
		return 0;
	}
	while (isdigit((unsigned char)*p)) {
		if (++digits > 3) {
			*reason_r = "macro digits out of range";
			return 0;
		}
		value = value * 10 + (unsigned int)(*p - '0');
		p++;
	}
	if (digits > 0 && (value < 1 || value > 128)) {
		*reason_r = "macro digits out of range";
		return 0;
	}
	if (*p == 'r' || *p == 'R')
		p++;
	while (*p != '\0' && strchr(".-+,/_=", *p) != NULL)
		p++;
	if (*p != '}') {
		*reason_r = "malformed macro";
		return 0;
	}
	return (size_t)(p - start) + 1;
}

int
spf_record_check(const char *record, const char **reason_r)
{
	size_t len = strlen(record);
	const char *p = record;

	if (len > SPF_RECORD_MAX) {
		*reason_r = "record too long";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)record[i];

		if (c < 0x20 || c > 0x7e) {
			*reason_r = "record not printable US-ASCII";
			return -1;
		}
	}
	while (*p != '\0') {
		size_t budget = 8, literal = 0, term_len = 0;

		while (*p == ' ')
			p++;
		/* One term: up to the next space. */
		while (*p != '\0' && *p != ' ') {
			if (++term_len > SPF_TERM_BUDGET) {
				*reason_r = "term too long";
				return -1;
			}
			if (*p != '%') {
				literal++;
				p++;
				continue;
			}
			switch (p[1]) {
			case '%':
			case '_':
				literal++;
				p += 2;
				term_len++;
				break;
			case '-':
				literal += 3;
				p += 2;
				term_len++;
				break;
			case '{': {
				size_t n = check_macro(p + 2, reason_r);

				if (n == 0)
					return -1;
				if (literal > 0)
					budget += 4 + align4(literal);
				literal = 0;
				budget += 4;
				p += 2 + n;
				term_len += 1 + n;
				break;
			}
			default:
				*reason_r = "'%' not followed by %, _, - or {";
				return -1;
			}
			if (budget + 4 + align4(literal) > SPF_TERM_BUDGET) {
				*reason_r = "term too large for libspf2";
				return -1;
			}
		}
		budget += 4 + align4(literal);
		if (budget > SPF_TERM_BUDGET) {
			*reason_r = "term too large for libspf2";
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* the record normaliser */

static bool
is_alnum(char c)
{
	return isalnum((unsigned char)c) != 0;
}

/* RFC 7208 toplabel: alphanumerics with a letter, or alphanumerics and
 * hyphens that start and end alphanumeric. */
static bool
toplabel_valid(const char *p, size_t n)
{
	bool alpha = false, hyphen = false;

	if (n == 0 || !is_alnum(p[0]) || !is_alnum(p[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (isalpha((unsigned char)p[i]))
			alpha = true;
		else if (p[i] == '-')
			hyphen = true;
		else if (!isdigit((unsigned char)p[i]))
			return false;
	}
	return alpha || hyphen;
}

/* RFC 7208 domain-spec: a macro-string ending in "." toplabel ["."] or in
 * a macro-expand. Macros were checked by spf_record_check(). */
static bool
domain_spec_valid(const char *p, size_t n)
{
	size_t lit = 0; /* start of the literal text after the last macro */
	bool macro_last = false;
	const char *t, *dot;
	size_t tn;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n;) {
		if (p[i] == '%') {
			if (i + 1 >= n)
				return false;
			if (p[i + 1] == '{') {
				const char *close = memchr(p + i, '}', n - i);

				/* c, r and t are for exp= text only (7.1). */
				if (close == NULL || i + 2 >= n ||
				    strchr("crtCRT", p[i + 2]) != NULL)
					return false;
				i = (size_t)(close - p) + 1;
			} else if (p[i + 1] == '%' || p[i + 1] == '_' ||
				   p[i + 1] == '-') {
				i += 2;
			} else {
				return false;
			}
			macro_last = true;
			lit = i;
			continue;
		}
		if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
			return false;
		macro_last = false;
		i++;
	}
	if (macro_last)
		return true;
	t = p + lit;
	tn = n - lit;
	if (tn > 0 && t[tn - 1] == '.')
		tn--;
	dot = NULL;
	for (size_t i = tn; i > 0; i--) {
		if (t[i - 1] == '.') {
			dot = t + i - 1;
			break;
		}
	}
	if (dot == NULL)
		return false;
	return toplabel_valid(dot + 1, (size_t)(t + tn - dot - 1));
}

/* A CIDR length: "0" or no leading zero, at most max. */
static bool
cidr_valid(const char *p, size_t n, unsigned int max, unsigned int *value_r)
{
	unsigned int v = 0;

	if (n == 0 || n > 3 || (p[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return false;
		v = v * 10 + (unsigned int)(p[i] - '0');
	}
	*value_r = v;
	return v <= max;
}

/* Splits a trailing "/N" (after is_double, "//N") off value[0..*n). 1 when
 * found (*cidr set), 0 when absent, -1 when malformed. */
static int
split_cidr(const char *v, size_t *n, bool is_double, unsigned int max,
	   unsigned int *cidr)
{
	size_t end = *n, i = end;

	while (i > 0 && isdigit((unsigned char)v[i - 1]))
		i--;
	if (i == end || i == 0 || v[i - 1] != '/')
		return 0;
	if (is_double != (i >= 2 && v[i - 2] == '/'))
		return 0;
	if (!cidr_valid(v + i, end - i, max, cidr))
		return -1;
	*n = i - (is_double ? 2 : 1);
	return 1;
}

struct spf_norm {
	bool client_v6;
	struct buf mech;
	char *redirect, *exp;
	bool has_all;
};

/*
 * One term into the normalised record. Returns 0, or -1 with *reason_r
 * (the record is a permerror).
 */
static int
norm_term(struct spf_norm *nm, const char *t, size_t n, const char **reason_r)
{
	char qual = 0;
	size_t name_len = 0;
	const char *v;
	size_t vn;

	while (name_len < n && (is_alnum(t[name_len]) || t[name_len] == '-' ||
				t[name_len] == '_' || t[name_len] == '.'))
		name_len++;
	/* modifier: name "=" */
	if (name_len < n && t[name_len] == '=' && name_len > 0 &&
	    isalpha((unsigned char)t[0])) {
		v = t + name_len + 1;
		vn = n - name_len - 1;
		if (name_len == 8 && strncasecmp(t, "redirect", 8) == 0) {
			if (nm->redirect != NULL) {
				*reason_r = "redirect= given twice";
				return -1;
			}
			if (!domain_spec_valid(v, vn)) {
				*reason_r = "bad redirect= domain-spec";
				return -1;
			}
			nm->redirect = xstrndup(v, vn);
		} else if (name_len == 3 && strncasecmp(t, "exp", 3) == 0) {
			if (nm->exp != NULL) {
				*reason_r = "exp= given twice";
				return -1;
			}
			if (!domain_spec_valid(v, vn)) {
				*reason_r = "bad exp= domain-spec";
				return -1;
			}
			nm->exp = xstrndup(v, vn);
		}
		/* Unknown modifiers are ignored (RFC 7208 6). */
		return 0;
	}
	/* directive */
	if (n > 0 && strchr("+-?~", t[0]) != NULL) {
		qual = t[0];
		t++;
		n--;
	}
	name_len = 0;
	while (name_len < n && isalnum((unsigned char)t[name_len]))
		name_len++;
	v = t + name_len;
	vn = n - name_len;
#define MECH(s) (name_len == sizeof(s) - 1 && strncasecmp(t, s, name_len) == 0)
	if (qual != 0)
		buf_append_char(&nm->mech, qual);
	if (MECH("all")) {
		if (vn != 0) {
			*reason_r = "all takes no value";
			return -1;
		}
		nm->has_all = true;
		buf_append_str(&nm->mech, "all");
	} else if (MECH("include") || MECH("exists")) {
		if (vn < 2 || v[0] != ':' ||
		    !domain_spec_valid(v + 1, vn - 1)) {
			*reason_r = "bad include/exists domain-spec";
			return -1;
		}
		buf_printf(&nm->mech, "%s%.*s",
			   MECH("include") ? "include" : "exists", (int)vn, v);
	} else if (MECH("a") || MECH("mx")) {
		unsigned int c4 = 0, c6 = 0;
		size_t dn = vn;
		int r6 = split_cidr(v, &dn, true, 128, &c6), r4;

		if (r6 < 0) {
			*reason_r = "bad ip6 cidr length";
			return -1;
		}
		r4 = split_cidr(v, &dn, false, 32, &c4);
		if (r4 < 0) {
			*reason_r = "bad ip4 cidr length";
			return -1;
		}
		if (dn > 0 &&
		    (v[0] != ':' || !domain_spec_valid(v + 1, dn - 1))) {
			*reason_r = "bad a/mx domain-spec";
			return -1;
		}
		/* Only the client's family's length matters: the other is
		 * dropped (libspf2 refuses /0 even where it does not apply),
		 * and "a/0" for an IPv4 client is "exists" on the same name. */
		if (!nm->client_v6 && r4 == 1 && c4 == 0 && MECH("a")) {
			buf_printf(&nm->mech, "exists:%.*s",
				   dn > 0 ? (int)dn - 1 : 4,
				   dn > 0 ? v + 1 : "%{d}");
		} else {
			buf_printf(&nm->mech, "%s%.*s", MECH("a") ? "a" : "mx",
				   (int)dn, v);
			if (!nm->client_v6 && r4 == 1)
				buf_printf(&nm->mech, "/%u", c4);
			if (nm->client_v6 && r6 == 1)
				buf_printf(&nm->mech, "//%u", c6);
		}
	} else if (MECH("ptr")) {
		if (vn > 0 &&
		    (v[0] != ':' || !domain_spec_valid(v + 1, vn - 1))) {
			*reason_r = "bad ptr domain-spec";
			return -1;
		}
		buf_printf(&nm->mech, "ptr%.*s", (int)vn, v);
	} else if (MECH("ip4") || MECH("ip6")) {
		bool six = MECH("ip6");
		unsigned int c = six ? 128 : 32;
		size_t an = vn;
		char addr[64];
		unsigned char bin[16];
		int r;

		if (vn < 2 || v[0] != ':') {
			*reason_r = "ip4/ip6 needs an address";
			return -1;
		}
		r = split_cidr(v, &an, false, six ? 128 : 32, &c);
		if (r < 0 || an - 1 >= sizeof(addr)) {
			*reason_r = "bad ip4/ip6 network";
			return -1;
		}
		memcpy(addr, v + 1, an - 1);
		addr[an - 1] = '\0';
		if (inet_pton(six ? AF_INET6 : AF_INET, addr, bin) != 1) {
			*reason_r = "bad ip4/ip6 address";
			return -1;
		}
		if (c == 0) {
			/* libspf2 refuses /0: the same set as two /1s. */
			buf_printf(&nm->mech,
				   six ? "ip6:::/1 %.1sip6:8000::/1"
				       : "ip4:0.0.0.0/1 %.1sip4:128.0.0.0/1",
				   qual != 0 ? &qual : "");
		} else {
			buf_printf(&nm->mech, "%s:%s", six ? "ip6" : "ip4",
				   addr);
			if (r == 1)
				buf_printf(&nm->mech, "/%u", c);
		}
	} else {
		*reason_r = "unknown mechanism";
		return -1;
	}
#undef MECH
	buf_append_char(&nm->mech, ' ');
	return 0;
}

int
spf_record_normalize(const char *record, bool client_v6, char **out_r,
		     const char **reason_r)
{
	struct spf_norm nm;
	const char *p = record;
	int ret = -1;

	*out_r = NULL;
	if (spf_record_check(record, reason_r) < 0)
		return -1;
	if (strncasecmp(p, "v=spf1", 6) != 0 || (p[6] != '\0' && p[6] != ' ')) {
		*reason_r = "not an SPF record";
		return -1;
	}
	memset(&nm, 0, sizeof(nm));
	nm.client_v6 = client_v6;
	buf_append_str(&nm.mech, "v=spf1 ");
	p += 6;
	while (*p != '\0') {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n > 0 && norm_term(&nm, p, n, reason_r) < 0)
			goto out;
		p += n;
	}
	if (nm.exp != NULL)
		buf_printf(&nm.mech, "exp=%s ", nm.exp);
	/* redirect is ignored when the record has "all" (RFC 7208 6.1). */
	if (nm.redirect != NULL && !nm.has_all)
		buf_printf(&nm.mech, "redirect=%s ", nm.redirect);
	buf_truncate(&nm.mech, nm.mech.len - 1); /* the last space */
	*out_r = buf_detach(&nm.mech);
	ret = 0;
out:
	buf_free(&nm.mech);
	free(nm.redirect);
	free(nm.exp);
	return ret;
}

/* ------------------------------------------------------------------ */
/* the DNS layer handed to libspf2 */

struct spf_layer {
	SPF_dns_server_t base; /* what libspf2 sees; hook points to us */
	const struct spf_resolver *res;
	unsigned int voids;
	unsigned int lookups;
	bool unsafe;
	const char *unsafe_reason;
	const char *syntax_reason; /* first record refused by the normaliser */
	bool mx_over;		   /* an MX answer had more than 10 names */
	bool in_list;		   /* lookups of MX/PTR names under way */
};

static bool
is_spf_record(const char *txt)
{
	return strncasecmp(txt, "v=spf1", 6) == 0 &&
	       (txt[6] == '\0' || txt[6] == ' ');
}

static bool
dns_name_valid(const char *name)
{
	size_t label = 0, total = 0;

	for (; *name != '\0'; name++) {
		if (++total > 253 && !(total == 254 && name[1] == '\0'))
			return false;
		if (*name == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (++label > 63) {
			return false;
		}
	}
	return total > 0;
}

/* True when a TXT RDATA (length-prefixed strings) holds a NUL byte. */
static bool
txt_has_nul(const unsigned char *data, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		size_t n = data[pos++];

		if (n > len - pos)
			return true; /* malformed: treat as unsafe */
		if (memchr(data + pos, '\0', n) != NULL)
			return true;
		pos += n;
	}
	return false;
}

static SPF_dns_rr_t *
layer_lookup(SPF_dns_server_t *server, const char *domain, ns_type type,
	     int should_cache)
{
	struct spf_layer *layer = server->hook;
	struct dns_answer *a = NULL;
	SPF_dns_rr_t *rr;
	int rrtype = (int)type, n = 0;

	(void)should_cache;
	/* RFC 7208 3.1: only TXT; the SPF type (99) is never queried. */
	if (type != ns_t_a && type != ns_t_aaaa && type != ns_t_mx &&
	    type != ns_t_ptr && type != ns_t_txt)
		return SPF_dns_rr_new_init(server, domain, type, 0, NO_DATA);
	/* A name no DNS server can hold (empty or long label, too long):
	 * nothing exists there. */
	if (!dns_name_valid(domain))
		return SPF_dns_rr_new_init(server, domain, type, 0,
					   HOST_NOT_FOUND);
	layer->lookups++;
	if (layer->res->lookup(layer->res->arg, domain, rrtype, &a) < 0 ||
	    a == NULL) {
		dns_answer_free(&a);
		return SPF_dns_rr_new_init(server, domain, type, 0, TRY_AGAIN);
	}
	switch (a->status) {
	case DNS_NXDOMAIN:
		rr = SPF_dns_rr_new_init(server, domain, type, 0,
					 HOST_NOT_FOUND);
		break;
	case DNS_TEMPFAIL:
	case DNS_PERMFAIL:
		rr = SPF_dns_rr_new_init(server, domain, type, 0, TRY_AGAIN);
		break;
	case DNS_OK:
	default:
		rr =
		    SPF_dns_rr_new_init(server, domain, type, 0,
					a->count > 0 ? NETDB_SUCCESS : NO_DATA);
		break;
	}
	/* RFC 7208 4.6.4: an mx term with more than 10 names is an error. */
	if (type == ns_t_mx && a->status == DNS_OK && a->count > 10)
		layer->mx_over = true;
	/* Void lookups (RFC 7208 4.6.4) are counted for the terms' own
	 * queries, not for the address lookups of MX or PTR names that
	 * follow an MX or PTR answer (a term right after such a list is
	 * not counted either: the limit errs towards not failing mail). */
	if (type == ns_t_txt)
		layer->in_list = false;
	if ((type == ns_t_mx ||
	     ((type == ns_t_a || type == ns_t_aaaa) && !layer->in_list)) &&
	    (a->status == DNS_NXDOMAIN ||
	     (a->status == DNS_OK && a->count == 0)))
		layer->voids++;
	if ((type == ns_t_mx || type == ns_t_ptr) && a->status == DNS_OK &&
	    a->count > 0)
		layer->in_list = true;
	if (rr == NULL || a->status != DNS_OK) {
		dns_answer_free(&a);
		return rr;
	}
	for (size_t i = 0; i < a->count; i++) {
		const unsigned char *data = (const unsigned char *)a->data[i];
		size_t len = (size_t)a->len[i];
		char *text = NULL;
		const char *reason;

		switch (type) {
		case ns_t_a:
			if (len != 4 || SPF_dns_rr_buf_realloc(rr, n, 4) != 0)
				continue;
			memcpy(&rr->rr[n]->a, data, 4);
			break;
		case ns_t_aaaa:
			if (len != 16 || SPF_dns_rr_buf_realloc(rr, n, 16) != 0)
				continue;
			memcpy(&rr->rr[n]->aaaa, data, 16);
			break;
		case ns_t_mx:
			if (a->mx_host == NULL || a->mx_host[i] == NULL)
				continue;
			text = xstrdup(a->mx_host[i]);
			break;
		case ns_t_ptr:
			/* RFC 7208 5.5: only the first 10 names count
			 * (libspf2 would answer permerror past 10). */
			if (n >= 10 ||
			    dns_parse_name_rdata(data, len, &text) < 0)
				continue;
			break;
		case ns_t_txt:
			if (a->txt == NULL || a->txt[i] == NULL)
				continue;
			/* libspf2 reads these as C strings: a NUL inside
			 * would hide the rest from the guard. */
			text = xstrdup(a->txt[i]);
			reason = "NUL byte in record";
			if (txt_has_nul(data, len) ||
			    spf_record_check(text, &reason) < 0) {
				bool spf = is_spf_record(text);

				free(text);
				if (spf) {
					layer->unsafe = true;
					layer->unsafe_reason = reason;
				}
				text = xstrdup(spf ? SPF_UNSAFE_RECORD
						   : SPF_UNSAFE_TEXT);
			}
			break;
		default:
			continue;
		}
		if (text != NULL) {
			size_t tl = strlen(text);

			if (SPF_dns_rr_buf_realloc(rr, n, tl + 1) != 0) {
				free(text);
				continue;
			}
			memcpy(rr->rr[n]->txt, text, tl + 1);
			free(text);
		}
		n++;
	}
	rr->num_rr = n;
	dns_answer_free(&a);
	return rr;
}

static SPF_dns_rr_t *
layer_lookup_guarded(SPF_dns_server_t *server, const char *domain, ns_type type,
		     int should_cache)
{
	SPF_dns_rr_t *rr = layer_lookup(server, domain, type, should_cache);

	if (rr == NULL)
		rr = SPF_dns_rr_new_init(server, domain, type, 0, TRY_AGAIN);
	return rr;
}

/*
 * libspf2's record retrieval, replaced (SPF_dns_server_t.get_spf) so that
 * each outcome gets its RFC 7208 result: no record is none, a DNS failure
 * temperror, several records, a record that fails the guard or does not
 * compile permerror. Only TXT is queried. Used for the first record and for
 * every include/redirect target (libspf2 maps the error code there).
 */
static SPF_errcode_t
layer_get_spf(SPF_server_t *server, SPF_request_t *req, SPF_response_t *resp,
	      SPF_record_t **recordp)
{
	SPF_dns_server_t *dns = server->resolver;
	struct spf_layer *layer = dns->hook;
	const char *domain = req->cur_dom;
	SPF_dns_rr_t *rr;
	SPF_errcode_t err;
	int found = 0, idx = 0;
	const char *reason = NULL;
	char *text = NULL;

	*recordp = NULL;
	if (domain == NULL || domain[0] == '\0') {
		resp->result = SPF_RESULT_PERMERROR;
		return SPF_response_add_error(resp, SPF_E_INVALID_OPT,
					      "empty domain");
	}
	rr = SPF_dns_lookup(dns, domain, ns_t_txt, 1);
	if (rr->herrno == TRY_AGAIN) {
		SPF_dns_rr_free(rr);
		resp->result = SPF_RESULT_TEMPERROR;
		return SPF_response_add_error(resp, SPF_E_DNS_ERROR,
					      "temporary DNS failure");
	}
	for (int i = 0; rr->herrno == NETDB_SUCCESS && i < rr->num_rr; i++) {
		if (is_spf_record(rr->rr[i]->txt)) {
			found++;
			idx = i;
		}
	}
	if (found == 0) {
		SPF_dns_rr_free(rr);
		resp->result = SPF_RESULT_NONE;
		resp->reason = SPF_REASON_FAILURE;
		return SPF_response_add_error(resp, SPF_E_NOT_SPF,
					      "no SPF record");
	}
	if (found > 1) {
		SPF_dns_rr_free(rr);
		resp->result = SPF_RESULT_PERMERROR;
		resp->reason = SPF_REASON_FAILURE;
		return SPF_response_add_error(resp, SPF_E_MULTIPLE_RECORDS,
					      "multiple SPF records");
	}
	if (strcmp(rr->rr[idx]->txt, SPF_UNSAFE_RECORD) == 0 && layer->unsafe) {
		SPF_dns_rr_free(rr);
		resp->result = SPF_RESULT_PERMERROR;
		resp->reason = SPF_REASON_FAILURE;
		return SPF_response_add_error(resp, SPF_E_SYNTAX,
					      "unsafe SPF record");
	}
	/* RFC 7208 syntax first (libspf2 accepts some invalid records and
	 * refuses some valid ones); libspf2 compiles the normalised form. */
	if (spf_record_normalize(rr->rr[idx]->txt, req->client_ver == AF_INET6,
				 &text, &reason) < 0) {
		SPF_dns_rr_free(rr);
		if (layer->syntax_reason == NULL)
			layer->syntax_reason = reason;
		resp->result = SPF_RESULT_PERMERROR;
		resp->reason = SPF_REASON_FAILURE;
		return SPF_response_add_error(resp, SPF_E_SYNTAX, "%s", reason);
	}
	SPF_dns_rr_free(rr);
	err = SPF_record_compile(server, resp, recordp, text);
	free(text);
	if (err != SPF_E_SUCCESS) {
		resp->result = SPF_RESULT_PERMERROR;
		resp->reason = SPF_REASON_FAILURE;
		if (*recordp != NULL) {
			SPF_record_free(*recordp);
			*recordp = NULL;
		}
		return err == SPF_E_DNS_ERROR ? SPF_E_SYNTAX : err;
	}
	return SPF_E_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* evaluation */

/* RFC 7208 4.3: a malformed domain (empty or over-long label, not
 * multi-label) means the check result is none. */
static bool
domain_valid(const char *d)
{
	size_t label = 0, total = strlen(d), labels = 1;

	if (total == 0 || total > 253 || d[0] == '.')
		return false;
	for (; *d != '\0'; d++) {
		if (*d == '.') {
			if (label == 0)
				return false;
			label = 0;
			if (d[1] != '\0')
				labels++;
			continue;
		}
		if (++label > 63)
			return false;
	}
	return labels > 1;
}

static bool
printable_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static enum spf_result_code
map_result(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_NEUTRAL:
		return SPF_RESULT_CODE_NEUTRAL;
	case SPF_RESULT_PASS:
		return SPF_RESULT_CODE_PASS;
	case SPF_RESULT_FAIL:
		return SPF_RESULT_CODE_FAIL;
	case SPF_RESULT_SOFTFAIL:
		return SPF_RESULT_CODE_SOFTFAIL;
	case SPF_RESULT_NONE:
		return SPF_RESULT_CODE_NONE;
	case SPF_RESULT_TEMPERROR:
		return SPF_RESULT_CODE_TEMPERROR;
	case SPF_RESULT_PERMERROR:
	case SPF_RESULT_INVALID:
	default:
		return SPF_RESULT_CODE_PERMERROR;
	}
}

void
spf_evaluate(const struct spf_resolver *res, const char *ip, const char *helo,
	     const char *sender, struct spf_evaluation *out)
{
	struct spf_layer layer;
	SPF_server_t *server = NULL;
	SPF_request_t *req = NULL;
	SPF_response_t *resp = NULL, *exp_resp = NULL;
	struct in_addr a4;
	struct in6_addr a6;
	bool v6;

	memset(out, 0, sizeof(*out));
	out->result = SPF_RESULT_CODE_NONE;
	if (helo == NULL)
		helo = "";
	if (sender == NULL)
		sender = "";
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		v6 = false;
		if ((ntohl(a4.s_addr) >> 24) == 127) {
			out->reason = "loopback client";
			return;
		}
	} else if (inet_pton(AF_INET6, ip, &a6) == 1) {
		v6 = true;
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			/* RFC 7208 5: an IPv4-mapped client is IPv4. */
			memcpy(&a4.s_addr, &a6.s6_addr[12], 4);
			v6 = false;
			if ((ntohl(a4.s_addr) >> 24) == 127) {
				out->reason = "loopback client";
				return;
			}
		} else if (IN6_IS_ADDR_LOOPBACK(&a6)) {
			out->reason = "loopback client";
			return;
		}
	} else {
		out->reason = "client address unusable";
		return;
	}
	if (!printable_ascii(sender) || !printable_ascii(helo)) {
		out->reason = "identity not US-ASCII";
		return;
	}
	{
		const char *at = strrchr(sender, '@');
		const char *domain =
		    sender[0] != '\0' ? (at != NULL ? at + 1 : sender) : helo;

		if (!domain_valid(domain)) {
			out->reason = "no valid domain to check";
			return;
		}
	}

	memset(&layer, 0, sizeof(layer));
	layer.base.destroy = NULL; /* ours: libspf2 must not free it */
	layer.base.lookup = layer_lookup_guarded;
	layer.base.get_spf = layer_get_spf;
	layer.base.name = "moat";
	layer.base.hook = &layer;
	layer.res = res;

	server = SPF_server_new_dns(&layer.base, 0);
	if (server == NULL) {
		out->result = SPF_RESULT_CODE_TEMPERROR;
		out->reason = "libspf2 set-up failed";
		return;
	}
	/* A fixed explanation: the default one URL-encodes the sender. */
	(void)SPF_server_set_explanation(server, "SPF check failed", &exp_resp);
	if (exp_resp != NULL)
		SPF_response_free(exp_resp);
	req = SPF_request_new(server);
	if (req == NULL) {
		SPF_server_free(server);
		out->result = SPF_RESULT_CODE_TEMPERROR;
		out->reason = "libspf2 set-up failed";
		return;
	}
	if (v6)
		(void)SPF_request_set_ipv6(req, a6);
	else
		(void)SPF_request_set_ipv4(req, a4);
	if (helo[0] != '\0')
		(void)SPF_request_set_helo_dom(req, helo);
	if (sender[0] != '\0' && SPF_request_set_env_from(req, sender) != 0) {
		out->reason = "malformed sender";
		goto done;
	}
	(void)SPF_request_query_mailfrom(req, &resp);
	if (resp == NULL) {
		out->result = SPF_RESULT_CODE_TEMPERROR;
		out->reason = "no answer from libspf2";
		goto done;
	}
	out->result = map_result(SPF_response_result(resp));
	out->reason = NULL;
	if (layer.unsafe) {
		out->result = SPF_RESULT_CODE_PERMERROR;
		out->unsafe_record = true;
		snprintf(out->detail, sizeof(out->detail), "unsafe record: %s",
			 layer.unsafe_reason);
		out->reason = out->detail;
	} else if (out->result == SPF_RESULT_CODE_PERMERROR &&
		   layer.syntax_reason != NULL) {
		snprintf(out->detail, sizeof(out->detail), "syntax: %s",
			 layer.syntax_reason);
		out->reason = out->detail;
	} else if (layer.mx_over && out->result != SPF_RESULT_CODE_TEMPERROR) {
		out->result = SPF_RESULT_CODE_PERMERROR;
		out->reason = "more than 10 MX names";
	} else if (layer.voids > SPF_VOID_LOOKUP_MAX &&
		   out->result != SPF_RESULT_CODE_TEMPERROR) {
		out->result = SPF_RESULT_CODE_PERMERROR;
		out->reason = "too many void lookups";
	}
done:
	out->void_lookups = layer.voids;
	out->lookups = layer.lookups;
	if (resp != NULL)
		SPF_response_free(resp);
	SPF_request_free(req);
	SPF_server_free(server);
}

/* ------------------------------------------------------------------ */
/* the filter */

struct spf_settings {
	bool helo;
	bool skip_authenticated;
};

static const struct setting_def spf_setting_defs[] = {
    {"helo", SETTING_BOOL, "yes", offsetof(struct spf_settings, helo), 0, 0,
     NULL, "also check the HELO name (RFC 7208 2.3)"},
    {"skip_authenticated", SETTING_BOOL, "yes",
     offsetof(struct spf_settings, skip_authenticated), 0, 0, NULL,
     "no SPF check for mail from authenticated users"},
};

static int
spf_ctx_lookup(void *arg, const char *name, int rrtype,
	       struct dns_answer **answer_r)
{
	return filter_dns_lookup(arg, name, rrtype, answer_r);
}

static int
spf_init(const void *settings, void **state_r, char **error_r)
{
	(void)error_r;
	*state_r = (void *)settings;
	return 0;
}

/* Symbol scores: positive for results that suggest forgery. */
static double
spf_score(enum spf_result_code r, bool helo)
{
	double s;

	switch (r) {
	case SPF_RESULT_CODE_FAIL:
		s = 3.0;
		break;
	case SPF_RESULT_CODE_SOFTFAIL:
		s = 1.0;
		break;
	case SPF_RESULT_CODE_PERMERROR:
		s = 0.5;
		break;
	case SPF_RESULT_CODE_PASS:
		s = -0.5;
		break;
	default:
		s = 0;
		break;
	}
	return helo ? s / 2 : s;
}

static void
spf_symbol(struct filter_context *ctx, const char *prefix,
	   enum spf_result_code r, bool helo, const char *detail)
{
	char name[40], *c;

	snprintf(name, sizeof(name), "%s%s", prefix, spf_result_name(r));
	for (c = name; *c != '\0'; c++)
		*c = (char)toupper((unsigned char)*c);
	filter_add_symbol(ctx, name, spf_score(r, helo), detail);
}

/* True when the local part is a dot-atom (fit for an A-R pvalue). */
static bool
dot_atom_address(const char *address)
{
	const char *at = strrchr(address, '@');

	if (at == NULL || at == address)
		return false;
	for (const char *c = address; c < at; c++)
		if (!isalnum((unsigned char)*c) &&
		    strchr(".!#$%&'*+-/=?^_`{|}~", *c) == NULL)
			return false;
	return true;
}

/* The domain of an address, or the address when it has no '@'. */
static const char *
domain_of(const char *address)
{
	const char *at = strrchr(address, '@');

	return at != NULL ? at + 1 : address;
}

static int
spf_run(void *state, struct filter_context *ctx, enum filter_phase phase)
{
	const struct spf_settings *set = state;
	const struct filter_envelope *env = filter_envelope(ctx);
	struct spf_resolver res = {spf_ctx_lookup, ctx};
	struct spf_result *data;
	struct spf_evaluation ev;
	char props[600];

	(void)phase; /* MAIL: HELO and MAIL FROM are known */
	if (set->skip_authenticated && env->auth_user != NULL)
		return 0;
	data = filter_alloc(ctx, sizeof(*data));
	memset(data, 0, sizeof(*data));

	spf_evaluate(&res, env->client_ip, env->helo, env->mail_from, &ev);
	if (ev.reason != NULL && strcmp(ev.reason, "loopback client") == 0)
		return 0; /* libspf2 would pass it; we do not judge it */
	data->mailfrom = ev.result;
	if (env->mail_from[0] != '\0') {
		data->mailfrom_domain =
		    filter_strdup(ctx, domain_of(env->mail_from));
		snprintf(props, sizeof(props), "smtp.mailfrom=%s",
			 dot_atom_address(env->mail_from)
			     ? env->mail_from
			     : domain_of(env->mail_from));
	} else {
		data->mailfrom_domain =
		    env->helo[0] != '\0' ? filter_strdup(ctx, env->helo) : NULL;
		snprintf(props, sizeof(props), "smtp.helo=%s", env->helo);
	}
	if (ev.unsafe_record)
		filter_add_symbol(ctx, "SPF_UNSAFE_RECORD", 5.0, ev.reason);
	spf_symbol(ctx, "SPF_", ev.result, false, ev.reason);
	filter_add_auth_result(ctx, "spf", spf_result_name(ev.result),
			       ev.reason, props);

	if (set->helo && env->mail_from[0] != '\0' && env->helo[0] != '\0') {
		char postmaster[300];

		snprintf(postmaster, sizeof(postmaster), "postmaster@%s",
			 env->helo);
		spf_evaluate(&res, env->client_ip, env->helo, postmaster, &ev);
		data->helo = ev.result;
		data->helo_domain = filter_strdup(ctx, env->helo);
		spf_symbol(ctx, "SPF_HELO_", ev.result, true, ev.reason);
		snprintf(props, sizeof(props), "smtp.helo=%s", env->helo);
		filter_add_auth_result(ctx, "spf", spf_result_name(ev.result),
				       ev.reason, props);
	}
	filter_set_data(ctx, data, NULL); /* in the context's pool */
	return 0;
}

const struct filter filter_spf = {
    .name = "spf",
    .phases = FILTER_PHASE_MAIL,
    .settings = spf_setting_defs,
    .settings_count = sizeof(spf_setting_defs) / sizeof(spf_setting_defs[0]),
    .settings_size = sizeof(struct spf_settings),
    .init = spf_init,
    .run = spf_run,
};
