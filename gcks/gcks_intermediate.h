/* IKE_INTERMEDIATE as responder, carrying the additional key exchanges of RFC 9370 (RFC 9242). */
#ifndef GK_GCKS_INTERMEDIATE_H
#define GK_GCKS_INTERMEDIATE_H

#include "gcks_resp.h"
#include "gcks_state.h"

/* The exchange table's handler for IKE_INTERMEDIATE in state INIT_DONE. It sends its response
 * itself (r->sent), since the keys change once it is out (RFC 9370 2.2.2). */
void gcks_ike_intermediate(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r);

/* GSA_AUTH/IKE_AUTH: true when every negotiated additional exchange took place (RFC 9370 2.2.2:
 * they all come before authentication). */
bool gcks_int_complete(const gcks_sa *sa);

/* Whether the SA ran every additional key exchange the group's policy requires
 * (additional-key-exchanges): each method in some ADDKE of the SA's suite. */
bool gcks_int_satisfies(const gk_group_policy *pol, const gcks_sa *sa);

#endif
