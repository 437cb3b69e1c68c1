/*
 * delivery_admin: the queue commands of moatctl, carried out inside the
 * queue process (queue_control.c hands them over), so they never race with
 * an attempt: a message in flight is marked and its attempt applies the
 * mark when it ends. Replies are text lines for the administrator.
 */
#include <stdio.h>
#include <string.h>

#include "gateway/delivery_remote.h"
#include "gateway/delivery_remote_private.h"
#include <event2/event.h>

#include "lib/log.h"

static int
set_held(struct delivery_remote *dr, struct rmsg *m, bool held, struct buf *out)
{
	struct queue_state st;

	m->held = held;
	if (!held)
		m->next = 0;
	if (m->busy) /* attempt_finish applies m->held */
		return 0;
	(void)queue_state_load(dr->deferred_dir, m->qid, 0, &st);
	st.held = held;
	if (!held)
		st.next = 0;
	if (queue_state_save(dr->deferred_dir, m->qid, &st) < 0) {
		buf_printf(out, "%s: cannot save the state\n", m->qid);
		queue_state_free(&st);
		return -1;
	}
	queue_state_free(&st);
	return 0;
}

int
delivery_remote_command(struct delivery_remote *dr, const char *line,
			struct buf *out)
{
	char verb[16], qid[QUEUE_ID_MAX + 8];
	struct rmsg *m = NULL;
	int n;

	qid[0] = '\0';
	n = sscanf(line, "%15s %28s", verb, qid);
	if (n < 1) {
		buf_append_str(out, "empty command\n");
		return -1;
	}
	if (strcmp(verb, "summary") == 0) {
		size_t held = 0;

		for (size_t i = 0; i < dr->nmsgs; i++)
			if (dr->msgs[i].held)
				held++;
		buf_printf(out,
			   "remote waiting=%zu held=%zu in_flight=%zu "
			   "connections=%zu\n",
			   dr->nmsgs - held, held, dr->in_flight,
			   dr->active_conns);
		return 0;
	}
	if (strcmp(verb, "flush") == 0) {
		size_t count = 0;

		delivery_scan_deferred(dr);
		for (size_t i = 0; i < dr->nmsgs; i++)
			if (!dr->msgs[i].held) {
				dr->msgs[i].next = 0;
				count++;
			}
		event_active(dr->work, 0, 0);
		buf_printf(out, "flushing %zu messages\n", count);
		return 0;
	}
	if (n == 2) {
		m = delivery_rmsg_find(dr, qid);
		if (m == NULL) {
			delivery_scan_deferred(dr);
			m = delivery_rmsg_find(dr, qid);
		}
	}
	if (m == NULL) {
		buf_printf(out, "%s: no such deferred message\n",
			   n == 2 ? qid : "(none)");
		return -1;
	}
	if (strcmp(verb, "retry") == 0) {
		if (m->held) {
			buf_printf(out, "%s: held (release it first)\n", qid);
			return -1;
		}
		m->next = 0;
		event_active(dr->work, 0, 0);
		buf_printf(out, "%s: retrying now\n", qid);
		return 0;
	}
	if (strcmp(verb, "hold") == 0) {
		if (set_held(dr, m, true, out) < 0)
			return -1;
		buf_printf(out, "%s: held\n", qid);
		return 0;
	}
	if (strcmp(verb, "release") == 0) {
		if (set_held(dr, m, false, out) < 0)
			return -1;
		event_active(dr->work, 0, 0);
		buf_printf(out, "%s: released\n", qid);
		return 0;
	}
	if (strcmp(verb, "delete") == 0) {
		if (m->busy) {
			m->deleted = true;
		} else {
			delivery_remove_files(dr, qid);
			delivery_rmsg_remove(dr, qid);
		}
		log_info("qid=%s status=deleted reason=\"moatctl queue "
			 "delete\"",
			 qid);
		buf_printf(out, "%s: deleted\n", qid);
		return 0;
	}
	buf_printf(out, "unknown command %s\n", verb);
	return -1;
}
