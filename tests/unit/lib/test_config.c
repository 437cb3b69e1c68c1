/*
 * Unit tests for lib/config.c: every setting type, bounds, duplicates,
 * unknown names, syntax errors, quoting, comments, long lines and NUL bytes.
 * Error strings are compared whole, "file:line: message" included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/config.h"
#include "lib/xalloc.h"

struct tsettings {
	char *str;
	char *path;
	long long num;
	long long bounded;
	unsigned long long size;
	unsigned int dur;
	bool flag;
	struct str_list list;
	char *checked;
};

static int
validate_checked(const void *field, const char **error_r)
{
	if (strstr(*(char *const *)field, "bad") != NULL) {
		*error_r = "contains bad";
		return -1;
	}
	return 0;
}

#define F(field) offsetof(struct tsettings, field)

static const struct setting_def tdefs[] = {
    {"a.str", SETTING_STRING, "def", F(str), 0, 0, NULL, "a string"},
    {"a.path", SETTING_PATH, "/tmp", F(path), 0, 0, NULL, "a path"},
    {"a.int", SETTING_INT, "5", F(num), 0, 0, NULL, "an int"},
    {"a.bounded", SETTING_INT, "10", F(bounded), 1, 100, NULL, "1..100"},
    {"a.size", SETTING_SIZE, "1M", F(size), 1024, 0, NULL, "a size"},
    {"a.dur", SETTING_DURATION, "30s", F(dur), 0, 0, NULL, "a duration"},
    {"a.flag", SETTING_BOOL, "no", F(flag), 0, 0, NULL, "a bool"},
    {"a.list", SETTING_LIST, "x, y", F(list), 0, 0, NULL, "a list"},
    {"a.checked", SETTING_STRING, "ok", F(checked), 0, 0, validate_checked,
     "validated"},
};
#define NDEFS (sizeof(tdefs) / sizeof(tdefs[0]))

/* The value of one setting as text, for comparing with a table. */
static void
repr(const struct tsettings *s, const char *name, char *out, size_t outsz)
{
	if (strcmp(name, "a.str") == 0)
		snprintf(out, outsz, "%s", s->str);
	else if (strcmp(name, "a.path") == 0)
		snprintf(out, outsz, "%s", s->path);
	else if (strcmp(name, "a.int") == 0)
		snprintf(out, outsz, "%lld", s->num);
	else if (strcmp(name, "a.bounded") == 0)
		snprintf(out, outsz, "%lld", s->bounded);
	else if (strcmp(name, "a.size") == 0)
		snprintf(out, outsz, "%llu", s->size);
	else if (strcmp(name, "a.dur") == 0)
		snprintf(out, outsz, "%u", s->dur);
	else if (strcmp(name, "a.flag") == 0)
		snprintf(out, outsz, "%s", s->flag ? "yes" : "no");
	else if (strcmp(name, "a.checked") == 0)
		snprintf(out, outsz, "%s", s->checked);
	else if (strcmp(name, "a.list") == 0) {
		size_t off = 0;

		out[0] = '\0';
		for (size_t i = 0; i < s->list.count; i++)
			off += (size_t)snprintf(out + off, outsz - off, "%s%s",
						i > 0 ? "|" : "",
						s->list.items[i]);
	} else
		fail_msg("no such setting %s", name);
}

struct good_case {
	const char *name;
	const char *input;
	const char *setting;
	const char *want;
};

static const struct good_case good_cases[] = {
    {"empty file keeps default", "", "a.str", "def"},
    {"default int", "", "a.int", "5"},
    {"default size", "", "a.size", "1048576"},
    {"default duration", "", "a.dur", "30"},
    {"default list", "", "a.list", "x|y"},
    {"default bool", "", "a.flag", "no"},
    {"plain", "a.str = hello world\n", "a.str", "hello world"},
    {"no spaces", "a.str=v\n", "a.str", "v"},
    {"trimmed", "a.str =   spaced   \n", "a.str", "spaced"},
    {"trailing comment", "a.str = v # comment\n", "a.str", "v"},
    {"hash without space is data", "a.str = v#x\n", "a.str", "v#x"},
    {"quoted hash", "a.str = \"q # not\"\n", "a.str", "q # not"},
    {"quoted escapes", "a.str = \"e \\\" \\\\ x\"\n", "a.str", "e \" \\ x"},
    {"quoted spaces kept", "a.str = \"  s  \"\n", "a.str", "  s  "},
    {"quoted then comment", "a.str = \"x\"  # c\n", "a.str", "x"},
    {"empty value", "a.str =\n", "a.str", ""},
    {"empty quoted", "a.str = \"\"\n", "a.str", ""},
    {"only comment", "a.str = # c\n", "a.str", ""},
    {"comments and blanks", "# head\n\n   # indented\n\t\na.str = after\n",
     "a.str", "after"},
    {"leading tab", "\ta.str\t=\ttab\n", "a.str", "tab"},
    {"crlf", "a.str = crlf\r\n", "a.str", "crlf"},
    {"no final newline", "a.int = 7", "a.int", "7"},
    {"negative int", "a.int = -42\n", "a.int", "-42"},
    {"bounded min", "a.bounded = 1\n", "a.bounded", "1"},
    {"bounded max", "a.bounded = 100\n", "a.bounded", "100"},
    {"size bytes", "a.size = 1024\n", "a.size", "1024"},
    {"size k", "a.size = 10k\n", "a.size", "10240"},
    {"size M", "a.size = 2M\n", "a.size", "2097152"},
    {"size G", "a.size = 1G\n", "a.size", "1073741824"},
    {"size kb", "a.size = 4KB\n", "a.size", "4096"},
    {"duration plain", "a.dur = 45\n", "a.dur", "45"},
    {"duration s", "a.dur = 45s\n", "a.dur", "45"},
    {"duration m", "a.dur = 5m\n", "a.dur", "300"},
    {"duration h", "a.dur = 2h\n", "a.dur", "7200"},
    {"duration d", "a.dur = 1d\n", "a.dur", "86400"},
    {"bool yes", "a.flag = yes\n", "a.flag", "yes"},
    {"bool YES", "a.flag = YES\n", "a.flag", "yes"},
    {"bool on", "a.flag = on\n", "a.flag", "yes"},
    {"bool true", "a.flag = true\n", "a.flag", "yes"},
    {"bool 1", "a.flag = 1\n", "a.flag", "yes"},
    {"bool off", "a.flag = off\n", "a.flag", "no"},
    {"bool false", "a.flag = false\n", "a.flag", "no"},
    {"list commas and spaces", "a.list = a, b  c,,d\n", "a.list", "a|b|c|d"},
    {"list empty", "a.list =\n", "a.list", ""},
    {"list quoted", "a.list = \"p q\"\n", "a.list", "p|q"},
    {"path absolute", "a.path = /var/x\n", "a.path", "/var/x"},
    {"path empty", "a.path =\n", "a.path", ""},
    {"validator ok", "a.checked = fine\n", "a.checked", "fine"},
    {"all settings",
     "a.str = s\na.path = /p\na.int = 1\na.bounded = 2\na.size = 2k\n"
     "a.dur = 1m\na.flag = yes\na.list = l\na.checked = c\n",
     "a.size", "2048"},
};

struct bad_case {
	const char *name;
	const char *input;
	size_t len; /* 0: strlen(input) */
	const char *want;
};

static const struct bad_case bad_cases[] = {
    {"unknown", "a.foo = 1\n", 0, "t.conf:1: unknown setting 'a.foo'"},
    {"unknown later line", "# c\n\na.str = x\nb.x = 2\n", 0,
     "t.conf:4: unknown setting 'b.x'"},
    {"missing equals", "\n\n# c\na.str\n", 0, "t.conf:4: missing '='"},
    {"missing equals with value", "a.str value\n", 0, "t.conf:1: missing '='"},
    {"missing name", " = x\n", 0, "t.conf:1: missing setting name"},
    {"uppercase name", "A.str = x\n", 0,
     "t.conf:1: invalid setting name 'A.str'"},
    {"odd name", "a-str = x\n", 0, "t.conf:1: invalid setting name 'a-str'"},
    {"control in name sanitized", "a\x01 = x\n", 0,
     "t.conf:1: invalid setting name 'a?'"},
    {"duplicate", "a.str = 1\na.str = 2\n", 0,
     "t.conf:2: 'a.str' set twice (first on line 1)"},
    {"below min", "a.bounded = 0\n", 0,
     "t.conf:1: a.bounded: value 0 below minimum 1"},
    {"above max", "a.bounded = 101\n", 0,
     "t.conf:1: a.bounded: value 101 above maximum 100"},
    {"bad int", "a.int = x\n", 0, "t.conf:1: a.int: invalid integer 'x'"},
    {"int with junk", "a.int = 12ab\n", 0,
     "t.conf:1: a.int: invalid integer '12ab'"},
    {"empty int", "a.int =\n", 0, "t.conf:1: a.int: invalid integer ''"},
    {"int overflow", "a.int = 99999999999999999999\n", 0,
     "t.conf:1: a.int: integer '99999999999999999999' out of range"},
    {"bad size", "a.size = 1x\n", 0,
     "t.conf:1: a.size: invalid size '1x' (use e.g. 512k, 50M, 1G)"},
    {"negative size", "a.size = -1\n", 0,
     "t.conf:1: a.size: invalid size '-1' (use e.g. 512k, 50M, 1G)"},
    {"size overflow", "a.size = 99999999999999999999G\n", 0,
     "t.conf:1: a.size: invalid size '99999999999999999999G' (use e.g. "
     "512k, 50M, 1G)"},
    {"size below min", "a.size = 512\n", 0,
     "t.conf:1: a.size: value 512 below minimum 1024"},
    {"bad duration", "a.dur = 5y\n", 0,
     "t.conf:1: a.dur: invalid duration '5y' (use e.g. 30s, 5m, 2h, 1d)"},
    {"duration overflow", "a.dur = 99999999d\n", 0,
     "t.conf:1: a.dur: invalid duration '99999999d' (use e.g. 30s, 5m, "
     "2h, 1d)"},
    {"bad bool", "a.flag = maybe\n", 0,
     "t.conf:1: a.flag: invalid boolean 'maybe' (use yes or no)"},
    {"relative path", "a.path = rel/x\n", 0,
     "t.conf:1: a.path: path 'rel/x' is not absolute"},
    {"validator", "a.checked = bad\n", 0, "t.conf:1: a.checked: contains bad"},
    {"unterminated quote", "a.str = \"abc\n", 0,
     "t.conf:1: a.str: unterminated quoted value"},
    {"bad escape", "a.str = \"a\\n\"\n", 0,
     "t.conf:1: a.str: invalid escape in quoted value (only \\\" and "
     "\\\\)"},
    {"text after quote", "a.str = \"a\" b\n", 0,
     "t.conf:1: a.str: unexpected text after quoted value"},
    {"hash glued to quote", "a.str = \"a\"#c\n", 0,
     "t.conf:1: a.str: unexpected text after quoted value"},
    {"nul byte", "a.str = a\0b\n", 12, "t.conf:1: NUL byte in line"},
    {"nul in comment", "# a\0b\n", 6, "t.conf:1: NUL byte in line"},
};

static void
test_config_good(void **state)
{
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]);
	     i++) {
		const struct good_case *c = &good_cases[i];
		struct tsettings s;
		char *error = NULL;
		char got[512];

		if (config_parse_text(tdefs, NDEFS, &s, c->input,
				      strlen(c->input), "t.conf", &error) < 0)
			fail_msg("case '%s': unexpected error: %s", c->name,
				 error);
		repr(&s, c->setting, got, sizeof(got));
		if (strcmp(got, c->want) != 0)
			fail_msg("case '%s': %s got '%s' want '%s'", c->name,
				 c->setting, got, c->want);
		config_free(tdefs, NDEFS, &s);
		assert_null(s.str);
		assert_int_equal(s.list.count, 0);
	}
}

static void
test_config_bad(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->input);
		struct tsettings s;
		char *error = NULL;

		if (config_parse_text(tdefs, NDEFS, &s, c->input, len, "t.conf",
				      &error) == 0)
			fail_msg("case '%s': parsed without error", c->name);
		assert_non_null(error);
		if (strcmp(error, c->want) != 0)
			fail_msg("case '%s':\n got  '%s'\n want '%s'", c->name,
				 error, c->want);
		free(error);
		/* The struct stays freeable after an error. */
		config_free(tdefs, NDEFS, &s);
	}
}

static char *
make_line(size_t value_len)
{
	/* "a.str = " + value: total length 8 + value_len. */
	char *line = xmalloc(8 + value_len + 2);

	memcpy(line, "a.str = ", 8);
	memset(line + 8, 'v', value_len);
	line[8 + value_len] = '\n';
	line[8 + value_len + 1] = '\0';
	return line;
}

static void
test_config_long_lines(void **state)
{
	struct tsettings s;
	char *error = NULL;
	char *line;

	line = make_line(4096 - 8); /* exactly 4096 bytes: fine */
	assert_int_equal(config_parse_text(tdefs, NDEFS, &s, line, strlen(line),
					   "t.conf", &error),
			 0);
	assert_int_equal(strlen(s.str), 4096 - 8);
	config_free(tdefs, NDEFS, &s);
	free(line);

	line = make_line(4097 - 8);
	assert_int_equal(config_parse_text(tdefs, NDEFS, &s, line, strlen(line),
					   "t.conf", &error),
			 -1);
	assert_string_equal(error,
			    "t.conf:1: line too long (more than 4096 bytes)");
	free(error);
	config_free(tdefs, NDEFS, &s);
	free(line);
}

static void
test_config_defaults_only(void **state)
{
	struct tsettings s;
	char *error = NULL;

	assert_int_equal(config_defaults(tdefs, NDEFS, &s, &error), 0);
	assert_string_equal(s.str, "def");
	assert_string_equal(s.path, "/tmp");
	assert_int_equal(s.num, 5);
	assert_int_equal(s.bounded, 10);
	assert_int_equal(s.size, 1024 * 1024);
	assert_int_equal(s.dur, 30);
	assert_false(s.flag);
	assert_int_equal(s.list.count, 2);
	assert_string_equal(s.list.items[1], "y");
	assert_null(s.list.items[2]);
	config_free(tdefs, NDEFS, &s);
}

static void
test_config_bad_default(void **state)
{
	static const struct setting_def defs[] = {
	    {"x.n", SETTING_INT, "0", 0, 1, 5, NULL, "bad default"},
	};
	long long n;
	char *error = NULL;

	assert_int_equal(config_defaults(defs, 1, &n, &error), -1);
	assert_string_equal(error,
			    "default for 'x.n': x.n: value 0 below minimum 1");
	free(error);
}

static void
test_config_load_file(void **state)
{
	char path[] = "/tmp/moat-test-config-XXXXXX";
	const char *text = "# test\na.int = 9\n\na.flag = maybe\n";
	struct tsettings s;
	char *error = NULL, *want;
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);

	assert_int_equal(config_load(tdefs, NDEFS, &s, path, &error), -1);
	want = xasprintf("%s:4: a.flag: invalid boolean 'maybe' (use yes or "
			 "no)",
			 path);
	assert_string_equal(error, want);
	free(want);
	free(error);
	config_free(tdefs, NDEFS, &s);
	unlink(path);

	/* A missing file fails, and the struct still holds the defaults. */
	assert_int_equal(config_load(tdefs, NDEFS, &s, path, &error), -1);
	want = xasprintf("%s: No such file or directory", path);
	assert_string_equal(error, want);
	assert_string_equal(s.str, "def");
	free(want);
	free(error);
	config_free(tdefs, NDEFS, &s);
}

static void
test_config_parsers(void **state)
{
	static const struct {
		const char *in;
		int ret;
		unsigned long long want;
	} sizes[] = {
	    {"0", 0, 0},
	    {"1", 0, 1},
	    {"1k", 0, 1024},
	    {"1K", 0, 1024},
	    {"3m", 0, 3145728},
	    {"1t", 0, 1099511627776ULL},
	    {"", -1, 0},
	    {"k", -1, 0},
	    {" 1", -1, 0},
	    {"1 k", -1, 0},
	    {"1kk", -1, 0},
	    {"18446744073709551615", 0, ~0ULL},
	    {"18446744073709551616", -1, 0},
	};
	static const struct {
		const char *in;
		int ret;
		unsigned int want;
	} durations[] = {
	    {"0", 0, 0},
	    {"10", 0, 10},
	    {"10s", 0, 10},
	    {"2m", 0, 120},
	    {"1h", 0, 3600},
	    {"2d", 0, 172800},
	    {"1w", 0, 604800},
	    {"", -1, 0},
	    {"1M", -1, 0},
	    {"s", -1, 0},
	    {"4294967295", 0, 4294967295U},
	    {"4294967296", -1, 0},
	};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned long long v = 0;
		int ret = config_parse_size(sizes[i].in, &v);

		if (ret != sizes[i].ret || (ret == 0 && v != sizes[i].want))
			fail_msg("size '%s': ret %d value %llu", sizes[i].in,
				 ret, v);
	}
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		unsigned int v = 0;
		int ret = config_parse_duration(durations[i].in, &v);

		if (ret != durations[i].ret ||
		    (ret == 0 && v != durations[i].want))
			fail_msg("duration '%s': ret %d value %u",
				 durations[i].in, ret, v);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_good),
	    cmocka_unit_test(test_config_bad),
	    cmocka_unit_test(test_config_long_lines),
	    cmocka_unit_test(test_config_defaults_only),
	    cmocka_unit_test(test_config_bad_default),
	    cmocka_unit_test(test_config_load_file),
	    cmocka_unit_test(test_config_parsers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
