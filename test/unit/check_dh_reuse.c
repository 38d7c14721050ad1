/* Reuse of the GCKS's IKE_SA_INIT key-exchange private value (RFC 7296 2.12; gcksd
 * --dh-reuse, gcks_dh_cache.c) on the fake network: with dh_reuse 3 the 4th response carries a
 * new public value; the value goes after dh_reuse_s seconds of the test clock, also without a
 * request (gk_gcks_continue wipes it); dh_reuse 0 never reuses; two IKE SAs under one value
 * still have different keys (fresh nonces: SKEYSEED, RFC 7296 2.14). */
#include <string.h>
#include <check.h>
#include "testutil.h"
#include "iana.h"
#include "message.h"
#include "ikekeys.h"
#include "regfix.h"
#include "gcks/gcks_state.h"
#include "gcks/gcks_sa_table.h"
#include "gcks/gcks_dh_cache.h"

#define M 6

static char names[M][32];
static gk_gm_config cfgs[M];
static fn_member *mem[M];

static void setup(void)
{
	rf_setup("check_dh_reuse", "gkdhr");
	gk_group_policy g;
	pol_init(&g, G1);
	for (size_t i = 0; i < M; i++) {
		snprintf(names[i], sizeof(names[i]), "fqdn:m%zu.example", i);
		pol_member(&g, names[i], GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	}
	pol_put(&g);
}

static void teardown(void)
{
	rf_teardown();
}

/* Member i registers; its IKE_SA_INIT response's KE value is copied to pub. */
static void reg(size_t i, uint8_t *pub, size_t *len, uint64_t *spi_r)
{
	cfgs[i] = gm_psk(names[i], G1);
	mem[i] = join(&cfgs[i]);
	fn_flush(&net);
	registered(mem[i], 0);
	*len = 0;
	const fn_trace *t;
	for (size_t k = 0; (t = fn_trace_find(&net, FN_FROM_GCKS, mem[i]->idx, GK_EXCH_IKE_SA_INIT, 1, k)); k++) {
		gk_msg m;
		ck_assert_int_eq(gk_msg_parse(&m, GK_CHUNK(t->data, t->len)), GK_OK);
		const gk_payload *ke = gk_msg_find(&m, GK_PL_KE);
		if (ke) {
			ck_assert_uint_le(ke->body->ke.data.len, 512);
			memcpy(pub, ke->body->ke.data.ptr, ke->body->ke.data.len);
			*len = ke->body->ke.data.len;
			*spi_r = t->spi_r;
		}
		gk_msg_free(&m);
	}
	ck_assert_uint_gt(*len, 0);
}

static uint8_t pub[M][512];
static size_t plen[M];
static uint64_t spi[M];

static bool same(size_t a, size_t b)
{
	return plen[a] == plen[b] && !memcmp(pub[a], pub[b], plen[a]);
}

START_TEST(fourth_gets_a_new_value)
{
	gcfg.dh_reuse = 3;
	start_gcks();
	for (size_t i = 0; i < 5; i++)
		reg(i, pub[i], &plen[i], &spi[i]);
	ck_assert(same(0, 1) && same(1, 2));
	ck_assert(!same(2, 3));
	ck_assert(same(3, 4));
	ck_assert_uint_eq(stats().ke_pairs_made, 2);
	ck_assert_uint_eq(gcks_dh_cache_held(net.gcks), 1);
}
END_TEST

START_TEST(time_bound)
{
	gcfg.dh_reuse = 100;
	gcfg.dh_reuse_s = 10;
	start_gcks();
	reg(0, pub[0], &plen[0], &spi[0]);
	fn_advance(&net, 9999);
	reg(1, pub[1], &plen[1], &spi[1]);
	ck_assert(same(0, 1));
	fn_advance(&net, 1);
	reg(2, pub[2], &plen[2], &spi[2]);
	ck_assert(!same(1, 2));
	ck_assert_uint_eq(stats().ke_pairs_made, 2);
	/* nobody comes: the value is wiped on the loop turn after its time, not kept for the next */
	fn_advance(&net, 9999);
	gk_gcks_continue(net.gcks);
	ck_assert_uint_eq(gcks_dh_cache_held(net.gcks), 1);
	fn_advance(&net, 1);
	gk_gcks_continue(net.gcks);
	ck_assert_uint_eq(gcks_dh_cache_held(net.gcks), 0);
	reg(3, pub[3], &plen[3], &spi[3]);
	ck_assert(!same(2, 3));
	ck_assert_uint_eq(stats().ke_pairs_made, 3);
}
END_TEST

START_TEST(off_never_reuses)
{
	ck_assert_uint_eq(gcfg.dh_reuse, 0);
	start_gcks();
	for (size_t i = 0; i < 4; i++)
		reg(i, pub[i], &plen[i], &spi[i]);
	for (size_t a = 0; a < 4; a++)
		for (size_t b = a + 1; b < 4; b++)
			ck_assert(!same(a, b));
	ck_assert_uint_eq(stats().ke_pairs_made, 4);
	ck_assert_uint_eq(gcks_dh_cache_held(net.gcks), 0);
}
END_TEST

START_TEST(shared_value_different_keys)
{
	gcfg.dh_reuse = 64;
	start_gcks();
	reg(0, pub[0], &plen[0], &spi[0]);
	reg(1, pub[1], &plen[1], &spi[1]);
	ck_assert(same(0, 1));
	const gcks_sa *a = gcks_sa_find(net.gcks, spi[0]), *b = gcks_sa_find(net.gcks, spi[1]);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	gk_chunk da = gk_ike_sa_sk_d(&a->ike), db = gk_ike_sa_sk_d(&b->ike);
	ck_assert_uint_eq(da.len, db.len);
	ck_assert_uint_gt(da.len, 0);
	ck_assert(memcmp(da.ptr, db.ptr, da.len) != 0);
	ck_assert_uint_eq(stats().ke_pairs_made, 1);
	/* our nonces differ, and they alone make SKEYSEED = prf(Ni | Nr, g^ir) differ: the same
	 * shared secret and SPIs with the two responses' nonces give different keys */
	gk_chunk nr[2];
	gk_msg m[2];
	for (size_t i = 0; i < 2; i++) {
		const fn_trace *t = fn_trace_find(&net, FN_FROM_GCKS, mem[i]->idx, GK_EXCH_IKE_SA_INIT, 1, 0);
		ck_assert_ptr_nonnull(t);
		ck_assert_int_eq(gk_msg_parse(&m[i], GK_CHUNK(t->data, t->len)), GK_OK);
		nr[i] = gk_msg_find(&m[i], GK_PL_NONCE)->body->bytes.data;
	}
	ck_assert(nr[0].len != nr[1].len || memcmp(nr[0].ptr, nr[1].ptr, nr[0].len));
	static const uint8_t ni[32] = { 1 }, shared[32] = { 2 };
	gk_ike_keys k[2];
	for (size_t i = 0; i < 2; i++)
		ck_assert_int_eq(gk_ike_keys_derive(&k[i], &a->ike.suite, GK_CHUNK(ni, sizeof(ni)), nr[i],
						    GK_CHUNK(shared, sizeof(shared)), 1, 2), GK_OK);
	ck_assert(memcmp(k[0].sk_d, k[1].sk_d, k[0].d_len) != 0);
	gk_ike_keys_wipe(&k[0]);
	gk_ike_keys_wipe(&k[1]);
	gk_msg_free(&m[0]);
	gk_msg_free(&m[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dh_reuse");
	TCase *tc = tcase_create("reuse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fourth_gets_a_new_value);
	tcase_add_test(tc, time_bound);
	tcase_add_test(tc, off_never_reuses);
	tcase_add_test(tc, shared_value_different_keys);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
