/*
 * sasl: base64 and the PLAIN / LOGIN response decoders. Every output buffer
 * has a fixed size (SASL_FIELD_MAX + 1) and every length is checked before
 * a byte is written; temporary copies of a password are wiped with
 * explicit_bzero() before they go out of scope. Callers: the AUTH dialogues
 * of smtpd, imapd and pop3d.
 */
#include "mailstore/sasl.h"

#include <string.h>
#include <strings.h>

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
sasl_base64_decode(const char *in, size_t len, char *out, size_t outsz)
{
	size_t i, o = 0;
	int v[4], j, pad;

	if (len % 4 != 0 || outsz == 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		pad = 0;
		for (j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)in[i + (size_t)j];
			if (c == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
			} else if (pad > 0 || (v[j] = b64_value(c)) < 0) {
				return -1;
			}
		}
		if (o + 3 - (size_t)pad >= outsz)
			return -1;
		out[o++] = (char)((v[0] << 2) | (v[1] >> 4));
		if (pad < 2)
			out[o++] = (char)(((v[1] & 0xf) << 4) | (v[2] >> 2));
		if (pad < 1)
			out[o++] = (char)(((v[2] & 0x3) << 6) | v[3]);
	}
	out[o] = '\0';
	return (long)o;
}

int
sasl_plain_decode(const char *b64, char *login, char *password)
{
	char buf[3 * SASL_FIELD_MAX + 8];
	const char *authz, *authc, *pass, *end;
	long n;
	size_t alen, plen;

	n = sasl_base64_decode(b64, strlen(b64), buf, sizeof(buf));
	if (n < 0) {
		explicit_bzero(buf, sizeof(buf));
		return -1;
	}
	end = buf + n;
	authz = buf;
	authc = memchr(authz, '\0', (size_t)(end - authz));
	if (authc == NULL || authc + 1 >= end) {
		explicit_bzero(buf, sizeof(buf));
		return -1;
	}
	authc++;
	pass = memchr(authc, '\0', (size_t)(end - authc));
	if (pass == NULL) {
		explicit_bzero(buf, sizeof(buf));
		return -1;
	}
	pass++;
	alen = strlen(authc);
	plen = (size_t)(end - pass);
	if (alen == 0 || alen > SASL_FIELD_MAX || plen == 0 ||
	    plen > SASL_FIELD_MAX || memchr(pass, '\0', plen) != NULL ||
	    (authz[0] != '\0' && strcasecmp(authz, authc) != 0)) {
		explicit_bzero(buf, sizeof(buf));
		return -1;
	}
	memcpy(login, authc, alen + 1);
	memcpy(password, pass, plen);
	password[plen] = '\0';
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

int
sasl_login_decode(const char *b64, size_t len, char *out)
{
	long n = sasl_base64_decode(b64, len, out, SASL_FIELD_MAX + 1);

	if (n <= 0 || memchr(out, '\0', (size_t)n) != NULL) {
		explicit_bzero(out, SASL_FIELD_MAX + 1);
		return -1;
	}
	return 0;
}
