/*
 * libFuzzer target for filters/attach_rtf.c, the reader of RTF documents'
 * embedded OLE objects: arbitrary bytes behind "{\rtf1{\*\objdata " (so
 * that most inputs reach the hex decoder and the OLE1 and Package
 * readers), and the bytes as they are; every object reported must have
 * printable NUL-terminated names and data within its declared length.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/attach_rtf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_name(const char *s)
{
	for (size_t i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			abort();
}

static void
check(void *ctx, const char *class_name, const char *name,
      const unsigned char *d, size_t len)
{
	volatile unsigned char sum = 0;

	(void)ctx;
	check_name(class_name);
	check_name(name);
	if (d != NULL)
		for (size_t i = 0; i < len; i++)
			sum ^= d[i]; /* ASan checks the bounds */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char head[] = "{\\rtf1{\\*\\objdata ";
	size_t hlen = sizeof(head) - 1;
	unsigned char *buf = malloc(size + hlen);

	if (buf == NULL)
		return 0;
	memcpy(buf, head, hlen);
	if (size > 0)
		memcpy(buf + hlen, data, size);
	(void)attach_rtf_walk(buf, size + hlen, 16, 1 << 16, check, NULL);
	(void)attach_rtf_walk(data, size, 16, 1 << 16, check, NULL);
	free(buf);
	return 0;
}
