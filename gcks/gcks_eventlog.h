/* The log lines an operator follows a group by (gcks_eventlog.c): each rekey message sent and
 * resent, each eviction or removal of a member, one line each, with the group, the member's
 * identity where there is one and the peer's address. Refusals are gcks_refusal.c. */
#ifndef GK_GCKS_EVENTLOG_H
#define GK_GCKS_EVENTLOG_H

#include "gcks_state.h"

/* Our request on sa (sa->out_req) went out: its first transmission or a retransmission (RFC
 * 7296 2.1). GSA_INBAND_REKEY (its group: sa->out_group) at info under rekey, others at debug
 * under ike. */
void gcks_log_request(gk_gcks *g, const gcks_sa *sa);
/* A multicast GSA_REKEY copy went out (RFC 9838 2.4.1: copies are sent repeatedly). */
void gcks_log_multicast(const gcks_pending *pd);
/* One notice under rekey about member (eviction, exclusion), ending with where the member is:
 * the address of its IKE SA, or that it holds none. */
void gcks_log_member(gk_gcks *g, const gk_ident *member, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
