/*
 * smtp_auth: SASL for SMTP AUTH (RFC 4954): the PLAIN and LOGIN decoders,
 * and a pool of worker threads that check passwords (argon2id is far too
 * slow for the event loop). Results come back on the event loop.
 */
#ifndef MOAT_SMTP_AUTH_H
#define MOAT_SMTP_AUTH_H

#include <stddef.h>

struct event_base;
struct smtp_auth_pool;

#define SMTP_AUTH_WORKERS 2
/* Longest login / password we decode (bytes). */
#define SMTP_AUTH_FIELD_MAX 512

/*
 * Runs on the event loop. result 1: credentials valid, canonical is the
 * user's canonical address (valid during the call); 0: invalid; -1:
 * temporary error (database).
 */
typedef void smtp_auth_cb(int result, const char *canonical, void *context);

/* Starts the workers; each opens its own directory on data_dir. NULL with
 * *error_r (allocated) on failure. evthread_use_pthreads() first. */
struct smtp_auth_pool *smtp_auth_pool_new(struct event_base *base,
					  const char *data_dir, char **error_r);
/* Stops and joins the workers; queued requests are dropped without their
 * callbacks. */
void smtp_auth_pool_free(struct smtp_auth_pool **pool);
/* Queues a verification; cb runs later on the loop, never inside this
 * call. Copies login and password (the copy is wiped after use). */
void smtp_auth_verify(struct smtp_auth_pool *pool, const char *login,
		      const char *password, smtp_auth_cb *cb, void *context);

/*
 * Decodes base64 (RFC 4648, padding required, no whitespace) from in[0..len)
 * into out (outsz bytes, output NUL-terminated). Returns the decoded length
 * or -1 on bad input or overflow.
 */
long smtp_auth_base64_decode(const char *in, size_t len, char *out,
			     size_t outsz);
/*
 * Decodes a PLAIN response (base64 of authzid NUL authcid NUL passwd) into
 * login and password (each SMTP_AUTH_FIELD_MAX + 1 bytes). An authzid, when
 * present, must equal the authcid. Returns 0 or -1.
 */
int smtp_auth_plain_decode(const char *b64, char *login, char *password);

#endif
