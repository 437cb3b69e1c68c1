/*
 * text_deobfuscate: the rendered text of a message as a reader sees it,
 * for the rules, Bayes and the URL finder: characters that show nothing
 * (zero-width spaces, soft hyphens, word joiners) dropped, and letters
 * that only look like ASCII (full-width forms, mathematical alphanumerics
 * such as "𝐅𝐑𝐄𝐄", circled letters) read as ASCII. Spam writes
 * "V\u200Biagra" and "𝐕𝐢𝐚𝐠𝐫𝐚" so that word rules and learned tokens
 * miss what the reader reads.
 */
#ifndef MOAT_TEXT_DEOBFUSCATE_H
#define MOAT_TEXT_DEOBFUSCATE_H

#include <stddef.h>

struct buf;

/* Appends the valid UTF-8 text (len bytes) to out, cleaned as above;
 * returns the number of signs of obfuscation: an invisible character
 * between two Latin letters (inside a word), or a mathematical or
 * circled letter (a run of invisible characters is one sign; soft
 * hyphens, ordinary hyphenation hints, are none). ZWJ and ZWNJ outside a
 * Latin word are kept where they join something: Persian and Indic
 * letters, emoji sequences. */
size_t text_deobfuscate(const char *text, size_t len, struct buf *out);

#endif
