/*
 * master_prepare: what the master does once, as root, before any child
 * exists: create the data directory layout, migrate the databases, make
 * the files belong to the run user, discard queue files that were never
 * acknowledged, and make sure a TLS certificate exists.
 */
#ifndef MOAT_MASTER_PREPARE_H
#define MOAT_MASTER_PREPARE_H

#include <stdbool.h>
#include <sys/types.h>
#include "gateway/settings.h"

struct run_user {
	bool drop; /* started as root: children switch to uid/gid */
	uid_t uid;
	gid_t gid;
	char *name;
};

/* Looks up settings->user when running as root. 0, or -1 with *error_r. */
int master_run_user_lookup(const struct moat_settings *settings,
			   struct run_user *user_r, char **error_r);
void master_run_user_free(struct run_user *user);
/* Switches the calling process to user (setgroups, setgid, setuid); -1 on
 * failure (the caller must exit). No-op when user->drop is false. */
int master_run_user_switch(const struct run_user *user);

/* Directories, databases, ownership. 0, or -1 with *error_r allocated. */
int master_prepare_data_dir(const struct moat_settings *settings,
			    const struct run_user *user, char **error_r);
/* Removes queue files without a valid trailer (never acknowledged).
 * Returns the number removed. Call only while no smtpd runs. */
int master_recover_queue(const struct moat_settings *settings);
/* Certificate and key paths in use (configured or DATA_DIR/tls/...),
 * generating the self-signed pair on first start. 0 or -1 (*error_r). */
int master_prepare_tls(const struct moat_settings *settings,
		       const struct run_user *user, char **cert_r, char **key_r,
		       char **error_r);

#endif
