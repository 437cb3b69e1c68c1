/*
 * libFuzzer target for the users' spam-training request parser
 * (mailstore/train_spool.c): arbitrary bytes as a request file; a request
 * that parses must format back to text that parses to the same request.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/buf.h"
#include "mailstore/train_spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct train_request req, back;
	const char *error = NULL;
	struct buf text;

	if (train_request_parse((const char *)data, size, &req, &error) < 0) {
		if (error == NULL || strlen(error) == 0)
			__builtin_trap();
		return 0;
	}
	buf_init(&text);
	train_request_format(&req, &text);
	if (train_request_parse(text.data, text.len, &back, &error) < 0 ||
	    back.count != req.count || back.cls != req.cls ||
	    back.reason != req.reason || back.time != req.time ||
	    strcmp(back.user, req.user) != 0 ||
	    strcmp(back.mailbox, req.mailbox) != 0 ||
	    memcmp(back.uids, req.uids, req.count * sizeof(*req.uids)) != 0)
		__builtin_trap();
	train_request_clear(&back);
	train_request_clear(&req);
	buf_free(&text);
	return 0;
}
