/*
 * psl: the Public Suffix List and the organisational domain of RFC 7489
 * 3.2 (the registrable domain: the public suffix plus one label), with the
 * list's reference algorithm: normal, wildcard ("*.ck") and exception
 * ("!www.ck") rules, the implicit "*" rule, and IDN rules matched in their
 * ASCII (punycode) form. Read-only after loading: threads share it.
 */
#ifndef MOAT_PSL_H
#define MOAT_PSL_H

#include <stddef.h>

struct psl;

/* Debian's copy (package publicsuffix), every psl setting's default. */
#define PSL_DEFAULT_PATH "/usr/share/publicsuffix/public_suffix_list.dat"

/* Loads a list in the publicsuffix.org format. NULL with *error_r
 * (allocated) on failure. */
struct psl *psl_load(const char *path, char **error_r);
void psl_free(struct psl **psl);
/* Registrable domain of domain (lower case, in domain's own form: ASCII in,
 * ASCII out; UTF-8 in, UTF-8 out) into out. 0, or -1 when the domain is a
 * public suffix itself, has an empty label, or is not a valid name. */
int psl_registrable(const struct psl *psl, const char *domain, char *out,
		    size_t size);

#endif
