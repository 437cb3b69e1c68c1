/*
 * msg_sort: IMAP SORT (RFC 5256, with DISPLAYFROM/DISPLAYTO of RFC 5957)
 * and THREAD (ORDEREDSUBJECT, REFERENCES) as pure functions over
 * per-message keys. The IMAP server builds one struct msg_sort_keys per
 * message of the search result (from the cached msg_structure, the
 * internal date and the size), then calls msg_sort() or msg_thread_*().
 * Nothing here touches the store.
 *
 * Strings in the keys are already in comparison form: UTF-8, folded with
 * msg_search_fold (i;unicode-casemap-like), so comparing them is strcmp.
 * Ties are broken by the order of the keys array, which must therefore be
 * the mailbox (sequence) order, as RFC 5256 requires.
 */
#ifndef MOAT_MSG_SORT_H
#define MOAT_MSG_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;
struct msg_structure;

struct msg_sort_keys {
	uint32_t id;	/* what the response lists: sequence number or UID */
	time_t arrival; /* internal date */
	time_t date;	/* Date: in UTC; arrival when absent or unparsable */
	uint64_t size;	/* RFC822.SIZE */
	char *subject;	/* base subject (RFC 5256 2.1), folded */
	bool reply;	/* the subject was a reply or forward (Re:, Fwd:...) */
	char *from;	/* addr-mailbox of the first From address, folded */
	char *to;	/* ... of the first To address */
	char *cc;	/* ... of the first Cc address */
	char *display_from; /* RFC 5957: decoded display name, else
			       mailbox@host; folded */
	char *display_to;
	char *message_id;  /* "<id@host>", NULL when absent */
	char **references; /* References (or In-Reply-To) ids, oldest first */
	size_t nreferences;
};

/* Fills k from a message's structure (its top-level header fields). */
void msg_sort_keys_init(struct msg_sort_keys *k, const struct msg_structure *s,
			uint32_t id, time_t arrival, uint64_t size);
void msg_sort_keys_clear(struct msg_sort_keys *k);

enum msg_sort_key {
	MSG_SORT_ARRIVAL,
	MSG_SORT_CC,
	MSG_SORT_DATE,
	MSG_SORT_FROM,
	MSG_SORT_SIZE,
	MSG_SORT_SUBJECT,
	MSG_SORT_TO,
	MSG_SORT_DISPLAYFROM,
	MSG_SORT_DISPLAYTO,
};

struct msg_sort_criterion {
	enum msg_sort_key key;
	bool reverse;
};

/* Maps a SORT key name ("ARRIVAL", "displayfrom", ... case-insensitive;
 * "REVERSE" is a modifier, not a key). False for an unknown name. */
bool msg_sort_key_from_name(const char *name, enum msg_sort_key *key_r);

/* Writes to ids_r (count entries) the ids of keys[] in SORT order for the
 * program criteria[0..ncriteria-1]; equal messages keep their order in
 * keys[]. */
void msg_sort(const struct msg_sort_keys *keys, size_t count,
	      const struct msg_sort_criterion *criteria, size_t ncriteria,
	      uint32_t *ids_r);

/* Extracts the base subject (RFC 5256 2.1) of a raw Subject value: encoded
 * words decoded, white space collapsed, "Re:", "Fwd:", "[blob]", "(fwd)"
 * and "[fwd: ...]" wrappers removed. Returns it allocated, unfolded;
 * *reply_r says whether a reply/forward marker was removed. */
char *msg_base_subject(const char *raw, bool *reply_r);

/* THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 3): append the
 * thread list without the "* THREAD " prefix, e.g. "(2)(3 6 (4 23)(44 7
 * 96))"; nothing for zero messages. */
void msg_thread_orderedsubject(const struct msg_sort_keys *keys, size_t count,
			       struct buf *out);
void msg_thread_references(const struct msg_sort_keys *keys, size_t count,
			   struct buf *out);

#endif
