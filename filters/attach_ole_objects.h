/*
 * attach_ole_objects: the Package objects embedded in an OLE2 compound
 * file (a .doc, .xls or .ppt, an Outlook item, or the oleObject*.bin part
 * of a .docx, .xlsx or .pptx), which Office shows as icons and opens with
 * a double click: each "\1Ole10Native" stream, in any storage, read as a
 * Package (filters/ole1.h) whose file is reported under its own name.
 * Read with libgsf's OLE2 reader.
 *
 * The input is peer-supplied: only files whose OLE2 directory names such
 * a stream are handed to libgsf, storages are walked at most 8 deep and
 * 4,096 entries in all, at most max objects are reported, and no more
 * than max_bytes of one stream is read.
 */
#ifndef MOAT_ATTACH_OLE_OBJECTS_H
#define MOAT_ATTACH_OLE_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>

#include "filters/ole1.h"

/* An OLE2 file whose directory names a "\1Ole10Native" stream. */
bool attach_ole_objects_has(const unsigned char *data, size_t len);

/* Calls fn for each Package object, at most max; returns how many there
 * were (max + 1 when a bound stopped the walk), or -1 when the file
 * cannot be read as OLE2. */
int attach_ole_objects_walk(const unsigned char *data, size_t len,
			    unsigned int max, size_t max_bytes, ole1_fn *fn,
			    void *ctx);

#endif
