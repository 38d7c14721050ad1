/* The key rules of the GCKS (see gcks_keyrules.h), run inside transactions of the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "gcks_keyrules.h"
#include "gcks_lkh.h"
#include "chunk.h"
#include "iana.h"
#include "ikekeys.h"
#include "rand.h"

/* ---- what the keys of a group look like ---- */

/* What the key of one SA of g looks like. idx is a TEK index or -1 for the Rekey SA. */
typedef struct sa_shape {
	uint8_t proto;
	size_t spi_len, keymat_len;
	uint32_t lifetime;
} sa_shape;

static gk_status sa_shape_of(const gk_group_policy *g, int idx, sa_shape *sh)
{
	if (idx < 0) {
		const gk_kek_policy *k = &g->kek;
		sh->proto = GK_PROTO_GIKE_UPDATE;
		sh->spi_len = 16; /* IKE SPIs: initiator and responder halves */
		sh->keymat_len = gk_group_keymat_len(sh->proto, k->encr, k->encr_key_bits, k->integ,
						     k->kwa);
		sh->lifetime = k->lifetime;
	} else {
		const gk_tek_policy *t = &g->teks[idx];
		if (t->proto != GK_PROTO_ESP && t->proto != GK_PROTO_AH)
			return GK_E_UNSUPPORTED;
		sh->proto = t->proto;
		sh->spi_len = 4;
		sh->keymat_len = gk_group_keymat_len(t->proto, t->encr, t->encr_key_bits, t->integ, 0);
		sh->lifetime = t->lifetime;
	}
	if (sh->keymat_len == 0 || sh->lifetime == 0)
		return GK_E_UNSUPPORTED;
	return sh->keymat_len > sizeof(((gk_sa_key *)0)->keymat) ? GK_E_TOO_BIG : GK_OK;
}

/* ESP/AH: 4 octets, never below 256 (1-255 are reserved, RFC 4303 2.1); GIKE_UPDATE: two
 * 8-octet IKE SPIs, neither zero (RFC 7296 3.1). */
static bool spi_allowed(const uint8_t *spi, size_t len)
{
	return len == 16 ? gk_get_u64(spi) && gk_get_u64(spi + 8) : gk_get_u32(spi) >= 256;
}

/* A fresh allowed SPI no stored key uses (so SAs of overlapping groups stay apart). */
static gk_status spi_make(gk_store *s, const gk_rand *rnd, const sa_shape *sh, gk_sa_key *k)
{
	k->spi_len = sh->spi_len;
	for (int tries = 0; tries < 64; tries++) {
		bool used = true;
		gk_status st = gk_rand_bytes(rnd, k->spi, k->spi_len);
		if (st)
			return st;
		if (!spi_allowed(k->spi, k->spi_len))
			continue;
		if ((st = gk_store_spi_used(s, k->spi, k->spi_len, &used)))
			return st;
		if (!used)
			return GK_OK;
	}
	return GK_E_CRYPTO; /* a generator this repetitive is broken */
}

/* Makes and stores a new current key for SA idx; the previous one becomes 'old'.
 * want: an SPI promised earlier in GSA_NEXT_SPI (RFC 9838 4.4.2.2.3), used when still free. */
static gk_status key_create(gk_store *s, gk_store_gid gid, int64_t gen, int idx, const sa_shape *sh,
			    const gk_rand *rnd, int64_t now, const uint8_t *want, gk_sa_key *k)
{
	bool used = true;
	gk_status st = GK_OK;
	memset(k, 0, sizeof(*k));
	if (want && spi_allowed(want, sh->spi_len))
		st = gk_store_spi_used(s, want, sh->spi_len, &used);
	if (!st && !used) {
		memcpy(k->spi, want, sh->spi_len);
		k->spi_len = sh->spi_len;
	} else if (!st) {
		st = spi_make(s, rnd, sh, k);
	}
	if (!st)
		st = gk_rand_bytes(rnd, k->keymat, sh->keymat_len);
	if (st)
		return st;
	k->keymat_len = sh->keymat_len;
	k->tek_index = idx;
	k->created = now;
	k->expires = now + sh->lifetime;
	k->generation = gen;
	return gk_store_key_insert(s, gid, k);
}

/* Fills keys[] with the current key of every SA of g. Without rnd it only reads and sets
 * *missing when some key needs making; with rnd (inside a write transaction) it makes them. */
static gk_status keys_collect(gk_store *s, const gk_group_policy *g, const gk_rand *rnd,
			      int64_t now, gk_sa_key *keys, bool *missing)
{
	gk_store_gid gid;
	int64_t gen;
	size_t n = g->nteks + (g->kek.present ? 1 : 0);
	*missing = false;
	gk_status st = gk_store_group_find(s, g->name, &gid, &gen);
	if (st)
		return st;
	if (rnd) {
		/* keys of SAs the policy no longer has, and expired old keys, go */
		st = gk_store_keys_retire_unused(s, gid, g->nteks, g->kek.present);
		if (!st)
			st = gk_store_keys_prune(s, gid, now);
	}
	for (size_t j = 0; j < n && !st; j++) {
		int idx = j < g->nteks ? (int)j : -1;
		sa_shape sh;
		bool found = false;
		if ((st = sa_shape_of(g, idx, &sh)) || (st = gk_store_key_current(s, gid, idx, &keys[j], &found)))
			break;
		/* A key made for another shape of this SA (the caller's policy is newer or older
		 * than the stored generation says) is replaced too. */
		if (found && keys[j].expires > now && keys[j].generation >= gen &&
		    keys[j].spi_len == sh.spi_len && keys[j].keymat_len == sh.keymat_len)
			continue;
		if (!rnd)
			*missing = true;
		else
			st = key_create(s, gid, gen, idx, &sh, rnd, now, NULL, &keys[j]);
	}
	return st;
}

gk_status gk_keys_group_keys(gk_store *s, const gk_group_policy *g, const struct gk_rand *rnd,
			     int64_t now, gk_sa_key *keys, size_t *nkeys)
{
	bool missing = false;
	size_t n;
	if (!s || !g || !rnd || !keys || !nkeys || (g->nteks && !g->teks))
		return GK_E_INVAL;
	n = g->nteks + (g->kek.present ? 1 : 0);
	*nkeys = 0;
	/* Usually every key exists: a read-only pass, no write lock, no sync. */
	gk_status st = gk_store_begin(s, GK_TX_READ);
	if (!st)
		st = gk_store_end(s, keys_collect(s, g, NULL, now, keys, &missing));
	if (!st && missing && !(st = gk_store_begin(s, GK_TX_DURABLE)))
		st = gk_store_end(s, keys_collect(s, g, rnd, now, keys, &missing));
	if (st)
		OPENSSL_cleanse(keys, n * sizeof(*keys));
	else
		*nkeys = n;
	return st;
}

/* One pass of gk_keys_group_load, inside a transaction. */
static gk_status group_snapshot(gk_store *s, const char *name, const gk_rand *rnd, int64_t now,
				gk_group_policy *pol, int64_t *gen, gk_sa_key *keys, size_t maxkeys, bool *missing)
{
	gk_store_gid gid;
	gk_status st = gk_store_group_find(s, name, &gid, gen);
	if (!st)
		st = gk_store_group_read(s, gid, pol);
	if (!st && pol->nteks + (pol->kek.present ? 1 : 0) > maxkeys)
		st = GK_E_TOO_BIG;
	if (!st)
		st = keys_collect(s, pol, rnd, now, keys, missing);
	return st;
}

gk_status gk_keys_group_load(gk_store *s, const char *name, const struct gk_rand *rnd, int64_t now,
			     gk_group_policy *pol, int64_t *gen, gk_sa_key *keys, size_t maxkeys,
			     size_t *nkeys)
{
	bool missing = false;
	if (!s || !name || !rnd || !pol || !gen || !keys || !nkeys)
		return GK_E_INVAL;
	memset(pol, 0, sizeof(*pol));
	*nkeys = 0;
	/* Usually every key exists: a read-only pass. Otherwise everything again under the write
	 * lock, so that the keys made are for the policy of the generation they are stored with. */
	gk_status st = gk_store_begin(s, GK_TX_READ);
	if (!st)
		st = gk_store_end(s, group_snapshot(s, name, NULL, now, pol, gen, keys, maxkeys, &missing));
	if (!st && missing) {
		gk_group_policy_free(pol);
		if (!(st = gk_store_begin(s, GK_TX_DURABLE)))
			st = gk_store_end(s, group_snapshot(s, name, rnd, now, pol, gen, keys, maxkeys, &missing));
	}
	if (st) {
		gk_group_policy_free(pol);
		OPENSSL_cleanse(keys, maxkeys * sizeof(*keys));
	} else {
		*nkeys = pol->nteks + (pol->kek.present ? 1 : 0);
	}
	return st;
}

/* ---- storing a policy ---- */

static bool ident_eq(const gk_ident *a, const gk_ident *b)
{
	return a->type == b->type && a->len == b->len && !memcmp(a->data, b->data, a->len);
}

/* ident_eq of two members' identities (NULL: unset) */
static bool held_eq(const gk_ident_held *a, const gk_ident_held *b)
{
	if (!a || !b)
		return a == b;
	return a->type == b->type && a->len == b->len && !memcmp(a->data, b->data, a->len);
}

static bool bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (!alen || !memcmp(a, b, alen));
}

static bool tek_eq(const gk_tek_policy *a, const gk_tek_policy *b)
{
	return !strncmp(a->name, b->name, sizeof(a->name)) && a->proto == b->proto &&
	       a->encr == b->encr && a->encr_key_bits == b->encr_key_bits && a->integ == b->integ &&
	       a->sn == b->sn && gk_ts_eq(&a->src, &b->src) && gk_ts_eq(&a->dst, &b->dst) &&
	       a->lifetime == b->lifetime;
}

static bool kek_eq(const gk_kek_policy *a, const gk_kek_policy *b)
{
	return a->present == b->present && a->encr == b->encr &&
	       a->encr_key_bits == b->encr_key_bits && a->integ == b->integ && a->kwa == b->kwa &&
	       a->gcauth == b->gcauth && a->sig_scheme == b->sig_scheme &&
	       gk_ts_eq(&a->src, &b->src) && gk_ts_eq(&a->dst, &b->dst) && a->lifetime == b->lifetime &&
	       a->ttl == b->ttl && !strncmp(a->iface, b->iface, sizeof(a->iface)) &&
	       a->copies == b->copies && a->interval_ms == b->interval_ms &&
	       a->frag_mtu == b->frag_mtu && a->key_mgmt == b->key_mgmt && a->lkh_degree == b->lkh_degree;
}

static bool member_eq(const gk_member_policy *a, const gk_member_policy *b)
{
	return held_eq(a->id, b->id) && a->auth == b->auth &&
	       bytes_eq(a->psk, a->psk_len, b->psk, b->psk_len) &&
	       bytes_eq(a->pubkey, a->pubkey_len, b->pubkey, b->pubkey_len) &&
	       bytes_eq(a->ppk, a->ppk_len, b->ppk, b->ppk_len) &&
	       bytes_eq(a->ppk_id, a->ppk_id_len, b->ppk_id, b->ppk_id_len) &&
	       a->role == b->role && a->max_sender_ids == b->max_sender_ids;
}

/* Everything that shapes the group's SAs and how members use them: a difference here needs
 * fresh keys, the Rekey SA's included (RFC 9838 3.2.1: no policy change without a new KEK).
 * Capacity, idle timeout, rekey margin, packet rate and the member list do not. */
static bool sa_policy_eq(const gk_group_policy *a, const gk_group_policy *b)
{
	if (strcmp(a->name, b->name) || !ident_eq(&a->id, &b->id) ||
	    a->rekey_transport != b->rekey_transport || a->transport_mode != b->transport_mode ||
	    a->atd != b->atd || a->dtd != b->dtd || a->sender_id_bits != b->sender_id_bits ||
	    !kek_eq(&a->kek, &b->kek) || a->nteks != b->nteks)
		return false;
	for (size_t i = 0; i < a->nteks; i++)
		if (!tek_eq(&a->teks[i], &b->teks[i]))
			return false;
	return true;
}

static bool policy_eq(const gk_group_policy *a, const gk_group_policy *b)
{
	if (!sa_policy_eq(a, b) || a->capacity != b->capacity ||
	    a->rekey_margin_pct != b->rekey_margin_pct || a->ike_idle_timeout != b->ike_idle_timeout ||
	    a->max_packet_rate != b->max_packet_rate || a->ppk != b->ppk || a->nmembers != b->nmembers ||
	    a->naddke != b->naddke || memcmp(a->addke, b->addke, a->naddke * sizeof(a->addke[0])))
		return false;
	for (size_t i = 0; i < a->nmembers; i++)
		if (!member_eq(&a->members[i], &b->members[i]))
			return false;
	return true;
}

/* Rejects what a store could not represent faithfully; value ranges are the store's job. */
static gk_status policy_check(const gk_group_policy *g)
{
	size_t nlen = strnlen(g->name, sizeof(g->name));
	if (nlen == 0 || nlen == sizeof(g->name) || (g->nteks && !g->teks) ||
	    (g->nmembers && !g->members))
		return GK_E_INVAL;
	for (size_t i = 0; i < g->nmembers; i++) {
		const gk_member_policy *m = &g->members[i];
		if ((m->psk_len && !m->psk) || (m->pubkey_len && !m->pubkey) || (m->ppk_len && !m->ppk) ||
		    (m->ppk_id_len && !m->ppk_id))
			return GK_E_INVAL;
	}
	return GK_OK;
}

/* ---- what storing a policy does ---- */

/* Audit actions that tell whether a member was evicted from a group (detail "MEMBER in GROUP"):
 * the newer of the two wins. */
#define AUDIT_EVICT "member evict"
#define AUDIT_READMIT "member readmit"

void gk_group_plan_free(gk_group_plan *p)
{
	if (!p)
		return;
	free(p->added);
	free(p->removed);
	p->added = p->removed = NULL;
	p->nadded = p->nremoved = 0;
}

bool gk_keys_tree_changed(const gk_group_policy *was, const gk_group_policy *now)
{
	if (now->rekey_transport != GK_REKEY_MULTICAST || !was->kek.present || !now->kek.present)
		return false;
	if (was->kek.key_mgmt != now->kek.key_mgmt)
		return true;
	return now->kek.key_mgmt == GK_KEYMGMT_LKH &&
	       (was->kek.lkh_degree != now->kek.lkh_degree || was->kek.kwa != now->kek.kwa);
}

bool gk_keys_change_excludes_all(const gk_group_policy *was, const gk_group_policy *now)
{
	if (was->rekey_transport != now->rekey_transport || gk_keys_tree_changed(was, now))
		return true;
	return now->rekey_transport == GK_REKEY_MULTICAST && was->kek.present && now->kek.present &&
	       was->kek.gcauth != now->kek.gcauth;
}

gk_put_effect gk_keys_reload_effect(const gk_group_policy *was, const gk_group_policy *now, gk_put_keys keys,
				    bool removed_registered)
{
	if (!was || !now || keys == GK_PUT_UNCHANGED || keys == GK_PUT_ADDED)
		return GK_EFFECT_NONE;
	if (removed_registered && was->rekey_transport == GK_REKEY_MULTICAST)
		return keys == GK_PUT_KEEP_KEYS && now->kek.key_mgmt == GK_KEYMGMT_LKH &&
		       !gk_keys_change_excludes_all(was, now) ? GK_EFFECT_LKH_EVICT : GK_EFFECT_EXCLUDE_ALL;
	if (keys == GK_PUT_NEW_KEYS)
		return gk_keys_change_excludes_all(was, now) ? GK_EFFECT_EXCLUDE_ALL : GK_EFFECT_REKEY;
	return removed_registered ? GK_EFFECT_REKEY : GK_EFFECT_NONE;
}

static bool listed(const gk_group_policy *g, const gk_ident_held *id)
{
	for (size_t i = 0; i < g->nmembers; i++)
		if (held_eq(g->members[i].id, id))
			return true;
	return false;
}

static gk_plan_member *plan_member_add(gk_plan_member **arr, size_t *n, const gk_ident_held *held)
{
	gk_ident id;
	gk_plan_member *a = realloc(*arr, (*n + 1) * sizeof(**arr));
	if (!a)
		return NULL;
	*arr = a;
	memset(&a[*n], 0, sizeof(a[*n]));
	gk_ident_text(gk_ident_held_get(held, &id), a[*n].member);
	return &a[(*n)++];
}

static void evict_detail(const char *group, const char *member, char *buf, size_t len)
{
	snprintf(buf, len, "%s in %s", member, group);
}

/* Was member evicted from group and not let back since? The audit log says. */
static gk_status was_evicted(gk_store *s, const char *group, const char *member, bool *yes)
{
	char d[2 * GK_IDENT_TEXT_MAX + 8];
	int64_t evicted = 0, readmitted = 0;
	evict_detail(group, member, d, sizeof(d));
	gk_status st = gk_store_audit_find(s, AUDIT_EVICT, d, &evicted);
	if (!st)
		st = gk_store_audit_find(s, AUDIT_READMIT, d, &readmitted);
	*yes = !st && evicted > readmitted;
	return st;
}

/* Members old lists and g does not (removed: do they hold keys?) and the other way round
 * (added: were they evicted? asked of a group that exists, so a new group of many members
 * costs no search of the audit log). */
static gk_status plan_members(gk_store *s, const gk_group_policy *old, const gk_group_policy *g, bool had,
			      gk_group_plan *p, bool *removed_registered)
{
	gk_status st = GK_OK;
	*removed_registered = false;
	for (size_t i = 0; !st && i < old->nmembers; i++) {
		if (listed(g, old->members[i].id))
			continue;
		gk_plan_member *m = plan_member_add(&p->removed, &p->nremoved, old->members[i].id);
		st = m ? gk_store_registration_exists(s, g->name, m->member, &m->registered) : GK_E_NOMEM;
		*removed_registered |= !st && m->registered;
	}
	for (size_t i = 0; !st && i < g->nmembers; i++) {
		if (listed(old, g->members[i].id))
			continue;
		gk_plan_member *m = plan_member_add(&p->added, &p->nadded, g->members[i].id);
		st = !m ? GK_E_NOMEM : had ? was_evicted(s, g->name, m->member, &m->evicted) : GK_OK;
	}
	return st;
}

/* The decision, inside a transaction: *old is the stored policy (empty for a new group), *gid and
 * *gen its id and generation. */
static gk_status plan_tx(gk_store *s, const gk_group_policy *g, gk_group_policy *old, gk_store_gid *gid,
			 int64_t *gen, gk_group_plan *p)
{
	bool had = false, cut = false;
	memset(p, 0, sizeof(*p));
	snprintf(p->group, sizeof(p->group), "%s", g->name);
	gk_status st = gk_store_group_find(s, g->name, gid, gen);
	if (st == GK_E_NOT_FOUND)
		st = GK_OK;
	else if (!st && !(st = gk_store_group_read(s, *gid, old)))
		had = true;
	if (st)
		return st;
	if (!had)
		p->keys = GK_PUT_ADDED;
	else if (policy_eq(old, g))
		return GK_OK; /* GK_PUT_UNCHANGED */
	else
		p->keys = sa_policy_eq(old, g) ? GK_PUT_KEEP_KEYS : GK_PUT_NEW_KEYS;
	if ((st = plan_members(s, old, g, had, p, &cut)))
		return st;
	p->effect = gk_keys_reload_effect(had ? old : NULL, g, p->keys, cut);
	return GK_OK;
}

gk_status gk_keys_group_plan(gk_store *s, const gk_group_policy *g, gk_group_plan *plan)
{
	gk_group_policy old;
	gk_store_gid gid = 0;
	int64_t gen = 0;
	if (!s || !g || !plan)
		return GK_E_INVAL;
	memset(plan, 0, sizeof(*plan));
	gk_status st = policy_check(g);
	if (st)
		return st;
	memset(&old, 0, sizeof(old));
	if (!(st = gk_store_begin(s, GK_TX_READ)))
		st = gk_store_end(s, plan_tx(s, g, &old, &gid, &gen, plan));
	gk_group_policy_free(&old);
	return st;
}

/* Inside the write transaction of gk_keys_group_apply: the plan, then what it says. */
static gk_status group_put_tx(gk_store *s, const gk_group_policy *g, const char *who,
			      const char *source, int64_t now, gk_group_plan *p)
{
	gk_group_policy old;
	gk_store_gid gid = 0;
	int64_t gen = 0;
	char detail[GK_IDENT_TEXT_MAX + 1200];
	memset(&old, 0, sizeof(old));
	gk_status st = plan_tx(s, g, &old, &gid, &gen, p);
	if (st || p->keys == GK_PUT_UNCHANGED)
		goto out; /* nothing to do: no write, no new generation, no audit */
	bool had = p->keys != GK_PUT_ADDED;
	if ((st = gk_store_group_write(s, g, now, had, &gid)))
		goto out;
	/* The current keys stay valid for the new generation (a member list change must not
	 * split the group between members holding old and new keys). */
	if (p->keys == GK_PUT_KEEP_KEYS && (st = gk_store_keys_carry(s, gid, gen + 1)))
		goto out;
	snprintf(detail, sizeof(detail), "%s%s%.1000s (generation %lld)", g->name,
		 source && *source ? " from " : "", source ? source : "",
		 (long long)(had ? gen + 1 : 1));
	st = gk_store_audit(s, who, "policy load", detail, now);
	for (size_t i = 0; !st && i < p->nadded; i++) {
		if (!p->added[i].evicted)
			continue;
		evict_detail(g->name, p->added[i].member, detail, sizeof(detail));
		st = gk_store_audit(s, who, AUDIT_READMIT, detail, now);
	}
out:
	gk_group_policy_free(&old);
	return st;
}

gk_status gk_keys_group_apply(gk_store *s, const gk_group_policy *g, const char *who,
			      const char *source, int64_t now, gk_group_plan *plan)
{
	if (!s || !g || !plan)
		return GK_E_INVAL;
	memset(plan, 0, sizeof(*plan));
	gk_status st = policy_check(g);
	if (st)
		return st;
	if ((st = gk_store_begin(s, GK_TX_WRITE)))
		return st;
	return gk_store_end(s, group_put_tx(s, g, who, source, now, plan));
}

gk_status gk_keys_group_put(gk_store *s, const gk_group_policy *g, const char *who,
			    const char *source, int64_t now, bool *changed)
{
	gk_group_plan p;
	gk_status st = gk_keys_group_apply(s, g, who, source, now, &p);
	if (changed)
		*changed = !st && p.keys != GK_PUT_UNCHANGED;
	gk_group_plan_free(&p);
	return st;
}

gk_status gk_keys_group_evict(gk_store *s, const gk_group_policy *g, const char *member, const char *who,
			      int64_t now, bool *changed)
{
	gk_group_plan p;
	char detail[2 * GK_IDENT_TEXT_MAX + 8];
	if (!s || !g || !member)
		return GK_E_INVAL;
	memset(&p, 0, sizeof(p));
	gk_status st = policy_check(g);
	if (st)
		return st;
	if ((st = gk_store_begin(s, GK_TX_WRITE)))
		return st;
	st = group_put_tx(s, g, who, "evict", now, &p);
	if (!st && p.keys != GK_PUT_UNCHANGED) {
		evict_detail(g->name, member, detail, sizeof(detail));
		st = gk_store_audit(s, who, AUDIT_EVICT, detail, now);
	}
	st = gk_store_end(s, st);
	if (changed)
		*changed = !st && p.keys != GK_PUT_UNCHANGED;
	gk_group_plan_free(&p);
	return st;
}

/* ---- rekey ---- */

/* (tx) Only the server that leads the group's rekeys takes its Rekey SA Message IDs: the lease
 * is checked in the same transaction that takes the ID (storage.h, gk_store_lease_check), so a
 * leader whose lease another server took over fails here instead of reusing an ID the new
 * leader sends (RFC 9838 4.4.1: members drop a GSA_REKEY whose Message ID they saw). */
static gk_status msgid_fence(gk_store *s, const char *group)
{
	bool held = false;
	gk_status st = gk_store_lease_check(s, group, &held);
	return st ? st : held ? GK_OK : GK_E_STATE;
}

static gk_status rekey_tx(gk_store *s, const gk_group_policy *g, const gk_rand *rnd, int64_t now,
			  int64_t horizon, bool force, const uint8_t (*want)[16], gk_sa_key *prev, gk_sa_key *keys,
			  size_t n, bool *changed, uint32_t *msgid)
{
	gk_store_gid gid;
	int64_t gen, v;
	bool missing;
	bool kek_new = false;
	gk_status st = gk_store_group_find(s, g->name, &gid, &gen);
	if (!st)
		st = keys_collect(s, g, rnd, now, prev, &missing);
	for (size_t j = 0; j < n && !st; j++) {
		int idx = j < g->nteks ? (int)j : -1;
		sa_shape sh;
		keys[j] = prev[j];
		if (!force && prev[j].expires > horizon)
			continue;
		if ((st = sa_shape_of(g, idx, &sh)) != GK_OK)
			break;
		st = key_create(s, gid, gen, idx, &sh, rnd, now, want ? want[j] : NULL, &keys[j]);
		*changed = true;
		kek_new |= idx < 0;
	}
	if (st || !*changed)
		return st;
	/* the message announcing the keys goes out under the current Rekey SA, with its next ID */
	if ((st = msgid_fence(s, g->name)) || (st = gk_store_counter_get(s, gid, GK_COUNTER_REKEY_MSGID, 0, &v)))
		return st;
	if (v > (int64_t)UINT32_MAX)
		return GK_E_TOO_BIG;
	*msgid = (uint32_t)v;
	/* a new Rekey SA starts its Message IDs at 0 (RFC 9838 2.4.1.3) */
	return gk_store_counter_set(s, gid, GK_COUNTER_REKEY_MSGID, kek_new ? 0 : v + 1);
}

gk_status gk_keys_group_rekey(gk_store *s, const gk_group_policy *g, const struct gk_rand *rnd,
			      int64_t now, int64_t horizon, bool force, const uint8_t (*want)[16], gk_sa_key *prev,
			      gk_sa_key *keys, size_t *nkeys, bool *changed, uint32_t *msgid)
{
	size_t n;
	if (!s || !g || !rnd || !prev || !keys || !nkeys || !changed || !msgid)
		return GK_E_INVAL;
	n = g->nteks + (g->kek.present ? 1 : 0);
	*changed = false;
	*nkeys = 0;
	gk_status st = gk_store_begin(s, GK_TX_DURABLE);
	if (!st)
		st = gk_store_end(s, rekey_tx(s, g, rnd, now, horizon, force, want, prev, keys, n, changed, msgid));
	if (st) {
		OPENSSL_cleanse(prev, n * sizeof(*prev));
		OPENSSL_cleanse(keys, n * sizeof(*keys));
	} else {
		*nkeys = n;
	}
	return st;
}

/* ---- counters that never repeat ---- */

/* Takes n values from a group's counter (next value dflt when unset) if the last one taken
 * stays <= max; in a durable transaction. */
static gk_status counter_take(gk_store *s, const char *group, gk_store_counter c, int64_t dflt,
			      uint64_t n, uint64_t max, int64_t *first)
{
	gk_store_gid gid;
	int64_t next;
	gk_status st = gk_store_begin(s, GK_TX_DURABLE);
	if (st)
		return st;
	if ((st = gk_store_group_find(s, group, &gid, NULL)) ||
	    (c == GK_COUNTER_REKEY_MSGID && (st = msgid_fence(s, group))) ||
	    (st = gk_store_counter_get(s, gid, c, dflt, &next)))
		goto out;
	if (next < 0 || (uint64_t)next + n - 1 > max) {
		st = GK_E_TOO_BIG;
		goto out;
	}
	if ((st = gk_store_counter_set(s, gid, c, next + (int64_t)n)))
		goto out;
	*first = next;
out:
	return gk_store_end(s, st);
}

/* Sets a group's counter to v, durably. */
static gk_status counter_restart(gk_store *s, const char *group, gk_store_counter c, int64_t v)
{
	gk_store_gid gid;
	if (!s || !group)
		return GK_E_INVAL;
	gk_status st = gk_store_begin(s, GK_TX_DURABLE);
	if (st)
		return st;
	st = gk_store_group_find(s, group, &gid, NULL);
	if (!st)
		st = gk_store_counter_set(s, gid, c, v);
	return gk_store_end(s, st);
}

gk_status gk_keys_sender_ids_alloc(gk_store *s, const char *group, uint32_t n, uint16_t bits,
				   uint32_t *first)
{
	int64_t v;
	if (!s || !group || !first || n == 0 || bits > 32)
		return GK_E_INVAL;
	uint64_t max = (UINT64_C(1) << (bits ? bits : 16)) - 1;
	/* RFC 9838 2.5.1: Sender-IDs are allocated sequentially, zero first */
	gk_status st = counter_take(s, group, GK_COUNTER_SENDER_ID, 0, n, max, &v);
	if (!st)
		*first = (uint32_t)v;
	return st;
}

gk_status gk_keys_sender_ids_reset(gk_store *s, const char *group)
{
	return counter_restart(s, group, GK_COUNTER_SENDER_ID, 0);
}

gk_status gk_keys_rekey_msgid_next(gk_store *s, const char *group, uint32_t *msgid)
{
	int64_t v;
	if (!s || !group || !msgid)
		return GK_E_INVAL;
	gk_status st = counter_take(s, group, GK_COUNTER_REKEY_MSGID, 0, 1, UINT32_MAX, &v);
	if (!st)
		*msgid = (uint32_t)v;
	return st;
}

gk_status gk_keys_rekey_msgid_peek(gk_store *s, const char *group, uint32_t *msgid)
{
	gk_store_gid gid;
	int64_t v;
	if (!s || !group || !msgid)
		return GK_E_INVAL;
	gk_status st = gk_store_begin(s, GK_TX_READ);
	if (st)
		return st;
	st = gk_store_group_find(s, group, &gid, NULL);
	if (!st)
		st = gk_store_counter_get(s, gid, GK_COUNTER_REKEY_MSGID, 0, &v);
	if (!st && v > (int64_t)UINT32_MAX)
		st = GK_E_TOO_BIG;
	if (!st)
		*msgid = (uint32_t)v;
	return gk_store_end(s, st);
}

gk_status gk_keys_rekey_msgid_reset(gk_store *s, const char *group)
{
	return counter_restart(s, group, GK_COUNTER_REKEY_MSGID, 0);
}

/* ---- after a restore from a backup ---- */

#define AUDIT_RESTORE "restore"
#define AUDIT_RESTORE_DONE "restore excluded"

static gk_status restore_tx(gk_store *s, char **names, size_t n, const char *who, int64_t now)
{
	gk_status st = GK_OK;
	for (size_t i = 0; i < n && !st; i++) {
		gk_store_gid gid;
		int64_t v = 0;
		if ((st = gk_store_group_find(s, names[i], &gid, NULL)) ||
		    (st = gk_store_counter_get(s, gid, GK_COUNTER_REKEY_MSGID, 0, &v)))
			break;
		/* the last Message ID stays usable once: the exclusion replaces the Rekey SA */
		v = v + (int64_t)GK_RESTORE_MSGID_SKIP > (int64_t)UINT32_MAX ? (int64_t)UINT32_MAX
									 : v + (int64_t)GK_RESTORE_MSGID_SKIP;
		if (!(st = gk_store_counter_set(s, gid, GK_COUNTER_REKEY_MSGID, v)))
			st = gk_store_audit(s, who, AUDIT_RESTORE, names[i], now);
	}
	return st;
}

gk_status gk_keys_restore_epoch(gk_store *s, const char *who, const char *source, int64_t now,
				size_t *ngroups)
{
	char **names = NULL;
	size_t n = 0;
	char detail[1100];
	if (!s || !ngroups)
		return GK_E_INVAL;
	gk_status st = gk_store_group_names(s, &names, &n);
	if (st)
		return st;
	if (!(st = gk_store_begin(s, GK_TX_DURABLE))) {
		st = restore_tx(s, names, n, who, now);
		snprintf(detail, sizeof(detail), "from %.1000s: %zu group%s", source ? source : "a backup", n,
			 n == 1 ? "" : "s");
		if (!st)
			st = gk_store_audit(s, who, "database restore", detail, now);
		st = gk_store_end(s, st);
	}
	gk_store_names_free(names, n);
	if (!st)
		*ngroups = n;
	return st;
}

gk_status gk_keys_restore_pending(gk_store *s, const char *group, bool *pending)
{
	int64_t restored = 0, done = 0;
	if (!s || !group || !pending)
		return GK_E_INVAL;
	gk_status st = gk_store_audit_find(s, AUDIT_RESTORE, group, &restored);
	if (!st)
		st = gk_store_audit_find(s, AUDIT_RESTORE_DONE, group, &done);
	*pending = !st && restored > done;
	return st;
}

gk_status gk_keys_restore_done(gk_store *s, const char *group, int64_t now)
{
	if (!s || !group)
		return GK_E_INVAL;
	return gk_store_audit(s, "gcksd", AUDIT_RESTORE_DONE, group, now);
}

/* ---- single-sender counter-mode TEKs a sender may hold (doc/sender-iv.md) ---- */

gk_status gk_keys_sender_tek_add(gk_store *s, const char *group, const char *member, const uint8_t spi[4])
{
	if (!s || !group || !spi)
		return GK_E_INVAL;
	gk_status st = gk_store_begin(s, GK_TX_DURABLE);
	if (st)
		return st;
	st = member ? gk_store_sender_tek_add(s, group, member, spi)
		    : gk_store_sender_tek_add_role(s, group, GK_ROLE_SENDER, spi);
	if (!st)
		st = gk_store_sender_teks_prune(s, group);
	return gk_store_end(s, st);
}

static gk_status srekey_take(gk_store *s, const char *group, const char *member, int64_t now, int64_t interval,
			     bool *allowed)
{
	int64_t at = 0;
	bool found = false;
	gk_status st = gk_store_sender_rekey_get(s, group, member, &at, &found);
	/* a clock set back counts as no time passed */
	*allowed = !st && (!found || now - at >= interval);
	if (st || !*allowed)
		return st;
	return gk_store_sender_rekey_set(s, group, member, now);
}

gk_status gk_keys_sender_rekey_take(gk_store *s, const char *group, const char *member, int64_t now,
				    int64_t interval, bool *allowed)
{
	if (!s || !group || !member || !allowed)
		return GK_E_INVAL;
	*allowed = false;
	gk_status st = gk_store_begin(s, GK_TX_DURABLE);
	if (st)
		return st;
	st = gk_store_end(s, srekey_take(s, group, member, now, interval, allowed));
	if (st)
		*allowed = false;
	return st;
}

/* ---- the key tree of an lkh group ---- */

static gk_status lkh_row_load(void *ctx, const gk_lkh_row *r)
{
	return gk_lkh_set(ctx, r->pos, r->key_id, r->key, r->key_len, r->member, r->dirty);
}

/* The tree's shape for the policy: degree and the Rekey SA's key wrap key size. */
static gk_status lkh_shape(const gk_group_policy *g, unsigned *degree, size_t *key_len)
{
	if (!g->kek.present || g->kek.key_mgmt != GK_KEYMGMT_LKH || g->rekey_transport != GK_REKEY_MULTICAST)
		return GK_E_INVAL;
	*degree = g->kek.lkh_degree ? g->kek.lkh_degree : 2;
	*key_len = gk_kwa_key_len(g->kek.kwa);
	return *key_len ? GK_OK : GK_E_UNSUPPORTED;
}

/* Writes what changed in t (every node when positions moved) and its shape. */
static gk_status lkh_write(gk_store *s, gk_store_gid gid, const gk_lkh *t)
{
	gk_status st = GK_OK;
	gk_lkh_row row;
	if (t->rewrite_all) {
		st = gk_store_lkh_clear(s, gid);
		for (size_t p = 1; p < t->end && !st; p++)
			if (t->nodes[p].key_id) {
				row = (gk_lkh_row){ .pos = (uint32_t)p, .key_id = t->nodes[p].key_id, .key_len = t->key_len,
						    .member = t->nodes[p].member, .dirty = t->nodes[p].dirty };
				memcpy(row.key, t->nodes[p].key, t->key_len);
				st = gk_store_lkh_put(s, gid, &row);
			}
	} else {
		for (size_t i = 0; i < t->ntouched && !st; i++) {
			uint32_t p = t->touched[i];
			if (!t->nodes[p].key_id) {
				st = gk_store_lkh_del(s, gid, p);
				continue;
			}
			row = (gk_lkh_row){ .pos = p, .key_id = t->nodes[p].key_id, .key_len = t->key_len,
					    .member = t->nodes[p].member, .dirty = t->nodes[p].dirty };
			memcpy(row.key, t->nodes[p].key, t->key_len);
			st = gk_store_lkh_put(s, gid, &row);
		}
	}
	OPENSSL_cleanse(&row, sizeof(row));
	if (!st) {
		gk_lkh_meta m = { .degree = t->degree, .depth = t->depth, .key_len = t->key_len,
				  .next_key_id = t->next_key_id };
		st = gk_store_lkh_meta_set(s, gid, &m);
	}
	return st;
}

static gk_status lkh_load_tx(gk_store *s, const gk_group_policy *g, gk_lkh *t, bool *fresh)
{
	gk_store_gid gid;
	gk_lkh_meta m;
	bool found = false;
	unsigned degree;
	size_t key_len;
	gk_status st = lkh_shape(g, &degree, &key_len);
	if (!st)
		st = gk_store_group_find(s, g->name, &gid, NULL);
	if (!st)
		st = gk_store_lkh_meta_get(s, gid, &m, &found);
	if (st)
		return st;
	*fresh = !found || m.degree != degree || m.key_len != key_len;
	if ((st = gk_lkh_init(t, degree, key_len, g->nmembers)))
		return st;
	if (*fresh) {
		/* Key IDs go on from where the old tree left them: its keys may still be held */
		if (found)
			t->next_key_id = m.next_key_id;
		st = gk_store_lkh_clear(s, gid);
		t->rewrite_all = true;
		return st ? st : lkh_write(s, gid, t);
	}
	t->depth = m.depth;
	st = gk_store_lkh_rows(s, gid, lkh_row_load, t);
	if (!st && m.next_key_id > t->next_key_id)
		t->next_key_id = m.next_key_id;
	return st ? st : gk_lkh_loaded(t);
}

gk_status gk_keys_lkh_load(gk_store *s, const gk_group_policy *g, gk_lkh *t)
{
	bool fresh = false;
	if (!s || !g || !t)
		return GK_E_INVAL;
	memset(t, 0, sizeof(*t));
	gk_status st = gk_store_begin(s, GK_TX_DURABLE);
	if (!st)
		st = gk_store_end(s, lkh_load_tx(s, g, t, &fresh));
	if (st)
		gk_lkh_free(t);
	else
		gk_lkh_touched_clear(t);
	return st;
}

/* Several gcksd may share one store (the PostgreSQL backend), and another may have changed the
 * tree since t was loaded. Inside the change's write transaction, under the store's writer lock,
 * t is loaded again when the stored shape or Key ID counter differ from it (the counter only
 * grows and every change takes Key IDs), so Key IDs and tree rows are taken from what is
 * committed and never handed out twice (RFC 9838 3.3). */
static gk_status lkh_refresh_tx(gk_store *s, const gk_group_policy *g, gk_store_gid gid, gk_lkh *t)
{
	gk_lkh_meta m;
	bool found = false, fresh = false;
	gk_status st = gk_store_lkh_meta_get(s, gid, &m, &found);
	if (st || (found && m.degree == t->degree && m.key_len == t->key_len && m.depth == t->depth &&
		   m.next_key_id == t->next_key_id))
		return st;
	gk_lkh_free(t);
	if (!(st = lkh_load_tx(s, g, t, &fresh)))
		gk_lkh_touched_clear(t); /* what was loaded (or written, when fresh) is stored */
	return st;
}

/* A change that did not commit leaves the tree as the store has it. */
static gk_status lkh_undo(gk_store *s, const gk_group_policy *g, gk_lkh *t, gk_status st)
{
	gk_lkh_free(t);
	if (gk_keys_lkh_load(s, g, t) != GK_OK)
		gk_lkh_free(t); /* an empty tree: members without a leaf cannot follow, so register again */
	return st;
}

gk_status gk_keys_lkh_current(gk_store *s, const gk_group_policy *g, const gk_lkh *t, bool *current)
{
	gk_store_gid gid;
	gk_lkh_meta m;
	bool found = false;
	if (!s || !g || !t || !current)
		return GK_E_INVAL;
	*current = false;
	gk_status st = gk_store_begin(s, GK_TX_READ);
	if (st)
		return st;
	st = gk_store_group_find(s, g->name, &gid, NULL);
	if (!st)
		st = gk_store_lkh_meta_get(s, gid, &m, &found);
	st = gk_store_end(s, st);
	*current = !st && found && m.degree == t->degree && m.key_len == t->key_len && m.depth == t->depth &&
		   m.next_key_id == t->next_key_id;
	return st;
}

gk_status gk_keys_lkh_store_all(gk_store *s, const gk_group_policy *g, gk_lkh *t)
{
	gk_store_gid gid;
	if (!s || !g || !t)
		return GK_E_INVAL;
	gk_status st = gk_store_begin(s, GK_TX_DURABLE);
	if (st)
		return st;
	st = gk_store_group_find(s, g->name, &gid, NULL);
	t->rewrite_all = true;
	if (!st)
		st = lkh_write(s, gid, t);
	if (!(st = gk_store_end(s, st)))
		gk_lkh_touched_clear(t);
	return st;
}

gk_status gk_keys_lkh_join(gk_store *s, const gk_group_policy *g, gk_lkh *t, const gk_rand *rnd,
			   const char *member, uint32_t *pos)
{
	gk_store_gid gid;
	if (!s || !g || !t || !rnd || !member || !pos)
		return GK_E_INVAL;
	uint32_t p = gk_lkh_find(t, member);
	if (p) { /* the member keeps its leaf: nothing to store */
		*pos = p;
		return GK_OK;
	}
	gk_status st = gk_store_begin(s, GK_TX_DURABLE);
	if (st)
		return st;
	st = gk_store_group_find(s, g->name, &gid, NULL);
	if (!st)
		st = lkh_refresh_tx(s, g, gid, t);
	if (!st && (p = gk_lkh_find(t, member))) { /* another server gave it a leaf meanwhile */
		*pos = p;
		return gk_store_end(s, GK_OK);
	}
	if (!st)
		st = gk_lkh_join(t, rnd, member, pos);
	if (!st)
		st = lkh_write(s, gid, t);
	if ((st = gk_store_end(s, st)))
		return lkh_undo(s, g, t, st);
	gk_lkh_touched_clear(t);
	return GK_OK;
}

gk_status gk_keys_lkh_remove(gk_store *s, const gk_group_policy *g, gk_lkh *t, const gk_rand *rnd,
			     const char *const *members, size_t n)
{
	gk_store_gid gid;
	gk_lkh_evicted e;
	if (!s || !g || !t || !rnd || !members)
		return GK_E_INVAL;
	gk_status st = gk_store_begin(s, GK_TX_DURABLE);
	if (st)
		return st;
	st = gk_store_group_find(s, g->name, &gid, NULL);
	if (!st)
		st = lkh_refresh_tx(s, g, gid, t);
	if (!st && !(st = gk_lkh_evict(t, rnd, members, n, &e))) {
		gk_lkh_evicted_free(&e);
		st = lkh_write(s, gid, t);
	}
	if ((st = gk_store_end(s, st)))
		return lkh_undo(s, g, t, st);
	gk_lkh_touched_clear(t);
	return GK_OK;
}

static gk_status lkh_evict_tx(gk_store *s, const gk_group_policy *g, gk_lkh *t, const gk_rand *rnd, int64_t now,
			      const char *const *members, size_t n, const uint8_t *want, gk_lkh_evicted *out,
			      gk_sa_key *prev, gk_sa_key *keys, size_t nk, uint32_t *msgid)
{
	gk_store_gid gid;
	int64_t gen, v;
	bool missing;
	sa_shape sh;
	gk_status st = gk_store_group_find(s, g->name, &gid, &gen);
	if (!st)
		st = keys_collect(s, g, rnd, now, prev, &missing);
	if (!st)
		st = sa_shape_of(g, -1, &sh);
	if (st)
		return st;
	memcpy(keys, prev, nk * sizeof(*keys));
	/* only the Rekey SA changes here: new TEKs would reach the evicted members, who read this
	 * message (RFC 9838 3.2.1); they follow in a rekey under the new Rekey SA */
	if ((st = key_create(s, gid, gen, -1, &sh, rnd, now, want, &keys[nk - 1])))
		return st;
	if ((st = msgid_fence(s, g->name)) || (st = gk_store_counter_get(s, gid, GK_COUNTER_REKEY_MSGID, 0, &v)))
		return st;
	if (v > (int64_t)UINT32_MAX)
		return GK_E_TOO_BIG;
	*msgid = (uint32_t)v;
	if ((st = gk_store_counter_set(s, gid, GK_COUNTER_REKEY_MSGID, 0)))
		return st;
	if ((st = lkh_refresh_tx(s, g, gid, t)) || (st = gk_lkh_evict(t, rnd, members, n, out)))
		return st;
	return lkh_write(s, gid, t);
}

gk_status gk_keys_lkh_evict(gk_store *s, const gk_group_policy *g, gk_lkh *t, const gk_rand *rnd, int64_t now,
			    const char *const *members, size_t n, const uint8_t *want, gk_lkh_evicted *out,
			    gk_sa_key *prev, gk_sa_key *keys, size_t *nkeys, uint32_t *msgid)
{
	unsigned degree;
	size_t key_len, nk;
	if (!s || !g || !t || !rnd || !out || !prev || !keys || !nkeys || !msgid || lkh_shape(g, &degree, &key_len))
		return GK_E_INVAL;
	nk = g->nteks + 1;
	*nkeys = 0;
	memset(out, 0, sizeof(*out));
	gk_status st = gk_store_begin(s, GK_TX_DURABLE);
	if (!st)
		st = gk_store_end(s, lkh_evict_tx(s, g, t, rnd, now, members, n, want, out, prev, keys, nk, msgid));
	if (st) {
		gk_lkh_evicted_free(out);
		OPENSSL_cleanse(prev, nk * sizeof(*prev));
		OPENSSL_cleanse(keys, nk * sizeof(*keys));
		return lkh_undo(s, g, t, st);
	}
	gk_lkh_touched_clear(t);
	*nkeys = nk;
	return GK_OK;
}
