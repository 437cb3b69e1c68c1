/*
 * url_host: the host part of a URL as the MIME parse found it, for the
 * filters that judge hosts (dnsbl's URIBL lookups, homograph's look-alike
 * test).
 */
#ifndef MOAT_URL_HOST_H
#define MOAT_URL_HOST_H

#include <stdbool.h>
#include <stddef.h>

/* The host of url ("scheme://[userinfo@]host[:port]...", or
 * "www.host...") into out: ASCII letters lower-cased, other bytes as they
 * are (an IDN may be written in UTF-8), trailing dots dropped. False when
 * there is none, it is an IPv6 literal, or it does not fit. */
bool url_host(const char *url, char *out, size_t outsz);

#endif
