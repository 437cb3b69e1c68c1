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
	/* spam_evals.c */
	SPAM_EVAL_OUTLOOK_MSGID,     /* check_outlook_message_id() */
	SPAM_EVAL_SHIFTED_DATE,	     /* check_for_shifted_date(min, max) */
	SPAM_EVAL_ILLEGAL_CHARS,     /* check_illegal_chars(hdr, ratio, n) */
	SPAM_EVAL_HTML_IMAGE_ONLY,   /* html_image_only(min, max) */
	SPAM_EVAL_MIME_HTML,	     /* check_for_mime_html() */
	SPAM_EVAL_MIME_HTML_ONLY,    /* check_for_mime_html_only() */
	SPAM_EVAL_SIMILAR_RECIPS,    /* similar_recipients(min, max) */
	SPAM_EVAL_SORTED_RECIPS,     /* sorted_recipients() */
	SPAM_EVAL_FROMNAME_SPOOF,    /* check_fromname_spoof() */
	SPAM_EVAL_FROM_HOMOGRAPH,    /* check_from_homograph() */
	SPAM_EVAL_URI_HOMOGRAPH,     /* check_uri_homograph() */
	SPAM_EVAL_URI_TEXT_MISMATCH, /* check_uri_text_mismatch() */
	SPAM_EVAL_HTML_TAG_EXISTS,   /* html_tag_exists(tag) */
	SPAM_EVAL_HTML_TEST,	     /* html_test(name) */
	SPAM_EVAL_TEXT_OBFUSCATION,  /* check_text_obfuscation(min) */
	SPAM_EVAL_SENDER_HAM,	     /* check_sender_learned_ham(min) */
	/* spam_wlbl.c */
	SPAM_EVAL_WL_FROM,     /* check_from_in_welcomelist() */
	SPAM_EVAL_BL_FROM,     /* check_from_in_blocklist() */
	SPAM_EVAL_WL_SPF,      /* check_for_spf_welcomelist_from() */
	SPAM_EVAL_DEF_WL_SPF,  /* check_for_def_spf_welcomelist_from() */
	SPAM_EVAL_WL_DKIM,     /* check_for_dkim_welcomelist_from() */
	SPAM_EVAL_DEF_WL_DKIM, /* check_for_def_dkim_welcomelist_from() */
};

/* The address lists of spam_wlbl.c. */
enum spam_wlbl_list {
	SPAM_WL_FROM,
	SPAM_BL_FROM,
	SPAM_WL_AUTH,
	SPAM_DEF_WL_AUTH,
	SPAM_WLBL_COUNT,
};

struct spam_addr_list {
	char **globs; /* lower case */
	size_t count, cap;
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
	bool utf;	  /* compiled in PCRE2 UTF mode (spam_regex.h) */
	char *hs_pattern; /* its Hyperscan prefilter form, or NULL */
	int hs_id;	  /* id in its Hyperscan database, -1 = none */
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
	char *why;     /* why it is disabled (for the load log), or NULL */
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
	char *cache_dir;     /* compiled Hyperscan databases, or NULL */
	char *cache_file;    /* the entry used or written, or NULL */
	char *cache_note;    /* why it was rebuilt or not stored, or NULL */
	struct buf problems; /* "NAME: reason" per disabled rule */
	struct spam_addr_list wlbl[SPAM_WLBL_COUNT]; /* spam_wlbl.c */
	char *subject_tag; /* rewrite_header Subject TEXT (the last), or NULL */
	/* Test definitions not loaded, by reason (skipped if/ifplugin block,
	 * unimplemented directive); spam_rules_skipped() lists them. */
	struct spam_skipped {
		char label[96];
		size_t count;
	} skipped[48];
	size_t skipped_count;
	struct buf skipped_text;
#ifdef MOAT_HAVE_HYPERSCAN
	/* Prefilter databases, several per area (compiled in chunks). */
	struct spam_hs_db *hs_dbs;
	size_t hs_db_count;
#endif
};

#ifdef MOAT_HAVE_HYPERSCAN
/* One Hyperscan database: a chunk of one area's candidate patterns. */
struct spam_hs_db {
	int area;
	hs_database_t *db;
	uint32_t *cand; /* hs id -> index in the area's candidate list */
	int *map;	/* hs id -> rule index */
	size_t count;
};

/* Cache of compiled databases (spam_rules_cache.c), keyed by a SHA-256
 * over everything the compile reads. */
#define SPAM_CACHE_KEY_LEN 32
/* Loads dir/<hex key>.hsdb. cand_count[area] bounds the candidate indexes.
 * Returns 1 (dbs_r filled, map left NULL), 0 when there is no such file,
 * -1 with *why_r (allocated) when the file is unusable (corrupt, truncated,
 * another format or Hyperscan version): the caller rebuilds. */
int spam_cache_load(const char *dir, const unsigned char *key,
		    const size_t *cand_count, struct spam_hs_db **dbs_r,
		    size_t *count_r, char **why_r);
/* Writes the databases atomically (tmp, fsync, rename, fsync of the
 * directory, created when missing) and prunes old entries. 0, or -1 with
 * *error_r (allocated). */
int spam_cache_store(const char *dir, const unsigned char *key,
		     const struct spam_hs_db *dbs, size_t count,
		     char **error_r);
/* The cache file of key, allocated. */
char *spam_cache_path(const char *dir, const unsigned char *key);
void spam_hs_dbs_free(struct spam_hs_db **dbs, size_t *count);
#endif

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

/* spam_evals.c: built-ins on header structure (see there). */
bool spam_parse_date(const char *s, long long *time_r);
bool spam_eval_outlook_msgid(const struct spam_msg *msg);
/* min/max in hours; NAN = no bound ('undef'). */
bool spam_eval_shifted_date(const struct spam_msg *msg, double min, double max);
bool spam_eval_illegal_chars(const struct spam_msg *msg, const char *header,
			     double ratio, double count);
bool spam_eval_html_image_only(const struct spam_msg *msg, double min,
			       double max);
bool spam_eval_similar_recipients(const struct spam_msg *msg, double min,
				  double max);
bool spam_eval_sorted_recipients(const struct spam_msg *msg);
bool spam_eval_fromname_spoof(const struct spam_msg *msg);
/* Whether domains a and b (lower case) belong to one organisation:
 * registrable domains through msg->org_domain, else one within the
 * other (spam_fromname.c). */
bool spam_same_owner(const struct spam_msg *msg, const char *a, const char *b);
/* The From field when it holds one address, with that address's domain
 * (lower case) in out; NULL otherwise (spam_fromname.c). */
const struct spam_header *spam_from_domain(const struct spam_msg *msg,
					   char *out, size_t outsz);
/* Whether host is name or one of its subdomains (any case). */
bool spam_host_within(const char *host, const char *name);
bool spam_eval_uri_text_mismatch(const struct spam_msg *msg);
/* spam_html.c: SpamAssassin's HTMLEval built-ins Moat has. */
bool spam_html_test_known(const char *name);
bool spam_eval_html_test(const struct spam_msg *msg, const char *name);
bool spam_eval_html_tag_exists(const struct spam_msg *msg, const char *tag);

int spam_rules_find(const struct spam_rules *rules, const char *name,
		    size_t len);
void spam_rules_warn(struct spam_rules *rules, const char *file,
		     unsigned int line, const char *what);

/* spam_wlbl.c: a welcome/block-list directive (cmd in lower case, args
 * the rest of the line, modified): true when cmd is one, with *error_r
 * set when part of it was refused. */
bool spam_wlbl_directive(struct spam_rules *rules, const char *cmd, char *args,
			 const char **error_r);
void spam_wlbl_free(struct spam_rules *rules);
/* Whether fn (one of spam_wlbl.c's) hits for msg. */
bool spam_wlbl_eval(const struct spam_rules *rules, enum spam_eval_fn fn,
		    const struct spam_msg *msg);

#endif
