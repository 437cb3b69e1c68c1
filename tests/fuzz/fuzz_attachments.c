/*
 * libFuzzer target for filters/attachments.c: arbitrary bytes checked as
 * one attached file (name taken from the first line, the rest as content),
 * so the extension parser, the OLE2 scan and the archive walk (libarchive
 * over untrusted zips, nested) all see hostile input; then the same bytes
 * parsed as a whole message (GMime) and checked part by part, with both
 * names of a part and the uuencoded names in text bodies; and the bytes
 * as an SVG and as an HTML file, for the active-content scan (UTF-16
 * narrowing included) and the files in data: URLs (filters/data_uri.c);
 * as a PDF (filters/attach_pdf.c), as an Outlook item (filters/attach_msg.c,
 * libgsf), as an OLE2 file with packaged objects and as an RTF document
 * (filters/attach_ole_objects.c, attach_rtf.c, ole1.c), as a legacy
 * workbook (filters/attach_xls.c) and as an OOXML relationship part
 * (filters/attach_ooxml.c).
 * The report must stay within its bounds; everything is freed, so leaks
 * show under ASan.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/attach_msg.h"
#include "filters/attach_ole_objects.h"
#include "filters/attach_rtf.h"
#include "filters/attach_ooxml.h"
#include "filters/attach_pdf.h"
#include "filters/attach_xls.h"
#include "filters/attachments.h"
#include "filters/mime.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct attach_policy *policy;
static struct str_list exts, types;

static void
setup(void)
{
	struct attach_config c;
	char *error = NULL;

	str_list_add(&exts, "exe");
	str_list_add(&exts, "js");
	str_list_add(&types, "application/x-dosexec");
	memset(&c, 0, sizeof(c));
	c.extensions = &exts;
	c.types = &types;
	c.check_macros = true;
	c.check_archives = true;
	c.max_archive_depth = 3;
	c.max_archive_entries = 64;
	c.max_archive_member_size = 1 << 20;
	if (attach_policy_new(&c, &policy, &error) < 0)
		abort();
}

static void
check_report(const struct attach_report *r)
{
	if (r->count > ATTACH_MAX_FINDINGS)
		abort();
	for (size_t i = 0; i < r->count; i++)
		if (r->findings[i].symbol >= ATTACH_SYM_COUNT_ ||
		    strlen(r->findings[i].file) >= sizeof(r->findings[i].file))
			abort();
}

static void
fuzz_pdf_file(void *ctx, const char *name, const unsigned char *data,
	      size_t len)
{
	size_t *seen = ctx;

	if ((name == NULL) == (data == NULL) || (name != NULL && !name[0]))
		abort();
	*seen += data != NULL ? len : strlen(name);
}

static void
fuzz_object(void *ctx, const char *class_name, const char *name,
	    const unsigned char *data, size_t len)
{
	size_t *seen = ctx;

	if (class_name == NULL || name == NULL)
		abort();
	*seen += (data != NULL ? len : 0) + strlen(name) + strlen(class_name);
}

static void
fuzz_msg_file(void *ctx, const char *name, const unsigned char *data,
	      size_t len)
{
	size_t *seen = ctx;

	if (name == NULL || (data == NULL && len != 0))
		abort();
	*seen += len + strlen(name);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attach_report r;
	const uint8_t *nl = memchr(data, '\n', size < 256 ? size : 256);
	char *name;
	size_t off;

	if (policy == NULL)
		setup();
	if (nl != NULL) {
		name = xstrndup((const char *)data, (size_t)(nl - data));
		off = (size_t)(nl - data) + 1;
	} else {
		name = xstrdup("");
		off = 0;
	}
	memset(&r, 0, sizeof(r));
	attach_policy_check_file(policy, name, "application/octet-stream",
				 data + off, size - off, &r);
	check_report(&r);
	free(name);
	/* the same bytes as an SVG and as an HTML file, whatever the name */
	memset(&r, 0, sizeof(r));
	attach_policy_check_file(policy, "a.svg", "image/svg+xml", data, size,
				 &r);
	attach_policy_check_file(policy, "a.html", "text/html", data, size, &r);
	check_report(&r);
	/* and as a PDF, its embedded files handed to a counting callback */
	{
		struct attach_pdf pdf;
		size_t seen = 0;

		attach_pdf_check(data, size, fuzz_pdf_file, &seen, &pdf);
	}
	/* and as an Outlook item (libgsf's OLE2 reader included) */
	{
		size_t seen = 0;

		(void)attach_msg_walk(data, size, 64, 3, 1 << 20, fuzz_msg_file,
				      &seen);
	}
	/* and as an OLE2 file with packaged objects, and as RTF */
	{
		size_t seen = 0;

		(void)attach_ole_objects_walk(data, size, 64, 1 << 20,
					      fuzz_object, &seen);
		(void)attach_rtf_walk(data, size, 64, 1 << 20, fuzz_object,
				      &seen);
	}
	/* and as a legacy workbook */
	(void)attach_xls_has_macro_sheet(data, size);
	/* and as an OOXML relationship part */
	{
		char target[64];

		if (attach_ooxml_check_rels(data, size, target,
					    sizeof(target)) !=
			ATTACH_OOXML_NONE &&
		    strlen(target) >= sizeof(target))
			abort();
	}
	if (size <= 65536) {
		struct mime_message *m =
		    mime_parse_buffer((const char *)data, size, NULL);

		if (m != NULL) {
			attach_policy_check(policy, m, &r);
			check_report(&r);
			mime_message_free(&m);
		}
	}
	return 0;
}
