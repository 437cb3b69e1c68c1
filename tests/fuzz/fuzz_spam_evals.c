/*
 * libFuzzer target for rules/spam_evals.c, rules/spam_wlbl.c and
 * rules/spam_fromname.c, the eval:
 * built-ins that parse peer-supplied header fields: the date parser on the
 * raw input, then the input's lines as the values of Date, Received
 * (several), Message-Id, From, Subject, To, Cc and Bcc (its first bytes
 * also shaping an HTML part; the first line is also the envelope sender,
 * the third a DKIM signer),
 * evaluated by a rule set that calls every such built-in (compiled once),
 * so an overread or a leak shows up.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules/spam_rules_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_cf[] =
    "header A eval:check_outlook_message_id()\n"
    "header B eval:check_for_shifted_date('undef', '-96')\n"
    "header C eval:check_for_shifted_date('-6', '12')\n"
    "header D eval:check_illegal_chars('From', '0.20', '2')\n"
    "header E eval:check_illegal_chars('Subject', '0', '1')\n"
    "header F eval:check_illegal_chars('ALL', '0.01', '2')\n"
    "body G eval:html_image_only('0', '400')\n"
    "body H eval:check_for_mime_html_only()\n"
    "header I eval:similar_recipients('0.1', 'undef')\n"
    "header J eval:sorted_recipients()\n"
    "header Q eval:check_fromname_spoof()\n"
    "welcomelist_from *@*.example ?a*b?@* x@y\n"
    "blocklist_from *** *@*@*\n"
    "welcomelist_auth *@* a?@b\n"
    "def_welcomelist_auth *.example@*\n"
    "header K eval:check_from_in_welcomelist()\n"
    "header L eval:check_from_in_blocklist()\n"
    "header M eval:check_for_spf_welcomelist_from()\n"
    "header N eval:check_for_def_spf_welcomelist_from()\n"
    "header O eval:check_for_dkim_welcomelist_from()\n"
    "header P eval:check_for_def_dkim_welcomelist_from()\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
	    "Date",    "Received", "Message-Id", "Received", "From",
	    "Subject", "Received", "To",	 "Cc",	     "Bcc",
	};
	enum { NAMES = sizeof(names) / sizeof(names[0]) };
	static struct spam_rules *rules;
	static struct spam_scratch *scratch;
	struct spam_header headers[NAMES];
	struct spam_html_part html[1];
	const char *signer[1];
	struct spam_result result;
	struct spam_msg msg;
	const char *error;
	char *text, *line, *save = NULL;
	long long t;
	size_t n = 0;

	if (rules == NULL) {
		char *err = NULL;

		rules = spam_rules_new();
		spam_rules_set_prefilter_min(rules, (size_t)-1);
		spam_rules_parse_text(rules, fuzz_cf, sizeof(fuzz_cf) - 1,
				      "fuzz.cf");
		if (spam_rules_compile(rules, &err) < 0)
			abort();
		scratch = spam_scratch_new(rules);
	}
	if (size > 8192)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	(void)spam_parse_date(text, &t);
	for (line = strtok_r(text, "\n", &save); line != NULL && n < NAMES;
	     line = strtok_r(NULL, "\n", &save)) {
		headers[n].name = names[n];
		headers[n].value = line;
		headers[n].raw = NULL;
		n++;
	}
	memset(&msg, 0, sizeof(msg));
	msg.headers = headers;
	msg.header_count = n;
	msg.bayes = -1;
	/* The first bytes shape the part structure. */
	html[0].text_len = size > 0 ? data[0] * 4u : 0;
	html[0].images = size > 1 ? data[1] % 3u : 0;
	msg.html_parts = html;
	msg.html_part_count = size > 2 ? data[2] % 2u : 0;
	msg.text_part_count = size > 3 ? data[3] % 2u : 0;
	msg.envelope_from = n > 0 ? headers[0].value : NULL;
	msg.spf_pass = size > 4 && (data[4] & 1) != 0;
	signer[0] = n > 2 ? headers[2].value : "";
	msg.dkim_domains = signer;
	msg.dkim_domain_count = n > 2 ? 1 : 0;
	if (spam_rules_eval(rules, scratch, &msg, &result, &error) < 0)
		abort();
	spam_result_free(&result);
	free(text);
	return 0;
}
