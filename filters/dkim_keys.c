/*
 * dkim_keys: a small table of key-record answers for one message. The DKIM
 * and ARC filters first list the names they need (dkim_key_names), look
 * them up through lib/dns on the event loop, record each answer here, and
 * only then verify: libopendkim's DNS hooks and the ARC verifier read this
 * table and never wait on the network.
 */
#include "filters/dkim_keys.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"

struct dkim_key_entry {
	char *name;
	enum dkim_key_status status;
	char **txt;
	size_t count;
};

struct dkim_keys {
	struct dkim_key_entry *items;
	size_t count;
};

struct dkim_keys *
dkim_keys_new(void)
{
	return xcalloc(1, sizeof(struct dkim_keys));
}

void
dkim_keys_free(struct dkim_keys **keysp)
{
	struct dkim_keys *keys = *keysp;

	if (keys == NULL)
		return;
	for (size_t i = 0; i < keys->count; i++) {
		for (size_t j = 0; j < keys->items[i].count; j++)
			free(keys->items[i].txt[j]);
		free(keys->items[i].txt);
		free(keys->items[i].name);
	}
	free(keys->items);
	x_free(keysp);
}

void
dkim_keys_add(struct dkim_keys *keys, const char *name,
	      enum dkim_key_status status, const char *const *txt, size_t count)
{
	struct dkim_key_entry *e;

	keys->items =
	    xreallocarray(keys->items, keys->count + 1, sizeof(*keys->items));
	e = &keys->items[keys->count++];
	e->name = xstrdup(name);
	e->status = status;
	e->count = status == DKIM_KEY_FOUND ? count : 0;
	e->txt = xcalloc(e->count + 1, sizeof(*e->txt));
	for (size_t i = 0; i < e->count; i++)
		e->txt[i] = xstrdup(txt[i]);
}

enum dkim_key_status
dkim_keys_get(const struct dkim_keys *keys, const char *name,
	      char *const **txt_r, size_t *count_r)
{
	size_t n = strlen(name);

	/* a trailing dot is the same name */
	if (n > 0 && name[n - 1] == '.')
		n--;
	*txt_r = NULL;
	*count_r = 0;
	for (size_t i = 0; keys != NULL && i < keys->count; i++) {
		const struct dkim_key_entry *e = &keys->items[i];
		size_t en = strlen(e->name);

		if (en > 0 && e->name[en - 1] == '.')
			en--;
		if (en != n || strncasecmp(e->name, name, n) != 0)
			continue;
		*txt_r = e->txt;
		*count_r = e->count;
		return e->status;
	}
	return DKIM_KEY_TEMPFAIL;
}

/* A DNS name we are willing to ask for: LDH labels and '_' only. */
static bool
dns_name_ok(const char *s)
{
	size_t label = 0, total = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++, total++) {
		if (*s == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return total <= 253;
}

int
dkim_key_name(const char *value, size_t len, char **name_r)
{
	struct dkim_tags tags;
	const char *error, *s, *d;
	int rc = -1;

	if (dkim_tags_parse(value, len, &tags, &error) == 0) {
		s = dkim_tags_get(&tags, "s");
		d = dkim_tags_get(&tags, "d");
		if (s != NULL && d != NULL && dns_name_ok(s) &&
		    dns_name_ok(d)) {
			char *name = xasprintf("%s._domainkey.%s", s, d);

			for (char *p = name; *p != '\0'; p++)
				*p = (char)tolower((unsigned char)*p);
			if (strlen(name) <= 253) {
				*name_r = name;
				rc = 0;
			} else {
				free(name);
			}
		}
	}
	dkim_tags_clear(&tags);
	return rc;
}

size_t
dkim_key_names(const struct mail_headers *headers, const char *header_name,
	       size_t max, char ***names_r)
{
	char **names = xcalloc(max + 1, sizeof(*names));
	size_t count = 0;

	for (size_t i = 0; i < headers->count && count < max; i++) {
		const struct mail_header *h = &headers->items[i];
		char *name;
		bool dup = false;

		if (!mail_header_is(h, header_name) ||
		    dkim_key_name(h->value, h->value_len, &name) < 0)
			continue;
		for (size_t j = 0; j < count && !dup; j++)
			dup = strcmp(names[j], name) == 0;
		if (dup)
			free(name);
		else
			names[count++] = name;
	}
	*names_r = names;
	return count;
}
