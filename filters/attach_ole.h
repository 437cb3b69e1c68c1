/*
 * attach_ole: an OLE2 compound file (Office 97-2003 documents, Outlook
 * items) opened from memory with libgsf, for attach_msg.c and
 * attach_xls.c. libgsf is initialised once per process, whichever opens
 * first.
 */
#ifndef MOAT_ATTACH_OLE_H
#define MOAT_ATTACH_OLE_H

#include <gsf/gsf-infile.h>
#include <stdbool.h>
#include <stddef.h>

/* The OLE2 signature at the start of data. */
bool attach_ole_magic(const unsigned char *data, size_t len);

/* The root storage of data (which must outlive it; g_object_unref() it),
 * or NULL when libgsf cannot read it as OLE2. */
GsfInfile *attach_ole_open(const unsigned char *data, size_t len);

#endif
