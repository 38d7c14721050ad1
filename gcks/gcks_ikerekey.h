/* CREATE_CHILD_SA: IKE SA rekeying, and closing an SA (gcks_ikerekey.c). */
#ifndef GK_GCKS_IKEREKEY_H
#define GK_GCKS_IKEREKEY_H

#include "gcks_state.h"
#include "gcks_resp.h"

/* CREATE_CHILD_SA: IKE SA rekey, Child SAs refused */
void gcks_create_child_sa(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r);
/* The member's answer to our CREATE_CHILD_SA on sa. */
void gcks_ike_rekey_response(gk_gcks *g, gcks_sa *sa, const gk_msg *m);
/* Rekeys a kept IKE SA whose lifetime (cfg.ike_lifetime_s) is nearly over and that its member
 * did not rekey (timer scan). */
void gcks_ike_rekey_tick(gk_gcks *g, gcks_sa *sa, int64_t now_ms);
/* When gcks_ike_rekey_tick has something to do on sa: INT64_MAX = never (until sa changes). */
int64_t gcks_ike_rekey_due(const gk_gcks *g, const gcks_sa *sa);
/* Starts our rekey of sa (CREATE_CHILD_SA); GK_E_STATE when a request is out on it. */
gk_status gcks_ike_rekey_start(gk_gcks *g, gcks_sa *sa);
/* Removes an SA from the table after freeing its rekey state; a new SA the member made by
 * rekeying it while our rekey was out takes over (the member deleted the old SA: its rekey
 * won, RFC 7296 2.8.2). */
void gcks_sa_close(gk_gcks *g, gcks_sa *sa);

#endif
