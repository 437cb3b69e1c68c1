/*
 * password: argon2id through libsodium. Hashes carry their own parameters,
 * so verification works whatever the cost was at hashing time. The
 * environment variable MOAT_TEST_FAST_HASH=1 selects libsodium's minimum
 * cost (tests only: it makes thousands of logins cheap).
 */
#include "lib/password.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

static pthread_once_t password_once = PTHREAD_ONCE_INIT;
static int password_sodium_ok;

static void
password_init(void)
{
	password_sodium_ok = sodium_init() >= 0;
}

static bool
password_fast(void)
{
	const char *fast = getenv("MOAT_TEST_FAST_HASH");

	return fast != NULL && strcmp(fast, "1") == 0;
}

int
password_hash(const char *password, char **hash_r)
{
	char out[crypto_pwhash_STRBYTES];
	unsigned long long ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
	size_t mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;

	pthread_once(&password_once, password_init);
	if (!password_sodium_ok)
		return -1;
	if (password_fast()) {
		ops = crypto_pwhash_OPSLIMIT_MIN;
		mem = crypto_pwhash_MEMLIMIT_MIN;
	}
	if (crypto_pwhash_str_alg(out, password, strlen(password), ops, mem,
				  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return -1;
	*hash_r = xstrdup(out);
	return 0;
}

bool
password_verify(const char *hash, const char *password)
{
	pthread_once(&password_once, password_init);
	if (!password_sodium_ok ||
	    strnlen(hash, crypto_pwhash_STRBYTES) >= crypto_pwhash_STRBYTES)
		return false;
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}
