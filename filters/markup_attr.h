/*
 * markup_attr: the value of an HTML or XML attribute, read from just after
 * its name: white space, '=', white space, then a value in double or single
 * quotes, or (HTML) up to white space or '>'. Bounded by len; the input is
 * peer-supplied and not NUL-terminated.
 */
#ifndef MOAT_MARKUP_ATTR_H
#define MOAT_MARKUP_ATTR_H

#include <stdbool.h>
#include <stddef.h>

/* s[pos..len) starts just after an attribute name. True with the value
 * (without quotes) when an '=' and a value follow; an unquoted value is
 * accepted only when unquoted_ok. A quoted value cut by len ends there. */
bool markup_attr_value(const unsigned char *s, size_t len, size_t pos,
		       bool unquoted_ok, const unsigned char **value_r,
		       size_t *value_len_r);

#endif
