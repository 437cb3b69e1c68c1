/*
 * homograph: look-alike host names (see homograph.h). Labels are decoded
 * with libidn2 (punycode) and read as UTF-8 code points; a code point's
 * script is known by its Unicode block.
 */
#include "filters/homograph.h"

#include <ctype.h>
#include <idn2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOMOGRAPH_LABEL_MAX 256

enum script {
	SCRIPT_COMMON, /* digits, hyphen, anything not a letter below */
	SCRIPT_LATIN,
	SCRIPT_GREEK,
	SCRIPT_CYRILLIC,
	SCRIPT_ARMENIAN,
	SCRIPT_CHEROKEE,
	SCRIPT_OTHER, /* letters of other scripts (CJK, Arabic...) */
};

static enum script
script_of(uint32_t cp)
{
	if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
	    (cp >= 0xc0 && cp <= 0x24f && cp != 0xd7 && cp != 0xf7) ||
	    (cp >= 0x1e00 && cp <= 0x1eff))
		return SCRIPT_LATIN;
	if ((cp >= 0x370 && cp <= 0x3ff) || (cp >= 0x1f00 && cp <= 0x1fff))
		return SCRIPT_GREEK;
	if (cp >= 0x400 && cp <= 0x52f)
		return SCRIPT_CYRILLIC;
	if (cp >= 0x530 && cp <= 0x58f)
		return SCRIPT_ARMENIAN;
	if (cp >= 0x13a0 && cp <= 0x13ff)
		return SCRIPT_CHEROKEE;
	if (cp < 0x80)
		return SCRIPT_COMMON;
	return SCRIPT_OTHER;
}

char
homograph_latin_of(uint32_t cp)
{
	static const uint32_t set[] = {
	    /* Cyrillic а в е к м н о р с т у х і ј ѕ ԁ һ ӏ ԛ ԝ ҽ ѵ ѡ п г ь */
	    0x430, 0x432, 0x435, 0x43a, 0x43c, 0x43d, 0x43e, 0x440, 0x441,
	    0x442, 0x443, 0x445, 0x456, 0x458, 0x455, 0x501, 0x4bb, 0x4cf,
	    0x51b, 0x51d, 0x4bd, 0x475, 0x461, 0x43f, 0x433, 0x44c,
	    /* Greek α ε ι κ ν ο ρ τ υ χ */
	    0x3b1, 0x3b5, 0x3b9, 0x3ba, 0x3bd, 0x3bf, 0x3c1, 0x3c4, 0x3c5,
	    0x3c7};
	/* the Latin letter each of set passes for */
	static const char latin[] = "abekmhopctyxijsdhlqwevwnrb"
				    "aeikvoptux";

	_Static_assert(sizeof(set) / sizeof(set[0]) == sizeof(latin) - 1,
		       "one Latin letter per look-alike");
	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
		if (set[i] == cp)
			return latin[i];
	return 0;
}

/* The next code point of s (advanced); 0xfffd for a bad sequence. */
static uint32_t
next_cp(const unsigned char **s)
{
	const unsigned char *p = *s;
	uint32_t cp;
	int n;

	if (p[0] < 0x80) {
		*s = p + 1;
		return p[0];
	}
	n = (p[0] & 0xe0) == 0xc0   ? 1
	    : (p[0] & 0xf0) == 0xe0 ? 2
	    : (p[0] & 0xf8) == 0xf0 ? 3
				    : 0;
	cp = n == 1 ? p[0] & 0x1fu : n == 2 ? p[0] & 0x0fu : p[0] & 0x07u;
	for (int i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*s = p + i;
			return 0xfffd;
		}
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	*s = p + (n == 0 ? 1 : n + 1);
	return n == 0 ? 0xfffd : cp;
}

/* One label (UTF-8): mixed scripts, or wholly look-alike Greek or
 * Cyrillic (when whole_script is checked). */
static bool
label_is_homograph(const char *label, bool whole_script)
{
	const unsigned char *p = (const unsigned char *)label;
	bool seen[SCRIPT_OTHER + 1] = {false}, all_alike = true;
	size_t letters = 0;

	while (*p != '\0') {
		uint32_t cp = next_cp(&p);
		enum script s = script_of(cp);

		seen[s] = true;
		if (s != SCRIPT_COMMON) {
			letters++;
			if (homograph_latin_of(cp) == 0)
				all_alike = false;
		}
	}
	if (seen[SCRIPT_LATIN] &&
	    (seen[SCRIPT_GREEK] || seen[SCRIPT_CYRILLIC] ||
	     seen[SCRIPT_ARMENIAN] || seen[SCRIPT_CHEROKEE]))
		return true;
	return whole_script && letters >= 2 && all_alike &&
	       (seen[SCRIPT_GREEK] || seen[SCRIPT_CYRILLIC]) &&
	       !seen[SCRIPT_OTHER] && !seen[SCRIPT_LATIN];
}

/* label (n bytes) as UTF-8 into out: punycode decoded, else as it is. */
static bool
label_utf8(const char *label, size_t n, char *out, size_t outsz)
{
	char ascii[HOMOGRAPH_LABEL_MAX], *u8 = NULL;

	if (n == 0 || n >= sizeof(ascii) || n >= outsz)
		return false;
	memcpy(ascii, label, n);
	ascii[n] = '\0';
	if (n > 4 && strncasecmp(ascii, "xn--", 4) == 0) {
		size_t len;

		if (idn2_to_unicode_8z8z(ascii, &u8, 0) != IDN2_OK)
			return false;
		len = strlen(u8);
		if (len >= outsz) {
			idn2_free(u8);
			return false;
		}
		memcpy(out, u8, len + 1);
		idn2_free(u8);
		return true;
	}
	memcpy(out, ascii, n + 1);
	return true;
}

bool
homograph_host(const char *host)
{
	const char *p = host, *last_dot = strrchr(host, '.');
	char label[HOMOGRAPH_LABEL_MAX * 2];
	bool whole_script = true;

	if (last_dot != NULL && label_utf8(last_dot + 1, strlen(last_dot + 1),
					   label, sizeof(label)))
		for (const char *q = label; *q != '\0'; q++)
			if ((unsigned char)*q >= 0x80)
				whole_script = false; /* a non-ASCII TLD */
	while (*p != '\0') {
		size_t n = strcspn(p, ".");

		if (label_utf8(p, n, label, sizeof(label)) &&
		    label_is_homograph(label, whole_script))
			return true;
		p += n;
		if (*p == '.')
			p++;
	}
	return false;
}
