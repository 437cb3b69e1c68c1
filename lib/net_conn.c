/*
 * net_conn: connection plumbing shared by smtpd, imapd and pop3d (see
 * net_conn.h): bufferevents for accepted sockets, the STARTTLS upgrade,
 * pending output through a TLS filter, TLS error logs, session ids.
 */
#include "lib/net_conn.h"

#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "lib/log.h"

struct bufferevent *
net_conn_open(struct event_base *base, int fd, SSL_CTX *tls_ctx, const char *ip)
{
	struct bufferevent *bev;

	evutil_make_socket_nonblocking(fd);
	if (tls_ctx != NULL) {
		SSL *ssl = SSL_new(tls_ctx);

		if (ssl == NULL) {
			log_errorx("event=tls_unavailable ip=%s", ip);
			close(fd);
			return NULL;
		}
		bev = bufferevent_openssl_socket_new(base, fd, ssl,
						     BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
	} else {
		bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (bev == NULL) {
		log_errorx("event=bufferevent_failed ip=%s", ip);
		close(fd);
	}
	return bev;
}

struct bufferevent *
net_conn_starttls(struct event_base *base, struct bufferevent *bev, SSL *ssl,
		  const char *session_id, const char *label)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct bufferevent *tls_bev;

	if (evbuffer_get_length(in) > 0) {
		log_info("session=%s event=%s_injection bytes=%zu", session_id,
			 label, evbuffer_get_length(in));
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	tls_bev = bufferevent_openssl_filter_new(
	    base, bev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls_bev == NULL)
		SSL_free(ssl);
	return tls_bev;
}

size_t
net_conn_output_pending(struct bufferevent *bev)
{
	struct bufferevent *under;
	size_t n;

	if (bev == NULL)
		return 0;
	n = evbuffer_get_length(bufferevent_get_output(bev));
	under = bufferevent_get_underlying(bev);
	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

void
net_conn_log_tls_errors(struct bufferevent *bev, const char *session_id)
{
	unsigned long err;

	while ((err = bufferevent_get_openssl_error(bev)) != 0) {
		char msg[256];

		ERR_error_string_n(err, msg, sizeof(msg));
		log_info("session=%s event=tls_error error=\"%s\"", session_id,
			 msg);
	}
}

void
net_conn_session_id(char *out, size_t size, unsigned long *counter)
{
	snprintf(out, size, "%05lX%05lX", (unsigned long)time(NULL) & 0xfffff,
		 (*counter)++ & 0xfffff);
}

void
net_conn_refuse(int fd, const char *reply)
{
	if (reply != NULL)
		(void)!send(fd, reply, strlen(reply),
			    MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}
