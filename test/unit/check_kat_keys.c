/* Known answers for key derivation and PSK authentication, the parts gcksd and gmd share and
 * so could get wrong together: the RFC 7296 2.14 key schedule (SKEYSEED, prf+, SK_d .. SK_pr)
 * under HMAC-SHA2-256/384/512, AES-CMAC-PRF-128 and AES-XCBC-PRF-128, GSK_w (RFC 9838 3.1.1),
 * the group SA KEYMAT split (RFC 9838 3.4) and PSK AUTH (RFC 7296 2.15) in both directions
 * through gk_ike_sa. The values come from kat_gen.py (Python hmac/hashlib and cryptography's
 * AES, CMAC), see kat_vectors.h, the PPK key update of RFC 8784 3 for every schedule, and for SKEYSEED and prf+ also from NIST's CAVP; the KEYMAT
 * split is worked out by hand below. */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "kat_vectors.h"
#include "auth.h"
#include "ike_sa.h"
#include "ikekeys.h"
#include "ppk.h"
#include "prf.h"

#define NKEYS (sizeof(kat_keys) / sizeof(kat_keys[0]))

static void expect(const char *what, int v, const uint8_t *got, size_t len, const char *hex)
{
	gk_chunk want = tu_hexc(hex);
	ck_assert_msg(len == want.len, "vector %d %s: %zu octets, expected %zu", v, what, len, want.len);
	ck_assert_msg(memcmp(got, want.ptr, len) == 0, "vector %d %s: got %s", v, what,
		      tu_tohex(got, len));
}

static gk_ike_suite suite_of(const struct kat_keys *v)
{
	return (gk_ike_suite){ .encr = v->encr, .encr_key_bits = v->key_bits, .prf = v->prf,
			       .integ = v->integ, .kwa = v->kwa };
}

/* SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr in this order and these lengths from
 * prf+(prf(Ni | Nr, g^ir), Ni | Nr | SPIi | SPIr), then GSK_w = prf+(SK_d, "Key Wrap for
 * G-IKEv2") for the suite's KWA. */
START_TEST(key_schedule_known_answers)
{
	const struct kat_keys *v = &kat_keys[_i];
	gk_ike_suite s = suite_of(v);
	gk_ike_keys k;
	ck_assert_int_eq(gk_ike_keys_derive(&k, &s, tu_hexc(KAT_NI), tu_hexc(KAT_NR), tu_hexc(KAT_GIR),
					    KAT_SPI_I, KAT_SPI_R), GK_OK);
	expect("SK_d", _i, k.sk_d, k.d_len, v->sk_d);
	expect("SK_ai", _i, k.sk_ai, k.a_len, v->sk_ai);
	expect("SK_ar", _i, k.sk_ar, k.a_len, v->sk_ar);
	expect("SK_ei", _i, k.sk_ei, k.e_len, v->sk_ei);
	expect("SK_er", _i, k.sk_er, k.e_len, v->sk_er);
	expect("SK_pi", _i, k.sk_pi, k.p_len, v->sk_pi);
	expect("SK_pr", _i, k.sk_pr, k.p_len, v->sk_pr);
	expect("GSK_w", _i, k.gsk_w, k.w_len, v->gsk_w);
	gk_ike_keys_wipe(&k);
	tu_free_all();
}
END_TEST

/* RFC 8784 3: SK_d' = prf+(PPK, SK_d), SK_pi' = prf+(PPK, SK_pi), SK_pr' = prf+(PPK, SK_pr) with
 * the lengths of the originals, GSK_w again from SK_d'; SK_a and SK_e stay as they were. */
START_TEST(ppk_update_known_answers)
{
	const struct kat_keys *v = &kat_keys[_i];
	const struct kat_ppk *p = &kat_ppk[_i];
	gk_ike_suite s = suite_of(v);
	gk_ike_keys k;
	ck_assert_int_eq(gk_ike_keys_derive(&k, &s, tu_hexc(KAT_NI), tu_hexc(KAT_NR), tu_hexc(KAT_GIR),
					    KAT_SPI_I, KAT_SPI_R), GK_OK);
	ck_assert_int_eq(gk_ppk_update_keys(&k, GK_CHUNK(KAT_PPK, strlen(KAT_PPK))), GK_OK);
	expect("SK_d'", _i, k.sk_d, k.d_len, p->sk_d);
	expect("SK_pi'", _i, k.sk_pi, k.p_len, p->sk_pi);
	expect("SK_pr'", _i, k.sk_pr, k.p_len, p->sk_pr);
	expect("GSK_w'", _i, k.gsk_w, k.w_len, p->gsk_w);
	expect("SK_ai", _i, k.sk_ai, k.a_len, v->sk_ai);
	expect("SK_ar", _i, k.sk_ar, k.a_len, v->sk_ar);
	expect("SK_ei", _i, k.sk_ei, k.e_len, v->sk_ei);
	expect("SK_er", _i, k.sk_er, k.e_len, v->sk_er);
	/* no PPK: nothing changes */
	ck_assert_int_eq(gk_ppk_update_keys(&k, GK_CHUNK_EMPTY), GK_E_INVAL);
	expect("SK_d' kept", _i, k.sk_d, k.d_len, p->sk_d);
	gk_ike_keys_wipe(&k);
	tu_free_all();
}
END_TEST

/* PPK_IDENTITY notify data (RFC 8784 5.1): PPK_ID_FIXED and the ID; other types, an empty ID and
 * IDs over GK_PPK_ID_MAX are refused. */
START_TEST(ppk_identity_data)
{
	gk_wbuf w;
	gk_chunk id;
	uint8_t big[GK_PPK_ID_MAX + 2];
	gk_wbuf_init(&w, 1024);
	ck_assert_int_eq(gk_ppk_identity_build(GK_CHUNK("ppk-1", 5), &w), GK_OK);
	ck_assert_uint_eq(w.len, 6);
	ck_assert_int_eq(memcmp(w.data, "\x02ppk-1", 6), 0);
	ck_assert_int_eq(gk_ppk_identity_parse(gk_wbuf_chunk(&w), &id), GK_OK);
	ck_assert(gk_chunk_eq(id, GK_CHUNK("ppk-1", 5)));
	ck_assert_int_eq(gk_ppk_identity_parse(GK_CHUNK("\x01ppk-1", 6), &id), GK_E_INVAL);
	ck_assert_int_eq(gk_ppk_identity_parse(GK_CHUNK("\x02", 1), &id), GK_E_INVAL);
	ck_assert_int_eq(gk_ppk_identity_parse(GK_CHUNK_EMPTY, &id), GK_E_INVAL);
	memset(big, 'a', sizeof(big));
	big[0] = GK_PPK_ID_FIXED;
	ck_assert_int_eq(gk_ppk_identity_parse(GK_CHUNK(big, GK_PPK_ID_MAX + 1), &id), GK_OK);
	ck_assert_int_eq(gk_ppk_identity_parse(GK_CHUNK(big, GK_PPK_ID_MAX + 2), &id), GK_E_INVAL);
	ck_assert_int_eq(gk_ppk_identity_build(GK_CHUNK(big, GK_PPK_ID_MAX + 1), &w), GK_E_INVAL);
	ck_assert_int_eq(gk_ppk_identity_build(GK_CHUNK_EMPTY, &w), GK_E_INVAL);
	gk_wbuf_free(&w);
	tu_free_all();
}
END_TEST

/* SKEYSEED and prf+ (RFC 7296 2.13, 2.14) against an outside source: the HMAC-SHA-256
 * IKEv2 KDF sample of NIST's CAVP (SP 800-135), as quoted in NSS's PKCS#11 IKE tests
 * (ike_sha256_vectors.h, vectors 6 "ikeGxy" and 8 "ikePlus"). Its 8-octet nonces are below
 * the 16 that gk_ike_keys_derive accepts (RFC 7296 2.10), so the two steps run on gk_prf and
 * gk_prf_plus directly; DKM is the 132-octet prf+ output. */
START_TEST(nist_cavp_ikev2_kdf_sha256)
{
	gk_chunk ni = tu_hexc("3f302be1abcb28e1"), nr = tu_hexc("8c332ee006064c9b");
	gk_chunk gir = tu_hexc("0f4d257d7a58fc4545c7d7a88119eee5d5c9690c5b4c989171d3abbfd99d1d29");
	uint8_t key[16], skeyseed[32], dkm[132];
	memcpy(key, ni.ptr, 8);
	memcpy(key + 8, nr.ptr, 8);
	ck_assert_int_eq(gk_prf(GK_PRF_HMAC_SHA2_256, GK_CHUNK(key, 16), &gir, 1, skeyseed), GK_OK);
	expect("SKEYSEED", 6, skeyseed, 32,
	       "5f00d1bd2c58ec224b1e6b71fa0f19a1faa7a193952c444411b47c1a9d8ba6fe");
	const gk_chunk seed[] = { ni, nr, tu_hexc("40dac39e1e1a8640"), tu_hexc("8619a1cf9a6e4c07") };
	ck_assert_int_eq(gk_prf_plus(GK_PRF_HMAC_SHA2_256, GK_CHUNK(skeyseed, 32), seed, 4, dkm,
				     sizeof(dkm)), GK_OK);
	expect("DKM", 8, dkm, sizeof(dkm),
	       "0b137d669b0947d7d026d593f0305ad401ff0c471357d695778a9c7f4b4869ec"
	       "e98aca531188d16041b3bb936d2dbb3b4993a6e768a809160de45d0283f273a6"
	       "cdf6854379e31be72b8d3d1fa990cf9c5b015ca9f918a7df6253c958114a09d4"
	       "e1c19bdcd4db14b29d98db1a74ad405c588662c14a04d0d36aa4ab55e90f8986"
	       "d12d4aad");
	tu_free_all();
}
END_TEST

/* RFC 9838 3.4: a Rekey SA's KEYMAT is GSK_e | GSK_a | GSK_w; ESP takes the encryption key
 * (with its salt) from the leftmost octets and the integrity key from the rest (RFC 7296 2.17).
 * KEYMAT here is 00 01 02 ..., so each key is the run of octet values computed below. */
START_TEST(group_keymat_split_by_hand)
{
	uint8_t km[128];
	for (size_t i = 0; i < sizeof(km); i++)
		km[i] = (uint8_t)i;
	gk_group_keys g;

	/* Rekey SA, AES-CBC-256 + HMAC-SHA2-256-128 + KW_5649_128:
	 * GSK_e = 32 octets 00..1f, GSK_a = 32 octets 20..3f, GSK_w = 16 octets 40..4f. */
	ck_assert_uint_eq(gk_group_keymat_len(GK_PROTO_GIKE_UPDATE, GK_ENCR_AES_CBC, 256,
					      GK_INTEG_HMAC_SHA2_256_128, GK_KWA_KW_5649_128), 80);
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(km, 80), GK_PROTO_GIKE_UPDATE, GK_ENCR_AES_CBC,
					     256, GK_INTEG_HMAC_SHA2_256_128, GK_KWA_KW_5649_128, &g),
			 GK_OK);
	ck_assert_ptr_eq(g.enc.ptr, km + 0x00);
	ck_assert_uint_eq(g.enc.len, 32);
	ck_assert_ptr_eq(g.integ.ptr, km + 0x20);
	ck_assert_uint_eq(g.integ.len, 32);
	ck_assert_ptr_eq(g.wrap.ptr, km + 0x40);
	ck_assert_uint_eq(g.wrap.len, 16);

	/* Rekey SA, AES-GCM-16 with a 128-bit key + KW_5649_256: GSK_e = key 00..0f and salt
	 * 10..13 (20 octets), no GSK_a (AEAD), GSK_w = 32 octets 14..33. */
	ck_assert_uint_eq(gk_group_keymat_len(GK_PROTO_GIKE_UPDATE, GK_ENCR_AES_GCM_16, 128,
					      GK_INTEG_NONE, GK_KWA_KW_5649_256), 52);
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(km, 52), GK_PROTO_GIKE_UPDATE, GK_ENCR_AES_GCM_16,
					     128, GK_INTEG_NONE, GK_KWA_KW_5649_256, &g), GK_OK);
	ck_assert_ptr_eq(g.enc.ptr, km);
	ck_assert_uint_eq(g.enc.len, 20);
	ck_assert_uint_eq(g.integ.len, 0);
	ck_assert_ptr_eq(g.wrap.ptr, km + 0x14);
	ck_assert_uint_eq(g.wrap.len, 32);

	/* ESP, AES-CTR-192 + HMAC-SHA2-512-256: encryption key 00..17 + nonce 18..1b (28
	 * octets, RFC 3686 5.1), integrity key 64 octets 1c..5b; no wrap key. */
	ck_assert_uint_eq(gk_group_keymat_len(GK_PROTO_ESP, GK_ENCR_AES_CTR, 192,
					      GK_INTEG_HMAC_SHA2_512_256, 0), 92);
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(km, 92), GK_PROTO_ESP, GK_ENCR_AES_CTR, 192,
					     GK_INTEG_HMAC_SHA2_512_256, 0, &g), GK_OK);
	ck_assert_ptr_eq(g.enc.ptr, km);
	ck_assert_uint_eq(g.enc.len, 28);
	ck_assert_ptr_eq(g.integ.ptr, km + 0x1c);
	ck_assert_uint_eq(g.integ.len, 64);
	ck_assert_uint_eq(g.wrap.len, 0);

	/* ESP, ChaCha20-Poly1305: key 00..1f + salt 20..23 (RFC 7634 2), nothing else. */
	ck_assert_uint_eq(gk_group_keymat_len(GK_PROTO_ESP, GK_ENCR_CHACHA20_POLY1305, 0,
					      GK_INTEG_NONE, 0), 36);
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(km, 36), GK_PROTO_ESP, GK_ENCR_CHACHA20_POLY1305,
					     0, GK_INTEG_NONE, 0, &g), GK_OK);
	ck_assert_ptr_eq(g.enc.ptr, km);
	ck_assert_uint_eq(g.enc.len, 36);
	ck_assert_uint_eq(g.integ.len + g.wrap.len, 0);

	/* AH, HMAC-SHA2-384-192: the integrity key is the whole 48 octets. */
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(km, 48), GK_PROTO_AH, 0, 0,
					     GK_INTEG_HMAC_SHA2_384_192, 0, &g), GK_OK);
	ck_assert_uint_eq(g.enc.len, 0);
	ck_assert_ptr_eq(g.integ.ptr, km);
	ck_assert_uint_eq(g.integ.len, 48);
}
END_TEST

/* An IKE SA as the member (initiator) and the GCKS (responder) hold it after IKE_SA_INIT
 * of the HMAC-SHA2-256 vector (kat_keys[0]). */
static void kat_sa(gk_ike_sa *sa, bool initiator)
{
	memset(sa, 0, sizeof(*sa));
	sa->spi_i = KAT_SPI_I;
	sa->spi_r = KAT_SPI_R;
	sa->initiator = initiator;
	sa->suite = suite_of(&kat_keys[0]);
	ck_assert_int_eq(gk_ike_sa_set_nonces(sa, tu_hexc(KAT_NI), tu_hexc(KAT_NR)), GK_OK);
	ck_assert_int_eq(gk_ike_sa_keep_init(sa, tu_hexc(KAT_INIT_REQ), tu_hexc(KAT_INIT_RESP)), GK_OK);
	ck_assert_int_eq(gk_ike_sa_derive(sa, tu_hexc(KAT_GIR)), GK_OK);
}

/* AUTH of one side, as computed by the side that sends it (of_initiator == sender). */
static void auth_of(gk_ike_sa *sa, bool of_initiator, const char *id_body, uint8_t *out, size_t *len)
{
	gk_wbuf oct;
	gk_wbuf_init(&oct, 0);
	ck_assert_int_eq(gk_ike_sa_auth_octets(sa, of_initiator, tu_hexc(id_body), &oct), GK_OK);
	ck_assert_int_eq(gk_auth_psk_compute(sa->suite.prf, GK_CHUNK(KAT_PSK, strlen(KAT_PSK)),
					     gk_wbuf_chunk(&oct), out, len), GK_OK);
	gk_wbuf_free(&oct);
}

static gk_status verify_of(gk_ike_sa *sa, bool of_initiator, const char *id_body, gk_chunk auth)
{
	gk_wbuf oct;
	gk_wbuf_init(&oct, 0);
	ck_assert_int_eq(gk_ike_sa_auth_octets(sa, of_initiator, tu_hexc(id_body), &oct), GK_OK);
	gk_status st = gk_auth_psk_verify(sa->suite.prf, GK_CHUNK(KAT_PSK, strlen(KAT_PSK)),
					  gk_wbuf_chunk(&oct), auth);
	gk_wbuf_free(&oct);
	return st;
}

/* RFC 7296 2.15: the member's AUTH signs the IKE_SA_INIT request, Nr and prf(SK_pi, IDi');
 * the GCKS's signs the response, Ni and prf(SK_pr, IDr'). Each side computes its own AUTH to
 * the known value and accepts the other's known value; a value of the other direction or
 * with one octet changed is refused. */
START_TEST(psk_auth_both_directions)
{
	gk_ike_sa member, gcks;
	kat_sa(&member, true);
	kat_sa(&gcks, false);
	uint8_t a[64];
	size_t n = 0;

	auth_of(&member, true, KAT_IDI_BODY, a, &n);
	expect("AUTH of the initiator (member)", 0, a, n, KAT_AUTH_I);
	auth_of(&gcks, false, KAT_IDR_BODY, a, &n);
	expect("AUTH of the responder (GCKS)", 0, a, n, KAT_AUTH_R);

	gk_chunk ai = tu_hexc(KAT_AUTH_I), ar = tu_hexc(KAT_AUTH_R);
	ck_assert_int_eq(verify_of(&gcks, true, KAT_IDI_BODY, ai), GK_OK);
	ck_assert_int_eq(verify_of(&member, false, KAT_IDR_BODY, ar), GK_OK);
	ck_assert_int_eq(verify_of(&gcks, true, KAT_IDI_BODY, ar), GK_E_AUTH);
	ck_assert_int_eq(verify_of(&member, false, KAT_IDR_BODY, ai), GK_E_AUTH);
	for (size_t i = 0; i < ar.len; i += ar.len - 1) { /* the first and the last octet */
		uint8_t *p = (uint8_t *)ar.ptr;
		p[i] ^= 1;
		ck_assert_int_eq(verify_of(&member, false, KAT_IDR_BODY, ar), GK_E_AUTH);
		p[i] ^= 1;
	}
	gk_ike_sa_free(&member);
	gk_ike_sa_free(&gcks);
	tu_free_all();
}
END_TEST

/* The GCKS's way (gcks/gcks_auth.c): the signed octets as parts in place, one key pad for the
 * member's AUTH and its own, run twice from its keyed state. Same known values; a pad of
 * another PSK refuses the member's AUTH. */
START_TEST(psk_auth_parts_one_pad)
{
	gk_ike_sa gcks;
	kat_sa(&gcks, false);
	gk_auth_octets oi, or;
	gk_prf_keyed *pad = NULL, *other = NULL;
	uint8_t a[64];
	size_t n = 0;
	/* the pad on the context of the member's MACed ID, as the GCKS makes it */
	ck_assert_int_eq(gk_ike_sa_auth_parts(&gcks, true, tu_hexc(KAT_IDI_BODY), &pad, &oi), GK_OK);
	ck_assert_ptr_nonnull(pad);
	ck_assert_int_eq(gk_ike_sa_auth_parts(&gcks, false, tu_hexc(KAT_IDR_BODY), NULL, &or), GK_OK);
	ck_assert_uint_eq(oi.n, 3);
	ck_assert_int_eq(gk_auth_psk_key(gcks.suite.prf, GK_CHUNK(KAT_PSK, strlen(KAT_PSK)), &pad), GK_OK);
	ck_assert_int_eq(gk_auth_psk_check(pad, &oi, tu_hexc(KAT_AUTH_R)), GK_E_AUTH);
	ck_assert_int_eq(gk_auth_psk_check(pad, &oi, tu_hexc(KAT_AUTH_I)), GK_OK);
	ck_assert_int_eq(gk_auth_psk_mic(pad, &or, a, &n), GK_OK);
	expect("AUTH of the responder (GCKS), one pad", 0, a, n, KAT_AUTH_R);
	ck_assert_int_eq(gk_auth_psk_mic(pad, &oi, a, &n), GK_OK);
	expect("AUTH of the initiator (member), one pad", 0, a, n, KAT_AUTH_I);
	ck_assert_int_eq(gk_auth_psk_key(gcks.suite.prf, GK_CHUNK(KAT_PSK, strlen(KAT_PSK) - 1), &other), GK_OK);
	ck_assert_int_eq(gk_auth_psk_check(other, &oi, tu_hexc(KAT_AUTH_I)), GK_E_AUTH);
	gk_prf_keyed_free(pad);
	gk_prf_keyed_free(other);
	gk_auth_octets_wipe(&oi);
	gk_auth_octets_wipe(&or);
	gk_ike_sa_free(&gcks);
	tu_free_all();
}
END_TEST

/* The SK keys of each direction are the right halves of the schedule (RFC 7296 2.14): the
 * member (initiator) protects with SK_ei, the GCKS with SK_er, and each opens with the other. */
START_TEST(sk_keys_per_direction)
{
	gk_ike_sa member, gcks;
	kat_sa(&member, true);
	kat_sa(&gcks, false);
	gk_sk_keys m_out = gk_ike_sa_sk(&member, true), m_in = gk_ike_sa_sk(&member, false);
	gk_sk_keys g_out = gk_ike_sa_sk(&gcks, true), g_in = gk_ike_sa_sk(&gcks, false);
	expect("member outbound", 0, m_out.enc.ptr, m_out.enc.len, kat_keys[0].sk_ei);
	expect("member inbound", 0, m_in.enc.ptr, m_in.enc.len, kat_keys[0].sk_er);
	expect("GCKS outbound", 0, g_out.enc.ptr, g_out.enc.len, kat_keys[0].sk_er);
	expect("GCKS inbound", 0, g_in.enc.ptr, g_in.enc.len, kat_keys[0].sk_ei);
	ck_assert_uint_eq(m_out.encr, GK_ENCR_AES_GCM_16);
	ck_assert_uint_eq(m_out.encr_key_bits, 256);
	gk_ike_sa_free(&member);
	gk_ike_sa_free(&gcks);
	tu_free_all();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kat_keys");
	TCase *tc = tcase_create("kat_keys");
	tcase_add_loop_test(tc, key_schedule_known_answers, 0, (int)NKEYS);
	tcase_add_loop_test(tc, ppk_update_known_answers, 0, (int)NKEYS);
	tcase_add_test(tc, ppk_identity_data);
	tcase_add_test(tc, nist_cavp_ikev2_kdf_sha256);
	tcase_add_test(tc, group_keymat_split_by_hand);
	tcase_add_test(tc, psk_auth_both_directions);
	tcase_add_test(tc, psk_auth_parts_one_pad);
	tcase_add_test(tc, sk_keys_per_direction);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
