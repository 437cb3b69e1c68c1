/*
 * Unit tests for filters/arc.c: the ValiMail ARC test suite
 * (../shared/testdata/arc/tests, JSON form, skipped when absent), validation
 * (171 cases: expected cv pass / fail / none) and signing (17 cases: the
 * ARC-Seal, ARC-Message-Signature and ARC-Authentication-Results a signer
 * must produce, compared tag by tag). Pass counts are printed; every case
 * must pass except those in the reasoned lists below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/pem.h>

#include "filters/arc.h"
#include "json_mini.h"
#include "test_helpers.h"

/* Validation cases whose expected result Moat does not reproduce, with
 * the reason. */
static const struct {
	const char *name;
	const char *reason;
} validation_skips[] = {
    {NULL, NULL},
};

static struct json *
load_suite(const char *name)
{
	char path[512];
	struct buf b;
	const char *p;
	struct json *j;

	snprintf(path, sizeof(path), "%s/arc/tests/%s", SHARED_DIR, name);
	if (test_read_file(path, &b) < 0)
		return NULL;
	p = buf_cstr(&b);
	j = json_parse_value(&p);
	buf_free(&b);
	return j;
}

static void
to_crlf(const char *in, struct buf *out)
{
	buf_init(out);
	for (const char *p = in; *p != '\0'; p++) {
		if (*p == '\n' && (p == in || p[-1] != '\r'))
			buf_append_char(out, '\r');
		buf_append_char(out, *p);
	}
}

static struct dkim_keys *
suite_keys(const struct json *scenario)
{
	const struct json *recs = json_get(scenario, "txt-records");
	struct dkim_keys *keys = dkim_keys_new();

	for (size_t i = 0; recs != NULL && i < recs->count; i++) {
		char *v = xstrdup(recs->items[i]->text);
		const char *list[1] = {v};

		for (char *c = v; *c != '\0'; c++)
			if (*c == '\n' || *c == '\r')
				*c = ' ';
		dkim_keys_add(keys, recs->keys[i], DKIM_KEY_FOUND, list, 1);
		free(v);
	}
	return keys;
}

static bool
skipped(const char *name)
{
	for (size_t i = 0; validation_skips[i].name != NULL; i++)
		if (strcmp(validation_skips[i].name, name) == 0)
			return true;
	return false;
}

static void
test_validation(void **state)
{
	struct json *suite;
	size_t ran = 0, passed = 0, skip = 0;

	(void)state;
	suite = load_suite("arc-draft-validation-tests.json");
	if (suite == NULL) {
		printf("arc: shared test data absent, validation suite "
		       "skipped\n");
		return;
	}
	for (size_t s = 0; s < suite->count; s++) {
		const struct json *sc = suite->items[s];
		const struct json *tests = json_get(sc, "tests");
		struct dkim_keys *keys = suite_keys(sc);

		for (size_t t = 0; tests != NULL && t < tests->count; t++) {
			const struct json *tc = tests->items[t];
			const char *want = json_str(tc, "cv");
			struct buf msg;
			struct mail_headers h;
			struct arc_result r;
			const char *error, *got;

			to_crlf(json_str(tc, "message"), &msg);
			ran++;
			if (mail_headers_parse(buf_cstr(&msg), msg.len, 1000,
					       &h, &error) < 0) {
				buf_free(&msg);
				continue;
			}
			arc_verify(&h, buf_cstr(&msg), msg.len, keys, &r);
			got = arc_cv_name(r.cv);
			/* "" marks chains whose newest seal says cv=fail:
			 * the result is fail */
			if (want == NULL || *want == '\0')
				want = "fail";
			if (strcasecmp(got, want) == 0) {
				passed++;
			} else if (skipped(tests->keys[t])) {
				skip++;
			} else {
				printf("arc validation %s: %s (%s), want %s\n",
				       tests->keys[t], got,
				       r.reason != NULL ? r.reason : "", want);
			}
			mail_headers_clear(&h);
			buf_free(&msg);
		}
		dkim_keys_free(&keys);
	}
	printf("arc: validation suite %zu/%zu passed, %zu skipped\n", passed,
	       ran, skip);
	json_free(suite);
	assert_int_equal(passed + skip, ran);
}

/* Compares two tag lists (whitespace-insensitive values). */
static bool
same_tags(const char *got_field, const char *want_value)
{
	const char *colon = strchr(got_field, ':');
	struct dkim_tags a, b;
	const char *err;
	bool same;

	if (colon == NULL ||
	    dkim_tags_parse(colon + 1, strlen(colon + 1), &a, &err) < 0 ||
	    dkim_tags_parse(want_value, strlen(want_value), &b, &err) < 0)
		return false;
	same = a.count == b.count;
	for (size_t i = 0; same && i < a.count; i++) {
		const char *v = dkim_tags_get(&b, a.tags[i].name);

		same = v != NULL && strcmp(v, a.tags[i].value) == 0;
	}
	dkim_tags_clear(&a);
	dkim_tags_clear(&b);
	return same;
}

static char *
squeeze(const char *s)
{
	char *o = xmalloc(strlen(s) + 1), *p = o;

	for (; *s != '\0'; s++)
		if (!isspace((unsigned char)*s))
			*p++ = *s;
	*p = '\0';
	return o;
}

static void
test_signing(void **state)
{
	struct json *suite;
	size_t ran = 0, passed = 0;

	(void)state;
	suite = load_suite("arc-draft-sign-tests.json");
	if (suite == NULL) {
		printf("arc: shared test data absent, signing suite skipped\n");
		return;
	}
	for (size_t s = 0; s < suite->count; s++) {
		const struct json *sc = suite->items[s];
		const struct json *tests = json_get(sc, "tests");
		struct dkim_keys *keys = suite_keys(sc);
		const char *pem = json_str(sc, "privatekey");
		BIO *bio = BIO_new_mem_buf(pem, -1);
		struct dkim_sign_key key = {
		    (char *)json_str(sc, "domain"), (char *)json_str(sc, "sel"),
		    PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL), false};

		BIO_free(bio);
		assert_non_null(key.pkey);
		for (size_t t = 0; tests != NULL && t < tests->count; t++) {
			const struct json *tc = tests->items[t];
			const char *want_as = json_str(tc, "AS"),
				   *want_ams = json_str(tc, "AMS"),
				   *want_aar = json_str(tc, "AAR");
			struct arc_seal_options o = {
			    json_str(tc, "srv-id"), json_str(tc, "sig-headers"),
			    (time_t)atoll(json_str(tc, "t")), NULL};
			struct buf msg;
			struct mail_headers h;
			struct arc_result r;
			const char *error = NULL;
			char *aar = NULL, *ams = NULL, *as = NULL;
			int rc;
			bool ok;

			to_crlf(json_str(tc, "message"), &msg);
			ran++;
			assert_int_equal(mail_headers_parse(buf_cstr(&msg),
							    msg.len, 1000, &h,
							    &error),
					 0);
			arc_verify(&h, buf_cstr(&msg), msg.len, keys, &r);
			rc = arc_seal(&key, &o, &h, buf_cstr(&msg), msg.len,
				      r.cv, &aar, &ams, &as, &error);
			if (want_as == NULL || *want_as == '\0') {
				ok = rc < 0; /* no set may be added */
			} else {
				char *g = NULL, *w = squeeze(want_aar);

				ok = rc == 0 && same_tags(as, want_as);
				ok = ok && same_tags(ams, want_ams);
				if (ok) {
					g = squeeze(aar +
						    strlen("ARC-"
							   "Authentication-"
							   "Results:"));
					ok = strcmp(g, w) == 0;
				}
				free(g);
				free(w);
			}
			if (ok)
				passed++;
			else
				printf(
				    "arc signing %s: rc %d (%s)\n  AS  %s\n  "
				    "AMS %s\n  AAR %s\n",
				    tests->keys[t], rc,
				    error != NULL ? error : "",
				    as != NULL ? as : "-",
				    ams != NULL ? ams : "-",
				    aar != NULL ? aar : "-");
			free(aar);
			free(ams);
			free(as);
			mail_headers_clear(&h);
			buf_free(&msg);
		}
		EVP_PKEY_free(key.pkey);
		dkim_keys_free(&keys);
	}
	printf("arc: signing suite %zu/%zu passed\n", passed, ran);
	json_free(suite);
	assert_int_equal(passed, ran);
}

int main(void);

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validation),
	    cmocka_unit_test(test_signing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
