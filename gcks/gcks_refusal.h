/* The refusal log (gcks_refusal.c). */
#ifndef GK_GCKS_REFUSAL_H
#define GK_GCKS_REFUSAL_H

#include "gcks_state.h"

/* Refusal log: one warning with the peer's address and the reason (wire text escaped by
 * gk_ident_text and the log), at most GCKS_REFUSAL_BURST lines at once and GCKS_REFUSAL_PER_S a
 * second after; counts stats.refusals. */
#define GCKS_REFUSAL_BURST 20
#define GCKS_REFUSAL_PER_S 1
void gcks_refusal(gk_gcks *g, const struct sockaddr *peer, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
