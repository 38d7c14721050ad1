/* The group cache of the GCKS: policies and current SA keys, loaded from the store. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "gcks_int.h"
#include "log.h"
#include "gcks_keyrules.h"

void gcks_groups_free(gk_gcks *g)
{
	for (size_t i = 0; i < g->ngroups; i++) {
		gk_group_policy_free(&g->groups[i].pol);
		OPENSSL_cleanse(g->groups[i].keys, sizeof(g->groups[i].keys));
		free(g->groups[i].member_slots);
	}
	free(g->groups);
	g->groups = NULL;
	g->ngroups = 0;
}

gk_status gcks_group_keys_fresh(gk_gcks *g, gcks_group *grp)
{
	int64_t now = gcks_wall(g);
	bool stale = grp->nkeys == 0;
	for (size_t i = 0; i < grp->nkeys; i++)
		stale |= grp->keys[i].expires <= now;
	if (!stale)
		return GK_OK;
	return gk_keys_group_keys(g->env.store, &grp->pol, g->env.rnd, now, grp->keys, &grp->nkeys);
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

gcks_group *gcks_group_find(gk_gcks *g, const gk_ident *id)
{
	for (size_t i = 0; i < g->ngroups; i++)
		if (gk_ident_eq(&g->groups[i].pol.id, id))
			return &g->groups[i];
	return NULL;
}

/* ---- member index ---- */

/* FNV-1a over type, length and data; FQDNs in lower case, as gk_ident_eq compares them. */
uint64_t gcks_ident_hash(const gk_ident *id)
{
	uint64_t h = 0xcbf29ce484222325ull;
	h = (h ^ id->type) * 0x100000001b3ull;
	h = (h ^ id->len) * 0x100000001b3ull;
	for (size_t i = 0; i < id->len; i++)
		h = (h ^ (uint8_t)(id->type == GK_ID_FQDN ? tolower(id->data[i]) : id->data[i])) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

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
		size_t j = (size_t)gcks_ident_hash(&p->members[i].id) & (size - 1);
		while (slots[j] && !gk_ident_eq(&p->members[slots[j] - 1].id, &p->members[i].id))
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
		if (gk_ident_eq(&m->id, member))
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

void gcks_member_cred_hash(const gk_member_policy *mp, uint8_t out[32])
{
	unsigned int len = 32;
	memset(out, 0, 32);
	/* a certificate is "one our CA issued for this identity": nothing more to tell apart */
	if (mp->auth == GK_MAUTH_PSK && mp->psk)
		EVP_Digest(mp->psk, mp->psk_len, out, &len, EVP_sha256(), NULL);
	else if (mp->auth == GK_MAUTH_PUBKEY && mp->pubkey)
		EVP_Digest(mp->pubkey, mp->pubkey_len, out, &len, EVP_sha256(), NULL);
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

size_t gk_gcks_groups(const gk_gcks *g, gk_gcks_group_info *out, size_t max)
{
	size_t n = 0;
	for (; n < g->ngroups && n < max; n++) {
		out[n] = (gk_gcks_group_info){ &g->groups[n].pol, g->groups[n].registered, g->groups[n].keys,
					       g->groups[n].nkeys, false };
		/* on a store error members_frag stays false: what a rekey would do then */
		gk_store_registrations_frag_ok(g->env.store, g->groups[n].pol.name, &out[n].members_frag);
	}
	return n;
}
