/*
 * Unit tests for DMARC aggregate reports: the rua= URI list parser and its
 * size limits (filters/dmarc_rua.c), the record tag reader, the XML
 * document (escaping, grouping, counts), gzip, the RFC 7489 7.2.1.1 file
 * name and report message, and the history table's SQL
 * (filters/dmarc_history.c: slots per interval, grouped load, pruning).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "filters/dmarc_history.h"
#include "filters/dmarc_report.h"
#include "filters/dmarc_rua.h"
#include "filters/filter_log.h"
#include "lib/db.h"
#include "lib/xalloc.h"

/* ------------------------------------------------------------------ */
/* rua= */

struct rua_case {
	const char *name;
	const char *input;
	size_t count;
	const char *addr[3];
	unsigned long long limit[3];
	size_t skipped;
};

static const struct rua_case rua_cases[] = {
    {"one", "mailto:dmarc@example.org", 1, {"dmarc@example.org"}, {0}, 0},
    {"two with spaces",
     " mailto:a@example.org , mailto:b@example.net ",
     2,
     {"a@example.org", "b@example.net"},
     {0, 0},
     0},
    {"size units",
     "mailto:a@x.org!10m,mailto:b@x.org!500k,mailto:c@x.org!7",
     3,
     {"a@x.org", "b@x.org", "c@x.org"},
     {10485760, 512000, 7},
     0},
    {"gigabyte and terabyte",
     "mailto:a@x.org!2g,mailto:b@x.org!1t",
     2,
     {"a@x.org", "b@x.org"},
     {2147483648ULL, 1099511627776ULL},
     0},
    {"upper case scheme and domain",
     "MAILTO:Rep@EXAMPLE.Org",
     1,
     {"Rep@example.org"},
     {0},
     0},
    {"percent-encoded",
     "mailto:a%2Bdmarc@example.org",
     1,
     {"a+dmarc@example.org"},
     {0},
     0},
    {"hfields dropped",
     "mailto:a@example.org?subject=x",
     1,
     {"a@example.org"},
     {0},
     0},
    {"not mailto",
     "https://example.org/dmarc,mailto:a@example.org",
     1,
     {"a@example.org"},
     {0},
     1},
    {"bad size unit", "mailto:a@x.org!10q", 0, {NULL}, {0}, 1},
    {"size without digits", "mailto:a@x.org!m", 0, {NULL}, {0}, 1},
    {"size overflow", "mailto:a@x.org!999999999999999t", 0, {NULL}, {0}, 1},
    {"too many digits", "mailto:a@x.org!1234567890123456", 0, {NULL}, {0}, 1},
    {"no at", "mailto:example.org", 0, {NULL}, {0}, 1},
    {"two ats", "mailto:a@b@example.org", 0, {NULL}, {0}, 1},
    {"space in address", "mailto:a b@example.org", 0, {NULL}, {0}, 1},
    {"encoded CRLF", "mailto:a%0d%0aRCPT@example.org", 0, {NULL}, {0}, 1},
    {"encoded angle", "mailto:a%3E@example.org", 0, {NULL}, {0}, 1},
    {"bad percent", "mailto:a%zz@example.org", 0, {NULL}, {0}, 1},
    {"short percent", "mailto:a@example.org%4", 0, {NULL}, {0}, 1},
    {"domain without dot", "mailto:a@localhost", 0, {NULL}, {0}, 1},
    {"domain with underscore", "mailto:a@ex_ample.org", 0, {NULL}, {0}, 1},
    {"empty local part", "mailto:@example.org", 0, {NULL}, {0}, 1},
    {"double dot", "mailto:a..b@example.org", 0, {NULL}, {0}, 1},
    {"duplicate kept once",
     "mailto:a@x.org,mailto:A@x.org",
     1,
     {"a@x.org"},
     {0},
     0},
    {"empty items", ",, ,mailto:a@x.org,", 1, {"a@x.org"}, {0}, 0},
    {"empty", "", 0, {NULL}, {0}, 0},
};

static void
test_rua_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rua_cases) / sizeof(rua_cases[0]); i++) {
		const struct rua_case *c = &rua_cases[i];
		struct dmarc_rua_list l;

		dmarc_rua_parse(c->input, &l);
		if (l.count != c->count || l.skipped != c->skipped)
			fail_msg("%s: count %zu skipped %zu", c->name, l.count,
				 l.skipped);
		for (size_t j = 0; j < c->count; j++) {
			assert_string_equal(l.items[j].address, c->addr[j]);
			assert_int_equal(l.items[j].limit, c->limit[j]);
			assert_ptr_equal(l.items[j].domain,
					 strchr(l.items[j].address, '@') + 1);
		}
	}
}

static void
test_rua_cap_and_oversize(void **state)
{
	struct dmarc_rua_list l;
	char big[DMARC_RUA_INPUT_MAX + 64];
	size_t n = 0;

	(void)state;
	dmarc_rua_parse("mailto:a@x.org,mailto:b@x.org,mailto:c@x.org,"
			"mailto:d@x.org,mailto:e@x.org,mailto:f@x.org",
			&l);
	assert_int_equal(l.count, DMARC_RUA_MAX);
	assert_int_equal(l.skipped, 1);
	while (n + 16 < sizeof(big) - 1) {
		memcpy(big + n, "mailto:a@x.org,", 15);
		n += 15;
	}
	big[n] = '\0';
	dmarc_rua_parse(big, &l);
	assert_int_equal(l.count, 0);
	{
		char addr[300];

		memset(addr, 'a', sizeof(addr));
		memcpy(addr, "mailto:", 7);
		memcpy(addr + 280, "@example.org", 13);
		dmarc_rua_parse(addr, &l);
		assert_int_equal(l.count, 0);
		assert_int_equal(l.skipped, 1);
	}
}

static void
test_record_tag(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(dmarc_record_tag("v=DMARC1; p=reject; rua=mailto:a@x."
					  "org!10m ; fo=1",
					  "rua", out, sizeof(out)),
			 1);
	assert_string_equal(out, "mailto:a@x.org!10m");
	assert_int_equal(dmarc_record_tag("v=DMARC1;p=none;fo = 0:d", "fo", out,
					  sizeof(out)),
			 1);
	assert_string_equal(out, "0:d");
	assert_int_equal(
	    dmarc_record_tag("v=DMARC1; p=none; ruf=mailto:a@x.org", "rua", out,
			     sizeof(out)),
	    0);
	assert_int_equal(dmarc_record_tag("v=DMARC1; rua=mailto:aaaaaaaaaaaaaa"
					  "aaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.org",
					  "rua", out, 16),
			 -1);
	/* "p" must not match "pct" */
	assert_int_equal(dmarc_record_tag("v=DMARC1; pct=50; p=quarantine", "p",
					  out, sizeof(out)),
			 1);
	assert_string_equal(out, "quarantine");
}

/* ------------------------------------------------------------------ */
/* XML */

static void
test_xml_escape(void **state)
{
	struct buf b = {0};

	(void)state;
	dmarc_report_xml_escape(&b, "a&b<c>d\"e'f\x01g\x7fh\tij\xc3\xa9");
	assert_string_equal(buf_cstr(&b),
			    "a&amp;b&lt;c&gt;d&quot;e&apos;f?g?h\tij\xc3\xa9");
	buf_free(&b);
}

static struct dmarc_report_row
row(const char *ip, const char *disp, const char *override, const char *dkim,
    const char *spf, const char *sigs, unsigned long long count)
{
	struct dmarc_report_row r;

	memset(&r, 0, sizeof(r));
	r.source_ip = xstrdup(ip);
	r.disposition = xstrdup(disp);
	r.override = override != NULL ? xstrdup(override) : NULL;
	r.dkim = xstrdup(dkim);
	r.spf = xstrdup(spf);
	r.header_from = xstrdup("rep.test");
	r.envelope_from = xstrdup("rep.test");
	r.envelope_to = xstrdup("example.test");
	r.dkim_sigs = xstrdup(sigs);
	r.spf_domain = xstrdup("rep.test");
	r.spf_scope = xstrdup("mfrom");
	r.spf_result = xstrdup(strcmp(spf, "pass") == 0 ? "pass" : "fail");
	r.count = count;
	return r;
}

static size_t
count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p != NULL;
	     p = strstr(p + 1, needle))
		n++;
	return n;
}

static void
fill_data(struct dmarc_report_data *d)
{
	memset(d, 0, sizeof(*d));
	d->policy.domain = xstrdup("rep.test");
	d->policy.p = xstrdup("reject");
	d->policy.adkim = xstrdup("r");
	d->policy.aspf = xstrdup("s");
	d->policy.pct = 100;
	d->policy.fo = xstrdup("1");
	d->rows = xcalloc(5, sizeof(*d->rows));
	d->rows[0] = row("192.0.2.10", "none", NULL, "pass", "pass",
			 "rep.test sel pass", 1);
	d->rows[1] = row("198.51.100.7", "reject", NULL, "fail", "fail", "", 2);
	d->rows[2] = row("192.0.2.10", "none", NULL, "pass", "pass",
			 "rep.test sel pass", 3);
	d->rows[3] =
	    row("198.51.100.7", "quarantine", "sampled_out", "fail", "fail",
		"evil.test s1 fail\nrep.test sel permerror", 1);
	d->rows[4] = row("198.51.100.7", "reject", NULL, "fail", "fail", "", 1);
	d->count = 5;
}

static void
test_group_counts(void **state)
{
	struct dmarc_report_data d;
	unsigned long long total = 0;

	(void)state;
	fill_data(&d);
	dmarc_report_group(&d);
	assert_int_equal(d.count, 3);
	for (size_t i = 0; i < d.count; i++) {
		total += d.rows[i].count;
		if (strcmp(d.rows[i].source_ip, "192.0.2.10") == 0)
			assert_int_equal(d.rows[i].count, 4);
		else if (strcmp(d.rows[i].disposition, "reject") == 0)
			assert_int_equal(d.rows[i].count, 3);
		else
			assert_int_equal(d.rows[i].count, 1);
	}
	assert_int_equal(total, 8);
	/* sorted: the same input in another order gives the same rows */
	assert_string_equal(d.rows[0].source_ip, "192.0.2.10");
	dmarc_report_data_clear(&d);
}

static void
test_xml_document(void **state)
{
	struct dmarc_report_data d;
	struct dmarc_report_meta m = {"Moat <Test> & Co",
				      "dmarc@mx.moat.test",
				      "mx.moat.test",
				      "rep.test.0.86399",
				      0,
				      86399};
	struct buf b = {0};
	const char *x;

	(void)state;
	fill_data(&d);
	dmarc_report_xml(&m, &d, &b);
	x = buf_cstr(&b);
	assert_non_null(strstr(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
				  "\n<feedback>\n"));
	assert_non_null(
	    strstr(x, "<org_name>Moat &lt;Test&gt; &amp; Co</org_name>"));
	assert_non_null(strstr(x, "<begin>0</begin>"));
	assert_non_null(strstr(x, "<end>86399</end>"));
	assert_non_null(strstr(x,
			       "<domain>rep.test</domain>\n    <adkim>r"
			       "</adkim>\n    <aspf>s</aspf>\n    <p>reject"
			       "</p>\n    <sp>reject</sp>\n    <pct>100</pct>"
			       "\n    <fo>1</fo>"));
	assert_int_equal(count_of(x, "<record>"), 3);
	assert_int_equal(count_of(x, "</record>"), 3);
	assert_non_null(strstr(x, "<source_ip>192.0.2.10</source_ip>\n"
				  "      <count>4</count>"));
	assert_non_null(strstr(x,
			       "<count>3</count>\n      <policy_evaluated>"
			       "\n        <disposition>reject</disposition>"));
	assert_non_null(strstr(x, "<reason>\n          <type>sampled_out"
				  "</type>"));
	assert_non_null(strstr(x, "<dkim>\n        <domain>evil.test</domain>"
				  "\n        <selector>s1</selector>\n        "
				  "<result>fail</result>"));
	assert_non_null(strstr(x, "<result>permerror</result>"));
	assert_non_null(strstr(x, "<scope>mfrom</scope>"));
	assert_non_null(strstr(x, "<envelope_to>example.test</envelope_to>"));
	assert_non_null(strstr(x, "</feedback>\n"));
	buf_free(&b);
	dmarc_report_data_clear(&d);
}

static void
test_gzip_filename_message(void **state)
{
	const char *xml = "<feedback>hello hello hello hello</feedback>\n";
	struct dmarc_report_meta m = {
	    "Org", "dmarc@mx.moat.test", "mx.moat.test", "id.1", 1000, 1999};
	struct buf gz = {0}, name = {0}, msg = {0};
	const char *error = NULL, *x, *p;
	unsigned char out[256], dec[512];
	uLongf outlen = sizeof(out);
	z_stream z;
	size_t n = 0;

	(void)state;
	assert_int_equal(dmarc_report_gzip(xml, strlen(xml), &gz, &error), 0);
	assert_true(gz.len > 18);
	assert_int_equal((unsigned char)gz.data[0], 0x1f);
	assert_int_equal((unsigned char)gz.data[1], 0x8b);
	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 16 + 15), Z_OK);
	z.next_in = (unsigned char *)gz.data;
	z.avail_in = (uInt)gz.len;
	z.next_out = out;
	z.avail_out = (uInt)outlen;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(z.total_out, strlen(xml));
	assert_memory_equal(out, xml, strlen(xml));
	inflateEnd(&z);

	dmarc_report_filename(&m, "rep.test", &name);
	assert_string_equal(buf_cstr(&name),
			    "mx.moat.test!rep.test!1000!1999.xml.gz");
	dmarc_report_message(&m, "rep.test", "dmarc@rep.test", gz.data, gz.len,
			     1764633600, &msg);
	x = buf_cstr(&msg);
	assert_non_null(strstr(x, "From: dmarc@mx.moat.test\r\nTo: "
				  "dmarc@rep.test\r\nDate: Tue, 02 Dec 2025 "
				  "00:00:00 +0000\r\n"));
	assert_non_null(strstr(x, "Subject: Report Domain: rep.test "
				  "Submitter: mx.moat.test\r\n Report-ID: "
				  "<id.1>\r\n"));
	assert_non_null(strstr(x, "Content-Type: application/gzip; name=\""
				  "mx.moat.test!rep.test!1000!1999.xml.gz\""));
	assert_true(dmarc_report_subject_is_report(
	    " Report Domain: rep.test Submitter: mx.moat.test\r\n Report-ID: "
	    "<id.1>"));
	assert_false(dmarc_report_subject_is_report("Re: Report Domain"));
	/* the base64 part decodes to the gzip */
	p = strstr(x, "filename=");
	p = strstr(p, "\r\n\r\n") + 4;
	while (strncmp(p, "\r\n", 2) != 0) {
		const char *e = strstr(p, "\r\n");
		int k = EVP_DecodeBlock(dec + n, (const unsigned char *)p,
					(int)(e - p));

		assert_true(k > 0);
		n += (size_t)k;
		p = e + 2;
	}
	/* EVP_DecodeBlock counts the padding bytes as zeros */
	assert_true(n >= gz.len && n <= gz.len + 2);
	assert_memory_equal(dec, gz.data, gz.len);
	assert_non_null(strstr(p, "\r\n--=_moat_dmarc_"));
	buf_free(&gz);
	buf_free(&name);
	buf_free(&msg);
}

/* The 7.2.2 notice for a report too large for every address. */
static void
test_error_message(void **state)
{
	struct dmarc_report_meta m = {
	    "Org", "dmarc@mx.moat.test", "mx.moat.test", "id.1", 1000, 1999};
	struct buf msg = {0};
	const char *x, *body;

	(void)state;
	dmarc_report_error_message(&m, "rep.test", "a@rep.test", 4242,
				   "mailto:a@rep.test!1024", 1764633600, &msg);
	x = buf_cstr(&msg);
	assert_non_null(strstr(x, "From: dmarc@mx.moat.test\r\nTo: "
				  "a@rep.test\r\n"));
	assert_non_null(strstr(x, "Subject: Report Domain: rep.test "
				  "Submitter: mx.moat.test\r\n Report-ID: "
				  "<id.1>\r\n"));
	assert_non_null(strstr(x, "Auto-Submitted: auto-generated\r\n"));
	assert_non_null(
	    strstr(x, "Content-Type: text/plain; charset=us-ascii\r\n"));
	assert_null(strstr(x, "multipart"));
	assert_null(strstr(x, "application/gzip"));
	body = strstr(x, "\r\n\r\n");
	assert_non_null(body);
	assert_non_null(strstr(body, "\r\nReport-Date: Tue, 02 Dec 2025 "
				     "00:00:00 +0000\r\n"
				     "Report-Domain: rep.test\r\n"
				     "Report-ID: id.1\r\n"
				     "Report-Size: 4242\r\n"
				     "Submitter: mx.moat.test\r\n"
				     "Submitting-URI: mailto:a@rep.test!1024"
				     "\r\n"));
	assert_true(
	    dmarc_report_subject_is_report("Report Domain: rep.test Submitter: "
					   "mx.moat.test Report-ID: <id.1>"));
	buf_free(&msg);
}

/* Rows are kept for another run only while none of them would expire. */
static void
test_may_retry(void **state)
{
	static const struct {
		long long now, begin, retention, next_run;
		bool want;
	} cases[] = {
	    {10000, 9000, 7 * 86400, 60, true},
	    {10000, 9000, 1000, 0, true},  /* exactly at the edge */
	    {10000, 9000, 1000, 1, false}, /* the oldest row would go */
	    {10000, 9000, 1060, 60, true},
	    {10000, 8000, 1500, 60, false},	/* already due */
	    {1000000, 0, 7 * 86400, 60, false}, /* far past retention */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(dmarc_report_may_retry(
				     cases[i].now, cases[i].begin,
				     cases[i].retention, cases[i].next_run),
				 cases[i].want);
}

/* ------------------------------------------------------------------ */
/* the history table */

static void
insert(sqlite3 *db, long long t, const char *domain, const char *ip,
       const char *disp)
{
	struct dmarc_history_entry e;
	char *err = NULL;

	memset(&e, 0, sizeof(e));
	e.time = t;
	e.qid = (char *)"Q";
	e.source_ip = (char *)ip;
	e.header_from = (char *)domain;
	e.envelope_from = (char *)domain;
	e.envelope_to = (char *)"example.test";
	e.policy_domain = (char *)domain;
	snprintf(e.p, sizeof(e.p), "reject");
	e.pct = 100;
	snprintf(e.adkim, sizeof(e.adkim), "r");
	snprintf(e.aspf, sizeof(e.aspf), "r");
	e.rua = (char *)"mailto:d@rep.test";
	e.disposition = disp;
	e.dkim = "fail";
	e.spf = "fail";
	e.dkim_sigs = (char *)"";
	e.spf_domain = (char *)domain;
	e.spf_scope = "mfrom";
	e.spf_result = "fail";
	assert_int_equal(dmarc_history_insert(db, &e, &err), 0);
}

static void
test_history(void **state)
{
	char path[] = "/tmp/moat-dmarc-XXXXXX";
	int fd = mkstemp(path);
	sqlite3 *db = NULL;
	char *err = NULL;
	struct dmarc_history_slot *slots = NULL;
	size_t count = 0;
	struct dmarc_report_data d;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(filter_log_db_open(path, &db, &err), 0);
	insert(db, 100, "rep.test", "198.51.100.7", "reject");
	insert(db, 150, "rep.test", "198.51.100.7", "reject");
	insert(db, 160, "rep.test", "192.0.2.1", "none");
	insert(db, 170, "other.test", "192.0.2.1", "none");
	insert(db, 250, "rep.test", "198.51.100.7", "reject");

	/* interval 200: [0,200) has rep.test and other.test, [200,400)
	 * rep.test; cut to [120, 1000) */
	assert_int_equal(
	    dmarc_history_slots(db, NULL, 120, 1000, 200, &slots, &count, &err),
	    0);
	assert_int_equal(count, 3);
	assert_string_equal(slots[0].policy_domain, "other.test");
	assert_int_equal(slots[0].begin, 120);
	assert_int_equal(slots[0].end, 200);
	assert_string_equal(slots[1].policy_domain, "rep.test");
	assert_int_equal(slots[1].rows, 2);
	assert_int_equal(slots[2].begin, 200);
	assert_int_equal(slots[2].end, 400);

	assert_int_equal(dmarc_history_load(db, &slots[1], &d, &err), 0);
	assert_string_equal(d.policy.domain, "rep.test");
	assert_string_equal(d.policy.p, "reject");
	assert_string_equal(d.policy.rua, "mailto:d@rep.test");
	assert_int_equal(d.count, 2);
	for (size_t i = 0; i < d.count; i++)
		assert_int_equal(d.rows[i].count, 1);
	dmarc_report_data_clear(&d);

	/* pruning one slot leaves the rest */
	assert_int_equal(dmarc_history_delete_slot(db, &slots[1], &err), 2);
	dmarc_history_slots_free(&slots, count);
	assert_int_equal(dmarc_history_slots(db, "rep.test", 0, 1000, 200,
					     &slots, &count, &err),
			 0);
	assert_int_equal(count, 2); /* row 100 and row 250 */
	dmarc_history_slots_free(&slots, count);
	assert_int_equal(dmarc_history_expire(db, 200, &err), 2);
	assert_int_equal(
	    dmarc_history_slots(db, NULL, 0, 1000, 200, &slots, &count, &err),
	    0);
	assert_int_equal(count, 1);
	assert_int_equal(slots[0].rows, 1);
	dmarc_history_slots_free(&slots, count);
	db_close(&db);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rua_parse),
	    cmocka_unit_test(test_rua_cap_and_oversize),
	    cmocka_unit_test(test_record_tag),
	    cmocka_unit_test(test_xml_escape),
	    cmocka_unit_test(test_group_counts),
	    cmocka_unit_test(test_xml_document),
	    cmocka_unit_test(test_gzip_filename_message),
	    cmocka_unit_test(test_history),
	    cmocka_unit_test(test_error_message),
	    cmocka_unit_test(test_may_retry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
