/*
 * url_host: the host part of a URL as a browser reads it, for the filters
 * that judge hosts (dnsbl's URIBL lookups, homograph's look-alike test).
 */
#ifndef MOAT_URL_HOST_H
#define MOAT_URL_HOST_H

#include <stdbool.h>
#include <stddef.h>

/* The host of url into out, as the WHATWG URL standard reads it: after
 * "scheme://" (for http, https, ftp, ws and wss after "scheme:" and any
 * number of '/' or '\', as browsers take "http:\\host" and
 * "https:///host"), after "//" or at "www."; past the last '@' of a
 * userinfo, before a port; percent-escapes decoded, ASCII lower-cased,
 * an internationalised name mapped and converted to punycode (UTS #46:
 * full-width letters and ideographic full stops become ASCII), trailing
 * dots dropped. A name libidn2 refuses stays in UTF-8. False when there
 * is none, it is an IPv6 literal, holds a byte no host may hold, or does
 * not fit. */
bool url_host(const char *url, char *out, size_t outsz);

/* The host name (len bytes) as url_host() writes one: percent-escapes
 * decoded, lower-cased, UTS #46 and punycode, trailing dots dropped;
 * for domains that come from elsewhere (a mail address, HELO). */
bool host_normalize(const char *name, size_t len, char *out, size_t outsz);

/* Whether a host from url_host() is an IPv4 address in one of the forms
 * browsers accept (its last label a decimal or 0x-hex number:
 * "192.0.2.1", "0xc0.0.2.1", "3221225985"). */
bool url_host_is_ipv4(const char *host);

#endif
