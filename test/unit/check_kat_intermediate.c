/* Known answers for IKE_INTERMEDIATE (RFC 9242) and multiple key exchanges (RFC 9370), from
 * kat_gen.py (kat_vectors.h): two key updates in a row after each IKE SA key schedule of
 * kat_keys[] (HMAC-SHA2-256/512/384, AES-CMAC, AES-XCBC PRFs), and the IntAuth chain over two
 * IKE_INTERMEDIATE exchanges with the octets the AUTH payloads gain, through gk_ike_sa as GSA_AUTH
 * computes them; and the key exchange method table (ke.h). */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "kat_vectors.h"
#include "ike_sa.h"
#include "ikekeys.h"
#include "intermediate.h"
#include "ke.h"
#include "proposal.h"

#define NKEYS (sizeof(kat_keys) / sizeof(kat_keys[0]))

static void expect(const char *what, int v, const uint8_t *got, size_t len, const char *hex)
{
	gk_chunk want = tu_hexc(hex);
	ck_assert_msg(len == want.len, "vector %d %s: %zu octets, expected %zu", v, what, len, want.len);
	ck_assert_msg(memcmp(got, want.ptr, len) == 0, "vector %d %s: got %s", v, what, tu_tohex(got, len));
}

static void initial_keys(int i, gk_ike_keys *k)
{
	const struct kat_keys *v = &kat_keys[i];
	gk_ike_suite s = { .encr = v->encr, .encr_key_bits = v->key_bits, .prf = v->prf, .integ = v->integ,
			   .kwa = v->kwa };
	ck_assert_int_eq(gk_ike_keys_derive(k, &s, tu_hexc(KAT_NI), tu_hexc(KAT_NR), tu_hexc(KAT_GIR), KAT_SPI_I,
					    KAT_SPI_R), GK_OK);
}

static void expect_all(int v, const gk_ike_keys *k, const struct kat_addke *w)
{
	expect("SK_d", v, k->sk_d, k->d_len, w->sk_d);
	expect("SK_ai", v, k->sk_ai, k->a_len, w->sk_ai);
	expect("SK_ar", v, k->sk_ar, k->a_len, w->sk_ar);
	expect("SK_ei", v, k->sk_ei, k->e_len, w->sk_ei);
	expect("SK_er", v, k->sk_er, k->e_len, w->sk_er);
	expect("SK_pi", v, k->sk_pi, k->p_len, w->sk_pi);
	expect("SK_pr", v, k->sk_pr, k->p_len, w->sk_pr);
	expect("GSK_w", v, k->gsk_w, k->w_len, w->gsk_w);
}

/* SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr), then all seven keys and GSK_w anew */
START_TEST(addke_update_known_answers)
{
	gk_ike_keys k;
	initial_keys(_i, &k);
	ck_assert_int_eq(gk_addke_update_keys(&k, tu_hexc(KAT_SK1), tu_hexc(KAT_NI), tu_hexc(KAT_NR), KAT_SPI_I,
					      KAT_SPI_R), GK_OK);
	expect_all(_i, &k, &kat_addke[_i][0]);
	ck_assert_int_eq(gk_addke_update_keys(&k, tu_hexc(KAT_SK2), tu_hexc(KAT_NI), tu_hexc(KAT_NR), KAT_SPI_I,
					      KAT_SPI_R), GK_OK);
	expect_all(_i, &k, &kat_addke[_i][1]);
	/* no shared secret: refused, keys kept */
	gk_ike_keys before = k;
	ck_assert_int_eq(gk_addke_update_keys(&k, GK_CHUNK_EMPTY, tu_hexc(KAT_NI), tu_hexc(KAT_NR), KAT_SPI_I,
					      KAT_SPI_R), GK_E_INVAL);
	ck_assert_int_eq(memcmp(&k, &before, sizeof(k)), 0);
	gk_ike_keys_wipe(&k);
	tu_free_all();
}
END_TEST

/* A KE payload as kat_gen.py's ke_payload() lays it out: generic header, group, reserved, value. */
static gk_chunk ke_plain(uint16_t group, uint8_t first, size_t len, uint8_t *buf)
{
	buf[0] = 0;
	buf[1] = 0;
	buf[2] = (uint8_t)((8 + len) >> 8);
	buf[3] = (uint8_t)(8 + len);
	buf[4] = (uint8_t)(group >> 8);
	buf[5] = (uint8_t)group;
	buf[6] = buf[7] = 0;
	for (size_t i = 0; i < len; i++)
		buf[8 + i] = (uint8_t)(first + i);
	return GK_CHUNK(buf, 8 + len);
}

static void add(gk_ike_int *ii, const gk_ike_keys *k, bool of_i, uint32_t mid, gk_chunk plain)
{
	gk_hdr h = { .spi_i = KAT_SPI_I, .spi_r = KAT_SPI_R, .exchange = GK_EXCH_IKE_INTERMEDIATE,
		     .flags = of_i ? GK_FLAG_I : GK_FLAG_R, .msg_id = mid, .next_payload = GK_PL_SKF, .length = 9 };
	gk_wbuf w;
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	ck_assert_int_eq(gk_intauth_data(&h, GK_PL_KE, plain, &w), GK_OK);
	ck_assert_int_eq(gk_intauth_add(ii, k, of_i, gk_wbuf_chunk(&w)), GK_OK);
	gk_wbuf_free(&w);
}

/* IntAuth_i1/r1 under the IKE_SA_INIT keys, IntAuth_i2/r2 chained under the updated ones, and the
 * AUTH octets of both sides end in IntAuth_i | IntAuth_r | IKE_AUTH_MID (RFC 9242 3.3.2). */
START_TEST(intauth_known_answers)
{
	gk_ike_keys k0, k1;
	gk_ike_int *ii = calloc(1, sizeof(*ii));
	uint8_t b[4][8 + 132];
	ck_assert_ptr_nonnull(ii);
	initial_keys(0, &k0);
	k1 = k0;
	ck_assert_int_eq(gk_addke_update_keys(&k1, tu_hexc(KAT_SK1), tu_hexc(KAT_NI), tu_hexc(KAT_NR), KAT_SPI_I,
					      KAT_SPI_R), GK_OK);
	add(ii, &k0, true, 1, ke_plain(GK_KE_ECP_384, 0, 96, b[0]));
	add(ii, &k0, false, 1, ke_plain(GK_KE_ECP_384, 100, 96, b[1]));
	expect("IntAuth_i1", 0, ii->int_i, ii->int_i_len, KAT_INTAUTH_I1);
	expect("IntAuth_r1", 0, ii->int_r, ii->int_r_len, KAT_INTAUTH_R1);
	add(ii, &k1, true, 2, ke_plain(GK_KE_ECP_521, 0, 132, b[2]));
	add(ii, &k1, false, 2, ke_plain(GK_KE_ECP_521, 50, 132, b[3]));
	ii->done = 2;
	gk_wbuf w;
	gk_auth_octets o = { 0 };
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	ck_assert_int_eq(gk_intauth_octets(ii, 3, &o), GK_OK);
	ck_assert_uint_eq(o.n, 3);
	ck_assert_int_eq(gk_auth_octets_flat(&o, &w), GK_OK);
	expect("IntAuth octets", 0, w.data, w.len, KAT_INTAUTH_OCTETS);
	/* through gk_ike_sa: both sides' signed octets end with them; without IKE_INTERMEDIATE they
	 * are the RFC 7296 2.15 octets alone */
	gk_ike_sa sa = { .suite = k1.suite };
	ck_assert_int_eq(gk_ike_sa_keys_set(&sa, &k1), GK_OK);
	ck_assert_int_eq(gk_ike_sa_set_nonces(&sa, tu_hexc(KAT_NI), tu_hexc(KAT_NR)), GK_OK);
	ck_assert_int_eq(gk_ike_sa_keep_init(&sa, tu_hexc(KAT_INIT_REQ), tu_hexc(KAT_INIT_RESP)), GK_OK);
	for (int of_i = 0; of_i < 2; of_i++) {
		gk_wbuf plain_oct, int_oct;
		gk_wbuf_init(&plain_oct, GK_MAX_MESSAGE);
		gk_wbuf_init(&int_oct, GK_MAX_MESSAGE);
		ck_assert_int_eq(gk_ike_sa_auth_octets(&sa, of_i, tu_hexc(KAT_IDI_BODY), &plain_oct), GK_OK);
		sa.intermediate = ii;
		ck_assert_int_eq(gk_ike_sa_auth_octets(&sa, of_i, tu_hexc(KAT_IDI_BODY), &int_oct), GK_OK);
		sa.intermediate = NULL;
		ck_assert_uint_eq(int_oct.len, plain_oct.len + w.len);
		ck_assert_int_eq(memcmp(int_oct.data, plain_oct.data, plain_oct.len), 0);
		ck_assert_int_eq(memcmp(int_oct.data + plain_oct.len, w.data, w.len), 0);
		gk_wbuf_free(&plain_oct);
		gk_wbuf_free(&int_oct);
	}
	gk_wbuf_free(&w);
	gk_ike_sa_free(&sa);
	gk_ike_int_free(ii);
	gk_ike_keys_wipe(&k0);
	gk_ike_keys_wipe(&k1);
	tu_free_all();
}
END_TEST

/* An exchange whose IntAuth is incomplete (one side missing) adds nothing it could sign. */
START_TEST(intauth_incomplete_refused)
{
	gk_ike_keys k;
	gk_ike_int ii = { .done = 1 };
	uint8_t b[8 + 96];
	gk_auth_octets o = { 0 };
	initial_keys(0, &k);
	add(&ii, &k, true, 1, ke_plain(GK_KE_ECP_384, 0, 96, b));
	ck_assert_int_eq(gk_intauth_octets(&ii, 2, &o), GK_E_STATE);
	ii.done = 0; /* none took place: nothing to add */
	ck_assert_int_eq(gk_intauth_octets(&ii, 1, &o), GK_OK);
	ck_assert_uint_eq(o.n, 0);
	tu_free_all();
}
END_TEST

/* Every DH entry agrees with itself across the three steps; wrong lengths are GK_E_BAD_KE. */
START_TEST(ke_table_round_trip)
{
	const gk_ke_method *m = gk_ke_at(_i);
	gk_ke_state *st = NULL;
	gk_wbuf ki, kr, s1, s2;
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_eq(gk_ke_by_id(m->id), m);
	ck_assert_ptr_eq(gk_ke_by_name(m->name), m);
	gk_wbuf_init(&ki, 1024);
	gk_wbuf_init(&kr, 1024);
	gk_wbuf_init(&s1, 1024);
	gk_wbuf_init(&s2, 1024);
	ck_assert_int_eq(gk_ke_start(m, &st, &ki), GK_OK);
	ck_assert_uint_eq(ki.len, m->init_len);
	ck_assert_int_eq(gk_ke_respond(m, GK_CHUNK(ki.data, ki.len - 1), &kr, &s2), GK_E_BAD_KE);
	ck_assert_uint_eq(s2.len, 0);
	ck_assert_int_eq(gk_ke_respond(m, gk_wbuf_chunk(&ki), &kr, &s2), GK_OK);
	ck_assert_uint_eq(kr.len, m->resp_len);
	ck_assert_int_eq(gk_ke_finish(st, GK_CHUNK(kr.data, kr.len - 1), &s1), GK_E_BAD_KE);
	ck_assert_int_eq(gk_ke_finish(st, gk_wbuf_chunk(&kr), &s1), GK_OK);
	ck_assert_uint_gt(s1.len, 0);
	ck_assert_uint_eq(s1.len, s2.len);
	ck_assert_int_eq(memcmp(s1.data, s2.data, s1.len), 0);
	gk_ke_state_free(st);
	gk_wbuf_free(&ki);
	gk_wbuf_free(&kr);
	gk_wbuf_free(&s1);
	gk_wbuf_free(&s2);
}
END_TEST

START_TEST(ke_list_parsing)
{
	uint16_t l[GK_ADDKE_MAX];
	size_t n;
	char err[256];
	ck_assert_int_eq(gk_ke_parse_list("p384,x25519", l, GK_ADDKE_MAX, &n, err, sizeof(err)), GK_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(l[0], GK_KE_ECP_384);
	ck_assert_uint_eq(l[1], GK_KE_CURVE25519);
	ck_assert_int_eq(gk_ke_parse_list("p384,mlkem768", l, GK_ADDKE_MAX, &n, err, sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "unknown key exchange method 'mlkem768' (x25519, x448, p256, p384, p521, modp2048, "
			      "modp3072, modp4096)");
	ck_assert_int_eq(gk_ke_parse_list("p384,", l, GK_ADDKE_MAX, &n, err, sizeof(err)), GK_E_INVAL);
	ck_assert_int_eq(gk_ke_parse_list("", l, GK_ADDKE_MAX, &n, err, sizeof(err)), GK_E_INVAL);
	ck_assert_int_eq(gk_ke_parse_list("p256,p256,p256,p256,p256,p256,p256,p256", l, GK_ADDKE_MAX, &n, err,
					  sizeof(err)), GK_E_INVAL);
	ck_assert_str_eq(err, "at most 7 additional key exchanges (RFC 9370 2.2.1)");
	ck_assert_int_eq(gk_ke_parse_list("p256,p256,p256,p256,p256,p256,p256", l, GK_ADDKE_MAX, &n, err,
					  sizeof(err)), GK_OK);
	ck_assert_uint_eq(n, 7);
}
END_TEST

/* RFC 9370 2.2.1 in proposals: ADDKE transforms go out with the offer and come back with the
 * choice; a required one (no NONE) missing from the peer's proposal or answer fails it; IKE SA
 * rekey proposals carry none (RFC 9370 2.2.4 would need IKE_FOLLOWUP_KE). */
START_TEST(addke_proposals)
{
	gk_ike_offer mine, gcks, plain;
	gk_pl_sa sa, ans;
	gk_ike_suite s;
	uint8_t num;
	gk_arena a;
	const uint16_t p384 = GK_KE_ECP_384, two[2] = { GK_KE_ECP_384, GK_KE_CURVE448 };
	gk_arena_init(&a, 0);
	gk_ike_offer_default(&mine);
	gk_ike_offer_default(&plain);
	gk_ike_offer_default(&gcks);
	gk_ike_offer_require_addke(&mine, two, 2);
	ck_assert(gk_ike_offer_has_addke(&mine));
	ck_assert(!gk_ike_offer_has_addke(&plain));
	/* the GCKS takes any, NONE included (gcksd without --addke) */
	for (size_t i = 0; i < GK_ADDKE_MAX; i++) {
		gcks.addke[i][0] = GK_KE_ECP_384;
		gcks.addke[i][1] = GK_KE_CURVE448;
		gcks.addke[i][2] = GK_KE_NONE;
		gcks.naddke[i] = 3;
	}
	ck_assert_int_eq(gk_ike_offer_to_sa(&mine, &a, &sa), GK_OK);
	ck_assert_int_eq(gk_ike_select(&sa, &gcks, &s, &num), GK_OK);
	ck_assert_uint_eq(s.addke[0], GK_KE_ECP_384);
	ck_assert_uint_eq(s.addke[1], GK_KE_CURVE448);
	ck_assert_uint_eq(s.addke[2], GK_KE_NONE);
	ck_assert_uint_eq(s.addke_present, 3);
	ck_assert_int_eq(gk_ike_suite_to_sa(&s, num, &a, &ans), GK_OK);
	gk_ike_suite back;
	ck_assert_int_eq(gk_ike_suite_from_sa(&ans, &mine, &back), GK_OK);
	ck_assert_uint_eq(back.addke[1], GK_KE_CURVE448);
	/* an answer that leaves out ADDKE2 we require: not what we offered */
	gk_ike_suite less = s;
	less.addke[1] = GK_KE_NONE;
	less.addke_present = 1;
	ck_assert_int_eq(gk_ike_suite_to_sa(&less, num, &a, &ans), GK_OK);
	ck_assert_int_eq(gk_ike_suite_from_sa(&ans, &mine, &back), GK_E_MALFORMED);
	/* a proposal without ADDKE against a GCKS that requires ADDKE1 = P-384 (gcksd --addke p384) */
	gk_ike_offer req = plain;
	gk_ike_offer_require_addke(&req, &p384, 1);
	ck_assert_int_eq(gk_ike_offer_to_sa(&plain, &a, &sa), GK_OK);
	ck_assert_int_eq(gk_ike_select(&sa, &req, &s, &num), GK_E_NOT_FOUND);
	ck_assert_int_eq(gk_ike_select(&sa, &gcks, &s, &num), GK_OK); /* optional: taken */
	/* an offered ADDKE the responder does not take fails the proposal (RFC 7296 3.3.6) */
	ck_assert_int_eq(gk_ike_offer_to_sa(&mine, &a, &sa), GK_OK);
	ck_assert_int_eq(gk_ike_select(&sa, &plain, &s, &num), GK_E_NOT_FOUND);
	/* a rekey proposal carries no ADDKE */
	ck_assert_int_eq(gk_sa_set_ike_spi(&sa, &a, 0x1122334455667788ull), GK_OK);
	for (size_t i = 0; i < sa.proposals.n; i++)
		for (size_t j = 0; j < sa.proposals.items[i].transforms.n; j++)
			ck_assert(!GK_TT_IS_ADDKE(sa.proposals.items[i].transforms.items[j].type));
	gk_arena_free(&a);
}
END_TEST

int main(void)
{
	size_t nke = 0;
	while (gk_ke_at(nke))
		nke++;
	Suite *s = suite_create("kat_intermediate");
	TCase *tc = tcase_create("kat_intermediate");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, addke_update_known_answers, 0, (int)NKEYS);
	tcase_add_test(tc, intauth_known_answers);
	tcase_add_test(tc, intauth_incomplete_refused);
	tcase_add_loop_test(tc, ke_table_round_trip, 0, (int)nke);
	tcase_add_test(tc, ke_list_parsing);
	tcase_add_test(tc, addke_proposals);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
