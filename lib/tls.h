/*
 * tls: the one OpenSSL 3 setup for every listener (SMTP, IMAP, POP3, web).
 * A server context is built from a certificate chain and key in PEM files;
 * when none is configured, a self-signed certificate (EC P-256, SAN = host
 * name, 10 years) is generated once into the data directory and reused.
 * TLS 1.2 minimum, server cipher preference, no compression, no renegotiation.
 */
#ifndef MOAT_TLS_H
#define MOAT_TLS_H

#include <openssl/ssl.h>

/*
 * Makes sure cert_path and key_path exist, generating a self-signed pair for
 * hostname when neither does (key written 0600). Returns 1 when generated,
 * 0 when both were present, -1 with *error_r allocated on error.
 */
int tls_ensure_self_signed(const char *cert_path, const char *key_path,
			   const char *hostname, char **error_r);
/* Server context. Returns NULL with *error_r allocated on error. */
SSL_CTX *tls_server_ctx_new(const char *cert_path, const char *key_path,
			    char **error_r);
/* Client context (for relay later): verify = 0 none, 1 system CA store. */
SSL_CTX *tls_client_ctx_new(int verify, char **error_r);
/* "TLSv1.3:TLS_AES_256_GCM_SHA384" style description for Received/logs. */
const char *tls_describe(SSL *ssl, char *out, size_t outsz);

#endif
