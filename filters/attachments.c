/*
 * attachments: the attachment policy over the shared MIME parse (see
 * attachments.h for the findings).
 *
 * Each leaf is checked by name (last extension, a document extension
 * before it, bidirectional controls), by declared Content-Type, by the
 * type libmagic detects in its first bytes, for Office macros (an OLE2
 * compound file naming a _VBA_PROJECT stream; OOXML or ODF zips holding
 * vbaProject.bin or Basic modules) and, when its first bytes are an archive
 * signature, by opening it with libarchive and checking every member the
 * same way, recursively up to max_archive_depth, within a byte budget per
 * message. Nothing here trusts a size from the archive: member data is
 * read into a buffer capped at max_archive_member_size.
 *
 * Other containers are opened the same way, as deep: a single compressed
 * file (gzip, bzip2, xz), TNEF streams (attach_tnef.c), Outlook items
 * (attach_msg.c), PDFs (attach_pdf.c: embedded files, actions), attached
 * messages (.eml, or message/rfc822 in a transfer encoding: parsed again
 * with filters/mime.c), files in data: URLs of HTML and SVG
 * (data_uri.c), and OOXML relationship parts (attach_ooxml.c). What the
 * walk cannot look into (nesting past the limits, MIME parts the parse
 * skipped, a message past ATTACH_MAX_MAGIC_CALLS libmagic looks) is
 * reported as ATTACH_UNCHECKED, never passed as clean. Called by the
 * attachments filter (attachments_filter.c) and the fuzzer.
 */
#include "filters/attachments.h"

#include <archive.h>
#include <archive_entry.h>
#include <magic.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "filters/attach_active.h"
#include "filters/attach_msg.h"
#include "filters/attach_ole.h"
#include "filters/attach_ole_objects.h"
#include "filters/attach_ooxml.h"
#include "filters/attach_pdf.h"
#include "filters/attach_rtf.h"
#include "filters/attach_xls.h"
#include "filters/data_uri.h"
#include "filters/attach_tnef.h"
#include "filters/mime.h"
#include "filters/uudecode.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define ATTACH_MAGIC_BYTES	    (256 * 1024)
#define ATTACH_TOTAL_ARCHIVE_BYTES  (64 * 1024 * 1024)
#define ATTACH_TOTAL_DECLARED_BYTES (512ULL * 1024 * 1024)
/* Members whose names are still checked past max_archive_entries (their
 * content is not read): padding an archive hides nothing before this. */
#define ATTACH_MAX_LISTED_NAMES 100000
/* data: URLs decoded per HTML or SVG file, and how deep they nest. */
#define ATTACH_MAX_DATA_URIS	  32
#define ATTACH_MAX_DATA_URI_DEPTH 2
/* libmagic looks per message (each costs about 0.1 ms): a nest of small
 * archives (42.zip's shape) would otherwise take seconds. Past it the
 * types of further files go unchecked (ATTACH_UNCHECKED). */
#define ATTACH_MAX_MAGIC_CALLS	 2000
#define ATTACH_MAX_EMBEDDED_ZIPS 8

const char attach_default_extensions[] =
    "ace,ade,adp,ani,app,appref-ms,appx,appxbundle,bas,bat,bgi,cab,chm,cmd,"
    "com,cpl,crt,diagcab,dll,exe,fxp,gadget,grp,hlp,hpj,hta,img,inf,ins,iso,"
    "isp,its,jar,jnlp,js,jse,ksh,lnk,mad,maf,mag,mam,maq,mar,mas,mat,mau,mav,"
    "maw,mcf,mda,mdb,mde,mdt,mdw,mdz,msc,msh,msh1,msh1xml,msh2,msh2xml,mshxml,"
    "msi,msix,msixbundle,msp,mst,msu,ocx,one,onepkg,ops,osd,pcd,pif,pl,plg,"
    "prf,prg,ps1,"
    "ps1xml,ps2,ps2xml,psc1,psc2,psd1,psdm1,pst,reg,scf,scr,sct,settingcontent-"
    "ms,shb,shs,sys,theme,tmp,url,vb,vbe,vbp,vbs,vhd,vhdx,vsmacros,vsw,vxd,"
    "webpnp,ws,wsc,wsf,wsh,xbap,xll,xnk";
const char attach_default_types[] =
    "application/x-dosexec,application/x-msdownload,"
    "application/vnd.microsoft.portable-executable,application/x-msdos-program,"
    "application/x-ms-shortcut,application/x-msi,application/x-ms-installer,"
    "application/hta,application/x-ms-application,"
    "application/x-iso9660-image,application/x-elf,application/x-executable,"
    "application/x-sharedlib,"
    /* RFC 2046 fragments: each scans clean, the client reassembles the
     * whole (amavisd-new bans them by default too) */
    "message/partial";

/* Extensions a lure puts before the real one. */
static const char *const attach_doc_exts[] = {
    "pdf", "doc", "docx", "xls",  "xlsx", "ppt", "pptx", "txt",
    "rtf", "jpg", "jpeg", "png",  "gif",  "bmp", "tif",	 "tiff",
    "zip", "rar", "htm",  "html", "mp3",  "mp4", "avi",	 "mov",
    "wav", "csv", "odt",  "ods",  "xml",  "eml", "msg",	 NULL};

static const char *const attach_symbol_names[ATTACH_SYM_COUNT_] = {
    [ATTACH_SYM_BLOCKED_EXT] = "ATTACH_BLOCKED_EXT",
    [ATTACH_SYM_DOUBLE_EXT] = "ATTACH_DOUBLE_EXT",
    [ATTACH_SYM_BIDI_NAME] = "ATTACH_BIDI_NAME",
    [ATTACH_SYM_ARCHIVE_EXT] = "ATTACH_ARCHIVE_EXT",
    [ATTACH_SYM_BLOCKED_TYPE] = "ATTACH_BLOCKED_TYPE",
    [ATTACH_SYM_DETECTED_TYPE] = "ATTACH_DETECTED_TYPE",
    [ATTACH_SYM_MACRO] = "ATTACH_MACRO",
    [ATTACH_SYM_ENCRYPTED] = "ATTACH_ENCRYPTED",
    [ATTACH_SYM_ENCRYPTED_PASSWORD] = "ATTACH_ENCRYPTED_PASSWORD",
    [ATTACH_SYM_ARCHIVE_LIMIT] = "ATTACH_ARCHIVE_LIMIT",
    [ATTACH_SYM_ACTIVE_SVG] = "ATTACH_ACTIVE_SVG",
    [ATTACH_SYM_SMUGGLING] = "ATTACH_SMUGGLING",
    [ATTACH_SYM_HTML_SCRIPT] = "ATTACH_HTML_SCRIPT",
    [ATTACH_SYM_HTML_PASSWORD] = "ATTACH_HTML_PASSWORD",
    [ATTACH_SYM_AMBIGUOUS_MIME] = "ATTACH_AMBIGUOUS_MIME",
    [ATTACH_SYM_UNCHECKED] = "ATTACH_UNCHECKED",
    [ATTACH_SYM_EXPLOIT_LINK] = "ATTACH_EXPLOIT_LINK",
    [ATTACH_SYM_REMOTE_TEMPLATE] = "ATTACH_REMOTE_TEMPLATE",
    [ATTACH_SYM_PDF_LAUNCH] = "ATTACH_PDF_LAUNCH",
    [ATTACH_SYM_PDF_JAVASCRIPT] = "ATTACH_PDF_JAVASCRIPT",
    [ATTACH_SYM_EXPLOIT_OBJECT] = "ATTACH_EXPLOIT_OBJECT",
};

struct attach_policy {
	struct attach_config config;
	struct str_list extensions;
	struct str_list types;
	pthread_key_t magic_key;
};

/* One check of one message: the budget for archive members. */
struct attach_run {
	const struct attach_policy *policy;
	struct attach_report *report;
	size_t archive_bytes;
	unsigned int data_uri_depth; /* data: URLs inside data: URLs */
	unsigned int magic_calls;    /* libmagic looks taken */
	unsigned int message_depth;  /* attached messages inside messages */
};

const char *
attach_symbol_name(enum attach_symbol sym)
{
	if ((unsigned int)sym >= ATTACH_SYM_COUNT_)
		return "ATTACH_UNKNOWN";
	return attach_symbol_names[sym];
}

static void
attach_magic_close(void *m)
{
	magic_close(m);
}

/* This thread's libmagic handle (magic_t is not thread-safe). */
static magic_t
attach_magic(const struct attach_policy *policy)
{
	magic_t m = pthread_getspecific(policy->magic_key);

	if (m != NULL)
		return m;
	/* Soft magic only: the built-in text, encoding, JSON, CSV, tar and
	 * compression tests cost milliseconds on text and detect nothing the
	 * blocked types need. */
	m = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR | MAGIC_NO_CHECK_BUILTIN);
	if (m == NULL)
		return NULL;
	if (magic_load(m, NULL) != 0) {
		magic_close(m);
		return NULL;
	}
	pthread_setspecific(policy->magic_key, m);
	return m;
}

int
attach_policy_new(const struct attach_config *config,
		  struct attach_policy **policy_r, char **error_r)
{
	struct attach_policy *p = xcalloc(1, sizeof(*p));
	magic_t probe;

	p->config = *config;
	if (config->extensions != NULL)
		for (size_t i = 0; i < config->extensions->count; i++) {
			const char *e = config->extensions->items[i];
			str_list_add(&p->extensions, e[0] == '.' ? e + 1 : e);
		}
	if (config->types != NULL)
		for (size_t i = 0; i < config->types->count; i++)
			str_list_add(&p->types, config->types->items[i]);
	p->config.extensions = &p->extensions;
	p->config.types = &p->types;
	if (pthread_key_create(&p->magic_key, attach_magic_close) != 0) {
		*error_r = xstrdup("pthread_key_create failed");
		str_list_free(&p->extensions);
		str_list_free(&p->types);
		free(p);
		return -1;
	}
	/* Fail at start-up, not per message, when libmagic is unusable. */
	probe = magic_open(MAGIC_MIME_TYPE);
	if (probe == NULL || magic_load(probe, NULL) != 0) {
		*error_r = xasprintf("libmagic: cannot load its database: %s",
				     probe ? magic_error(probe) : "no memory");
		if (probe != NULL)
			magic_close(probe);
		attach_policy_free(&p);
		return -1;
	}
	magic_close(probe);
	*policy_r = p;
	return 0;
}

void
attach_policy_free(struct attach_policy **policy)
{
	struct attach_policy *p = *policy;
	magic_t m;

	if (p == NULL)
		return;
	/* The calling thread's handle; other threads' go with them. */
	m = pthread_getspecific(p->magic_key);
	if (m != NULL) {
		magic_close(m);
		pthread_setspecific(p->magic_key, NULL);
	}
	pthread_key_delete(p->magic_key);
	str_list_free(&p->extensions);
	str_list_free(&p->types);
	x_free(policy);
}

static bool
list_has(const struct str_list *list, const char *s)
{
	for (size_t i = 0; i < list->count; i++)
		if (strcasecmp(list->items[i], s) == 0)
			return true;
	return false;
}

static void
printable(char *out, size_t outsz, const char *in)
{
	size_t o = 0;

	for (; in != NULL && *in != '\0' && o + 1 < outsz; in++) {
		unsigned char c = (unsigned char)*in;
		out[o++] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\'
			       ? (char)c
			       : '?';
	}
	out[o] = '\0';
}

static void
attach_add(struct attach_report *r, enum attach_symbol sym, bool block,
	   const char *file, const char *detail)
{
	struct attach_finding *f;

	r->symbols[sym] = true;
	if (block)
		r->block = true;
	if (r->count >= ATTACH_MAX_FINDINGS) {
		size_t k = r->count;

		r->dropped++;
		if (!block)
			return;
		/* A blocking finding displaces the last one that does not
		 * block: the verdict and its reply name a blocked file, even
		 * behind a flood of limit findings (a nested archive). */
		while (k > 0 && r->findings[k - 1].block)
			k--;
		if (k == 0)
			return; /* every listed one blocks already */
		f = &r->findings[k - 1];
	} else {
		f = &r->findings[r->count++];
	}
	f->symbol = sym;
	f->block = block;
	printable(f->file, sizeof(f->file), file);
	printable(f->detail, sizeof(f->detail), detail);
}

/* Copies the extension ending at end (exclusive) into out, lower case;
 * returns where its dot is, or NULL. */
static const char *
ext_before(const char *start, const char *end, char *out, size_t outsz)
{
	const char *dot = end;
	size_t n;

	while (dot > start && dot[-1] != '.')
		dot--;
	if (dot == start) {
		out[0] = '\0';
		return NULL;
	}
	n = (size_t)(end - dot);
	/* Spaces padding a lure ("invoice.pdf     .exe"). */
	while (n > 0 && dot[n - 1] == ' ')
		n--;
	if (n >= outsz)
		n = outsz - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)((dot[i] >= 'A' && dot[i] <= 'Z') ? dot[i] + 32
								 : dot[i]);
	out[n] = '\0';
	return dot - 1;
}

void
attach_extension(const char *name, char *ext_r, size_t ext_size, char *prev_r,
		 size_t prev_size)
{
	const char *base = name, *end, *dot;

	ext_r[0] = '\0';
	if (prev_r != NULL)
		prev_r[0] = '\0';
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	end = base + strlen(base);
	/* Windows ignores trailing dots and spaces. */
	while (end > base && (end[-1] == '.' || end[-1] == ' '))
		end--;
	dot = ext_before(base, end, ext_r, ext_size);
	if (dot != NULL && prev_r != NULL)
		ext_before(base, dot, prev_r, prev_size);
}

static bool
has_bidi(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (p[0] != 0xe2 || p[1] == 0 || p[2] == 0)
			continue;
		if (p[1] == 0x80 && ((p[2] >= 0xaa && p[2] <= 0xae) ||
				     p[2] == 0x8e || p[2] == 0x8f))
			return true;
		if (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
			return true;
	}
	return false;
}

static void
attach_check_name(struct attach_run *run, const char *name, bool member)
{
	const struct attach_policy *p = run->policy;
	char ext[32], prev[32];
	bool blocked;
	const char *base = name, *colon;

	for (const char *q = name; *q; q++)
		if (*q == '/' || *q == '\\')
			base = q + 1;
	/* An NTFS stream name: "setup.exe::$DATA" and "setup.exe:x" are
	 * saved as setup.exe. */
	colon = strchr(base, ':');
	if (colon != NULL && colon > base) {
		char file[256];
		size_t n = (size_t)(colon - name);

		if (n < sizeof(file)) {
			memcpy(file, name, n);
			file[n] = '\0';
			attach_check_name(run, file, member);
		}
	}

	attach_extension(name, ext, sizeof(ext), prev, sizeof(prev));
	blocked = ext[0] != '\0' && list_has(&p->extensions, ext);
	if (blocked)
		attach_add(run->report,
			   member ? ATTACH_SYM_ARCHIVE_EXT
				  : ATTACH_SYM_BLOCKED_EXT,
			   true, name, ext);
	if (blocked && prev[0] != '\0') {
		for (size_t i = 0; attach_doc_exts[i] != NULL; i++)
			if (strcmp(prev, attach_doc_exts[i]) == 0) {
				attach_add(run->report, ATTACH_SYM_DOUBLE_EXT,
					   true, name, prev);
				break;
			}
	}
	if (has_bidi(name))
		attach_add(run->report, ATTACH_SYM_BIDI_NAME, true, name,
			   "bidirectional control");
}

static bool
starts(const unsigned char *d, size_t len, const void *magic, size_t n)
{
	return len >= n && memcmp(d, magic, n) == 0;
}

static bool
is_archive(const unsigned char *d, size_t len)
{
	return starts(d, len, "PK\x03\x04", 4) ||
	       starts(d, len, "PK\x05\x06", 4) ||
	       starts(d, len, "7z\xbc\xaf\x27\x1c", 6) ||
	       starts(d, len, "Rar!\x1a\x07", 6) ||
	       starts(d, len, "\x1f\x8b", 2) || starts(d, len, "BZh", 3) ||
	       starts(d, len,
		      "\xfd"
		      "7zXZ\x00",
		      6) ||
	       starts(d, len, "MSCF\0\0\0\0", 8) ||
	       (len > 262 && memcmp(d + 257, "ustar", 5) == 0) ||
	       (len > 0x8006 && memcmp(d + 0x8001, "CD001", 5) == 0);
}

/* An OLE2 file naming a VBA project stream (directory entry names are
 * UTF-16LE): "_VBA_PROJECT" in Word (Macros/VBA) and Excel/PowerPoint
 * (_VBA_PROJECT_CUR/VBA). */
static bool
ole_has_vba(const unsigned char *d, size_t len)
{
	static const char needle[] = "_\0V\0B\0A\0_\0P\0R\0O\0J\0E\0C\0T\0";
	const size_t n = sizeof(needle) - 1;

	for (size_t i = 0; i + n <= len; i++) {
		const unsigned char *q = memchr(d + i, '_', len - i);

		if (q == NULL)
			break;
		i = (size_t)(q - d);
		if (i + n > len)
			break;
		if (memcmp(d + i, needle, n) == 0)
			return true;
	}
	return false;
}

static void attach_check_leaf(struct attach_run *run, const char *name,
			      const char *declared_type,
			      const unsigned char *data, size_t len);

/* HTML or SVG, by declared type or file name extension. */
static bool
is_markup(const char *name, const char *declared_type)
{
	static const char *const exts[] = {"htm",   "html",  "xhtml",
					   "xht",   "shtml", "mht",
					   "mhtml", "svg",   NULL};
	char ext[32], prev[32];

	if (declared_type != NULL &&
	    (strcmp(declared_type, "text/html") == 0 ||
	     strcmp(declared_type, "application/xhtml+xml") == 0 ||
	     strcmp(declared_type, "image/svg+xml") == 0))
		return true;
	if (name == NULL)
		return false;
	attach_extension(name, ext, sizeof(ext), prev, sizeof(prev));
	for (size_t i = 0; exts[i] != NULL; i++)
		if (strcmp(ext, exts[i]) == 0)
			return true;
	return false;
}

static void
attach_data_uri_file(void *ctx, const char *name, const char *media_type,
		     const unsigned char *data, size_t len)
{
	struct attach_run *run = ctx;

	run->data_uri_depth++;
	attach_check_leaf(run, name, media_type[0] != '\0' ? media_type : NULL,
			  data, len);
	run->data_uri_depth--;
}

/* Script in an attached HTML or SVG file (attach_active.h), and the files
 * its data: URLs carry (data_uri.h), in a message's HTML body too. */
static void
attach_check_active(struct attach_run *run, const char *name,
		    const char *declared_type, const unsigned char *data,
		    size_t len)
{
	struct attach_active a;

	if (data != NULL && len > 0 &&
	    run->data_uri_depth < ATTACH_MAX_DATA_URI_DEPTH &&
	    is_markup(name, declared_type))
		data_uri_walk(data, len, ATTACH_MAX_DATA_URIS,
			      attach_data_uri_file, run);
	if (!attach_active_check(name, declared_type, data, len, &a))
		return;
	name = name != NULL ? name : "";
	if (a.svg_active)
		attach_add(run->report, ATTACH_SYM_ACTIVE_SVG, true, name,
			   a.detail);
	if (a.smuggling)
		attach_add(run->report, ATTACH_SYM_SMUGGLING, true, name,
			   "script decoding a file");
	if (a.html_script)
		attach_add(run->report, ATTACH_SYM_HTML_SCRIPT, false, name,
			   "<script>");
	if (a.html_password)
		attach_add(run->report, ATTACH_SYM_HTML_PASSWORD, false, name,
			   "password field");
}

static void attach_check_data(struct attach_run *run, const char *name,
			      const unsigned char *data, size_t len,
			      unsigned int depth, bool text);
static void attach_check_member(struct attach_run *run, const char *name,
				const unsigned char *data, size_t len,
				unsigned int depth);

/* Whether a container at depth nests past max_archive_depth: then what
 * it holds is not looked into, and the message says so (ATTACH_UNCHECKED). */
static bool
attach_too_deep(struct attach_run *run, const char *name, unsigned int depth)
{
	if (depth <= run->policy->config.max_archive_depth)
		return false;
	attach_add(run->report, ATTACH_SYM_UNCHECKED, false, name,
		   "archive nesting");
	return true;
}

struct attach_tnef_run {
	struct attach_run *run;
	unsigned int depth;
};

static void
attach_tnef_member(void *ctx, const char *name, const unsigned char *data,
		   size_t len)
{
	struct attach_tnef_run *t = ctx;

	if (name[0] != '\0')
		attach_check_name(t->run, name, true);
	attach_check_member(t->run, name, data, len, t->depth);
}

/* The attachments of a TNEF stream (winmail.dat), which Outlook shows as
 * files of their own: checked as an archive's members. */
static void
attach_check_tnef(struct attach_run *run, const char *name,
		  const unsigned char *data, size_t len, unsigned int depth)
{
	const struct attach_config *c = &run->policy->config;
	struct attach_tnef_run t = {run, depth};

	if (attach_too_deep(run, name, depth))
		return;
	if (attach_tnef_walk(data, len, c->max_archive_entries,
			     attach_tnef_member,
			     &t) > (int)c->max_archive_entries)
		attach_add(run->report, ATTACH_SYM_ARCHIVE_LIMIT, false, name,
			   "entries");
}

/* An Office Open XML relationship part (attach_ooxml.h): a link in an
 * exploit scheme blocks, a template fetched at open only scores. */
static void
attach_check_ooxml_rels(struct attach_run *run, const char *name,
			const unsigned char *xml, size_t len)
{
	char target[128];

	switch (attach_ooxml_check_rels(xml, len, target, sizeof(target))) {
	case ATTACH_OOXML_EXPLOIT:
		attach_add(run->report, ATTACH_SYM_EXPLOIT_LINK, true, name,
			   target);
		break;
	case ATTACH_OOXML_REMOTE_TEMPLATE:
		attach_add(run->report, ATTACH_SYM_REMOTE_TEMPLATE, false, name,
			   target);
		break;
	case ATTACH_OOXML_NONE:
		break;
	}
}

static bool
member_is_macro(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base != NULL ? base + 1 : path;
	if (strcasecmp(base, "vbaProject.bin") == 0 ||
	    strcasecmp(base, "vbaProjectSignature.bin") == 0)
		return true;
	/* ODF: Basic/<library>/<module>.xml beside script-lc.xml. */
	return strncmp(path, "Basic/", 6) == 0 && strchr(path + 6, '/') &&
	       strcasecmp(base, "script-lb.xml") != 0 &&
	       strcasecmp(base, "dialog-lb.xml") != 0;
}

static void attach_check_message_file(struct attach_run *run, const char *name,
				      const unsigned char *data, size_t len);

/* A message carried as a file (attach_check_message_file). */
static bool
is_message_file(const char *name, const char *declared_type)
{
	char ext[32], prev[32];

	if (declared_type != NULL &&
	    (strcmp(declared_type, "message/rfc822") == 0 ||
	     strcmp(declared_type, "message/global") == 0))
		return true;
	if (name == NULL)
		return false;
	attach_extension(name, ext, sizeof(ext), prev, sizeof(prev));
	return strcmp(ext, "eml") == 0;
}

/* One file inside a container (an archive, a TNEF stream, an Outlook
 * item): an attached message opened, active content, type, macros and
 * nested containers. */
static void
attach_check_member(struct attach_run *run, const char *name,
		    const unsigned char *data, size_t len, unsigned int depth)
{
	if (data == NULL || len == 0)
		return;
	if (is_message_file(name, NULL))
		attach_check_message_file(run, name, data, len);
	attach_check_active(run, name, NULL, data, len);
	attach_check_data(run, name, data, len, depth, false);
}

/* A single compressed file (report.gz, setup.exe.xz): no archive format,
 * one member that extracting tools name after the file. */
static bool
is_compressed_file(const unsigned char *d, size_t len)
{
	return starts(d, len, "\x1f\x8b", 2) || starts(d, len, "BZh", 3) ||
	       starts(d, len,
		      "\xfd"
		      "7zXZ\x00",
		      6);
}

/* The name 7-Zip and Windows give the content of a compressed file:
 * "setup.exe.gz" holds "setup.exe"; another name stays as it is. */
static void
compressed_member_name(const char *name, char *out, size_t outsz)
{
	static const char *const exts[] = {".gz", ".gzip", ".bz2",
					   ".xz", ".z",	   NULL};
	size_t n = strlen(name);

	snprintf(out, outsz, "%s", name);
	for (size_t i = 0; exts[i] != NULL; i++) {
		size_t e = strlen(exts[i]);

		if (n > e && n - e < outsz &&
		    strcasecmp(name + n - e, exts[i]) == 0) {
			out[n - e] = '\0';
			return;
		}
	}
}

static struct archive *
attach_archive_open(const unsigned char *data, size_t len, bool raw)
{
	struct archive *a = archive_read_new();

	archive_read_support_filter_all(a);
	if (raw)
		archive_read_support_format_raw(a);
	else
		archive_read_support_format_all(a);
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* The member's bytes, up to the member and message budgets; false when
 * a budget cut it short. */
static bool
attach_read_member(struct attach_run *run, struct archive *a,
		   struct buf *member)
{
	const struct attach_config *c = &run->policy->config;

	for (;;) {
		char chunk[16384];
		la_ssize_t n = archive_read_data(a, chunk, sizeof(chunk));

		if (n <= 0)
			return true;
		if (member->len + (size_t)n > c->max_archive_member_size ||
		    run->archive_bytes + (size_t)n > ATTACH_TOTAL_ARCHIVE_BYTES)
			return false;
		buf_append(member, chunk, (size_t)n);
		run->archive_bytes += (size_t)n;
	}
}

static void
attach_check_archive(struct attach_run *run, const char *name,
		     const unsigned char *data, size_t len, unsigned int depth)
{
	const struct attach_config *c = &run->policy->config;
	struct archive *a;
	struct archive_entry *e;
	unsigned int entries = 0;
	uint64_t declared = 0;
	bool encrypted_seen = false, raw = false;
	char raw_name[256];
	int r;

	if (attach_too_deep(run, name, depth))
		return;
	a = attach_archive_open(data, len, false);
	r = a != NULL ? archive_read_next_header(a, &e) : ARCHIVE_FATAL;
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN &&
	    is_compressed_file(data, len)) {
		/* No archive inside the compression: the file itself. */
		if (a != NULL)
			archive_read_free(a);
		if ((a = attach_archive_open(data, len, true)) == NULL)
			return;
		raw = true;
		compressed_member_name(name, raw_name, sizeof(raw_name));
		r = archive_read_next_header(a, &e);
	}
	if (a == NULL)
		return;
	for (; r == ARCHIVE_OK || r == ARCHIVE_WARN;
	     r = archive_read_next_header(a, &e)) {
		const char *path =
		    raw ? raw_name : archive_entry_pathname_utf8(e);
		struct buf member;

		if (path == NULL)
			path = archive_entry_pathname(e);
		if (path == NULL)
			path = "";
		if (++entries > c->max_archive_entries) {
			/* Past the limit only names are checked, so that
			 * padding hides no blocked name; contents are not
			 * read. */
			if (entries == c->max_archive_entries + 1)
				attach_add(run->report,
					   ATTACH_SYM_ARCHIVE_LIMIT, false,
					   name, "entries");
			if (entries > ATTACH_MAX_LISTED_NAMES) {
				attach_add(run->report, ATTACH_SYM_UNCHECKED,
					   false, name, "archive entries");
				break;
			}
			if (archive_entry_filetype(e) != AE_IFDIR)
				attach_check_name(run, path, true);
			continue;
		}
		/* Moving to the next member of a solid archive (7z, rar)
		 * decompresses this one even unread: bound that work by the
		 * declared sizes (an archive bomb stops here; the members
		 * after it go unchecked). */
		if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0) {
			declared += (uint64_t)archive_entry_size(e);
			if (declared > ATTACH_TOTAL_DECLARED_BYTES) {
				attach_add(run->report, ATTACH_SYM_UNCHECKED,
					   false, name, "archive size");
				break;
			}
		}
		if (archive_entry_filetype(e) == AE_IFDIR)
			continue;
		attach_check_name(run, path, true);
		if (run->policy->config.check_macros &&
		    (member_is_macro(path) || attach_ooxml_is_macrosheet(path)))
			attach_add(run->report, ATTACH_SYM_MACRO, true, name,
				   path);
		if (archive_entry_is_encrypted(e)) {
			if (!encrypted_seen)
				attach_add(run->report, ATTACH_SYM_ENCRYPTED,
					   false, name, path);
			encrypted_seen = true;
			continue;
		}
		/* The member's bytes, capped, for type, macros, nesting. */
		buf_init(&member);
		if (!attach_read_member(run, a, &member))
			attach_add(run->report, ATTACH_SYM_ARCHIVE_LIMIT, false,
				   path, "member size");
		if (attach_ooxml_is_rels(path))
			attach_check_ooxml_rels(
			    run, name, (const unsigned char *)member.data,
			    member.len);
		attach_check_member(run, path,
				    (const unsigned char *)member.data,
				    member.len, depth);
		buf_free(&member);
	}
	if (r != ARCHIVE_EOF && !encrypted_seen &&
	    archive_read_has_encrypted_entries(a) > 0)
		attach_add(run->report, ATTACH_SYM_ENCRYPTED, false, name,
			   "encrypted archive");
	archive_read_free(a);
}

/*
 * Zip archives that do not start the data: behind a prefix (a
 * self-extractor, or junk that 7-Zip and WinRAR skip, reading the central
 * directory at the end) or after a first archive (two archives
 * concatenated: readers disagree on which one they show, and libarchive
 * reads only the first). Each is opened from its first local header,
 * at most ATTACH_MAX_EMBEDDED_ZIPS of them.
 */
static void
attach_check_embedded_zips(struct attach_run *run, const char *name,
			   const unsigned char *data, size_t len,
			   unsigned int depth, bool first_checked)
{
	size_t pos = 0;

	for (unsigned int n = 0; n < ATTACH_MAX_EMBEDDED_ZIPS && pos < len;) {
		const unsigned char *lh =
		    memmem(data + pos, len - pos, "PK\x03\x04", 4);
		const unsigned char *end;
		size_t at, comment;

		if (lh == NULL)
			return;
		at = (size_t)(lh - data);
		end = memmem(lh, len - at, "PK\x05\x06", 4);
		if (end == NULL)
			return;
		if (at > 0 || !first_checked) {
			attach_check_archive(run, name, lh, len - at, depth);
			n++;
		}
		/* past this archive's end-of-central-directory record */
		pos = (size_t)(end - data) + 22;
		if (pos > len)
			return;
		comment = (size_t)data[pos - 2] | (size_t)data[pos - 1] << 8;
		pos += comment;
	}
}

struct attach_pdf_run {
	struct attach_run *run;
	const char *name; /* the PDF's */
	unsigned int depth;
};

static void
attach_pdf_file(void *ctx, const char *file, const unsigned char *data,
		size_t len)
{
	struct attach_pdf_run *t = ctx;

	if (data == NULL)
		attach_check_name(t->run, file, true);
	else
		attach_check_data(t->run, t->name, data, len, t->depth, false);
}

/* A PDF (attach_pdf.h): its embedded files are checked like an archive's
 * members; a launch action blocks, JavaScript scores. */
static void
attach_check_pdf(struct attach_run *run, const char *name,
		 const unsigned char *data, size_t len, unsigned int depth)
{
	struct attach_pdf_run t = {run, name, depth};
	struct attach_pdf pdf;

	if (attach_too_deep(run, name, depth))
		return;
	attach_pdf_check(data, len, attach_pdf_file, &t, &pdf);
	if (pdf.launch)
		attach_add(run->report, ATTACH_SYM_PDF_LAUNCH, true, name,
			   "/Launch action");
	if (pdf.javascript)
		attach_add(run->report, ATTACH_SYM_PDF_JAVASCRIPT, false, name,
			   "JavaScript");
	if (pdf.limit)
		attach_add(run->report, ATTACH_SYM_ARCHIVE_LIMIT, false, name,
			   "PDF size");
}

/* The container (an Outlook item, a document) whose files are checked. */
struct attach_object_run {
	struct attach_run *run;
	const char *doc; /* the container's name */
	unsigned int depth;
};

/* A file inside a container (t->doc): its name, when it has one, like an
 * archive member's, and its data like a member's; cut: the data was
 * there but past the size bound. */
static void
attach_contained_file(struct attach_object_run *t, const char *name,
		      const unsigned char *data, size_t len, bool cut)
{
	const char *file = name[0] != '\0' ? name : t->doc;

	if (name[0] != '\0')
		attach_check_name(t->run, name, true);
	if (data == NULL) {
		if (cut)
			attach_add(t->run->report, ATTACH_SYM_ARCHIVE_LIMIT,
				   false, file, "member size");
		return;
	}
	attach_check_member(t->run, file, data, len, t->depth);
}

static void
attach_msg_file(void *ctx, const char *name, const unsigned char *data,
		size_t len)
{
	attach_contained_file(ctx, name, data, len, data == NULL);
}

/* An Outlook item (attach_msg.h): its attachments are checked like an
 * archive's members, and so are those of the items attached to it. */
static void
attach_check_msg(struct attach_run *run, const char *name,
		 const unsigned char *data, size_t len, unsigned int depth)
{
	const struct attach_config *c = &run->policy->config;
	struct attach_object_run t = {run, name, depth};

	if (attach_too_deep(run, name, depth))
		return;
	if (attach_msg_walk(
		data, len, c->max_archive_entries, c->max_archive_depth - depth,
		c->max_archive_member_size, attach_msg_file, &t) == -2)
		attach_add(run->report, ATTACH_SYM_UNCHECKED, false, name,
			   "Outlook item");
}

/* An embedded object (filters/ole1.h): a Package's file by its name and
 * content, other objects' data by content, exploited classes by class. */
static void
attach_ole1_object(void *ctx, const char *class_name, const char *name,
		   const unsigned char *data, size_t len)
{
	struct attach_object_run *t = ctx;

	/* Equation Editor 3.0, retired from Office in 2018 for its
	 * exploits (CVE-2017-11882, CVE-2018-0802), which RTF mail still
	 * carries; an OLE2Link object fetches its content when the
	 * document opens (CVE-2017-0199) */
	if (strncasecmp(class_name, "Equation.3", 10) == 0)
		attach_add(t->run->report, ATTACH_SYM_EXPLOIT_OBJECT, true,
			   t->doc, class_name);
	else if (strcasecmp(class_name, "OLE2Link") == 0)
		attach_add(t->run->report, ATTACH_SYM_REMOTE_TEMPLATE, false,
			   t->doc, class_name);
	attach_contained_file(t, name, data, len, data == NULL && len > 0);
}

/* An RTF document (attach_rtf.h): its embedded objects are checked like
 * an archive's members (a Package's file by its name too), and an object
 * of an exploited class blocks. */
static void
attach_check_rtf(struct attach_run *run, const char *name,
		 const unsigned char *data, size_t len, unsigned int depth)
{
	const struct attach_config *c = &run->policy->config;
	struct attach_object_run t = {run, name, depth};

	if (attach_too_deep(run, name, depth))
		return;
	if (attach_rtf_walk(data, len, c->max_archive_entries,
			    c->max_archive_member_size, attach_ole1_object,
			    &t) > (int)c->max_archive_entries)
		attach_add(run->report, ATTACH_SYM_UNCHECKED, false, name,
			   "RTF objects");
}

/* An OLE2 file with embedded Package objects (attach_ole_objects.h): each
 * file checked like an archive member. */
static void
attach_check_ole_objects(struct attach_run *run, const char *name,
			 const unsigned char *data, size_t len,
			 unsigned int depth)
{
	const struct attach_config *c = &run->policy->config;
	struct attach_object_run t = {run, name, depth};

	if (attach_too_deep(run, name, depth))
		return;
	if (attach_ole_objects_walk(
		data, len, c->max_archive_entries, c->max_archive_member_size,
		attach_ole1_object, &t) > (int)c->max_archive_entries)
		attach_add(run->report, ATTACH_SYM_UNCHECKED, false, name,
			   "OLE objects");
}

/* Control bytes or an executable's magic early in a declared text part:
 * worth libmagic's look. Plain text is not (it would cost milliseconds). */
static bool
text_looks_binary(const unsigned char *d, size_t len)
{
	size_t n = len < 1024 ? len : 1024;

	if (starts(d, len, "MZ", 2) ||
	    starts(d, len,
		   "\x7f"
		   "ELF",
		   4) ||
	    starts(d, len, "#!", 2))
		return true;
	for (size_t i = 0; i < n; i++)
		if (d[i] < 0x09 || (d[i] > 0x0d && d[i] < 0x20 && d[i] != 0x1b))
			return true;
	return false;
}

/* Type, macros and archive contents of data (a leaf or a member). text:
 * a leaf declared text/ without a file name. */
static void
attach_check_data(struct attach_run *run, const char *name,
		  const unsigned char *data, size_t len, unsigned int depth,
		  bool text)
{
	const struct attach_policy *p = run->policy;
	magic_t m;

	if (len == 0)
		return;
	m = text && !text_looks_binary(data, len) ? NULL : attach_magic(p);
	if (m != NULL && run->magic_calls == ATTACH_MAX_MAGIC_CALLS) {
		if (!run->report->symbols[ATTACH_SYM_UNCHECKED])
			attach_add(run->report, ATTACH_SYM_UNCHECKED, false,
				   name, "file types");
		m = NULL;
	}
	if (m != NULL) {
		const char *t = magic_buffer(
		    m, data,
		    len < ATTACH_MAGIC_BYTES ? len : ATTACH_MAGIC_BYTES);

		run->magic_calls++;
		if (t != NULL && list_has(&p->types, t))
			attach_add(run->report, ATTACH_SYM_DETECTED_TYPE, true,
				   name, t);
	}
	if (p->config.check_macros && attach_ole_magic(data, len) &&
	    ole_has_vba(data, len))
		attach_add(run->report, ATTACH_SYM_MACRO, true, name,
			   "OLE2 VBA project");
	else if (p->config.check_macros && attach_ole_magic(data, len) &&
		 attach_xls_has_macro_sheet(data, len))
		attach_add(run->report, ATTACH_SYM_MACRO, true, name,
			   "Excel 4.0 macro sheet");
	if (p->config.check_archives) {
		bool archive = is_archive(data, len);

		if (attach_ole_encrypted_package(data, len))
			attach_add(run->report, ATTACH_SYM_ENCRYPTED, false,
				   name,
				   "Office document encrypted with a "
				   "password");

		if (archive)
			attach_check_archive(run, name, data, len, depth + 1);
		if (!archive || starts(data, len, "PK\x03\x04", 4))
			attach_check_embedded_zips(run, name, data, len,
						   depth + 1, archive);
		if (attach_is_tnef(data, len))
			attach_check_tnef(run, name, data, len, depth + 1);
		if (attach_pdf_is(data, len))
			attach_check_pdf(run, name, data, len, depth + 1);
		if (attach_msg_is(data, len))
			attach_check_msg(run, name, data, len, depth + 1);
		if (attach_rtf_is(data, len))
			attach_check_rtf(run, name, data, len, depth + 1);
		if (attach_ole_objects_has(data, len))
			attach_check_ole_objects(run, name, data, len,
						 depth + 1);
	}
}

static void
attach_check_leaf(struct attach_run *run, const char *name,
		  const char *declared_type, const unsigned char *data,
		  size_t len)
{
	if (data != NULL && len > 0 && is_message_file(name, declared_type))
		attach_check_message_file(run, name, data, len);
	if (name != NULL && name[0] != '\0')
		attach_check_name(run, name, false);
	if (declared_type != NULL &&
	    list_has(&run->policy->types, declared_type))
		attach_add(run->report, ATTACH_SYM_BLOCKED_TYPE, true,
			   name != NULL ? name : "", declared_type);
	attach_check_active(run, name, declared_type, data, len);
	attach_check_data(run, name != NULL ? name : "", data, len, 0,
			  (name == NULL || name[0] == '\0') &&
			      declared_type != NULL &&
			      strncmp(declared_type, "text/", 5) == 0);
}

void
attach_policy_check_file(const struct attach_policy *policy, const char *name,
			 const char *declared_type, const unsigned char *data,
			 size_t len, struct attach_report *report_r)
{
	struct attach_run run = {policy, report_r, 0, 0, 0, 0};

	attach_check_leaf(&run, name, declared_type, data, len);
}

/* uuencoded files in a text part ("begin 644 NAME" ... "end"), which
 * Outlook and others still show as attachments: decoded and checked like
 * attachments (name, detected type, archives, macros). */
static void
attach_check_uuencoded(struct attach_run *run, const unsigned char *text,
		       size_t len)
{
	size_t pos = 0;
	unsigned int found = 0;

	while (pos < len && found < ATTACH_MAX_FINDINGS) {
		const unsigned char *line = text + pos;
		const unsigned char *nl = memchr(line, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
		size_t d = 6;

		pos += n + 1;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n < 11 || memcmp(line, "begin ", 6) != 0)
			continue;
		while (d < n && d < 11 && line[d] >= '0' && line[d] <= '7')
			d++;
		if (d < 9 || d >= n || line[d] != ' ' || d + 1 == n)
			continue;
		{
			char name[256];
			size_t nlen = n - d - 1 < sizeof(name) - 1
					  ? n - d - 1
					  : sizeof(name) - 1;
			struct buf data;

			memcpy(name, line + d + 1, nlen);
			name[nlen] = '\0';
			buf_init(&data);
			if (pos < len)
				pos +=
				    uudecode_body(text + pos, len - pos, &data);
			attach_check_leaf(run, name, NULL,
					  data.len > 0
					      ? (const unsigned char *)data.data
					      : (const unsigned char *)"",
					  data.len);
			buf_free(&data);
			found++;
		}
	}
}

/* The message gives a password, in its Subject or text, in one of the
 * languages such lures come in. */
static bool
attach_mentions_password(const struct mime_message *msg)
{
	static const char *const words[] = {
	    "password",
	    "passwort",
	    "kennwort",
	    "mot de passe",
	    "contrase\xc3\xb1"
	    "a",
	    "senha",
	    "parola",
	    "wachtwoord",
	    "has\xc5\x82o",
	    "\xd0\xbf\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c",
	    "passcode",
	    "pwd:",
	    "pw:",
	    NULL};
	const char *subject = mime_message_header(msg, "Subject", 0);

	for (size_t i = 0; words[i] != NULL; i++)
		if ((msg->text != NULL && strcasestr(msg->text, words[i])) ||
		    (subject != NULL && strcasestr(subject, words[i])))
			return true;
	return false;
}

/* Every part of msg (the message, or one attached to it). */
static void
attach_check_parts(struct attach_run *run, const struct mime_message *msg)
{
	/* Parts the parse skipped at its limits were never seen here. */
	if (msg->symbols[MIME_SYM_TOO_DEEP] ||
	    msg->symbols[MIME_SYM_NESTING_OVERFLOW])
		attach_add(run->report, ATTACH_SYM_UNCHECKED, false, "",
			   "MIME nesting");
	if (msg->symbols[MIME_SYM_TOO_MANY_PARTS])
		attach_add(run->report, ATTACH_SYM_UNCHECKED, false, "",
			   "MIME parts");
	for (size_t i = 0; i < msg->part_count; i++) {
		const struct mime_part *part = &msg->parts[i];

		/* Another reading could show other parts or names. */
		if (part->ambiguity != NULL)
			attach_add(run->report, ATTACH_SYM_AMBIGUOUS_MIME, true,
				   part->filename != NULL ? part->filename : "",
				   part->ambiguity);
		if (part->kind == MIME_PART_MULTIPART)
			continue;
		/* Both names when a part gives two different ones. */
		if (part->alt_filename != NULL)
			attach_check_name(run, part->alt_filename, false);
		if (part->kind == MIME_PART_MESSAGE) {
			/* A named message/rfc822: its name counts. */
			if (part->filename != NULL)
				attach_check_name(run, part->filename, false);
			continue;
		}
		attach_check_leaf(run, part->filename, part->content_type,
				  part->content, part->content_len);
		if (part->filename == NULL && part->content != NULL &&
		    strcmp(part->content_type, "text/plain") == 0)
			attach_check_uuencoded(run, part->content,
					       part->content_len);
	}
}

/* A message carried as a file: an .eml attachment, or message/rfc822 or
 * message/global in a transfer encoding (which the parse keeps as a
 * leaf). Mail programs open it and show its attachments, so its parts are
 * checked too, as deep as archives are opened. */
static void
attach_check_message_file(struct attach_run *run, const char *name,
			  const unsigned char *data, size_t len)
{
	struct mime_message *m;

	if (run->message_depth >= run->policy->config.max_archive_depth) {
		attach_add(run->report, ATTACH_SYM_UNCHECKED, false,
			   name != NULL ? name : "", "message nesting");
		return;
	}
	m = mime_parse_buffer(data, len, NULL);
	if (m == NULL)
		return;
	run->message_depth++;
	attach_check_parts(run, m);
	run->message_depth--;
	mime_message_free(&m);
}

void
attach_policy_check(const struct attach_policy *policy,
		    const struct mime_message *msg,
		    struct attach_report *report_r)
{
	struct attach_run run = {policy, report_r, 0, 0, 0, 0};

	memset(report_r, 0, sizeof(*report_r));
	attach_check_parts(&run, msg);
	if (report_r->symbols[ATTACH_SYM_ENCRYPTED] &&
	    attach_mentions_password(msg))
		attach_add(report_r, ATTACH_SYM_ENCRYPTED_PASSWORD, false, "",
			   "password in the message");
}
