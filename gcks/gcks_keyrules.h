/* The key rules of the GCKS: what the keys of a group's SAs look like (SPI and key lengths from
 * the policy), which SPIs may be used (none below 256 for ESP/AH, no zero IKE SPI half), when a
 * key is made or replaced (expiry, rekey, a policy change that touches the SAs: RFC 9838
 * 3.2.1), how Rekey SA Message IDs and Sender-IDs are handed out (never twice; RFC 9838
 * 2.4.1.3, 2.5.1), and which single-sender TEKs a sender may hold. Each function runs
 * its rules inside one transaction of the store (storage.h), so a failure changes nothing.
 * Below the groups and rekey code, above the store. */
#ifndef GK_GCKS_KEYRULES_H
#define GK_GCKS_KEYRULES_H

#include "storage.h"

struct gk_rand;
struct gk_lkh;
struct gk_lkh_evicted;

/* Inserts or replaces the group named g->name, its TEKs and members, in one transaction, and
 * writes an audit record (who, at now). Bumps the group's policy generation when anything
 * changed. A put equal to the stored policy writes nothing (no generation, no audit row). When
 * only members, capacity, ike_idle_timeout, rekey_margin_pct or max_packet_rate changed, the
 * group's current keys are carried over to the new generation; any other change makes
 * gk_keys_group_keys() create new keys (RFC 9838 3.2.1). Any failure leaves the stored policy
 * as it was. */
gk_status gk_keys_group_put(gk_store *s, const gk_group_policy *g, const char *who,
			    const char *source, int64_t now, bool *changed);

/* ---- what storing a policy does ----
 * One decision, made by gk_keys_group_plan (gcksctl policy load --dry-run) and by the put that
 * applies it (gk_keys_group_apply), so the summary an admin reads is what happens. */
typedef enum gk_put_keys {
	GK_PUT_UNCHANGED,        /* equal to the stored policy: nothing is written */
	GK_PUT_ADDED,            /* a new group */
	GK_PUT_KEEP_KEYS,        /* stored; the current keys carry over (members, capacity,
				  * idle timeout, rekey margin, packet rate changed) */
	GK_PUT_NEW_KEYS,         /* stored; every SA gets new keys (RFC 9838 3.2.1) */
} gk_put_keys;

/* What the members see when gcksd takes the stored change up (reload). */
typedef enum gk_put_effect {
	GK_EFFECT_NONE,          /* nothing is sent */
	GK_EFFECT_REKEY,         /* new keys go out (GSA_REKEY, or GSA_INBAND_REKEY) */
	GK_EFFECT_EXCLUDE_ALL,   /* every member is excluded and registers again */
	GK_EFFECT_LKH_EVICT,     /* the removed members are evicted through the key tree (RFC 9838
				  * A.4): one GSA_REKEY the others follow, nobody registers again */
} gk_put_effect;

typedef struct gk_plan_member {
	char member[GK_IDENT_TEXT_MAX];
	bool registered;         /* removed: it is registered, so it holds keys to take back */
	bool evicted;            /* added: evicted from the group earlier and not let back since
				  * (the store's audit log: "member evict" / "member readmit") */
} gk_plan_member;

/* What storing one group's policy does. Owns added[] and removed[] (gk_group_plan_free). */
typedef struct gk_group_plan {
	char group[GK_IDENT_TEXT_MAX];
	gk_put_keys keys;
	gk_put_effect effect;
	gk_plan_member *added, *removed; /* members the policy lists anew / no longer lists */
	size_t nadded, nremoved;
} gk_group_plan;
void gk_group_plan_free(gk_group_plan *p);

/* What gk_keys_group_apply(g) would do now; reads only (one read transaction). */
gk_status gk_keys_group_plan(gk_store *s, const gk_group_policy *g, gk_group_plan *plan);
/* gk_keys_group_put that also says what it did (*plan, filled also on failure: free it). A
 * member the put lets back after an eviction is recorded ("member readmit"), so the next put
 * does not warn again. */
gk_status gk_keys_group_apply(gk_store *s, const gk_group_policy *g, const char *who,
			      const char *source, int64_t now, gk_group_plan *plan);
/* Stores g, the group's policy without member (an eviction), and records the eviction in the
 * audit log ("member evict", detail "MEMBER in GROUP") in the same transaction: a later policy
 * load that lists the member again warns. */
gk_status gk_keys_group_evict(gk_store *s, const gk_group_policy *g, const char *member, const char *who,
			      int64_t now, bool *changed);

/* The rule both the plan and gcksd's reload follow: what members see when policy `was` becomes
 * `now` with keys kept or replaced, removed_registered telling whether a member that holds keys
 * left. Multicast: such a member is cut off through the key tree when the group is lkh and its
 * keys are kept (only members went), else by excluding everyone under the Rekey SA they hold;
 * a change of rekey transport, of the GSA_REKEY authentication method (RFC 9838 4.4.2.1.1:
 * members learn it only at registration) or of the key tree also excludes everyone. */
gk_put_effect gk_keys_reload_effect(const gk_group_policy *was, const gk_group_policy *now, gk_put_keys keys,
				    bool removed_registered);
/* Does replacing the keys for this change exclude every member (the last cases above)? */
bool gk_keys_change_excludes_all(const gk_group_policy *was, const gk_group_policy *now);
/* A new key tree: lkh switched on or off, or another degree or key wrap algorithm under lkh
 * (members hold no leaf in it; RFC 9838 A.2). */
bool gk_keys_tree_changed(const gk_group_policy *was, const gk_group_policy *now);

/* The current key of every SA of a group, creating (and storing, durably) those that are
 * missing or whose policy generation is older. Fresh SPIs and keys come from the caller's
 * generator. keys[] has room for nteks+1 (the Rekey SA last, if present). */
gk_status gk_keys_group_keys(gk_store *s, const gk_group_policy *g, const struct gk_rand *rnd,
			     int64_t now, gk_sa_key *keys, size_t *nkeys);
/* A group's policy (*pol, free with gk_group_policy_free), its generation and the current key
 * of every SA (creating them as gk_keys_group_keys does), all from one state of the store:
 * a policy stored at the same time is seen whole or not at all, and keys are only made for the
 * policy of the generation they are stored with. keys[] has room for maxkeys; GK_E_TOO_BIG
 * when the policy has more SAs (TEKs and the Rekey SA). */
gk_status gk_keys_group_load(gk_store *s, const char *name, const struct gk_rand *rnd, int64_t now,
			     gk_group_policy *pol, int64_t *gen, gk_sa_key *keys, size_t maxkeys,
			     size_t *nkeys);
/* Rotates keys for a rekey in one durable transaction: every SA whose key expires at or before
 * `horizon` (every SA when force) gets a new current key; replaced keys stay 'old' until they
 * expire. prev[] gets the keys before, keys[] after (both nteks+1 long). When anything changed,
 * *msgid is the Rekey SA Message ID of the GSA_REKEY announcing it (taken, durable), and when
 * the Rekey SA key itself was replaced the counter restarts at 0 for the new Rekey SA
 * (RFC 9838 2.4.1.3). want[j], when not NULL, is the SPI announced for SA j in GSA_NEXT_SPI; it
 * is used if no stored key has it. */
gk_status gk_keys_group_rekey(gk_store *s, const gk_group_policy *g, const struct gk_rand *rnd,
			      int64_t now, int64_t horizon, bool force, const uint8_t (*want)[16], gk_sa_key *prev,
			      gk_sa_key *keys, size_t *nkeys, bool *changed, uint32_t *msgid);

/* Reserves n consecutive Sender-IDs for a group (the first ever is 0), durable before return.
 * Fails with GK_E_TOO_BIG when fewer than n remain below 2^bits (bits 0: 16) (never reuses
 * values). */
gk_status gk_keys_sender_ids_alloc(gk_store *s, const char *group, uint32_t n, uint16_t bits,
				   uint32_t *first);
/* After every member was excluded with new keys (RFC 9838 2.5.1), Sender-IDs start over. */
gk_status gk_keys_sender_ids_reset(gk_store *s, const char *group);
/* Next Rekey SA Message ID for a group (durable before return). */
gk_status gk_keys_rekey_msgid_next(gk_store *s, const char *group, uint32_t *msgid);
gk_status gk_keys_rekey_msgid_peek(gk_store *s, const char *group, uint32_t *msgid);
/* A new Rekey SA starts at Message ID 0 (RFC 9838 2.4.1.3). */
gk_status gk_keys_rekey_msgid_reset(gk_store *s, const char *group);

/* ---- after a restore from a backup ----
 * A backup may be older than what members hold and than what gcksd sent since: Message IDs and
 * keys handed out after it are not in it. A restored store therefore (1) skips every group's
 * Rekey SA Message IDs GK_RESTORE_MSGID_SKIP ahead, so that a GSA_REKEY under the restored
 * Rekey SA never repeats one members may have seen (RFC 9838 2.4.1.3: they would drop it as a
 * replay), and (2) has every group excluded when gcksd next starts: new keys for every SA, with
 * fresh SPIs, before any member registers (so no Sender-ID handed out after the backup meets
 * the same key again: counter-mode IVs never repeat, RFC 9838 2.5), announced by a Delete under
 * the restored Rekey SA with the skipped-ahead Message ID. */
#define GK_RESTORE_MSGID_SKIP (UINT32_C(1) << 24)
/* Marks a store just restored (one durable transaction; audited as who from source): the skip,
 * and the exclusion to come ("restore" in the audit log, per group). *ngroups: how many. */
gk_status gk_keys_restore_epoch(gk_store *s, const char *who, const char *source, int64_t now,
				size_t *ngroups);
/* Was the group restored and not yet excluded for it? */
gk_status gk_keys_restore_pending(gk_store *s, const char *group, bool *pending);
/* Records that the group was excluded after its restore ("restore excluded"). */
gk_status gk_keys_restore_done(gk_store *s, const char *group, int64_t now);

/* Records, durably, that member may hold the single-sender TEK with this SPI (member NULL:
 * every member registered to the group as sender), and forgets TEKs whose keys the group no
 * longer has. */
gk_status gk_keys_sender_tek_add(gk_store *s, const char *group, const char *member, const uint8_t spi[4]);
/* May member's registration force a rekey of the group at now (unix seconds), the last one it
 * forced being at least interval seconds ago? If so, now is recorded (durably). */
gk_status gk_keys_sender_rekey_take(gk_store *s, const char *group, const char *member, int64_t now,
				    int64_t interval, bool *allowed);

/* ---- the key tree of an lkh group (RFC 9838 Appendix A; gcks_lkh.h) ---- */
/* Loads the group's tree into t (initialized here; free with gk_lkh_free). A group without one,
 * or whose tree no longer fits the policy (degree, the Rekey SA's key wrap algorithm), starts an
 * empty tree sized for the members the policy lists, stored durably: members registered before
 * hold no leaf and get one when they register again. */
gk_status gk_keys_lkh_load(gk_store *s, const gk_group_policy *g, struct gk_lkh *t);
/* Is t still the group's tree in the store (same shape and Key ID counter)? False when the
 * group was deleted and made again, or its tree was replaced. */
gk_status gk_keys_lkh_current(gk_store *s, const gk_group_policy *g, const struct gk_lkh *t, bool *current);
/* Stores a whole tree built directly (gk_lkh_build: benchmarks, tests), durably. */
gk_status gk_keys_lkh_store_all(gk_store *s, const gk_group_policy *g, struct gk_lkh *t);
/* Gives member a leaf (gk_lkh_join) and stores what changed, durably, before the caller sends
 * its keys. On failure t is reloaded from the store (what was committed). */
gk_status gk_keys_lkh_join(gk_store *s, const gk_group_policy *g, struct gk_lkh *t, const struct gk_rand *rnd,
			   const char *member, uint32_t *pos);
/* Takes members out of the tree and replaces the keys on their paths, durably, announcing
 * nothing: for when every member is excluded and registers again (they get the new paths
 * then, RFC 9838 A.2), so that the keys the removed members hold reach nothing new. On failure
 * t is reloaded from the store. */
gk_status gk_keys_lkh_remove(gk_store *s, const gk_group_policy *g, struct gk_lkh *t, const struct gk_rand *rnd,
			     const char *const *members, size_t n);
/* Evicts members (RFC 9838 A.4) in one durable transaction: a new Rekey SA key (keys[] as
 * gk_keys_group_rekey gives them: prev[] before, keys[] after, only the Rekey SA's changed), the
 * Message ID of the GSA_REKEY that announces it under the old Rekey SA (the counter restarts at 0
 * for the new one) and the new tree are committed before anything is sent. On failure t is
 * reloaded from the store. want, when not NULL, is the SPI promised for the new Rekey SA in
 * GSA_NEXT_SPI; it is used if no stored key has it. */
gk_status gk_keys_lkh_evict(gk_store *s, const gk_group_policy *g, struct gk_lkh *t, const struct gk_rand *rnd,
			    int64_t now, const char *const *members, size_t n, const uint8_t *want,
			    struct gk_lkh_evicted *out, gk_sa_key *prev, gk_sa_key *keys, size_t *nkeys,
			    uint32_t *msgid);

#endif
