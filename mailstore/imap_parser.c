/*
 * imap_parser: splits one assembled IMAP command into its tag, name and a
 * tree of arguments (see imap_parser.h for the grammar accepted). A
 * recursive descent over the bytes, with the list depth and the total
 * argument count bounded so that hostile input costs at most linear time
 * and memory proportional to its size. Called by imap_session for every
 * command, and by the libFuzzer target tests/fuzz/fuzz_imap_parser.c.
 */
#include "mailstore/imap_parser.h"

#include <string.h>
#include <strings.h>

#include "lib/pool.h"
#include "lib/xalloc.h"

struct parser {
	struct pool *pool;
	const char *p, *end;
	size_t args;
	const char *error;
};

static bool
atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return c != '(' && c != ')' && c != '{' && c != '"';
}

static int
parse_atom(struct parser *ps, struct imap_arg *arg)
{
	const char *start = ps->p;

	while (ps->p < ps->end) {
		unsigned char c = (unsigned char)*ps->p;

		if (c == '[') {
			/* A section: anything printable up to its ']'. */
			ps->p++;
			while (ps->p < ps->end && *ps->p != ']') {
				c = (unsigned char)*ps->p;
				if (c < 0x20 || c >= 0x7f) {
					ps->error = c >= 0x80
							? "8-bit data in atom"
							: "control character "
							  "in atom";
					return -1;
				}
				ps->p++;
			}
			if (ps->p == ps->end) {
				ps->error = "missing ']'";
				return -1;
			}
			ps->p++;
			continue;
		}
		if (!atom_char(c)) {
			if (c >= 0x80) {
				ps->error = "8-bit data in atom";
				return -1;
			}
			if (c < 0x20 || c == 0x7f) {
				ps->error = "control character in atom";
				return -1;
			}
			break;
		}
		ps->p++;
	}
	if (ps->p == start) {
		ps->error = "expected an atom";
		return -1;
	}
	arg->len = (size_t)(ps->p - start);
	arg->str = pool_strndup(ps->pool, start, arg->len);
	arg->type = arg->len == 3 && strncasecmp(start, "NIL", 3) == 0
			? IMAP_ARG_NIL
			: IMAP_ARG_ATOM;
	return 0;
}

static int
parse_quoted(struct parser *ps, struct imap_arg *arg)
{
	const char *q;
	char *out;
	size_t n = 0;

	ps->p++; /* the opening quote */
	/* First pass: find the end and the unescaped length. */
	for (q = ps->p; q < ps->end && *q != '"'; q++) {
		if (*q == '\r' || *q == '\n' || *q == '\0') {
			ps->error = "invalid character in quoted string";
			return -1;
		}
		if (*q == '\\') {
			q++;
			if (q == ps->end || (*q != '\\' && *q != '"')) {
				ps->error = "invalid escape in quoted string";
				return -1;
			}
		}
		n++;
	}
	if (q == ps->end) {
		ps->error = "unterminated quoted string";
		return -1;
	}
	out = pool_alloc(ps->pool, n + 1);
	n = 0;
	for (q = ps->p; *q != '"'; q++) {
		if (*q == '\\')
			q++;
		out[n++] = *q;
	}
	out[n] = '\0';
	ps->p = q + 1;
	arg->type = IMAP_ARG_QUOTED;
	arg->str = out;
	arg->len = n;
	return 0;
}

static int
parse_literal(struct parser *ps, struct imap_arg *arg)
{
	uint64_t size = 0;
	size_t digits = 0;

	if (*ps->p == '~') {
		arg->literal8 = true;
		ps->p++;
		if (ps->p == ps->end || *ps->p != '{') {
			ps->error = "expected '{' after '~'";
			return -1;
		}
	}
	ps->p++; /* '{' */
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
		if (++digits > 10) {
			ps->error = "literal size too large";
			return -1;
		}
		size = size * 10 + (uint64_t)(*ps->p - '0');
		ps->p++;
	}
	if (digits == 0) {
		ps->error = "invalid literal size";
		return -1;
	}
	if (ps->p < ps->end && *ps->p == '+')
		ps->p++;
	if (ps->p + 3 > ps->end || ps->p[0] != '}' || ps->p[1] != '\r' ||
	    ps->p[2] != '\n') {
		ps->error = "literal must end the line";
		return -1;
	}
	ps->p += 3;
	if ((uint64_t)(ps->end - ps->p) < size) {
		ps->error = "literal shorter than announced";
		return -1;
	}
	arg->type = IMAP_ARG_LITERAL;
	arg->len = (size_t)size;
	arg->str = pool_strndup(ps->pool, ps->p, arg->len);
	if (!arg->literal8 && memchr(ps->p, '\0', arg->len) != NULL) {
		ps->error = "NUL in literal (use literal8)";
		return -1;
	}
	ps->p += arg->len;
	return 0;
}

static int parse_args(struct parser *ps, unsigned int depth, bool in_list,
		      struct imap_arg **args_r, size_t *count_r);

static int
parse_one(struct parser *ps, unsigned int depth, struct imap_arg *arg)
{
	memset(arg, 0, sizeof(*arg));
	if (++ps->args > IMAP_PARSER_MAX_ARGS) {
		ps->error = "too many arguments";
		return -1;
	}
	switch (*ps->p) {
	case '"':
		return parse_quoted(ps, arg);
	case '{':
	case '~':
		return parse_literal(ps, arg);
	case '(':
		if (depth >= IMAP_PARSER_MAX_DEPTH) {
			ps->error = "lists nested too deeply";
			return -1;
		}
		ps->p++;
		arg->type = IMAP_ARG_LIST;
		if (parse_args(ps, depth + 1, true, &arg->list, &arg->count) <
		    0)
			return -1;
		return 0;
	case ')':
		ps->error = "unexpected ')'";
		return -1;
	default:
		return parse_atom(ps, arg);
	}
}

static int
parse_args(struct parser *ps, unsigned int depth, bool in_list,
	   struct imap_arg **args_r, size_t *count_r)
{
	struct imap_arg *tmp = NULL;
	size_t count = 0, alloc = 0;
	bool first = true;

	for (;;) {
		if (ps->p == ps->end) {
			if (in_list) {
				ps->error = "missing ')'";
				goto fail;
			}
			break;
		}
		if (in_list && *ps->p == ')') {
			ps->p++;
			break;
		}
		if (!first || !in_list) {
			/* Top level: args follow the name after one space;
			 * lists: separated by one space. */
			if (!first || !in_list) {
				if (*ps->p != ' ') {
					ps->error = "expected a space";
					goto fail;
				}
				ps->p++;
				if (ps->p == ps->end) {
					ps->error = "trailing space";
					goto fail;
				}
			}
		}
		first = false;
		if (count == alloc) {
			alloc = alloc == 0 ? 8 : alloc * 2;
			tmp = xreallocarray(tmp, alloc, sizeof(*tmp));
		}
		if (parse_one(ps, depth, &tmp[count]) < 0)
			goto fail;
		count++;
		if (ps->p < ps->end && *ps->p != ' ' && *ps->p != ')') {
			ps->error = "expected a space or ')'";
			goto fail;
		}
		if (!in_list && ps->p < ps->end && *ps->p == ')') {
			ps->error = "unexpected ')'";
			goto fail;
		}
	}
	*count_r = count;
	*args_r = NULL;
	if (count > 0) {
		*args_r = pool_alloc(ps->pool, count * sizeof(*tmp));
		memcpy(*args_r, tmp, count * sizeof(*tmp));
	}
	free(tmp);
	return 0;
fail:
	free(tmp);
	return -1;
}

static bool
tag_char(unsigned char c)
{
	return atom_char(c) && c != '+' && c != '%' && c != '*' && c != '\\';
}

int
imap_parser_parse(struct pool *pool, const char *data, size_t len,
		  struct imap_command *cmd_r, const char **tag_r,
		  const char **error_r)
{
	struct parser ps = {pool, data, data + len, 0, NULL};
	const char *start;
	char *name;
	size_t n;

	memset(cmd_r, 0, sizeof(*cmd_r));
	*tag_r = NULL;
	start = ps.p;
	while (ps.p < ps.end && tag_char((unsigned char)*ps.p))
		ps.p++;
	n = (size_t)(ps.p - start);
	if (n == 0 || n > IMAP_PARSER_TAG_MAX ||
	    (ps.p < ps.end && *ps.p != ' ')) {
		*error_r = "invalid tag";
		return -1;
	}
	cmd_r->tag = pool_strndup(pool, start, n);
	*tag_r = cmd_r->tag;
	if (ps.p == ps.end || ++ps.p == ps.end) {
		*error_r = "missing command";
		return -1;
	}
	start = ps.p;
	while (ps.p < ps.end &&
	       ((*ps.p >= 'A' && *ps.p <= 'Z') ||
		(*ps.p >= 'a' && *ps.p <= 'z') ||
		(ps.p > start && *ps.p >= '0' && *ps.p <= '9')))
		ps.p++;
	n = (size_t)(ps.p - start);
	if (n == 0 || n > 32 || (ps.p < ps.end && *ps.p != ' ')) {
		*error_r = "invalid command name";
		return -1;
	}
	name = pool_strndup(pool, start, n);
	for (char *c = name; *c != '\0'; c++)
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 'a' + 'A');
	cmd_r->name = name;
	if (ps.p == ps.end)
		return 0;
	if (parse_args(&ps, 0, false, &cmd_r->args, &cmd_r->count) < 0) {
		*error_r = ps.error;
		return -1;
	}
	return 0;
}

int
imap_parser_line_literal(const char *line, size_t len, uint64_t max,
			 uint64_t *size_r, bool *nonsync_r)
{
	const char *p = line + len;
	uint64_t size = 0, scale = 1;
	size_t digits = 0;

	*nonsync_r = false;
	if (len < 3 || line[len - 1] != '}')
		return 0;
	p--; /* at '}' */
	if (p[-1] == '+') {
		*nonsync_r = true;
		p--;
	}
	while (p > line && p[-1] >= '0' && p[-1] <= '9') {
		p--;
		if (++digits > 10)
			return -1;
		size += (uint64_t)(*p - '0') * scale;
		scale *= 10;
	}
	if (p == line || p[-1] != '{')
		return 0;
	if (digits == 0 || size > max)
		return -1;
	*size_r = size;
	return 1;
}

bool
imap_arg_is_string(const struct imap_arg *arg)
{
	return arg->type == IMAP_ARG_ATOM || arg->type == IMAP_ARG_QUOTED ||
	       arg->type == IMAP_ARG_LITERAL || arg->type == IMAP_ARG_NIL;
}

bool
imap_arg_atom_is(const struct imap_arg *arg, const char *word)
{
	return arg->type == IMAP_ARG_ATOM && strcasecmp(arg->str, word) == 0;
}
