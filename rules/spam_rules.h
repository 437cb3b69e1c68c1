/*
 * spam_rules: Moat's SpamAssassin-compatible rule language. A rule set is
 * built by parsing one or more .cf files (the subset that matters: header,
 * body, rawbody, uri, full, meta, score, describe, tflags, eval: built-ins,
 * if/ifplugin blocks), then compiled once: every regular expression with
 * PCRE2 and its JIT, and, when the set is large and Hyperscan is available,
 * the body-like rules into one Hyperscan prefilter database so a message is
 * scanned once for all of them and PCRE2 only confirms the candidates.
 *
 * A compiled set is read-only and shared by threads; each thread evaluates
 * with its own struct spam_scratch. GTUBE always matches, whatever the files.
 *
 * Evaluation works on a struct spam_msg, a read-only view of one parsed
 * message that the spam filter fills from the shared MIME parse.
 */
#ifndef MOAT_SPAM_RULES_H
#define MOAT_SPAM_RULES_H

#include <stdbool.h>
#include <stddef.h>

/* The GTUBE test string (SpamAssassin's, spamassassin.apache.org/gtube). */
#define SPAM_GTUBE                                                             \
	"XJS*C4JDBQADN1.NSBN3*2IDNEN*"                                         \
	"GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
#define SPAM_GTUBE_SCORE 1000.0

struct spam_header {
	const char *name;  /* as in the message, any case */
	const char *value; /* decoded (RFC 2047), unfolded, trimmed */
	const char *raw;   /* as in the message, unfolded; NULL = value */
};

/* One text/html part, for the HTML built-ins (html_image_only). */
#define SPAM_HTML_TAGS_MAX 256

struct spam_html_part {
	size_t text_len;     /* bytes of its rendered text */
	unsigned int images; /* <img> tags */
};

/* A link's text shows one host, the link goes to another. */
struct spam_shown_link {
	const char *shown, *target;
};

struct spam_msg {
	const struct spam_header *headers;
	size_t header_count;
	/* Rendered text of the text parts (HTML reduced to text), UTF-8;
	 * the Subject is prepended as its first line, as SpamAssassin does. */
	const char *body;
	size_t body_len;
	/* Decoded text parts before rendering (HTML with its tags). */
	const char *rawbody;
	size_t rawbody_len;
	/* Text of hidden HTML elements (filters/html_hidden.h), not in body:
	 * Bayes reads it apart ("I*:" tokens), no rule does. */
	const char *hidden_body;
	size_t hidden_body_len;
	/* The whole message as received (headers and body). */
	const char *full;
	size_t full_len;
	const char *const *uris; /* URLs found in text and HTML */
	size_t uri_count;
	/* Inputs of eval: built-ins. bayes < 0 means no Bayes verdict. */
	double bayes;
	/* MIME structure: the text/html parts, and how many other text
	 * parts there are (check_for_mime_html_only). */
	const struct spam_html_part *html_parts;
	size_t html_part_count;
	size_t text_part_count;
	/* What SpamAssassin's HTML parser records, for html_tag_exists()
	 * and html_test(): the tag names of the HTML parts (start or end
	 * tags, lower case, each once, at most SPAM_HTML_TAGS_MAX), whether
	 * one has <object> or <embed>, and a <form> posting to mailto:. */
	const char *const *html_tags;
	size_t html_tag_count;
	bool html_embeds, html_form_mailto;
	/* Sender authentication, for the welcomelist checks (spam_wlbl.c):
	 * the envelope sender (NULL: unknown, "" for <>), whether SPF said
	 * pass for it, and the d= domains of valid DKIM signatures. */
	const char *envelope_from;
	bool spf_pass;
	const char *const *dkim_domains;
	size_t dkim_domain_count;
	/* The organisation (registrable domain, Public Suffix List) of a
	 * domain, for check_fromname_spoof(): 0 with it in out, or -1 when
	 * unknown. NULL: a domain counts as its own and its subdomains'
	 * owner. */
	int (*org_domain)(const void *ctx, const char *domain, char *out,
			  size_t outsz);
	const void *org_ctx;
	/* Look-alike host names (filters/homograph.h): in the From address,
	 * in a URL; check_from_homograph(), check_uri_homograph(). */
	bool from_homograph;
	bool uri_homograph;
	/* Signs of obfuscated text (filters/text_deobfuscate.h): invisible
	 * characters inside words, mathematical or circled letters;
	 * check_text_obfuscation(min). */
	size_t text_obfuscations;
	/* Relays whose Received fields are believed besides the internal
	 * ranges (filter.spam.trusted_relays, CIDR), for the sender key
	 * (rules/spam_sender.h). */
	char *const *trusted_relays;
	size_t trusted_relay_count;
	/* How often Bayes learned mail of this sender key as spam and as
	 * ham, for check_sender_learned_ham(); sender_learned false: not
	 * looked up (no Bayes, or no key). */
	bool sender_learned;
	unsigned int sender_spam, sender_ham;
	/* HTML links whose text shows another host than the one they land
	 * on (filters/shown_link.h), for check_uri_text_mismatch(); and the
	 * click trackers (host names, each with its subdomains) whose
	 * links never show where they land, which it forgives. */
	const struct spam_shown_link *shown_links;
	size_t shown_link_count;
	char *const *link_trackers;
	size_t link_tracker_count;
};

struct spam_hit {
	char *name; /* allocated */
	double score;
	unsigned int count;
};

struct spam_result {
	struct spam_hit *hits; /* allocated; spam_result_free() */
	size_t count;
	double score; /* sum of the hits' scores */
	bool gtube;
};

struct spam_rules_stats {
	size_t rules;  /* defined rules (all types) */
	size_t active; /* compiled and evaluated */
	size_t header, body, rawbody, uri, full, meta, eval;
	size_t unsupported; /* eval: or directives we do not implement */
	size_t bad;	    /* regex or meta that failed to compile */
	size_t prefiltered; /* rules in the Hyperscan database */
	size_t warnings;    /* malformed lines */
	bool hyperscan;
	/* Regex compilation (spam_rules_compile.c). */
	size_t utf;	     /* regexes compiled in PCRE2 UTF mode */
	size_t hs_databases; /* Hyperscan databases (chunks) */
	double compile_ms;   /* wall time of spam_rules_compile() */
	enum spam_cache_status {
		SPAM_CACHE_OFF,	    /* no cache_dir, or no Hyperscan */
		SPAM_CACHE_HIT,	    /* databases loaded from the cache */
		SPAM_CACHE_MISS,    /* compiled and stored */
		SPAM_CACHE_INVALID, /* unusable entry: compiled and stored */
		SPAM_CACHE_FAILED,  /* compiled; storing failed */
	} cache;
};

struct spam_rules;
struct spam_scratch;

struct spam_rules *spam_rules_new(void);
void spam_rules_free(struct spam_rules **rules);

/* Moat's default rule set (rules/data/moat_default.cf), built in. */
extern const unsigned char spam_default_rules[];
extern const size_t spam_default_rules_len;
/* Parses the built-in default rule set into rules. */
void spam_rules_load_default(struct spam_rules *rules);
/* Parses again the built-in set's score lines of the rules whose names
 * start with prefix, so they win over later files: Moat's BAYES_* scores
 * are fitted to Moat's classifier, SpamAssassin's (50_scores.cf) to
 * SpamAssassin's (filter.spam.bayes_scores = moat). */
void spam_rules_load_default_scores(struct spam_rules *rules,
				    const char *prefix);

/* Which score of SpamAssassin's four score sets is used: 0 (no Bayes, no
 * network), 1 (network), 2 (Bayes), 3 (Bayes and network). Default 3. */
void spam_rules_set_score_set(struct spam_rules *rules, int set);
/* Body-like rule count from which Hyperscan prefilters (default 32);
 * (size_t)-1 disables Hyperscan. */
void spam_rules_set_prefilter_min(struct spam_rules *rules, size_t min);
/* Directory caching compiled Hyperscan databases (e.g. data_dir/spam/cache,
 * created when missing); NULL or "" turns the cache off (the default). */
void spam_rules_set_cache_dir(struct spam_rules *rules, const char *dir);
/* After spam_rules_compile(): the cache file used or written ("" when
 * none), and why the last entry was rebuilt or not stored ("" when not). */
const char *spam_rules_cache_file(const struct spam_rules *rules);
const char *spam_rules_cache_note(const struct spam_rules *rules);
/* After spam_rules_compile(): one "NAME: reason" line per disabled rule
 * (bad or unsupported regex, unsupported eval:, dead meta); "" when none. */
const char *spam_rules_problems(const struct spam_rules *rules);
/* After spam_rules_compile(): test definitions that were not loaded at
 * all, one "COUNT\tREASON" line per reason (e.g. "93\tifplugin
 * Mail::SpamAssassin::Plugin::MIMEHeader", "4\taskdns (not
 * implemented)"); "" when none. */
const char *spam_rules_skipped(const struct spam_rules *rules);

/*
 * Parses .cf text and adds its definitions (later lines override earlier
 * ones, as in SpamAssassin). Malformed lines are counted as warnings and
 * skipped, never fatal. filename is used in warnings. Returns 0.
 */
int spam_rules_parse_text(struct spam_rules *rules, const char *text,
			  size_t len, const char *filename);
/* Reads a .cf file; a directory loads its *.cf files in name order.
 * Returns 0, or -1 with *error_r allocated when a file cannot be read. */
int spam_rules_load_path(struct spam_rules *rules, const char *path,
			 char **error_r);
/* Compiles every rule; after this the set is read-only. A rule that does
 * not compile is disabled and counted, never fatal. Returns 0, or -1 with
 * *error_r allocated on a resource failure (Hyperscan). */
int spam_rules_compile(struct spam_rules *rules, char **error_r);
void spam_rules_get_stats(const struct spam_rules *rules,
			  struct spam_rules_stats *stats_r);
/* The first warnings (up to 20), one per line; "" when none. */
const char *spam_rules_warnings(const struct spam_rules *rules);
/* The text of the last "rewrite_header Subject TEXT", or NULL. */
const char *spam_rules_subject_tag(const struct spam_rules *rules);
/* Description of a rule (describe), or NULL. */
const char *spam_rules_describe(const struct spam_rules *rules,
				const char *name);

struct spam_scratch *spam_scratch_new(const struct spam_rules *rules);
void spam_scratch_free(struct spam_scratch **scratch);

/* Evaluates every rule over msg. result_r is filled (hits sorted by name);
 * free it with spam_result_free(). Returns 0, or -1 with *error_r (static)
 * when the scratch does not belong to the set. */
int spam_rules_eval(const struct spam_rules *rules,
		    struct spam_scratch *scratch, const struct spam_msg *msg,
		    struct spam_result *result_r, const char **error_r);
void spam_result_free(struct spam_result *result);
/* Adds a hit computed elsewhere (DNSBL, Bayes) and updates the score. */
void spam_result_add(struct spam_result *result, const char *name,
		     double score);

#endif
