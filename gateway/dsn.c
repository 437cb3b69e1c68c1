/*
 * dsn: composing delivery status notifications and queueing them (see the
 * header). The text part is for people, the message/delivery-status part
 * for programs: one per-message block, then one block per recipient with
 * Action, Status, Remote-MTA and Diagnostic-Code. Strings that came from
 * peers (diagnostics) were sanitised by the caller; addresses are what
 * smtpd accepted. Called by delivery_remote and, for local NOTIFY=SUCCESS
 * reports, by queue_service; unit tests compose reports.
 */
#include "gateway/dsn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gateway/queue_file.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define DSN_HEADERS_MAX (64 * 1024)

static void
rfc5322_date(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outsz, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

bool
dsn_notify_wants(const char *notify, const char *kind)
{
	const char *p;
	size_t klen = strlen(kind);

	if (notify == NULL || notify[0] == '\0')
		return strcasecmp(kind, "FAILURE") == 0;
	for (p = notify; *p != '\0';) {
		size_t n = strcspn(p, ",");

		if (n == klen && strncasecmp(p, kind, n) == 0)
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

/* Appends text, with every line ending made CRLF. */
static void
append_crlf(struct buf *out, const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
			buf_append_char(out, '\r');
		buf_append_char(out, text[i]);
	}
	if (len > 0 && text[len - 1] != '\n')
		buf_append_str(out, "\r\n");
}

void
dsn_compose(const struct dsn_report *r, struct buf *out)
{
	char date[64], arrival[64], until[64];
	char boundary[80];

	static const char *const subjects[] = {
	    "Undelivered Mail Returned to Sender",
	    "Delayed Mail (still being retried)",
	    "Successful Mail Delivery Report",
	    "Successful Mail Delivery Report"};
	static const char *const actions[] = {"failed", "delayed", "relayed",
					      "delivered"};
	static const char *const ids[] = {"bounce", "delay", "relayed",
					  "delivered"};
	size_t k = (size_t)r->kind < 4 ? (size_t)r->kind : 0;

	rfc5322_date(r->now, date, sizeof(date));
	rfc5322_date(r->arrival, arrival, sizeof(arrival));
	rfc5322_date(r->retry_until, until, sizeof(until));
	snprintf(boundary, sizeof(boundary), "%s.%lld/%s", r->qid,
		 (long long)r->now, r->reporting_mta);
	buf_printf(out,
		   "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
		   "To: <%s>\r\n"
		   "Subject: %s\r\n"
		   "Date: %s\r\n"
		   "Message-ID: <%s.%s.%lld@%s>\r\n"
		   "Auto-Submitted: auto-replied\r\n"
		   "MIME-Version: 1.0\r\n"
		   "Content-Type: multipart/report; "
		   "report-type=delivery-status;\r\n"
		   "\tboundary=\"%s\"\r\n"
		   "\r\n"
		   "This is a MIME-encapsulated message.\r\n"
		   "\r\n"
		   "--%s\r\n"
		   "Content-Type: text/plain; charset=us-ascii\r\n"
		   "Content-Description: Notification\r\n"
		   "\r\n",
		   r->reporting_mta, r->sender, subjects[k], date, r->qid,
		   ids[k], (long long)r->now, r->reporting_mta, boundary,
		   boundary);
	if (r->kind == DSN_DELIVERED)
		buf_printf(out,
			   "This is the mail system at host %s.\r\n"
			   "\r\n"
			   "Your message was delivered to the mailboxes of "
			   "the recipients\r\nbelow, as you asked.\r\n\r\n",
			   r->reporting_mta);
	else if (r->kind == DSN_RELAYED)
		buf_printf(out,
			   "This is the mail system at host %s.\r\n"
			   "\r\n"
			   "Your message was relayed to the recipients below; "
			   "the next\r\nserver does not report delivery, so "
			   "this is the last report.\r\n\r\n",
			   r->reporting_mta);
	else if (r->kind == DSN_DELAY)
		buf_printf(out,
			   "This is the mail system at host %s.\r\n"
			   "\r\n"
			   "Your message could not be delivered yet to the "
			   "recipients below.\r\nIt will be retried until "
			   "%s; you need not resend it.\r\n\r\n",
			   r->reporting_mta, until);
	else
		buf_printf(out,
			   "This is the mail system at host %s.\r\n"
			   "\r\n"
			   "I'm sorry to have to inform you that your message "
			   "could not\r\nbe delivered to one or more "
			   "recipients. It's attached below.\r\n\r\n",
			   r->reporting_mta);
	for (size_t i = 0; i < r->rcpt_count; i++) {
		const struct dsn_rcpt *d = &r->rcpts[i];

		buf_printf(out, "<%s>: %s\r\n", d->address,
			   d->diagnostic != NULL ? d->diagnostic : d->status);
		if (d->remote_mta != NULL)
			buf_printf(out, "    (remote host %s)\r\n",
				   d->remote_mta);
	}
	buf_printf(out,
		   "\r\n--%s\r\n"
		   "Content-Type: message/delivery-status\r\n"
		   "Content-Description: Delivery report\r\n"
		   "\r\n"
		   "Reporting-MTA: dns; %s\r\n"
		   "X-Moat-Queue-ID: %s\r\n",
		   boundary, r->reporting_mta, r->qid);
	if (r->envid != NULL)
		buf_printf(out, "Original-Envelope-Id: %s\r\n", r->envid);
	buf_printf(out, "Arrival-Date: %s\r\n", arrival);
	for (size_t i = 0; i < r->rcpt_count; i++) {
		const struct dsn_rcpt *d = &r->rcpts[i];

		buf_printf(out, "\r\nFinal-Recipient: rfc822; %s\r\n",
			   d->address);
		if (d->orcpt != NULL && strchr(d->orcpt, ';') != NULL)
			buf_printf(out, "Original-Recipient: %s\r\n", d->orcpt);
		buf_printf(out, "Action: %s\r\nStatus: %s\r\n", actions[k],
			   d->status);
		if (d->remote_mta != NULL)
			buf_printf(out, "Remote-MTA: dns; %s\r\n",
				   d->remote_mta);
		if (d->diagnostic != NULL)
			buf_printf(out, "Diagnostic-Code: smtp; %s\r\n",
				   d->diagnostic);
		buf_printf(out, "Last-Attempt-Date: %s\r\n", date);
		if (r->kind == DSN_DELAY)
			buf_printf(out, "Will-Retry-Until: %s\r\n", until);
	}
	buf_printf(out,
		   "\r\n--%s\r\n"
		   "Content-Type: %s\r\n"
		   "Content-Description: %s\r\n"
		   "\r\n",
		   boundary,
		   r->original_full ? "message/rfc822" : "text/rfc822-headers",
		   r->original_full ? "Undelivered Message"
				    : "Undelivered Message Headers");
	append_crlf(out, r->original, r->original_len);
	buf_printf(out, "\r\n--%s--\r\n", boundary);
}

int
dsn_read_original(int fd, long long offset, size_t len, bool full,
		  char **text_r, size_t *len_r, bool *full_r)
{
	size_t want = full && len <= DSN_FULL_MAX ? len
		      : len < DSN_HEADERS_MAX	  ? len
						  : DSN_HEADERS_MAX;
	char *text = xmalloc(want + 1);
	size_t got = 0;
	char *end;

	while (got < want) {
		ssize_t n = pread(fd, text + got, want - got,
				  (off_t)offset + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(text);
			return -1;
		}
		got += (size_t)n;
	}
	text[got] = '\0';
	*full_r = full && len <= DSN_FULL_MAX;
	if (!*full_r) {
		end = strstr(text, "\r\n\r\n");
		if (end != NULL)
			got = (size_t)(end - text) + 2;
		text[got] = '\0';
	}
	*text_r = text;
	*len_r = got;
	return 0;
}

int
dsn_enqueue(const char *queue_dir, const struct dsn_report *r, char qid_r[32],
	    const char **error_r)
{
	struct queue_envelope env;
	struct queue_rcpt rcpt;
	char trailer[QUEUE_TRAILER_LEN + 1];
	struct buf file;
	size_t header_len;
	bool eight = false;
	int ret = -1;

	memset(&env, 0, sizeof(env));
	memset(&rcpt, 0, sizeof(rcpt));
	queue_id_new(env.qid);
	env.mail_from = (char *)"";
	rcpt.address = (char *)r->sender;
	rcpt.notify = (char *)"NEVER";
	env.rcpts = &rcpt;
	env.rcpt_count = 1;
	env.arrival = r->now;
	env.client_ip = (char *)"127.0.0.1";
	env.helo = (char *)r->reporting_mta;
	for (size_t i = 0; i < r->original_len; i++)
		if ((unsigned char)r->original[i] >= 0x80)
			eight = true;
	env.body = eight ? (char *)"8BITMIME" : (char *)"7BIT";
	buf_init(&file);
	queue_envelope_encode(&env, &file);
	header_len = file.len;
	dsn_compose(r, &file);
	queue_trailer_format(file.len - header_len, trailer);
	buf_append(&file, trailer, QUEUE_TRAILER_LEN);
	if (queue_file_publish(queue_dir, env.qid, file.data, file.len,
			       error_r) == 0)
		ret = 0;
	if (ret == 0)
		snprintf(qid_r, 32, "%s", env.qid);
	buf_free(&file);
	return ret;
}

int
dsn_send(const char *queue_dir, const char *reporting_mta,
	 const struct queue_envelope *env, int fd, long long offset, size_t len,
	 enum dsn_kind kind, const struct dsn_rcpt *rcpts, size_t n,
	 time_t retry_until, char qid_r[32])
{
	static const char *const names[] = {"failure", "delay", "relayed",
					    "delivered"};
	struct dsn_report r;
	const char *error = NULL;
	char *original = NULL;
	size_t original_len = 0;
	bool full = false;
	int ret;

	if (dsn_read_original(fd, offset, len,
			      kind == DSN_FAILURE && env->ret != NULL &&
				  strcasecmp(env->ret, "FULL") == 0,
			      &original, &original_len, &full) < 0) {
		original = xstrdup("");
		original_len = 0;
	}
	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.reporting_mta = reporting_mta;
	r.qid = env->qid;
	r.sender = env->mail_from;
	r.envid = env->envid;
	r.arrival = env->arrival;
	r.now = time(NULL);
	r.retry_until = retry_until;
	r.rcpts = rcpts;
	r.rcpt_count = n;
	r.original = original;
	r.original_len = original_len;
	r.original_full = full;
	ret = dsn_enqueue(queue_dir, &r, qid_r, &error);
	if (ret < 0)
		log_errorx("qid=%s event=dsn error=\"%s\"", env->qid, error);
	else
		log_info("qid=%s event=dsn kind=%s dsn_qid=%s to=<%s> "
			 "recipients=%zu",
			 env->qid, names[(size_t)kind < 4 ? (size_t)kind : 0],
			 qid_r, env->mail_from, n);
	free(original);
	return ret;
}
