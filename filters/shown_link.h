/*
 * shown_link: a link whose text names a host ("<a
 * href=http://evil.example/>https://www.bank.example/</a>"), read as the
 * reader reads it: the host the text shows and the host the link goes
 * to. A phishing mail's lure; check_uri_text_mismatch() (rules) compares
 * their organisations.
 */
#ifndef MOAT_SHOWN_LINK_H
#define MOAT_SHOWN_LINK_H

#include <stdbool.h>
#include <stddef.h>

/* For an <a> with href (href_len bytes, entities decoded) and the text
 * the reader sees in it (text_len bytes, UTF-8): true, with the text's
 * host in shown and the link's in target (url_host() forms), when the
 * text, spaces trimmed, is one link or host name ("https://x.example/a",
 * "www.x.example", "x.example/login": a dot and a top-level label of
 * letters; no '@', no inner spaces) and the hosts differ. The link's host
 * is the one it lands on: that of the last link inside it (a
 * redirector's target, plain or percent-encoded), if any. */
bool shown_link_hosts(const char *href, size_t href_len, const char *text,
		      size_t text_len, char *shown, size_t shown_size,
		      char *target, size_t target_size);

#endif
