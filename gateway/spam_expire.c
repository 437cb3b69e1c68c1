/*
 * spam_expire: Bayes token expiry for the spamlearn service and moatctl
 * (see spam_expire.h). A run rewrites the table in one transaction; the
 * spam filter's connections in smtpd keep classifying from their
 * in-memory copies meanwhile and reload them within 30 seconds of its
 * commit.
 */
#include "gateway/spam_expire.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "rules/bayes.h"

uint64_t
spam_expire_max_tokens(const struct moat_settings *settings)
{
	const char *v =
	    moat_settings_filter_value(settings, "spam.bayes_max_tokens");

	if (v == NULL || v[0] == '\0')
		v = BAYES_MAX_TOKENS_DEFAULT;
	return (uint64_t)strtoull(v, NULL, 10);
}

const char *
spam_expire_bayes_path(const struct moat_settings *settings)
{
	const char *db = moat_settings_filter_value(settings, "spam.bayes_db");

	for (size_t i = 0; i < settings->filters.count; i++)
		if (strcmp(settings->filters.items[i], "spam") == 0)
			return db != NULL && db[0] != '\0' ? db : NULL;
	return NULL;
}

int
spam_expire_run(struct bayes_db *db, uint64_t max_tokens, uint64_t *removed_r,
		uint64_t *remain_r, char **error_r)
{
	uint64_t forgotten;

	*removed_r = *remain_r = 0;
	if (bayes_expire(db, max_tokens, removed_r, &forgotten, error_r) < 0 ||
	    bayes_token_total(db, remain_r, error_r) < 0)
		return -1;
	if (*removed_r > 0)
		log_info("event=bayes_expire removed=%llu remain=%llu "
			 "max=%llu forgotten_messages=%llu",
			 (unsigned long long)*removed_r,
			 (unsigned long long)*remain_r,
			 (unsigned long long)max_tokens,
			 (unsigned long long)forgotten);
	return 0;
}
