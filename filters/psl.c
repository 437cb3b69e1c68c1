/*
 * psl: an open-addressing hash set of the list's rules, each stored as
 * written ("co.uk", "*.ck", "!www.ck") but in ASCII (IDN labels through
 * libidn2). psl_registrable() walks the candidate suffixes of a name from
 * the right, finds the prevailing rule (an exception wins, else the rule
 * with most labels, else "*"), and keeps one more label. libopendmarc's
 * own suffix lookup is not used: it knows neither wildcards nor
 * exceptions, and fails the list's official tests.
 */
#include "filters/psl.h"

#include <ctype.h>
#include <errno.h>
#include <idn2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

struct psl {
	char **slots;
	size_t mask;
	size_t count;
};

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static void
set_add(struct psl *psl, char *rule)
{
	size_t i = (size_t)hash_str(rule) & psl->mask;

	while (psl->slots[i] != NULL) {
		if (strcmp(psl->slots[i], rule) == 0) {
			free(rule);
			return;
		}
		i = (i + 1) & psl->mask;
	}
	psl->slots[i] = rule;
	psl->count++;
}

static bool
set_has(const struct psl *psl, const char *rule)
{
	size_t i = (size_t)hash_str(rule) & psl->mask;

	while (psl->slots[i] != NULL) {
		if (strcmp(psl->slots[i], rule) == 0)
			return true;
		i = (i + 1) & psl->mask;
	}
	return false;
}

static bool
is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* Lower-case ASCII form of a name, label by label (a whole-name
 * conversion would apply the bidi rule across labels), or NULL. */
static char *
to_ascii(const char *name)
{
	char *copy, *label, *save = NULL, *out;
	struct buf_s {
		char *p;
		size_t len;
	} b = {NULL, 0};

	if (is_ascii(name)) {
		out = xstrdup(name);
		for (char *p = out; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		return out;
	}
	copy = xstrdup(name);
	out = xstrdup("");
	for (label = strtok_r(copy, ".", &save); label != NULL;
	     label = strtok_r(NULL, ".", &save)) {
		char *tmp = NULL, *joined;

		if (is_ascii(label)) {
			tmp = strdup(label);
		} else if (idn2_to_ascii_8z(label, &tmp,
					    IDN2_NONTRANSITIONAL) != IDN2_OK &&
			   idn2_to_ascii_8z(label, &tmp, IDN2_TRANSITIONAL) !=
			       IDN2_OK) {
			free(out);
			free(copy);
			return NULL;
		}
		joined =
		    xasprintf("%s%s%s", out, out[0] != '\0' ? "." : "", tmp);
		free(tmp);
		free(out);
		out = joined;
	}
	(void)b;
	free(copy);
	for (char *p = out; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

struct psl *
psl_load(const char *path, char **error_r)
{
	FILE *f = fopen(path, "r");
	char line[512];
	struct psl *psl;

	if (f == NULL) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	psl = xcalloc(1, sizeof(*psl));
	psl->mask = (1u << 16) - 1;
	psl->slots = xcalloc(psl->mask + 1, sizeof(*psl->slots));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *rule = line, *end, *ascii;
		const char *prefix = "";

		while (*rule == ' ' || *rule == '\t')
			rule++;
		if (rule[0] == '\0' || rule[0] == '\n' || rule[0] == '\r' ||
		    (rule[0] == '/' && rule[1] == '/'))
			continue;
		end = rule + strcspn(rule, " \t\r\n");
		*end = '\0';
		if (rule[0] == '!') {
			prefix = "!";
			rule++;
		} else if (rule[0] == '*' && rule[1] == '.') {
			prefix = "*.";
			rule += 2;
		}
		ascii = to_ascii(rule);
		if (ascii == NULL)
			continue;
		if (psl->count * 2 > psl->mask) {
			fclose(f);
			free(ascii);
			psl_free(&psl);
			*error_r = xasprintf("%s: too many rules", path);
			return NULL;
		}
		set_add(psl, xasprintf("%s%s", prefix, ascii));
		free(ascii);
	}
	fclose(f);
	if (psl->count == 0) {
		psl_free(&psl);
		*error_r = xasprintf("%s: no rules", path);
		return NULL;
	}
	return psl;
}

void
psl_free(struct psl **pslp)
{
	struct psl *psl = *pslp;

	if (psl == NULL)
		return;
	for (size_t i = 0; i <= psl->mask; i++)
		free(psl->slots[i]);
	free(psl->slots);
	x_free(pslp);
}

/* Start of the k-th label from the right of name (k >= 1). */
static const char *
last_labels(const char *name, size_t k)
{
	const char *p = name + strlen(name);

	while (p > name) {
		p--;
		if (*p == '.' && --k == 0)
			return p + 1;
	}
	return name;
}

static size_t
label_count(const char *name)
{
	size_t n = 1;

	for (; *name != '\0'; name++)
		n += *name == '.';
	return n;
}

int
psl_registrable(const struct psl *psl, const char *domain, char *out,
		size_t size)
{
	char *ascii, tmp[512];
	size_t n, suffix_labels = 1;
	const char *result;

	if (domain[0] == '\0' || domain[0] == '.' || strstr(domain, "..") ||
	    strlen(domain) > 253)
		return -1;
	ascii = to_ascii(domain);
	if (ascii == NULL)
		return -1;
	n = strlen(ascii);
	if (n > 0 && ascii[n - 1] == '.')
		ascii[n - 1] = '\0';
	n = label_count(ascii);
	for (size_t k = 1; k <= n; k++) {
		const char *cand = last_labels(ascii, k);

		snprintf(tmp, sizeof(tmp), "!%s", cand);
		if (set_has(psl, tmp)) {
			suffix_labels = k - 1;
			break;
		}
		if (set_has(psl, cand) && k > suffix_labels)
			suffix_labels = k;
		if (k >= 2) {
			snprintf(tmp, sizeof(tmp), "*.%s",
				 last_labels(ascii, k - 1));
			if (set_has(psl, tmp) && k > suffix_labels)
				suffix_labels = k;
		}
	}
	free(ascii);
	if (suffix_labels + 1 > n)
		return -1;
	/* the same labels of the name as given */
	{
		char *lower = xstrdup(domain);
		size_t ln = strlen(lower);

		if (ln > 0 && lower[ln - 1] == '.')
			lower[ln - 1] = '\0';
		for (char *p = lower; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		if (label_count(lower) != n) {
			free(lower);
			return -1;
		}
		result = last_labels(lower, suffix_labels + 1);
		if (strlen(result) >= size) {
			free(lower);
			return -1;
		}
		snprintf(out, size, "%s", result);
		free(lower);
	}
	return 0;
}
