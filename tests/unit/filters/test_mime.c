/*
 * Unit tests for filters/mime.c: a table of messages with the part tree,
 * file names, text, URLs and symbols each must produce; the limits; the
 * HTML reducer and URL finder; the fd/slot path; and every message under
 * ../shared/testdata/mime (skipped when absent), checked for the tree
 * invariants and valid UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <glib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filters/html_charset.h"
#include "filters/mime.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

struct mime_case {
	const char *name;
	const char *msg;
	const char *types;     /* part content types, comma separated */
	const char *filenames; /* leaf file names, comma separated ("-" none) */
	const char *text_has;  /* substring of msg->text, or NULL */
	const char *text_not;  /* must not appear in msg->text, or NULL */
	const char *urls;      /* URLs, "|" separated, or NULL for none */
	const char *header;    /* "Name=decoded value", or NULL */
	int symbol;	       /* expected symbol or -1 */
};

#define MP_HDR(b)                                                              \
	"From: a@example.test\r\nTo: b@example.test\r\nSubject: t\r\n"         \
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "                 \
	"boundary=\"" b "\"\r\n\r\n"

static const struct mime_case mime_cases[] = {
    {"plain ascii", "Subject: hi\r\n\r\nhello world\r\n", "text/plain", "-",
     "hello world", NULL, NULL, "Subject=hi", -1},
    {"no body", "Subject: hi\r\n", "text/plain", "-", NULL, NULL, NULL,
     "Subject=hi", -1},
    {"rfc2047 subject",
     "Subject: =?UTF-8?B?w6lsw6h2ZQ==?= and "
     "=?ISO-8859-1?Q?caf=E9?=\r\n\r\nx\r\n",
     "text/plain", "-", NULL, NULL, NULL,
     "Subject=\xc3\xa9l\xc3\xa8ve and caf\xc3\xa9", -1},
    {"quoted-printable latin1",
     "Content-Type: text/plain; charset=iso-8859-1\r\n"
     "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
     "caf=E9 cr=E8me=\r\n br=FBl=E9e\r\n",
     "text/plain", "-",
     "caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9"
     "e",
     NULL, NULL, NULL, -1},
    {"base64 utf-8",
     "Content-Type: text/plain; charset=utf-8\r\n"
     "Content-Transfer-Encoding: base64\r\n\r\n"
     "w7xiZXIgaHR0cHM6Ly9leGFtcGxlLmNvbS9hP2I9Yw==\r\n",
     "text/plain", "-",
     "\xc3\xbc"
     "ber https://example.com/a?b=c",
     NULL, "https://example.com/a?b=c", NULL, -1},
    {"invalid utf-8 replaced",
     "Content-Type: text/plain; charset=utf-8\r\n\r\nab\xff\xfe"
     "cd\r\n",
     "text/plain", "-",
     "ab\xef\xbf\xbd\xef\xbf\xbd"
     "cd",
     NULL, NULL, NULL, -1},
    {"unknown charset",
     "Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nhello\r\n",
     "text/plain", "-", "hello", NULL, NULL, NULL, MIME_SYM_BAD_CHARSET},
    {"multipart with attachment",
     MP_HDR(
	 "b1") "--b1\r\nContent-Type: text/plain\r\n\r\nbody text\r\n"
	       "--b1\r\nContent-Type: application/pdf; name=\"x.pdf\"\r\n"
	       "Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n"
	       "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
	       "--b1--\r\n",
     "multipart/mixed,text/plain,application/pdf", "-,invoice.pdf", "body text",
     NULL, NULL, NULL, -1},
    {"rfc2231 filename",
     MP_HDR(
	 "b2") "--b2\r\nContent-Type: application/octet-stream\r\n"
	       "Content-Disposition: attachment;\r\n"
	       " filename*0*=utf-8''r%C3%A9sum;\r\n filename*1*=%C3%A9.exe\r\n"
	       "\r\nMZ\r\n--b2--\r\n",
     "multipart/mixed,application/octet-stream", "r\xc3\xa9sum\xc3\xa9.exe",
     NULL, NULL, NULL, NULL, -1},
    {"encoded-word filename",
     MP_HDR("b3") "--b3\r\nContent-Type: application/octet-stream;\r\n"
		  " name=\"=?UTF-8?B?ZmFjdHVyZS5wZGYuZXhl?=\"\r\n"
		  "\r\nMZ\r\n--b3--\r\n",
     "multipart/mixed,application/octet-stream", "facture.pdf.exe", NULL, NULL,
     NULL, NULL, -1},
    {"html reduced, links kept",
     "Content-Type: text/html; charset=utf-8\r\n\r\n"
     "<html><head><style>p{color:red}</style><script>var x='no';</script>"
     "</head><body><p>Cl<b>i</b>ck&nbsp;<a href=\"http://evil.example/"
     "login?a=1&amp;b=2\">here</a></p><!-- hidden --><img "
     "src='https://img.example/p.gif'>&#233;&#x263A;&lt;ok&gt;</body>"
     "</html>\r\n",
     "text/html", "-", "Click here", "color:red",
     "http://evil.example/login?a=1&b=2|https://img.example/p.gif", NULL, -1},
    {"nested message/rfc822",
     MP_HDR("b4") "--b4\r\nContent-Type: text/plain\r\n\r\nouter\r\n"
		  "--b4\r\nContent-Type: message/rfc822\r\n\r\n"
		  "Subject: inner\r\nContent-Type: text/plain\r\n\r\n"
		  "inner body www.inner.example/x\r\n--b4--\r\n",
     "multipart/mixed,text/plain,message/rfc822,text/plain", "-,-",
     "inner body", NULL, "www.inner.example/x", NULL, -1},
    {"multipart without boundary",
     "Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nbody\r\n",
     "multipart/mixed", "", NULL, NULL, NULL, NULL, MIME_SYM_MALFORMED},
    {"alternative",
     "Content-Type: multipart/alternative; boundary=a\r\n\r\n"
     "--a\r\nContent-Type: text/plain\r\n\r\nplain version\r\n"
     "--a\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n--a--\r\n",
     "multipart/alternative,text/plain,text/html", "-,-", "html version", NULL,
     NULL, NULL, -1},
    {"url trailing punctuation",
     "\r\nsee (https://a.example/x). and mailto:u@b.example, ftp://c.example!"
     "\r\n",
     "text/plain", "-", NULL, NULL,
     "https://a.example/x|mailto:u@b.example|ftp://c.example", NULL, -1},
};

static void
split_check(const char *want, size_t n, const char *(*get)(size_t, void *),
	    void *arg, char sep)
{
	char *copy = xstrdup(want);
	char *save = NULL, *tok;
	char seps[2] = {sep, '\0'};
	size_t i = 0;

	for (tok = strtok_r(copy, seps, &save); tok != NULL;
	     tok = strtok_r(NULL, seps, &save), i++) {
		const char *got;

		assert_true(i < n);
		got = get(i, arg);
		if (strcmp(tok, "-") == 0)
			assert_null(got);
		else
			assert_string_equal(got, tok);
	}
	assert_int_equal(i, n);
	free(copy);
}

static const char *
get_type(size_t i, void *arg)
{
	const struct mime_message *m = arg;

	return m->parts[i].content_type;
}

static const char *
get_url(size_t i, void *arg)
{
	const struct mime_message *m = arg;

	return m->urls[i];
}

struct leaf_view {
	const struct mime_message *m;
	size_t idx[64];
	size_t n;
};

static const char *
get_leaf_name(size_t i, void *arg)
{
	struct leaf_view *v = arg;

	return v->m->parts[v->idx[i]].filename;
}

/* The invariants every parse keeps, whatever the input. */
static void
check_invariants(const struct mime_message *m)
{
	assert_non_null(m->text);
	assert_true(g_utf8_validate(m->text, m->text_len, NULL));
	assert_int_equal(m->raw_headers[m->raw_headers_len], '\0');
	for (size_t i = 0; i < m->part_count; i++) {
		const struct mime_part *p = &m->parts[i];

		assert_non_null(p->content_type);
		if (i == 0) {
			assert_int_equal(p->parent, -1);
			assert_int_equal(p->depth, 0);
		} else {
			assert_true(p->parent >= 0 && (size_t)p->parent < i);
			assert_int_equal(p->depth,
					 m->parts[p->parent].depth + 1);
			assert_int_not_equal(m->parts[p->parent].kind,
					     MIME_PART_LEAF);
		}
		if (p->kind == MIME_PART_LEAF) {
			assert_non_null(p->content);
			assert_int_equal(p->content[p->content_len], '\0');
		}
		if (p->text != NULL)
			assert_true(
			    g_utf8_validate(p->text, p->text_len, NULL));
		if (p->filename != NULL)
			assert_true(g_utf8_validate(p->filename, -1, NULL));
		for (size_t h = 0; h < p->header_count; h++)
			assert_true(
			    g_utf8_validate(p->headers[h].value, -1, NULL));
	}
	for (size_t u = 0; u < m->url_count; u++)
		assert_non_null(m->urls[u]);
}

static void
test_cases(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(mime_cases) / sizeof(mime_cases[0]);
	     c++) {
		const struct mime_case *tc = &mime_cases[c];
		struct mime_message *m;
		struct leaf_view leaves = {0};
		size_t ntypes = 1;

		print_message("case: %s\n", tc->name);
		m = mime_parse_buffer(tc->msg, strlen(tc->msg), NULL);
		check_invariants(m);
		for (const char *p = tc->types; *p; p++)
			ntypes += *p == ',';
		split_check(tc->types, m->part_count, get_type, m, ',');
		(void)ntypes;
		leaves.m = m;
		for (size_t i = 0; i < m->part_count && leaves.n < 64; i++)
			if (m->parts[i].kind == MIME_PART_LEAF)
				leaves.idx[leaves.n++] = i;
		if (tc->filenames[0] != '\0')
			split_check(tc->filenames, leaves.n, get_leaf_name,
				    &leaves, ',');
		if (tc->text_has != NULL) {
			if (strstr(m->text, tc->text_has) == NULL)
				fail_msg("%s: text lacks \"%s\": \"%s\"",
					 tc->name, tc->text_has, m->text);
		}
		if (tc->text_not != NULL)
			assert_null(strstr(m->text, tc->text_not));
		if (tc->urls != NULL)
			split_check(tc->urls, m->url_count, get_url, m, '|');
		else
			assert_int_equal(m->url_count, 0);
		if (tc->header != NULL) {
			const char *eq = strchr(tc->header, '=');
			char *name = xstrndup(tc->header, eq - tc->header);
			const char *v = mime_message_header(m, name, 0);

			assert_non_null(v);
			assert_string_equal(v, eq + 1);
			free(name);
		}
		if (tc->symbol >= 0)
			assert_true(mime_message_has_symbol(m, tc->symbol));
		else
			assert_int_equal(m->symbol_count, 0);
		mime_message_free(&m);
		assert_null(m);
	}
}

static void
test_raw_headers(void **state)
{
	const char *msg = "Subject: =?UTF-8?B?w6k=?=\r\nX-A: 1\r\n\r\nbody\r\n";
	struct mime_message *m;

	(void)state;
	m = mime_parse_buffer(msg, strlen(msg), NULL);
	assert_string_equal(m->raw_headers,
			    "Subject: =?UTF-8?B?w6k=?=\r\nX-A: 1\r\n");
	assert_string_equal(m->headers[0].raw, "=?UTF-8?B?w6k=?=");
	assert_string_equal(m->headers[0].value, "\xc3\xa9");
	assert_string_equal(mime_message_header(m, "x-a", 0), "1");
	assert_null(mime_message_header(m, "x-a", 1));
	mime_message_free(&m);
}

static void
test_html_meta_charset(void **state)
{
	static const struct {
		const char *html, *want; /* want NULL: none */
	} cases[] = {
	    {"<html><head><meta http-equiv=\"Content-Type\" "
	     "content=\"text/html; charset=gb2312\"></head>",
	     "gb2312"},
	    {"<META CHARSET='Big5'>", "Big5"},
	    {"<meta charset = koi8-r />", "koi8-r"},
	    {"<metadata charset=x><meta name=a><meta charset=\"iso-8859-2\">",
	     "iso-8859-2"},
	    {"<meta name=\"description\" content=\"no charset\">", NULL},
	    {"<meta charset=>", NULL},
	    {"<meta charset=\"", NULL},
	    {"no meta at all", NULL},
	};
	char out[41];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool found = html_meta_charset(
		    cases[i].html, strlen(cases[i].html), out, sizeof(out));

		if (cases[i].want == NULL) {
			if (found)
				fail_msg("%s: found %s", cases[i].html, out);
		} else if (!found || strcmp(out, cases[i].want) != 0) {
			fail_msg("%s: got %s", cases[i].html,
				 found ? out : "(none)");
		}
	}
	/* only the first 1024 bytes are read, as HTML's prescan does */
	{
		char late[1200];

		memset(late, ' ', sizeof(late));
		memcpy(late + 1100, "<meta charset=big5>", 19);
		assert_false(
		    html_meta_charset(late, sizeof(late), out, sizeof(out)));
	}
}

/* An HTML part with no charset in its header is read in the one its
 * <meta> declares; one with a charset there keeps it. */
static void
test_html_read_in_meta_charset(void **state)
{
	/* "Привет" in KOI8-R */
	const char *undeclared =
	    "Content-Type: text/html\r\n\r\n"
	    "<meta http-equiv=\"Content-Type\" content=\"text/html; "
	    "charset=koi8-r\"><p>\xf0\xd2\xc9\xd7\xc5\xd4</p>\r\n";
	const char *declared =
	    "Content-Type: text/html; charset=iso-8859-1\r\n\r\n"
	    "<meta charset=koi8-r><p>\xe9t\xe9</p>\r\n";
	struct mime_message *m;

	(void)state;
	m = mime_parse_buffer(undeclared, strlen(undeclared), NULL);
	assert_non_null(strstr(m->text, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2"
					"\xd0\xb5\xd1\x82"));
	mime_message_free(&m);
	m = mime_parse_buffer(declared, strlen(declared), NULL);
	assert_non_null(strstr(m->text, "\xc3\xa9t\xc3\xa9"));
	mime_message_free(&m);
}

/* A message nested n levels deep in multiparts. */
static char *
nested_message(unsigned int n)
{
	struct buf b;

	buf_init(&b);
	buf_append_str(&b,
		       "Content-Type: multipart/mixed; boundary=b0\r\n\r\n");
	for (unsigned int i = 1; i < n; i++)
		buf_printf(&b,
			   "--b%u\r\nContent-Type: multipart/mixed; "
			   "boundary=b%u\r\n\r\n",
			   i - 1, i);
	buf_printf(&b, "--b%u\r\nContent-Type: text/plain\r\n\r\ndeep\r\n",
		   n - 1);
	for (unsigned int i = n; i > 0; i--)
		buf_printf(&b, "--b%u--\r\n", i - 1);
	return buf_detach(&b);
}

static void
test_limits(void **state)
{
	struct mime_limits lim;
	struct mime_message *m;
	char *deep = nested_message(30);
	struct buf many;

	(void)state;
	/* Depth: 30 levels against the default 20. */
	m = mime_parse_buffer(deep, strlen(deep), NULL);
	check_invariants(m);
	assert_true(mime_message_has_symbol(m, MIME_SYM_TOO_DEEP));
	for (size_t i = 0; i < m->part_count; i++)
		assert_true(m->parts[i].depth <= 20);
	mime_message_free(&m);
	free(deep);

	/* GMime's own guard far beyond. */
	deep = nested_message(1100);
	m = mime_parse_buffer(deep, strlen(deep), NULL);
	check_invariants(m);
	assert_true(mime_message_has_symbol(m, MIME_SYM_TOO_DEEP));
	mime_message_free(&m);
	free(deep);

	/* Part count. */
	buf_init(&many);
	buf_append_str(&many, MP_HDR("p"));
	for (int i = 0; i < 50; i++)
		buf_append_str(&many, "--p\r\nContent-Type: text/plain\r\n\r\n"
				      "x http://u.example/\r\n");
	buf_append_str(&many, "--p--\r\n");
	mime_limits_default(&lim);
	lim.max_parts = 10;
	lim.max_urls = 0;
	m = mime_parse_buffer(many.data, many.len, &lim);
	check_invariants(m);
	assert_int_equal(m->part_count, 10);
	assert_true(mime_message_has_symbol(m, MIME_SYM_TOO_MANY_PARTS));
	assert_true(mime_message_has_symbol(m, MIME_SYM_TOO_MANY_URLS));
	assert_string_equal(mime_symbol_name(MIME_SYM_TOO_MANY_PARTS),
			    "MIME_TOO_MANY_PARTS");
	mime_message_free(&m);

	/* Decoded size: 10 parts of 22 bytes against 100. */
	mime_limits_default(&lim);
	lim.max_decoded_size = 100;
	m = mime_parse_buffer(many.data, many.len, &lim);
	check_invariants(m);
	assert_true(mime_message_has_symbol(m, MIME_SYM_TOO_LARGE));
	{
		size_t total = 0;
		bool truncated = false;

		for (size_t i = 0; i < m->part_count; i++) {
			total += m->parts[i].content_len;
			truncated |= m->parts[i].content_truncated;
		}
		assert_true(total <= 100);
		assert_true(truncated);
	}
	mime_message_free(&m);

	/* Text size. */
	mime_limits_default(&lim);
	lim.max_text_size = 30;
	m = mime_parse_buffer(many.data, many.len, &lim);
	check_invariants(m);
	assert_true(m->text_len <= 31);
	assert_true(mime_message_has_symbol(m, MIME_SYM_TOO_LARGE));
	mime_message_free(&m);
	buf_free(&many);
}

static void
test_fd_and_slot(void **state)
{
	const char *pre = "XXXXjunk-before";
	const char *msg =
	    "Subject: fd\r\n\r\nvia the fd http://fd.example/\r\n";
	char path[] = "/tmp/test_mime_XXXXXX";
	int fd = mkstemp(path);
	struct mime_slot *slot;
	const struct mime_message *m1, *m2;
	struct mime_message *m;
	const char *error = NULL;

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, pre, strlen(pre)), (ssize_t)strlen(pre));
	assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	assert_int_equal(lseek(fd, 3, SEEK_SET), 3);

	assert_int_equal(mime_parse_fd(fd, (off_t)strlen(pre), strlen(msg),
				       NULL, &m, &error),
			 0);
	assert_string_equal(mime_message_header(m, "Subject", 0), "fd");
	assert_non_null(strstr(m->text, "via the fd"));
	mime_message_free(&m);
	/* The caller's offset did not move. */
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 3);

	slot = mime_slot_new(fd, (off_t)strlen(pre), strlen(msg), NULL);
	m1 = mime_slot_get(slot);
	m2 = mime_slot_get(slot);
	assert_non_null(m1);
	assert_ptr_equal(m1, m2);
	assert_int_equal(m1->url_count, 1);
	assert_string_equal(m1->urls[0], "http://fd.example/");
	mime_slot_free(&slot);
	assert_null(slot);
	close(fd);
}

static void
test_html_and_urls(void **state)
{
	static const struct {
		const char *html, *want, *hidden;
	} cases[] = {
	    {"a<br>b", "a\nb", ""},
	    {"a &amp; b &#0; &#xD800; &bogus;",
	     "a & b \xef\xbf\xbd \xef\xbf\xbd &bogus;", ""},
	    {"x < y", "x < y", ""},
	    {"<td>1</td><td>2</td>", "1 2 ", ""},
	    {"<scr<script>ipt>alert(1)</script>z", "ipt>alert(1)z", ""},
	    {"unterminated <a href=\"http://u.example", "unterminated ", ""},
	    {"<!-- never closed", "", ""},
	    /* hidden elements: their text goes apart */
	    {"buy <div style=\"display: none\">grandma recipe</div>now",
	     "buy\nnow", "grandma recipe"},
	    {"a<span style='color:red;visibility:hidden'>b</span>c", "ac", "b"},
	    {"a<p hidden>b<p>c", "a\nc", "b"},
	    {"a<div style=\"font-size:0px\">x<div>y</div>z</div>w", "a\nw",
	     "x\ny\nz"},
	    {"a<td style=\"max-height:0;overflow:hidden\">p</td>b", "a b", "p"},
	    {"a<span style=\"opacity:0\">p</span>b", "ab", "p"},
	    /* text in its background's colour */
	    {"a<font color=\"#FFFFFF\">filler words</font>b", "ab",
	     "filler words"},
	    {"<table bgcolor=#fff><tr><td><span style=\"color: rgb(254,254,"
	     "254)\">x</span>y</td></tr></table>",
	     "y\n", "x"},
	    {"<p style=\"color:#fefefe\">x<p>y", "y", "x"},
	    /* seen: on a dark cell, on a colour a style sheet or an image
	     * may give, or in a colour not known here */
	    {"<td bgcolor=\"#000080\"><font color=white>x</font></td>", "x ",
	     ""},
	    {"<body bgcolor=black text=white>x</body>", "x", ""},
	    {"<td class=\"hdr\"><span style=\"color:#ffffff\">x</span></td>",
	     "x ", ""},
	    {"<div style=\"background:#fff url(a.png)\"><font color=white>x"
	     "</font></div>",
	     "x\n", ""},
	    {"<font color=\"#ffffff\"><font color=\"bogus\">x</font></font>",
	     "x", ""},
	    {"<style>body{background:#000}</style><font color=white>x</font>",
	     "x", ""},
	    /* hidden by the document's style sheet: class, id, tag */
	    {"<style>.pre{display:none}</style>a<span class=\"x "
	     "pre\">b</span>c",
	     "ac", "b"},
	    {"<STYLE type=text/css><!-- /* c */ #f { visibility : hidden }"
	     " --></STYLE>a<div id=F>b</div>c",
	     "a\nc", "b"},
	    {"<style>td.h, .z { font-size: 0 }</style><td class=h>a</td>"
	     "<td class=k>b</td>",
	     "b ", "a"},
	    {"<style>p{opacity:0}</style>a<p>b</p>", "a\n", "b"},
	    /* the sheet is overridden by what shows: an inline style, a
	     * later or more specific rule, a rule we cannot read */
	    {"<style>.h{display:none}</style><span class=h "
	     "style=\"display:inline\">a</span>",
	     "a", ""},
	    {"<style>.h{font-size:0}</style><span class=h "
	     "style=\"display:inline\">a</span>",
	     "", "a"},
	    {"<style>.h{display:none} .h{display:block}</style>"
	     "<span class=h>a</span>",
	     "a", ""},
	    {"<style>span{display:none} #i{display:inline}</style>"
	     "<span id=i>a</span><span>b</span>",
	     "a", "b"},
	    {"<style>.h{display:none} div span.h:hover{display:block}</style>"
	     "<span class=h>a</span>",
	     "a", ""},
	    {"<style>.h{display:none} [class]{display:block}</style>"
	     "<span class=h>a</span>",
	     "a", ""},
	    /* hides only on some screens, for some parents, or the sheet
	     * is not all there: shown */
	    {"<style>@media (max-width:600px){.h{display:none}}</style>"
	     "<span class=h>a</span>",
	     "a", ""},
	    {"<style media=print>.h{display:none}</style><span class=h>a"
	     "</span>",
	     "a", ""},
	    {"<style>.w .h{display:none}</style><span class=h>a</span>", "a",
	     ""},
	    {"<style>@import url(x.css); .h{display:none}</style>"
	     "<span class=h>a</span>",
	     "a", ""},
	    {"<link rel=stylesheet href=x.css><style>.h{display:none}</style>"
	     "<span class=h>a</span>",
	     "a", ""},
	    {"<!-- <style>.h{display:none}</style> --><span class=h>a</span>",
	     "a", ""},
	    {"<style>.h{content:\"}\"; display:none}</style><span class=h>a"
	     "</span><style>.h{display:block",
	     "a", ""},
	    /* colours from the style sheet, by tag, class or id */
	    {"<style>.w{color:#fff}</style>a<span class=w>filler</span>b", "ab",
	     "filler"},
	    {"<style>p.x { color: #fefefe }</style><p class=x>y<p>z", "z", "y"},
	    /* seen: the sheet's background, the element's own style, a
	     * colour the sheet sets where Moat cannot place it */
	    {"<style>body{background:#000;color:#fff}</style>x", "x", ""},
	    {"<style>.dark{background:#000}</style><td class=dark "
	     "bgcolor=#fff><font color=white>x</font></td>",
	     "x ", ""},
	    {"<style>#h{color:#ffffff}</style><td bgcolor=#000 id=h>x</td>",
	     "x ", ""},
	    {"<style>.w{color:#fff}</style><span class=w "
	     "style=\"color:#000\">x</span>",
	     "x", ""},
	    {"<style>a:link{color:#fff}</style><span style=\"color:#fff\">x"
	     "</span>",
	     "x", ""},
	    {"<style>@media (prefers-color-scheme: dark){body{background:"
	     "#000}}</style><font color=white>x</font>",
	     "x", ""},
	    {"<style>.w{color:#fff}</style><span class=v>x</span>", "x", ""},
	    /* letters hidden inside a word: the word the reader reads */
	    {"bit<span style=\"display:none\">zz</span>coin", "bitcoin", "zz"},
	    /* shown: */
	    {"a<span style=\"opacity:0.5;font-size:10px\">p</span>b", "apb",
	     ""},
	    {"a<img style=\"display:none\" src=x>b", "ab", ""},
	    {"a<div style=\"max-height:0\">p</div>b", "a\np\nb", ""},
	    {"a<input type=\"hidden\" value=v>b", "ab", ""},
	    /* an unclosed hidden element hides to the end, as it does shown */
	    {"a<div style=display:none>b", "a", "b"},
	};
	size_t failed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out, hidden;

		buf_init(&out);
		buf_init(&hidden);
		mime_html_to_text(cases[i].html, strlen(cases[i].html), &out,
				  &hidden, NULL);
		if (strcmp(buf_cstr(&out), cases[i].want) != 0 ||
		    strcmp(buf_cstr(&hidden), cases[i].hidden) != 0) {
			print_error("%s: got \"%s\" and hidden \"%s\"\n",
				    cases[i].html, buf_cstr(&out),
				    buf_cstr(&hidden));
			failed++;
		}
		buf_free(&out);
		buf_free(&hidden);
	}
	assert_int_equal(failed, 0);
}

/* Links whose text shows another host than the one they go to. */
static void
test_shown_links(void **state)
{
	static const struct {
		const char *html, *shown, *target; /* NULL: none kept */
	} cases[] = {
	    {"<a href=\"http://evil.example/login\">https://www.bank.example/"
	     "signin</a>",
	     "www.bank.example", "evil.example"},
	    {"<a href='http://198.51.100.7/x'> www.bank.example </a>",
	     "www.bank.example", "198.51.100.7"},
	    {"<a href=\"https://r.example/c?u=https%3A%2F%2Fevil.example%2F\">"
	     "bank.example/login</a>",
	     "bank.example", "evil.example"},
	    {"<A HREF=\"http://evil.example/\"><b>www.</b><i>bank.example</i>"
	     "</A>",
	     "www.bank.example", "evil.example"},
	    /* the same host, a sentence, an address, a hidden text, a
	     * relative link: nothing kept */
	    {"<a href=\"https://www.bank.example/a\">www.bank.example</a>",
	     NULL, NULL},
	    {"<a href=\"http://evil.example/\">Log in to bank.example</a>",
	     NULL, NULL},
	    {"<a href=\"mailto:x@evil.example\">help@bank.example</a>", NULL,
	     NULL},
	    {"<a href=\"http://evil.example/\"><span style=\"display:none\">"
	     "www.bank.example</span>click</a>",
	     NULL, NULL},
	    {"<a href=\"/login\">www.bank.example</a>", NULL, NULL},
	    {"<a href=\"http://evil.example/\">v1.2</a>", NULL, NULL},
	};
	size_t failed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf msg;
		struct mime_message *m;

		buf_init(&msg);
		buf_printf(&msg,
			   "Subject: t\r\nContent-Type: text/html\r\n"
			   "\r\n%s\r\n",
			   cases[i].html);
		m = mime_parse_buffer(msg.data, msg.len, NULL);
		if (cases[i].shown == NULL
			? m->shown_link_count != 0
			: m->shown_link_count != 1 ||
			      strcmp(m->shown_links[0].shown, cases[i].shown) !=
				  0 ||
			      strcmp(m->shown_links[0].target,
				     cases[i].target) != 0) {
			print_error(
			    "%s: %zu links, first %s -> %s\n", cases[i].html,
			    m->shown_link_count,
			    m->shown_link_count ? m->shown_links[0].shown : "-",
			    m->shown_link_count ? m->shown_links[0].target
						: "-");
			failed++;
		}
		mime_message_free(&m);
		buf_free(&msg);
	}
	assert_int_equal(failed, 0);
}

static void
collect_link(void *ctx, const char *url, size_t len)
{
	struct buf *links = ctx;

	buf_append(links, url, len);
	buf_append_char(links, ' ');
}

/* The links an HTML text gives the URL checks: anchors and images, forms'
 * targets, SVG links, and a refresh's target (a browser follows it). */
static void
test_html_links(void **state)
{
	static const struct {
		const char *html, *want;
	} cases[] = {
	    {"<a href=\"http://a.example/x\">a</a>", "http://a.example/x "},
	    {"<a href=\"&#104;ttp://b.example\">b</a>", "http://b.example "},
	    {"<a href=\"/relative\">c</a>", ""},
	    {"<button formaction=\"https://c.example/\">go</button>",
	     "https://c.example/ "},
	    {"<svg><a xlink:href=\"http://d.example\">d</a></svg>",
	     "http://d.example "},
	    {"<meta http-equiv=\"refresh\" content=\"0; URL='http://e.example/"
	     "p'\">",
	     "http://e.example/p "},
	    {"<meta http-equiv=refresh "
	     "content=\"5;url=&#104;ttp://f.example\">",
	     "http://f.example "},
	    {"<meta http-equiv=refresh content=\"0&#59; url = "
	     "http://g.example\">",
	     "http://g.example "},
	    {"<meta property=\"og:url\" content=\"http://h.example/\">", ""},
	    {"<meta http-equiv=refresh content=\"5\">", ""},
	    {"<meta http-equiv=refresh content=\"0;url=\">", ""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out, links;

		buf_init(&out);
		buf_init(&links);
		const struct mime_html_sink sink = {collect_link, NULL, &links};

		mime_html_to_text(cases[i].html, strlen(cases[i].html), &out,
				  NULL, &sink);
		if (strcmp(buf_cstr(&links), cases[i].want) != 0)
			fail_msg("%s: got \"%s\"", cases[i].html,
				 buf_cstr(&links));
		buf_free(&out);
		buf_free(&links);
	}
}

static bool
has_url(const struct mime_message *m, const char *url)
{
	for (size_t i = 0; i < m->url_count; i++)
		if (strcmp(m->urls[i], url) == 0)
			return true;
	return false;
}

/* A redirector's target is a link of its own, plain or percent-encoded;
 * a URL padded past the length limit keeps its start (its host). */
static void
test_embedded_and_long_urls(void **state)
{
	static const char head[] =
	    "From: a@example.test\r\nSubject: t\r\n\r\n"
	    "see https://www.google.test/url?q=https://bad.example/x&sa=D\r\n"
	    "and http://t.example/c?u=https%3A%2F%2Fenc.example%2Fp%3Fa%3D1"
	    "&id=5\r\n"
	    "and http://pad.example/?";
	char msg[sizeof(head) + 4000];
	struct mime_message *m;
	bool padded = false;

	(void)state;
	memcpy(msg, head, sizeof(head) - 1);
	memset(msg + sizeof(head) - 1, 'A', 3000);
	memcpy(msg + sizeof(head) - 1 + 3000, "\r\n", 3);
	m = mime_parse_buffer(msg, strlen(msg), NULL);
	assert_non_null(m);
	assert_true(has_url(m, "https://www.google.test/url?q=https://"
			       "bad.example/x&sa=D"));
	assert_true(has_url(m, "https://bad.example/x"));
	assert_true(has_url(m, "https://enc.example/p?a=1"));
	for (size_t i = 0; i < m->url_count; i++)
		if (strncmp(m->urls[i], "http://pad.example/?AAA", 23) == 0)
			padded = strlen(m->urls[i]) == 2048;
	assert_true(padded);
	mime_message_free(&m);
}

/* Every shared MIME test message: no crash, invariants kept. */
static size_t shared_count;

static void
walk_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			walk_dir(path);
		} else if (S_ISREG(st.st_mode) && st.st_size > 0 &&
			   strstr(e->d_name, "LICENSE") == NULL &&
			   strcmp(e->d_name, "SOURCE") != 0) {
			int fd = open(path, O_RDONLY);
			struct mime_message *m = NULL;
			const char *error = NULL;

			assert_true(fd >= 0);
			assert_int_equal(mime_parse_fd(fd, 0,
						       (size_t)st.st_size, NULL,
						       &m, &error),
					 0);
			check_invariants(m);
			assert_true(
			    m->part_count > 0 ||
			    mime_message_has_symbol(m, MIME_SYM_PARSE_ERROR));
			mime_message_free(&m);
			close(fd);
			shared_count++;
		}
	}
	closedir(d);
}

/* Parts that mail programs may read two ways, and look-alikes that are
 * not ambiguous (the same field twice, however folded or cased). */
static void
test_ambiguity(void **state)
{
#define AMB_HDR                                                                \
	"From: a@example.test\r\nTo: b@example.test\r\nMIME-Version: 1.0\r\n"
#define AMB_BODY "\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n"
	static const struct {
		const char *msg, *why;
	} cases[] = {
	    {AMB_HDR "Content-Type: multipart/mixed; boundary=b\r\n"
		     "Content-Type: text/plain\r\n" AMB_BODY,
	     "two different Content-Type fields"},
	    {AMB_HDR
	     "Content-Type: multipart/mixed; boundary=b\r\n"
	     "Content-Type: multipart/mixed;\r\n boundary=b\r\n" AMB_BODY,
	     NULL},
	    {AMB_HDR "Content-Type: multipart/mixed; boundary=x; "
		     "boundary=b\r\n" AMB_BODY,
	     "two different boundary parameters"},
	    {AMB_HDR "Content-Type: multipart/mixed; boundary=b; "
		     "boundary=b\r\n" AMB_BODY,
	     NULL},
	    {AMB_HDR "Content-Type: application/octet-stream; name=a.txt; "
		     "name=a.exe\r\n\r\nx\r\n",
	     "two different name parameters"},
	    {AMB_HDR "Content-Type: application/octet-stream\r\n"
		     "Content-Disposition: attachment; filename=a.txt; "
		     "filename=a.exe\r\n\r\nx\r\n",
	     "two different filename parameters"},
	    {AMB_HDR "Content-Type: application/octet-stream\r\n"
		     "Content-Disposition: attachment; filename=a.txt\r\n"
		     "Content-Disposition: attachment; filename=a.exe\r\n"
		     "\r\nx\r\n",
	     "two different Content-Disposition fields"},
	    {AMB_HDR "Content-Type: text/plain\r\nContent-Transfer-Encoding: "
		     "base64\r\nContent-Transfer-Encoding: \"BASE64\"\r\n"
		     "\r\naGk=\r\n",
	     NULL},
	    {AMB_HDR
	     "Content-Type: text/plain\r\nContent-Transfer-Encoding: "
	     "base64\r\nContent-Transfer-Encoding: 7bit\r\n\r\naGk=\r\n",
	     "two different Content-Transfer-Encoding fields"},
	    /* inside a forwarded message */
	    {AMB_HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		     "Content-Type: message/rfc822\r\n\r\nSubject: in\r\n"
		     "Content-Type: text/plain\r\nContent-Type: text/html\r\n"
		     "\r\nhi\r\n--b--\r\n",
	     "two different Content-Type fields"},
	};
	struct mime_limits limits;

	(void)state;
	mime_limits_default(&limits);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mime_message *m = mime_parse_buffer(
		    cases[i].msg, strlen(cases[i].msg), &limits);
		const char *why = NULL;

		assert_non_null(m);
		for (size_t k = 0; k < m->part_count && why == NULL; k++)
			why = m->parts[k].ambiguity;
		if (cases[i].why == NULL) {
			if (why != NULL)
				fail_msg("case %zu: unexpected %s", i, why);
			assert_false(
			    mime_message_has_symbol(m, MIME_SYM_AMBIGUOUS));
		} else {
			if (why == NULL || strcmp(why, cases[i].why) != 0)
				fail_msg("case %zu: got %s", i,
					 why ? why : "(none)");
			assert_true(
			    mime_message_has_symbol(m, MIME_SYM_AMBIGUOUS));
		}
		mime_message_free(&m);
	}
#undef AMB_HDR
#undef AMB_BODY
}

static void
test_shared_testdata(void **state)
{
	const char *dir = MOAT_SOURCE_DIR "/../shared/testdata/mime";
	struct stat st;

	(void)state;
	if (stat(dir, &st) < 0) {
		skip();
		return;
	}
	walk_dir(dir);
	print_message("parsed %zu shared messages\n", shared_count);
	assert_true(shared_count > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_raw_headers),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_fd_and_slot),
	    cmocka_unit_test(test_html_and_urls),
	    cmocka_unit_test(test_html_meta_charset),
	    cmocka_unit_test(test_html_read_in_meta_charset),
	    cmocka_unit_test(test_html_links),
	    cmocka_unit_test(test_shown_links),
	    cmocka_unit_test(test_embedded_and_long_urls),
	    cmocka_unit_test(test_ambiguity),
	    cmocka_unit_test(test_shared_testdata),
	};

	mime_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
