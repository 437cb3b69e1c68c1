/*
 * shown_link: the host a link's text shows and the host it goes to (see
 * shown_link.h). Bounded by its inputs; hosts through url_host().
 */
#include "filters/shown_link.h"
#include "filters/url_host.h"
#include "lib/buf.h"
#include "lib/hex.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Longest text taken for a link; longer text is a sentence. */
#define SHOWN_LINK_TEXT_MAX 2048

/* Whether p (n bytes) starts with prefix, any case. */
static bool
starts_with(const char *p, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && strncasecmp(p, prefix, k) == 0;
}

/* Whether the text (trimmed, n bytes) is a host name, perhaps with a
 * path: labels of letters, digits and '-', at least one dot, the last
 * label letters only (two or more). */
static bool
bare_host(const char *t, size_t n)
{
	size_t i = 0, label = 0, last_start = 0, dots = 0;

	while (i < n && t[i] != '/' && t[i] != ':' && t[i] != '?' &&
	       t[i] != '#') {
		unsigned char c = (unsigned char)t[i];

		if (c == '.') {
			if (label == 0)
				return false;
			dots++;
			label = 0;
			last_start = i + 1;
		} else if (isalnum(c) || c == '-') {
			label++;
		} else {
			return false;
		}
		i++;
	}
	if (dots == 0 || label < 2)
		return false;
	for (size_t k = last_start; k < last_start + label; k++)
		if (!isalpha((unsigned char)t[k]))
			return false;
	return true;
}

/* The host the text shows into out; false when it shows none. */
static bool
text_host(const char *text, size_t n, char *out, size_t outsz)
{
	struct buf url;
	bool ok;

	while (n > 0 && isspace((unsigned char)*text))
		text++, n--;
	while (n > 0 && isspace((unsigned char)text[n - 1]))
		n--;
	if (n == 0 || n > SHOWN_LINK_TEXT_MAX || memchr(text, '@', n) ||
	    memchr(text, '\0', n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (isspace((unsigned char)text[i]))
			return false;
	buf_init(&url);
	if (starts_with(text, n, "http://") || starts_with(text, n, "https://"))
		buf_append(&url, text, n);
	else if (bare_host(text, n)) {
		buf_append(&url, "http://", 7);
		buf_append(&url, text, n);
	}
	ok = url.len > 0 && url_host(buf_cstr(&url), out, outsz) &&
	     strchr(out, '.') != NULL;
	buf_free(&url);
	return ok;
}

/* Where the link lands: the last http(s) link inside it (plain or
 * percent-encoded, up to the next '&'), decoded, into url; or the link
 * itself. */
static void
landing(const char *href, size_t len, struct buf *url)
{
	size_t from = 0, end;
	bool encoded = false;

	for (size_t i = 1; i < len; i++) {
		if ((href[i] | 0x20) != 'h' ||
		    isalnum((unsigned char)href[i - 1]))
			continue;
		if (starts_with(href + i, len - i, "http://") ||
		    starts_with(href + i, len - i, "https://")) {
			from = i;
			encoded = false;
		} else if (starts_with(href + i, len - i, "http%3a%2f%2f") ||
			   starts_with(href + i, len - i, "https%3a%2f%2f")) {
			from = i;
			encoded = true;
		}
	}
	for (end = from; from > 0 && end < len && href[end] != '&'; end++)
		;
	if (from == 0)
		end = len;
	buf_reset(url);
	for (size_t k = from; k < end; k++) {
		int hi, lo;

		if (encoded && href[k] == '%' && end - k > 2 &&
		    (hi = hex_digit(href[k + 1])) >= 0 &&
		    (lo = hex_digit(href[k + 2])) >= 0) {
			buf_append_char(url, (char)(hi * 16 + lo));
			k += 2;
		} else {
			buf_append_char(url, href[k]);
		}
	}
}

bool
shown_link_hosts(const char *href, size_t href_len, const char *text,
		 size_t text_len, char *shown, size_t shown_size, char *target,
		 size_t target_size)
{
	struct buf url;
	bool ok;

	if (!text_host(text, text_len, shown, shown_size))
		return false;
	buf_init(&url);
	landing(href, href_len, &url);
	ok = memchr(buf_cstr(&url), '\0', url.len) == NULL &&
	     url_host(buf_cstr(&url), target, target_size) &&
	     strcmp(shown, target) != 0;
	buf_free(&url);
	return ok;
}
