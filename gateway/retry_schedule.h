/*
 * retry_schedule: when a message that failed temporarily is tried again.
 * Exponential back-off: after the n-th failed attempt the delay is
 * retry_min * 2^(n-1), capped at retry_max; the last attempt falls at the
 * end of the lifetime, after which the message expires (bounces). A DELAY
 * notice is due once, when the message is older than delay_warning. Pure
 * computation on times passed in, so tests need no clock.
 */
#ifndef MOAT_RETRY_SCHEDULE_H
#define MOAT_RETRY_SCHEDULE_H

#include <stdbool.h>
#include <time.h>

struct retry_policy {
	unsigned int min;	    /* seconds, > 0 */
	unsigned int max;	    /* seconds, >= min */
	unsigned int lifetime;	    /* seconds since arrival */
	unsigned int delay_warning; /* seconds since arrival; 0 = never */
};

/* The delay after the failures-th failed attempt (failures >= 1). */
unsigned int retry_delay(const struct retry_policy *policy,
			 unsigned int failures);
/*
 * After a temporary failure at now (the failures-th): returns false when
 * the message has expired (now >= arrival + lifetime), else true with the
 * time of the next attempt in *next_r (never after arrival + lifetime,
 * never before now + 1).
 */
bool retry_next(const struct retry_policy *policy, time_t arrival, time_t now,
		unsigned int failures, time_t *next_r);
/* true when a DELAY notice is due now and none was sent yet. */
bool retry_delay_notice_due(const struct retry_policy *policy, time_t arrival,
			    time_t now, bool already_sent);

#endif
