/*
 * spam_regex: prepares one rule regex (Perl syntax, as in SpamAssassin .cf
 * files) for the two engines that run it.
 *
 * PCRE2 gets the pattern unchanged, in one of two modes. A pattern that
 * names a code point above 0x7f (\x{HHHH}, \o{...}, \N{U+HHHH}) means a
 * character of the UTF-8 text Moat matches (decoded and normalised to
 * UTF-8, as SpamAssassin's normalize_charset), so it is compiled in UTF
 * mode (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF): classes, ranges, negated
 * classes, `.` and case folding then work on whole characters, and invalid
 * UTF-8 in a message never matches and never fails. Every other pattern
 * stays in byte mode, where \xHH is a byte, as rule files expect.
 *
 * Hyperscan (the prefilter) gets a byte-mode pattern that matches at least
 * what PCRE2 matches. For a UTF-mode pattern, each code point above 0x7f
 * is rewritten into its UTF-8 bytes, inside classes as an alternation
 * (ranges become sequences of byte ranges); a UTF-mode pattern whose
 * character-width semantics have no exact byte form (`.`, negated classes,
 * \W \S \D \h \v \p \X..., case-insensitive non-ASCII letters) gets no
 * Hyperscan pattern and is always confirmed by PCRE2 alone. In both modes,
 * bounded repeats above SPAM_REGEX_MAX_REPEAT ({0,2048}) are widened to
 * unbounded ones: still a superset, and a far cheaper Hyperscan compile.
 */
#ifndef MOAT_SPAM_REGEX_H
#define MOAT_SPAM_REGEX_H

#include <stdbool.h>
#include <stdint.h>

/* Bounded repeats with a bound above this are widened for Hyperscan. */
#define SPAM_REGEX_MAX_REPEAT 128

struct spam_regex_prep {
	bool utf;	  /* compile with PCRE2_UTF | PCRE2_MATCH_INVALID_UTF */
	char *hs_pattern; /* byte-mode pattern for Hyperscan, or NULL */
	const char *hs_why; /* static: why hs_pattern is NULL */
};

/*
 * Prepares pattern (NUL-terminated; flags are PCRE2_CASELESS,
 * PCRE2_EXTENDED... as parsed from /re/flags). Returns 0 and fills prep_r
 * (free with spam_regex_prep_free), or -1 with *error_r (static) for a
 * code point PCRE2 would refuse or mis-read: above 0x10FFFF, a UTF-16
 * surrogate, an empty or unterminated \x{...}, or a raw byte sequence that
 * is not UTF-8 in a UTF-mode pattern.
 */
int spam_regex_prepare(const char *pattern, uint32_t flags,
		       struct spam_regex_prep *prep_r, const char **error_r);
void spam_regex_prep_free(struct spam_regex_prep *prep);

#endif
