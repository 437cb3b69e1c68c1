/*
 * data_uri: files carried inside HTML or SVG as data: URLs (RFC 2397),
 * <a href="data:application/octet-stream;base64,TVqQ..." download=
 * "invoice.exe">: HTML smuggling without a line of script, a file no
 * gateway sees unless it decodes the URL. data_uri_walk() finds each
 * data: URL in a document, decodes its payload (base64 or percent
 * encoding) and hands it to a callback with its media type and the name
 * the enclosing tag's download attribute gives, so that the attachment
 * policy checks it like any attached file.
 *
 * The input is peer-supplied and not NUL-terminated: every scan is bounded
 * by its length, at most `max` URLs are reported, and no payload decodes
 * to more bytes than the document holds.
 */
#ifndef MOAT_DATA_URI_H
#define MOAT_DATA_URI_H

#include <stddef.h>

/* name: the download attribute's value, or NULL; media_type: lower case,
 * parameters dropped ("" when the URL names none). data is valid only
 * during the call. */
typedef void (*data_uri_fn)(void *ctx, const char *name, const char *media_type,
			    const unsigned char *data, size_t len);

/* Calls fn for each data: URL in doc[0..len) with a non-empty payload, at
 * most max times; returns how many were reported. */
unsigned int data_uri_walk(const unsigned char *doc, size_t len,
			   unsigned int max, data_uri_fn fn, void *ctx);

#endif
