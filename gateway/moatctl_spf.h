/*
 * moatctl_spf: `moatctl spf`, an SPF check through Moat's own SPF code and
 * resolver (the filter's spf_evaluate with lib/dns), for admins and for the
 * RFC 7208 test-suite driver.
 */
#ifndef MOAT_MOATCTL_SPF_H
#define MOAT_MOATCTL_SPF_H

#include "gateway/settings.h"

/*
 * args: [--timeout=MS] IP HELO SENDER, or [--timeout=MS] --batch (lines
 * "IP<TAB>HELO<TAB>SENDER" on standard input, one answer line each).
 * Prints "RESULT [reason]". Returns 0, 1 on failure, -1 on bad usage.
 */
int moatctl_spf(const struct moat_settings *settings, int argc, char **argv);

#endif
