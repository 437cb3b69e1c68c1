/*
 * moatctl_spam: the `moatctl spam train|check|stats` commands (see
 * moatctl_spam.c for what each does).
 */
#ifndef MOAT_MOATCTL_SPAM_H
#define MOAT_MOATCTL_SPAM_H

#include "gateway/settings.h"

/* argv[0] is the subcommand. Returns the exit status (0 ok, 1 failed), or
 * -1 on a usage error. */
int moatctl_spam(const struct moat_settings *settings, int argc, char **argv);

#endif
