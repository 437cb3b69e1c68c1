/*
 * password: hashing and verification with libsodium's argon2id. Both are
 * expensive (tens of ms, tens of MiB): call them from worker threads, never
 * on an event loop.
 */
#ifndef MOAT_PASSWORD_H
#define MOAT_PASSWORD_H

#include <stdbool.h>

/* Returns 0 and an allocated "$argon2id$..." string, or -1. */
int password_hash(const char *password, char **hash_r);
/* true when password matches hash. */
bool password_verify(const char *hash, const char *password);

#endif
