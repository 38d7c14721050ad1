/* IKE_SA_INIT and the budget of costly key exchanges (gcks_init.c). */
#ifndef GK_GCKS_INIT_H
#define GK_GCKS_INIT_H

#include "gcks_state.h"

void gcks_ike_sa_init(gk_gcks *g, gk_chunk data, const struct sockaddr *peer, const struct sockaddr *local);

/* costly key exchanges: which groups, and one taken from the source's and the
 * global budget (false when either is empty) */
bool gcks_costly_ke(uint16_t group);
bool gcks_costly_charge(gk_gcks *g, const struct sockaddr *peer);

#endif
