/*
 * attach_xls: Excel 4.0 macro sheets in a legacy workbook (see
 * attach_xls.h). The Workbook stream is read record by record (2 bytes
 * type, 2 bytes length, little-endian) up to the first EOF record, which
 * ends the workbook globals where the BOUNDSHEET records stand.
 */
#include "filters/attach_xls.h"

#include <gsf/gsf-infile.h>
#include <gsf/gsf-input.h>
#include <string.h>

#include "filters/attach_ole.h"

#define BIFF_BOUNDSHEET	 0x0085
#define BIFF_EOF	 0x000a
#define SHEET_TYPE_MACRO 0x01

bool
attach_xls_is(const unsigned char *data, size_t len)
{
	/* "Workbook" or "Book" as an OLE2 directory entry name (UTF-16LE,
	 * NUL-terminated) */
	static const char workbook[] = "W\0o\0r\0k\0b\0o\0o\0k\0\0";
	static const char book[] = "B\0o\0o\0k\0\0";

	return len >= 512 && attach_ole_magic(data, len) &&
	       (memmem(data, len, workbook, sizeof(workbook)) != NULL ||
		memmem(data, len, book, sizeof(book)) != NULL);
}

static bool
xls_stream_has_macro_sheet(GsfInput *in)
{
	for (unsigned int n = 0; n < ATTACH_XLS_MAX_RECORDS; n++) {
		guint8 head[4], body[8];
		const guint8 *got;
		unsigned int type, len;

		if (gsf_input_read(in, 4, head) == NULL)
			return false;
		type = head[0] | (unsigned int)head[1] << 8;
		len = head[2] | (unsigned int)head[3] << 8;
		if (type == BIFF_EOF)
			return false;
		if (type == BIFF_BOUNDSHEET && len >= 6) {
			got = gsf_input_read(in, 6, body);
			if (got == NULL)
				return false;
			/* lbPlyPos (4), hsState (1), dt (1) */
			if (body[5] == SHEET_TYPE_MACRO)
				return true;
			len -= 6;
		}
		if (len > 0 && gsf_input_seek(in, len, G_SEEK_CUR))
			return false;
	}
	return false;
}

bool
attach_xls_has_macro_sheet(const unsigned char *data, size_t len)
{
	static const char *const names[] = {"Workbook", "Book", NULL};
	GsfInfile *ole;
	bool found = false;

	if (!attach_xls_is(data, len) ||
	    (ole = attach_ole_open(data, len)) == NULL)
		return false;
	for (size_t i = 0; names[i] != NULL && !found; i++) {
		GsfInput *book = gsf_infile_child_by_name(ole, names[i]);

		if (book == NULL)
			continue;
		found = xls_stream_has_macro_sheet(book);
		g_object_unref(book);
	}
	g_object_unref(ole);
	return found;
}
