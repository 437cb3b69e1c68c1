/*
 * queue_state: reading and writing the QID.state file of a deferred
 * message (format in the header). Unknown keys are ignored so later
 * versions can add some; values out of range are clamped or dropped.
 * Callers: delivery_remote (after every attempt), moatctl queue.
 */
#include "gateway/queue_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/xalloc.h"

int
queue_state_load(const char *dir, const char *qid, size_t rcpt_count,
		 struct queue_state *st)
{
	char *path = xasprintf("%s/%s.state", dir, qid);
	FILE *f = fopen(path, "re");
	char line[QUEUE_STATE_ERROR_MAX + 64];

	free(path);
	memset(st, 0, sizeof(*st));
	st->rcpt_count = rcpt_count;
	st->errors = xcalloc(rcpt_count + 1, sizeof(*st->errors));
	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *nl = strchr(line, '\n');
		char *end;

		if (nl != NULL)
			*nl = '\0';
		if (strncmp(line, "failures ", 9) == 0)
			st->failures =
			    (unsigned int)strtoul(line + 9, NULL, 10);
		else if (strncmp(line, "next ", 5) == 0)
			st->next = (time_t)strtoll(line + 5, NULL, 10);
		else if (strncmp(line, "warned ", 7) == 0)
			st->warned = line[7] == '1';
		else if (strncmp(line, "held ", 5) == 0)
			st->held = line[5] == '1';
		else if (strncmp(line, "error ", 6) == 0) {
			unsigned long i = strtoul(line + 6, &end, 10);

			if (end != line + 6 && *end == ' ' && i < rcpt_count)
				queue_state_set_error(st, i, end + 1);
		}
	}
	fclose(f);
	return 0;
}

int
queue_state_save(const char *dir, const char *qid, const struct queue_state *st)
{
	char *path = xasprintf("%s/%s.state", dir, qid);
	char *tmp = xasprintf("%s/%s.state.tmp", dir, qid);
	struct buf text;
	int fd, ret = -1;

	buf_init(&text);
	buf_printf(&text, "failures %u\nnext %lld\nwarned %d\nheld %d\n",
		   st->failures, (long long)st->next, st->warned ? 1 : 0,
		   st->held ? 1 : 0);
	for (size_t i = 0; i < st->rcpt_count; i++)
		if (st->errors[i] != NULL)
			buf_printf(&text, "error %zu %s\n", i, st->errors[i]);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (fileio_write_all(fd, buf_cstr(&text), text.len) == 0 &&
		    fsync(fd) == 0 && rename(tmp, path) == 0)
			ret = 0;
		close(fd);
	}
	if (ret < 0)
		(void)unlink(tmp);
	buf_free(&text);
	free(path);
	free(tmp);
	return ret;
}

void
queue_state_set_error(struct queue_state *st, size_t i, const char *text)
{
	size_t len;
	char *copy;

	if (i >= st->rcpt_count)
		return;
	len = strlen(text);
	if (len > QUEUE_STATE_ERROR_MAX)
		len = QUEUE_STATE_ERROR_MAX;
	copy = xstrndup(text, len);
	for (char *p = copy; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	free(st->errors[i]);
	st->errors[i] = copy;
}

void
queue_state_free(struct queue_state *st)
{
	if (st->errors != NULL)
		for (size_t i = 0; i < st->rcpt_count; i++)
			free(st->errors[i]);
	free(st->errors);
	memset(st, 0, sizeof(*st));
}
