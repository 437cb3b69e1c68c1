/*
 * master: the moatd master process. Starts as root (or as an ordinary user
 * in a developer run), prepares the data directory, binds every listener,
 * builds the TLS context, then forks one child per service from the table
 * in master.c and drops each child to the configured user. It restarts a
 * child that dies (with back-off), reloads on SIGHUP, stops cleanly on
 * SIGTERM and answers moatctl on DATA_DIR/moatd.sock.
 */
#ifndef MOAT_MASTER_H
#define MOAT_MASTER_H

#include <stdbool.h>

struct master_options {
	const char *config_path;
	bool foreground;
};

/* Runs until SIGTERM; returns the process exit status. */
int master_run(const struct master_options *options);

#endif
