/*
 * Unit tests for filters/attach_rtf.c: RTF documents with embedded OLE1
 * objects written as Word writes them and as exploit kits bend them (hex
 * broken by spaces and groups, raw \bin bytes), and broken ones: what
 * each object is reported as.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "filters/attach_rtf.h"
#include "lib/buf.h"

/* The objects reported, as "class|name|data" lines (data as text, "-"
 * when NULL with its length). */
static void
collect(void *ctx, const char *class_name, const char *name,
	const unsigned char *data, size_t len)
{
	struct buf *out = ctx;

	buf_printf(out, "%s|%s|", class_name, name);
	if (data == NULL)
		buf_printf(out, "-%zu", len);
	else
		buf_append(out, data, len);
	buf_append_char(out, '\n');
}

static void
hex_append(struct buf *b, const void *data, size_t len)
{
	const unsigned char *d = data;

	for (size_t i = 0; i < len; i++)
		buf_printf(b, "%02x", d[i]);
}

static void
u32_append(struct buf *b, uint32_t v)
{
	unsigned char le[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff,
			       v >> 24};

	buf_append(b, le, 4);
}

/* An OLE1 embedded object of class cls holding native. */
static void
ole1(struct buf *b, const char *cls, const void *native, size_t len)
{
	u32_append(b, 0x0501);
	u32_append(b, 2);
	u32_append(b, (uint32_t)strlen(cls) + 1);
	buf_append(b, cls, strlen(cls) + 1);
	u32_append(b, 0);
	u32_append(b, 0);
	u32_append(b, (uint32_t)len);
	buf_append(b, native, len);
}

/* A Package's native data: label, original path, temporary path, file. */
static void
package(struct buf *b, const char *label, const char *temp, const char *data)
{
	buf_append(b, "\x02\x00", 2);
	buf_append(b, label, strlen(label) + 1);
	buf_append_str(b, "C:\\Users\\a\\");
	buf_append(b, label, strlen(label) + 1);
	u32_append(b, 0x00030000);
	u32_append(b, (uint32_t)strlen(temp) + 1);
	buf_append(b, temp, strlen(temp) + 1);
	u32_append(b, (uint32_t)strlen(data));
	buf_append_str(b, data);
}

static void
walk(const struct buf *rtf, unsigned int max, size_t max_bytes,
     const char *want, int want_count)
{
	struct buf got;
	int n;

	buf_init(&got);
	n = attach_rtf_walk((const unsigned char *)rtf->data, rtf->len, max,
			    max_bytes, collect, &got);
	if (n != want_count || strcmp(buf_cstr(&got), want) != 0)
		fail_msg("%.60s: got %d objects:\n%s", rtf->data, n,
			 buf_cstr(&got));
	buf_free(&got);
}

static void
test_objects(void **state)
{
	struct buf native, obj, rtf;

	(void)state;
	buf_init(&native);
	buf_init(&obj);
	buf_init(&rtf);

	/* a packaged file, as Word writes it */
	package(&native, "invoice.pdf",
		"C:\\Users\\a\\AppData\\Local\\Temp\\invoice.exe", "MZ data");
	ole1(&obj, "Package", native.data, native.len);
	buf_append_str(&rtf, "{\\rtf1{\\object\\objemb{\\*\\objdata ");
	hex_append(&rtf, obj.data, obj.len);
	buf_append_str(&rtf, "}}}");
	/* saved under the temporary name, shown under the label: both */
	walk(&rtf, 10, 1 << 20,
	     "Package|invoice.exe|MZ data\nPackage|invoice.pdf|MZ data\n", 1);
	/* cut at max_bytes: the name, no data */
	walk(&rtf, 10, 60, "Package|invoice.pdf|-28\n", 1);

	/* hex broken by line breaks, a group and control words; \bin raw */
	buf_reset(&rtf);
	buf_append_str(&rtf, "{\\rtf1{\\*\\objdata 0105\r\n00\\par 00 ");
	buf_append_str(&rtf, "{\\*\\bkmkstart abcdef}");
	buf_append_str(&rtf, "02000000\\bin4 ");
	u32_append(&rtf, 11);
	hex_append(&rtf, "Equation.3", 11);
	hex_append(&rtf, "\0\0\0\0\0\0\0\0\2\0\0\0AB", 14);
	buf_append_str(&rtf, "}}");
	walk(&rtf, 10, 1 << 20, "Equation.3||AB\n", 1);

	/* a linked object (FormatID 1): its class, no data */
	buf_reset(&rtf);
	buf_append_str(&rtf, "{\\rtf1{\\*\\objdata 01050000010000000900000"
			     "04f4c45324c696e6b00}}");
	walk(&rtf, 10, 1 << 20, "OLE2Link||-0\n", 1);

	/* not OLE1 (too short): the bytes as they are */
	buf_reset(&rtf);
	buf_append_str(&rtf, "{\\rtf1{\\*\\objdata d0cf11e0}}");
	walk(&rtf, 10, 1 << 20, "||\xd0\xcf\x11\xe0\n", 1);

	/* a native size past the end: cut */
	buf_reset(&obj);
	ole1(&obj, "Word.Document.8", "xyz", 3);
	obj.data[obj.len - 4] = 0x7f; /* NativeDataSize: 0x7f...03 */
	buf_reset(&rtf);
	buf_append_str(&rtf, "{\\rt{\\*\\objdata ");
	hex_append(&rtf, obj.data, obj.len - 3);
	buf_append_str(&rtf, "}}");
	walk(&rtf, 10, 1 << 20, "Word.Document.8||-0\n", 1);

	/* more objects than max; \objdataX is another word; no RTF */
	buf_reset(&rtf);
	buf_append_str(&rtf, "{\\rtf1{\\*\\objdata 30}{\\*\\objdata 30}"
			     "{\\*\\objdatax 30}{\\*\\objdata 30}}");
	walk(&rtf, 2, 1 << 20, "||0\n||0\n", 3);
	buf_reset(&rtf);
	buf_append_str(&rtf, "{\\pdf \\objdata 00}");
	walk(&rtf, 2, 1 << 20, "", -1);

	buf_free(&native);
	buf_free(&obj);
	buf_free(&rtf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_objects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
