/* Region allocator: everything a parsed message holds is freed at once.
 * The arena owns its blocks; gk_arena_free() wipes what it handed out (it may hold secrets) and
 * releases the blocks: up to four standard ones per thread are kept, wiped, for the next arenas. */
#ifndef GK_ARENA_H
#define GK_ARENA_H

#include <stddef.h>

struct gk_arena_block;

typedef struct gk_arena {
	struct gk_arena_block *head;
	size_t total;   /* bytes handed out so far */
	size_t limit;   /* allocation fails beyond this; 0 = 4 MiB */
} gk_arena;

void gk_arena_init(gk_arena *a, size_t limit);
/* Zeroed, max_align_t-aligned memory; NULL when the limit is reached or malloc fails. */
void *gk_arena_alloc(gk_arena *a, size_t n);
/* n * size with overflow check. */
void *gk_arena_calloc(gk_arena *a, size_t n, size_t size);
void *gk_arena_dup(gk_arena *a, const void *p, size_t n);
void gk_arena_free(gk_arena *a);

#endif
