/*
 * libFuzzer target for the IMAP command parser: arbitrary bytes as one
 * assembled command (line plus literals), as a line that may announce a
 * literal, as a sequence set and as a modified UTF-7 mailbox name.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/pool.h"
#include "mailstore/imap_parser.h"
#include "mailstore/imap_seqset.h"
#include "mailstore/imap_utf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pool *pool = pool_new(4096);
	struct imap_command cmd;
	struct imap_seqset set;
	struct buf out;
	const char *tag, *error;
	uint64_t lsize;
	bool nonsync;
	char *text;

	(void)imap_parser_parse(pool, (const char *)data, size, &cmd, &tag,
				&error);
	(void)imap_parser_line_literal((const char *)data, size, 1 << 20,
				       &lsize, &nonsync);
	pool_free(&pool);

	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	if (imap_seqset_parse(text, &set, &error) == 0) {
		(void)imap_seqset_contains(&set, 5, 10);
		imap_seqset_free(&set);
	}
	buf_init(&out);
	(void)imap_utf7_decode(text, &out);
	buf_reset(&out);
	(void)imap_utf7_encode(text, &out);
	buf_free(&out);
	free(text);
	return 0;
}
