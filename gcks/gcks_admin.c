/* What the administrator asks of the running GCKS (through gcksctl and the control socket):
 * reloading group policies from the store, rekeying a group now, and evicting a member
 * (RFC 9838 2.4.3). The signing key rollover is gcks_keyroll.c. */
#define GK_LOG_SUBSYS GK_SUB_REKEY /* log.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "gcks_state.h"
#include "gcks_groups.h"
#include "gcks_cluster.h"
#include "gcks_rekey.h"
#include "gcks_sa_table.h"
#include "gcks_timers.h"
#include "gcks_eventlog.h"
#include "log.h"
#include "gcks_keyrules.h"
#include "gcks_lkh.h"

static const gk_sa_key *kek_of(const gcks_group *grp)
{
	for (size_t j = 0; j < grp->nkeys; j++)
		if (grp->keys[j].tek_index < 0)
			return &grp->keys[j];
	return NULL;
}

/* The member's IKE SAs stop serving the group; those that serve no other group close. An IKE SA
 * that also carries another group's GSA_INBAND_REKEY stays: the member is still in that group. */
typedef struct {
	const gk_ident *member;
	uint64_t group_hash;
} member_walk;

static void close_member_sa(gk_gcks *g, gcks_sa *sa, void *ctx)
{
	const member_walk *w = ctx;
	if (sa->ike.state != GK_IKE_ESTABLISHED || !gk_ident_held_eq(sa->peer_id, w->member))
		return;
	bool other = false;
	for (size_t i = 0; i < GCKS_SA_GROUPS; i++) {
		if (sa->groups[i] == w->group_hash)
			sa->groups[i] = 0;
		other |= sa->groups[i] != 0;
	}
	if (!other)
		sa->deadline_ms = 1; /* the next scan sends Delete and removes it */
	gcks_timers_touch(g, sa);
}

static void close_member_sas(gk_gcks *g, const gk_ident *member, uint64_t group_hash)
{
	member_walk w = { member, group_hash };
	gcks_sa_foreach(g, close_member_sa, &w);
}

/* Members the reloaded policy no longer lists lose their registration and their IKE SAs'
 * service of the group; true when one of them was registered (it holds keys to take back). */
static bool cut_removed_members(gk_gcks *g, gcks_group *grp, const gcks_group *was)
{
	bool cut = false;
	for (size_t i = 0; i < was->pol.nmembers; i++) {
		gk_ident mid;
		const gk_ident *id = gk_member_policy_id(&was->pol.members[i], &mid);
		if (gcks_group_member(grp, id))
			continue;
		char t[GK_IDENT_TEXT_MAX];
		bool reg = false;
		gk_ident_text(id, t);
		if (gk_store_registration_exists(g->env.store, grp->pol.name, t, &reg) == GK_OK && reg &&
		    gk_store_registration_delete(g->env.store, grp->pol.name, t) == GK_OK) {
			cut = true;
			if (grp->registered)
				grp->registered--;
			gcks_log_member(g, id, "%s no longer in the policy of %s: its keys are taken back", t, grp->pol.name);
		}
		close_member_sas(g, id, grp->hash);
	}
	return cut;
}

/* The same keys (by SPI) before and after a reload: the change touched no SA. */
static bool same_keys(const gcks_group *a, const gcks_group *b)
{
	if (a->nkeys != b->nkeys)
		return false;
	for (size_t i = 0; i < a->nkeys; i++)
		if (a->keys[i].spi_len != b->keys[i].spi_len || memcmp(a->keys[i].spi, b->keys[i].spi, a->keys[i].spi_len))
			return false;
	return true;
}

/* Members of an lkh group's tree that a reload took away: no longer listed, or listed with
 * another credential (whoever holds the old one must not follow). texts[] and names[] have room
 * for was's members. */
static size_t lkh_gone(gk_gcks *g, gcks_group *grp, const gcks_group *was, char (*texts)[GK_IDENT_TEXT_MAX],
		       const char **names)
{
	size_t n = 0;
	if (!gcks_group_is_lkh(was) || gcks_group_lkh(g, grp))
		return 0;
	for (size_t i = 0; i < was->pol.nmembers; i++) {
		gk_ident id;
		const gk_member_policy *old = &was->pol.members[i];
		const gk_member_policy *now = gcks_group_member(grp, gk_member_policy_id(old, &id));
		uint8_t h1[32], h2[32];
		if (now) {
			gcks_member_cred_hash(old, h1);
			gcks_member_cred_hash(now, h2);
			if (now->auth == old->auth && !memcmp(h1, h2, 32))
				continue;
		}
		gk_ident_text(&id, texts[n]);
		if (gk_lkh_find(grp->lkh, texts[n]))
			names[n] = texts[n], n++;
	}
	return n;
}

/* A reloaded group: members removed from it must not get the new keys. Multicast: an lkh group
 * whose policy change only took members away (or changed their credentials) evicts them through
 * the key tree in one GSA_REKEY (RFC 9838 A.4), the others keep their registrations; otherwise
 * everyone is excluded under the Rekey SA they hold, with new keys that only listed members can
 * fetch by re-registering (as gcksctl evict does), and in an lkh group the leaves of those taken
 * away go from the tree with every key above them replaced, so that what they hold opens
 * nothing the next registrations and evictions send. Inband: the others get new keys over
 * their IKE SAs. */
static void after_reload(gk_gcks *g, gcks_group *grp, const gcks_group *was)
{
	bool cut = cut_removed_members(g, grp, was);
	size_t cap = was->pol.nmembers ? was->pol.nmembers : 1;
	const char **names = calloc(cap, sizeof(*names));
	char (*texts)[GK_IDENT_TEXT_MAX] = calloc(cap, sizeof(*texts));
	size_t gone = names && texts ? lkh_gone(g, grp, was, texts, names) : 0;
	bool done = gone && same_keys(grp, was) &&
		    gcks_lkh_evict(g, grp, names, gone, "members removed from the policy") == GK_OK;
	if (gone && !done) {
		if (gk_keys_lkh_remove(g->env.store, &grp->pol, grp->lkh, g->env.rnd, names, gone))
			gk_err("group %s: cannot take removed members out of the key tree", grp->pol.name);
		cut = true;
	}
	free(names);
	free(texts);
	if (done)
		return;
	/* the rule gcksctl policy load reports (gk_keys_reload_effect); an eviction through the key
	 * tree that did not happen above excludes everyone instead */
	gk_put_effect e = gk_keys_reload_effect(&was->pol, &grp->pol, GK_PUT_KEEP_KEYS, cut);
	if (e == GK_EFFECT_EXCLUDE_ALL || e == GK_EFFECT_LKH_EVICT) {
		gcks_exclude_via(g, grp, &was->pol, kek_of(was), "members removed from the policy");
		return;
	}
	bool sent = grp->generation != was->generation && gcks_rekey_reloaded(g, grp, was);
	if (cut && !sent)
		gcks_rekey_group(g, grp, true, NULL, "members removed from the policy");
}

gk_status gk_gcks_reload(gk_gcks *g)
{
	gcks_group *old = g->groups;
	size_t nold = g->ngroups;
	g->groups = NULL;
	g->ngroups = 0;
	gk_status st = gcks_groups_load(g);
	if (st) {
		g->groups = old;
		g->ngroups = nold;
		return st;
	}
	gcks_timers_touch_all(g); /* the policies the SAs' timers follow may have changed */
	for (size_t i = 0; i < g->ngroups; i++)
		for (size_t j = 0; j < nold; j++) {
			if (g->groups[i].hash != old[j].hash)
				continue;
			gcks_group_lkh_carry(g, &g->groups[i], &old[j]);
			g->groups[i].ctr = old[j].ctr; /* counters run since gcksd started */
			g->groups[i].leads = old[j].leads;
			g->groups[i].lease_epoch = old[j].lease_epoch;
			g->groups[i].lease_until_ms = old[j].lease_until_ms;
			if (g->groups[i].generation != old[j].generation)
				after_reload(g, &g->groups[i], &old[j]);
			else if (gk_store_shared(g->env.store) && !same_keys(&g->groups[i], &old[j]))
				/* another server rekeyed the group: its leader sent the GSA_REKEY, this
				 * server tells the inband members whose IKE SAs it holds */
				gcks_rekey_reloaded(g, &g->groups[i], &old[j]);
		}
	gcks_group *keep = g->groups;
	size_t nkeep = g->ngroups;
	g->groups = old;
	g->ngroups = nold;
	gcks_groups_free(g);
	g->groups = keep;
	g->ngroups = nkeep;
	gcks_cluster_round_now(g); /* groups new to this server */
	return GK_OK;
}

size_t gk_gcks_after_restore(gk_gcks *g)
{
	size_t n = 0;
	for (size_t i = 0; i < g->ngroups; i++) {
		gcks_group *grp = &g->groups[i];
		bool pending = false;
		/* several servers: the group's leader excludes it (it sends the Delete); the others
		 * find it done */
		if (!gcks_cluster_leads(g, grp) || gk_keys_restore_pending(g->env.store, grp->pol.name, &pending) ||
		    !pending)
			continue;
		/* The SPIs promised in GSA_NEXT_SPI derive from the restored keys, which the server that
		 * ran on after the backup also held: it may have used them for other keys since. */
		gcks_next_spis_forget(grp);
		gk_status st = gcks_exclude_all(g, grp, "the database was restored from a backup");
		if (st) {
			gk_err("%s: exclusion after the restore failed: %s; it is tried again at the next start",
			       grp->pol.name, gk_status_str(st));
			continue;
		}
		gk_keys_restore_done(g->env.store, grp->pol.name, gcks_wall(g));
		gk_info("%s: restored from a backup: every member excluded, new keys for every SA", grp->pol.name);
		n++;
	}
	return n;
}

struct notice_ctx {
	gk_gcks *g;
	bool *foreign;
};

static void note_notice(void *ctx, const char *what)
{
	struct notice_ctx *c = ctx;
	if (gcks_cluster_notice_foreign(c->g, what)) {
		gk_logs(GK_SUB_STORE, GK_LOG_INFO, "changed on another server: %s", what);
		*c->foreign = true;
	}
}

static gcks_group *group_by_name(gk_gcks *g, const char *name)
{
	uint64_t h = gcks_name_hash(name);
	for (size_t i = 0; i < g->ngroups; i++)
		if (g->groups[i].hash == h && !strcmp(g->groups[i].pol.name, name))
			return &g->groups[i];
	return NULL;
}

/* A change of a group's keys is decided by the server that leads its rekeys (gcks_cluster.c). */
static bool not_leader(gk_gcks *g, const gcks_group *grp, char *msg, size_t msglen)
{
	if (gcks_cluster_leads(g, grp))
		return false;
	snprintf(msg, msglen, gcks_cluster_ok(g) ? "this server does not lead the rekeys of %s: ask the one that "
		 "does (gcksctl status names it)" : "this server lost its database: %s cannot be changed here",
		 grp->pol.name);
	return true;
}

gk_status gk_gcks_store_notices(gk_gcks *g)
{
	bool foreign = false;
	gk_status st = gk_store_notices(g->env.store, note_notice, &(struct notice_ctx){ g, &foreign });
	if (st)
		return st;
	return foreign ? gk_gcks_reload(g) : GK_OK;
}

gk_status gk_gcks_rekey(gk_gcks *g, const char *group, char *msg, size_t msglen)
{
	gcks_group *grp = group_by_name(g, group);
	if (!grp) {
		snprintf(msg, msglen, "no group %s", group);
		return GK_E_NOT_FOUND;
	}
	if (not_leader(g, grp, msg, msglen))
		return GK_E_STATE;
	gk_status st = gcks_rekey_group(g, grp, true, NULL, "requested");
	snprintf(msg, msglen, st ? "rekey of %s failed: %s" : "%s rekeyed%s", group,
		 st ? gk_status_str(st) : grp->pol.rekey_transport == GK_REKEY_INBAND ? " (GSA_INBAND_REKEY)" : " (GSA_REKEY)");
	return st;
}

gk_status gk_gcks_evict(gk_gcks *g, const char *group, const char *member, char *msg, size_t msglen)
{
	gk_ident mid;
	char why[GK_ERR_MAX] = "";
	gcks_group *grp = group_by_name(g, group);
	if (!grp) {
		snprintf(msg, msglen, "no group %s", group);
		return GK_E_NOT_FOUND;
	}
	if (not_leader(g, grp, msg, msglen))
		return GK_E_STATE;
	if (gk_ident_parse(member, &mid, why, sizeof(why))) {
		snprintf(msg, msglen, "%s: %s", member, why);
		return GK_E_INVAL;
	}
	char mt[GK_IDENT_TEXT_MAX];
	gk_ident_text(&mid, mt);
	gk_group_policy np;
	gk_status st = gk_group_policy_copy(&grp->pol, &np);
	if (st)
		return st;
	size_t w = 0;
	bool found = false;
	for (size_t i = 0; i < np.nmembers; i++) {
		if (gk_member_policy_is(&np.members[i], &mid)) {
			found = true;
			gk_member_policy_wipe(&np.members[i]);
			continue;
		}
		np.members[w++] = np.members[i];
	}
	np.nmembers = w;
	bool changed = false;
	if (!found) {
		snprintf(msg, msglen, "%s is not a member of %s", mt, group);
		gk_group_policy_free(&np);
		return GK_E_NOT_FOUND;
	}
	st = gk_keys_group_evict(g->env.store, &np, mt, "gcksctl evict", gcks_wall(g), &changed);
	/* a member listed but never registered had no row: the count stays */
	bool had_row = !st && gk_store_registration_delete(g->env.store, grp->pol.name, mt) == GK_OK;
	if (st) {
		gk_group_policy_free(&np);
		snprintf(msg, msglen, "cannot store the policy without %s", mt);
		return st;
	}
	gk_group_policy_free(&grp->pol);
	grp->pol = np;
	gk_store_group_generation(g->env.store, grp->pol.name, &grp->generation);
	gcks_cluster_changed(g, grp);
	if (had_row && grp->registered)
		grp->registered--;
	close_member_sas(g, &mid, grp->hash);
	if (grp->pol.rekey_transport == GK_REKEY_INBAND) {
		/* the evicted member's IKE SAs no longer serve the group: only the others get the new keys */
		st = gcks_rekey_group(g, grp, true, NULL, "eviction");
		snprintf(msg, msglen, "%s evicted from %s; new keys went to the remaining members over "
			 "GSA_INBAND_REKEY", mt, group);
	} else if (gcks_group_is_lkh(grp) && gcks_group_lkh(g, grp) == GK_OK) {
		const char *names[1] = { mt };
		st = gcks_lkh_evict(g, grp, names, 1, "eviction");
		snprintf(msg, msglen, st ? "%s evicted from %s, but the GSA_REKEY that evicts it through the key tree "
			 "failed: %s" : "%s evicted from %s through the key tree: one GSA_REKEY reached the other "
			 "members, who keep their registrations%s", mt, group, st ? gk_status_str(st) : "");
	} else {
		st = gcks_exclude_all(g, grp, "eviction");
		snprintf(msg, msglen, "%s evicted from %s; every member was excluded and re-registers to get new "
			 "keys, which the evicted member cannot (forward access control for multicast rekey "
			 "without re-registration needs LKH, not yet implemented)", mt, group);
	}
	gcks_log_member(g, &mid, "%s", msg);
	return st;
}
