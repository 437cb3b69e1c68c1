/*
 * attach_ooxml: the links an Office Open XML document (docx, xlsx, pptx
 * and their macro and template kinds) follows when it opens, read from
 * its relationship parts (the .rels members, XML). Two attacks live there
 * without a line of macro code:
 *
 *   exploit link      an external target in a scheme that starts a program
 *                     or an exploit rather than fetching a document:
 *                     mhtml: (with !x-usc:, CVE-2021-40444), ms-msdt:
 *                     (Follina, CVE-2022-30190), search-ms:, ms-officecmd:,
 *                     ms-word:/ms-excel:/ms-powerpoint: commands and
 *                     ms-appinstaller:; no real document has one
 *   remote template   a template, frame or OLE object fetched from the
 *                     network when the document opens (template injection;
 *                     a \\host\share path also hands the reader's NTLM
 *                     hash to that host). Documents made from a
 *                     corporate template on a server have such links too:
 *                     a sign, not a verdict
 *
 * The input is a member's bytes, peer-supplied and not NUL-terminated:
 * every scan is bounded by its length.
 */
#ifndef MOAT_ATTACH_OOXML_H
#define MOAT_ATTACH_OOXML_H

#include <stdbool.h>
#include <stddef.h>

enum attach_ooxml_link {
	ATTACH_OOXML_NONE,
	ATTACH_OOXML_REMOTE_TEMPLATE,
	ATTACH_OOXML_EXPLOIT,
};

/* The member is a relationship part (its name ends in ".rels"). */
bool attach_ooxml_is_rels(const char *path);

/* The worst external link in one relationship part; detail_r receives
 * its target (printable, truncated) when one is found. */
enum attach_ooxml_link attach_ooxml_check_rels(const unsigned char *xml,
					       size_t len, char *detail_r,
					       size_t detail_size);

/* The member is an Excel 4.0 (XLM) macro sheet: xl/macrosheets/ in an
 * xlsx/xlsm/xlsb package, macros that VBA checks do not see. */
bool attach_ooxml_is_macrosheet(const char *path);

#endif
