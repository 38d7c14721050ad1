/* Registration of an authenticated member to a group (RFC 9838 2.3.4): authorization, SAg
 * evaluation, Sender-ID allocation (2.5.1) and the GSA and KD payloads; GSA_REGISTRATION (2.3.2)
 * for further groups and for leaving. */
#define GK_LOG_SUBSYS GK_SUB_REG /* log.h */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include "gcks_reg.h"
#include "addr.h"
#include "gcks_groups.h"
#include "gcks_intermediate.h"
#include "gcks_cluster.h"
#include "gcks_refusal.h"
#include "gcks_rekey.h"
#include "gcks_resp.h"
#include "gcks_sender_keys.h"
#include "gcks_timers.h"
#include "algs.h"
#include "log.h"
#include "gcks_keyrules.h"
#include "gcks_lkh.h"

/* snprintf(dst, cap, "%s", src) without the formatting (about 600 instructions a copy, four a
 * registration): src cut at cap - 1 octets, dst always terminated. */
static void text_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = 0;
}

/* Does an SAg proposal accept this transform? Types the proposal does not list restrict nothing,
 * except ENCR and INTEG, which a GM must name to support. */
static bool prop_accepts(const gk_proposal *p, uint8_t type, uint16_t id, uint16_t key_bits)
{
	bool listed = false;
	for (size_t i = 0; i < p->transforms.n; i++) {
		const gk_transform *t = &p->transforms.items[i];
		if (t->type != type)
			continue;
		listed = true;
		const gk_attr *kl = gk_attr_find(&t->attrs, GK_TATTR_KEY_LENGTH);
		if (t->id == id && (!kl || !kl->tv || kl->tv_value == key_bits || !key_bits))
			return true;
	}
	return !listed && type != GK_TT_ENCR && type != GK_TT_INTEG;
}

static bool prop_fits(const gk_proposal *p, const gk_group_sa *sa)
{
	if (p->proto != sa->proto)
		return false;
	if (sa->proto != GK_PROTO_AH && !prop_accepts(p, GK_TT_ENCR, sa->encr, sa->encr_key_bits))
		return false;
	if (sa->integ && !prop_accepts(p, GK_TT_INTEG, sa->integ, 0))
		return false;
	if (sa->proto == GK_PROTO_GIKE_UPDATE)
		return prop_accepts(p, GK_TT_KWA, sa->kwa, 0) &&
		       (!sa->gcauth || prop_accepts(p, GK_TT_GCAUTH, sa->gcauth, 0));
	return prop_accepts(p, GK_TT_SN, sa->sn, 0);
}

/* RFC 9838 2.3.3: proposals with the same number form a set; the group's SAs must all fit
 * within one set. */
static bool sag_accepts(const gk_pl_sa *sag, const gk_group_state *gs)
{
	for (size_t i = 0; i < sag->proposals.n; i++) {
		uint8_t num = sag->proposals.items[i].num;
		bool all = true;
		for (size_t s = 0; s < gs->nsas && all; s++) {
			bool one = false;
			for (size_t j = 0; j < sag->proposals.n && !one; j++)
				one = sag->proposals.items[j].num == num && prop_fits(&sag->proposals.items[j], &gs->sas[s]);
			all = one;
		}
		if (all)
			return true;
	}
	return false;
}

/* Requested Sender-IDs from GROUP_SENDER; -1 when the data is malformed: RFC 9838 4.7.4 "The
 * count MUST be 4 octets long", so an empty count is malformed as well. */
static long sender_request(const gk_msg *req, bool *is_sender)
{
	const gk_payload *p = gk_msg_find_notify(req, GK_N_GROUP_SENDER);
	*is_sender = p != NULL;
	if (!p)
		return 0;
	if (p->body->notify.data.len != 4)
		return -1;
	return (long)gk_get_u32(p->body->notify.data.ptr);
}

static gk_status add_sender_ids(gk_gcks *g, const gcks_group *grp, const gk_member_policy *mp,
				long requested, gk_group_state *gs)
{
	uint32_t bound = mp->max_sender_ids ? mp->max_sender_ids : g->cfg.max_sender_ids_default;
	uint32_t n = requested < 1 ? 1 : (uint32_t)requested; /* one is always allocated (2.5.1) */
	if (n > bound)
		n = bound;
	if (n > GK_GROUP_MAX_SENDER_IDS)
		n = GK_GROUP_MAX_SENDER_IDS;
	uint32_t first;
	gk_status st = gk_keys_sender_ids_alloc(g->env.store, grp->pol.name, n, grp->pol.sender_id_bits, &first);
	if (st)
		return st;
	for (uint32_t i = 0; i < n; i++)
		gs->sender_ids[gs->nsender_ids++] = first + i;
	return GK_OK;
}

/* RFC 9838 2.5.1: when the Sender-ID counter reaches its end, every member is excluded (new keys
 * for every SA) before any Sender-ID is handed out again; this registration then gets the new
 * keys and a Sender-ID from the restarted counter. */
static gk_status sender_ids_start_over(gk_gcks *g, gcks_group *grp, gk_group_state *gs)
{
	gk_status st = gcks_exclude_all(g, grp, "Sender-IDs exhausted");
	if (!st)
		st = gk_keys_sender_ids_reset(g->env.store, grp->pol.name);
	if (st)
		return st;
	gk_group_state_wipe_filled(gs);
	return gcks_group_state(g, grp, gs);
}

/* RFC 9838 3.1: the KWK "SHOULD NOT be less than the size of the key for the Encryption
 * Algorithm transform for the Rekey SA and for all Data-Security SAs in the group". The IKE SA's
 * KWA was the strongest the member offered (IKE_SA_INIT): a weaker one is warned about. */
static void check_kwk_strength(gk_gcks *g, const gcks_sa *sa, const gk_group_state *gs, const char *member,
			       const char *group)
{
	size_t largest = 0, kwk = gk_kwa_key_len(sa->ike.suite.kwa);
	for (size_t i = 0; i < gs->nsas; i++) {
		const gk_encr_info *e = gk_encr_lookup(gs->sas[i].encr);
		size_t bits = gs->sas[i].encr_key_bits ? gs->sas[i].encr_key_bits : e ? e->default_key_bits : 0;
		if (bits / 8 > largest) /* AH SAs have no ENCR: 0 */
			largest = bits / 8;
	}
	if (kwk >= largest)
		return;
	g->stats.weak_kwk++;
	gk_warn("%s in %s: the key wrap algorithm %s (%zu-bit KWK) is weaker than the group's %zu-bit keys; "
		"the member offered no stronger one (RFC 9838 3.1)", member, group,
		gk_iana_str(GK_REG_KWA, sa->ike.suite.kwa), kwk * 8, largest * 8);
}

/* An lkh group (RFC 9838 A.2): the member's leaf (durable before its keys leave), its path in
 * the member key bag (the leaf under GSK_w, each key above under the one below) and the Rekey
 * SA's keying material under the top of the path only. */
static gk_status lkh_path(gk_gcks *g, gcks_group *grp, const gcks_sa *sa, const char *member, gk_group_state *gs,
			  gk_arena *a)
{
	const gk_group_sa *kek = NULL;
	uint32_t pos;
	gk_kh_wrapped *w, *s;
	size_t nw, ns;
	for (size_t i = 0; i < gs->nsas; i++)
		if (gs->sas[i].proto == GK_PROTO_GIKE_UPDATE)
			kek = &gs->sas[i];
	if (!kek)
		return GK_E_STATE;
	gk_status st = gk_keys_lkh_join(g->env.store, &grp->pol, grp->lkh, g->env.rnd, member, &pos);
	if (!st)
		st = gk_lkh_reg_wraps(grp->lkh, pos, sa->ike.suite.kwa, gk_ike_sa_gsk_w(&sa->ike),
				      grp->pol.kek.kwa, GK_CHUNK(kek->keymat, kek->keymat_len), a, &w, &nw, &s, &ns);
	if (st)
		return st;
	gs->wrap_keys = w;
	gs->nwrap_keys = nw;
	gs->kh_sa_keys = s;
	gs->nkh_sa_keys = ns;
	return GK_OK;
}

/* Counts a refusal under its notify (the last slot takes every kind beyond the others). */
static void count_refusal(gk_group_refusals *c, uint16_t notify)
{
	size_t i = 0;
	while (i + 1 < GK_GROUP_REFUSAL_KINDS && c->notify[i] && c->notify[i] != notify)
		i++;
	if (!c->notify[i] || c->notify[i] == notify)
		c->notify[i] = notify;
	else
		c->notify[i] = 0; /* full: "other" */
	c->count[i]++;
}

static void refuse(gk_gcks *g, const gcks_sa *sa, gcks_resp *r, uint16_t notify, const char *member,
		   const char *group, const char *why)
{
	gcks_group *grp = NULL;
	for (size_t i = 0; i < g->ngroups && !grp; i++)
		if (!strcmp(g->groups[i].pol.name, group))
			grp = &g->groups[i];
	/* a group we do not serve is not a label: its name is the peer's choice */
	count_refusal(grp ? &grp->ctr.refused : &g->stats.unknown_group_refused, notify);
	gcks_refusal(g, (const struct sockaddr *)&sa->ike.peer, "registration of %s to %s (%s): %s", member, group,
		     gk_iana_str(GK_REG_NOTIFY, notify), why);
	gcks_resp_notify(r, notify, GK_CHUNK_EMPTY);
}

/* What a registration changes once its row is recorded: counters, the log line, and how long
 * its IKE SA stays (sa NULL: it went meanwhile; grp NULL: the group went). */
static void completed(gk_gcks *g, gcks_sa *sa, gcks_group *grp, const char *mt, const char *gt, bool sender,
		      bool sender_ids)
{
	g->stats.registrations++;
	gk_info("%s registered to %s as %s%s", mt, gt, sender ? "sender" : "receiver",
		sender_ids ? " with Sender-IDs" : "");
	if (!grp)
		return;
	grp->ctr.registrations++;
	if (!sa)
		return;
	if (grp->pol.rekey_transport == GK_REKEY_INBAND)
		sa->deadline_ms = 0; /* kept for GSA_INBAND_REKEY */
	else if (grp->pol.ike_idle_timeout)
		sa->deadline_ms = gcks_now(g) + (int64_t)grp->pol.ike_idle_timeout * 1000;
	gcks_timers_touch(g, sa);
}

void gcks_reg_settle(gk_gcks *g, gcks_sa *sa, const gcks_reg_wait *w, bool committed, gcks_resp *r)
{
	gcks_group *grp = NULL;
	for (size_t i = 0; i < g->ngroups && !grp; i++)
		if (g->groups[i].hash == w->group_hash)
			grp = &g->groups[i];
	if (committed) {
		completed(g, sa, grp, w->member, w->group, false, false);
		return;
	}
	/* the row is not in the store: nothing may say the member is registered, and it is told
	 * what a failed write tells it */
	if (grp && w->fresh && grp->registered)
		grp->registered--;
	if (grp && sa && !w->was_tagged)
		gcks_sa_untag_group(sa, grp->hash);
	r->n = w->pl_from;
	if (sa)
		refuse(g, sa, r, GK_N_REGISTRATION_FAILED, w->member, w->group, "cannot record the registration");
}

/* The group's registered members, for its capacity. On a shared store the other servers
 * register members too, so the count is read from the store each time (one count on the
 * registrations' index; only for a group with a capacity): two servers registering at the same
 * moment may still both take the last place. A store of this server's own: its count is exact. */
static uint32_t registered_now(gk_gcks *g, gcks_group *grp)
{
	uint32_t n = 0;
	if (gk_store_shared(g->env.store) && gk_store_registration_count(g->env.store, grp->pol.name, &n) == GK_OK)
		grp->registered = n;
	return grp->registered;
}

static bool already_registered(gk_gcks *g, const gcks_group *grp, const char *member)
{
	bool exists = false;
	return gk_store_registration_exists(g->env.store, grp->pol.name, member, &exists) == GK_OK && exists;
}

void gcks_register(gk_gcks *g, gcks_sa *sa, const gk_ident *member, const gk_payload *idg,
		   const gk_msg *req, gcks_resp *r, const gk_member_policy *authed)
{
	char mt[GK_IDENT_TEXT_MAX], gt[GK_IDENT_TEXT_MAX];
	gk_ident gid;
	gk_group_state *gs = NULL;
	bool is_sender;
	gk_ident_text(member, mt);
	if (gk_ident_from_payload(idg->body->id.id_type, idg->body->id.data, &gid)) {
		refuse(g, sa, r, GK_N_INVALID_GROUP_ID, mt, "?", "malformed group ID");
		return;
	}
	gk_ident_text(&gid, gt);
	gcks_group *grp = gcks_group_find(g, &gid);
	if (!grp) {
		refuse(g, sa, r, GK_N_INVALID_GROUP_ID, mt, gt, "no such group");
		return;
	}
	if (!gcks_cluster_ok(g)) {
		/* fail closed: keys from memory may be stale and nothing can be recorded; the member
		 * asks its next key server at once (RFC 7296 2.25 TEMPORARY_FAILURE) */
		refuse(g, sa, r, GK_N_TEMPORARY_FAILURE, mt, gt, "this key server lost its database");
		return;
	}
	const gk_member_policy *mp = gcks_group_member(grp, member);
	if (!mp) {
		refuse(g, sa, r, GK_N_AUTHORIZATION_FAILED, mt, gt, "identity not listed for the group");
		return;
	}
	/* RFC 9838 2.3.4: the group authorizes the credential it lists, not any the member has. The
	 * entry that just authenticated the SA is that credential (sa->cred_hash was made from it a
	 * moment ago): no second SHA-256 of it. */
	if (mp != authed && !gcks_member_cred_matches(mp, sa)) {
		refuse(g, sa, r, GK_N_AUTHORIZATION_FAILED, mt, gt, "the group lists the identity with another credential");
		return;
	}
	if (grp->pol.ppk == GK_PPK_REQUIRED && !sa->ppk_used) {
		/* RFC 8784 3: the group's keys go only over an IKE SA keyed with the member's PPK (an SA
		 * from IKE_AUTH, or authenticated for another group, may have none) */
		refuse(g, sa, r, GK_N_AUTHORIZATION_FAILED, mt, gt, "the group requires a PPK; this IKE SA has none");
		return;
	}
	if (!gcks_int_satisfies(&grp->pol, sa)) {
		/* RFC 9370: the group's keys go only over an IKE SA that ran its additional key
		 * exchanges; the member's proposal did not have them */
		refuse(g, sa, r, GK_N_NO_PROPOSAL_CHOSEN, mt, gt, "the group requires additional key exchanges "
		       "this IKE SA did not run");
		return;
	}
	long requested = sender_request(req, &is_sender);
	if (requested < 0) {
		refuse(g, sa, r, GK_N_INVALID_SYNTAX, mt, gt, "GROUP_SENDER data is not 4 octets");
		return;
	}
	if (is_sender && mp->role != GK_ROLE_SENDER) {
		refuse(g, sa, r, GK_N_AUTHORIZATION_FAILED, mt, gt, "member is not authorized to send");
		return;
	}
	if (grp->pol.capacity && registered_now(g, grp) >= grp->pol.capacity && !already_registered(g, grp, mt)) {
		refuse(g, sa, r, GK_N_REGISTRATION_FAILED, mt, gt, "group capacity reached");
		return;
	}
	gs = OPENSSL_malloc(sizeof(*gs)); /* gcks_group_state empties it (gk_group_state_clear) */
	if (!gs || gcks_group_state(g, grp, gs)) {
		refuse(g, sa, r, GK_N_REGISTRATION_FAILED, mt, gt, "group keys unavailable");
		goto out;
	}
	const gk_payload *sag = gk_msg_find(req, GK_PL_SAg);
	if (sag && !sag_accepts(&sag->body->sa, gs)) {
		refuse(g, sa, r, GK_N_NO_PROPOSAL_CHOSEN, mt, gt, "the member's SAg does not cover the group policy");
		goto out;
	}
	if (is_sender) {
		uint16_t refusal = 0;
		bool rekeyed = false;
		gk_status st = gcks_sender_keys_check(g, grp, mt, &refusal, &rekeyed);
		if (!st && rekeyed)
			st = gcks_rekey_group(g, grp, true, NULL, "a sender registers again while it may hold a "
					      "single-sender counter-mode key (RFC 9838 2.5)");
		if (st || refusal) {
			char why[160] = "cannot give the sender fresh single-sender counter-mode keys";
			if (refusal)
				snprintf(why, sizeof(why), "the sender registers again too often: the group was rekeyed "
					 "for it less than %d s ago", GK_SENDER_REKEY_INTERVAL_S);
			refuse(g, sa, r, refusal ? refusal : GK_N_REGISTRATION_FAILED, mt, gt, why);
			goto out;
		}
		if (rekeyed) {
			gk_group_state_wipe_filled(gs);
			if (gcks_group_state(g, grp, gs)) {
				refuse(g, sa, r, GK_N_REGISTRATION_FAILED, mt, gt, "group keys unavailable");
				goto out;
			}
		}
	}
	if (is_sender && gk_group_policy_counter_mode(&grp->pol)) {
		gk_status st = add_sender_ids(g, grp, mp, requested, gs);
		if (st == GK_E_TOO_BIG && sender_ids_start_over(g, grp, gs) == GK_OK)
			st = add_sender_ids(g, grp, mp, requested, gs);
		if (st) {
			refuse(g, sa, r, GK_N_REGISTRATION_FAILED, mt, gt, "no Sender-IDs left");
			goto out;
		}
		/* the store counts in 16 bits when the policy names none: say so to the sender */
		gs->sender_id_bits = grp->pol.sender_id_bits ? grp->pol.sender_id_bits : 16;
		gs->has_sender_id_bits = true;
	}
	/* GWP_SENDER_ID_BITS goes with Sender-IDs: to senders of a counter-mode group only
	 * (RFC 9838 5, attribute tables: MUST NOT be present otherwise) */
	gs->has_sender_id_bits = gs->has_sender_id_bits && gs->nsender_ids > 0;
	check_kwk_strength(g, sa, gs, mt, gt);
	if (gcks_group_is_lkh(grp) && (gcks_group_lkh(g, grp) || lkh_path(g, grp, sa, mt, gs, &r->arena))) {
		refuse(g, sa, r, GK_N_REGISTRATION_FAILED, mt, gt, "no place in the group's key tree");
		goto out;
	}
	gk_pl_gsa *gsa = gk_arena_alloc(&r->arena, sizeof(*gsa));
	gk_pl_kd *kd = gk_arena_alloc(&r->arena, sizeof(*kd));
	gk_chunk kwk = gk_ike_sa_gsk_w(&sa->ike);
	if (!gsa || !kd ||
	    gk_group_state_encode(gs, GK_GSA_REGISTRATION, sa->ike.suite.kwa, kwk, &r->arena, gsa, kd)) {
		refuse(g, sa, r, GK_N_REGISTRATION_FAILED, mt, gt, "cannot encode group policy");
		goto out;
	}
	gk_registration reg = { .role = is_sender ? GK_ROLE_SENDER : GK_ROLE_RECEIVER,
				.registered_at = gcks_wall(g),
				.sender_id_first = gs->nsender_ids ? gs->sender_ids[0] : 0,
				.sender_id_count = (uint32_t)gs->nsender_ids,
				.frag_ok = sa->ike.frag_ok };
	text_copy(reg.group, sizeof(reg.group), gt);
	text_copy(reg.member, sizeof(reg.member), mt);
	gk_addr_text((const struct sockaddr *)&sa->ike.peer, reg.peer, sizeof(reg.peer));
	bool fresh = false; /* the member had no row: the put tells */
	/* a receiver's row goes in the store's batch (group commit): its answer waits for the
	 * commit (gk_gcks_flush); a sender's or an lkh member's registration wrote durable state
	 * of its own already and is recorded at once */
	bool batched = !is_sender && !gcks_group_is_lkh(grp);
	gcks_reg_wait *w = batched ? gk_arena_alloc(&r->arena, sizeof(*w)) : NULL;
	uint64_t seq = 0;
	gk_status st = batched && !w ? GK_E_NOMEM
		       : batched ? gk_store_registration_put_batched(g->env.store, &reg, &seq, &fresh)
		       : gk_store_registration_put(g->env.store, &reg, &fresh);
	if (st != GK_OK) {
		refuse(g, sa, r, GK_N_REGISTRATION_FAILED, mt, gt, "cannot record the registration");
		goto out;
	}
	grp->registered += fresh;
	if (is_sender) /* before the keys leave (doc/sender-iv.md) */
		gcks_sender_keys_note(g, grp, mt);
	if (w) {
		*w = (gcks_reg_wait){ .seq = seq, .group_hash = grp->hash, .pl_from = r->n, .fresh = fresh,
				      .was_tagged = gcks_sa_in_group(sa, grp->hash) };
		text_copy(w->group, sizeof(w->group), gt);
		text_copy(w->member, sizeof(w->member), mt);
		r->wait = w;
	}
	gcks_sa_tag_group(sa, grp->hash);
	gcks_resp_add(r, GK_PL_GSA, gsa);
	gcks_resp_add(r, GK_PL_KD, kd);
	if (grp->pol.transport_mode)
		gcks_resp_notify(r, GK_N_USE_TRANSPORT_MODE, GK_CHUNK_EMPTY);
	if (!w)
		completed(g, sa, grp, mt, gt, is_sender, gs->nsender_ids > 0);
out:
	if (gs) {
		gk_group_state_wipe_filled(gs);
		OPENSSL_free(gs);
	}
}

void gcks_gsa_registration(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r)
{
	const gk_payload *idg = gk_msg_find(m, GK_PL_IDg);
	char mt[GK_IDENT_TEXT_MAX], gt[GK_IDENT_TEXT_MAX];
	gk_ident gid;
	if (!sa->g_ikev2 || !sa->ike.suite.kwa) {
		/* a plain IKEv2 SA negotiated no key wrap algorithm: nothing can be delivered */
		gcks_refusal(g, (const struct sockaddr *)&sa->ike.peer, "GSA_REGISTRATION on an SA without key wrap");
		gcks_resp_notify(r, GK_N_NO_PROPOSAL_CHOSEN, GK_CHUNK_EMPTY);
		return;
	}
	if (gk_msg_find_notify(m, GK_N_NO_PROPOSAL_CHOSEN) || gk_msg_find_notify(m, GK_N_REGISTRATION_FAILED)) {
		/* RFC 9838 2.3.2: the member leaves the group (or refuses its policy) */
		if (gk_ident_from_payload(idg->body->id.id_type, idg->body->id.data, &gid) == GK_OK) {
			gk_ident_text(&gid, gt);
			gcks_sa_peer_text(sa, mt);
			gcks_group *grp = gcks_group_find(g, &gid);
			if (grp && already_registered(g, grp, mt) &&
			    gk_store_registration_delete(g->env.store, gt, mt) == GK_OK && grp->registered)
				grp->registered--;
			/* "MUST remove the GM from the group": no further GSA_INBAND_REKEY on this SA */
			if (grp)
				gcks_sa_untag_group(sa, grp->hash);
			gk_info("%s left %s", mt, gt);
		}
		return;
	}
	gk_ident member;
	gcks_register(g, sa, gk_ident_held_get(sa->peer_id, &member), idg, m, r, NULL);
}
