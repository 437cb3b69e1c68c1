/*
 * imap_search: SEARCH and UID SEARCH (RFC 9051 6.4.4) with the full key
 * set: flags and keywords, sequence and UID sets, sizes, internal, sent
 * and saved dates (SAVEDATE), header keys (FROM, TO, CC, BCC, SUBJECT,
 * HEADER), BODY and TEXT, MODSEQ (CONDSTORE), NOT / OR / parentheses;
 * CHARSET UTF-8 and US-ASCII; ESEARCH return options MIN, MAX, COUNT, ALL
 * and SAVE (SEARCHRES: the result is kept as "$" for later commands).
 * IMAP4rev2 sessions always get ESEARCH responses, rev1 ones "* SEARCH".
 *
 * The program is parsed into a tree once (so bad syntax is answered BAD
 * before any message is read), then evaluated per message; a message file
 * is read only when a header or text key needs it. String matching is
 * case-insensitive for ASCII. With the structure scanner, BODY and TEXT
 * look into text parts after their transfer decoding (base64,
 * quoted-printable); without it, into the raw bytes.
 */
#include "mailstore/imap_private.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"

#include "mailstore/msg_search.h"
#include "mailstore/msg_sort.h"
#include "mailstore/msg_structure.h"
#include "mailstore/store.h"

#define SEARCH_MAX_DEPTH 32

enum skey_op {
	SK_AND,
	SK_OR,
	SK_NOT,
	SK_ALL,
	SK_NONE,
	SK_FLAG,   /* str: flag that must be set */
	SK_UNFLAG, /* str: flag that must not be set */
	SK_SEQ,
	SK_UID,
	SK_LARGER,
	SK_SMALLER,
	SK_BEFORE,
	SK_ON,
	SK_SINCE,
	SK_SENTBEFORE,
	SK_SENTON,
	SK_SENTSINCE,
	SK_SAVEDBEFORE,
	SK_SAVEDON,
	SK_SAVEDSINCE,
	SK_HEADER, /* hdr: field name, str: substring */
	SK_BODY,
	SK_TEXT,
	SK_MODSEQ,
};

struct skey {
	enum skey_op op;
	struct skey *kids;
	size_t nkids;
	char *str, *hdr;
	time_t t;
	uint64_t n;
	struct imap_seqset set;
	bool saved; /* "$" */
};

static void
skey_clear(struct skey *k)
{
	for (size_t i = 0; i < k->nkids; i++)
		skey_clear(&k->kids[i]);
	free(k->kids);
	free(k->str);
	free(k->hdr);
	imap_seqset_free(&k->set);
}

struct sparser {
	const struct imap_arg *args;
	size_t count, pos;
	const char *error;
	bool uses_modseq;
};

static int parse_key(struct sparser *p, struct skey *k, unsigned int depth);

static struct skey *
kid_add(struct skey *k)
{
	struct skey *kid;

	k->kids = xreallocarray(k->kids, k->nkids + 1, sizeof(*k->kids));
	kid = &k->kids[k->nkids++];
	memset(kid, 0, sizeof(*kid));
	return kid;
}

static const struct imap_arg *
next_arg(struct sparser *p)
{
	if (p->pos >= p->count) {
		p->error = "missing search argument";
		return NULL;
	}
	return &p->args[p->pos++];
}

static int
string_arg(struct sparser *p, char **out)
{
	const struct imap_arg *a = next_arg(p);

	if (a == NULL)
		return -1;
	if (!imap_arg_is_string(a) || strlen(a->str) != a->len) {
		p->error = "string expected";
		return -1;
	}
	*out = xstrdup(a->type == IMAP_ARG_NIL ? "NIL" : a->str);
	return 0;
}

/* A string argument in msg_search's comparison form. */
static int
folded_arg(struct sparser *p, char **out)
{
	struct buf f;
	char *raw;

	if (string_arg(p, &raw) < 0)
		return -1;
	buf_init(&f);
	msg_search_fold(raw, strlen(raw), &f);
	free(raw);
	*out = buf_detach(&f);
	return 0;
}

static int
date_arg(struct sparser *p, time_t *t)
{
	const struct imap_arg *a = next_arg(p);

	if (a == NULL)
		return -1;
	if (!imap_arg_is_string(a) || imap_parse_date(a->str, t) < 0) {
		p->error = "invalid date";
		return -1;
	}
	return 0;
}

static int
number_arg(struct sparser *p, uint64_t *n)
{
	const struct imap_arg *a = next_arg(p);
	char *end;

	if (a == NULL)
		return -1;
	errno = 0;
	if (a->type != IMAP_ARG_ATOM || a->str[0] < '0' || a->str[0] > '9' ||
	    (*n = strtoull(a->str, &end, 10), *end != '\0') || errno != 0) {
		p->error = "number expected";
		return -1;
	}
	return 0;
}

static const struct {
	const char *name;
	enum skey_op op;
	const char *flag;
} simple_keys[] = {
    {"ALL", SK_ALL, NULL},
    {"OLD", SK_ALL, NULL},
    {"SAVEDATESUPPORTED", SK_ALL, NULL},
    {"RECENT", SK_NONE, NULL},
    {"ANSWERED", SK_FLAG, "\\Answered"},
    {"DELETED", SK_FLAG, "\\Deleted"},
    {"DRAFT", SK_FLAG, "\\Draft"},
    {"FLAGGED", SK_FLAG, "\\Flagged"},
    {"SEEN", SK_FLAG, "\\Seen"},
    {"UNANSWERED", SK_UNFLAG, "\\Answered"},
    {"UNDELETED", SK_UNFLAG, "\\Deleted"},
    {"UNDRAFT", SK_UNFLAG, "\\Draft"},
    {"UNFLAGGED", SK_UNFLAG, "\\Flagged"},
    {"UNSEEN", SK_UNFLAG, "\\Seen"},
    {"NEW", SK_UNFLAG, "\\Seen"},
};

static const struct {
	const char *name;
	enum skey_op op;
} date_keys[] = {
    {"BEFORE", SK_BEFORE},
    {"ON", SK_ON},
    {"SINCE", SK_SINCE},
    {"SENTBEFORE", SK_SENTBEFORE},
    {"SENTON", SK_SENTON},
    {"SENTSINCE", SK_SENTSINCE},
    {"SAVEDBEFORE", SK_SAVEDBEFORE},
    {"SAVEDON", SK_SAVEDON},
    {"SAVEDSINCE", SK_SAVEDSINCE},
};

static const char *const header_keys[] = {"FROM", "TO", "CC", "BCC", "SUBJECT"};

static int
parse_key(struct sparser *p, struct skey *k, unsigned int depth)
{
	const struct imap_arg *a = next_arg(p);
	const char *name;

	if (a == NULL)
		return -1;
	if (depth > SEARCH_MAX_DEPTH) {
		p->error = "search program nested too deeply";
		return -1;
	}
	if (a->type == IMAP_ARG_LIST) {
		struct sparser sub = {a->list, a->count, 0, NULL, false};

		k->op = SK_AND;
		if (a->count == 0) {
			p->error = "empty search list";
			return -1;
		}
		while (sub.pos < sub.count)
			if (parse_key(&sub, kid_add(k), depth + 1) < 0) {
				p->error = sub.error;
				return -1;
			}
		p->uses_modseq |= sub.uses_modseq;
		return 0;
	}
	if (a->type != IMAP_ARG_ATOM) {
		p->error = "search key expected";
		return -1;
	}
	name = a->str;
	for (size_t i = 0; i < sizeof(simple_keys) / sizeof(simple_keys[0]);
	     i++)
		if (strcasecmp(name, simple_keys[i].name) == 0) {
			k->op = simple_keys[i].op;
			if (simple_keys[i].flag != NULL)
				k->str = xstrdup(simple_keys[i].flag);
			return 0;
		}
	for (size_t i = 0; i < sizeof(date_keys) / sizeof(date_keys[0]); i++)
		if (strcasecmp(name, date_keys[i].name) == 0) {
			k->op = date_keys[i].op;
			return date_arg(p, &k->t);
		}
	for (size_t i = 0; i < sizeof(header_keys) / sizeof(header_keys[0]);
	     i++)
		if (strcasecmp(name, header_keys[i]) == 0) {
			k->op = SK_HEADER;
			k->hdr = xstrdup(header_keys[i]);
			return folded_arg(p, &k->str);
		}
	if (strcasecmp(name, "KEYWORD") == 0 ||
	    strcasecmp(name, "UNKEYWORD") == 0) {
		k->op = toupper((unsigned char)name[0]) == 'K' ? SK_FLAG
							       : SK_UNFLAG;
		return string_arg(p, &k->str);
	}
	if (strcasecmp(name, "HEADER") == 0) {
		k->op = SK_HEADER;
		if (string_arg(p, &k->hdr) < 0)
			return -1;
		return folded_arg(p, &k->str);
	}
	if (strcasecmp(name, "BODY") == 0 || strcasecmp(name, "TEXT") == 0) {
		k->op =
		    toupper((unsigned char)name[0]) == 'B' ? SK_BODY : SK_TEXT;
		return folded_arg(p, &k->str);
	}
	if (strcasecmp(name, "LARGER") == 0 ||
	    strcasecmp(name, "SMALLER") == 0) {
		k->op = toupper((unsigned char)name[0]) == 'L' ? SK_LARGER
							       : SK_SMALLER;
		return number_arg(p, &k->n);
	}
	if (strcasecmp(name, "NOT") == 0) {
		k->op = SK_NOT;
		return parse_key(p, kid_add(k), depth + 1);
	}
	if (strcasecmp(name, "OR") == 0) {
		k->op = SK_OR;
		if (parse_key(p, kid_add(k), depth + 1) < 0)
			return -1;
		return parse_key(p, kid_add(k), depth + 1);
	}
	if (strcasecmp(name, "UID") == 0) {
		const struct imap_arg *s = next_arg(p);

		k->op = SK_UID;
		if (s == NULL || s->type != IMAP_ARG_ATOM ||
		    imap_seqset_parse(s->str, &k->set, &p->error) < 0) {
			p->error = "invalid UID set";
			return -1;
		}
		return 0;
	}
	if (strcasecmp(name, "MODSEQ") == 0) {
		/* MODSEQ ["entry" type] n */
		k->op = SK_MODSEQ;
		p->uses_modseq = true;
		if (p->pos < p->count &&
		    p->args[p->pos].type != IMAP_ARG_ATOM) {
			p->pos += 2;
		}
		return number_arg(p, &k->n);
	}
	if ((name[0] >= '0' && name[0] <= '9') || name[0] == '*' ||
	    name[0] == '$') {
		k->op = SK_SEQ;
		if (imap_seqset_parse(name, &k->set, &p->error) < 0)
			return -1;
		return 0;
	}
	p->error = "unknown search key";
	return -1;
}

/* ------------------------------------------------------------------ */
/* evaluation */

struct smsg {
	struct imap_session *s;
	size_t index;
	char *data;
	size_t len, hlen;
	bool loaded, failed;
	struct msg_structure *st;
};

static bool
smsg_load(struct smsg *m)
{
	const struct imap_msg *msg = &m->s->view->msgs[m->index];
	struct stat st;
	int fd;

	if (m->loaded)
		return !m->failed;
	m->loaded = true;
	fd = open(msg->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		m->failed = true;
		return false;
	}
	m->data = xmalloc((size_t)st.st_size + 1);
	while (m->len < (size_t)st.st_size) {
		ssize_t n =
		    read(fd, m->data + m->len, (size_t)st.st_size - m->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		m->len += (size_t)n;
	}
	close(fd);
	m->data[m->len] = '\0';
	m->hlen = m->len;
	for (size_t i = 0; i < m->len; i++) {
		if (m->data[i] != '\n')
			continue;
		if (i + 1 < m->len && m->data[i + 1] == '\n') {
			m->hlen = i + 2;
			break;
		}
		if (i + 2 < m->len && m->data[i + 1] == '\r' &&
		    m->data[i + 2] == '\n') {
			m->hlen = i + 3;
			break;
		}
	}
	return true;
}

/* Decoded (RFC 2047, charsets) values of the field, folded compare. */
static bool
header_match(struct smsg *m, const char *name, const char *needle)
{
	struct buf values;
	bool match;

	if (!smsg_load(m))
		return false;
	buf_init(&values);
	match = msg_search_header_field(m->data, m->hlen, name, &values) > 0 &&
		msg_search_contains(buf_cstr(&values), values.len, needle);
	buf_free(&values);
	return match;
}

static struct msg_structure *
smsg_structure(struct smsg *m)
{
	char *error = NULL;

	if (m->st == NULL &&
	    store_message_structure(
		m->s->server->store, m->s->user, m->s->view->name,
		m->s->view->msgs[m->index].uid, &m->st, &error) <= 0) {
		free(error);
		m->st = NULL;
	}
	return m->st;
}

/* Text parts after transfer and charset decoding. */
static bool
body_match(struct smsg *m, const char *needle)
{
	struct msg_structure *st;
	struct buf text;
	bool match;

	if (!smsg_load(m))
		return false;
	st = smsg_structure(m);
	buf_init(&text);
	if (st == NULL ||
	    msg_search_body_text(st, m->data, m->len, &text) < 0) {
		buf_reset(&text);
		buf_append(&text, m->data + m->hlen, m->len - m->hlen);
	}
	match = msg_search_contains(buf_cstr(&text), text.len, needle);
	buf_free(&text);
	return match;
}

static bool
text_match(struct smsg *m, const char *needle)
{
	struct buf all;
	bool match;

	if (!smsg_load(m))
		return false;
	buf_init(&all);
	msg_search_header_all(m->data, m->hlen, &all);
	match = msg_search_contains(buf_cstr(&all), all.len, needle);
	buf_free(&all);
	return match || body_match(m, needle);
}

static time_t
day_of(time_t t)
{
	return t - (t % 86400 + 86400) % 86400;
}

/* The day of the Date: header (its own time zone ignored, RFC 9051),
 * or -1. */
static time_t
sent_day(struct smsg *m)
{
	static const char *const months[] = {"jan", "feb", "mar", "apr",
					     "may", "jun", "jul", "aug",
					     "sep", "oct", "nov", "dec"};
	size_t i = 0;

	if (!smsg_load(m))
		return -1;
	while (i < m->hlen) {
		const char *line = m->data + i, *nl, *p;
		struct tm tm;
		int day, year;
		char mon[4];

		nl = memchr(line, '\n', m->hlen - i);
		i = nl == NULL ? m->hlen : (size_t)(nl - m->data) + 1;
		if (strncasecmp(line, "Date:", 5) != 0)
			continue;
		p = line + 5;
		while (*p == ' ' || *p == '\t')
			p++;
		if (isalpha((unsigned char)*p)) {
			p = strchr(p, ',');
			if (p == NULL || p > m->data + i)
				return -1;
			p++;
		}
		if (sscanf(p, "%d %3s %d", &day, mon, &year) != 3)
			return -1;
		memset(&tm, 0, sizeof(tm));
		tm.tm_mon = -1;
		for (int k = 0; k < 12; k++)
			if (strcasecmp(mon, months[k]) == 0)
				tm.tm_mon = k;
		if (tm.tm_mon < 0 || day < 1 || day > 31)
			return -1;
		if (year < 50)
			year += 2000;
		else if (year < 1000)
			year += 1900;
		tm.tm_mday = day;
		tm.tm_year = year - 1900;
		return timegm(&tm);
	}
	return -1;
}

static bool
flags_have(const char *flags, const char *flag)
{
	size_t n = strlen(flag);
	const char *p = flags;

	while (*p != '\0') {
		size_t len;

		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == n && strncasecmp(p, flag, n) == 0)
			return true;
		p += len;
	}
	return false;
}

static bool
date_test(enum skey_op op, time_t have, time_t want)
{
	switch (op) {
	case SK_BEFORE:
	case SK_SENTBEFORE:
	case SK_SAVEDBEFORE:
		return have < want;
	case SK_ON:
	case SK_SENTON:
	case SK_SAVEDON:
		return have == want;
	default:
		return have >= want;
	}
}

static bool
eval(const struct skey *k, struct smsg *m)
{
	struct imap_session *s = m->s;
	const struct imap_msg *msg = &s->view->msgs[m->index];
	uint32_t maxuid =
	    s->view->count > 0 ? s->view->msgs[s->view->count - 1].uid : 0;

	switch (k->op) {
	case SK_AND:
		for (size_t i = 0; i < k->nkids; i++)
			if (!eval(&k->kids[i], m))
				return false;
		return true;
	case SK_OR:
		return eval(&k->kids[0], m) || eval(&k->kids[1], m);
	case SK_NOT:
		return !eval(&k->kids[0], m);
	case SK_ALL:
		return true;
	case SK_NONE:
		return false;
	case SK_FLAG:
		return flags_have(msg->flags, k->str);
	case SK_UNFLAG:
		return !flags_have(msg->flags, k->str);
	case SK_SEQ:
		if (k->set.saved) {
			for (size_t i = 0; i < s->nsearchres; i++)
				if (s->searchres[i] == msg->uid)
					return true;
			return false;
		}
		return imap_seqset_contains(&k->set, (uint32_t)m->index + 1,
					    (uint32_t)s->view->count);
	case SK_UID:
		if (k->set.saved) {
			for (size_t i = 0; i < s->nsearchres; i++)
				if (s->searchres[i] == msg->uid)
					return true;
			return false;
		}
		return imap_seqset_contains(&k->set, msg->uid, maxuid);
	case SK_LARGER:
		return msg->size > k->n;
	case SK_SMALLER:
		return msg->size < k->n;
	case SK_BEFORE:
	case SK_ON:
	case SK_SINCE:
		return date_test(k->op, day_of(msg->internal_date), k->t);
	case SK_SAVEDBEFORE:
	case SK_SAVEDON:
	case SK_SAVEDSINCE:
		return date_test(k->op, day_of(msg->saved_date), k->t);
	case SK_SENTBEFORE:
	case SK_SENTON:
	case SK_SENTSINCE: {
		time_t d = sent_day(m);
		return d >= 0 && date_test(k->op, d, k->t);
	}
	case SK_HEADER:
		return header_match(m, k->hdr, k->str);
	case SK_BODY:
		return body_match(m, k->str);
	case SK_TEXT:
		return text_match(m, k->str);
	case SK_MODSEQ:
		return msg->modseq >= k->n;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* the command */

/* Parses the search program args[pos..count) (after CHARSET) and returns
 * the view indexes that match, ascending. 0, or -1 with *error_r static
 * for a BAD reply. */
static int
search_run(struct imap_session *s, const struct imap_arg *args, size_t count,
	   size_t pos, size_t **idx_r, size_t *n_r, bool *uses_modseq_r,
	   uint64_t *maxmodseq_r, const char **error_r)
{
	struct sparser p = {args, count, pos, NULL, false};
	struct skey root;
	size_t *idx, n = 0;
	uint64_t maxmodseq = 0;

	memset(&root, 0, sizeof(root));
	root.op = SK_AND;
	if (p.pos >= p.count) {
		*error_r = "missing search keys";
		return -1;
	}
	while (p.pos < p.count)
		if (parse_key(&p, kid_add(&root), 0) < 0) {
			skey_clear(&root);
			*error_r = p.error;
			return -1;
		}
	idx = xcalloc(s->view->count + 1, sizeof(*idx));
	for (size_t i = 0; i < s->view->count; i++) {
		struct smsg m;

		if (s->view->msgs[i].gone)
			continue;
		memset(&m, 0, sizeof(m));
		m.s = s;
		m.index = i;
		if (eval(&root, &m)) {
			idx[n++] = i;
			if (s->view->msgs[i].modseq > maxmodseq)
				maxmodseq = s->view->msgs[i].modseq;
		}
		free(m.data);
		msg_structure_free(&m.st);
	}
	skey_clear(&root);
	*idx_r = idx;
	*n_r = n;
	*uses_modseq_r = p.uses_modseq;
	*maxmodseq_r = maxmodseq;
	return 0;
}

/* CHARSET at args[*pos]: true when absent or acceptable (then skipped). */
static bool
charset_ok(const struct imap_arg *args, size_t count, size_t *pos,
	   bool required)
{
	const struct imap_arg *cs;

	if (!required &&
	    (*pos + 1 >= count || !imap_arg_atom_is(&args[*pos], "CHARSET")))
		return true;
	if (!required)
		(*pos)++;
	if (*pos >= count)
		return false;
	cs = &args[*pos];
	if (!imap_arg_is_string(cs) || (strcasecmp(cs->str, "UTF-8") != 0 &&
					strcasecmp(cs->str, "US-ASCII") != 0))
		return false;
	(*pos)++;
	return true;
}

enum {
	RET_MIN = 1,
	RET_MAX = 2,
	RET_ALL = 4,
	RET_COUNT = 8,
	RET_SAVE = 16,
};

void
imap_cmd_search(struct imap_session *s, const struct imap_command *cmd,
		size_t first, bool uid)
{
	const struct imap_arg *args = cmd->args + first;
	size_t count = cmd->count - first, pos = 0, *idx = NULL, n = 0;
	unsigned int ret = 0;
	bool esearch = s->rev2, uses_modseq = false;
	uint32_t *hits;
	uint64_t maxmodseq = 0;
	const char *error;
	struct buf out;

	if (pos + 1 < count && imap_arg_atom_is(&args[pos], "RETURN") &&
	    args[pos + 1].type == IMAP_ARG_LIST) {
		const struct imap_arg *r = &args[pos + 1];

		esearch = true;
		for (size_t i = 0; i < r->count; i++) {
			if (imap_arg_atom_is(&r->list[i], "MIN"))
				ret |= RET_MIN;
			else if (imap_arg_atom_is(&r->list[i], "MAX"))
				ret |= RET_MAX;
			else if (imap_arg_atom_is(&r->list[i], "ALL"))
				ret |= RET_ALL;
			else if (imap_arg_atom_is(&r->list[i], "COUNT"))
				ret |= RET_COUNT;
			else if (imap_arg_atom_is(&r->list[i], "SAVE"))
				ret |= RET_SAVE;
			else {
				imap_tagged(s, cmd->tag, "BAD",
					    "Unknown RETURN option");
				return;
			}
		}
		if (ret == 0)
			ret = RET_ALL;
		pos += 2;
	}
	if (!charset_ok(args, count, &pos, false)) {
		imap_tagged(
		    s, cmd->tag, "NO",
		    "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return;
	}
	if (search_run(s, args, count, pos, &idx, &n, &uses_modseq, &maxmodseq,
		       &error) < 0) {
		imap_tagged(s, cmd->tag, "BAD", "%s", error);
		return;
	}
	if (esearch && ret == 0)
		ret = RET_ALL;
	hits = xcalloc(n + 1, sizeof(*hits));
	for (size_t i = 0; i < n; i++)
		hits[i] =
		    uid ? s->view->msgs[idx[i]].uid : (uint32_t)idx[i] + 1;
	if (ret & RET_SAVE) {
		free(s->searchres);
		s->searchres = xcalloc(n + 1, sizeof(*s->searchres));
		for (size_t i = 0; i < n; i++)
			s->searchres[i] = s->view->msgs[idx[i]].uid;
		s->nsearchres = n;
		ret &= ~(unsigned int)RET_SAVE;
	}
	free(idx);
	buf_init(&out);
	if (esearch && ret != 0) {
		buf_printf(&out, "* ESEARCH (TAG \"%s\")%s", cmd->tag,
			   uid ? " UID" : "");
		if ((ret & RET_MIN) && n > 0)
			buf_printf(&out, " MIN %u", hits[0]);
		if ((ret & RET_MAX) && n > 0)
			buf_printf(&out, " MAX %u", hits[n - 1]);
		if ((ret & RET_ALL) && n > 0) {
			buf_append_str(&out, " ALL ");
			imap_seqset_format(hits, n, &out);
		}
		if (ret & RET_COUNT)
			buf_printf(&out, " COUNT %zu", n);
		if (uses_modseq && n > 0)
			buf_printf(&out, " MODSEQ %llu",
				   (unsigned long long)maxmodseq);
		imap_printf(s, "%s", buf_cstr(&out));
	} else if (!esearch) {
		buf_append_str(&out, "* SEARCH");
		for (size_t i = 0; i < n; i++)
			buf_printf(&out, " %u", hits[i]);
		if (uses_modseq && n > 0)
			buf_printf(&out, " (MODSEQ %llu)",
				   (unsigned long long)maxmodseq);
		imap_printf(s, "%s", buf_cstr(&out));
	}
	buf_free(&out);
	free(hits);
	imap_tagged(s, cmd->tag, "OK", "%sSEARCH completed", uid ? "UID " : "");
}

/* ------------------------------------------------------------------ */
/* SORT and THREAD (RFC 5256, RFC 5957 DISPLAY) */

/* Sort keys of the messages at idx (in mailbox order). */
static struct msg_sort_keys *
sort_keys(struct imap_session *s, const size_t *idx, size_t n, bool uid)
{
	struct msg_sort_keys *keys = xcalloc(n + 1, sizeof(*keys));

	for (size_t i = 0; i < n; i++) {
		const struct imap_msg *m = &s->view->msgs[idx[i]];
		struct msg_structure *st = NULL;
		char *error = NULL;
		uint32_t id = uid ? m->uid : (uint32_t)idx[i] + 1;

		if (store_message_structure(s->server->store, s->user,
					    s->view->name, m->uid, &st,
					    &error) <= 0) {
			free(error);
			st = NULL;
		}
		if (st != NULL) {
			msg_sort_keys_init(&keys[i], st, id, m->internal_date,
					   m->size);
			msg_structure_free(&st);
		} else {
			keys[i].id = id;
			keys[i].arrival = keys[i].date = m->internal_date;
			keys[i].size = m->size;
		}
	}
	return keys;
}

static void
sort_keys_free(struct msg_sort_keys *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		msg_sort_keys_clear(&keys[i]);
	free(keys);
}

void
imap_cmd_sort(struct imap_session *s, const struct imap_command *cmd,
	      size_t first, bool uid)
{
	const struct imap_arg *args = cmd->args + first;
	size_t count = cmd->count - first, pos = 2, *idx = NULL, n = 0, nc = 0;
	struct msg_sort_criterion *crit;
	struct msg_sort_keys *keys;
	bool uses_modseq, reverse = false;
	uint64_t maxmodseq;
	uint32_t *ids;
	const char *error;
	struct buf out;

	if (count < 3 || args[0].type != IMAP_ARG_LIST || args[0].count == 0) {
		imap_tagged(s, cmd->tag, "BAD",
			    "Syntax: SORT (criteria) charset keys");
		return;
	}
	crit = xcalloc(args[0].count + 1, sizeof(*crit));
	for (size_t i = 0; i < args[0].count; i++) {
		const struct imap_arg *a = &args[0].list[i];

		if (imap_arg_atom_is(a, "REVERSE") && !reverse) {
			reverse = true;
			continue;
		}
		if (a->type != IMAP_ARG_ATOM ||
		    !msg_sort_key_from_name(a->str, &crit[nc].key)) {
			free(crit);
			imap_tagged(s, cmd->tag, "BAD", "Unknown sort key");
			return;
		}
		crit[nc++].reverse = reverse;
		reverse = false;
	}
	if (nc == 0 || reverse) {
		free(crit);
		imap_tagged(s, cmd->tag, "BAD", "Bad sort criteria");
		return;
	}
	pos = 1;
	if (!charset_ok(args, count, &pos, true)) {
		free(crit);
		imap_tagged(
		    s, cmd->tag, "NO",
		    "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return;
	}
	if (search_run(s, args, count, pos, &idx, &n, &uses_modseq, &maxmodseq,
		       &error) < 0) {
		free(crit);
		imap_tagged(s, cmd->tag, "BAD", "%s", error);
		return;
	}
	keys = sort_keys(s, idx, n, uid);
	ids = xcalloc(n + 1, sizeof(*ids));
	msg_sort(keys, n, crit, nc, ids);
	buf_init(&out);
	buf_append_str(&out, "* SORT");
	for (size_t i = 0; i < n; i++)
		buf_printf(&out, " %u", ids[i]);
	if (uses_modseq && n > 0)
		buf_printf(&out, " (MODSEQ %llu)",
			   (unsigned long long)maxmodseq);
	imap_printf(s, "%s", buf_cstr(&out));
	buf_free(&out);
	free(ids);
	sort_keys_free(keys, n);
	free(idx);
	free(crit);
	imap_tagged(s, cmd->tag, "OK", "%sSORT completed", uid ? "UID " : "");
}

void
imap_cmd_thread(struct imap_session *s, const struct imap_command *cmd,
		size_t first, bool uid)
{
	const struct imap_arg *args = cmd->args + first;
	size_t count = cmd->count - first, pos = 1, *idx = NULL, n = 0;
	struct msg_sort_keys *keys;
	bool uses_modseq, refs;
	uint64_t maxmodseq;
	const char *error;
	struct buf out;

	if (count < 3 || args[0].type != IMAP_ARG_ATOM) {
		imap_tagged(s, cmd->tag, "BAD",
			    "Syntax: THREAD algorithm charset keys");
		return;
	}
	refs = strcasecmp(args[0].str, "REFERENCES") == 0;
	if (!refs && strcasecmp(args[0].str, "ORDEREDSUBJECT") != 0) {
		imap_tagged(s, cmd->tag, "BAD", "Unknown thread algorithm");
		return;
	}
	if (!charset_ok(args, count, &pos, true)) {
		imap_tagged(
		    s, cmd->tag, "NO",
		    "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return;
	}
	if (search_run(s, args, count, pos, &idx, &n, &uses_modseq, &maxmodseq,
		       &error) < 0) {
		imap_tagged(s, cmd->tag, "BAD", "%s", error);
		return;
	}
	keys = sort_keys(s, idx, n, uid);
	buf_init(&out);
	buf_append_str(&out, "* THREAD ");
	if (refs)
		msg_thread_references(keys, n, &out);
	else
		msg_thread_orderedsubject(keys, n, &out);
	imap_printf(s, "%s", buf_cstr(&out));
	buf_free(&out);
	sort_keys_free(keys, n);
	free(idx);
	imap_tagged(s, cmd->tag, "OK", "%sTHREAD completed", uid ? "UID " : "");
}
