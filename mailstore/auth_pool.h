/*
 * auth_pool: a pool of worker threads that check login/password pairs
 * against the user directory (argon2id costs tens of milliseconds and tens
 * of MiB: never on an event loop). Results come back on the event loop of
 * the service that owns the pool. Used by SMTP AUTH, IMAP and POP3.
 */
#ifndef MOAT_AUTH_POOL_H
#define MOAT_AUTH_POOL_H

#include <stddef.h>

struct event_base;
struct auth_pool;

#define AUTH_POOL_WORKERS 2

/*
 * Runs on the event loop. result 1: credentials valid, canonical is the
 * user's canonical address (valid during the call); 0: invalid; -1:
 * temporary error (database).
 */
typedef void auth_pool_cb(int result, const char *canonical, void *context);

/* Starts the workers; each opens its own directory on data_dir. NULL with
 * *error_r (allocated) on failure. evthread_use_pthreads() first. */
struct auth_pool *auth_pool_new(struct event_base *base, const char *data_dir,
				char **error_r);
/* Stops and joins the workers; queued requests are dropped without their
 * callbacks. */
void auth_pool_free(struct auth_pool **pool);
/*
 * Queues a verification; cb runs later on the loop, never inside this
 * call. Copies login and password (the copy is wiped after use). With
 * delay_ms > 0 the check starts only after that delay (auth_throttle_wait_ms
 * for the client's address): a throttled client learns nothing sooner.
 * Called on the loop thread only.
 */
void auth_pool_verify(struct auth_pool *pool, const char *login,
		      const char *password, unsigned int delay_ms,
		      auth_pool_cb *cb, void *context);

#endif
