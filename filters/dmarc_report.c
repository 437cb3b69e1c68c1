/*
 * dmarc_report: the aggregate report document and message (see
 * dmarc_report.h). The XML is written by hand into a struct buf: the
 * document is flat and small, and writing it here keeps escaping in one
 * function (dmarc_report_xml_escape) that the unit tests cover. Rows are
 * grouped with qsort on the whole key, so the same input always gives the
 * same document.
 */
#include "filters/dmarc_report.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "lib/xalloc.h"

static void
row_clear(struct dmarc_report_row *r)
{
	free(r->source_ip);
	free(r->disposition);
	free(r->override);
	free(r->dkim);
	free(r->spf);
	free(r->header_from);
	free(r->envelope_from);
	free(r->envelope_to);
	free(r->dkim_sigs);
	free(r->spf_domain);
	free(r->spf_scope);
	free(r->spf_result);
	memset(r, 0, sizeof(*r));
}

void
dmarc_report_data_clear(struct dmarc_report_data *data)
{
	struct dmarc_report_policy *p = &data->policy;

	for (size_t i = 0; i < data->count; i++)
		row_clear(&data->rows[i]);
	free(data->rows);
	free(p->domain);
	free(p->p);
	free(p->sp);
	free(p->adkim);
	free(p->aspf);
	free(p->fo);
	free(p->rua);
	memset(data, 0, sizeof(*data));
}

static int
cmp_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

static int
row_cmp(const void *va, const void *vb)
{
	const struct dmarc_report_row *a = va, *b = vb;
	const char *const fa[] = {
	    a->source_ip, a->disposition, a->override,	    a->dkim,
	    a->spf,	  a->header_from, a->envelope_from, a->envelope_to,
	    a->dkim_sigs, a->spf_domain,  a->spf_scope,	    a->spf_result};
	const char *const fb[] = {
	    b->source_ip, b->disposition, b->override,	    b->dkim,
	    b->spf,	  b->header_from, b->envelope_from, b->envelope_to,
	    b->dkim_sigs, b->spf_domain,  b->spf_scope,	    b->spf_result};

	for (size_t i = 0; i < sizeof(fa) / sizeof(fa[0]); i++) {
		int c = cmp_str(fa[i], fb[i]);

		if (c != 0)
			return c;
	}
	return 0;
}

void
dmarc_report_group(struct dmarc_report_data *data)
{
	size_t out = 0;

	if (data->count < 2)
		return;
	qsort(data->rows, data->count, sizeof(*data->rows), row_cmp);
	for (size_t i = 1; i < data->count; i++) {
		if (row_cmp(&data->rows[out], &data->rows[i]) == 0) {
			data->rows[out].count += data->rows[i].count;
			row_clear(&data->rows[i]);
			continue;
		}
		out++;
		if (out != i) {
			data->rows[out] = data->rows[i];
			memset(&data->rows[i], 0, sizeof(data->rows[i]));
		}
	}
	data->count = out + 1;
}

void
dmarc_report_xml_escape(struct buf *out, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&':
			buf_append_str(out, "&amp;");
			break;
		case '<':
			buf_append_str(out, "&lt;");
			break;
		case '>':
			buf_append_str(out, "&gt;");
			break;
		case '"':
			buf_append_str(out, "&quot;");
			break;
		case '\'':
			buf_append_str(out, "&apos;");
			break;
		default:
			/* XML 1.0 has no control characters but tab/LF/CR;
			 * bytes >= 0x80 are passed on (UTF-8 domains). */
			if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
				c = '?';
			buf_append_char(out, (char)c);
		}
	}
}

static void
element(struct buf *out, int indent, const char *name, const char *value)
{
	buf_printf(out, "%*s<%s>", indent, "", name);
	dmarc_report_xml_escape(out, value);
	buf_printf(out, "</%s>\n", name);
}

static void
dkim_elements(struct buf *out, const char *sigs)
{
	const char *p = sigs;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, '\n');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		char *line = xstrndup(p, len), *sel, *res;

		sel = strchr(line, ' ');
		res = sel != NULL ? strchr(sel + 1, ' ') : NULL;
		if (sel != NULL && res != NULL) {
			*sel++ = '\0';
			*res++ = '\0';
			buf_append_str(out, "      <dkim>\n");
			element(out, 8, "domain", line);
			if (*sel != '\0')
				element(out, 8, "selector", sel);
			element(out, 8, "result", res);
			buf_append_str(out, "      </dkim>\n");
		}
		free(line);
		p = end != NULL ? end + 1 : NULL;
	}
}

void
dmarc_report_xml(const struct dmarc_report_meta *meta,
		 struct dmarc_report_data *data, struct buf *out)
{
	const struct dmarc_report_policy *pol = &data->policy;
	char num[32];

	dmarc_report_group(data);
	buf_append_str(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			    "<feedback>\n"
			    "  <version>1.0</version>\n"
			    "  <report_metadata>\n");
	element(out, 4, "org_name", meta->org_name);
	element(out, 4, "email", meta->email);
	element(out, 4, "report_id", meta->report_id);
	buf_append_str(out, "    <date_range>\n");
	snprintf(num, sizeof(num), "%lld", meta->begin);
	element(out, 6, "begin", num);
	snprintf(num, sizeof(num), "%lld", meta->end);
	element(out, 6, "end", num);
	buf_append_str(out, "    </date_range>\n"
			    "  </report_metadata>\n"
			    "  <policy_published>\n");
	element(out, 4, "domain", pol->domain);
	element(out, 4, "adkim", pol->adkim != NULL ? pol->adkim : "r");
	element(out, 4, "aspf", pol->aspf != NULL ? pol->aspf : "r");
	element(out, 4, "p", pol->p != NULL ? pol->p : "none");
	element(out, 4, "sp",
		pol->sp != NULL	 ? pol->sp
		: pol->p != NULL ? pol->p
				 : "none");
	snprintf(num, sizeof(num), "%d", pol->pct);
	element(out, 4, "pct", num);
	if (pol->fo != NULL)
		element(out, 4, "fo", pol->fo);
	buf_append_str(out, "  </policy_published>\n");
	for (size_t i = 0; i < data->count; i++) {
		const struct dmarc_report_row *r = &data->rows[i];

		buf_append_str(out, "  <record>\n    <row>\n");
		element(out, 6, "source_ip", r->source_ip);
		snprintf(num, sizeof(num), "%llu", r->count);
		element(out, 6, "count", num);
		buf_append_str(out, "      <policy_evaluated>\n");
		element(out, 8, "disposition", r->disposition);
		element(out, 8, "dkim", r->dkim);
		element(out, 8, "spf", r->spf);
		if (r->override != NULL) {
			buf_append_str(out, "        <reason>\n");
			element(out, 10, "type", r->override);
			buf_append_str(out, "        </reason>\n");
		}
		buf_append_str(out, "      </policy_evaluated>\n"
				    "    </row>\n"
				    "    <identifiers>\n");
		if (r->envelope_to != NULL && r->envelope_to[0] != '\0')
			element(out, 6, "envelope_to", r->envelope_to);
		element(out, 6, "envelope_from", r->envelope_from);
		element(out, 6, "header_from", r->header_from);
		buf_append_str(out, "    </identifiers>\n"
				    "    <auth_results>\n");
		dkim_elements(out, r->dkim_sigs);
		buf_append_str(out, "      <spf>\n");
		element(out, 8, "domain", r->spf_domain);
		element(out, 8, "scope", r->spf_scope);
		element(out, 8, "result", r->spf_result);
		buf_append_str(out, "      </spf>\n"
				    "    </auth_results>\n"
				    "  </record>\n");
	}
	buf_append_str(out, "</feedback>\n");
}

int
dmarc_report_gzip(const void *data, size_t len, struct buf *out,
		  const char **error_r)
{
	z_stream z;
	unsigned char chunk[16384];
	int rc;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		*error_r = "deflateInit2 failed";
		return -1;
	}
	z.next_in = (unsigned char *)data;
	/* Reports stay far below 4 GiB (the size limits are smaller). */
	if (len > 0xffffffffU) {
		deflateEnd(&z);
		*error_r = "report too large";
		return -1;
	}
	z.avail_in = (uInt)len;
	do {
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		rc = deflate(&z, Z_FINISH);
		if (rc == Z_STREAM_ERROR) {
			deflateEnd(&z);
			*error_r = "deflate failed";
			return -1;
		}
		buf_append(out, chunk, sizeof(chunk) - z.avail_out);
	} while (rc != Z_STREAM_END);
	deflateEnd(&z);
	return 0;
}

void
dmarc_report_filename(const struct dmarc_report_meta *meta,
		      const char *policy_domain, struct buf *out)
{
	buf_printf(out, "%s!%s!%lld!%lld.xml.gz", meta->receiver, policy_domain,
		   meta->begin, meta->end);
}

static void
rfc5322_date(long long t, char *out, size_t size)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
					   "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
					     "May", "Jun", "Jul", "Aug",
					     "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d +0000",
		 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* 16 random hex digits (and a NUL) for a MIME boundary and a Message-ID;
 * a fixed pattern if the random source fails (uniqueness then rests on
 * the time and report id beside it). */
static void
dmarc_random_hex(char hex[17])
{
	unsigned char rnd[8];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0x5a, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
}

void
dmarc_report_message(const struct dmarc_report_meta *meta,
		     const char *policy_domain, const char *rcpt,
		     const void *gz, size_t gz_len, long long now,
		     struct buf *out)
{
	char boundary[64], date[64], hex[17];
	const unsigned char *p = gz;
	struct buf name = {0};

	dmarc_random_hex(hex);
	snprintf(boundary, sizeof(boundary), "=_moat_dmarc_%s", hex);
	rfc5322_date(now, date, sizeof(date));
	dmarc_report_filename(meta, policy_domain, &name);
	buf_printf(out,
		   "From: %s\r\n"
		   "To: %s\r\n"
		   "Date: %s\r\n"
		   "Subject: Report Domain: %s Submitter: %s\r\n"
		   " Report-ID: <%s>\r\n"
		   "Message-ID: <dmarc.%lld.%s@%s>\r\n"
		   "Auto-Submitted: auto-generated\r\n"
		   "MIME-Version: 1.0\r\n"
		   "Content-Type: multipart/mixed;\r\n"
		   " boundary=\"%s\"\r\n"
		   "\r\n"
		   "This is a MIME-formatted message.\r\n"
		   "\r\n"
		   "--%s\r\n"
		   "Content-Type: text/plain; charset=us-ascii\r\n"
		   "Content-Transfer-Encoding: 7bit\r\n"
		   "\r\n"
		   "This is a DMARC aggregate report (RFC 7489) for %s\r\n"
		   "from %s, covering %lld to %lld (UTC seconds).\r\n"
		   "\r\n"
		   "--%s\r\n"
		   "Content-Type: application/gzip; name=\"%s\"\r\n"
		   "Content-Transfer-Encoding: base64\r\n"
		   "Content-Disposition: attachment; filename=\"%s\"\r\n"
		   "\r\n",
		   meta->email, rcpt, date, policy_domain, meta->receiver,
		   meta->report_id, meta->begin, hex, meta->receiver, boundary,
		   boundary, policy_domain, meta->receiver, meta->begin,
		   meta->end, boundary, buf_cstr(&name), buf_cstr(&name));
	buf_free(&name);
	for (size_t off = 0; off < gz_len; off += 57) {
		unsigned char line[80];
		size_t n = gz_len - off < 57 ? gz_len - off : 57;
		int len = EVP_EncodeBlock(line, p + off, (int)n);

		buf_append(out, line, (size_t)len);
		buf_append_str(out, "\r\n");
	}
	buf_printf(out, "\r\n--%s--\r\n", boundary);
}

void
dmarc_report_error_message(const struct dmarc_report_meta *meta,
			   const char *policy_domain, const char *rcpt,
			   size_t report_size, const char *uris, long long now,
			   struct buf *out)
{
	char date[64], hex[17];

	dmarc_random_hex(hex);
	rfc5322_date(now, date, sizeof(date));
	buf_printf(out,
		   "From: %s\r\n"
		   "To: %s\r\n"
		   "Date: %s\r\n"
		   "Subject: Report Domain: %s Submitter: %s\r\n"
		   " Report-ID: <%s>\r\n"
		   "Message-ID: <dmarc-error.%lld.%s@%s>\r\n"
		   "Auto-Submitted: auto-generated\r\n"
		   "MIME-Version: 1.0\r\n"
		   "Content-Type: text/plain; charset=us-ascii\r\n"
		   "Content-Transfer-Encoding: 7bit\r\n"
		   "\r\n"
		   "The DMARC aggregate report (RFC 7489) for %s from %s,\r\n"
		   "covering %lld to %lld (UTC seconds), is larger than the\r\n"
		   "size limit of every address it was to go to, so it was\r\n"
		   "not sent (RFC 7489 7.2.2).\r\n"
		   "\r\n"
		   "Report-Date: %s\r\n"
		   "Report-Domain: %s\r\n"
		   "Report-ID: %s\r\n"
		   "Report-Size: %zu\r\n"
		   "Submitter: %s\r\n"
		   "Submitting-URI: %s\r\n",
		   meta->email, rcpt, date, policy_domain, meta->receiver,
		   meta->report_id, meta->begin, hex, meta->receiver,
		   policy_domain, meta->receiver, meta->begin, meta->end, date,
		   policy_domain, meta->report_id, report_size, meta->receiver,
		   uris);
}

bool
dmarc_report_may_retry(long long now, long long begin, long long retention,
		       long long next_run)
{
	return begin >= now + next_run - retention;
}

bool
dmarc_report_subject_is_report(const char *subject)
{
	while (subject != NULL && (*subject == ' ' || *subject == '\t' ||
				   *subject == '\r' || *subject == '\n'))
		subject++;
	return subject != NULL &&
	       strncasecmp(subject, "Report Domain:", 14) == 0 &&
	       strstr(subject, "Submitter:") != NULL;
}
