/*
 * pool: an arena for memory that lives exactly as long as one SMTP
 * transaction or one IMAP session. Allocations are never freed one by one;
 * pool_free() releases everything at once and NULLs the pointer.
 */
#ifndef MOAT_POOL_H
#define MOAT_POOL_H

#include <stddef.h>

struct pool;

struct pool *pool_new(size_t block_size);
void pool_free(struct pool **pool);
/* Forgets every allocation, keeps the first block for reuse. */
void pool_clear(struct pool *pool);
/* Aligned to max_align_t; never NULL (aborts on exhaustion/overflow). */
void *pool_alloc(struct pool *pool, size_t size);
void *pool_zalloc(struct pool *pool, size_t size);
char *pool_strdup(struct pool *pool, const char *s);
char *pool_strndup(struct pool *pool, const char *s, size_t n);
/* Total bytes handed out (for limits and tests). */
size_t pool_used(const struct pool *pool);

#endif
