/*
 * libFuzzer target for the parsers of the sender-authentication filters:
 * the message is split by mail_headers_parse(), every field's value goes
 * through dkim_tags_parse() and dkim_key_name(), the From domain through
 * dmarc_address_domain(), the From fields through dmarc_from_domains(),
 * and the whole message through arc_verify() with
 * keys that answer "no key" (structure, tags, canonicalisation and the
 * body hash all run), libopendkim's verification (its signature parser,
 * our DNS hooks answering from the same table) and the DKIM body hash in
 * both canonicalisations.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/arc.h"
#include "filters/dkim_canon.h"
#include "filters/dkim_keys.h"
#include "filters/dkim_tags.h"
#include "filters/dkim_verify.h"
#include "filters/dmarc.h"
#include "lib/config.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data, *error = NULL;
	struct mail_headers h;
	struct dkim_keys *keys;
	struct arc_result r;
	char **names = NULL, bh[45];
	size_t n;

	if (mail_headers_parse(msg, size, 1000, &h, &error) < 0)
		return 0;
	for (size_t i = 0; i < h.count; i++) {
		struct dkim_tags tags;
		char *name = NULL, *value;

		(void)dkim_tags_parse(h.items[i].value, h.items[i].value_len,
				      &tags, &error);
		dkim_tags_clear(&tags);
		if (dkim_key_name(h.items[i].value, h.items[i].value_len,
				  &name) == 0)
			free(name);
		value = xstrndup(h.items[i].value, h.items[i].value_len);
		if (dmarc_address_domain(value, &name) == 0)
			free(name);
		free(value);
	}
	{
		struct str_list domains = {0};
		bool several;

		dmarc_from_domains(&h, &domains, &several);
		if (domains.count > DMARC_MAX_FROM_DOMAINS)
			abort();
		str_list_free(&domains);
	}
	keys = dkim_keys_new();
	n = arc_key_names(&h, &names);
	for (size_t i = 0; i < n; i++) {
		dkim_keys_add(keys, names[i], DKIM_KEY_NONE, NULL, 0);
		free(names[i]);
	}
	free(names);
	arc_verify(&h, msg, size, keys, &r);
	{
		static struct dkim_verifier *verifier;
		struct dkim_verify_result vr;
		char *err = NULL;

		if (verifier == NULL) {
			struct dkim_verify_options o = {0};

			verifier = dkim_verifier_new(&o, &err);
			if (verifier == NULL)
				abort();
		}
		n = dkim_key_names(&h, "DKIM-Signature", 10, &names);
		for (size_t i = 0; i < n; i++) {
			const char *txt[1] = {"v=DKIM1; k=rsa; p=MFwwDQYJKoZIhv"
					      "cNAQEBBQADSwAwSAJBAA=="};

			dkim_keys_add(keys, names[i], DKIM_KEY_FOUND, txt, 1);
			free(names[i]);
		}
		free(names);
		if (dkim_verify_message(verifier, keys, "FUZZ", msg, size, &h,
					&vr, &error) == 0)
			dkim_verify_result_clear(&vr);
	}
	for (int c = 0; c < 2; c++) {
		struct dkim_body_hash *bhash = dkim_body_hash_new(
		    c == 0 ? DKIM_C14N_SIMPLE : DKIM_C14N_RELAXED, 100);

		if (h.body_offset < size)
			dkim_body_hash_update(bhash, msg + h.body_offset,
					      size - h.body_offset);
		dkim_body_hash_final(&bhash, bh);
	}
	dkim_keys_free(&keys);
	mail_headers_clear(&h);
	return 0;
}
