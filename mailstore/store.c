/*
 * store: the backend-neutral entry points of the message store. Each call
 * dispatches through the table of operations of the store's backend; only
 * the embedded backend (files + SQLite) exists so far. The per-user
 * "Quarantine" mailbox is composed here for every backend (store_qbox.c):
 * calls naming it go there instead of the backend's mailbox operations.
 */
#include "mailstore/store_private.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "lib/config.h"
#include "lib/xalloc.h"
#include "mailstore/store_qbox.h"

#define QBOX_CANNOT   "[CANNOT] Quarantine is managed by the mail system"
#define QBOX_READONLY "[READ-ONLY] Quarantine is read-only"

int
store_open(const char *data_dir, struct store **store_r, char **error_r)
{
	return store_backend_embedded.open(data_dir, store_r, error_r);
}

void
store_close(struct store **store)
{
	if (*store == NULL)
		return;
	(*store)->backend->close(*store);
	*store = NULL;
}

int
store_user_create(struct store *store, const char *user, char **error_r)
{
	return store->backend->user_create(store, user, error_r);
}

int
store_user_delete(struct store *store, const char *user, char **error_r)
{
	return store->backend->user_delete(store, user, error_r);
}

int
store_begin(struct store *store, char **error_r)
{
	return store->backend->begin(store, error_r);
}

int
store_deliver(struct store *store, const struct store_delivery *d,
	      uint32_t *uid_r, char **error_r)
{
	if (store_qbox_is(d->mailbox)) {
		*error_r = xstrdup(QBOX_CANNOT);
		return -1;
	}
	return store->backend->deliver(store, d, uid_r, error_r);
}

int
store_commit(struct store *store, char **error_r)
{
	return store->backend->commit(store, error_r);
}

void
store_rollback(struct store *store)
{
	store->backend->rollback(store);
}

int
store_list(struct store *store, const char *user, const char *mailbox,
	   struct store_message_info **messages_r, size_t *count_r,
	   char **error_r)
{
	if (store_qbox_is(mailbox))
		return store_qbox_list(store, user, messages_r, count_r,
				       error_r);
	return store->backend->list(store, user, mailbox, messages_r, count_r,
				    error_r);
}

void
store_message_info_free(struct store_message_info *messages, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(messages[i].flags);
		free(messages[i].path);
	}
	free(messages);
}

void
store_set_quota(struct store *store, uint64_t bytes)
{
	store->quota = bytes;
}

void
store_set_quarantine_user_filters(struct store *store,
				  const struct str_list *filters)
{
	store->qbox_filters = filters;
}

uint64_t
store_get_quota(const struct store *store)
{
	return store->quota;
}

int
store_quota_usage(struct store *store, const char *user, uint64_t *bytes_r,
		  uint64_t *messages_r, char **error_r)
{
	return store->backend->quota_usage(store, user, bytes_r, messages_r,
					   error_r);
}

int
store_mailbox_list(struct store *store, const char *user,
		   struct store_mailbox_info **list_r, size_t *count_r,
		   char **error_r)
{
	struct store_mailbox_info *list = NULL, q;
	size_t count = 0, at = 0;

	if (store->backend->mailbox_list(store, user, &list, &count, error_r) <
	    0)
		return -1;
	if (store_qbox_info(store, user, false, &q, error_r) < 0) {
		store_mailbox_info_free(list, count);
		return -1;
	}
	/* In name order; it hides a stored mailbox of the same name. */
	while (at < count && strcmp(list[at].name, q.name) < 0)
		at++;
	if (at < count && strcmp(list[at].name, q.name) == 0) {
		store_mailbox_info_clear(&list[at]);
	} else {
		list = xreallocarray(list, count + 1, sizeof(*list));
		memmove(&list[at + 1], &list[at], (count - at) * sizeof(*list));
		count++;
	}
	list[at] = q;
	*list_r = list;
	*count_r = count;
	return 0;
}

void
store_mailbox_info_clear(struct store_mailbox_info *info)
{
	x_free(&info->name);
	x_free(&info->special_use);
}

void
store_mailbox_info_free(struct store_mailbox_info *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		store_mailbox_info_clear(&list[i]);
	free(list);
}

int
store_mailbox_get(struct store *store, const char *user, const char *name,
		  struct store_mailbox_info *info_r, char **error_r)
{
	if (store_qbox_is(name))
		return store_qbox_info(store, user, true, info_r, error_r) < 0
			   ? -1
			   : 1;
	return store->backend->mailbox_get(store, user, name, info_r, error_r);
}

int
store_mailbox_create(struct store *store, const char *user, const char *name,
		     const char *special_use, char **error_r)
{
	if (store_qbox_is(name)) {
		*error_r = xstrdup(QBOX_CANNOT);
		return -1;
	}
	return store->backend->mailbox_create(store, user, name, special_use,
					      error_r);
}

int
store_mailbox_delete(struct store *store, const char *user, const char *name,
		     char **error_r)
{
	if (store_qbox_is(name)) {
		*error_r = xstrdup(QBOX_CANNOT);
		return -1;
	}
	return store->backend->mailbox_delete(store, user, name, error_r);
}

int
store_mailbox_rename(struct store *store, const char *user, const char *from,
		     const char *to, char **error_r)
{
	if (store_qbox_is(from) || store_qbox_is(to)) {
		*error_r = xstrdup(QBOX_CANNOT);
		return -1;
	}
	return store->backend->mailbox_rename(store, user, from, to, error_r);
}

int
store_mailbox_subscribe(struct store *store, const char *user, const char *name,
			bool subscribed, char **error_r)
{
	if (store_qbox_is(name))
		return 0; /* always subscribed */
	return store->backend->mailbox_subscribe(store, user, name, subscribed,
						 error_r);
}

int
store_flags_update(struct store *store, const char *user, const char *mailbox,
		   const uint32_t *uids, size_t count,
		   enum store_flags_mode mode, const char *flags,
		   uint64_t unchangedsince,
		   struct store_flag_result **results_r, size_t *nresults_r,
		   char **error_r)
{
	if (store_qbox_is(mailbox)) {
		*error_r = xstrdup(QBOX_READONLY);
		return -1;
	}
	return store->backend->flags_update(store, user, mailbox, uids, count,
					    mode, flags, unchangedsince,
					    results_r, nresults_r, error_r);
}

void
store_flag_results_free(struct store_flag_result *results, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(results[i].flags);
	free(results);
}

int
store_expunge(struct store *store, const char *user, const char *mailbox,
	      const uint32_t *uids, size_t count, bool only_deleted,
	      uint32_t **expunged_r, size_t *nexpunged_r, char **error_r)
{
	if (store_qbox_is(mailbox)) {
		*error_r = xstrdup(QBOX_READONLY);
		return -1;
	}
	return store->backend->expunge(store, user, mailbox, uids, count,
				       only_deleted, expunged_r, nexpunged_r,
				       error_r);
}

int
store_expunged_since(struct store *store, const char *user, const char *mailbox,
		     uint64_t modseq, uint32_t **uids_r, size_t *count_r,
		     char **error_r)
{
	if (store_qbox_is(mailbox))
		return store_quarantine_expunged_since(
		    store, user, modseq, uids_r, count_r, error_r);
	return store->backend->expunged_since(store, user, mailbox, modseq,
					      uids_r, count_r, error_r);
}

int
store_copy(struct store *store, const char *user, const char *from,
	   const char *to, const uint32_t *uids, size_t count, bool move,
	   uint32_t **new_uids_r, uint32_t *uidvalidity_r, char **error_r)
{
	if (store_qbox_is(to)) {
		*error_r = xstrdup(QBOX_CANNOT);
		return -1;
	}
	if (store_qbox_is(from))
		return store_qbox_release(store, user, to, uids, count,
					  new_uids_r, uidvalidity_r, error_r);
	return store->backend->copy(store, user, from, to, uids, count, move,
				    new_uids_r, uidvalidity_r, error_r);
}

char *
store_notify_path(const char *data_dir)
{
	return xasprintf("%s/mail/notify.sock", data_dir);
}

/* One sender for the mailbox store and the quarantine, which announce
 * their changes to imapd the same way. */
void
store_notify_send(int *fd, const char *path, const struct str_list *messages)
{
	struct sockaddr_un sun;
	size_t len = strlen(path);

	if (messages->count == 0 || len >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len + 1);
	if (*fd < 0)
		*fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			     0);
	if (*fd < 0)
		return;
	for (size_t i = 0; i < messages->count; i++) {
		const char *m = messages->items[i];

		/* Nobody listening (ENOENT, ECONNREFUSED) or a full
		 * queue (EAGAIN): readers re-check on their own. */
		(void)sendto(*fd, m, strlen(m), MSG_DONTWAIT,
			     (struct sockaddr *)&sun, sizeof(sun));
	}
}
int
store_message_structure(struct store *store, const char *user,
			const char *mailbox, uint32_t uid,
			struct msg_structure **s_r, char **error_r)
{
	if (store_qbox_is(mailbox))
		return store_qbox_structure(store, user, uid, s_r, error_r);
	return store->backend->message_structure(store, user, mailbox, uid, s_r,
						 error_r);
}

void
store_set_relaxed_sync(struct store *store, bool relaxed)
{
	store->backend->set_relaxed_sync(store, relaxed);
}

/* ---- quarantine ---- */

int
store_quarantine_add(struct store *store,
		     const struct store_quarantine_new *msgs, size_t count,
		     int *results_r, char **error_r)
{
	return store->backend->quarantine_add(store, msgs, count, results_r,
					      error_r);
}

int
store_quarantine_list(struct store *store, const char *rcpt, const char *qid,
		      struct store_quarantine_entry **entries_r,
		      size_t *count_r, char **error_r)
{
	return store->backend->quarantine_list(store, rcpt, qid, entries_r,
					       count_r, error_r);
}

int
store_quarantine_get(struct store *store, uint64_t id,
		     struct store_quarantine_entry *entry_r, char **error_r)
{
	return store->backend->quarantine_get(store, id, entry_r, error_r);
}

int
store_quarantine_remove(struct store *store, const uint64_t *ids, size_t count,
			char **error_r)
{
	return store->backend->quarantine_remove(store, ids, count, error_r);
}

int
store_quarantine_prune(struct store *store, time_t now, time_t retention,
		       size_t *removed_r, char **error_r)
{
	return store->backend->quarantine_prune(store, now, retention,
						removed_r, error_r);
}

int
store_quarantine_status(struct store *store, uint32_t *uidvalidity_r,
			uint32_t *uidnext_r, uint64_t *highestmodseq_r,
			char **error_r)
{
	return store->backend->quarantine_status(
	    store, uidvalidity_r, uidnext_r, highestmodseq_r, error_r);
}

int
store_quarantine_expunged_since(struct store *store, const char *rcpt,
				uint64_t modseq, uint32_t **uids_r,
				size_t *count_r, char **error_r)
{
	return store->backend->quarantine_expunged_since(
	    store, rcpt, modseq, uids_r, count_r, error_r);
}

void
store_quarantine_entry_clear(struct store_quarantine_entry *e)
{
	x_free(&e->qid);
	x_free(&e->rcpt);
	x_free(&e->mail_from);
	x_free(&e->from);
	x_free(&e->subject);
	x_free(&e->reason);
	x_free(&e->by);
	x_free(&e->symbols);
	x_free(&e->path);
	x_free(&e->ret);
	x_free(&e->envid);
	x_free(&e->notify);
	x_free(&e->orcpt);
}

void
store_quarantine_entries_free(struct store_quarantine_entry *entries,
			      size_t count)
{
	for (size_t i = 0; i < count; i++)
		store_quarantine_entry_clear(&entries[i]);
	free(entries);
}
