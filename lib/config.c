/*
 * config: the moat.conf parser. Programs describe their settings as a table
 * of struct setting_def; this file applies the defaults, then reads
 * "name = value" lines, converting each value to the field's type, checking
 * bounds and calling the validator. Every error becomes one allocated string
 * "file:line: message" (defaults use "default for 'name': message").
 *
 * Invariants: after any call (success or failure) every string and list
 * field of the table is either NULL/empty or owned, so config_free() is
 * always safe; config_defaults() starts from zeroed fields and must not be
 * applied to a struct that still owns strings (config_free() it first).
 * config_parse_text() takes arbitrary bytes (it is fuzzed): lines are
 * bounded (CONFIG_LINE_MAX), NUL bytes are errors, nothing reads past len.
 * For bounds, min = max = 0 means unbounded and max = 0 with min != 0 means
 * no upper bound. Callers: gateway/settings.c, filters' settings tables.
 */
#include "lib/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define CONFIG_LINE_MAX 4096
#define CONFIG_FILE_MAX (16 * 1024 * 1024)

void
str_list_free(struct str_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

void
str_list_add(struct str_list *list, const char *item)
{
	/* Keeps items NULL-terminated for callers that iterate to NULL. */
	list->items =
	    xreallocarray(list->items, list->count + 2, sizeof(char *));
	list->items[list->count++] = xstrdup(item);
	list->items[list->count] = NULL;
}

/* Parses an unsigned decimal prefix; returns the end or NULL on overflow or
 * when there is no digit. */
static const char *
config_parse_ull(const char *s, unsigned long long *value_r)
{
	unsigned long long v = 0;

	if (!isdigit((unsigned char)*s))
		return NULL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (v > (ULLONG_MAX - d) / 10)
			return NULL;
		v = v * 10 + d;
	}
	*value_r = v;
	return s;
}

int
config_parse_size(const char *s, unsigned long long *bytes_r)
{
	unsigned long long v, mult = 1;
	const char *p = config_parse_ull(s, &v);

	if (p == NULL)
		return -1;
	switch (*p) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = 1024ULL;
		p++;
		break;
	case 'm':
	case 'M':
		mult = 1024ULL * 1024;
		p++;
		break;
	case 'g':
	case 'G':
		mult = 1024ULL * 1024 * 1024;
		p++;
		break;
	case 't':
	case 'T':
		mult = 1024ULL * 1024 * 1024 * 1024;
		p++;
		break;
	default:
		return -1;
	}
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p != '\0')
		return -1;
	if (v > ULLONG_MAX / mult)
		return -1;
	*bytes_r = v * mult;
	return 0;
}

int
config_parse_duration(const char *s, unsigned int *seconds_r)
{
	unsigned long long v, mult = 1;
	const char *p = config_parse_ull(s, &v);

	if (p == NULL)
		return -1;
	switch (*p) {
	case '\0':
		break;
	case 's':
		p++;
		break;
	case 'm':
		mult = 60;
		p++;
		break;
	case 'h':
		mult = 3600;
		p++;
		break;
	case 'd':
		mult = 86400;
		p++;
		break;
	case 'w':
		mult = 7 * 86400;
		p++;
		break;
	default:
		return -1;
	}
	if (*p != '\0')
		return -1;
	if (v > UINT_MAX / mult)
		return -1;
	*seconds_r = (unsigned int)(v * mult);
	return 0;
}

int
config_parse_bool(const char *s, bool *value_r)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*value_r = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*value_r = false;
			return 0;
		}
	}
	return -1;
}

static void *
config_field(const struct setting_def *def, void *settings)
{
	return (char *)settings + def->offset;
}

static bool
config_has_bounds(const struct setting_def *def)
{
	return def->min != 0 || def->max != 0;
}

/* Checks v against the bounds; *msg_r gets an allocated message. */
static int
config_check_signed(const struct setting_def *def, long long v, char **msg_r)
{
	if (!config_has_bounds(def))
		return 0;
	if (v < def->min) {
		*msg_r = xasprintf("%s: value %lld below minimum %lld",
				   def->name, v, def->min);
		return -1;
	}
	if (def->max != 0 && v > def->max) {
		*msg_r = xasprintf("%s: value %lld above maximum %lld",
				   def->name, v, def->max);
		return -1;
	}
	return 0;
}

static int
config_check_unsigned(const struct setting_def *def, unsigned long long v,
		      const char *text, char **msg_r)
{
	if (!config_has_bounds(def))
		return 0;
	if (def->min > 0 && v < (unsigned long long)def->min) {
		*msg_r = xasprintf("%s: value %s below minimum %lld", def->name,
				   text, def->min);
		return -1;
	}
	if (def->max > 0 && v > (unsigned long long)def->max) {
		*msg_r = xasprintf("%s: value %s above maximum %lld", def->name,
				   text, def->max);
		return -1;
	}
	return 0;
}

void
config_split_list(struct str_list *list, const char *value)
{
	const char *p = value;

	while (*p != '\0') {
		size_t n;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		n = strcspn(p, ", \t\r\n\v\f");
		if (n > 0) {
			char *item = xstrndup(p, n);

			str_list_add(list, item);
			free(item);
		}
		p += n;
	}
}

/* Converts value into the field of def. Returns 0, or -1 with an allocated
 * message (without the file:line prefix) in *msg_r. */
static int
config_set(const struct setting_def *def, void *settings, const char *value,
	   char **msg_r)
{
	void *field = config_field(def, settings);
	char shown[80];
	const char *verr = NULL;

	log_sanitize(value, strlen(value), shown, sizeof(shown));
	switch (def->type) {
	case SETTING_PATH:
		if (value[0] != '\0' && value[0] != '/') {
			*msg_r = xasprintf("%s: path '%s' is not absolute",
					   def->name, shown);
			return -1;
		}
		/* fall through */
	case SETTING_STRING: {
		char **s = field;

		free(*s);
		*s = xstrdup(value);
		break;
	}
	case SETTING_INT: {
		long long v;
		char *end;

		errno = 0;
		v = strtoll(value, &end, 10);
		if (value[0] == '\0' || isspace((unsigned char)value[0]) ||
		    *end != '\0') {
			*msg_r = xasprintf("%s: invalid integer '%s'",
					   def->name, shown);
			return -1;
		}
		if (errno == ERANGE) {
			*msg_r = xasprintf("%s: integer '%s' out of range",
					   def->name, shown);
			return -1;
		}
		if (config_check_signed(def, v, msg_r) < 0)
			return -1;
		*(long long *)field = v;
		break;
	}
	case SETTING_SIZE: {
		unsigned long long v;

		if (config_parse_size(value, &v) < 0) {
			*msg_r = xasprintf("%s: invalid size '%s' (use e.g. "
					   "512k, 50M, 1G)",
					   def->name, shown);
			return -1;
		}
		if (config_check_unsigned(def, v, shown, msg_r) < 0)
			return -1;
		*(unsigned long long *)field = v;
		break;
	}
	case SETTING_DURATION: {
		unsigned int v;

		if (config_parse_duration(value, &v) < 0) {
			*msg_r =
			    xasprintf("%s: invalid duration '%s' (use e.g. "
				      "30s, 5m, 2h, 1d)",
				      def->name, shown);
			return -1;
		}
		if (config_check_unsigned(def, v, shown, msg_r) < 0)
			return -1;
		*(unsigned int *)field = v;
		break;
	}
	case SETTING_BOOL: {
		bool v;

		if (config_parse_bool(value, &v) < 0) {
			*msg_r = xasprintf("%s: invalid boolean '%s' (use yes "
					   "or no)",
					   def->name, shown);
			return -1;
		}
		*(bool *)field = v;
		break;
	}
	case SETTING_LIST: {
		struct str_list *list = field;

		str_list_free(list);
		config_split_list(list, value);
		break;
	}
	case SETTING_MAP:
		if (value[0] != '\0') {
			*msg_r = xasprintf("%s: takes no value of its own",
					   def->name);
			return -1;
		}
		break;
	default:
		*msg_r = xasprintf("%s: unsupported setting type", def->name);
		return -1;
	}
	if (def->validate != NULL && def->validate(field, &verr) < 0) {
		*msg_r = xasprintf("%s: %s", def->name,
				   verr != NULL ? verr : "invalid value");
		return -1;
	}
	return 0;
}

static void
config_zero_field(const struct setting_def *def, void *settings)
{
	void *field = config_field(def, settings);

	switch (def->type) {
	case SETTING_STRING:
	case SETTING_PATH:
		*(char **)field = NULL;
		break;
	case SETTING_INT:
		*(long long *)field = 0;
		break;
	case SETTING_SIZE:
		*(unsigned long long *)field = 0;
		break;
	case SETTING_DURATION:
		*(unsigned int *)field = 0;
		break;
	case SETTING_BOOL:
		*(bool *)field = false;
		break;
	case SETTING_LIST:
		((struct str_list *)field)->items = NULL;
		((struct str_list *)field)->count = 0;
		break;
	case SETTING_MAP:
		((struct config_map *)field)->items = NULL;
		((struct config_map *)field)->count = 0;
		break;
	}
}

void
config_map_free(struct config_map *map)
{
	for (size_t i = 0; i < map->count; i++) {
		free(map->items[i].key);
		free(map->items[i].value);
		free(map->items[i].file);
	}
	free(map->items);
	map->items = NULL;
	map->count = 0;
}

int
config_set_by_name(const struct setting_def *defs, size_t ndefs, void *settings,
		   const char *name, const char *value, char **msg_r)
{
	for (size_t i = 0; i < ndefs; i++)
		if (defs[i].type != SETTING_MAP &&
		    strcmp(defs[i].name, name) == 0)
			return config_set(&defs[i], settings, value, msg_r);
	*msg_r = xasprintf("%s: unknown setting", name);
	return -1;
}

/* Adds a SETTING_MAP line; -1 with *error_r when the key repeats. */
static int
config_map_add(const struct setting_def *def, void *settings, const char *key,
	       const char *value, const char *filename, unsigned int lineno,
	       char **error_r)
{
	struct config_map *map = config_field(def, settings);
	struct config_map_entry *e;

	for (size_t i = 0; i < map->count; i++) {
		if (strcmp(map->items[i].key, key) == 0) {
			*error_r = xasprintf("%s:%u: '%s%s' set twice (first "
					     "on line %u)",
					     filename, lineno, def->name, key,
					     map->items[i].line);
			return -1;
		}
	}
	map->items =
	    xreallocarray(map->items, map->count + 1, sizeof(*map->items));
	e = &map->items[map->count++];
	e->key = xstrdup(key);
	e->value = xstrdup(value);
	e->file = xstrdup(filename);
	e->line = lineno;
	return 0;
}

int
config_defaults(const struct setting_def *defs, size_t ndefs, void *settings,
		char **error_r)
{
	for (size_t i = 0; i < ndefs; i++)
		config_zero_field(&defs[i], settings);
	for (size_t i = 0; i < ndefs; i++) {
		const char *value = defs[i].default_value;
		char *msg = NULL;

		if (config_set(&defs[i], settings, value != NULL ? value : "",
			       &msg) < 0) {
			*error_r = xasprintf("default for '%s': %s",
					     defs[i].name, msg);
			free(msg);
			return -1;
		}
	}
	return 0;
}

void
config_free(const struct setting_def *defs, size_t ndefs, void *settings)
{
	for (size_t i = 0; i < ndefs; i++) {
		void *field = config_field(&defs[i], settings);

		switch (defs[i].type) {
		case SETTING_STRING:
		case SETTING_PATH:
			x_free((char **)field);
			break;
		case SETTING_LIST:
			str_list_free(field);
			break;
		case SETTING_MAP:
			config_map_free(field);
			break;
		default:
			break;
		}
	}
}

static bool
config_is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '.';
}

static bool
config_is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Parses the value part of a line (p..end, after '=') into value. Returns 0
 * or -1 with a static message.
 */
static int
config_parse_value(const char *p, const char *end, struct buf *value,
		   const char **msg_r)
{
	while (p < end && config_is_blank((unsigned char)*p))
		p++;
	if (p < end && *p == '"') {
		for (p++;; p++) {
			if (p >= end) {
				*msg_r = "unterminated quoted value";
				return -1;
			}
			if (*p == '"')
				break;
			if (*p == '\\') {
				if (p + 1 >= end ||
				    (p[1] != '"' && p[1] != '\\')) {
					*msg_r = "invalid escape in quoted "
						 "value (only \\\" and \\\\)";
					return -1;
				}
				p++;
			}
			buf_append_char(value, *p);
		}
		for (p++; p < end && config_is_blank((unsigned char)*p); p++)
			;
		if (p < end && *p != '#') {
			*msg_r = "unexpected text after quoted value";
			return -1;
		}
		if (p < end && !config_is_blank((unsigned char)p[-1])) {
			*msg_r = "unexpected text after quoted value";
			return -1;
		}
		return 0;
	}
	/* Unquoted: up to a '#' that follows whitespace, then trimmed. */
	const char *start = p, *stop = p;

	for (; p < end; p++) {
		if (*p == '#' && p > start &&
		    config_is_blank((unsigned char)p[-1]))
			break;
		if (*p == '#' && p == start)
			break;
		if (!config_is_blank((unsigned char)*p))
			stop = p + 1;
	}
	buf_append(value, start, (size_t)(stop - start));
	return 0;
}

/* Applies the lines of text on top of the current values. */
static int
config_apply_text(const struct setting_def *defs, size_t ndefs, void *settings,
		  const char *text, size_t len, const char *filename,
		  char **error_r)
{
	unsigned int *seen_line;
	struct buf value = {0};
	const char *p = text, *end = text + len;
	unsigned int lineno = 0;
	int ret = -1;

	seen_line = xcalloc(ndefs == 0 ? 1 : ndefs, sizeof(*seen_line));

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line = p, *lend = nl != NULL ? nl : end;
		const char *name, *name_end, *msg = NULL;
		char shown[80];
		size_t i;

		p = nl != NULL ? nl + 1 : end;
		lineno++;
		if (lend > line && lend[-1] == '\r')
			lend--;
		if ((size_t)(lend - line) > CONFIG_LINE_MAX) {
			*error_r = xasprintf("%s:%u: line too long (more than "
					     "%d bytes)",
					     filename, lineno, CONFIG_LINE_MAX);
			goto out;
		}
		if (memchr(line, '\0', (size_t)(lend - line)) != NULL) {
			*error_r = xasprintf("%s:%u: NUL byte in line",
					     filename, lineno);
			goto out;
		}
		while (line < lend && config_is_blank((unsigned char)*line))
			line++;
		if (line == lend || *line == '#')
			continue;

		name = line;
		while (line < lend && *line != '=' &&
		       !config_is_blank((unsigned char)*line))
			line++;
		name_end = line;
		while (line < lend && config_is_blank((unsigned char)*line))
			line++;
		if (line == lend || *line != '=') {
			*error_r =
			    xasprintf("%s:%u: missing '='", filename, lineno);
			goto out;
		}
		line++;
		log_sanitize(name, (size_t)(name_end - name), shown,
			     sizeof(shown));
		if (name == name_end) {
			*error_r = xasprintf("%s:%u: missing setting name",
					     filename, lineno);
			goto out;
		}
		for (const char *c = name; c < name_end; c++) {
			if (!config_is_name_char((unsigned char)*c)) {
				*error_r = xasprintf("%s:%u: invalid setting "
						     "name '%s'",
						     filename, lineno, shown);
				goto out;
			}
		}
		for (i = 0; i < ndefs; i++) {
			size_t n = (size_t)(name_end - name);

			if (strlen(defs[i].name) == n &&
			    memcmp(defs[i].name, name, n) == 0 &&
			    defs[i].type != SETTING_MAP)
				break;
		}
		if (i == ndefs) {
			/* A "prefix.rest" line for a SETTING_MAP? */
			size_t n = (size_t)(name_end - name), m;

			for (m = 0; m < ndefs; m++) {
				size_t pl = strlen(defs[m].name);

				if (defs[m].type == SETTING_MAP && n > pl &&
				    memcmp(defs[m].name, name, pl) == 0)
					break;
			}
			if (m < ndefs) {
				size_t pl = strlen(defs[m].name);
				char *key = xstrndup(name + pl, n - pl);
				int rc;

				buf_reset(&value);
				if (config_parse_value(line, lend, &value,
						       &msg) < 0) {
					*error_r =
					    xasprintf("%s:%u: %s: %s", filename,
						      lineno, shown, msg);
					free(key);
					goto out;
				}
				rc = config_map_add(&defs[m], settings, key,
						    buf_cstr(&value), filename,
						    lineno, error_r);
				free(key);
				if (rc < 0)
					goto out;
				continue;
			}
		}
		if (i == ndefs) {
			*error_r = xasprintf("%s:%u: unknown setting '%s'",
					     filename, lineno, shown);
			goto out;
		}
		if (seen_line[i] != 0) {
			*error_r = xasprintf("%s:%u: '%s' set twice (first on "
					     "line %u)",
					     filename, lineno, defs[i].name,
					     seen_line[i]);
			goto out;
		}
		seen_line[i] = lineno;

		buf_reset(&value);
		if (config_parse_value(line, lend, &value, &msg) < 0) {
			*error_r = xasprintf("%s:%u: %s: %s", filename, lineno,
					     defs[i].name, msg);
			goto out;
		}
		char *smsg = NULL;

		if (config_set(&defs[i], settings, buf_cstr(&value), &smsg) <
		    0) {
			*error_r =
			    xasprintf("%s:%u: %s", filename, lineno, smsg);
			free(smsg);
			goto out;
		}
	}
	ret = 0;
out:
	buf_free(&value);
	free(seen_line);
	return ret;
}

int
config_parse_text(const struct setting_def *defs, size_t ndefs, void *settings,
		  const char *text, size_t len, const char *filename,
		  char **error_r)
{
	if (config_defaults(defs, ndefs, settings, error_r) < 0)
		return -1;
	return config_apply_text(defs, ndefs, settings, text, len, filename,
				 error_r);
}

int
config_load(const struct setting_def *defs, size_t ndefs, void *settings,
	    const char *path, char **error_r)
{
	struct buf text = {0};
	char chunk[8192];
	int fd, ret;

	/* Defaults first, so the struct is freeable whatever happens next. */
	if (config_defaults(defs, ndefs, settings, error_r) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			*error_r = xasprintf("%s: %s", path, strerror(errno));
			close(fd);
			buf_free(&text);
			return -1;
		}
		if (n == 0)
			break;
		if (text.len + (size_t)n > CONFIG_FILE_MAX) {
			*error_r = xasprintf("%s: file too large", path);
			close(fd);
			buf_free(&text);
			return -1;
		}
		buf_append(&text, chunk, (size_t)n);
	}
	close(fd);
	ret = config_apply_text(defs, ndefs, settings, buf_cstr(&text),
				text.len, path, error_r);
	buf_free(&text);
	return ret;
}
