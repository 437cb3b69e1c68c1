/*
 * libFuzzer target for the compiled-rule cache reader
 * (rules/spam_rules_cache.c). The checksum in front of the parser would
 * stop almost every input, so this target writes what an attacker able to
 * forge one would: the input with the expected key in its header and a
 * correct trailing SHA-256. Everything behind the checksum (counts,
 * lengths, indexes, Hyperscan's deserialisation) then sees arbitrary data.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "rules/spam_rules_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef MOAT_HAVE_HYPERSCAN
static char dir[64];
static char *path;
static const unsigned char key[SPAM_CACHE_KEY_LEN] = {1, 2, 3, 4, 5};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t cand_count[SPAM_AREA_COUNT] = {64, 16, 4};
	struct spam_hs_db *dbs = NULL;
	unsigned char *file;
	unsigned int mdlen;
	size_t count = 0;
	char *why = NULL;
	FILE *f;

	if (path == NULL) {
		snprintf(dir, sizeof(dir), "/tmp/moat-fuzz-cache.XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
		path = spam_cache_path(dir, key);
	}
	if (size > 1 << 20)
		return 0;
	file = malloc(size + SPAM_CACHE_KEY_LEN + 1);
	if (file == NULL)
		return 0;
	memcpy(file, data, size);
	if (size >= 16 + SPAM_CACHE_KEY_LEN)
		memcpy(file + 16, key, SPAM_CACHE_KEY_LEN);
	EVP_Digest(file, size, file + size, &mdlen, EVP_sha256(), NULL);
	f = fopen(path, "wb");
	if (f == NULL)
		abort();
	fwrite(file, 1, size + SPAM_CACHE_KEY_LEN, f);
	fclose(f);
	free(file);
	if (spam_cache_load(dir, key, cand_count, &dbs, &count, &why) < 0)
		free(why);
	spam_hs_dbs_free(&dbs, &count);
	return 0;
}
#else
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0;
}
#endif
