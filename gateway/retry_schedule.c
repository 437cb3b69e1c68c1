/*
 * retry_schedule: the back-off arithmetic of remote delivery (see the
 * header). The doubling stops at retry_max before it can overflow; the
 * lifetime bounds every answer. Called by delivery_remote after each
 * attempt and by the unit tests.
 */
#include "gateway/retry_schedule.h"

unsigned int
retry_delay(const struct retry_policy *policy, unsigned int failures)
{
	unsigned long long delay = policy->min > 0 ? policy->min : 1;
	unsigned int max = policy->max >= delay ? policy->max : (unsigned)delay;

	for (unsigned int f = 1; f < failures && delay < max; f++)
		delay *= 2;
	if (delay > max)
		delay = max;
	return (unsigned int)delay;
}

bool
retry_next(const struct retry_policy *policy, time_t arrival, time_t now,
	   unsigned int failures, time_t *next_r)
{
	time_t end = arrival + (time_t)policy->lifetime;
	time_t next;

	if (now >= end)
		return false;
	next = now + (time_t)retry_delay(policy, failures > 0 ? failures : 1);
	if (next > end)
		next = end;
	if (next <= now)
		next = now + 1;
	*next_r = next;
	return true;
}

bool
retry_delay_notice_due(const struct retry_policy *policy, time_t arrival,
		       time_t now, bool already_sent)
{
	if (already_sent || policy->delay_warning == 0)
		return false;
	if (policy->delay_warning >= policy->lifetime)
		return false;
	return now - arrival >= (time_t)policy->delay_warning;
}
