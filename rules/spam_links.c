/*
 * spam_links: check_uri_text_mismatch(), after Rspamd's phishing module
 * and ClamAV's "spoofed domain" heuristic: an HTML link whose text shows
 * one address ("https://www.bank.example/") while it goes to another
 * organisation's host, the lure of a phishing mail. The hosts come from
 * the MIME parse (filters/shown_link.h), which already follows a
 * redirector's visible target; not a mismatch: the same organisation
 * (www.bank.example shown, links.bank.example visited), links through
 * a click tracker (msg->link_trackers: a newsletter's "www.shop.example"
 * that goes through its mailing service's tracker) or to the sender's
 * own organisation (the From or envelope sender's domain: a newsletter's
 * own tracker). A phisher who sends from the domain his links go to is
 * forgiven too; what names the bank then is the display name
 * (check_fromname_spoof) and the sender's authentication.
 */
#include "rules/spam_rules_private.h"

#include <ctype.h>
#include <string.h>

static bool
spam_link_tracked(const struct spam_msg *msg, const char *host)
{
	for (size_t i = 0; i < msg->link_tracker_count; i++)
		if (spam_host_within(host, msg->link_trackers[i]))
			return true;
	return false;
}

/* Whether the link goes to the sender's own organisation (the From
 * address's or the envelope sender's): a newsletter's own tracker. */
static bool
spam_link_own(const struct spam_msg *msg, const char *host)
{
	char from[256];
	const char *env = msg->envelope_from != NULL
			      ? strrchr(msg->envelope_from, '@')
			      : NULL;

	if (spam_from_domain(msg, from, sizeof(from)) != NULL &&
	    spam_same_owner(msg, host, from))
		return true;
	if (env != NULL && env[1] != '\0') {
		char lower[256];
		size_t n = strlen(env + 1);

		if (n >= sizeof(lower))
			return false;
		for (size_t i = 0; i <= n; i++)
			lower[i] = (char)tolower((unsigned char)env[1 + i]);
		return spam_same_owner(msg, host, lower);
	}
	return false;
}

bool
spam_eval_uri_text_mismatch(const struct spam_msg *msg)
{
	for (size_t i = 0; i < msg->shown_link_count; i++) {
		const struct spam_shown_link *l = &msg->shown_links[i];

		if (!spam_same_owner(msg, l->shown, l->target) &&
		    !spam_link_tracked(msg, l->target) &&
		    !spam_link_own(msg, l->target))
			return true;
	}
	return false;
}
