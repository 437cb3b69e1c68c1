/*
 * store_qbox: the per-user "Quarantine" mailbox (see store_qbox.h). It has
 * no rows of its own: its UIDVALIDITY is the quarantine's, its UIDs are
 * entry ids (unique and never reused across the whole quarantine, so
 * UIDNEXT only grows), its messages are the entries whose recipient is the
 * user (case-insensitive), each read from the shared message file; every
 * add and removal bumps a modseq the quarantine keeps, and removals are
 * remembered for QRESYNC (VANISHED). It
 * holds no flags and takes no writes: STORE, EXPUNGE, APPEND and COPY into
 * it are refused by store.c; COPY or MOVE out of it is a release for this
 * user (delivered into the target mailbox like the queue delivers, then
 * the entry goes). Another user's entry is never visible: every lookup
 * checks the recipient.
 */
#include "mailstore/store_qbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/xalloc.h"
#include "mailstore/msg_structure.h"
#include "mailstore/store_private.h"

bool
store_qbox_is(const char *mailbox)
{
	return mailbox != NULL &&
	       strcmp(mailbox, STORE_QUARANTINE_MAILBOX) == 0;
}

/* Whether users may see entry e (store_set_quarantine_user_filters). */
static bool
user_visible(const struct store *store, const struct store_quarantine_entry *e)
{
	const struct str_list *f = store->qbox_filters;

	if (f == NULL)
		return true;
	for (size_t i = 0; i < f->count; i++)
		if (strcasecmp(f->items[i], e->by) == 0)
			return true;
	return false;
}

/* The user's entries, without the ones users may not see. */
static int
visible_list(struct store *store, const char *user,
	     struct store_quarantine_entry **list_r, size_t *count_r,
	     char **error_r)
{
	size_t keep = 0;

	if (store_quarantine_list(store, user, NULL, list_r, count_r, error_r) <
	    0)
		return -1;
	for (size_t i = 0; i < *count_r; i++) {
		if (user_visible(store, &(*list_r)[i]))
			(*list_r)[keep++] = (*list_r)[i];
		else
			store_quarantine_entry_clear(&(*list_r)[i]);
	}
	*count_r = keep;
	return 0;
}

/* The user's entry uid: 1 (entry_r filled), 0 (none for this user, or not
 * for users to see), -1. */
static int
entry_of(struct store *store, const char *user, uint32_t uid,
	 struct store_quarantine_entry *entry_r, char **error_r)
{
	int rc = store_quarantine_get(store, uid, entry_r, error_r);

	if (rc == 1 && (strcasecmp(entry_r->rcpt, user) != 0 ||
			!user_visible(store, entry_r))) {
		store_quarantine_entry_clear(entry_r);
		rc = 0;
	}
	return rc;
}

int
store_qbox_info(struct store *store, const char *user, bool counters,
		struct store_mailbox_info *info_r, char **error_r)
{
	struct store_quarantine_entry *list = NULL;
	size_t count = 0;

	memset(info_r, 0, sizeof(*info_r));
	if (store_quarantine_status(store, &info_r->uidvalidity,
				    &info_r->uidnext, &info_r->highestmodseq,
				    error_r) < 0)
		return -1;
	info_r->name = xstrdup(STORE_QUARANTINE_MAILBOX);
	info_r->special_use = xstrdup("");
	info_r->subscribed = true;
	info_r->readonly = true;
	if (!counters)
		return 0;
	if (visible_list(store, user, &list, &count, error_r) < 0) {
		store_mailbox_info_clear(info_r);
		return -1;
	}
	info_r->messages = (uint32_t)count;
	info_r->unseen = (uint32_t)count;
	for (size_t i = 0; i < count; i++)
		info_r->size += list[i].size;
	store_quarantine_entries_free(list, count);
	return 0;
}

int
store_qbox_list(struct store *store, const char *user,
		struct store_message_info **messages_r, size_t *count_r,
		char **error_r)
{
	struct store_quarantine_entry *list = NULL;
	struct store_message_info *out;
	size_t count = 0;

	if (visible_list(store, user, &list, &count, error_r) < 0)
		return -1;
	out = xcalloc(count + 1, sizeof(*out));
	for (size_t i = 0; i < count; i++) {
		out[i].uid = (uint32_t)list[i].id;
		out[i].modseq = list[i].modseq;
		out[i].size = list[i].size;
		out[i].internal_date = list[i].received;
		out[i].saved_date = list[i].received;
		out[i].flags = xstrdup("");
		out[i].path = list[i].path;
		list[i].path = NULL;
	}
	store_quarantine_entries_free(list, count);
	*messages_r = out;
	*count_r = count;
	return 0;
}

int
store_qbox_structure(struct store *store, const char *user, uint32_t uid,
		     struct msg_structure **s_r, char **error_r)
{
	struct store_quarantine_entry e;
	int rc = entry_of(store, user, uid, &e, error_r);

	if (rc <= 0)
		return rc;
	rc = msg_structure_parse_file(e.path, s_r, error_r) < 0 ? -1 : 1;
	store_quarantine_entry_clear(&e);
	return rc;
}

/* Delivers one entry into mailbox to (the transaction is open). 1, 2 over
 * quota, -1. */
static int
release_one(struct store *store, const char *user, const char *to,
	    const struct store_quarantine_entry *e, uint32_t *uid_r,
	    char **error_r)
{
	struct store_delivery d;
	struct stat st;
	char date[64], *prefix, *key;
	struct tm tm;
	time_t now = time(NULL);
	int fd, rc;

	fd = open(e->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		*error_r = xasprintf("%s: %s", e->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	prefix = xasprintf("Return-Path: <%s>\r\nX-Moat-Released: by %s via "
			   "IMAP (quarantine %s); %s\r\n",
			   e->mail_from, user, e->qid, date);
	key =
	    xasprintf("quarantine/%s/%llu", e->qid, (unsigned long long)e->id);
	memset(&d, 0, sizeof(d));
	d.user = user;
	d.mailbox = to;
	d.key = key;
	d.prefix = prefix;
	d.prefix_len = strlen(prefix);
	d.fd = fd;
	d.size = (size_t)st.st_size;
	d.internal_date = e->received;
	rc = store_deliver(store, &d, uid_r, error_r);
	close(fd);
	free(prefix);
	free(key);
	return rc;
}

int
store_qbox_release(struct store *store, const char *user, const char *to,
		   const uint32_t *uids, size_t count, uint32_t **new_uids_r,
		   uint32_t *uidvalidity_r, char **error_r)
{
	struct store_mailbox_info info;
	uint32_t *new_uids = xcalloc(count + 1, sizeof(*new_uids));
	uint64_t *gone = xcalloc(count + 1, sizeof(*gone));
	size_t ngone = 0;
	int rc;

	rc = store_mailbox_get(store, user, to, &info, error_r);
	if (rc <= 0) {
		if (rc == 0)
			*error_r = xstrdup("[TRYCREATE] no such mailbox");
		goto fail;
	}
	if (store_begin(store, error_r) < 0) {
		store_mailbox_info_clear(&info);
		goto fail;
	}
	for (size_t i = 0; i < count; i++) {
		struct store_quarantine_entry e;

		rc = entry_of(store, user, uids[i], &e, error_r);
		if (rc == 0)
			continue;
		if (rc == 1) {
			rc = release_one(store, user, info.name, &e,
					 &new_uids[i], error_r);
			if (rc == 0) /* delivered before a crash */
				rc = 1;
			store_quarantine_entry_clear(&e);
		}
		if (rc != 1) {
			if (rc == 2) {
				free(*error_r);
				*error_r =
				    xstrdup("[OVERQUOTA] Quota exceeded");
			}
			store_rollback(store);
			store_mailbox_info_clear(&info);
			goto fail;
		}
		gone[ngone++] = uids[i];
	}
	if (store_commit(store, error_r) < 0) {
		store_mailbox_info_clear(&info);
		goto fail;
	}
	*uidvalidity_r = info.uidvalidity;
	store_mailbox_info_clear(&info);
	/* Delivered durably: the entries may go (a crash before this leaves
	 * them, and a second release finds the delivery key). */
	if (ngone > 0 &&
	    store_quarantine_remove(store, gone, ngone, error_r) < 0) {
		free(gone);
		free(new_uids);
		return -1;
	}
	free(gone);
	*new_uids_r = new_uids;
	return 0;
fail:
	free(gone);
	free(new_uids);
	return -1;
}
