/*
 * master_control: a tiny line protocol on a Unix stream socket. Each client
 * gets one command (at most 256 bytes, 5 s to send it), one reply, EOF.
 * The reply is produced by the master's handler and written with
 * bufferevents so that a slow client never blocks the master.
 */
#include <sys/types.h>

#include "gateway/master_control.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"

#define CONTROL_MAX_LINE 256

struct master_control {
	struct evconnlistener *listener;
	char *path;
	master_control_handler_fn *handler;
	void *context;
};

static void
control_client_close(struct bufferevent *bev)
{
	bufferevent_free(bev);
}

static void
control_client_written(struct bufferevent *bev, void *arg)
{
	(void)arg;
	control_client_close(bev);
}

static void
control_client_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	(void)arg;
	control_client_close(bev);
}

static void
control_client_read(struct bufferevent *bev, void *arg)
{
	struct master_control *control = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct buf reply;
	size_t len;
	char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);

	if (line == NULL) {
		if (evbuffer_get_length(in) > CONTROL_MAX_LINE)
			control_client_close(bev);
		return;
	}
	buf_init(&reply);
	if (len > CONTROL_MAX_LINE || memchr(line, '\0', len) != NULL)
		buf_append_str(&reply, "error: bad command\n");
	else
		control->handler(line, &reply, control->context);
	free(line);
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, control_client_written,
			  control_client_event, control);
	bufferevent_write(bev, reply.data != NULL ? reply.data : "", reply.len);
	buf_free(&reply);
}

static void
control_accept(struct evconnlistener *listener, evutil_socket_t fd,
	       struct sockaddr *sa, int socklen, void *arg)
{
	struct bufferevent *bev;
	struct timeval timeout = {5, 0};

	(void)sa;
	(void)socklen;
	bev = bufferevent_socket_new(evconnlistener_get_base(listener), fd,
				     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, control_client_read, NULL, control_client_event,
			  arg);
	bufferevent_set_timeouts(bev, &timeout, &timeout);
	bufferevent_enable(bev, EV_READ);
}

struct master_control *
master_control_new(struct event_base *base, const char *path, gid_t gid,
		   master_control_handler_fn *handler, void *context,
		   char **error_r)
{
	struct master_control *control;
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*error_r = xasprintf("control socket path too long: %s", path);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = xasprintf("socket: %s", strerror(errno));
		return NULL;
	}
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, 0660) < 0 ||
	    (geteuid() == 0 && chown(path, 0, gid) < 0) || listen(fd, 16) < 0) {
		*error_r =
		    xasprintf("control socket %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	control = xcalloc(1, sizeof(*control));
	control->path = xstrdup(path);
	control->handler = handler;
	control->context = context;
	control->listener = evconnlistener_new(
	    base, control_accept, control,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (control->listener == NULL) {
		*error_r = xstrdup("evconnlistener_new failed");
		close(fd);
		free(control->path);
		free(control);
		return NULL;
	}
	return control;
}

void
master_control_free(struct master_control **controlp)
{
	struct master_control *control = *controlp;

	if (control == NULL)
		return;
	evconnlistener_free(control->listener);
	(void)unlink(control->path);
	free(control->path);
	x_free(controlp);
}

int
master_control_fd(const struct master_control *control)
{
	return evconnlistener_get_fd(control->listener);
}
