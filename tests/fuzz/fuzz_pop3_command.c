/*
 * libFuzzer target for the POP3 command parser and the RETR/TOP
 * dot-stuffing transform: arbitrary bytes as one command line, and as a
 * message streamed in two chunks (with and without a TOP line limit).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mailstore/pop3_command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pop3_command cmd;
	static char out[2 * 65536 + 8];
	struct pop3_dot st;
	const char *error;
	size_t half, o;

	if (pop3_command_parse((const char *)data, size, &cmd, &error) == 0) {
		(void)strlen(cmd.arg);
		(void)strlen(cmd.arg2);
	} else {
		(void)strlen(error);
	}
	if (size > 65536)
		return 0;
	half = size / 2;
	pop3_dot_init(&st, size > 0 ? (long)(data[0] % 4) - 1 : -1);
	o = pop3_dot_feed(&st, (const char *)data, half, out);
	o +=
	    pop3_dot_feed(&st, (const char *)data + half, size - half, out + o);
	o += pop3_dot_finish(&st, out + o);
	/* the stream ends with CRLF.CRLF or is just ".CRLF" */
	if (o < 3 || memcmp(out + o - 3, ".\r\n", 3) != 0)
		__builtin_trap();
	return 0;
}
