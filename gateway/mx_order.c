/*
 * mx_order: sorting and filtering of MX answers for delivery (see the
 * header). Called by delivery_remote after the MX lookup of a destination;
 * kept free of DNS and I/O so the unit tests drive it with tables.
 */
#include "gateway/mx_order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool
name_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

static int
compare_pref(const void *a, const void *b)
{
	const struct mx_host *x = a, *y = b;

	return (int)x->pref - (int)y->pref;
}

enum mx_order_result
mx_order(const uint16_t *prefs, char *const *hosts, size_t count,
	 const char *self, unsigned int seed, struct mx_host *out,
	 size_t *count_r)
{
	size_t n = 0, nulls = 0;
	unsigned int state = seed != 0 ? seed : 1;

	*count_r = 0;
	for (size_t i = 0; i < count; i++) {
		bool dup = false;

		if (hosts[i] == NULL)
			continue;
		if (strcmp(hosts[i], ".") == 0 || hosts[i][0] == '\0') {
			nulls++;
			continue;
		}
		for (size_t j = 0; j < n; j++)
			if (name_equal(out[j].name, hosts[i]))
				dup = true;
		if (dup || n == MX_HOSTS_MAX)
			continue;
		if (strlen(hosts[i]) >= sizeof(out[n].name))
			continue;
		out[n].pref = prefs[i];
		snprintf(out[n].name, sizeof(out[n].name), "%s", hosts[i]);
		/* names are compared and used without the root dot */
		if (out[n].name[0] != '\0' &&
		    out[n].name[strlen(out[n].name) - 1] == '.')
			out[n].name[strlen(out[n].name) - 1] = '\0';
		n++;
	}
	if (n == 0)
		return nulls > 0 ? MX_ORDER_NULL : MX_ORDER_EMPTY;
	/* Shuffle first (Fisher-Yates), then a stable-enough sort by
	 * preference: insertion sort keeps the shuffled order within one
	 * preference. */
	for (size_t i = n - 1; i > 0; i--) {
		size_t j;
		struct mx_host tmp;

		state = state * 1103515245u + 12345u;
		j = (size_t)((state >> 16) % (i + 1));
		tmp = out[i];
		out[i] = out[j];
		out[j] = tmp;
	}
	for (size_t i = 1; i < n; i++) {
		struct mx_host key = out[i];
		size_t j = i;

		while (j > 0 && compare_pref(&out[j - 1], &key) > 0) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = key;
	}
	if (self != NULL && self[0] != '\0') {
		for (size_t i = 0; i < n; i++) {
			if (name_equal(out[i].name, self)) {
				uint16_t mine = out[i].pref;
				size_t keep = 0;

				while (keep < n && out[keep].pref < mine)
					keep++;
				if (keep == 0)
					return MX_ORDER_SELF;
				n = keep;
				break;
			}
		}
	}
	*count_r = n;
	return MX_ORDER_OK;
}
