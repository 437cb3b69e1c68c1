/*
 * libFuzzer target for the DMARC rua= URI list parser (filters/dmarc_rua.c)
 * and the record tag reader: the input is a DNS TXT record, untrusted. Every
 * address kept must be printable, contain exactly one '@', fit its buffer
 * and point its domain into itself; the limits must not wrap.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/dmarc_rua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmarc_rua_list list;
	char *text = malloc(size + 1), tag[64];

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	dmarc_rua_parse(text, &list);
	if (list.count > DMARC_RUA_MAX)
		__builtin_trap();
	for (size_t i = 0; i < list.count; i++) {
		const struct dmarc_rua *r = &list.items[i];
		size_t len = strnlen(r->address, sizeof(r->address));

		if (len == sizeof(r->address) || r->domain <= r->address ||
		    r->domain > r->address + len || r->domain[-1] != '@' ||
		    strchr(r->domain, '@') != NULL)
			__builtin_trap();
		for (size_t j = 0; j < len; j++)
			if ((unsigned char)r->address[j] <= ' ' ||
			    (unsigned char)r->address[j] >= 0x7f)
				__builtin_trap();
	}
	if (dmarc_record_tag(text, "rua", tag, sizeof(tag)) == 1 &&
	    strlen(tag) >= sizeof(tag))
		__builtin_trap();
	free(text);
	return 0;
}
