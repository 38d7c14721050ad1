/* Single-sender counter-mode keys and re-registering senders (gcks_sender_keys.c). */
#ifndef GK_GCKS_SENDER_KEYS_H
#define GK_GCKS_SENDER_KEYS_H

#include "gcks_state.h"

#define GK_SENDER_REKEY_INTERVAL_S 60
/* Before member, registering as sender, is handed the group's keys: if it may hold a
 * single-sender counter-mode TEK already, *rekey says the group must be rekeyed first (allowed
 * once per GK_SENDER_REKEY_INTERVAL_S per identity; beyond it *refusal is TEMPORARY_FAILURE). */
gk_status gcks_sender_keys_check(gk_gcks *g, const gcks_group *grp, const char *member, uint16_t *refusal,
				 bool *rekey);
/* Records that member (NULL: every registered sender of the group) may hold the group's current
 * single-sender counter-mode TEKs. */
void gcks_sender_keys_note(gk_gcks *g, const gcks_group *grp, const char *member);

#endif
