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

const struct filter *const filter_registry[] = {
    &filter_spf,
    &filter_mime_parse,
    &filter_clamav,
    &filter_attachments,
    NULL,
};

const struct filter *
filter_registry_find(const char *name)
{
	for (size_t i = 0; filter_registry[i] != NULL; i++)
		if (strcmp(filter_registry[i]->name, name) == 0)
			return filter_registry[i];
	return NULL;
}
