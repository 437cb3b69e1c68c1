/*
 * moatctl_quarantine: the administrator's view of the quarantine store
 * (mailstore/store.h, "Quarantine"). A quarantined message is named by its
 * queue id (ID below); it has one entry per recipient.
 *
 *   list [--rcpt ADDR] [--json]   one line (or JSON object) per entry
 *   show ID                       summary, recipients, the message header
 *   release ID [--rcpt ADDR]      re-queue for normal delivery, without
 *                                 the filter chain, to the entries'
 *                                 recipients (or one), then drop them
 *   delete ID [--rcpt ADDR]       drop the entries (and the message)
 *
 * A release writes the new queue file durably before it removes the
 * entries, so a crash in between delivers once more rather than losing the
 * message. A release of mail the spam filter quarantined stages a ham
 * training request in the users' training spool (the same path as IMAP
 * moves out of Junk, applied by the spamlearn service) when
 * quarantine.learn_on_release is on and user training is enabled.
 */
#include "gateway/moatctl_quarantine.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "gateway/queue_file.h"
#include "gateway/spam_learn.h"
#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/xalloc.h"
#include "mailstore/store.h"
#include "mailstore/train_spool.h"

#define RELEASE_HEADER_READ (256 * 1024) /* header bytes `show` prints */

static void
format_time(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
json_string(struct buf *out, const char *s)
{
	buf_append_char(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';
	     p++) {
		if (*p == '"' || *p == '\\')
			buf_printf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			buf_printf(out, "\\u%04x", *p);
		else
			buf_append_char(out, (char)*p);
	}
	buf_append_char(out, '"');
}

/* Printable for a terminal: controls as '?'. */
static void
text_clean(struct buf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		buf_append_char(out, *p < 0x20 || *p == 0x7f ? '?' : (char)*p);
}

static int
cmd_list(struct store *store, const char *rcpt, bool json)
{
	struct store_quarantine_entry *list = NULL;
	size_t count = 0;
	char *error = NULL;
	struct buf out;

	if (store_quarantine_list(store, rcpt, NULL, &list, &count, &error) <
	    0) {
		fprintf(stderr, "moatctl: quarantine: %s\n", error);
		free(error);
		return 1;
	}
	buf_init(&out);
	if (json)
		buf_append_str(&out, "[");
	for (size_t i = 0; i < count; i++) {
		const struct store_quarantine_entry *e = &list[i];
		char received[32], expires[32];

		format_time(e->received, received);
		format_time(e->expires, expires);
		if (json) {
			buf_append_str(&out, i > 0 ? ",\n {" : "\n {");
			buf_append_str(&out, "\"id\": ");
			json_string(&out, e->qid);
			buf_printf(&out, ", \"entry\": %llu, \"rcpt\": ",
				   (unsigned long long)e->id);
			json_string(&out, e->rcpt);
			buf_append_str(&out, ", \"mail_from\": ");
			json_string(&out, e->mail_from);
			buf_append_str(&out, ", \"from\": ");
			json_string(&out, e->from);
			buf_append_str(&out, ", \"subject\": ");
			json_string(&out, e->subject);
			buf_printf(&out,
				   ", \"received\": %lld, \"expires\": %lld, "
				   "\"size\": %llu, \"score\": %.2f, "
				   "\"reason\": ",
				   (long long)e->received,
				   (long long)e->expires,
				   (unsigned long long)e->size, e->score);
			json_string(&out, e->reason);
			buf_append_str(&out, ", \"by\": ");
			json_string(&out, e->by);
			buf_append_str(&out, ", \"symbols\": ");
			json_string(&out, e->symbols);
			buf_append_str(&out, "}");
		} else {
			buf_printf(&out, "%s %llu %s %llu %s %.2f <", e->qid,
				   (unsigned long long)e->id, received,
				   (unsigned long long)e->size, e->by,
				   e->score);
			text_clean(&out, e->rcpt);
			buf_append_str(&out, "> from=<");
			text_clean(&out, e->mail_from);
			buf_append_str(&out, "> \"");
			text_clean(&out, e->subject);
			buf_append_str(&out, "\" reason=\"");
			text_clean(&out, e->reason);
			buf_append_str(&out, "\"\n");
		}
	}
	if (json)
		buf_append_str(&out, count > 0 ? "\n]\n" : "]\n");
	fputs(buf_cstr(&out), stdout);
	buf_free(&out);
	store_quarantine_entries_free(list, count);
	return 0;
}

/* The entries of message id, only rcpt's when rcpt is not NULL. 1 some,
 * 0 none (reported), -1 error (reported). */
static int
entries_of(struct store *store, const char *id, const char *rcpt,
	   struct store_quarantine_entry **list_r, size_t *count_r)
{
	char *error = NULL;

	if (!queue_id_valid(id)) {
		fprintf(stderr, "moatctl: quarantine: bad id %s\n", id);
		return 0;
	}
	if (store_quarantine_list(store, rcpt, id, list_r, count_r, &error) <
	    0) {
		fprintf(stderr, "moatctl: quarantine: %s\n", error);
		free(error);
		return -1;
	}
	if (*count_r == 0) {
		fprintf(stderr,
			"moatctl: quarantine: %s: no such message%s%s\n", id,
			rcpt != NULL ? " for " : "", rcpt != NULL ? rcpt : "");
		free(*list_r);
		*list_r = NULL;
		return 0;
	}
	return 1;
}

static int
cmd_show(struct store *store, const char *id)
{
	struct store_quarantine_entry *list = NULL;
	size_t count = 0;
	char received[32], expires[32];
	struct buf out;
	struct buf head;
	int rc = entries_of(store, id, NULL, &list, &count);

	if (rc <= 0)
		return 1;
	format_time(list[0].received, received);
	format_time(list[0].expires, expires);
	buf_init(&out);
	buf_printf(&out, "id: %s\nreceived: %s\nexpires: %s\nsize: %llu\n", id,
		   received, expires, (unsigned long long)list[0].size);
	buf_append_str(&out, "sender: <");
	text_clean(&out, list[0].mail_from);
	buf_append_str(&out, ">\nfrom: ");
	text_clean(&out, list[0].from);
	buf_append_str(&out, "\nsubject: ");
	text_clean(&out, list[0].subject);
	buf_append_str(&out, "\nreason: ");
	text_clean(&out, list[0].reason);
	buf_printf(&out, "\nby: %s\nscore: %.2f\nsymbols: ", list[0].by,
		   list[0].score);
	text_clean(&out, list[0].symbols);
	buf_append_str(&out, "\n");
	if (list[0].ret != NULL || list[0].envid != NULL) {
		buf_append_str(&out, "dsn:");
		if (list[0].ret != NULL) {
			buf_append_str(&out, " ret=");
			text_clean(&out, list[0].ret);
		}
		if (list[0].envid != NULL) {
			buf_append_str(&out, " envid=");
			text_clean(&out, list[0].envid);
		}
		buf_append_str(&out, "\n");
	}
	for (size_t i = 0; i < count; i++) {
		buf_printf(&out, "recipient: %llu <",
			   (unsigned long long)list[i].id);
		text_clean(&out, list[i].rcpt);
		buf_append_str(&out, ">");
		if (list[i].notify != NULL) {
			buf_append_str(&out, " notify=");
			text_clean(&out, list[i].notify);
		}
		if (list[i].orcpt != NULL) {
			buf_append_str(&out, " orcpt=");
			text_clean(&out, list[i].orcpt);
		}
		buf_append_str(&out, "\n");
	}
	buf_append_str(&out, "\n");
	buf_init(&head);
	if (fileio_read_all(list[0].path, 0, RELEASE_HEADER_READ, &head) == 0 ||
	    errno == EFBIG) {
		size_t end = head.len;

		for (size_t i = 0; i + 3 < head.len; i++)
			if (memcmp(head.data + i, "\r\n\r\n", 4) == 0) {
				end = i + 2;
				break;
			}
		buf_append(&out, head.data, end);
	} else {
		buf_printf(&out, "(message file unreadable: %s)\n",
			   strerror(errno));
	}
	fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
	buf_free(&head);
	store_quarantine_entries_free(list, count);
	return 0;
}

/* Asks the running queue to deliver qid now (it would find the file at
 * its next start or rescan anyway). While moatd runs (its control socket
 * exists) but the queue's socket is not there yet (the queue is
 * starting), tries again for up to 3 s. */
static void
queue_notify(const struct moat_settings *settings, const char *qid)
{
	struct sockaddr_un sun;
	char *path = xasprintf("%s/queue/control.sock", settings->data_dir);
	char *master = xasprintf("%s/moatd.sock", settings->data_dir);
	char line[64], reply[256];
	struct stat st;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	snprintf(line, sizeof(line), "deliver %s\n", qid);
	for (int attempt = 0; attempt < 60; attempt++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			break;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			if (fileio_write_all(fd, line, strlen(line)) == 0)
				while (read(fd, reply, sizeof(reply)) > 0)
					;
			close(fd);
			break;
		}
		close(fd);
		if (stat(master, &st) < 0)
			break; /* moatd is not running */
		usleep(50000);
	}
	free(path);
	free(master);
}

int
quarantine_release_enqueue(const struct moat_settings *settings,
			   const struct store_quarantine_entry *entries,
			   size_t count, const char *quarantine_id,
			   const char *who, char qid_r[32], char **error_r)
{
	const char *message_path = entries[0].path;
	struct queue_envelope env;
	struct buf head;
	char *queue_dir = xasprintf("%s/queue", settings->data_dir);
	char *tmp = NULL, *final = NULL;
	char trailer[QUEUE_TRAILER_LEN + 1], date[64];
	struct stat st;
	struct tm tm;
	time_t now = time(NULL);
	off_t off = 0;
	size_t added, total;
	int in = -1, out = -1, ret = -1;

	memset(&env, 0, sizeof(env));
	buf_init(&head);
	in = open(message_path, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0) {
		*error_r = xasprintf("%s: %s", message_path, strerror(errno));
		goto out;
	}
	queue_id_new(env.qid);
	env.mail_from = xstrdup(entries[0].mail_from);
	env.ret = entries[0].ret != NULL ? xstrdup(entries[0].ret) : NULL;
	env.envid = entries[0].envid != NULL ? xstrdup(entries[0].envid) : NULL;
	env.arrival = now;
	for (size_t i = 0; i < count; i++)
		queue_envelope_add_rcpt(&env, entries[i].rcpt,
					entries[i].notify, entries[i].orcpt);
	queue_envelope_encode(&env, &head);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	added = head.len;
	buf_printf(&head,
		   "X-Moat-Released: by %s via moatctl (quarantine %s); %s\r\n",
		   who, quarantine_id, date);
	added = head.len - added;
	total = added + (size_t)st.st_size;
	tmp = xasprintf("%s/%s.release", queue_dir, env.qid);
	final = xasprintf("%s/%s", queue_dir, env.qid);
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		   QUEUE_FILE_MODE_WRITING);
	if (out < 0 || fileio_write_all(out, head.data, head.len) < 0) {
		*error_r = xasprintf("%s: %s", tmp, strerror(errno));
		goto out;
	}
	while ((off_t)off < st.st_size) {
		char chunk[65536];
		ssize_t n = pread(in, chunk, sizeof(chunk), off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || fileio_write_all(out, chunk, (size_t)n) < 0) {
			*error_r =
			    xasprintf("copying %s: %s", message_path,
				      n == 0 ? "short read" : strerror(errno));
			goto out;
		}
		off += n;
	}
	queue_trailer_format(total, trailer);
	if (fileio_write_all(out, trailer, QUEUE_TRAILER_LEN) < 0 ||
	    queue_file_mark_ready(out) < 0 || fsync(out) < 0 ||
	    rename(tmp, final) < 0 || fileio_sync_dir(queue_dir) < 0) {
		*error_r = xasprintf("%s: %s", final, strerror(errno));
		goto out;
	}
	snprintf(qid_r, 32, "%s", env.qid);
	ret = 0;
	queue_notify(settings, env.qid);
out:
	if (ret < 0 && tmp != NULL)
		(void)unlink(tmp);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	queue_envelope_free(&env);
	buf_free(&head);
	free(tmp);
	free(final);
	free(queue_dir);
	return ret;
}

/* The administrator who runs moatctl, for the X-Moat-Released header:
 * $SUDO_USER, else the login name (the environment survives moatctl's
 * switch to the daemon's user), reduced to safe characters. */
static void
release_who(char out[64])
{
	const char *names[] = {"SUDO_USER", "USER", "LOGNAME"};
	const char *who = NULL;
	size_t o = 0;

	for (size_t i = 0; i < 3 && who == NULL; i++) {
		who = getenv(names[i]);
		if (who != NULL && who[0] == '\0')
			who = NULL;
	}
	if (who == NULL) {
		struct passwd *pw = getpwuid(getuid());

		who = pw != NULL ? pw->pw_name : "unknown";
	}
	for (const char *p = who; *p != '\0' && o < 63; p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("._@-", *p) != NULL)
			out[o++] = *p;
	if (o == 0)
		memcpy(out, "unknown", (o = 7));
	out[o] = '\0';
}

/* Stages a ham request for the released message (spam quarantine only). */
static void
release_train(const struct moat_settings *settings,
	      const struct store_quarantine_entry *e)
{
	struct train_spool *spool = NULL;
	struct train_batch *b;
	char *dir, *spam_dir, *error = NULL;

	if (!settings->quarantine_learn_on_release ||
	    !spam_learn_enabled(settings) || strcmp(e->by, "spam") != 0)
		return;
	spam_dir = xasprintf("%s/spam", settings->data_dir);
	(void)mkdir(spam_dir, 0750);
	free(spam_dir);
	dir = spam_learn_spool_dir(settings);
	if (train_spool_open(dir,
			     (size_t)settings->spam_user_training_max_pending,
			     &spool, &error) < 0) {
		fprintf(stderr, "moatctl: quarantine: training: %s\n", error);
		free(error);
		free(dir);
		return;
	}
	free(dir);
	b = train_batch_new(
	    spool, train_request_valid_user(e->rcpt) ? e->rcpt : "postmaster",
	    "Quarantine", TRAIN_HAM, TRAIN_REASON_RELEASE);
	if (b == NULL) {
		train_spool_free(&spool);
		return;
	}
	if (train_batch_add(b, (uint32_t)e->id, e->path, NULL, 0, &error) < 0) {
		train_batch_abort(&b);
	} else if (train_batch_commit(&b, &error) == 0) {
		printf("%s: learning as ham (spam quarantine)\n", e->qid);
	}
	if (error != NULL) {
		fprintf(stderr, "moatctl: quarantine: training: %s\n", error);
		free(error);
	}
	train_spool_free(&spool);
}

static int
cmd_release(const struct moat_settings *settings, struct store *store,
	    const char *id, const char *rcpt, bool release)
{
	struct store_quarantine_entry *list = NULL;
	size_t count = 0;
	uint64_t *ids;
	char *error = NULL;
	char qid[32], who[64];
	int rc = entries_of(store, id, rcpt, &list, &count), ret = 0;

	if (rc <= 0)
		return 1;
	ids = xcalloc(count, sizeof(*ids));
	for (size_t i = 0; i < count; i++)
		ids[i] = list[i].id;
	if (release) {
		release_who(who);
		if (quarantine_release_enqueue(settings, list, count, id, who,
					       qid, &error) < 0) {
			fprintf(stderr, "moatctl: quarantine: %s\n", error);
			free(error);
			ret = 1;
			goto out;
		}
		release_train(settings, &list[0]);
	}
	if (store_quarantine_remove(store, ids, count, &error) < 0) {
		fprintf(stderr, "moatctl: quarantine: %s\n", error);
		free(error);
		ret = 1;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		if (release)
			printf("%s: released to <%s> as %s\n", id, list[i].rcpt,
			       qid);
		else
			printf("%s: deleted for <%s>\n", id, list[i].rcpt);
	}
out:
	free(ids);
	store_quarantine_entries_free(list, count);
	return ret;
}

int
moatctl_quarantine(const struct moat_settings *settings, int argc, char **argv)
{
	const char *rcpt = NULL, *id = NULL;
	struct store *store = NULL;
	char *error = NULL;
	bool json = false;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rcpt") == 0 && i + 1 < argc)
			rcpt = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (argv[i][0] != '-' && id == NULL)
			id = argv[i];
		else
			return -1;
	}
	if (strcmp(argv[0], "list") == 0 ? id != NULL : id == NULL || json)
		return -1;
	if (strcmp(argv[0], "show") == 0 && rcpt != NULL)
		return -1;
	if (store_open(settings->data_dir, &store, &error) < 0) {
		fprintf(stderr, "moatctl: %s\n", error);
		free(error);
		return 1;
	}
	if (strcmp(argv[0], "list") == 0)
		ret = cmd_list(store, rcpt, json);
	else if (strcmp(argv[0], "show") == 0)
		ret = cmd_show(store, id);
	else if (strcmp(argv[0], "release") == 0)
		ret = cmd_release(settings, store, id, rcpt, true);
	else if (strcmp(argv[0], "delete") == 0)
		ret = cmd_release(settings, store, id, rcpt, false);
	else
		ret = -1;
	store_close(&store);
	return ret;
}
