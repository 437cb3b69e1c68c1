/*
 * smtp_address: the RFC 5321 Mailbox grammar, checked byte by byte within
 * explicit bounds (the input is never assumed NUL-terminated). The parser
 * is deliberately strict about what it stores (a normalised local@domain)
 * and tolerant only of the source route, which RFC 5321 4.1.1.3 says to
 * accept and ignore. Called by smtp_command for MAIL/RCPT paths and by
 * smtp_session for nothing else; fuzzed by tests/fuzz/fuzz_smtp_command.c.
 */
#include "gateway/smtp_address.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL && c != '\0';
}

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* Length of the UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned int cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool
smtp_address_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		n = utf8_seq_len(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Dot-atom local part at in[0..len). */
static bool
local_dot_atom_valid(const unsigned char *in, size_t len, bool utf8)
{
	size_t i = 0, n;
	bool atom_start = true;

	if (len == 0)
		return false;
	while (i < len) {
		if (in[i] == '.') {
			if (atom_start)
				return false;
			atom_start = true;
			i++;
			continue;
		}
		if (in[i] >= 0x80) {
			if (!utf8)
				return false;
			n = utf8_seq_len(in + i, len - i);
			if (n == 0)
				return false;
			i += n;
		} else if (is_atext(in[i])) {
			i++;
		} else {
			return false;
		}
		atom_start = false;
	}
	return !atom_start;
}

/* Quoted-string local part at in[0..len) including the quotes. */
static bool
local_quoted_valid(const unsigned char *in, size_t len, bool utf8)
{
	size_t i, n;

	if (len < 2 || in[0] != '"' || in[len - 1] != '"')
		return false;
	for (i = 1; i < len - 1;) {
		if (in[i] == '\\') {
			if (i + 1 >= len - 1 || in[i + 1] < 32 ||
			    in[i + 1] > 126)
				return false;
			i += 2;
		} else if (in[i] >= 0x80) {
			if (!utf8)
				return false;
			n = utf8_seq_len(in + i, len - 1 - i);
			if (n == 0)
				return false;
			i += n;
		} else if (in[i] >= 32 && in[i] <= 126 && in[i] != '"') {
			i++;
		} else {
			return false;
		}
	}
	return true;
}

static bool
domain_name_valid(const unsigned char *in, size_t len, bool utf8)
{
	size_t i = 0, label_len = 0, n;
	unsigned char last = 0;

	if (len == 0 || len > SMTP_ADDRESS_DOMAIN_MAX)
		return false;
	while (i < len) {
		if (in[i] == '.') {
			if (label_len == 0 || last == '-')
				return false;
			label_len = 0;
			last = '.';
			i++;
			continue;
		}
		if (in[i] >= 0x80) {
			if (!utf8)
				return false;
			n = utf8_seq_len(in + i, len - i);
			if (n == 0)
				return false;
			i += n;
			label_len += n;
			last = 'a';
		} else if (is_alnum(in[i]) || (in[i] == '-' && label_len > 0)) {
			last = in[i];
			label_len++;
			i++;
		} else {
			return false;
		}
		if (label_len > 63)
			return false;
	}
	return label_len > 0 && last != '-';
}

static bool
address_literal_valid(const unsigned char *in, size_t len)
{
	char tmp[64];
	unsigned char addr[16];
	size_t i;

	if (len < 3 || in[0] != '[' || in[len - 1] != ']' ||
	    len - 2 >= sizeof(tmp))
		return false;
	memcpy(tmp, in + 1, len - 2);
	tmp[len - 2] = '\0';
	if (memchr(tmp, '\0', len - 2) != NULL)
		return false;
	if (strncasecmp(tmp, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, tmp + 5, addr) == 1;
	for (i = 0; tmp[i] != '\0'; i++) {
		if (!(tmp[i] >= '0' && tmp[i] <= '9') && tmp[i] != '.')
			return false;
	}
	return inet_pton(AF_INET, tmp, addr) == 1;
}

/* Strips "@a,@b:" from the front; returns the offset of the mailbox or
 * -1 when the route is malformed. */
static long
source_route_skip(const unsigned char *in, size_t len)
{
	size_t i = 0, start;

	if (len == 0 || in[0] != '@')
		return 0;
	for (;;) {
		if (i >= len || in[i] != '@')
			return -1;
		start = ++i;
		while (i < len && in[i] != ',' && in[i] != ':')
			i++;
		if (i >= len ||
		    !domain_name_valid(in + start, i - start, false))
			return -1;
		if (in[i] == ':')
			return (long)(i + 1);
		i++; /* ',' */
	}
}

int
smtp_address_parse(const char *text, size_t len, bool utf8,
		   bool allow_no_domain, char out[SMTP_ADDRESS_BUF],
		   const char **error_r)
{
	const unsigned char *in = (const unsigned char *)text;
	size_t at, local_len, domain_len, i;
	long skip;
	bool quoted;

	if (len + 2 > SMTP_ADDRESS_PATH_MAX) {
		*error_r = "Address too long";
		return -1;
	}
	skip = source_route_skip(in, len);
	if (skip < 0) {
		*error_r = "Bad source route syntax";
		return -1;
	}
	in += skip;
	len -= (size_t)skip;
	if (memchr(in, '\0', len) != NULL) {
		*error_r = "Bad address syntax";
		return -1;
	}
	if (allow_no_domain && len == 10 &&
	    strncasecmp((const char *)in, "postmaster", 10) == 0) {
		memcpy(out, in, len);
		out[len] = '\0';
		return 0;
	}
	/* Find the '@' that ends the local part (quoted parts may hold '@'). */
	quoted = len > 0 && in[0] == '"';
	at = len;
	if (quoted) {
		for (i = 1; i < len; i++) {
			if (in[i] == '\\') {
				i++;
			} else if (in[i] == '"') {
				if (i + 1 < len && in[i + 1] == '@')
					at = i + 1;
				break;
			}
		}
	} else {
		const unsigned char *p = memchr(in, '@', len);
		if (p != NULL)
			at = (size_t)(p - in);
	}
	if (at >= len) {
		*error_r = "Bad address syntax";
		return -1;
	}
	local_len = at;
	domain_len = len - at - 1;
	if (local_len > SMTP_ADDRESS_LOCAL_MAX) {
		*error_r = "Local part too long";
		return -1;
	}
	if (quoted ? !local_quoted_valid(in, local_len, utf8)
		   : !local_dot_atom_valid(in, local_len, utf8)) {
		*error_r =
		    utf8 ? "Bad address syntax"
			 : "Bad address syntax (non-ASCII needs SMTPUTF8)";
		return -1;
	}
	if (domain_len > SMTP_ADDRESS_DOMAIN_MAX) {
		*error_r = "Domain too long";
		return -1;
	}
	if (domain_len > 0 && in[at + 1] == '['
		? !address_literal_valid(in + at + 1, domain_len)
		: !domain_name_valid(in + at + 1, domain_len, utf8)) {
		*error_r = "Bad domain syntax";
		return -1;
	}
	memcpy(out, in, len);
	out[len] = '\0';
	smtp_address_lower_ascii(out + at + 1);
	return 0;
}

int
smtp_address_split(const char *address, char *local, size_t local_size,
		   char *domain, size_t domain_size)
{
	const char *at = strrchr(address, '@');
	size_t llen = at != NULL ? (size_t)(at - address) : strlen(address);
	size_t dlen = at != NULL ? strlen(at + 1) : 0;

	if (llen >= local_size || dlen >= domain_size)
		return -1;
	memcpy(local, address, llen);
	local[llen] = '\0';
	if (at != NULL)
		memcpy(domain, at + 1, dlen);
	domain[dlen] = '\0';
	return 0;
}

void
smtp_address_lower_ascii(char *s)
{
	for (; *s != '\0'; s++) {
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	}
}
