/*
 * log: the process-wide logger. In the foreground each line goes to stderr
 * as "2026-01-02T03:04:05.678Z moat/<process>[pid]: <level> <message>\n";
 * otherwise to syslog (facility LOG_MAIL, ident "moat/<process>", LOG_PID).
 * Thread safety: a line is formatted into a local buffer and written with a
 * single write(2), so lines from different threads never interleave; the
 * configuration (process name, level, destination) is set at start-up by
 * log_init() before threads exist. Lines are capped at LOG_LINE_MAX bytes
 * and newlines inside a message are replaced so one event stays one line.
 * Used by every area; the master calls log_init() before forking children
 * and each child calls log_set_process().
 */
#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 8192

enum log_prio {
	LOG_PRIO_DEBUG,
	LOG_PRIO_INFO,
	LOG_PRIO_WARN,
	LOG_PRIO_ERROR,
	LOG_PRIO_FATAL,
};

static const char *const log_prio_names[] = {"debug", "info", "warn", "error",
					     "fatal"};
static const int log_prio_syslog[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR,
				      LOG_CRIT};

static char log_process[64] = "moat";
static char log_ident[80] = "moat/moat";
static bool log_foreground = true;
static bool log_syslog_open;
static enum log_level log_min = LOG_LEVEL_INFO;

static void
log_open_syslog(void)
{
	if (log_foreground)
		return;
	if (log_syslog_open)
		closelog();
	snprintf(log_ident, sizeof(log_ident), "moat/%s", log_process);
	openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	log_syslog_open = true;
}

void
log_init(const char *process, bool foreground, enum log_level min)
{
	snprintf(log_process, sizeof(log_process), "%s", process);
	log_foreground = foreground;
	log_min = min;
	log_open_syslog();
}

void
log_set_process(const char *process)
{
	snprintf(log_process, sizeof(log_process), "%s", process);
	log_open_syslog();
}

void
log_set_level(enum log_level min)
{
	log_min = min;
}

int
log_level_parse(const char *name, enum log_level *level_r)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
	    {"debug", LOG_LEVEL_DEBUG}, {"info", LOG_LEVEL_INFO},
	    {"warn", LOG_LEVEL_WARN},	{"warning", LOG_LEVEL_WARN},
	    {"error", LOG_LEVEL_ERROR},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*level_r = names[i].level;
			return 0;
		}
	}
	return -1;
}

static void
log_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

static void __attribute__((format(printf, 3, 0)))
log_emit(enum log_prio prio, bool with_errno, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	char errbuf[256];
	const char *errstr = NULL;
	size_t len = 0, msg_start;
	int saved_errno = errno;
	int n;

	if (prio < LOG_PRIO_FATAL && (int)prio < (int)log_min)
		return;
	if (with_errno)
		errstr = strerror_r(saved_errno, errbuf, sizeof(errbuf));

	if (log_foreground) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line),
			     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ "
			     "moat/%s[%ld]: %s ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			     tm.tm_hour, tm.tm_min, tm.tm_sec,
			     ts.tv_nsec / 1000000L, log_process, (long)getpid(),
			     log_prio_names[prio]);
		if (n > 0)
			len = (size_t)n < sizeof(line) ? (size_t)n
						       : sizeof(line) - 1;
	}
	msg_start = len;
	/* Leave room for ": strerror", "...", the newline and the NUL. */
	n = vsnprintf(line + len, sizeof(line) - len - 300, fmt, ap);
	if (n > 0) {
		if ((size_t)n >= sizeof(line) - len - 300) {
			len = sizeof(line) - 301;
			memcpy(line + len, "...", 3);
			len += 3;
		} else {
			len += (size_t)n;
		}
	}
	for (size_t i = msg_start; i < len; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	if (errstr != NULL) {
		n = snprintf(line + len, sizeof(line) - len - 2, ": %s",
			     errstr);
		if (n > 0)
			len += (size_t)n < sizeof(line) - len - 2
				   ? (size_t)n
				   : sizeof(line) - len - 3;
	}
	line[len] = '\0';

	if (log_foreground) {
		line[len++] = '\n';
		log_write_all(STDERR_FILENO, line, len);
	} else {
		syslog(log_prio_syslog[prio], "%s", line + msg_start);
	}
	errno = saved_errno;
}

#define LOG_FN(fn, prio, with_errno)                                           \
	void fn(const char *fmt, ...)                                          \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_emit(prio, with_errno, fmt, ap);                           \
		va_end(ap);                                                    \
	}

LOG_FN(log_debug, LOG_PRIO_DEBUG, false)
LOG_FN(log_info, LOG_PRIO_INFO, false)
LOG_FN(log_warn, LOG_PRIO_WARN, true)
LOG_FN(log_warnx, LOG_PRIO_WARN, false)
LOG_FN(log_error, LOG_PRIO_ERROR, true)
LOG_FN(log_errorx, LOG_PRIO_ERROR, false)

void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_PRIO_FATAL, true, fmt, ap);
	va_end(ap);
	exit(1);
}

void
log_fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_PRIO_FATAL, false, fmt, ap);
	va_end(ap);
	exit(1);
}

const char *
log_sanitize(const char *in, size_t len, char *out, size_t outsz)
{
	size_t i, o = 0;

	if (outsz == 0)
		return out;
	for (i = 0; i < len && in[i] != '\0'; i++) {
		unsigned char c = (unsigned char)in[i];

		if (o + 1 >= outsz) {
			/* Does not fit: end with "..." when there is room. */
			if (outsz >= 4) {
				o = outsz - 4;
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			c = '?';
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}
