/* The group state of the GCKS: policies and current SA keys loaded from the store, member
 * lookup, the names' hashes that tag the IKE SAs registered to a group, the SPIs promised for
 * the next rekey (GSA_NEXT_SPI), and the TEK and KEK attributes every member of a group gets
 * (RFC 9838 4.4.2, 4.4.3). */
#define GK_LOG_SUBSYS GK_SUB_STORE /* log.h */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "gcks_groups.h"
#include "gcks_keyhash.h"
#include "log.h"
#include "prf.h"
#include "gcks_keyrules.h"
#include "gcks_lkh.h"
#include "prf.h"

void gcks_groups_free(gk_gcks *g)
{
	for (size_t i = 0; i < g->ngroups; i++) {
		gk_group_policy_free(&g->groups[i].pol);
		OPENSSL_cleanse(g->groups[i].keys, sizeof(g->groups[i].keys));
		free(g->groups[i].member_slots);
		if (g->groups[i].lkh) {
			gk_lkh_free(g->groups[i].lkh);
			free(g->groups[i].lkh);
		}
	}
	free(g->groups);
	g->groups = NULL;
	g->ngroups = 0;
}

/* Makes sure the group's keys are current (refreshing them in the store when expired). Keys read
 * again may be another server's (a rekey whose notice this server missed) or new ones: the SPIs
 * promised in GSA_NEXT_SPI derive from them, as after a restart (next_spi_of), not from the keys
 * held before, whose promise a new Rekey SA may already have taken. */
static gk_status group_keys_fresh(gk_gcks *g, gcks_group *grp)
{
	int64_t now = gcks_wall(g);
	bool stale = grp->nkeys == 0;
	for (size_t i = 0; i < grp->nkeys; i++)
		stale |= grp->keys[i].expires <= now;
	if (!stale)
		return GK_OK;
	gk_status st = gk_keys_group_keys(g->env.store, &grp->pol, g->env.rnd, now, grp->keys, &grp->nkeys);
	if (!st)
		gcks_next_spis(g, grp);
	return st;
}

static gk_status load_one(gk_gcks *g, const char *name, gcks_group *grp)
{
	/* policy, generation and keys in one read: `gcksctl policy load` may store a new policy
	 * meanwhile, and half of each would be half a policy */
	gk_status st = gk_keys_group_load(g->env.store, name, g->env.rnd, gcks_wall(g), &grp->pol, &grp->generation,
					   grp->keys, GK_GROUP_MAX_SAS, &grp->nkeys);
	if (st)
		return st;
	if ((st = gk_store_registration_count(g->env.store, name, &grp->registered)) != GK_OK)
		return st;
	grp->hash = gcks_name_hash(name);
	gcks_next_spis(g, grp);
	return GK_OK;
}

gk_status gcks_groups_load(gk_gcks *g)
{
	char **names = NULL;
	size_t n = 0;
	gk_status st = gk_store_group_names(g->env.store, &names, &n);
	if (st)
		return st;
	g->groups = calloc(n ? n : 1, sizeof(*g->groups));
	if (!g->groups) {
		st = GK_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		st = load_one(g, names[i], &g->groups[g->ngroups]);
		if (st) {
			gk_err("group %s: cannot load: %s", names[i], gk_status_str(st));
			gk_group_policy_free(&g->groups[g->ngroups].pol);
			goto out;
		}
		g->ngroups++;
	}
	gk_info("%zu group%s loaded", g->ngroups, g->ngroups == 1 ? "" : "s");
out:
	gk_store_names_free(names, n);
	if (st)
		gcks_groups_free(g);
	return st;
}

/* ---- key trees (gcks_lkh.h) ---- */

bool gcks_group_is_lkh(const gcks_group *grp)
{
	return grp->pol.rekey_transport == GK_REKEY_MULTICAST && grp->pol.kek.present &&
	       grp->pol.kek.key_mgmt == GK_KEYMGMT_LKH;
}

/* Loaded on first use, not with the group: a tree of a million members is two million rows,
 * which neither a start nor a policy load of another group should wait for. */
gk_status gcks_group_lkh(gk_gcks *g, gcks_group *grp)
{
	if (!gcks_group_is_lkh(grp))
		return GK_E_STATE;
	if (grp->lkh)
		return GK_OK;
	if (!(grp->lkh = calloc(1, sizeof(*grp->lkh))))
		return GK_E_NOMEM;
	gk_status st = gk_keys_lkh_load(g->env.store, &grp->pol, grp->lkh);
	if (st) {
		free(grp->lkh);
		grp->lkh = NULL;
		gk_err("group %s: cannot load its key tree: %s", grp->pol.name, gk_status_str(st));
	}
	return st;
}

void gcks_group_lkh_carry(gk_gcks *g, gcks_group *grp, gcks_group *was)
{
	bool current = false;
	if (!was->lkh || grp->lkh || !gcks_group_is_lkh(grp) || !gcks_group_is_lkh(was) ||
	    grp->pol.kek.lkh_degree != was->pol.kek.lkh_degree || grp->pol.kek.kwa != was->pol.kek.kwa ||
	    gk_keys_lkh_current(g->env.store, &grp->pol, was->lkh, &current) || !current)
		return;
	grp->lkh = was->lkh;
	was->lkh = NULL;
}

gcks_group *gcks_group_find(gk_gcks *g, const gk_ident *id)
{
	for (size_t i = 0; i < g->ngroups; i++)
		if (gk_ident_eq(&g->groups[i].pol.id, id))
			return &g->groups[i];
	return NULL;
}

/* ---- member index ---- */

/* (Re)builds the index when pol.members is not the array it was built for (first use, a
 * reload, an eviction that replaced the policy). A policy lists each identity once; should it
 * not, the first entry wins, as a linear search would find it. */
static gk_status member_index(gcks_group *grp)
{
	const gk_group_policy *p = &grp->pol;
	if (grp->member_slots && grp->member_base == p->members && grp->member_count == p->nmembers)
		return GK_OK;
	size_t size = 16;
	while (size < p->nmembers * 2)
		size *= 2;
	uint32_t *slots = calloc(size, sizeof(*slots));
	if (!slots)
		return GK_E_NOMEM;
	for (size_t i = 0; i < p->nmembers; i++) {
		gk_ident id;
		size_t j = (size_t)gcks_ident_hash(gk_member_policy_id(&p->members[i], &id)) & (size - 1);
		while (slots[j] && !gk_member_policy_is(&p->members[slots[j] - 1], &id))
			j = (j + 1) & (size - 1);
		if (!slots[j])
			slots[j] = (uint32_t)i + 1;
	}
	free(grp->member_slots);
	grp->member_slots = slots;
	grp->member_mask = size - 1;
	grp->member_base = p->members;
	grp->member_count = p->nmembers;
	return GK_OK;
}

const gk_member_policy *gcks_group_member(gcks_group *grp, const gk_ident *member)
{
	if (member_index(grp))
		return gk_group_policy_member(&grp->pol, member); /* out of memory: search */
	for (size_t j = (size_t)gcks_ident_hash(member) & grp->member_mask; grp->member_slots[j];
	     j = (j + 1) & grp->member_mask) {
		const gk_member_policy *m = &grp->pol.members[grp->member_slots[j] - 1];
		if (gk_member_policy_is(m, member))
			return m;
	}
	return NULL;
}

const gk_member_policy *gcks_member_next_cred(gk_gcks *g, const gk_ident *member, gcks_group *first,
					      gk_member_auth kind, size_t *pos)
{
	while (*pos <= g->ngroups) {
		size_t i = (*pos)++;
		gcks_group *grp = i == 0 ? first : &g->groups[i - 1];
		if (!grp || (i > 0 && grp == first))
			continue;
		const gk_member_policy *mp = gcks_group_member(grp, member);
		if (mp && mp->auth == kind)
			return mp;
	}
	return NULL;
}

const gk_member_policy *gcks_member_ppk(gk_gcks *g, const gk_ident *member, gcks_group *first, gk_chunk ppk_id)
{
	for (size_t i = 0; i <= g->ngroups; i++) {
		gcks_group *grp = i == 0 ? first : &g->groups[i - 1];
		if (!grp || (i > 0 && grp == first) || grp->pol.ppk == GK_PPK_NONE)
			continue;
		const gk_member_policy *mp = gcks_group_member(grp, member);
		if (mp && mp->ppk && gk_chunk_eq(GK_CHUNK(mp->ppk_id, mp->ppk_id_len), ppk_id))
			return mp;
	}
	return NULL;
}

void gcks_member_cred_hash(const gk_member_policy *mp, uint8_t out[32])
{
	memset(out, 0, 32);
	/* a certificate is "one our CA issued for this identity": nothing more to tell apart */
	if (mp->auth == GK_MAUTH_PSK && mp->psk)
		gk_digest(gk_md_sha256(), mp->psk, mp->psk_len, out, true);
	else if (mp->auth == GK_MAUTH_PUBKEY && mp->pubkey)
		gk_digest(gk_md_sha256(), mp->pubkey, mp->pubkey_len, out, false);
}

bool gcks_member_cred_matches(const gk_member_policy *mp, const gcks_sa *sa)
{
	uint8_t h[32];
	if (!sa->cred_auth || mp->auth != sa->cred_auth)
		return false;
	gcks_member_cred_hash(mp, h);
	bool same = CRYPTO_memcmp(h, sa->cred_hash, sizeof(h)) == 0;
	OPENSSL_cleanse(h, sizeof(h));
	return same;
}

/* ---- tags, next SPIs ---- */

uint64_t gcks_name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return h ? h : 1;
}

void gcks_sa_tag_group(gcks_sa *sa, uint64_t h)
{
	for (size_t i = 0; i < GCKS_SA_GROUPS; i++)
		if (sa->groups[i] == h)
			return;
	for (size_t i = 0; i < GCKS_SA_GROUPS; i++)
		if (!sa->groups[i]) {
			sa->groups[i] = h;
			return;
		}
}

void gcks_sa_untag_group(gcks_sa *sa, uint64_t h)
{
	for (size_t i = 0; i < GCKS_SA_GROUPS; i++)
		if (sa->groups[i] == h)
			sa->groups[i] = 0;
}

bool gcks_sa_in_group(const gcks_sa *sa, uint64_t h)
{
	for (size_t i = 0; i < GCKS_SA_GROUPS; i++)
		if (sa->groups[i] == h)
			return true;
	return false;
}

static bool spi_usable(const uint8_t *spi, size_t len)
{
	return len == 4 ? gk_get_u32(spi) >= 256 : gk_get_u64(spi) && gk_get_u64(spi + 8);
}

/* The SPI promised for the replacement of key k (GSA_NEXT_SPI, RFC 9838 4.4.2.2.3) is derived
 * from k's keying material: prf+(keymat, label | SPI). Every server sharing the store promises
 * the same one, so does a server after a restart, and a rekey of another SA of the group leaves
 * it as it was, so whoever makes the replacement uses what the members were told: a member that
 * missed the GSA_REKEY bringing a new Rekey SA (its sender died before sending it) knows the next
 * leader's messages on it for a lost rekey and registers again. Only holders of k can tell it,
 * as with a random one. A random SPI when no candidate fits (the store refuses a taken one). */
static void next_spi_of(gk_gcks *g, const gk_sa_key *k, uint8_t *spi)
{
	static const char label[] = "gikev2 GSA_NEXT_SPI";
	uint8_t out[8 * 16];
	size_t len = k->spi_len;
	gk_chunk seed[2] = { GK_CHUNK((const uint8_t *)label, sizeof(label) - 1), GK_CHUNK(k->spi, len) };
	bool found = false;
	if (!gk_prf_plus(GK_PRF_HMAC_SHA2_256, GK_CHUNK(k->keymat, k->keymat_len), seed, 2, out, sizeof(out)))
		for (size_t o = 0; o + len <= sizeof(out) && !found; o += len)
			if ((found = spi_usable(out + o, len)))
				memcpy(spi, out + o, len);
	OPENSSL_cleanse(out, sizeof(out));
	while (!found && !gk_rand_bytes(g->env.rnd, spi, len))
		found = spi_usable(spi, len);
}

void gcks_next_spis(gk_gcks *g, gcks_group *grp)
{
	for (size_t j = 0; j < grp->nkeys && j < GK_GROUP_MAX_SAS; j++)
		next_spi_of(g, &grp->keys[j], grp->next_spi[j]);
}

void gcks_next_spis_forget(gcks_group *grp)
{
	/* an all-zero SPI is reserved, so key_create never takes it and draws a random one */
	memset(grp->next_spi, 0, sizeof(grp->next_spi));
}

void gcks_announce_next(const gcks_group *grp, gk_group_state *gs)
{
	if (grp->pol.rekey_transport != GK_REKEY_MULTICAST)
		return;
	for (size_t i = 0; i < gs->nsas; i++)
		for (size_t j = 0; j < grp->nkeys; j++)
			if (grp->keys[j].spi_len == gs->sas[i].spi_len &&
			    !memcmp(grp->keys[j].spi, gs->sas[i].spi, gs->sas[i].spi_len)) {
				memcpy(gs->sas[i].next_spi[0], grp->next_spi[j], gs->sas[i].spi_len);
				gs->sas[i].n_next_spi = 1;
			}
}

/* ---- what members get ---- */

void gcks_fill_tek(const gk_tek_policy *t, const gk_sa_key *k, int64_t now, gk_group_sa *sa)
{
	memset(sa, 0, sizeof(*sa)); /* gk_group_state_clear leaves the slots as they were */
	sa->proto = t->proto;
	sa->spi_len = k->spi_len;
	memcpy(sa->spi, k->spi, k->spi_len);
	sa->src = t->src;
	sa->dst = t->dst;
	sa->encr = t->encr;
	sa->encr_key_bits = t->encr_key_bits;
	sa->integ = t->integ;
	sa->sn = t->sn;
	sa->lifetime = k->expires > now ? (uint32_t)(k->expires - now) : 1;
	memcpy(sa->keymat, k->keymat, k->keymat_len);
	sa->keymat_len = k->keymat_len;
}

void gcks_kek_dst(const gk_kek_policy *k, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (k->dst.family == 6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, k->dst.start, 16);
		in6->sin6_port = htons(k->dst.port_lo);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, k->dst.start, 4);
		in->sin_port = htons(k->dst.port_lo);
	}
}

/* RFC 9838 4.4.2: the Rekey SA's source selector SHOULD be the single address (and port)
 * GSA_REKEY leaves from. With `source: gcks` the policy holds the unspecified address; the
 * address gcksd really sends from goes into the GSA, or any address when it is not known. */
static void kek_source(gk_gcks *g, const gk_kek_policy *p, gk_ts_spec *ts)
{
	*ts = p->src;
	if (!gk_kek_src_is_gcks(&p->src))
		return;
	size_t alen = p->src.family == 6 ? 16 : 4;
	struct sockaddr_storage dst, src;
	gcks_kek_dst(p, &dst);
	if (g->env.rekey_source && p->src.port_lo == p->src.port_hi &&
	    g->env.rekey_source(g->env.send_ctx, (const struct sockaddr *)&dst, p->src.port_lo, p->iface, &src) == GK_OK &&
	    src.ss_family == dst.ss_family) {
		const void *a = src.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&src)->sin6_addr
							  : (const void *)&((struct sockaddr_in *)&src)->sin_addr;
		memcpy(ts->start, a, alen);
		memcpy(ts->end, a, alen);
		return;
	}
	memset(ts->end, 0xff, alen); /* not known here: any address, the port stays */
}

void gcks_fill_kek(gk_gcks *g, const gcks_group *grp, const gk_sa_key *k, int64_t now, gk_group_sa *sa)
{
	const gk_kek_policy *p = &grp->pol.kek;
	memset(sa, 0, sizeof(*sa));
	sa->proto = GK_PROTO_GIKE_UPDATE;
	sa->spi_len = 16;
	memcpy(sa->spi, k->spi, 16);
	kek_source(g, p, &sa->src);
	sa->dst = p->dst;
	sa->encr = p->encr;
	sa->encr_key_bits = p->encr_key_bits;
	sa->integ = p->integ;
	sa->kwa = p->kwa;
	sa->gcauth = p->gcauth;
	if (p->gcauth == GK_GCAUTH_DIGITAL_SIGNATURE) {
		/* every scheme fits (check_auth sig_algid_fits_gsa); one that did not would leave the
		 * attribute empty, and the encoder refuses that GSA (REGISTRATION_FAILED) */
		gk_chunk alg = gk_sig_algid(g->sign_scheme);
		if (alg.len <= sizeof(sa->sig_algid)) {
			memcpy(sa->sig_algid, alg.ptr, alg.len);
			sa->sig_algid_len = alg.len;
		}
	}
	sa->lifetime = k->expires > now ? (uint32_t)(k->expires - now) : 1;
	uint32_t msgid = 0;
	if (gk_keys_rekey_msgid_peek(g->env.store, grp->pol.name, &msgid) == GK_OK)
		sa->initial_msgid = msgid;
	memcpy(sa->keymat, k->keymat, k->keymat_len);
	sa->keymat_len = k->keymat_len;
}

/* The group state a member receives, without member-specific parts. */
gk_status gcks_group_state(gk_gcks *g, gcks_group *grp, gk_group_state *gs)
{
	int64_t now = gcks_wall(g);
	gk_group_state_clear(gs); /* first: a failure leaves it empty, for gk_group_state_wipe_filled */
	gk_status st = group_keys_fresh(g, grp);
	if (st)
		return st;
	size_t ki = 0;
	for (size_t i = 0; i < grp->pol.nteks && ki < grp->nkeys; i++)
		gcks_fill_tek(&grp->pol.teks[i], &grp->keys[ki++], now, &gs->sas[gs->nsas++]);
	/* an inband group needs no Rekey SA: updates come over the registration IKE SA */
	if (grp->pol.kek.present && ki < grp->nkeys && grp->pol.rekey_transport == GK_REKEY_MULTICAST) {
		gcks_fill_kek(g, grp, &grp->keys[ki], now, &gs->sas[gs->nsas++]);
		if (grp->pol.kek.gcauth == GK_GCAUTH_DIGITAL_SIGNATURE) {
			memcpy(gs->auth_key, g->spki, g->spki_len);
			gs->auth_key_len = g->spki_len;
		}
	}
	if (grp->pol.rekey_transport == GK_REKEY_INBAND)
		for (size_t i = 0; i < gs->nsas; i++)
			gs->sas[i].lifetime = 0; /* RFC 9838 4.4.2.2.1: SHOULD NOT with inband rekey */
	gcks_announce_next(grp, gs);
	gs->atd = grp->pol.atd;
	gs->has_atd = grp->pol.atd != 0;
	gs->dtd = grp->pol.dtd;
	gs->has_dtd = grp->pol.dtd != 0;
	gs->sender_id_bits = grp->pol.sender_id_bits;
	gs->has_sender_id_bits = grp->pol.sender_id_bits != 0;
	return GK_OK;
}

int64_t gcks_group_rekey_at(const gcks_group *grp)
{
	uint32_t pct = grp->pol.rekey_margin_pct ? grp->pol.rekey_margin_pct : 20;
	int64_t at = 0;
	for (size_t j = 0; j < grp->nkeys; j++) {
		const gk_sa_key *k = &grp->keys[j];
		uint32_t life = k->tek_index >= 0 && (size_t)k->tek_index < grp->pol.nteks
			? grp->pol.teks[k->tek_index].lifetime : grp->pol.kek.lifetime;
		int64_t t = k->expires - (int64_t)life * pct / 100;
		if (!at || t < at)
			at = t;
	}
	return at;
}

size_t gk_gcks_groups(const gk_gcks *g, gk_gcks_group_info *out, size_t max)
{
	size_t n = 0;
	for (; n < g->ngroups && n < max; n++) {
		out[n] = (gk_gcks_group_info){ &g->groups[n].pol, g->groups[n].registered, g->groups[n].keys,
					       g->groups[n].nkeys, false, &g->groups[n].ctr, 0, NULL };
		out[n].next_rekey = g->groups[n].rekey_due ? gcks_wall(g) : gcks_group_rekey_at(&g->groups[n]);
		out[n].next_reason = g->groups[n].rekey_due ? "requested" : "lifetime";
		/* on a store error members_frag stays false: what a rekey would do then */
		gk_store_registrations_frag_ok(g->env.store, g->groups[n].pol.name, &out[n].members_frag);
	}
	return n;
}
