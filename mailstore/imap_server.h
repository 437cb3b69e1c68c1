/*
 * imap_server: imapd, the IMAP4rev2/IMAP4rev1 service (RFC 9051, RFC 3501)
 * over the mailstore. One libevent loop serves every connection; password
 * checks run in auth_pool's threads. The gateway's service table starts it
 * through imapd_run() (gateway/imapd.c), which fills this configuration
 * from moat.conf: the mailstore never includes gateway code.
 */
#ifndef MOAT_IMAP_SERVER_H
#define MOAT_IMAP_SERVER_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imap_listener_config {
	int fd;		   /* bound, listening, non-blocking */
	bool implicit_tls; /* 993 */
	const char *address;
};

struct imap_server_config {
	const char *data_dir;
	const char *hostname;
	SSL_CTX *tls_ctx; /* NULL: no STARTTLS, no implicit TLS listeners */
	const struct imap_listener_config *listeners;
	size_t listener_count;
	bool allow_plaintext_loopback;
	long long max_connections, max_connections_per_ip;
	unsigned int idle_timeout, login_timeout, write_timeout;
	unsigned int shutdown_timeout;
	uint64_t max_command_size; /* line + literals (not APPEND) */
	uint64_t max_message_size; /* APPENDLIMIT */
	uint64_t quota;		   /* bytes per user, 0 = none */
	/* users' spam training (mailstore/train_spool.h): the spool
	 * directory, NULL when off; messages allowed to wait in it */
	const char *train_dir;
	size_t train_max_pending;
	/* quarantine.learn_on_release: a COPY or MOVE out of Quarantine of
	 * mail the spam filter quarantined teaches ham (needs train_dir) */
	bool quarantine_learn;
	/* quarantine.user_filters: whose entries users see (NULL: all) */
	const struct str_list *quarantine_user_filters;
};

/* Runs until SIGTERM/SIGINT; returns the process exit status. */
int imap_server_run(const struct imap_server_config *cfg);

#endif
