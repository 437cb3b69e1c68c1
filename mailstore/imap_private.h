/*
 * imap_private: state shared by the files that make up imapd:
 * imap_server.c (loop, listeners, notifications), imap_session.c
 * (connection, command assembly, dispatch, authentication, IDLE),
 * imap_mailbox.c (LIST, SELECT, STATUS, APPEND, ...), imap_view.c (the
 * selected mailbox and its synchronisation), imap_fetch.c (FETCH, STORE,
 * COPY, MOVE, EXPUNGE) and imap_search.c (SEARCH). Not for use outside
 * mailstore/imap_*.c.
 */
#ifndef MOAT_IMAP_PRIVATE_H
#define MOAT_IMAP_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"
#include "mailstore/imap_parser.h"
#include "mailstore/imap_seqset.h"
#include "mailstore/imap_server.h"
#include "mailstore/train_spool.h"

struct event_base;
struct bufferevent;
struct event;
struct store;
struct pool;
struct auth_pool;
struct auth_throttle;
struct sockaddr;

/* Output above this suspends a long FETCH until the client reads. */
#define IMAP_OUTPUT_HIGH (256 * 1024)
/* Output above this (a client that does not read): the connection goes. */
#define IMAP_OUTPUT_MAX (8 * 1024 * 1024)
#define IMAP_LINE_MAX	65536
#define IMAP_MAX_BAD	20

struct imap_session;

struct imap_server {
	const struct imap_server_config *cfg;
	struct event_base *base;
	struct store *store;
	struct auth_pool *auth;
	struct auth_throttle *throttle;
	struct imap_session *sessions;
	size_t session_count;
	unsigned long session_counter;
	int notify_fd;
	char *notify_path;
	struct event *notify_event;
	struct train_spool *train; /* users' spam training; NULL: off */
	bool stopping;
};

/* One message of the selected mailbox; its sequence number is index + 1. */
struct imap_msg {
	uint32_t uid;
	bool gone; /* expunged elsewhere, not yet announced */
	uint64_t modseq;
	uint64_t size;
	time_t internal_date, saved_date;
	char *flags;
	char *path;
};

struct imap_view {
	char *name;	   /* canonical (store) name */
	char *special_use; /* "" or e.g. "\\Junk" */
	bool readonly;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	struct imap_msg *msgs;
	size_t count, alloc;
};

enum imap_state {
	IMAP_STATE_NOT_AUTH,
	IMAP_STATE_AUTH,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
};

enum imap_wait {
	IMAP_WAIT_NONE,
	IMAP_WAIT_AUTH, /* password check in flight */
	IMAP_WAIT_SASL, /* AUTHENTICATE: next line is a response */
	IMAP_WAIT_SASL_LOGIN_PASS,
	IMAP_WAIT_IDLE,	 /* IDLE: waiting for DONE */
	IMAP_WAIT_FETCH, /* a suspended FETCH */
	IMAP_WAIT_CLOSING,
};

struct imap_fetch_ctx;

struct imap_session {
	struct imap_session *prev, *next;
	struct imap_server *server;
	struct bufferevent *bev;
	char id[16];
	char ip[48];
	bool implicit_tls, tls, loopback;
	bool dead, async_pending;
	bool rev2, utf8, condstore, qresync;
	bool pending_changes; /* a notification for the selected mailbox */
	bool discard_line;    /* skipping the rest of a too long line */
	bool sasl_plain;      /* AUTHENTICATE PLAIN (else LOGIN) */
	enum imap_state state;
	enum imap_wait wait;
	char *user;
	char *tag; /* of the command in IDLE/AUTHENTICATE/FETCH */
	char *sasl_login;
	struct buf cmd; /* the command being assembled */
	uint64_t literal_left;
	bool literal_discard; /* reading a literal we refused */
	bool cmd_is_append;
	unsigned int bad_count;
	struct imap_view *view;
	uint32_t *searchres; /* SEARCHRES "$" (UIDs) */
	size_t nsearchres;
	struct imap_fetch_ctx *fetch;
	struct event *timer; /* auth failure delay, close poll */
	unsigned int close_polls;
};

/* imap_session.c */
void imap_session_new(struct imap_server *srv, int fd,
		      const struct sockaddr *peer, bool implicit_tls);
void imap_session_free_all(struct imap_server *srv);
void imap_session_shutdown_all(struct imap_server *srv);
/* A change of (user, mailbox) was announced. */
void imap_session_notify(struct imap_server *srv, const char *user,
			 const char *mailbox);
/* Appends fmt + CRLF to the output. */
void imap_printf(struct imap_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void imap_write(struct imap_session *s, const void *data, size_t len);
/* Tagged reply: "tag OK text". */
void imap_tagged(struct imap_session *s, const char *tag, const char *status,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
size_t imap_output_pending(struct imap_session *s);
/* Resumes command processing (after a suspended FETCH completes). */
void imap_session_resume(struct imap_session *s);

/* Appends str as an IMAP string: quoted when it can be, else a literal. */
void imap_append_string(struct buf *out, const char *str, size_t len);
/* Appends a mailbox name for this client (UTF-8 or modified UTF-7). */
void imap_append_mailbox(struct imap_session *s, struct buf *out,
			 const char *name);
/* Decodes a mailbox argument into a canonical store name; NULL with
 * *error_r static when invalid. Allocated. */
char *imap_mailbox_arg(struct imap_session *s, const struct imap_arg *arg,
		       const char **error_r);

/* imap_mailbox.c: commands valid in the authenticated state */
void imap_cmd_list(struct imap_session *s, const struct imap_command *cmd,
		   bool lsub);
void imap_cmd_create(struct imap_session *s, const struct imap_command *cmd);
void imap_cmd_delete(struct imap_session *s, const struct imap_command *cmd);
void imap_cmd_rename(struct imap_session *s, const struct imap_command *cmd);
void imap_cmd_subscribe(struct imap_session *s, const struct imap_command *cmd,
			bool subscribe);
void imap_cmd_status(struct imap_session *s, const struct imap_command *cmd);
void imap_cmd_select(struct imap_session *s, const struct imap_command *cmd,
		     bool readonly);
void imap_cmd_append(struct imap_session *s, const struct imap_command *cmd);
void imap_cmd_namespace(struct imap_session *s, const struct imap_command *cmd);
void imap_cmd_getquota(struct imap_session *s, const struct imap_command *cmd,
		       bool root);

/* imap_view.c */
/* Loads the mailbox; 1 ok, 0 no such mailbox, -1 error. */
int imap_view_open(struct imap_session *s, const char *name, bool readonly,
		   struct imap_view **view_r);
void imap_view_free(struct imap_view **view);
/* Re-reads the mailbox and announces differences (EXPUNGE/VANISHED only
 * when allow_expunge; FETCH for flag changes; EXISTS for new mail). */
void imap_view_sync(struct imap_session *s, bool allow_expunge);
/* Removes uids (sorted) from the view, announcing them. */
void imap_view_expunged(struct imap_session *s, const uint32_t *uids,
			size_t count);
/* Index of uid in the view, or -1. */
long imap_view_find_uid(const struct imap_view *view, uint32_t uid);
/* Resolves a sequence set argument (or "$") to view indexes, ascending.
 * 0, or -1 with *error_r static. */
int imap_view_resolve(struct imap_session *s, const char *text, bool uid,
		      size_t **indexes_r, size_t *count_r,
		      const char **error_r);
/* Whether the view is the user's Quarantine mailbox (read-only; COPY and
 * MOVE out of it release). */
bool imap_view_is_quarantine(const struct imap_view *view);
/* Appends "(\Seen ...)" for flags. */
void imap_append_flags(struct buf *out, const char *flags);

/* imap_fetch.c */
void imap_cmd_fetch(struct imap_session *s, const struct imap_command *cmd,
		    size_t first, bool uid);
/* Continues a suspended FETCH; true when it finished. */
bool imap_fetch_continue(struct imap_session *s);
void imap_fetch_free(struct imap_fetch_ctx **ctx);
void imap_cmd_store(struct imap_session *s, const struct imap_command *cmd,
		    size_t first, bool uid);
void imap_cmd_copy(struct imap_session *s, const struct imap_command *cmd,
		   size_t first, bool uid, bool move);
void imap_cmd_expunge(struct imap_session *s, const struct imap_command *cmd,
		      size_t first, bool uid);

/* imap_search.c */
void imap_cmd_search(struct imap_session *s, const struct imap_command *cmd,
		     size_t first, bool uid);
void imap_cmd_sort(struct imap_session *s, const struct imap_command *cmd,
		   size_t first, bool uid);
void imap_cmd_thread(struct imap_session *s, const struct imap_command *cmd,
		     size_t first, bool uid);

/* Date-time as IMAP INTERNALDATE ("01-Jan-2024 10:00:00 +0000"). */
void imap_append_datetime(struct buf *out, time_t t);
/* Parses "1-Feb-2024" (SEARCH dates); -1 when invalid. */
int imap_parse_date(const char *s, time_t *t_r);
/* Parses an APPEND date-time "01-Feb-2024 10:00:00 +0100"; -1 invalid. */
int imap_parse_datetime(const char *s, time_t *t_r);

/* imap_train.c: users' spam training (see there for the rules) */
/* TRAIN_SPAM or TRAIN_HAM for a COPY/MOVE between mailboxes of these
 * special uses, or -1 when it teaches nothing. */
int imap_train_copy_class(const char *src_use, const char *dst_use);
/* The special use of the user's mailbox name ("" for none), allocated;
 * NULL when there is no such mailbox or on an error (logged). Reads the
 * mailbox list only, not the mailbox's counters. */
char *imap_train_special_use(struct imap_session *s, const char *name);
/* The class a STORE of these flags teaches ($Junk, $NotJunk), or -1. */
int imap_train_flag_class(const char *flags, bool remove);
/* Whether the space separated flags hold keyword (case-insensitive). */
bool imap_train_has_keyword(const char *flags, const char *keyword);
/* A request for this command; NULL when training is off or cls < 0 (the
 * other functions accept NULL and do nothing). */
struct train_batch *imap_train_begin(struct imap_session *s,
				     const char *mailbox, int cls,
				     enum train_reason reason);
/* Stages a message: the file at path, or len bytes of data. */
void imap_train_add(struct imap_session *s, struct train_batch *batch,
		    uint32_t uid, const char *path, const void *data,
		    size_t len);
/* COPY/MOVE of uids out of Quarantine into dest: a ham request for those
 * of the user's entries the spam filter quarantined, unless dest is Trash
 * or Junk or quarantine.learn_on_release is off; NULL when none. */
struct train_batch *imap_train_release(struct imap_session *s, const char *dest,
				       const uint32_t *uids, size_t count);
/* Commits the request when ok (the command succeeded), else drops it. */
void imap_train_finish(struct imap_session *s, struct train_batch **batch,
		       bool ok);

#endif
