/*
 * imap_utf7: modified UTF-7 (RFC 3501 section 5.1.3), the mailbox name
 * encoding of IMAP4rev1 clients. IMAP4rev2 and UTF8=ACCEPT clients use
 * UTF-8 directly; the store keeps names in UTF-8.
 */
#ifndef MOAT_IMAP_UTF7_H
#define MOAT_IMAP_UTF7_H

#include "lib/buf.h"

/* Appends the modified UTF-7 form of the UTF-8 string in to out. Returns 0,
 * or -1 when in is not valid UTF-8 (out then holds a partial result). */
int imap_utf7_encode(const char *in, struct buf *out);
/* Appends the UTF-8 form of modified UTF-7 in to out. Returns 0, or -1
 * when in is not valid modified UTF-7 (non-canonical forms, bad base64,
 * unpaired surrogates, 8-bit bytes). */
int imap_utf7_decode(const char *in, struct buf *out);
/* true when s is valid UTF-8 without overlong forms or surrogates. */
bool imap_utf8_valid(const char *s, size_t len);

#endif
