/* Unit tests of IKE SA keying (RFC 7296 2.14), GSK_w (RFC 9838 3.1.1) and group SA keying
 * material (RFC 9838 3.4). The references are computed here straight from OpenSSL
 * (EVP_Q_mac), independently of prf.c. */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "testutil.h"
#include "algs.h"
#include "iana.h"
#include "ikekeys.h"
#include "prf.h"

/* mac = "HMAC" with a digest or "CMAC" with a cipher. */
static size_t ref_mac(const char *mac, const char *sub, const uint8_t *key, size_t klen,
		      const uint8_t *data, size_t dlen, uint8_t *out)
{
	size_t olen = 0;
	ck_assert_ptr_nonnull(EVP_Q_mac(NULL, mac, NULL, sub, NULL, key, klen, data, dlen, out,
					64, &olen));
	return olen;
}

/* Reference prf+ (RFC 7296 2.13) over one seed buffer. */
static void ref_prf_plus(const char *mac, const char *sub, const uint8_t *key, size_t klen,
			 const uint8_t *seed, size_t slen, uint8_t *out, size_t outlen)
{
	uint8_t *buf = malloc(64 + slen + 1), t[64];
	size_t tlen = 0, done = 0;
	ck_assert_ptr_nonnull(buf);
	for (unsigned n = 1; done < outlen; n++) {
		memcpy(buf, t, tlen);
		memcpy(buf + tlen, seed, slen);
		buf[tlen + slen] = (uint8_t)n;
		size_t h = ref_mac(mac, sub, key, klen, buf, tlen + slen + 1, t);
		tlen = h;
		size_t take = outlen - done < h ? outlen - done : h;
		memcpy(out + done, t, take);
		done += take;
	}
	free(buf);
}

static void fill(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i * 13);
}

static const uint64_t SPI_I = 0x0102030405060708ull, SPI_R = 0x1112131415161718ull;

/* Ni | Nr | SPIi | SPIr */
static size_t seed_of(const uint8_t *ni, size_t nil, const uint8_t *nr, size_t nrl, uint8_t *out)
{
	memcpy(out, ni, nil);
	memcpy(out + nil, nr, nrl);
	gk_put_u64(out + nil + nrl, SPI_I);
	gk_put_u64(out + nil + nrl + 8, SPI_R);
	return nil + nrl + 16;
}

static void check_slices(const gk_ike_keys *k, const uint8_t *stream)
{
	const uint8_t *s = stream;
	ck_assert_mem_eq(k->sk_d, s, k->d_len);
	s += k->d_len;
	ck_assert_mem_eq(k->sk_ai, s, k->a_len);
	s += k->a_len;
	ck_assert_mem_eq(k->sk_ar, s, k->a_len);
	s += k->a_len;
	ck_assert_mem_eq(k->sk_ei, s, k->e_len);
	s += k->e_len;
	ck_assert_mem_eq(k->sk_er, s, k->e_len);
	s += k->e_len;
	ck_assert_mem_eq(k->sk_pi, s, k->p_len);
	s += k->p_len;
	ck_assert_mem_eq(k->sk_pr, s, k->p_len);
}

/* HMAC-SHA-256 with AES-CBC-256 / HMAC-SHA2-256-128, computed independently. */
START_TEST(derive_matches_reference_hmac)
{
	uint8_t ni[32], nr[24], shared[256], seed[128], nk[64], skeyseed[64], stream[512];
	fill(ni, sizeof(ni), 1);
	fill(nr, sizeof(nr), 77);
	fill(shared, sizeof(shared), 200);
	gk_ike_suite s = { .encr = GK_ENCR_AES_CBC, .encr_key_bits = 256,
			   .prf = GK_PRF_HMAC_SHA2_256, .integ = GK_INTEG_HMAC_SHA2_256_128,
			   .ke = GK_KE_MODP_2048 };
	gk_ike_keys k;
	ck_assert_int_eq(gk_ike_keys_derive(&k, &s, GK_CHUNK(ni, sizeof(ni)), GK_CHUNK(nr, sizeof(nr)),
					    GK_CHUNK(shared, sizeof(shared)), SPI_I, SPI_R), GK_OK);
	ck_assert_uint_eq(k.d_len, 32);
	ck_assert_uint_eq(k.a_len, 32);
	ck_assert_uint_eq(k.e_len, 32);
	ck_assert_uint_eq(k.p_len, 32);
	ck_assert_uint_eq(k.w_len, 0);
	ck_assert_int_eq(k.suite.encr, GK_ENCR_AES_CBC);

	memcpy(nk, ni, sizeof(ni));
	memcpy(nk + sizeof(ni), nr, sizeof(nr));
	size_t sl = ref_mac("HMAC", "SHA256", nk, sizeof(ni) + sizeof(nr), shared, sizeof(shared),
			    skeyseed);
	size_t seedlen = seed_of(ni, sizeof(ni), nr, sizeof(nr), seed);
	ref_prf_plus("HMAC", "SHA256", skeyseed, sl, seed, seedlen, stream, 7 * 32);
	check_slices(&k, stream);
	gk_ike_keys_wipe(&k);
}
END_TEST

/* AES-CMAC-PRF-128: SKEYSEED is keyed with only the first 64 bits of each nonce (RFC 7296
 * 2.14), while prf+ takes the whole nonces. 8+8 octets is exactly the CMAC key size, so
 * OpenSSL's plain CMAC is the reference. */
START_TEST(derive_aes_prf_uses_64_bit_nonce_prefix)
{
	uint8_t ni[32], nr[32], shared[32], seed[128], nk[16], skeyseed[64], stream[512];
	fill(ni, sizeof(ni), 3);
	fill(nr, sizeof(nr), 9);
	fill(shared, sizeof(shared), 100);
	gk_ike_suite s = { .encr = GK_ENCR_AES_GCM_16, .encr_key_bits = 128,
			   .prf = GK_PRF_AES128_CMAC, .ke = GK_KE_CURVE25519 };
	gk_ike_keys k;
	ck_assert_int_eq(gk_ike_keys_derive(&k, &s, GK_CHUNK(ni, 32), GK_CHUNK(nr, 32),
					    GK_CHUNK(shared, 32), SPI_I, SPI_R), GK_OK);
	ck_assert_uint_eq(k.d_len, 16);
	ck_assert_uint_eq(k.a_len, 0);
	ck_assert_uint_eq(k.e_len, 20);

	memcpy(nk, ni, 8);
	memcpy(nk + 8, nr, 8);
	size_t sl = ref_mac("CMAC", "AES-128-CBC", nk, 16, shared, 32, skeyseed);
	ck_assert_uint_eq(sl, 16);
	size_t seedlen = seed_of(ni, 32, nr, 32, seed);
	ref_prf_plus("CMAC", "AES-128-CBC", skeyseed, 16, seed, seedlen, stream,
		     16 + 2 * 20 + 2 * 16);
	check_slices(&k, stream);

	/* Same rule for AES-XCBC-PRF-128 (reference built from the RFC-4434-checked gk_prf). */
	s.prf = GK_PRF_AES128_XCBC;
	ck_assert_int_eq(gk_ike_keys_derive(&k, &s, GK_CHUNK(ni, 32), GK_CHUNK(nr, 32),
					    GK_CHUNK(shared, 32), SPI_I, SPI_R), GK_OK);
	gk_chunk sh = GK_CHUNK(shared, 32), sd = GK_CHUNK(seed, seedlen);
	ck_assert_int_eq(gk_prf(GK_PRF_AES128_XCBC, GK_CHUNK(nk, 16), &sh, 1, skeyseed), GK_OK);
	ck_assert_int_eq(gk_prf_plus(GK_PRF_AES128_XCBC, GK_CHUNK(skeyseed, 16), &sd, 1, stream,
				     16 + 2 * 20 + 2 * 16), GK_OK);
	check_slices(&k, stream);
	gk_ike_keys_wipe(&k);
}
END_TEST

typedef struct len_case {
	gk_ike_suite s;
	size_t d, a, e, p, w;
} len_case;

static const len_case len_cases[] = {
	{ { GK_ENCR_AES_CBC, 128, GK_PRF_HMAC_SHA1, GK_INTEG_HMAC_SHA1_96, 14, 0, { 0 }, 0 }, 20, 20, 16, 20, 0 },
	{ { GK_ENCR_AES_CBC, 192, GK_PRF_HMAC_SHA2_384, GK_INTEG_HMAC_SHA2_384_192, 20,
	    GK_KWA_KW_5649_192, { 0 }, 0 }, 48, 48, 24, 48, 24 },
	{ { GK_ENCR_AES_CTR, 128, GK_PRF_AES128_XCBC, GK_INTEG_AES_XCBC_96, 19, 0, { 0 }, 0 }, 16, 16, 20, 16, 0 },
	{ { GK_ENCR_AES_CTR, 256, GK_PRF_AES128_CMAC, GK_INTEG_AES_CMAC_96, 19, 0, { 0 }, 0 }, 16, 16, 36, 16, 0 },
	{ { GK_ENCR_AES_GCM_16, 256, GK_PRF_HMAC_SHA2_384, 0, 20, GK_KWA_KW_5649_256, { 0 }, 0 }, 48, 0, 36, 48, 32 },
	{ { GK_ENCR_AES_GCM_8, 192, GK_PRF_HMAC_SHA2_256, 0, 19, GK_KWA_KW_5649_128, { 0 }, 0 }, 32, 0, 28, 32, 16 },
	{ { GK_ENCR_CHACHA20_POLY1305, 0, GK_PRF_HMAC_SHA2_512, 0, 31, GK_KWA_KW_5649_256, { 0 }, 0 }, 64, 0, 36, 64, 32 },
	{ { GK_ENCR_AES_CBC, 256, GK_PRF_HMAC_SHA2_512, GK_INTEG_HMAC_SHA2_512_256, 21, 0, { 0 }, 0 }, 64, 64, 32, 64, 0 },
};
#define NLEN ((int)(sizeof(len_cases) / sizeof(len_cases[0])))

START_TEST(derive_lengths)
{
	const len_case *c = &len_cases[_i];
	uint8_t ni[16], nr[256], shared[48];
	fill(ni, sizeof(ni), 5);
	fill(nr, sizeof(nr), 6);
	fill(shared, sizeof(shared), 7);
	gk_ike_keys k;
	ck_assert_int_eq(gk_ike_keys_derive(&k, &c->s, GK_CHUNK(ni, sizeof(ni)),
					    GK_CHUNK(nr, sizeof(nr)), GK_CHUNK(shared, sizeof(shared)),
					    SPI_I, SPI_R), GK_OK);
	ck_assert_uint_eq(k.d_len, c->d);
	ck_assert_uint_eq(k.a_len, c->a);
	ck_assert_uint_eq(k.e_len, c->e);
	ck_assert_uint_eq(k.p_len, c->p);
	ck_assert_uint_eq(k.w_len, c->w);
	/* Consecutive slices of one stream are distinct keys. */
	ck_assert_mem_ne(k.sk_ei, k.sk_er, k.e_len);
	ck_assert_mem_ne(k.sk_pi, k.sk_pr, k.p_len);
	if (k.a_len)
		ck_assert_mem_ne(k.sk_ai, k.sk_ar, k.a_len);
	/* Beyond the used lengths the arrays stay zero. */
	static const uint8_t zero[GK_MAX_KEY];
	ck_assert_mem_eq(k.gsk_w + k.w_len, zero, sizeof(k.gsk_w) - k.w_len);
	ck_assert_mem_eq(k.sk_ai + k.a_len, zero, GK_MAX_KEY - k.a_len);
	gk_ike_keys_wipe(&k);
}
END_TEST

/* The key arrays are sized to the longest key of each kind: every ENCR an IKE SA can use and
 * every KWA fit, at every key length. */
START_TEST(key_arrays_fit_every_transform)
{
	gk_ike_keys k;
	for (uint16_t id = 0; id < 1024; id++) {
		const gk_encr_info *e = gk_encr_lookup(id);
		for (uint16_t bits = 0; e && bits <= 256; bits += 64)
			ck_assert_uint_le(gk_encr_keymat_len(e, bits), sizeof(k.sk_ei));
		const gk_integ_info *i = gk_integ_lookup(id);
		if (i)
			ck_assert_uint_le(i->key_len, sizeof(k.sk_ai));
		const gk_prf_info *p = gk_prf_lookup(id);
		if (p)
			ck_assert_uint_le(p->key_len, sizeof(k.sk_d));
		ck_assert_uint_le(gk_kwa_key_len(id), sizeof(k.gsk_w));
	}
}
END_TEST

/* GSK_w = prf+(SK_d, "Key Wrap for G-IKEv2") (RFC 9838 3.1.1); with HMAC-SHA1 a 256-bit KWK
 * takes T1 | first 12 octets of T2. */
START_TEST(gsk_w_derivation)
{
	static const char label[] = "Key Wrap for G-IKEv2";
	uint8_t ni[20], nr[20], shared[64], w[64];
	fill(ni, sizeof(ni), 11);
	fill(nr, sizeof(nr), 12);
	fill(shared, sizeof(shared), 13);
	ck_assert_uint_eq(strlen(label), 20);

	gk_ike_suite s = { .encr = GK_ENCR_AES_CBC, .encr_key_bits = 128, .prf = GK_PRF_HMAC_SHA1,
			   .integ = GK_INTEG_HMAC_SHA1_96, .ke = 14, .kwa = GK_KWA_KW_5649_256 };
	gk_ike_keys k;
	ck_assert_int_eq(gk_ike_keys_derive(&k, &s, GK_CHUNK(ni, 20), GK_CHUNK(nr, 20),
					    GK_CHUNK(shared, 64), SPI_I, SPI_R), GK_OK);
	ck_assert_uint_eq(k.w_len, 32);
	ref_prf_plus("HMAC", "SHA1", k.sk_d, k.d_len, (const uint8_t *)label, 20, w, 32);
	ck_assert_mem_eq(k.gsk_w, w, 32);

	s.prf = GK_PRF_HMAC_SHA2_256;
	s.kwa = GK_KWA_KW_5649_128;
	ck_assert_int_eq(gk_ike_keys_derive(&k, &s, GK_CHUNK(ni, 20), GK_CHUNK(nr, 20),
					    GK_CHUNK(shared, 64), SPI_I, SPI_R), GK_OK);
	ck_assert_uint_eq(k.w_len, 16);
	ref_prf_plus("HMAC", "SHA256", k.sk_d, k.d_len, (const uint8_t *)label, 20, w, 16);
	ck_assert_mem_eq(k.gsk_w, w, 16);
	gk_ike_keys_wipe(&k);
}
END_TEST

typedef struct bad_case {
	gk_ike_suite s;
	gk_status want;
} bad_case;

static const bad_case bad_cases[] = {
	{ { GK_ENCR_AES_GCM_16, 128, GK_PRF_HMAC_SHA2_256, GK_INTEG_HMAC_SHA2_256_128, 19, 0, { 0 }, 0 }, GK_E_INVAL },
	{ { GK_ENCR_AES_CBC, 128, GK_PRF_HMAC_SHA2_256, 0, 19, 0, { 0 }, 0 }, GK_E_INVAL },
	{ { GK_ENCR_AES_CBC, 0, GK_PRF_HMAC_SHA2_256, GK_INTEG_HMAC_SHA2_256_128, 19, 0, { 0 }, 0 }, GK_E_INVAL },
	{ { GK_ENCR_AES_CBC, 160, GK_PRF_HMAC_SHA2_256, GK_INTEG_HMAC_SHA2_256_128, 19, 0, { 0 }, 0 }, GK_E_INVAL },
	{ { GK_ENCR_AES_GCM_16_IIV, 128, GK_PRF_HMAC_SHA2_256, 0, 19, 0, { 0 }, 0 }, GK_E_UNSUPPORTED },
	{ { GK_ENCR_CHACHA20_POLY1305_IIV, 0, GK_PRF_HMAC_SHA2_256, 0, 19, 0, { 0 }, 0 }, GK_E_UNSUPPORTED },
	{ { GK_ENCR_NULL_AUTH_AES_GMAC, 128, GK_PRF_HMAC_SHA2_256, 0, 19, 0, { 0 }, 0 }, GK_E_UNSUPPORTED },
	{ { GK_ENCR_3DES, 0, GK_PRF_HMAC_SHA2_256, GK_INTEG_HMAC_SHA1_96, 19, 0, { 0 }, 0 }, GK_E_UNSUPPORTED },
	{ { GK_ENCR_AES_CBC, 128, 1 /* MD5 */, GK_INTEG_HMAC_SHA1_96, 19, 0, { 0 }, 0 }, GK_E_UNSUPPORTED },
	{ { GK_ENCR_AES_CBC, 128, GK_PRF_HMAC_SHA1, 1 /* MD5_96 */, 19, 0, { 0 }, 0 }, GK_E_UNSUPPORTED },
	{ { GK_ENCR_AES_GCM_16, 128, GK_PRF_HMAC_SHA2_256, 0, 19, GK_KWA_KW_ARX, { 0 }, 0 }, GK_E_UNSUPPORTED },
};
#define NBAD ((int)(sizeof(bad_cases) / sizeof(bad_cases[0])))

START_TEST(derive_refuses_bad_suites)
{
	uint8_t n[32], shared[32];
	static const uint8_t zero[sizeof(gk_ike_keys)];
	fill(n, sizeof(n), 1);
	fill(shared, sizeof(shared), 2);
	gk_ike_keys k;
	memset(&k, 0xaa, sizeof(k));
	ck_assert_int_eq(gk_ike_keys_derive(&k, &bad_cases[_i].s, GK_CHUNK(n, 32), GK_CHUNK(n, 32),
					    GK_CHUNK(shared, 32), 1, 2), bad_cases[_i].want);
	ck_assert_mem_eq(&k, zero, sizeof(k)); /* nothing half-derived is left behind */
}
END_TEST

START_TEST(derive_refuses_bad_inputs)
{
	uint8_t n[300], shared[32];
	fill(n, sizeof(n), 1);
	fill(shared, sizeof(shared), 2);
	gk_ike_suite s = { .encr = GK_ENCR_AES_GCM_16, .encr_key_bits = 256,
			   .prf = GK_PRF_HMAC_SHA2_256, .ke = 19 };
	gk_ike_keys k;
	gk_chunk sh = GK_CHUNK(shared, 32);
	/* RFC 7296 2.10: nonces are 16..256 octets. */
	ck_assert_int_eq(gk_ike_keys_derive(&k, &s, GK_CHUNK(n, 15), GK_CHUNK(n, 16), sh, 1, 2), GK_E_INVAL);
	ck_assert_int_eq(gk_ike_keys_derive(&k, &s, GK_CHUNK(n, 16), GK_CHUNK(n, 257), sh, 1, 2), GK_E_INVAL);
	ck_assert_int_eq(gk_ike_keys_derive(&k, &s, GK_CHUNK(n, 16), GK_CHUNK(n, 256), sh, 1, 2), GK_OK);
	ck_assert_int_eq(gk_ike_keys_derive(&k, &s, GK_CHUNK(n, 16), GK_CHUNK(n, 16),
					    GK_CHUNK_EMPTY, 1, 2), GK_E_INVAL);
	ck_assert_int_eq(gk_ike_keys_derive(&k, NULL, GK_CHUNK(n, 16), GK_CHUNK(n, 16), sh, 1, 2), GK_E_INVAL);
	/* Different SPIs give different keys. */
	uint8_t d1[32];
	ck_assert_int_eq(gk_ike_keys_derive(&k, &s, GK_CHUNK(n, 16), GK_CHUNK(n, 16), sh, 1, 2), GK_OK);
	memcpy(d1, k.sk_d, 32);
	ck_assert_int_eq(gk_ike_keys_derive(&k, &s, GK_CHUNK(n, 16), GK_CHUNK(n, 16), sh, 1, 3), GK_OK);
	ck_assert_mem_ne(d1, k.sk_d, 32);
	gk_ike_keys_wipe(&k);
	static const uint8_t zero[sizeof(gk_ike_keys)];
	ck_assert_mem_eq(&k, zero, sizeof(k));
}
END_TEST

START_TEST(kwa_lengths)
{
	ck_assert_uint_eq(gk_kwa_key_len(GK_KWA_KW_5649_128), 16);
	ck_assert_uint_eq(gk_kwa_key_len(GK_KWA_KW_5649_192), 24);
	ck_assert_uint_eq(gk_kwa_key_len(GK_KWA_KW_5649_256), 32);
	ck_assert_uint_eq(gk_kwa_key_len(GK_KWA_KW_ARX), 0);
	ck_assert_uint_eq(gk_kwa_key_len(0), 0);
}
END_TEST

typedef struct group_case {
	uint8_t proto;
	uint16_t encr, bits, integ, kwa;
	size_t enc, integ_len, wrap; /* all zero: invalid */
} group_case;

static const group_case group_cases[] = {
	{ GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, 0, 0, 36, 0, 0 },
	{ GK_PROTO_ESP, GK_ENCR_AES_GCM_8, 128, 0, 0, 20, 0, 0 },
	{ GK_PROTO_ESP, GK_ENCR_CHACHA20_POLY1305, 0, 0, 0, 36, 0, 0 },
	{ GK_PROTO_ESP, GK_ENCR_AES_CBC, 128, GK_INTEG_HMAC_SHA2_256_128, 0, 16, 32, 0 },
	{ GK_PROTO_ESP, GK_ENCR_AES_CTR, 192, GK_INTEG_AES_XCBC_96, 0, 28, 16, 0 },
	{ GK_PROTO_ESP, GK_ENCR_NULL, 0, GK_INTEG_HMAC_SHA1_96, 0, 0, 20, 0 },
	{ GK_PROTO_ESP, GK_ENCR_NULL_AUTH_AES_GMAC, 256, 0, 0, 36, 0, 0 },
	{ GK_PROTO_ESP, GK_ENCR_AES_GCM_16_IIV, 128, 0, 0, 20, 0, 0 }, /* policy refuses it, not this */
	{ GK_PROTO_ESP, GK_ENCR_AES_CBC, 256, GK_INTEG_HMAC_SHA2_512_256, GK_KWA_KW_5649_256, 32, 64, 0 },
	{ GK_PROTO_AH, 0, 0, GK_INTEG_HMAC_SHA2_384_192, 0, 0, 48, 0 },
	{ GK_PROTO_GIKE_UPDATE, GK_ENCR_AES_GCM_16, 256, 0, GK_KWA_KW_5649_256, 36, 0, 32 },
	{ GK_PROTO_GIKE_UPDATE, GK_ENCR_AES_CBC, 256, GK_INTEG_HMAC_SHA2_512_256, GK_KWA_KW_5649_128,
	  32, 64, 16 },
	{ GK_PROTO_GIKE_UPDATE, GK_ENCR_CHACHA20_POLY1305, 0, 0, GK_KWA_KW_5649_192, 36, 0, 24 },
	/* invalid */
	{ GK_PROTO_ESP, GK_ENCR_AES_GCM_16, 256, GK_INTEG_HMAC_SHA1_96, 0, 0, 0, 0 },
	{ GK_PROTO_ESP, GK_ENCR_AES_CBC, 0, GK_INTEG_HMAC_SHA1_96, 0, 0, 0, 0 },
	{ GK_PROTO_ESP, GK_ENCR_NULL, 0, 0, 0, 0, 0, 0 },
	{ GK_PROTO_ESP, 0, 0, GK_INTEG_HMAC_SHA1_96, 0, 0, 0, 0 },
	{ GK_PROTO_AH, GK_ENCR_AES_CBC, 128, GK_INTEG_HMAC_SHA1_96, 0, 0, 0, 0 },
	{ GK_PROTO_AH, 0, 0, 0, 0, 0, 0, 0 },
	{ GK_PROTO_GIKE_UPDATE, GK_ENCR_AES_GCM_16, 256, 0, 0, 0, 0, 0 },
	{ GK_PROTO_GIKE_UPDATE, GK_ENCR_AES_GCM_16, 256, 0, GK_KWA_KW_ARX, 0, 0, 0 },
	{ GK_PROTO_GIKE_UPDATE, GK_ENCR_AES_CBC, 128, 0, GK_KWA_KW_5649_128, 0, 0, 0 },
	{ GK_PROTO_GIKE_UPDATE, GK_ENCR_AES_GCM_16_IIV, 128, 0, GK_KWA_KW_5649_128, 0, 0, 0 },
	{ GK_PROTO_IKE, GK_ENCR_AES_GCM_16, 256, 0, 0, 0, 0, 0 },
};
#define NGROUP ((int)(sizeof(group_cases) / sizeof(group_cases[0])))

START_TEST(group_keymat)
{
	const group_case *c = &group_cases[_i];
	size_t total = c->enc + c->integ_len + c->wrap;
	uint8_t km[256];
	fill(km, sizeof(km), 0x30);
	gk_group_keys g;

	ck_assert_uint_eq(gk_group_keymat_len(c->proto, c->encr, c->bits, c->integ, c->kwa), total);
	gk_status st = gk_group_keys_split(GK_CHUNK(km, total ? total : 16), c->proto, c->encr,
					   c->bits, c->integ, c->kwa, &g);
	if (total == 0) {
		/* a value not handled for this use (ARX key wrap, an implicit-IV Rekey SA, an IKE SA)
		 * is unsupported; a combination of transforms that cannot go together is invalid */
		bool unsupported = c->kwa == GK_KWA_KW_ARX || c->proto == GK_PROTO_IKE ||
				   (c->proto == GK_PROTO_GIKE_UPDATE && c->encr == GK_ENCR_AES_GCM_16_IIV);
		ck_assert_int_eq(st, unsupported ? GK_E_UNSUPPORTED : GK_E_INVAL);
		return;
	}
	ck_assert_int_eq(st, GK_OK);
	/* Encryption key (+salt) leftmost, then the integrity key, then GSK_w. */
	ck_assert_uint_eq(g.enc.len, c->enc);
	ck_assert_uint_eq(g.integ.len, c->integ_len);
	ck_assert_uint_eq(g.wrap.len, c->wrap);
	if (c->enc)
		ck_assert_ptr_eq(g.enc.ptr, km);
	else
		ck_assert_ptr_null(g.enc.ptr);
	if (c->integ_len)
		ck_assert_ptr_eq(g.integ.ptr, km + c->enc);
	else
		ck_assert_ptr_null(g.integ.ptr);
	if (c->wrap)
		ck_assert_ptr_eq(g.wrap.ptr, km + c->enc + c->integ_len);
	else
		ck_assert_ptr_null(g.wrap.ptr);

	/* SA_KEY must be exactly as long as the keys (RFC 9838 4.5.2.1). */
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(km, total - 1), c->proto, c->encr, c->bits,
					     c->integ, c->kwa, &g), GK_E_MALFORMED);
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(km, total + 1), c->proto, c->encr, c->bits,
					     c->integ, c->kwa, &g), GK_E_MALFORMED);
}
END_TEST

/* IKE SA rekey (RFC 7296 2.18): SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) with the OLD
 * SA's PRF (here HMAC-SHA2-384, 48 octets), the rest with the new suite's (HMAC-SHA2-256) and
 * the new SPIs, GSK_w from the new SK_d; all computed here with OpenSSL. */
START_TEST(rekey_matches_reference)
{
	uint8_t ni0[32], nr0[32], sh0[32], ni[32], nr[40], shared[32], seed[128], data[256];
	uint8_t skeyseed[64], stream[512], gskw[32];
	fill(ni0, sizeof(ni0), 3);
	fill(nr0, sizeof(nr0), 5);
	fill(sh0, sizeof(sh0), 7);
	fill(ni, sizeof(ni), 11);
	fill(nr, sizeof(nr), 13);
	fill(shared, sizeof(shared), 17);
	gk_ike_suite olds = { .encr = GK_ENCR_AES_CBC, .encr_key_bits = 128, .prf = GK_PRF_HMAC_SHA2_384,
			      .integ = GK_INTEG_HMAC_SHA2_384_192, .ke = GK_KE_CURVE25519, .kwa = GK_KWA_KW_5649_128 };
	gk_ike_suite news = { .encr = GK_ENCR_AES_GCM_16, .encr_key_bits = 256, .prf = GK_PRF_HMAC_SHA2_256,
			      .ke = GK_KE_ECP_256, .kwa = GK_KWA_KW_5649_256 };
	gk_ike_keys old, k;
	ck_assert_int_eq(gk_ike_keys_derive(&old, &olds, GK_CHUNK(ni0, 32), GK_CHUNK(nr0, 32), GK_CHUNK(sh0, 32),
					    0x99, 0x77), GK_OK);
	ck_assert_uint_eq(old.d_len, 48);
	ck_assert_int_eq(gk_ike_keys_rekey(&k, &news, &old, GK_CHUNK(ni, sizeof(ni)), GK_CHUNK(nr, sizeof(nr)),
					   GK_CHUNK(shared, sizeof(shared)), SPI_I, SPI_R), GK_OK);
	memcpy(data, shared, sizeof(shared));
	memcpy(data + sizeof(shared), ni, sizeof(ni));
	memcpy(data + sizeof(shared) + sizeof(ni), nr, sizeof(nr));
	size_t sl = ref_mac("HMAC", "SHA384", old.sk_d, old.d_len, data, sizeof(shared) + sizeof(ni) + sizeof(nr),
			    skeyseed);
	ck_assert_uint_eq(sl, 48);
	size_t seedlen = seed_of(ni, sizeof(ni), nr, sizeof(nr), seed);
	ck_assert_uint_eq(k.d_len, 32);
	ck_assert_uint_eq(k.a_len, 0);
	ck_assert_uint_eq(k.e_len, 36); /* AES-GCM: key and 4-octet salt */
	ref_prf_plus("HMAC", "SHA256", skeyseed, sl, seed, seedlen, stream, 32 + 2 * 36 + 2 * 32);
	check_slices(&k, stream);
	static const char label[] = "Key Wrap for G-IKEv2";
	ref_prf_plus("HMAC", "SHA256", k.sk_d, k.d_len, (const uint8_t *)label, sizeof(label) - 1, gskw, 32);
	ck_assert_uint_eq(k.w_len, 32);
	ck_assert_mem_eq(k.gsk_w, gskw, 32);
	/* the same inputs through IKE_SA_INIT's SKEYSEED give other keys */
	gk_ike_keys fresh;
	ck_assert_int_eq(gk_ike_keys_derive(&fresh, &news, GK_CHUNK(ni, sizeof(ni)), GK_CHUNK(nr, sizeof(nr)),
					    GK_CHUNK(shared, sizeof(shared)), SPI_I, SPI_R), GK_OK);
	ck_assert(memcmp(fresh.sk_d, k.sk_d, 32) != 0);
	/* bad inputs: no old SK_d, a short nonce */
	gk_ike_keys none;
	memset(&none, 0, sizeof(none));
	ck_assert_int_eq(gk_ike_keys_rekey(&fresh, &news, &none, GK_CHUNK(ni, 32), GK_CHUNK(nr, 32),
					   GK_CHUNK(shared, 32), SPI_I, SPI_R), GK_E_INVAL);
	ck_assert_int_eq(gk_ike_keys_rekey(&fresh, &news, &old, GK_CHUNK(ni, 8), GK_CHUNK(nr, 32),
					   GK_CHUNK(shared, 32), SPI_I, SPI_R), GK_E_INVAL);
	gk_ike_keys_wipe(&k);
	gk_ike_keys_wipe(&old);
	gk_ike_keys_wipe(&fresh);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ikekeys");
	TCase *tc = tcase_create("ikekeys");
	tcase_add_test(tc, derive_matches_reference_hmac);
	tcase_add_test(tc, derive_aes_prf_uses_64_bit_nonce_prefix);
	tcase_add_loop_test(tc, derive_lengths, 0, NLEN);
	tcase_add_test(tc, gsk_w_derivation);
	tcase_add_test(tc, key_arrays_fit_every_transform);
	tcase_add_loop_test(tc, derive_refuses_bad_suites, 0, NBAD);
	tcase_add_test(tc, derive_refuses_bad_inputs);
	tcase_add_test(tc, kwa_lengths);
	tcase_add_test(tc, rekey_matches_reference);
	tcase_add_loop_test(tc, group_keymat, 0, NGROUP);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
