/*
 * spam_fromname: check_fromname_spoof(), after SpamAssassin's
 * FromNameSpoof plugin and Rspamd's SPOOF_DISPLAY_NAME: a From whose
 * display name shows an address of another organisation than the real
 * one ("ceo@bank.example" <x@mailer.example>), which a mail program
 * showing only names turns into a convincing lure. Organisations are
 * registrable domains when the caller gives msg->org_domain (the Public
 * Suffix List), else a domain owns itself and its subdomains. Not a
 * spoof: the same organisation ("support@shop.example"
 * <noreply@mail.shop.example>), a mailing list's DMARC rewrite
 * ("alice@example.com via List" <list@lists.example>, with the list's
 * List-Id or List-Post: " via " alone would let any lure pass), a From
 * of several mailboxes. Input is peer-supplied: scanning is bounded by
 * the field.
 */
#include "rules/spam_rules_private.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailstore/msg_structure.h"

#define FNS_DOMAIN_MAX 254

static bool
fns_local_char(unsigned char c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' ||
	       c == '-' || c == '\'';
}

/* The domain of the address written at at ('@'), lower case, into out:
 * false unless it looks like one a reader takes for an address (a local
 * part before, a dot, a top-level label of letters). */
static bool
fns_address_domain(const char *start, const char *at, char *out, size_t outsz)
{
	const char *p = at + 1, *tld;
	size_t n = 0;

	if (at == start || !fns_local_char((unsigned char)at[-1]))
		return false;
	while (isalnum((unsigned char)p[n]) || p[n] == '-' || p[n] == '.')
		n++;
	while (n > 0 && p[n - 1] == '.')
		n--;
	if (n == 0 || n >= outsz)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)p[i]);
	out[n] = '\0';
	tld = strrchr(out, '.');
	if (tld == NULL || tld == out || strlen(tld + 1) < 2)
		return false;
	for (const char *t = tld + 1; *t; t++)
		if (!isalpha((unsigned char)*t))
			return false;
	return true;
}

bool
spam_host_within(const char *child, const char *parent)
{
	size_t c = strlen(child), p = strlen(parent);

	return c == p ? strcasecmp(child, parent) == 0
		      : c > p && child[c - p - 1] == '.' &&
			    strcasecmp(child + c - p, parent) == 0;
}

bool
spam_same_owner(const struct spam_msg *msg, const char *a, const char *b)
{
	char oa[FNS_DOMAIN_MAX + 1], ob[FNS_DOMAIN_MAX + 1];

	if (strcmp(a, b) == 0)
		return true;
	if (msg->org_domain != NULL &&
	    msg->org_domain(msg->org_ctx, a, oa, sizeof(oa)) == 0 &&
	    msg->org_domain(msg->org_ctx, b, ob, sizeof(ob)) == 0)
		return strcmp(oa, ob) == 0;
	return spam_host_within(a, b) || spam_host_within(b, a);
}

/* A mailing list's DMARC rewrite of From: "NAME via LIST" in a message
 * the list marked as its own. */
static bool
fns_list_rewrite(const struct spam_msg *msg, const char *from)
{
	if (strcasestr(from, " via ") == NULL)
		return false;
	for (size_t i = 0; i < msg->header_count; i++)
		if (strcasecmp(msg->headers[i].name, "List-Id") == 0 ||
		    strcasecmp(msg->headers[i].name, "List-Post") == 0)
			return true;
	return false;
}

const struct spam_header *
spam_from_domain(const struct spam_msg *msg, char *out, size_t outsz)
{
	const struct spam_header *from = NULL;
	char **all = NULL;
	const char *at;
	size_t count;
	bool ok = false;

	for (size_t i = 0; i < msg->header_count && from == NULL; i++)
		if (strcasecmp(msg->headers[i].name, "From") == 0 &&
		    msg->headers[i].value != NULL)
			from = &msg->headers[i];
	if (from == NULL)
		return NULL;
	/* The real address from the field as sent: decoded words cannot
	 * add brackets there. */
	count =
	    msg_address_all(from->raw != NULL ? from->raw : from->value, &all);
	if (count == 1 && (at = strrchr(all[0], '@')) != NULL &&
	    at[1] != '\0' && strlen(at + 1) < outsz) {
		size_t n = strlen(at + 1);

		for (size_t i = 0; i <= n; i++)
			out[i] = (char)tolower((unsigned char)at[1 + i]);
		ok = true;
	}
	for (size_t i = 0; i < count; i++)
		free(all[i]);
	free(all);
	return ok ? from : NULL;
}

bool
spam_eval_fromname_spoof(const struct spam_msg *msg)
{
	char real[FNS_DOMAIN_MAX + 1], shown[FNS_DOMAIN_MAX + 1];
	const struct spam_header *from =
	    spam_from_domain(msg, real, sizeof(real));
	const char *value, *at;
	bool spoof = false;

	if (from == NULL)
		return false;
	value = from->value;
	if (!fns_list_rewrite(msg, value))
		for (at = strchr(value, '@'); at != NULL && !spoof;
		     at = strchr(at + 1, '@'))
			spoof = fns_address_domain(value, at, shown,
						   sizeof(shown)) &&
				!spam_same_owner(msg, shown, real);
	return spoof;
}
