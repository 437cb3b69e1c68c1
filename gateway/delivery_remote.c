/*
 * delivery_remote: the remote delivery engine of the queue process (see
 * the header for the model). Three kinds of object, all on one event loop:
 *
 *   attempt  one message being tried: its envelope, open queue file, done
 *            flags, retry state and the delivery addresses (recipients,
 *            or the foreign targets of a local alias);
 *   job      the addresses of one attempt that share a destination (route
 *            key): it walks the route's next hops in order, each resolved
 *            to an ordered list of targets (host, IP, port), until one
 *            accepts a session;
 *   conn     one SMTP client connection, counted against the global and
 *            per-destination limits; after a job it serves the next job
 *            waiting for the same destination, else it is closed.
 *
 * An attempt ends when its last job does: results are logged one line per
 * address, sent and failed recipients are marked done (QID.done), failures
 * get one DSN, the rest is rescheduled (QID.state) or expires. The files
 * are the truth: a crash at any point repeats at most one attempt.
 * Next-hop resolution is in delivery_resolve.c, the moatctl commands in
 * delivery_admin.c; the shared structures in delivery_remote_private.h.
 */
#include "gateway/delivery_remote.h"
#include "gateway/delivery_remote_private.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/dsn.h"
#include "gateway/mx_order.h"
#include "gateway/queue_file.h"
#include "gateway/queue_state.h"
#include "gateway/retry_schedule.h"
#include "gateway/route.h"
#include "gateway/settings.h"
#include "gateway/smtp_client.h"
#include "lib/dns.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/tls.h"
#include "lib/xalloc.h"
#include "mailstore/directory.h"

#define ATTEMPTS_MAX  256 /* messages in flight (each holds a file open) */
#define TARGETS_MAX   32
#define HOST_ADDR_MAX 4

static void job_done(struct job *j);
static void conn_close(struct conn *c);
static void wake_waiters(struct delivery_remote *dr);

/* ---- bookkeeping ------------------------------------------------------ */

struct rmsg *
delivery_rmsg_find(struct delivery_remote *dr, const char *qid)
{
	for (size_t i = 0; i < dr->nmsgs; i++)
		if (strcmp(dr->msgs[i].qid, qid) == 0)
			return &dr->msgs[i];
	return NULL;
}

static struct rmsg *
rmsg_add(struct delivery_remote *dr, const char *qid, time_t next, bool held)
{
	struct rmsg *m;

	if (dr->nmsgs == dr->msgs_cap) {
		dr->msgs_cap = dr->msgs_cap == 0 ? 64 : dr->msgs_cap * 2;
		dr->msgs =
		    xreallocarray(dr->msgs, dr->msgs_cap, sizeof(*dr->msgs));
	}
	m = &dr->msgs[dr->nmsgs++];
	memset(m, 0, sizeof(*m));
	snprintf(m->qid, sizeof(m->qid), "%s", qid);
	m->next = next;
	m->held = held;
	return m;
}

void
delivery_rmsg_remove(struct delivery_remote *dr, const char *qid)
{
	for (size_t i = 0; i < dr->nmsgs; i++) {
		if (strcmp(dr->msgs[i].qid, qid) == 0) {
			dr->msgs[i] = dr->msgs[--dr->nmsgs];
			return;
		}
	}
}

static struct dest_count *
dest_get(struct delivery_remote *dr, const char *key)
{
	for (size_t i = 0; i < dr->ndests; i++)
		if (strcmp(dr->dests[i].key, key) == 0)
			return &dr->dests[i];
	return NULL;
}

static void
dest_inc(struct delivery_remote *dr, const char *key)
{
	struct dest_count *d = dest_get(dr, key);

	if (d == NULL) {
		dr->dests = xreallocarray(dr->dests, dr->ndests + 1,
					  sizeof(*dr->dests));
		d = &dr->dests[dr->ndests++];
		snprintf(d->key, sizeof(d->key), "%s", key);
		d->n = 0;
	}
	d->n++;
	dr->active_conns++;
}

static void
dest_dec(struct delivery_remote *dr, const char *key)
{
	struct dest_count *d = dest_get(dr, key);

	dr->active_conns--;
	if (d != NULL && --d->n == 0)
		*d = dr->dests[--dr->ndests];
}

static bool
slot_free(struct delivery_remote *dr, const char *key)
{
	struct dest_count *d = dest_get(dr, key);

	if ((long long)dr->active_conns >= dr->set->relay_max_connections)
		return false;
	return d == NULL ||
	       (long long)d->n < dr->set->relay_max_connections_per_destination;
}

static void
wait_push(struct job *j)
{
	struct delivery_remote *dr = j->a->dr;

	j->waiting = true;
	j->wait_next = NULL;
	if (dr->wait_tail != NULL)
		dr->wait_tail->wait_next = j;
	else
		dr->wait_head = j;
	dr->wait_tail = j;
}

static void
wait_remove(struct delivery_remote *dr, struct job *j)
{
	struct job **pp = &dr->wait_head, *prev = NULL;

	while (*pp != NULL && *pp != j) {
		prev = *pp;
		pp = &(*pp)->wait_next;
	}
	if (*pp == NULL)
		return;
	*pp = j->wait_next;
	if (dr->wait_tail == j)
		dr->wait_tail = prev;
	j->waiting = false;
	j->wait_next = NULL;
}

/* ---- results ---------------------------------------------------------- */

static const char *
result_name(enum addr_result r)
{
	switch (r) {
	case AR_SENT:
		return "sent";
	case AR_DEFER:
		return "deferred";
	case AR_BOUNCE:
		return "bounced";
	default:
		return "pending";
	}
}

/* "550 5.1.1 text" for logs and DSNs. */
static void
outcome_line(const struct smtp_client_outcome *o, char *out, size_t outsz)
{
	size_t slen = strlen(o->status);

	if (slen > 0 && strncmp(o->text, o->status, slen) == 0)
		snprintf(out, outsz, "%d %s", o->code, o->text);
	else
		snprintf(out, outsz, "%d %s %s", o->code, o->status, o->text);
	for (char *p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\' ||
		    (unsigned char)*p >= 0x7f)
			*p = '?';
}

static enum addr_result
classify(const struct smtp_client_outcome *o)
{
	if (o->code / 100 == 2)
		return AR_SENT;
	if (o->code / 100 == 5)
		return AR_BOUNCE;
	return AR_DEFER;
}

/* Sets the outcome of every pending address of j. */
void
delivery_job_fail_all(struct job *j, const struct smtp_client_outcome *o)
{
	struct attempt *a = j->a;
	char line[600];

	outcome_line(o, line, sizeof(line));
	for (size_t i = 0; i < j->naddrs; i++) {
		struct daddr *d = &a->addrs[j->addrs[i]];

		if (d->result != AR_PENDING)
			continue;
		d->outcome = *o;
		d->result = classify(o);
		log_info("qid=%s to=<%s> relay=none status=%s reply=\"%s\"",
			 a->qid, d->address, result_name(d->result), line);
	}
	job_done(j);
}

void
delivery_outcome_make(struct smtp_client_outcome *o, int code,
		      const char *status, const char *fmt, ...)
{
	va_list ap;

	memset(o, 0, sizeof(*o));
	o->code = code;
	snprintf(o->status, sizeof(o->status), "%s", status);
	va_start(ap, fmt);
	vsnprintf(o->text, sizeof(o->text), fmt, ap);
	va_end(ap);
}

/* ---- connections ------------------------------------------------------ */

static void conn_ready(struct smtp_client *client,
		       const struct smtp_client_outcome *failure, void *ctx);
static void conn_sent(struct smtp_client *client, void *ctx);

static void
relay_name(const struct target *t, char *out, size_t outsz)
{
	if (strchr(t->ip, ':') != NULL)
		snprintf(out, outsz, "%s[%s]:%d", t->host, t->ip, t->port);
	else
		snprintf(out, outsz, "%s[%s]:%d", t->host, t->ip, t->port);
}

/* Reads the first two lines of the route's auth file. 0 or -1. */
static int
read_auth_file(const char *path, char *user, size_t usz, char *pass, size_t psz)
{
	FILE *f = fopen(path, "re");
	int ret = -1;

	if (f == NULL)
		return -1;
	if (fgets(user, (int)usz, f) != NULL &&
	    fgets(pass, (int)psz, f) != NULL) {
		user[strcspn(user, "\r\n")] = '\0';
		pass[strcspn(pass, "\r\n")] = '\0';
		ret = user[0] != '\0' ? 0 : -1;
	}
	fclose(f);
	return ret;
}

static void
job_send(struct job *j, struct conn *c)
{
	c->job = j;
	smtp_client_send(c->client, &j->cmsg, conn_sent, c);
}

static void
conn_open(struct job *j)
{
	struct delivery_remote *dr = j->a->dr;
	const struct target *t = &j->targets[j->cur];
	struct conn *c = xcalloc(1, sizeof(*c));
	struct sockaddr_storage ss;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (strchr(t->ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)t->port);
		(void)inet_pton(AF_INET6, t->ip, &s6->sin6_addr);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)t->port);
		(void)inet_pton(AF_INET, t->ip, &s4->sin_addr);
		len = sizeof(*s4);
	}
	c->dr = dr;
	c->target = *t;
	c->job = j;
	snprintf(c->key, sizeof(c->key), "%s", j->key);
	snprintf(c->helo, sizeof(c->helo), "%s", dr->set->hostname);
	snprintf(c->tls_name, sizeof(c->tls_name), "%s", t->host);
	c->cfg.helo = c->helo;
	c->cfg.tls_ctx = j->plain_retry ? NULL : dr->tls_ctx;
	c->cfg.tls = j->route.tls;
	c->cfg.tls_name = c->tls_name;
	c->cfg.connect_timeout = dr->set->relay_connect_timeout;
	c->cfg.command_timeout = dr->set->relay_command_timeout;
	if (j->route.auth_file[0] != '\0') {
		if (read_auth_file(j->route.auth_file, c->auth_user,
				   sizeof(c->auth_user), c->auth_pass,
				   sizeof(c->auth_pass)) < 0) {
			/* Never send without the credentials the route
			 * asks for: the smarthost would refuse (5xx). */
			log_warnx("qid=%s event=auth_file path=%s "
				  "error=\"unreadable or empty\"",
				  j->a->qid, j->route.auth_file);
			free(c);
			delivery_outcome_make(&j->last, 451, "4.7.0",
					      "cannot read the route's auth "
					      "file");
			delivery_job_fail_all(j, &j->last);
			return;
		}
		c->cfg.auth_user = c->auth_user;
		c->cfg.auth_pass = c->auth_pass;
	}
	c->next = dr->conns;
	if (dr->conns != NULL)
		dr->conns->prev = c;
	dr->conns = c;
	dest_inc(dr, c->key);
	c->client = smtp_client_connect(dr->base, (struct sockaddr *)&ss, len,
					&c->cfg, conn_ready, c);
	if (c->client == NULL) {
		delivery_outcome_make(&j->last, 451, "4.3.0",
				      "cannot create a socket");
		c->job = NULL;
		conn_close(c);
		j->cur++;
		delivery_job_try(j);
	}
}

static void
conn_close(struct conn *c)
{
	struct delivery_remote *dr = c->dr;

	smtp_client_free(&c->client);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		dr->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	dest_dec(dr, c->key);
	explicit_bzero(c->auth_pass, sizeof(c->auth_pass));
	free(c);
}

static void
conn_ready(struct smtp_client *client, const struct smtp_client_outcome *f,
	   void *ctx)
{
	struct conn *c = ctx;
	struct delivery_remote *dr = c->dr;
	struct job *j = c->job;
	char relay[400], line[600];

	if (f == NULL) {
		const struct smtp_caps *caps = smtp_client_caps(client);

		relay_name(&c->target, relay, sizeof(relay));
		log_debug(
		    "qid=%s event=session relay=%s tls=%s pipelining=%d "
		    "chunking=%d size=%llu 8bitmime=%d smtputf8=%d dsn=%d",
		    j->a->qid, relay, smtp_client_tls_version(client),
		    caps->pipelining, caps->chunking, caps->size,
		    caps->eightbitmime, caps->smtputf8, caps->dsn);
		job_send(j, c);
		return;
	}
	relay_name(&c->target, relay, sizeof(relay));
	outcome_line(f, line, sizeof(line));
	log_info("qid=%s relay=%s tls=%s status=deferred reply=\"%s\"",
		 j->a->qid, relay, smtp_client_tls_version(c->client), line);
	j->last = *f;
	c->job = NULL;
	conn_close(c);
	/* Opportunistic TLS that fails in the handshake: the same host
	 * again without STARTTLS, as RFC 3207 leaves it to the client. */
	if (j->route.tls == ROUTE_TLS_NONE && f->network &&
	    strcmp(f->status, "4.7.5") == 0 && !j->plain_retry) {
		j->plain_retry = true;
	} else {
		j->plain_retry = false;
		j->cur++;
	}
	delivery_job_try(j); /* may finish and free j */
	wake_waiters(dr);
}

/* Gives c to the next job waiting for its destination, or closes it. */
static void
conn_next(struct delivery_remote *dr, struct conn *c)
{
	for (struct job *w = dr->wait_head; w != NULL; w = w->wait_next) {
		if (smtp_client_usable(c->client) &&
		    strcmp(w->key, c->key) == 0) {
			wait_remove(dr, w);
			job_send(w, c);
			return;
		}
	}
	conn_close(c);
	wake_waiters(dr);
}

static void
conn_sent(struct smtp_client *client, void *ctx)
{
	struct conn *c = ctx;
	struct delivery_remote *dr = c->dr;
	struct job *j = c->job;
	struct attempt *a = j->a;
	char relay[400], line[600];

	relay_name(&c->target, relay, sizeof(relay));
	for (size_t i = 0; i < j->naddrs; i++) {
		struct daddr *d = &a->addrs[j->addrs[i]];

		d->outcome = j->crcpts[i].outcome;
		d->result = classify(&d->outcome);
		d->relayed_without_dsn = !smtp_client_caps(client)->dsn;
		snprintf(d->remote, sizeof(d->remote), "%s", c->target.host);
		outcome_line(&d->outcome, line, sizeof(line));
		log_info("qid=%s to=<%s> relay=%s tls=%s status=%s "
			 "reply=\"%s\"",
			 a->qid, d->address, relay,
			 smtp_client_tls_version(client),
			 result_name(d->result), line);
	}
	c->job = NULL;
	job_done(j);
	conn_next(dr, c);
}

void
delivery_job_try(struct job *j)
{
	struct delivery_remote *dr = j->a->dr;

	if (j->cur >= j->ntargets) {
		j->hop++;
		delivery_resolve_hop(j);
		return;
	}
	if (!slot_free(dr, j->key)) {
		wait_push(j);
		return;
	}
	conn_open(j);
}

static void
wake_waiters(struct delivery_remote *dr)
{
	bool again = true;

	if (dr == NULL)
		return;
	while (again) {
		again = false;
		for (struct job *w = dr->wait_head; w != NULL;
		     w = w->wait_next) {
			if (slot_free(dr, w->key)) {
				wait_remove(dr, w);
				delivery_job_try(w);
				again = true;
				break;
			}
		}
	}
}

/* ---- attempts --------------------------------------------------------- */

static void attempt_finish(struct attempt *a);

static void
job_done(struct job *j)
{
	struct attempt *a = j->a;

	if (--a->jobs_left == 0)
		attempt_finish(a);
}

static void
job_free(struct job *j)
{
	free(j->addrs);
	free(j->crcpts);
	free(j);
}

static void
attempt_free(struct attempt *a)
{
	struct delivery_remote *dr = a->dr;

	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		dr->attempts = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	for (size_t i = 0; i < a->njobs; i++) {
		if (a->jobs[i]->waiting)
			wait_remove(dr, a->jobs[i]);
		job_free(a->jobs[i]);
	}
	free(a->jobs);
	for (size_t i = 0; i < a->naddrs; i++)
		free(a->addrs[i].address);
	free(a->addrs);
	if (a->fd >= 0)
		close(a->fd);
	queue_envelope_free(&a->env);
	queue_state_free(&a->state);
	free(a->done);
	free(a);
	dr->in_flight--;
	/* A slot for the next due message (coalesced per loop pass). */
	if (dr->work != NULL)
		event_active(dr->work, 0, 0);
}

void
delivery_remove_files(struct delivery_remote *dr, const char *qid)
{
	static const char *const suffix[] = {"", ".done", ".state"};

	for (size_t i = 0; i < 3; i++) {
		char *path =
		    xasprintf("%s/%s%s", dr->deferred_dir, qid, suffix[i]);
		(void)unlink(path);
		free(path);
	}
	/* No directory sync: a removal lost in a crash means one more
	 * delivery attempt, never a lost message. */
}

/* One DSN of the given kind for the listed addresses. */
static void
send_dsn(struct attempt *a, const size_t *which, size_t n, enum dsn_kind kind,
	 const char *const *statuses)
{
	struct delivery_remote *dr = a->dr;
	struct dsn_rcpt *rcpts = xcalloc(n, sizeof(*rcpts));
	char(*diag)[600] = xcalloc(n, sizeof(*diag));
	char qid[32];

	for (size_t i = 0; i < n; i++) {
		struct daddr *d = &a->addrs[which[i]];

		outcome_line(&d->outcome, diag[i], sizeof(diag[i]));
		rcpts[i].address = d->address;
		rcpts[i].orcpt = a->env.rcpts[d->rcpt].orcpt;
		rcpts[i].status = statuses[i];
		rcpts[i].remote_mta = d->remote[0] != '\0' ? d->remote : NULL;
		rcpts[i].diagnostic = kind == DSN_DELIVERED ? NULL : diag[i];
	}
	if (dsn_send(dr->queue_dir, dr->set->hostname, &a->env, a->fd,
		     (long long)a->offset, a->len, kind, rcpts, n,
		     a->env.arrival + (time_t)dr->policy.lifetime, qid) == 0)
		dr->enqueue(qid, dr->enqueue_ctx);
	free(diag);
	free(rcpts);
}

static void
attempt_finish(struct attempt *a)
{
	struct delivery_remote *dr = a->dr;
	struct rmsg *m = delivery_rmsg_find(dr, a->qid);
	time_t now = time(NULL), next = 0;
	bool null_sender = a->env.mail_from[0] == '\0';
	bool *rcpt_open = xcalloc(a->env.rcpt_count + 1, sizeof(bool));
	size_t *fail = xcalloc(a->naddrs + 1, sizeof(size_t));
	const char **fail_status = xcalloc(a->naddrs + 1, sizeof(char *));
	size_t nfail = 0, open_count = 0;
	bool held = a->state.held, all_done = true, expired = false;

	/* Which recipients still wait: any deferred address keeps its
	 * recipient open. */
	for (size_t i = 0; i < a->naddrs; i++)
		if (a->addrs[i].result == AR_DEFER ||
		    a->addrs[i].result == AR_PENDING)
			rcpt_open[a->addrs[i].rcpt] = true;
	for (size_t i = 0; i < a->env.rcpt_count; i++)
		if (!a->done[i] && rcpt_open[i])
			open_count++;
	if (open_count > 0) {
		a->state.failures++;
		for (size_t i = 0; i < a->naddrs; i++) {
			char line[600];

			if (a->addrs[i].result != AR_DEFER)
				continue;
			outcome_line(&a->addrs[i].outcome, line, sizeof(line));
			queue_state_set_error(&a->state, a->addrs[i].rcpt,
					      line);
		}
		if (!retry_next(&dr->policy, a->env.arrival, now,
				a->state.failures, &next))
			expired = true;
	}
	for (size_t i = 0; i < a->naddrs; i++) {
		struct daddr *d = &a->addrs[i];
		const char *notify = a->env.rcpts[d->rcpt].notify;

		if (d->result == AR_BOUNCE ||
		    (expired && d->result == AR_DEFER)) {
			if (expired && d->result == AR_DEFER)
				log_info("qid=%s to=<%s> status=expired "
					 "reason=\"retried for %u s\"",
					 a->qid, d->address,
					 dr->policy.lifetime);
			if (!null_sender &&
			    dsn_notify_wants(notify, "FAILURE")) {
				/* A full mailbox expires as 5.2.2. */
				fail_status[nfail] =
				    d->result == AR_BOUNCE ? d->outcome.status
				    : strcmp(d->outcome.status, "4.2.2") == 0
					? "5.2.2"
					: "5.4.7";
				fail[nfail++] = i;
			}
		}
	}
	if (null_sender) {
		/* A bounce that cannot be delivered is kept for the admin. */
		for (size_t i = 0; i < a->naddrs; i++) {
			if (a->addrs[i].result == AR_BOUNCE ||
			    (expired && a->addrs[i].result == AR_DEFER)) {
				char line[600];

				outcome_line(&a->addrs[i].outcome, line,
					     sizeof(line));
				queue_state_set_error(&a->state,
						      a->addrs[i].rcpt, line);
				rcpt_open[a->addrs[i].rcpt] = true;
				held = true;
			}
		}
		if (held && !a->state.held)
			log_warnx("qid=%s status=held reason=\"undeliverable "
				  "message from <> kept for the "
				  "administrator\"",
				  a->qid);
		expired = false;
	}
	if (nfail > 0)
		send_dsn(a, fail, nfail, DSN_FAILURE, fail_status);
	nfail = 0;
	for (size_t i = 0; i < a->naddrs && !null_sender; i++) {
		struct daddr *d = &a->addrs[i];
		const struct queue_rcpt *qr = &a->env.rcpts[d->rcpt];

		/* RFC 3461 6.2.2: NOTIFY=SUCCESS and a next hop without
		 * DSN: we are the last to know, so we report "relayed". */
		if (d->result == AR_SENT && d->relayed_without_dsn &&
		    qr->notify != NULL &&
		    dsn_notify_wants(qr->notify, "SUCCESS") &&
		    strcmp(d->address, qr->address) == 0) {
			fail_status[nfail] = "2.0.0";
			fail[nfail++] = i;
		}
	}
	if (nfail > 0)
		send_dsn(a, fail, nfail, DSN_RELAYED, fail_status);
	nfail = 0;
	for (size_t i = 0; i < a->naddrs && !null_sender; i++) {
		struct daddr *d = &a->addrs[i];
		const struct queue_rcpt *qr = &a->env.rcpts[d->rcpt];

		if (d->result == AR_SENT && d->delivered_locally &&
		    qr->notify != NULL &&
		    dsn_notify_wants(qr->notify, "SUCCESS")) {
			fail_status[nfail] = "2.0.0";
			fail[nfail++] = i;
		}
	}
	if (nfail > 0)
		send_dsn(a, fail, nfail, DSN_DELIVERED, fail_status);
	for (size_t i = 0; i < a->env.rcpt_count; i++) {
		if (a->done[i])
			continue;
		if (!rcpt_open[i] || expired)
			a->done[i] = true;
		else
			all_done = false;
	}
	if (!all_done && !held && !a->state.warned && !null_sender &&
	    retry_delay_notice_due(&dr->policy, a->env.arrival, now, false)) {
		size_t nd = 0;

		for (size_t i = 0; i < a->naddrs; i++) {
			const char *notify =
			    a->env.rcpts[a->addrs[i].rcpt].notify;

			if (a->addrs[i].result == AR_DEFER && notify != NULL &&
			    dsn_notify_wants(notify, "DELAY")) {
				fail_status[nd] = a->addrs[i].outcome.status;
				fail[nd++] = i;
			}
		}
		if (nd > 0)
			send_dsn(a, fail, nd, DSN_DELAY, fail_status);
		a->state.warned = true;
	}
	if (m != NULL && m->deleted) {
		log_info("qid=%s status=deleted reason=\"moatctl queue "
			 "delete\"",
			 a->qid);
		delivery_remove_files(dr, a->qid);
		delivery_rmsg_remove(dr, a->qid);
	} else if (all_done) {
		log_info("qid=%s status=removed", a->qid);
		delivery_remove_files(dr, a->qid);
		delivery_rmsg_remove(dr, a->qid);
	} else {
		if (m != NULL && m->held)
			held = true;
		a->state.held = held;
		a->state.next = held ? 0 : next;
		if (queue_done_save(dr->deferred_dir, a->qid, a->done,
				    a->env.rcpt_count) < 0 ||
		    queue_state_save(dr->deferred_dir, a->qid, &a->state) < 0)
			log_error("qid=%s event=state_save", a->qid);
		if (m != NULL) {
			m->busy = false;
			m->held = held;
			m->next = a->state.next;
		}
		if (!held)
			log_info("qid=%s status=deferred failures=%u "
				 "next_attempt_in=%llds",
				 a->qid, a->state.failures,
				 (long long)(next - now));
	}
	free(rcpt_open);
	free(fail);
	free(fail_status);
	attempt_free(a);
}

/* Adds an address to the job for its destination, creating the job. */
static int
attempt_route(struct attempt *a, size_t addr_index, char **error_r)
{
	struct delivery_remote *dr = a->dr;
	struct daddr *d = &a->addrs[addr_index];
	const char *at = strrchr(d->address, '@');
	const char *domain = at != NULL ? at + 1 : "";
	struct route route;
	char key[600], spec[512];
	struct job *j = NULL;

	if (route_table_lookup(dr->routes, domain, &route, error_r) < 0)
		return -1;
	if (route.internet) {
		snprintf(key, sizeof(key), "mx:%s", domain);
		for (char *p = key; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	} else {
		route_format(&route, spec, sizeof(spec));
		snprintf(key, sizeof(key), "route:%s", spec);
	}
	for (size_t i = 0; i < a->njobs; i++)
		if (strcmp(a->jobs[i]->key, key) == 0)
			j = a->jobs[i];
	if (j == NULL) {
		j = xcalloc(1, sizeof(*j));
		j->a = a;
		j->route = route;
		snprintf(j->key, sizeof(j->key), "%s", key);
		snprintf(j->domain, sizeof(j->domain), "%s", domain);
		j->addrs = xcalloc(a->naddrs, sizeof(*j->addrs));
		a->jobs =
		    xreallocarray(a->jobs, a->njobs + 1, sizeof(*a->jobs));
		a->jobs[a->njobs++] = j;
	}
	j->addrs[j->naddrs++] = addr_index;
	return 0;
}

static void
attempt_add_addr(struct attempt *a, size_t rcpt, const char *address)
{
	struct daddr *d;

	a->addrs = xreallocarray(a->addrs, a->naddrs + 1, sizeof(*a->addrs));
	d = &a->addrs[a->naddrs++];
	memset(d, 0, sizeof(*d));
	d->rcpt = rcpt;
	d->address = xstrdup(address);
}

/* An address finished here, without a job: a local recipient. */
static void
attempt_add_local(struct attempt *a, size_t rcpt, enum addr_result result,
		  int code, const char *status, const char *text)
{
	struct daddr *d;

	attempt_add_addr(a, rcpt, a->env.rcpts[rcpt].address);
	d = &a->addrs[a->naddrs - 1];
	d->result = result;
	delivery_outcome_make(&d->outcome, code, status, "%s", text);
	log_info("qid=%s to=<%s> status=%s dsn=%s reason=\"%s\"", a->qid,
		 d->address, result == AR_BOUNCE ? "bounced" : "deferred",
		 status, text);
}

/*
 * Local users of a deferred recipient (over quota at the first try, or
 * an alias that also has foreign targets): delivered into the store now.
 * A full mailbox or a store error keeps the recipient deferred, so the
 * retry schedule, lifetime and DSN of this engine apply to it too.
 */
static void
attempt_local_users(struct attempt *a, size_t rcpt,
		    const struct str_list *users)
{
	struct delivery_remote *dr = a->dr;
	int worst = 1;

	for (size_t u = 0; u < users->count; u++) {
		char *error = NULL;
		int rc = -1;

		if (dr->local != NULL)
			rc = dr->local(
			    dr->local_ctx, a->qid, rcpt, users->items[u], a->fd,
			    (long long)a->offset, a->len, a->env.mail_from,
			    a->env.arrival, &error);
		if (rc == 1)
			log_info("qid=%s to=<%s> user=%s mailbox=INBOX "
				 "status=sent",
				 a->qid, a->env.rcpts[rcpt].address,
				 users->items[u]);
		else if (rc < 0)
			log_errorx("qid=%s user=%s event=store error=\"%s\"",
				   a->qid, users->items[u],
				   error != NULL ? error : "no store");
		free(error);
		if (rc < 0 || (rc == 2 && worst == 1))
			worst = rc;
	}
	if (worst == 1 && users->count > 0) {
		/* Recorded for a NOTIFY=SUCCESS report only. */
		struct daddr *d;

		attempt_add_addr(a, rcpt, a->env.rcpts[rcpt].address);
		d = &a->addrs[a->naddrs - 1];
		d->result = AR_SENT;
		d->delivered_locally = true;
		delivery_outcome_make(&d->outcome, 250, "2.0.0", "delivered");
	} else if (worst == 2)
		attempt_add_local(a, rcpt, AR_DEFER, 452, "4.2.2",
				  "mailbox full");
	else if (worst < 0)
		attempt_add_local(a, rcpt, AR_DEFER, 451, "4.3.0",
				  "local delivery failed");
}

/* Opens the message and builds its jobs. 0 started (or finished), -1. */
static int
attempt_start(struct delivery_remote *dr, struct rmsg *m)
{
	struct attempt *a = xcalloc(1, sizeof(*a));
	char *path = xasprintf("%s/%s", dr->deferred_dir, m->qid);
	const char *error = NULL;
	char *err = NULL;

	a->dr = dr;
	a->fd = -1;
	snprintf(a->qid, sizeof(a->qid), "%s", m->qid);
	if (queue_file_open(path, &a->env, &a->fd, &a->offset, &a->len,
			    &error) < 0) {
		struct stat st;

		if (stat(path, &st) < 0 && errno == ENOENT) {
			delivery_rmsg_remove(dr, m->qid);
		} else {
			log_errorx("qid=%s event=open error=\"%s\"", m->qid,
				   error);
			m->next = time(NULL) + 300;
		}
		free(path);
		free(a);
		return -1;
	}
	free(path);
	a->done = xcalloc(a->env.rcpt_count + 1, sizeof(bool));
	queue_done_load(dr->deferred_dir, a->qid, a->done, a->env.rcpt_count);
	(void)queue_state_load(dr->deferred_dir, a->qid, a->env.rcpt_count,
			       &a->state);
	if (a->state.held) {
		m->held = true;
		queue_envelope_free(&a->env);
		queue_state_free(&a->state);
		close(a->fd);
		free(a->done);
		free(a);
		return -1;
	}
	for (size_t i = 0; i < a->env.rcpt_count; i++) {
		struct str_list users = {0}, foreign = {0};
		enum directory_result r;

		if (a->done[i])
			continue;
		r = directory_resolve(dr->dir, a->env.rcpts[i].address, &users,
				      &foreign);
		if (r == DIRECTORY_NOT_LOCAL) {
			attempt_add_addr(a, i, a->env.rcpts[i].address);
		} else if (r == DIRECTORY_ERROR) {
			err = xstrdup("directory lookup failed");
		} else if (r == DIRECTORY_UNKNOWN_USER) {
			attempt_add_local(a, i, AR_BOUNCE, 550, "5.1.1",
					  "user unknown");
		} else {
			for (size_t k = 0; k < foreign.count; k++)
				attempt_add_addr(a, i, foreign.items[k]);
			attempt_local_users(a, i, &users);
			if (foreign.count == 0 && users.count == 0)
				a->done[i] = true;
		}
		str_list_free(&users);
		str_list_free(&foreign);
	}
	for (size_t i = 0; i < a->naddrs && err == NULL; i++)
		if (a->addrs[i].result == AR_PENDING) /* not local ones */
			(void)attempt_route(a, i, &err);
	a->next = dr->attempts;
	if (a->next != NULL)
		a->next->prev = a;
	dr->attempts = a;
	dr->in_flight++;
	m->busy = true;
	if (err != NULL) {
		struct smtp_client_outcome o;

		log_errorx("qid=%s event=route error=\"%s\"", a->qid, err);
		free(err);
		delivery_outcome_make(&o, 451, "4.3.0", "local routing error");
		for (size_t i = 0; i < a->naddrs; i++) {
			if (a->addrs[i].result != AR_PENDING)
				continue;
			a->addrs[i].outcome = o;
			a->addrs[i].result = AR_DEFER;
		}
		a->jobs_left = 1;
		attempt_finish(a);
		return 0;
	}
	if (a->njobs == 0) {
		a->jobs_left = 1;
		attempt_finish(a);
		return 0;
	}
	/* Build every job's message view before any job can finish. */
	for (size_t k = 0; k < a->njobs; k++) {
		struct job *j = a->jobs[k];

		j->crcpts = xcalloc(j->naddrs, sizeof(*j->crcpts));
		for (size_t i = 0; i < j->naddrs; i++) {
			struct daddr *d = &a->addrs[j->addrs[i]];
			const struct queue_rcpt *qr = &a->env.rcpts[d->rcpt];

			j->crcpts[i].address = d->address;
			/* DSN parameters belong to the original recipient,
			 * not to an alias's targets. */
			if (strcmp(d->address, qr->address) == 0) {
				j->crcpts[i].notify = qr->notify;
				j->crcpts[i].orcpt = qr->orcpt;
			}
		}
		j->cmsg.mail_from = a->env.mail_from;
		j->cmsg.body = a->env.body;
		j->cmsg.smtputf8 = a->env.smtputf8;
		j->cmsg.ret = a->env.ret;
		j->cmsg.envid = a->env.envid;
		j->cmsg.fd = a->fd;
		j->cmsg.offset = a->offset;
		j->cmsg.len = a->len;
		j->cmsg.rcpts = j->crcpts;
		j->cmsg.rcpt_count = j->naddrs;
	}
	/* jobs_left counts one extra until every job was started, so an
	 * early finish cannot free the attempt under this loop. */
	a->jobs_left = a->njobs + 1;
	for (size_t k = 0; k < a->njobs; k++)
		delivery_resolve_hop(a->jobs[k]);
	if (--a->jobs_left == 0)
		attempt_finish(a);
	return 0;
}

/* ---- scheduling ------------------------------------------------------- */

static int
compare_qid(const void *a, const void *b)
{
	return strcmp(((const struct rmsg *)a)->qid,
		      ((const struct rmsg *)b)->qid);
}

void
delivery_scan_deferred(struct delivery_remote *dr)
{
	DIR *d = opendir(dr->deferred_dir);
	struct rmsg *sorted;
	struct dirent *de;
	size_t known = dr->nmsgs;

	if (d == NULL)
		return;
	sorted = xcalloc(known + 1, sizeof(*sorted));
	if (known > 0)
		memcpy(sorted, dr->msgs, known * sizeof(*sorted));
	qsort(sorted, known, sizeof(*sorted), compare_qid);
	while ((de = readdir(d)) != NULL) {
		struct rmsg key;
		struct queue_state st;

		if (!queue_id_valid(de->d_name))
			continue;
		memset(&key, 0, sizeof(key));
		memcpy(key.qid, de->d_name, strlen(de->d_name) + 1);
		if (bsearch(&key, sorted, known, sizeof(*sorted),
			    compare_qid) != NULL)
			continue;
		(void)queue_state_load(dr->deferred_dir, de->d_name, 0, &st);
		rmsg_add(dr, de->d_name, st.next, st.held);
		queue_state_free(&st);
	}
	closedir(d);
	free(sorted);
	dr->last_scan = time(NULL);
}

static void
run_due(struct delivery_remote *dr)
{
	time_t now = time(NULL);

	if (now - dr->last_scan >= (time_t)dr->set->queue_scan_interval)
		delivery_scan_deferred(dr);
	for (size_t i = 0; i < dr->nmsgs && dr->in_flight < ATTEMPTS_MAX; i++) {
		struct rmsg *m = &dr->msgs[i];
		size_t before = dr->nmsgs;

		if (m->busy || m->held || m->next > now)
			continue;
		(void)attempt_start(dr, m);
		/* the array may have shrunk (message gone or finished) */
		if (dr->nmsgs < before)
			i--;
	}
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_due(arg);
}

static void
on_work(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_due(arg);
}

void
delivery_remote_add(struct delivery_remote *dr, const char *qid)
{
	rmsg_add(dr, qid, 0, false);
	event_active(dr->work, 0, 0);
}

void
delivery_remote_set_local(struct delivery_remote *dr, delivery_local_fn *fn,
			  void *context)
{
	dr->local = fn;
	dr->local_ctx = context;
}

struct delivery_remote *
delivery_remote_new(struct event_base *base,
		    const struct moat_settings *settings,
		    delivery_enqueue_fn *enqueue, void *context, char **error_r)
{
	struct delivery_remote *dr = xcalloc(1, sizeof(*dr));
	struct timeval one = {1, 0};

	dr->base = base;
	dr->set = settings;
	dr->enqueue = enqueue;
	dr->enqueue_ctx = context;
	dr->seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	dr->queue_dir = xasprintf("%s/queue", settings->data_dir);
	dr->deferred_dir = xasprintf("%s/queue/deferred", settings->data_dir);
	dr->policy.min = settings->relay_retry_min;
	dr->policy.max = settings->relay_retry_max;
	dr->policy.lifetime = settings->relay_max_lifetime;
	dr->policy.delay_warning = settings->relay_delay_warning;
	dr->dns = dns_new(base, &settings->dns_servers, error_r);
	if (dr->dns == NULL)
		goto fail;
	if (directory_open(settings->data_dir, &dr->dir, error_r) < 0 ||
	    route_table_open(settings, &dr->routes, error_r) < 0)
		goto fail;
	dr->tls_ctx = tls_client_ctx_new(0, error_r);
	if (dr->tls_ctx == NULL)
		goto fail;
	/* The CA store is loaded for routes with tls=verify. */
	(void)SSL_CTX_set_default_verify_paths(dr->tls_ctx);
	dr->tick = event_new(base, -1, EV_PERSIST, on_tick, dr);
	dr->work = event_new(base, -1, 0, on_work, dr);
	event_add(dr->tick, &one);
	delivery_scan_deferred(dr);
	event_active(dr->work, 0, 0);
	return dr;
fail:
	delivery_remote_free(&dr);
	return NULL;
}

void
delivery_remote_free(struct delivery_remote **drp)
{
	struct delivery_remote *dr = *drp;

	if (dr == NULL)
		return;
	/* No DNS answer may arrive for a job freed below. */
	dns_free(&dr->dns);
	while (dr->conns != NULL) {
		dr->conns->job = NULL;
		conn_close(dr->conns);
	}
	while (dr->attempts != NULL)
		attempt_free(dr->attempts);
	if (dr->tick != NULL)
		event_free(dr->tick);
	if (dr->work != NULL)
		event_free(dr->work);
	if (dr->tls_ctx != NULL)
		SSL_CTX_free(dr->tls_ctx);
	route_table_close(&dr->routes);
	directory_close(&dr->dir);
	free(dr->msgs);
	free(dr->dests);
	free(dr->queue_dir);
	free(dr->deferred_dir);
	x_free(drp);
}
