/*
 * text_deobfuscate: invisible characters dropped and look-alike letters
 * read as ASCII (see text_deobfuscate.h). One pass, GLib's Unicode
 * tables; bounded by the input.
 */
#include "filters/text_deobfuscate.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "filters/homograph.h"
#include "lib/buf.h"

/* Characters that show nothing: format characters, fillers and
 * selectors that a mail program draws as nothing at all. */
static bool
invisible(gunichar c)
{
	static const struct {
		gunichar first, last;
	} ranges[] = {
	    {0x00ad, 0x00ad},	/* soft hyphen */
	    {0x034f, 0x034f},	/* combining grapheme joiner */
	    {0x061c, 0x061c},	/* Arabic letter mark */
	    {0x115f, 0x1160},	/* Hangul choseong and jungseong fillers */
	    {0x17b4, 0x17b5},	/* Khmer inherent vowels */
	    {0x180b, 0x180f},	/* Mongolian variation selectors, separator */
	    {0x200b, 0x200f},	/* zero width space, (non-)joiner, LRM, RLM */
	    {0x202a, 0x202e},	/* bidirectional embeddings and overrides */
	    {0x2060, 0x2064},	/* word joiner, invisible operators */
	    {0x2066, 0x2069},	/* bidirectional isolates */
	    {0x3164, 0x3164},	/* Hangul filler */
	    {0xfe00, 0xfe0f},	/* variation selectors */
	    {0xfeff, 0xfeff},	/* zero width no-break space (BOM) */
	    {0xffa0, 0xffa0},	/* half-width Hangul filler */
	    {0xfff9, 0xfffb},	/* interlinear annotation marks */
	    {0x1d173, 0x1d17a}, /* musical symbol formatting */
	    {0xe0000, 0xe007f}, /* tag characters */
	    {0xe0100, 0xe01ef}, /* variation selectors supplement */
	};

	for (size_t i = 0; i < G_N_ELEMENTS(ranges); i++)
		if (c >= ranges[i].first && c <= ranges[i].last)
			return true;
	return false;
}

static bool
latin_letter(gunichar c)
{
	return c < 0x80 ? g_ascii_isalpha((gchar)c)
			: g_unichar_isalpha(c) &&
			      g_unichar_get_script(c) == G_UNICODE_SCRIPT_LATIN;
}

/* Whether a joiner (ZWJ, ZWNJ) next to c joins something: a letter of
 * a script that uses them (Persian, Indic) or an emoji. */
static bool
joins(gunichar c)
{
	GUnicodeType t = g_unichar_type(c);

	return (c >= 0x80 && g_unichar_isalpha(c) && !latin_letter(c)) ||
	       t == G_UNICODE_OTHER_SYMBOL || t == G_UNICODE_NON_SPACING_MARK ||
	       t == G_UNICODE_SPACING_MARK;
}

/* The ASCII character a look-alike letter stands for, or 0; *sign set
 * when writing it so is a sign of obfuscation (nobody types mathematical
 * or circled letters; full-width forms are ordinary in CJK text). */
static gunichar
ascii_lookalike(gunichar c, bool *sign)
{
	gunichar d[G_UNICHAR_MAX_DECOMPOSITION_LENGTH];
	gsize n;

	*sign = false;
	if (c >= 0xff01 && c <= 0xff5e)
		return c - 0xfee0; /* full-width ASCII */
	if (!((c >= 0x1d400 && c <= 0x1d7ff) || (c >= 0x24b6 && c <= 0x24e9)))
		return 0;
	n = g_unichar_fully_decompose(c, TRUE, d, G_N_ELEMENTS(d));
	if (n != 1 || d[0] < 0x21 || d[0] > 0x7e)
		return 0; /* mathematical Greek, for one */
	*sign = true;
	return d[0];
}

/* The word being read: where it starts in the output, and its letters. */
struct word {
	size_t start;	  /* offset in the output of its first letter */
	size_t latin;	  /* Latin letters */
	size_t lookalike; /* Greek or Cyrillic letters that look Latin */
	size_t other;	  /* other letters */
};

/* The word ends: a word that mixed Latin letters with look-alikes
 * ("pаypal" with a Cyrillic "а", "Мoсква" with a Latin "o") is a sign;
 * when its Latin letters are the most, the look-alikes in it are read as
 * the Latin letters they pass for ("paypal"). Returns the signs. */
static size_t
word_end(struct word *w, struct buf *out)
{
	bool mixed = w->latin > 0 && w->lookalike > 0;

	if (mixed && w->latin > w->lookalike + w->other) {
		struct buf latin = {0};
		const char *p = out->data + w->start,
			   *end = out->data + out->len;

		while (p < end) {
			gunichar c = g_utf8_get_char(p);
			const char *next = g_utf8_next_char(p);
			char l = c >= 0x80
				     ? homograph_latin_of(g_unichar_tolower(c))
				     : 0;

			if (l != 0)
				buf_append_char(&latin, g_unichar_isupper(c)
							    ? g_ascii_toupper(l)
							    : l);
			else
				buf_append(&latin, p, (size_t)(next - p));
			p = next;
		}
		buf_truncate(out, w->start);
		buf_append(out, latin.data, latin.len);
		buf_free(&latin);
	}
	*w = (struct word){0};
	return mixed ? 1 : 0;
}

/* Notes the visible character c, written to the output from offset at;
 * returns the signs of a word it ends. */
static size_t
word_note(struct word *w, gunichar c, size_t at, struct buf *out)
{
	if (!g_unichar_isalpha(c) && !g_unichar_ismark(c))
		return word_end(w, out);
	if (w->latin + w->lookalike + w->other == 0)
		w->start = at;
	if (latin_letter(c))
		w->latin++;
	else if (c >= 0x80 && homograph_latin_of(g_unichar_tolower(c)) != 0)
		w->lookalike++;
	else
		w->other++;
	return 0;
}

size_t
text_deobfuscate(const char *text, size_t len, struct buf *out)
{
	const char *p = text, *end = text + len;
	gunichar prev = 0;
	struct word word = {0};
	size_t signs = 0;

	while (p < end) {
		gunichar c = g_utf8_get_char_validated(p, end - p);
		const char *next = p;
		bool sign;

		if (c == (gunichar)-1 || c == (gunichar)-2) {
			signs += word_end(&word, out);
			buf_append_char(out, *p++); /* not UTF-8: as it is */
			prev = 0;
			continue;
		}
		next = g_utf8_next_char(p);
		if (invisible(c)) {
			/* a run of them; the next visible character decides */
			const char *q = next;
			gunichar after = 0;
			bool counted = false;

			while (q < end) {
				after = g_utf8_get_char_validated(q, end - q);
				if (after == (gunichar)-1 ||
				    after == (gunichar)-2 || !invisible(after))
					break;
				q = g_utf8_next_char(q);
			}
			bool in_word = latin_letter(prev) && q < end &&
				       latin_letter(after);
			for (const char *r = p; r < q;
			     r = g_utf8_next_char(r)) {
				gunichar k = g_utf8_get_char(r);

				if (in_word && k != 0x00ad && !counted) {
					signs++;
					counted = true;
				}
				if (!in_word && (k == 0x200c || k == 0x200d) &&
				    (joins(prev) || (q < end && joins(after))))
					buf_append(
					    out, r,
					    (size_t)(g_utf8_next_char(r) - r));
			}
			p = q;
			continue;
		}
		gunichar a = ascii_lookalike(c, &sign);
		size_t at = out->len;
		if (a != 0) {
			signs += sign;
			buf_append_char(out, (char)a);
			prev = a;
		} else {
			buf_append(out, p, (size_t)(next - p));
			prev = c;
		}
		signs += word_note(&word, prev, at, out);
		p = next;
	}
	return signs + word_end(&word, out);
}
