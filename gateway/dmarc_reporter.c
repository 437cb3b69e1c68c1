/*
 * dmarc_reporter: builds and sends DMARC aggregate reports (see
 * dmarc_reporter.h). The periodic job runs in the queue process: a timer
 * on its event loop starts one job thread at a time; the thread opens the
 * message log database, the private resolver (dns_lookup_wait) and the
 * Public Suffix List, writes complete queue files (fsync'd like a DSN) and
 * hands each new queue id back to the loop through a pipe, so the queue
 * delivers them at once. A report's rows are deleted only after all its
 * queue files are on disk; an interval is reported only after a grace
 * period past its end, and rows written later than the report was built
 * (id above the slot's max_id) are left for the next run.
 */
#include "gateway/dmarc_reporter.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "filters/dkim_sign.h"
#include "filters/dkim_tags.h"
#include "filters/dmarc.h"
#include "filters/dmarc_rua.h"
#include "filters/filter_log.h"
#include "filters/psl.h"
#include "gateway/queue_file.h"
#include "lib/db.h"
#include "lib/dns.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define REPORTER_DNS_TIMEOUT_MS 10000
#define REPORTER_TICK_MAX	60
#define REPORTER_GRACE_MAX	300

void
dmarc_built_clear(struct dmarc_built *b)
{
	dmarc_report_data_clear(&b->data);
	buf_free(&b->xml);
	buf_free(&b->gz);
	free(b->filename);
	free(b->report_id);
	free(b->receiver);
	memset(b, 0, sizeof(*b));
}

char *
dmarc_reporter_db_path(const struct moat_settings *settings)
{
	return xasprintf("%s/messagelog.db", settings->data_dir);
}

int
dmarc_reporter_build(sqlite3 *db, const struct moat_settings *settings,
		     const struct dmarc_history_slot *slot,
		     struct dmarc_built *b, char **error_r)
{
	struct dmarc_report_meta meta;
	const char *at = strrchr(settings->dmarc_report_from, '@');
	const char *error = NULL;
	struct buf name = {0};

	memset(b, 0, sizeof(*b));
	if (dmarc_history_load(db, slot, &b->data, error_r) < 0)
		return -1;
	for (size_t i = 0; i < b->data.count; i++)
		b->messages += b->data.rows[i].count;
	b->receiver = xstrdup(at != NULL ? at + 1 : settings->hostname);
	b->report_id = xasprintf("%s.%lld.%lld@%s", slot->policy_domain,
				 slot->begin, slot->end, b->receiver);
	memset(&meta, 0, sizeof(meta));
	meta.org_name = settings->dmarc_report_org;
	meta.email = settings->dmarc_report_from;
	meta.receiver = b->receiver;
	meta.report_id = b->report_id;
	meta.begin = slot->begin;
	meta.end = slot->end - 1; /* date_range is inclusive */
	dmarc_report_xml(&meta, &b->data, &b->xml);
	if (dmarc_report_gzip(b->xml.data, b->xml.len, &b->gz, &error) < 0) {
		*error_r = xstrdup(error);
		dmarc_built_clear(b);
		return -1;
	}
	dmarc_report_filename(&meta, slot->policy_domain, &name);
	b->filename = buf_detach(&name);
	buf_free(&name);
	return 0;
}

int
dmarc_reporter_authorized(struct dns *dns, const char *policy_domain,
			  const char *rua_domain,
			  struct dmarc_rua_list *override_r, const char **why_r)
{
	char org_a[256], org_b[256];
	struct dns_answer *ans = NULL;
	char *name;
	int ok = 0;

	if (override_r != NULL)
		memset(override_r, 0, sizeof(*override_r));
	if (dmarc_org_domain(policy_domain, org_a, sizeof(org_a)) < 0)
		snprintf(org_a, sizeof(org_a), "%s", policy_domain);
	if (dmarc_org_domain(rua_domain, org_b, sizeof(org_b)) < 0)
		snprintf(org_b, sizeof(org_b), "%s", rua_domain);
	if (strcasecmp(org_a, org_b) == 0)
		return 1;
	*why_r = "resolver unavailable";
	if (dns == NULL)
		return -1;
	*why_r = "no _report._dmarc authorisation record";
	name = xasprintf("%s._report._dmarc.%s", policy_domain, rua_domain);
	if (dns_lookup_wait(dns, name, 16, REPORTER_DNS_TIMEOUT_MS, &ans) < 0 ||
	    ans == NULL) {
		*why_r = "resolver unavailable";
		ok = -1;
	} else if (ans->status == DNS_TEMPFAIL) {
		*why_r = "authorisation lookup failed (temporary)";
		ok = -1;
	} else if (ans->status == DNS_OK && ans->count > 1) {
		*why_r = "several _report._dmarc records";
	} else if (ans->status == DNS_OK && ans->count == 1) {
		const char *t = ans->txt[0];

		while (*t == ' ' || *t == '\t')
			t++;
		if (strncasecmp(t, "v=DMARC1", 8) == 0 &&
		    (t[8] == '\0' || t[8] == ';' || t[8] == ' ' ||
		     t[8] == '\t'))
			ok = 1;
		else
			*why_r = "_report._dmarc record without v=DMARC1";
		if (ok == 1 && override_r != NULL) {
			size_t size = strlen(t) + 1, keep = 0;
			char *rua = xmalloc(size);

			if (dmarc_record_tag(t, "rua", rua, size) == 1)
				dmarc_rua_parse(rua, override_r);
			/* 7.1 step 7: only URIs on the same host count. */
			for (size_t i = 0; i < override_r->count; i++) {
				if (strcasecmp(override_r->items[i].domain,
					       rua_domain) != 0)
					continue;
				override_r->items[keep] = override_r->items[i];
				override_r->items[keep].domain =
				    strchr(override_r->items[keep].address,
					   '@') +
				    1;
				keep++;
			}
			override_r->count = keep;
			free(rua);
		}
	}
	dns_answer_free(&ans);
	free(name);
	return ok;
}

/* Writes the report message as a complete queue file from report_from to
 * rcpt. 0 with qid_r, or -1 (logged). */
static int
report_enqueue(const char *queue_dir, const char *from, const char *rcpt,
	       const char *helo, const struct buf *msg, long long now,
	       char qid_r[QUEUE_ID_MAX])
{
	struct queue_envelope env;
	struct queue_rcpt qr;
	char trailer[QUEUE_TRAILER_LEN + 1];
	struct buf file = {0};
	size_t header_len;
	const char *error = NULL;
	int ret = -1;

	memset(&env, 0, sizeof(env));
	memset(&qr, 0, sizeof(qr));
	queue_id_new(env.qid);
	env.mail_from = (char *)from;
	qr.address = (char *)rcpt;
	qr.notify = (char *)"FAILURE";
	env.rcpts = &qr;
	env.rcpt_count = 1;
	env.arrival = (time_t)now;
	env.client_ip = (char *)"127.0.0.1";
	env.helo = (char *)helo;
	env.body = (char *)"7BIT";
	queue_envelope_encode(&env, &file);
	header_len = file.len;
	buf_append(&file, msg->data, msg->len);
	queue_trailer_format(file.len - header_len, trailer);
	buf_append(&file, trailer, QUEUE_TRAILER_LEN);
	if (queue_file_publish(queue_dir, env.qid, file.data, file.len,
			       &error) == 0)
		ret = 0;
	else
		log_warn("event=dmarc_report_error qid=%s error=\"%s\"",
			 env.qid, error);
	if (ret == 0)
		memcpy(qid_r, env.qid, QUEUE_ID_MAX);
	buf_free(&file);
	return ret;
}

/* DKIM-signs a report message in place with the active key of the report
 * sender's domain (moatctl dkim genkey), when there is one, so the report
 * passes DMARC at its receiver. Unsigned when there is no key or signing
 * fails (logged). */
static void
report_sign(const struct moat_settings *set, const char *domain,
	    struct buf *msg)
{
	const char *dir = moat_settings_filter_value(set, "dkim_sign.key_dir");
	struct dkim_sign_options opts = {DKIM_C14N_RELAXED, DKIM_C14N_RELAXED,
					 NULL, 0};
	struct dkim_sign_key *key = NULL;
	struct mail_headers headers;
	const char *serr = NULL;
	char *error = NULL, *field = NULL;
	struct buf out = {0};
	int rc;

	if (dir == NULL)
		return;
	rc = dkim_keystore_load(dir, domain, &key, &error);
	if (rc <= 0) {
		if (rc < 0)
			log_warnx("event=dmarc_report_sign domain=%s "
				  "error=\"%s\"",
				  domain, error);
		free(error);
		return;
	}
	if (mail_headers_parse(msg->data, msg->len, 100, &headers, &serr) < 0) {
		log_warnx("event=dmarc_report_sign domain=%s error=\"%s\"",
			  domain, serr);
		dkim_sign_key_free(&key);
		return;
	}
	if (dkim_sign_message(key, &opts, msg->data, msg->len, &headers, &field,
			      &serr) == 0) {
		buf_append_str(&out, field);
		buf_append_str(&out, "\r\n");
		buf_append(&out, msg->data, msg->len);
		buf_free(msg);
		*msg = out;
	} else {
		log_warnx("event=dmarc_report_sign domain=%s error=\"%s\"",
			  domain, serr);
	}
	free(field);
	mail_headers_clear(&headers);
	dkim_sign_key_free(&key);
}

/* The report's metadata: who reports, for which interval, under which id. */
static void
report_meta_init(struct dmarc_report_meta *meta,
		 const struct moat_settings *set,
		 const struct dmarc_history_slot *slot,
		 const struct dmarc_built *b)
{
	memset(meta, 0, sizeof(*meta));
	meta->org_name = set->dmarc_report_org;
	meta->email = set->dmarc_report_from;
	meta->receiver = b->receiver;
	meta->report_id = b->report_id;
	meta->begin = slot->begin;
	meta->end = slot->end - 1;
}

/* Mails the built report to one address, within its size limit. 1 queued,
 * 0 skipped (too large), -1 when the queue file could not be written.
 * *size_r is the message's size. */
static int
report_send(const struct moat_settings *set, const char *queue_dir,
	    const struct dmarc_history_slot *slot, const struct dmarc_built *b,
	    const struct dmarc_rua *r, long long now, size_t *size_r,
	    void (*on_qid)(const char *, void *), void *ctx)
{
	struct dmarc_report_meta meta;
	struct buf msg = {0};
	char qid[QUEUE_ID_MAX];

	report_meta_init(&meta, set, slot, b);
	dmarc_report_message(&meta, slot->policy_domain, r->address, b->gz.data,
			     b->gz.len, now, &msg);
	report_sign(set, b->receiver, &msg);
	*size_r = msg.len;
	if (r->limit > 0 && msg.len > r->limit) {
		log_info("event=dmarc_report_skipped domain=%s rua_domain=%s "
			 "reason=\"size %zu over the limit %llu\"",
			 slot->policy_domain, r->domain, msg.len, r->limit);
		buf_free(&msg);
		return 0;
	}
	if (report_enqueue(queue_dir, set->dmarc_report_from, r->address,
			   set->hostname, &msg, now, qid) < 0) {
		buf_free(&msg);
		return -1;
	}
	log_info("qid=%s event=dmarc_report_queued domain=%s rua_domain=%s "
		 "begin=%lld end=%lld messages=%llu records=%zu bytes=%zu",
		 qid, slot->policy_domain, r->domain, slot->begin, slot->end,
		 b->messages, b->data.count, b->gz.len);
	if (on_qid != NULL)
		on_qid(qid, ctx);
	buf_free(&msg);
	return 1;
}

/* Seconds between two reporter runs (see dmarc_reporter_new). */
static long long
reporter_tick(const struct moat_settings *set)
{
	long long tick = (long long)set->dmarc_report_interval / 4;

	if (tick < 1)
		tick = 1;
	return tick < REPORTER_TICK_MAX ? tick : REPORTER_TICK_MAX;
}

/* Appends t to the growing array *items (count/cap), its domain pointer
 * set into the copy. */
static void
target_add(struct dmarc_rua **items, size_t *count, size_t *cap,
	   const struct dmarc_rua *t)
{
	if (*count == *cap) {
		*cap = *cap == 0 ? 8 : *cap * 2;
		*items = xreallocarray(*items, *cap, sizeof(**items));
	}
	(*items)[*count] = *t;
	(*items)[*count].domain = strchr((*items)[*count].address, '@') + 1;
	(*count)++;
}

/* RFC 7489 7.2.2: the report fits no address; each gets a short notice
 * instead. 1 when all are queued, -1 when one could not be written. */
static int
report_notice(const struct moat_settings *set, const char *queue_dir,
	      const struct dmarc_history_slot *slot,
	      const struct dmarc_built *b, const struct dmarc_rua *targets,
	      size_t count, size_t size, long long now,
	      void (*on_qid)(const char *, void *), void *ctx)
{
	struct dmarc_report_meta meta;
	struct buf uris = {0};

	report_meta_init(&meta, set, slot, b);
	for (size_t i = 0; i < count; i++) {
		buf_printf(&uris, "%smailto:%s", i > 0 ? ", " : "",
			   targets[i].address);
		if (targets[i].limit > 0)
			buf_printf(&uris, "!%llu", targets[i].limit);
	}
	log_warnx("event=dmarc_report_too_large domain=%s report_id=%s "
		  "bytes=%zu limits=\"%s\" action=notice",
		  slot->policy_domain, b->report_id, size, buf_cstr(&uris));
	for (size_t i = 0; i < count; i++) {
		struct buf msg = {0};
		char qid[QUEUE_ID_MAX];

		dmarc_report_error_message(&meta, slot->policy_domain,
					   targets[i].address, size,
					   buf_cstr(&uris), now, &msg);
		report_sign(set, b->receiver, &msg);
		if (report_enqueue(queue_dir, set->dmarc_report_from,
				   targets[i].address, set->hostname, &msg, now,
				   qid) < 0) {
			buf_free(&msg);
			buf_free(&uris);
			return -1;
		}
		log_info("qid=%s event=dmarc_report_notice_queued domain=%s "
			 "rua_domain=%s report_id=%s",
			 qid, slot->policy_domain, targets[i].domain,
			 b->report_id);
		if (on_qid != NULL)
			on_qid(qid, ctx);
		buf_free(&msg);
	}
	buf_free(&uris);
	return 1;
}

/* Sends one slot's report to its rua addresses. Returns the number of
 * queue files written, or -1 when the rows are to be kept for the next
 * run: a queue file could not be written, or an authorisation lookup
 * failed temporarily and the rows outlive the next run (then nothing is
 * sent, so no address gets the report twice). */
static int
report_slot(sqlite3 *db, struct dns *dns, const struct moat_settings *set,
	    const char *queue_dir, const struct dmarc_history_slot *slot,
	    long long now, void (*on_qid)(const char *, void *), void *ctx)
{
	struct dmarc_built b;
	struct dmarc_rua_list rua;
	struct dmarc_rua *targets = NULL;
	size_t ntargets = 0, cap = 0, largest = 0;
	char *error = NULL;
	bool retry = dmarc_report_may_retry(
	    now, slot->begin, (long long)set->dmarc_report_retention,
	    reporter_tick(set));
	int sent = 0, ret = -1;

	if (dmarc_reporter_build(db, set, slot, &b, &error) < 0) {
		log_errorx("event=dmarc_report_error domain=%s error=\"%s\"",
			   slot->policy_domain, error);
		free(error);
		return -1;
	}
	dmarc_rua_parse(b.data.policy.rua, &rua);
	for (size_t i = 0; i < rua.count; i++) {
		const struct dmarc_rua *r = &rua.items[i];
		struct dmarc_rua_list over;
		const char *why = NULL;
		int rc = dmarc_reporter_authorized(dns, slot->policy_domain,
						   r->domain, &over, &why);

		if (rc < 0 && retry) {
			log_warnx("event=dmarc_report_deferred domain=%s "
				  "rua_domain=%s reason=\"%s\"",
				  slot->policy_domain, r->domain, why);
			goto out;
		}
		if (rc <= 0) {
			log_info("event=dmarc_report_skipped domain=%s "
				 "rua_domain=%s reason=\"%s\"",
				 slot->policy_domain, r->domain, why);
			continue;
		}
		if (over.count == 0)
			target_add(&targets, &ntargets, &cap, r);
		for (size_t j = 0; j < over.count; j++)
			target_add(&targets, &ntargets, &cap, &over.items[j]);
	}
	for (size_t j = 0; j < ntargets; j++) {
		size_t size = 0;
		int rc = report_send(set, queue_dir, slot, &b, &targets[j], now,
				     &size, on_qid, ctx);

		if (rc < 0)
			goto out;
		if (size > largest)
			largest = size;
		sent += rc;
	}
	if (ntargets > 0 && sent == 0) {
		if (report_notice(set, queue_dir, slot, &b, targets, ntargets,
				  largest, now, on_qid, ctx) < 0)
			goto out;
		sent = (int)ntargets;
	}
	ret = sent;
out:
	free(targets);
	dmarc_built_clear(&b);
	return ret;
}

int
dmarc_reporter_run_once(const struct moat_settings *set, const char *queue_dir,
			long long now, void (*on_qid)(const char *, void *),
			void *ctx, char **error_r)
{
	char *path = dmarc_reporter_db_path(set);
	const char *psl = moat_settings_filter_value(set, "dmarc.psl");
	struct dmarc_history_slot *slots = NULL;
	struct dns *dns = NULL;
	sqlite3 *db = NULL;
	size_t count = 0;
	long long interval = set->dmarc_report_interval, grace, end;
	char *err = NULL;
	int queued = 0;

	if (filter_log_db_open(path, &db, error_r) < 0) {
		free(path);
		return -1;
	}
	free(path);
	if (dmarc_history_expire(db,
				 now - (long long)set->dmarc_report_retention,
				 error_r) < 0) {
		db_close(&db);
		return -1;
	}
	if (!set->dmarc_reports) {
		db_close(&db);
		return 0;
	}
	if (dmarc_library_init(psl != NULL ? psl : PSL_DEFAULT_PATH, &err) <
	    0) {
		log_warnx("event=dmarc_report_psl error=\"%s\"", err);
		x_free(&err);
	}
	grace = interval / 4 < REPORTER_GRACE_MAX ? interval / 4
						  : REPORTER_GRACE_MAX;
	end = ((now - grace) / interval) * interval;
	if (dmarc_history_slots(db, NULL, 0, end, interval, &slots, &count,
				error_r) < 0) {
		db_close(&db);
		return -1;
	}
	if (count > 0) {
		dns = dns_new(NULL, &set->dns_servers, &err);
		if (dns == NULL) {
			log_warnx("event=dmarc_report_dns error=\"%s\"", err);
			x_free(&err);
		}
	}
	for (size_t i = 0; i < count; i++) {
		int n = report_slot(db, dns, set, queue_dir, &slots[i], now,
				    on_qid, ctx);

		if (n < 0)
			continue; /* kept for the next run */
		queued += n;
		if (dmarc_history_delete_slot(db, &slots[i], &err) < 0) {
			log_errorx("event=dmarc_report_error what=prune "
				   "error=\"%s\"",
				   err);
			x_free(&err);
		}
	}
	dmarc_history_slots_free(&slots, count);
	dns_free(&dns);
	db_close(&db);
	return queued;
}

/* ------------------------------------------------------------------ */
/* the periodic job in the queue process */

struct dmarc_reporter {
	const struct moat_settings *settings;
	char *queue_dir;
	struct event *timer, *pipe_event;
	int pipe_fds[2];
	pthread_t thread;
	bool running;
	dmarc_reporter_enqueue_fn *enqueue;
	void *context;
};

static void
thread_qid(const char *qid, void *context)
{
	struct dmarc_reporter *rep = context;
	char rec[QUEUE_ID_MAX];

	memset(rec, 0, sizeof(rec));
	snprintf(rec, sizeof(rec), "%s", qid);
	if (fileio_write_all(rep->pipe_fds[1], rec, sizeof(rec)) < 0)
		log_warn("event=dmarc_report_error what=notify");
}

static void *
reporter_thread(void *arg)
{
	struct dmarc_reporter *rep = arg;
	char *error = NULL;
	char done[QUEUE_ID_MAX];

	if (dmarc_reporter_run_once(rep->settings, rep->queue_dir,
				    (long long)time(NULL), thread_qid, rep,
				    &error) < 0) {
		log_errorx("event=dmarc_report_error error=\"%s\"", error);
		free(error);
	}
	memset(done, 0, sizeof(done)); /* the end marker */
	(void)fileio_write_all(rep->pipe_fds[1], done, sizeof(done));
	return NULL;
}

static void
on_pipe(evutil_socket_t fd, short what, void *arg)
{
	struct dmarc_reporter *rep = arg;
	char rec[QUEUE_ID_MAX];

	(void)what;
	/* Records are written whole (32 bytes < PIPE_BUF): atomic. */
	while (read(fd, rec, sizeof(rec)) == (ssize_t)sizeof(rec)) {
		rec[QUEUE_ID_MAX - 1] = '\0';
		if (rec[0] == '\0') {
			pthread_join(rep->thread, NULL);
			rep->running = false;
		} else if (queue_id_valid(rec)) {
			rep->enqueue(rec, rep->context);
		}
	}
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct dmarc_reporter *rep = arg;
	int rc;

	(void)fd;
	(void)what;
	if (rep->running)
		return;
	rc = pthread_create(&rep->thread, NULL, reporter_thread, rep);
	if (rc != 0) {
		log_errorx("event=dmarc_report_error what=thread error=\"%s\"",
			   strerror(rc));
		return;
	}
	rep->running = true;
}

struct dmarc_reporter *
dmarc_reporter_new(struct event_base *base, const struct moat_settings *set,
		   const char *queue_dir, dmarc_reporter_enqueue_fn *enqueue,
		   void *context)
{
	struct dmarc_reporter *rep = xcalloc(1, sizeof(*rep));
	struct timeval tv = {REPORTER_TICK_MAX, 0};

	if (pipe2(rep->pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_warn("event=dmarc_report_error what=pipe");
		free(rep);
		return NULL;
	}
	/* The writer (the thread) may block; the reader must not. */
	(void)fcntl(rep->pipe_fds[1], F_SETFL, 0);
	rep->settings = set;
	rep->queue_dir = xstrdup(queue_dir);
	rep->enqueue = enqueue;
	rep->context = context;
	if (set->dmarc_report_interval / 4 < REPORTER_TICK_MAX)
		tv.tv_sec = set->dmarc_report_interval / 4 > 0
				? set->dmarc_report_interval / 4
				: 1;
	rep->pipe_event = event_new(base, rep->pipe_fds[0],
				    EV_READ | EV_PERSIST, on_pipe, rep);
	rep->timer = event_new(base, -1, EV_PERSIST, on_tick, rep);
	event_add(rep->pipe_event, NULL);
	event_add(rep->timer, &tv);
	return rep;
}

void
dmarc_reporter_free(struct dmarc_reporter **repp)
{
	struct dmarc_reporter *rep = *repp;

	if (rep == NULL)
		return;
	if (rep->running)
		pthread_join(rep->thread, NULL);
	event_free(rep->timer);
	event_free(rep->pipe_event);
	close(rep->pipe_fds[0]);
	close(rep->pipe_fds[1]);
	free(rep->queue_dir);
	x_free(repp);
}
