/*
 * net_conn: the connection plumbing that smtpd, imapd and pop3d share, so
 * that TLS set-up, the STARTTLS injection guard and output accounting are
 * written once: a bufferevent for an accepted socket (plain or implicit
 * TLS), the in-session TLS upgrade (STARTTLS / STLS), bytes still queued
 * through a TLS filter, TLS error logging, session ids, and refusing a
 * connection over a limit. Each service keeps its own session state.
 */
#ifndef MOAT_NET_CONN_H
#define MOAT_NET_CONN_H

#include <stddef.h>

#include <openssl/ssl.h>

struct bufferevent;
struct event_base;

/* A bufferevent owning the accepted socket fd (made non-blocking), with
 * TLS accepting at once when tls_ctx is not NULL (implicit TLS), plain
 * otherwise. On failure fd is closed, a line logged and NULL returned. */
struct bufferevent *net_conn_open(struct event_base *base, int fd,
				  SSL_CTX *tls_ctx, const char *ip);

/* The STARTTLS upgrade, after the caller made ssl (SSL_new) and queued
 * its "ready to start TLS" reply on bev. Input the client sent behind the
 * command is dropped and logged (event=<label>_injection, CVE-2011-0411
 * style command injection), then a TLS filter wraps bev and owns it (free
 * the returned bufferevent, not bev). NULL when the filter could not be
 * made: ssl is freed, bev is still the caller's. */
struct bufferevent *net_conn_starttls(struct event_base *base,
				      struct bufferevent *bev, SSL *ssl,
				      const char *session_id,
				      const char *label);

/* Bytes queued on bev not yet handed to the kernel, those that a TLS
 * filter moved to the underlying bufferevent included. 0 for NULL. */
size_t net_conn_output_pending(struct bufferevent *bev);

/* Logs and clears the OpenSSL errors queued on bev (event=tls_error). */
void net_conn_log_tls_errors(struct bufferevent *bev, const char *session_id);

/* A session id for the logs: 10 upper-case hex digits, the time in
 * seconds (low 20 bits) and *counter (low 20 bits), which is increased.
 * size must be at least 11. */
void net_conn_session_id(char *out, size_t size, unsigned long *counter);

/* Sends reply (a complete line with CRLF; NULL for none) without waiting
 * and closes fd: the answer to a connection over a limit. */
void net_conn_refuse(int fd, const char *reply);

#endif
