/*
 * moatctl_dmarc: `moatctl dmarc report`, DMARC aggregate reports (RFC 7489
 * 7.2) built from the rows the filter chain recorded, written as files
 * named receiver!policy-domain!begin!end.xml.gz.
 */
#ifndef MOAT_MOATCTL_DMARC_H
#define MOAT_MOATCTL_DMARC_H

#include "gateway/settings.h"

/*
 * args: report [--domain D] [--from T] [--to T] [--out DIR]; T is UTC
 * seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] (UTC). One report per
 * policy domain and dmarc.report_interval; prints one line per file
 * written ("PATH domain=D begin=B end=E records=N messages=M"). Reads
 * only: the rows stay. Returns 0, 1 on failure, -1 on bad usage.
 */
int moatctl_dmarc(const struct moat_settings *settings, int argc, char **argv);

/* Parses T as above into *t_r: 0 or -1 (exposed for tests). */
int moatctl_dmarc_parse_time(const char *text, long long *t_r);

#endif
