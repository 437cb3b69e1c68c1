/*
 * store: the backend-neutral entry points of the message store. Each call
 * dispatches through the table of operations of the store's backend; only
 * the embedded backend (files + SQLite) exists so far.
 */
#include "mailstore/store_private.h"

#include <stdlib.h>

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

int
store_message_structure(struct store *store, const char *user,
			const char *mailbox, uint32_t uid,
			struct msg_structure **s_r, char **error_r)
{
	return store->backend->message_structure(store, user, mailbox, uid, s_r,
						 error_r);
}
