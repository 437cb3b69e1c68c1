/*
 * Unit tests for filters/spam_view.c, the rule engine's message view: the
 * top-level Content-* fields, which the MIME parse files under the body
 * part, must reach header rules as message headers (unfolded, once each,
 * never those of inner parts), next to the other fields; and the text
 * parts' structure (HTML parts, their <img> tags) reaches the built-ins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "filters/mime.h"
#include "filters/spam_view.h"

struct view_case {
	const char *message;
	/* "Name=value" lines the view must hold, and how many fields named
	 * Content-* in all */
	const char *want;
	size_t content_count;
};

static const struct view_case view_cases[] = {
    {"From: a@b.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
     "Content-Type: text/html;\r\n\tcharset=\"gb2312\"\r\n"
     "Content-Transfer-Encoding: 8bit\r\n\r\n<p>hi</p>\r\n",
     "Content-Type=text/html;\tcharset=\"gb2312\"\n"
     "Content-Transfer-Encoding=8bit\nMIME-Version=1.0\nFrom=a@b.example\n",
     2},
    {"From: a@b.example\nContent-Type: multipart/alternative; "
     "boundary=\"XX\"\n\n--XX\nContent-Type: text/plain\n"
     "Content-Disposition: inline\n\nhi\n--XX--\n",
     "Content-Type=multipart/alternative; boundary=\"XX\"\n", 1},
    {"From: a@b.example\nSubject: no mime\n\nhello\n", "From=a@b.example\n", 0},
    {"From: a@b.example\nContent-Disposition: inline  \n"
     "Content-Type: text/plain\n\nx\n",
     "Content-Disposition=inline\nContent-Type=text/plain\n", 2},
};

static bool
view_has(const struct spam_view *view, const char *name, size_t nlen,
	 const char *value, size_t vlen)
{
	for (size_t i = 0; i < view->msg.header_count; i++) {
		const struct spam_header *h = &view->msg.headers[i];

		if (strlen(h->name) == nlen &&
		    strncasecmp(h->name, name, nlen) == 0 &&
		    strlen(h->value) == vlen &&
		    strncmp(h->value, value, vlen) == 0)
			return true;
	}
	return false;
}

static void
test_content_fields(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(view_cases) / sizeof(view_cases[0]);
	     i++) {
		const struct view_case *c = &view_cases[i];
		struct mime_message *m =
		    mime_parse_buffer(c->message, strlen(c->message), NULL);
		struct spam_view view;
		const char *w = c->want;
		size_t n = 0;

		spam_view_init(&view, m, c->message, strlen(c->message), 0);
		while (*w != '\0') {
			const char *eq = strchr(w, '='), *nl = strchr(w, '\n');

			assert_non_null(eq);
			assert_non_null(nl);
			if (!view_has(&view, w, (size_t)(eq - w), eq + 1,
				      (size_t)(nl - eq - 1)))
				fail_msg("case %zu: no %.*s", i, (int)(nl - w),
					 w);
			w = nl + 1;
		}
		for (size_t k = 0; k < view.msg.header_count; k++)
			if (strncasecmp(view.msg.headers[k].name, "Content-",
					8) == 0)
				n++;
		if (n != c->content_count)
			fail_msg("case %zu: %zu Content-* fields, want %zu", i,
				 n, c->content_count);
		spam_view_free(&view);
		mime_message_free(&m);
	}
}

/* The part structure the MIME and HTML built-ins read. */
static void
test_parts(void **state)
{
	static const char msg[] =
	    "From: a@b.example\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/related; boundary=\"XX\"\n\n"
	    "--XX\nContent-Type: text/html\n\n"
	    "<html><body><IMG src=\"cid:1\"><img/><imgx>Buy</body></html>\n"
	    "--XX\nContent-Type: image/gif\n\nGIF89a\n--XX--\n";
	static const char plain[] = "From: a@b.example\n\nhello\n";
	struct mime_message *m;
	struct spam_view view;

	(void)state;
	m = mime_parse_buffer(msg, sizeof(msg) - 1, NULL);
	spam_view_init(&view, m, msg, sizeof(msg) - 1, 0);
	assert_int_equal(view.msg.html_part_count, 1);
	assert_int_equal(view.msg.text_part_count, 0);
	assert_int_equal(view.msg.html_parts[0].images, 2);
	assert_true(view.msg.html_parts[0].text_len >= 3);
	spam_view_free(&view);
	mime_message_free(&m);
	m = mime_parse_buffer(plain, sizeof(plain) - 1, NULL);
	spam_view_init(&view, m, plain, sizeof(plain) - 1, 0);
	assert_int_equal(view.msg.html_part_count, 0);
	assert_int_equal(view.msg.text_part_count, 1);
	spam_view_free(&view);
	mime_message_free(&m);
}

/* The tags SpamAssassin's HTML parser records: start and end tags, not
 * those in comments or script; <object>/<embed>; a form to mailto:. */
static void
test_html_tags(void **state)
{
	static const char msg[] =
	    "From: a@b.example\nContent-Type: text/html\n\n"
	    "<HTML><!-- <bgsound> --><script>x='<embed>'</script>"
	    "<center>hi</CENTER></font><form method=post "
	    "ACTION=\"MailTo:x@y.example\"></form></html>\n";
	static const char *const want[] = {"html", "script", "center", "font",
					   "form"};
	struct mime_message *m;
	struct spam_view view;

	(void)state;
	m = mime_parse_buffer(msg, sizeof(msg) - 1, NULL);
	spam_view_init(&view, m, msg, sizeof(msg) - 1, 0);
	assert_int_equal(view.msg.html_tag_count, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(view.msg.html_tags[i], want[i]);
	assert_false(view.msg.html_embeds);
	assert_true(view.msg.html_form_mailto);
	spam_view_free(&view);
	mime_message_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_content_fields),
	    cmocka_unit_test(test_parts),
	    cmocka_unit_test(test_html_tags),
	};

	mime_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
