/*
 * libFuzzer target for filters/attach_tnef.c, the TNEF (winmail.dat)
 * walker: arbitrary bytes behind the TNEF signature, every attachment it
 * reports checked to lie inside the input and to have a NUL-terminated
 * printable name.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/attach_tnef.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_tnef_input {
	const unsigned char *start;
	size_t len;
};

static void
check(void *ctx, const char *name, const unsigned char *d, size_t len)
{
	const struct fuzz_tnef_input *in = ctx;
	size_t n = strlen(name);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 ||
		    (unsigned char)name[i] > 0x7e)
			abort();
	if (d != NULL && (d < in->start || len > in->len ||
			  (size_t)(d - in->start) > in->len - len))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *buf = malloc(size + 6);
	struct fuzz_tnef_input in;

	if (buf == NULL)
		return 0;
	memcpy(buf, "\x78\x9f\x3e\x22\x01\x00", 6);
	if (size > 0)
		memcpy(buf + 6, data, size);
	in.start = buf;
	in.len = size + 6;
	(void)attach_tnef_walk(buf, size + 6, 64, check, &in);
	(void)attach_tnef_walk(data, size, 64, check,
			       &(struct fuzz_tnef_input){data, size});
	free(buf);
	return 0;
}
