/*
 * dmarc_rua: parses a DMARC record's rua= URI list and its size limits
 * (see dmarc_rua.h). The input comes from DNS, so every byte is checked:
 * the result only ever holds addresses made of atext, dots and a domain of
 * letters, digits, hyphens and dots, with bounded lengths. Called by the
 * DMARC report sender and by `moatctl dmarc report`; fuzzed by
 * tests/fuzz/fuzz_dmarc_rua.c.
 */
#include "filters/dmarc_rua.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "lib/hex.h"

/* "!" DIGITS [kmgt] after the URI: 0 with *limit_r, -1 if malformed. */
static int
parse_limit(const char *s, size_t len, unsigned long long *limit_r)
{
	unsigned long long v = 0, mult = 1;
	size_t i = 0;

	if (len == 0)
		return -1;
	for (; i < len && isdigit((unsigned char)s[i]); i++) {
		if (i >= 15)
			return -1;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	if (i == 0)
		return -1;
	if (i < len) {
		if (i + 1 != len)
			return -1;
		switch (tolower((unsigned char)s[i])) {
		case 'k':
			mult = 1ULL << 10;
			break;
		case 'm':
			mult = 1ULL << 20;
			break;
		case 'g':
			mult = 1ULL << 30;
			break;
		case 't':
			mult = 1ULL << 40;
			break;
		default:
			return -1;
		}
	}
	/* 15 digits times 2^40 would overflow: refuse rather than wrap. */
	if (v > (~0ULL) / mult)
		return -1;
	*limit_r = v * mult;
	return 0;
}

static bool
local_char(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.", c));
}

static bool
domain_ok(const char *d)
{
	size_t len = strlen(d), label = 0;

	if (len == 0 || len > 253 || d[0] == '.' || d[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-')
			return false;
		if (++label > 63)
			return false;
	}
	return strchr(d, '.') != NULL;
}

/* One "mailto:addr[?hfields]" URI of len bytes into *out. 0 or -1. */
static int
parse_mailto(const char *uri, size_t len, struct dmarc_rua *out)
{
	size_t o = 0;
	char *at;

	if (len < 7 || strncasecmp(uri, "mailto:", 7) != 0)
		return -1;
	uri += 7;
	len -= 7;
	for (size_t i = 0; i < len && uri[i] != '?'; i++) {
		unsigned char c = (unsigned char)uri[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = hex_digit((unsigned char)uri[i + 1]);
			lo = hex_digit((unsigned char)uri[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (o >= DMARC_RUA_ADDR_MAX)
			return -1;
		if (c != '@' && !local_char(c))
			return -1;
		out->address[o++] = (char)c;
	}
	out->address[o] = '\0';
	at = strchr(out->address, '@');
	if (at == NULL || at == out->address || strchr(at + 1, '@') != NULL ||
	    at - out->address > 64 || out->address[0] == '.' || at[-1] == '.' ||
	    strstr(out->address, "..") != NULL)
		return -1;
	for (char *p = at + 1; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!domain_ok(at + 1))
		return -1;
	out->domain = at + 1;
	return 0;
}

void
dmarc_rua_parse(const char *value, struct dmarc_rua_list *list_r)
{
	const char *p = value;

	memset(list_r, 0, sizeof(*list_r));
	if (value == NULL || strlen(value) > DMARC_RUA_INPUT_MAX)
		return;
	while (*p != '\0') {
		const char *end = strchr(p, ','), *bang;
		size_t len;
		struct dmarc_rua item;
		bool dup = false;

		if (end == NULL)
			end = p + strlen(p);
		while (p < end && isspace((unsigned char)*p))
			p++;
		len = (size_t)(end - p);
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == 0)
			goto next;
		memset(&item, 0, sizeof(item));
		bang = memchr(p, '!', len);
		if (bang != NULL &&
		    parse_limit(bang + 1, len - (size_t)(bang + 1 - p),
				&item.limit) < 0) {
			list_r->skipped++;
			goto next;
		}
		if (parse_mailto(p, bang != NULL ? (size_t)(bang - p) : len,
				 &item) < 0) {
			list_r->skipped++;
			goto next;
		}
		for (size_t i = 0; i < list_r->count; i++)
			if (strcasecmp(list_r->items[i].address,
				       item.address) == 0)
				dup = true;
		if (dup)
			goto next;
		if (list_r->count == DMARC_RUA_MAX) {
			list_r->skipped++;
			goto next;
		}
		list_r->items[list_r->count] = item;
		list_r->items[list_r->count].domain =
		    strchr(list_r->items[list_r->count].address, '@') + 1;
		list_r->count++;
	next:
		p = *end == ',' ? end + 1 : end;
	}
}

int
dmarc_record_tag(const char *record, const char *tag, char *out, size_t size)
{
	const char *p = record;
	size_t tlen = strlen(tag);

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ';'), *v;
		size_t len;

		while (*p == ' ' || *p == '\t')
			p++;
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > tlen &&
		    strncasecmp(p, tag, tlen) == 0) {
			v = p + tlen;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			if (v < end && *v == '=') {
				v++;
				while (v < end && (*v == ' ' || *v == '\t'))
					v++;
				len = (size_t)(end - v);
				while (len > 0 && (v[len - 1] == ' ' ||
						   v[len - 1] == '\t'))
					len--;
				if (len >= size)
					return -1;
				memcpy(out, v, len);
				out[len] = '\0';
				return 1;
			}
		}
		p = *end == ';' ? end + 1 : end;
	}
	return 0;
}
