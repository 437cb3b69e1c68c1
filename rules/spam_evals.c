/*
 * spam_evals: the eval: built-ins that read header structure rather than
 * match a regex: dates (RFC 5322 and the looser forms mail programs
 * write) and what they reveal when compared, an Outlook Message-Id's
 * embedded clock, raw 8-bit bytes in a header, recipient lists that look
 * generated; and html_image_only(), on the message's HTML parts. They follow
 * SpamAssassin's HeaderEval and HTMLEval functions of the same names, so its
 * rule files and Moat's own use them alike. Every input is peer-supplied:
 * parsing is bounded and never allocates.
 */
#include "rules/spam_rules_private.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Years accepted (a Date of year 0102, the Y2K bug, is a date too). */
#define SPAM_DATE_MIN_YEAR   0
#define SPAM_DATE_MAX_YEAR   9999
#define SPAM_DATE_MAX_TOKENS 24
#define SPAM_MAX_RECEIVED    64

static const char *
spam_first_header(const struct spam_msg *msg, const char *name)
{
	for (size_t i = 0; i < msg->header_count; i++)
		if (strcasecmp(msg->headers[i].name, name) == 0)
			return msg->headers[i].value != NULL
				   ? msg->headers[i].value
				   : "";
	return NULL;
}

static int
spam_month(const char *s, size_t len)
{
	static const char *const names[] = {"jan", "feb", "mar", "apr",
					    "may", "jun", "jul", "aug",
					    "sep", "oct", "nov", "dec"};

	if (len != 3)
		return 0;
	for (int i = 0; i < 12; i++)
		if (strncasecmp(s, names[i], 3) == 0)
			return i + 1;
	return 0;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static long long
spam_days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool
spam_all_digits(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* A named zone's offset in minutes; false when unknown. */
static bool
spam_zone_name(const char *s, size_t len, int *min_r)
{
	static const struct {
		const char *name;
		int min;
	} zones[] = {
	    {"UT", 0},	      {"UTC", 0},	{"GMT", 0},
	    {"Z", 0},	      {"EST", -5 * 60}, {"EDT", -4 * 60},
	    {"CST", -6 * 60}, {"CDT", -5 * 60}, {"MST", -7 * 60},
	    {"MDT", -6 * 60}, {"PST", -8 * 60}, {"PDT", -7 * 60},
	    {"BST", 60},      {"CET", 60},	{"CEST", 120},
	    {"MET", 60},      {"MEST", 120},	{"EET", 120},
	    {"EEST", 180},    {"JST", 540},	{"KST", 540},
	    {"IST", 60},      {"HKT", 480},	{"SGT", 480},
	};

	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		if (strlen(zones[i].name) == len &&
		    strncmp(s, zones[i].name, len) == 0) {
			*min_r = zones[i].min;
			return true;
		}
	return false;
}

/*
 * Parses a date as mail programs write it: "[Day,] DD Mon YYYY HH:MM[:SS]
 * [zone]", also with a two-digit year, "Mon DD HH:MM:SS YYYY" (ctime) and
 * any order of the time and zone after the date, as SpamAssassin's
 * parse_rfc822_date(). An unknown zone counts as UTC. Out-of-range fields
 * are clamped (minute 75 -> 59), as there. Returns false when no day,
 * month and year are found.
 */
bool
spam_parse_date(const char *s, long long *time_r)
{
	const char *tok[SPAM_DATE_MAX_TOKENS];
	size_t len[SPAM_DATE_MAX_TOKENS], n = 0, i;
	bool used[SPAM_DATE_MAX_TOKENS] = {false};
	long long year = -1;
	int mon = 0, day = 0, hh = 0, mm = 0, ss = 0, zone = 0;
	bool have_zone = false;

	if (s == NULL)
		return false;
	/* Tokens: runs of characters other than space, tab, newline and
	 * comma; a parenthesised comment ends the scan of the date. */
	while (*s != '\0' && n < SPAM_DATE_MAX_TOKENS) {
		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' ||
		       *s == ',')
			s++;
		if (*s == '\0' || *s == '(')
			break;
		tok[n] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\n' &&
		       *s != '\r' && *s != ',' && *s != '(')
			s++;
		len[n] = (size_t)(s - tok[n]);
		n++;
	}
	/* The date: DD Mon YYYY (or YY, YYY), else Mon DD HH:MM:SS YYYY. */
	for (i = 0; i + 2 < n && year < 0; i++) {
		int m = spam_month(tok[i + 1], len[i + 1]);

		if (m != 0 && spam_all_digits(tok[i], len[i]) && len[i] <= 2 &&
		    spam_all_digits(tok[i + 2], len[i + 2]) &&
		    len[i + 2] >= 2 && len[i + 2] <= 4) {
			day = atoi(tok[i]);
			mon = m;
			year = atoll(tok[i + 2]);
			if (len[i + 2] == 2 && year < 50)
				year += 2000;
			else if (len[i + 2] != 4)
				year += 1900;
			used[i] = used[i + 1] = used[i + 2] = true;
		}
	}
	for (i = 0; i + 3 < n && year < 0; i++) {
		int m = spam_month(tok[i], len[i]);

		if (m != 0 && spam_all_digits(tok[i + 1], len[i + 1]) &&
		    len[i + 1] <= 2 && memchr(tok[i + 2], ':', len[i + 2]) &&
		    spam_all_digits(tok[i + 3], len[i + 3]) &&
		    len[i + 3] == 4) {
			mon = m;
			day = atoi(tok[i + 1]);
			year = atoll(tok[i + 3]);
			used[i] = used[i + 1] = used[i + 3] = true;
		}
	}
	if (year < SPAM_DATE_MIN_YEAR || year > SPAM_DATE_MAX_YEAR)
		return false;
	for (i = 0; i < n; i++) {
		const char *t = tok[i];

		if (used[i])
			continue;
		if (len[i] >= 4 && len[i] <= 8 &&
		    isdigit((unsigned char)t[0]) &&
		    memchr(t, ':', len[i]) != NULL) {
			/* H:MM or HH:MM[:SS] */
			char buf[9];
			int a = 0, b = 0, c = 0, k;

			memcpy(buf, t, len[i]);
			buf[len[i]] = '\0';
			k = sscanf(buf, "%2d:%2d:%2d", &a, &b, &c);
			if (k >= 2) {
				hh = a;
				mm = b;
				ss = k == 3 ? c : 0;
				used[i] = true;
			}
		} else if (!have_zone && len[i] == 5 &&
			   (t[0] == '+' || t[0] == '-') &&
			   spam_all_digits(t + 1, 4)) {
			int v = atoi(t + 1);

			zone = (v / 100) * 60 + v % 100;
			if (t[0] == '-')
				zone = -zone;
			have_zone = true;
		} else if (!have_zone && spam_zone_name(t, len[i], &zone)) {
			have_zone = true;
		}
	}
	if (hh > 23)
		hh = 23;
	if (mm > 59)
		mm = 59;
	if (ss > 59)
		ss = 59;
	if (day < 1)
		day = 1;
	if (day > 31)
		day = 31;
	*time_r = spam_days_from_civil(year, mon, day) * 86400LL + hh * 3600LL +
		  mm * 60LL + ss - zone * 60LL;
	return true;
}

/* The date of a Received field: the text after its last ';'. */
static bool
spam_received_time(const char *value, long long *time_r)
{
	const char *semi = strrchr(value, ';');

	return semi != NULL && spam_parse_date(semi + 1, time_r);
}

/* True when p[0..n) are all lowercase hex digits (for the Outlook
 * Message-Id's fields); false at the first other byte, a NUL included. */
static bool
lower_hex_run(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)p[i]) ||
		    isupper((unsigned char)p[i]))
			return false;
	return true;
}

/*
 * check_outlook_message_id(): an Outlook-made Message-Id
 * (<XXXXTTTTTTTT$XXXXXXXX$XXXXXXXX@host>) carries the high 32 bits of the
 * sending clock's FILETIME in TTTTTTTT. True when that clock is more than
 * 250 units (about 30 hours) off both the Date field and the oldest
 * Received date: someone made the Message-Id up.
 */
bool
spam_eval_outlook_msgid(const struct spam_msg *msg)
{
	/* FILETIME's high word per second, and at the Unix epoch. */
	const double per_sec = 0.0023283064365387, epoch = 27111902.8329849;
	const char *id = spam_first_header(msg, "Message-Id"), *p;
	const char *oldest = NULL;
	unsigned long token;
	long long t = 0;
	char hex[9];
	size_t i;

	if (id == NULL)
		return false;
	p = id;
	/* Each test stops at a NUL, so nothing past the string is read. */
	if (*p++ != '<' || !lower_hex_run(p, 12) || p[12] != '$' ||
	    !lower_hex_run(p + 13, 8) || p[21] != '$' ||
	    !lower_hex_run(p + 22, 8) || p[30] != '@')
		return false;
	memcpy(hex, p + 4, 8);
	hex[8] = '\0';
	token = strtoul(hex, NULL, 16);
	if (!spam_parse_date(spam_first_header(msg, "Date"), &t))
		t = 0;
	if (fabs((double)token - floor((double)t * per_sec + epoch)) < 250)
		return false;
	for (i = 0; i < msg->header_count; i++)
		if (strcasecmp(msg->headers[i].name, "Received") == 0 &&
		    msg->headers[i].value != NULL)
			oldest = msg->headers[i].value;
	if (oldest == NULL || !spam_received_time(oldest, &t))
		t = 0;
	return fabs((double)token - floor((double)t * per_sec + epoch)) >= 250;
}

/*
 * check_for_shifted_date(min, max): the Date field minus the Received
 * date closest to it (over the Received fields; the oldest one is left
 * out when it equals Date exactly and others exist: the sending program
 * wrote both), in hours, is in [min, max); NAN stands for 'undef' (no
 * bound). False without a parsable Date or any dated Received field.
 */
bool
spam_eval_shifted_date(const struct spam_msg *msg, double min, double max)
{
	long long date, t, diffs[SPAM_MAX_RECEIVED], best;
	size_t i, count = 0;

	if (!spam_parse_date(spam_first_header(msg, "Date"), &date))
		return false;
	for (i = 0; i < msg->header_count && count < SPAM_MAX_RECEIVED; i++)
		if (strcasecmp(msg->headers[i].name, "Received") == 0 &&
		    msg->headers[i].value != NULL &&
		    spam_received_time(msg->headers[i].value, &t))
			diffs[count++] = date - t;
	if (count > 1 && diffs[count - 1] == 0)
		count--;
	if (count == 0)
		return false;
	best = diffs[0];
	for (i = 1; i < count; i++)
		if (llabs(diffs[i]) < llabs(best))
			best = diffs[i];
	return (isnan(min) || (double)best >= min * 3600.0) &&
	       (isnan(max) || (double)best < max * 3600.0);
}

/* True when s (len bytes) is valid UTF-8 (shortest forms, no
 * surrogates, at most U+10FFFF). */
static bool
spam_valid_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n, k;
		unsigned long cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return false;
		if (len - i <= n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 &&
		     (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += n + 1;
	}
	return true;
}

/*
 * check_illegal_chars(header, ratio, count): the field as received (raw,
 * before RFC 2047 decoding; several fields of the name joined by
 * newlines; "ALL" is every field as "Name: value" lines) holds bytes that
 * RFC 2045 does not allow in a header (controls other than tab, CR and
 * LF, DEL and every byte above 0x7f), at least count of them and at
 * least ratio of its length. Valid UTF-8 without controls is not
 * counted (internationalised mail, RFC 6532); a single cent, pound or
 * registered sign in a Subject is allowed. Mail programs encode 8-bit
 * text (RFC 2047); bulk tools paste it raw.
 */
bool
spam_eval_illegal_chars(const struct spam_msg *msg, const char *header,
			double ratio, double count)
{
	bool all, subject, any_high = false, utf8 = true;
	size_t len = 0, illegal = 0, controls = 0, exempt = 0, i;
	bool found = false;

	if (header == NULL)
		return false;
	all = strcmp(header, "ALL") == 0;
	subject = strcasecmp(header, "Subject") == 0;
	/* Two passes over the fields in place: no copy is made. */
	for (i = 0; i < msg->header_count; i++) {
		const struct spam_header *h = &msg->headers[i];
		const unsigned char *v =
		    (const unsigned char *)(h->raw != NULL ? h->raw : h->value);
		size_t n;

		if (v == NULL || (!all && strcasecmp(h->name, header) != 0))
			continue;
		n = strlen((const char *)v);
		if (found)
			len++; /* the joining newline */
		found = true;
		len += n + (all ? strlen(h->name) + 2 : 0);
		if (!spam_valid_utf8(v, n))
			utf8 = false;
		for (size_t k = 0; k < n; k++) {
			unsigned char c = v[k];

			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
				controls++, illegal++;
			else if (c >= 0x7f) {
				illegal++;
				if (c >= 0x80)
					any_high = true;
				if (c == 0xa2 || c == 0xa3 || c == 0xae)
					exempt++;
			}
		}
	}
	if (!found || len == 0 || illegal == 0)
		return false;
	/* Non-ASCII valid UTF-8 and no controls: internationalised text. */
	if (any_high && utf8 && controls == 0)
		return false;
	if (subject && exempt == 1)
		illegal--;
	return (double)illegal / (double)len >= ratio &&
	       (double)illegal >= count;
}

/*
 * html_image_only(min, max): a text/html part with at least one <img>
 * tag and between min (excluded) and max (included) bytes of rendered
 * text: a picture sent instead of words, which text filters cannot read.
 */
bool
spam_eval_html_image_only(const struct spam_msg *msg, double min, double max)
{
	for (size_t i = 0; i < msg->html_part_count; i++) {
		const struct spam_html_part *h = &msg->html_parts[i];

		if (h->images > 0 && (double)h->text_len > min &&
		    (double)h->text_len <= max)
			return true;
	}
	return false;
}

/* Recipient lists (similar_recipients, sorted_recipients). */
#define SPAM_RECIPS_MAX	    256
#define SPAM_RECIPS_SORTED  7 /* addresses for sorted_recipients() */
#define SPAM_RECIPS_SIMILAR 5 /* addresses for similar_recipients() */

struct spam_addr {
	const char *p;
	size_t len;
};

/* Appends the addresses of one To/Cc/Bcc value: per comma-separated
 * item (commas inside quotes do not count), the text inside <...>, else
 * the blank-delimited word holding an '@'. */
static void
spam_addr_list(const char *v, struct spam_addr *out, size_t *n)
{
	while (*v != '\0' && *n < SPAM_RECIPS_MAX) {
		const char *item = v, *end, *lt, *gt, *at, *s, *e;
		bool quoted = false;

		for (end = v; *end != '\0' && (quoted || *end != ','); end++)
			if (*end == '"')
				quoted = !quoted;
		v = *end == ',' ? end + 1 : end;
		lt = memchr(item, '<', (size_t)(end - item));
		gt = lt != NULL ? memchr(lt, '>', (size_t)(end - lt)) : NULL;
		if (lt != NULL && gt != NULL) {
			s = lt + 1;
			e = gt;
		} else {
			at = memchr(item, '@', (size_t)(end - item));
			if (at == NULL)
				continue;
			for (s = at; s > item && !isspace((unsigned char)s[-1]);
			     s--)
				;
			for (e = at; e < end && !isspace((unsigned char)*e);
			     e++)
				;
		}
		if (e <= s || memchr(s, '@', (size_t)(e - s)) == NULL)
			continue;
		/* Neighbouring duplicates count once, as in SpamAssassin. */
		if (*n > 0 && out[*n - 1].len == (size_t)(e - s) &&
		    strncasecmp(out[*n - 1].p, s, (size_t)(e - s)) == 0)
			continue;
		out[*n].p = s;
		out[*n].len = (size_t)(e - s);
		(*n)++;
	}
}

/* The To and Cc addresses, then Bcc while fewer than five. */
static size_t
spam_recipients(const struct spam_msg *msg, struct spam_addr *out)
{
	static const char *const names[] = {"To", "Cc", "Bcc"};
	size_t n = 0;

	for (size_t k = 0; k < 3; k++) {
		if (k == 2 && n >= SPAM_RECIPS_SIMILAR)
			break;
		for (size_t i = 0; i < msg->header_count; i++)
			if (strcasecmp(msg->headers[i].name, names[k]) == 0 &&
			    msg->headers[i].value != NULL)
				spam_addr_list(msg->headers[i].value, out, &n);
	}
	return n;
}

static int
spam_addr_cmp(const struct spam_addr *a, const struct spam_addr *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->p, b->p, n);

	return c != 0 ? c : (a->len > b->len) - (a->len < b->len);
}

/* sorted_recipients(): seven or more recipients, in byte order: a list
 * walked alphabetically by a bulk tool. */
bool
spam_eval_sorted_recipients(const struct spam_msg *msg)
{
	struct spam_addr addr[SPAM_RECIPS_MAX];
	size_t n = spam_recipients(msg, addr);

	if (n < SPAM_RECIPS_SORTED)
		return false;
	for (size_t i = 1; i < n; i++)
		if (spam_addr_cmp(&addr[i - 1], &addr[i]) > 0)
			return false;
	return true;
}

/* Two addresses' first two bytes (or fewer) are equal. */
static bool
spam_prefix2_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t la = alen < 2 ? alen : 2, lb = blen < 2 ? blen : 2;

	return la == lb && memcmp(a, b, la) == 0;
}

/*
 * similar_recipients(min, max): among five or more recipients, the share
 * of address pairs whose local parts start alike (first two bytes), plus
 * those whose domains start alike but differ, is in [min, max) ('undef':
 * open): a list generated from a dictionary, as SpamAssassin measures it.
 */
bool
spam_eval_similar_recipients(const struct spam_msg *msg, double min, double max)
{
	struct spam_addr addr[SPAM_RECIPS_MAX];
	size_t n = spam_recipients(msg, addr), hits = 0, pairs = 0;
	double ratio;

	if (n < SPAM_RECIPS_SIMILAR)
		return false;
	for (size_t i = 0; i < n; i++) {
		/* every address holds an '@' (spam_addr_list) */
		const char *hi =
		    (const char *)memchr(addr[i].p, '@', addr[i].len) + 1;
		size_t hil = addr[i].len - (size_t)(hi - addr[i].p);

		for (size_t j = i + 1; j < n; j++) {
			const char *hj =
			    (const char *)memchr(addr[j].p, '@', addr[j].len) +
			    1;
			size_t hjl = addr[j].len - (size_t)(hj - addr[j].p);

			if (spam_prefix2_eq(addr[i].p, addr[i].len, addr[j].p,
					    addr[j].len))
				hits++;
			if (spam_prefix2_eq(hi, hil, hj, hjl) &&
			    !(hil == hjl && memcmp(hi, hj, hil) == 0))
				hits++;
			pairs++;
		}
	}
	ratio = (double)hits / (double)pairs;
	return (isnan(min) || ratio >= min) && (isnan(max) || ratio < max);
}
