/* The key-exchange private value of our IKE_SA_INIT responses, reused for a bounded number of
 * responses and seconds when configured (--dh-reuse; RFC 7296 2.12), fresh otherwise
 * (gcks_dh_cache.c). */
#ifndef GK_GCKS_DH_CACHE_H
#define GK_GCKS_DH_CACHE_H

#include "gcks_state.h"
#include "dh.h"

/* Our key pair for one IKE_SA_INIT response in group (a handle the caller frees with
 * gk_dh_free): a fresh one, or with cfg.dh_reuse the group's current one while it has served
 * fewer than dh_reuse responses and is younger than dh_reuse_s seconds. */
gk_status gcks_dh_for_init(gk_gcks *g, uint16_t group, gk_dh **out);
/* Wipes the reused values that are past their time, also when no request comes to replace them. */
void gcks_dh_cache_expire(gk_gcks *g);
void gcks_dh_cache_free(gk_gcks *g);
/* Reused values held now (for tests). */
size_t gcks_dh_cache_held(const gk_gcks *g);

#endif
