/* IKE fragmentation (RFC 7383): building SKF fragments and reassembling them. */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "samples.h"
#include "frag.h"

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

int main(void)
{
	Suite *s = suite_create("frag");
	TCase *tc = tcase_create("frag");
	tcase_add_loop_test(tc, fragments_roundtrip, 0, 2);
	tcase_add_test(tc, forged_fragment_is_refused);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
