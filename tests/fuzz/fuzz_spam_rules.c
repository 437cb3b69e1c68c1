/*
 * libFuzzer target for the spam rule-file parser (rules/spam_rules.c) and
 * everything behind it: arbitrary bytes are parsed as a .cf file, compiled
 * (PCRE2, meta expressions, Hyperscan when the set is large enough) and
 * evaluated over a small fixed message, then freed, so leaks show up.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "rules/spam_rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct spam_header headers[] = {
	    {"Subject", "Cheap MEDS now!!!", NULL},
	    {"From", "\"Bob\" <bob@example.test>", NULL},
	    {"To", "alice@example.test", NULL},
	};
	static const char *const uris[] = {"http://192.0.2.1/x",
					   "https://example.test/a?b=c"};
	static const char body[] = "Cheap MEDS now!!!\nclick here\nbye\n";
	struct spam_rules *rules = spam_rules_new();
	struct spam_scratch *scratch;
	struct spam_result result;
	static const char *const signers[] = {"example.test"};
	struct spam_msg msg = {
	    .headers = headers,
	    .header_count = 3,
	    .body = body,
	    .body_len = sizeof(body) - 1,
	    .rawbody = body,
	    .rawbody_len = sizeof(body) - 1,
	    .full = body,
	    .full_len = sizeof(body) - 1,
	    .uris = uris,
	    .uri_count = 2,
	    .bayes = 0.5,
	    /* for the welcome/block-list directives the input may hold */
	    .envelope_from = "bounce@example.test",
	    .spf_pass = true,
	    .dkim_domains = signers,
	    .dkim_domain_count = 1,
	};
	const char *error;
	char *err = NULL;

	spam_rules_set_prefilter_min(rules, 4);
	spam_rules_parse_text(rules, (const char *)data, size, "fuzz.cf");
	if (spam_rules_compile(rules, &err) < 0) {
		free(err);
		spam_rules_free(&rules);
		return 0;
	}
	scratch = spam_scratch_new(rules);
	if (spam_rules_eval(rules, scratch, &msg, &result, &error) < 0)
		abort();
	spam_result_free(&result);
	spam_scratch_free(&scratch);
	spam_rules_free(&rules);
	return 0;
}
