/*
 * log: one line per event, key=value friendly. In the foreground lines go to
 * stderr with a timestamp, otherwise to syslog (facility mail). Each line is
 * prefixed with the process name ("smtpd", "queue", ...). Callers stamp the
 * session and queue ids as "session=... qid=..." in the message.
 * log_warn()/log_error() append ": strerror(errno)"; the *x variants do not.
 * Strings that come from peers go through log_sanitize() first.
 */
#ifndef MOAT_LOG_H
#define MOAT_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

/* foreground: stderr instead of syslog. */
void log_init(const char *process, bool foreground, enum log_level min);
void log_set_process(const char *process);
void log_set_level(enum log_level min);
/* Parses "debug|info|warn|error"; -1 on unknown. */
int log_level_parse(const char *name, enum log_level *level_r);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log and exit(1): only at start-up and config load. */
void log_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void log_fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/*
 * Copies at most len bytes of a peer-supplied string into out (size outsz,
 * outsz > 0), replacing control characters, '"', '\\' and bytes >= 0x7f with
 * '?' and truncating with "..." when it does not fit. Returns out.
 */
const char *log_sanitize(const char *in, size_t len, char *out, size_t outsz);

#endif
