/*
 * imap_train: what a user does in IMAP that teaches the spam filter, turned
 * into training requests in the spool (mailstore/train_spool.h), as
 * Dovecot's antispam plugin and IMAPSieve "report spam" do:
 *   - MOVE or COPY into a \Junk mailbox from any other: spam;
 *   - MOVE or COPY out of a \Junk mailbox into one that is not \Trash (nor
 *     \Junk): ham, the "not spam" correction;
 *   - APPEND into a \Junk mailbox: spam;
 *   - STORE adding the keyword $Junk: spam; $NotJunk: ham (RFC 5788's
 *     registered keywords, set by Thunderbird and Apple Mail); a STORE
 *     that sets both says nothing.
 * Only the logged-in user's own messages are staged (from the selected
 * mailbox or the APPEND data), under that user's name. Learning the same
 * message twice as one class counts once (the classifier keys learnings
 * by message), so a client that both sets $Junk and moves to Junk is
 * harmless. A COPY or MOVE out of the Quarantine mailbox (a release) of
 * mail the spam filter quarantined teaches ham, as `moatctl quarantine
 * release` does (quarantine.learn_on_release). Called by imap_fetch.c and
 * imap_mailbox.c; off (every function a no-op) when the server has no
 * spool.
 */
#include "mailstore/imap_private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "mailstore/store.h"
#include "mailstore/train_spool.h"

static bool
su_is(const char *special_use, const char *want)
{
	return special_use != NULL && strcasecmp(special_use, want) == 0;
}

int
imap_train_copy_class(const char *src_use, const char *dst_use)
{
	bool src_junk = su_is(src_use, "\\Junk");
	bool dst_junk = su_is(dst_use, "\\Junk");

	if (dst_junk && !src_junk)
		return TRAIN_SPAM;
	if (src_junk && !dst_junk && !su_is(dst_use, "\\Trash"))
		return TRAIN_HAM;
	return -1;
}

char *
imap_train_special_use(struct imap_session *s, const char *name)
{
	struct store_mailbox_info *list = NULL;
	char *error = NULL, *use = NULL;
	size_t count = 0;

	if (store_mailbox_list(s->server->store, s->user, &list, &count,
			       &error) < 0) {
		log_errorx("session=%s event=store_error error=\"%s\"", s->id,
			   error);
		free(error);
		return NULL;
	}
	for (size_t i = 0; i < count && use == NULL; i++)
		if (strcmp(list[i].name, name) == 0)
			use = xstrdup(list[i].special_use != NULL
					  ? list[i].special_use
					  : "");
	store_mailbox_info_free(list, count);
	return use;
}

bool
imap_train_has_keyword(const char *flags, const char *keyword)
{
	size_t klen = strlen(keyword);
	const char *p = flags;

	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, " ");

		if (len == klen && strncasecmp(p, keyword, klen) == 0)
			return true;
		p += len;
		p += strspn(p, " ");
	}
	return false;
}

int
imap_train_flag_class(const char *flags, bool remove)
{
	bool junk = imap_train_has_keyword(flags, "$Junk");
	bool notjunk = imap_train_has_keyword(flags, "$NotJunk");

	if (remove || junk == notjunk)
		return -1;
	return junk ? TRAIN_SPAM : TRAIN_HAM;
}

struct train_batch *
imap_train_begin(struct imap_session *s, const char *mailbox, int cls,
		 enum train_reason reason)
{
	struct train_batch *b;

	if (s->server->train == NULL || cls < 0)
		return NULL;
	b = train_batch_new(s->server->train, s->user, mailbox,
			    (enum train_class)cls, reason);
	if (b == NULL)
		log_warnx("session=%s event=spam_training_skipped "
			  "reason=\"unusable user or mailbox name\"",
			  s->id);
	return b;
}

void
imap_train_add(struct imap_session *s, struct train_batch *b, uint32_t uid,
	       const char *path, const void *data, size_t len)
{
	char *error = NULL;

	if (b == NULL || (path == NULL && data == NULL))
		return;
	if (train_batch_add(b, uid, path, data, len, &error) < 0) {
		log_errorx("session=%s event=spam_training_error error=\"%s\"",
			   s->id, error);
		free(error);
	}
}

void
imap_train_finish(struct imap_session *s, struct train_batch **bp, bool ok)
{
	struct train_batch *b = *bp;
	char user[128];
	char *error = NULL;
	size_t count, dropped;

	if (b == NULL)
		return;
	count = train_batch_count(b);
	dropped = train_batch_dropped(b);
	log_sanitize(s->user, strlen(s->user), user, sizeof(user));
	if (dropped > 0)
		log_warnx("session=%s event=spam_training_dropped user=%s "
			  "messages=%zu reason=\"spool full\"",
			  s->id, user, dropped);
	if (!ok) {
		train_batch_abort(bp);
		return;
	}
	if (train_batch_commit(bp, &error) < 0) {
		log_errorx("session=%s event=spam_training_error error=\"%s\"",
			   s->id, error);
		free(error);
		return;
	}
	if (count > 0)
		log_info("session=%s event=spam_training_queued user=%s "
			 "messages=%zu",
			 s->id, user, count);
}

struct train_batch *
imap_train_release(struct imap_session *s, const char *dest,
		   const uint32_t *uids, size_t count)
{
	struct train_batch *b = NULL;
	char *dst_use;

	if (s->server->train == NULL || !s->server->cfg->quarantine_learn)
		return NULL;
	dst_use = imap_train_special_use(s, dest);
	if (dst_use == NULL || su_is(dst_use, "\\Trash") ||
	    su_is(dst_use, "\\Junk")) {
		free(dst_use);
		return NULL;
	}
	free(dst_use);
	for (size_t i = 0; i < count; i++) {
		struct store_quarantine_entry e;
		char *error = NULL;
		int rc =
		    store_quarantine_get(s->server->store, uids[i], &e, &error);

		if (rc < 0) {
			log_errorx("session=%s event=store_error error=\"%s\"",
				   s->id, error);
			free(error);
			continue;
		}
		if (rc == 1 && strcasecmp(e.rcpt, s->user) == 0 &&
		    strcmp(e.by, "spam") == 0) {
			if (b == NULL)
				b = imap_train_begin(
				    s, STORE_QUARANTINE_MAILBOX, TRAIN_HAM,
				    TRAIN_REASON_RELEASE);
			imap_train_add(s, b, uids[i], e.path, NULL, 0);
		}
		if (rc == 1)
			store_quarantine_entry_clear(&e);
	}
	return b;
}
