/*
 * greylist: greylisting of suspicious first-time triplets (sender network
 * or SPF-authenticated domain, envelope sender, recipient). The first
 * attempt of a triplet is answered 451 4.7.1; a retry after the delay and
 * within the retry window passes, and the triplet is then remembered as
 * good for the pass lifetime. The "greylist" filter (filters/greylist.c)
 * applies it only to mail whose score so far reaches filter.greylist.
 * min_score, never to authenticated users, and never to allow-listed
 * senders. The store is SQLite (a file shared by smtpd's threads, or an
 * in-memory database when no file is configured).
 */
#ifndef MOAT_GREYLIST_H
#define MOAT_GREYLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum greylist_status {
	GREYLIST_NEW,	 /* first attempt: defer */
	GREYLIST_EARLY,	 /* retried before the delay: defer */
	GREYLIST_PASSED, /* retried after the delay: now known */
	GREYLIST_KNOWN,	 /* passed before */
};

struct greylist_times {
	unsigned int delay;	    /* seconds before a retry passes */
	unsigned int retry_window;  /* seconds a first attempt is kept */
	unsigned int pass_lifetime; /* seconds a passed triplet is kept */
};

struct greylist;

/* path "" = in-memory. Returns 0, or -1 with *error_r allocated. */
int greylist_open(const char *path, const struct greylist_times *times,
		  struct greylist **gl_r, char **error_r);
void greylist_close(struct greylist **gl);
/* Looks triplet up at time now and records the attempt. Returns the
 * status, or -1 with *error_r allocated on a database error. */
int greylist_check(struct greylist *gl, const char *triplet, time_t now,
		   enum greylist_status *status_r, char **error_r);
/* Forgets expired entries. Returns the number removed, or -1. */
int greylist_expire(struct greylist *gl, time_t now);

/*
 * The sender part of a triplet: "spf:DOMAIN" when the envelope domain is
 * SPF-authenticated (spf_domain not NULL), else the client's /24 (IPv4)
 * or /64 (IPv6) as "net:192.0.2.0/24". Returns 0, or -1 for an address
 * that does not parse.
 */
int greylist_sender_key(const char *client_ip, const char *spf_domain,
			char *out, size_t outsz);
/* True when domain equals an item of list or is a subdomain of one. */
bool greylist_domain_listed(const char *domain, char *const *list,
			    size_t count);

#endif
