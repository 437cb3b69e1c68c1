/*
 * store_qbox: each user's read-only mailbox "Quarantine" (the entries of
 * the quarantine store addressed to that user), composed in store.c from
 * the backend's quarantine operations and ordinary deliveries, so that
 * every backend gets it and imapd treats it as a mailbox. Only store.c
 * calls these; see store.h ("Quarantine mailbox") for the behaviour.
 */
#ifndef MOAT_STORE_QBOX_H
#define MOAT_STORE_QBOX_H

#include "mailstore/store.h"

/* Whether a (canonical) mailbox name is the quarantine mailbox. */
bool store_qbox_is(const char *mailbox);
/* The mailbox's info (counters when counters is set). 0 or -1. */
int store_qbox_info(struct store *store, const char *user, bool counters,
		    struct store_mailbox_info *info_r, char **error_r);
/* The user's entries as messages: UID = entry id, no flags. 0 or -1. */
int store_qbox_list(struct store *store, const char *user,
		    struct store_message_info **messages_r, size_t *count_r,
		    char **error_r);
/* The structure of the user's entry uid: 1, 0 (no such entry for this
 * user), -1. */
int store_qbox_structure(struct store *store, const char *user, uint32_t uid,
			 struct msg_structure **s_r, char **error_r);
/* COPY/MOVE out of the quarantine: delivers each of the user's entries
 * among uids into mailbox to (with Return-Path and X-Moat-Released) in one
 * durable transaction, then removes those entries. (*new_uids_r)[i] is the
 * new UID, 0 for a uid that is not the user's. 0 or -1 (to missing:
 * "[TRYCREATE]", over quota: "[OVERQUOTA]"). */
int store_qbox_release(struct store *store, const char *user, const char *to,
		       const uint32_t *uids, size_t count,
		       uint32_t **new_uids_r, uint32_t *uidvalidity_r,
		       char **error_r);

#endif
