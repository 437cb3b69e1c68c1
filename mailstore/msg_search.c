/*
 * msg_search: decoding of header fields and body text to UTF-8 for IMAP
 * SEARCH, and the casemap fold used to compare them (see msg_search.h).
 * GMime 3 decodes encoded words and converts charsets; glib folds case and
 * normalises. Parts are located with msg_structure, so no MIME parse
 * happens here beyond the header field scan.
 */
#include "mailstore/msg_search.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <iconv.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "mailstore/msg_structure.h"

static pthread_once_t search_once = PTHREAD_ONCE_INIT;

static void
search_init_once(void)
{
	g_mime_init();
}

void
msg_search_init(void)
{
	pthread_once(&search_once, search_init_once);
}

/* Appends len bytes that should be UTF-8, repairing invalid sequences. */
static void
append_valid_utf8(struct buf *out, const char *s, size_t len)
{
	if (g_utf8_validate(s, (gssize)len, NULL)) {
		buf_append(out, s, len);
	} else {
		gchar *v = g_utf8_make_valid(s, (gssize)len);
		buf_append_str(out, v);
		g_free(v);
	}
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Converts all of text with cd, appending to out. False (out unchanged)
 * when any byte sequence is invalid or incomplete in that charset. */
static bool
iconv_all(iconv_t cd, const char *text, size_t len, struct buf *out)
{
	size_t start = out->len;
	char *in = (char *)text;
	size_t left = len;

	while (left > 0) {
		char chunk[4096], *o = chunk;
		size_t room = sizeof(chunk);
		size_t r = iconv(cd, &in, &left, &o, &room);

		buf_append(out, chunk, (size_t)(o - chunk));
		if (r == (size_t)-1 && errno != E2BIG) {
			buf_truncate(out, start);
			return false;
		}
	}
	{
		char chunk[64], *o = chunk;
		size_t room = sizeof(chunk);
		(void)iconv(cd, NULL, NULL, &o, &room);
		buf_append(out, chunk, (size_t)(o - chunk));
	}
	if (!g_utf8_validate(out->data + start, (gssize)(out->len - start),
			     NULL)) {
		buf_truncate(out, start);
		return false;
	}
	return true;
}

/* Appends text in charset as UTF-8: converted when the charset is known,
 * as is when it is valid UTF-8, else GMime's 8-bit guess. */
static void
append_charset(struct buf *out, const char *charset, const char *text,
	       size_t len)
{
	iconv_t cd = (iconv_t)-1;
	char *converted = NULL;

	bool ascii = true;

	for (size_t i = 0; i < len && ascii; i++)
		ascii = (unsigned char)text[i] < 0x80;
	if (ascii) {
		buf_append(out, text, len);
		return;
	}
	if (charset != NULL && strcasecmp(charset, "utf-8") != 0 &&
	    strcasecmp(charset, "us-ascii") != 0)
		cd = g_mime_iconv_open("UTF-8", charset);
	if (cd != (iconv_t)-1) {
		bool ok = iconv_all(cd, text, len, out);
		g_mime_iconv_close(cd);
		if (ok)
			return;
	} else if (g_utf8_validate(text, (gssize)len, NULL)) {
		/* Labelled UTF-8 (or US-ASCII, or nothing) and valid. */
		buf_append(out, text, len);
		return;
	}
	if (converted == NULL)
		converted = g_mime_utils_decode_8bit(NULL, text, len);
	if (converted != NULL) {
		append_valid_utf8(out, converted, strlen(converted));
		g_free(converted);
	}
}

/* Parses an encoded word "=?charset?X?text?=" at p (len bytes left):
 * its length, or 0 when there is none. Decoded bytes go to bytes_r. */
static size_t
encoded_word(const char *p, size_t len, char *charset, size_t charset_size,
	     struct buf *bytes)
{
	size_t i = 2, cs, enc, text;

	if (len < 8 || p[0] != '=' || p[1] != '?')
		return 0;
	cs = i;
	while (i < len && p[i] != '?' && (unsigned char)p[i] > ' ')
		i++;
	if (i >= len || p[i] != '?' || i == cs || i - cs >= charset_size)
		return 0;
	memcpy(charset, p + cs, i - cs);
	charset[i - cs] = '\0';
	/* RFC 2231 language suffix: charset*lang */
	if (strchr(charset, '*') != NULL)
		*strchr(charset, '*') = '\0';
	i++;
	if (i + 1 >= len || p[i + 1] != '?')
		return 0;
	enc = i;
	i += 2;
	text = i;
	while (i + 1 < len && !(p[i] == '?' && p[i + 1] == '=')) {
		if ((unsigned char)p[i] <= ' ')
			return 0;
		i++;
	}
	if (i + 1 >= len)
		return 0;
	if (p[enc] == 'B' || p[enc] == 'b') {
		(void)msg_transfer_decode("base64", p + text, i - text, bytes);
	} else if (p[enc] == 'Q' || p[enc] == 'q') {
		for (size_t k = text; k < i; k++) {
			if (p[k] == '_') {
				buf_append_char(bytes, ' ');
			} else if (p[k] == '=' && k + 2 < i &&
				   g_ascii_isxdigit(p[k + 1]) &&
				   g_ascii_isxdigit(p[k + 2])) {
				buf_append_char(
				    bytes,
				    (char)(g_ascii_xdigit_value(p[k + 1]) * 16 +
					   g_ascii_xdigit_value(p[k + 2])));
				k += 2;
			} else {
				buf_append_char(bytes, p[k]);
			}
		}
	} else {
		return 0;
	}
	return i + 2;
}

void
msg_search_decode_header(const char *raw, size_t len, struct buf *out)
{
	struct buf text = {0}, pending = {0}, literal = {0};
	char charset[64], pending_charset[64] = "";
	size_t i = 0;
	bool after_word = false;

	msg_search_init();
	/* Unfold, drop NULs. */
	for (size_t k = 0; k < len; k++)
		if (raw[k] != '\r' && raw[k] != '\n' && raw[k] != '\0')
			buf_append_char(&text, raw[k]);
	/* Our own RFC 2047 decoder: GMime 3.2 joins adjacent base64 words
	 * before decoding them, which loses the text after the first
	 * padding. Bytes of adjacent words in one charset are converted
	 * together, so a character split across two words survives. */
	while (i < text.len) {
		size_t ws = i, n;

		while (ws < text.len && is_wsp(text.data[ws]))
			ws++;
		if (after_word && ws > i && ws < text.len) {
			struct buf bytes = {0};
			n = encoded_word(text.data + ws, text.len - ws, charset,
					 sizeof(charset), &bytes);
			buf_free(&bytes);
			if (n > 0)
				i = ws; /* white space between words goes */
		}
		n = 0;
		if (text.data[i] == '=') {
			struct buf bytes = {0};
			n = encoded_word(text.data + i, text.len - i, charset,
					 sizeof(charset), &bytes);
			if (n > 0) {
				append_charset(out, NULL, literal.data,
					       literal.len);
				buf_reset(&literal);
				if (strcasecmp(charset, pending_charset) != 0) {
					append_charset(out, pending_charset,
						       pending.data,
						       pending.len);
					buf_reset(&pending);
					snprintf(pending_charset,
						 sizeof(pending_charset), "%s",
						 charset);
				}
				buf_append(&pending, bytes.data, bytes.len);
			}
			buf_free(&bytes);
		}
		if (n > 0) {
			i += n;
			after_word = true;
			continue;
		}
		if (pending.len > 0) {
			append_charset(out, pending_charset, pending.data,
				       pending.len);
			buf_reset(&pending);
		}
		pending_charset[0] = '\0';
		buf_append_char(&literal, text.data[i]);
		after_word = false;
		i++;
	}
	append_charset(out, pending_charset[0] != '\0' ? pending_charset : NULL,
		       pending.data, pending.len);
	append_charset(out, NULL, literal.data, literal.len);
	buf_free(&text);
	buf_free(&pending);
	buf_free(&literal);
}

static size_t
line_end(const char *data, size_t pos, size_t end)
{
	const char *lf = memchr(data + pos, '\n', end - pos);

	return lf == NULL ? end : (size_t)(lf - data) + 1;
}

/* Calls fn for each field of the header: name and raw value ranges. */
static size_t
header_walk(const char *header, size_t len, const char *only,
	    void (*fn)(const char *name, size_t name_len, const char *value,
		       size_t value_len, void *ctx),
	    void *ctx)
{
	size_t pos = 0, n = 0;

	while (pos < len) {
		size_t le = line_end(header, pos, len), fend = le, name_end;
		size_t vstart;

		if (header[pos] == '\n' ||
		    (header[pos] == '\r' && pos + 1 < len &&
		     header[pos + 1] == '\n'))
			break;
		while (fend < len && is_wsp(header[fend]))
			fend = line_end(header, fend, len);
		name_end = pos;
		while (name_end < le && header[name_end] != ':' &&
		       (unsigned char)header[name_end] > ' ')
			name_end++;
		vstart = name_end;
		while (vstart < le && is_wsp(header[vstart]))
			vstart++;
		if (name_end > pos && vstart < le && header[vstart] == ':' &&
		    (only == NULL ||
		     (strlen(only) == name_end - pos &&
		      strncasecmp(only, header + pos, name_end - pos) == 0))) {
			fn(header + pos, name_end - pos, header + vstart + 1,
			   fend - vstart - 1, ctx);
			n++;
		}
		pos = fend;
	}
	return n;
}

struct field_ctx {
	struct buf *out;
	bool named;
	size_t n;
};

static void
field_append(const char *name, size_t name_len, const char *value,
	     size_t value_len, void *ctx)
{
	struct field_ctx *fc = ctx;

	if (fc->named) {
		append_valid_utf8(fc->out, name, name_len);
		buf_append_str(fc->out, ": ");
	} else if (fc->n > 0) {
		buf_append_char(fc->out, '\n');
	}
	while (value_len > 0 && is_wsp(*value)) {
		value++;
		value_len--;
	}
	msg_search_decode_header(value, value_len, fc->out);
	if (fc->named)
		buf_append_char(fc->out, '\n');
	fc->n++;
}

size_t
msg_search_header_field(const char *header, size_t len, const char *field,
			struct buf *out)
{
	struct field_ctx fc = {out, false, 0};

	return header_walk(header, len, field, field_append, &fc);
}

void
msg_search_header_all(const char *header, size_t len, struct buf *out)
{
	struct field_ctx fc = {out, true, 0};

	(void)header_walk(header, len, NULL, field_append, &fc);
}

int
msg_search_body_text(const struct msg_structure *s, const char *data,
		     size_t len, struct buf *out)
{
	struct msg_part_info info;
	struct buf decoded = {0};
	bool first = true;

	msg_search_init();
	if (msg_structure_size(s) != (uint64_t)len)
		return -1;
	for (size_t i = 0; msg_structure_part(s, i, &info); i++) {
		if (info.multipart || info.message ||
		    strcmp(info.type, "text") != 0)
			continue;
		buf_reset(&decoded);
		if (msg_transfer_decode(info.encoding, data + info.body_offset,
					(size_t)info.body_size, &decoded) < 0)
			buf_append(&decoded, data + info.body_offset,
				   (size_t)info.body_size);
		if (!first)
			buf_append_char(out, '\n');
		first = false;
		/* NULs would end the C strings below. */
		for (size_t k = 0; k < decoded.len; k++)
			if (decoded.data[k] == '\0')
				decoded.data[k] = ' ';
		append_charset(out, info.charset, buf_cstr(&decoded),
			       decoded.len);
	}
	buf_free(&decoded);
	return 0;
}

void
msg_search_fold(const char *utf8, size_t len, struct buf *out)
{
	gchar *valid = NULL, *folded, *norm;

	if (!g_utf8_validate(utf8, (gssize)len, NULL)) {
		valid = g_utf8_make_valid(utf8, (gssize)len);
		utf8 = valid;
		len = strlen(valid);
	}
	folded = g_utf8_casefold(utf8, (gssize)len);
	norm = g_utf8_normalize(folded, -1, G_NORMALIZE_ALL);
	buf_append_str(out, norm != NULL ? norm : folded);
	g_free(norm);
	g_free(folded);
	g_free(valid);
}

bool
msg_search_contains(const char *text, size_t len, const char *needle_folded)
{
	struct buf folded = {0};
	bool found;

	if (needle_folded[0] == '\0')
		return true;
	msg_search_fold(text, len, &folded);
	found = memmem(folded.data != NULL ? folded.data : "", folded.len,
		       needle_folded, strlen(needle_folded)) != NULL;
	buf_free(&folded);
	return found;
}
