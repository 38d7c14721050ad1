/* The index of established IKE SAs by the identity that authenticated them, which bounds
 * them per identity and lets INITIAL_CONTACT (RFC 7296 2.4) find the earlier ones (the rules
 * are in gcks_auth.c). Kept by the SA table as SAs leave it. */
#include <stdlib.h>
#include <openssl/crypto.h>
#include "gcks_peers.h"
#include "gcks_keyhash.h"

#define GCKS_ID_BUCKETS 1024

static size_t id_bucket(const gk_gcks *g, const gk_ident *id)
{
	return (size_t)gcks_ident_hash(id) & (g->id_buckets - 1);
}

static void link_sa(gk_gcks *g, gcks_sa *sa)
{
	gk_ident id;
	gcks_sa **head = &g->by_id[id_bucket(g, gk_ident_held_get(sa->peer_id, &id))];
	sa->next_id = *head;
	if (*head)
		(*head)->pprev_id = &sa->next_id;
	sa->pprev_id = head;
	*head = sa;
	g->nid++;
}

/* Doubles the index once it holds more SAs than buckets; on allocation failure it stays. */
static void grow(gk_gcks *g)
{
	size_t n = g->id_buckets ? g->id_buckets * 2 : GCKS_ID_BUCKETS;
	gcks_sa **b = calloc(n, sizeof(*b)), **old = g->by_id;
	size_t oldn = g->id_buckets;
	if (!b)
		return;
	g->by_id = b;
	g->id_buckets = n;
	g->nid = 0;
	for (size_t i = 0; i < oldn; i++)
		for (gcks_sa *sa = old[i], *next; sa; sa = next) {
			next = sa->next_id;
			link_sa(g, sa);
		}
	free(old);
}

void gcks_peer_unlink(gk_gcks *g, gcks_sa *sa)
{
	/* the credential's hash goes with the SA (a weak PSK could be guessed from it) */
	OPENSSL_cleanse(sa->cred_hash, sizeof(sa->cred_hash));
	if (!sa->pprev_id)
		return;
	*sa->pprev_id = sa->next_id;
	if (sa->next_id)
		sa->next_id->pprev_id = sa->pprev_id;
	sa->next_id = NULL;
	sa->pprev_id = NULL;
	g->nid--;
}

void gcks_peers_free(gk_gcks *g)
{
	free(g->by_id);
	g->by_id = NULL;
	g->id_buckets = g->nid = 0;
}

/* The oldest other established SA of sa's identity and credential, and how many there are.
 * An identity listed with different credentials in different groups is as many members: the
 * holder of one credential must not close the SAs another authenticated. */
gcks_sa *gcks_peer_oldest(gk_gcks *g, const gcks_sa *sa, size_t *count)
{
	gcks_sa *old = NULL;
	gk_ident id;
	*count = 0;
	if (!g->by_id)
		return NULL;
	gk_ident_held_get(sa->peer_id, &id);
	for (gcks_sa *o = g->by_id[id_bucket(g, &id)]; o; o = o->next_id) {
		if (o == sa || (o->peer_id != sa->peer_id && !gk_ident_held_eq(o->peer_id, &id)) ||
		    CRYPTO_memcmp(o->cred_hash, sa->cred_hash, sizeof(sa->cred_hash)))
			continue;
		++*count;
		if (!old || o->admitted < old->admitted)
			old = o;
	}
	return old;
}

void gcks_peer_link(gk_gcks *g, gcks_sa *sa)
{
	if (g->nid >= g->id_buckets)
		grow(g);
	sa->admitted = ++g->id_admitted;
	if (g->by_id)
		link_sa(g, sa);
}

void gcks_peer_replace(gk_gcks *g, gcks_sa *old, gcks_sa *n)
{
	bool indexed = old->pprev_id != NULL;
	uint64_t admitted = old->admitted;
	if (indexed) {
		*old->pprev_id = old->next_id;
		if (old->next_id)
			old->next_id->pprev_id = old->pprev_id;
		old->next_id = NULL;
		old->pprev_id = NULL;
		g->nid--;
	}
	n->admitted = admitted;
	if (indexed)
		link_sa(g, n);
}
