/*
 * netaddr: listen and peer addresses. netaddr_parse() accepts numeric
 * "ipv4:port", "[ipv6]:port" and ":port" (all IPv4 addresses); host names
 * are refused so that configuration never depends on DNS at start-up.
 * netaddr_listen() makes the listening sockets the master hands to its
 * children: SO_REUSEADDR, IPV6_V6ONLY for IPv6, non-blocking, close-on-exec.
 */
#include "lib/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
netaddr_parse_port(const char *s, unsigned short *port_r)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v > 65535)
		return -1;
	*port_r = (unsigned short)v;
	return 0;
}

int
netaddr_parse(const char *text, struct netaddr *addr_r, const char **error_r)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *port_text;
	unsigned short port;
	size_t hostlen;
	bool v6 = false;

	memset(addr_r, 0, sizeof(*addr_r));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || close[1] != ':') {
			*error_r = "expected [ipv6]:port";
			return -1;
		}
		hostlen = (size_t)(close - text - 1);
		if (hostlen == 0 || hostlen >= sizeof(host)) {
			*error_r = "invalid IPv6 address";
			return -1;
		}
		memcpy(host, text + 1, hostlen);
		port_text = close + 2;
		v6 = true;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			*error_r = "missing ':port'";
			return -1;
		}
		if (memchr(text, ':', (size_t)(colon - text)) != NULL) {
			*error_r = "IPv6 addresses must be written [addr]:port";
			return -1;
		}
		hostlen = (size_t)(colon - text);
		if (hostlen >= sizeof(host)) {
			*error_r = "invalid IPv4 address";
			return -1;
		}
		memcpy(host, text, hostlen);
		port_text = colon + 1;
	}
	host[hostlen] = '\0';
	if (netaddr_parse_port(port_text, &port) < 0) {
		*error_r = "invalid port (0-65535)";
		return -1;
	}
	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr_r->ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*error_r = "invalid IPv6 address";
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		addr_r->len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&addr_r->ss;

		if (hostlen == 0) {
			sin->sin_addr.s_addr = htonl(INADDR_ANY);
		} else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			*error_r = "invalid IPv4 address (numeric only)";
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		addr_r->len = sizeof(*sin);
	}
	return 0;
}

const char *
netaddr_ip(const struct sockaddr *sa, char *out, size_t outsz)
{
	const void *src = NULL;

	if (outsz == 0)
		return out;
	if (sa->sa_family == AF_INET)
		src = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		src =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else if (sa->sa_family == AF_UNIX) {
		snprintf(out, outsz, "unix");
		return out;
	}
	if (src == NULL ||
	    inet_ntop(sa->sa_family, src, out, (socklen_t)outsz) == NULL)
		snprintf(out, outsz, "?");
	return out;
}

int
netaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(
		    ((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(
		    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return -1;
}

int
netaddr_listen(const struct netaddr *addr, int backlog)
{
	const struct sockaddr *sa = (const struct sockaddr *)&addr->ss;
	int fd, on = 1, saved;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0)
		goto fail;
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0)
		goto fail;
	if (bind(fd, sa, addr->len) < 0)
		goto fail;
	if (listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

bool
netaddr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		const uint8_t *b = sin6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && b[12] == 127;
	}
	return false;
}
