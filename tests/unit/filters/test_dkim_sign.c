/*
 * Unit tests for filters/dkim_canon.c and dkim_sign.c: canonicalisation
 * vectors (RFC 6376 3.4.5 example, empty bodies), signatures made by Moat
 * (RSA and Ed25519, every canonicalisation) verified by libopendkim through
 * dkim_verify, tampered copies failing, and the key store (genkey, list,
 * show-dns) in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <unistd.h>

#include "filters/dkim_sign.h"
#include "filters/dkim_verify.h"
#include "lib/xalloc.h"
#include "test_helpers.h"

static void
test_canon(void **state)
{
	/* RFC 6376 3.4.5 */
	const char *h1 = "A: X", *h2 = "B : Y\t\r\n\tZ  ";
	const char *body = " C \r\nD \t E\r\n\r\n\r\n";
	struct buf out;
	char bh[45], want[45];
	struct dkim_body_hash *h;
	static const struct {
		enum dkim_c14n c;
		const char *body;
		const char *want;
	} bodies[] = {
	    {DKIM_C14N_SIMPLE, "",
	     "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY="},
	    {DKIM_C14N_SIMPLE, "\r\n\r\n",
	     "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY="},
	    {DKIM_C14N_RELAXED, "",
	     "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
	    {DKIM_C14N_RELAXED, " \r\n\t\r\n",
	     "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
	};

	(void)state;
	buf_init(&out);
	dkim_canon_header(DKIM_C14N_RELAXED, h1, strlen(h1), true, &out);
	dkim_canon_header(DKIM_C14N_RELAXED, h2, strlen(h2), true, &out);
	assert_string_equal(buf_cstr(&out), "a:X\r\nb:Y Z\r\n");
	buf_free(&out);

	/* relaxed body of the example is " C\r\nD E\r\n" */
	h = dkim_body_hash_new(DKIM_C14N_RELAXED, -1);
	dkim_body_hash_update(h, body, 5); /* split mid-line */
	dkim_body_hash_update(h, body + 5, strlen(body) - 5);
	dkim_body_hash_final(&h, bh);
	h = dkim_body_hash_new(DKIM_C14N_SIMPLE, -1);
	dkim_body_hash_update(h, " C\r\nD E\r\n", 9);
	dkim_body_hash_final(&h, want);
	assert_string_equal(bh, want);

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		h = dkim_body_hash_new(bodies[i].c, -1);
		dkim_body_hash_update(h, bodies[i].body,
				      strlen(bodies[i].body));
		dkim_body_hash_final(&h, bh);
		if (strcmp(bh, bodies[i].want) != 0)
			fail_msg("body %zu: %s", i, bh);
	}

	buf_init(&out);
	dkim_strip_b_value("DKIM-Signature: v=1; bh=abc; b=xy\r\n z; d=x", 42,
			   &out);
	assert_string_equal(buf_cstr(&out),
			    "DKIM-Signature: v=1; bh=abc; b=; d=x");
	buf_free(&out);
}

static const char *message = "From: Alice <alice@example.test>\r\n"
			     "To: Bob <bob@example.net>\r\n"
			     "Subject:   folded\r\n  subject line \r\n"
			     "Date: Tue, 01 Dec 2026 12:00:00 +0000\r\n"
			     "Message-ID: <s1@example.test>\r\n"
			     "\r\n"
			     "Hello  Bob,\r\n\r\nsee you   \r\n\r\n\r\n";

static void
sign_and_verify(struct dkim_verifier *verifier, const char *dir,
		const char *domain, enum dkim_c14n hc, enum dkim_c14n bc,
		const char *tamper)
{
	struct dkim_sign_key *key = NULL;
	struct dkim_sign_options opts = {hc, bc, NULL, 0};
	struct mail_headers headers;
	char *field = NULL, *err = NULL, *rec, *name;
	const char *error = NULL;
	struct buf signed_msg;
	struct dkim_keys *keys = dkim_keys_new();
	struct dkim_verify_result result;
	const char *list[1];

	assert_int_equal(dkim_keystore_load(dir, domain, &key, &err), 1);
	assert_int_equal(
	    mail_headers_parse(message, strlen(message), 100, &headers, &error),
	    0);
	if (dkim_sign_message(key, &opts, message, strlen(message), &headers,
			      &field, &error) < 0)
		fail_msg("sign: %s", error);
	mail_headers_clear(&headers);
	assert_non_null(
	    strstr(field, "h=from:from:subject:date:message-id:to;"));

	buf_init(&signed_msg);
	buf_append_str(&signed_msg, field);
	buf_append_str(&signed_msg, "\r\n");
	buf_append_str(&signed_msg, message);
	if (tamper != NULL) {
		char *p = strstr(signed_msg.data, tamper);

		assert_non_null(p);
		*p = (char)(*p == 'X' ? 'Y' : 'X');
	}
	rec = dkim_key_record(key);
	name = xasprintf("%s._domainkey.%s", key->selector, key->domain);
	list[0] = rec;
	dkim_keys_add(keys, name, DKIM_KEY_FOUND, list, 1);
	assert_int_equal(mail_headers_parse(signed_msg.data, signed_msg.len,
					    100, &headers, &error),
			 0);
	assert_int_equal(dkim_verify_message(verifier, keys, "T",
					     signed_msg.data, signed_msg.len,
					     &headers, &result, &error),
			 0);
	assert_int_equal(result.count, 1);
	if (result.sigs[0].result !=
	    (tamper == NULL ? DKIM_RESULT_PASS : DKIM_RESULT_FAIL))
		fail_msg("%s %s/%s tamper=%s: %s (%s)\n%s", domain,
			 dkim_c14n_name(hc), dkim_c14n_name(bc),
			 tamper != NULL ? tamper : "-",
			 dkim_result_name(result.sigs[0].result),
			 result.sigs[0].reason ? result.sigs[0].reason : "",
			 field);
	dkim_verify_result_clear(&result);
	mail_headers_clear(&headers);
	dkim_keys_free(&keys);
	buf_free(&signed_msg);
	free(rec);
	free(name);
	free(field);
	dkim_sign_key_free(&key);
}

static void
test_sign_verify(void **state)
{
	char dir[] = "/tmp/moat-dkim-XXXXXX";
	char *err = NULL, *text = NULL, *kdir;
	struct dkim_verify_options vopts = {0};
	struct dkim_verifier *verifier = dkim_verifier_new(&vopts, &err);
	static const enum dkim_c14n c[] = {DKIM_C14N_SIMPLE, DKIM_C14N_RELAXED};

	(void)state;
	assert_non_null(verifier);
	assert_non_null(mkdtemp(dir));
	kdir = xasprintf("%s/dkim", dir);
	assert_int_equal(
	    dkim_keystore_genkey(kdir, "Example.TEST", "rsa1", false, &err), 0);
	assert_int_equal(
	    dkim_keystore_genkey(kdir, "ed.test", "ed1", true, &err), 0);
	assert_int_equal(dkim_keystore_genkey(kdir, "../x", "s", true, &err),
			 -1);
	free(err);
	err = NULL;
	for (size_t i = 0; i < 2; i++)
		for (size_t j = 0; j < 2; j++) {
			sign_and_verify(verifier, kdir, "example.test", c[i],
					c[j], NULL);
			sign_and_verify(verifier, kdir, "ed.test", c[i], c[j],
					NULL);
			sign_and_verify(verifier, kdir, "example.test", c[i],
					c[j], "Hello");
			sign_and_verify(verifier, kdir, "ed.test", c[i], c[j],
					"Bob <bob");
		}
	assert_int_equal(dkim_keystore_list(kdir, &text, &err), 0);
	assert_string_equal(text, "ed.test ed1 ed25519 active\n"
				  "example.test rsa1 rsa active\n");
	free(text);
	assert_int_equal(dkim_keystore_dns_record(kdir, "ed.test", &text, &err),
			 0);
	assert_non_null(strstr(text,
			       "ed1._domainkey.ed.test. IN TXT ( \"v=DKIM1; "
			       "k=ed25519; p="));
	free(text);
	assert_int_equal(
	    dkim_keystore_dns_record(kdir, "none.test", &text, &err), -1);
	free(err);
	dkim_verifier_free(&verifier);
	{
		char *cmd = xasprintf("rm -rf '%s'", dir);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	free(kdir);
}

int main(void);

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_canon),
	    cmocka_unit_test(test_sign_verify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
