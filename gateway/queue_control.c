/*
 * queue_control: the listener behind `moatctl queue` (see the header). One
 * line per connection, at most 256 bytes, answered and closed; a client
 * that says nothing for 10 s is dropped. Connections are tracked so that
 * a stop frees them.
 */
#include "gateway/queue_control.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gateway/delivery_remote.h"
#include "gateway/queue_file.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define CONTROL_LINE_MAX 256

struct control_client {
	struct control_client *prev, *next;
	struct queue_control *qc;
	struct bufferevent *bev;
};

struct queue_control {
	struct event_base *base;
	struct evconnlistener *listener;
	struct delivery_remote *remote;
	struct control_client *clients;
	char *path;
	queue_control_enqueue_fn *enqueue;
	void *enqueue_context;
};

static void
client_free(struct control_client *cc)
{
	struct queue_control *qc = cc->qc;

	if (cc->prev != NULL)
		cc->prev->next = cc->next;
	else
		qc->clients = cc->next;
	if (cc->next != NULL)
		cc->next->prev = cc->prev;
	bufferevent_free(cc->bev);
	free(cc);
}

static void
on_written(struct bufferevent *bev, void *arg)
{
	struct control_client *cc = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		client_free(cc);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct control_client *cc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct buf reply;
	size_t len;
	char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);

	if (line == NULL) {
		if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
			client_free(cc);
		return;
	}
	buf_init(&reply);
	if (len > CONTROL_LINE_MAX)
		buf_append_str(&reply, "ERR command too long\n");
	else if (strncmp(line, "deliver ", 8) == 0 && cc->qc->enqueue != NULL) {
		if (queue_id_valid(line + 8)) {
			char qid[QUEUE_ID_MAX] = {
			    0}; /* the callee copies all */

			memcpy(qid, line + 8, strlen(line + 8));
			cc->qc->enqueue(qid, cc->qc->enqueue_context);
			buf_printf(&reply, "%s: queued\nOK\n", qid);
		} else {
			buf_append_str(&reply, "bad queue id\nERR\n");
		}
	} else if (delivery_remote_command(cc->qc->remote, line, &reply) == 0)
		buf_append_str(&reply, "OK\n");
	else
		buf_append_str(&reply, "ERR\n");
	free(line);
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, on_written, NULL, cc);
	bufferevent_write(bev, reply.data, reply.len);
	buf_free(&reply);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	client_free(arg);
}

static void
on_accept(struct evconnlistener *listener, evutil_socket_t fd,
	  struct sockaddr *sa, int socklen, void *arg)
{
	struct queue_control *qc = arg;
	struct control_client *cc = xcalloc(1, sizeof(*cc));
	struct timeval tv = {10, 0};

	(void)listener;
	(void)sa;
	(void)socklen;
	cc->qc = qc;
	cc->bev = bufferevent_socket_new(qc->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (cc->bev == NULL) {
		close(fd);
		free(cc);
		return;
	}
	cc->next = qc->clients;
	if (cc->next != NULL)
		cc->next->prev = cc;
	qc->clients = cc;
	bufferevent_setcb(cc->bev, on_read, NULL, on_event, cc);
	bufferevent_set_timeouts(cc->bev, &tv, &tv);
	bufferevent_enable(cc->bev, EV_READ);
}

struct queue_control *
queue_control_new(struct event_base *base, const char *data_dir,
		  struct delivery_remote *remote, char **error_r)
{
	struct queue_control *qc = xcalloc(1, sizeof(*qc));
	struct sockaddr_un sun;

	qc->base = base;
	qc->remote = remote;
	qc->path = xasprintf("%s/queue/control.sock", data_dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(qc->path) >= sizeof(sun.sun_path)) {
		*error_r = xasprintf("%s: path too long", qc->path);
		free(qc->path);
		free(qc);
		return NULL;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", qc->path);
	(void)unlink(qc->path);
	qc->listener = evconnlistener_new_bind(
	    base, on_accept, qc, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    16, (struct sockaddr *)&sun, (int)sizeof(sun));
	if (qc->listener == NULL) {
		*error_r = xasprintf("%s: %s", qc->path, strerror(errno));
		free(qc->path);
		free(qc);
		return NULL;
	}
	(void)chmod(qc->path, 0660);
	return qc;
}

void
queue_control_free(struct queue_control **qcp)
{
	struct queue_control *qc = *qcp;

	if (qc == NULL)
		return;
	while (qc->clients != NULL)
		client_free(qc->clients);
	evconnlistener_free(qc->listener);
	(void)unlink(qc->path);
	free(qc->path);
	x_free(qcp);
}

void
queue_control_set_enqueue(struct queue_control *qc,
			  queue_control_enqueue_fn *fn, void *context)
{
	qc->enqueue = fn;
	qc->enqueue_context = context;
}
