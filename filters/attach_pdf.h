/*
 * attach_pdf: what a PDF file does besides showing pages, the way malware
 * uses it:
 *
 *   embedded files   /EmbeddedFile streams (decompressed) and the names
 *                    their file specifications give (/F, /UF): a PDF is
 *                    an archive a reader opens with one click
 *   launch action    /Launch: runs a program or opens a file
 *   JavaScript       /JavaScript or /JS actions (forms use them too: a
 *                    sign, not a verdict)
 *
 * The file is read as PDF's own syntax, not as text: names are read with
 * their #xx escapes decoded (/J#61vaScript is /JavaScript), only in
 * dictionaries (stream data is skipped), and object streams (/ObjStm,
 * where PDF 1.5 and later keep compressed dictionaries) are decompressed
 * (FlateDecode) and read too. Encrypted PDFs are read as far as their
 * dictionaries are plain.
 *
 * The input is peer-supplied and not NUL-terminated: every scan is bounded
 * by its length, decompression by ATTACH_PDF_MAX_INFLATE bytes per file,
 * and streams by ATTACH_PDF_MAX_STREAMS.
 */
#ifndef MOAT_ATTACH_PDF_H
#define MOAT_ATTACH_PDF_H

#include <stdbool.h>
#include <stddef.h>

#define ATTACH_PDF_MAX_INFLATE (32u * 1024 * 1024)
#define ATTACH_PDF_MAX_STREAMS 4096

struct attach_pdf {
	bool launch;	    /* a /Launch action */
	bool javascript;    /* a /JavaScript or /JS action */
	unsigned int files; /* embedded file streams found */
	bool limit;	    /* a bound stopped the reading */
};

/* Called for each embedded file's name (data NULL) and each embedded
 * file's content (name NULL, data decompressed); valid during the call. */
typedef void (*attach_pdf_fn)(void *ctx, const char *name,
			      const unsigned char *data, size_t len);

/* "%PDF-" within the first 1024 bytes, as readers accept it. */
bool attach_pdf_is(const unsigned char *data, size_t len);

/* Reads one PDF file; fn may be NULL. */
void attach_pdf_check(const unsigned char *data, size_t len, attach_pdf_fn fn,
		      void *ctx, struct attach_pdf *out);

#endif
