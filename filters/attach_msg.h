/*
 * attach_msg: the attachments of an Outlook item (.msg: an OLE2 compound
 * file laid out as [MS-OXMSG] says), which Outlook opens with one click and
 * whose own attachments it shows: each __attach_version1.0_#N storage's
 * file name (PR_ATTACH_LONG_FILENAME, else PR_ATTACH_FILENAME, Unicode or
 * 8-bit) and data (PR_ATTACH_DATA_BIN), and the attachments of Outlook
 * items embedded as attachments (PR_ATTACH_DATA_OBJ storages), as deep as
 * the caller allows. Read with libgsf's OLE2 reader.
 *
 * The input is peer-supplied: only files whose OLE2 directory names
 * [MS-OXMSG] property streams are handed to libgsf, at most max_files
 * attachments are reported, and no stream larger than max_bytes is read.
 */
#ifndef MOAT_ATTACH_MSG_H
#define MOAT_ATTACH_MSG_H

#include <stdbool.h>
#include <stddef.h>

/* name: the attachment's file name, "" when it has none; data NULL when
 * it has no data stream or the stream is over max_bytes. Valid during the
 * call. */
typedef void (*attach_msg_fn)(void *ctx, const char *name,
			      const unsigned char *data, size_t len);

/* An OLE2 file whose directory names Outlook property streams. */
bool attach_msg_is(const unsigned char *data, size_t len);

/* Calls fn for each attachment, embedded items' attachments included
 * down to max_depth levels; returns how many were reported, -1 when the
 * file cannot be read as OLE2, or -2 when a bound (max_files or
 * max_depth) stopped the walk after reporting what came before it. */
int attach_msg_walk(const unsigned char *data, size_t len,
		    unsigned int max_files, unsigned int max_depth,
		    size_t max_bytes, attach_msg_fn fn, void *ctx);

#endif
