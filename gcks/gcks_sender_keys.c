/* Keys a re-registering sender cannot repeat an IV with (RFC 9838 2.5, RFC 6054; the kernel
 * facts are in doc/sender-iv.md). A single-sender counter-mode TEK is used by its sender
 * without a Sender-ID in the IV: Linux builds the IV from the ESP sequence number (seqiv),
 * which starts at 1 again whenever the SA is installed again, masked only by a random salt of
 * the new kernel transform. So a sender that may hold such a TEK already (it was handed to it
 * at registration, or sent by a rekey while it was registered as sender; recorded durably in
 * the store) is never handed it again: its registration rekeys the group first (gcks_reg.c),
 * announced to every member by the usual rekey path. One sender identity forces at most one such rekey of a
 * group per GK_SENDER_REKEY_INTERVAL_S; a registration beyond that is refused with
 * TEMPORARY_FAILURE (the member tries again later), never given the old keys. */
#define GK_LOG_SUBSYS GK_SUB_STORE /* log.h */
#include <string.h>
#include "gcks_sender_keys.h"
#include "algs.h"
#include "iana.h"
#include "log.h"
#include "gcks_keyrules.h"

/* Is TEK t used by one sender whose IVs the kernel derives from the sequence number? Multi-sender
 * counter-mode TEKs (32-bit Unspecified Numbers) rely on Sender-IDs, fresh at every
 * registration (2.5.1), and are refused outbound by the kernel sink. */
static bool iv_from_seq(const gk_tek_policy *t)
{
	const gk_encr_info *e = gk_encr_lookup(t->encr);
	return e && e->counter_mode && t->sn == GK_SN_SEQ32;
}

static const gk_sa_key *iv_tek_key(const gcks_group *grp, size_t i)
{
	const gk_sa_key *k = &grp->keys[i];
	if (k->tek_index < 0 || (size_t)k->tek_index >= grp->pol.nteks || k->spi_len != 4 ||
	    !iv_from_seq(&grp->pol.teks[k->tek_index]))
		return NULL;
	return k;
}

gk_status gcks_sender_keys_check(gk_gcks *g, const gcks_group *grp, const char *member, uint16_t *refusal,
				 bool *rekey)
{
	bool held = false, allowed = false;
	gk_status st = GK_OK;
	*refusal = 0;
	*rekey = false;
	for (size_t i = 0; i < grp->nkeys && !st && !held; i++) {
		const gk_sa_key *k = iv_tek_key(grp, i);
		if (k)
			st = gk_store_sender_tek_held(g->env.store, grp->pol.name, member, k->spi, &held);
	}
	if (st || !held)
		return st;
	st = gk_keys_sender_rekey_take(g->env.store, grp->pol.name, member, gcks_wall(g),
					GK_SENDER_REKEY_INTERVAL_S, &allowed);
	if (st)
		return st;
	if (!allowed) {
		g->stats.sender_rekeys_refused++;
		*refusal = GK_N_TEMPORARY_FAILURE;
		return GK_OK;
	}
	g->stats.sender_rekeys++;
	*rekey = true;
	return GK_OK;
}

void gcks_sender_keys_note(gk_gcks *g, const gcks_group *grp, const char *member)
{
	for (size_t i = 0; i < grp->nkeys; i++) {
		const gk_sa_key *k = iv_tek_key(grp, i);
		gk_status st = k ? gk_keys_sender_tek_add(g->env.store, grp->pol.name, member, k->spi) : GK_OK;
		if (st)
			gk_err("group %s: cannot record which senders hold a counter-mode key: %s", grp->pol.name,
			       gk_status_str(st));
	}
}
