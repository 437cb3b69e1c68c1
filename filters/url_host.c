/*
 * url_host: the host part of a URL, read as a browser reads it (see
 * url_host.h). Bounded by the URL string and outsz.
 */
#include "filters/url_host.h"

#include <ctype.h>
#include <idn2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/hex.h"

/* Longer hosts are no DNS names. */
#define URL_HOST_MAX 1024

/* Schemes whose URLs always have a host, whatever slashes follow ':'. */
static bool
url_scheme_special(const char *scheme, size_t n)
{
	static const char *const special[] = {"http", "https", "ftp", "ws",
					      "wss"};

	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (strlen(special[i]) == n &&
		    strncasecmp(scheme, special[i], n) == 0)
			return true;
	return false;
}

/* Where the authority starts in url, or NULL when it has none. */
static const char *
url_authority(const char *url)
{
	const char *p = url;

	while (*p == ' ' || (*p > 0 && *p < 0x20))
		p++;
	if (strncasecmp(p, "www.", 4) == 0)
		return p;
	if (p[0] == '/' && p[1] == '/')
		return p + 2; /* scheme-relative */
	if (!isalpha((unsigned char)*p))
		return NULL;
	const char *s = p;
	while (isalnum((unsigned char)*s) || *s == '+' || *s == '-' ||
	       *s == '.')
		s++;
	if (*s != ':')
		return NULL;
	if (url_scheme_special(p, (size_t)(s - p))) {
		/* "http:\\host", "https:///host", even "http:host" */
		s++;
		while (*s == '/' || *s == '\\')
			s++;
		return s;
	}
	return s[1] == '/' && s[2] == '/' ? s + 3 : NULL;
}

/* A byte no host may hold once percent-decoded. */
static bool
url_host_forbidden(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || strchr("#%/:<>?@[\\]^|", c) != NULL;
}

bool
url_host(const char *url, char *out, size_t outsz)
{
	const char *p = url_authority(url), *end, *at, *colon;

	if (p == NULL)
		return false;
	end = p + strcspn(p, "/?#\\ \t\r\n");
	/* the userinfo ends at the last '@' */
	for (at = end; at > p && at[-1] != '@'; at--)
		;
	if (at > p)
		p = at;
	if (*p == '[')
		return false;			   /* IPv6 literal */
	colon = memchr(p, ':', (size_t)(end - p)); /* a port follows */
	return host_normalize(p, (size_t)((colon != NULL ? colon : end) - p),
			      out, outsz);
}

bool
host_normalize(const char *name, size_t len, char *out, size_t outsz)
{
	const char *p = name, *end = name + len;
	char host[URL_HOST_MAX], *ascii = NULL;
	size_t n = 0;
	bool non_ascii = false;

	for (; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		int hi, lo;

		if (c == '%' && end - p > 2 && (hi = hex_digit(p[1])) >= 0 &&
		    (lo = hex_digit(p[2])) >= 0) {
			c = (unsigned char)(hi * 16 + lo);
			p += 2;
		}
		if (url_host_forbidden(c) || n + 1 >= sizeof(host))
			return false;
		non_ascii |= c >= 0x80;
		host[n++] = (char)tolower(c);
	}
	host[n] = '\0';
	/* Full-width letters, ideographic full stops and the like map to
	 * ASCII as UTS #46 says (browsers' rules); the rest to punycode. A
	 * name it refuses stays as written, for the look-alike test. */
	if (non_ascii &&
	    (idn2_to_ascii_8z(host, &ascii,
			      IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) ==
		 IDN2_OK ||
	     idn2_to_ascii_8z(host, &ascii,
			      IDN2_NFC_INPUT | IDN2_TRANSITIONAL) == IDN2_OK)) {
		n = strlen(ascii);
		if (n >= sizeof(host)) {
			idn2_free(ascii);
			return false;
		}
		memcpy(host, ascii, n + 1);
		idn2_free(ascii);
	}
	while (n > 0 && host[n - 1] == '.')
		n--;
	if (n == 0 || n >= outsz)
		return false;
	memcpy(out, host, n);
	out[n] = '\0';
	return true;
}

bool
url_host_is_ipv4(const char *host)
{
	const char *last = strrchr(host, '.');

	last = last != NULL ? last + 1 : host;
	if (*last == '\0')
		return false;
	if (last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
		for (last += 2; *last != '\0'; last++)
			if (!isxdigit((unsigned char)*last))
				return false;
		return true;
	}
	for (; *last != '\0'; last++)
		if (!isdigit((unsigned char)*last))
			return false;
	return true;
}
