/* The SA table: the GCKS's IKE SAs by our SPI, and the half-open ones also by the peer's SPI.
 * Only this file touches the buckets; others find, insert, remove and walk through the
 * functions below. Entering and leaving the table also keeps the half-open count per source
 * (gcks_sources.c) and the index by identity (gcks_peers.c). */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "gcks_sa_table.h"
#include "gcks_keyhash.h"
#include "gcks_peers.h"
#include "gcks_sources.h"
#include "gcks_timers.h"

#define GCKS_BUCKETS 4096 /* doubled as the table grows: always a power of 2 */
/* SAs in one chain of by_r at most, and draws of our SPI before gcks_sa_new gives up */
#define GCKS_CHAIN_MAX 8
#define GCKS_SPI_DRAWS 64

gk_status gcks_sa_table_init(gk_gcks *g)
{
	g->nbuckets = GCKS_BUCKETS;
	g->by_r = calloc(g->nbuckets, sizeof(*g->by_r));
	g->by_i = calloc(g->nbuckets, sizeof(*g->by_i));
	return g->by_r && g->by_i ? GK_OK : GK_E_NOMEM;
}

void gcks_sa_table_free(gk_gcks *g)
{
	free(g->by_r);
	free(g->by_i);
	g->by_r = g->by_i = NULL;
}

void gcks_sa_foreach(gk_gcks *g, gcks_sa_fn fn, void *ctx)
{
	for (size_t b = 0; g->by_r && b < g->nbuckets; b++) {
		gcks_sa *sa = g->by_r[b];
		while (sa) {
			gcks_sa *next = sa->next_r; /* fn may remove sa */
			fn(g, sa, ctx);
			sa = next;
		}
	}
}

/* By the peer's SPI (by_i): keyed, since peers choose their SPIs and a multiplicative hash of
 * them is easily made to collide. */
static size_t bucket_i(const gk_gcks *g, uint64_t spi)
{
	_Static_assert(sizeof(spi) <= GCKS_KEYHASH_MAX, "an SPI fits one hash block");
	return (size_t)(gcks_keyhash(g, &spi, sizeof(spi)) & (g->nbuckets - 1));
}

/* By our SPI (by_r): its low bits, no keyed hash. Every SPI in by_r is one gcks_sa_new drew from
 * the generator (RFC 7296 2.6: the responder's SPI of an IKE_SA_INIT, and ours in an IKE SA
 * rekey either way round, 2.18), so no peer chooses what the table holds, and random bits
 * spread evenly on their own. A peer only chooses the SPI it looks up, which walks one chain of
 * our SPIs, however it was picked. What a peer can do is sieve: it sees our SPI in each answer,
 * so it could open many IKE SAs, keep the ones whose SPI falls in one bucket and end the others
 * (a half-open SA ends with a GSA_AUTH that fails), and a keyed hash would not stop that either,
 * as the SPI is the key. So gcks_sa_new never puts a new SA in a chain that already holds
 * GCKS_CHAIN_MAX: it draws another SPI (an SA we start by rekeying enters when the member
 * answers, and only then counts). The table grows when it holds as many SAs as buckets, so at
 * most one bucket in GCKS_CHAIN_MAX is ever full and a draw almost always fits. */
static size_t bucket_r(const gk_gcks *g, uint64_t spi)
{
	return (size_t)(spi & (g->nbuckets - 1));
}

size_t gcks_sa_chain_max(const gk_gcks *g, bool by_peer_spi)
{
	size_t max = 0;
	for (size_t b = 0; b < g->nbuckets; b++) {
		size_t n = 0;
		for (const gcks_sa *sa = by_peer_spi ? g->by_i[b] : g->by_r[b]; sa;
		     sa = by_peer_spi ? sa->next_i : sa->next_r)
			n++;
		max = n > max ? n : max;
	}
	return max;
}

/* Is spi free, and its chain in by_r shorter than GCKS_CHAIN_MAX (see bucket_r)? */
static bool spi_fits(const gk_gcks *g, uint64_t spi)
{
	size_t n = 0;
	for (const gcks_sa *sa = g->by_r[bucket_r(g, spi)]; sa; sa = sa->next_r, n++)
		if (gcks_our_spi(sa) == spi)
			return false;
	return n < GCKS_CHAIN_MAX;
}

gcks_sa *gcks_sa_new(gk_gcks *g, uint64_t spi)
{
	/* one more than max_sas while the new SA is made: a half-open one goes before it enters */
	if (g->nsas >= g->cfg.max_sas && !g->ho_oldest)
		return NULL;
	gcks_sa *sa = calloc(1, sizeof(*sa));
	if (!sa)
		return NULL;
	for (unsigned draws = 0; spi == 0 || !spi_fits(g, spi); draws++)
		if (draws == GCKS_SPI_DRAWS || gk_rand_bytes(g->env.rnd, (uint8_t *)&spi, sizeof(spi))) {
			free(sa); /* no short chain in GCKS_SPI_DRAWS draws: only if the table cannot grow */
			return NULL;
		}
	sa->ike.spi_r = spi;
	sa->ike.initiator = false;
	sa->ike.created_ms = sa->ike.used_ms = gcks_now(g);
	sa->ike.frag_max = g->cfg.frag_sa_max;
	sa->ike.frag_pool = &g->frag_pool;
	sa->ike.frag_timeout_ms = g->cfg.frag_timeout_ms;
	return sa;
}

/* Doubles the SA table once it holds more SAs than buckets, so chains stay short however many
 * IKE SAs are open (a registration burst of 100,000 members made chains of 25 in a fixed
 * table of 4096, walked on every lookup). On allocation failure the table stays as it is. */
static void table_grow(gk_gcks *g)
{
	size_t old = g->nbuckets, n = old * 2;
	gcks_sa **r = calloc(n, sizeof(*r)), **i = calloc(n, sizeof(*i));
	if (!r || !i) {
		free(r);
		free(i);
		return;
	}
	gcks_sa **old_r = g->by_r, **old_i = g->by_i;
	g->by_r = r;
	g->by_i = i;
	g->nbuckets = n;
	for (size_t b = 0; b < old; b++) {
		for (gcks_sa *sa = old_r[b], *next; sa; sa = next) {
			next = sa->next_r;
			size_t k = bucket_r(g, gcks_our_spi(sa));
			sa->next_r = r[k];
			r[k] = sa;
		}
		for (gcks_sa *sa = old_i[b], *next; sa; sa = next) {
			next = sa->next_i;
			size_t k = bucket_i(g, sa->ike.spi_i);
			sa->next_i = i[k];
			i[k] = sa;
		}
	}
	free(old_r);
	free(old_i);
}

gk_status gcks_sa_insert(gk_gcks *g, gcks_sa *sa)
{
	if (gcks_timers_add(g, sa) != GK_OK)
		return GK_E_NOMEM;
	if (gcks_source_add(g, sa, (const struct sockaddr *)&sa->ike.peer) != GK_OK) {
		gcks_timers_del(g, sa);
		return GK_E_NOMEM;
	}
	if (g->nsas >= g->nbuckets)
		table_grow(g);
	size_t br = bucket_r(g, gcks_our_spi(sa)), bi = bucket_i(g, sa->ike.spi_i);
	sa->next_r = g->by_r[br];
	g->by_r[br] = sa;
	sa->half_open = true;
	sa->next_i = g->by_i[bi];
	g->by_i[bi] = sa;
	sa->deadline_ms = gcks_now(g) + g->cfg.half_open_timeout_ms;
	g->nsas++;
	g->nhalf++;
	return GK_OK;
}

gcks_sa *gcks_sa_find(gk_gcks *g, uint64_t spi)
{
	for (gcks_sa *sa = g->by_r[bucket_r(g, spi)]; sa; sa = sa->next_r)
		if (gcks_our_spi(sa) == spi)
			return sa;
	return NULL;
}

gcks_sa *gcks_sa_for(gk_gcks *g, const gk_hdr *h)
{
	bool from_initiator = h->flags & GK_FLAG_I;
	gcks_sa *sa = gcks_sa_find(g, from_initiator ? h->spi_r : h->spi_i);
	if (!sa || sa->ike.initiator == from_initiator ||
	    (from_initiator ? sa->ike.spi_i != h->spi_i : sa->ike.spi_r != h->spi_r))
		return NULL;
	return sa;
}

static bool same_addr(const gk_ike_addr *a, const struct sockaddr *b)
{
	if (a->sa.sa_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (b->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
	}
	return false;
}

gcks_sa *gcks_sa_find_half_open(gk_gcks *g, uint64_t spi_i, const struct sockaddr *peer)
{
	for (gcks_sa *sa = g->by_i[bucket_i(g, spi_i)]; sa; sa = sa->next_i)
		if (sa->ike.spi_i == spi_i && same_addr(&sa->ike.peer, peer))
			return sa;
	return NULL;
}

static void unlink_i(gk_gcks *g, gcks_sa *sa)
{
	if (!sa->half_open)
		return;
	for (gcks_sa **pp = &g->by_i[bucket_i(g, sa->ike.spi_i)]; *pp; pp = &(*pp)->next_i)
		if (*pp == sa) {
			*pp = sa->next_i;
			break;
		}
	sa->half_open = false;
	g->nhalf--;
	gcks_source_del(g, sa);
}

gk_status gcks_sa_insert_established(gk_gcks *g, gcks_sa *sa)
{
	if (gcks_timers_add(g, sa) != GK_OK)
		return GK_E_NOMEM;
	if (g->nsas >= g->nbuckets)
		table_grow(g);
	size_t br = bucket_r(g, gcks_our_spi(sa));
	sa->next_r = g->by_r[br];
	g->by_r[br] = sa;
	g->nsas++;
	return GK_OK;
}

void gcks_sa_established(gk_gcks *g, gcks_sa *sa)
{
	unlink_i(g, sa);
	sa->ike.state = GK_IKE_ESTABLISHED;
	gcks_timers_touch(g, sa);
	gk_ike_sa_auth_done(&sa->ike);
}

void gcks_sa_remove(gk_gcks *g, gcks_sa *sa)
{
	unlink_i(g, sa);
	gcks_peer_unlink(g, sa);
	for (gcks_sa **pp = &g->by_r[bucket_r(g, gcks_our_spi(sa))]; *pp; pp = &(*pp)->next_r)
		if (*pp == sa) {
			*pp = sa->next_r;
			break;
		}
	g->nsas--;
	gcks_timers_del(g, sa);
	if (sa->out_req) {
		gk_ike_req_clear(sa->out_req);
		free(sa->out_req);
	}
	gcks_sa_free(sa);
}

void gcks_sa_free(gcks_sa *sa)
{
	gk_ike_sa_free(&sa->ike);
	gk_ident_held_unref(sa->peer_id);
	free(sa);
}
