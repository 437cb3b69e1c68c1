/*
 * msg_structure: our own MIME scanner for exact byte offsets, and the IMAP
 * strings built from what it finds (see msg_structure.h for the model).
 *
 * The scan is top-down: an entity's header is read up to its blank line;
 * a multipart body is then cut at the lines that are exactly its own
 * delimiter ("--" boundary, optionally "--", then only white space), and
 * each piece is scanned as a child entity confined to its byte range. A
 * child can therefore never run past its parent's delimiter, whatever it
 * contains, and a missing close delimiter simply ends the last part at the
 * end of the parent. The cost is one pass per nesting level, bounded by
 * MSG_STRUCTURE_MAX_DEPTH.
 *
 * Entities are kept in a flat array in pre-order; an entity's children
 * follow it, and subtree sizes give the next sibling. All strings are owned
 * copies, unfolded; the IMAP quoting happens only on output.
 */
#include "mailstore/msg_structure.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/hex.h"
#include "lib/xalloc.h"

#define MS_NONE UINT32_MAX

enum ms_flag {
	MS_MULTIPART = 1 << 0,	 /* body holds parts */
	MS_MESSAGE = 1 << 1,	 /* body holds one encapsulated message */
	MS_HAS_HEADERS = 1 << 2, /* a message header: headers[] are set */
};

struct ms_param {
	char *name;
	char *value;
};

struct ms_part {
	uint64_t header_offset, body_offset, body_end, body_lines;
	uint32_t parent;
	uint32_t child_count;
	uint32_t subtree; /* entities in this subtree, itself included */
	uint32_t depth;
	uint32_t flags;
	char *type, *subtype; /* lower case, never NULL */
	struct ms_param *params;
	size_t nparams;
	char *id, *description, *encoding, *md5;
	char *disposition;
	struct ms_param *dparams;
	size_t ndparams;
	char *language, *location;
	char *headers[MSG_HDR_COUNT];
};

struct msg_structure {
	uint64_t size;
	struct ms_part *parts;
	size_t count;
	size_t cap;
};

/* ---- small helpers ---- */

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static void
params_free(struct ms_param *params, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(params[i].name);
		free(params[i].value);
	}
	free(params);
}

static void
part_clear(struct ms_part *p)
{
	free(p->type);
	free(p->subtype);
	params_free(p->params, p->nparams);
	free(p->id);
	free(p->description);
	free(p->encoding);
	free(p->md5);
	free(p->disposition);
	params_free(p->dparams, p->ndparams);
	free(p->language);
	free(p->location);
	for (size_t i = 0; i < MSG_HDR_COUNT; i++)
		free(p->headers[i]);
	memset(p, 0, sizeof(*p));
}

void
msg_structure_free(struct msg_structure **sp)
{
	struct msg_structure *s = *sp;

	if (s == NULL)
		return;
	for (size_t i = 0; i < s->count; i++)
		part_clear(&s->parts[i]);
	free(s->parts);
	free(s);
	*sp = NULL;
}

uint64_t
msg_structure_size(const struct msg_structure *s)
{
	return s->size;
}

size_t
msg_structure_part_count(const struct msg_structure *s)
{
	return s->count;
}

const char *
msg_structure_header(const struct msg_structure *s, enum msg_header_field field)
{
	if ((unsigned)field >= MSG_HDR_COUNT || s->count == 0)
		return NULL;
	return s->parts[0].headers[field];
}

/* Index of the end of the line starting at pos (the position after its LF,
 * or end). */
static size_t
line_end(const char *data, size_t pos, size_t end)
{
	const char *lf = memchr(data + pos, '\n', end - pos);

	return lf == NULL ? end : (size_t)(lf - data) + 1;
}

static uint64_t
count_lines(const char *data, size_t start, size_t end)
{
	uint64_t n = 0;
	const char *p = data + start, *e = data + end, *lf;

	if (start >= end)
		return 0;
	/* Line ends, as Dovecot counts: an unterminated last line (the
	 * usual case before a boundary, whose line break belongs to the
	 * delimiter) does not count. */
	while ((lf = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		n++;
		p = lf + 1;
	}
	return n;
}

/* ---- header values ---- */

/* Unfolds value bytes (drops CR and LF), trims white space at both ends and
 * maps NUL to 0x80 so the result is a C string. */
static char *
unfold(const char *v, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = v[i];
		if (c == '\r' || c == '\n')
			continue;
		if (c == '\0')
			c = (char)0x80;
		if (o == 0 && is_wsp(c))
			continue;
		out[o++] = c;
	}
	while (o > 0 && is_wsp(out[o - 1]))
		o--;
	out[o] = '\0';
	return out;
}

/* A tiny RFC 2045 tokenizer over a C string: skips white space and
 * comments. */
static const char *
skip_cfws(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '(')
			return p;
		int depth = 0;
		for (; *p != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0) {
				p++;
				break;
			}
		}
	}
}

static bool
is_tspecial(char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* Reads a token or a quoted string at p; NULL if there is none. */
static char *
read_value(const char **pp, bool allow_slash)
{
	const char *p = skip_cfws(*pp);
	struct buf b = {0};

	if (*p == '"') {
		p++;
		while (*p != '\0' && *p != '"') {
			if (*p == '\\' && p[1] != '\0')
				p++;
			buf_append_char(&b, *p++);
		}
		if (*p == '"')
			p++;
		*pp = p;
		return buf_detach(&b);
	}
	{
		const char *start = p;
		while (*p != '\0' && (unsigned char)*p > ' ' &&
		       (!is_tspecial(*p) || (allow_slash && *p == '/')))
			p++;
		buf_append(&b, start, (size_t)(p - start));
	}
	*pp = p;
	if (b.len == 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

/* RFC 2231 section of a parameter name "base*N" or "base*N*": the base
 * length and N; false for other names. */
static bool
rfc2231_section(const char *name, size_t *base_len_r, unsigned *n_r,
		bool *extended_r)
{
	const char *star = strchr(name, '*');
	char *end;
	unsigned long n;

	if (star == NULL || star == name || star[1] < '0' || star[1] > '9')
		return false;
	n = strtoul(star + 1, &end, 10);
	if (n > 999 || (*end != '\0' && strcmp(end, "*") != 0))
		return false;
	*base_len_r = (size_t)(star - name);
	*n_r = (unsigned)n;
	*extended_r = *end == '*';
	return true;
}

/* Joins RFC 2231 continuations (title*0="a"; title*1="b") into one
 * parameter, as Dovecot does: "title" for plain ones, "title*" (value
 * still charset'lang'%XX encoded) when the first section is extended. */
static void
rfc2231_merge(struct ms_param *params, size_t *count_r)
{
	size_t count = *count_r;

	for (size_t i = 0; i < count; i++) {
		size_t base_len, o, slot = SIZE_MAX;
		unsigned n;
		bool ext, ext0 = false, found = true;
		struct buf value = {0};
		char *base;

		if (params[i].name == NULL ||
		    !rfc2231_section(params[i].name, &base_len, &n, &ext))
			continue;
		base = xstrndup(params[i].name, base_len);
		/* Sections 0, 1, 2... in order, wherever they are. */
		for (unsigned want = 0; found && want < 1000; want++) {
			found = false;
			for (size_t k = i; k < count; k++) {
				size_t bl;
				unsigned kn;
				bool kext;
				if (params[k].name == NULL ||
				    !rfc2231_section(params[k].name, &bl, &kn,
						     &kext) ||
				    bl != base_len || kn != want ||
				    strncasecmp(params[k].name, base, bl) != 0)
					continue;
				if (want == 0) {
					ext0 = kext;
					slot = k;
				}
				buf_append_str(&value, params[k].value);
				x_free(&params[k].name);
				x_free(&params[k].value);
				found = true;
				break;
			}
		}
		if (slot != SIZE_MAX) {
			/* The joined parameter takes section 0's place. */
			params[slot].name =
			    ext0 ? xasprintf("%s*", base) : xstrdup(base);
			params[slot].value = buf_detach(&value);
		}
		free(base);
		buf_free(&value);
		/* Close the holes the other sections left. */
		o = i;
		for (size_t k = i; k < count; k++)
			if (params[k].name != NULL)
				params[o++] = params[k];
		count = o;
		if (slot != SIZE_MAX && slot >= i)
			i--; /* i may hold something new now; look again */
	}
	*count_r = count;
}

/* Parses ";name=value" pairs; tolerant of junk (skips to the next ';'). */
static void
parse_params(const char *p, struct ms_param **params_r, size_t *count_r)
{
	struct ms_param *params = NULL;
	size_t count = 0;

	for (;;) {
		char *name, *value;

		p = skip_cfws(p);
		if (*p != ';') {
			const char *semi = strchr(p, ';');
			if (semi == NULL)
				break;
			p = semi;
		}
		p++;
		name = read_value(&p, false);
		if (name == NULL)
			continue;
		p = skip_cfws(p);
		if (*p != '=') {
			free(name);
			continue;
		}
		p++;
		value = read_value(&p, true);
		if (value == NULL)
			value = xstrdup("");
		if (count >= 64) { /* bounded */
			free(name);
			free(value);
			continue;
		}
		params = xreallocarray(params, count + 1, sizeof(*params));
		params[count].name = name;
		params[count].value = value;
		count++;
	}
	rfc2231_merge(params, &count);
	*params_r = params;
	*count_r = count;
}

static const char *
param_get(const struct ms_param *params, size_t count, const char *name)
{
	for (size_t i = 0; i < count; i++)
		if (strcasecmp(params[i].name, name) == 0)
			return params[i].value;
	return NULL;
}

static void
set_content_type(struct ms_part *part, const char *value)
{
	const char *p = value;
	char *type = read_value(&p, false), *subtype = NULL;

	p = skip_cfws(p);
	if (type != NULL && *p == '/') {
		p++;
		subtype = read_value(&p, false);
	}
	if (type == NULL || subtype == NULL) {
		/* Unusable: the default applies (RFC 2045 5.2). */
		free(type);
		free(subtype);
		return;
	}
	lower(type);
	lower(subtype);
	free(part->type);
	free(part->subtype);
	params_free(part->params, part->nparams);
	part->type = type;
	part->subtype = subtype;
	parse_params(p, &part->params, &part->nparams);
}

static void
set_disposition(struct ms_part *part, const char *value)
{
	const char *p = value;
	char *token = read_value(&p, false);

	if (token == NULL)
		return;
	free(part->disposition);
	params_free(part->dparams, part->ndparams);
	part->disposition = token;
	parse_params(p, &part->dparams, &part->ndparams);
}

static void
set_string(char **field, char *value)
{
	free(*field);
	*field = value;
}

struct field_name {
	const char *name;
	int id;
};

enum {
	F_CONTENT_TYPE = MSG_HDR_COUNT,
	F_CTE,
	F_CONTENT_ID,
	F_CONTENT_DESCRIPTION,
	F_CONTENT_MD5,
	F_CONTENT_DISPOSITION,
	F_CONTENT_LANGUAGE,
	F_CONTENT_LOCATION,
};

static const struct field_name field_names[] = {
    {"date", MSG_HDR_DATE},
    {"subject", MSG_HDR_SUBJECT},
    {"from", MSG_HDR_FROM},
    {"sender", MSG_HDR_SENDER},
    {"reply-to", MSG_HDR_REPLY_TO},
    {"to", MSG_HDR_TO},
    {"cc", MSG_HDR_CC},
    {"bcc", MSG_HDR_BCC},
    {"in-reply-to", MSG_HDR_IN_REPLY_TO},
    {"message-id", MSG_HDR_MESSAGE_ID},
    {"references", MSG_HDR_REFERENCES},
    {"content-type", F_CONTENT_TYPE},
    {"content-transfer-encoding", F_CTE},
    {"content-id", F_CONTENT_ID},
    {"content-description", F_CONTENT_DESCRIPTION},
    {"content-md5", F_CONTENT_MD5},
    {"content-disposition", F_CONTENT_DISPOSITION},
    {"content-language", F_CONTENT_LANGUAGE},
    {"content-location", F_CONTENT_LOCATION},
};

static void
header_field(struct ms_part *part, bool message, const char *name,
	     size_t name_len, const char *value, size_t value_len)
{
	int id = -1;
	char *v;

	for (size_t i = 0; i < sizeof(field_names) / sizeof(field_names[0]);
	     i++) {
		if (strlen(field_names[i].name) == name_len &&
		    strncasecmp(field_names[i].name, name, name_len) == 0) {
			id = field_names[i].id;
			break;
		}
	}
	if (id < 0)
		return;
	if (id < MSG_HDR_COUNT) {
		if (!message)
			return;
		if (part->headers[id] == NULL) {
			part->headers[id] = unfold(value, value_len);
		} else if (id == MSG_HDR_FROM || id == MSG_HDR_SENDER ||
			   id == MSG_HDR_REPLY_TO || id == MSG_HDR_TO ||
			   id == MSG_HDR_CC || id == MSG_HDR_BCC) {
			/* Repeated address fields add up (as in Dovecot);
			 * for the others the first one wins. */
			char *more = unfold(value, value_len), *joined;
			joined = xasprintf("%s, %s", part->headers[id], more);
			free(more);
			free(part->headers[id]);
			part->headers[id] = joined;
		}
		return;
	}
	v = unfold(value, value_len);
	switch (id) {
	case F_CONTENT_TYPE:
		set_content_type(part, v);
		free(v);
		return;
	case F_CONTENT_DISPOSITION:
		set_disposition(part, v);
		free(v);
		return;
	case F_CTE: {
		const char *p = v;
		char *token = read_value(&p, false);
		free(v);
		if (token != NULL) {
			lower(token);
			set_string(&part->encoding, token);
		}
		return;
	}
	case F_CONTENT_ID:
		set_string(&part->id, v);
		return;
	case F_CONTENT_DESCRIPTION:
		set_string(&part->description, v);
		return;
	case F_CONTENT_MD5:
		set_string(&part->md5, v);
		return;
	case F_CONTENT_LANGUAGE:
		set_string(&part->language, v);
		return;
	case F_CONTENT_LOCATION:
		set_string(&part->location, v);
		return;
	default:
		free(v);
	}
}

/* The boundary parameter of a multipart, allocated; NULL if none. An
 * RFC 2231 "boundary*" (charset'lang'%XX) is decoded, as Dovecot does. */
static char *
boundary_of(const struct ms_part *part)
{
	const char *b = param_get(part->params, part->nparams, "boundary");
	const char *q;
	struct buf out = {0};

	if (b != NULL)
		return b[0] != '\0' ? xstrdup(b) : NULL;
	b = param_get(part->params, part->nparams, "boundary*");
	if (b == NULL || (q = strchr(b, '\'')) == NULL ||
	    (q = strchr(q + 1, '\'')) == NULL)
		return NULL;
	for (q++; *q != '\0'; q++) {
		if (*q == '%' && isxdigit((unsigned char)q[1]) &&
		    isxdigit((unsigned char)q[2])) {
			char hex[3] = {q[1], q[2], '\0'};
			buf_append_char(&out, (char)strtol(hex, NULL, 16));
			q += 2;
		} else {
			buf_append_char(&out, *q);
		}
	}
	if (out.len == 0 || memchr(out.data, '\0', out.len) != NULL) {
		buf_free(&out);
		return NULL;
	}
	return buf_detach(&out);
}

/* ---- the scanner ---- */

/* The boundaries of the enclosing multiparts, innermost last. */
struct bstack {
	const char *b[MSG_STRUCTURE_MAX_DEPTH + 2];
	size_t len[MSG_STRUCTURE_MAX_DEPTH + 2];
	size_t n;
};

struct ms_parser {
	struct msg_structure *s;
	const char *data;
	struct bstack stack;
};

/* Does the line at [pos, le) delimit with boundary? 1 delimiter, 2 close
 * delimiter, 0 no. After "--" boundary ["--"] only white space may
 * follow (RFC 2046 5.1.1), so a boundary that is a prefix of another
 * never matches the longer one's lines. */
static int
is_delimiter(const char *data, size_t pos, size_t le, const char *boundary,
	     size_t blen)
{
	size_t p = pos + 2 + blen;
	int kind = 1;

	if (le - pos < 2 + blen || data[pos] != '-' || data[pos + 1] != '-' ||
	    memcmp(data + pos + 2, boundary, blen) != 0)
		return 0;
	if (p + 1 < le && data[p] == '-' && data[p + 1] == '-') {
		kind = 2;
		p += 2;
	}
	for (; p < le; p++)
		if (!is_wsp(data[p]) && data[p] != '\r' && data[p] != '\n')
			return 0;
	return kind;
}

/* Which enclosing boundary does the line at [pos, le) delimit? The
 * innermost match wins (so nested multiparts that reuse their parent's
 * boundary still nest, as in Dovecot). Its stack index, or -1; *kind_r is
 * 1 for a delimiter, 2 for a close delimiter. */
static int
stack_match(const struct ms_parser *ps, size_t pos, size_t le, int *kind_r)
{
	if (le - pos < 2 || ps->data[pos] != '-' || ps->data[pos + 1] != '-')
		return -1;
	for (size_t i = ps->stack.n; i-- > 0;) {
		int kind = is_delimiter(ps->data, pos, le, ps->stack.b[i],
					ps->stack.len[i]);
		if (kind != 0) {
			*kind_r = kind;
			return (int)i;
		}
	}
	return -1;
}

/* The first line at or after pos that delimits an enclosing multipart:
 * its start, or end. */
static size_t
scan_to_delimiter(const struct ms_parser *ps, size_t pos, size_t end)
{
	int kind;

	if (ps->stack.n == 0)
		return end;
	while (pos < end) {
		size_t le = line_end(ps->data, pos, end);
		if (ps->data[pos] == '-' &&
		    stack_match(ps, pos, le, &kind) >= 0)
			return pos;
		pos = le;
	}
	return end;
}

/* Reads the header at [start, end): fills part and returns the offset of
 * the body (after the blank line; or the start of a delimiter line of an
 * enclosing multipart, or end, when the blank line never comes). */
static size_t
parse_header(const struct ms_parser *ps, size_t start, size_t end,
	     struct ms_part *part, bool message)
{
	const char *data = ps->data;
	size_t pos = start;
	int kind;

	while (pos < end) {
		size_t le = line_end(data, pos, end), name_end, vstart, fend;

		/* The blank line ends the header. */
		if (data[pos] == '\n' || (data[pos] == '\r' && pos + 1 < end &&
					  data[pos + 1] == '\n'))
			return le;
		if (data[pos] == '-' && stack_match(ps, pos, le, &kind) >= 0)
			return pos;
		/* A field: name ':' value, then continuation lines. */
		fend = le;
		while (fend < end && is_wsp(data[fend]))
			fend = line_end(data, fend, end);
		name_end = pos;
		while (name_end < le && data[name_end] != ':' &&
		       (unsigned char)data[name_end] > ' ')
			name_end++;
		vstart = name_end;
		while (vstart < le && is_wsp(data[vstart]))
			vstart++;
		if (name_end > pos && vstart < le && data[vstart] == ':')
			header_field(part, message, data + pos, name_end - pos,
				     data + vstart + 1, fend - vstart - 1);
		pos = fend;
	}
	return end;
}

static uint32_t
part_add(struct ms_parser *ps)
{
	struct msg_structure *s = ps->s;

	if (s->count == s->cap) {
		s->cap = s->cap == 0 ? 8 : s->cap * 2;
		s->parts = xreallocarray(s->parts, s->cap, sizeof(*s->parts));
	}
	memset(&s->parts[s->count], 0, sizeof(s->parts[0]));
	return (uint32_t)s->count++;
}

/* The end of content before a delimiter line at pos: the line break before
 * it belongs to the delimiter (RFC 2046 5.1.1). */
static size_t
before_delimiter(const char *data, size_t start, size_t pos)
{
	if (pos > start && data[pos - 1] == '\n') {
		pos--;
		if (pos > start && data[pos - 1] == '\r')
			pos--;
	}
	return pos;
}

static size_t parse_entity(struct ms_parser *ps, size_t start, size_t end,
			   uint32_t parent, uint32_t depth, bool message,
			   bool digest_child);

/* Scans the body of multipart idx from its body offset: preamble, parts,
 * close delimiter, epilogue. Returns where it stops: the start of a
 * delimiter line of an enclosing multipart, or end. */
static size_t
parse_multipart(struct ms_parser *ps, uint32_t idx, size_t end)
{
	struct ms_part *part = &ps->s->parts[idx];
	char *boundary = boundary_of(part);
	size_t pos = (size_t)part->body_offset, own = ps->stack.n;
	bool digest = strcmp(part->subtype, "digest") == 0, closed = false;
	uint32_t depth = part->depth;

	assert(boundary != NULL); /* checked by parse_entity */
	ps->stack.b[own] = boundary;
	ps->stack.len[own] = strlen(boundary);
	ps->stack.n++;
	while (pos < end) {
		size_t le = line_end(ps->data, pos, end);
		int kind = 0, m = ps->data[pos] == '-'
				      ? stack_match(ps, pos, le, &kind)
				      : -1;

		if (m < 0) {
			pos = le;
			continue;
		}
		if ((size_t)m != own)
			break; /* an enclosing multipart goes on: no close */
		if (kind == 2) {
			closed = true;
			pos = le;
			break;
		}
		/* A part runs to the next delimiter line of any level. */
		pos = parse_entity(ps, le, end, idx, depth + 1, false, digest);
	}
	ps->stack.n--;
	free(boundary);
	if (closed) /* the epilogue */
		pos = scan_to_delimiter(ps, pos, end);
	return pos;
}

static size_t
parse_entity(struct ms_parser *ps, size_t start, size_t end, uint32_t parent,
	     uint32_t depth, bool message, bool digest_child)
{
	uint32_t idx;
	struct ms_part *part;
	size_t body, stop;
	bool descend, at_delimiter;
	int kind;

	if (ps->s->count >= MSG_STRUCTURE_MAX_PARTS)
		return scan_to_delimiter(ps, start, end); /* not recorded */
	idx = part_add(ps);
	part = &ps->s->parts[idx];
	part->parent = parent;
	part->depth = depth;
	part->header_offset = start;
	if (message)
		part->flags |= MS_HAS_HEADERS;
	body = parse_header(ps, start, end, part, message);
	at_delimiter =
	    body < end && ps->data[body] == '-' &&
	    stack_match(ps, body, line_end(ps->data, body, end), &kind) >= 0;
	if (at_delimiter && part->type != NULL &&
	    strcmp(part->type, "multipart") == 0) {
		/* Unless the line is this multipart's own first delimiter
		 * (its boundary may repeat an enclosing one). */
		char *own = boundary_of(part);
		if (own != NULL &&
		    is_delimiter(ps->data, body, line_end(ps->data, body, end),
				 own, strlen(own)) != 0)
			at_delimiter = false;
		free(own);
	}
	if (at_delimiter) {
		/* The header ran into an enclosing delimiter (no blank line,
		 * or the only one is the delimiter's own line break): the
		 * body is empty and there is nothing to descend into. */
		body = before_delimiter(ps->data, start, body);
	}
	part->body_offset = body;
	if (part->type == NULL) {
		part->type = xstrdup(digest_child ? "message" : "text");
		part->subtype = xstrdup(digest_child ? "rfc822" : "plain");
	}
	if (part->encoding == NULL)
		part->encoding = xstrdup("7bit");
	descend = depth < MSG_STRUCTURE_MAX_DEPTH && !at_delimiter;
	if (strcmp(part->type, "multipart") == 0) {
		char *b = boundary_of(part);
		bool usable = b != NULL;

		free(b);
		if (!usable) {
			/* No way to find the parts: plain text it is. */
			free(part->type);
			free(part->subtype);
			params_free(part->params, part->nparams);
			part->params = NULL;
			part->nparams = 0;
			part->type = xstrdup("text");
			part->subtype = xstrdup("plain");
		} else if (descend) {
			part->flags |= MS_MULTIPART;
		}
	} else if (strcmp(part->type, "message") == 0 &&
		   (strcmp(part->subtype, "rfc822") == 0 ||
		    strcmp(part->subtype, "global") == 0) &&
		   descend) {
		part->flags |= MS_MESSAGE;
	}
	if ((part->flags & MS_MULTIPART) != 0)
		stop = parse_multipart(ps, idx, end);
	else if ((part->flags & MS_MESSAGE) != 0)
		stop = parse_entity(ps, body, end, idx, depth + 1, true, false);
	else
		stop = scan_to_delimiter(ps, body, end);
	/* parts[] may have moved. */
	part = &ps->s->parts[idx];
	/* Stopped by a delimiter line: the line break before it is not ours.
	 * At the end of the data everything is. */
	part->body_end =
	    stop < end ? before_delimiter(ps->data, start, stop) : end;
	/* A degenerate last child (empty, right before the delimiter) may
	 * sit on the line break we just gave away: cover it again, so that
	 * children always nest in their parent's body. */
	for (size_t k = idx + 1; k < ps->s->count; k++)
		if (ps->s->parts[k].body_end > part->body_end)
			part->body_end = ps->s->parts[k].body_end;
	if (part->body_offset > part->body_end) {
		/* The header ran into the delimiter (no blank line, or the
		 * only blank line is the delimiter's own line break). */
		part->body_offset = part->body_end;
		body = (size_t)part->body_end;
	}
	part->body_lines = count_lines(ps->data, body, (size_t)part->body_end);
	part->subtree = (uint32_t)(ps->s->count - idx);
	if (parent != MS_NONE)
		ps->s->parts[parent].child_count++;
	return stop;
}

int
msg_structure_parse(const char *data, size_t len, struct msg_structure **s_r,
		    char **error_r)
{
	struct ms_parser ps;

	if ((uint64_t)len > UINT32_MAX) {
		*error_r = xstrdup("message larger than 4 GiB");
		return -1;
	}
	memset(&ps, 0, sizeof(ps));
	ps.s = xcalloc(1, sizeof(*ps.s));
	ps.s->size = len;
	ps.data = data;
	(void)parse_entity(&ps, 0, len, MS_NONE, 0, true, false);
	*s_r = ps.s;
	return 0;
}

/* Maps the file at path read-only and parses it: one place for the store
 * backends (mailboxes, quarantine) that keep messages as files. */
int
msg_structure_parse_file(const char *path, struct msg_structure **s_r,
			 char **error_r)
{
	struct stat st;
	void *map = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0 || fstat(fd, &st) < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size > UINT32_MAX) {
		close(fd);
		*error_r = xasprintf("%s: message larger than 4 GiB", path);
		return -1;
	}
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
			   0);
		if (map == MAP_FAILED) {
			*error_r = xasprintf("%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
	}
	close(fd);
	ret = msg_structure_parse(map != NULL ? map : "", (size_t)st.st_size,
				  s_r, error_r);
	if (map != NULL)
		munmap(map, (size_t)st.st_size);
	return ret;
}

/* ---- IMAP strings ---- */

/* Appends an IMAP string: NIL, a quoted string or a literal. */
static void
imap_nstring(struct buf *out, const char *s)
{
	bool quotable = true;
	size_t len;

	if (s == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	len = strlen(s);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80 || c == '\r' || c == '\n') {
			quotable = false;
			break;
		}
	}
	if (!quotable || len > 1024) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, s, len);
		return;
	}
	buf_append_char(out, '"');
	for (size_t i = 0; i < len;) {
		size_t run = strcspn(s + i, "\"\\");
		buf_append(out, s + i, run);
		i += run;
		if (i < len) {
			buf_append_char(out, '\\');
			buf_append_char(out, s[i++]);
		}
	}
	buf_append_char(out, '"');
}

static void
imap_params(struct buf *out, const struct ms_param *params, size_t count)
{
	if (count == 0) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_char(out, '(');
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			buf_append_char(out, ' ');
		imap_nstring(out, params[i].name);
		buf_append_char(out, ' ');
		imap_nstring(out, params[i].value);
	}
	buf_append_char(out, ')');
}

/* ---- addresses ---- */

struct addr_tok {
	int kind; /* 'a' atom, 'q' quoted, 'c' comment, 'd' domain literal,
		     or the special character itself */
	bool space_before;
	char *text;
};

static void
addr_tokens(const char *p, struct addr_tok **toks_r, size_t *count_r)
{
	struct addr_tok *toks = NULL;
	size_t count = 0, cap = 0;
	bool space = false;

	while (*p != '\0' && count < 10000) {
		struct buf b = {0};
		int kind;

		if (*p == ' ' || *p == '\t') {
			p++;
			space = true;
			continue;
		}
		if (*p == '"') {
			kind = 'q';
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				buf_append_char(&b, *p);
			}
			if (*p == '"')
				p++;
		} else if (*p == '(') {
			int depth = 0;
			kind = 'c';
			for (; *p != '\0'; p++) {
				if (*p == '\\' && p[1] != '\0') {
					p++;
					buf_append_char(&b, *p);
					continue;
				}
				if (*p == '(' && depth++ == 0)
					continue;
				if (*p == ')' && --depth == 0) {
					p++;
					break;
				}
				buf_append_char(&b, *p);
			}
		} else if (*p == '[') {
			kind = 'd';
			for (; *p != '\0' && *p != ']'; p++)
				buf_append_char(&b, *p);
			if (*p == ']') {
				buf_append_char(&b, ']');
				p++;
			}
		} else if (strchr("<>@,;:.", *p) != NULL) {
			kind = *p++;
		} else {
			const char *start = p;
			kind = 'a';
			p += strcspn(p, " \t\"(<>@,;:.[]");
			buf_append(&b, start, (size_t)(p - start));
		}
		if (count == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			toks = xreallocarray(toks, cap, sizeof(*toks));
		}
		toks[count].kind = kind;
		toks[count].space_before = space;
		toks[count].text = buf_detach(&b);
		space = false;
		count++;
	}
	*toks_r = toks;
	*count_r = count;
}

struct addr_out {
	struct buf *out; /* NULL: only capture the first mailbox (or all) */
	size_t n;
	char *first_name, *first_mailbox, *first_host;
	bool collect; /* msg_address_all(): every "local@domain" in all */
	char **all;
	size_t all_n;
};

static void
addr_emit(struct addr_out *ao, const char *name, const char *adl,
	  const char *mailbox, const char *host)
{
	if (ao->collect) {
		if (mailbox != NULL && host != NULL) {
			ao->all = xreallocarray(ao->all, ao->all_n + 1,
						sizeof(*ao->all));
			ao->all[ao->all_n++] =
			    xasprintf("%s@%s", mailbox, host);
		}
		ao->n++;
		return;
	}
	if (ao->out == NULL) {
		if (ao->first_mailbox == NULL && mailbox != NULL &&
		    host != NULL) {
			ao->first_name = name != NULL ? xstrdup(name) : NULL;
			ao->first_mailbox = xstrdup(mailbox);
			ao->first_host = xstrdup(host);
		}
		ao->n++;
		return;
	}
	if (ao->n++ == 0)
		buf_append_char(ao->out, '(');
	buf_append_char(ao->out, '(');
	imap_nstring(ao->out, name);
	buf_append_char(ao->out, ' ');
	imap_nstring(ao->out, adl);
	buf_append_char(ao->out, ' ');
	imap_nstring(ao->out, mailbox);
	buf_append_char(ao->out, ' ');
	imap_nstring(ao->out, host);
	buf_append_char(ao->out, ')');
}

/* Concatenates tokens [i, j) as a phrase: comments dropped, white space
 * between tokens kept as one space, dots (obs-phrase) kept. */
static char *
phrase_text(const struct addr_tok *t, size_t i, size_t j)
{
	struct buf b = {0};
	bool gap = false;

	for (; i < j; i++) {
		if (t[i].kind == 'c') {
			gap = true;
			continue;
		}
		if (b.len > 0 && (gap || t[i].space_before))
			buf_append_char(&b, ' ');
		gap = false;
		if (t[i].kind == 'a' || t[i].kind == 'q' || t[i].kind == 'd')
			buf_append_str(&b, t[i].text);
		else /* '.', or a stray '@' in a broken phrase */
			buf_append_char(&b, (char)t[i].kind);
	}
	if (b.len == 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

/* Concatenates tokens [i, j) with no spaces (local part, domain). */
static char *
joined_text(const struct addr_tok *t, size_t i, size_t j)
{
	struct buf b = {0};

	for (; i < j; i++) {
		if (t[i].kind == 'c')
			continue;
		if (t[i].kind == 'a' || t[i].kind == 'q' || t[i].kind == 'd')
			buf_append_str(&b, t[i].text);
		else
			buf_append_char(&b, (char)t[i].kind);
	}
	return buf_detach(&b);
}

static const char *
last_comment(const struct addr_tok *t, size_t i, size_t j)
{
	const char *c = NULL;

	for (; i < j; i++)
		if (t[i].kind == 'c' && t[i].text[0] != '\0')
			c = t[i].text;
	return c;
}

/* One mailbox in tokens [i, j) (no top-level ',' or ';' inside). */
static void
addr_mailbox(struct addr_out *ao, const struct addr_tok *t, size_t i, size_t j)
{
	size_t lt = j, gt = j, at = j;
	char *name = NULL, *adl = NULL, *mailbox, *host;

	for (size_t k = i; k < j; k++)
		if (t[k].kind == '<') {
			lt = k;
			break;
		}
	if (lt < j) {
		size_t a = lt + 1, colon = j;
		for (size_t k = lt + 1; k < j; k++)
			if (t[k].kind == '>') {
				gt = k;
				break;
			}
		name = phrase_text(t, i, lt);
		/* Route: "@a,@b:" */
		if (a < gt && t[a].kind == '@') {
			for (size_t k = a; k < gt; k++)
				if (t[k].kind == ':') {
					colon = k;
					break;
				}
			if (colon < gt) {
				adl = joined_text(t, a, colon);
				a = colon + 1;
			}
		}
		for (size_t k = a; k < gt; k++)
			if (t[k].kind == '@')
				at = k;
		if (at < gt) {
			mailbox = joined_text(t, a, at);
			host = joined_text(t, at + 1, gt);
		} else {
			mailbox = joined_text(t, a, gt);
			host = xstrdup("");
		}
		if (name == NULL) {
			const char *c = last_comment(t, gt, j);
			if (c != NULL)
				name = xstrdup(c);
		}
	} else {
		for (size_t k = i; k < j; k++)
			if (t[k].kind == '@')
				at = k;
		if (at < j) {
			mailbox = joined_text(t, i, at);
			host = joined_text(t, at + 1, j);
		} else {
			mailbox = joined_text(t, i, j);
			host = xstrdup("");
		}
		const char *c = last_comment(t, i, j);
		if (c != NULL)
			name = xstrdup(c);
	}
	/* Only a comment (e.g. after a group): nothing. Otherwise missing
	 * halves (also of "<>") get Dovecot's placeholders, so no client sees
	 * "user@". */
	if (mailbox[0] != '\0' || host[0] != '\0' || lt < j)
		addr_emit(ao, name, adl,
			  mailbox[0] != '\0' ? mailbox
					     : MSG_ADDRESS_MISSING_MAILBOX,
			  host[0] != '\0' ? host : MSG_ADDRESS_MISSING_DOMAIN);
	free(name);
	free(adl);
	free(mailbox);
	free(host);
}

/* Parses an address list, handing each address and group marker to
 * addr_emit. */
static void
addr_parse(struct addr_out *ao, const char *value)
{
	struct addr_tok *t;
	size_t count, i = 0;
	bool in_group = false;

	addr_tokens(value, &t, &count);
	while (i < count) {
		size_t j = i;
		bool angle = false;

		/* Find the end of this item: ',' or ';' outside <>, or a ':'
		 * that opens a group. */
		for (; j < count; j++) {
			if (t[j].kind == '<')
				angle = true;
			else if (t[j].kind == '>')
				angle = false;
			else if (!angle &&
				 (t[j].kind == ',' || t[j].kind == ';' ||
				  (t[j].kind == ':' && !in_group)))
				break;
		}
		if (j < count && t[j].kind == ':') {
			char *g = phrase_text(t, i, j);
			addr_emit(ao, NULL, NULL, g != NULL ? g : "", NULL);
			free(g);
			in_group = true;
		} else {
			if (j > i)
				addr_mailbox(ao, t, i, j);
			if (j < count && t[j].kind == ';' && in_group) {
				addr_emit(ao, NULL, NULL, NULL, NULL);
				in_group = false;
			}
		}
		i = j + 1;
	}
	if (in_group)
		addr_emit(ao, NULL, NULL, NULL, NULL);
	for (size_t k = 0; k < count; k++)
		free(t[k].text);
	free(t);
}

/* Appends the IMAP address list for a raw header value, or NIL. */
static void
imap_addresses(struct buf *out, const char *value)
{
	struct addr_out ao = {out, 0, NULL, NULL, NULL, false, NULL, 0};

	if (value == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	addr_parse(&ao, value);
	if (ao.n == 0)
		buf_append_str(out, "NIL");
	else
		buf_append_char(out, ')');
}

bool
msg_address_first(const char *value, char **name_r, char **mailbox_r,
		  char **host_r)
{
	struct addr_out ao = {NULL, 0, NULL, NULL, NULL, false, NULL, 0};

	*name_r = *mailbox_r = *host_r = NULL;
	if (value == NULL)
		return false;
	addr_parse(&ao, value);
	if (ao.first_mailbox == NULL)
		return false;
	*name_r = ao.first_name;
	*mailbox_r = ao.first_mailbox;
	*host_r = ao.first_host;
	return true;
}

size_t
msg_address_all(const char *value, char ***list_r)
{
	struct addr_out ao = {NULL, 0, NULL, NULL, NULL, true, NULL, 0};

	*list_r = NULL;
	if (value == NULL)
		return 0;
	addr_parse(&ao, value);
	*list_r = ao.all;
	return ao.all_n;
}

static bool
empty_value(const char *v)
{
	return v == NULL || v[0] == '\0';
}

static void
envelope_of(const struct ms_part *p, struct buf *out)
{
	const char *from = p->headers[MSG_HDR_FROM];

	buf_append_char(out, '(');
	imap_nstring(out, p->headers[MSG_HDR_DATE]);
	buf_append_char(out, ' ');
	imap_nstring(out, p->headers[MSG_HDR_SUBJECT]);
	buf_append_char(out, ' ');
	imap_addresses(out, from);
	buf_append_char(out, ' ');
	imap_addresses(out, empty_value(p->headers[MSG_HDR_SENDER])
				? from
				: p->headers[MSG_HDR_SENDER]);
	buf_append_char(out, ' ');
	imap_addresses(out, empty_value(p->headers[MSG_HDR_REPLY_TO])
				? from
				: p->headers[MSG_HDR_REPLY_TO]);
	buf_append_char(out, ' ');
	imap_addresses(out, p->headers[MSG_HDR_TO]);
	buf_append_char(out, ' ');
	imap_addresses(out, p->headers[MSG_HDR_CC]);
	buf_append_char(out, ' ');
	imap_addresses(out, p->headers[MSG_HDR_BCC]);
	buf_append_char(out, ' ');
	imap_nstring(out, p->headers[MSG_HDR_IN_REPLY_TO]);
	buf_append_char(out, ' ');
	imap_nstring(out, p->headers[MSG_HDR_MESSAGE_ID]);
	buf_append_char(out, ')');
}

void
msg_structure_envelope(const struct msg_structure *s, struct buf *out)
{
	envelope_of(&s->parts[0], out);
}

static void
imap_language(struct buf *out, const char *value)
{
	char *tokens[16];
	size_t n = 0;
	const char *p = value;

	if (value == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	while (n < 16) {
		char *tok;
		p = skip_cfws(p);
		while (*p == ',')
			p = skip_cfws(p + 1);
		tok = read_value(&p, false);
		if (tok == NULL)
			break;
		tokens[n++] = tok;
	}
	if (n == 0)
		buf_append_str(out, "NIL");
	else if (n == 1)
		imap_nstring(out, tokens[0]);
	else {
		buf_append_char(out, '(');
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				buf_append_char(out, ' ');
			imap_nstring(out, tokens[i]);
		}
		buf_append_char(out, ')');
	}
	for (size_t i = 0; i < n; i++)
		free(tokens[i]);
}

static void
imap_disposition(struct buf *out, const struct ms_part *p)
{
	if (p->disposition == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_char(out, '(');
	imap_nstring(out, p->disposition);
	buf_append_char(out, ' ');
	imap_params(out, p->dparams, p->ndparams);
	buf_append_char(out, ')');
}

static void bodystructure_of(const struct msg_structure *s, size_t idx,
			     bool ext, struct buf *out);

#define EMPTY_TEXT_PART                                                        \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"

/* Adds " NIL NIL NIL NIL" inside the ")" just appended. */
static void
buf_insert_ext(struct buf *out)
{
	buf_truncate(out, out->len - 1);
	buf_append_str(out, " NIL NIL NIL NIL)");
}

static void
bodystructure_multipart(const struct msg_structure *s, size_t idx, bool ext,
			struct buf *out)
{
	const struct ms_part *p = &s->parts[idx];
	size_t child = idx + 1;

	buf_append_char(out, '(');
	if (p->child_count == 0) {
		buf_append_str(out, EMPTY_TEXT_PART);
		if (ext) /* with its (empty) extension data, as Dovecot */
			buf_insert_ext(out);
	}
	for (uint32_t i = 0; i < p->child_count; i++) {
		bodystructure_of(s, child, ext, out);
		child += s->parts[child].subtree;
	}
	buf_append_char(out, ' ');
	imap_nstring(out, p->subtype);
	if (ext) {
		buf_append_char(out, ' ');
		imap_params(out, p->params, p->nparams);
		buf_append_char(out, ' ');
		imap_disposition(out, p);
		buf_append_char(out, ' ');
		imap_language(out, p->language);
		buf_append_char(out, ' ');
		imap_nstring(out, p->location);
	}
	buf_append_char(out, ')');
}

static void
bodystructure_of(const struct msg_structure *s, size_t idx, bool ext,
		 struct buf *out)
{
	const struct ms_part *p = &s->parts[idx];

	if ((p->flags & MS_MULTIPART) != 0) {
		bodystructure_multipart(s, idx, ext, out);
		return;
	}
	buf_append_char(out, '(');
	imap_nstring(out, p->type);
	buf_append_char(out, ' ');
	imap_nstring(out, p->subtype);
	buf_append_char(out, ' ');
	if (strcmp(p->type, "text") == 0 &&
	    param_get(p->params, p->nparams, "charset") == NULL) {
		/* The default charset made explicit, after any other
		 * parameters (as Dovecot does). */
		imap_params(out, p->params, p->nparams);
		if (p->nparams == 0) {
			buf_truncate(out, out->len - 3); /* "NIL" */
			buf_append_str(out, "(\"charset\" \"us-ascii\")");
		} else {
			buf_truncate(out, out->len - 1); /* ")" */
			buf_append_str(out, " \"charset\" \"us-ascii\")");
		}
	} else {
		imap_params(out, p->params, p->nparams);
	}
	buf_append_char(out, ' ');
	imap_nstring(out, p->id);
	buf_append_char(out, ' ');
	imap_nstring(out, p->description);
	buf_append_char(out, ' ');
	imap_nstring(out, p->encoding);
	buf_printf(out, " %llu",
		   (unsigned long long)(p->body_end - p->body_offset));
	if ((p->flags & MS_MESSAGE) != 0 && p->child_count == 1) {
		buf_append_char(out, ' ');
		envelope_of(&s->parts[idx + 1], out);
		buf_append_char(out, ' ');
		bodystructure_of(s, idx + 1, ext, out);
		buf_printf(out, " %llu", (unsigned long long)p->body_lines);
	} else if (strcmp(p->type, "message") == 0 &&
		   (strcmp(p->subtype, "rfc822") == 0 ||
		    strcmp(p->subtype, "global") == 0)) {
		/* Not descended into (depth or part limit): the grammar still
		 * wants an envelope and a body. */
		buf_append_str(out, " (NIL NIL NIL NIL NIL NIL NIL NIL NIL "
				    "NIL) " EMPTY_TEXT_PART);
		buf_printf(out, " %llu", (unsigned long long)p->body_lines);
	} else if (strcmp(p->type, "text") == 0) {
		buf_printf(out, " %llu", (unsigned long long)p->body_lines);
	}
	if (ext) {
		buf_append_char(out, ' ');
		imap_nstring(out, p->md5);
		buf_append_char(out, ' ');
		imap_disposition(out, p);
		buf_append_char(out, ' ');
		imap_language(out, p->language);
		buf_append_char(out, ' ');
		imap_nstring(out, p->location);
	}
	buf_append_char(out, ')');
}

void
msg_structure_bodystructure(const struct msg_structure *s, bool extensible,
			    struct buf *out)
{
	bodystructure_of(s, 0, extensible, out);
}

/* ---- sections ---- */

/* Child number n (1-based) of idx, or MS_NONE. */
static uint32_t
child_at(const struct msg_structure *s, uint32_t idx, unsigned long n)
{
	const struct ms_part *p = &s->parts[idx];
	size_t child = idx + 1;

	if (n == 0 || n > p->child_count)
		return MS_NONE;
	for (unsigned long i = 1; i < n; i++)
		child += s->parts[child].subtree;
	return (uint32_t)child;
}

int
msg_structure_section(const struct msg_structure *s, const char *spec,
		      struct msg_section *section_r, char **error_r)
{
	/* part: the entity named so far (MS_NONE: the top message). */
	uint32_t part = MS_NONE;
	const char *p = spec;
	bool found = true;
	const struct ms_part *e;

	memset(section_r, 0, sizeof(*section_r));
	while (*p >= '0' && *p <= '9') {
		char *end;
		unsigned long n = strtoul(p, &end, 10);

		if (*p == '0' || end - p > 9) {
			*error_r = xstrdup("bad part number in section");
			return -1;
		}
		p = end;
		if (found) {
			/* The entity whose body the number indexes: the top
			 * message, an encapsulated message, or a part. */
			uint32_t base = part == MS_NONE ? 0 : part,
				 next = MS_NONE;

			if (part != MS_NONE &&
			    (s->parts[part].flags & MS_MESSAGE) != 0)
				base = s->parts[part].child_count == 1
					   ? part + 1
					   : MS_NONE;
			else if (part != MS_NONE &&
				 (s->parts[part].flags & MS_MULTIPART) == 0)
				base = MS_NONE; /* a leaf has no parts */
			if (base == MS_NONE)
				next = MS_NONE;
			else if ((s->parts[base].flags & MS_MULTIPART) != 0)
				next = child_at(s, base, n);
			else if (n == 1)
				next = base; /* a message's only body */
			if (next == MS_NONE)
				found = false;
			part = next;
		}
		if (*p == '.') {
			p++;
			if (*p == '\0') {
				*error_r = xstrdup("section ends with a dot");
				return -1;
			}
		} else if (*p != '\0') {
			*error_r = xstrdup("bad section");
			return -1;
		}
	}
	if (*p == '\0') {
		if (p == spec) {
			section_r->kind = MSG_SECTION_WHOLE;
			section_r->offset = 0;
			section_r->size = s->size;
			section_r->encoding = s->parts[0].encoding;
			return 1;
		}
		if (!found)
			return 0;
		e = &s->parts[part];
		section_r->kind = MSG_SECTION_PART;
		section_r->offset = e->body_offset;
		section_r->size = e->body_end - e->body_offset;
		section_r->encoding = e->encoding;
		return 1;
	}
	if (strcasecmp(p, "MIME") == 0) {
		if (p == spec) {
			*error_r = xstrdup("MIME needs a part number");
			return -1;
		}
		if (!found)
			return 0;
		e = &s->parts[part];
		section_r->kind = MSG_SECTION_MIME;
		section_r->offset = e->header_offset;
		section_r->size = e->body_offset - e->header_offset;
		return 1;
	}
	if (strcasecmp(p, "HEADER") == 0)
		section_r->kind = MSG_SECTION_HEADER;
	else if (strcasecmp(p, "HEADER.FIELDS") == 0)
		section_r->kind = MSG_SECTION_HEADER_FIELDS;
	else if (strcasecmp(p, "HEADER.FIELDS.NOT") == 0)
		section_r->kind = MSG_SECTION_HEADER_FIELDS_NOT;
	else if (strcasecmp(p, "TEXT") == 0)
		section_r->kind = MSG_SECTION_TEXT;
	else {
		*error_r = xstrdup("unknown section text");
		return -1;
	}
	if (!found)
		return 0;
	if (p == spec)
		e = &s->parts[0];
	else if ((s->parts[part].flags & MS_MESSAGE) != 0 &&
		 s->parts[part].child_count == 1)
		e = &s->parts[part + 1];
	else
		return 0; /* HEADER/TEXT of a part that is no message */
	if (section_r->kind == MSG_SECTION_TEXT) {
		section_r->offset = e->body_offset;
		section_r->size = e->body_end - e->body_offset;
	} else {
		section_r->offset = e->header_offset;
		section_r->size = e->body_offset - e->header_offset;
	}
	return 1;
}

bool
msg_structure_part(const struct msg_structure *s, size_t index,
		   struct msg_part_info *info_r)
{
	const struct ms_part *p;

	if (index >= s->count)
		return false;
	p = &s->parts[index];
	info_r->type = p->type;
	info_r->subtype = p->subtype;
	info_r->charset = param_get(p->params, p->nparams, "charset");
	info_r->encoding = p->encoding;
	info_r->header_offset = p->header_offset;
	info_r->header_size = p->body_offset - p->header_offset;
	info_r->body_offset = p->body_offset;
	info_r->body_size = p->body_end - p->body_offset;
	info_r->depth = p->depth;
	info_r->multipart = (p->flags & MS_MULTIPART) != 0;
	info_r->message = (p->flags & MS_MESSAGE) != 0;
	return true;
}

/* ---- header filtering ---- */

void
msg_header_filter(const char *header, size_t len, const char *const *fields,
		  size_t count, bool exclude, struct buf *out)
{
	size_t pos = 0;

	while (pos < len) {
		size_t le = line_end(header, pos, len), fend = le, name_end;
		bool match = false;

		if (header[pos] == '\n' ||
		    (header[pos] == '\r' && pos + 1 < len &&
		     header[pos + 1] == '\n'))
			break;
		while (fend < len && is_wsp(header[fend]))
			fend = line_end(header, fend, len);
		name_end = pos;
		while (name_end < le && header[name_end] != ':' &&
		       !is_wsp(header[name_end]) &&
		       (unsigned char)header[name_end] > ' ')
			name_end++;
		for (size_t i = 0; i < count; i++)
			if (strlen(fields[i]) == name_end - pos &&
			    strncasecmp(fields[i], header + pos,
					name_end - pos) == 0) {
				match = true;
				break;
			}
		if (name_end > pos && match != exclude) {
			buf_append(out, header + pos, fend - pos);
			if (header[fend - 1] != '\n')
				buf_append_str(out, "\r\n");
		}
		pos = fend;
	}
	buf_append_str(out, "\r\n");
}

/* ---- transfer decoding ---- */

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static void
decode_base64(const char *in, size_t len, struct buf *out)
{
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i]);
		if (in[i] == '=')
			break;
		if (v < 0)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_append_char(out, (char)((acc >> bits) & 0xff));
		}
	}
}

static void
decode_qp(const char *in, size_t len, struct buf *out)
{
	size_t i = 0;

	while (i < len) {
		size_t le = line_end(in, i, len), content_end = le;
		bool hard_break = false;

		/* Trailing white space on a line is padding (RFC 2045). */
		if (content_end > i && in[content_end - 1] == '\n') {
			hard_break = true;
			content_end--;
			if (content_end > i && in[content_end - 1] == '\r')
				content_end--;
		}
		while (content_end > i && is_wsp(in[content_end - 1]))
			content_end--;
		for (size_t k = i; k < content_end; k++) {
			if (in[k] != '=') {
				buf_append_char(out, in[k]);
				continue;
			}
			if (k + 1 == content_end) { /* soft line break */
				hard_break = false;
				break;
			}
			if (k + 2 < content_end &&
			    hex_digit((unsigned char)in[k + 1]) >= 0 &&
			    hex_digit((unsigned char)in[k + 2]) >= 0) {
				buf_append_char(
				    out,
				    (char)(hex_digit((unsigned char)in[k + 1]) *
					       16 +
					   hex_digit(
					       (unsigned char)in[k + 2])));
				k += 2;
			} else {
				buf_append_char(out, '=');
			}
		}
		if (hard_break)
			buf_append_str(out, "\r\n");
		i = le;
	}
}

int
msg_transfer_decode(const char *encoding, const char *in, size_t len,
		    struct buf *out)
{
	if (encoding == NULL || strcasecmp(encoding, "7bit") == 0 ||
	    strcasecmp(encoding, "8bit") == 0 ||
	    strcasecmp(encoding, "binary") == 0) {
		buf_append(out, in, len);
		return 0;
	}
	if (strcasecmp(encoding, "base64") == 0) {
		decode_base64(in, len, out);
		return 0;
	}
	if (strcasecmp(encoding, "quoted-printable") == 0) {
		decode_qp(in, len, out);
		return 0;
	}
	return -1;
}

int
msg_structure_binary(const struct msg_structure *s, const char *data,
		     size_t data_len, const char *spec, struct buf *out,
		     bool *unknown_cte_r, char **error_r)
{
	struct msg_section sec;
	int ret;

	*unknown_cte_r = false;
	ret = msg_structure_section(s, spec, &sec, error_r);
	if (ret <= 0)
		return ret;
	if (sec.kind != MSG_SECTION_PART && sec.kind != MSG_SECTION_WHOLE) {
		*error_r = xstrdup("BINARY takes only part numbers");
		return -1;
	}
	if (sec.offset + sec.size > data_len) {
		*error_r = xstrdup("message shorter than its structure");
		return -1;
	}
	if (sec.kind == MSG_SECTION_WHOLE) {
		buf_append(out, data, (size_t)sec.size);
		return 1;
	}
	if (msg_transfer_decode(sec.encoding, data + sec.offset,
				(size_t)sec.size, out) < 0) {
		*unknown_cte_r = true;
		*error_r = xasprintf("unknown Content-Transfer-Encoding");
		return -1;
	}
	return 1;
}

/* ---- the blob ---- */

/* Version 2: Dovecot-compatible line counts (blobs of version 1 are
 * simply parsed again). */
#define MS_MAGIC "MSB2"

static void
put_varint(struct buf *out, uint64_t v)
{
	while (v >= 0x80) {
		buf_append_char(out, (char)(0x80 | (v & 0x7f)));
		v >>= 7;
	}
	buf_append_char(out, (char)v);
}

static void
put_string(struct buf *out, const char *s)
{
	if (s == NULL) {
		put_varint(out, 0);
		return;
	}
	put_varint(out, (uint64_t)strlen(s) + 1);
	buf_append_str(out, s);
}

static void
put_params(struct buf *out, const struct ms_param *params, size_t count)
{
	put_varint(out, count);
	for (size_t i = 0; i < count; i++) {
		put_string(out, params[i].name);
		put_string(out, params[i].value);
	}
}

void
msg_structure_serialize(const struct msg_structure *s, struct buf *out)
{
	buf_append(out, MS_MAGIC, 4);
	put_varint(out, s->size);
	put_varint(out, s->count);
	for (size_t i = 0; i < s->count; i++) {
		const struct ms_part *p = &s->parts[i];

		put_varint(out, p->child_count);
		put_varint(out, p->flags);
		put_varint(out, p->header_offset);
		put_varint(out, p->body_offset - p->header_offset);
		put_varint(out, p->body_end - p->body_offset);
		put_varint(out, p->body_lines);
		put_string(out, p->type);
		put_string(out, p->subtype);
		put_params(out, p->params, p->nparams);
		put_string(out, p->id);
		put_string(out, p->description);
		put_string(out, p->encoding);
		put_string(out, p->md5);
		put_string(out, p->disposition);
		put_params(out, p->dparams, p->ndparams);
		put_string(out, p->language);
		put_string(out, p->location);
		if ((p->flags & MS_HAS_HEADERS) != 0)
			for (size_t h = 0; h < MSG_HDR_COUNT; h++)
				put_string(out, p->headers[h]);
	}
}

struct reader {
	const unsigned char *p, *end;
	bool bad;
};

static uint64_t
get_varint(struct reader *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->bad = true;
			return 0;
		}
		unsigned char c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0)
			return v;
	}
	r->bad = true;
	return 0;
}

static char *
get_string(struct reader *r)
{
	uint64_t n = get_varint(r);
	char *s;

	if (r->bad || n == 0)
		return NULL;
	n--;
	if (n > (uint64_t)(r->end - r->p) ||
	    memchr(r->p, '\0', (size_t)n) != NULL) {
		r->bad = true;
		return NULL;
	}
	s = xstrndup((const char *)r->p, (size_t)n);
	r->p += n;
	return s;
}

static void
get_params(struct reader *r, struct ms_param **params_r, size_t *count_r)
{
	uint64_t n = get_varint(r);
	struct ms_param *params;

	*params_r = NULL;
	*count_r = 0;
	if (r->bad || n == 0)
		return;
	if (n > 64) {
		r->bad = true;
		return;
	}
	params = xcalloc((size_t)n, sizeof(*params));
	*params_r = params;
	*count_r = (size_t)n;
	for (size_t i = 0; i < n; i++) {
		params[i].name = get_string(r);
		params[i].value = get_string(r);
		if (params[i].name == NULL || params[i].value == NULL)
			r->bad = true;
	}
}

/* Rebuilds parent, depth and subtree from child counts and checks that
 * every range nests. */
static bool
tree_check(struct msg_structure *s)
{
	uint32_t stack[MSG_STRUCTURE_MAX_DEPTH + 2];
	uint32_t left[MSG_STRUCTURE_MAX_DEPTH + 2];
	size_t top = 0;

	for (size_t i = 0; i < s->count; i++) {
		struct ms_part *p = &s->parts[i];

		if (p->header_offset > p->body_offset ||
		    p->body_offset > p->body_end || p->body_end > s->size)
			return false;
		if (p->type == NULL || p->subtype == NULL ||
		    p->encoding == NULL)
			return false;
		if (((p->flags & MS_MULTIPART) != 0) +
			((p->flags & MS_MESSAGE) != 0) >
		    1)
			return false;
		if (p->child_count > 0 &&
		    (p->flags & (MS_MULTIPART | MS_MESSAGE)) == 0)
			return false;
		if ((p->flags & MS_MESSAGE) != 0 && p->child_count > 1)
			return false;
		if (i == 0) {
			if ((p->flags & MS_HAS_HEADERS) == 0)
				return false;
			p->parent = MS_NONE;
			p->depth = 0;
		} else {
			struct ms_part *parent;
			while (top > 0 && left[top - 1] == 0)
				top--;
			if (top == 0)
				return false; /* a second root */
			parent = &s->parts[stack[top - 1]];
			left[top - 1]--;
			p->parent = stack[top - 1];
			p->depth = (uint32_t)top;
			if (p->header_offset < parent->body_offset ||
			    p->body_end > parent->body_end)
				return false;
			if (((parent->flags & MS_MESSAGE) != 0) !=
			    ((p->flags & MS_HAS_HEADERS) != 0))
				return false;
		}
		p->subtree = 1;
		if (p->child_count > 0) {
			if (top >= MSG_STRUCTURE_MAX_DEPTH + 1)
				return false;
			stack[top] = (uint32_t)i;
			left[top] = p->child_count;
			top++;
		}
	}
	for (size_t t = 0; t < top; t++)
		if (left[t] != 0)
			return false;
	/* Subtree sizes, children after parents: accumulate backwards. */
	for (size_t i = s->count; i-- > 1;)
		s->parts[s->parts[i].parent].subtree += s->parts[i].subtree;
	return true;
}

int
msg_structure_deserialize(const void *blob, size_t len,
			  struct msg_structure **s_r, char **error_r)
{
	struct reader r = {blob, (const unsigned char *)blob + len, false};
	struct msg_structure *s;
	uint64_t count;

	if (len < 4 || memcmp(blob, MS_MAGIC, 4) != 0) {
		*error_r = xstrdup("not a structure blob of this version");
		return -1;
	}
	r.p += 4;
	s = xcalloc(1, sizeof(*s));
	s->size = get_varint(&r);
	count = get_varint(&r);
	if (r.bad || count == 0 || count > MSG_STRUCTURE_MAX_PARTS ||
	    s->size > UINT32_MAX) {
		free(s);
		*error_r = xstrdup("bad structure blob header");
		return -1;
	}
	s->parts = xcalloc((size_t)count, sizeof(*s->parts));
	s->cap = (size_t)count;
	for (size_t i = 0; i < count && !r.bad; i++) {
		struct ms_part *p = &s->parts[i];
		uint64_t hsize, bsize;

		s->count = i + 1;
		p->child_count = (uint32_t)get_varint(&r);
		p->flags = (uint32_t)get_varint(&r);
		p->header_offset = get_varint(&r);
		hsize = get_varint(&r);
		bsize = get_varint(&r);
		p->body_lines = get_varint(&r);
		if (p->header_offset > UINT32_MAX || hsize > UINT32_MAX ||
		    bsize > UINT32_MAX || p->flags > 7 ||
		    p->child_count > MSG_STRUCTURE_MAX_PARTS) {
			r.bad = true;
			break;
		}
		p->body_offset = p->header_offset + hsize;
		p->body_end = p->body_offset + bsize;
		p->type = get_string(&r);
		p->subtype = get_string(&r);
		get_params(&r, &p->params, &p->nparams);
		p->id = get_string(&r);
		p->description = get_string(&r);
		p->encoding = get_string(&r);
		p->md5 = get_string(&r);
		p->disposition = get_string(&r);
		get_params(&r, &p->dparams, &p->ndparams);
		p->language = get_string(&r);
		p->location = get_string(&r);
		if ((p->flags & MS_HAS_HEADERS) != 0)
			for (size_t h = 0; h < MSG_HDR_COUNT; h++)
				p->headers[h] = get_string(&r);
	}
	if (r.bad || r.p != r.end || !tree_check(s)) {
		msg_structure_free(&s);
		*error_r = xstrdup("inconsistent structure blob");
		return -1;
	}
	*s_r = s;
	return 0;
}
