#ifndef GCKS_TIMERS_H
#define GCKS_TIMERS_H
/* The IKE SAs' timers: a binary min-heap of SAs keyed by sa->due_ms, the earliest time the SA
 * scan (gk_gcks_tick) has something to do on the SA (retransmission, our rekey, fragment or
 * cached-response expiry, deadline). The scan visits only the SAs at the top that are due, so
 * idle SAs cost nothing. due_ms may be early (a visit finds nothing to do and recomputes it),
 * never late: whatever changes an SA's timers calls gcks_timers_touch, which makes it due at
 * the next scan, where its exact due time is computed again (gcks_sa_reschedule). The heap
 * array is owned by the gcks; the SAs in it are the SA table's. */
#include "gcks_state.h"

/* Puts sa in the heap, due at the next scan. GK_E_NOMEM: not put. */
gk_status gcks_timers_add(gk_gcks *g, gcks_sa *sa);
/* Takes sa out (no-op when not in). */
void gcks_timers_del(gk_gcks *g, gcks_sa *sa);
/* sa is due at due_ms (moved up or down). */
void gcks_timers_set(gk_gcks *g, gcks_sa *sa, int64_t due_ms);
/* Something about sa's timers changed: it is visited at the next scan. */
void gcks_timers_touch(gk_gcks *g, gcks_sa *sa);
/* Every SA due at the next scan (after a reload). */
void gcks_timers_touch_all(gk_gcks *g);
/* The SA due first if it is due at now_ms, else NULL. */
gcks_sa *gcks_timers_due(const gk_gcks *g, int64_t now_ms);
void gcks_timers_free(gk_gcks *g);

#endif
