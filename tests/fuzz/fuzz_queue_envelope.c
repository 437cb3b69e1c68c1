/*
 * libFuzzer target: queue_envelope_decode on arbitrary bytes. Queue files
 * are ours, but a corrupted disk must not turn into a crash or a wrong
 * delivery; successful decodes must re-encode to a decodable header.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gateway/queue_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_envelope env, again;
	const char *error = NULL;
	size_t header_len = 0, len2 = 0;
	struct buf b;

	if (queue_envelope_decode((const char *)data, size, &env, &header_len,
				  &error) != 1)
		return 0;
	buf_init(&b);
	queue_envelope_encode(&env, &b);
	if (queue_envelope_decode(b.data, b.len, &again, &len2, &error) != 1 ||
	    len2 != b.len || again.rcpt_count != env.rcpt_count)
		__builtin_trap();
	queue_envelope_free(&again);
	queue_envelope_free(&env);
	buf_free(&b);
	return 0;
}
