/*
 * libFuzzer target for the quarantine's header summary
 * (store_quarantine_summary in mailstore/quarantine_db.c): arbitrary bytes
 * as the start of a message; From and Subject must come back bounded, with
 * no control character.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailstore/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const char *s)
{
	size_t len = strlen(s);

	if (len > STORE_QUARANTINE_SUMMARY_MAX)
		__builtin_trap();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *from = NULL, *subject = NULL;

	store_quarantine_summary((const char *)data, size, &from, &subject);
	check(from);
	check(subject);
	free(from);
	free(subject);
	return 0;
}
