/*
 * pop3_service: pop3d_run(), the row of the master's service table that
 * serves POP3 (pop3.listen, STLS) and POP3S (pop3s.listen, implicit TLS).
 * It only translates the master's service context and moat.conf settings
 * into mailstore/pop3_server's settings, so that the mailstore never
 * includes gateway code.
 */
#include "gateway/service.h"

#include "lib/log.h"
#include "lib/xalloc.h"
#include "mailstore/pop3_server.h"

int
pop3d_run(struct service_context *ctx)
{
	const struct moat_settings *set = ctx->settings;
	struct pop3_settings ps;
	struct pop3_listener *listeners;
	int status;

	listeners = xcalloc(ctx->listener_count + 1, sizeof(*listeners));
	for (size_t i = 0; i < ctx->listener_count; i++) {
		listeners[i].fd = ctx->listeners[i].fd;
		listeners[i].implicit_tls =
		    ctx->listeners[i].kind == LISTENER_POP3S;
		listeners[i].address = ctx->listeners[i].address != NULL
					   ? ctx->listeners[i].address
					   : "?";
	}
	ps = (struct pop3_settings){
	    .data_dir = set->data_dir,
	    .hostname = set->hostname,
	    .tls_ctx = ctx->tls_ctx,
	    .listeners = listeners,
	    .listener_count = ctx->listener_count,
	    .max_connections = set->pop3_max_connections,
	    .max_connections_per_ip = set->pop3_max_connections_per_ip,
	    .login_timeout = set->pop3_login_timeout,
	    .idle_timeout = set->pop3_idle_timeout,
	    .allow_plaintext_loopback = set->pop3_allow_plaintext_loopback,
	};
	status = pop3_server_run(&ps);
	free(listeners);
	return status;
}
