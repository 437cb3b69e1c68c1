/*
 * imap_fetch: the commands that read or change messages of the selected
 * mailbox: FETCH (FLAGS, UID, INTERNALDATE, RFC822.SIZE, MODSEQ, SAVEDATE,
 * BODY[section]<partial>, BODY.PEEK, RFC822*, and, from the message's
 * structure, ENVELOPE, BODYSTRUCTURE, BODY, MIME part sections, BINARY and
 * BINARY.SIZE), CHANGEDSINCE and VANISHED, STORE (+CONDSTORE
 * UNCHANGEDSINCE, .SILENT), COPY, MOVE (UIDPLUS COPYUID) and EXPUNGE /
 * UID EXPUNGE.
 *
 * A FETCH runs message by message and stops while more than
 * IMAP_OUTPUT_HIGH bytes wait for the client, to resume from the write
 * callback: output stays bounded whatever the mailbox size. Message files
 * are read one at a time, the structure (msg_structure, byte offsets of
 * every MIME part) is computed from the file when an item needs it.
 */
#include "mailstore/imap_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "mailstore/store.h"

#include "mailstore/msg_structure.h"

enum fetch_kind {
	FETCH_UID,
	FETCH_FLAGS,
	FETCH_INTERNALDATE,
	FETCH_SIZE,
	FETCH_MODSEQ,
	FETCH_SAVEDATE,
	FETCH_ENVELOPE,
	FETCH_BODYSTRUCTURE,
	FETCH_BODY_SHORT, /* BODY without section */
	FETCH_SECTION,	  /* BODY[...], BODY.PEEK[...], RFC822* */
	FETCH_BINARY,
	FETCH_BINARY_SIZE,
};

struct fetch_item {
	enum fetch_kind kind;
	char *label;   /* response name, e.g. "BODY[HEADER]" or "RFC822" */
	char *spec;    /* section spec without fields: "", "1.2", "HEADER" */
	char **fields; /* HEADER.FIELDS[.NOT] names */
	size_t nfields;
	bool fields_not;
	bool peek;
	bool partial;
	uint64_t p_offset, p_length;
};

struct imap_fetch_ctx {
	char *tag;
	bool uid_cmd;
	struct fetch_item *items;
	size_t nitems;
	size_t *indexes;
	size_t count, pos;
	bool need_flags_item;
	bool add_modseq;
	bool unknown_cte; /* BINARY of a part in an unknown encoding */
};

static void
item_clear(struct fetch_item *it)
{
	free(it->label);
	free(it->spec);
	for (size_t i = 0; i < it->nfields; i++)
		free(it->fields[i]);
	free(it->fields);
}

void
imap_fetch_free(struct imap_fetch_ctx **ctx)
{
	struct imap_fetch_ctx *c = *ctx;

	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nitems; i++)
		item_clear(&c->items[i]);
	free(c->items);
	free(c->indexes);
	free(c->tag);
	free(c);
	*ctx = NULL;
}

/* ------------------------------------------------------------------ */
/* item parsing */

static struct fetch_item *
item_add(struct imap_fetch_ctx *c, enum fetch_kind kind, const char *label)
{
	struct fetch_item *it;

	c->items = xreallocarray(c->items, c->nitems + 1, sizeof(*c->items));
	it = &c->items[c->nitems++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	it->label = xstrdup(label);
	return it;
}

/* Parses "[section]<a.b>" after a BODY/BINARY name. 0 or -1. */
static int
parse_section(const char *p, struct fetch_item *it, struct buf *label)
{
	const char *end = strchr(p, ']'), *q;
	char *inner;

	if (*p != '[' || end == NULL)
		return -1;
	inner = xstrndup(p + 1, (size_t)(end - p - 1));
	q = strchr(inner, ' ');
	if (q != NULL) {
		/* HEADER.FIELDS (a b c) */
		size_t speclen = (size_t)(q - inner);
		const char *f = q + 1;
		char *list;

		it->spec = xstrndup(inner, speclen);
		if (speclen < 13 ||
		    (strcasecmp(it->spec + speclen - 13, "HEADER.FIELDS") !=
			 0 &&
		     (speclen < 17 || strcasecmp(it->spec + speclen - 17,
						 "HEADER.FIELDS.NOT") != 0)) ||
		    *f != '(' || inner[strlen(inner) - 1] != ')') {
			free(inner);
			return -1;
		}
		it->fields_not =
		    speclen >= 17 && strcasecmp(it->spec + speclen - 17,
						"HEADER.FIELDS.NOT") == 0;
		list = xstrndup(f + 1, strlen(f) - 2);
		for (char *tok = strtok(list, " "); tok != NULL;
		     tok = strtok(NULL, " ")) {
			size_t n = strlen(tok);
			if (n >= 2 && tok[0] == '"' && tok[n - 1] == '"') {
				tok[n - 1] = '\0';
				tok++;
			}
			if (*tok == '\0')
				continue;
			it->fields = xreallocarray(it->fields, it->nfields + 1,
						   sizeof(*it->fields));
			it->fields[it->nfields++] = xstrdup(tok);
		}
		free(list);
		if (it->nfields == 0) {
			free(inner);
			return -1;
		}
	} else {
		it->spec = xstrdup(inner);
	}
	/* the label echoes the section as asked, upper-cased names */
	buf_append_char(label, '[');
	for (const char *c = inner; *c != '\0'; c++)
		buf_append_char(label, *c >= 'a' && *c <= 'z' && q == NULL
					   ? (char)(*c - 32)
					   : *c);
	buf_append_char(label, ']');
	free(inner);
	p = end + 1;
	if (*p == '<') {
		char *e1, *e2;
		unsigned long long a = strtoull(p + 1, &e1, 10), b;

		if (e1 == p + 1 || *e1 != '.')
			return -1;
		b = strtoull(e1 + 1, &e2, 10);
		if (e2 == e1 + 1 || *e2 != '>' || e2[1] != '\0' || b == 0)
			return -1;
		it->partial = true;
		it->p_offset = a;
		it->p_length = b;
		buf_printf(label, "<%llu>", a);
		return 0;
	}
	return *p == '\0' ? 0 : -1;
}

static int
parse_item(struct imap_fetch_ctx *c, const struct imap_arg *a)
{
	const char *s = a->str;
	struct fetch_item *it;
	struct buf label;
	int rc;

	if (a->type != IMAP_ARG_ATOM)
		return -1;
	if (strcasecmp(s, "UID") == 0)
		item_add(c, FETCH_UID, "UID");
	else if (strcasecmp(s, "FLAGS") == 0)
		item_add(c, FETCH_FLAGS, "FLAGS");
	else if (strcasecmp(s, "INTERNALDATE") == 0)
		item_add(c, FETCH_INTERNALDATE, "INTERNALDATE");
	else if (strcasecmp(s, "RFC822.SIZE") == 0)
		item_add(c, FETCH_SIZE, "RFC822.SIZE");
	else if (strcasecmp(s, "MODSEQ") == 0)
		item_add(c, FETCH_MODSEQ, "MODSEQ");
	else if (strcasecmp(s, "SAVEDATE") == 0)
		item_add(c, FETCH_SAVEDATE, "SAVEDATE");
	else if (strcasecmp(s, "ENVELOPE") == 0)
		item_add(c, FETCH_ENVELOPE, "ENVELOPE");
	else if (strcasecmp(s, "BODYSTRUCTURE") == 0)
		item_add(c, FETCH_BODYSTRUCTURE, "BODYSTRUCTURE");
	else if (strcasecmp(s, "BODY") == 0)
		item_add(c, FETCH_BODY_SHORT, "BODY");
	else if (strcasecmp(s, "RFC822") == 0)
		item_add(c, FETCH_SECTION, "RFC822")->spec = xstrdup("");
	else if (strcasecmp(s, "RFC822.HEADER") == 0) {
		it = item_add(c, FETCH_SECTION, "RFC822.HEADER");
		it->spec = xstrdup("HEADER");
		it->peek = true;
	} else if (strcasecmp(s, "RFC822.TEXT") == 0)
		item_add(c, FETCH_SECTION, "RFC822.TEXT")->spec =
		    xstrdup("TEXT");
	else if (strcasecmp(s, "ALL") == 0 || strcasecmp(s, "FAST") == 0 ||
		 strcasecmp(s, "FULL") == 0) {
		item_add(c, FETCH_FLAGS, "FLAGS");
		item_add(c, FETCH_INTERNALDATE, "INTERNALDATE");
		item_add(c, FETCH_SIZE, "RFC822.SIZE");
		if (strcasecmp(s, "FAST") != 0)
			item_add(c, FETCH_ENVELOPE, "ENVELOPE");
		if (strcasecmp(s, "FULL") == 0)
			item_add(c, FETCH_BODY_SHORT, "BODY");
	} else {
		enum fetch_kind kind = FETCH_SECTION;
		const char *name = "BODY";
		bool peek = false;
		size_t skip;

		if (strncasecmp(s, "BODY.PEEK[", 10) == 0) {
			peek = true;
			skip = 9;
		} else if (strncasecmp(s, "BODY[", 5) == 0) {
			skip = 4;
		} else if (strncasecmp(s, "BINARY.PEEK[", 12) == 0) {
			kind = FETCH_BINARY;
			name = "BINARY";
			peek = true;
			skip = 11;
		} else if (strncasecmp(s, "BINARY[", 7) == 0) {
			kind = FETCH_BINARY;
			name = "BINARY";
			skip = 6;
		} else if (strncasecmp(s, "BINARY.SIZE[", 12) == 0) {
			kind = FETCH_BINARY_SIZE;
			name = "BINARY.SIZE";
			peek = true;
			skip = 11;
		} else {
			return -1;
		}
		it = item_add(c, kind, "");
		it->peek = peek;
		buf_init(&label);
		buf_append_str(&label, name);
		rc = parse_section(s + skip, it, &label);
		free(it->label);
		it->label = buf_detach(&label);
		if (rc < 0 || (kind != FETCH_SECTION && it->nfields > 0))
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* message data */

static int
read_message(const char *path, char **data_r, size_t *len_r)
{
	struct stat st;
	char *data;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || st.st_size < 0) {
		close(fd);
		return -1;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, data + done, (size_t)st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	data[done] = '\0';
	*data_r = data;
	*len_r = done;
	return 0;
}

/* Length of the header including the blank line that ends it. */
static size_t
header_length(const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		if (i + 1 < len && data[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && data[i + 1] == '\r' && data[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/* Appends "label data" for a section item. NIL-free: missing parts give
 * an empty string. */
static void
append_literal_part(struct buf *out, const struct fetch_item *it,
		    const char *data, size_t len)
{
	if (it->partial) {
		if (it->p_offset >= len) {
			len = 0;
		} else {
			data += it->p_offset;
			len -= (size_t)it->p_offset;
			if (len > it->p_length)
				len = (size_t)it->p_length;
		}
	}
	buf_printf(out, "%s {%zu}\r\n", it->label, len);
	buf_append(out, data, len);
}

struct msg_ctx {
	struct imap_session *s;
	uint32_t uid;
	char *data;
	size_t len;
	bool loaded, failed;
	struct msg_structure *st;
};

static bool
msg_load(struct msg_ctx *m, const char *path)
{
	if (!m->loaded) {
		m->loaded = true;
		if (read_message(path, &m->data, &m->len) < 0)
			m->failed = true;
	}
	return !m->failed;
}

/* The structure cached in the index (computed at delivery). */
static struct msg_structure *
msg_struct(struct msg_ctx *m, const char *path)
{
	char *error = NULL;

	(void)path;
	if (m->st != NULL)
		return m->st;
	if (store_message_structure(m->s->server->store, m->s->user,
				    m->s->view->name, m->uid, &m->st,
				    &error) <= 0) {
		free(error);
		m->st = NULL;
	}
	return m->st;
}

/* Appends one item; false when the message could not be read. */
static bool
append_section(struct buf *out, const struct fetch_item *it, struct msg_ctx *m,
	       const char *path)
{
	const char *spec = it->spec;
	size_t hlen;

	if (!msg_load(m, path))
		return false;
	if (msg_struct(m, path) != NULL) {
		struct msg_structure *st = m->st;
		struct msg_section sec;
		char *error = NULL;
		int rc;

		rc = msg_structure_section(st, spec, &sec, &error);
		if (rc < 0) {
			free(error);
			append_literal_part(out, it, "", 0);
			return true;
		}
		if (rc == 0 || sec.offset + sec.size > m->len) {
			append_literal_part(out, it, "", 0);
			return true;
		}
		if (it->nfields > 0) {
			struct buf f;

			buf_init(&f);
			msg_header_filter(m->data + sec.offset,
					  (size_t)sec.size,
					  (const char *const *)it->fields,
					  it->nfields, it->fields_not, &f);
			append_literal_part(
			    out, it, f.data != NULL ? f.data : "", f.len);
			buf_free(&f);
			return true;
		}
		append_literal_part(out, it, m->data + sec.offset,
				    (size_t)sec.size);
		return true;
	}
	/* No structure (unreadable index row): header/text by hand. */
	hlen = header_length(m->data, m->len);
	if (spec[0] == '\0') {
		append_literal_part(out, it, m->data, m->len);
	} else if (strcasecmp(spec, "HEADER") == 0) {
		append_literal_part(out, it, m->data, hlen);
	} else if (strcasecmp(spec, "TEXT") == 0) {
		append_literal_part(out, it, m->data + hlen, m->len - hlen);
	} else if (it->nfields > 0 && strncasecmp(spec, "HEADER.", 7) == 0) {
		struct buf f;

		buf_init(&f);
		msg_header_filter(m->data, hlen,
				  (const char *const *)it->fields, it->nfields,
				  it->fields_not, &f);
		append_literal_part(out, it, buf_cstr(&f), f.len);
		buf_free(&f);
	} else if (strcmp(spec, "1") == 0) {
		append_literal_part(out, it, m->data + hlen, m->len - hlen);
	} else {
		append_literal_part(out, it, "", 0);
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* FETCH */

static bool
item_sets_seen(const struct fetch_item *it)
{
	return (it->kind == FETCH_SECTION || it->kind == FETCH_BINARY) &&
	       !it->peek;
}

static void
mark_seen(struct imap_session *s, size_t index)
{
	struct imap_msg *msg = &s->view->msgs[index];
	struct store_flag_result *res = NULL;
	size_t n = 0;
	char *error = NULL;

	if (s->view->readonly || strstr(msg->flags, "\\Seen") != NULL)
		return;
	if (store_flags_update(s->server->store, s->user, s->view->name,
			       &msg->uid, 1, STORE_FLAGS_ADD, "\\Seen", 0, &res,
			       &n, &error) < 0) {
		log_warnx("session=%s event=store_error error=\"%s\"", s->id,
			  error);
		free(error);
		return;
	}
	if (n == 1) {
		free(msg->flags);
		msg->flags = res[0].flags;
		res[0].flags = NULL;
		msg->modseq = res[0].modseq;
	}
	store_flag_results_free(res, n);
}

/* One FETCH response. */
static void
fetch_one(struct imap_session *s, struct imap_fetch_ctx *c, size_t index)
{
	struct imap_msg *msg = &s->view->msgs[index];
	struct msg_ctx m;
	struct buf out;
	bool first = true, seen_changed = false, ok = true;

	if (msg->gone)
		return;
	memset(&m, 0, sizeof(m));
	m.s = s;
	m.uid = msg->uid;
	for (size_t i = 0; i < c->nitems; i++)
		if (item_sets_seen(&c->items[i]) &&
		    strstr(msg->flags, "\\Seen") == NULL &&
		    !s->view->readonly) {
			mark_seen(s, index);
			seen_changed = true;
			break;
		}
	buf_init(&out);
	buf_printf(&out, "* %zu FETCH (", index + 1);
	if (c->uid_cmd) {
		buf_printf(&out, "UID %u", msg->uid);
		first = false;
	}
	for (size_t i = 0; i < c->nitems && ok; i++) {
		const struct fetch_item *it = &c->items[i];

		if (it->kind == FETCH_UID && c->uid_cmd)
			continue;
		if (!first)
			buf_append_char(&out, ' ');
		first = false;
		switch (it->kind) {
		case FETCH_UID:
			buf_printf(&out, "UID %u", msg->uid);
			break;
		case FETCH_FLAGS:
			buf_append_str(&out, "FLAGS ");
			imap_append_flags(&out, msg->flags);
			break;
		case FETCH_INTERNALDATE:
			buf_append_str(&out, "INTERNALDATE ");
			imap_append_datetime(&out, msg->internal_date);
			break;
		case FETCH_SIZE:
			buf_printf(&out, "RFC822.SIZE %llu",
				   (unsigned long long)msg->size);
			break;
		case FETCH_MODSEQ:
			buf_printf(&out, "MODSEQ (%llu)",
				   (unsigned long long)msg->modseq);
			break;
		case FETCH_SAVEDATE:
			buf_append_str(&out, "SAVEDATE ");
			imap_append_datetime(&out, msg->saved_date);
			break;
		case FETCH_SECTION:
			ok = append_section(&out, it, &m, msg->path);
			break;
		case FETCH_ENVELOPE: {
			struct msg_structure *st = msg_struct(&m, msg->path);
			if ((ok = st != NULL)) {
				buf_append_str(&out, "ENVELOPE ");
				msg_structure_envelope(st, &out);
			}
			break;
		}
		case FETCH_BODYSTRUCTURE:
		case FETCH_BODY_SHORT: {
			struct msg_structure *st = msg_struct(&m, msg->path);
			if ((ok = st != NULL)) {
				buf_printf(&out, "%s ", it->label);
				msg_structure_bodystructure(
				    st, it->kind == FETCH_BODYSTRUCTURE, &out);
			}
			break;
		}
		case FETCH_BINARY:
		case FETCH_BINARY_SIZE: {
			struct msg_structure *st = msg_struct(&m, msg->path);
			struct buf bin;
			bool unknown = false;
			char *error = NULL;
			int rc;

			if ((ok = st != NULL && msg_load(&m, msg->path))) {
				buf_init(&bin);
				rc = msg_structure_binary(st, m.data, m.len,
							  it->spec, &bin,
							  &unknown, &error);
				free(error);
				if (rc < 0)
					buf_reset(&bin);
				if (unknown)
					c->unknown_cte = true;
				if (it->kind == FETCH_BINARY_SIZE)
					buf_printf(&out, "%s %zu", it->label,
						   bin.len);
				else {
					/* partial applies to decoded data */
					struct fetch_item tmp = *it;
					append_literal_part(
					    &out, &tmp,
					    bin.data != NULL ? bin.data : "",
					    bin.len);
				}
				buf_free(&bin);
			}
			break;
		}
		}
	}
	if (ok && seen_changed && !c->need_flags_item) {
		buf_append_str(&out, first ? "FLAGS " : " FLAGS ");
		imap_append_flags(&out, msg->flags);
		first = false;
	}
	if (ok && c->add_modseq) {
		bool have = false;
		for (size_t i = 0; i < c->nitems; i++)
			if (c->items[i].kind == FETCH_MODSEQ)
				have = true;
		if (!have)
			buf_printf(&out, "%sMODSEQ (%llu)", first ? "" : " ",
				   (unsigned long long)msg->modseq);
	}
	buf_append_str(&out, ")\r\n");
	if (ok)
		imap_write(s, out.data, out.len);
	else
		log_warnx("session=%s event=fetch_unreadable uid=%u", s->id,
			  msg->uid);
	buf_free(&out);
	free(m.data);
	msg_structure_free(&m.st);
}

bool
imap_fetch_continue(struct imap_session *s)
{
	struct imap_fetch_ctx *c = s->fetch;

	while (c->pos < c->count) {
		if (imap_output_pending(s) > IMAP_OUTPUT_HIGH)
			return false;
		fetch_one(s, c, c->indexes[c->pos++]);
	}
	if (c->unknown_cte)
		imap_tagged(s, c->tag, "NO",
			    "[UNKNOWN-CTE] Unknown Content-Transfer-Encoding");
	else
		imap_tagged(s, c->tag, "OK", "%sFETCH completed",
			    c->uid_cmd ? "UID " : "");
	imap_fetch_free(&s->fetch);
	return true;
}

void
imap_cmd_fetch(struct imap_session *s, const struct imap_command *cmd,
	       size_t first, bool uid)
{
	const struct imap_arg *args = cmd->args + first;
	size_t nargs = cmd->count - first;
	struct imap_fetch_ctx *c;
	uint64_t changedsince = 0;
	bool vanished = false;
	const char *error;

	if (nargs < 2 || nargs > 3 || args[0].type != IMAP_ARG_ATOM) {
		imap_tagged(s, cmd->tag, "BAD", "Syntax: FETCH set items");
		return;
	}
	if (nargs == 3) {
		const struct imap_arg *mod = &args[2];

		for (size_t i = 0; mod->type == IMAP_ARG_LIST && i < mod->count;
		     i++) {
			if (imap_arg_atom_is(&mod->list[i], "CHANGEDSINCE") &&
			    i + 1 < mod->count &&
			    mod->list[i + 1].type == IMAP_ARG_ATOM) {
				changedsince =
				    strtoull(mod->list[++i].str, NULL, 10);
			} else if (imap_arg_atom_is(&mod->list[i],
						    "VANISHED") &&
				   uid && s->qresync) {
				vanished = true;
			} else {
				imap_tagged(s, cmd->tag, "BAD",
					    "Unknown FETCH modifier");
				return;
			}
		}
		if (mod->type != IMAP_ARG_LIST || changedsince == 0) {
			imap_tagged(s, cmd->tag, "BAD",
				    "Syntax: FETCH set items (CHANGEDSINCE n)");
			return;
		}
		s->condstore = true;
	}
	c = xcalloc(1, sizeof(*c));
	c->uid_cmd = uid;
	if (args[1].type == IMAP_ARG_LIST) {
		for (size_t i = 0; i < args[1].count; i++)
			if (parse_item(c, &args[1].list[i]) < 0) {
				imap_fetch_free(&c);
				imap_tagged(s, cmd->tag, "BAD",
					    "Invalid FETCH item");
				return;
			}
	} else if (parse_item(c, &args[1]) < 0) {
		imap_fetch_free(&c);
		imap_tagged(s, cmd->tag, "BAD", "Invalid FETCH item");
		return;
	}
	for (size_t i = 0; i < c->nitems; i++)
		if (c->items[i].kind == FETCH_FLAGS)
			c->need_flags_item = true;
	if (imap_view_resolve(s, args[0].str, uid, &c->indexes, &c->count,
			      &error) < 0) {
		imap_fetch_free(&c);
		imap_tagged(s, cmd->tag, "BAD", "%s", error);
		return;
	}
	if (changedsince > 0) {
		size_t w = 0;

		c->add_modseq = true;
		for (size_t i = 0; i < c->count; i++)
			if (s->view->msgs[c->indexes[i]].modseq > changedsince)
				c->indexes[w++] = c->indexes[i];
		c->count = w;
		if (vanished) {
			uint32_t *gone = NULL;
			size_t ngone = 0;
			char *serror = NULL;
			struct imap_seqset set;

			if (store_expunged_since(s->server->store, s->user,
						 s->view->name, changedsince,
						 &gone, &ngone, &serror) == 0 &&
			    imap_seqset_parse(args[0].str, &set, &error) == 0) {
				uint32_t *keep =
				    xcalloc(ngone + 1, sizeof(*keep));
				size_t n = 0;

				for (size_t i = 0; i < ngone; i++)
					if (imap_seqset_contains(
						&set, gone[i],
						s->view->uidnext))
						keep[n++] = gone[i];
				if (n > 0) {
					struct buf b;
					buf_init(&b);
					imap_seqset_format(keep, n, &b);
					imap_printf(s,
						    "* VANISHED (EARLIER) %s",
						    buf_cstr(&b));
					buf_free(&b);
				}
				free(keep);
				imap_seqset_free(&set);
			}
			free(serror);
			free(gone);
		}
	}
	if (s->condstore && !c->add_modseq)
		for (size_t i = 0; i < c->nitems; i++)
			if (c->items[i].kind == FETCH_FLAGS)
				c->add_modseq = true;
	c->tag = xstrdup(cmd->tag);
	s->fetch = c;
	if (!imap_fetch_continue(s))
		s->wait = IMAP_WAIT_FETCH;
}

/* ------------------------------------------------------------------ */
/* STORE */

static bool
flag_valid(const struct imap_arg *a)
{
	static const char *const system[] = {
	    "\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"};

	if (a->type != IMAP_ARG_ATOM)
		return false;
	if (a->str[0] == '\\') {
		for (size_t k = 0; k < sizeof(system) / sizeof(system[0]); k++)
			if (strcasecmp(a->str, system[k]) == 0)
				return true;
		return false;
	}
	return strpbrk(a->str, "[]*%\\") == NULL && a->len <= 64;
}

void
imap_cmd_store(struct imap_session *s, const struct imap_command *cmd,
	       size_t first, bool uid)
{
	const struct imap_arg *args = cmd->args + first;
	size_t nargs = cmd->count - first, i = 1, *idx = NULL, n = 0;
	uint64_t unchangedsince = 0;
	enum store_flags_mode mode;
	const char *op, *error;
	bool silent;
	struct buf flags, modified;
	uint32_t *uids;
	struct store_flag_result *res = NULL;
	struct train_batch *train = NULL;
	size_t nres = 0;
	char *serror = NULL;
	int train_cls;

	if (nargs < 3 || args[0].type != IMAP_ARG_ATOM) {
		imap_tagged(s, cmd->tag, "BAD", "Syntax: STORE set item flags");
		return;
	}
	if (args[1].type == IMAP_ARG_LIST) {
		const struct imap_arg *mod = &args[1];
		if (mod->count != 2 ||
		    !imap_arg_atom_is(&mod->list[0], "UNCHANGEDSINCE") ||
		    mod->list[1].type != IMAP_ARG_ATOM) {
			imap_tagged(s, cmd->tag, "BAD",
				    "Unknown STORE modifier");
			return;
		}
		unchangedsince = strtoull(mod->list[1].str, NULL, 10);
		s->condstore = true;
		i = 2;
	}
	if (i + 1 >= nargs || args[i].type != IMAP_ARG_ATOM) {
		imap_tagged(s, cmd->tag, "BAD", "Syntax: STORE set item flags");
		return;
	}
	op = args[i].str;
	mode = op[0] == '+'   ? STORE_FLAGS_ADD
	       : op[0] == '-' ? STORE_FLAGS_REMOVE
			      : STORE_FLAGS_REPLACE;
	if (mode != STORE_FLAGS_REPLACE)
		op++;
	silent = strcasecmp(op, "FLAGS.SILENT") == 0;
	if (!silent && strcasecmp(op, "FLAGS") != 0) {
		imap_tagged(s, cmd->tag, "BAD", "Unknown STORE item");
		return;
	}
	buf_init(&flags);
	for (size_t k = i + 1; k < nargs; k++) {
		const struct imap_arg *list = &args[k];
		size_t cnt = 1;

		if (list->type == IMAP_ARG_LIST) {
			if (nargs != i + 2) {
				buf_free(&flags);
				imap_tagged(s, cmd->tag, "BAD",
					    "Bad flag list");
				return;
			}
			cnt = list->count;
			list = list->list;
		}
		for (size_t f = 0; f < cnt; f++) {
			if (!flag_valid(&list[f])) {
				buf_free(&flags);
				imap_tagged(s, cmd->tag, "BAD", "Invalid flag");
				return;
			}
			if (flags.len > 0)
				buf_append_char(&flags, ' ');
			buf_append_str(&flags, list[f].str);
		}
	}
	if (s->view->readonly) {
		buf_free(&flags);
		imap_tagged(s, cmd->tag, "NO",
			    "[READ-ONLY] Mailbox is "
			    "read-only");
		return;
	}
	if (imap_view_resolve(s, args[0].str, uid, &idx, &n, &error) < 0) {
		buf_free(&flags);
		imap_tagged(s, cmd->tag, "BAD", "%s", error);
		return;
	}
	uids = xcalloc(n + 1, sizeof(*uids));
	for (size_t k = 0; k < n; k++)
		uids[k] = s->view->msgs[idx[k]].uid;
	if (store_flags_update(s->server->store, s->user, s->view->name, uids,
			       n, mode, buf_cstr(&flags), unchangedsince, &res,
			       &nres, &serror) < 0) {
		log_errorx("session=%s event=store_error error=\"%s\"", s->id,
			   serror);
		free(serror);
		imap_tagged(s, cmd->tag, "NO", "[SERVERBUG] STORE failed");
		goto out;
	}
	buf_init(&modified);
	train_cls =
	    imap_train_flag_class(buf_cstr(&flags), mode == STORE_FLAGS_REMOVE);
	train =
	    imap_train_begin(s, s->view->name, train_cls, TRAIN_REASON_FLAG);
	{
		uint32_t *mod = xcalloc(nres + 1, sizeof(*mod));
		size_t nmod = 0;

		for (size_t k = 0; k < nres; k++) {
			long vi = imap_view_find_uid(s->view, res[k].uid);
			struct imap_msg *m;
			struct buf out;

			if (vi < 0)
				continue;
			m = &s->view->msgs[vi];
			if (!res[k].changed && unchangedsince != 0 &&
			    res[k].modseq > unchangedsince) {
				mod[nmod++] = uid ? m->uid : (uint32_t)vi + 1;
				continue;
			}
			if (train != NULL && res[k].changed) {
				const char *kw = train_cls == TRAIN_SPAM
						     ? "$Junk"
						     : "$NotJunk";

				if (imap_train_has_keyword(res[k].flags, kw) &&
				    !imap_train_has_keyword(m->flags, kw))
					imap_train_add(s, train, m->uid,
						       m->path, NULL, 0);
			}
			free(m->flags);
			m->flags = res[k].flags;
			res[k].flags = NULL;
			m->modseq = res[k].modseq;
			if (silent && !(s->condstore && res[k].changed))
				continue;
			buf_init(&out);
			buf_printf(&out, "* %ld FETCH (", vi + 1);
			if (uid)
				buf_printf(&out, "UID %u ", m->uid);
			if (!silent) {
				buf_append_str(&out, "FLAGS ");
				imap_append_flags(&out, m->flags);
			}
			if (s->condstore)
				buf_printf(&out, "%sMODSEQ (%llu)",
					   silent ? "" : " ",
					   (unsigned long long)m->modseq);
			buf_append_char(&out, ')');
			imap_printf(s, "%s", buf_cstr(&out));
			buf_free(&out);
		}
		if (nmod > 0) {
			imap_seqset_format(mod, nmod, &modified);
			imap_tagged(s, cmd->tag, "OK",
				    "[MODIFIED %s] Conditional STORE failed",
				    buf_cstr(&modified));
		} else {
			imap_tagged(s, cmd->tag, "OK", "%sSTORE completed",
				    uid ? "UID " : "");
		}
		free(mod);
	}
	imap_train_finish(s, &train, true);
	buf_free(&modified);
out:
	store_flag_results_free(res, nres);
	free(uids);
	free(idx);
	buf_free(&flags);
}

/* ------------------------------------------------------------------ */
/* COPY / MOVE / EXPUNGE */

void
imap_cmd_copy(struct imap_session *s, const struct imap_command *cmd,
	      size_t first, bool uid, bool move)
{
	const struct imap_arg *args = cmd->args + first;
	size_t nargs = cmd->count - first, *idx = NULL, n = 0;
	uint32_t *uids, *new_uids = NULL, validity = 0;
	struct train_batch *train = NULL;
	const char *error;
	char *dest, *serror = NULL;

	if (nargs != 2 || args[0].type != IMAP_ARG_ATOM) {
		imap_tagged(s, cmd->tag, "BAD", "Syntax: %s set mailbox",
			    move ? "MOVE" : "COPY");
		return;
	}
	dest = imap_mailbox_arg(s, &args[1], &error);
	if (dest == NULL) {
		imap_tagged(s, cmd->tag, "NO", "[CANNOT] %s", error);
		return;
	}
	/* Out of Quarantine, MOVE (like COPY) is a release. */
	if (move && s->view->readonly && !imap_view_is_quarantine(s->view)) {
		free(dest);
		imap_tagged(s, cmd->tag, "NO",
			    "[READ-ONLY] Mailbox is "
			    "read-only");
		return;
	}
	if (imap_view_resolve(s, args[0].str, uid, &idx, &n, &error) < 0) {
		free(dest);
		imap_tagged(s, cmd->tag, "BAD", "%s", error);
		return;
	}
	uids = xcalloc(n + 1, sizeof(*uids));
	for (size_t k = 0; k < n; k++)
		uids[k] = s->view->msgs[idx[k]].uid;
	if (n > 0 && s->server->train != NULL &&
	    imap_view_is_quarantine(s->view)) {
		/* A release teaches ham (spam quarantine only); staged before
		 * the entries and perhaps their file go. */
		train = imap_train_release(s, dest, uids, n);
	} else if (n > 0 && s->server->train != NULL) {
		/* Stage before the move: the source files go with it. */
		char *dst_use = imap_train_special_use(s, dest);

		if (dst_use != NULL)
			train = imap_train_begin(
			    s, s->view->name,
			    imap_train_copy_class(s->view->special_use,
						  dst_use),
			    move ? TRAIN_REASON_MOVE : TRAIN_REASON_COPY);
		free(dst_use);
		for (size_t k = 0; train != NULL && k < n; k++)
			imap_train_add(s, train, uids[k],
				       s->view->msgs[idx[k]].path, NULL, 0);
	}
	if (n == 0) {
		imap_tagged(s, cmd->tag, "OK", "%s completed, nothing to do",
			    move ? "MOVE" : "COPY");
	} else if (store_copy(s->server->store, s->user, s->view->name, dest,
			      uids, n, move, &new_uids, &validity,
			      &serror) < 0) {
		imap_train_finish(s, &train, false);
		if (serror != NULL && serror[0] == '[')
			imap_tagged(s, cmd->tag, "NO", "%s", serror);
		else {
			log_errorx("session=%s event=store_error error=\"%s\"",
				   s->id, serror);
			imap_tagged(s, cmd->tag, "NO", "[SERVERBUG] %s failed",
				    move ? "MOVE" : "COPY");
		}
		free(serror);
	} else {
		uint32_t *src = xcalloc(n + 1, sizeof(*src));
		uint32_t *dst = xcalloc(n + 1, sizeof(*dst));
		size_t m = 0;
		struct buf a, b;

		imap_train_finish(s, &train, true);
		for (size_t k = 0; k < n; k++)
			if (new_uids[k] != 0) {
				src[m] = uids[k];
				dst[m++] = new_uids[k];
			}
		buf_init(&a);
		buf_init(&b);
		imap_seqset_format(src, m, &a);
		imap_seqset_format(dst, m, &b);
		if (move) {
			if (m > 0)
				imap_printf(s, "* OK [COPYUID %u %s %s] Moved",
					    validity, buf_cstr(&a),
					    buf_cstr(&b));
			imap_view_expunged(s, src, m);
			imap_tagged(s, cmd->tag, "OK", "%sMOVE completed",
				    uid ? "UID " : "");
		} else if (m > 0) {
			imap_tagged(s, cmd->tag, "OK",
				    "[COPYUID %u %s %s] %sCOPY completed",
				    validity, buf_cstr(&a), buf_cstr(&b),
				    uid ? "UID " : "");
		} else {
			imap_tagged(s, cmd->tag, "OK", "COPY completed");
		}
		if (strcmp(dest, s->view->name) == 0)
			imap_view_sync(s, false);
		buf_free(&a);
		buf_free(&b);
		free(src);
		free(dst);
	}
	free(new_uids);
	free(uids);
	free(idx);
	free(dest);
}

void
imap_cmd_expunge(struct imap_session *s, const struct imap_command *cmd,
		 size_t first, bool uid)
{
	size_t *idx = NULL, n = 0;
	uint32_t *uids, *gone = NULL;
	size_t ngone = 0;
	const char *error;
	char *serror = NULL;

	if ((uid && cmd->count != 2) || (!uid && cmd->count != 0) ||
	    (uid && cmd->args[1].type != IMAP_ARG_ATOM)) {
		imap_tagged(s, cmd->tag, "BAD", "Syntax: %sEXPUNGE%s",
			    uid ? "UID " : "", uid ? " set" : "");
		return;
	}
	if (s->view->readonly) {
		imap_tagged(s, cmd->tag, "NO",
			    "[READ-ONLY] Mailbox is "
			    "read-only");
		return;
	}
	if (uid) {
		if (imap_view_resolve(s, cmd->args[1].str, true, &idx, &n,
				      &error) < 0) {
			imap_tagged(s, cmd->tag, "BAD", "%s", error);
			return;
		}
	} else {
		idx = xcalloc(s->view->count + 1, sizeof(*idx));
		for (size_t k = 0; k < s->view->count; k++)
			idx[n++] = k;
	}
	uids = xcalloc(n + 1, sizeof(*uids));
	for (size_t k = 0; k < n; k++)
		uids[k] = s->view->msgs[idx[k]].uid;
	if (store_expunge(s->server->store, s->user, s->view->name, uids, n,
			  true, &gone, &ngone, &serror) < 0) {
		log_errorx("session=%s event=store_error error=\"%s\"", s->id,
			   serror);
		free(serror);
		imap_tagged(s, cmd->tag, "NO", "[SERVERBUG] EXPUNGE failed");
	} else {
		imap_view_expunged(s, gone, ngone);
		imap_tagged(s, cmd->tag, "OK", "%sEXPUNGE completed",
			    uid ? "UID " : "");
	}
	free(gone);
	free(uids);
	free(idx);
}
