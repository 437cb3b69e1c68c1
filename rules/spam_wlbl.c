/*
 * spam_wlbl: SpamAssassin's welcome and block lists of sender addresses
 * (WLBLEval, and the SPF and DKIM plugins' welcomelist checks): the
 * directives welcomelist_from, blocklist_from, welcomelist_auth and
 * def_welcomelist_auth (with their un- forms and the old whitelist_ /
 * blacklist_ names) fill lists of address globs, and the eval: built-ins
 * below test a message's senders against them.
 *
 *   check_from_in_welcomelist()   a From address or the envelope sender
 *                                 matches welcomelist_from (unauthenticated:
 *                                 forgeable, as SpamAssassin warns)
 *   check_from_in_blocklist()     ... matches blocklist_from
 *   check_for_spf_welcomelist_from()      the envelope sender matches
 *   check_for_def_spf_welcomelist_from()  welcomelist_auth (def_: the
 *                                 default list) and SPF said pass for it
 *   check_for_dkim_welcomelist_from()     a From address matches
 *   check_for_def_dkim_welcomelist_from() welcomelist_auth (def_...) and
 *                                 a valid DKIM signature has d= its domain
 *
 * A glob matches the whole address, case-insensitively; '*' is any run of
 * characters, '?' one. The SPF and DKIM results come from the filters of
 * those names (filters/spam.c fills struct spam_msg); without them (moatctl
 * spam check) the _auth checks never hit. From values are split by
 * mailstore/msg_structure.h's address parser (the one IMAP ENVELOPE uses);
 * every input is peer-supplied, and the globs match without backtracking
 * recursion.
 */
#include "rules/spam_rules_private.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"
#include "mailstore/msg_structure.h"

#define SPAM_WLBL_MAX_GLOB    320
#define SPAM_WLBL_MAX_ENTRIES 100000
#define SPAM_WLBL_MAX_ADDRS   16

static const struct {
	const char *name;
	enum spam_wlbl_list list;
	bool remove;
} spam_wlbl_directives[] = {
    {"welcomelist_from", SPAM_WL_FROM, false},
    {"whitelist_from", SPAM_WL_FROM, false},
    {"unwelcomelist_from", SPAM_WL_FROM, true},
    {"unwhitelist_from", SPAM_WL_FROM, true},
    {"blocklist_from", SPAM_BL_FROM, false},
    {"blacklist_from", SPAM_BL_FROM, false},
    {"unblocklist_from", SPAM_BL_FROM, true},
    {"unblacklist_from", SPAM_BL_FROM, true},
    {"welcomelist_auth", SPAM_WL_AUTH, false},
    {"whitelist_auth", SPAM_WL_AUTH, false},
    {"unwelcomelist_auth", SPAM_WL_AUTH, true},
    {"unwhitelist_auth", SPAM_WL_AUTH, true},
    {"def_welcomelist_auth", SPAM_DEF_WL_AUTH, false},
    {"def_whitelist_auth", SPAM_DEF_WL_AUTH, false},
    {"undef_welcomelist_auth", SPAM_DEF_WL_AUTH, true},
    {"undef_whitelist_auth", SPAM_DEF_WL_AUTH, true},
};

static void
spam_wlbl_add(struct spam_addr_list *l, const char *glob)
{
	for (size_t i = 0; i < l->count; i++)
		if (strcmp(l->globs[i], glob) == 0)
			return;
	if (l->count == l->cap) {
		l->cap = l->cap == 0 ? 16 : l->cap * 2;
		l->globs = xreallocarray(l->globs, l->cap, sizeof(*l->globs));
	}
	l->globs[l->count++] = xstrdup(glob);
}

static void
spam_wlbl_remove(struct spam_addr_list *l, const char *glob)
{
	for (size_t i = 0; i < l->count; i++) {
		if (strcmp(l->globs[i], glob) == 0) {
			free(l->globs[i]);
			l->globs[i] = l->globs[--l->count];
			return;
		}
	}
}

bool
spam_wlbl_directive(struct spam_rules *rules, const char *cmd, char *args,
		    const char **error_r)
{
	size_t i,
	    n = sizeof(spam_wlbl_directives) / sizeof(spam_wlbl_directives[0]);
	char *glob;

	for (i = 0; i < n; i++)
		if (strcmp(cmd, spam_wlbl_directives[i].name) == 0)
			break;
	if (i == n)
		return false;
	*error_r = NULL;
	/* Every word is an address glob (a DKIM signing domain after it is
	 * SpamAssassin's welcomelist_from_dkim, not these directives). */
	while ((glob = strsep(&args, " \t")) != NULL) {
		struct spam_addr_list *l =
		    &rules->wlbl[spam_wlbl_directives[i].list];

		if (*glob == '\0')
			continue;
		if (strlen(glob) > SPAM_WLBL_MAX_GLOB) {
			*error_r = "address too long";
			continue;
		}
		for (char *p = glob; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		if (spam_wlbl_directives[i].remove)
			spam_wlbl_remove(l, glob);
		else if (l->count < SPAM_WLBL_MAX_ENTRIES)
			spam_wlbl_add(l, glob);
		else
			*error_r = "too many list entries";
	}
	return true;
}

void
spam_wlbl_free(struct spam_rules *rules)
{
	for (size_t k = 0; k < SPAM_WLBL_COUNT; k++) {
		for (size_t i = 0; i < rules->wlbl[k].count; i++)
			free(rules->wlbl[k].globs[i]);
		free(rules->wlbl[k].globs);
		memset(&rules->wlbl[k], 0, sizeof(rules->wlbl[k]));
	}
}

/* Whole-string glob match, case-insensitive ('*', '?'), with the classic
 * single-backtrack algorithm: linear in practice, never recursive. */
static bool
spam_glob_match(const char *g, const char *s, size_t slen)
{
	const char *star = NULL;
	size_t si = 0, resume = 0;

	while (si < slen) {
		if (*g == '*') {
			star = g++;
			resume = si;
		} else if (*g != '\0' &&
			   (*g == '?' || tolower((unsigned char)*g) ==
					     tolower((unsigned char)s[si]))) {
			g++;
			si++;
		} else if (star != NULL) {
			g = star + 1;
			si = ++resume;
		} else {
			return false;
		}
	}
	while (*g == '*')
		g++;
	return *g == '\0';
}

static bool
spam_wlbl_listed(const struct spam_addr_list *l, const char *addr, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < l->count; i++)
		if (spam_glob_match(l->globs[i], addr, len))
			return true;
	return false;
}

/* Every address of every From field (mailstore/msg_structure.h's RFC 5322
 * parser), at most SPAM_WLBL_MAX_ADDRS: *addrs_r to free with
 * spam_addrs_free(). */
static size_t
spam_from_addrs(const struct spam_msg *msg, char ***addrs_r)
{
	char **all = NULL;
	size_t n = 0;

	for (size_t i = 0; i < msg->header_count; i++) {
		char **one;
		size_t m;

		if (strcasecmp(msg->headers[i].name, "From") != 0 ||
		    msg->headers[i].value == NULL)
			continue;
		m = msg_address_all(msg->headers[i].value, &one);
		for (size_t k = 0; k < m; k++) {
			if (n < SPAM_WLBL_MAX_ADDRS) {
				all = xreallocarray(all, n + 1, sizeof(*all));
				all[n++] = one[k];
			} else {
				free(one[k]);
			}
		}
		free(one);
	}
	*addrs_r = all;
	return n;
}

static void
spam_addrs_free(char **addrs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(addrs[i]);
	free(addrs);
}

static bool
spam_envelope_listed(const struct spam_msg *msg, const struct spam_addr_list *l)
{
	return msg->envelope_from != NULL &&
	       spam_wlbl_listed(l, msg->envelope_from,
				strlen(msg->envelope_from));
}

/* From addresses, or the envelope sender, in list l. */
static bool
spam_senders_listed(const struct spam_msg *msg, const struct spam_addr_list *l)
{
	char **a;
	size_t n;
	bool hit = false;

	if (l->count == 0)
		return false;
	n = spam_from_addrs(msg, &a);
	for (size_t i = 0; i < n && !hit; i++)
		hit = spam_wlbl_listed(l, a[i], strlen(a[i]));
	spam_addrs_free(a, n);
	return hit || spam_envelope_listed(msg, l);
}

/* A From address in l whose domain signed the message (DKIM pass, d=
 * equal to the address's domain). */
static bool
spam_dkim_listed(const struct spam_msg *msg, const struct spam_addr_list *l)
{
	char **a;
	size_t n;
	bool hit = false;

	if (l->count == 0 || msg->dkim_domain_count == 0)
		return false;
	n = spam_from_addrs(msg, &a);
	for (size_t i = 0; i < n && !hit; i++) {
		const char *at = strrchr(a[i], '@');

		if (at == NULL || !spam_wlbl_listed(l, a[i], strlen(a[i])))
			continue;
		for (size_t k = 0; k < msg->dkim_domain_count && !hit; k++)
			hit = strcasecmp(msg->dkim_domains[k], at + 1) == 0;
	}
	spam_addrs_free(a, n);
	return hit;
}

bool
spam_wlbl_eval(const struct spam_rules *rules, enum spam_eval_fn fn,
	       const struct spam_msg *msg)
{
	switch (fn) {
	case SPAM_EVAL_WL_FROM:
		return spam_senders_listed(msg, &rules->wlbl[SPAM_WL_FROM]);
	case SPAM_EVAL_BL_FROM:
		return spam_senders_listed(msg, &rules->wlbl[SPAM_BL_FROM]);
	case SPAM_EVAL_WL_SPF:
		return msg->spf_pass &&
		       spam_envelope_listed(msg, &rules->wlbl[SPAM_WL_AUTH]);
	case SPAM_EVAL_DEF_WL_SPF:
		return msg->spf_pass &&
		       spam_envelope_listed(msg,
					    &rules->wlbl[SPAM_DEF_WL_AUTH]);
	case SPAM_EVAL_WL_DKIM:
		return spam_dkim_listed(msg, &rules->wlbl[SPAM_WL_AUTH]);
	case SPAM_EVAL_DEF_WL_DKIM:
		return spam_dkim_listed(msg, &rules->wlbl[SPAM_DEF_WL_AUTH]);
	default:
		return false;
	}
}
