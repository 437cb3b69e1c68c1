/*
 * bayes: Moat's Bayesian spam classifier, after SpamAssassin's and
 * Bogofilter's: a tokeniser over the parsed message (body words, selected
 * header fields with a prefix, URL hosts), token counts in SQLite, token
 * probabilities by Robinson's f(w), and Fisher's chi-square combining of
 * the most significant tokens into one probability in [0, 1].
 *
 * Each token row also keeps the day it was last learned, so that the table
 * can be bounded (bayes_expire()).
 *
 * A struct bayes_db is one SQLite connection guarded by a mutex: filter
 * threads may share it. Learning is idempotent per message key (a message
 * learned twice as the same class counts once; learned as the other class,
 * its first learning is undone), so Junk-folder retraining is safe.
 */
#ifndef MOAT_BAYES_H
#define MOAT_BAYES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/spam_rules.h"

/* A message's distinct token hashes, sorted. */
struct bayes_tokens {
	uint64_t *hashes;
	size_t count, cap;
};

/* How the strongest tokens' probabilities become the message's. */
enum bayes_combining {
	/* Graham's naive Bayes: their log-odds summed, then a logistic of
	 * slope 1/logodds_scale (40 tokens); the default */
	BAYES_COMBINE_LOGODDS,
	/* Fisher/Robinson chi-square, as SpamAssassin (150 tokens) */
	BAYES_COMBINE_CHI2,
};

struct bayes_params {
	double robinson_s;	 /* strength of the prior (0.300) */
	double robinson_x;	 /* prior probability of an unknown token */
	double min_strength;	 /* |f - 0.5| below this is ignored (0.346) */
	unsigned int max_tokens; /* significant tokens used (40; chi2 150) */
	enum bayes_combining combining;
	double logodds_scale;  /* log-odds sum per unit of logit (5) */
	unsigned int min_spam; /* learned spam needed before scoring (200) */
	unsigned int min_ham;  /* learned ham needed before scoring (200) */
	/* Classifying reads a copy of the token table kept in memory; after
	 * the database changes (learning here or in another process) the
	 * copy is reloaded once it is this many seconds old (30), at once
	 * while fewer than the minimum learnings are known. -1: no copy,
	 * every token looked up in SQLite. */
	int snapshot_max_age;
};

void bayes_params_default(struct bayes_params *params_r);
/* Sets the combining method by name ("logodds" or "chi2") with its token
 * count. Returns 0, or -1 for an unknown name. */
int bayes_params_set_combining(struct bayes_params *params, const char *name);

void bayes_tokens_init(struct bayes_tokens *tokens);
void bayes_tokens_free(struct bayes_tokens *tokens);
/* Adds one token (its hash); call bayes_tokens_finish() afterwards. */
void bayes_tokens_add(struct bayes_tokens *tokens, const char *token,
		      size_t len);
/* Sorts and removes duplicates. */
void bayes_tokens_finish(struct bayes_tokens *tokens);

typedef void bayes_token_fn(void *context, const char *token, size_t len);
/*
 * Splits text into tokens as the classifier sees them: words of 3 to 15
 * bytes, lower-cased, edge punctuation trimmed; longer words become
 * "sk:" plus their first 7 bytes; prefix (may be "") is put in front of
 * each. Calls fn for each (repeats included).
 */
void bayes_tokenize_text(const char *text, size_t len, const char *prefix,
			 bayes_token_fn *fn, void *context);
/*
 * The tokens of one header field (see bayes_tokenize.c for the scheme):
 * "N:name", then the value's words under a per-field prefix; Received by
 * hosts and addresses, Message-Id and Date by shape; nothing at all for
 * X-Spam-* and X-Moat-*. value may be NULL.
 */
void bayes_tokenize_header(const char *name, const char *value,
			   bayes_token_fn *fn, void *context);
/* "HT:tag", "HT:tag.attr" (and "=value" for colours, faces and sizes)
 * for the HTML markup in raw (decoded text parts, tags kept). */
void bayes_tokenize_html(const char *raw, size_t len, bayes_token_fn *fn,
			 void *context);
/* "U:host" and each parent domain of a URL's host; "U*:ip" for an IPv4
 * literal. */
void bayes_tokenize_url(const char *url, bayes_token_fn *fn, void *context);
/* Room for the sender token: "SR:" and a sender key. */
#define BAYES_SENDER_TOKEN_MAX 340
/* The sender token, "SR:" + spam_sender_key() (rules/spam_sender.h), into
 * out: its length, or 0 when the message has no sender key. */
size_t bayes_sender_token(const struct spam_msg *msg, char *out, size_t outsz);
/* Tokenises a whole message view into tokens (finished): headers, body
 * words, HTML markup, URL hosts, the sender token. */
void bayes_tokenize(const struct spam_msg *msg, struct bayes_tokens *tokens);

/* Robinson's f(w) for a token seen in spam_count spam and ham_count ham
 * messages, given nspam and nham learned in total. */
double bayes_token_prob(unsigned int spam_count, unsigned int ham_count,
			unsigned int nspam, unsigned int nham,
			const struct bayes_params *params);
/* P(chi^2 >= x2) with v (even) degrees of freedom. */
double bayes_chi2q(double x2, unsigned int v);
/* Fisher/Robinson chi-square combining of n token probabilities: 0 hammy,
 * 1 spammy, 0.5 when n == 0. */
double bayes_combine(const double *probs, size_t n);
/* Graham's combining of n token probabilities: 1 / (1 + e^(-L / scale))
 * where L is the sum of their log-odds ln(p / (1 - p)); 0.5 when n == 0. */
double bayes_combine_logodds(const double *probs, size_t n, double scale);

struct bayes_db;

/* Opens (creating) the token database. Returns 0, or -1 with *error_r
 * allocated. */
int bayes_open(const char *path, struct bayes_db **db_r, char **error_r);
void bayes_close(struct bayes_db **db);
/*
 * Learns tokens as spam or ham under key (a hash naming the message).
 * Returns 1 learned, 0 already learned as that class, -1 with *error_r
 * allocated on a database error.
 */
int bayes_learn(struct bayes_db *db, const struct bayes_tokens *tokens,
		uint64_t key, bool spam, char **error_r);
/*
 * Classifies: 1 with *prob_r set, 0 when too little has been learned yet
 * (fewer than params' minimums), -1 with *error_r allocated.
 */
int bayes_classify(struct bayes_db *db, const struct bayes_tokens *tokens,
		   const struct bayes_params *params, double *prob_r,
		   char **error_r);
/* The learned counts of one token (bayes_hash(token, len, 0)), e.g. the
 * sender token: 0 with them set (0 and 0 for a token never learned), -1
 * with *error_r allocated. Reads the in-memory copy as bayes_classify()
 * does. */
int bayes_token_counts(struct bayes_db *db, const char *token, size_t len,
		       const struct bayes_params *params, unsigned int *spam_r,
		       unsigned int *ham_r, char **error_r);
/* Groups many bayes_learn() calls in one transaction (training runs);
 * 0, or -1 with *error_r allocated. */
int bayes_begin(struct bayes_db *db, char **error_r);
int bayes_commit(struct bayes_db *db, char **error_r);
/* The default of filter.spam.bayes_max_tokens: about 16 MB for the
 * classifier's in-memory copy. */
#define BAYES_MAX_TOKENS_DEFAULT "1000000"
/* Tokens in the table. Returns 0 or -1 with *error_r allocated. */
int bayes_token_total(struct bayes_db *db, uint64_t *count_r, char **error_r);
/*
 * Keeps the table at most max_tokens long (0: no limit): when it is
 * longer, removes the tokens no class counts any more (left by
 * unlearning), then those learned longest ago, the least learned first
 * among one day's, down to three quarters of max_tokens so that expiry
 * runs seldom. The learned message counts stay, as SpamAssassin's expiry
 * leaves them; the record of which messages were learned loses those
 * learned before the oldest token left (*forgotten_r: how many), so a
 * message that old counts as new if learned again. 0 with *removed_r
 * set, or -1 with *error_r allocated.
 */
int bayes_expire(struct bayes_db *db, uint64_t max_tokens, uint64_t *removed_r,
		 uint64_t *forgotten_r, char **error_r);
/* Messages learned so far. Returns 0 or -1 with *error_r allocated. */
int bayes_counts(struct bayes_db *db, unsigned int *nspam_r,
		 unsigned int *nham_r, char **error_r);
/* A 64-bit hash of bytes (FNV-1a), for tokens and message keys. */
uint64_t bayes_hash(const void *data, size_t len, uint64_t seed);

#endif
