/* The member's key management (common/ike/key_path.c, RFC 9838 3.3): the Appendix A example
 * reproduced key for key (the tree of A.2 with Key IDs 1..14 and members A..H, the simple rekey
 * of A.3, the exclusion of F in A.4 with every member's Working Key Path after it), the same
 * through the real codec (KD payloads built octet by octet, parsed and decoded), and what a
 * hostile or broken sender may try: cycles, endless and overlong chains, keys of the wrong size,
 * unknown KWKs, disagreeing keys, new paths ending at GSK_w in a rekey, too many wrapped keys. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "testutil.h"
#include "arena.h"
#include "codec.h"
#include "group_sa.h"
#include "ikekeys.h"
#include "key_path.h"
#include "keywrap.h"
#include "payloads.h"

#define KWA GK_KWA_KW_5649_256        /* the Rekey SA's: intermediate keys are 32 octets */
#define KWA_IKE GK_KWA_KW_5649_128    /* the IKE SA's at registration: GSK_w of 16 octets */
#define KEYMAT 96                     /* AES-CBC-256 + HMAC-SHA2-256 + KW-5649-256 */

static gk_arena ar;

static void setup(void) { gk_arena_init(&ar, 0); }
static void teardown(void) { gk_arena_free(&ar); }

/* The value of intermediate key id (32 octets), of SA key material n, of member m's GSK_w. */
static gk_chunk kkey(uint32_t id)
{
	uint8_t *k = gk_arena_alloc(&ar, 32);
	for (size_t i = 0; i < 32; i++)
		k[i] = (uint8_t)(id * 37 + i);
	return GK_CHUNK(k, 32);
}

static gk_chunk ksa(unsigned n)
{
	uint8_t *k = gk_arena_alloc(&ar, KEYMAT);
	for (size_t i = 0; i < KEYMAT; i++)
		k[i] = (uint8_t)(0xa0 + n * 11 + 3 * i);
	return GK_CHUNK(k, KEYMAT);
}

static gk_chunk gskw_member(char m)
{
	uint8_t *k = gk_arena_alloc(&ar, 16);
	for (size_t i = 0; i < 16; i++)
		k[i] = (uint8_t)(m * 5 + i);
	return GK_CHUNK(k, 16);
}

/* key_id wrapped under kwk_id whose value is kwk, as the GCKS sends it. */
static gk_kh_wrapped wrapped(uint32_t key_id, uint32_t kwk_id, uint16_t kwa, gk_chunk kwk, gk_chunk key)
{
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_wrapped_key_build(kwa, kwk, key_id, kwk_id, key, &w), GK_OK);
	gk_kh_wrapped r = { .key_id = key_id, .kwk_id = kwk_id, .value = GK_CHUNK(gk_arena_dup(&ar, w.data, w.len), w.len) };
	gk_wbuf_free(&w);
	return r;
}

/* X{Y} of Appendix A.1 between intermediate keys: key y wrapped under key x. */
static gk_kh_wrapped wk(uint32_t x, uint32_t y) { return wrapped(y, x, KWA, kkey(x), kkey(y)); }

/* The A.2 tree: parent of each key, members A..H on leaves 7..14. */
static uint32_t parent(uint32_t id) { return id <= 2 ? 0 : (id - 3) / 2 + 1; }
static uint32_t leaf(char m) { return (uint32_t)(m - 'A') + 7; }

static void assert_wkp(const gk_key_path *p, const uint32_t *ids, size_t n, const char *who)
{
	ck_assert_msg(p->n == n, "%s: Working Key Path of %zu keys, expected %zu", who, p->n, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(p->keys[i].id == ids[i], "%s: key %zu is %u, expected %u", who, i, p->keys[i].id, ids[i]);
		gk_chunk v = kkey(ids[i]);
		ck_assert_uint_eq(p->keys[i].len, 32);
		ck_assert_msg(!memcmp(p->keys[i].key, v.ptr, 32), "%s: key %u has the wrong value", who, ids[i]);
	}
}

typedef struct run {
	gk_key_path_in in;
	uint8_t keymat[KEYMAT];
	gk_key_path wkp;
	char why[GK_ERR_MAX];
} run;

static gk_status open_path(run *r)
{
	r->in.keymat_len = KEYMAT;
	if (!r->in.kwa)
		r->in.kwa = KWA;
	return gk_key_path_open(&r->in, r->keymat, &r->wkp, r->why, sizeof(r->why));
}

/* A.2: member m registers; KD(GP(SA1)(1{K_sa1}),MP(3{1},7{3},GSK_w{7})) for A. */
static void register_member(char m, gk_key_path *wkp)
{
	uint32_t l = leaf(m), p = parent(l), r = parent(p);
	gk_kh_wrapped sa = wrapped(0, r, KWA, kkey(r), ksa(1));
	gk_kh_wrapped mp[3] = { wk(p, r), wk(l, p), wrapped(l, 0, KWA_IKE, gskw_member(m), kkey(l)) };
	run x = { .in = { .gsk_w = gskw_member(m), .kwa_w = KWA_IKE, .wrap_keys = mp, .nwrap = 3, .sa_keys = &sa,
			  .nsa = 1, .registration = true } };
	ck_assert_msg(open_path(&x) == GK_OK, "%c: %s", m, x.why);
	ck_assert_str_eq(x.why, "");
	ck_assert(!memcmp(x.keymat, ksa(1).ptr, KEYMAT));
	uint32_t want[3] = { r, p, l };
	char who[2] = { m, 0 };
	assert_wkp(&x.wkp, want, 3, who);
	*wkp = x.wkp;
}

START_TEST(appendix_a)
{
	gk_key_path wkp[8];
	/* A.2: A: 1->3->7 B: 1->3->8 C: 1->4->9 D: 1->4->10 E: 2->5->11 F: 2->5->12 G: 2->6->13 H: 2->6->14 */
	for (char m = 'A'; m <= 'H'; m++)
		register_member(m, &wkp[m - 'A']);
	/* A.3: KD(GP(SA2)(GSK_w{K_sa2})) under the Rekey SA's GSK_w: everyone, no change */
	gk_chunk gskw_sa1 = kkey(1000);
	gk_kh_wrapped sa2 = wrapped(0, 0, KWA, gskw_sa1, ksa(2));
	for (char m = 'A'; m <= 'H'; m++) {
		run x = { .in = { .wkp = &wkp[m - 'A'], .gsk_w = gskw_sa1, .kwa_w = KWA, .sa_keys = &sa2, .nsa = 1 } };
		ck_assert_msg(open_path(&x) == GK_OK, "%c: %s", m, x.why);
		ck_assert(!memcmp(x.keymat, ksa(2).ptr, KEYMAT));
		ck_assert_uint_eq(x.wkp.n, 3);
		ck_assert(!memcmp(&x.wkp, &wkp[m - 'A'], sizeof(x.wkp)));
	}
	/* A.4: F excluded: KD(GP(SA3)(1{K_sa3},15{K_sa3}),MP(6{15},16{15},11{16})) */
	gk_chunk gskw_sa2 = kkey(2000);
	gk_kh_wrapped sa3[2] = { wrapped(0, 1, KWA, kkey(1), ksa(3)), wrapped(0, 15, KWA, kkey(15), ksa(3)) };
	gk_kh_wrapped mp[3] = { wk(6, 15), wk(16, 15), wk(11, 16) };
	static const uint32_t after[8][3] = { { 1, 3, 7 }, { 1, 3, 8 }, { 1, 4, 9 }, { 1, 4, 10 },
					      { 15, 16, 11 }, { 0 }, { 15, 6, 13 }, { 15, 6, 14 } };
	for (char m = 'A'; m <= 'H'; m++) {
		run x = { .in = { .wkp = &wkp[m - 'A'], .gsk_w = gskw_sa2, .kwa_w = KWA, .wrap_keys = mp, .nwrap = 3,
				  .sa_keys = sa3, .nsa = 2 } };
		char who[2] = { m, 0 };
		gk_status st = open_path(&x);
		if (m == 'F') {
			ck_assert_int_eq(st, GK_E_NOT_FOUND);
			ck_assert_str_eq(x.why, "no key path to any SA_KEY: excluded (RFC 9838 3.3)");
			for (size_t i = 0; i < KEYMAT; i++)
				ck_assert_uint_eq(x.keymat[i], 0);
			ck_assert_uint_eq(x.wkp.n, 0);
			continue;
		}
		ck_assert_msg(st == GK_OK, "%c: %s", m, x.why);
		ck_assert(!memcmp(x.keymat, ksa(3).ptr, KEYMAT));
		assert_wkp(&x.wkp, after[m - 'A'], 3, who);
		wkp[m - 'A'] = x.wkp;
	}
	/* F tries every key it ever held as a KWK of the new SA key and of key 15: none opens */
	uint32_t held[] = { 2, 5, 12 };
	for (size_t i = 0; i < 3; i++) {
		gk_wbuf w;
		gk_wbuf_init(&w, 0);
		ck_assert_int_ne(gk_wrapped_key_open(KWA, kkey(held[i]), sa3[1].value, NULL, NULL, &w), GK_OK);
		ck_assert_int_ne(gk_wrapped_key_open(KWA, kkey(held[i]), sa3[0].value, NULL, NULL, &w), GK_OK);
		ck_assert_int_ne(gk_wrapped_key_open(KWA, kkey(held[i]), mp[0].value, NULL, NULL, &w), GK_OK);
		gk_wbuf_free(&w);
	}
	/* the next exclusion (E this time) builds on the paths A.4 left: 15{16'} is gone, 16 is
	 * replaced by 17 under 15' = 18: KD(GP(SA4)(1{K},18{K}),MP(6{18},17{18}))... G and H
	 * follow through 6, E cannot (its keys 15, 16, 11 wrap nothing new) */
	gk_kh_wrapped sa4[2] = { wrapped(0, 1, KWA, kkey(1), ksa(4)), wrapped(0, 18, KWA, kkey(18), ksa(4)) };
	gk_kh_wrapped mp4[1] = { wk(6, 18) };
	for (char m = 'A'; m <= 'H'; m++) {
		if (m == 'F')
			continue;
		run x = { .in = { .wkp = &wkp[m - 'A'], .gsk_w = kkey(3000), .kwa_w = KWA, .wrap_keys = mp4, .nwrap = 1,
				  .sa_keys = sa4, .nsa = 2 } };
		gk_status st = open_path(&x);
		ck_assert_int_eq(st, m == 'E' ? GK_E_NOT_FOUND : GK_OK);
		if (m == 'G' || m == 'H') {
			uint32_t want[3] = { 18, 6, leaf(m) };
			char who[2] = { m, 0 };
			assert_wkp(&x.wkp, want, 3, who);
		}
	}
}
END_TEST

/* A key reached two ways (A.4 sends 15 under 6 and under 16) opens the same; a sender that puts
 * two different keys under one Key ID, or two different keying materials into SA_KEYs a member
 * opens both of, has the message refused: RFC 9838 3.3 "all of them MUST contain the same
 * keying material". */
START_TEST(disagreeing_keys_refused)
{
	gk_key_path w = { .n = 2 };
	w.keys[0] = (gk_kh_key){ .id = 5, .len = 32 };
	memcpy(w.keys[0].key, kkey(5).ptr, 32);
	w.keys[1] = (gk_kh_key){ .id = 11, .len = 32 };
	memcpy(w.keys[1].key, kkey(11).ptr, 32);
	/* 15 under 5 and under 11, both reachable; the same value: accepted, path ends at 5 */
	gk_kh_wrapped sa = wrapped(0, 15, KWA, kkey(15), ksa(3));
	gk_kh_wrapped mp[2] = { wk(5, 15), wk(11, 15) };
	run x = { .in = { .wkp = &w, .gsk_w = kkey(999), .kwa_w = KWA, .wrap_keys = mp, .nwrap = 2, .sa_keys = &sa,
			  .nsa = 1 } };
	ck_assert_msg(open_path(&x) == GK_OK, "%s", x.why);
	uint32_t want[3] = { 15, 5, 11 };
	assert_wkp(&x.wkp, want, 3, "15 under 5");
	/* the copy under 11 carries another key */
	mp[1] = wrapped(15, 11, KWA, kkey(11), kkey(77));
	ck_assert_int_eq(open_path(&x), GK_E_MALFORMED);
	ck_assert_str_eq(x.why, "two different keys under Key ID 15");
	ck_assert_uint_eq(x.wkp.n, 0);
	/* two SA_KEYs both open, with different keying material */
	gk_kh_wrapped two[2] = { wrapped(0, 5, KWA, kkey(5), ksa(3)), wrapped(0, 11, KWA, kkey(11), ksa(4)) };
	run y = { .in = { .wkp = &w, .gsk_w = kkey(999), .kwa_w = KWA, .sa_keys = two, .nsa = 2 } };
	ck_assert_int_eq(open_path(&y), GK_E_MALFORMED);
	ck_assert_str_eq(y.why, "SA_KEY attributes carry different keying material (RFC 9838 3.3)");
	for (size_t i = 0; i < KEYMAT; i++)
		ck_assert_uint_eq(y.keymat[i], 0);
	/* the same material: fine, the first one's (empty) path */
	two[1] = wrapped(0, 11, KWA, kkey(11), ksa(3));
	ck_assert_int_eq(open_path(&y), GK_OK);
	ck_assert_uint_eq(y.wkp.n, 2);
}
END_TEST

/* Cycles among WRAP_KEYs end in an error, not a loop: 20 under 21 under 20, and 22 under itself. */
START_TEST(cycle_refused)
{
	gk_kh_wrapped sa = wrapped(0, 20, KWA, kkey(20), ksa(1));
	gk_kh_wrapped mp[2] = { wk(21, 20), wk(20, 21) };
	run x = { .in = { .gsk_w = kkey(999), .kwa_w = KWA, .wrap_keys = mp, .nwrap = 2, .sa_keys = &sa, .nsa = 1,
			  .registration = true } };
	ck_assert_int_eq(open_path(&x), GK_E_MALFORMED);
	ck_assert_str_eq(x.why, "WRAP_KEY attributes wrap each other in a cycle (Key ID 20)");
	gk_kh_wrapped self = wk(22, 22);
	gk_kh_wrapped sa22 = wrapped(0, 22, KWA, kkey(22), ksa(1));
	run y = { .in = { .gsk_w = kkey(999), .kwa_w = KWA, .wrap_keys = &self, .nwrap = 1, .sa_keys = &sa22, .nsa = 1,
			  .registration = true } };
	ck_assert_int_eq(open_path(&y), GK_E_MALFORMED);
	ck_assert_str_eq(y.why, "WRAP_KEY attributes wrap each other in a cycle (Key ID 22)");
}
END_TEST

/* A chain of n keys from GSK_w: 100 under GSK_w, 101 under 100, ..., the SA key under the last. */
static size_t chain(gk_kh_wrapped *mp, size_t n, gk_chunk gskw, gk_kh_wrapped *sa)
{
	mp[0] = wrapped(100, 0, KWA, gskw, kkey(100));
	for (size_t i = 1; i < n; i++)
		mp[i] = wk((uint32_t)(99 + i), (uint32_t)(100 + i));
	*sa = wrapped(0, (uint32_t)(99 + n), KWA, kkey((uint32_t)(99 + n)), ksa(1));
	return n;
}

/* GK_KH_MAX_DEPTH (32) keys make a key path; 33 are refused (GK_E_TOO_DEEP) before any
 * recursion deeper than that. A Working Key Path that would grow past 32 is refused too. */
START_TEST(depth_bound)
{
	gk_kh_wrapped mp[40], sa;
	gk_chunk g = kkey(999);
	run x = { .in = { .gsk_w = g, .kwa_w = KWA, .wrap_keys = mp, .sa_keys = &sa, .nsa = 1, .registration = true } };
	x.in.nwrap = chain(mp, GK_KH_MAX_DEPTH, g, &sa);
	ck_assert_msg(open_path(&x) == GK_OK, "%s", x.why);
	ck_assert_uint_eq(x.wkp.n, GK_KH_MAX_DEPTH);
	ck_assert_uint_eq(x.wkp.keys[0].id, 99 + GK_KH_MAX_DEPTH);
	ck_assert_uint_eq(x.wkp.keys[GK_KH_MAX_DEPTH - 1].id, 100);
	x.in.nwrap = chain(mp, GK_KH_MAX_DEPTH + 1, g, &sa);
	ck_assert_int_eq(open_path(&x), GK_E_TOO_DEEP);
	ck_assert_str_eq(x.why, "key path longer than 32 keys");
	/* the search stops at that depth: a broken key at the far end of 40 is never reached */
	x.in.nwrap = chain(mp, 40, g, &sa);
	mp[0] = wrapped(100, 0, KWA, g, GK_CHUNK(kkey(100).ptr, 16));
	ck_assert_int_eq(open_path(&x), GK_E_TOO_DEEP);
	ck_assert_str_eq(x.why, "key path longer than 32 keys");
	/* a key found once (131, the top of 32) and reached again from deeper (600 under it): the
	 * path through it has 33 keys however the search got there */
	x.in.nwrap = chain(mp, GK_KH_MAX_DEPTH, g, &sa);
	mp[x.in.nwrap++] = wk(99 + GK_KH_MAX_DEPTH, 600);
	gk_kh_wrapped two[2] = { sa, wrapped(0, 600, KWA, kkey(600), ksa(1)) };
	x.in.sa_keys = two;
	x.in.nsa = 2;
	ck_assert_int_eq(open_path(&x), GK_E_TOO_DEEP);
	ck_assert_str_eq(x.why, "key path longer than 32 keys");
	x.in.sa_keys = &sa;
	x.in.nsa = 1;
	/* a full Working Key Path and a new path of two keys ending at its first key: 34 keys */
	gk_key_path full;
	x.in.nwrap = chain(mp, GK_KH_MAX_DEPTH, g, &sa);
	ck_assert_int_eq(open_path(&x), GK_OK);
	full = x.wkp;
	uint32_t top = full.keys[0].id;
	gk_kh_wrapped up[2] = { wk(top, 500), wk(500, 501) };
	gk_kh_wrapped sa2 = wrapped(0, 501, KWA, kkey(501), ksa(2));
	run y = { .in = { .wkp = &full, .gsk_w = g, .kwa_w = KWA, .wrap_keys = up, .nwrap = 2, .sa_keys = &sa2, .nsa = 1 } };
	ck_assert_int_eq(open_path(&y), GK_E_TOO_DEEP);
	ck_assert_str_eq(y.why, "Working Key Path longer than 32 keys");
	/* one key is room enough when it replaces one: 500 under the second key */
	up[0] = wk(full.keys[1].id, 500);
	y.in.nwrap = 1;
	sa2 = wrapped(0, 500, KWA, kkey(500), ksa(2));
	ck_assert_msg(open_path(&y) == GK_OK, "%s", y.why);
	ck_assert_uint_eq(y.wkp.n, GK_KH_MAX_DEPTH);
	ck_assert_uint_eq(y.wkp.keys[0].id, 500);
	ck_assert_uint_eq(y.wkp.keys[1].id, full.keys[1].id);
}
END_TEST

/* Every key is opened at most once: a ladder of 20 levels, each key wrapped under both keys of
 * the level below, has 2^20 key paths; tried one by one that takes seconds, not 80 unwraps. */
START_TEST(ladder_linear)
{
	enum { LEVELS = 20 };
	gk_kh_wrapped mp[4 * LEVELS], sa;
	size_t n = 0;
	gk_chunk g = kkey(999);
	mp[n++] = wrapped(1, 0, KWA, g, kkey(1));
	mp[n++] = wrapped(2, 0, KWA, g, kkey(2));
	for (uint32_t l = 1; l < LEVELS; l++)
		for (uint32_t a = 0; a < 2; a++)
			for (uint32_t b = 0; b < 2; b++)
				mp[n++] = wk(2 * l - 1 + b, 2 * l + 1 + a);
	sa = wrapped(0, 2 * LEVELS - 1, KWA, kkey(2 * LEVELS - 1), ksa(1));
	run x = { .in = { .gsk_w = g, .kwa_w = KWA, .wrap_keys = mp, .nwrap = n, .sa_keys = &sa, .nsa = 1,
			  .registration = true } };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_msg(open_path(&x) == GK_OK, "%s", x.why);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_uint_eq(x.wkp.n, LEVELS);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	ck_assert_msg(ms < 500, "%.1f ms for %zu WRAP_KEYs", ms, n);
}
END_TEST

/* Sizes: an intermediate key is the Rekey SA KWA's key size (RFC 9838 4.5.3.1), the SA key
 * material the SA's (4.5.2.1); anything else refuses the message. */
START_TEST(wrong_sizes_refused)
{
	gk_chunk g = kkey(999);
	gk_kh_wrapped mp = wrapped(7, 0, KWA, g, GK_CHUNK(kkey(7).ptr, 16));
	gk_kh_wrapped sa = wrapped(0, 7, KWA, kkey(7), ksa(1));
	run x = { .in = { .gsk_w = g, .kwa_w = KWA, .wrap_keys = &mp, .nwrap = 1, .sa_keys = &sa, .nsa = 1,
			  .registration = true } };
	ck_assert_int_eq(open_path(&x), GK_E_MALFORMED);
	ck_assert_str_eq(x.why, "WRAP_KEY 7 under KWK ID 0 unwraps to 16 octets, not 32");
	mp = wrapped(7, 0, KWA, g, kkey(7));
	sa = wrapped(0, 7, KWA, kkey(7), GK_CHUNK(ksa(1).ptr, KEYMAT - 8));
	ck_assert_int_eq(open_path(&x), GK_E_MALFORMED);
	ck_assert_str_eq(x.why, "SA_KEY 0 under KWK ID 7 unwraps to 88 octets, not 96");
	/* Key IDs: a WRAP_KEY never carries Key ID 0, an SA_KEY always does */
	sa = wrapped(0, 7, KWA, kkey(7), ksa(1));
	mp = wrapped(0, 0, KWA, g, kkey(7));
	ck_assert_int_eq(open_path(&x), GK_E_MALFORMED);
	ck_assert_str_eq(x.why, "WRAP_KEY with Key ID 0 (RFC 9838 4.5.3.1)");
	mp = wrapped(7, 0, KWA, g, kkey(7));
	sa = wrapped(3, 7, KWA, kkey(7), ksa(1));
	ck_assert_int_eq(open_path(&x), GK_E_MALFORMED);
	ck_assert_str_eq(x.why, "SA_KEY with a non-zero Key ID");
	/* bounds of the call */
	sa = wrapped(0, 7, KWA, kkey(7), ksa(1));
	x.in.nwrap = GK_KH_MAX_WRAPPED + 1;
	ck_assert_int_eq(open_path(&x), GK_E_INVAL);
}
END_TEST

/* A WRAP_KEY under a KWK the member never had (99), or one whose KWK ID it holds but whose
 * wrapping does not open under its key: no key path, excluded, nothing kept. */
START_TEST(unknown_kwk_excludes)
{
	gk_key_path w = { .n = 1 };
	w.keys[0] = (gk_kh_key){ .id = 7, .len = 32 };
	memcpy(w.keys[0].key, kkey(7).ptr, 32);
	gk_kh_wrapped mp = wk(99, 15);
	gk_kh_wrapped sa = wrapped(0, 15, KWA, kkey(15), ksa(2));
	run x = { .in = { .wkp = &w, .gsk_w = kkey(999), .kwa_w = KWA, .wrap_keys = &mp, .nwrap = 1, .sa_keys = &sa,
			  .nsa = 1 } };
	ck_assert_int_eq(open_path(&x), GK_E_NOT_FOUND);
	ck_assert_str_eq(x.why, "no key path to any SA_KEY: excluded (RFC 9838 3.3)");
	/* 15 under "7" forged by someone who does not hold key 7 */
	mp = wrapped(15, 7, KWA, kkey(70), kkey(15));
	ck_assert_int_eq(open_path(&x), GK_E_NOT_FOUND);
	ck_assert_str_eq(x.why, "no key path opens an SA_KEY (a path was found but its keys did not unwrap): excluded");
	ck_assert_uint_eq(x.wkp.n, 0);
}
END_TEST

/* RFC 9838 3.3: a new Key Path ends at GSK_w "only at the time the GM is registering". A member
 * that knows a Rekey SA's GSK_w (implicit authentication: every member does) could otherwise
 * give every other member a Working Key Path of its choosing in a forged GSA_REKEY. */
START_TEST(gsk_w_path_in_rekey_refused)
{
	gk_chunk g = kkey(999);
	gk_kh_wrapped mp = wrapped(40, 0, KWA, g, kkey(40));
	gk_kh_wrapped sa = wrapped(0, 40, KWA, kkey(40), ksa(5));
	gk_key_path w = { .n = 1 };
	w.keys[0] = (gk_kh_key){ .id = 7, .len = 32 };
	memcpy(w.keys[0].key, kkey(7).ptr, 32);
	run x = { .in = { .wkp = &w, .gsk_w = g, .kwa_w = KWA, .wrap_keys = &mp, .nwrap = 1, .sa_keys = &sa, .nsa = 1 } };
	ck_assert_int_eq(open_path(&x), GK_E_MALFORMED);
	ck_assert_str_eq(x.why, "a new key path ending at the default KWK outside registration (RFC 9838 3.3)");
	ck_assert_uint_eq(x.wkp.n, 0);
	/* at registration the same path is the member's first Working Key Path */
	x.in.registration = true;
	x.in.wkp = NULL;
	ck_assert_int_eq(open_path(&x), GK_OK);
	ck_assert_uint_eq(x.wkp.n, 1);
	ck_assert_uint_eq(x.wkp.keys[0].id, 40);
}
END_TEST

/* ---- through the codec: KD payloads octet by octet ---- */

typedef struct attr_spec {
	uint16_t type;
	gk_kh_wrapped w;
} attr_spec;

static void put_attrs(gk_wbuf *b, const gk_kh_wrapped *w, size_t n, uint16_t type)
{
	for (size_t i = 0; i < n; i++) {
		gk_wbuf_u16(b, type); /* AF clear: TLV (RFC 7296 3.3.5) */
		gk_wbuf_u16(b, (uint16_t)w[i].value.len);
		gk_wbuf_put(b, w[i].value.ptr, w[i].value.len);
	}
}

/* KD(GP(spi)(sa...), MP(wrap...)) as octets, parsed by the codec; the group key bag of an ESP
 * SA when spi is 4 octets. */
static gk_pl_kd kd_octets_spi(const uint8_t *spi, size_t spi_len, const gk_kh_wrapped *sa, size_t nsa,
			      const gk_kh_wrapped *mp, size_t nmp)
{
	gk_wbuf b;
	gk_wbuf_init(&b, 0);
	size_t at = b.len;
	gk_wbuf_u8(&b, spi_len == 16 ? GK_PROTO_GIKE_UPDATE : GK_PROTO_ESP);
	gk_wbuf_u8(&b, (uint8_t)spi_len);
	gk_wbuf_u16(&b, 0);
	gk_wbuf_put(&b, spi, spi_len);
	put_attrs(&b, sa, nsa, GK_GKBA_SA_KEY);
	gk_wbuf_set_u16(&b, at + 2, (uint16_t)(b.len - at));
	if (nmp) {
		at = b.len;
		gk_wbuf_u8(&b, 0);
		gk_wbuf_u8(&b, 0);
		gk_wbuf_u16(&b, 0);
		put_attrs(&b, mp, nmp, GK_MKBA_WRAP_KEY);
		gk_wbuf_set_u16(&b, at + 2, (uint16_t)(b.len - at));
	}
	ck_assert_int_eq(b.err, GK_OK);
	gk_pl_kd kd;
	gk_codec_err cerr;
	memset(&kd, 0, sizeof(kd));
	uint8_t *copy = gk_arena_dup(&ar, b.data, b.len);
	ck_assert_int_eq(gk_codec_parse(gk_payload_desc(GK_PL_KD), GK_CHUNK(copy, b.len), &ar, &kd, &cerr), GK_OK);
	gk_wbuf_free(&b);
	return kd;
}

static gk_pl_kd kd_octets(const uint8_t spi[16], const gk_kh_wrapped *sa, size_t nsa, const gk_kh_wrapped *mp,
			  size_t nmp)
{
	return kd_octets_spi(spi, 16, sa, nsa, mp, nmp);
}

/* The GSA payload of one Rekey SA (AES-CBC-256, HMAC-SHA2-256-128, KW-5649-256: 96 octets of
 * keying material) as the GCKS encodes it, also parsed back from octets; with esp, of one ESP
 * SA (AES-GCM-16-256, SPI 0x00000104) instead, as an inband group has. */
static gk_pl_gsa gsa_octets_esp(const uint8_t spi[16], gk_gsa_context ctx, bool esp)
{
	gk_group_state *gs = calloc(1, sizeof(*gs));
	ck_assert_ptr_nonnull(gs);
	gk_group_sa *k = &gs->sas[0];
	if (esp) {
		*k = (gk_group_sa){ .proto = GK_PROTO_ESP, .spi = { 0, 0, 1, 4 }, .spi_len = 4, .encr = GK_ENCR_AES_GCM_16,
				    .encr_key_bits = 256, .sn = GK_SN_UNSPEC32 };
		k->src = (gk_ts_spec){ .family = 4, .start = { 192, 0, 2, 1 }, .end = { 192, 0, 2, 1 } };
		k->dst = (gk_ts_spec){ .family = 4, .start = { 239, 1, 1, 1 }, .end = { 239, 1, 1, 1 } };
		k->keymat_len = 36;
		gs->nsas = 1;
		goto encode;
	}
	k->proto = GK_PROTO_GIKE_UPDATE;
	memcpy(k->spi, spi, 16);
	k->spi_len = 16;
	k->src = (gk_ts_spec){ .family = 4, .start = { 192, 0, 2, 1 }, .end = { 192, 0, 2, 1 }, .ip_proto = 17,
			       .port_lo = 848, .port_hi = 848 };
	k->dst = (gk_ts_spec){ .family = 4, .start = { 239, 0, 0, 1 }, .end = { 239, 0, 0, 1 }, .ip_proto = 17,
			       .port_lo = 848, .port_hi = 848 };
	k->encr = GK_ENCR_AES_CBC;
	k->encr_key_bits = 256;
	k->integ = GK_INTEG_HMAC_SHA2_256_128;
	k->kwa = KWA;
	k->gcauth = GK_GCAUTH_IMPLICIT;
	k->keymat_len = gk_group_keymat_len(k->proto, k->encr, k->encr_key_bits, k->integ, k->kwa);
	ck_assert_uint_eq(k->keymat_len, KEYMAT);
	gs->nsas = 1;
encode:;
	gk_pl_gsa gsa, out;
	gk_pl_kd kd;
	ck_assert_int_eq(gk_group_state_encode(gs, ctx, KWA, kkey(1), &ar, &gsa, &kd), GK_OK);
	gk_group_state_wipe(gs);
	free(gs);
	gk_wbuf b;
	gk_codec_err cerr;
	gk_wbuf_init(&b, 0);
	ck_assert_int_eq(gk_codec_build(gk_payload_desc(GK_PL_GSA), &gsa, &b), GK_OK);
	memset(&out, 0, sizeof(out));
	uint8_t *copy = gk_arena_dup(&ar, b.data, b.len);
	ck_assert_int_eq(gk_codec_parse(gk_payload_desc(GK_PL_GSA), GK_CHUNK(copy, b.len), &ar, &out, &cerr), GK_OK);
	gk_wbuf_free(&b);
	return out;
}

static gk_pl_gsa gsa_octets(const uint8_t spi[16], gk_gsa_context ctx)
{
	return gsa_octets_esp(spi, ctx, false);
}

static const uint8_t SPI1[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 0x11, 1, 1, 1, 1, 1, 1, 1 };
static const uint8_t SPI3[16] = { 3, 3, 3, 3, 3, 3, 3, 3, 0x33, 3, 3, 3, 3, 3, 3, 3 };

/* A.2 and A.4 as gmd receives them: GSA and KD parsed from octets, decoded with
 * gk_group_state_decode_kh, opened with gk_key_path_open_state. */
START_TEST(appendix_a_through_codec)
{
	gk_group_state *gs = calloc(1, sizeof(*gs));
	ck_assert_ptr_nonnull(gs);
	char why[GK_ERR_MAX];
	gk_key_path wkp[2];
	/* E and F register: KD(GP(SA1)(2{K_sa1}),MP(5{2},11{5},GSK_w{11})) for E */
	for (char m = 'E'; m <= 'F'; m++) {
		uint32_t l = leaf(m);
		gk_kh_wrapped sa = wrapped(0, 2, KWA, kkey(2), ksa(1));
		gk_kh_wrapped mp[3] = { wk(5, 2), wk(l, 5), wrapped(l, 0, KWA_IKE, gskw_member(m), kkey(l)) };
		gk_pl_gsa gsa = gsa_octets(SPI1, GK_GSA_REGISTRATION);
		gk_pl_kd kd = kd_octets(SPI1, &sa, 1, mp, 3);
		ck_assert_msg(gk_group_state_decode_kh(&gsa, &kd, GK_GSA_REGISTRATION, KWA_IKE, gskw_member(m), &ar, gs,
						       why, sizeof(why)) == GK_OK, "%s", why);
		ck_assert_uint_eq(gs->nkh_sa_keys, 1);
		ck_assert_uint_eq(gs->nwrap_keys, 3);
		ck_assert_uint_eq(gs->wrap_keys[2].key_id, l);
		ck_assert_uint_eq(gs->wrap_keys[2].kwk_id, 0);
		ck_assert_uint_eq(gs->sas[0].keymat_len, 0); /* not under GSK_w: not opened by decoding */
		ck_assert_msg(gk_key_path_open_state(gs, NULL, gskw_member(m), KWA_IKE, 0, true, why, sizeof(why)) == GK_OK,
			      "%s", why);
		ck_assert_uint_eq(gs->sas[0].keymat_len, KEYMAT);
		ck_assert(!memcmp(gs->sas[0].keymat, ksa(1).ptr, KEYMAT));
		ck_assert_ptr_null(gs->wrap_keys);
		ck_assert_ptr_null(gs->kh_sa_keys);
		uint32_t want[3] = { 2, 5, l };
		char who[2] = { m, 0 };
		assert_wkp(&gs->wkp, want, 3, who);
		wkp[m - 'E'] = gs->wkp;
		gk_group_state_wipe(gs);
	}
	/* A.4 */
	gk_chunk gskw_sa1 = kkey(1000);
	gk_kh_wrapped sa3[2] = { wrapped(0, 1, KWA, kkey(1), ksa(3)), wrapped(0, 15, KWA, kkey(15), ksa(3)) };
	gk_kh_wrapped mp[3] = { wk(6, 15), wk(16, 15), wk(11, 16) };
	for (char m = 'E'; m <= 'F'; m++) {
		gk_pl_gsa gsa = gsa_octets(SPI3, GK_GSA_REKEY);
		gk_pl_kd kd = kd_octets(SPI3, sa3, 2, mp, 3);
		ck_assert_msg(gk_group_state_decode_kh(&gsa, &kd, GK_GSA_REKEY, KWA, gskw_sa1, &ar, gs, why,
						       sizeof(why)) == GK_OK, "%s", why);
		ck_assert_uint_eq(gs->nkh_sa_keys, 2);
		gk_status st = gk_key_path_open_state(gs, &wkp[m - 'E'], gskw_sa1, KWA, KWA, false, why, sizeof(why));
		if (m == 'F') {
			ck_assert_int_eq(st, GK_E_NOT_FOUND);
			ck_assert_str_eq(why, "no key path to any SA_KEY: excluded (RFC 9838 3.3)");
		} else {
			ck_assert_msg(st == GK_OK, "%s", why);
			ck_assert(!memcmp(gs->sas[0].keymat, ksa(3).ptr, KEYMAT));
			uint32_t want[3] = { 15, 16, 11 };
			assert_wkp(&gs->wkp, want, 3, "E");
		}
		gk_group_state_wipe(gs);
	}
	free(gs);
}
END_TEST

/* The decoder's refusals of key hierarchy attributes (RFC 9838 4.5.2.1, 4.5.3.1), each exact. */
static void decode_refused(gk_gsa_context ctx, const gk_kh_wrapped *sa, size_t nsa, const gk_kh_wrapped *mp,
			   size_t nmp, const char *reason)
{
	gk_group_state *gs = calloc(1, sizeof(*gs));
	char why[GK_ERR_MAX] = "";
	ck_assert_ptr_nonnull(gs);
	gk_pl_gsa gsa = gsa_octets(SPI3, ctx);
	gk_pl_kd kd = kd_octets(SPI3, sa, nsa, mp, nmp);
	ck_assert_int_eq(gk_group_state_decode_kh(&gsa, &kd, ctx, KWA, kkey(1000), &ar, gs, why, sizeof(why)),
			 GK_E_MALFORMED);
	ck_assert_str_eq(why, reason);
	ck_assert_uint_eq(gs->nwrap_keys + gs->nkh_sa_keys + gs->nsas, 0);
	free(gs);
}

START_TEST(decode_refusals)
{
	gk_kh_wrapped sa[2] = { wrapped(0, 1, KWA, kkey(1), ksa(3)), wrapped(0, 15, KWA, kkey(15), ksa(3)) };
	gk_kh_wrapped mp[3] = { wk(6, 15), wk(16, 15), wk(11, 16) };
	/* 4.5.2.1: one SA_KEY at registration */
	decode_refused(GK_GSA_REGISTRATION, sa, 2, NULL, 0,
		       "more than one SA_KEY for the Rekey SA at registration (RFC 9838 4.5.2.1)");
	/* 4.5.3.1: Key ID 0 is the SA key, never a WRAP_KEY */
	gk_kh_wrapped bad = wrapped(0, 6, KWA, kkey(6), kkey(15));
	decode_refused(GK_GSA_REKEY, sa, 2, &bad, 1, "WRAP_KEY with Key ID 0 (RFC 9838 4.5.3.1)");
	/* a pair given twice */
	gk_kh_wrapped twice[2] = { mp[0], mp[0] };
	decode_refused(GK_GSA_REKEY, sa, 2, twice, 2, "WRAP_KEY 15 under KWK ID 6 repeated");
	gk_kh_wrapped sa_twice[2] = { sa[0], sa[0] };
	decode_refused(GK_GSA_REKEY, sa_twice, 2, mp, 3, "SA_KEY 0 under KWK ID 1 repeated");
	/* longer than a 32-octet key wrapped */
	uint8_t big[64];
	memset(big, 0, sizeof(big));
	gk_put_u32(big, 15);
	gk_put_u32(big + 4, 6);
	gk_kh_wrapped longer = { .key_id = 15, .kwk_id = 6, .value = GK_CHUNK(big, sizeof(big)) };
	decode_refused(GK_GSA_REKEY, sa, 2, &longer, 1, "WRAP_KEY longer than any wrapped key wrap key");
	/* shorter than a Wrapped Key can be */
	gk_kh_wrapped shorter = { .key_id = 15, .kwk_id = 6, .value = GK_CHUNK(big, 20) };
	decode_refused(GK_GSA_REKEY, sa, 2, &shorter, 1, "malformed WRAP_KEY attribute");
	/* 1024 wrapped keys in all decode, 1025 do not (2 SA_KEYs + 1022 or 1023 WRAP_KEYs) */
	gk_kh_wrapped *many = calloc(GK_KH_MAX_WRAPPED, sizeof(*many));
	ck_assert_ptr_nonnull(many);
	gk_kh_wrapped one = wk(6, 15);
	for (uint32_t i = 0; i < GK_KH_MAX_WRAPPED; i++) {
		/* Key IDs differ; the values need not open for decoding */
		uint8_t *v = gk_arena_dup(&ar, one.value.ptr, one.value.len);
		gk_put_u32(v, 100 + i);
		many[i] = (gk_kh_wrapped){ .key_id = 100 + i, .kwk_id = 6, .value = GK_CHUNK(v, one.value.len) };
	}
	gk_group_state *gs = calloc(1, sizeof(*gs));
	char why[GK_ERR_MAX];
	gk_pl_gsa gsa = gsa_octets(SPI3, GK_GSA_REKEY);
	gk_pl_kd kd = kd_octets(SPI3, sa, 2, many, GK_KH_MAX_WRAPPED - 2);
	ck_assert_msg(gk_group_state_decode_kh(&gsa, &kd, GK_GSA_REKEY, KWA, kkey(1000), &ar, gs, why, sizeof(why)) ==
		      GK_OK, "%s", why);
	ck_assert_uint_eq(gs->nwrap_keys, GK_KH_MAX_WRAPPED - 2);
	ck_assert_uint_eq(gs->wrap_keys[GK_KH_MAX_WRAPPED - 3].key_id, 100 + GK_KH_MAX_WRAPPED - 3);
	gk_group_state_wipe(gs);
	free(gs);
	decode_refused(GK_GSA_REKEY, sa, 2, many, GK_KH_MAX_WRAPPED - 1,
		       "more than 1024 wrapped keys (WRAP_KEY and SA_KEY under intermediate KWKs)");
	free(many);
	/* 4.5.3.1: "MUST NOT be used if inband rekey ... is employed": no Rekey SA, no WRAP_KEY; and
	 * 4.5.2.1: a Data-Security SA's one SA_KEY has both IDs zero */
	static const uint8_t esp_spi[4] = { 0, 0, 1, 4 };
	gk_pl_gsa esp = gsa_octets_esp(SPI3, GK_GSA_REGISTRATION, true);
	gk_kh_wrapped esp_key = wrapped(0, 0, KWA, kkey(1000), GK_CHUNK(ksa(1).ptr, 36));
	gs = calloc(1, sizeof(*gs));
	kd = kd_octets_spi(esp_spi, 4, &esp_key, 1, NULL, 0);
	ck_assert_msg(gk_group_state_decode_kh(&esp, &kd, GK_GSA_REGISTRATION, KWA, kkey(1000), &ar, gs, why,
					       sizeof(why)) == GK_OK, "%s", why); /* the control */
	gk_group_state_wipe(gs);
	kd = kd_octets_spi(esp_spi, 4, &esp_key, 1, &mp[2], 1);
	ck_assert_int_eq(gk_group_state_decode_kh(&esp, &kd, GK_GSA_REGISTRATION, KWA, kkey(1000), &ar, gs, why,
						  sizeof(why)), GK_E_MALFORMED);
	ck_assert_str_eq(why, "WRAP_KEY without a Rekey SA (inband rekey, RFC 9838 4.5.3.1)");
	esp_key = wrapped(0, 9, KWA, kkey(9), GK_CHUNK(ksa(1).ptr, 36));
	kd = kd_octets_spi(esp_spi, 4, &esp_key, 1, NULL, 0);
	ck_assert_int_eq(gk_group_state_decode_kh(&esp, &kd, GK_GSA_REKEY, KWA, kkey(1000), &ar, gs, why, sizeof(why)),
			 GK_E_MALFORMED);
	ck_assert_str_eq(why, "SA_KEY of a Data-Security SA under an intermediate KWK (RFC 9838 4.5.2.1)");
	ck_assert_uint_eq(gs->nsas, 0);
	free(gs);
	/* the decoder without an arena expects no key hierarchy */
	gs = calloc(1, sizeof(*gs));
	kd = kd_octets(SPI3, sa, 2, mp, 3);
	ck_assert_int_eq(gk_group_state_decode(&gsa, &kd, GK_GSA_REKEY, KWA, kkey(1000), gs, why, sizeof(why)),
			 GK_E_MALFORMED);
	ck_assert_str_eq(why, "key hierarchy attributes (WRAP_KEY, SA_KEY under an intermediate KWK) where none are expected");
	free(gs);
}
END_TEST

/* The Rekey SA's key opened under GSK_w by the decoder and again through a key path: both must
 * be the same keying material (RFC 9838 3.3); the path stays empty. */
START_TEST(default_and_hierarchy_agree)
{
	gk_group_state *gs = calloc(1, sizeof(*gs));
	char why[GK_ERR_MAX];
	gk_chunk g = kkey(1000);
	gk_key_path w = { .n = 1 };
	w.keys[0] = (gk_kh_key){ .id = 1, .len = 32 };
	memcpy(w.keys[0].key, kkey(1).ptr, 32);
	gk_kh_wrapped sa[2] = { wrapped(0, 0, KWA, g, ksa(3)), wrapped(0, 1, KWA, kkey(1), ksa(3)) };
	gk_pl_gsa gsa = gsa_octets(SPI3, GK_GSA_REKEY);
	gk_pl_kd kd = kd_octets(SPI3, sa, 2, NULL, 0);
	ck_assert_int_eq(gk_group_state_decode_kh(&gsa, &kd, GK_GSA_REKEY, KWA, g, &ar, gs, why, sizeof(why)), GK_OK);
	ck_assert_uint_eq(gs->sas[0].keymat_len, KEYMAT);
	ck_assert_int_eq(gk_key_path_open_state(gs, &w, g, KWA, KWA, false, why, sizeof(why)), GK_OK);
	ck_assert_uint_eq(gs->wkp.n, 1);
	gk_group_state_wipe(gs);
	sa[1] = wrapped(0, 1, KWA, kkey(1), ksa(4));
	kd = kd_octets(SPI3, sa, 2, NULL, 0);
	ck_assert_int_eq(gk_group_state_decode_kh(&gsa, &kd, GK_GSA_REKEY, KWA, g, &ar, gs, why, sizeof(why)), GK_OK);
	ck_assert_int_eq(gk_key_path_open_state(gs, &w, g, KWA, KWA, false, why, sizeof(why)), GK_E_MALFORMED);
	ck_assert_str_eq(why, "SA_KEY attributes carry different keying material (RFC 9838 3.3)");
	ck_assert_uint_eq(gs->wkp.n, 0);
	gk_group_state_wipe(gs);
	/* one the member cannot open next to the one under GSK_w: fine, no exclusion */
	sa[1] = wrapped(0, 9, KWA, kkey(9), ksa(4));
	kd = kd_octets(SPI3, sa, 2, NULL, 0);
	ck_assert_int_eq(gk_group_state_decode_kh(&gsa, &kd, GK_GSA_REKEY, KWA, g, &ar, gs, why, sizeof(why)), GK_OK);
	ck_assert_int_eq(gk_key_path_open_state(gs, &w, g, KWA, KWA, false, why, sizeof(why)), GK_OK);
	ck_assert_str_eq(why, "");
	ck_assert(!memcmp(gs->sas[0].keymat, ksa(3).ptr, KEYMAT));
	gk_group_state_wipe(gs);
	free(gs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("key_path");
	TCase *tc = tcase_create("key_path");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, appendix_a);
	tcase_add_test(tc, disagreeing_keys_refused);
	tcase_add_test(tc, cycle_refused);
	tcase_add_test(tc, depth_bound);
	tcase_add_test(tc, ladder_linear);
	tcase_add_test(tc, wrong_sizes_refused);
	tcase_add_test(tc, unknown_kwk_excludes);
	tcase_add_test(tc, gsk_w_path_in_rekey_refused);
	tcase_add_test(tc, appendix_a_through_codec);
	tcase_add_test(tc, decode_refusals);
	tcase_add_test(tc, default_and_hierarchy_agree);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
