/*
 * libFuzzer target for the SMTP command parser and the address parser:
 * arbitrary bytes as one command line (with and without the SMTPUTF8
 * transaction flag), and as the inside of a path.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gateway/smtp_address.h"
#include "gateway/smtp_command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct smtp_command cmd;
	char out[SMTP_ADDRESS_BUF];
	const char *reply;
	unsigned int flags =
	    size > 0 && (data[0] & 1) ? SMTP_COMMAND_FLAG_UTF8 : 0;

	if (smtp_command_parse((const char *)data, size, flags, &cmd, &reply) ==
	    0) {
		if (cmd.verb == SMTP_VERB_MAIL || cmd.verb == SMTP_VERB_RCPT)
			(void)strlen(cmd.path);
	} else {
		(void)strlen(reply);
	}
	(void)smtp_address_parse((const char *)data, size, flags != 0,
				 (flags & 1) != 0, out, &reply);
	return 0;
}
