/*
 * spam_rules_private: the rule set's internals shared by the parser
 * (spam_rules.c), the compiler (spam_rules_compile.c) and the evaluator
 * (spam_rules_eval.c). Nothing outside rules/spam_rules*.c includes it.
 */
#ifndef MOAT_SPAM_RULES_PRIVATE_H
#define MOAT_SPAM_RULES_PRIVATE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>

#include "lib/buf.h"
#include "rules/spam_meta.h"
#include "rules/spam_rules.h"

#ifdef MOAT_HAVE_HYPERSCAN
#include <hs/hs.h>
#endif

enum spam_rule_type {
	SPAM_RULE_NONE, /* only score/describe seen so far */
	SPAM_RULE_HEADER,
	SPAM_RULE_BODY,
	SPAM_RULE_RAWBODY,
	SPAM_RULE_FULL,
	SPAM_RULE_URI,
	SPAM_RULE_META,
	SPAM_RULE_EVAL,
};

/* The text areas a regex rule reads; also the Hyperscan databases. */
#define SPAM_AREA_BODY	  0
#define SPAM_AREA_RAWBODY 1
#define SPAM_AREA_FULL	  2
#define SPAM_AREA_COUNT	  3

enum spam_header_mod {
	SPAM_HDR_VALUE,
	SPAM_HDR_RAW,
	SPAM_HDR_NAME,
	SPAM_HDR_ADDR,
};

enum spam_eval_fn {
	SPAM_EVAL_UNSUPPORTED,
	SPAM_EVAL_BAYES,	    /* check_bayes(lo, hi) */
	SPAM_EVAL_MISSING_TO,	    /* check_for_missing_to_header() */
	SPAM_EVAL_SUBJECT_ALL_CAPS, /* subject_is_all_caps() */
	SPAM_EVAL_BODY_LENGTH,	    /* check_body_length(n) */
	SPAM_EVAL_MISSING_HEADER,   /* check_for_missing_header(name) */
	SPAM_EVAL_GTUBE,	    /* check_gtube() */
};

#define SPAM_TF_MULTIPLE    0x01
#define SPAM_TF_NICE	    0x02
#define SPAM_TF_NET	    0x04
#define SPAM_TF_LEARN	    0x08
#define SPAM_TF_NOAUTOLEARN 0x10

#define SPAM_MAX_HITS_DEFAULT 1000

struct spam_rule {
	char *name;
	enum spam_rule_type type;
	/* header rules */
	char *header; /* header name, "ALL", "ToCc", "MESSAGEID" */
	enum spam_header_mod hmod;
	bool hraw;   /* :raw, alone or with :name / :addr */
	bool exists; /* exists:NAME */
	bool negate; /* !~ */
	char *if_unset;
	/* regex rules (header, body, rawbody, full, uri) */
	char *pattern;
	uint32_t pcre_flags;
	pcre2_code *re;
	int hs_id; /* index in its area's Hyperscan database, -1 = none */
	/* eval rules */
	enum spam_eval_fn eval;
	enum spam_rule_type eval_area; /* header or body eval */
	double eval_num[2];
	char *eval_str;
	/* meta rules */
	char *meta_src;
	struct spam_meta *meta;
	/* common */
	double scores[4];
	bool has_score;
	char *describe;
	unsigned int tflags;
	unsigned int maxhits;
	bool disabled; /* failed to compile, unsupported, or a dead meta */
	int order;     /* evaluation order of metas (topological) */
};

struct spam_rules {
	struct spam_rule *rules;
	size_t count, cap;
	/* open hash of rule names -> index + 1 (0 = empty) */
	int *hash;
	size_t hash_cap;
	int score_set;
	size_t prefilter_min;
	bool compiled;
	struct spam_rules_stats stats;
	struct buf warnings;
	size_t warning_lines;
	int *meta_order; /* meta rule indexes in evaluation order */
	size_t meta_order_count;
	/* regex rule indexes per area, plus header and uri lists */
	int *area_rules[SPAM_AREA_COUNT];
	size_t area_count[SPAM_AREA_COUNT];
#ifdef MOAT_HAVE_HYPERSCAN
	hs_database_t *hs_db[SPAM_AREA_COUNT];
	int *hs_map[SPAM_AREA_COUNT]; /* hs id -> rule index */
	size_t hs_count[SPAM_AREA_COUNT];
#endif
};

struct spam_scratch {
	const struct spam_rules *rules;
	pcre2_match_data *md;
	double *values;	     /* per rule hit count */
	unsigned char *cand; /* per rule: Hyperscan candidate */
	struct buf tmp;
#ifdef MOAT_HAVE_HYPERSCAN
	hs_scratch_t *hs;
#endif
};

int spam_rules_find(const struct spam_rules *rules, const char *name,
		    size_t len);
void spam_rules_warn(struct spam_rules *rules, const char *file,
		     unsigned int line, const char *what);

#endif
