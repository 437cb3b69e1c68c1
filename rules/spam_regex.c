/*
 * spam_regex: decides the PCRE2 mode of a rule regex and writes its
 * Hyperscan prefilter form (see spam_regex.h for the why).
 *
 * One lexer walks the Perl syntax twice: first in byte mode, which copies
 * the pattern (widening large bounded repeats) and notices code points
 * above 0x7f; when it saw one, again in UTF mode, which rewrites every
 * code point above 0x7f into UTF-8 bytes. The lexer knows escapes, classes
 * (POSIX names, ranges, \Q...\E, (?#...) comments and /x comments) well
 * enough to never mistake a class member or an escaped brace for a
 * quantifier; whatever it does not understand it copies, and Hyperscan's
 * own parser (hs_expression_info) or PCRE2 then has the last word. The
 * invariant is only ever "the Hyperscan form matches at least as much":
 * when the lexer cannot promise that, it gives no Hyperscan form at all.
 */
#include "rules/spam_regex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/hex.h"
#include "lib/xalloc.h"

/* The PCRE2 flag bits this module reads (pcre2.h values, kept here so
 * the header needs no PCRE2). */
#define RX_CASELESS 0x00000008u
#define RX_EXTENDED 0x00000080u

#define RX_MAX_CP 0x10ffffu

enum rx_esc {
	RX_ESC_CP,     /* one code point (or byte): value */
	RX_ESC_CLASS,  /* \d \w \s: ASCII-only in both modes */
	RX_ESC_WIDE,   /* width differs between byte and UTF mode */
	RX_ESC_OTHER,  /* assertions, back references: copied */
	RX_ESC_BRACED, /* \x{..} \o{..} \N{U+..}: value, a code point */
};

struct rx {
	const char *p, *end;
	bool utf;	   /* writing the UTF-mode translation */
	bool extended;	   /* /x */
	bool need_utf;	   /* a code point above 0x7f was seen */
	bool nonascii;	   /* a non-ASCII code point was written (UTF) */
	bool caseless;	   /* /i or an inline (?i) */
	bool last_atom;	   /* a quantifier here applies to an atom */
	const char *no_hs; /* why there is no Hyperscan form */
	const char *error;
	struct buf out;
};

/* Reads digits of base (8 or 16) in [s, e) into *v; false on overflow,
 * no digits or a stray character. */
static bool
rx_number(const char *s, const char *e, int base, uint32_t *v)
{
	uint32_t n = 0;

	if (s == e)
		return false;
	for (; s < e; s++) {
		int d = hex_digit((unsigned char)*s);

		if (d < 0 || d >= base || n > 0x0fffffffu)
			return false;
		n = n * (uint32_t)base + (uint32_t)d;
	}
	*v = n;
	return true;
}

/* Checks a code point written in braces; sets rx->error. */
static bool
rx_valid_cp(struct rx *rx, uint32_t v)
{
	if (v > RX_MAX_CP) {
		rx->error = "code point above U+10FFFF";
		return false;
	}
	if (v >= 0xd800 && v <= 0xdfff) {
		rx->error = "UTF-16 surrogate code point";
		return false;
	}
	return true;
}

/* Decodes one UTF-8 sequence at s (s < e); 0 when invalid. */
static size_t
rx_utf8_decode(const unsigned char *s, const unsigned char *e, uint32_t *v)
{
	size_t n, i;
	uint32_t c = s[0];

	if (c < 0x80) {
		*v = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, c &= 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, c &= 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, c &= 0x07;
	else
		return 0;
	if ((size_t)(e - s) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) ||
	    (n == 4 && (c < 0x10000 || c > RX_MAX_CP)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*v = c;
	return n;
}

static size_t
rx_utf8_encode(uint32_t v, unsigned char b[4])
{
	if (v < 0x80) {
		b[0] = (unsigned char)v;
		return 1;
	}
	if (v < 0x800) {
		b[0] = (unsigned char)(0xc0 | (v >> 6));
		b[1] = (unsigned char)(0x80 | (v & 0x3f));
		return 2;
	}
	if (v < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (v >> 12));
		b[1] = (unsigned char)(0x80 | ((v >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (v & 0x3f));
		return 3;
	}
	b[0] = (unsigned char)(0xf0 | (v >> 18));
	b[1] = (unsigned char)(0x80 | ((v >> 12) & 0x3f));
	b[2] = (unsigned char)(0x80 | ((v >> 6) & 0x3f));
	b[3] = (unsigned char)(0x80 | (v & 0x3f));
	return 4;
}

static void
rx_byte(struct buf *b, unsigned int c)
{
	buf_printf(b, "\\x%02x", c & 0xffu);
}

/* Writes code point v as its UTF-8 bytes, grouped so that a following
 * quantifier repeats the whole character. */
static void
rx_emit_cp(struct rx *rx, uint32_t v)
{
	unsigned char b[4];
	size_t n = rx_utf8_encode(v, b), i;

	if (n == 1) {
		rx_byte(&rx->out, b[0]);
		return;
	}
	rx->nonascii = true;
	buf_append_str(&rx->out, "(?:");
	for (i = 0; i < n; i++)
		rx_byte(&rx->out, b[i]);
	buf_append_char(&rx->out, ')');
}

/*
 * Appends the UTF-8 byte sequences of [lo, hi] (non-ASCII, no surrogates
 * after splitting) as alternatives, each a run of byte ranges: the classic
 * split into ranges where every byte position varies independently.
 */
static void
rx_emit_range(struct buf *b, uint32_t lo, uint32_t hi, bool *first)
{
	static const uint32_t len_max[] = {0x7f, 0x7ff, 0xffff};
	unsigned char a[4], z[4];
	size_t n, i;

	if (lo > hi)
		return;
	if (lo <= 0xdfff && hi >= 0xd800) {
		if (lo < 0xd800)
			rx_emit_range(b, lo, 0xd7ff, first);
		if (hi > 0xdfff)
			rx_emit_range(b, 0xe000, hi, first);
		return;
	}
	for (i = 0; i < 3; i++) {
		if (lo <= len_max[i] && hi > len_max[i]) {
			rx_emit_range(b, lo, len_max[i], first);
			rx_emit_range(b, len_max[i] + 1, hi, first);
			return;
		}
	}
	n = rx_utf8_encode(lo, a);
	for (i = 1; i < n; i++) {
		uint32_t m = (1u << (6 * i)) - 1;

		if ((lo & ~m) != (hi & ~m)) {
			if ((lo & m) != 0) {
				rx_emit_range(b, lo, lo | m, first);
				rx_emit_range(b, (lo | m) + 1, hi, first);
				return;
			}
			if ((hi & m) != m) {
				rx_emit_range(b, lo, (hi & ~m) - 1, first);
				rx_emit_range(b, hi & ~m, hi, first);
				return;
			}
		}
	}
	(void)rx_utf8_encode(hi, z);
	if (!*first)
		buf_append_char(b, '|');
	*first = false;
	for (i = 0; i < n; i++) {
		if (a[i] == z[i]) {
			rx_byte(b, a[i]);
		} else {
			buf_append_char(b, '[');
			rx_byte(b, a[i]);
			buf_append_char(b, '-');
			rx_byte(b, z[i]);
			buf_append_char(b, ']');
		}
	}
}

/* Finds the closing ch from s; NULL if none before e. */
static const char *
rx_find(const char *s, const char *e, char ch)
{
	const char *q = memchr(s, ch, (size_t)(e - s));

	return q;
}

/*
 * Lexes the escape at rx->p (a backslash). Sets *len_r to its length and,
 * for RX_ESC_CP / RX_ESC_BRACED, *v_r to its value. Returns -1 (rx->error
 * set) for an invalid braced code point.
 */
static int
rx_escape(struct rx *rx, size_t *len_r, uint32_t *v_r)
{
	const char *p = rx->p, *e = rx->end, *q;
	unsigned char c;

	if (p + 1 >= e) {
		*len_r = 1;
		return RX_ESC_OTHER;
	}
	c = (unsigned char)p[1];
	*len_r = 2;
	switch (c) {
	case 'x':
		if (p + 2 < e && p[2] == '{') {
			q = rx_find(p + 3, e, '}');
			if (q == NULL || !rx_number(p + 3, q, 16, v_r)) {
				rx->error = q == NULL ? "unterminated \\x{...}"
						      : "bad hex in \\x{...}";
				return -1;
			}
			*len_r = (size_t)(q + 1 - p);
			return rx_valid_cp(rx, *v_r) ? RX_ESC_BRACED : -1;
		}
		*v_r = 0;
		for (q = p + 2;
		     q < p + 4 && q < e && hex_digit((unsigned char)*q) >= 0;
		     q++)
			*v_r =
			    *v_r * 16 + (uint32_t)hex_digit((unsigned char)*q);
		*len_r = (size_t)(q - p);
		return RX_ESC_CP;
	case 'o':
		if (p + 2 < e && p[2] == '{') {
			q = rx_find(p + 3, e, '}');
			if (q == NULL || !rx_number(p + 3, q, 8, v_r)) {
				rx->error = q == NULL ? "unterminated \\o{...}"
						      : "bad octal in \\o{...}";
				return -1;
			}
			*len_r = (size_t)(q + 1 - p);
			return rx_valid_cp(rx, *v_r) ? RX_ESC_BRACED : -1;
		}
		return RX_ESC_OTHER;
	case 'N':
		if (p + 4 < e && p[2] == '{' && p[3] == 'U' && p[4] == '+') {
			q = rx_find(p + 5, e, '}');
			if (q == NULL || !rx_number(p + 5, q, 16, v_r)) {
				rx->error = "bad \\N{U+...}";
				return -1;
			}
			*len_r = (size_t)(q + 1 - p);
			return rx_valid_cp(rx, *v_r) ? RX_ESC_BRACED : -1;
		}
		return RX_ESC_WIDE; /* any character but newline */
	case '0':
		*v_r = 0;
		for (q = p + 2; q < p + 4 && q < e && *q >= '0' && *q <= '7';
		     q++)
			*v_r = *v_r * 8 + (uint32_t)(*q - '0');
		*len_r = (size_t)(q - p);
		return RX_ESC_CP;
	case 'n':
		*v_r = '\n';
		return RX_ESC_CP;
	case 't':
		*v_r = '\t';
		return RX_ESC_CP;
	case 'r':
		*v_r = '\r';
		return RX_ESC_CP;
	case 'f':
		*v_r = '\f';
		return RX_ESC_CP;
	case 'e':
		*v_r = 0x1b;
		return RX_ESC_CP;
	case 'a':
		*v_r = 0x07;
		return RX_ESC_CP;
	case 'c':
		if (p + 2 < e && (unsigned char)p[2] < 0x80) {
			*len_r = 3;
			*v_r = (uint32_t)toupper((unsigned char)p[2]) ^ 0x40;
			return RX_ESC_CP;
		}
		return RX_ESC_OTHER;
	case 'd':
	case 'w':
	case 's':
		return RX_ESC_CLASS;
	case 'D':
	case 'W':
	case 'S':
	case 'h':
	case 'H':
	case 'v':
	case 'V':
	case 'R':
	case 'X':
	case 'C':
		return RX_ESC_WIDE;
	case 'p':
	case 'P':
		if (p + 2 < e && p[2] == '{') {
			q = rx_find(p + 3, e, '}');
			*len_r = q != NULL ? (size_t)(q + 1 - p) : 2;
		} else if (p + 2 < e) {
			*len_r = 3;
		}
		return RX_ESC_WIDE;
	case 'g':
	case 'k':
		if (p + 2 < e && (p[2] == '{' || p[2] == '<' || p[2] == '\'')) {
			char close = p[2] == '{'   ? '}'
				     : p[2] == '<' ? '>'
						   : '\'';

			q = rx_find(p + 3, e, close);
			*len_r = q != NULL ? (size_t)(q + 1 - p) : 2;
		} else {
			for (q = p + 2; q < e && (isdigit((unsigned char)*q) ||
						  (q == p + 2 && *q == '-'));
			     q++)
				;
			*len_r = (size_t)(q - p);
		}
		return RX_ESC_OTHER;
	default:
		if (c >= '1' && c <= '9') {
			for (q = p + 1; q < e && isdigit((unsigned char)*q);
			     q++)
				;
			*len_r = (size_t)(q - p);
			return RX_ESC_OTHER; /* back reference */
		}
		if (isalnum(c))
			return RX_ESC_OTHER; /* \b \B \A \z \Z \G \K ... */
		if (c >= 0x80) {
			/* An escaped raw byte or character: itself. */
			if (rx->utf) {
				size_t n = rx_utf8_decode(
				    (const unsigned char *)p + 1,
				    (const unsigned char *)e, v_r);

				if (n == 0) {
					rx->error = "raw bytes that are not "
						    "UTF-8 in a UTF pattern";
					return -1;
				}
				*len_r = 1 + n;
				return RX_ESC_BRACED;
			}
			*v_r = c;
			return RX_ESC_CP;
		}
		*v_r = c; /* escaped punctuation: the character itself */
		return RX_ESC_CP;
	}
}

/* Appends [s, s + n) verbatim. */
static void
rx_copy(struct rx *rx, const char *s, size_t n)
{
	buf_append(&rx->out, s, n);
}

/* A class member: a value (code point or byte) or verbatim class text. */
struct rx_member {
	bool is_value;
	uint32_t v;
	const char *text;
	size_t len;
};

/* Reads one class member at rx->p; false on error. */
static bool
rx_class_member(struct rx *rx, struct rx_member *m)
{
	const char *p = rx->p;
	unsigned char c = (unsigned char)*p;

	m->is_value = false;
	m->text = p;
	if (c == '[' && p + 1 < rx->end && p[1] == ':') {
		const char *q = p + 2;

		while (q + 1 < rx->end && !(q[0] == ':' && q[1] == ']'))
			q++;
		if (q + 1 < rx->end) {
			m->len = (size_t)(q + 2 - p);
			if (p + 2 < rx->end && p[2] == '^' && rx->utf)
				rx->no_hs = "a negated POSIX class in a UTF "
					    "pattern";
			rx->p += m->len;
			return true;
		}
	}
	if (c == '\\') {
		size_t len;
		uint32_t v = 0;
		int kind = rx_escape(rx, &len, &v);

		if (kind < 0)
			return false;
		m->len = len;
		rx->p += len;
		if (kind == RX_ESC_BRACED && v > 0x7f)
			rx->need_utf = true;
		if (kind == RX_ESC_CP || kind == RX_ESC_BRACED) {
			m->is_value = true;
			/* In UTF mode, \xHH above 0x7f is a code point. */
			m->v = v;
		} else if (kind == RX_ESC_WIDE && rx->utf) {
			rx->no_hs = "a class escape whose width differs in "
				    "UTF mode";
		}
		return true;
	}
	if (c >= 0x80 && rx->utf) {
		uint32_t v;
		size_t n = rx_utf8_decode((const unsigned char *)p,
					  (const unsigned char *)rx->end, &v);

		if (n == 0) {
			rx->error = "raw bytes that are not UTF-8 in a UTF "
				    "pattern";
			return false;
		}
		m->is_value = true;
		m->v = v;
		m->len = n;
		rx->p += n;
		return true;
	}
	m->is_value = true;
	m->v = c;
	m->len = 1;
	rx->p++;
	return true;
}

/* Lexes a class at rx->p ('['): copied in byte mode, translated in UTF. */
static bool
rx_class(struct rx *rx)
{
	const char *start = rx->p;
	bool negated = false, first = true, alt_first = true;
	struct buf ascii, alts;
	uint32_t *lo = NULL, *hi = NULL;
	size_t nr = 0, i;

	rx->p++;
	if (rx->p < rx->end && *rx->p == '^') {
		negated = true;
		rx->p++;
	}
	buf_init(&ascii);
	buf_init(&alts);
	for (;;) {
		struct rx_member a, b;
		uint32_t from, to;

		if (rx->p >= rx->end) {
			/* Unterminated: PCRE2 will refuse it. */
			rx->no_hs = "unterminated class";
			break;
		}
		if (*rx->p == ']' && !first) {
			rx->p++;
			break;
		}
		first = false;
		if (!rx_class_member(rx, &a))
			goto fail;
		if (!a.is_value) {
			buf_append(&ascii, a.text, a.len);
			continue;
		}
		from = to = a.v;
		if (rx->p + 1 < rx->end && *rx->p == '-' && rx->p[1] != ']') {
			const char *save = rx->p;

			rx->p++;
			if (!rx_class_member(rx, &b))
				goto fail;
			if (b.is_value) {
				to = b.v;
			} else {
				/* "a-\d": the dash is a literal. */
				rx->p = save;
			}
		}
		if (!rx->utf || to <= 0x7f) {
			/* Bytes: copied as values; PCRE2 judges order. */
			rx_byte(&ascii, from);
			if (to != from) {
				buf_append_char(&ascii, '-');
				rx_byte(&ascii, to);
			}
			continue;
		}
		if (from <= 0x7f) {
			rx_byte(&ascii, from);
			buf_append_char(&ascii, '-');
			rx_byte(&ascii, 0x7f);
			from = 0x80;
		}
		lo = xreallocarray(lo, nr + 1, sizeof(*lo));
		hi = xreallocarray(hi, nr + 1, sizeof(*hi));
		lo[nr] = from;
		hi[nr] = to;
		nr++;
	}
	if (!rx->utf) {
		rx_copy(rx, start, (size_t)(rx->p - start));
	} else if (nr == 0) {
		buf_append_char(&rx->out, '[');
		if (negated)
			buf_append_char(&rx->out, '^');
		buf_append(&rx->out, ascii.data, ascii.len);
		buf_append_char(&rx->out, ']');
		if (negated)
			rx->no_hs = "a negated class in a UTF pattern";
	} else {
		rx->nonascii = true;
		if (negated)
			rx->no_hs = "a negated class in a UTF pattern";
		for (i = 0; i < nr; i++)
			rx_emit_range(&alts, lo[i], hi[i], &alt_first);
		buf_append_str(&rx->out, "(?:");
		if (ascii.len > 0) {
			buf_append_char(&rx->out, '[');
			buf_append(&rx->out, ascii.data, ascii.len);
			buf_append_str(&rx->out, "]|");
		}
		buf_append(&rx->out, alts.data, alts.len);
		buf_append_char(&rx->out, ')');
	}
	free(lo);
	free(hi);
	buf_free(&ascii);
	buf_free(&alts);
	return true;
fail:
	free(lo);
	free(hi);
	buf_free(&ascii);
	buf_free(&alts);
	return false;
}

/* At '{': a quantifier {n}, {n,} or {n,m} is widened when a bound exceeds
 * SPAM_REGEX_MAX_REPEAT; anything else is a literal brace. */
static void
rx_brace(struct rx *rx)
{
	const char *p = rx->p + 1, *e = rx->end, *d1, *d2 = NULL;
	unsigned long lo, hi;
	bool comma = false;

	d1 = p;
	while (p < e && isdigit((unsigned char)*p))
		p++;
	if (p == d1 || p - d1 > 9 || p >= e)
		goto literal;
	if (*p == ',') {
		comma = true;
		d2 = ++p;
		while (p < e && isdigit((unsigned char)*p))
			p++;
		if (p - d2 > 9)
			goto literal;
	}
	if (p >= e || *p != '}')
		goto literal;
	lo = strtoul(d1, NULL, 10);
	hi = !comma ? lo : p == d2 ? (unsigned long)-1 : strtoul(d2, NULL, 10);
	if (rx->last_atom &&
	    ((hi != (unsigned long)-1 && hi > SPAM_REGEX_MAX_REPEAT) ||
	     lo > SPAM_REGEX_MAX_REPEAT)) {
		buf_printf(&rx->out, "{%lu,}",
			   lo > SPAM_REGEX_MAX_REPEAT ? SPAM_REGEX_MAX_REPEAT
						      : lo);
	} else {
		rx_copy(rx, rx->p, (size_t)(p + 1 - rx->p));
	}
	rx->p = p + 1;
	rx->last_atom = false;
	return;
literal:
	buf_append_char(&rx->out, '{');
	rx->p++;
	rx->last_atom = true;
}

/* One pass over the pattern; false on error (rx->error). */
static bool
rx_pass(struct rx *rx)
{
	while (rx->p < rx->end) {
		unsigned char c = (unsigned char)*rx->p;

		if (c == '\\' && rx->p + 1 < rx->end && rx->p[1] == 'Q') {
			const char *q = rx->p + 2, *s;

			while (q + 1 < rx->end &&
			       !(q[0] == '\\' && q[1] == 'E'))
				q++;
			q = q + 1 < rx->end ? q + 2 : rx->end;
			for (s = rx->p; s < q; s++)
				if ((unsigned char)*s >= 0x80 && rx->utf)
					rx->no_hs =
					    "non-ASCII text in \\Q...\\E";
			rx_copy(rx, rx->p, (size_t)(q - rx->p));
			rx->p = q;
			rx->last_atom = true;
		} else if (c == '\\') {
			size_t len;
			uint32_t v = 0;
			int kind = rx_escape(rx, &len, &v);

			if (kind < 0)
				return false;
			if (kind == RX_ESC_BRACED && v > 0x7f)
				rx->need_utf = true;
			if (rx->utf &&
			    (kind == RX_ESC_CP || kind == RX_ESC_BRACED) &&
			    v > 0x7f)
				rx_emit_cp(rx, v);
			else
				rx_copy(rx, rx->p, len);
			if (kind == RX_ESC_WIDE && rx->utf)
				rx->no_hs = "an escape whose width differs in "
					    "UTF mode";
			rx->p += len;
			rx->last_atom = kind != RX_ESC_OTHER ||
					isdigit((unsigned char)rx->p[-1]) ||
					rx->p[-1] == '}' || rx->p[-1] == '>';
		} else if (c == '[') {
			if (!rx_class(rx))
				return false;
			rx->last_atom = true;
		} else if (c == '(' && rx->p + 2 < rx->end && rx->p[1] == '?' &&
			   rx->p[2] == '#') {
			const char *q = rx_find(rx->p, rx->end, ')');

			q = q != NULL ? q + 1 : rx->end;
			rx_copy(rx, rx->p, (size_t)(q - rx->p));
			rx->p = q;
		} else if (c == '(') {
			const char *q = rx->p + 1;

			if (q < rx->end && *q == '?') {
				for (q++; q < rx->end &&
					  (isalpha((unsigned char)*q) ||
					   *q == '-' || *q == '^');
				     q++) {
					if (*q == '-')
						break;
					if (*q == 'i')
						rx->caseless = true;
					if (*q == 'x') /* comments we
							* cannot see */
						rx->no_hs = rx->utf
								? "inline (?x)"
								: rx->no_hs;
				}
			}
			buf_append_char(&rx->out, '(');
			rx->p++;
			rx->last_atom = false;
		} else if (c == '#' && rx->extended) {
			const char *q = rx_find(rx->p, rx->end, '\n');

			q = q != NULL ? q + 1 : rx->end;
			rx_copy(rx, rx->p, (size_t)(q - rx->p));
			rx->p = q;
		} else if (c == '{') {
			rx_brace(rx);
		} else if (c >= 0x80 && rx->utf) {
			uint32_t v;
			size_t n =
			    rx_utf8_decode((const unsigned char *)rx->p,
					   (const unsigned char *)rx->end, &v);

			if (n == 0) {
				rx->error = "raw bytes that are not UTF-8 in a "
					    "UTF pattern";
				return false;
			}
			rx_emit_cp(rx, v);
			rx->p += n;
			rx->last_atom = true;
		} else {
			if (c == '.' && rx->utf)
				rx->no_hs = "'.' in a UTF pattern";
			buf_append_char(&rx->out, (char)c);
			rx->p++;
			rx->last_atom =
			    !(c == '|' || c == '^' || c == '*' || c == '+' ||
			      c == '?' || (rx->extended && isspace(c)));
		}
	}
	return true;
}

static void
rx_init(struct rx *rx, const char *pattern, uint32_t flags, bool utf)
{
	memset(rx, 0, sizeof(*rx));
	rx->p = pattern;
	rx->end = pattern + strlen(pattern);
	rx->utf = utf;
	rx->extended = (flags & RX_EXTENDED) != 0;
	rx->caseless = (flags & RX_CASELESS) != 0;
	buf_init(&rx->out);
}

int
spam_regex_prepare(const char *pattern, uint32_t flags,
		   struct spam_regex_prep *prep_r, const char **error_r)
{
	struct rx rx;

	memset(prep_r, 0, sizeof(*prep_r));
	rx_init(&rx, pattern, flags, false);
	if (!rx_pass(&rx)) {
		*error_r = rx.error;
		buf_free(&rx.out);
		return -1;
	}
	if (rx.need_utf) {
		buf_free(&rx.out);
		rx_init(&rx, pattern, flags, true);
		if (!rx_pass(&rx)) {
			*error_r = rx.error;
			buf_free(&rx.out);
			return -1;
		}
		prep_r->utf = true;
		if (rx.no_hs == NULL && rx.nonascii && rx.caseless)
			rx.no_hs = "case-insensitive non-ASCII text";
		if (rx.no_hs == NULL && rx.extended)
			rx.no_hs = "/x in a UTF pattern";
	}
	if (rx.no_hs != NULL) {
		prep_r->hs_why = rx.no_hs;
		buf_free(&rx.out);
	} else {
		prep_r->hs_pattern = buf_detach(&rx.out);
	}
	return 0;
}

void
spam_regex_prep_free(struct spam_regex_prep *prep)
{
	x_free(&prep->hs_pattern);
}
