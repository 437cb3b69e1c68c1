/*
 * dnsbl: the "dnsbl" filter (see dnsbl.h). It queries each configured
 * DNSBL zone for the client address, each URIBL zone for the
 * registrable domains of the message's URLs (Public Suffix List, at most
 * max_uri_domains per message) and each sender zone for those of the
 * envelope sender, From, Reply-To and HELO name (domains of skip_domains,
 * big sites no list names, are not looked up), and adds the configured
 * symbol with its score for every listing. The client check runs at
 * CONNECT (as a Postfix reject_rbl_client; the result stays with the
 * connection), the domain checks at DATA. Neither runs for submission (587/465:
 * every sender there must authenticate) nor for an authenticated session. It
 * gives no verdict: the spam filter sums the scores and rules/policy.c decides.
 * Lookups go through filter_dns_lookup_many() (the resolver of dns.servers),
 * all of a phase side by side, so that a message's thirty domains cost about
 * one answer's time; what is not back when the filter's time runs out, or a
 * resolver failure, is not a listing.
 */
#include "filters/dnsbl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/filter.h"
#include "filters/mime.h"
#include "filters/psl.h"
#include "filters/url_host.h"
#include "lib/log.h"
#include "mailstore/msg_structure.h"
#include "lib/xalloc.h"

#define DNSBL_NAME_MAX 256

int
dnsbl_entry_parse(const char *item, struct dnsbl_entry *entry_r,
		  const char **error_r)
{
	const char *eq = strchr(item, '='), *colon, *slash, *p;
	char *end;
	double score;
	size_t zlen;
	struct in_addr a;

	memset(entry_r, 0, sizeof(*entry_r));
	if (eq == NULL || (colon = strchr(eq, ':')) == NULL) {
		*error_r = "expected ZONE[/CODE]=SYMBOL:SCORE";
		return -1;
	}
	slash = memchr(item, '/', (size_t)(eq - item));
	zlen = (size_t)((slash != NULL ? slash : eq) - item);
	if (zlen > 0 && item[zlen - 1] == '.')
		zlen--;
	if (zlen == 0 || zlen > 200) {
		*error_r = "bad zone";
		return -1;
	}
	for (p = item; p < item + zlen; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' &&
		    *p != '_') {
			*error_r = "bad zone";
			return -1;
		}
	if (colon == eq + 1 || (size_t)(colon - eq - 1) > 64) {
		*error_r = "bad symbol";
		return -1;
	}
	for (p = eq + 1; p < colon; p++)
		if (!isupper((unsigned char)*p) &&
		    !isdigit((unsigned char)*p) && *p != '_') {
			*error_r = "symbol must be [A-Z0-9_]+";
			return -1;
		}
	score = strtod(colon + 1, &end);
	if (end == colon + 1 || *end != '\0' || !isfinite(score) ||
	    fabs(score) > 1000) {
		*error_r = "bad score";
		return -1;
	}
	entry_r->zone = xstrndup(item, zlen);
	for (end = entry_r->zone; *end != '\0'; end++)
		*end = (char)tolower((unsigned char)*end);
	if (slash != NULL) {
		entry_r->code = xstrndup(slash + 1, (size_t)(eq - slash - 1));
		if (strcmp(entry_r->code, "any") == 0) {
			x_free(&entry_r->code);
		} else if (inet_pton(AF_INET, entry_r->code, &a) != 1) {
			dnsbl_entry_free(entry_r);
			*error_r = "CODE must be an IPv4 address or \"any\"";
			return -1;
		}
	}
	entry_r->symbol = xstrndup(eq + 1, (size_t)(colon - eq - 1));
	entry_r->score = score;
	return 0;
}

void
dnsbl_entry_free(struct dnsbl_entry *entry)
{
	x_free(&entry->zone);
	x_free(&entry->code);
	x_free(&entry->symbol);
}

bool
dnsbl_entry_matches(const struct dnsbl_entry *entry, const char *answer)
{
	struct in_addr a;
	unsigned char *b = (unsigned char *)&a;

	if (inet_pton(AF_INET, answer, &a) != 1)
		return false;
	if (entry->code != NULL)
		return strcmp(entry->code, answer) == 0;
	/* 127.255.255.x: Spamhaus's errors (a public resolver's queries
	 * refused, an unknown key...); 127.0.0.1: URIBL's and SURBL's
	 * "query refused" (RFC 5782 keeps it out of every list). Taking
	 * either for a listing would list every sender at once. */
	return b[0] == 127 && !(b[1] == 255 && b[2] == 255) &&
	       !(b[1] == 0 && b[2] == 0 && b[3] == 1);
}

int
dnsbl_query_name(const char *ip, const char *zone, char *out, size_t outsz)
{
	unsigned char a[16];
	int n, i;
	size_t o = 0;

	if (inet_pton(AF_INET, ip, a) == 1) {
		n = snprintf(out, outsz, "%u.%u.%u.%u.%s", a[3], a[2], a[1],
			     a[0], zone);
		return n < 0 || (size_t)n >= outsz ? -1 : 0;
	}
	if (inet_pton(AF_INET6, ip, a) != 1)
		return -1;
	for (i = 15; i >= 0; i--) {
		n = snprintf(out + o, outsz - o, "%x.%x.", a[i] & 0xf,
			     a[i] >> 4);
		if (n < 0 || (size_t)n >= outsz - o)
			return -1;
		o += (size_t)n;
	}
	n = snprintf(out + o, outsz - o, "%s", zone);
	return n < 0 || (size_t)n >= outsz - o ? -1 : 0;
}

bool
dnsbl_ip_is_private(const char *ip)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, ip, a) == 1)
		return a[0] == 127 || a[0] == 10 || a[0] == 0 ||
		       (a[0] == 172 && (a[1] & 0xf0) == 16) ||
		       (a[0] == 192 && a[1] == 168) ||
		       (a[0] == 169 && a[1] == 254);
	if (inet_pton(AF_INET6, ip, a) == 1) {
		static const unsigned char loop[16] = {[15] = 1};

		return memcmp(a, loop, 16) == 0 || (a[0] & 0xfe) == 0xfc ||
		       (a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
	}
	return true;
}

/* Whether host (from url_host() or host_normalize()) is a domain name a
 * list could hold: letters, digits, '-', '_' and dots, not an IPv4
 * address in any form. */
static bool
dnsbl_domain_ok(const char *host)
{
	for (const char *c = host; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' &&
		    *c != '_')
			return false;
	return !url_host_is_ipv4(host) && strchr(host, '.') != NULL;
}

int
dnsbl_url_host(const char *url, char *out, size_t outsz)
{
	return url_host(url, out, outsz) && dnsbl_domain_ok(out) ? 0 : -1;
}

/* --- the "dnsbl" filter ------------------------------------------------- */

struct dnsbl_settings {
	struct str_list zones;
	struct str_list uribl_zones;
	struct str_list sender_zones;
	struct str_list skip_domains;
	long long max_uri_domains;
	bool skip_private;
	char *psl;
};

#define D(field) offsetof(struct dnsbl_settings, field)

static int
dnsbl_validate_list(const void *field, const char **error_r)
{
	const struct str_list *list = field;
	struct dnsbl_entry e;
	size_t i;

	for (i = 0; i < list->count; i++) {
		if (dnsbl_entry_parse(list->items[i], &e, error_r) < 0)
			return -1;
		dnsbl_entry_free(&e);
	}
	return 0;
}

static const struct setting_def dnsbl_setting_defs[] = {
    {"zones", SETTING_LIST, "", D(zones), 0, 0, dnsbl_validate_list,
     "DNSBL zones for the client address, as ZONE[/CODE]=SYMBOL:SCORE "
     "(e.g. zen.spamhaus.org/127.0.0.2=RBL_SPAMHAUS_SBL:3.5)"},
    {"uribl_zones", SETTING_LIST, "", D(uribl_zones), 0, 0, dnsbl_validate_list,
     "URIBL zones for the domains of the message's URLs, same form "
     "(e.g. multi.uribl.com/127.0.0.2=URIBL_BLACK:3)"},
    {"sender_zones", SETTING_LIST, "", D(sender_zones), 0, 0,
     dnsbl_validate_list,
     "domain blocklist zones for the sender's domains (envelope sender, "
     "From, Reply-To, HELO name), same form "
     "(e.g. dbl.spamhaus.org/127.0.1.2=DBL_SENDER_SPAM:3)"},
    {"max_uri_domains", SETTING_INT, "20", D(max_uri_domains), 0, 1000, NULL,
     "distinct URL domains looked up per message"},
    {"skip_domains", SETTING_LIST,
     "example.com example.net example.org google.com gmail.com "
     "googlemail.com youtube.com gstatic.com googleapis.com "
     "googleusercontent.com microsoft.com outlook.com hotmail.com live.com "
     "msn.com office.com office365.com yahoo.com aol.com apple.com "
     "icloud.com me.com amazon.com facebook.com instagram.com "
     "whatsapp.com linkedin.com twitter.com x.com wikipedia.org w3.org "
     "mozilla.org github.com adobe.com",
     D(skip_domains), 0, 0, NULL,
     "registrable domains never looked up in the URIBL and sender zones "
     "(sites no list names; spam pads its links with them): they do not "
     "count toward max_uri_domains"},
    {"skip_private", SETTING_BOOL, "yes", D(skip_private), 0, 0, NULL,
     "no DNSBL lookups for loopback and private client addresses"},
    {"psl", SETTING_PATH, PSL_DEFAULT_PATH, D(psl), 0, 0, NULL,
     "Public Suffix List, to reduce URL hosts to registrable domains"},
};

struct dnsbl_state {
	const struct dnsbl_settings *settings;
	struct dnsbl_entry *ip, *uri, *sender;
	size_t ip_count, uri_count, sender_count;
	struct psl *psl;
};

static void
dnsbl_fini(void *state_p)
{
	struct dnsbl_state *st = state_p;
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->ip_count; i++)
		dnsbl_entry_free(&st->ip[i]);
	for (i = 0; i < st->uri_count; i++)
		dnsbl_entry_free(&st->uri[i]);
	for (i = 0; i < st->sender_count; i++)
		dnsbl_entry_free(&st->sender[i]);
	free(st->sender);
	free(st->ip);
	free(st->uri);
	psl_free(&st->psl);
	free(st);
}

static void
dnsbl_parse_list(const struct str_list *list, struct dnsbl_entry **out_r,
		 size_t *count_r)
{
	const char *error;
	size_t i;

	*out_r = xcalloc(list->count + 1, sizeof(**out_r));
	*count_r = 0;
	for (i = 0; i < list->count; i++)
		if (dnsbl_entry_parse(list->items[i], &(*out_r)[*count_r],
				      &error) == 0)
			(*count_r)++;
}

static int
dnsbl_init(const void *settings_p, void **state_r, char **error_r)
{
	const struct dnsbl_settings *s = settings_p;
	struct dnsbl_state *st = xcalloc(1, sizeof(*st));
	char *perr = NULL;

	(void)error_r;
	st->settings = s;
	dnsbl_parse_list(&s->zones, &st->ip, &st->ip_count);
	dnsbl_parse_list(&s->uribl_zones, &st->uri, &st->uri_count);
	dnsbl_parse_list(&s->sender_zones, &st->sender, &st->sender_count);
	if ((st->uri_count > 0 || st->sender_count > 0) && s->psl[0] != '\0') {
		st->psl = psl_load(s->psl, &perr);
		if (st->psl == NULL) {
			log_warnx("event=dnsbl_psl error=\"%s\" note=\"URL "
				  "domains are reduced to their last two "
				  "labels\"",
				  perr);
			free(perr);
		}
	}
	mime_filter_register(NULL);
	*state_r = st;
	return 0;
}

static bool
dnsbl_has_symbol(const struct filter_context *ctx, const char *name)
{
	const struct filter_symbol *syms;
	size_t n, i;

	syms = filter_symbols(ctx, &n);
	for (i = 0; i < n; i++)
		if (strcmp(syms[i].name, name) == 0)
			return true;
	return false;
}

/* Adds the symbol of every entry of entries[first]'s zone that answer
 * matches. */
static void
dnsbl_apply(struct filter_context *ctx, const struct dnsbl_entry *entries,
	    size_t count, size_t first, const struct dns_answer *answer,
	    const char *detail)
{
	if (answer == NULL || answer->status != DNS_OK || answer->addr == NULL)
		return;
	for (size_t i = first; i < count; i++) {
		if (strcmp(entries[i].zone, entries[first].zone) != 0)
			continue;
		for (size_t k = 0; k < answer->count; k++) {
			if (answer->addr[k] == NULL ||
			    !dnsbl_entry_matches(&entries[i], answer->addr[k]))
				continue;
			if (!dnsbl_has_symbol(ctx, entries[i].symbol))
				filter_add_symbol(ctx, entries[i].symbol,
						  entries[i].score, detail);
			break;
		}
	}
}

/* One query to run: its name, the entries of its kind (client, URL or
 * sender zones) and the first of its zone among them, the detail a
 * listing reports. */
struct dnsbl_lookup {
	char name[DNSBL_NAME_MAX];
	const struct dnsbl_entry *entries;
	size_t count, first;
	const char *detail;
};

/* Runs the n lookups side by side and adds the symbols their answers
 * match. */
static void
dnsbl_run_lookups(struct filter_context *ctx,
		  const struct dnsbl_lookup *lookups, size_t n)
{
	const char **names;
	struct dns_answer **answers;

	if (n == 0 || filter_remaining_ms(ctx) <= 0)
		return;
	names = xcalloc(n, sizeof(*names));
	answers = xcalloc(n, sizeof(*answers));
	for (size_t i = 0; i < n; i++)
		names[i] = lookups[i].name;
	if (filter_dns_lookup_many(ctx, names, n, 1, answers) == 0)
		for (size_t i = 0; i < n; i++) {
			dnsbl_apply(ctx, lookups[i].entries, lookups[i].count,
				    lookups[i].first, answers[i],
				    lookups[i].detail);
			dns_answer_free(&answers[i]);
		}
	free(answers);
	free(names);
}

static bool
dnsbl_zone_seen(const struct dnsbl_entry *entries, size_t i)
{
	size_t k;

	for (k = 0; k < i; k++)
		if (strcmp(entries[k].zone, entries[i].zone) == 0)
			return true;
	return false;
}

static void
dnsbl_registrable(const struct dnsbl_state *st, const char *host, char *out,
		  size_t outsz)
{
	const char *p;
	int dots = 0;

	if (st->psl != NULL && psl_registrable(st->psl, host, out, outsz) == 0)
		return;
	/* Without the list: the last two labels. */
	for (p = host + strlen(host); p > host; p--)
		if (p[-1] == '.' && ++dots == 2)
			break;
	snprintf(out, outsz, "%s", p);
}

/* Whether the registrable domain reg is on the skip list. */
static bool
dnsbl_skipped(const struct dnsbl_state *st, const char *reg)
{
	const struct str_list *skip = &st->settings->skip_domains;

	for (size_t i = 0; i < skip->count; i++)
		if (strcasecmp(skip->items[i], reg) == 0)
			return true;
	return false;
}

/* Adds the registrable domain of the host name (len bytes) to domains
 * (count of max), once, unless it is on the skip list. */
static void
dnsbl_add_domain(const struct dnsbl_state *st, const char *name, size_t len,
		 char (*domains)[DNSBL_NAME_MAX], size_t *count, size_t max)
{
	char host[DNSBL_NAME_MAX], reg[DNSBL_NAME_MAX];

	if (*count >= max || !host_normalize(name, len, host, sizeof(host)) ||
	    !dnsbl_domain_ok(host))
		return;
	dnsbl_registrable(st, host, reg, sizeof(reg));
	if (dnsbl_skipped(st, reg))
		return;
	for (size_t i = 0; i < *count; i++)
		if (strcmp(domains[i], reg) == 0)
			return;
	if (reg[0] != '\0')
		memcpy(domains[(*count)++], reg, sizeof(reg));
}

/* A growing list of lookups. */
struct dnsbl_lookups {
	struct dnsbl_lookup *items;
	size_t count, cap;
};

/* Adds a lookup of each domain in each zone of entries. */
static void
dnsbl_add_lookups(struct dnsbl_lookups *list, const struct dnsbl_entry *entries,
		  size_t count, char (*domains)[DNSBL_NAME_MAX],
		  size_t ndomains)
{
	for (size_t d = 0; d < ndomains; d++)
		for (size_t i = 0; i < count; i++) {
			struct dnsbl_lookup *l;
			int len;

			if (dnsbl_zone_seen(entries, i))
				continue;
			if (list->count == list->cap) {
				list->cap = list->cap ? list->cap * 2 : 16;
				list->items = xreallocarray(
				    list->items, list->cap, sizeof(*l));
			}
			l = &list->items[list->count];
			len = snprintf(l->name, sizeof(l->name), "%s.%s",
				       domains[d], entries[i].zone);
			if (len < 0 || (size_t)len >= sizeof(l->name))
				continue;
			l->entries = entries;
			l->count = count;
			l->first = i;
			l->detail = domains[d];
			list->count++;
		}
}

/* The registrable domains of the sender (envelope sender, From,
 * Reply-To, HELO name) into domains; returns how many. */
static size_t
dnsbl_sender_domains(const struct dnsbl_state *st, struct filter_context *ctx,
		     const struct mime_message *mime,
		     char (*domains)[DNSBL_NAME_MAX])
{
	const struct filter_envelope *env = filter_envelope(ctx);
	const char *at = strrchr(env->mail_from, '@');
	size_t count = 0;

	if (at != NULL)
		dnsbl_add_domain(st, at + 1, strlen(at + 1), domains, &count,
				 4);
	for (size_t h = 0; mime != NULL && h < mime->header_count; h++) {
		char *dname = NULL, *mailbox = NULL, *host = NULL;

		if ((strcasecmp(mime->headers[h].name, "From") == 0 ||
		     strcasecmp(mime->headers[h].name, "Reply-To") == 0) &&
		    msg_address_first(mime->headers[h].raw, &dname, &mailbox,
				      &host) &&
		    host != NULL)
			dnsbl_add_domain(st, host, strlen(host), domains,
					 &count, 4);
		free(dname);
		free(mailbox);
		free(host);
	}
	if (env->helo[0] != '\0' && env->helo[0] != '[')
		dnsbl_add_domain(st, env->helo, strlen(env->helo), domains,
				 &count, 4);
	return count;
}

static int
dnsbl_run(void *state_p, struct filter_context *ctx, enum filter_phase phase)
{
	struct dnsbl_state *st = state_p;
	const struct filter_envelope *env = filter_envelope(ctx);
	char safe[64], sender[4][DNSBL_NAME_MAX];
	size_t i, u, ndomains = 0, nsender;
	char(*domains)[DNSBL_NAME_MAX] = NULL;
	struct dnsbl_lookups list = {NULL, 0, 0};
	const struct mime_message *mime;

	if (env->auth_user != NULL || env->submission)
		return 0;
	if (phase == FILTER_PHASE_CONNECT && st->ip_count > 0 &&
	    !(st->settings->skip_private &&
	      dnsbl_ip_is_private(env->client_ip))) {
		struct dnsbl_lookup *lookups =
		    xcalloc(st->ip_count, sizeof(*lookups));
		size_t n = 0;

		log_sanitize(env->client_ip, strlen(env->client_ip), safe,
			     sizeof(safe));
		for (i = 0; i < st->ip_count; i++) {
			if (dnsbl_zone_seen(st->ip, i))
				continue;
			if (dnsbl_query_name(env->client_ip, st->ip[i].zone,
					     lookups[n].name,
					     sizeof(lookups[n].name)) < 0)
				break;
			lookups[n].entries = st->ip;
			lookups[n].count = st->ip_count;
			lookups[n].first = i;
			lookups[n].detail = safe;
			n++;
		}
		dnsbl_run_lookups(ctx, lookups, n);
		free(lookups);
	}
	if (phase != FILTER_PHASE_DATA)
		return 0;
	/* every domain of the message in every zone, side by side */
	mime = mime_filter_get(ctx);
	if (st->sender_count > 0) {
		nsender = dnsbl_sender_domains(st, ctx, mime, sender);
		dnsbl_add_lookups(&list, st->sender, st->sender_count, sender,
				  nsender);
	}
	if (st->uri_count > 0 && st->settings->max_uri_domains > 0 &&
	    mime != NULL) {
		size_t max = (size_t)st->settings->max_uri_domains;

		domains = xcalloc(max, sizeof(*domains));
		for (u = 0; u < mime->url_count && ndomains < max; u++) {
			char host[DNSBL_NAME_MAX];

			if (dnsbl_url_host(mime->urls[u], host, sizeof(host)) ==
			    0)
				dnsbl_add_domain(st, host, strlen(host),
						 domains, &ndomains, max);
		}
		dnsbl_add_lookups(&list, st->uri, st->uri_count, domains,
				  ndomains);
	}
	dnsbl_run_lookups(ctx, list.items, list.count);
	free(list.items);
	free(domains);
	return 0;
}

const struct filter filter_dnsbl = {
    .name = "dnsbl",
    .phases = FILTER_PHASE_CONNECT | FILTER_PHASE_DATA,
    .settings = dnsbl_setting_defs,
    .settings_count =
	sizeof(dnsbl_setting_defs) / sizeof(dnsbl_setting_defs[0]),
    .settings_size = sizeof(struct dnsbl_settings),
    .init = dnsbl_init,
    .run = dnsbl_run,
    .fini = dnsbl_fini,
};
