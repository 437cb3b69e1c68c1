/*
 * Unit tests for filters/text_deobfuscate.c: a table of texts with
 * invisible and look-alike characters, what the rules then read, and how
 * many signs of obfuscation each gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "filters/text_deobfuscate.h"
#include "lib/buf.h"

static void
test_table(void **state)
{
	static const struct {
		const char *in, *want;
		size_t signs;
	} cases[] = {
	    {"plain text", "plain text", 0},
	    /* zero-width space, joiner, word joiner, BOM inside words */
	    {"V\xe2\x80\x8bi\xe2\x80\x8d"
	     "a\xe2\x81\xa0g\xef\xbb\xbfra",
	     "Viagra", 4},
	    /* several invisibles in a row: one sign */
	    {"ab\xe2\x80\x8b\xe2\x80\x8b\xe2\x80\x8b"
	     "cd",
	     "abcd", 1},
	    /* bidirectional override, Hangul filler, tag character and a
	     * variation selector inside words */
	    {"Vi\xe2\x80\xae"
	     "ag ra\xe3\x85\xa4ti\xf3\xa0\x81\x81o n\xef\xb8\x8fow",
	     "Viag ratio now", 4},
	    /* a right-to-left mark in Hebrew text: dropped, no sign */
	    {"\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d\xe2\x80\x8f",
	     "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", 0},
	    /* soft hyphen: dropped, ordinary in German hyphenation hints */
	    {"Silben\xc2\xadtrennung", "Silbentrennung", 0},
	    /* invisibles between words (a newsletter's preheader padding) */
	    {"Hello \xe2\x80\x8c \xe2\x80\x8c world", "Hello   world", 0},
	    /* ZWNJ in Persian and ZWJ in an emoji sequence are kept */
	    {"\xd9\x85\xdb\x8c\xe2\x80\x8c\xd8\xb1\xd9\x88\xd9\x85",
	     "\xd9\x85\xdb\x8c\xe2\x80\x8c\xd8\xb1\xd9\x88\xd9\x85", 0},
	    {"\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x92\xbb",
	     "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x92\xbb", 0},
	    /* mathematical bold FREE, circled "ok": read as ASCII, signs */
	    {"\xf0\x9d\x90\x85\xf0\x9d\x90\x91\xf0\x9d\x90\x84\xf0\x9d\x90\x84",
	     "FREE", 4},
	    {"\xe2\x93\x9e\xe2\x93\x9a", "ok", 2},
	    /* full-width: read as ASCII, no sign (CJK text has them) */
	    {"\xef\xbc\xa6\xef\xbc\xb2\xef\xbc\xa5\xef\xbc\xa5 "
	     "2026\xe5\xb9\xb4",
	     "FREE 2026\xe5\xb9\xb4", 0},
	    /* accented Latin letters count as letters */
	    {"caf\xc3\xa9\xe2\x80\x8b\xc3\xa9t\xc3\xa9",
	     "caf\xc3\xa9\xc3\xa9t\xc3\xa9", 1},
	    /* mathematical Greek stays */
	    {"\xf0\x9d\x9a\xa8", "\xf0\x9d\x9a\xa8", 0},
	    /* broken UTF-8 passes through */
	    {"a\xff"
	     "b",
	     "a\xff"
	     "b",
	     0},
	    {"\xe2\x80", "\xe2\x80", 0},
	    {"", "", 0},
	    /* Latin words with a look-alike Cyrillic or Greek letter */
	    {"p\xd0\xb0ypal login", "paypal login", 1},
	    {"\xd0\xa0\xd0\xb0yPal", "PayPal", 1},
	    {"\xd0\xb0"
	     "cc\xd0\xbe"
	     "unt\xe2\x80\x8b",
	     "account", 1},
	    {"\xd0\x9co\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0",
	     "\xd0\x9co\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0", 1},
	    {"\xce\xbfk", "\xce\xbfk", 1}, /* as many Greek as Latin */
	    /* each in its own word, or joined by a hyphen: none */
	    {"\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0 Moscow",
	     "\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0 Moscow", 0},
	    {"Telegram-\xd0\xb5", "Telegram-\xd0\xb5", 0},
	    /* Cyrillic letters that look like no Latin one: none */
	    {"SMS\xd0\xb6", "SMS\xd0\xb6", 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out;
		size_t signs;

		buf_init(&out);
		signs =
		    text_deobfuscate(cases[i].in, strlen(cases[i].in), &out);
		if (strcmp(buf_cstr(&out), cases[i].want) != 0 ||
		    signs != cases[i].signs)
			fail_msg("case %zu: got \"%s\" with %zu signs", i,
				 buf_cstr(&out), signs);
		buf_free(&out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
