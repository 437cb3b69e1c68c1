/*
 * attachments: the attachment policy. Looks at every leaf of the shared
 * MIME parse and reports findings, each a named symbol:
 *
 *   ATTACH_BLOCKED_EXT     file name extension on the blocked list
 *   ATTACH_DOUBLE_EXT      a document extension hiding a blocked one
 *                          ("invoice.pdf.exe")
 *   ATTACH_BIDI_NAME       a bidirectional control in the name (U+202E...)
 *   ATTACH_ARCHIVE_EXT     a blocked name inside an archive (zip, 7z, rar,
 *                          tar, cab..., nested up to max_archive_depth) or
 *                          a TNEF stream (winmail.dat)
 *   ATTACH_BLOCKED_TYPE    declared Content-Type on the blocked list
 *   ATTACH_DETECTED_TYPE   content type detected by libmagic on the list
 *   ATTACH_MACRO           Office macros: OLE2 with a VBA project, OOXML
 *                          with vbaProject.bin, ODF with Basic scripts
 *   ATTACH_ENCRYPTED       an encrypted archive member or an Office
 *                          document encrypted with a password (not
 *                          inspectable)
 *   ATTACH_ENCRYPTED_PASSWORD  an encrypted archive or document whose
 *                          password the
 *                          message itself gives ("password: 1234"), the
 *                          way malware passes scanners
 *   ATTACH_ARCHIVE_LIMIT   an archive beyond the entry/depth/size limits
 *   ATTACH_ACTIVE_SVG      an SVG image with script (attach_active.h)
 *   ATTACH_SMUGGLING       an HTML or SVG file assembling a file by script
 *   ATTACH_HTML_SCRIPT     an attached HTML file with script
 *   ATTACH_HTML_PASSWORD   an attached HTML file asking for a password
 *   ATTACH_AMBIGUOUS_MIME  a part mail programs may read two ways (two
 *                          different Content-Type fields or boundary
 *                          parameters, ...): what the client shows may not
 *                          be what was checked
 *
 * Findings marked "block" make the filter refuse or quarantine the message
 * (per configuration); the others are symbols only.
 *
 * Thread safety: a struct attach_policy is read-only after creation and
 * shared by every thread; libmagic handles are per thread.
 */
#ifndef MOAT_ATTACHMENTS_H
#define MOAT_ATTACHMENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config.h"

struct mime_message;

/* The default lists, comma separated (also the settings' defaults). */
extern const char attach_default_extensions[];
extern const char attach_default_types[];

struct attach_config {
	const struct str_list *extensions; /* without dot, any case */
	const struct str_list *types;	   /* "type/subtype", any case */
	bool check_macros;
	bool check_archives;
	unsigned int max_archive_depth;	  /* archives in archives */
	unsigned int max_archive_entries; /* per archive */
	size_t max_archive_member_size;	  /* bytes read from one member */
};

enum attach_symbol {
	ATTACH_SYM_BLOCKED_EXT,
	ATTACH_SYM_DOUBLE_EXT,
	ATTACH_SYM_BIDI_NAME,
	ATTACH_SYM_ARCHIVE_EXT,
	ATTACH_SYM_BLOCKED_TYPE,
	ATTACH_SYM_DETECTED_TYPE,
	ATTACH_SYM_MACRO,
	ATTACH_SYM_ENCRYPTED,
	ATTACH_SYM_ENCRYPTED_PASSWORD,
	ATTACH_SYM_ARCHIVE_LIMIT,
	ATTACH_SYM_ACTIVE_SVG,
	ATTACH_SYM_SMUGGLING,
	ATTACH_SYM_HTML_SCRIPT,
	ATTACH_SYM_HTML_PASSWORD,
	ATTACH_SYM_AMBIGUOUS_MIME,
	ATTACH_SYM_UNCHECKED,	    /* content the policy could not look into */
	ATTACH_SYM_EXPLOIT_LINK,    /* OOXML link in an exploit scheme */
	ATTACH_SYM_REMOTE_TEMPLATE, /* OOXML template fetched at open */
	ATTACH_SYM_PDF_LAUNCH,	    /* a PDF /Launch action */
	ATTACH_SYM_PDF_JAVASCRIPT,  /* JavaScript in a PDF */
	ATTACH_SYM_EXPLOIT_OBJECT,  /* an OLE object of an exploited class */
	ATTACH_SYM_COUNT_,
};

#define ATTACH_MAX_FINDINGS 16

struct attach_finding {
	enum attach_symbol symbol;
	bool block;
	char file[128];	  /* printable ASCII file name (or member path) */
	char detail[128]; /* e.g. the extension or the detected type */
};

struct attach_report {
	struct attach_finding findings[ATTACH_MAX_FINDINGS];
	size_t count;	/* recorded findings (at most the max) */
	size_t dropped; /* findings beyond ATTACH_MAX_FINDINGS (a blocking
			   one takes the place of one that does not block) */
	bool block;	/* some finding blocks */
	bool symbols[ATTACH_SYM_COUNT_];
};

struct attach_policy;

/* "ATTACH_BLOCKED_EXT", ... */
const char *attach_symbol_name(enum attach_symbol sym);

/* Copies the configuration. 0, or -1 with *error_r allocated (libmagic
 * database missing). */
int attach_policy_new(const struct attach_config *config,
		      struct attach_policy **policy_r, char **error_r);
void attach_policy_free(struct attach_policy **policy);

/* Checks every leaf of msg; *report_r is filled (zeroed first). */
void attach_policy_check(const struct attach_policy *policy,
			 const struct mime_message *msg,
			 struct attach_report *report_r);
/* Checks one file (name and declared type may be NULL); appends to
 * report_r, which the caller zeroes before the first call. */
void attach_policy_check_file(const struct attach_policy *policy,
			      const char *name, const char *declared_type,
			      const unsigned char *data, size_t len,
			      struct attach_report *report_r);

/* The lower-case last extension of name ("" when none), with trailing dots
 * and spaces ignored as Windows does. Exposed for tests. */
void attach_extension(const char *name, char *ext_r, size_t ext_size,
		      char *prev_r, size_t prev_size);

#endif
