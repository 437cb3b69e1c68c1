/*
 * Unit tests for filters/data_uri.c: which data: URLs are found in a
 * document, how their payloads decode (base64, percent encoding, line
 * breaks dropped), the name from the tag's download attribute, and the
 * bounds (a URL cut by the end of the input, the maximum count).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "filters/data_uri.h"

struct seen {
	unsigned int count;
	struct {
		char name[64];
		char type[64];
		char data[256];
		size_t len;
	} url[8];
};

static void
record(void *ctx, const char *name, const char *media_type,
       const unsigned char *data, size_t len)
{
	struct seen *s = ctx;
	unsigned int i = s->count++;

	if (i >= 8)
		return;
	snprintf(s->url[i].name, sizeof(s->url[i].name), "%s",
		 name != NULL ? name : "-");
	snprintf(s->url[i].type, sizeof(s->url[i].type), "%s", media_type);
	s->url[i].len = len < 255 ? len : 255;
	memcpy(s->url[i].data, data, s->url[i].len);
	s->url[i].data[s->url[i].len] = '\0';
}

static struct seen
walk(const char *doc, unsigned int max)
{
	struct seen s;
	unsigned int n;

	memset(&s, 0, sizeof(s));
	n = data_uri_walk((const unsigned char *)doc, strlen(doc), max, record,
			  &s);
	assert_int_equal(n, s.count);
	return s;
}

#define NAME(s, i) ((s).url[i].name)
#define TYPE(s, i) ((s).url[i].type)
#define DATA(s, i) ((s).url[i].data)

static void
test_found_and_decoded(void **state)
{
	struct seen s;

	(void)state;
	/* "MZ payload" in base64, wrapped over a line break, with the
	 * download attribute after the URL. */
	s = walk("<p><a href=\"data:Application/Octet-Stream;base64,TVog"
		 "cGF5\r\nbG9hZA==\" download=\"Invoice.exe\">x</a></p>",
		 32);
	assert_int_equal(s.count, 1);
	assert_string_equal(NAME(s, 0), "Invoice.exe");
	assert_string_equal(TYPE(s, 0), "application/octet-stream");
	assert_string_equal(DATA(s, 0), "MZ payload");
	/* Download before the URL, unquoted; percent encoding. */
	s = walk("<a download=a.js href='data:text/javascript,alert%281%29'>",
		 32);
	assert_int_equal(s.count, 1);
	assert_string_equal(NAME(s, 0), "a.js");
	assert_string_equal(DATA(s, 0), "alert(1)");
	/* No media type, no download: a CSS url(). */
	s = walk("div{background:url(data:,abc)} <img src=\"data:image/png;"
		 "base64,iVBORw==\">",
		 32);
	assert_int_equal(s.count, 2);
	assert_string_equal(NAME(s, 0), "-");
	assert_string_equal(TYPE(s, 0), "");
	assert_string_equal(DATA(s, 0), "abc");
	assert_string_equal(TYPE(s, 1), "image/png");
	assert_int_equal(s.url[1].len, 4);
}

static void
test_not_data_urls(void **state)
{
	struct seen s;

	(void)state;
	s = walk("metadata:x,y  data: no comma here  data:,  "
		 "<a href=\"https://example.com/data:x,y\">",
		 32);
	/* Only the last: "/data:" is preceded by a slash, which a URL
	 * path may have; its payload "y" is reported (harmless bytes). */
	assert_int_equal(s.count, 1);
	assert_string_equal(DATA(s, 0), "y");
	/* Cut by the end of the input. */
	s = walk("<a href=\"data:text/plain;base64", 32);
	assert_int_equal(s.count, 0);
	s = walk("<a href=\"data:text/plain,ab", 32);
	assert_int_equal(s.count, 1);
	assert_string_equal(DATA(s, 0), "ab");
}

static void
test_bounded(void **state)
{
	static const char img[] = "<img src=\"data:,x\">";
	static char doc[10000];
	struct seen s;

	(void)state;
	for (size_t i = 0; i < 50; i++)
		memcpy(doc + i * (sizeof(img) - 1), img, sizeof(img) - 1);
	doc[50 * (sizeof(img) - 1)] = '\0';
	s = walk(doc, 5);
	assert_int_equal(s.count, 5);
	/* A download attribute too far from the URL is not its name. */
	memset(doc, ' ', sizeof(doc) - 1);
	doc[sizeof(doc) - 1] = '\0';
	memcpy(doc, "<a download=\"far.exe\"", 21);
	memcpy(doc + sizeof(doc) - 20, "href=\"data:,x\">", 15);
	s = walk(doc, 5);
	assert_int_equal(s.count, 1);
	assert_string_equal(NAME(s, 0), "-");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_found_and_decoded),
	    cmocka_unit_test(test_not_data_urls),
	    cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
