/*
 * smtp_address: validation and normalisation of the mailbox in an SMTP
 * path (RFC 5321 4.1.2 and 4.5.3.1, RFC 6531 for SMTPUTF8). Pure functions,
 * no allocation: callers pass fixed-size output buffers.
 */
#ifndef MOAT_SMTP_ADDRESS_H
#define MOAT_SMTP_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#define SMTP_ADDRESS_LOCAL_MAX	64  /* octets of the local part */
#define SMTP_ADDRESS_DOMAIN_MAX 255 /* octets of the domain */
#define SMTP_ADDRESS_PATH_MAX	256 /* octets of the path incl. <> */
/* Size of a buffer that holds any normalised address plus its NUL. */
#define SMTP_ADDRESS_BUF (SMTP_ADDRESS_PATH_MAX + 1)

/*
 * Validates the inside of a path (the text between '<' and '>', len bytes,
 * which may contain NUL and is not NUL-terminated). A source route
 * ("@a,@b:") is accepted and stripped. The mailbox must be
 * local-part "@" domain where local-part is a dot-atom or a quoted string
 * and domain a host name or an address literal ("[192.0.2.1]",
 * "[IPv6:2001:db8::1]"). UTF-8 (well-formed, no overlongs) is allowed in the
 * local part and the domain only when utf8 is true (SMTPUTF8).
 * allow_no_domain accepts a bare "postmaster" (any case, RCPT only).
 * Returns 0 with the normalised address in out (domain lower-cased in
 * ASCII, local part preserved), or -1 with *error_r (static text suitable
 * after "501 5.1.x ", e.g. "Bad address syntax").
 */
int smtp_address_parse(const char *in, size_t len, bool utf8,
		       bool allow_no_domain, char out[SMTP_ADDRESS_BUF],
		       const char **error_r);

/* true when s (len bytes) is well-formed UTF-8 (no overlongs, no
 * surrogates, max U+10FFFF). */
bool smtp_address_utf8_valid(const char *s, size_t len);

/*
 * Splits a normalised address at its last '@'. local and domain receive
 * NUL-terminated copies (domain "" when there is no '@'). Returns 0, or -1
 * when a part does not fit its buffer.
 */
int smtp_address_split(const char *address, char *local, size_t local_size,
		       char *domain, size_t domain_size);

/* Lower-cases the ASCII letters of s in place. */
void smtp_address_lower_ascii(char *s);

#endif
