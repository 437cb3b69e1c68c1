/*
 * hex: the value of one hexadecimal digit, for the decoders of
 * percent-encoding (queue envelopes, DMARC rua= URIs), quoted-printable,
 * regex escapes and RTF object data.
 */
#ifndef MOAT_HEX_H
#define MOAT_HEX_H

/* 0..15 for [0-9A-Fa-f], -1 for anything else (c as an unsigned char
 * value or EOF). */
int hex_digit(int c);

#endif
