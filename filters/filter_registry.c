/*
 * filter_registry: the static table of every filter Moat has (name ->
 * struct filter). Adding a filter is one extern line and one row here; the
 * order of this table does not matter (moat.conf's "filters" sets the order
 * of the chain).
 */
#include <string.h>

#include "filters/filter.h"

/* The filter chain and sender authentication. */
extern const struct filter filter_spf;

/* Content filters (filters/mime_filter.c, clamav_filter.c,
 * attachments_filter.c). */
extern const struct filter filter_mime_parse;
extern const struct filter filter_clamav;
extern const struct filter filter_attachments;

/* Sender authentication (filters/dkim_filter.c, dmarc_filter.c,
 * arc_filter.c). */
extern const struct filter filter_dkim;
extern const struct filter filter_dkim_sign;
extern const struct filter filter_dmarc;
extern const struct filter filter_arc;

/* Spam scoring, DNS blocklists, greylisting and the sender domain check
 * (issue 6). */
extern const struct filter filter_spam;
extern const struct filter filter_dnsbl;
extern const struct filter filter_greylist;
extern const struct filter filter_sender_domain;

/* clang-format off */

const struct filter *const filter_registry[] = {
    &filter_spf,
    &filter_mime_parse,
    &filter_clamav,
    &filter_attachments,
    &filter_dkim,
    &filter_dkim_sign,
    &filter_dmarc,
    &filter_arc,
    &filter_spam,
    &filter_dnsbl,
    &filter_greylist,
    &filter_sender_domain,
    NULL,
};
/* clang-format on */

const struct filter *
filter_registry_find(const char *name)
{
	for (size_t i = 0; filter_registry[i] != NULL; i++)
		if (strcmp(filter_registry[i]->name, name) == 0)
			return filter_registry[i];
	return NULL;
}
