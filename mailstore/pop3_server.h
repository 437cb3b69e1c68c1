/*
 * pop3_server: the POP3 service (RFC 1939, CAPA and response codes of RFC
 * 2449, STLS of RFC 2595, AUTH of RFC 5034) over the mailstore's INBOX.
 * One libevent loop serves every connection; password checks run in
 * auth_pool's threads; message files are streamed, never held in memory.
 * gateway/pop3_service.c turns the moat.conf settings into a struct
 * pop3_settings and calls pop3_server_run() in the pop3d child.
 */
#ifndef MOAT_POP3_SERVER_H
#define MOAT_POP3_SERVER_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

struct pop3_listener {
	int fd;		   /* bound, listening */
	bool implicit_tls; /* POP3S (995) */
	const char *address;
};

struct pop3_settings {
	const char *data_dir;
	const char *hostname;
	SSL_CTX *tls_ctx; /* NULL: no STLS and no POP3S */
	const struct pop3_listener *listeners;
	size_t listener_count;
	long long max_connections;
	long long max_connections_per_ip;
	unsigned int login_timeout; /* seconds before a successful login */
	unsigned int idle_timeout;  /* seconds after login (RFC: >= 600) */
	/* USER/PASS and AUTH without TLS from 127.0.0.0/8 and ::1. Never
	 * from other addresses. */
	bool allow_plaintext_loopback;
};

/* Runs until SIGTERM/SIGINT. Returns the exit status (0 after a clean
 * stop, 1 when setup failed). */
int pop3_server_run(const struct pop3_settings *set);

#endif
