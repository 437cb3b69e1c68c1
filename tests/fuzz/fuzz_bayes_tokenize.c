/*
 * libFuzzer target for rules/bayes_tokenize.c: arbitrary bytes parsed as a
 * message and tokenised the way the spam filter does (MIME parse, the rule
 * engine's view, every token hashed); the same bytes also go straight to
 * the header, HTML and URL tokenisers, which then see unterminated markup
 * and raw 8-bit bytes that the MIME parse would have cleaned. Every token
 * must be non-empty and at most 128 bytes. The sender token reads the
 * Received fields (rules/spam_sender.c) with every public address trusted
 * too, so the walk goes through all of them; the Received and CIDR
 * parsers also get the raw bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/mime.h"
#include "filters/spam_view.h"
#include "lib/netblock.h"
#include "rules/bayes.h"
#include "rules/spam_sender.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_cb(void *context, const char *token, size_t len)
{
	(void)context;
	if (len == 0 || len > 128 || token == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_message *m;
	struct spam_view view;
	struct bayes_tokens tokens;
	static char *everywhere[] = {"0.0.0.0/1", "::/0"};
	char *copy, ip[64], net[64];
	size_t split;

	m = mime_parse_buffer(data, size, NULL);
	spam_view_init(&view, m, (const char *)data, size, 1 << 20);
	spam_view_set_trusted(&view, everywhere, 2);
	bayes_tokens_init(&tokens);
	bayes_tokenize(&view.msg, &tokens);
	for (size_t i = 1; i < tokens.count; i++)
		if (tokens.hashes[i - 1] >= tokens.hashes[i])
			abort();
	bayes_tokens_free(&tokens);
	spam_view_free(&view);
	mime_message_free(&m);

	/* name NUL value: the first 0 or '\n' splits the input */
	copy = malloc(size + 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	split = strcspn(copy, "\n");
	if (split < size)
		copy[split] = '\0';
	bayes_tokenize_header(copy, split < size ? copy + split + 1 : NULL,
			      check_cb, NULL);
	bayes_tokenize_html((const char *)data, size, check_cb, NULL);
	bayes_tokenize_url(copy, check_cb, NULL);
	if (spam_received_from_ip(copy, ip, sizeof(ip)) &&
	    (strlen(ip) >= sizeof(ip) ||
	     netblock_network(ip, 16, 48, net, sizeof(net)) < 0))
		abort();
	(void)netblock_valid(copy);
	(void)netblock_match(copy, everywhere, 2);
	bayes_tokenize_text((const char *)data, size, "S:", check_cb, NULL);
	free(copy);
	return 0;
}
