/*
 * ole1: the OLE1 object format, in which RTF documents embed objects
 * (\objdata), and the Package format of "Insert > Object > Create from
 * file", in which an object holds a whole file under a name of its own
 * (an OLE1 object's native data in RTF; the \1Ole10Native stream of an
 * object in an OLE2 file: .doc, .xls, and the oleObject*.bin parts of
 * .docx and .xlsx). Both readers are for peer-supplied bytes: every
 * length is checked against the bytes left.
 */
#ifndef MOAT_OLE1_H
#define MOAT_OLE1_H

#include <stdbool.h>
#include <stddef.h>

/* One object: class_name NUL-terminated (printable ASCII, "" when it has
 * none); name the Package's file name, "" for other objects; data its
 * embedded bytes, NULL when it has none (len 0: a linked object, or a
 * Package too broken to hold a file) or when they were cut (len > 0). A
 * Package whose label and saved name differ is reported twice, once
 * under each. Valid during the call. */
typedef void ole1_fn(void *ctx, const char *class_name, const char *name,
		     const unsigned char *data, size_t len);

/* An OLE1 object (len bytes at d; cut: they are not all it had): reports
 * it, a Package as its file; bytes that are not OLE1 are reported as
 * they are, with no class. */
void ole1_object_report(const unsigned char *d, size_t len, bool cut,
			ole1_fn *fn, void *ctx);

/* A Package's native data (len bytes at d; cut as above): reports its
 * file under class_name. */
void ole1_package_report(const char *class_name, const unsigned char *d,
			 size_t len, bool cut, ole1_fn *fn, void *ctx);

/* An OLE2 file's "\1Ole10Native" stream (its first len bytes at d, of
 * stream_len; cut: not all of it was read): a 32-bit size, then a
 * Package, reported under class "Package". */
void ole1_native_stream_report(const unsigned char *d, size_t len, bool cut,
			       size_t stream_len, ole1_fn *fn, void *ctx);

#endif
