/*
 * config: the generic settings parser behind moat.conf. A program declares
 * its settings once, as a table of struct setting_def (name, type, default,
 * bounds, validator, help), pointing at fields of its own settings struct.
 * config_load() applies every default, then the file, validating each value;
 * errors name the place as "file:line: message".
 *
 * File syntax: one "name = value" per line; '#' starts a comment at the start
 * of a line or after whitespace; blank lines ignored; names are
 * [a-z0-9_.]+; values are trimmed; a value may be double-quoted (\" and \\
 * escapes). Setting the same name twice is an error. Unknown names are errors.
 */
#ifndef MOAT_CONFIG_H
#define MOAT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum setting_type {
	SETTING_STRING,	  /* char *, "" allowed */
	SETTING_PATH,	  /* char *, must be absolute unless empty */
	SETTING_INT,	  /* long long, within [min, max] */
	SETTING_SIZE,	  /* unsigned long long bytes: 10, 10k, 10M, 1G */
	SETTING_DURATION, /* unsigned int seconds: 30, 30s, 5m, 2h, 1d */
	SETTING_BOOL,	  /* bool: yes/no, true/false, on/off, 1/0 */
	SETTING_LIST,	  /* struct str_list: items split on commas/spaces */
	SETTING_MAP,	  /* struct config_map: every "NAME.*" line; the
			     def's name is the prefix with its dot
			     ("filter."); validated later by its owner */
};

struct str_list {
	char **items;
	size_t count;
};

/* One "prefix.rest = value" line kept by a SETTING_MAP. */
struct config_map_entry {
	char *key;   /* the name without the prefix ("spf.timeout") */
	char *value; /* unquoted */
	char *file;  /* where it was set, for "file:line" errors */
	unsigned int line;
};

struct config_map {
	struct config_map_entry *items;
	size_t count;
};

/* Returns 0, or -1 with a static or thread-local message in *error_r. */
typedef int setting_validate_fn(const void *field, const char **error_r);

struct setting_def {
	const char *name;
	enum setting_type type;
	const char *default_value; /* parsed like a value from the file */
	size_t offset;		   /* offsetof(settings struct, field) */
	long long min, max; /* for INT, SIZE, DURATION; 0,0 = unbounded */
	setting_validate_fn *validate; /* optional */
	const char *help;
};

/* Applies defaults only. Returns 0, or -1 with *error_r allocated. */
int config_defaults(const struct setting_def *defs, size_t ndefs,
		    void *settings, char **error_r);
/* Defaults, then the file. Returns 0, or -1 with *error_r allocated
 * ("file:line: message"); the caller frees *error_r. */
int config_load(const struct setting_def *defs, size_t ndefs, void *settings,
		const char *path, char **error_r);
/* Same for text in memory (tests, fuzzing); filename is used in errors. */
int config_parse_text(const struct setting_def *defs, size_t ndefs,
		      void *settings, const char *text, size_t len,
		      const char *filename, char **error_r);
/* Frees every string and list the table points at. */
void config_free(const struct setting_def *defs, size_t ndefs, void *settings);

/*
 * Sets one setting of the table by name from its text, as a file line
 * would (used for settings tables of plug-ins, whose lines arrive through a
 * SETTING_MAP). 0, or -1 with *msg_r allocated ("name: message").
 */
int config_set_by_name(const struct setting_def *defs, size_t ndefs,
		       void *settings, const char *name, const char *value,
		       char **msg_r);
void config_map_free(struct config_map *map);

int config_parse_size(const char *s, unsigned long long *bytes_r);
int config_parse_duration(const char *s, unsigned int *seconds_r);
int config_parse_bool(const char *s, bool *value_r);
void str_list_free(struct str_list *list);
void str_list_add(struct str_list *list, const char *item);
/* Appends value's items, split on commas and white space, as a
 * SETTING_LIST reads them (for a setting read as text). */
void config_split_list(struct str_list *list, const char *value);

#endif
