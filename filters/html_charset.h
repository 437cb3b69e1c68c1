/*
 * html_charset: the character set an HTML document declares for itself in
 * a <meta> tag (`<meta charset="big5">` or `<meta http-equiv=
 * "Content-Type" content="text/html; charset=gb2312">`), found as HTML's
 * prescan finds it: in the first 1024 bytes. A mail program reads an HTML
 * part that way when its MIME header names no charset, and so does
 * filters/mime.c, so that the text the rules and Bayes read is the text
 * the reader sees rather than Latin-1 guesswork.
 */
#ifndef MOAT_HTML_CHARSET_H
#define MOAT_HTML_CHARSET_H

#include <stdbool.h>
#include <stddef.h>

/* Finds the charset a <meta> tag of html (len bytes) declares; true with
 * its name (letters, digits and "-_.:", cut to outsz - 1) in out. */
bool html_meta_charset(const char *html, size_t len, char *out, size_t outsz);

#endif
