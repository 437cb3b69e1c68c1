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

/* The envelope sender's domain, lower case, into out ("" when there is
 * none or it does not fit). */
static void
spam_envelope_domain(const struct spam_msg *msg, char *out, size_t outsz)
{
	const char *at = msg->envelope_from != NULL
			     ? strrchr(msg->envelope_from, '@')
			     : NULL;
	size_t n = at != NULL ? strlen(at + 1) : 0;

	out[0] = '\0';
	if (n == 0 || n >= outsz)
		return;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)at[1 + i]);
}

bool
spam_eval_uri_text_mismatch(const struct spam_msg *msg)
{
	char from[256], env[256];

	if (msg->shown_link_count == 0)
		return false;
	/* the sender's own organisation (the From address's or the
	 * envelope sender's): a newsletter's own tracker */
	if (spam_from_domain(msg, from, sizeof(from)) == NULL)
		from[0] = '\0';
	spam_envelope_domain(msg, env, sizeof(env));
	for (size_t i = 0; i < msg->shown_link_count; i++) {
		const struct spam_shown_link *l = &msg->shown_links[i];

		if (!spam_same_owner(msg, l->shown, l->target) &&
		    !spam_link_tracked(msg, l->target) &&
		    (from[0] == '\0' ||
		     !spam_same_owner(msg, l->target, from)) &&
		    (env[0] == '\0' || !spam_same_owner(msg, l->target, env)))
			return true;
	}
	return false;
}
