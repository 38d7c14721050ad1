/* Known answers for the symmetric constructions gcksd and gmd share, so that an error both
 * make alike cannot pass as a round trip: RFC 5649 key wrap under 128-, 192- and 256-bit KEKs
 * and the SK payload (RFC 7296 3.14) under AES-CTR (RFC 3686 counter blocks), AES-CBC,
 * AES-GCM (RFC 5282) and ChaCha20-Poly1305 (RFC 7634) with a fixed IV. The values are in
 * kat_vectors.h, each with its source; those not from an RFC were computed by kat_gen.py, a
 * second implementation checked against the RFC vectors. AES-CCM is not offered by sk.c (nor
 * for group SAs), so it has no vector. */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "kat_vectors.h"
#include "keywrap.h"
#include "sk.h"

#define NKW (sizeof(kat_kw) / sizeof(kat_kw[0]))
#define NSK (sizeof(kat_sk) / sizeof(kat_sk[0]))
#define SK_OFF 28   /* the SK header follows the IKE header */
#define SK_BODY 32  /* IKE header + SK header */

/* Each vector wraps to its value and unwraps back; as a Wrapped Key (RFC 9838 4.5.4) the
 * Encrypted Key is the same octets. A KWA that used another AES key size (such as KW_5649_256
 * wrapping with AES-128 under the first half of the KEK) gives other octets here. */
START_TEST(kw_known_answers)
{
	const struct kat_kw *v = &kat_kw[_i];
	gk_chunk kek = tu_hexc(v->kek), key = tu_hexc(v->key), wrapped = tu_hexc(v->wrapped);
	gk_wbuf w, u, wk;
	gk_wbuf_init(&w, 0);
	gk_wbuf_init(&u, 0);
	gk_wbuf_init(&wk, 0);
	ck_assert_msg(gk_kw_wrap(v->kwa, kek, key, &w) == GK_OK, "%s", v->src);
	ck_assert_msg(w.len == wrapped.len && memcmp(w.data, wrapped.ptr, w.len) == 0,
		      "%s: got %s", v->src, tu_tohex(w.data, w.len));
	ck_assert_int_eq(gk_kw_unwrap(v->kwa, kek, wrapped, &u), GK_OK);
	ck_assert_uint_eq(u.len, key.len);
	ck_assert_mem_eq(u.data, key.ptr, key.len);

	ck_assert_int_eq(gk_wrapped_key_build(v->kwa, kek, 0, 0, key, &wk), GK_OK);
	ck_assert_uint_eq(wk.len, 8 + wrapped.len);
	ck_assert_mem_eq(wk.data + 8, wrapped.ptr, wrapped.len);
	gk_wbuf_free(&w);
	gk_wbuf_free(&u);
	gk_wbuf_free(&wk);
	tu_free_all();
}
END_TEST

/* Every KEK size has vectors, so no KWA goes without a known answer. */
START_TEST(kw_every_kwa_has_a_vector)
{
	static const uint16_t kwas[] = { GK_KWA_KW_5649_128, GK_KWA_KW_5649_192, GK_KWA_KW_5649_256 };
	for (size_t k = 0; k < 3; k++) {
		size_t n = 0;
		for (size_t i = 0; i < NKW; i++)
			n += kat_kw[i].kwa == kwas[k];
		ck_assert_uint_ge(n, 2);
	}
}
END_TEST

/* A gk_rand that hands out one fixed IV: sealing becomes deterministic. */
typedef struct fixed_iv {
	gk_chunk iv;
	unsigned calls;
} fixed_iv;

static gk_status fixed_bytes(void *ctx, uint8_t *out, size_t n)
{
	fixed_iv *f = ctx;
	ck_assert_uint_eq(n, f->iv.len);
	memcpy(out, f->iv.ptr, n);
	f->calls++;
	return GK_OK;
}

static gk_sk_keys sk_keys(const struct kat_sk *v)
{
	return (gk_sk_keys){ .encr = v->encr, .encr_key_bits = v->key_bits, .integ = v->integ,
			     .enc = tu_hexc(v->enc), .integ_key = tu_hexc(v->integ_key) };
}

/* gk_sk_seal with the vector's IV gives the vector's message octet for octet: the IV, the
 * RFC 3686 counter block (nonce | IV | 1) or RFC 5282 / RFC 7634 nonce (salt | IV), the
 * zero padding, the lengths, and the ICV or AEAD tag over the right octets. */
START_TEST(sk_seal_known_answers)
{
	const struct kat_sk *v = &kat_sk[_i];
	gk_sk_keys k = sk_keys(v);
	fixed_iv f = { .iv = tu_hexc(v->iv) };
	gk_rand r = { .bytes = fixed_bytes, .ctx = &f };
	gk_chunk sealed = tu_hexc(v->sealed);
	gk_wbuf msg;
	gk_wbuf_init(&msg, 0);
	gk_chunk hdr = tu_hexc(KAT_SK_HDR);
	gk_wbuf_put(&msg, hdr.ptr, hdr.len);
	ck_assert_int_eq(gk_sk_seal(&k, &r, &msg, SK_OFF, tu_hexc(v->inner)), GK_OK);
	ck_assert_uint_eq(f.calls, 1);
	ck_assert_msg(msg.len == sealed.len && memcmp(msg.data, sealed.ptr, sealed.len) == 0,
		      "vector %d: got %s", _i, tu_tohex(msg.data, msg.len));
	if (v->rfc_ct) { /* the RFC 3686 ciphertext itself opens the SK body after the IV */
		gk_chunk ct = tu_hexc(v->rfc_ct);
		ck_assert_mem_eq(msg.data + SK_BODY + 8, ct.ptr, ct.len);
	}
	gk_wbuf_free(&msg);
	tu_free_all();
}
END_TEST

/* The vector's message opens to the inner payloads; any changed octet fails. */
START_TEST(sk_open_known_answers)
{
	const struct kat_sk *v = &kat_sk[_i];
	gk_sk_keys k = sk_keys(v);
	gk_chunk sealed = tu_hexc(v->sealed), inner = tu_hexc(v->inner);
	gk_wbuf out;
	gk_wbuf_init(&out, 0);
	ck_assert_int_eq(gk_sk_open(&k, sealed, SK_OFF, 4, &out), GK_OK);
	ck_assert_uint_eq(out.len, inner.len);
	ck_assert_mem_eq(out.data, inner.ptr, inner.len);
	uint8_t *t = (uint8_t *)sealed.ptr;
	t[sealed.len - 1] ^= 1; /* the last ICV octet */
	out.len = 0;
	ck_assert_int_eq(gk_sk_open(&k, sealed, SK_OFF, 4, &out), GK_E_INTEGRITY);
	t[sealed.len - 1] ^= 1;
	t[SK_BODY + 8] ^= 0x80; /* the first ciphertext octet (after the 8-octet IV, or into a CBC IV) */
	ck_assert_int_eq(gk_sk_open(&k, sealed, SK_OFF, 4, &out), GK_E_INTEGRITY);
	ck_assert_uint_eq(out.len, 0);
	gk_wbuf_free(&out);
	tu_free_all();
}
END_TEST

/* RFC 3686 4: the first counter block is nonce | IV | 00000001. The RFC's vector #1
 * ciphertext, written out here, is what counter 1 gives; a counter starting at 0 gives
 * other octets. */
START_TEST(ctr_counter_starts_at_one)
{
	const struct kat_sk *v = &kat_sk[0];
	ck_assert_uint_eq(v->encr, GK_ENCR_AES_CTR);
	ck_assert_ptr_nonnull(v->rfc_ct);
	gk_sk_keys k = sk_keys(v);
	fixed_iv f = { .iv = tu_hexc(v->iv) };
	gk_rand r = { .bytes = fixed_bytes, .ctx = &f };
	gk_wbuf msg;
	gk_wbuf_init(&msg, 0);
	gk_chunk hdr = tu_hexc(KAT_SK_HDR);
	gk_wbuf_put(&msg, hdr.ptr, hdr.len);
	/* RFC 3686 6, test vector #1: "Single block msg" under counter block
	 * 00000030 0000000000000000 00000001 */
	ck_assert_int_eq(gk_sk_seal(&k, &r, &msg, SK_OFF, GK_CHUNK("Single block msg", 16)), GK_OK);
	ck_assert_mem_hex(msg.data + SK_BODY + 8, 16, "e4095d4fb7a7b3792d6175a3261311b8");
	gk_wbuf_free(&msg);
	tu_free_all();
}
END_TEST

/* Every SK transform sk.c offers has a vector, both AES-CTR and AES-GCM at each key size
 * used here. */
START_TEST(sk_every_encr_has_a_vector)
{
	static const uint16_t encrs[] = { GK_ENCR_AES_CTR, GK_ENCR_AES_CBC, GK_ENCR_AES_GCM_8,
					  GK_ENCR_AES_GCM_12, GK_ENCR_AES_GCM_16,
					  GK_ENCR_CHACHA20_POLY1305 };
	for (size_t e = 0; e < sizeof(encrs) / sizeof(encrs[0]); e++) {
		bool found = false;
		for (size_t i = 0; i < NSK; i++)
			found = found || kat_sk[i].encr == encrs[e];
		ck_assert_msg(found, "no vector for ENCR %u", encrs[e]);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kat_sym");
	TCase *tc = tcase_create("kat_sym");
	tcase_add_loop_test(tc, kw_known_answers, 0, (int)NKW);
	tcase_add_test(tc, kw_every_kwa_has_a_vector);
	tcase_add_loop_test(tc, sk_seal_known_answers, 0, (int)NSK);
	tcase_add_loop_test(tc, sk_open_known_answers, 0, (int)NSK);
	tcase_add_test(tc, ctr_counter_starts_at_one);
	tcase_add_test(tc, sk_every_encr_has_a_vector);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
