/*
 * imapd: the imapd row of the master's service table. Translates the
 * service context (listeners the master bound, the TLS context, moat.conf)
 * into the mailstore's imap_server configuration and runs it; the IMAP
 * server itself lives in mailstore/imap_*.c, below the gateway.
 */
#include <stdlib.h>
#include <sys/stat.h>

#include "gateway/service.h"
#include "gateway/spam_learn.h"
#include "lib/xalloc.h"
#include "mailstore/imap_server.h"

int
imapd_run(struct service_context *ctx)
{
	const struct moat_settings *set = ctx->settings;
	struct imap_listener_config *listeners =
	    xcalloc(ctx->listener_count + 1, sizeof(*listeners));
	struct imap_server_config cfg = {0};
	char *train_dir = NULL;
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < ctx->listener_count; i++) {
		if (ctx->listeners[i].kind != LISTENER_IMAP &&
		    ctx->listeners[i].kind != LISTENER_IMAPS)
			continue;
		listeners[n].fd = ctx->listeners[i].fd;
		listeners[n].implicit_tls =
		    ctx->listeners[i].kind == LISTENER_IMAPS;
		listeners[n].address = ctx->listeners[i].address;
		n++;
	}
	cfg.data_dir = set->data_dir;
	cfg.hostname = set->hostname;
	cfg.tls_ctx = ctx->tls_ctx;
	cfg.listeners = listeners;
	cfg.listener_count = n;
	cfg.allow_plaintext_loopback = set->imap_allow_plaintext_loopback;
	cfg.max_connections = set->imap_max_connections;
	cfg.max_connections_per_ip = set->imap_max_connections_per_ip;
	cfg.idle_timeout = set->imap_idle_timeout;
	cfg.login_timeout = set->imap_login_timeout;
	cfg.write_timeout = set->imap_write_timeout;
	cfg.shutdown_timeout = set->smtp_shutdown_timeout;
	cfg.max_command_size = set->imap_max_command_size;
	cfg.max_message_size = set->smtp_max_message_size;
	cfg.quota = set->mailstore_quota;
	cfg.quarantine_user_filters = &set->quarantine_user_filters;
	if (spam_learn_enabled(set)) {
		char *spam_dir = xasprintf("%s/spam", set->data_dir);

		(void)mkdir(spam_dir, 0750);
		free(spam_dir);
		train_dir = spam_learn_spool_dir(set);
		cfg.train_dir = train_dir;
		cfg.train_max_pending =
		    (size_t)set->spam_user_training_max_pending;
		cfg.quarantine_learn = set->quarantine_learn_on_release;
	}
	rc = imap_server_run(&cfg);
	free(train_dir);
	free(listeners);
	return rc;
}
