/*
 * moatctl_dmarc: `moatctl dmarc report` (see moatctl_dmarc.h). Uses the
 * same builder as the report sender of the queue process
 * (dmarc_reporter_build), so what an admin looks at is what would be sent.
 */
#include "gateway/moatctl_dmarc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "filters/filter_log.h"
#include "gateway/dmarc_reporter.h"
#include "lib/db.h"
#include "lib/fileio.h"
#include "lib/xalloc.h"

int
moatctl_dmarc_parse_time(const char *text, long long *t_r)
{
	struct tm tm;
	const char *end;
	char *e;

	if (text[0] >= '0' && text[0] <= '9' && strchr(text, '-') == NULL) {
		long long v;

		errno = 0;
		v = strtoll(text, &e, 10);
		if (errno != 0 || *e != '\0' || v < 0)
			return -1;
		*t_r = v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(text, "%Y-%m-%d", &tm);
	if (end == NULL)
		return -1;
	if (*end == 'T' || *end == ' ') {
		const char *e2 = strptime(end + 1, "%H:%M:%S", &tm);

		if (e2 == NULL)
			e2 = strptime(end + 1, "%H:%M", &tm);
		if (e2 == NULL)
			return -1;
		end = e2;
	}
	if (*end == 'Z')
		end++;
	if (*end != '\0')
		return -1;
	*t_r = (long long)timegm(&tm);
	return 0;
}

static int
write_file(const char *dir, const char *name, const struct buf *data,
	   char **path_r)
{
	char *path = xasprintf("%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

	if (fd < 0 || fileio_write_all(fd, data->data, data->len) < 0) {
		fprintf(stderr, "moatctl: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(path);
		return -1;
	}
	close(fd);
	*path_r = path;
	return 0;
}

int
moatctl_dmarc(const struct moat_settings *settings, int argc, char **argv)
{
	const char *domain = NULL, *out = ".";
	long long from = 0, to = (long long)time(NULL) + 1;
	struct dmarc_history_slot *slots = NULL;
	size_t count = 0;
	sqlite3 *db = NULL;
	char *path, *error = NULL;
	int ret = 0;

	if (argc < 1 || strcmp(argv[0], "report") != 0)
		return -1;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			return -1;
		if (strcmp(argv[i], "--domain") == 0)
			domain = argv[++i];
		else if (strcmp(argv[i], "--out") == 0)
			out = argv[++i];
		else if (strcmp(argv[i], "--from") == 0) {
			if (moatctl_dmarc_parse_time(argv[++i], &from) < 0)
				return -1;
		} else if (strcmp(argv[i], "--to") == 0) {
			if (moatctl_dmarc_parse_time(argv[++i], &to) < 0)
				return -1;
		} else
			return -1;
	}
	if (from >= to) {
		fprintf(stderr, "moatctl: --from must be before --to\n");
		return 1;
	}
	path = dmarc_reporter_db_path(settings);
	if (filter_log_db_open(path, &db, &error) < 0) {
		fprintf(stderr, "moatctl: %s: %s\n", path, error);
		free(error);
		free(path);
		return 1;
	}
	free(path);
	if (dmarc_history_slots(db, domain, from, to,
				settings->dmarc_report_interval, &slots, &count,
				&error) < 0) {
		fprintf(stderr, "moatctl: %s\n", error);
		free(error);
		db_close(&db);
		return 1;
	}
	for (size_t i = 0; i < count; i++) {
		struct dmarc_built b;
		char *file = NULL;

		if (dmarc_reporter_build(db, settings, &slots[i], &b, &error) <
		    0) {
			fprintf(stderr, "moatctl: %s: %s\n",
				slots[i].policy_domain, error);
			x_free(&error);
			ret = 1;
			continue;
		}
		if (write_file(out, b.filename, &b.gz, &file) < 0) {
			ret = 1;
		} else {
			printf("%s domain=%s begin=%lld end=%lld records=%zu "
			       "messages=%llu xml_bytes=%zu gz_bytes=%zu\n",
			       file, slots[i].policy_domain, slots[i].begin,
			       slots[i].end - 1, b.data.count, b.messages,
			       b.xml.len, b.gz.len);
			free(file);
		}
		dmarc_built_clear(&b);
	}
	if (count == 0)
		printf("no DMARC report data in that range\n");
	dmarc_history_slots_free(&slots, count);
	db_close(&db);
	return ret;
}
