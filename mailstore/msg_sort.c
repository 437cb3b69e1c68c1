/*
 * msg_sort: SORT keys built from a message's structure, base subject
 * extraction (RFC 5256 2.1) and the SORT ordering itself (see msg_sort.h).
 * Threading lives in msg_thread.c over the same keys.
 */
#include "mailstore/msg_sort.h"

#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "mailstore/msg_search.h"
#include "mailstore/msg_structure.h"

/* ---- base subject (RFC 5256 2.1) ---- */

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Length of a subj-blob "[" *BLOBCHAR "]" *WSP at p, or 0. */
static size_t
blob_len(const char *p)
{
	size_t i = 1;

	if (p[0] != '[')
		return 0;
	while (p[i] != '\0' && p[i] != '[' && p[i] != ']')
		i++;
	if (p[i] != ']')
		return 0;
	i++;
	while (is_wsp(p[i]))
		i++;
	return i;
}

/* Length of a subj-leader at p: *subj-blob subj-refwd, or WSP; 0 if none. */
static size_t
leader_len(const char *p, bool *refwd_r)
{
	size_t i = 0, n;

	*refwd_r = false;
	if (is_wsp(p[0]))
		return 1;
	while ((n = blob_len(p + i)) > 0)
		i += n;
	/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
	if (strncasecmp(p + i, "re", 2) == 0)
		i += 2;
	else if (strncasecmp(p + i, "fw", 2) == 0) {
		i += 2;
		if (p[i] == 'd' || p[i] == 'D')
			i++;
	} else
		return 0;
	while (is_wsp(p[i]))
		i++;
	i += blob_len(p + i);
	if (p[i] != ':')
		return 0;
	*refwd_r = true;
	return i + 1;
}

char *
msg_base_subject(const char *raw, bool *reply_r)
{
	struct buf decoded = {0};
	char *s, *start, *end;
	bool reply = false;

	/* (1) decode, tabs and runs of white space to one space */
	if (raw != NULL)
		msg_search_decode_header(raw, strlen(raw), &decoded);
	s = xmalloc(decoded.len + 1);
	{
		size_t o = 0;
		for (size_t i = 0; i < decoded.len; i++) {
			char c =
			    decoded.data[i] == '\t' ? ' ' : decoded.data[i];
			if (c == ' ' && o > 0 && s[o - 1] == ' ')
				continue;
			s[o++] = c;
		}
		s[o] = '\0';
	}
	buf_free(&decoded);
	start = s;
	end = s + strlen(s);
	for (;;) {
		bool changed;

		/* (2) trailers: "(fwd)" and white space */
		for (;;) {
			if (end > start && is_wsp(end[-1]))
				end--;
			else if (end - start >= 5 &&
				 strncasecmp(end - 5, "(fwd)", 5) == 0) {
				end -= 5;
				reply = true;
			} else
				break;
		}
		*end = '\0';
		/* (3)-(5) leaders and blobs */
		do {
			size_t n;
			bool refwd;

			changed = false;
			while ((n = leader_len(start, &refwd)) > 0) {
				start += n;
				reply = reply || refwd;
				changed = true;
			}
			n = blob_len(start);
			if (n > 0 && start[n] != '\0') {
				start += n;
				changed = true;
			}
		} while (changed);
		/* (6) "[fwd:" ... "]" */
		if (end - start >= 6 && strncasecmp(start, "[fwd:", 5) == 0 &&
		    end[-1] == ']') {
			start += 5;
			end--;
			*end = '\0';
			reply = true;
			continue;
		}
		break;
	}
	memmove(s, start, (size_t)(end - start));
	s[end - start] = '\0';
	*reply_r = reply;
	return s;
}

/* ---- keys ---- */

static char *
folded(const char *utf8)
{
	struct buf b = {0};

	msg_search_fold(utf8, strlen(utf8), &b);
	return buf_detach(&b);
}

/* The folded addr-mailbox of the first address, "" when none. */
static char *
address_key(const char *value, bool display)
{
	char *name, *mailbox, *host, *key;

	if (!msg_address_first(value, &name, &mailbox, &host))
		return xstrdup("");
	if (display && name != NULL && name[0] != '\0') {
		struct buf b = {0};
		msg_search_decode_header(name, strlen(name), &b);
		key = folded(buf_cstr(&b));
		buf_free(&b);
	} else if (display) {
		char *spec = host[0] != '\0' ? xasprintf("%s@%s", mailbox, host)
					     : xstrdup(mailbox);
		key = folded(spec);
		free(spec);
	} else {
		key = folded(mailbox);
	}
	free(name);
	free(mailbox);
	free(host);
	return key;
}

/* Appends the "<...>" message ids found in value. */
static void
message_ids(const char *value, char ***ids_r, size_t *count_r)
{
	const char *p = value;

	while (p != NULL && *p != '\0' && *count_r < 1000) {
		const char *lt = strchr(p, '<'), *gt;

		if (lt == NULL)
			break;
		gt = strchr(lt + 1, '>');
		if (gt == NULL)
			break;
		if (gt > lt + 1 &&
		    memchr(lt + 1, '<', (size_t)(gt - lt - 1)) == NULL) {
			*ids_r =
			    xreallocarray(*ids_r, *count_r + 1, sizeof(char *));
			(*ids_r)[(*count_r)++] =
			    xstrndup(lt, (size_t)(gt - lt + 1));
		}
		p = gt + 1;
	}
}

void
msg_sort_keys_init(struct msg_sort_keys *k, const struct msg_structure *s,
		   uint32_t id, time_t arrival, uint64_t size)
{
	const char *date = msg_structure_header(s, MSG_HDR_DATE);
	char *base;
	char **ids = NULL;
	size_t nids = 0;

	msg_search_init();
	memset(k, 0, sizeof(*k));
	k->id = id;
	k->arrival = arrival;
	k->size = size;
	k->date = arrival;
	if (date != NULL) {
		GDateTime *dt = g_mime_utils_header_decode_date(date);
		if (dt != NULL) {
			k->date = (time_t)g_date_time_to_unix(dt);
			g_date_time_unref(dt);
		}
	}
	base = msg_base_subject(msg_structure_header(s, MSG_HDR_SUBJECT),
				&k->reply);
	k->subject = folded(base);
	free(base);
	k->from = address_key(msg_structure_header(s, MSG_HDR_FROM), false);
	k->to = address_key(msg_structure_header(s, MSG_HDR_TO), false);
	k->cc = address_key(msg_structure_header(s, MSG_HDR_CC), false);
	k->display_from =
	    address_key(msg_structure_header(s, MSG_HDR_FROM), true);
	k->display_to = address_key(msg_structure_header(s, MSG_HDR_TO), true);
	message_ids(msg_structure_header(s, MSG_HDR_MESSAGE_ID), &ids, &nids);
	if (nids > 0)
		k->message_id = xstrdup(ids[0]);
	for (size_t i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
	message_ids(msg_structure_header(s, MSG_HDR_REFERENCES), &k->references,
		    &k->nreferences);
	if (k->nreferences == 0) {
		/* In-Reply-To: its first id only (RFC 5256 REFERENCES 1) */
		ids = NULL;
		nids = 0;
		message_ids(msg_structure_header(s, MSG_HDR_IN_REPLY_TO), &ids,
			    &nids);
		if (nids > 0) {
			k->references = xcalloc(1, sizeof(char *));
			k->references[0] = ids[0];
			k->nreferences = 1;
		}
		for (size_t i = 1; i < nids; i++)
			free(ids[i]);
		free(ids);
	}
}

void
msg_sort_keys_clear(struct msg_sort_keys *k)
{
	free(k->subject);
	free(k->from);
	free(k->to);
	free(k->cc);
	free(k->display_from);
	free(k->display_to);
	free(k->message_id);
	for (size_t i = 0; i < k->nreferences; i++)
		free(k->references[i]);
	free(k->references);
	memset(k, 0, sizeof(*k));
}

/* ---- SORT ---- */

static const struct {
	const char *name;
	enum msg_sort_key key;
} key_names[] = {
    {"ARRIVAL", MSG_SORT_ARRIVAL},
    {"CC", MSG_SORT_CC},
    {"DATE", MSG_SORT_DATE},
    {"FROM", MSG_SORT_FROM},
    {"SIZE", MSG_SORT_SIZE},
    {"SUBJECT", MSG_SORT_SUBJECT},
    {"TO", MSG_SORT_TO},
    {"DISPLAYFROM", MSG_SORT_DISPLAYFROM},
    {"DISPLAYTO", MSG_SORT_DISPLAYTO},
};

bool
msg_sort_key_from_name(const char *name, enum msg_sort_key *key_r)
{
	for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
		if (strcasecmp(name, key_names[i].name) == 0) {
			*key_r = key_names[i].key;
			return true;
		}
	return false;
}

struct sort_ctx {
	const struct msg_sort_keys *keys;
	const struct msg_sort_criterion *criteria;
	size_t ncriteria;
};

static int
cmp_num(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b ? 1 : 0;
}

static int
cmp_time(time_t a, time_t b)
{
	return a < b ? -1 : a > b ? 1 : 0;
}

static int
cmp_str(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

static int
sort_cmp(const void *pa, const void *pb, void *arg)
{
	const struct sort_ctx *ctx = arg;
	size_t ia = *(const size_t *)pa, ib = *(const size_t *)pb;
	const struct msg_sort_keys *a = &ctx->keys[ia], *b = &ctx->keys[ib];

	for (size_t i = 0; i < ctx->ncriteria; i++) {
		int c = 0;

		switch (ctx->criteria[i].key) {
		case MSG_SORT_ARRIVAL:
			c = cmp_time(a->arrival, b->arrival);
			break;
		case MSG_SORT_CC:
			c = cmp_str(a->cc, b->cc);
			break;
		case MSG_SORT_DATE:
			c = cmp_time(a->date, b->date);
			break;
		case MSG_SORT_FROM:
			c = cmp_str(a->from, b->from);
			break;
		case MSG_SORT_SIZE:
			c = cmp_num(a->size, b->size);
			break;
		case MSG_SORT_SUBJECT:
			c = cmp_str(a->subject, b->subject);
			break;
		case MSG_SORT_TO:
			c = cmp_str(a->to, b->to);
			break;
		case MSG_SORT_DISPLAYFROM:
			c = cmp_str(a->display_from, b->display_from);
			break;
		case MSG_SORT_DISPLAYTO:
			c = cmp_str(a->display_to, b->display_to);
			break;
		}
		if (c != 0)
			return ctx->criteria[i].reverse ? -c : c;
	}
	/* Equal: sequence order (RFC 5256 "REVERSE" does not apply). */
	return ia < ib ? -1 : ia > ib ? 1 : 0;
}

void
msg_sort(const struct msg_sort_keys *keys, size_t count,
	 const struct msg_sort_criterion *criteria, size_t ncriteria,
	 uint32_t *ids_r)
{
	struct sort_ctx ctx = {keys, criteria, ncriteria};
	size_t *order;

	if (count == 0)
		return;
	order = xcalloc(count, sizeof(*order));
	for (size_t i = 0; i < count; i++)
		order[i] = i;
	qsort_r(order, count, sizeof(*order), sort_cmp, &ctx);
	for (size_t i = 0; i < count; i++)
		ids_r[i] = keys[order[i]].id;
	free(order);
}
