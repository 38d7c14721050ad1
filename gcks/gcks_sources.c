/* Half-open IKE SAs per source, and in order of age; what each source may still spend. A
 * source is an IPv4 address or an IPv6 /64. gcks_ike_sa_init caps each source's half-open SAs
 * by evicting the source's oldest (so a few hosts cannot fill the table, and a host sharing a
 * member's address cannot lock it out with a few packets: it must outpace the member) and the
 * table's oldest when the table is full (so a flood from many sources delays new registrations
 * by nothing: a new SA lives until half_open_max newer ones arrived, far longer than a member
 * takes to send its GSA_AUTH). Each source also parks at most frag_source_max octets of
 * fragments and starts at most costly_ke_per_source costly key exchanges a second. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "gcks_sources.h"
#include "gcks_keyhash.h"

/* Sources never outnumber half-open SAs; a quarter of the cap in buckets keeps chains short. */
static size_t bucket_count(unsigned half_open_max)
{
	size_t n = 64;
	while (n < half_open_max / 4 && n < (1u << 20))
		n *= 2;
	return n;
}

gk_status gcks_sources_init(gk_gcks *g)
{
	g->nsrc_buckets = bucket_count(g->cfg.half_open_max);
	g->srcs = calloc(g->nsrc_buckets, sizeof(*g->srcs));
	return g->srcs ? GK_OK : GK_E_NOMEM;
}

void gcks_sources_free(gk_gcks *g)
{
	for (size_t b = 0; g->srcs && b < g->nsrc_buckets; b++)
		for (gcks_src *s = g->srcs[b], *next; s; s = next) {
			next = s->next;
			free(s);
		}
	free(g->srcs);
	g->srcs = NULL;
}

static void source_key(const struct sockaddr *peer, uint8_t key[9])
{
	memset(key, 0, 9);
	if (peer->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)(const void *)peer)->sin_addr, 4);
	} else if (peer->sa_family == AF_INET6) {
		key[0] = 6;
		memcpy(key + 1, &((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr, 8);
	}
}

/* Keyed: sources are what an attacker chooses (and forges) most cheaply. */
_Static_assert(sizeof(((gcks_src *)0)->key) <= GCKS_KEYHASH_MAX, "a source key fits one hash block");

static gcks_src **find(const gk_gcks *g, const uint8_t key[9])
{
	gcks_src **pp = &g->srcs[gcks_keyhash(g, key, 9) & (g->nsrc_buckets - 1)];
	while (*pp && memcmp((*pp)->key, key, 9))
		pp = &(*pp)->next;
	return pp;
}

static gcks_src *lookup(const gk_gcks *g, const struct sockaddr *peer)
{
	uint8_t key[9];
	source_key(peer, key);
	return *find(g, key);
}

/* The source's entry, made when it has none; NULL when out of memory. */
static gcks_src *get(gk_gcks *g, const struct sockaddr *peer)
{
	uint8_t key[9];
	source_key(peer, key);
	gcks_src **pp = find(g, key);
	if (*pp)
		return *pp;
	gcks_src *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	memcpy(s->key, key, sizeof(key));
	s->frag.max = g->cfg.frag_source_max;
	s->costly_tokens = g->cfg.costly_ke_per_source * 1000u;
	s->costly_ms = gcks_now(g);
	*pp = s;
	return s;
}

/* Tops the costly bucket up for the time passed: costly_ke_per_source a second. */
static void refill(const gk_gcks *g, gcks_src *s)
{
	uint64_t cap = g->cfg.costly_ke_per_source * 1000ull, now = (uint64_t)gcks_now(g);
	uint64_t t = s->costly_tokens + (now - (uint64_t)s->costly_ms) * g->cfg.costly_ke_per_source;
	s->costly_tokens = (uint32_t)(t < cap ? t : cap);
	s->costly_ms = (int64_t)now;
}

/* Nothing to remember: no half-open SA, full bucket. */
static bool idle(const gk_gcks *g, gcks_src *s)
{
	if (s->half_open)
		return false;
	refill(g, s);
	return s->costly_tokens >= g->cfg.costly_ke_per_source * 1000u;
}

static void drop_if_idle(gk_gcks *g, gcks_src *s)
{
	if (!idle(g, s))
		return;
	gcks_src **pp = find(g, s->key);
	*pp = s->next;
	free(s);
}

unsigned gcks_source_count(const gk_gcks *g, const struct sockaddr *peer)
{
	gcks_src *s = lookup(g, peer);
	return s ? s->half_open : 0;
}

gcks_sa *gcks_source_oldest(const gk_gcks *g, const struct sockaddr *peer)
{
	gcks_src *s = lookup(g, peer);
	return s ? s->oldest : NULL;
}

bool gcks_source_costly_take(gk_gcks *g, const struct sockaddr *peer)
{
	gcks_src *s = get(g, peer);
	if (!s)
		return false;
	refill(g, s);
	if (s->costly_tokens < 1000) {
		drop_if_idle(g, s);
		return false;
	}
	s->costly_tokens -= 1000;
	return true;
}

gk_status gcks_source_add(gk_gcks *g, gcks_sa *sa, const struct sockaddr *peer)
{
	gcks_src *s = get(g, peer);
	if (!s)
		return GK_E_NOMEM;
	sa->src = s;
	s->half_open++;
	sa->src_next = NULL;
	sa->src_prev = s->newest;
	if (s->newest)
		s->newest->src_next = sa;
	else
		s->oldest = sa;
	s->newest = sa;
	sa->ho_next = NULL;
	sa->ho_prev = g->ho_newest;
	if (g->ho_newest)
		g->ho_newest->ho_next = sa;
	else
		g->ho_oldest = sa;
	g->ho_newest = sa;
	sa->ike.frag_acct = &s->frag;
	if (sa->ike.reasm)
		gk_frag_set_account(sa->ike.reasm, &s->frag);
	return GK_OK;
}

void gcks_source_del(gk_gcks *g, gcks_sa *sa)
{
	gcks_src *s = sa->src;
	if (!s)
		return;
	if (sa->ho_prev)
		sa->ho_prev->ho_next = sa->ho_next;
	else
		g->ho_oldest = sa->ho_next;
	if (sa->ho_next)
		sa->ho_next->ho_prev = sa->ho_prev;
	else
		g->ho_newest = sa->ho_prev;
	if (sa->src_prev)
		sa->src_prev->src_next = sa->src_next;
	else
		s->oldest = sa->src_next;
	if (sa->src_next)
		sa->src_next->src_prev = sa->src_prev;
	else
		s->newest = sa->src_prev;
	sa->ho_prev = sa->ho_next = sa->src_prev = sa->src_next = NULL;
	sa->src = NULL;
	/* its fragments count against no source once it leaves (authenticated, or gone) */
	sa->ike.frag_acct = NULL;
	if (sa->ike.reasm)
		gk_frag_set_account(sa->ike.reasm, NULL);
	s->half_open--;
	drop_if_idle(g, s);
}

void gcks_sources_sweep(gk_gcks *g)
{
	for (size_t b = 0; b < g->nsrc_buckets; b++)
		for (gcks_src *s = g->srcs[b], *next; s; s = next) {
			next = s->next;
			drop_if_idle(g, s);
		}
}

size_t gcks_source_entries(const gk_gcks *g)
{
	size_t n = 0;
	for (size_t b = 0; b < g->nsrc_buckets; b++)
		for (const gcks_src *s = g->srcs[b]; s; s = s->next)
			n++;
	return n;
}
