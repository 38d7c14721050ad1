/* Registration of authenticated members to groups (gcks_reg.c). */
#ifndef GK_GCKS_REG_H
#define GK_GCKS_REG_H

#include "gcks_state.h"
#include "gcks_resp.h"

void gcks_gsa_registration(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r);

/* registration: authorizes `member` for the group in idg and appends GSA, KD (and notifies), or
 * one error Notify, to r. authed: the policy entry whose credential authenticated sa in this same
 * exchange (GSA_AUTH), NULL when not known (a registration over an established SA). */
void gcks_register(gk_gcks *g, gcks_sa *sa, const gk_ident *member, const gk_payload *idg,
		   const gk_msg *req, gcks_resp *r, const gk_member_policy *authed);

/* Completes a registration whose row waited in the store's batch (r->wait) once the batch was
 * committed, or undoes it and turns r's registration payloads into REGISTRATION_FAILED when it
 * was not. sa is NULL when the IKE SA went meanwhile. */
void gcks_reg_settle(gk_gcks *g, gcks_sa *sa, const gcks_reg_wait *w, bool committed, gcks_resp *r);

#endif
