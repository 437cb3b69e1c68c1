/*
 * Unit tests for the SPF filter's own code: the macro guard that stands
 * between DNS and libspf2 (CVE-2023-42118), with exploit-shaped records,
 * and spf_evaluate() over an in-memory zone (a resolver given to the
 * evaluation, as the filter gives it lib/dns): all seven results, the void
 * lookup limit, an unsafe record reached through include.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/spf.h"
#include "lib/xalloc.h"

/* ------------------------------------------------------------------ */
/* the guard */

struct check_case {
	const char *record;
	int want; /* 0 accepted, -1 refused */
};

static void
test_record_check(void **state)
{
	static char long_term[1200];
	static char many_macros[600];
	static const struct check_case cases[] = {
	    {"v=spf1 -all", 0},
	    {"v=spf1 ip4:192.0.2.0/24 include:_spf.example.org ~all", 0},
	    {"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all", 0},
	    {"v=spf1 a:%{d2}.example.org exp=%{L}%%%_%-", 0},
	    {"v=spf1 a:%{d128}.x -all", 0},
	    {"explanation: %{i} is not allowed for %{S}", 0},
	    /* Exploit-shaped: digits far past libspf2's unsigned char. */
	    {"v=spf1 a:%{d2147483648}.x -all", -1},
	    {"v=spf1 a:%{d256}.x -all", -1},
	    {"v=spf1 a:%{d129}.x -all", -1},
	    {"v=spf1 a:%{d0}.x -all", -1},
	    {"v=spf1 a:%{d01}.x -all", -1},
	    /* Malformed macros and escapes. */
	    {"v=spf1 a:%{d -all", -1},
	    {"v=spf1 a:%{x}.example -all", -1},
	    {"v=spf1 a:%{dr!}.example -all", -1},
	    {"v=spf1 a:%{}.example -all", -1},
	    {"v=spf1 a:100%.example -all", -1},
	    {"v=spf1 a:%", -1},
	    /* Not printable US-ASCII. */
	    {"v=spf1 a:\xc3\xa9.example -all", -1},
	    {"v=spf1 \x01 -all", -1},
	    {long_term, -1},
	    {many_macros, -1},
	};

	(void)state;
	memset(long_term, 0, sizeof(long_term));
	snprintf(long_term, sizeof(long_term), "v=spf1 a:");
	memset(long_term + 9, 'a', 500);
	/* Many macros with one-byte literals: each costs 4 + 4 bytes in
	 * libspf2's compile buffer, the shape that reaches its edge. */
	snprintf(many_macros, sizeof(many_macros), "v=spf1 exists:");
	for (int i = 0; i < 60; i++)
		strcat(many_macros, "%{d}.");
	strcat(many_macros, " -all");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *reason = NULL;
		int rc = spf_record_check(cases[i].record, &reason);

		if (rc != cases[i].want)
			fail_msg("case %zu '%.40s': got %d (%s)", i,
				 cases[i].record, rc, reason ? reason : "");
		if (rc < 0)
			assert_non_null(reason);
	}
}

/* ------------------------------------------------------------------ */
/* the normaliser */

struct norm_case {
	const char *record;
	bool v6;
	const char *want; /* NULL: permerror */
};

static void
test_normalize(void **state)
{
	static const struct norm_case cases[] = {
	    {"v=spf1 -all", false, "v=spf1 -all"},
	    {"V=SPF1  MX  ~ALL ", false, "v=spf1 mx ~all"},
	    {"v=spf1", false, "v=spf1"},
	    /* modifiers last; redirect ignored next to all */
	    {"v=spf1 redirect=a.example ~all", false, "v=spf1 ~all"},
	    {"v=spf1 redirect=a.example ip4:192.0.2.1", false,
	     "v=spf1 ip4:192.0.2.1 redirect=a.example"},
	    {"v=spf1 exp=e.example -all", false, "v=spf1 -all exp=e.example"},
	    /* unknown modifiers dropped */
	    {"v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all", false,
	     "v=spf1 ip4:1.2.3.4 -all"},
	    /* /0 that libspf2 refuses */
	    {"v=spf1 ip4:1.2.3.4/0 -all", false,
	     "v=spf1 ip4:0.0.0.0/1 ip4:128.0.0.0/1 -all"},
	    {"v=spf1 -ip6:::/0", false, "v=spf1 -ip6:::/1 -ip6:8000::/1"},
	    {"v=spf1 a/0 -all", false, "v=spf1 exists:%{d} -all"},
	    {"v=spf1 a:h.example/0 -all", false,
	     "v=spf1 exists:h.example -all"},
	    {"v=spf1 a:h.example/24//64 -all", false,
	     "v=spf1 a:h.example/24 -all"},
	    {"v=spf1 a:h.example/24//64 -all", true,
	     "v=spf1 a:h.example//64 -all"},
	    {"v=spf1 mx:%{d}.example -all", false,
	     "v=spf1 mx:%{d}.example -all"},
	    {"v=spf1 a:mail.example. -all", false,
	     "v=spf1 a:mail.example. -all"},
	    {"v=spf1 include:%{l}.x.%{d} -all", false,
	     "v=spf1 include:%{l}.x.%{d} -all"},
	    /* RFC 7208 syntax errors: permerror */
	    {"v=spf1 a:1.2.3.4 -all", false, NULL},
	    {"v=spf1 a: -all", false, NULL},
	    {"v=spf1 a:museum -all", false, NULL},
	    {"v=spf1 a:foo.-bar -all", false, NULL},
	    {"v=spf1 include: -all", false, NULL},
	    {"v=spf1 exists:foo.example/24", false, NULL},
	    {"v=spf1 redirect=a.example redirect=b.example", false, NULL},
	    {"v=spf1 exp=a.example exp=b.example -all", false, NULL},
	    {"v=spf1 ip4:1.2.3.4/032 -all", false, NULL},
	    {"v=spf1 ip4:1.2.3.4/33 -all", false, NULL},
	    {"v=spf1 ip6:::1/129 -all", false, NULL},
	    {"v=spf1 ip4:1.2.3 -all", false, NULL},
	    {"v=spf1 ip4 -all", false, NULL},
	    {"v=spf1 all:x -all", false, NULL},
	    {"v=spf1 foo -all", false, NULL},
	    {"v=spf1 redirect:a.example", false, NULL},
	    {"v=spf1 a:%{c}.example -all", false, NULL},
	    {"v=spf1 a:%{d2147483648}.x -all", false, NULL},
	    {"v=spf10 -all", false, NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *reason = NULL;
		char *out = NULL;
		int rc = spf_record_normalize(cases[i].record, cases[i].v6,
					      &out, &reason);

		if (cases[i].want == NULL) {
			if (rc != -1)
				fail_msg("case %zu '%s': accepted as '%s'", i,
					 cases[i].record, out);
			assert_non_null(reason);
		} else if (rc != 0 || strcmp(out, cases[i].want) != 0) {
			fail_msg("case %zu '%s': got '%s' (%s)", i,
				 cases[i].record, out ? out : "-",
				 reason ? reason : "");
		}
		free(out);
	}
}

/* ------------------------------------------------------------------ */
/* evaluation over an in-memory zone */

struct zone_rr {
	const char *name;
	int type;
	const char *value; /* TXT text, A/AAAA address; NULL: NXDOMAIN */
};

static const struct zone_rr *zone;
static int timeouts; /* names containing "timeout" answer TEMPFAIL */

static int
zone_lookup(void *arg, const char *name, int rrtype,
	    struct dns_answer **answer_r)
{
	struct dns_answer *a = xcalloc(1, sizeof(*a));
	bool exists = false;

	(void)arg;
	a->rrtype = rrtype;
	a->status = DNS_OK;
	if (strstr(name, "timeout") != NULL) {
		timeouts++;
		a->status = DNS_TEMPFAIL;
		*answer_r = a;
		return 0;
	}
	a->data = xcalloc(8, sizeof(*a->data));
	a->len = xcalloc(8, sizeof(*a->len));
	a->txt = xcalloc(8, sizeof(*a->txt));
	for (const struct zone_rr *z = zone; z->name != NULL; z++) {
		if (strcasecmp(z->name, name) != 0)
			continue;
		exists = true;
		if (z->type != rrtype || a->count >= 7)
			continue;
		if (rrtype == 16) {
			size_t n = strlen(z->value);
			unsigned char *raw = xmalloc(n + 2);

			/* one character-string (tests keep them short) */
			raw[0] = (unsigned char)n;
			memcpy(raw + 1, z->value, n);
			a->data[a->count] = (char *)raw;
			a->len[a->count] = (int)n + 1;
			a->txt[a->count] = xstrdup(z->value);
		} else if (rrtype == 1) {
			a->data[a->count] = xmalloc(4);
			inet_pton(AF_INET, z->value, a->data[a->count]);
			a->len[a->count] = 4;
		}
		a->count++;
	}
	if (!exists)
		a->status = DNS_NXDOMAIN;
	*answer_r = a;
	return 0;
}

static const struct zone_rr test_zone[] = {
    {"pass.example", 16, "v=spf1 ip4:192.0.2.0/24 -all"},
    {"fail.example", 16, "v=spf1 -all"},
    {"soft.example", 16, "v=spf1 ~all"},
    {"neutral.example", 16, "v=spf1 ?all"},
    {"none.example", 16, "hello world"},
    {"perm.example", 16, "v=spf1 ip4:192.0.2.0/24 -all"},
    {"perm.example", 16, "v=spf1 -all"},
    {"temp.example", 16, "v=spf1 include:x.timeout.example -all"},
    {"evil.example", 16, "v=spf1 a:%{d2147483648}.x -all"},
    {"incl.example", 16, "v=spf1 include:evil.example -all"},
    {"voids.example", 16,
     "v=spf1 a:v1.example a:v2.example a:v3.example ip4:192.0.2.0/24 -all"},
    {"twovoids.example", 16,
     "v=spf1 a:v1.example a:v2.example ip4:192.0.2.0/24 -all"},
    {"amatch.example", 16, "v=spf1 a:host.amatch.example -all"},
    {"host.amatch.example", 1, "192.0.2.7"},
    {NULL, 0, NULL},
};

struct eval_case {
	const char *ip, *helo, *sender;
	enum spf_result_code want;
	bool unsafe;
};

static void
test_evaluate(void **state)
{
	static const struct eval_case cases[] = {
	    {"192.0.2.1", "h.example", "a@pass.example", SPF_RESULT_CODE_PASS,
	     false},
	    {"198.51.100.1", "h.example", "a@pass.example",
	     SPF_RESULT_CODE_FAIL, false},
	    {"192.0.2.1", "h.example", "a@fail.example", SPF_RESULT_CODE_FAIL,
	     false},
	    {"192.0.2.1", "h.example", "a@soft.example",
	     SPF_RESULT_CODE_SOFTFAIL, false},
	    {"192.0.2.1", "h.example", "a@neutral.example",
	     SPF_RESULT_CODE_NEUTRAL, false},
	    {"192.0.2.1", "h.example", "a@none.example", SPF_RESULT_CODE_NONE,
	     false},
	    {"192.0.2.1", "h.example", "a@nxdomain.example",
	     SPF_RESULT_CODE_NONE, false},
	    {"192.0.2.1", "h.example", "a@perm.example",
	     SPF_RESULT_CODE_PERMERROR, false},
	    {"192.0.2.1", "h.example", "a@temp.example",
	     SPF_RESULT_CODE_TEMPERROR, false},
	    {"192.0.2.1", "h.example", "a@x.timeout.example",
	     SPF_RESULT_CODE_TEMPERROR, false},
	    {"192.0.2.1", "h.example", "a@evil.example",
	     SPF_RESULT_CODE_PERMERROR, true},
	    {"192.0.2.1", "h.example", "a@incl.example",
	     SPF_RESULT_CODE_PERMERROR, true},
	    {"192.0.2.1", "h.example", "a@voids.example",
	     SPF_RESULT_CODE_PERMERROR, false},
	    {"192.0.2.1", "h.example", "a@twovoids.example",
	     SPF_RESULT_CODE_PASS, false},
	    {"192.0.2.7", "h.example", "a@amatch.example", SPF_RESULT_CODE_PASS,
	     false},
	    /* Null sender: the HELO identity. */
	    {"192.0.2.1", "pass.example", "", SPF_RESULT_CODE_PASS, false},
	    /* Unusable identities: none, libspf2 never called. */
	    {"192.0.2.1", "h.example", "a@b\xc3\xa9.example",
	     SPF_RESULT_CODE_NONE, false},
	    {"192.0.2.1", "h.example", "a@nodot", SPF_RESULT_CODE_NONE, false},
	    {"127.0.0.1", "h.example", "a@fail.example", SPF_RESULT_CODE_NONE,
	     false},
	    {"::1", "h.example", "a@fail.example", SPF_RESULT_CODE_NONE, false},
	};
	struct spf_resolver res = {zone_lookup, NULL};

	(void)state;
	zone = test_zone;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spf_evaluation ev;

		spf_evaluate(&res, cases[i].ip, cases[i].helo, cases[i].sender,
			     &ev);
		if (ev.result != cases[i].want ||
		    ev.unsafe_record != cases[i].unsafe)
			fail_msg("case %zu (%s): got %s%s (%s)", i,
				 cases[i].sender, spf_result_name(ev.result),
				 ev.unsafe_record ? " unsafe" : "",
				 ev.reason ? ev.reason : "");
	}
}

static void
test_result_names(void **state)
{
	static const char *const want[] = {"none",     "neutral",  "pass",
					   "fail",     "softfail", "temperror",
					   "permerror"};

	(void)state;
	for (int i = SPF_RESULT_CODE_NONE; i <= SPF_RESULT_CODE_PERMERROR; i++)
		assert_string_equal(spf_result_name(i), want[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_check),
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_evaluate),
	    cmocka_unit_test(test_result_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
