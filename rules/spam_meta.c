/*
 * spam_meta: compiles a meta rule's expression with a precedence-climbing
 * parser into a postfix program (push rule, push number, operators) and
 * evaluates it over the hit counts of the other rules. The parser bounds
 * its recursion depth and the program length, so hostile rule files cannot
 * exhaust the stack; evaluation needs at most as many stack slots as the
 * program has pushes.
 */
#include "rules/spam_meta.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

#define META_MAX_DEPTH 64
#define META_MAX_OPS   4096

enum meta_op {
	META_RULE,
	META_NUM,
	META_NOT,
	META_NEG,
	META_MUL,
	META_DIV,
	META_ADD,
	META_SUB,
	META_LT,
	META_GT,
	META_LE,
	META_GE,
	META_EQ,
	META_NE,
	META_AND,
	META_OR,
};

struct meta_insn {
	enum meta_op op;
	int rule;
	double num;
};

struct spam_meta {
	struct meta_insn *code;
	size_t count, cap;
	int *deps;
	size_t dep_count;
	size_t stack_max;
};

struct meta_parser {
	const char *p;
	struct spam_meta *meta;
	spam_meta_resolve_fn *resolve;
	void *context;
	const char *error;
	int depth;
};

static void
meta_emit(struct meta_parser *mp, enum meta_op op, int rule, double num)
{
	struct spam_meta *m = mp->meta;

	if (mp->error != NULL)
		return;
	if (m->count >= META_MAX_OPS) {
		mp->error = "expression too long";
		return;
	}
	if (m->count == m->cap) {
		m->cap = m->cap == 0 ? 16 : m->cap * 2;
		m->code = xreallocarray(m->code, m->cap, sizeof(*m->code));
	}
	m->code[m->count].op = op;
	m->code[m->count].rule = rule;
	m->code[m->count].num = num;
	m->count++;
	if (op == META_RULE) {
		m->deps =
		    xreallocarray(m->deps, m->dep_count + 1, sizeof(*m->deps));
		m->deps[m->dep_count++] = rule;
	}
}

static void
meta_skip_space(struct meta_parser *mp)
{
	while (*mp->p != '\0' && isspace((unsigned char)*mp->p))
		mp->p++;
}

/* Binary operators by precedence level (lowest first). */
struct meta_binop {
	const char *text;
	enum meta_op op;
	int level;
};

static const struct meta_binop meta_binops[] = {
    {"||", META_OR, 1}, {"&&", META_AND, 2}, {"==", META_EQ, 3},
    {"!=", META_NE, 3}, {"<=", META_LE, 4},  {">=", META_GE, 4},
    {"<", META_LT, 4},	{">", META_GT, 4},   {"+", META_ADD, 5},
    {"-", META_SUB, 5}, {"*", META_MUL, 6},  {"/", META_DIV, 6},
};

static const struct meta_binop *
meta_peek_binop(struct meta_parser *mp)
{
	size_t i;

	meta_skip_space(mp);
	for (i = 0; i < sizeof(meta_binops) / sizeof(meta_binops[0]); i++) {
		size_t n = strlen(meta_binops[i].text);

		if (strncmp(mp->p, meta_binops[i].text, n) == 0)
			return &meta_binops[i];
	}
	return NULL;
}

static void meta_parse_expr(struct meta_parser *mp, int min_level);

static void
meta_parse_unary(struct meta_parser *mp)
{
	const char *start;

	if (mp->error != NULL)
		return;
	if (++mp->depth > META_MAX_DEPTH) {
		mp->error = "expression nested too deeply";
		return;
	}
	meta_skip_space(mp);
	start = mp->p;
	if (*mp->p == '!' && mp->p[1] != '=') {
		mp->p++;
		meta_parse_unary(mp);
		meta_emit(mp, META_NOT, -1, 0);
	} else if (*mp->p == '-') {
		mp->p++;
		meta_parse_unary(mp);
		meta_emit(mp, META_NEG, -1, 0);
	} else if (*mp->p == '+') {
		mp->p++;
		meta_parse_unary(mp);
	} else if (*mp->p == '(') {
		mp->p++;
		meta_parse_expr(mp, 1);
		meta_skip_space(mp);
		if (mp->error == NULL) {
			if (*mp->p != ')')
				mp->error = "missing )";
			else
				mp->p++;
		}
	} else if (isdigit((unsigned char)*mp->p) || *mp->p == '.') {
		char *end;
		double v = strtod(mp->p, &end);

		if (end == mp->p) {
			mp->error = "bad number";
		} else {
			mp->p = end;
			meta_emit(mp, META_NUM, -1, v);
		}
	} else if (isalpha((unsigned char)*mp->p) || *mp->p == '_') {
		int idx;

		while (isalnum((unsigned char)*mp->p) || *mp->p == '_')
			mp->p++;
		idx = mp->resolve(start, (size_t)(mp->p - start), mp->context);
		if (idx < 0)
			mp->error = "unknown rule";
		else
			meta_emit(mp, META_RULE, idx, 0);
	} else {
		mp->error = *mp->p == '\0' ? "unexpected end" : "syntax error";
	}
	mp->depth--;
}

static void
meta_parse_expr(struct meta_parser *mp, int min_level)
{
	const struct meta_binop *bop;

	if (++mp->depth > META_MAX_DEPTH) {
		mp->error = "expression nested too deeply";
		return;
	}
	meta_parse_unary(mp);
	while (mp->error == NULL && (bop = meta_peek_binop(mp)) != NULL &&
	       bop->level >= min_level) {
		mp->p += strlen(bop->text);
		meta_parse_expr(mp, bop->level + 1);
		meta_emit(mp, bop->op, -1, 0);
	}
	mp->depth--;
}

int
spam_meta_compile(const char *expr, spam_meta_resolve_fn *resolve,
		  void *context, struct spam_meta **meta_r,
		  const char **error_r)
{
	struct meta_parser mp;
	size_t i, depth = 0;

	memset(&mp, 0, sizeof(mp));
	mp.p = expr;
	mp.resolve = resolve;
	mp.context = context;
	mp.meta = xcalloc(1, sizeof(*mp.meta));
	meta_parse_expr(&mp, 1);
	meta_skip_space(&mp);
	if (mp.error == NULL && *mp.p != '\0')
		mp.error = "trailing text";
	if (mp.error == NULL && mp.meta->count == 0)
		mp.error = "empty expression";
	if (mp.error != NULL) {
		*error_r = mp.error;
		spam_meta_free(&mp.meta);
		return -1;
	}
	for (i = 0; i < mp.meta->count; i++) {
		switch (mp.meta->code[i].op) {
		case META_RULE:
		case META_NUM:
			depth++;
			if (depth > mp.meta->stack_max)
				mp.meta->stack_max = depth;
			break;
		case META_NOT:
		case META_NEG:
			break;
		default:
			depth--;
			break;
		}
	}
	*meta_r = mp.meta;
	return 0;
}

void
spam_meta_free(struct spam_meta **meta)
{
	if (*meta == NULL)
		return;
	free((*meta)->code);
	free((*meta)->deps);
	x_free(meta);
}

double
spam_meta_eval(const struct spam_meta *meta, const double *values)
{
	double small[32], *stack = small, a, b, r;
	size_t sp = 0, i;

	if (meta->stack_max > 32)
		stack = xcalloc(meta->stack_max, sizeof(*stack));
	for (i = 0; i < meta->count; i++) {
		const struct meta_insn *in = &meta->code[i];

		switch (in->op) {
		case META_RULE:
			stack[sp++] = values[in->rule];
			continue;
		case META_NUM:
			stack[sp++] = in->num;
			continue;
		case META_NOT:
			stack[sp - 1] = stack[sp - 1] == 0 ? 1 : 0;
			continue;
		case META_NEG:
			stack[sp - 1] = -stack[sp - 1];
			continue;
		default:
			break;
		}
		b = stack[--sp];
		a = stack[sp - 1];
		switch (in->op) {
		case META_MUL:
			r = a * b;
			break;
		case META_DIV:
			r = b == 0 ? 0 : a / b;
			break;
		case META_ADD:
			r = a + b;
			break;
		case META_SUB:
			r = a - b;
			break;
		case META_LT:
			r = a < b;
			break;
		case META_GT:
			r = a > b;
			break;
		case META_LE:
			r = a <= b;
			break;
		case META_GE:
			r = a >= b;
			break;
		case META_EQ:
			r = a == b;
			break;
		case META_NE:
			r = a != b;
			break;
		case META_AND:
			r = (a != 0 && b != 0) ? 1 : 0;
			break;
		case META_OR:
			r = (a != 0 || b != 0) ? 1 : 0;
			break;
		default:
			r = 0;
			break;
		}
		stack[sp - 1] = r;
	}
	r = sp > 0 ? stack[sp - 1] : 0;
	if (stack != small)
		free(stack);
	return r;
}

size_t
spam_meta_deps(const struct spam_meta *meta, const int **deps_r)
{
	*deps_r = meta->deps;
	return meta->dep_count;
}
