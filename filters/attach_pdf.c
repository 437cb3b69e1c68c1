/*
 * attach_pdf: embedded files, launch actions and JavaScript in a PDF file
 * (see attach_pdf.h). The file is cut at its streams: the text between
 * streams (objects, dictionaries) is read token by token for names and
 * file specification strings; a stream's data is skipped unless its
 * dictionary makes it an object stream (read as text once decompressed)
 * or an embedded file (handed to the caller once decompressed).
 */
#include "filters/attach_pdf.h"

#include <string.h>
#include <zlib.h>

#include "lib/buf.h"
#include "lib/hex.h"

#define PDF_NAME_MAX   64
#define PDF_STRING_MAX 512

struct pdf_run {
	attach_pdf_fn fn;
	void *ctx;
	struct attach_pdf *out;
	size_t inflated; /* bytes decompressed so far */
};

static bool
pdf_space(unsigned char c)
{
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' ||
	       c == ' ';
}

static bool
pdf_delimiter(unsigned char c)
{
	return pdf_space(c) || c == '(' || c == ')' || c == '<' || c == '>' ||
	       c == '[' || c == ']' || c == '{' || c == '}' || c == '/' ||
	       c == '%';
}

/* The name at s[i] == '/', #xx escapes decoded, into out (truncated);
 * returns the index after it. */
static size_t
pdf_read_name(const unsigned char *s, size_t len, size_t i, char *out,
	      size_t outsz)
{
	size_t n = 0;

	for (i++; i < len && !pdf_delimiter(s[i]); i++) {
		unsigned char c = s[i];

		if (c == '#' && i + 2 < len && hex_digit(s[i + 1]) >= 0 &&
		    hex_digit(s[i + 2]) >= 0) {
			c = (unsigned char)(hex_digit(s[i + 1]) * 16 +
					    hex_digit(s[i + 2]));
			i += 2;
		}
		if (n + 1 < outsz)
			out[n++] = (char)c;
	}
	out[n] = '\0';
	return i;
}

/* The literal string at s[i] == '(' (balanced parentheses, backslash
 * escapes), into out; returns the index after it. */
static size_t
pdf_read_literal(const unsigned char *s, size_t len, size_t i,
		 unsigned char *out, size_t outsz, size_t *out_len)
{
	unsigned int depth = 0;
	size_t n = 0;

	for (; i < len; i++) {
		unsigned char c = s[i];

		if (c == '\\' && i + 1 < len) {
			c = s[++i];
			if (c >= '0' && c <= '7') {
				unsigned int v = 0, k = 0;

				while (k < 3 && i < len && s[i] >= '0' &&
				       s[i] <= '7') {
					v = v * 8 + (unsigned int)(s[i] - '0');
					i++;
					k++;
				}
				i--;
				c = (unsigned char)v;
			} else if (c == 'n') {
				c = '\n';
			} else if (c == 'r' || c == '\r' || c == '\n') {
				continue;
			}
		} else if (c == '(') {
			if (depth++ == 0)
				continue;
		} else if (c == ')') {
			if (--depth == 0) {
				*out_len = n;
				return i + 1;
			}
		}
		if (n < outsz)
			out[n++] = c;
	}
	*out_len = n;
	return len;
}

/* The hex string at s[i] == '<' (not "<<"); returns the index after it. */
static size_t
pdf_read_hexstring(const unsigned char *s, size_t len, size_t i,
		   unsigned char *out, size_t outsz, size_t *out_len)
{
	size_t n = 0;
	int hi = -1;

	for (i++; i < len && s[i] != '>'; i++) {
		int v = hex_digit(s[i]);

		if (v < 0)
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			if (n < outsz)
				out[n++] = (unsigned char)(hi * 16 + v);
			hi = -1;
		}
	}
	if (hi >= 0 && n < outsz)
		out[n++] = (unsigned char)(hi * 16);
	*out_len = n;
	return i < len ? i + 1 : len;
}

/* A file name from a string's bytes: UTF-16BE (with its byte-order mark)
 * narrowed to its ASCII, controls dropped. */
static void
pdf_file_name(struct pdf_run *r, const unsigned char *v, size_t n)
{
	char name[PDF_STRING_MAX / 2 + 1];
	size_t k = 0, i = 0, step = 1;

	if (n >= 2 && v[0] == 0xfe && v[1] == 0xff) {
		i = 3;
		step = 2;
	}
	for (; i < n && k + 1 < sizeof(name); i += step)
		if (v[i] >= 0x20)
			name[k++] = (char)v[i];
	name[k] = '\0';
	if (k > 0 && r->fn != NULL)
		r->fn(r->ctx, name, NULL, 0);
}

/* The string value after a /F or /UF key, if one follows. */
static size_t
pdf_file_spec_value(struct pdf_run *r, const unsigned char *s, size_t len,
		    size_t i)
{
	unsigned char v[PDF_STRING_MAX];
	size_t n = 0;

	while (i < len && pdf_space(s[i]))
		i++;
	if (i < len && s[i] == '(')
		i = pdf_read_literal(s, len, i, v, sizeof(v), &n);
	else if (i + 1 < len && s[i] == '<' && s[i + 1] != '<')
		i = pdf_read_hexstring(s, len, i, v, sizeof(v), &n);
	else
		return i;
	pdf_file_name(r, v, n);
	return i;
}

/* Names in PDF text (no stream data): actions and file names. */
static void
pdf_scan_text(struct pdf_run *r, const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		char name[PDF_NAME_MAX];
		unsigned char skip[1];
		size_t n;

		if (s[i] == '(') {
			/* page text is no action */
			i = pdf_read_literal(s, len, i, skip, 0, &n);
			continue;
		}
		if (s[i] == '%') {
			while (i < len && s[i] != '\n' && s[i] != '\r')
				i++;
			continue;
		}
		if (s[i] != '/') {
			i++;
			continue;
		}
		i = pdf_read_name(s, len, i, name, sizeof(name));
		if (strcmp(name, "JavaScript") == 0 || strcmp(name, "JS") == 0)
			r->out->javascript = true;
		else if (strcmp(name, "Launch") == 0)
			r->out->launch = true;
		else if (strcmp(name, "F") == 0 || strcmp(name, "UF") == 0)
			i = pdf_file_spec_value(r, s, len, i);
	}
}

/* What a stream's dictionary (the text from its object's start to the
 * stream keyword) says about it. */
struct pdf_stream_kind {
	bool flate, other_filter, object_stream, embedded_file;
};

static void
pdf_stream_kind(const unsigned char *d, size_t len, struct pdf_stream_kind *k)
{
	memset(k, 0, sizeof(*k));
	for (size_t i = 0; i < len;) {
		char name[PDF_NAME_MAX];

		if (d[i] != '/') {
			i++;
			continue;
		}
		i = pdf_read_name(d, len, i, name, sizeof(name));
		if (strcmp(name, "FlateDecode") == 0 || strcmp(name, "Fl") == 0)
			k->flate = true;
		else if (strstr(name, "Decode") != NULL ||
			 strcmp(name, "AHx") == 0 || strcmp(name, "A85") == 0 ||
			 strcmp(name, "LZW") == 0 || strcmp(name, "RL") == 0)
			k->other_filter = true;
		else if (strcmp(name, "ObjStm") == 0)
			k->object_stream = true;
		else if (strcmp(name, "EmbeddedFile") == 0)
			k->embedded_file = true;
	}
}

/* Decompresses a FlateDecode stream into out, within the file's budget;
 * what decodes before an error is kept. */
static void
pdf_inflate(struct pdf_run *r, const unsigned char *data, size_t len,
	    struct buf *out)
{
	z_stream z;
	unsigned char chunk[16384];
	int rc = Z_OK;

	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return;
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)(len < 0x40000000u ? len : 0x40000000u);
	while (rc == Z_OK) {
		size_t got;

		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		rc = inflate(&z, Z_NO_FLUSH);
		got = sizeof(chunk) - z.avail_out;
		if (got == 0 && rc == Z_BUF_ERROR)
			break;
		if (r->inflated + got > ATTACH_PDF_MAX_INFLATE) {
			r->out->limit = true;
			break;
		}
		r->inflated += got;
		buf_append(out, chunk, got);
	}
	inflateEnd(&z);
}

/* The stream keyword at s[p]: after a dictionary's ">>", followed by an
 * end of line. */
static bool
pdf_stream_keyword(const unsigned char *s, size_t len, size_t p)
{
	size_t b = p;

	if (p + 6 >= len || memcmp(s + p, "stream", 6) != 0 ||
	    (s[p + 6] != '\r' && s[p + 6] != '\n'))
		return false;
	while (b > 0 && pdf_space(s[b - 1]))
		b--;
	return b >= 2 && s[b - 1] == '>' && s[b - 2] == '>';
}

/* Where the dictionary of the stream at p starts: after the last "obj"
 * keyword before it, not before from. */
static size_t
pdf_dict_start(const unsigned char *s, size_t from, size_t p)
{
	for (size_t i = p; i >= from + 3; i--)
		if (memcmp(s + i - 3, "obj", 3) == 0)
			return i;
	return from;
}

static void
pdf_stream(struct pdf_run *r, const struct pdf_stream_kind *k,
	   const unsigned char *data, size_t len)
{
	struct buf decoded;

	if (!k->object_stream && !k->embedded_file)
		return; /* page content, images, fonts */
	if (k->other_filter && !k->flate)
		return; /* not decoded: its bytes are not the file */
	buf_init(&decoded);
	if (k->flate)
		pdf_inflate(r, data, len, &decoded);
	else
		buf_append(&decoded, data, len);
	if (k->object_stream)
		pdf_scan_text(r, (const unsigned char *)decoded.data,
			      decoded.len);
	else if (k->embedded_file && decoded.len > 0 && r->fn != NULL)
		r->fn(r->ctx, NULL, (const unsigned char *)decoded.data,
		      decoded.len);
	buf_free(&decoded);
}

bool
attach_pdf_is(const unsigned char *data, size_t len)
{
	size_t n = len < 1024 ? len : 1024;

	for (size_t i = 0; i + 5 <= n; i++)
		if (memcmp(data + i, "%PDF-", 5) == 0)
			return true;
	return false;
}

void
attach_pdf_check(const unsigned char *data, size_t len, attach_pdf_fn fn,
		 void *ctx, struct attach_pdf *out)
{
	struct pdf_run r = {fn, ctx, out, 0};
	size_t pos = 0, p = 0;
	unsigned int streams = 0;

	memset(out, 0, sizeof(*out));
	while (p + 6 < len) {
		const unsigned char *hit = memchr(data + p, 's', len - p - 6);
		const unsigned char *end;
		struct pdf_stream_kind k;
		size_t start, at;

		if (hit == NULL)
			break;
		at = (size_t)(hit - data);
		p = at + 1;
		if (!pdf_stream_keyword(data, len, at))
			continue;
		if (++streams > ATTACH_PDF_MAX_STREAMS) {
			out->limit = true;
			break;
		}
		pdf_scan_text(&r, data + pos, at - pos);
		pdf_stream_kind(data + pdf_dict_start(data, pos, at),
				at - pdf_dict_start(data, pos, at), &k);
		start = at + 6;
		if (start < len && data[start] == '\r')
			start++;
		if (start < len && data[start] == '\n')
			start++;
		end = start < len
			  ? memmem(data + start, len - start, "endstream", 9)
			  : NULL;
		if (end == NULL) {
			pos = len;
			break;
		}
		if (k.embedded_file)
			out->files++;
		pdf_stream(&r, &k, data + start, (size_t)(end - data) - start);
		pos = p = (size_t)(end - data) + 9;
	}
	if (pos < len)
		pdf_scan_text(&r, data + pos, len - pos);
}
