/*
 * libFuzzer target for filters/homograph.c and filters/url_host.c:
 * arbitrary bytes as a host name (punycode decoding through libidn2, the
 * UTF-8 walk, the script test) and as a URL whose host is taken and
 * tested.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/homograph.h"
#include "filters/url_host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), host[256];

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)homograph_host(s);
	if (url_host(s, host, sizeof(host))) {
		if (strlen(host) >= sizeof(host))
			abort();
		(void)homograph_host(host);
	}
	free(s);
	return 0;
}
