/*
 * homograph: host names that imitate another in a different alphabet, the
 * phishing trick of "аррӏе.com" (Cyrillic letters that look Latin) or
 * "pаypal.com" (one Cyrillic "а" among Latin letters). A host counts
 * when one of its labels, decoded from punycode (xn--) or written in
 * UTF-8,
 *   - mixes Latin letters with Greek, Cyrillic, Armenian or Cherokee ones,
 *     or
 *   - is written wholly in Greek or Cyrillic letters that all look Latin,
 *     unless the top-level domain is itself not ASCII (a Cyrillic name
 *     under .рф is what it seems),
 * after the browsers' IDN display policies. For the spam rules
 * (FROM_HOMOGRAPH, URI_HOMOGRAPH through spam_view).
 */
#ifndef MOAT_HOMOGRAPH_H
#define MOAT_HOMOGRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool homograph_host(const char *host);

/* The Latin letter that the lower-case Greek or Cyrillic letter cp passes
 * for ('a' for "а", 'p' for "р", 'o' for "ο", ...), or 0. */
char homograph_latin_of(uint32_t cp);

#endif
