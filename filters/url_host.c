/*
 * url_host: the host part of a URL (see url_host.h). Bounded by the URL
 * string and outsz.
 */
#include "filters/url_host.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

bool
url_host(const char *url, char *out, size_t outsz)
{
	const char *p = strstr(url, "://"), *end, *at;
	size_t n = 0;

	if (p != NULL)
		p += 3;
	else if (strncasecmp(url, "www.", 4) == 0)
		p = url;
	else
		return false;
	end = p + strcspn(p, "/?#\\ \t\r\n");
	at = memchr(p, '@', (size_t)(end - p));
	if (at != NULL)
		p = at + 1;
	if (*p == '[')
		return false; /* IPv6 literal */
	while (p + n < end && p[n] != ':')
		n++;
	while (n > 0 && p[n - 1] == '.')
		n--;
	if (n == 0 || n >= outsz)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)p[i]);
	out[n] = '\0';
	return true;
}
