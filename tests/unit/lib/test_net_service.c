/*
 * Unit tests for lib/net_service.c: connections reach the accept callback
 * with their listener's tag, and SIGTERM closes the listeners, tells the
 * sessions and ends the loop once the stop timeout passes with sessions
 * still open (or at once when the service's sessions end themselves).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/net_service.h"

struct fake_server {
	struct event_base *base;
	int accepted[4];
	int tags[4];
	size_t accept_count;
	size_t open_sessions;
	int stop_calls;
	bool end_sessions_on_stop;
};

static void
on_accept(void *server, int fd, const struct sockaddr *sa, int tag)
{
	struct fake_server *fs = server;

	assert_non_null(sa);
	assert_int_equal(sa->sa_family, AF_INET);
	if (fs->accept_count < 4) {
		fs->accepted[fs->accept_count] = fd;
		fs->tags[fs->accept_count] = tag;
		fs->accept_count++;
	} else {
		close(fd);
	}
	fs->open_sessions++;
}

static void
on_stop(void *server)
{
	struct fake_server *fs = server;

	fs->stop_calls++;
	if (fs->end_sessions_on_stop) {
		fs->open_sessions = 0;
		event_base_loopexit(fs->base, NULL);
	}
}

static size_t
on_count(void *server)
{
	return ((struct fake_server *)server)->open_sessions;
}

/* A listening loopback socket on an ephemeral port; its port in *port_r. */
static int
listen_loopback(uint16_t *port_r)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port_r = ntohs(sin.sin_port);
	return fd;
}

static int
connect_loopback(uint16_t port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void
raise_term(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	raise(SIGTERM);
}

/* Two listeners with distinct tags, one connection each, then SIGTERM. */
static void
run_service(struct fake_server *fs, unsigned int stop_timeout)
{
	struct net_service_ops ops = {fs, on_accept, on_stop, on_count};
	struct net_service *svc;
	struct event *term;
	struct timeval soon = {0, 200000};
	uint16_t port_a, port_b;
	int la = listen_loopback(&port_a), lb = listen_loopback(&port_b);
	int ca, cb;

	assert_int_equal(net_service_prepare(), 0);
	fs->base = event_base_new();
	assert_non_null(fs->base);
	svc = net_service_new(fs->base, &ops, stop_timeout);
	assert_int_equal(net_service_listen(svc, la, 7, "a", "implicit"), 0);
	assert_int_equal(net_service_listen(svc, lb, 9, "b", NULL), 0);
	assert_false(net_service_stopping(svc));
	ca = connect_loopback(port_a);
	cb = connect_loopback(port_b);
	term = evtimer_new(fs->base, raise_term, NULL);
	evtimer_add(term, &soon);
	assert_int_equal(net_service_dispatch(svc), 0);
	assert_true(net_service_stopping(svc));
	event_free(term);
	net_service_free(&svc);
	assert_null(svc);
	event_base_free(fs->base);
	for (size_t i = 0; i < fs->accept_count; i++)
		close(fs->accepted[i]);
	close(ca);
	close(cb);
	close(la);
	close(lb);
}

static void
test_accept_tags_and_stop_timeout(void **state)
{
	struct fake_server fs;

	(void)state;
	memset(&fs, 0, sizeof(fs));
	run_service(&fs, 1);
	assert_int_equal(fs.accept_count, 2);
	/* accept order follows readiness, so compare as a set */
	assert_int_equal(fs.tags[0] + fs.tags[1], 16);
	assert_true(fs.tags[0] == 7 || fs.tags[0] == 9);
	assert_int_equal(fs.stop_calls, 1);
	/* the loop ended by the stop timer: sessions were still "open" */
	assert_int_equal(fs.open_sessions, 2);
}

static void
test_sessions_end_before_timeout(void **state)
{
	struct fake_server fs;

	(void)state;
	memset(&fs, 0, sizeof(fs));
	fs.end_sessions_on_stop = true;
	run_service(&fs, 600);
	assert_int_equal(fs.accept_count, 2);
	assert_int_equal(fs.stop_calls, 1);
	assert_int_equal(fs.open_sessions, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accept_tags_and_stop_timeout),
	    cmocka_unit_test(test_sessions_end_before_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
