/*
 * json_mini: just enough JSON for the test suites stored as JSON (the
 * ValiMail ARC suite): objects, arrays, strings (with \uXXXX to UTF-8),
 * and numbers/literals kept as their text. Test code only.
 */
#ifndef MOAT_TEST_JSON_MINI_H
#define MOAT_TEST_JSON_MINI_H

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"

enum json_type { JSON_OBJECT, JSON_ARRAY, JSON_STRING, JSON_OTHER };

struct json {
	enum json_type type;
	char *text; /* string value or literal text */
	size_t count;
	char **keys; /* objects */
	struct json **items;
};

static inline void
json_free(struct json *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->count; i++) {
		if (j->keys != NULL)
			free(j->keys[i]);
		json_free(j->items[i]);
	}
	free(j->keys);
	free(j->items);
	free(j->text);
	free(j);
}

static inline void
json_ws(const char **p)
{
	while (isspace((unsigned char)**p))
		(*p)++;
}

static inline char *
json_string(const char **p)
{
	struct buf b;

	buf_init(&b);
	(*p)++; /* " */
	while (**p != '\0' && **p != '"') {
		if (**p == '\\') {
			(*p)++;
			switch (**p) {
			case 'n':
				buf_append_char(&b, '\n');
				break;
			case 'r':
				buf_append_char(&b, '\r');
				break;
			case 't':
				buf_append_char(&b, '\t');
				break;
			case 'u': {
				char hex[5] = {0};
				unsigned cp;

				memcpy(hex, *p + 1, 4);
				cp = (unsigned)strtoul(hex, NULL, 16);
				*p += 4;
				if (cp < 0x80) {
					buf_append_char(&b, (char)cp);
				} else if (cp < 0x800) {
					buf_append_char(
					    &b, (char)(0xc0 | (cp >> 6)));
					buf_append_char(
					    &b, (char)(0x80 | (cp & 0x3f)));
				} else {
					buf_append_char(
					    &b, (char)(0xe0 | (cp >> 12)));
					buf_append_char(
					    &b,
					    (char)(0x80 | ((cp >> 6) & 0x3f)));
					buf_append_char(
					    &b, (char)(0x80 | (cp & 0x3f)));
				}
				break;
			}
			default:
				buf_append_char(&b, **p);
			}
			(*p)++;
			continue;
		}
		buf_append_char(&b, **p);
		(*p)++;
	}
	if (**p == '"')
		(*p)++;
	return buf_detach(&b);
}

static inline struct json *
json_parse_value(const char **p)
{
	struct json *j = xcalloc(1, sizeof(*j));

	json_ws(p);
	if (**p == '{' || **p == '[') {
		bool obj = **p == '{';

		j->type = obj ? JSON_OBJECT : JSON_ARRAY;
		(*p)++;
		for (;;) {
			json_ws(p);
			if (**p == '}' || **p == ']' || **p == '\0') {
				if (**p != '\0')
					(*p)++;
				break;
			}
			j->items = xreallocarray(j->items, j->count + 1,
						 sizeof(*j->items));
			if (obj) {
				j->keys = xreallocarray(j->keys, j->count + 1,
							sizeof(*j->keys));
				j->keys[j->count] = json_string(p);
				json_ws(p);
				if (**p == ':')
					(*p)++;
			}
			j->items[j->count++] = json_parse_value(p);
			json_ws(p);
			if (**p == ',')
				(*p)++;
		}
	} else if (**p == '"') {
		j->type = JSON_STRING;
		j->text = json_string(p);
	} else {
		const char *s = *p;

		j->type = JSON_OTHER;
		while (**p != '\0' && **p != ',' && **p != '}' && **p != ']' &&
		       !isspace((unsigned char)**p))
			(*p)++;
		j->text = xstrndup(s, (size_t)(*p - s));
	}
	return j;
}

static inline const struct json *
json_get(const struct json *j, const char *key)
{
	for (size_t i = 0; j != NULL && j->keys != NULL && i < j->count; i++)
		if (strcmp(j->keys[i], key) == 0)
			return j->items[i];
	return NULL;
}

static inline const char *
json_str(const struct json *j, const char *key)
{
	const struct json *v = json_get(j, key);

	return v != NULL ? v->text : NULL;
}

#endif
