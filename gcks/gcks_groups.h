/* Group state (gcks_groups.c). */
#ifndef GK_GCKS_GROUPS_H
#define GK_GCKS_GROUPS_H

#include "gcks_state.h"

gk_status gcks_groups_load(gk_gcks *g);
void gcks_groups_free(gk_gcks *g);
gcks_group *gcks_group_find(gk_gcks *g, const gk_ident *id);
/* The identity's entries authenticated by `kind`, each group once: the entry of `first` (may be
 * NULL) before those of the other groups. *pos starts at 0; NULL when there are no more. */
const gk_member_policy *gcks_member_next_cred(gk_gcks *g, const gk_ident *member, gcks_group *first,
					      gk_member_auth kind, size_t *pos);
/* The identity's entry holding the PPK named ppk_id (RFC 8784), in a group that uses PPKs: the
 * entry of `first` (may be NULL) before the others. NULL when there is none. */
const gk_member_policy *gcks_member_ppk(gk_gcks *g, const gk_ident *member, gcks_group *first, gk_chunk ppk_id);
/* What an SA remembers of the credential that authenticated it, and whether a member entry
 * names that same credential (constant time). */
void gcks_member_cred_hash(const gk_member_policy *mp, uint8_t out[32]);
bool gcks_member_cred_matches(const gk_member_policy *mp, const gcks_sa *sa);
/* The group's policy entry for a member, NULL if it is not listed (one hash lookup). */
const gk_member_policy *gcks_group_member(gcks_group *grp, const gk_ident *member);

void gcks_fill_tek(const gk_tek_policy *t, const gk_sa_key *k, int64_t now, gk_group_sa *sa);
void gcks_fill_kek(gk_gcks *g, const gcks_group *grp, const gk_sa_key *k, int64_t now, gk_group_sa *sa);
/* The Rekey SA's multicast destination as a socket address. */
void gcks_kek_dst(const gk_kek_policy *k, struct sockaddr_storage *ss);
/* The group state every member gets at registration (no member-specific parts). gs is emptied
 * with gk_group_state_clear, also on failure: wipe it with gk_group_state_wipe_filled. */
gk_status gcks_group_state(gk_gcks *g, gcks_group *grp, gk_group_state *gs);

/* Draws the SPIs the next rekey will use (RFC 9838 4.4.2.2.3), kept in memory only: the GCKS
 * may forget these promises (after a restart). */
void gcks_next_spis(gk_gcks *g, gcks_group *grp);
/* No SPI promised: the next keys get fresh random SPIs (after a restore, where the promised ones
 * may have been used by another server since the backup). */
void gcks_next_spis_forget(gcks_group *grp);
/* Wall seconds from which the scheduler rekeys the group: the first of its SAs to enter its
 * rekey margin (rekey-margin, a share of the SA's lifetime); 0 = no SA. */
int64_t gcks_group_rekey_at(const gcks_group *grp);
/* Adds GSA_NEXT_SPI to the SAs of a multicast group's state (never with inband rekey). */
void gcks_announce_next(const gcks_group *grp, gk_group_state *gs);

/* A multicast group with key-management lkh (RFC 9838 Appendix A)? */
bool gcks_group_is_lkh(const gcks_group *grp);
/* Makes grp->lkh, the group's key tree, loaded from the store on first use; GK_E_STATE when
 * the group has no tree. */
gk_status gcks_group_lkh(gk_gcks *g, gcks_group *grp);
/* After a reload: the tree of the group as it was moves to the reloaded group when both have
 * the same shape (degree, key wrap algorithm) and the store still holds it; another shape is
 * another tree, loaded (and made) on first use. */
void gcks_group_lkh_carry(gk_gcks *g, gcks_group *grp, gcks_group *was);

uint64_t gcks_name_hash(const char *name);
void gcks_sa_tag_group(gcks_sa *sa, uint64_t group_hash);
/* The SA no longer carries the group's GSA_INBAND_REKEY (the member left or was excluded). */
void gcks_sa_untag_group(gcks_sa *sa, uint64_t group_hash);
bool gcks_sa_in_group(const gcks_sa *sa, uint64_t group_hash);

#endif
