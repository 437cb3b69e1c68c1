/*
 * attach_rtf: the OLE objects embedded in an RTF document, which Word
 * shows as icons or live objects and runs or opens with a click, or at
 * once: each {\object ... {\*\objdata HEX}} group's data (hex digits, with
 * the control words and \binN raw bytes Word also accepts inside it) read
 * as an OLE1 object: its class name ("Package", "Word.Document.8",
 * "Equation.3", ...), and its native data. A Package object (what
 * "Insert > Object > Create from file" makes) holds a whole file under a
 * name of its own, so its name and bytes are reported as an archive
 * member's; other objects' native data (an embedded Word or Excel file is
 * an OLE2 compound file) are reported without a name.
 *
 * The input is peer-supplied: every length is checked against the bytes
 * left, at most max objects are reported, and each object's data is
 * decoded into at most max_bytes.
 */
#ifndef MOAT_ATTACH_RTF_H
#define MOAT_ATTACH_RTF_H

#include <stdbool.h>
#include <stddef.h>

#include "filters/ole1.h"

/* Objects are reported as filters/ole1.h says. */
typedef ole1_fn attach_rtf_fn;

/* Whether data starts as Word accepts an RTF file ("{\rt"). */
bool attach_rtf_is(const unsigned char *data, size_t len);

/* Calls fn for each embedded object, at most max; returns how many there
 * were (max + 1 when there were more), or -1 when data is not RTF. */
int attach_rtf_walk(const unsigned char *data, size_t len, unsigned int max,
		    size_t max_bytes, attach_rtf_fn *fn, void *ctx);

#endif
