/*
 * filter_registry: the static table of every filter Moat has (name ->
 * struct filter). Adding a filter is one extern line and one row here; the
 * order of this table does not matter (moat.conf's "filters" sets the order
 * of the chain).
 */
#include <string.h>

#include "filters/filter.h"

const struct filter *const filter_registry[] = {
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
