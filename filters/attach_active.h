/*
 * attach_active: active content in attached HTML and SVG files, the
 * carriers of today's phishing and of HTML smuggling (a page whose script
 * assembles a file in the browser, past every gateway that only sees the
 * page):
 *
 *   ATTACH_ACTIVE_SVG   an SVG image with script: a <script> element, an
 *                       event-handler attribute (onload=...), a
 *                       javascript: URL, or HTML inside (foreignObject,
 *                       iframe, embed, object); an image has no business
 *                       running code
 *   ATTACH_SMUGGLING    an HTML or SVG file whose script decodes data into
 *                       a file (atob() with Blob, createObjectURL or
 *                       msSaveOrOpenBlob)
 *   ATTACH_HTML_SCRIPT  an HTML file with script (reports and saved pages
 *                       have it too: a sign, not a verdict)
 *   ATTACH_HTML_PASSWORD an HTML file asking for a password: a login form
 *                       opened from an attachment is a credential lure
 *
 * A file is SVG by its extension, its declared type, or, without an
 * extension, its first element; HTML by its extension or a declared
 * text/html with a file name. Only attached files count: the
 * message's own HTML body is the spam rules' business. Every input is
 * peer-supplied: scanning is bounded by len.
 */
#ifndef MOAT_ATTACH_ACTIVE_H
#define MOAT_ATTACH_ACTIVE_H

#include <stdbool.h>
#include <stddef.h>

struct attach_active {
	bool svg_active;    /* ATTACH_ACTIVE_SVG */
	bool smuggling;	    /* ATTACH_SMUGGLING */
	bool html_script;   /* ATTACH_HTML_SCRIPT */
	bool html_password; /* ATTACH_HTML_PASSWORD */
	const char *detail; /* what was seen first, e.g. "<script>" */
};

/* Looks at one file (name and declared_type may be NULL; data need not be
 * NUL-terminated). False when it is neither HTML nor SVG or holds nothing
 * active. */
bool attach_active_check(const char *name, const char *declared_type,
			 const unsigned char *data, size_t len,
			 struct attach_active *out);

#endif
