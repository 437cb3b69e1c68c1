/*
 * dmarc_history: rows of the DMARC aggregate-report history (see
 * dmarc_history.h). dmarc_history_entry_new() runs on a filter worker at
 * the end of the chain and copies what the "dmarc", "dkim" and "spf"
 * filters left in the context; the message log's writer thread inserts it.
 * The readers group rows with SQL (GROUP BY the whole report key), so a
 * report over many messages costs one pass over the domain's index range.
 */
#include "filters/dmarc_history.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/dkim_verify.h"
#include "filters/dmarc.h"
#include "filters/dmarc_rua.h"
#include "filters/filter.h"
#include "filters/spf.h"
#include "lib/buf.h"
#include "lib/db.h"
#include "lib/xalloc.h"

/* A copy of s keeping only characters that may appear in domains,
 * selectors, addresses and IPs; others become '?'. At most 255 bytes. */
static char *
safe_copy(const char *s)
{
	size_t len = s != NULL ? strlen(s) : 0;
	char *out;

	if (len > 255)
		len = 255;
	out = xstrndup(s != NULL ? s : "", len);
	for (char *p = out; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (!isalnum(c) && strchr(".-_:@+", c) == NULL)
			*p = '?';
		else
			*p = (char)tolower(c);
	}
	return out;
}

static const char *
domain_part(const char *address)
{
	const char *at = address != NULL ? strrchr(address, '@') : NULL;

	return at != NULL ? at + 1 : address != NULL ? address : "";
}

static const char *
policy_name(char p)
{
	return p == 'r' ? "reject" : p == 'q' ? "quarantine" : "none";
}

struct dmarc_history_entry *
dmarc_history_entry_new(const struct filter_context *ctx,
			enum policy_verdict verdict, long long now)
{
	const struct dmarc_result *r = filter_data(ctx, "dmarc");
	const struct filter_envelope *env = filter_envelope(ctx);
	const struct dkim_verify_result *dkim;
	const struct spf_result *spf;
	struct dmarc_history_entry *e;
	enum dmarc_disposition requested, applied;
	struct buf sigs = {0};
	char *tag;
	size_t tag_size;

	if (r == NULL || r->policy_domain == NULL || r->header_from == NULL ||
	    r->record == NULL || r->is_report || verdict == POLICY_TEMPFAIL ||
	    (r->outcome != DMARC_OUTCOME_PASS &&
	     r->outcome != DMARC_OUTCOME_FAIL))
		return NULL;
	e = xcalloc(1, sizeof(*e));
	e->time = now;
	e->qid = xstrdup(env->qid != NULL ? env->qid : "");
	e->source_ip = safe_copy(env->client_ip);
	e->header_from = safe_copy(r->header_from);
	e->envelope_from = safe_copy(domain_part(env->mail_from));
	e->envelope_to =
	    env->rcpt_count > 0 ? safe_copy(domain_part(env->rcpts[0])) : NULL;
	e->policy_domain = safe_copy(r->policy_domain);
	snprintf(e->p, sizeof(e->p), "%s", policy_name(r->p));
	if (r->sp != '\0')
		snprintf(e->sp, sizeof(e->sp), "%s", policy_name(r->sp));
	e->pct = r->pct;
	snprintf(e->adkim, sizeof(e->adkim), "%s", r->adkim_strict ? "s" : "r");
	snprintf(e->aspf, sizeof(e->aspf), "%s", r->aspf_strict ? "s" : "r");
	tag_size = strlen(r->record) + 1;
	tag = xmalloc(tag_size);
	if (dmarc_record_tag(r->record, "fo", tag, tag_size) == 1)
		e->fo = safe_copy(tag);
	if (dmarc_record_tag(r->record, "rua", tag, tag_size) == 1 &&
	    strlen(tag) <= DMARC_RUA_INPUT_MAX)
		e->rua = xstrdup(tag); /* parsed (and checked) when used */
	free(tag);

	requested = r->outcome == DMARC_OUTCOME_FAIL ? r->disposition
						     : DMARC_DISPOSITION_NONE;
	applied = requested;
	if (r->sampled_out)
		e->override = "sampled_out";
	if (requested != DMARC_DISPOSITION_NONE && !r->enforced) {
		applied = DMARC_DISPOSITION_NONE;
		e->override = "local_policy";
	} else if (requested == DMARC_DISPOSITION_REJECT &&
		   verdict != POLICY_REJECT) {
		applied = verdict == POLICY_QUARANTINE
			      ? DMARC_DISPOSITION_QUARANTINE
			      : DMARC_DISPOSITION_NONE;
		e->override = "local_policy";
	} else if (requested == DMARC_DISPOSITION_QUARANTINE &&
		   verdict != POLICY_QUARANTINE && verdict != POLICY_REJECT) {
		applied = DMARC_DISPOSITION_NONE;
		e->override = "local_policy";
	}
	e->disposition = dmarc_disposition_name(applied);
	e->dkim = r->dkim_aligned ? "pass" : "fail";
	e->spf = r->spf_aligned ? "pass" : "fail";

	dkim = filter_data(ctx, "dkim");
	for (size_t i = 0; dkim != NULL && i < dkim->count; i++) {
		const struct dkim_sig_result *s = &dkim->sigs[i];
		char *d, *sel;

		if (s->domain == NULL || s->domain[0] == '\0')
			continue;
		d = safe_copy(s->domain);
		sel = safe_copy(s->selector);
		buf_printf(&sigs, "%s%s %s %s", sigs.len > 0 ? "\n" : "", d,
			   sel, dkim_result_name(s->result));
		free(d);
		free(sel);
	}
	e->dkim_sigs = sigs.len > 0 ? buf_detach(&sigs) : xstrdup("");
	buf_free(&sigs);

	spf = filter_data(ctx, "spf");
	e->spf_scope = env->mail_from[0] != '\0' ? "mfrom" : "helo";
	if (spf != NULL && spf->mailfrom_domain != NULL) {
		e->spf_domain = safe_copy(spf->mailfrom_domain);
		e->spf_result = spf_result_name(spf->mailfrom);
	} else {
		e->spf_domain = safe_copy(env->mail_from[0] != '\0'
					      ? domain_part(env->mail_from)
					      : env->helo);
		e->spf_result = "none";
	}
	return e;
}

void
dmarc_history_entry_free(struct dmarc_history_entry **ep)
{
	struct dmarc_history_entry *e = *ep;

	if (e == NULL)
		return;
	free(e->qid);
	free(e->source_ip);
	free(e->header_from);
	free(e->envelope_from);
	free(e->envelope_to);
	free(e->policy_domain);
	free(e->fo);
	free(e->rua);
	free(e->dkim_sigs);
	free(e->spf_domain);
	x_free(ep);
}

int
dmarc_history_insert(sqlite3 *db, const struct dmarc_history_entry *e,
		     char **error_r)
{
	sqlite3_stmt *st = NULL;
	int i = 1;

	if (sqlite3_prepare_v2(
		db,
		"INSERT INTO dmarc_messages (time, qid, source_ip, "
		"header_from, envelope_from, envelope_to, policy_domain, p, "
		"sp, pct, adkim, aspf, fo, rua, disposition, override, dkim, "
		"spf, dkim_sigs, spf_domain, spf_scope, spf_result) VALUES "
		"(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
		-1, &st, NULL) != SQLITE_OK) {
		*error_r = xstrdup(sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_int64(st, i++, e->time);
	db_bind_text(st, i++, e->qid);
	db_bind_text(st, i++, e->source_ip);
	db_bind_text(st, i++, e->header_from);
	db_bind_text(st, i++, e->envelope_from);
	db_bind_text(st, i++, e->envelope_to);
	db_bind_text(st, i++, e->policy_domain);
	db_bind_text(st, i++, e->p);
	db_bind_text(st, i++, e->sp[0] != '\0' ? e->sp : NULL);
	sqlite3_bind_int(st, i++, e->pct);
	db_bind_text(st, i++, e->adkim);
	db_bind_text(st, i++, e->aspf);
	db_bind_text(st, i++, e->fo);
	db_bind_text(st, i++, e->rua);
	db_bind_text(st, i++, e->disposition);
	db_bind_text(st, i++, e->override);
	db_bind_text(st, i++, e->dkim);
	db_bind_text(st, i++, e->spf);
	db_bind_text(st, i++, e->dkim_sigs);
	db_bind_text(st, i++, e->spf_domain);
	db_bind_text(st, i++, e->spf_scope);
	db_bind_text(st, i++, e->spf_result);
	if (sqlite3_step(st) != SQLITE_DONE) {
		*error_r = xstrdup(sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static char *
column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s != NULL ? xstrdup((const char *)s) : NULL;
}

int
dmarc_history_slots(sqlite3 *db, const char *domain, long long from,
		    long long to, long long interval,
		    struct dmarc_history_slot **slots_r, size_t *count_r,
		    char **error_r)
{
	sqlite3_stmt *st = NULL;
	struct dmarc_history_slot *slots = NULL;
	size_t count = 0, cap = 0;
	int rc;

	*slots_r = NULL;
	*count_r = 0;
	if (interval <= 0)
		interval = 86400;
	if (sqlite3_prepare_v2(
		db,
		"SELECT policy_domain, (time / ?1) * ?1 AS b, MAX(id), "
		"COUNT(*) FROM dmarc_messages WHERE time >= ?2 AND time < ?3 "
		"AND (?4 IS NULL OR policy_domain = ?4) "
		"GROUP BY policy_domain, b ORDER BY b, policy_domain",
		-1, &st, NULL) != SQLITE_OK) {
		*error_r = xstrdup(sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, interval);
	sqlite3_bind_int64(st, 2, from);
	sqlite3_bind_int64(st, 3, to);
	db_bind_text(st, 4, domain);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct dmarc_history_slot *s;
		long long b = sqlite3_column_int64(st, 1);

		if (count == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			slots = xreallocarray(slots, cap, sizeof(*slots));
		}
		s = &slots[count++];
		s->policy_domain = column_dup(st, 0);
		if (s->policy_domain == NULL)
			s->policy_domain = xstrdup("");
		s->begin = b < from ? from : b;
		s->end = b + interval > to ? to : b + interval;
		s->max_id = sqlite3_column_int64(st, 2);
		s->rows = sqlite3_column_int64(st, 3);
	}
	if (rc != SQLITE_DONE) {
		*error_r = xstrdup(sqlite3_errmsg(db));
		sqlite3_finalize(st);
		dmarc_history_slots_free(&slots, count);
		return -1;
	}
	sqlite3_finalize(st);
	*slots_r = slots;
	*count_r = count;
	return 0;
}

void
dmarc_history_slots_free(struct dmarc_history_slot **slots, size_t count)
{
	for (size_t i = 0; *slots != NULL && i < count; i++)
		free((*slots)[i].policy_domain);
	x_free(slots);
}

static int
slot_bind(sqlite3_stmt *st, const struct dmarc_history_slot *slot)
{
	db_bind_text(st, 1, slot->policy_domain);
	sqlite3_bind_int64(st, 2, slot->begin);
	sqlite3_bind_int64(st, 3, slot->end);
	sqlite3_bind_int64(st, 4, slot->max_id);
	return 0;
}

#define SLOT_WHERE                                                             \
	" WHERE policy_domain = ?1 AND time >= ?2 AND time < ?3 AND id <= ?4"

int
dmarc_history_load(sqlite3 *db, const struct dmarc_history_slot *slot,
		   struct dmarc_report_data *data_r, char **error_r)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc;

	memset(data_r, 0, sizeof(*data_r));
	data_r->policy.domain = xstrdup(slot->policy_domain);
	if (sqlite3_prepare_v2(db,
			       "SELECT p, sp, pct, adkim, aspf, fo, rua FROM "
			       "dmarc_messages" SLOT_WHERE
			       " ORDER BY time DESC, id DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	slot_bind(st, slot);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		struct dmarc_report_policy *p = &data_r->policy;

		p->p = column_dup(st, 0);
		p->sp = column_dup(st, 1);
		p->pct = sqlite3_column_int(st, 2);
		p->adkim = column_dup(st, 3);
		p->aspf = column_dup(st, 4);
		p->fo = column_dup(st, 5);
		p->rua = column_dup(st, 6);
	} else if (rc != SQLITE_DONE) {
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(
		db,
		"SELECT source_ip, disposition, override, dkim, spf, "
		"header_from, envelope_from, envelope_to, dkim_sigs, "
		"spf_domain, spf_scope, spf_result, COUNT(*) FROM "
		"dmarc_messages" SLOT_WHERE
		" GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12",
		-1, &st, NULL) != SQLITE_OK)
		goto fail;
	slot_bind(st, slot);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct dmarc_report_row *r;
		int c = 0;

		if (data_r->count == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			data_r->rows =
			    xreallocarray(data_r->rows, cap, sizeof(*r));
		}
		r = &data_r->rows[data_r->count++];
		r->source_ip = column_dup(st, c++);
		r->disposition = column_dup(st, c++);
		r->override = column_dup(st, c++);
		r->dkim = column_dup(st, c++);
		r->spf = column_dup(st, c++);
		r->header_from = column_dup(st, c++);
		r->envelope_from = column_dup(st, c++);
		r->envelope_to = column_dup(st, c++);
		r->dkim_sigs = column_dup(st, c++);
		r->spf_domain = column_dup(st, c++);
		r->spf_scope = column_dup(st, c++);
		r->spf_result = column_dup(st, c++);
		r->count = (unsigned long long)sqlite3_column_int64(st, c);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	return 0;
fail:
	*error_r = xstrdup(sqlite3_errmsg(db));
	sqlite3_finalize(st);
	dmarc_report_data_clear(data_r);
	return -1;
}

long long
dmarc_history_delete_slot(sqlite3 *db, const struct dmarc_history_slot *slot,
			  char **error_r)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, "DELETE FROM dmarc_messages" SLOT_WHERE, -1,
			       &st, NULL) != SQLITE_OK) {
		*error_r = xstrdup(sqlite3_errmsg(db));
		return -1;
	}
	slot_bind(st, slot);
	if (sqlite3_step(st) != SQLITE_DONE) {
		*error_r = xstrdup(sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return sqlite3_changes(db);
}

long long
dmarc_history_expire(sqlite3 *db, long long before, char **error_r)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, "DELETE FROM dmarc_messages WHERE time < ?",
			       -1, &st, NULL) != SQLITE_OK) {
		*error_r = xstrdup(sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, before);
	if (sqlite3_step(st) != SQLITE_DONE) {
		*error_r = xstrdup(sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return sqlite3_changes(db);
}
