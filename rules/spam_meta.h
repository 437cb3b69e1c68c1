/*
 * spam_meta: the expressions of SpamAssassin `meta` rules, boolean and
 * arithmetic: rule names (their hit counts), numbers, ( ), unary ! and -,
 * * /, + -, < > <= >=, == !=, && ||, with Perl's precedence. Compiled once
 * to a postfix program; evaluation is a loop over a bounded stack.
 */
#ifndef MOAT_SPAM_META_H
#define MOAT_SPAM_META_H

#include <stddef.h>

struct spam_meta;

/* Maps a rule name (not NUL-terminated) to its index, or -1 if unknown. */
typedef int spam_meta_resolve_fn(const char *name, size_t len, void *context);

/*
 * Compiles expr. An unknown name is an error (SpamAssassin disables such a
 * meta rule too). Returns 0, or -1 with *error_r (static text).
 */
int spam_meta_compile(const char *expr, spam_meta_resolve_fn *resolve,
		      void *context, struct spam_meta **meta_r,
		      const char **error_r);
void spam_meta_free(struct spam_meta **meta);
/* Evaluates with values[i] the hit count of rule i. Division by zero is 0. */
double spam_meta_eval(const struct spam_meta *meta, const double *values);
/* The rule indexes the expression reads (with repeats). */
size_t spam_meta_deps(const struct spam_meta *meta, const int **deps_r);

#endif
