/*
 * auth_throttle: slows down password guessing per client address. Each
 * failed login from an address raises the delay before the failure is
 * answered (base, base, 2 x base, 2 x base, 4 x base ... up to a maximum), and
 * a new attempt from an address that is still inside its penalty waits until
 * the penalty has passed, so parallel connections do not multiply the guessing
 * rate. A successful login clears the address; an address with no failure for
 * forget_s seconds is forgotten. IPv6 addresses count per /64.
 *
 * Memory is bounded: a fixed table of `capacity` entries (32 bytes each);
 * when it is full the entry with the oldest failure in the probe window is
 * replaced. One table per service process (smtpd, imapd, pop3d), used on
 * its event loop only (not thread-safe).
 */
#ifndef MOAT_AUTH_THROTTLE_H
#define MOAT_AUTH_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

struct auth_throttle;

struct auth_throttle_settings {
	size_t capacity;       /* entries, rounded up to a power of two */
	unsigned int base_ms;  /* delay after the first failure */
	unsigned int max_ms;   /* delay ceiling */
	unsigned int forget_s; /* an address is forgotten after this */
};

/* 4096 entries, 1 s, 16 s, 15 minutes. */
extern const struct auth_throttle_settings auth_throttle_defaults;

/* set NULL: auth_throttle_defaults. */
struct auth_throttle *
auth_throttle_new(const struct auth_throttle_settings *set);
void auth_throttle_free(struct auth_throttle **t);

/* Milliseconds on a monotonic clock, for the now_ms arguments. */
uint64_t auth_throttle_now_ms(void);

/*
 * How long (ms) a login attempt from ip should wait before its password is
 * checked: 0 unless an earlier failure's penalty is still running. ip is a
 * numeric address ("192.0.2.1", "2001:db8::1"); anything else is keyed by
 * its text.
 */
unsigned int auth_throttle_wait_ms(struct auth_throttle *t, const char *ip,
				   uint64_t now_ms);
/* Records a failed login from ip; returns the delay (ms) before the
 * failure is answered. */
unsigned int auth_throttle_failure(struct auth_throttle *t, const char *ip,
				   uint64_t now_ms);
/* A successful login from ip: its failures are forgotten. */
void auth_throttle_success(struct auth_throttle *t, const char *ip);
/* Failures currently counted for ip (tests, logs). */
unsigned int auth_throttle_failures(struct auth_throttle *t, const char *ip,
				    uint64_t now_ms);

#endif
