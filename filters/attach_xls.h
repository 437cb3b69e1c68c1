/*
 * attach_xls: Excel 4.0 (XLM) macro sheets in a legacy Excel workbook
 * (.xls: an OLE2 compound file whose Workbook stream holds BIFF records):
 * the macros of the 2020s' malspam (Emotet, Qakbot), which VBA checks do
 * not see because there is no VBA project. A BOUNDSHEET record
 * ([MS-XLS] 2.4.28) of sheet type 1 is a macro sheet.
 *
 * Read with libgsf's OLE2 reader; only files with a "Workbook" or "Book"
 * directory entry are handed to it, and at most ATTACH_XLS_MAX_RECORDS
 * records are read, each bounded by the stream.
 */
#ifndef MOAT_ATTACH_XLS_H
#define MOAT_ATTACH_XLS_H

#include <stdbool.h>
#include <stddef.h>

#define ATTACH_XLS_MAX_RECORDS 100000

/* An OLE2 file naming a Workbook (BIFF8) or Book (BIFF5) stream. */
bool attach_xls_is(const unsigned char *data, size_t len);

/* The workbook has an Excel 4.0 macro sheet. */
bool attach_xls_has_macro_sheet(const unsigned char *data, size_t len);

#endif
