/* Authentication of members: GSA_AUTH, IKE_AUTH, INFORMATIONAL (gcks_auth.c). */
#ifndef GK_GCKS_AUTH_H
#define GK_GCKS_AUTH_H

#include "gcks_state.h"
#include "gcks_resp.h"

void gcks_gsa_auth(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r);
void gcks_ike_auth(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r);
void gcks_informational(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r);

#endif
