/*
 * libFuzzer target for gateway/mime_downgrade.c: arbitrary bytes as a
 * queued message at a non-zero offset, converted to 7 bits. When the
 * conversion succeeds its output must really be 7-bit and as long as it
 * says; the memfd is closed every time, so a descriptor leak shows as
 * EMFILE within a run.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/mime_downgrade.h"
#include "lib/fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char lead[] = "queue envelope before the message\n";
	int in = memfd_create("fuzz-in", MFD_CLOEXEC), out = -1;
	const char *error = NULL;
	size_t len = 0;
	struct stat st;
	int r;

	if (in < 0)
		abort();
	if (fileio_write_all(in, lead, sizeof(lead) - 1) < 0 ||
	    fileio_write_all(in, data, size) < 0)
		abort();
	r = mime_downgrade(in, (off_t)sizeof(lead) - 1, size, &out, &len,
			   &error);
	if (r == 1) {
		unsigned char buf[4096];
		size_t pos = 0;

		if (fstat(out, &st) < 0 || (size_t)st.st_size != len)
			abort();
		while (pos < len) {
			ssize_t n = pread(out, buf, sizeof(buf), (off_t)pos);

			if (n <= 0)
				abort();
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] >= 0x80)
					abort();
			pos += (size_t)n;
		}
		close(out);
	} else if (r < 0 && error == NULL) {
		abort();
	}
	close(in);
	return 0;
}
