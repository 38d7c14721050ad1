#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "arena.h"

#define ARENA_BLOCK 4096
#define ARENA_DEFAULT_LIMIT (4u << 20)

struct gk_arena_block {
	struct gk_arena_block *next;
	size_t size, used;
	alignas(max_align_t) unsigned char data[];
};

/* Standard blocks kept, wiped, from the last arenas freed: a message arena lives for one
 * datagram, so every message would otherwise malloc and free the same 4 KB (RFC 7296 messages
 * the daemons handle fit one block). A request's arena and its answer's are alive together,
 * hence a few. Per thread, so that arenas stay usable from any thread. */
#define ARENA_SPARES 4
static _Thread_local struct gk_arena_block *spare[ARENA_SPARES];
static _Thread_local size_t nspare;

void gk_arena_init(gk_arena *a, size_t limit)
{
	a->head = NULL;
	a->total = 0;
	a->limit = limit ? limit : ARENA_DEFAULT_LIMIT;
}

void *gk_arena_alloc(gk_arena *a, size_t n)
{
	const size_t al = alignof(max_align_t);
	if (n == 0)
		n = 1;
	if (n > SIZE_MAX - al || n > a->limit - a->total)
		return NULL;
	n = (n + al - 1) & ~(al - 1);
	struct gk_arena_block *b = a->head;
	if (!b || b->size - b->used < n) {
		size_t sz = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		if (sz == ARENA_BLOCK && nspare) {
			b = spare[--nspare];
		} else if (!(b = malloc(sizeof(*b) + sz))) {
			return NULL;
		}
		b->size = sz;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += n;
	a->total += n;
	memset(p, 0, n);
	return p;
}

void *gk_arena_calloc(gk_arena *a, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return gk_arena_alloc(a, n * size);
}

void *gk_arena_dup(gk_arena *a, const void *p, size_t n)
{
	void *d = gk_arena_alloc(a, n);
	if (d && n)
		memcpy(d, p, n);
	return d;
}

void gk_arena_free(gk_arena *a)
{
	struct gk_arena_block *b = a->head;
	while (b) {
		struct gk_arena_block *next = b->next;
		OPENSSL_cleanse(b->data, b->used);
		if (b->size == ARENA_BLOCK && nspare < ARENA_SPARES)
			spare[nspare++] = b;
		else
			free(b);
		b = next;
	}
	a->head = NULL;
	a->total = 0;
}
