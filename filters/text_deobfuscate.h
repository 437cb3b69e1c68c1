/*
 * text_deobfuscate: the rendered text of a message as a reader sees it,
 * for the rules, Bayes and the URL finder: characters that show nothing
 * (zero-width spaces, soft hyphens, word joiners, bidirectional controls,
 * variation selectors, tag characters, Hangul fillers) dropped, letters that
 * only look like ASCII (full-width forms, mathematical alphanumerics such
 * as "𝐅𝐑𝐄𝐄", circled letters) read as ASCII, and Greek or Cyrillic
 * letters planted in a Latin word read as the Latin letters they pass for.
 * Spam writes "V\u200Biagra", "𝐕𝐢𝐚𝐠𝐫𝐚" and "pаypal" (a Cyrillic "а") so
 * that word rules and learned tokens miss what the reader reads.
 */
#ifndef MOAT_TEXT_DEOBFUSCATE_H
#define MOAT_TEXT_DEOBFUSCATE_H

#include <stddef.h>

struct buf;

/* Appends the valid UTF-8 text (len bytes) to out, cleaned as above;
 * returns the number of signs of obfuscation: an invisible character
 * between two Latin letters (inside a word; a run of them is one sign,
 * soft hyphens, ordinary hyphenation hints, are none), a mathematical or
 * circled letter, or a word that mixes Latin letters with Greek or
 * Cyrillic ones that look Latin. Such a word is rewritten in Latin only
 * when Latin letters are most of it ("Мoсква", Russian with a Latin "o",
 * stays). ZWJ and ZWNJ outside a Latin word are kept where they join
 * something: Persian and Indic letters, emoji sequences. */
size_t text_deobfuscate(const char *text, size_t len, struct buf *out);

#endif
