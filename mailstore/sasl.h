/*
 * sasl: the server side of the SASL mechanisms the mail protocols offer
 * (PLAIN, RFC 4616; LOGIN, draft-murchison-sasl-login): decoders for the
 * base64 responses, shared by SMTP AUTH (RFC 4954), IMAP AUTHENTICATE
 * (RFC 9051) and POP3 AUTH (RFC 5034). Pure functions, no I/O.
 */
#ifndef MOAT_SASL_H
#define MOAT_SASL_H

#include <stddef.h>

/* Longest login / password we decode (bytes). */
#define SASL_FIELD_MAX 512

/* Server challenges of LOGIN: base64 of "Username:" and "Password:". */
#define SASL_LOGIN_USER_CHALLENGE "VXNlcm5hbWU6"
#define SASL_LOGIN_PASS_CHALLENGE "UGFzc3dvcmQ6"

/*
 * Decodes base64 (RFC 4648, padding required, no whitespace) from in[0..len)
 * into out (outsz bytes, output NUL-terminated). Returns the decoded length
 * or -1 on bad input or overflow.
 */
long sasl_base64_decode(const char *in, size_t len, char *out, size_t outsz);
/*
 * Decodes a PLAIN response (base64 of authzid NUL authcid NUL passwd) into
 * login and password (each SASL_FIELD_MAX + 1 bytes). An authzid, when
 * present, must equal the authcid (case-insensitively). Returns 0 or -1.
 */
int sasl_plain_decode(const char *b64, char *login, char *password);
/*
 * Decodes one LOGIN response (base64 of the user name or of the password)
 * from b64[0..len) into out (SASL_FIELD_MAX + 1 bytes). Empty values and
 * values containing NUL are refused. Returns 0 or -1 (out wiped).
 */
int sasl_login_decode(const char *b64, size_t len, char *out);

#endif
