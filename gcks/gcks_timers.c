/* The IKE SAs' timers: a binary min-heap keyed by sa->due_ms (gcks_timers.h). sa->heap_pos is
 * the SA's index in g->timer_heap plus one; 0 = not in the heap. */
#include "gcks_timers.h"

#include <stdlib.h>

static void put(gk_gcks *g, size_t i, gcks_sa *sa)
{
	g->timer_heap[i] = sa;
	sa->heap_pos = (uint32_t)i + 1;
}

static void up(gk_gcks *g, size_t i)
{
	gcks_sa *sa = g->timer_heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (g->timer_heap[p]->due_ms <= sa->due_ms)
			break;
		put(g, i, g->timer_heap[p]);
		i = p;
	}
	put(g, i, sa);
}

static void down(gk_gcks *g, size_t i)
{
	gcks_sa *sa = g->timer_heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= g->ntimers)
			break;
		if (c + 1 < g->ntimers && g->timer_heap[c + 1]->due_ms < g->timer_heap[c]->due_ms)
			c++;
		if (sa->due_ms <= g->timer_heap[c]->due_ms)
			break;
		put(g, i, g->timer_heap[c]);
		i = c;
	}
	put(g, i, sa);
}

gk_status gcks_timers_add(gk_gcks *g, gcks_sa *sa)
{
	if (sa->heap_pos)
		return GK_OK;
	if (g->ntimers == g->timers_cap) {
		size_t cap = g->timers_cap ? g->timers_cap * 2 : 64;
		if (cap > UINT32_MAX - 1)
			return GK_E_NOMEM;
		gcks_sa **h = realloc(g->timer_heap, cap * sizeof(*h));
		if (!h)
			return GK_E_NOMEM;
		g->timer_heap = h;
		g->timers_cap = cap;
	}
	sa->due_ms = 0;
	put(g, g->ntimers++, sa);
	up(g, g->ntimers - 1);
	return GK_OK;
}

void gcks_timers_del(gk_gcks *g, gcks_sa *sa)
{
	if (!sa->heap_pos)
		return;
	size_t i = sa->heap_pos - 1;
	sa->heap_pos = 0;
	gcks_sa *last = g->timer_heap[--g->ntimers];
	if (i == g->ntimers)
		return;
	put(g, i, last);
	up(g, i);
	down(g, last->heap_pos - 1);
}

void gcks_timers_set(gk_gcks *g, gcks_sa *sa, int64_t due_ms)
{
	if (!sa->heap_pos)
		return;
	int64_t was = sa->due_ms;
	sa->due_ms = due_ms;
	if (due_ms < was)
		up(g, sa->heap_pos - 1);
	else if (due_ms > was)
		down(g, sa->heap_pos - 1);
}

void gcks_timers_touch(gk_gcks *g, gcks_sa *sa)
{
	gcks_timers_set(g, sa, 0);
}

void gcks_timers_touch_all(gk_gcks *g)
{
	for (size_t i = 0; i < g->ntimers; i++) /* all equal: still a heap */
		g->timer_heap[i]->due_ms = 0;
}

gcks_sa *gcks_timers_due(const gk_gcks *g, int64_t now_ms)
{
	if (!g->ntimers || g->timer_heap[0]->due_ms > now_ms)
		return NULL;
	return g->timer_heap[0];
}

void gcks_timers_free(gk_gcks *g)
{
	free(g->timer_heap);
	g->timer_heap = NULL;
	g->ntimers = g->timers_cap = 0;
}
