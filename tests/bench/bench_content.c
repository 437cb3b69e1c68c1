/*
 * bench_content: CPU per message of the content filters' own work (the MIME
 * parse, the attachment policy, the ClamAV scan) on a few typical messages,
 * measured with the thread's CPU clock over many runs. Not a test: run
 * `build/tests/unit/bench_content [DBDIR] [N]` (DBDIR: a ClamAV database;
 * without one a one-signature EICAR database is made, which understates
 * ClamAV's cost against the official database).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "filters/attachments.h"
#include "filters/clamav.h"
#include "filters/mime.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

static double
cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* ~n bytes of prose-like text. */
static void
prose(struct buf *b, size_t n, bool html)
{
	static const char *const words[] = {
	    "meeting", "quarterly", "report", "attached", "please",
	    "review",  "numbers",   "before", "Friday",	  "thanks",
	    "budget",  "project",   "update", "schedule", "customer"};
	size_t start = b->len, w = 0;

	while (b->len - start < n) {
		if (html && w % 40 == 0)
			buf_append_str(b, "<p>");
		buf_append_str(b, words[(w * 7) % 15]);
		buf_append_char(b, (w % 12 == 11) ? '\n' : ' ');
		if (html && w % 25 == 0)
			buf_append_str(b, "<a href=\"https://www.example.com/"
					  "track?id=42&amp;u=7\">link</a> ");
		if (html && w % 40 == 39)
			buf_append_str(b, "</p>\r\n");
		w++;
	}
	buf_append_str(b, "\r\n");
}

static char *
message(int kind, size_t *len_r)
{
	struct buf b;

	buf_init(&b);
	buf_append_str(&b, "Received: from mx.example.org ([192.0.2.1])\r\n"
			   "\tby mx.moat.test (Moat) with ESMTP id X\r\n"
			   "From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.org>\r\n"
			   "To: demo@example.test\r\nSubject: Quarterly "
			   "report\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n"
			   "Message-ID: <1@example.org>\r\nMIME-Version: "
			   "1.0\r\n");
	if (kind == 0) {
		buf_append_str(&b, "Content-Type: text/plain; charset=utf-8\r\n"
				   "\r\n");
		prose(&b, 3000, false);
	} else {
		buf_append_str(&b,
			       "Content-Type: multipart/mixed; "
			       "boundary=\"m\"\r\n\r\n--m\r\nContent-Type: "
			       "multipart/alternative; boundary=\"a\"\r\n\r\n"
			       "--a\r\nContent-Type: text/plain; "
			       "charset=utf-8\r\nContent-Transfer-Encoding: "
			       "quoted-printable\r\n\r\n");
		prose(&b, 6000, false);
		buf_append_str(&b, "--a\r\nContent-Type: text/html; "
				   "charset=utf-8\r\n\r\n<html><body>");
		prose(&b, 14000, true);
		buf_append_str(&b, "</body></html>\r\n--a--\r\n");
		if (kind == 2) {
			/* A 100 KB PDF-like attachment. */
			unsigned char *pdf = xmalloc(100000);
			gchar *b64;

			memcpy(pdf, "%PDF-1.4\n", 9);
			for (size_t i = 9; i < 100000; i++)
				pdf[i] =
				    (unsigned char)((i * 2654435761u) >> 13);
			b64 = g_base64_encode(pdf, 100000);
			buf_append_str(
			    &b, "--m\r\nContent-Type: application/pdf; "
				"name=\"report.pdf\"\r\n"
				"Content-Disposition: attachment; "
				"filename=\"report.pdf\"\r\n"
				"Content-Transfer-Encoding: base64\r\n\r\n");
			for (size_t i = 0; b64[i]; i += 76) {
				size_t n = strnlen(b64 + i, 76);
				buf_append(&b, b64 + i, n);
				buf_append_str(&b, "\r\n");
				if (n < 76)
					break;
			}
			g_free(b64);
			free(pdf);
		}
		buf_append_str(&b, "--m--\r\n");
	}
	*len_r = b.len;
	return buf_detach(&b);
}

int
main(int argc, char **argv)
{
	static const char *const kinds[] = {"plain 3 KB", "text+html 20 KB",
					    "text+html+pdf 160 KB"};
	char dbtmp[] = "/tmp/bench_content_XXXXXX";
	const char *db = argc > 1 && strcmp(argv[1], "-") != 0 ? argv[1] : NULL;
	int n = argc > 2 ? atoi(argv[2]) : 300;
	struct clamav_config cc;
	struct clamav *av = NULL;
	struct attach_config ac;
	struct attach_policy *policy = NULL;
	struct str_list exts = {0}, types = {0};
	char *error = NULL;

	mime_init();
	if (db == NULL) {
		FILE *f;
		char path[256];

		db = mkdtemp(dbtmp);
		snprintf(path, sizeof(path), "%s/eicar.ndb", db);
		f = fopen(path, "w");
		fputs("Moat-Test.EICAR:0:*:"
		      "58354f2150254041505b345c505a58353428505e29374343293"
		      "77d2445494341522d5354414e444152442d414e544956495255"
		      "532d544553542d46494c452124482b482a\n",
		      f);
		fclose(f);
	}
	memset(&cc, 0, sizeof(cc));
	cc.database_dir = db;
	cc.max_scan_size = 100 << 20;
	cc.max_file_size = 25 << 20;
	cc.max_files = 10000;
	cc.max_recursion = 16;
	cc.detect_encrypted = true;
	cc.tmpdir = getenv("CLAMAV_TMPDIR");
	{
		double t0 = cpu_us();
		if (clamav_new(&cc, &av, &error) < 0) {
			fprintf(stderr, "clamav: %s\n", error);
			return 1;
		}
		printf("clamav: %u signatures from %s, loaded in %.0f ms CPU\n",
		       clamav_signature_count(av), db, (cpu_us() - t0) / 1000);
	}
	str_list_add(&exts, "exe");
	str_list_add(&types, "application/x-dosexec");
	memset(&ac, 0, sizeof(ac));
	ac.extensions = &exts;
	ac.types = &types;
	ac.check_macros = ac.check_archives = true;
	ac.max_archive_depth = 3;
	ac.max_archive_entries = 1000;
	ac.max_archive_member_size = 25 << 20;
	if (attach_policy_new(&ac, &policy, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		return 1;
	}
	printf("%-22s %10s %10s %10s %10s  (us CPU per message, %d runs)\n",
	       "message", "mime", "attach", "clamav", "total", n);
	for (int k = 0; k < 3; k++) {
		size_t len;
		char *msg = message(k, &len);
		char path[] = "/tmp/bench_content_msg_XXXXXX";
		int fd = mkstemp(path);
		double t_mime = 0, t_att = 0, t_av = 0;

		unlink(path);
		if (write(fd, msg, len) != (ssize_t)len)
			return 1;
		for (int i = 0; i < n; i++) {
			struct mime_message *m;
			struct attach_report r;
			struct clamav_result cr;
			const char *err;
			double t0 = cpu_us(), t1, t2;

			mime_parse_fd(fd, 0, len, NULL, &m, &err);
			t1 = cpu_us();
			attach_policy_check(policy, m, &r);
			t2 = cpu_us();
			if (clamav_scan(av, fd, 0, len, 0, &cr, &err) < 0)
				return 1;
			t_av += cpu_us() - t2;
			t_att += t2 - t1;
			t_mime += t1 - t0;
			mime_message_free(&m);
		}
		printf("%-22s %10.0f %10.0f %10.0f %10.0f\n", kinds[k],
		       t_mime / n, t_att / n, t_av / n,
		       (t_mime + t_att + t_av) / n);
		close(fd);
		free(msg);
	}
	attach_policy_free(&policy);
	clamav_free(&av);
	str_list_free(&exts);
	str_list_free(&types);
	if (db == dbtmp) {
		char path[256];
		snprintf(path, sizeof(path), "%s/eicar.ndb", db);
		unlink(path);
		rmdir(db);
	}
	return 0;
}
