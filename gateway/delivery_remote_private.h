/*
 * delivery_remote_private: the objects of the remote delivery engine,
 * shared by its files: delivery_remote.c (attempts, jobs, connections,
 * scheduling), delivery_resolve.c (next hops to targets through DNS) and
 * delivery_admin.c (moatctl queue commands). Not for use elsewhere.
 */
#ifndef MOAT_DELIVERY_REMOTE_PRIVATE_H
#define MOAT_DELIVERY_REMOTE_PRIVATE_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "gateway/delivery_remote.h"
#include "gateway/mx_order.h"
#include "gateway/queue_file.h"
#include "gateway/queue_state.h"
#include "gateway/retry_schedule.h"
#include "gateway/route.h"
#include "gateway/smtp_client.h"

struct dns;
struct directory;
struct route_table;

#define ATTEMPTS_MAX  256 /* messages in flight (each holds a file open) */
#define TARGETS_MAX   32
#define HOST_ADDR_MAX 4

enum addr_result { AR_PENDING, AR_SENT, AR_DEFER, AR_BOUNCE };

struct daddr {
	size_t rcpt; /* index in the envelope */
	char *address;
	enum addr_result result;
	struct smtp_client_outcome outcome;
	char remote[320];	  /* "host[ip]:port" or "" */
	bool relayed_without_dsn; /* sent to a host that has no DSN */
	bool delivered_locally;	  /* into the store by this engine */
};

struct target {
	char host[256];
	char ip[64];
	int port;
};

struct job;

struct lookup {
	struct job *job;
	size_t host;
	int rrtype;
};

struct host_addrs {
	char v4[HOST_ADDR_MAX][64], v6[HOST_ADDR_MAX][64];
	size_t n4, n6;
	bool missing; /* NXDOMAIN or no data */
};

struct attempt;
struct conn;

struct job {
	struct job *wait_next;
	bool waiting;
	struct attempt *a;
	struct route route;
	char key[600];
	char domain[256];
	size_t *addrs, naddrs;
	struct smtp_client_rcpt *crcpts;
	struct smtp_client_message cmsg;
	size_t hop;
	struct mx_host hosts[MX_HOSTS_MAX];
	struct host_addrs haddr[MX_HOSTS_MAX];
	struct lookup lk[2 * MX_HOSTS_MAX];
	size_t nhosts, pending;
	bool implicit_mx;
	struct target targets[TARGETS_MAX];
	size_t ntargets, cur;
	bool plain_retry; /* the current target again, without STARTTLS */
	struct smtp_client_outcome last;
};

struct conn {
	struct conn *prev, *next;
	struct delivery_remote *dr;
	struct smtp_client *client;
	struct smtp_client_config cfg;
	char key[600];
	char helo[256], tls_name[256], auth_user[256], auth_pass[256];
	struct target target;
	struct job *job;
};

struct attempt {
	struct attempt *prev, *next;
	struct delivery_remote *dr;
	char qid[QUEUE_ID_MAX];
	struct queue_envelope env;
	int fd;
	off_t offset;
	size_t len;
	bool *done;
	struct queue_state state;
	struct daddr *addrs;
	size_t naddrs;
	struct job **jobs;
	size_t njobs, jobs_left;
};

struct rmsg {
	char qid[QUEUE_ID_MAX];
	time_t next;
	bool held, busy, deleted, kicked;
};

struct dest_count {
	char key[600];
	size_t n;
};

struct delivery_remote {
	struct event_base *base;
	const struct moat_settings *set;
	char *queue_dir, *deferred_dir;
	struct dns *dns;
	struct directory *dir;
	struct route_table *routes;
	SSL_CTX *tls_ctx;
	struct retry_policy policy;
	delivery_enqueue_fn *enqueue;
	void *enqueue_ctx;
	delivery_local_fn *local; /* store delivery (queue_service.c) */
	void *local_ctx;
	struct rmsg *msgs;
	size_t nmsgs, msgs_cap;
	struct event *tick, *work;
	time_t last_scan;
	struct job *wait_head, *wait_tail;
	struct dest_count *dests;
	size_t ndests;
	size_t active_conns, in_flight;
	struct attempt *attempts;
	struct conn *conns;
	unsigned int seed;
};

/* delivery_remote.c */
/* Connects (or waits for a slot) for the job's current target; after the
 * last target, the next hop. May finish and free the job. */
void delivery_job_try(struct job *j);
/* Every address of j still pending gets o (and a log line); the job ends. */
void delivery_job_fail_all(struct job *j, const struct smtp_client_outcome *o);
void delivery_outcome_make(struct smtp_client_outcome *o, int code,
			   const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
struct rmsg *delivery_rmsg_find(struct delivery_remote *dr, const char *qid);
void delivery_rmsg_remove(struct delivery_remote *dr, const char *qid);
/* Adds the messages of deferred/ not known yet, with their schedules. */
void delivery_scan_deferred(struct delivery_remote *dr);
/* Removes QID, QID.done and QID.state from deferred/. */
void delivery_remove_files(struct delivery_remote *dr, const char *qid);

/* delivery_resolve.c */
/* Resolves the job's hop number j->hop into j->targets, then tries them
 * (delivery_job_try); past the last hop the job fails with j->last. */
void delivery_resolve_hop(struct job *j);

#endif
