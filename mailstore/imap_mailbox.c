/*
 * imap_mailbox: the IMAP commands about mailboxes rather than messages:
 * LIST (patterns, LIST-EXTENDED selection and return options, LIST-STATUS,
 * SPECIAL-USE, CHILDREN), LSUB, CREATE, DELETE, RENAME, SUBSCRIBE,
 * UNSUBSCRIBE, STATUS (with SIZE, DELETED, HIGHESTMODSEQ), SELECT and
 * EXAMINE (with CONDSTORE and QRESYNC parameters), APPEND (flags, date,
 * APPENDUID, APPENDLIMIT, quota), NAMESPACE, GETQUOTA and GETQUOTAROOT.
 *
 * Names are UTF-8 in the store with '/' as the hierarchy delimiter; rev1
 * clients see and send modified UTF-7 (imap_append_mailbox,
 * imap_mailbox_arg). Parents are created with their children, so every
 * listed name is selectable (no \Noselect).
 */
#include "mailstore/imap_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "mailstore/imap_utf7.h"
#include "mailstore/store.h"

/* Whether a store error says the disk (or the moat user's quota) is full:
 * the store's errors end in strerror() of the failed call, or in SQLite's
 * text for SQLITE_FULL. */
static bool
store_error_disk_full(const char *error)
{
	return error != NULL &&
	       (strstr(error, strerror(ENOSPC)) != NULL ||
		strstr(error, strerror(EDQUOT)) != NULL ||
		strstr(error, "database or disk is full") != NULL);
}

static void
store_failed(struct imap_session *s, const char *tag, char *error)
{
	/* Client-caused errors carry a response code; others are ours. A
	 * full disk is said as Dovecot says it (RFC 5530 OVERQUOTA). */
	if (error != NULL && error[0] == '[') {
		imap_tagged(s, tag, "NO", "%s", error);
	} else if (store_error_disk_full(error)) {
		log_errorx("session=%s event=store_error reason=disk_full "
			   "error=\"%s\"",
			   s->id, error);
		imap_tagged(s, tag, "NO", "[OVERQUOTA] Not enough disk space");
	} else {
		log_errorx("session=%s event=store_error error=\"%s\"", s->id,
			   error != NULL ? error : "?");
		imap_tagged(s, tag, "NO", "[SERVERBUG] Internal error");
	}
	free(error);
}

static void
bad(struct imap_session *s, const char *tag, const char *why)
{
	imap_tagged(s, tag, "BAD", "%s", why);
}

/* ------------------------------------------------------------------ */
/* LIST */

/* Wildcard match: '*' anything, '%' anything but '/'. */
static bool
pattern_match(const char *pat, const char *name)
{
	if (*pat == '\0')
		return *name == '\0';
	if (*pat == '*') {
		for (const char *n = name;; n++) {
			if (pattern_match(pat + 1, n))
				return true;
			if (*n == '\0')
				return false;
		}
	}
	if (*pat == '%') {
		for (const char *n = name;; n++) {
			if (pattern_match(pat + 1, n))
				return true;
			if (*n == '\0' || *n == '/')
				return false;
		}
	}
	return *name != '\0' && *pat == *name &&
	       pattern_match(pat + 1, name + 1);
}

/* Pattern for matching: decoded (rev1), INBOX upper-cased. NULL if bad. */
static char *
pattern_prepare(struct imap_session *s, const char *ref, const char *pat)
{
	char *joined = xasprintf("%s%s", ref, pat), *result;
	struct buf dec;
	const char *p = joined;

	buf_init(&dec);
	if (!s->rev2 && !s->utf8 && imap_utf7_decode(joined, &dec) == 0)
		p = buf_cstr(&dec);
	if (strncasecmp(p, "INBOX", 5) == 0 &&
	    (p[5] == '\0' || p[5] == '/' || p[5] == '*' || p[5] == '%'))
		result = xasprintf("INBOX%s", p + 5);
	else
		result = xstrdup(p);
	buf_free(&dec);
	free(joined);
	return result;
}

/* Wildcards cannot cross more levels than a pattern allows; a name with
 * more than 2000 levels would only come from a hostile CREATE, which the
 * store refuses (512 bytes). The recursion depth is bounded by the
 * pattern (from a bounded command) and the name. */

struct list_opts {
	bool subscribed_only, special_only, recursive;
	bool ret_subscribed, ret_children, ret_special, ret_status;
	const struct imap_arg *status_items;
};

static void status_line(struct imap_session *s, const char *name,
			const struct imap_arg *items);

static bool
has_children(const struct store_mailbox_info *list, size_t count,
	     const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < count; i++)
		if (strncmp(list[i].name, name, len) == 0 &&
		    list[i].name[len] == '/')
			return true;
	return false;
}

static int
list_parse_opts(const struct imap_arg *args, size_t count, size_t *pos,
		struct list_opts *o, bool *extended)
{
	size_t i = *pos;

	memset(o, 0, sizeof(*o));
	if (i < count && args[i].type == IMAP_ARG_LIST) {
		*extended = true;
		for (size_t k = 0; k < args[i].count; k++) {
			const struct imap_arg *a = &args[i].list[k];

			if (imap_arg_atom_is(a, "SUBSCRIBED"))
				o->subscribed_only = o->ret_subscribed = true;
			else if (imap_arg_atom_is(a, "SPECIAL-USE"))
				o->special_only = o->ret_special = true;
			else if (imap_arg_atom_is(a, "RECURSIVEMATCH"))
				o->recursive = true;
			else if (imap_arg_atom_is(a, "REMOTE"))
				;
			else
				return -1;
		}
		i++;
	}
	*pos = i;
	return 0;
}

static int
list_parse_return(const struct imap_arg *args, size_t count, size_t i,
		  struct list_opts *o)
{
	if (i == count)
		return 0;
	if (i + 2 != count || !imap_arg_atom_is(&args[i], "RETURN") ||
	    args[i + 1].type != IMAP_ARG_LIST)
		return -1;
	for (size_t k = 0; k < args[i + 1].count; k++) {
		const struct imap_arg *a = &args[i + 1].list[k];

		if (imap_arg_atom_is(a, "SUBSCRIBED"))
			o->ret_subscribed = true;
		else if (imap_arg_atom_is(a, "CHILDREN"))
			o->ret_children = true;
		else if (imap_arg_atom_is(a, "SPECIAL-USE"))
			o->ret_special = true;
		else if (imap_arg_atom_is(a, "STATUS") &&
			 k + 1 < args[i + 1].count &&
			 args[i + 1].list[k + 1].type == IMAP_ARG_LIST) {
			o->ret_status = true;
			o->status_items = &args[i + 1].list[++k];
		} else
			return -1;
	}
	return 0;
}

void
imap_cmd_list(struct imap_session *s, const struct imap_command *cmd, bool lsub)
{
	struct store_mailbox_info *list = NULL;
	struct list_opts o;
	const struct imap_arg *ref, *pats;
	size_t pos = 0, count = 0, npats;
	bool extended = false;
	char **prepared;
	char *error = NULL;

	if (!lsub &&
	    list_parse_opts(cmd->args, cmd->count, &pos, &o, &extended) < 0) {
		bad(s, cmd->tag, "Unknown LIST selection option");
		return;
	}
	if (lsub)
		memset(&o, 0, sizeof(o));
	if (pos + 2 > cmd->count || !imap_arg_is_string(&cmd->args[pos])) {
		bad(s, cmd->tag, "Syntax: LIST reference pattern");
		return;
	}
	ref = &cmd->args[pos];
	pats = &cmd->args[pos + 1];
	if (pats->type == IMAP_ARG_LIST) {
		extended = true;
		npats = pats->count;
		for (size_t k = 0; k < npats; k++)
			if (!imap_arg_is_string(&pats->list[k])) {
				bad(s, cmd->tag, "Bad pattern list");
				return;
			}
		pats = pats->list;
	} else if (imap_arg_is_string(pats)) {
		npats = 1;
	} else {
		bad(s, cmd->tag, "Syntax: LIST reference pattern");
		return;
	}
	if (!lsub &&
	    list_parse_return(cmd->args, cmd->count, pos + 2, &o) < 0) {
		bad(s, cmd->tag, "Bad LIST return options");
		return;
	}
	if (lsub && cmd->count != 2) {
		bad(s, cmd->tag, "Syntax: LSUB reference pattern");
		return;
	}
	if (npats == 1 && pats[0].len == 0 && !extended) {
		/* the delimiter and root */
		imap_printf(s, "* %s (\\Noselect) \"/\" \"\"",
			    lsub ? "LSUB" : "LIST");
		imap_tagged(s, cmd->tag, "OK", "%s completed", cmd->name);
		return;
	}
	if (store_mailbox_list(s->server->store, s->user, &list, &count,
			       &error) < 0) {
		store_failed(s, cmd->tag, error);
		return;
	}
	prepared = xcalloc(npats + 1, sizeof(*prepared));
	for (size_t k = 0; k < npats; k++)
		prepared[k] = pattern_prepare(s, ref->str, pats[k].str);
	for (size_t i = 0; i < count; i++) {
		const struct store_mailbox_info *m = &list[i];
		bool match = false, children;
		struct buf out;

		for (size_t k = 0; k < npats && !match; k++)
			match = pattern_match(prepared[k], m->name);
		if (!match)
			continue;
		if ((o.subscribed_only || lsub) && !m->subscribed)
			continue;
		if (o.special_only && m->special_use[0] == '\0')
			continue;
		children = has_children(list, count, m->name);
		buf_init(&out);
		buf_printf(&out, "* %s (", lsub ? "LSUB" : "LIST");
		buf_append_str(&out,
			       children ? "\\HasChildren" : "\\HasNoChildren");
		if (m->special_use[0] != '\0') {
			buf_append_char(&out, ' ');
			buf_append_str(&out, m->special_use);
		}
		if (o.ret_subscribed && m->subscribed)
			buf_append_str(&out, " \\Subscribed");
		buf_append_str(&out, ") \"/\" ");
		imap_append_mailbox(s, &out, m->name);
		imap_printf(s, "%s", buf_cstr(&out));
		buf_free(&out);
		if (o.ret_status)
			status_line(s, m->name, o.status_items);
	}
	for (size_t k = 0; k < npats; k++)
		free(prepared[k]);
	free(prepared);
	store_mailbox_info_free(list, count);
	imap_tagged(s, cmd->tag, "OK", "%s completed", cmd->name);
}

void
imap_cmd_namespace(struct imap_session *s, const struct imap_command *cmd)
{
	imap_printf(s, "* NAMESPACE ((\"\" \"/\")) NIL NIL");
	imap_tagged(s, cmd->tag, "OK", "NAMESPACE completed");
}

/* ------------------------------------------------------------------ */
/* CREATE, DELETE, RENAME, SUBSCRIBE */

static char *
mailbox_arg(struct imap_session *s, const struct imap_command *cmd, size_t i)
{
	const char *error = "mailbox name expected";
	char *name;

	if (i >= cmd->count) {
		bad(s, cmd->tag, error);
		return NULL;
	}
	name = imap_mailbox_arg(s, &cmd->args[i], &error);
	if (name == NULL)
		imap_tagged(s, cmd->tag, "NO", "[CANNOT] %s", error);
	return name;
}

void
imap_cmd_create(struct imap_session *s, const struct imap_command *cmd)
{
	const char *special = NULL;
	char *name, *error = NULL;

	if (cmd->count == 2 && cmd->args[1].type == IMAP_ARG_LIST &&
	    cmd->args[1].count == 2 &&
	    imap_arg_atom_is(&cmd->args[1].list[0], "USE") &&
	    cmd->args[1].list[1].type == IMAP_ARG_LIST &&
	    cmd->args[1].list[1].count == 1) {
		static const char *const uses[] = {
		    "\\All",  "\\Archive", "\\Drafts", "\\Flagged",
		    "\\Junk", "\\Sent",	   "\\Trash"};
		const struct imap_arg *u = &cmd->args[1].list[1].list[0];

		for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++)
			if (imap_arg_atom_is(u, uses[i]))
				special = uses[i];
		if (special == NULL) {
			imap_tagged(s, cmd->tag, "NO",
				    "[USEATTR] Unsupported special use");
			return;
		}
	} else if (cmd->count != 1) {
		bad(s, cmd->tag, "Syntax: CREATE mailbox");
		return;
	}
	name = mailbox_arg(s, cmd, 0);
	if (name == NULL)
		return;
	if (strcmp(name, "INBOX") == 0) {
		imap_tagged(s, cmd->tag, "NO",
			    "[ALREADYEXISTS] INBOX always exists");
	} else if (store_mailbox_create(s->server->store, s->user, name,
					special, &error) < 0) {
		store_failed(s, cmd->tag, error);
	} else {
		imap_tagged(s, cmd->tag, "OK", "CREATE completed");
	}
	free(name);
}

void
imap_cmd_delete(struct imap_session *s, const struct imap_command *cmd)
{
	char *name, *error = NULL;

	if (cmd->count != 1) {
		bad(s, cmd->tag, "Syntax: DELETE mailbox");
		return;
	}
	name = mailbox_arg(s, cmd, 0);
	if (name == NULL)
		return;
	if (s->view != NULL && strcmp(s->view->name, name) == 0) {
		/* deleting the selected mailbox: deselect it first */
		imap_view_free(&s->view);
		s->state = IMAP_STATE_AUTH;
	}
	if (store_mailbox_delete(s->server->store, s->user, name, &error) < 0)
		store_failed(s, cmd->tag, error);
	else
		imap_tagged(s, cmd->tag, "OK", "DELETE completed");
	free(name);
}

void
imap_cmd_rename(struct imap_session *s, const struct imap_command *cmd)
{
	char *from, *to, *error = NULL;

	if (cmd->count != 2) {
		bad(s, cmd->tag, "Syntax: RENAME from to");
		return;
	}
	from = mailbox_arg(s, cmd, 0);
	if (from == NULL)
		return;
	to = mailbox_arg(s, cmd, 1);
	if (to == NULL) {
		free(from);
		return;
	}
	if (store_mailbox_rename(s->server->store, s->user, from, to, &error) <
	    0) {
		store_failed(s, cmd->tag, error);
	} else {
		if (s->view != NULL && strcmp(s->view->name, from) == 0 &&
		    strcmp(from, "INBOX") != 0) {
			free(s->view->name);
			s->view->name = xstrdup(to);
		}
		imap_tagged(s, cmd->tag, "OK", "RENAME completed");
	}
	free(from);
	free(to);
}

void
imap_cmd_subscribe(struct imap_session *s, const struct imap_command *cmd,
		   bool subscribe)
{
	char *name, *error = NULL;

	if (cmd->count != 1) {
		bad(s, cmd->tag, "Syntax: SUBSCRIBE mailbox");
		return;
	}
	name = mailbox_arg(s, cmd, 0);
	if (name == NULL)
		return;
	if (store_mailbox_subscribe(s->server->store, s->user, name, subscribe,
				    &error) < 0)
		store_failed(s, cmd->tag, error);
	else
		imap_tagged(s, cmd->tag, "OK", "%s completed", cmd->name);
	free(name);
}

/* ------------------------------------------------------------------ */
/* STATUS */

static bool
status_items_valid(const struct imap_arg *items)
{
	static const char *const known[] = {
	    "MESSAGES", "UIDNEXT",	 "UIDVALIDITY", "UNSEEN",     "DELETED",
	    "SIZE",	"HIGHESTMODSEQ", "RECENT",	"APPENDLIMIT"};

	if (items->type != IMAP_ARG_LIST || items->count == 0)
		return false;
	for (size_t i = 0; i < items->count; i++) {
		bool ok = false;
		for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			if (imap_arg_atom_is(&items->list[i], known[k]))
				ok = true;
		if (!ok)
			return false;
	}
	return true;
}

/* "* STATUS name (...)"; false when the mailbox does not exist. */
static bool
status_write(struct imap_session *s, const char *name,
	     const struct imap_arg *items)
{
	struct store_mailbox_info info;
	char *error = NULL;
	struct buf out;
	int rc;

	rc = store_mailbox_get(s->server->store, s->user, name, &info, &error);
	if (rc <= 0) {
		free(error);
		return false;
	}
	buf_init(&out);
	buf_append_str(&out, "* STATUS ");
	imap_append_mailbox(s, &out, info.name);
	buf_append_str(&out, " (");
	for (size_t i = 0; i < items->count; i++) {
		const struct imap_arg *a = &items->list[i];

		if (i > 0)
			buf_append_char(&out, ' ');
		if (imap_arg_atom_is(a, "MESSAGES"))
			buf_printf(&out, "MESSAGES %u", info.messages);
		else if (imap_arg_atom_is(a, "UIDNEXT"))
			buf_printf(&out, "UIDNEXT %u", info.uidnext);
		else if (imap_arg_atom_is(a, "UIDVALIDITY"))
			buf_printf(&out, "UIDVALIDITY %u", info.uidvalidity);
		else if (imap_arg_atom_is(a, "UNSEEN"))
			buf_printf(&out, "UNSEEN %u", info.unseen);
		else if (imap_arg_atom_is(a, "DELETED"))
			buf_printf(&out, "DELETED %u", info.deleted);
		else if (imap_arg_atom_is(a, "SIZE"))
			buf_printf(&out, "SIZE %llu",
				   (unsigned long long)info.size);
		else if (imap_arg_atom_is(a, "HIGHESTMODSEQ"))
			buf_printf(&out, "HIGHESTMODSEQ %llu",
				   (unsigned long long)info.highestmodseq);
		else if (imap_arg_atom_is(a, "RECENT"))
			buf_append_str(&out, "RECENT 0");
		else if (imap_arg_atom_is(a, "APPENDLIMIT"))
			buf_printf(&out, "APPENDLIMIT %llu",
				   (unsigned long long)
				       s->server->cfg->max_message_size);
	}
	buf_append_char(&out, ')');
	imap_printf(s, "%s", buf_cstr(&out));
	buf_free(&out);
	store_mailbox_info_clear(&info);
	return true;
}

static void
status_line(struct imap_session *s, const char *name,
	    const struct imap_arg *items)
{
	if (status_items_valid(items))
		(void)status_write(s, name, items);
}

void
imap_cmd_status(struct imap_session *s, const struct imap_command *cmd)
{
	char *name;

	if (cmd->count != 2 || !status_items_valid(&cmd->args[1])) {
		bad(s, cmd->tag, "Syntax: STATUS mailbox (items)");
		return;
	}
	name = mailbox_arg(s, cmd, 0);
	if (name == NULL)
		return;
	if (!status_write(s, name, &cmd->args[1]))
		imap_tagged(s, cmd->tag, "NO", "[NONEXISTENT] No such mailbox");
	else
		imap_tagged(s, cmd->tag, "OK", "STATUS completed");
	free(name);
}

/* ------------------------------------------------------------------ */
/* SELECT / EXAMINE */

/* QRESYNC (uidvalidity modseq [known-uids ...]) */
static void
select_qresync(struct imap_session *s, const struct imap_arg *q)
{
	struct imap_view *v = s->view;
	uint64_t modseq;
	uint32_t validity;
	struct imap_seqset known;
	const char *error;
	uint32_t *vanished = NULL;
	size_t nvanished = 0;
	char *serror = NULL;
	bool have_known = false;

	if (q->count < 2 || q->list[0].type != IMAP_ARG_ATOM ||
	    q->list[1].type != IMAP_ARG_ATOM)
		return;
	validity = (uint32_t)strtoul(q->list[0].str, NULL, 10);
	modseq = strtoull(q->list[1].str, NULL, 10);
	if (validity != v->uidvalidity || modseq == 0)
		return;
	if (q->count >= 3 && q->list[2].type == IMAP_ARG_ATOM &&
	    imap_seqset_parse(q->list[2].str, &known, &error) == 0)
		have_known = true;
	if (store_expunged_since(s->server->store, s->user, v->name, modseq,
				 &vanished, &nvanished, &serror) == 0) {
		uint32_t *keep = xcalloc(nvanished + 1, sizeof(*keep));
		size_t n = 0;

		for (size_t i = 0; i < nvanished; i++)
			if (!have_known ||
			    imap_seqset_contains(&known, vanished[i],
						 UINT32_MAX - 1))
				keep[n++] = vanished[i];
		if (n > 0) {
			struct buf set;

			buf_init(&set);
			imap_seqset_format(keep, n, &set);
			imap_printf(s, "* VANISHED (EARLIER) %s",
				    buf_cstr(&set));
			buf_free(&set);
		}
		free(keep);
		free(vanished);
	} else {
		free(serror);
	}
	for (size_t i = 0; i < v->count; i++) {
		const struct imap_msg *m = &v->msgs[i];
		struct buf out;

		if (m->modseq <= modseq)
			continue;
		buf_init(&out);
		buf_printf(&out, "* %zu FETCH (UID %u FLAGS ", i + 1, m->uid);
		imap_append_flags(&out, m->flags);
		buf_printf(&out, " MODSEQ (%llu))",
			   (unsigned long long)m->modseq);
		imap_printf(s, "%s", buf_cstr(&out));
		buf_free(&out);
	}
	if (have_known)
		imap_seqset_free(&known);
}

void
imap_cmd_select(struct imap_session *s, const struct imap_command *cmd,
		bool readonly)
{
	const struct imap_arg *qresync = NULL;
	struct imap_view *v = NULL;
	size_t first_unseen = 0;
	struct buf out;
	char *name;
	int rc;

	if (cmd->count < 1 || cmd->count > 2 ||
	    (cmd->count == 2 && cmd->args[1].type != IMAP_ARG_LIST)) {
		bad(s, cmd->tag, "Syntax: SELECT mailbox [(params)]");
		return;
	}
	if (cmd->count == 2) {
		const struct imap_arg *p = &cmd->args[1];

		for (size_t i = 0; i < p->count; i++) {
			if (imap_arg_atom_is(&p->list[i], "CONDSTORE")) {
				s->condstore = true;
			} else if (imap_arg_atom_is(&p->list[i], "QRESYNC") &&
				   i + 1 < p->count &&
				   p->list[i + 1].type == IMAP_ARG_LIST) {
				if (!s->qresync) {
					bad(s, cmd->tag,
					    "ENABLE QRESYNC first");
					return;
				}
				qresync = &p->list[++i];
			} else {
				bad(s, cmd->tag, "Unknown SELECT parameter");
				return;
			}
		}
	}
	name = mailbox_arg(s, cmd, 0);
	if (name == NULL)
		return;
	if (s->view != NULL) {
		imap_view_free(&s->view);
		s->state = IMAP_STATE_AUTH;
		if (s->qresync)
			imap_printf(s, "* OK [CLOSED] Previous mailbox closed");
	}
	rc = imap_view_open(s, name, readonly, &v);
	free(name);
	if (rc <= 0) {
		imap_tagged(s, cmd->tag, "NO",
			    rc == 0 ? "[NONEXISTENT] No such mailbox"
				    : "[SERVERBUG] Internal error");
		return;
	}
	s->view = v;
	s->state = IMAP_STATE_SELECTED;
	s->pending_changes = false;
	x_free(&s->searchres);
	s->nsearchres = 0;
	imap_printf(s, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
		       "\\Draft $Forwarded $Junk $NotJunk)");
	imap_printf(s, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted "
		       "\\Seen \\Draft $Forwarded $Junk $NotJunk \\*)] Flags "
		       "permitted");
	imap_printf(s, "* %zu EXISTS", v->count);
	if (!s->rev2) {
		imap_printf(s, "* 0 RECENT");
		for (size_t i = 0; i < v->count && first_unseen == 0; i++)
			if (strstr(v->msgs[i].flags, "\\Seen") == NULL)
				first_unseen = i + 1;
		if (first_unseen > 0)
			imap_printf(s, "* OK [UNSEEN %zu] First unseen",
				    first_unseen);
	}
	imap_printf(s, "* OK [UIDVALIDITY %u] UIDs valid", v->uidvalidity);
	imap_printf(s, "* OK [UIDNEXT %u] Predicted next UID", v->uidnext);
	imap_printf(s, "* OK [HIGHESTMODSEQ %llu] Highest",
		    (unsigned long long)v->highestmodseq);
	if (s->rev2) {
		buf_init(&out);
		buf_append_str(&out, "* LIST () \"/\" ");
		imap_append_mailbox(s, &out, v->name);
		imap_printf(s, "%s", buf_cstr(&out));
		buf_free(&out);
	}
	if (qresync != NULL)
		select_qresync(s, qresync);
	imap_tagged(s, cmd->tag, "OK", "[%s] %s completed",
		    v->readonly ? "READ-ONLY" : "READ-WRITE", cmd->name);
}

/* ------------------------------------------------------------------ */
/* APPEND */

/* Validates a flag list into "a b c"; false when a flag is invalid. */
static bool
flags_from_list(const struct imap_arg *list, struct buf *out)
{
	static const char *const system[] = {
	    "\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"};

	for (size_t i = 0; i < list->count; i++) {
		const struct imap_arg *a = &list->list[i];
		bool ok = false;

		if (a->type != IMAP_ARG_ATOM)
			return false;
		if (a->str[0] == '\\') {
			for (size_t k = 0;
			     k < sizeof(system) / sizeof(system[0]); k++)
				if (strcasecmp(a->str, system[k]) == 0)
					ok = true;
		} else {
			ok = strpbrk(a->str, "[]*%\\") == NULL && a->len <= 64;
		}
		if (!ok)
			return false;
		if (out->len > 0)
			buf_append_char(out, ' ');
		buf_append_str(out, a->str);
	}
	return true;
}

struct append_msg {
	const struct imap_arg *data;
	char *flags;
	time_t date;
};

/* Parses the [(flags)] [date] literal groups from args[1] on (MULTIAPPEND,
 * RFC 3502: one or more). Returns the count, or 0 with *error_r. */
static size_t
append_parse(const struct imap_command *cmd, struct append_msg **msgs_r,
	     const char **error_r)
{
	struct append_msg *msgs = xcalloc(cmd->count, sizeof(*msgs));
	size_t i = 1, n = 0;

	while (i < cmd->count) {
		struct append_msg *m = &msgs[n];
		struct buf flags;

		buf_init(&flags);
		m->date = time(NULL);
		if (cmd->args[i].type == IMAP_ARG_LIST) {
			if (!flags_from_list(&cmd->args[i], &flags)) {
				buf_free(&flags);
				*error_r = "Invalid flag";
				goto fail;
			}
			i++;
		}
		m->flags = buf_detach(&flags);
		n++;
		if (i < cmd->count && cmd->args[i].type == IMAP_ARG_QUOTED) {
			if (imap_parse_datetime(cmd->args[i].str, &m->date) <
			    0) {
				*error_r = "Invalid date-time";
				goto fail;
			}
			i++;
		}
		if (i >= cmd->count || cmd->args[i].type != IMAP_ARG_LITERAL) {
			*error_r = "Syntax: APPEND mailbox [(flags)] [date] "
				   "literal ...";
			goto fail;
		}
		m->data = &cmd->args[i++];
	}
	if (n == 0) {
		*error_r = "Syntax: APPEND mailbox [(flags)] [date] literal";
		goto fail;
	}
	*msgs_r = msgs;
	return n;
fail:
	for (size_t k = 0; k < n; k++)
		free(msgs[k].flags);
	free(msgs);
	return 0;
}

void
imap_cmd_append(struct imap_session *s, const struct imap_command *cmd)
{
	struct store_mailbox_info info;
	struct append_msg *msgs = NULL;
	uint32_t *uids;
	const char *perror;
	char *name, *error = NULL;
	size_t n, done = 0;
	int rc = 1;

	if (cmd->count < 2 || (n = append_parse(cmd, &msgs, &perror)) == 0) {
		bad(s, cmd->tag,
		    cmd->count < 2 ? "Syntax: APPEND mailbox [(flags)] [date] "
				     "literal"
				   : perror);
		return;
	}
	uids = xcalloc(n, sizeof(*uids));
	name = mailbox_arg(s, cmd, 0);
	if (name == NULL)
		goto out;
	rc = store_mailbox_get(s->server->store, s->user, name, &info, &error);
	if (rc <= 0) {
		if (rc == 0)
			imap_tagged(s, cmd->tag, "NO",
				    "[TRYCREATE] No such mailbox");
		else
			store_failed(s, cmd->tag, error);
		goto out;
	}
	/* All or nothing: one store transaction for every message. */
	if (store_begin(s->server->store, &error) < 0) {
		store_failed(s, cmd->tag, error);
		store_mailbox_info_clear(&info);
		goto out;
	}
	for (done = 0; done < n; done++) {
		struct store_delivery d;
		const struct imap_arg *data = msgs[done].data;
		int fd = memfd_create("imap-append", MFD_CLOEXEC);

		if (fd < 0 ||
		    (data->len > 0 &&
		     write(fd, data->str, data->len) != (ssize_t)data->len)) {
			if (fd >= 0)
				close(fd);
			rc = -1;
			error = xstrdup("writing the message to memory");
			break;
		}
		memset(&d, 0, sizeof(d));
		d.user = s->user;
		d.mailbox = info.name;
		d.fd = fd;
		d.size = data->len;
		d.internal_date = msgs[done].date;
		d.flags = msgs[done].flags;
		rc = store_deliver(s->server->store, &d, &uids[done], &error);
		close(fd); /* the store copied it */
		if (rc != 1)
			break;
	}
	if (done < n) {
		store_rollback(s->server->store);
		if (rc == 2) {
			free(error);
			imap_tagged(s, cmd->tag, "NO",
				    "[OVERQUOTA] Quota exceeded");
		} else {
			store_failed(s, cmd->tag, error);
		}
	} else if (store_commit(s->server->store, &error) < 0) {
		store_failed(s, cmd->tag, error);
	} else {
		struct train_batch *train = NULL;
		struct buf set;

		if (s->server->train != NULL &&
		    imap_train_copy_class(NULL, info.special_use) ==
			TRAIN_SPAM) {
			train = imap_train_begin(s, info.name, TRAIN_SPAM,
						 TRAIN_REASON_APPEND);
			for (size_t k = 0; train != NULL && k < n; k++)
				imap_train_add(s, train, uids[k], NULL,
					       msgs[k].data->str,
					       msgs[k].data->len);
			imap_train_finish(s, &train, true);
		}
		if (s->view != NULL && strcmp(s->view->name, info.name) == 0)
			imap_view_sync(s, true);
		buf_init(&set);
		imap_seqset_format(uids, n, &set);
		imap_tagged(s, cmd->tag, "OK",
			    "[APPENDUID %u %s] APPEND completed",
			    info.uidvalidity, buf_cstr(&set));
		buf_free(&set);
	}
	store_mailbox_info_clear(&info);
out:
	free(name);
	free(uids);
	for (size_t k = 0; k < n; k++)
		free(msgs[k].flags);
	free(msgs);
}

/* ------------------------------------------------------------------ */
/* QUOTA (RFC 9208) */

void
imap_cmd_getquota(struct imap_session *s, const struct imap_command *cmd,
		  bool root)
{
	uint64_t bytes = 0, msgs = 0, limit = store_get_quota(s->server->store);
	char *error = NULL;

	if (cmd->count != 1 || !imap_arg_is_string(&cmd->args[0])) {
		bad(s, cmd->tag,
		    root ? "Syntax: GETQUOTAROOT mailbox"
			 : "Syntax: GETQUOTA root");
		return;
	}
	if (root) {
		struct buf out;
		char *name = mailbox_arg(s, cmd, 0);

		if (name == NULL)
			return;
		buf_init(&out);
		buf_append_str(&out, "* QUOTAROOT ");
		imap_append_mailbox(s, &out, name);
		buf_append_str(&out, " \"\"");
		imap_printf(s, "%s", buf_cstr(&out));
		buf_free(&out);
		free(name);
	} else if (cmd->args[0].len != 0) {
		imap_tagged(s, cmd->tag, "NO",
			    "[NONEXISTENT] No such quota "
			    "root");
		return;
	}
	if (store_quota_usage(s->server->store, s->user, &bytes, &msgs,
			      &error) < 0) {
		store_failed(s, cmd->tag, error);
		return;
	}
	if (limit > 0)
		imap_printf(s, "* QUOTA \"\" (STORAGE %llu %llu)",
			    (unsigned long long)((bytes + 1023) / 1024),
			    (unsigned long long)(limit / 1024));
	imap_tagged(s, cmd->tag, "OK", "%s completed", cmd->name);
}
