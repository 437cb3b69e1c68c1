/*
 * mime_downgrade: an 8-bit message made 7-bit for a next hop that does not
 * offer 8BITMIME (RFC 6152 section 3: the client converts or returns the
 * message). Every body part with 8-bit content gets quoted-printable or
 * base64 (GMime picks the shorter), and its Content-Transfer-Encoding is
 * set to match; messages inside message/rfc822 parts too. Raw 8-bit bytes
 * in header fields cannot be converted (that needs SMTPUTF8): such a
 * message stays 8-bit and the caller bounces it with 5.6.3, as before.
 * The conversion changes the bytes, so any DKIM signature over the body
 * breaks — as with every MTA that downgrades.
 */
#ifndef MOAT_MIME_DOWNGRADE_H
#define MOAT_MIME_DOWNGRADE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Reads the message at fd[offset, offset+len), writes its 7-bit form into
 * an anonymous memory file. Returns 1 with *fd_r (the caller closes it)
 * and *len_r (the message starts at offset 0), 0 when the message cannot
 * be made 7-bit (8-bit header bytes), -1 with *error_r (static) when it
 * cannot be read or parsed.
 */
int mime_downgrade(int fd, off_t offset, size_t len, int *fd_r, size_t *len_r,
		   const char **error_r);

#endif
