/*
 * attach_ole: an OLE2 compound file (Office 97-2003 documents, Outlook
 * items) opened from memory with libgsf, for attach_msg.c,
 * attach_ole_objects.c and attach_xls.c. libgsf is initialised once per
 * process, whichever opens first.
 */
#ifndef MOAT_ATTACH_OLE_H
#define MOAT_ATTACH_OLE_H

#include <gsf/gsf-infile.h>
#include <stdbool.h>
#include <stddef.h>

/* The OLE2 signature at the start of data. */
bool attach_ole_magic(const unsigned char *data, size_t len);

/* An OLE2 file (of at least one sector) in whose bytes the directory
 * entry name utf16le (n bytes, UTF-16LE) appears: a cheap look before
 * libgsf reads it. */
bool attach_ole_has_entry(const unsigned char *data, size_t len,
			  const char *utf16le, size_t n);

/* An Office document encrypted with a password (OOXML agile or standard
 * encryption, what "Encrypt with Password" writes): an OLE2 file with an
 * EncryptedPackage stream at its root. */
bool attach_ole_encrypted_package(const unsigned char *data, size_t len);

/* The root storage of data (which must outlive it; g_object_unref() it),
 * or NULL when libgsf cannot read it as OLE2. */
GsfInfile *attach_ole_open(const unsigned char *data, size_t len);

#endif
