/*
 * libFuzzer target for the SMTP client's reply parser: arbitrary bytes cut
 * into lines and fed to smtp_reply_feed; each complete reply is read for
 * EHLO keywords and formatted for logs. Remote servers are untrusted.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gateway/smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct smtp_reply reply;
	struct smtp_caps caps;
	const char *p = (const char *)data, *end = p + size, *error;
	char out[600];

	smtp_reply_reset(&reply);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		int r = smtp_reply_feed(&reply, p, len, &error);

		if (r != 0) {
			if (r == 1) {
				smtp_caps_parse(&reply, &caps);
				smtp_reply_format(&reply, out, sizeof(out));
				if (strlen(out) >= sizeof(out) ||
				    reply.text_len >= sizeof(reply.text))
					__builtin_trap();
			}
			smtp_reply_reset(&reply);
		}
		p += len + (nl != NULL ? 1 : 0);
	}
	return 0;
}
