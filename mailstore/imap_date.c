/*
 * imap_date: the IMAP date formats: INTERNALDATE / APPEND date-time
 * ("17-Jul-1996 02:44:25 -0700", RFC 9051 date-time) and SEARCH dates
 * ("1-Feb-1994"). Times are kept as time_t; output is in UTC (+0000).
 */
#include "mailstore/imap_private.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void
imap_append_datetime(struct buf *out, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday,
		   months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		   tm.tm_sec);
}

/* "d-Mon-yyyy" at s; returns the characters used or 0. */
static size_t
parse_day(const char *s, struct tm *tm)
{
	int day = 0, year = 0, mon = -1;
	size_t i = 0, n;

	while (s[i] == ' ' && i == 0)
		i++; /* date-day-fixed: " 1-Feb-2024" */
	for (n = 0; s[i] >= '0' && s[i] <= '9' && n < 2; n++, i++)
		day = day * 10 + (s[i] - '0');
	if (n == 0 || day < 1 || day > 31 || s[i] != '-')
		return 0;
	i++;
	for (int m = 0; m < 12; m++)
		if (strncasecmp(s + i, months[m], 3) == 0)
			mon = m;
	if (mon < 0 || s[i + 3] != '-')
		return 0;
	i += 4;
	for (n = 0; s[i] >= '0' && s[i] <= '9' && n < 4; n++, i++)
		year = year * 10 + (s[i] - '0');
	if (n != 4 || year < 1900)
		return 0;
	memset(tm, 0, sizeof(*tm));
	tm->tm_mday = day;
	tm->tm_mon = mon;
	tm->tm_year = year - 1900;
	return i;
}

int
imap_parse_date(const char *s, time_t *t_r)
{
	struct tm tm;
	size_t n = parse_day(s, &tm);

	if (n == 0 || s[n] != '\0')
		return -1;
	*t_r = timegm(&tm);
	return 0;
}

int
imap_parse_datetime(const char *s, time_t *t_r)
{
	struct tm tm;
	size_t n = parse_day(s, &tm);
	int h, m, sec, zone, len = 0;
	char sign;

	if (n == 0)
		return -1;
	if (sscanf(s + n, " %2d:%2d:%2d %c%4d%n", &h, &m, &sec, &sign, &zone,
		   &len) != 5 ||
	    s[n + (size_t)len] != '\0' || (sign != '+' && sign != '-') ||
	    h > 23 || m > 59 || sec > 60 || zone > 1400)
		return -1;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	*t_r = timegm(&tm) - (sign == '+' ? 1 : -1) *
				 ((zone / 100) * 3600 + (zone % 100) * 60);
	return 0;
}
