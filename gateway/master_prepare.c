/*
 * master_prepare: one-time start-up work of the master, done as root before
 * any child is forked. Creates DATA_DIR/{queue,mail,tls,quarantine},
 * migrates moat.db, mail/index.db and quarantine/index.db by opening them
 * once, hands everything to the run user,
 * discards queue files that never got their trailer (a crash mid-DATA: the
 * client never saw a 250) and ensures a TLS certificate exists.
 *
 * Called only from master.c.
 */
#include "gateway/master_prepare.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/queue_file.h"
#include "lib/log.h"
#include "lib/tls.h"
#include "lib/xalloc.h"
#include "mailstore/directory.h"
#include "mailstore/store.h"

int
master_run_user_lookup(const struct moat_settings *settings,
		       struct run_user *user_r, char **error_r)
{
	struct passwd *pw;

	memset(user_r, 0, sizeof(*user_r));
	if (geteuid() != 0) {
		pw = getpwuid(geteuid());
		user_r->uid = geteuid();
		user_r->gid = getegid();
		user_r->name = xstrdup(pw != NULL ? pw->pw_name : "unknown");
		return 0;
	}
	if (settings->user[0] == '\0' || strcmp(settings->user, "root") == 0) {
		*error_r = xstrdup("refusing to run services as root: set "
				   "'user' to an unprivileged account");
		return -1;
	}
	pw = getpwnam(settings->user);
	if (pw == NULL) {
		*error_r = xasprintf("user '%s' does not exist (create it, "
				     "e.g. useradd --system moat, or set "
				     "'user')",
				     settings->user);
		return -1;
	}
	user_r->drop = true;
	user_r->uid = pw->pw_uid;
	user_r->gid = pw->pw_gid;
	user_r->name = xstrdup(pw->pw_name);
	return 0;
}

void
master_run_user_free(struct run_user *user)
{
	x_free(&user->name);
}

int
master_run_user_switch(const struct run_user *user)
{
	if (!user->drop)
		return 0;
	if (setgroups(1, &user->gid) < 0 || setgid(user->gid) < 0 ||
	    setuid(user->uid) < 0)
		return -1;
	/* Regaining root must be impossible. */
	if (setuid(0) == 0)
		return -1;
	return 0;
}

static int
chown_if_exists(const char *path, const struct run_user *user)
{
	if (!user->drop)
		return 0;
	if (lchown(path, user->uid, user->gid) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

static int
mkdir_owned(const char *path, mode_t mode, const struct run_user *user,
	    char **error_r)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		*error_r = xasprintf("mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	if (chown_if_exists(path, user) < 0) {
		*error_r = xasprintf("chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Hands a SQLite database and its side files to the run user. */
static int
chown_database(const char *path, const struct run_user *user)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	int ret = 0;

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char *p = xasprintf("%s%s", path, suffixes[i]);
		if (chown_if_exists(p, user) < 0)
			ret = -1;
		free(p);
	}
	return ret;
}

int
master_prepare_data_dir(const struct moat_settings *settings,
			const struct run_user *user, char **error_r)
{
	static const char *const subdirs[] = {
	    "queue",	  "mail",	    "tls",
	    "quarantine", "quarantine/msg", "quarantine/tmp"};
	const char *dir = settings->data_dir;
	struct directory *directory = NULL;
	struct store *store = NULL;
	char *path;
	int ret;

	if (mkdir_owned(dir, 0750, user, error_r) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		path = xasprintf("%s/%s", dir, subdirs[i]);
		ret = mkdir_owned(path, 0750, user, error_r);
		free(path);
		if (ret < 0)
			return -1;
	}
	/* Opening migrates the schemas; then the run user owns the files. */
	if (directory_open(dir, &directory, error_r) < 0)
		return -1;
	directory_close(&directory);
	if (store_open(dir, &store, error_r) < 0)
		return -1;
	{
		uint32_t uidvalidity, uidnext;
		uint64_t modseq;

		/* opens (migrates) the quarantine index too */
		if (store_quarantine_status(store, &uidvalidity, &uidnext,
					    &modseq, error_r) < 0) {
			store_close(&store);
			return -1;
		}
	}
	store_close(&store);
	path = xasprintf("%s/quarantine/index.db", dir);
	ret = chown_database(path, user);
	free(path);
	if (ret < 0) {
		*error_r = xasprintf("chown the quarantine in %s: %s", dir,
				     strerror(errno));
		return -1;
	}
	path = xasprintf("%s/moat.db", dir);
	ret = chown_database(path, user);
	free(path);
	path = xasprintf("%s/mail/index.db", dir);
	ret |= chown_database(path, user);
	free(path);
	if (ret < 0) {
		*error_r = xasprintf("chown databases in %s: %s", dir,
				     strerror(errno));
		return -1;
	}
	return 0;
}

int
master_recover_queue(const struct moat_settings *settings)
{
	char *qdir = xasprintf("%s/queue", settings->data_dir);
	DIR *d = opendir(qdir);
	struct dirent *de;
	int removed = 0;

	if (d == NULL) {
		free(qdir);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		struct queue_envelope env;
		const char *error;
		off_t offset;
		size_t len;
		int fd;
		char *path;

		if (!queue_id_valid(de->d_name))
			continue;
		path = xasprintf("%s/%s", qdir, de->d_name);
		memset(&env, 0, sizeof(env));
		if (queue_file_open(path, &env, &fd, &offset, &len, &error) ==
		    0) {
			close(fd);
			queue_envelope_free(&env);
		} else {
			log_warnx("qid=%s event=recover action=discard "
				  "reason=\"%s\"",
				  de->d_name, error);
			if (unlink(path) == 0)
				removed++;
		}
		free(path);
	}
	closedir(d);
	free(qdir);
	return removed;
}

int
master_prepare_tls(const struct moat_settings *settings,
		   const struct run_user *user, char **cert_r, char **key_r,
		   char **error_r)
{
	int ret;

	if (settings->tls_cert[0] != '\0' || settings->tls_key[0] != '\0') {
		if (settings->tls_cert[0] == '\0' ||
		    settings->tls_key[0] == '\0') {
			*error_r = xstrdup("tls.cert and tls.key must be set "
					   "together");
			return -1;
		}
		*cert_r = xstrdup(settings->tls_cert);
		*key_r = xstrdup(settings->tls_key);
		return 0;
	}
	*cert_r = xasprintf("%s/tls/cert.pem", settings->data_dir);
	*key_r = xasprintf("%s/tls/key.pem", settings->data_dir);
	ret = tls_ensure_self_signed(*cert_r, *key_r, settings->hostname,
				     error_r);
	if (ret < 0) {
		x_free(cert_r);
		x_free(key_r);
		return -1;
	}
	if (ret == 1)
		log_info("event=tls_self_signed cert=%s hostname=%s "
			 "note=\"generated a self-signed certificate; set "
			 "tls.cert and tls.key for production\"",
			 *cert_r, settings->hostname);
	(void)user; /* the key stays root-only: children inherit SSL_CTX */
	return 0;
}
