/* Several gcksd on one shared store (gcks/storage.h, "several servers"): this server's
 * heartbeat, the rekey lease of each group, and whether the store can be reached at all. */
#ifndef GCKS_CLUSTER_H
#define GCKS_CLUSTER_H

#include "gcks_state.h"

/* Beats and takes or renews each group's lease every GCKS_LEASE_RENEW_MS; call it often (the
 * daemon's 250 ms tick). */
void gcks_cluster_tick(gk_gcks *g, int64_t now_ms);
/* A round now, whenever the last one was: at start and after a reload, so that the groups this
 * server may lead are led at once, not at the next round. */
void gcks_cluster_round_now(gk_gcks *g);
/* Does this server lead the group's rekeys: the lifetime scheduler and the multicast GSA_REKEY?
 * Always true on a store one gcksd holds alone. */
bool gcks_cluster_leads(const gk_gcks *g, const gcks_group *grp);
/* Can this server issue keys: false from the moment it lost the shared store (a heartbeat or a
 * lease renewal failed, or its lease ran out before it could renew it) until it is back. */
bool gcks_cluster_ok(const gk_gcks *g);
/* Tells the other servers that grp's policy or keys changed (a notice "SERVER GROUP"). */
void gcks_cluster_changed(gk_gcks *g, const gcks_group *grp);
/* Is the notice what from another server (not one this server sent)? */
bool gcks_cluster_notice_foreign(const gk_gcks *g, const char *what);

#endif
