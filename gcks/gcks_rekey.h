/* Group rekeying and our requests on IKE SAs (gcks_rekey.c). */
#ifndef GK_GCKS_REKEY_H
#define GK_GCKS_REKEY_H

#include "gcks_state.h"

void gcks_rekey_tick(gk_gcks *g, int64_t now_ms);
gk_status gcks_rekey_group(gk_gcks *g, gcks_group *grp, bool force, const gk_sa_key *prev_kek, const char *why);
/* After a reload changed grp (was: the group as it was): the rekey that tells members the
 * new SAs and deletes the ones no longer served; true when it went out. */
bool gcks_rekey_reloaded(gk_gcks *g, gcks_group *grp, const gcks_group *was);
/* gcks_exclude_all under the policy and Rekey SA members hold (via, old_kek: after a reload,
 * the old ones; NULL: the group's own and the Rekey SA before this rotation). */
gk_status gcks_exclude_via(gk_gcks *g, gcks_group *grp, const gk_group_policy *via, const gk_sa_key *old_kek,
			   const char *why);
/* Excludes every member (new keys, Delete SPI 0 for all SAs): they must re-register (2.4.3). */
gk_status gcks_exclude_all(gk_gcks *g, gcks_group *grp, const char *why);
/* Evicts members from a multicast group with key-management lkh (RFC 9838 Appendix A.4): one
 * durable transaction replaces the keys on their paths and the Rekey SA key, one GSA_REKEY
 * under the Rekey SA members hold reaches everyone else, then a rekey under the new Rekey SA
 * replaces the Data-Security SAs. Members without a leaf are skipped. */
gk_status gcks_lkh_evict(gk_gcks *g, gcks_group *grp, const char *const *members, size_t n, const char *why);
/* Sends our request on sa (window 1: GK_E_STATE while one is outstanding), retransmitted with
 * backoff by gcks_outgoing_tick until gcks_inband_response sees the answer. */
gk_status gcks_request(gk_gcks *g, gcks_sa *sa, uint8_t exchange, const gk_out_pl *pl, size_t n);
void gcks_inband_response(gk_gcks *g, gcks_sa *sa, const gk_msg *m);
/* Our outstanding request is answered: it goes, the next Message ID is ours. */
void gcks_request_done(gcks_sa *sa);
/* Sends the inband rekey that waited for the SA's window (rekey_queued), if it is free. */
void gcks_inband_send_queued(gk_gcks *g, gcks_sa *sa);
void gcks_outgoing_tick(gk_gcks *g, gcks_sa *sa, int64_t now_ms);
void gcks_pending_free(gk_gcks *g);
/* GSA_INBAND_REKEY requests sent per event-loop turn: about 2 ms of work (one AEAD seal, one
 * datagram and a log line each), so registrations arriving meanwhile wait at most that long. */
#define GCKS_INBAND_BATCH 128
/* An inband rekey is being sent and its next batch may go now (most of the last one answered,
 * or its first retransmission due): gcks_inband_continue sends it. */
bool gcks_inband_pending(gk_gcks *g);
void gcks_inband_continue(gk_gcks *g);
/* An IKE SA was rekeyed (RFC 7296 2.18): the new SA gets what was still to be sent on the old. */
void gcks_inband_moved(gk_gcks *g, uint64_t old_spi, uint64_t new_spi);
/* Drops the inband rekeys still being sent (shutdown: the members register again). */
void gcks_inband_free(gk_gcks *g);

#endif
