/*
 * master: the moatd master process. Services are a table (services[]):
 * each row names a service, the listener kinds it serves and its run
 * function; adding a service is adding a row. The master binds every
 * listener of every row while privileged, forks one child per row, and
 * each child drops to the run user before running. Children die with the
 * master (PR_SET_PDEATHSIG), so a SIGKILL of the master stops everything,
 * as a crash would.
 *
 * Signals: SIGCHLD restarts a dead child with back-off (1 s doubling to
 * 60 s, reset after a minute of good running); SIGHUP re-reads moat.conf
 * and, when it is valid, restarts the children with it (listeners stay
 * bound: changing them needs a restart); SIGTERM/SIGINT stop the children
 * (which finish in-flight transactions) and exit 0.
 */
#include "gateway/master.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gateway/master_control.h"
#include "gateway/master_prepare.h"
#include "gateway/service.h"
#include "gateway/spam_learn.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/tls.h"
#include "lib/version.h"
#include "lib/xalloc.h"

#define RESTART_BACKOFF_MAX 60
#define CHILD_GOOD_RUN	    60
#define LISTEN_BACKLOG	    511

struct service_def {
	const char *name;
	const enum listener_kind *kinds;
	size_t kind_count;
	int (*run)(struct service_context *ctx);
};

static const enum listener_kind smtpd_kinds[] = {
    LISTENER_SMTP, LISTENER_SUBMISSION, LISTENER_SMTPS};

static const enum listener_kind imapd_kinds[] = {LISTENER_IMAP, LISTENER_IMAPS};
static const enum listener_kind pop3d_kinds[] = {LISTENER_POP3, LISTENER_POP3S};

static const struct service_def services[] = {
    {"smtpd", smtpd_kinds, 3, smtpd_run},
    {"queue", NULL, 0, queue_run},
    {"imapd", imapd_kinds, 2, imapd_run},
    {"pop3d", pop3d_kinds, 2, pop3d_run},
    {"spamlearn", NULL, 0, spam_learn_run},
};
#define SERVICE_COUNT (sizeof(services) / sizeof(services[0]))

/* Which setting configures which listener kind. */
static const struct {
	enum listener_kind kind;
	const char *setting;
	size_t offset;
} listener_settings[] = {
    {LISTENER_SMTP, "smtp.listen", offsetof(struct moat_settings, smtp_listen)},
    {LISTENER_SUBMISSION, "submission.listen",
     offsetof(struct moat_settings, submission_listen)},
    {LISTENER_SMTPS, "smtps.listen",
     offsetof(struct moat_settings, smtps_listen)},
    {LISTENER_IMAP, "imap.listen", offsetof(struct moat_settings, imap_listen)},
    {LISTENER_IMAPS, "imaps.listen",
     offsetof(struct moat_settings, imaps_listen)},
    {LISTENER_POP3, "pop3.listen", offsetof(struct moat_settings, pop3_listen)},
    {LISTENER_POP3S, "pop3s.listen",
     offsetof(struct moat_settings, pop3s_listen)},
    {LISTENER_WEB, "web.listen", offsetof(struct moat_settings, web_listen)},
};
#define LISTENER_SETTING_COUNT                                                 \
	(sizeof(listener_settings) / sizeof(listener_settings[0]))

struct child {
	pid_t pid;
	time_t started;
	unsigned int restarts;
	unsigned int backoff;
	bool restart_now; /* stopped by a reload: no back-off */
	struct event *restart_timer;
};

struct master {
	struct event_base *base;
	const char *config_path;
	struct moat_settings settings;
	struct run_user user;
	SSL_CTX *tls_ctx;
	struct service_listener *listeners;
	size_t listener_count;
	int notify_fds[2];
	int pid_fd;
	char *pid_path;
	struct master_control *control;
	struct child children[SERVICE_COUNT];
	struct event *kill_timer;
	bool stopping;
	time_t started;
};

/*
 * Signals reach the loop through a self-pipe rather than libevent's signal
 * events: libevent keeps process-wide signal state that forked children
 * would inherit and trip over.
 */
static int signal_pipe[2] = {-1, -1};

static const struct str_list *
listener_list(const struct moat_settings *settings, size_t i)
{
	return (const struct str_list *)((const char *)settings +
					 listener_settings[i].offset);
}

static bool
kind_is_served(enum listener_kind kind)
{
	for (size_t s = 0; s < SERVICE_COUNT; s++)
		for (size_t k = 0; k < services[s].kind_count; k++)
			if (services[s].kinds[k] == kind)
				return true;
	return false;
}

static int
master_bind_listeners(struct master *m, char **error_r)
{
	for (size_t i = 0; i < LISTENER_SETTING_COUNT; i++) {
		const struct str_list *list = listener_list(&m->settings, i);

		if (list->count > 0 &&
		    !kind_is_served(listener_settings[i].kind)) {
			log_info("event=listener_skipped setting=%s "
				 "note=\"service not available yet\"",
				 listener_settings[i].setting);
			continue;
		}
		for (size_t j = 0; j < list->count; j++) {
			struct netaddr addr;
			const char *error;
			int fd;

			if (netaddr_parse(list->items[j], &addr, &error) < 0) {
				*error_r = xasprintf(
				    "%s = %s: %s", listener_settings[i].setting,
				    list->items[j], error);
				return -1;
			}
			fd = netaddr_listen(&addr, LISTEN_BACKLOG);
			if (fd < 0) {
				*error_r =
				    xasprintf("cannot listen on %s (%s): %s",
					      list->items[j],
					      listener_settings[i].setting,
					      strerror(errno));
				return -1;
			}
			m->listeners =
			    xreallocarray(m->listeners, m->listener_count + 1,
					  sizeof(*m->listeners));
			m->listeners[m->listener_count].kind =
			    listener_settings[i].kind;
			m->listeners[m->listener_count].fd = fd;
			m->listeners[m->listener_count].address =
			    xstrdup(list->items[j]);
			m->listener_count++;
			log_info("event=listen setting=%s address=%s",
				 listener_settings[i].setting, list->items[j]);
		}
	}
	return 0;
}

static bool
service_takes(const struct service_def *def, enum listener_kind kind)
{
	for (size_t k = 0; k < def->kind_count; k++)
		if (def->kinds[k] == kind)
			return true;
	return false;
}

/* In the child: never returns. */
static void __attribute__((noreturn))
child_main(struct master *m, size_t index, pid_t master_pid)
{
	const struct service_def *def = &services[index];
	struct service_context ctx;
	sigset_t none;
	int rc;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != master_pid)
		_exit(1);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	log_set_process(def->name);

	/* The master's loop is not ours: never touch it (its epoll instance
	 * is shared with the master); only close what we inherited. */
	if (m->control != NULL)
		close(master_control_fd(m->control));
	close(signal_pipe[0]);
	close(signal_pipe[1]);
	if (m->pid_fd >= 0)
		close(m->pid_fd);

	memset(&ctx, 0, sizeof(ctx));
	ctx.settings = &m->settings;
	ctx.config_path = m->config_path;
	ctx.tls_ctx = m->tls_ctx;
	ctx.listeners = xcalloc(m->listener_count + 1, sizeof(*ctx.listeners));
	for (size_t i = 0; i < m->listener_count; i++) {
		if (service_takes(def, m->listeners[i].kind))
			ctx.listeners[ctx.listener_count++] = m->listeners[i];
		else
			close(m->listeners[i].fd);
	}
	/* smtpd sends on [0], the queue receives on [1]. */
	if (strcmp(def->name, "queue") == 0) {
		ctx.queue_notify_fd = m->notify_fds[1];
		close(m->notify_fds[0]);
	} else {
		ctx.queue_notify_fd = m->notify_fds[0];
		close(m->notify_fds[1]);
	}
	if (master_run_user_switch(&m->user) < 0) {
		log_error("event=drop_privileges user=%s failed", m->user.name);
		_exit(1);
	}
	/* The kernel clears the parent-death signal when the credentials
	 * change (setuid above): set it again, or a SIGKILLed master leaves
	 * its children running with the listeners. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != master_pid)
		_exit(1);
	log_info("event=start pid=%ld user=%s", (long)getpid(), m->user.name);
	rc = def->run(&ctx);
	log_info("event=exit status=%d", rc);
	_exit(rc);
}

static void
child_start(struct master *m, size_t index)
{
	struct child *c = &m->children[index];
	pid_t master_pid = getpid();
	sigset_t all, saved;
	pid_t pid;

	/* Signals stay blocked across fork(): a SIGTERM that reached the
	 * child before child_main() reset the master's handlers would go to
	 * the master's self-pipe and be lost for the child. child_main()
	 * unblocks them once the default handlers are back. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &saved);
	pid = fork();
	if (pid == 0)
		child_main(m, index, master_pid);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	if (pid < 0) {
		log_error("event=fork service=%s", services[index].name);
		return;
	}
	c->pid = pid;
	c->started = time(NULL);
	c->restart_now = false;
	log_info("event=service_started service=%s pid=%ld",
		 services[index].name, (long)pid);
}

static void
child_restart_timer(evutil_socket_t fd, short what, void *arg)
{
	struct master *m = arg;

	(void)fd;
	(void)what;
	if (m->stopping)
		return;
	for (size_t i = 0; i < SERVICE_COUNT; i++)
		if (m->children[i].pid == 0)
			child_start(m, i);
}

static bool
all_children_gone(const struct master *m)
{
	for (size_t i = 0; i < SERVICE_COUNT; i++)
		if (m->children[i].pid != 0)
			return false;
	return true;
}

static void
child_exited(struct master *m, size_t index, int status)
{
	struct child *c = &m->children[index];
	time_t ran = time(NULL) - c->started;
	struct timeval delay = {0, 0};

	if (WIFSIGNALED(status))
		log_warnx("event=service_exit service=%s pid=%ld signal=%d",
			  services[index].name, (long)c->pid, WTERMSIG(status));
	else
		log_info("event=service_exit service=%s pid=%ld status=%d",
			 services[index].name, (long)c->pid,
			 WEXITSTATUS(status));
	c->pid = 0;
	if (m->stopping) {
		if (all_children_gone(m))
			event_base_loopbreak(m->base);
		return;
	}
	if (c->restart_now) {
		c->backoff = 0;
	} else {
		c->restarts++;
		if (ran >= CHILD_GOOD_RUN || c->backoff == 0)
			c->backoff = 1;
		else if (c->backoff < RESTART_BACKOFF_MAX)
			c->backoff *= 2;
		if (c->backoff > RESTART_BACKOFF_MAX)
			c->backoff = RESTART_BACKOFF_MAX;
		log_warnx("event=service_restart service=%s in=%us",
			  services[index].name, c->backoff);
	}
	delay.tv_sec = c->backoff;
	evtimer_add(c->restart_timer, &delay);
}

static void
on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;
	int status;
	pid_t pid;

	(void)sig;
	(void)what;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < SERVICE_COUNT; i++)
			if (m->children[i].pid == pid)
				child_exited(m, i, status);
	}
}

static void
signal_children(struct master *m, int sig)
{
	for (size_t i = 0; i < SERVICE_COUNT; i++)
		if (m->children[i].pid != 0)
			kill(m->children[i].pid, sig);
}

static void
on_kill_timer(evutil_socket_t fd, short what, void *arg)
{
	struct master *m = arg;

	(void)fd;
	(void)what;
	log_warnx("event=stop_timeout action=kill");
	signal_children(m, SIGKILL);
}

static void
on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;
	struct timeval grace = {0, 0};

	(void)what;
	if (m->stopping)
		return;
	log_info("event=stopping signal=%d", (int)sig);
	m->stopping = true;
	if (all_children_gone(m)) {
		event_base_loopbreak(m->base);
		return;
	}
	signal_children(m, SIGTERM);
	grace.tv_sec = m->settings.smtp_shutdown_timeout + 5;
	m->kill_timer = evtimer_new(m->base, on_kill_timer, m);
	evtimer_add(m->kill_timer, &grace);
}

static bool
listeners_equal(const struct moat_settings *a, const struct moat_settings *b)
{
	for (size_t i = 0; i < LISTENER_SETTING_COUNT; i++) {
		const struct str_list *la = listener_list(a, i);
		const struct str_list *lb = listener_list(b, i);

		if (la->count != lb->count)
			return false;
		for (size_t j = 0; j < la->count; j++)
			if (strcmp(la->items[j], lb->items[j]) != 0)
				return false;
	}
	return true;
}

static void
on_sighup(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;
	struct moat_settings fresh;
	enum log_level level;
	char *error = NULL;

	(void)sig;
	(void)what;
	memset(&fresh, 0, sizeof(fresh));
	if (moat_settings_load(m->config_path, &fresh, &error) < 0) {
		log_errorx("event=reload status=failed error=\"%s\" "
			   "note=\"keeping the running configuration\"",
			   error);
		free(error);
		moat_settings_free(&fresh);
		return;
	}
	if (!listeners_equal(&m->settings, &fresh))
		log_warnx("event=reload note=\"listener changes take effect "
			  "after a restart\"");
	if (strcmp(fresh.data_dir, m->settings.data_dir) != 0)
		log_warnx("event=reload note=\"data_dir changes take effect "
			  "after a restart\"");
	/* Listeners, data dir and user stay as bound at start. */
	for (size_t i = 0; i < LISTENER_SETTING_COUNT; i++) {
		struct str_list *lf =
		    (struct str_list *)((char *)&fresh +
					listener_settings[i].offset);
		struct str_list *lm =
		    (struct str_list *)((char *)&m->settings +
					listener_settings[i].offset);
		struct str_list tmp = *lf;
		*lf = *lm;
		*lm = tmp;
	}
	{
		char *tmp = fresh.data_dir;
		fresh.data_dir = m->settings.data_dir;
		m->settings.data_dir = tmp;
	}
	moat_settings_free(&m->settings);
	m->settings = fresh;
	if (log_level_parse(m->settings.log_level, &level) == 0)
		log_set_level(level);
	log_info("event=reload status=ok note=\"restarting services\"");
	for (size_t i = 0; i < SERVICE_COUNT; i++)
		m->children[i].restart_now = true;
	signal_children(m, SIGTERM);
}

static void
signal_to_pipe(int sig)
{
	unsigned char byte = (unsigned char)sig;
	int saved = errno;

	(void)!write(signal_pipe[1], &byte, 1);
	errno = saved;
}

static void
on_signal_pipe(evutil_socket_t fd, short what, void *arg)
{
	unsigned char sigs[64];
	ssize_t n;

	(void)what;
	while ((n = read(fd, sigs, sizeof(sigs))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			switch (sigs[i]) {
			case SIGCHLD:
				on_sigchld(SIGCHLD, 0, arg);
				break;
			case SIGTERM:
			case SIGINT:
				on_sigterm(sigs[i], 0, arg);
				break;
			case SIGHUP:
				on_sighup(SIGHUP, 0, arg);
				break;
			}
		}
	}
}

static int
master_signals_init(struct master *m, struct event **event_r)
{
	static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
	struct sigaction sa;

	if (pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = signal_to_pipe;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -1;
	*event_r = event_new(m->base, signal_pipe[0], EV_READ | EV_PERSIST,
			     on_signal_pipe, m);
	return event_add(*event_r, NULL);
}

static void
control_handler(const char *command, struct buf *reply, void *context)
{
	struct master *m = context;
	time_t now = time(NULL);

	if (strcmp(command, "status") == 0) {
		buf_printf(reply,
			   "moatd version=%s pid=%ld uptime=%llds user=%s "
			   "data_dir=%s\n",
			   MOAT_VERSION, (long)getpid(),
			   (long long)(now - m->started), m->user.name,
			   m->settings.data_dir);
		for (size_t i = 0; i < SERVICE_COUNT; i++) {
			const struct child *c = &m->children[i];
			buf_printf(reply,
				   "service=%s state=%s pid=%ld uptime=%llds "
				   "restarts=%u\n",
				   services[i].name,
				   c->pid != 0 ? "running" : "restarting",
				   (long)c->pid,
				   c->pid != 0 ? (long long)(now - c->started)
					       : 0LL,
				   c->restarts);
		}
		for (size_t i = 0; i < m->listener_count; i++)
			buf_printf(reply, "listener=%s\n",
				   m->listeners[i].address);
	} else if (strcmp(command, "reload") == 0) {
		raise(SIGHUP);
		buf_append_str(reply, "reloading\n");
	} else {
		buf_append_str(reply,
			       "error: unknown command (status, reload)\n");
	}
}

/* Locks DATA_DIR/moatd.pid so that two masters never share a data dir. */
static int
master_pidfile(struct master *m, char **error_r)
{
	char text[32];
	int len;

	m->pid_path = xasprintf("%s/moatd.pid", m->settings.data_dir);
	m->pid_fd = open(m->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (m->pid_fd < 0) {
		*error_r = xasprintf("%s: %s", m->pid_path, strerror(errno));
		return -1;
	}
	if (flock(m->pid_fd, LOCK_EX | LOCK_NB) < 0) {
		*error_r = xasprintf("another moatd is running on %s (%s is "
				     "locked)",
				     m->settings.data_dir, m->pid_path);
		return -1;
	}
	len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(m->pid_fd, 0) < 0 || write(m->pid_fd, text, len) != len) {
		*error_r = xasprintf("%s: %s", m->pid_path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
master_setup(struct master *m, const struct master_options *options,
	     char **error_r)
{
	char *cert = NULL, *key = NULL, *path;
	int removed;

	if (master_run_user_lookup(&m->settings, &m->user, error_r) < 0)
		return -1;
	if (master_prepare_data_dir(&m->settings, &m->user, error_r) < 0)
		return -1;
	if (master_pidfile(m, error_r) < 0)
		return -1;
	removed = master_recover_queue(&m->settings);
	if (removed > 0)
		log_warnx("event=recover removed=%d note=\"unacknowledged "
			  "partial messages discarded\"",
			  removed);
	if (master_prepare_tls(&m->settings, &m->user, &cert, &key, error_r) <
	    0)
		return -1;
	m->tls_ctx = tls_server_ctx_new(cert, key, error_r);
	free(cert);
	free(key);
	if (m->tls_ctx == NULL)
		return -1;
	if (master_bind_listeners(m, error_r) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       m->notify_fds) < 0) {
		*error_r = xasprintf("socketpair: %s", strerror(errno));
		return -1;
	}
	path = xasprintf("%s/moatd.sock", m->settings.data_dir);
	m->control = master_control_new(m->base, path, m->user.gid,
					control_handler, m, error_r);
	free(path);
	if (m->control == NULL)
		return -1;
	(void)options;
	return 0;
}

static void
master_teardown(struct master *m)
{
	master_control_free(&m->control);
	for (size_t i = 0; i < m->listener_count; i++) {
		close(m->listeners[i].fd);
		free(m->listeners[i].address);
	}
	x_free(&m->listeners);
	for (size_t i = 0; i < SERVICE_COUNT; i++)
		if (m->children[i].restart_timer != NULL)
			event_free(m->children[i].restart_timer);
	if (m->kill_timer != NULL)
		event_free(m->kill_timer);
	if (m->tls_ctx != NULL)
		SSL_CTX_free(m->tls_ctx);
	if (m->pid_path != NULL) {
		(void)unlink(m->pid_path);
		x_free(&m->pid_path);
	}
	if (m->pid_fd >= 0)
		close(m->pid_fd);
	master_run_user_free(&m->user);
	moat_settings_free(&m->settings);
}

int
master_run(const struct master_options *options)
{
	struct master m;
	struct event *sig_event = NULL;
	enum log_level level = LOG_LEVEL_INFO;
	char *error = NULL;
	int rc = 0;

	memset(&m, 0, sizeof(m));
	m.pid_fd = -1;
	m.notify_fds[0] = m.notify_fds[1] = -1;
	m.config_path = options->config_path;
	m.started = time(NULL);
	log_init("master", options->foreground, LOG_LEVEL_INFO);
	if (moat_settings_load(options->config_path, &m.settings, &error) < 0) {
		fprintf(stderr, "moatd: %s\n", error);
		free(error);
		moat_settings_free(&m.settings);
		return 1;
	}
	if (log_level_parse(m.settings.log_level, &level) == 0)
		log_set_level(level);
	if (!options->foreground && daemon(0, 0) < 0) {
		fprintf(stderr, "moatd: daemon: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	m.base = event_base_new();
	if (m.base == NULL)
		log_fatalx("event_base_new failed");
	if (master_setup(&m, options, &error) < 0) {
		log_errorx("event=start status=failed error=\"%s\"", error);
		if (options->foreground)
			fprintf(stderr, "moatd: %s\n", error);
		free(error);
		master_teardown(&m);
		event_base_free(m.base);
		return 1;
	}
	if (master_signals_init(&m, &sig_event) < 0)
		log_fatal("event=signals");
	for (size_t i = 0; i < SERVICE_COUNT; i++) {
		m.children[i].restart_timer =
		    evtimer_new(m.base, child_restart_timer, &m);
		child_start(&m, i);
	}
	log_info("event=started version=%s pid=%ld user=%s data_dir=%s "
		 "hostname=%s",
		 MOAT_VERSION, (long)getpid(), m.user.name, m.settings.data_dir,
		 m.settings.hostname);
	event_base_dispatch(m.base);
	log_info("event=stopped");
	event_free(sig_event);
	close(m.notify_fds[0]);
	close(m.notify_fds[1]);
	master_teardown(&m);
	event_base_free(m.base);
	return rc;
}
