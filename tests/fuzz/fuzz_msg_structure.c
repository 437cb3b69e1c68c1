/*
 * libFuzzer target for mailstore/msg_structure.c: arbitrary bytes parsed as
 * a message; every output (ENVELOPE, BODYSTRUCTURE, BODY, sections, BINARY)
 * is produced, every section range must lie inside the input, and the blob
 * must round-trip to an identical blob. The same bytes are also offered to
 * the blob reader, which must refuse or accept them without harm, and to
 * the SEARCH decoders (header fields, body text, fold), and SORT/THREAD
 * keys are built from it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "mailstore/msg_search.h"
#include "mailstore/msg_sort.h"
#include "mailstore/msg_structure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const specs[] = {
    "",	   "HEADER", "TEXT",	 "1",	   "1.MIME", "2",	   "1.1",
    "1.2", "2.1",    "2.HEADER", "2.TEXT", "1.1.1",  "3.2.1.MIME",
};

static void
exercise(const struct msg_structure *s, const char *msg, size_t size)
{
	struct buf out = {0};
	char *error = NULL;

	msg_structure_envelope(s, &out);
	msg_structure_bodystructure(s, true, &out);
	msg_structure_bodystructure(s, false, &out);
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct msg_section sec;
		bool unknown;
		int ret = msg_structure_section(s, specs[i], &sec, &error);

		if (ret < 0)
			abort(); /* every spec above is valid syntax */
		if (ret > 0 && sec.offset + sec.size > msg_structure_size(s))
			abort();
		if (msg != NULL &&
		    msg_structure_binary(s, msg, size, specs[i], &out, &unknown,
					 &error) < 0)
			free(error);
		error = NULL;
	}
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_structure *s = NULL, *copy = NULL;
	struct buf blob = {0}, blob2 = {0};
	char *error = NULL;

	if (msg_structure_parse((const char *)data, size, &s, &error) < 0)
		abort();
	if (msg_structure_size(s) != size)
		abort();
	exercise(s, (const char *)data, size);
	/* The search decoders over the same bytes. */
	{
		struct buf text = {0}, folded = {0};
		if (msg_search_body_text(s, (const char *)data, size, &text) <
		    0)
			abort();
		msg_search_header_all((const char *)data, size, &text);
		msg_search_fold(text.data != NULL ? text.data : "", text.len,
				&folded);
		buf_free(&text);
		buf_free(&folded);
	}
	/* SORT/THREAD keys (base subject, addresses, dates, references),
	 * threaded against a copy of themselves. */
	{
		struct msg_sort_keys keys[2];
		struct msg_sort_criterion crit[2] = {
		    {MSG_SORT_SUBJECT, false}, {MSG_SORT_DISPLAYFROM, true}};
		uint32_t ids[2];
		struct buf out = {0};

		msg_sort_keys_init(&keys[0], s, 1, 0, size);
		msg_sort_keys_init(&keys[1], s, 2, 0, size);
		msg_sort(keys, 2, crit, 2, ids);
		msg_thread_references(keys, 2, &out);
		msg_thread_orderedsubject(keys, 2, &out);
		msg_sort_keys_clear(&keys[0]);
		msg_sort_keys_clear(&keys[1]);
		buf_free(&out);
	}
	msg_structure_serialize(s, &blob);
	if (msg_structure_deserialize(blob.data, blob.len, &copy, &error) < 0)
		abort();
	msg_structure_serialize(copy, &blob2);
	if (blob.len != blob2.len || memcmp(blob.data, blob2.data, blob.len))
		abort();
	msg_structure_free(&copy);
	msg_structure_free(&s);
	buf_free(&blob);
	buf_free(&blob2);

	/* The input as a blob. */
	if (msg_structure_deserialize(data, size, &copy, &error) == 0) {
		exercise(copy, NULL, 0);
		msg_structure_free(&copy);
	} else {
		free(error);
	}
	return 0;
}
