/*
 * netaddr: listen and peer addresses. Parses "host:port", "[v6]:port" and
 * ":port" (all addresses) and formats sockaddrs for logs and headers.
 */
#ifndef MOAT_NETADDR_H
#define MOAT_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct netaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Numeric hosts only. Returns 0 or -1 with *error_r (static text). */
int netaddr_parse(const char *text, struct netaddr *addr_r,
		  const char **error_r);
/* "192.0.2.1" / "2001:db8::1" into out. */
const char *netaddr_ip(const struct sockaddr *sa, char *out, size_t outsz);
int netaddr_port(const struct sockaddr *sa);
/* 127.0.0.0/8, ::1 or an IPv4-mapped 127.0.0.0/8. */
bool netaddr_is_loopback(const struct sockaddr *sa);
/* Bound, listening, non-blocking, close-on-exec socket; -1 on error. */
int netaddr_listen(const struct netaddr *addr, int backlog);

#endif
