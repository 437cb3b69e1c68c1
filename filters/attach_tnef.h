/*
 * attach_tnef: the attachments inside a TNEF stream (application/ms-tnef,
 * "winmail.dat"), which Outlook shows as ordinary attachments: their
 * names (attAttachTitle, and the long file name of their MAPI
 * properties) and bytes (attAttachData), for the attachment policy.
 *
 * libytnef (Debian) was tried first and not used: it prints to stdout on
 * every malformed stream, which would land in moatd's output, and it
 * stops at the first checksum mismatch, an easy way for a sender to hide
 * what follows; Outlook's own reading is not that strict. This walker
 * ignores checksums, reads every length against the bytes left, and
 * stops at the first attribute that does not fit. It never allocates.
 */
#ifndef MOAT_ATTACH_TNEF_H
#define MOAT_ATTACH_TNEF_H

#include <stdbool.h>
#include <stddef.h>

/* One attachment: name is NUL-terminated (ASCII; other characters of a
 * UTF-16 name as '?'), "" when it has none; data may be NULL (no
 * attAttachData). A second call with the same data pointer and another
 * name is made when the title and the long file name differ. */
typedef void attach_tnef_fn(void *ctx, const char *name,
			    const unsigned char *data, size_t len);

/* Whether data starts with the TNEF signature. */
bool attach_is_tnef(const unsigned char *data, size_t len);

/* Walks a TNEF stream, calling fn for each attachment, at most max of
 * them; returns how many there were (max + 1 when there were more), or
 * -1 when data is not TNEF. */
int attach_tnef_walk(const unsigned char *data, size_t len, unsigned int max,
		     attach_tnef_fn *fn, void *ctx);

#endif
