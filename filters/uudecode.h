/*
 * uudecode: the body of a uuencoded file ("begin MODE NAME" ... "end"), as
 * mail programs still decode it from a text part and show it as an
 * attachment. Bounded: the output is never longer than three quarters of
 * the input, and a malformed line ends the file.
 */
#ifndef MOAT_UUDECODE_H
#define MOAT_UUDECODE_H

#include <stddef.h>

#include "lib/buf.h"

/*
 * Decodes the lines of text[0, len) that follow a "begin" line, up to the
 * "end" line, a line that is not uuencoding, or the end of the text,
 * appending the bytes to out. Returns how many bytes of text it consumed
 * (the "end" line included).
 */
size_t uudecode_body(const unsigned char *text, size_t len, struct buf *out);

#endif
