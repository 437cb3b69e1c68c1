/*
 * libFuzzer target for rules/spam_regex.c, the lexer that picks a rule
 * regex's PCRE2 mode and writes its Hyperscan form: arbitrary bytes are a
 * pattern (the first byte picks /i and /x), prepared, and both forms given
 * to PCRE2 so a malformed translation shows up as a crash or a leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "rules/spam_regex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
try_compile(const char *pattern, uint32_t flags)
{
	int err;
	PCRE2_SIZE off;
	pcre2_code *re =
	    pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, flags,
			  &err, &off, NULL);

	if (re != NULL)
		pcre2_code_free(re);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spam_regex_prep prep;
	const char *error;
	uint32_t flags = 0;
	char *pattern;

	if (size == 0 || size > 4096)
		return 0;
	if (data[0] & 1)
		flags |= PCRE2_CASELESS;
	if (data[0] & 2)
		flags |= PCRE2_EXTENDED;
	pattern = malloc(size);
	if (pattern == NULL)
		return 0;
	memcpy(pattern, data + 1, size - 1);
	pattern[size - 1] = '\0';
	if (spam_regex_prepare(pattern, flags, &prep, &error) == 0) {
		try_compile(
		    pattern,
		    flags |
			(prep.utf ? PCRE2_UTF | PCRE2_MATCH_INVALID_UTF : 0));
		if (prep.hs_pattern != NULL)
			try_compile(prep.hs_pattern, flags);
		spam_regex_prep_free(&prep);
	}
	free(pattern);
	return 0;
}
