/* Reuse of the responder's IKE_SA_INIT key-exchange private value (RFC 7296 2.12: an endpoint
 * may choose a new value only periodically, at the cost of less-than-perfect forward secrecy).
 * Opt-in (gk_gcks_config.dh_reuse, gcksd --dh-reuse): one value serves at most dh_reuse
 * responses and dh_reuse_s seconds, then it is freed (OpenSSL clears the private key) and the
 * next response gets a new one. Every IKE SA made under one value loses forward secrecy with it
 * if that value leaks before it is wiped. The nonces stay fresh per SA, so SKEYSEED differs per
 * SA (RFC 7296 2.14) even under one value; the peer's value is checked as RFC 6989 asks on
 * every exchange (gk_dh_derive), which reuse makes mandatory. Only IKE_SA_INIT: IKE SA rekeys
 * (CREATE_CHILD_SA) and additional key exchanges (RFC 9370) make their own values. */
#include <stdlib.h>
#include "gcks_dh_cache.h"

/* One reused value per key exchange method in use. Owned by the gcks (gk_gcks.dh_cache). */
#define DH_SLOTS 8
typedef struct dh_slot {
	uint16_t group;
	gk_dh *dh;                        /* NULL: none now */
	unsigned uses;                    /* responses it has served */
	int64_t made_ms;
} dh_slot;

struct gcks_dh_cache {
	dh_slot s[DH_SLOTS];
};

static void slot_wipe(dh_slot *s)
{
	gk_dh_free(s->dh); /* EVP_PKEY_free clears the private value */
	s->dh = NULL;
	s->uses = 0;
}

static bool slot_spent(const gk_gcks *g, const dh_slot *s)
{
	return s->uses >= g->cfg.dh_reuse || gcks_now(g) - s->made_ms >= (int64_t)g->cfg.dh_reuse_s * 1000;
}

static gk_status make(gk_gcks *g, uint16_t group, gk_dh **out)
{
	gk_status st = gk_dh_new(group, out);
	if (!st)
		g->stats.ke_pairs_made++;
	return st;
}

static dh_slot *slot_of(gk_gcks *g, uint16_t group)
{
	if (!g->dh_cache && !(g->dh_cache = calloc(1, sizeof(*g->dh_cache))))
		return NULL;
	dh_slot *free_slot = NULL;
	for (size_t i = 0; i < DH_SLOTS; i++) {
		dh_slot *s = &g->dh_cache->s[i];
		if (s->dh && s->group == group)
			return s;
		if (!s->dh && !free_slot)
			free_slot = s;
	}
	return free_slot;
}

gk_status gcks_dh_for_init(gk_gcks *g, uint16_t group, gk_dh **out)
{
	*out = NULL;
	if (!g->cfg.dh_reuse)
		return make(g, group, out);
	dh_slot *s = slot_of(g, group);
	if (!s)
		return make(g, group, out); /* no memory for the cache: a fresh value still works */
	if (s->dh && slot_spent(g, s))
		slot_wipe(s);
	if (!s->dh) {
		gk_status st = make(g, group, &s->dh);
		if (st)
			return st;
		s->group = group;
		s->made_ms = gcks_now(g);
	}
	gk_status st = gk_dh_share(s->dh, out);
	if (!st)
		s->uses++;
	return st;
}

void gcks_dh_cache_expire(gk_gcks *g)
{
	for (size_t i = 0; g->dh_cache && i < DH_SLOTS; i++)
		if (g->dh_cache->s[i].dh && slot_spent(g, &g->dh_cache->s[i]))
			slot_wipe(&g->dh_cache->s[i]);
}

void gcks_dh_cache_free(gk_gcks *g)
{
	for (size_t i = 0; g->dh_cache && i < DH_SLOTS; i++)
		slot_wipe(&g->dh_cache->s[i]);
	free(g->dh_cache);
	g->dh_cache = NULL;
}

size_t gcks_dh_cache_held(const gk_gcks *g)
{
	size_t n = 0;
	for (size_t i = 0; g->dh_cache && i < DH_SLOTS; i++)
		n += g->dh_cache->s[i].dh != NULL;
	return n;
}
