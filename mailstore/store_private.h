/*
 * store_private: what every store backend embeds as its first member, so
 * that store.c can dispatch through the backend's table of operations.
 */
#ifndef MOAT_STORE_PRIVATE_H
#define MOAT_STORE_PRIVATE_H

#include "mailstore/store.h"

struct store {
	const struct store_backend *backend;
	uint64_t quota; /* bytes per user, 0 = none */
	/* deciding filters whose quarantine entries a user's Quarantine
	 * mailbox shows (store_qbox.c); NULL: every entry */
	const struct str_list *qbox_filters;
};

#endif
