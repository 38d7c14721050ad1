/* Half-open IKE SAs per source, and in order of age. A source is an IPv4 address or an IPv6
 * /64. gcks_ike_sa_init caps each source's half-open SAs (so a few hosts cannot fill the table)
 * and evicts the oldest half-open SA when the table is full (so a flood from many sources delays
 * new registrations by nothing: a new SA lives until half_open_max newer ones arrived, far
 * longer than a member takes to send its GSA_AUTH). */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "gcks_int.h"

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

static gcks_src **find(const gk_gcks *g, const uint8_t key[9])
{
	gcks_src **pp = &g->srcs[gcks_keyhash(g, key, 9) & (g->nsrc_buckets - 1)];
	while (*pp && memcmp((*pp)->key, key, 9))
		pp = &(*pp)->next;
	return pp;
}

unsigned gcks_source_count(const gk_gcks *g, const struct sockaddr *peer)
{
	uint8_t key[9];
	source_key(peer, key);
	gcks_src *s = *find(g, key);
	return s ? s->half_open : 0;
}

gk_status gcks_source_add(gk_gcks *g, gcks_sa *sa, const struct sockaddr *peer)
{
	uint8_t key[9];
	source_key(peer, key);
	gcks_src **pp = find(g, key);
	if (!*pp) {
		gcks_src *s = calloc(1, sizeof(*s));
		if (!s)
			return GK_E_NOMEM;
		memcpy(s->key, key, sizeof(key));
		*pp = s;
	}
	sa->src = *pp;
	sa->src->half_open++;
	sa->ho_next = NULL;
	sa->ho_prev = g->ho_newest;
	if (g->ho_newest)
		g->ho_newest->ho_next = sa;
	else
		g->ho_oldest = sa;
	g->ho_newest = sa;
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
	sa->ho_prev = sa->ho_next = NULL;
	sa->src = NULL;
	if (--s->half_open)
		return;
	gcks_src **pp = find(g, s->key);
	*pp = s->next;
	free(s);
}

size_t gcks_source_entries(const gk_gcks *g)
{
	size_t n = 0;
	for (size_t b = 0; b < g->nsrc_buckets; b++)
		for (const gcks_src *s = g->srcs[b]; s; s = s->next)
			n++;
	return n;
}
