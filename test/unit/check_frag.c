/* IKE fragmentation (RFC 7383): building SKF fragments and reassembling them. */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "samples.h"
#include "frag.h"
#include "ike_sa.h"

static const uint8_t key_gcm[36] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
				     19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36 };
static const uint8_t key_cbc[32] = { 9 }, key_hmac[32] = { 7 };

static gk_sk_keys keys(int which)
{
	if (which == 0)
		return (gk_sk_keys){ .encr = GK_ENCR_AES_GCM_16, .encr_key_bits = 256,
				     .enc = GK_CHUNK(key_gcm, 36) };
	return (gk_sk_keys){ .encr = GK_ENCR_AES_CBC, .encr_key_bits = 256, .integ = GK_INTEG_HMAC_SHA2_256_128,
			     .enc = GK_CHUNK(key_cbc, 32), .integ_key = GK_CHUNK(key_hmac, 32) };
}

/* A GSA_AUTH-like response with GSA and KD: big enough to need several fragments. */
static void sample_out(gk_msg_out *o, gk_out_pl *pl)
{
	pl[0] = (gk_out_pl){ GK_PL_GSA, false, sample_gsa() };
	pl[1] = (gk_out_pl){ GK_PL_KD, false, sample_kd() };
	*o = (gk_msg_out){ .hdr = { .spi_i = 1, .spi_r = 2, .exchange = GK_EXCH_GSA_AUTH, .flags = GK_FLAG_R,
				    .msg_id = 1 },
			   .inner = pl, .ninner = 2, .protect = true };
}

START_TEST(fragments_roundtrip)
{
	gk_rand_test rt;
	gk_rand_test_init(&rt, 1);
	gk_sk_keys k = keys(_i);
	gk_msg_out o;
	gk_out_pl pl[2];
	sample_out(&o, pl);
	gk_dgrams whole, frags;
	ck_assert_int_eq(gk_msg_build_dgrams(&o, &k, &rt.r, false, 200, &whole), GK_OK);
	ck_assert_uint_eq(whole.n, 1);
	ck_assert_int_eq(gk_msg_build_dgrams(&o, &k, &rt.r, true, 200, &frags), GK_OK);
	ck_assert_uint_gt(frags.n, 2);
	gk_frag_reasm r;
	memset(&r, 0, sizeof(r));
	gk_wbuf plain;
	gk_wbuf_init(&plain, 0);
	bool done = false;
	uint8_t first = 0;
	/* deliver in reverse order, with a duplicate: reassembly must not care */
	for (size_t i = frags.n; i-- > 0;) {
		ck_assert_uint_le(frags.d[i].len, 200);
		gk_msg m;
		ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(&frags.d[i])), GK_OK);
		ck_assert_int_eq(gk_frag_add(&r, &m, &k, &done, &plain, &first), GK_OK);
		if (i == frags.n - 1)
			ck_assert_int_eq(gk_frag_add(&r, &m, &k, &done, &plain, &first), GK_OK);
		ck_assert(done == (i == 0));
		if (done) {
			ck_assert_int_eq(gk_msg_add_inner(&m, first, gk_wbuf_chunk(&plain)), GK_OK);
			ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_GSA));
			ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_KD));
		}
		gk_msg_free(&m);
	}
	/* the reassembled inner chain equals the unfragmented message's */
	gk_msg w;
	ck_assert_int_eq(gk_msg_parse(&w, gk_wbuf_chunk(&whole.d[0])), GK_OK);
	ck_assert_int_eq(gk_msg_decrypt(&w, &k), GK_OK);
	gk_wbuf chain;
	gk_wbuf_init(&chain, 0);
	ck_assert_int_eq(gk_chain_build(pl, 2, GK_PL_NONE, &chain), GK_OK);
	ck_assert_uint_eq(chain.len, plain.len);
	ck_assert_mem_eq(chain.data, plain.data, plain.len);
	gk_msg_free(&w);
	gk_wbuf_free(&chain);
	gk_wbuf_free(&plain);
	gk_frag_reset(&r);
	gk_dgrams_free(&whole);
	gk_dgrams_free(&frags);
}
END_TEST

START_TEST(forged_fragment_is_refused)
{
	gk_rand_test rt;
	gk_rand_test_init(&rt, 2);
	gk_sk_keys k = keys(0);
	gk_msg_out o;
	gk_out_pl pl[2];
	sample_out(&o, pl);
	gk_dgrams frags;
	ck_assert_int_eq(gk_msg_build_dgrams(&o, &k, &rt.r, true, 300, &frags), GK_OK);
	gk_frag_reasm r;
	memset(&r, 0, sizeof(r));
	gk_wbuf plain;
	gk_wbuf_init(&plain, 0);
	bool done;
	uint8_t first;
	for (size_t i = 0; i < frags.n; i++) {
		gk_wbuf *d = &frags.d[i];
		if (i == 1)
			d->data[d->len - 1] ^= 1; /* forged: its ICV fails */
		gk_msg m;
		ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(d)), GK_OK);
		gk_status st = gk_frag_add(&r, &m, &k, &done, &plain, &first);
		ck_assert_int_eq(st, i == 1 ? GK_E_INTEGRITY : GK_OK);
		ck_assert(!done);
		gk_msg_free(&m);
	}
	ck_assert_uint_eq(plain.len, 0);
	gk_frag_reset(&r);
	gk_wbuf_free(&plain);
	gk_dgrams_free(&frags);
}
END_TEST

/* Fragments of the sample message cut at 200 octets, parsed; and what one fragment costs. */
typedef struct frag_set {
	gk_dgrams d;
	gk_msg m[GK_FRAG_MAX];
	size_t cost;                /* octets fragment 1 holds parked */
} frag_set;

static void frag_set_make_at(frag_set *f, const gk_sk_keys *k, size_t max_len)
{
	gk_rand_test rt;
	gk_rand_test_init(&rt, 3);
	gk_msg_out o;
	gk_out_pl pl[2];
	sample_out(&o, pl);
	ck_assert_int_eq(gk_msg_build_dgrams(&o, k, &rt.r, true, max_len, &f->d), GK_OK);
	ck_assert_uint_ge(f->d.n, 4);
	for (size_t i = 0; i < f->d.n; i++)
		ck_assert_int_eq(gk_msg_parse(&f->m[i], gk_wbuf_chunk(&f->d.d[i])), GK_OK);
	gk_frag_reasm r;
	memset(&r, 0, sizeof(r));
	gk_wbuf plain;
	gk_wbuf_init(&plain, 0);
	bool done;
	uint8_t first;
	ck_assert_int_eq(gk_frag_add(&r, &f->m[0], k, &done, &plain, &first), GK_OK);
	f->cost = r.bytes;
	ck_assert_uint_ge(f->cost, 100);
	gk_frag_reset(&r);
	gk_wbuf_free(&plain);
}

static void frag_set_make(frag_set *f, const gk_sk_keys *k)
{
	frag_set_make_at(f, k, 200);
}

static void frag_set_free(frag_set *f)
{
	for (size_t i = 0; i < f->d.n; i++)
		gk_msg_free(&f->m[i]);
	gk_dgrams_free(&f->d);
}

/* RFC 7383 2.6 leaves limits to the receiver: a set that would hold more than max_bytes is
 * dropped whole (it could never complete), and the next fragment starts a new one. */
START_TEST(reassembly_bounded_per_message)
{
	gk_sk_keys k = keys(0);
	frag_set f;
	frag_set_make(&f, &k);
	gk_frag_pool pool = { .max = 1u << 20 };
	gk_frag_reasm r;
	memset(&r, 0, sizeof(r));
	r.max_bytes = 2 * f.cost;
	r.pool = &pool;
	gk_wbuf plain;
	gk_wbuf_init(&plain, 0);
	bool done;
	uint8_t first;
	ck_assert_int_eq(gk_frag_add(&r, &f.m[0], &k, &done, &plain, &first), GK_OK);
	ck_assert_int_eq(gk_frag_add(&r, &f.m[1], &k, &done, &plain, &first), GK_OK);
	ck_assert_uint_eq(r.bytes, 2 * f.cost);
	ck_assert_uint_eq(pool.used, 2 * f.cost);
	ck_assert_uint_eq(r.sets, 1);
	ck_assert_int_eq(gk_frag_add(&r, &f.m[2], &k, &done, &plain, &first), GK_E_TOO_BIG);
	ck_assert(!done);
	ck_assert(!r.active);
	ck_assert_uint_eq(r.bytes, 0);
	ck_assert_uint_eq(pool.used, 0);
	/* the bounds stay for the next set */
	ck_assert_uint_eq(r.max_bytes, 2 * f.cost);
	ck_assert_ptr_eq(r.pool, &pool);
	ck_assert_int_eq(gk_frag_add(&r, &f.m[3], &k, &done, &plain, &first), GK_OK);
	ck_assert_uint_eq(r.sets, 2);
	ck_assert_uint_eq(pool.used, r.bytes);
	gk_frag_reset(&r);
	ck_assert_uint_eq(pool.used, 0);
	ck_assert_uint_eq(plain.len, 0);
	gk_wbuf_free(&plain);
	frag_set_free(&f);
}
END_TEST

/* Reassemblies sharing a pool hold at most pool.max together. A fragment beyond it makes room
 * by dropping the oldest set of another account (or of none): whoever holds the pool cannot
 * lock out the fragments of others. A set of its own account is not dropped for it (the
 * account's bound is for that): the fragment is dropped alone. */
START_TEST(reassembly_bounded_by_pool)
{
	gk_sk_keys k = keys(1);
	frag_set f;
	frag_set_make(&f, &k);
	gk_frag_pool pool = { .max = f.cost + f.cost / 2 };
	gk_frag_account x = { 0 };
	gk_frag_reasm a, b, c;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	a.pool = b.pool = c.pool = &pool;
	a.acct = b.acct = &x;
	gk_wbuf plain;
	gk_wbuf_init(&plain, 0);
	bool done;
	uint8_t first;
	ck_assert_int_eq(gk_frag_add(&a, &f.m[0], &k, &done, &plain, &first), GK_OK);
	ck_assert_uint_eq(pool.used, f.cost);
	ck_assert_uint_eq(x.used, f.cost);
	/* the same account: nothing to drop for it */
	ck_assert_int_eq(gk_frag_add(&b, &f.m[0], &k, &done, &plain, &first), GK_E_NOMEM);
	ck_assert_uint_eq(b.bytes, 0);
	ck_assert(!b.got[0]);
	ck_assert(!b.active);
	ck_assert_int_eq(gk_frag_add(&a, &f.m[1], &k, &done, &plain, &first), GK_E_NOMEM);
	ck_assert(a.got[0] && !a.got[1]);
	ck_assert_uint_eq(pool.used, f.cost);
	ck_assert_uint_eq(pool.evicted, 0);
	/* another account (here none): a's set goes */
	ck_assert_int_eq(gk_frag_add(&c, &f.m[0], &k, &done, &plain, &first), GK_OK);
	ck_assert_uint_eq(pool.evicted, 1);
	ck_assert(!a.active);
	ck_assert_uint_eq(a.bytes, 0);
	ck_assert_uint_eq(x.used, 0);
	ck_assert_uint_eq(pool.used, f.cost);
	ck_assert_ptr_eq(pool.oldest, &c);
	ck_assert_ptr_eq(pool.newest, &c);
	/* a completed message returns everything */
	pool.max = 1u << 20;
	for (size_t i = 1; i < f.d.n; i++)
		ck_assert_int_eq(gk_frag_add(&c, &f.m[i], &k, &done, &plain, &first), GK_OK);
	ck_assert(done);
	ck_assert_uint_eq(pool.used, 0);
	ck_assert_uint_eq(c.bytes, 0);
	ck_assert_ptr_null(pool.oldest);
	gk_frag_reset(&a);
	gk_frag_reset(&b);
	gk_frag_reset(&c);
	gk_wbuf_free(&plain);
	frag_set_free(&f);
}
END_TEST

/* An account (one source) holds at most its max: beyond it, the oldest other set of the same
 * account makes room; with none left, the fragment is dropped alone. Moving a reassembly to
 * another account moves what it holds. */
START_TEST(reassembly_bounded_per_account)
{
	gk_sk_keys k = keys(0);
	frag_set f;
	frag_set_make(&f, &k);
	gk_frag_pool pool = { .max = 1u << 20 };
	gk_frag_account x = { .max = f.cost + f.cost / 2 }, y = { 0 };
	gk_frag_reasm a, b, c;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	a.pool = b.pool = c.pool = &pool;
	a.acct = b.acct = &x;
	c.acct = &y;
	gk_wbuf plain;
	gk_wbuf_init(&plain, 0);
	bool done;
	uint8_t first;
	ck_assert_int_eq(gk_frag_add(&c, &f.m[0], &k, &done, &plain, &first), GK_OK);
	ck_assert_int_eq(gk_frag_add(&a, &f.m[0], &k, &done, &plain, &first), GK_OK);
	ck_assert_int_eq(gk_frag_add(&b, &f.m[0], &k, &done, &plain, &first), GK_OK);
	/* a went for b, c (another account, older) stayed */
	ck_assert_uint_eq(pool.evicted, 1);
	ck_assert(!a.active);
	ck_assert(c.active);
	ck_assert_uint_eq(x.used, f.cost);
	ck_assert_uint_eq(y.used, f.cost);
	ck_assert_uint_eq(pool.used, 2 * f.cost);
	ck_assert_int_eq(gk_frag_add(&b, &f.m[1], &k, &done, &plain, &first), GK_E_NOMEM);
	ck_assert(b.got[0] && !b.got[1]);
	ck_assert_uint_eq(x.used, f.cost);
	gk_frag_set_account(&b, NULL);
	ck_assert_uint_eq(x.used, 0);
	ck_assert_uint_eq(pool.used, 2 * f.cost);
	gk_frag_reset(&b);
	gk_frag_reset(&c);
	ck_assert_uint_eq(pool.used, 0);
	ck_assert_uint_eq(y.used, 0);
	gk_wbuf_free(&plain);
	frag_set_free(&f);
}
END_TEST

/* Gives sa the one key these tests open with: SK_er. */
static void set_er(gk_ike_sa *sa, const uint8_t *key, size_t len)
{
	gk_ike_keys k = { .e_len = len };
	memcpy(k.sk_er, key, len);
	ck_assert_int_eq(gk_ike_sa_keys_set(sa, &k), GK_OK);
}

/* A sender that starts its message over with another Fragment Total (RFC 7383 2.6) gets a new
 * set, but not a new clock: the set is dropped frag_timeout_ms after the first one began, so
 * starting over now and then cannot keep fragments parked for ever. */
START_TEST(ike_sa_restart_keeps_age)
{
	gk_ike_sa sa;
	memset(&sa, 0, sizeof(sa));
	sa.initiator = true;
	sa.suite.encr = GK_ENCR_AES_GCM_16;
	sa.suite.encr_key_bits = 256;
	set_er(&sa, key_gcm, sizeof(key_gcm));
	sa.frag_timeout_ms = 1000;
	gk_sk_keys k = gk_ike_sa_sk(&sa, false);
	frag_set f, g;
	frag_set_make(&f, &k);
	frag_set_make_at(&g, &k, 250);
	ck_assert_uint_ne(f.d.n, g.d.n);
	bool complete = true;
	ck_assert_int_eq(gk_ike_sa_open_at(&sa, &f.m[0], 5000, &complete), GK_OK);
	ck_assert_int_eq(gk_ike_sa_open_at(&sa, &g.m[0], 5900, &complete), GK_OK);
	ck_assert(!complete);
	ck_assert_uint_eq(sa.reasm->have, 1);
	ck_assert_uint_eq(sa.reasm->total, g.d.n);
	ck_assert_uint_eq(sa.reasm->sets, 1);
	gk_ike_sa_frag_expire(&sa, 5999);
	ck_assert(sa.reasm->active);
	gk_ike_sa_frag_expire(&sa, 6000);
	ck_assert(!sa.reasm->active);
	ck_assert_uint_eq(sa.reasm->have, 0);
	/* after that, a fragment begins a set of its own age */
	ck_assert_int_eq(gk_ike_sa_open_at(&sa, &f.m[1], 6100, &complete), GK_OK);
	ck_assert_uint_eq(sa.reasm->sets, 2);
	gk_ike_sa_frag_expire(&sa, 7099);
	ck_assert(sa.reasm->active);
	gk_ike_sa_free(&sa);
	frag_set_free(&f);
	frag_set_free(&g);
}
END_TEST

/* The reassembly state lives only while a set is under way: an established SA that once took
 * a fragmented message (a certificate in GSA_AUTH) does not keep its 1.4 KB for life. */
START_TEST(ike_sa_reasm_freed_when_whole)
{
	gk_ike_sa sa;
	memset(&sa, 0, sizeof(sa));
	sa.initiator = true;
	sa.suite.encr = GK_ENCR_AES_GCM_16;
	sa.suite.encr_key_bits = 256;
	set_er(&sa, key_gcm, sizeof(key_gcm));
	gk_sk_keys k = gk_ike_sa_sk(&sa, false);
	frag_set f;
	frag_set_make(&f, &k);
	ck_assert_uint_gt(f.d.n, 1);
	bool complete = false;
	for (size_t i = 0; i < f.d.n; i++) {
		ck_assert_int_eq(gk_ike_sa_open_at(&sa, &f.m[i], 5000, &complete), GK_OK);
		ck_assert(complete == (i + 1 == f.d.n));
		if (!complete)
			ck_assert_ptr_nonnull(sa.reasm);
	}
	ck_assert_ptr_null(sa.reasm);
	ck_assert(f.m[f.d.n - 1].decrypted);
	gk_ike_sa_free(&sa);
	frag_set_free(&f);
}
END_TEST

/* An IKE SA drops an incomplete set frag_timeout_ms after its first fragment; 0 = never. */
START_TEST(ike_sa_fragments_expire)
{
	gk_ike_sa sa;
	memset(&sa, 0, sizeof(sa));
	sa.initiator = true; /* opens what the responder protected (SK_er) */
	sa.suite.encr = GK_ENCR_AES_GCM_16;
	sa.suite.encr_key_bits = 256;
	set_er(&sa, key_gcm, sizeof(key_gcm));
	sa.frag_timeout_ms = _i ? 1000 : 0;
	gk_sk_keys k = gk_ike_sa_sk(&sa, false);
	frag_set f;
	frag_set_make(&f, &k);
	bool complete = true;
	ck_assert_int_eq(gk_ike_sa_open_at(&sa, &f.m[0], 5000, &complete), GK_OK);
	ck_assert(!complete);
	ck_assert_int_eq(gk_ike_sa_open_at(&sa, &f.m[1], 5900, &complete), GK_OK);
	gk_ike_sa_frag_expire(&sa, 5999);
	ck_assert(sa.reasm->active);
	gk_ike_sa_frag_expire(&sa, 6000);
	ck_assert(sa.reasm->active == !_i);
	ck_assert_uint_eq(sa.reasm->have, _i ? 0 : 2);
	gk_ike_sa_free(&sa);
	frag_set_free(&f);
}
END_TEST

/* One SKF fragment num of total (RFC 7383 2.5) of Message ID msg_id, made by hand: the
 * builder never makes a set of more than GK_FRAG_MAX. */
static void one_fragment(const gk_sk_keys *k, uint32_t msg_id, uint16_t num, uint16_t total, gk_msg *m)
{
	gk_wbuf w;
	gk_rand_test rt;
	gk_rand_test_init(&rt, 4);
	gk_hdr h = { .spi_i = 1, .spi_r = 2, .next_payload = GK_PL_SKF, .exchange = GK_EXCH_GSA_AUTH,
		     .flags = GK_FLAG_R, .msg_id = msg_id };
	static const uint8_t part[40] = { 0 };
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	gk_hdr_build(&h, &w);
	size_t sk_off = w.len;
	gk_wbuf_u8(&w, num == 1 ? GK_PL_NOTIFY : GK_PL_NONE);
	gk_wbuf_u8(&w, 0);
	gk_wbuf_u16(&w, 0);
	gk_wbuf_u16(&w, num);
	gk_wbuf_u16(&w, total);
	ck_assert_int_eq(gk_sk_seal(k, &rt.r, &w, sk_off, GK_CHUNK(part, sizeof(part))), GK_OK);
	ck_assert_int_eq(gk_msg_parse(m, gk_wbuf_chunk(&w)), GK_OK); /* m keeps a copy */
	gk_wbuf_free(&w);
}

/* GK_FRAG_MAX fragments are taken; a set announcing one more is refused before anything of it
 * is kept (its parts would not fit the reassembly's arrays). */
START_TEST(fragment_total_limit)
{
	gk_sk_keys k = keys(0);
	gk_frag_reasm r;
	memset(&r, 0, sizeof(r));
	gk_wbuf plain;
	gk_wbuf_init(&plain, 0);
	bool done = true;
	uint8_t first;
	gk_msg m;
	one_fragment(&k, 7, GK_FRAG_MAX, GK_FRAG_MAX, &m);
	ck_assert_int_eq(gk_frag_add(&r, &m, &k, &done, &plain, &first), GK_OK);
	ck_assert(!done);
	ck_assert_uint_eq(r.have, 1);
	ck_assert_uint_eq(r.total, GK_FRAG_MAX);
	gk_msg_free(&m);
	gk_frag_reset(&r);
	one_fragment(&k, 8, 1, GK_FRAG_MAX + 1, &m);
	ck_assert_int_eq(gk_frag_add(&r, &m, &k, &done, &plain, &first), GK_E_MALFORMED);
	ck_assert(!done);
	ck_assert(!r.active);
	ck_assert_uint_eq(r.have, 0);
	ck_assert_uint_eq(r.bytes, 0);
	gk_msg_free(&m);
	gk_frag_reset(&r);
	gk_wbuf_free(&plain);
}
END_TEST

/* Fragments of two Message IDs interleaved: a fragment of another message starts a new set
 * (the old one is dropped), and the new message reassembles exactly, with nothing of the old. */
START_TEST(fragments_interleaved_message_ids)
{
	gk_sk_keys k = keys(0);
	gk_rand_test rt;
	gk_rand_test_init(&rt, 5);
	gk_msg_out o;
	gk_out_pl pl[2];
	sample_out(&o, pl);
	gk_dgrams one, two;
	ck_assert_int_eq(gk_msg_build_dgrams(&o, &k, &rt.r, true, 200, &one), GK_OK);
	o.hdr.msg_id = 2;
	ck_assert_int_eq(gk_msg_build_dgrams(&o, &k, &rt.r, true, 200, &two), GK_OK);
	ck_assert_uint_ge(two.n, 3);
	gk_frag_reasm r;
	memset(&r, 0, sizeof(r));
	gk_wbuf plain;
	gk_wbuf_init(&plain, 0);
	bool done = false;
	uint8_t first = 0;
	gk_msg m;
	ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(&one.d[0])), GK_OK);
	ck_assert_int_eq(gk_frag_add(&r, &m, &k, &done, &plain, &first), GK_OK);
	gk_msg_free(&m);
	ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(&one.d[1])), GK_OK);
	ck_assert_int_eq(gk_frag_add(&r, &m, &k, &done, &plain, &first), GK_OK);
	gk_msg_free(&m);
	ck_assert_uint_eq(r.have, 2);
	/* message 2's first fragment: message 1's two parts are gone */
	ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(&two.d[0])), GK_OK);
	ck_assert_int_eq(gk_frag_add(&r, &m, &k, &done, &plain, &first), GK_OK);
	gk_msg_free(&m);
	ck_assert_uint_eq(r.msg_id, 2);
	ck_assert_uint_eq(r.have, 1);
	ck_assert_uint_eq(r.total, two.n);
	for (size_t i = 1; i < two.n; i++) {
		ck_assert_int_eq(gk_msg_parse(&m, gk_wbuf_chunk(&two.d[i])), GK_OK);
		ck_assert_int_eq(gk_frag_add(&r, &m, &k, &done, &plain, &first), GK_OK);
		ck_assert(done == (i == two.n - 1));
		gk_msg_free(&m);
	}
	gk_wbuf chain;
	gk_wbuf_init(&chain, 0);
	ck_assert_int_eq(gk_chain_build(pl, 2, GK_PL_NONE, &chain), GK_OK);
	ck_assert_uint_eq(plain.len, chain.len);
	ck_assert_mem_eq(plain.data, chain.data, chain.len);
	gk_wbuf_free(&chain);
	gk_wbuf_free(&plain);
	gk_frag_reset(&r);
	gk_dgrams_free(&one);
	gk_dgrams_free(&two);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("frag");
	TCase *tc = tcase_create("frag");
	tcase_add_loop_test(tc, fragments_roundtrip, 0, 2);
	tcase_add_test(tc, forged_fragment_is_refused);
	tcase_add_test(tc, reassembly_bounded_per_message);
	tcase_add_test(tc, reassembly_bounded_by_pool);
	tcase_add_test(tc, reassembly_bounded_per_account);
	tcase_add_test(tc, ike_sa_restart_keeps_age);
	tcase_add_test(tc, ike_sa_reasm_freed_when_whole);
	tcase_add_loop_test(tc, ike_sa_fragments_expire, 0, 2);
	tcase_add_test(tc, fragment_total_limit);
	tcase_add_test(tc, fragments_interleaved_message_ids);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
