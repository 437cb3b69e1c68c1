/*
 * auth_throttle: the per-address failed-login penalty. Addresses become a
 * 16-byte key (IPv4 as v4-mapped IPv6, IPv6 masked to its /64, anything
 * else hashed from its text); the table is open-addressed with a probe
 * window of THROTTLE_PROBE slots, so a lookup touches at most that many
 * entries and an insertion into a full window evicts the entry whose last
 * failure is oldest. The delay after n failures is base_ms << ((n - 1) / 2)
 * (1, 1, 2, 2, 4, 4 ... seconds: a user who mistypes twice is not punished),
 * capped at max_ms. All times come from the caller (now_ms) so that the
 * unit tests need no clock.
 */
#include "mailstore/auth_throttle.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "lib/xalloc.h"

#define THROTTLE_PROBE 8

struct throttle_entry {
	uint8_t key[16];
	uint64_t last_ms; /* 0: empty */
	uint32_t failures;
	uint32_t pad;
};

struct auth_throttle {
	struct auth_throttle_settings set;
	struct throttle_entry *entries;
	size_t mask;
};

const struct auth_throttle_settings auth_throttle_defaults = {
    .capacity = 4096,
    .base_ms = 1000,
    .max_ms = 16000,
    .forget_s = 900,
};

struct auth_throttle *
auth_throttle_new(const struct auth_throttle_settings *set)
{
	struct auth_throttle *t = xcalloc(1, sizeof(*t));
	size_t cap = 16;

	t->set = set != NULL ? *set : auth_throttle_defaults;
	while (cap < t->set.capacity && cap < ((size_t)1 << 24))
		cap <<= 1;
	t->entries = xcalloc(cap, sizeof(*t->entries));
	t->mask = cap - 1;
	return t;
}

void
auth_throttle_free(struct auth_throttle **tp)
{
	struct auth_throttle *t = *tp;

	if (t == NULL)
		return;
	free(t->entries);
	free(t);
	*tp = NULL;
}

uint64_t
auth_throttle_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* +1: 0 means "empty slot" in the table. */
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1;
}

static void
make_key(const char *ip, uint8_t key[16])
{
	struct in_addr a4;
	struct in6_addr a6;
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	size_t i;

	memset(key, 0, 16);
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		key[10] = 0xff;
		key[11] = 0xff;
		memcpy(key + 12, &a4, 4);
		return;
	}
	if (inet_pton(AF_INET6, ip, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			memcpy(key, &a6, 16);
			return;
		}
		memcpy(key, &a6, 8); /* the /64 */
		key[15] = 6;
		return;
	}
	for (i = 0; ip[i] != '\0'; i++) {
		h ^= (unsigned char)ip[i];
		h *= 1099511628211ULL;
	}
	key[0] = 0xfe; /* not a valid /64 prefix we would produce otherwise */
	memcpy(key + 4, &h, sizeof(h));
	key[15] = 0x7e;
}

static size_t
key_hash(const uint8_t key[16])
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < 16; i++) {
		h ^= key[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 32));
}

static bool
entry_live(const struct auth_throttle *t, const struct throttle_entry *e,
	   uint64_t now_ms)
{
	return e->last_ms != 0 &&
	       now_ms - e->last_ms < (uint64_t)t->set.forget_s * 1000;
}

/* The live entry for key, or NULL. */
static struct throttle_entry *
throttle_find(struct auth_throttle *t, const uint8_t key[16], uint64_t now_ms)
{
	size_t h = key_hash(key), i;

	for (i = 0; i < THROTTLE_PROBE; i++) {
		struct throttle_entry *e = &t->entries[(h + i) & t->mask];

		if (e->last_ms != 0 && memcmp(e->key, key, 16) == 0) {
			if (!entry_live(t, e, now_ms)) {
				memset(e, 0, sizeof(*e));
				return NULL;
			}
			return e;
		}
	}
	return NULL;
}

static unsigned int
delay_for(const struct auth_throttle *t, uint32_t failures)
{
	uint64_t d;
	uint32_t shift;

	if (failures == 0)
		return 0;
	shift = (failures - 1) / 2;
	d = (uint64_t)t->set.base_ms << (shift > 20 ? 20 : shift);
	return d > t->set.max_ms ? t->set.max_ms : (unsigned int)d;
}

unsigned int
auth_throttle_wait_ms(struct auth_throttle *t, const char *ip, uint64_t now_ms)
{
	uint8_t key[16];
	struct throttle_entry *e;
	uint64_t until;

	make_key(ip, key);
	e = throttle_find(t, key, now_ms);
	if (e == NULL)
		return 0;
	until = e->last_ms + delay_for(t, e->failures);
	return until > now_ms ? (unsigned int)(until - now_ms) : 0;
}

unsigned int
auth_throttle_failure(struct auth_throttle *t, const char *ip, uint64_t now_ms)
{
	uint8_t key[16];
	struct throttle_entry *e, *victim = NULL;
	size_t h, i;

	make_key(ip, key);
	e = throttle_find(t, key, now_ms);
	if (e == NULL) {
		h = key_hash(key);
		for (i = 0; i < THROTTLE_PROBE; i++) {
			struct throttle_entry *c =
			    &t->entries[(h + i) & t->mask];

			if (!entry_live(t, c, now_ms)) {
				victim = c;
				break;
			}
			if (victim == NULL || c->last_ms < victim->last_ms)
				victim = c;
		}
		e = victim;
		memset(e, 0, sizeof(*e));
		memcpy(e->key, key, 16);
	}
	if (e->failures < UINT32_MAX)
		e->failures++;
	e->last_ms = now_ms != 0 ? now_ms : 1;
	return delay_for(t, e->failures);
}

void
auth_throttle_success(struct auth_throttle *t, const char *ip)
{
	uint8_t key[16];
	size_t h, i;

	make_key(ip, key);
	h = key_hash(key);
	for (i = 0; i < THROTTLE_PROBE; i++) {
		struct throttle_entry *e = &t->entries[(h + i) & t->mask];

		if (e->last_ms != 0 && memcmp(e->key, key, 16) == 0)
			memset(e, 0, sizeof(*e));
	}
}

unsigned int
auth_throttle_failures(struct auth_throttle *t, const char *ip, uint64_t now_ms)
{
	uint8_t key[16];
	struct throttle_entry *e;

	make_key(ip, key);
	e = throttle_find(t, key, now_ms);
	return e != NULL ? e->failures : 0;
}
