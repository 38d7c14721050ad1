/* Unit tests of the GCKS's logical key hierarchy (gcks/gcks_lkh.c, RFC 9838 Appendix A): the
 * Appendix A example in structure (which keys wrap which), and groups of hundreds of simulated
 * members through joins and evictions, where after every step each remaining member derives the
 * new Rekey SA key with the member's own algorithm (RFC 9838 3.3, common/ike/key_path.c: its
 * Working Key Path only), and no evicted member does, trying every key it ever received. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "gcks/gcks_lkh.h"
#include "group_sa.h"
#include "iana.h"
#include "key_path.h"
#include "keywrap.h"
#include "rand.h"

#define KWA GK_KWA_KW_5649_256
#define KLEN 32

/* ---- a member as the test plays it: every key it ever received ---- */

typedef struct ring_key {
	uint32_t id;
	uint8_t key[KLEN];
} ring_key;

typedef struct sim {
	char name[32];
	uint8_t gsk_w[KLEN];     /* the default KWK of its registration IKE SA */
	ring_key *ring;
	size_t nring, cap;
	bool in;                 /* in the group (not evicted) */
	uint8_t sa[48];          /* the last Rekey SA keymat it derived */
	bool has_sa;
	gk_key_path wkp;         /* its Working Key Path, as gmd keeps it */
} sim;

static const uint8_t *ring_get(const sim *m, uint32_t id)
{
	for (size_t i = 0; i < m->nring; i++)
		if (m->ring[i].id == id)
			return m->ring[i].key;
	return NULL;
}

static void ring_add(sim *m, uint32_t id, const uint8_t *k)
{
	if (ring_get(m, id))
		return;
	if (m->nring == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->ring = realloc(m->ring, m->cap * sizeof(*m->ring));
		ck_assert_ptr_nonnull(m->ring);
	}
	m->ring[m->nring].id = id;
	memcpy(m->ring[m->nring++].key, k, KLEN);
}

/* Opens w under kwk (kwk_id 0: the member's GSK_w); true with the key in out. */
static bool open_one(const sim *m, const gk_kh_wrapped *w, uint8_t *out, size_t *outlen)
{
	const uint8_t *kwk = w->kwk_id ? ring_get(m, w->kwk_id) : m->gsk_w;
	if (!kwk)
		return false;
	gk_wbuf b;
	uint32_t kid, wid;
	gk_wbuf_init(&b, 0);
	gk_status st = gk_wrapped_key_open(KWA, GK_CHUNK(kwk, KLEN), w->value, &kid, &wid, &b);
	ck_assert_int_eq(st, GK_OK); /* a key it holds under that ID always opens */
	ck_assert_uint_eq(kid, w->key_id);
	ck_assert_uint_eq(wid, w->kwk_id);
	memcpy(out, b.data, b.len);
	*outlen = b.len;
	gk_wbuf_free(&b);
	return true;
}

/* What gmd does with the message (RFC 9838 3.3): a Key Path to one SA_KEY from its Working Key
 * Path (or GSK_w at registration); true with the Working Key Path replaced. */
static bool follow(sim *m, const gk_kh_wrapped *w, size_t nw, const gk_kh_wrapped *s, size_t ns, bool reg,
		   uint8_t *keymat)
{
	gk_key_path out;
	char err[256];
	gk_key_path_in in = { .wkp = &m->wkp, .gsk_w = GK_CHUNK(m->gsk_w, KLEN), .kwa_w = KWA, .kwa = KWA,
			      .wrap_keys = w, .nwrap = nw, .sa_keys = s, .nsa = ns, .keymat_len = 48,
			      .registration = reg };
	gk_status st = gk_key_path_open(&in, keymat, &out, err, sizeof(err));
	ck_assert_msg(st == GK_OK || st == GK_E_NOT_FOUND, "%s: %s", m->name, err);
	if (st)
		return false;
	m->wkp = out;
	return true;
}

/* Takes in every WRAP_KEY it can open, until nothing more opens, then the Rekey SA key. */
static bool receive(sim *m, const gk_kh_wrapped *w, size_t nw, const gk_kh_wrapped *s, size_t ns, bool gsk_ok)
{
	bool more = true;
	uint8_t k[64];
	size_t kl;
	while (more) {
		more = false;
		for (size_t i = 0; i < nw; i++) {
			if (ring_get(m, w[i].key_id) || (!gsk_ok && w[i].kwk_id == 0))
				continue;
			if (open_one(m, &w[i], k, &kl)) {
				ck_assert_uint_eq(kl, KLEN);
				ring_add(m, w[i].key_id, k);
				more = true;
			}
		}
	}
	for (size_t i = 0; i < ns; i++) {
		ck_assert_uint_eq(s[i].key_id, 0);
		ck_assert_uint_ne(s[i].kwk_id, 0);
		if (open_one(m, &s[i], k, &kl)) {
			memcpy(m->sa, k, kl);
			m->has_sa = true;
			return true;
		}
	}
	return false;
}

static gk_rand_test rt;
static uint8_t sa_key[48];

static void new_sa_key(void)
{
	ck_assert_int_eq(gk_rand_bytes(&rt.r, sa_key, sizeof(sa_key)), GK_OK);
}

static void do_join(gk_lkh *t, sim *m)
{
	uint32_t pos;
	gk_arena a;
	gk_kh_wrapped *w, *s;
	size_t nw, ns;
	ck_assert_int_eq(gk_lkh_join(t, &rt.r, m->name, &pos), GK_OK);
	ck_assert_uint_ne(pos, 0);
	ck_assert_uint_eq(gk_lkh_find(t, m->name), pos);
	ck_assert_int_eq(gk_rand_bytes(&rt.r, m->gsk_w, KLEN), GK_OK);
	gk_arena_init(&a, 0);
	ck_assert_int_eq(gk_lkh_reg_wraps(t, pos, KWA, GK_CHUNK(m->gsk_w, KLEN), KWA, GK_CHUNK(sa_key, sizeof(sa_key)),
					  &a, &w, &nw, &s, &ns), GK_OK);
	ck_assert_uint_eq(ns, 1);
	ck_assert_uint_eq(w[nw - 1].kwk_id, 0); /* the leaf under GSK_w, the rest under keys */
	for (size_t i = 0; i + 1 < nw; i++)
		ck_assert_uint_ne(w[i].kwk_id, 0);
	m->has_sa = false;
	ck_assert_msg(receive(m, w, nw, s, ns, true), "%s cannot open its registration", m->name);
	ck_assert_mem_eq(m->sa, sa_key, sizeof(sa_key));
	uint8_t km[48];
	memset(&m->wkp, 0, sizeof(m->wkp));
	ck_assert_msg(follow(m, w, nw, s, ns, true, km), "%s: no key path at registration", m->name);
	ck_assert_mem_eq(km, sa_key, sizeof(sa_key));
	ck_assert_uint_eq(m->wkp.n, nw); /* the whole path: 1->3->7 in A.2 */
	m->in = true;
	gk_arena_free(&a);
	gk_lkh_touched_clear(t);
}

/* Evicts the named members; everyone else must follow, the evicted (and everyone evicted before)
 * must not, whatever key they ever held. Returns the number of WRAP_KEYs. */
static size_t do_evict(gk_lkh *t, sim *ms, size_t n, const size_t *idx, size_t nidx)
{
	const char *names[64];
	gk_lkh_evicted e;
	gk_arena a;
	gk_kh_wrapped *w, *s;
	size_t nw, ns;
	ck_assert_uint_le(nidx, 64);
	for (size_t i = 0; i < nidx; i++) {
		names[i] = ms[idx[i]].name;
		ms[idx[i]].in = false;
	}
	new_sa_key();
	ck_assert_int_eq(gk_lkh_evict(t, &rt.r, names, nidx, &e), GK_OK);
	ck_assert_uint_eq(e.removed, nidx);
	gk_arena_init(&a, 0);
	ck_assert_int_eq(gk_lkh_evict_wraps(t, &e, KWA, GK_CHUNK(sa_key, sizeof(sa_key)), &a, &w, &nw, &s, &ns),
			 GK_OK);
	for (size_t i = 0; i < n; i++) {
		if (!ms[i].name[0])
			continue;
		bool got = receive(&ms[i], w, nw, s, ns, false);
		if (ms[i].in) {
			uint8_t km[48];
			ck_assert_msg(got, "%s (in the group) cannot derive the new Rekey SA key", ms[i].name);
			ck_assert_mem_eq(ms[i].sa, sa_key, sizeof(sa_key));
			ck_assert_msg(follow(&ms[i], w, nw, s, ns, false, km), "%s: no key path from its Working Key "
				      "Path", ms[i].name);
			ck_assert_mem_eq(km, sa_key, sizeof(sa_key));
			ck_assert_uint_eq(ms[i].wkp.n, t->depth);
		} else {
			ck_assert_msg(!got, "%s (evicted) derives the new Rekey SA key", ms[i].name);
		}
	}
	for (size_t i = 0; i < nidx; i++)
		ck_assert_uint_eq(gk_lkh_find(t, names[i]), 0);
	gk_arena_free(&a);
	gk_lkh_evicted_free(&e);
	gk_lkh_touched_clear(t);
	return nw;
}

static size_t depth_of(const gk_lkh *t, const char *name)
{
	uint32_t path[GK_LKH_MAX_DEPTH];
	return gk_lkh_path(t, gk_lkh_find(t, name), path);
}

/* ---- RFC 9838 Appendix A ---- */

static int has_pair(const gk_kh_wrapped *w, size_t n, uint32_t key, uint32_t kwk)
{
	int c = 0;
	for (size_t i = 0; i < n; i++)
		c += w[i].key_id == key && w[i].kwk_id == kwk;
	return c;
}

START_TEST(appendix_a)
{
	const char *names[] = { "A", "B", "C", "D", "E", "F", "G", "H" };
	gk_lkh t;
	gk_arena a;
	gk_kh_wrapped *w, *s;
	size_t nw, ns;
	uint8_t gsk_w[KLEN] = { 1 };
	gk_rand_test_init(&rt, 9838);
	new_sa_key();
	ck_assert_int_eq(gk_lkh_init(&t, 2, KLEN, 8), GK_OK);
	ck_assert_int_eq(gk_lkh_build(&t, &rt.r, names, 8), GK_OK);
	/* A.2: Key IDs assigned sequentially, A(7) .. H(14), inner 1 .. 6 */
	for (uint32_t p = 1; p <= 14; p++)
		ck_assert_uint_eq(t.nodes[p].key_id, p);
	ck_assert_uint_eq(gk_lkh_find(&t, "A"), 7);
	ck_assert_uint_eq(gk_lkh_find(&t, "H"), 14);
	/* A.2: KD(GP(SA1)(1{K_sa1}),MP(3{1},7{3},GSK_w{7})) for A */
	gk_arena_init(&a, 0);
	ck_assert_int_eq(gk_lkh_reg_wraps(&t, 7, KWA, GK_CHUNK(gsk_w, KLEN), KWA, GK_CHUNK(sa_key, 48), &a, &w, &nw,
					  &s, &ns), GK_OK);
	ck_assert_uint_eq(ns, 1);
	ck_assert_uint_eq(s[0].key_id, 0);
	ck_assert_uint_eq(s[0].kwk_id, 1);
	ck_assert_uint_eq(nw, 3);
	ck_assert_uint_eq(w[0].key_id, 1);
	ck_assert_uint_eq(w[0].kwk_id, 3);
	ck_assert_uint_eq(w[1].key_id, 3);
	ck_assert_uint_eq(w[1].kwk_id, 7);
	ck_assert_uint_eq(w[2].key_id, 7);
	ck_assert_uint_eq(w[2].kwk_id, 0);
	/* the wrapped values: Key ID | KWK ID | RFC 5649 wrap of a 32-octet key (40 octets) */
	ck_assert_uint_eq(w[0].value.len, 8 + 40);
	ck_assert_uint_eq(s[0].value.len, 8 + 56);
	gk_arena_free(&a);
	gk_lkh_touched_clear(&t);
	/* A.4: F excluded: key 2 becomes 15, key 5 becomes 16;
	 * KD(GP(SA3)(1{K_sa3},15{K_sa3}),MP(6{15},16{15},11{16})) */
	const char *f = "F";
	gk_lkh_evicted e;
	new_sa_key();
	ck_assert_int_eq(gk_lkh_evict(&t, &rt.r, &f, 1, &e), GK_OK);
	ck_assert_uint_eq(t.nodes[2].key_id, 15);
	ck_assert_uint_eq(t.nodes[5].key_id, 16);
	ck_assert_uint_eq(t.nodes[12].key_id, 0);
	ck_assert_uint_eq(t.nodes[1].key_id, 1);
	ck_assert_uint_eq(t.nodes[6].key_id, 6);
	gk_arena_init(&a, 0);
	ck_assert_int_eq(gk_lkh_evict_wraps(&t, &e, KWA, GK_CHUNK(sa_key, 48), &a, &w, &nw, &s, &ns), GK_OK);
	ck_assert_uint_eq(ns, 2);
	ck_assert_int_eq(has_pair(s, ns, 0, 1), 1);
	ck_assert_int_eq(has_pair(s, ns, 0, 15), 1);
	ck_assert_uint_eq(nw, 3);
	ck_assert_int_eq(has_pair(w, nw, 15, 6), 1);
	ck_assert_int_eq(has_pair(w, nw, 15, 16), 1);
	ck_assert_int_eq(has_pair(w, nw, 16, 11), 1);
	/* what the store writes: the three replaced or removed positions */
	ck_assert_uint_eq(t.ntouched, 3);
	gk_arena_free(&a);
	gk_lkh_evicted_free(&e);
	gk_lkh_free(&t);
}
END_TEST

/* The group state encoder puts the hierarchy where A.2 and A.4 put it: the Rekey SA's bag holds
 * only the SA_KEYs under intermediate keys, the member key bag the WRAP_KEYs. */
START_TEST(encode_kd)
{
	const char *names[] = { "A", "B", "C", "D" };
	gk_lkh t;
	gk_arena a;
	gk_kh_wrapped *w, *s;
	size_t nw, ns;
	uint8_t gsk_w[KLEN] = { 7 };
	gk_rand_test_init(&rt, 1);
	new_sa_key();
	ck_assert_int_eq(gk_lkh_init(&t, 2, KLEN, 4), GK_OK);
	ck_assert_int_eq(gk_lkh_build(&t, &rt.r, names, 4), GK_OK);
	gk_arena_init(&a, 0);
	ck_assert_int_eq(gk_lkh_reg_wraps(&t, gk_lkh_find(&t, "C"), KWA, GK_CHUNK(gsk_w, KLEN), KWA,
					  GK_CHUNK(sa_key, 48), &a, &w, &nw, &s, &ns), GK_OK);
	gk_group_state gs = { 0 };
	gs.nsas = 2;
	gs.sas[0] = (gk_group_sa){ .proto = GK_PROTO_ESP, .spi_len = 4, .encr = GK_ENCR_AES_GCM_16,
				   .encr_key_bits = 256, .sn = GK_SN_SEQ32, .keymat_len = 36 };
	gs.sas[0].src.family = gs.sas[0].dst.family = 4;
	gs.sas[1] = (gk_group_sa){ .proto = GK_PROTO_GIKE_UPDATE, .spi_len = 16, .encr = GK_ENCR_AES_GCM_16,
				   .encr_key_bits = 256, .kwa = KWA, .keymat_len = 48 };
	gs.sas[1].src.family = gs.sas[1].dst.family = 4;
	gs.wrap_keys = w;
	gs.nwrap_keys = nw;
	gs.kh_sa_keys = s;
	gs.nkh_sa_keys = ns;
	gk_pl_gsa gsa;
	gk_pl_kd kd;
	ck_assert_int_eq(gk_group_state_encode(&gs, GK_GSA_REKEY, KWA, GK_CHUNK(gsk_w, KLEN), &a, &gsa, &kd), GK_OK);
	ck_assert_uint_eq(kd.bags.n, 3);
	/* the TEK under GSK_w (Key ID 0, KWK ID 0) */
	uint32_t kid, wid;
	ck_assert_uint_eq(kd.bags.items[0].attrs.n, 1);
	ck_assert_int_eq(gk_wrapped_key_ids(kd.bags.items[0].attrs.items[0].value, &kid, &wid), GK_OK);
	ck_assert_uint_eq(kid, 0);
	ck_assert_uint_eq(wid, 0);
	/* the Rekey SA: only 1{K_sa}, no GSK_w{K_sa} */
	const gk_key_bag *kb = &kd.bags.items[1];
	ck_assert_uint_eq(kb->proto, GK_PROTO_GIKE_UPDATE);
	ck_assert_uint_eq(kb->attrs.n, 1);
	ck_assert_uint_eq(kb->attrs.items[0].type, GK_GKBA_SA_KEY);
	ck_assert_int_eq(gk_wrapped_key_ids(kb->attrs.items[0].value, &kid, &wid), GK_OK);
	ck_assert_uint_eq(kid, 0);
	ck_assert_uint_eq(wid, t.nodes[2].key_id); /* C(5) is below 2 */
	/* the member key bag: 1{3}... the path as WRAP_KEYs, in order */
	kb = &kd.bags.items[2];
	ck_assert_uint_eq(kb->proto, 0);
	ck_assert_uint_eq(kb->attrs.n, nw);
	for (size_t i = 0; i < nw; i++) {
		ck_assert_uint_eq(kb->attrs.items[i].type, GK_MKBA_WRAP_KEY);
		ck_assert_int_eq(gk_wrapped_key_ids(kb->attrs.items[i].value, &kid, &wid), GK_OK);
		ck_assert_uint_eq(kid, w[i].key_id);
		ck_assert_uint_eq(wid, w[i].kwk_id);
	}
	gk_arena_free(&a);
	gk_lkh_free(&t);
}
END_TEST

/* ---- groups of hundreds ---- */

#define NSIM 400

static sim *sims_new(void)
{
	sim *ms = calloc(NSIM, sizeof(*ms));
	ck_assert_ptr_nonnull(ms);
	return ms;
}

static void sims_free(sim *ms)
{
	for (size_t i = 0; i < NSIM; i++)
		free(ms[i].ring);
	free(ms);
}

static void sims_join(gk_lkh *t, sim *ms, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		snprintf(ms[i].name, sizeof(ms[i].name), "fqdn:screen-%zu.example.net", i);
		do_join(t, &ms[i]);
	}
}

/* Every leaf at the tree's depth, and the depth the smallest with d^depth >= members (growth
 * never shrinks, so the largest count the group had). */
static void check_balanced(const gk_lkh *t, const sim *ms, unsigned d, size_t most)
{
	size_t lim = 1, cap = d;
	for (size_t i = 0; i < NSIM; i++)
		if (ms[i].in)
			ck_assert_uint_eq(depth_of(t, ms[i].name), t->depth);
	while (cap < most) {
		cap *= d;
		lim++;
	}
	ck_assert_msg(t->depth <= lim, "depth %u for %zu members (degree %u)", t->depth, most, d);
}

START_TEST(evict_one_several_subtree)
{
	unsigned d = (unsigned)_i;
	gk_lkh t;
	sim *ms = sims_new();
	gk_rand_test_init(&rt, 100 + d);
	new_sa_key();
	ck_assert_int_eq(gk_lkh_init(&t, d, KLEN, 1), GK_OK); /* grows level by level */
	sims_join(&t, ms, 0, NSIM);
	check_balanced(&t, ms, d, NSIM);
	/* one member: O(d log N) wrapped keys; the first eviction after the tree grew also sends
	 * the keys made above the members under their children (at most d per level) */
	size_t one[] = { 17 };
	size_t nw = do_evict(&t, ms, NSIM, one, 1);
	ck_assert_uint_le(nw, 2 * (size_t)d * t.depth);
	size_t one_more[] = { 290 };
	nw = do_evict(&t, ms, NSIM, one_more, 1);
	ck_assert_uint_le(nw, (size_t)d * (t.depth - 1));
	/* several at once, from different subtrees */
	size_t several[] = { 3, 99, 250, 251, 399 };
	do_evict(&t, ms, NSIM, several, 5);
	/* a whole subtree: every member below the inner node above member 120's leaf */
	uint32_t leaf = gk_lkh_find(&t, ms[120].name), top = (leaf - 1) / d;
	size_t sub[64], nsub = 0;
	for (size_t i = 0; i < NSIM; i++) {
		uint32_t p = gk_lkh_find(&t, ms[i].name);
		for (; p > top; p = (p - 1) / d)
			;
		if (ms[i].in && p == top && nsub < 64)
			sub[nsub++] = i;
	}
	ck_assert_uint_ge(nsub, 2);
	do_evict(&t, ms, NSIM, sub, nsub);
	ck_assert_uint_eq(t.nodes[top].key_id, 0); /* the inner node went with its subtree */
	/* the last member of a subtree: evict a sibling first, then the one left */
	leaf = gk_lkh_find(&t, ms[300].name);
	size_t pair[2], np = 0;
	for (size_t i = 0; i < NSIM && np < 2; i++)
		if (ms[i].in && (gk_lkh_find(&t, ms[i].name) - 1) / d == (leaf - 1) / d)
			pair[np++] = i;
	for (size_t i = 0; i < np; i++)
		do_evict(&t, ms, NSIM, &pair[i], 1);
	ck_assert_uint_eq(t.nmembers, NSIM - 7 - nsub - np);
	check_balanced(&t, ms, d, NSIM);
	gk_lkh_free(&t);
	sims_free(ms);
}
END_TEST

START_TEST(rejoin_and_interleaved)
{
	unsigned d = (unsigned)_i;
	gk_lkh t;
	sim *ms = sims_new();
	gk_rand_test_init(&rt, 200 + d);
	new_sa_key();
	ck_assert_int_eq(gk_lkh_init(&t, d, KLEN, 150), GK_OK);
	sims_join(&t, ms, 0, 150);
	/* a member registering again keeps its leaf and keys (instances sharing an identity) */
	uint32_t before = gk_lkh_find(&t, ms[5].name);
	uint32_t kid = t.nodes[before].key_id, next = t.next_key_id;
	uint32_t pos;
	ck_assert_int_eq(gk_lkh_join(&t, &rt.r, ms[5].name, &pos), GK_OK);
	ck_assert_uint_eq(pos, before);
	ck_assert_uint_eq(t.nodes[pos].key_id, kid);
	ck_assert_uint_eq(t.next_key_id, next);
	/* evictions interleaved with joins: holes are filled, leaves split, keys announced */
	for (size_t round = 0; round < 10; round++) {
		size_t ev[3] = { round * 13 % 150, (round * 29 + 7) % 150, (round * 41 + 3) % 150 };
		size_t nev = 0, uniq[3];
		for (size_t i = 0; i < 3; i++) {
			bool dup = false;
			for (size_t j = 0; j < nev; j++)
				dup |= uniq[j] == ev[i];
			if (!dup && ms[ev[i]].in)
				uniq[nev++] = ev[i];
		}
		if (nev)
			do_evict(&t, ms, NSIM, uniq, nev);
		sims_join(&t, ms, 150 + round * 25, 150 + (round + 1) * 25);
	}
	/* a member evicted comes back (the policy lists it again): a new leaf, new Key IDs; the
	 * keys it had before open nothing new, the ones it gets now do */
	size_t back = 3;
	if (ms[back].in)
		do_evict(&t, ms, NSIM, &back, 1);
	uint32_t first_new = t.next_key_id;
	do_join(&t, &ms[back]);
	ck_assert_uint_ge(t.nodes[gk_lkh_find(&t, ms[back].name)].key_id, first_new);
	size_t other = 149;
	if (!ms[other].in)
		other = 148;
	do_evict(&t, ms, NSIM, &other, 1);
	ck_assert(ms[back].has_sa && !memcmp(ms[back].sa, sa_key, sizeof(sa_key)));
	check_balanced(&t, ms, d, 400);
	gk_lkh_free(&t);
	sims_free(ms);
}
END_TEST

/* Key IDs never repeat within a group: every ID a member ever held is unique to one key. */
START_TEST(key_ids_unique)
{
	gk_lkh t;
	sim *ms = sims_new();
	gk_rand_test_init(&rt, 5);
	new_sa_key();
	ck_assert_int_eq(gk_lkh_init(&t, 3, KLEN, 10), GK_OK);
	sims_join(&t, ms, 0, 100);
	size_t ev[] = { 1, 2, 50 };
	do_evict(&t, ms, NSIM, ev, 3);
	sims_join(&t, ms, 100, 140);
	for (size_t i = 0; i < 140; i++)
		for (size_t j = 0; j < ms[i].nring; j++)
			for (size_t k = 0; k < 140; k++) {
				const uint8_t *o = ring_get(&ms[k], ms[i].ring[j].id);
				ck_assert(!o || !memcmp(o, ms[i].ring[j].key, KLEN));
			}
	/* the counter runs out rather than wrapping */
	t.next_key_id = UINT32_MAX;
	uint32_t pos;
	ck_assert_int_eq(gk_lkh_join(&t, &rt.r, "fqdn:late.example.net", &pos), GK_E_TOO_BIG);
	gk_lkh_free(&t);
	sims_free(ms);
}
END_TEST

START_TEST(bad_args)
{
	gk_lkh t;
	ck_assert_int_eq(gk_lkh_init(&t, 1, KLEN, 1), GK_E_INVAL);
	ck_assert_int_eq(gk_lkh_init(&t, 17, KLEN, 1), GK_E_INVAL);
	ck_assert_int_eq(gk_lkh_init(&t, 2, 33, 1), GK_E_INVAL);
	ck_assert_int_eq(gk_lkh_init(&t, 16, KLEN, 1), GK_OK);
	uint8_t k[KLEN] = { 0 };
	ck_assert_int_eq(gk_lkh_set(&t, 0, 1, k, KLEN, NULL, false), GK_E_INVAL);
	ck_assert_int_eq(gk_lkh_set(&t, 1, 0, k, KLEN, NULL, false), GK_E_INVAL);
	ck_assert_int_eq(gk_lkh_set(&t, 1, 4, k, 16, NULL, false), GK_E_INVAL);
	ck_assert_int_eq(gk_lkh_set(&t, 1, 4, k, KLEN, "a", false), GK_OK);
	ck_assert_int_eq(gk_lkh_set(&t, 2, 5, k, KLEN, "a", false), GK_E_INVAL); /* one leaf per member */
	ck_assert_int_eq(gk_lkh_set(&t, 1, 6, k, KLEN, NULL, false), GK_E_INVAL); /* taken */
	ck_assert_uint_eq(t.next_key_id, 5);
	gk_lkh_free(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lkh");
	TCase *tc = tcase_create("lkh");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, appendix_a);
	tcase_add_test(tc, encode_kd);
	tcase_add_loop_test(tc, evict_one_several_subtree, 2, 5);
	tcase_add_loop_test(tc, rejoin_and_interleaved, 2, 5);
	tcase_add_test(tc, key_ids_unique);
	tcase_add_test(tc, bad_args);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
