/*
 * Unit tests for filters/dkim_verify.c and dkim_keys.c: the RFC 6376 and
 * RFC 8463 example messages (../shared/testdata/dkim, verified at a fixed
 * time, skipped when absent), messages signed with our own keys under
 * tests/data/dkim (l= tags), tampered copies, and key-lookup failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "filters/dkim_verify.h"
#include "test_helpers.h"

#define RFC8463_RSA                                                            \
	"v=DKIM1; k=rsa; "                                                     \
	"p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk" \
	"08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/"     \
	"8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+"      \
	"2kryOTIKT+l/K4w3QIDAQAB"
#define RFC8463_ED                                                             \
	"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

struct key_def {
	const char *name;
	enum dkim_key_status status;
	const char *txt; /* literal, or "@file" under the shared dir */
};

struct expect_sig {
	const char *domain;
	const char *selector;
	enum dkim_result result;
	bool body_length;
};

struct verify_case {
	const char *name;
	const char *file;		     /* "shared:..." or "data:..." */
	const char *tamper_from, *tamper_to; /* replace first occurrence */
	struct key_def keys[4];
	size_t want_count;
	struct expect_sig want[3];
};

static const struct verify_case cases[] = {
    {"rfc6376 example, ed25519 + rsa, simple",
     "shared:dkim/dkimpy/rfc6376.signed.msg",
     NULL,
     NULL,
     {{"brisbane._domainkey.football.example.com", DKIM_KEY_FOUND, RFC8463_ED},
      {"test._domainkey.football.example.com", DKIM_KEY_FOUND,
       "@dkim/dkimpy/test.txt"}},
     2,
     {{"football.example.com", "brisbane", DKIM_RESULT_PASS, false},
      {"football.example.com", "test", DKIM_RESULT_PASS, false}}},
    {"rfc6376 example, rsa only",
     "shared:dkim/dkimpy/rfc6376.signed.rsa.msg",
     NULL,
     NULL,
     {{"test._domainkey.football.example.com", DKIM_KEY_FOUND, RFC8463_RSA}},
     1,
     {{"football.example.com", "test", DKIM_RESULT_PASS, false}}},
    {"rfc8463 example, relaxed",
     "shared:dkim/mimekit/rfc8463-example.msg",
     NULL,
     NULL,
     {{"brisbane._domainkey.football.example.com", DKIM_KEY_FOUND, RFC8463_ED},
      {"test._domainkey.football.example.com", DKIM_KEY_FOUND, RFC8463_RSA}},
     2,
     {{"football.example.com", "brisbane", DKIM_RESULT_PASS, false},
      {"football.example.com", "test", DKIM_RESULT_PASS, false}}},
    {"body tampered",
     "shared:dkim/dkimpy/rfc6376.signed.msg",
     "We lost",
     "We won",
     {{"brisbane._domainkey.football.example.com", DKIM_KEY_FOUND, RFC8463_ED},
      {"test._domainkey.football.example.com", DKIM_KEY_FOUND, RFC8463_RSA}},
     2,
     {{"football.example.com", "brisbane", DKIM_RESULT_FAIL, false},
      {"football.example.com", "test", DKIM_RESULT_FAIL, false}}},
    {"subject tampered",
     "shared:dkim/mimekit/rfc8463-example.msg",
     "Is dinner ready?",
     "Is lunch ready?",
     {{"brisbane._domainkey.football.example.com", DKIM_KEY_FOUND, RFC8463_ED},
      {"test._domainkey.football.example.com", DKIM_KEY_FOUND, RFC8463_RSA}},
     2,
     {{"football.example.com", "brisbane", DKIM_RESULT_FAIL, false},
      {"football.example.com", "test", DKIM_RESULT_FAIL, false}}},
    {"key lookup failed, no key",
     "shared:dkim/dkimpy/rfc6376.signed.msg",
     NULL,
     NULL,
     {{"test._domainkey.football.example.com", DKIM_KEY_NONE, NULL}},
     2,
     {{"football.example.com", "brisbane", DKIM_RESULT_TEMPERROR, false},
      {"football.example.com", "test", DKIM_RESULT_PERMERROR, false}}},
    {"wrong key",
     "shared:dkim/dkimpy/rfc6376.signed.rsa.msg",
     NULL,
     NULL,
     {{"test._domainkey.football.example.com", DKIM_KEY_FOUND,
       "@@dkim/moat.example.test.txt"}},
     1,
     {{"football.example.com", "test", DKIM_RESULT_FAIL, false}}},
    {"gmail (relaxed, 2048-bit)",
     "shared:dkim/mimekit/gmail.msg",
     NULL,
     NULL,
     {{"20120113._domainkey.gmail.com", DKIM_KEY_FOUND,
       "@pem:dkim/mimekit/gmail.pub"}},
     1,
     {{"gmail.com", "20120113", DKIM_RESULT_PASS, false}}},
    {"gmail, multipart related",
     "shared:dkim/mimekit/related.msg",
     NULL,
     NULL,
     {{"20120113._domainkey.gmail.com", DKIM_KEY_FOUND,
       "@pem:dkim/mimekit/gmail.pub"}},
     1,
     {{"gmail.com", "20120113", DKIM_RESULT_PASS, false}}},
    {"gmail, no end boundary",
     "shared:dkim/mimekit/multipart-no-end-boundary.msg",
     NULL,
     NULL,
     {{"20120113._domainkey.gmail.com", DKIM_KEY_FOUND,
       "@pem:dkim/mimekit/gmail.pub"}},
     1,
     {{"gmail.com", "20120113", DKIM_RESULT_PASS, false}}},
    {"exim ed25519, degenerate folding",
     "shared:dkim/dkimpy/ed25519test2.msg",
     NULL,
     NULL,
     {{"sed._domainkey.test.ex", DKIM_KEY_FOUND, "@dkim/dkimpy/eximtest.dns"}},
     1,
     {{"test.ex", "sed", DKIM_RESULT_PASS, false}}},
    {"no signature",
     "shared:dkim/dkimpy/test.message",
     NULL,
     NULL,
     {{0}},
     0,
     {{0}}},
    {"l= body length, content appended",
     "data:dkim/length.eml",
     NULL,
     NULL,
     {{"moat._domainkey.example.test", DKIM_KEY_FOUND,
       "@@dkim/moat.example.test.txt"}},
     1,
     {{"example.test", "moat", DKIM_RESULT_PASS, true}}},
};

static char *
key_text(const char *txt)
{
	char path[512];

	if (txt == NULL || txt[0] != '@')
		return txt != NULL ? strdup(txt) : NULL;
	if (strncmp(txt, "@pem:", 5) == 0) {
		struct buf pem, rec;
		char *line, *save = NULL;

		snprintf(path, sizeof(path), "%s/%s", SHARED_DIR, txt + 5);
		if (test_read_file(path, &pem) < 0)
			return NULL;
		buf_init(&rec);
		buf_append_str(&rec, "v=DKIM1; k=rsa; p=");
		for (line = strtok_r(pem.data, "\r\n", &save); line != NULL;
		     line = strtok_r(NULL, "\r\n", &save))
			if (strncmp(line, "-----", 5) != 0)
				buf_append_str(&rec, line);
		buf_free(&pem);
		return buf_detach(&rec);
	}
	if (txt[1] == '@')
		snprintf(path, sizeof(path), "%s/%s", DATA_DIR, txt + 2);
	else
		snprintf(path, sizeof(path), "%s/%s", SHARED_DIR, txt + 1);
	return test_read_line(path);
}

static void
run_case(struct dkim_verifier *verifier, const struct verify_case *c)
{
	char path[512];
	struct buf msg = {0};
	struct mail_headers headers;
	struct dkim_keys *keys = dkim_keys_new();
	struct dkim_verify_result result;
	const char *error = NULL;

	if (strncmp(c->file, "shared:", 7) == 0)
		snprintf(path, sizeof(path), "%s/%s", SHARED_DIR, c->file + 7);
	else
		snprintf(path, sizeof(path), "%s/%s", DATA_DIR, c->file + 5);
	if (test_read_message(path, &msg) < 0)
		fail_msg("%s: cannot read %s", c->name, path);
	if (c->tamper_from != NULL) {
		char *p = strstr(msg.data, c->tamper_from);
		struct buf t = {0};

		assert_non_null(p);
		buf_append(&t, msg.data, (size_t)(p - msg.data));
		buf_append_str(&t, c->tamper_to);
		buf_append_str(&t, p + strlen(c->tamper_from));
		buf_free(&msg);
		msg = t;
	}
	for (size_t i = 0; i < 4 && c->keys[i].name != NULL; i++) {
		char *txt = key_text(c->keys[i].txt);
		const char *list[1] = {txt};

		if (c->keys[i].txt != NULL && txt == NULL)
			fail_msg("%s: no key file %s", c->name, c->keys[i].txt);
		dkim_keys_add(keys, c->keys[i].name, c->keys[i].status, list,
			      txt != NULL ? 1 : 0);
		free(txt);
	}
	assert_int_equal(
	    mail_headers_parse(msg.data, msg.len, 1000, &headers, &error), 0);
	if (dkim_verify_message(verifier, keys, "TEST", msg.data, msg.len,
				&headers, &result, &error) < 0)
		fail_msg("%s: %s", c->name, error);
	if (result.count != c->want_count)
		fail_msg("%s: %zu signatures, want %zu", c->name, result.count,
			 c->want_count);
	for (size_t i = 0; i < result.count; i++) {
		const struct dkim_sig_result *r = &result.sigs[i];
		const struct expect_sig *w = &c->want[i];

		if (r->result != w->result ||
		    strcmp(r->domain, w->domain) != 0 ||
		    strcmp(r->selector, w->selector) != 0 ||
		    r->body_length != w->body_length)
			fail_msg("%s: sig %zu: %s d=%s s=%s l=%d (%s), want "
				 "%s d=%s s=%s l=%d",
				 c->name, i, dkim_result_name(r->result),
				 r->domain, r->selector, r->body_length,
				 r->reason != NULL ? r->reason : "",
				 dkim_result_name(w->result), w->domain,
				 w->selector, w->body_length);
		if (r->result == DKIM_RESULT_PASS)
			assert_int_equal(strlen(r->b_prefix), 8);
	}
	if (strstr(c->name, "appended") != NULL)
		assert_true(result.count == 1 && result.sigs[0].body_unsigned);
	dkim_verify_result_clear(&result);
	mail_headers_clear(&headers);
	dkim_keys_free(&keys);
	buf_free(&msg);
}

static void
test_vectors(void **state)
{
	struct dkim_verify_options opts = {.fixed_time = 1800000000};
	char *error = NULL;
	struct dkim_verifier *verifier = dkim_verifier_new(&opts, &error);
	size_t ran = 0;

	(void)state;
	if (verifier == NULL)
		fail_msg("%s", error);
	assert_true(dkim_verifier_has_ed25519(verifier));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strncmp(cases[i].file, "shared:", 7) == 0 &&
		    !test_shared_present())
			continue;
		run_case(verifier, &cases[i]);
		ran++;
	}
	printf("dkim_verify: %zu of %zu cases ran and passed\n", ran,
	       sizeof(cases) / sizeof(cases[0]));
	dkim_verifier_free(&verifier);
}

static void
test_key_names(void **state)
{
	static const struct {
		const char *value;
		const char *want;
	} kn[] = {
	    {" v=1; a=rsa-sha256; d=Example.COM; s=sel1; b=abc",
	     "sel1._domainkey.example.com"},
	    {"d=example.com; s=a.b", "a.b._domainkey.example.com"},
	    {"d=example.com", NULL},
	    {"d=exa mple.com; s=x", "x._domainkey.example.com"},
	    {"d=example..com; s=x", NULL},
	    {"d=example.com; s=x\"y", NULL},
	    {"d=example.com; d=other.com; s=x", NULL},
	    {"s=x; d=", NULL},
	    {"=x", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(kn) / sizeof(kn[0]); i++) {
		char *name = NULL;
		int rc = dkim_key_name(kn[i].value, strlen(kn[i].value), &name);

		if (kn[i].want == NULL) {
			if (rc != -1)
				fail_msg("%zu: got %s", i, name);
		} else {
			assert_int_equal(rc, 0);
			assert_string_equal(name, kn[i].want);
			free(name);
		}
	}
}

static void
test_headers(void **state)
{
	const char *msg = "From: a@b\r\nSubject: x\r\n y\r\nbroken line\r\n"
			  "To : c@d\r\n\r\nbody\r\n";
	struct mail_headers h;
	const char *error;

	(void)state;
	assert_int_equal(mail_headers_parse(msg, strlen(msg), 10, &h, &error),
			 0);
	assert_int_equal(h.count, 3);
	assert_true(mail_header_is(&h.items[0], "from"));
	assert_int_equal(h.items[1].len, strlen("Subject: x\r\n y"));
	assert_true(mail_header_is(&h.items[2], "TO"));
	assert_string_equal(msg + h.body_offset, "body\r\n");
	mail_headers_clear(&h);
	assert_int_equal(mail_headers_parse(msg, strlen(msg), 2, &h, &error),
			 -1);
}

int main(void);

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_key_names),
	    cmocka_unit_test(test_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
