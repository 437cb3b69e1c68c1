/*
 * pool: an arena for memory that lives as long as one SMTP transaction or
 * one IMAP session. Memory comes from a chain of blocks; each allocation is
 * rounded up to alignof(max_align_t) and carved from the current block. A
 * request larger than the block size (minus header) gets a block of its own,
 * linked behind the current one so the current block keeps serving small
 * requests. pool_clear() frees every block but the first; pool_free()
 * frees all. Sizes are checked: overflow aborts like allocation failure.
 */
#include "lib/pool.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/xalloc.h"

#define POOL_ALIGN     alignof(max_align_t)
#define POOL_MIN_BLOCK 256

struct pool_block {
	struct pool_block *next;
	size_t size; /* usable bytes after the header */
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

struct pool {
	struct pool_block *first;   /* the block kept by pool_clear() */
	struct pool_block *current; /* small allocations come from here */
	size_t block_size;
	size_t total_used;
};

static size_t
pool_round(size_t size)
{
	if (size > SIZE_MAX - (POOL_ALIGN - 1))
		(void)xcalloc(SIZE_MAX, 2); /* aborts: size overflow */
	return (size + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1);
}

static struct pool_block *
pool_block_new(size_t size)
{
	struct pool_block *block;

	if (size > SIZE_MAX - sizeof(*block))
		(void)xcalloc(SIZE_MAX, 2); /* aborts: size overflow */
	block = xmalloc(sizeof(*block) + size);
	block->next = NULL;
	block->size = size;
	block->used = 0;
	return block;
}

struct pool *
pool_new(size_t block_size)
{
	struct pool *pool = xcalloc(1, sizeof(*pool));

	if (block_size < POOL_MIN_BLOCK)
		block_size = POOL_MIN_BLOCK;
	pool->block_size = pool_round(block_size);
	pool->first = pool_block_new(pool->block_size);
	pool->current = pool->first;
	return pool;
}

static void
pool_free_chain(struct pool_block *block)
{
	while (block != NULL) {
		struct pool_block *next = block->next;

		free(block);
		block = next;
	}
}

void
pool_free(struct pool **poolp)
{
	struct pool *pool = *poolp;

	if (pool == NULL)
		return;
	pool_free_chain(pool->first);
	free(pool);
	*poolp = NULL;
}

void
pool_clear(struct pool *pool)
{
	pool_free_chain(pool->first->next);
	pool->first->next = NULL;
	pool->first->used = 0;
	pool->current = pool->first;
	pool->total_used = 0;
}

void *
pool_alloc(struct pool *pool, size_t size)
{
	struct pool_block *block = pool->current;
	size_t need = pool_round(size == 0 ? 1 : size);
	void *p;

	if (need > pool->block_size) {
		/* Oversize: its own block, chained after the current one. */
		struct pool_block *big = pool_block_new(need);

		big->used = need;
		big->next = block->next;
		block->next = big;
		pool->total_used += size;
		return big->data;
	}
	if (block->size - block->used < need) {
		struct pool_block *fresh = pool_block_new(pool->block_size);

		fresh->next = block->next;
		block->next = fresh;
		pool->current = fresh;
		block = fresh;
	}
	p = block->data + block->used;
	block->used += need;
	pool->total_used += size;
	return p;
}

void *
pool_zalloc(struct pool *pool, size_t size)
{
	void *p = pool_alloc(pool, size);

	memset(p, 0, size);
	return p;
}

char *
pool_strdup(struct pool *pool, const char *s)
{
	return pool_strndup(pool, s, SIZE_MAX);
}

char *
pool_strndup(struct pool *pool, const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = pool_alloc(pool, len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

size_t
pool_used(const struct pool *pool)
{
	return pool->total_used;
}
