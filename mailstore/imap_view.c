/*
 * imap_view: the selected mailbox as one session sees it. Sequence numbers
 * are positions in msgs[] (ascending UIDs). The view changes only when the
 * session may be told: imap_view_sync() re-reads the mailbox from the store
 * and announces what changed since the last look (new messages as EXISTS,
 * flag changes as FETCH with UID and, under CONDSTORE, MODSEQ, removed
 * messages as EXPUNGE or, under QRESYNC, VANISHED). While EXPUNGE may not
 * be sent (during FETCH, STORE, SEARCH), removed messages stay in the view
 * marked gone, so sequence numbers do not move under the client.
 *
 * Called by imap_session (before commands, NOOP, IDLE, on notifications),
 * imap_mailbox (SELECT) and imap_fetch (after STORE/EXPUNGE/COPY).
 */
#include "mailstore/imap_private.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "mailstore/store.h"

static void
msg_clear(struct imap_msg *m)
{
	x_free(&m->flags);
	x_free(&m->path);
}

void
imap_view_free(struct imap_view **view)
{
	struct imap_view *v = *view;

	if (v == NULL)
		return;
	for (size_t i = 0; i < v->count; i++)
		msg_clear(&v->msgs[i]);
	free(v->msgs);
	free(v->name);
	free(v->special_use);
	free(v);
	*view = NULL;
}

/* Moves a store listing into imap_msg entries (taking its strings). */
static void
msg_take(struct imap_msg *m, struct store_message_info *info)
{
	m->uid = info->uid;
	m->gone = false;
	m->modseq = info->modseq;
	m->size = info->size;
	m->internal_date = info->internal_date;
	m->saved_date = info->saved_date;
	m->flags = info->flags;
	m->path = info->path;
	info->flags = NULL;
	info->path = NULL;
}

int
imap_view_open(struct imap_session *s, const char *name, bool readonly,
	       struct imap_view **view_r)
{
	struct store_mailbox_info info;
	struct store_message_info *list = NULL;
	struct imap_view *v;
	size_t count = 0;
	char *error = NULL;
	int rc;

	rc = store_mailbox_get(s->server->store, s->user, name, &info, &error);
	if (rc <= 0) {
		if (rc < 0) {
			log_errorx("session=%s event=store_error error=\"%s\"",
				   s->id, error);
			free(error);
		}
		return rc;
	}
	if (store_list(s->server->store, s->user, info.name, &list, &count,
		       &error) < 0) {
		log_errorx("session=%s event=store_error error=\"%s\"", s->id,
			   error);
		free(error);
		store_mailbox_info_clear(&info);
		return -1;
	}
	v = xcalloc(1, sizeof(*v));
	v->name = info.name;
	info.name = NULL;
	v->special_use =
	    xstrdup(info.special_use != NULL ? info.special_use : "");
	v->readonly = readonly || info.readonly; /* Quarantine */
	v->uidvalidity = info.uidvalidity;
	v->uidnext = info.uidnext;
	v->highestmodseq = info.highestmodseq;
	v->msgs = xcalloc(count + 1, sizeof(*v->msgs));
	v->alloc = count + 1;
	for (size_t i = 0; i < count; i++)
		msg_take(&v->msgs[v->count++], &list[i]);
	store_message_info_free(list, count);
	store_mailbox_info_clear(&info);
	*view_r = v;
	return 1;
}

bool
imap_view_is_quarantine(const struct imap_view *view)
{
	return view != NULL &&
	       strcmp(view->name, STORE_QUARANTINE_MAILBOX) == 0;
}

long
imap_view_find_uid(const struct imap_view *view, uint32_t uid)
{
	size_t lo = 0, hi = view->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (view->msgs[mid].uid == uid)
			return (long)mid;
		if (view->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

void
imap_append_flags(struct buf *out, const char *flags)
{
	buf_append_char(out, '(');
	buf_append_str(out, flags != NULL ? flags : "");
	buf_append_char(out, ')');
}

static void
announce_fetch(struct imap_session *s, size_t index)
{
	const struct imap_msg *m = &s->view->msgs[index];
	struct buf out;

	buf_init(&out);
	buf_printf(&out, "* %zu FETCH (UID %u FLAGS ", index + 1, m->uid);
	imap_append_flags(&out, m->flags);
	if (s->condstore)
		buf_printf(&out, " MODSEQ (%llu)",
			   (unsigned long long)m->modseq);
	buf_append_str(&out, ")");
	imap_printf(s, "%s", buf_cstr(&out));
	buf_free(&out);
}

/* Removes every gone message, announcing it. */
static void
announce_gone(struct imap_session *s)
{
	struct imap_view *v = s->view;
	uint32_t *uids = NULL;
	size_t n = 0, w = 0;

	if (s->qresync)
		uids = xcalloc(v->count + 1, sizeof(*uids));
	/* From the end, so earlier sequence numbers stay valid. */
	for (size_t i = v->count; i-- > 0;) {
		if (!v->msgs[i].gone)
			continue;
		if (s->qresync)
			uids[n++] = v->msgs[i].uid;
		else
			imap_printf(s, "* %zu EXPUNGE", i + 1);
	}
	for (size_t i = 0; i < v->count; i++) {
		if (v->msgs[i].gone)
			msg_clear(&v->msgs[i]);
		else
			v->msgs[w++] = v->msgs[i];
	}
	v->count = w;
	if (s->qresync && n > 0) {
		struct buf set;

		/* collected in descending order */
		for (size_t i = 0; i < n / 2; i++) {
			uint32_t t = uids[i];
			uids[i] = uids[n - 1 - i];
			uids[n - 1 - i] = t;
		}
		buf_init(&set);
		imap_seqset_format(uids, n, &set);
		imap_printf(s, "* VANISHED %s", buf_cstr(&set));
		buf_free(&set);
	}
	free(uids);
}

void
imap_view_expunged(struct imap_session *s, const uint32_t *uids, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		long idx = imap_view_find_uid(s->view, uids[i]);
		if (idx >= 0)
			s->view->msgs[idx].gone = true;
	}
	announce_gone(s);
}

void
imap_view_sync(struct imap_session *s, bool allow_expunge)
{
	struct imap_view *v = s->view;
	struct store_message_info *list = NULL;
	size_t count = 0, i = 0, j = 0, old_count;
	bool any_gone = false;
	char *error = NULL;

	if (v == NULL)
		return;
	s->pending_changes = false;
	if (store_list(s->server->store, s->user, v->name, &list, &count,
		       &error) < 0) {
		log_errorx("session=%s event=store_error error=\"%s\"", s->id,
			   error);
		free(error);
		return;
	}
	old_count = v->count;
	/* Merge: both are in ascending UID order. */
	while (i < old_count) {
		struct imap_msg *m = &v->msgs[i];

		while (j < count && list[j].uid < m->uid)
			j++; /* a new UID below an old one cannot happen */
		if (j < count && list[j].uid == m->uid) {
			if (!m->gone &&
			    (list[j].modseq != m->modseq ||
			     strcmp(list[j].flags, m->flags) != 0)) {
				free(m->flags);
				m->flags = list[j].flags;
				list[j].flags = NULL;
				m->modseq = list[j].modseq;
				announce_fetch(s, i);
			}
			j++;
		} else if (!m->gone) {
			m->gone = true;
		}
		if (m->gone)
			any_gone = true;
		i++;
	}
	if (any_gone && allow_expunge)
		announce_gone(s);
	/* New messages: UIDs above the last one we had. */
	{
		uint32_t last = old_count > 0 ? v->msgs[old_count - 1].uid : 0;
		size_t added = 0;

		for (size_t k = 0; k < count; k++) {
			if (list[k].uid <= last)
				continue;
			if (v->count == v->alloc) {
				v->alloc = v->alloc * 2 + 16;
				v->msgs = xreallocarray(v->msgs, v->alloc,
							sizeof(*v->msgs));
			}
			msg_take(&v->msgs[v->count++], &list[k]);
			if (list[k].uid >= v->uidnext)
				v->uidnext = list[k].uid + 1;
			added++;
		}
		if (added > 0)
			imap_printf(s, "* %zu EXISTS", v->count);
	}
	for (size_t k = 0; k < v->count; k++)
		if (v->msgs[k].modseq > v->highestmodseq)
			v->highestmodseq = v->msgs[k].modseq;
	store_message_info_free(list, count);
}

int
imap_view_resolve(struct imap_session *s, const char *text, bool uid,
		  size_t **indexes_r, size_t *count_r, const char **error_r)
{
	struct imap_view *v = s->view;
	struct imap_seqset set;
	size_t *idx, n = 0;

	if (imap_seqset_parse(text, &set, error_r) < 0)
		return -1;
	idx = xcalloc(v->count + 1, sizeof(*idx));
	if (set.saved) {
		for (size_t i = 0; i < s->nsearchres; i++) {
			long k = imap_view_find_uid(v, s->searchres[i]);
			if (k >= 0)
				idx[n++] = (size_t)k;
		}
		/* searchres is ascending, so idx is too */
	} else if (uid) {
		uint32_t max = v->count > 0 ? v->msgs[v->count - 1].uid : 0;

		for (size_t i = 0; i < v->count; i++)
			if (imap_seqset_contains(&set, v->msgs[i].uid, max))
				idx[n++] = i;
	} else {
		uint32_t max = (uint32_t)v->count;

		for (size_t r = 0; r < set.count; r++) {
			if ((set.ranges[r].lo > max &&
			     set.ranges[r].lo != IMAP_SEQ_STAR) ||
			    (set.ranges[r].hi > max &&
			     set.ranges[r].hi != IMAP_SEQ_STAR) ||
			    max == 0) {
				imap_seqset_free(&set);
				free(idx);
				*error_r = "Invalid message sequence number";
				return -1;
			}
		}
		for (size_t i = 0; i < v->count; i++)
			if (imap_seqset_contains(&set, (uint32_t)(i + 1), max))
				idx[n++] = i;
	}
	imap_seqset_free(&set);
	*indexes_r = idx;
	*count_r = n;
	return 0;
}
