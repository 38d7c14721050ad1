/* Established SAs by identity (gcks_peers.c). */
#ifndef GK_GCKS_PEERS_H
#define GK_GCKS_PEERS_H

#include "gcks_state.h"

/* Enters sa (after its authentication) with the next admission order. */
void gcks_peer_link(gk_gcks *g, gcks_sa *sa);
/* The oldest other established SA of sa's identity and credential, and how many there are. */
gcks_sa *gcks_peer_oldest(gk_gcks *g, const gcks_sa *sa, size_t *count);
void gcks_peer_unlink(gk_gcks *g, gcks_sa *sa);
/* The rekeyed SA n takes old's place in the index (same admission order); old leaves it. */
void gcks_peer_replace(gk_gcks *g, gcks_sa *old, gcks_sa *n);
void gcks_peers_free(gk_gcks *g);

#endif
