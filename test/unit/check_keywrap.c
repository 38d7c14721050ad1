/* Unit tests of key wrapping (common/crypto/keywrap.c): RFC 5649 vectors, round trips under every
 * KWA, integrity failures, and the RFC 9838 4.5.4 Wrapped Key format. */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "keywrap.h"
#include "iana.h"
#include "rand.h"
#include <openssl/evp.h>

static const uint16_t kwas[] = { GK_KWA_KW_5649_128, GK_KWA_KW_5649_192, GK_KWA_KW_5649_256 };
static const size_t kek_lens[] = { 16, 24, 32 };

/* RFC 5649: the key padded to whole 8-octet semiblocks plus one integrity semiblock. */
static size_t wrapped_len(size_t n)
{
	return (n + 7) / 8 * 8 + 8;
}

/* A copy in a block of exactly n octets, so that ASan catches any read past the input. */
static uint8_t *exact(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

static void wrap_vector(const char *kek, const char *key, const char *wrapped)
{
	gk_wbuf w, u;
	gk_wbuf_init(&w, 0);
	gk_wbuf_init(&u, 0);
	ck_assert_int_eq(gk_kw_wrap(GK_KWA_KW_5649_192, tu_hexc(kek), tu_hexc(key), &w), GK_OK);
	ck_assert_mem_hex(w.data, w.len, wrapped);
	ck_assert_int_eq(gk_kw_unwrap(GK_KWA_KW_5649_192, tu_hexc(kek), tu_hexc(wrapped), &u), GK_OK);
	ck_assert_mem_hex(u.data, u.len, key);
	gk_wbuf_free(&w);
	gk_wbuf_free(&u);
}

/* RFC 5649 section 6: the two vectors, both under a 192-bit KEK. */
START_TEST(rfc5649_vectors)
{
	const char *kek = "5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8";
	/* 20-octet key */
	wrap_vector(kek, "c37b7e6492584340 bed1220780894115 5068f738",
		    "138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a");
	/* 7-octet key: a single semiblock, wrapped with one AES block operation */
	wrap_vector(kek, "466f7250617369", "afbeb0f07dfbf541 9200f2ccb50bb24f");
}
END_TEST

START_TEST(kwa_support)
{
	for (size_t i = 0; i < 3; i++)
		ck_assert(gk_kwa_supported(kwas[i]));
	ck_assert(!gk_kwa_supported(GK_KWA_KW_ARX)); /* not implemented */
	ck_assert(!gk_kwa_supported(0));
	ck_assert(!gk_kwa_supported(5));
	ck_assert(!gk_kwa_supported(0xffff));

	uint8_t kek[32] = { 0 }, key[16] = { 1 };
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_kw_wrap(GK_KWA_KW_ARX, GK_CHUNK(kek, 32), GK_CHUNK(key, 16), &w),
			 GK_E_UNSUPPORTED);
	ck_assert_int_eq(gk_kw_unwrap(GK_KWA_KW_ARX, GK_CHUNK(kek, 32), GK_CHUNK(kek, 24), &w),
			 GK_E_UNSUPPORTED);
	ck_assert_int_eq(gk_wrapped_key_build(GK_KWA_KW_ARX, GK_CHUNK(kek, 32), 0, 0,
					      GK_CHUNK(key, 16), &w), GK_E_UNSUPPORTED);
	ck_assert_uint_eq(w.len, 0);
	gk_wbuf_free(&w);
}
END_TEST

/* The wrap composed from AES-ECB gives, for every key length and KEK size, exactly what
 * OpenSSL's own RFC 5649 wrap-pad cipher gives. */
START_TEST(wrap_matches_openssl)
{
	static const char *const names[] = { "AES-128-WRAP-PAD", "AES-192-WRAP-PAD", "AES-256-WRAP-PAD" };
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, names[_i], NULL);
	ck_assert_ptr_nonnull(c);
	gk_rand_test rt;
	gk_rand_test_init(&rt, 3394 + _i);
	uint8_t kek[32], key[GK_WRAP_MAX_KEY], ref[GK_WRAP_MAX_KEY + 16];
	for (size_t n = 1; n <= GK_WRAP_MAX_KEY; n++) {
		ck_assert_int_eq(gk_rand_bytes(&rt.r, kek, sizeof(kek)), GK_OK);
		ck_assert_int_eq(gk_rand_bytes(&rt.r, key, n), GK_OK);
		EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
		ck_assert_ptr_nonnull(ctx);
		EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
		int outl = 0, finl = 0;
		ck_assert_int_eq(EVP_EncryptInit_ex2(ctx, c, kek, NULL, NULL), 1);
		ck_assert_int_eq(EVP_EncryptUpdate(ctx, ref, &outl, key, (int)n), 1);
		ck_assert_int_eq(EVP_EncryptFinal_ex(ctx, ref + outl, &finl), 1);
		EVP_CIPHER_CTX_free(ctx);
		gk_wbuf w;
		gk_wbuf_init(&w, 0);
		ck_assert_int_eq(gk_kw_wrap(kwas[_i], GK_CHUNK(kek, kek_lens[_i]), GK_CHUNK(key, n), &w), GK_OK);
		ck_assert_uint_eq(w.len, (size_t)(outl + finl));
		ck_assert_mem_eq(w.data, ref, w.len);
		gk_wbuf_free(&w);
		/* and OpenSSL's wrapping unwraps to the key */
		gk_wbuf_init(&w, 0);
		ck_assert_int_eq(gk_kw_unwrap(kwas[_i], GK_CHUNK(kek, kek_lens[_i]), GK_CHUNK(ref, (size_t)(outl + finl)), &w),
				 GK_OK);
		ck_assert_uint_eq(w.len, n);
		ck_assert_mem_eq(w.data, key, n);
		gk_wbuf_free(&w);
	}
	EVP_CIPHER_free(c);
}
END_TEST

/* Every key length 1..256 under every KWA wraps to the RFC 5649 length and back. */
START_TEST(round_trip_all_lengths)
{
	uint16_t kwa = kwas[_i];
	gk_rand_test rt;
	gk_rand_test_init(&rt, 5649 + _i);
	uint8_t kek[32], key[GK_WRAP_MAX_KEY];
	for (size_t n = 1; n <= GK_WRAP_MAX_KEY; n++) {
		ck_assert_int_eq(gk_rand_bytes(&rt.r, kek, sizeof(kek)), GK_OK);
		ck_assert_int_eq(gk_rand_bytes(&rt.r, key, n), GK_OK);
		gk_wbuf w, u;
		gk_wbuf_init(&w, 0);
		gk_wbuf_init(&u, 0);
		ck_assert_int_eq(gk_kw_wrap(kwa, GK_CHUNK(kek, kek_lens[_i]), GK_CHUNK(key, n), &w), GK_OK);
		ck_assert_uint_eq(w.len, wrapped_len(n));
		uint8_t *in = exact(w.data, w.len);
		ck_assert_int_eq(gk_kw_unwrap(kwa, GK_CHUNK(kek, kek_lens[_i]), GK_CHUNK(in, w.len), &u),
				 GK_OK);
		ck_assert_uint_eq(u.len, n);
		ck_assert_mem_eq(u.data, key, n);
		free(in);
		gk_wbuf_free(&w);
		gk_wbuf_free(&u);
	}
}
END_TEST

/* Any changed bit, a wrong KEK or another KWA's KEK fails the integrity check, appending
 * nothing to what the output held. */
START_TEST(tamper_fails_integrity)
{
	uint16_t kwa = kwas[_i];
	size_t kl = kek_lens[_i];
	gk_rand_test rt;
	gk_rand_test_init(&rt, 77 + _i);
	uint8_t kek[32], kek2[32], key[33];
	ck_assert_int_eq(gk_rand_bytes(&rt.r, kek, sizeof(kek)), GK_OK);
	ck_assert_int_eq(gk_rand_bytes(&rt.r, kek2, sizeof(kek2)), GK_OK);
	ck_assert_int_eq(gk_rand_bytes(&rt.r, key, sizeof(key)), GK_OK);
	static const size_t lens[] = { 1, 7, 8, 9, 33 }; /* single block and multi-block forms */
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		gk_wbuf w, u;
		gk_wbuf_init(&w, 0);
		ck_assert_int_eq(gk_kw_wrap(kwa, GK_CHUNK(kek, kl), GK_CHUNK(key, lens[li]), &w), GK_OK);
		gk_wbuf_init(&u, 0);
		gk_wbuf_u8(&u, 0x5a);
		for (size_t bit = 0; bit < w.len * 8; bit++) {
			uint8_t *t = exact(w.data, w.len);
			t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			ck_assert_int_eq(gk_kw_unwrap(kwa, GK_CHUNK(kek, kl), GK_CHUNK(t, w.len), &u),
					 GK_E_INTEGRITY);
			free(t);
		}
		ck_assert_int_eq(gk_kw_unwrap(kwa, GK_CHUNK(kek2, kl), gk_wbuf_chunk(&w), &u),
				 GK_E_INTEGRITY);
		ck_assert_uint_eq(u.len, 1);
		ck_assert_uint_eq(u.data[0], 0x5a);
		gk_wbuf_free(&w);
		gk_wbuf_free(&u);
	}
}
END_TEST

/* RFC 5649 4.2's checks on what the AES decryption gives, each alone: a wrapping made with
 * RFC 3394's W() (OpenSSL's AES-128-WRAP with an explicit IV) or one AES-ECB block (a single
 * semiblock) under the right KEK, with a wrong AIV constant, an MLI past the padded length or
 * not inside its last semiblock, or padding octets that are not zero, is refused; the same
 * construction with sound fields unwraps. */
static void crafted(const char *aiv_hex, const char *p_hex, gk_status want, size_t want_len)
{
	static const uint8_t kek[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	gk_chunk aiv = tu_hexc(aiv_hex), p = tu_hexc(p_hex);
	uint8_t ct[64];
	int outl = 0, finl = 0;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	ck_assert_ptr_nonnull(ctx);
	if (p.len == 8) { /* RFC 5649 4.1: one block, AIV | P, through AES-ECB */
		uint8_t b[16];
		memcpy(b, aiv.ptr, 8);
		memcpy(b + 8, p.ptr, 8);
		ck_assert_int_eq(EVP_EncryptInit_ex2(ctx, EVP_aes_128_ecb(), kek, NULL, NULL), 1);
		ck_assert_int_eq(EVP_CIPHER_CTX_set_padding(ctx, 0), 1);
		ck_assert_int_eq(EVP_EncryptUpdate(ctx, ct, &outl, b, 16), 1);
	} else {
		EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
		ck_assert_int_eq(EVP_EncryptInit_ex2(ctx, EVP_aes_128_wrap(), kek, aiv.ptr, NULL), 1);
		ck_assert_int_eq(EVP_EncryptUpdate(ctx, ct, &outl, p.ptr, (int)p.len), 1);
	}
	ck_assert_int_eq(EVP_EncryptFinal_ex(ctx, ct + outl, &finl), 1);
	EVP_CIPHER_CTX_free(ctx);
	gk_wbuf u;
	gk_wbuf_init(&u, 0);
	gk_status st = gk_kw_unwrap(GK_KWA_KW_5649_128, GK_CHUNK(kek, sizeof(kek)), GK_CHUNK(ct, (size_t)(outl + finl)), &u);
	ck_assert_msg(st == want, "AIV %s, P %s: got %s", aiv_hex, p_hex, gk_status_str(st));
	ck_assert_uint_eq(u.len, want_len);
	if (want_len)
		ck_assert_mem_eq(u.data, p.ptr, want_len);
	gk_wbuf_free(&u);
}

START_TEST(unwrap_checks_aiv_mli_padding)
{
	/* two semiblocks (W()) */
	crafted("a65959a60000000c", "00112233445566778899aabb00000000", GK_OK, 12);
	crafted("a6a6a6a60000000c", "00112233445566778899aabb00000000", GK_E_INTEGRITY, 0); /* RFC 3394 IV */
	crafted("a65959a600000011", "00112233445566778899aabbccddeeff", GK_E_INTEGRITY, 0); /* MLI 17 > 16 */
	crafted("a65959a600000008", "00112233445566778899aabbccddeeff", GK_E_INTEGRITY, 0); /* MLI 8: n-1 semiblocks */
	crafted("a65959a60000000c", "00112233445566778899aabb00000001", GK_E_INTEGRITY, 0); /* padding not zero */
	/* one semiblock (AES-ECB) */
	crafted("a65959a600000005", "0011223344000000", GK_OK, 5);
	crafted("a65959a600000009", "0011223344556677", GK_E_INTEGRITY, 0); /* MLI 9 > 8 */
	crafted("a65959a600000000", "0000000000000000", GK_E_INTEGRITY, 0); /* MLI 0 */
	crafted("a65959a600000005", "0011223344008000", GK_E_INTEGRITY, 0); /* padding not zero */
	crafted("a65959a500000005", "0011223344000000", GK_E_INTEGRITY, 0); /* AIV constant */
}
END_TEST

/* A KEK not of the KWA's size is a caller error, whatever the direction. */
START_TEST(kek_size_mismatch)
{
	uint8_t kek[40] = { 0 }, key[16] = { 0 }, wrapped[24] = { 0 };
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 23, 24, 25, 31, 32, 33, 40 };
	for (size_t i = 0; i < 3; i++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			if (sizes[s] == kek_lens[i])
				continue;
			gk_wbuf w;
			gk_wbuf_init(&w, 0);
			gk_chunk k = GK_CHUNK(kek, sizes[s]);
			ck_assert_int_eq(gk_kw_wrap(kwas[i], k, GK_CHUNK(key, 16), &w), GK_E_INVAL);
			ck_assert_int_eq(gk_kw_unwrap(kwas[i], k, GK_CHUNK(wrapped, 24), &w), GK_E_INVAL);
			ck_assert_int_eq(gk_wrapped_key_build(kwas[i], k, 1, 2, GK_CHUNK(key, 16), &w),
					 GK_E_INVAL);
			ck_assert_uint_eq(w.len, 0);
			gk_wbuf_free(&w);
		}
	}
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_kw_wrap(GK_KWA_KW_5649_128, GK_CHUNK(NULL, 16), GK_CHUNK(key, 16), &w),
			 GK_E_INVAL);
	gk_wbuf_free(&w);
}
END_TEST

/* Input bounds: 1..GK_WRAP_MAX_KEY octets to wrap; whole semiblocks, at least two, to unwrap. */
START_TEST(input_bounds)
{
	uint8_t kek[16] = { 0 }, big[GK_WRAP_MAX_KEY + 16] = { 0 };
	gk_chunk k = GK_CHUNK(kek, 16);
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_kw_wrap(GK_KWA_KW_5649_128, k, GK_CHUNK(big, 0), &w), GK_E_INVAL);
	ck_assert_int_eq(gk_kw_wrap(GK_KWA_KW_5649_128, k, GK_CHUNK_EMPTY, &w), GK_E_INVAL);
	ck_assert_int_eq(gk_kw_wrap(GK_KWA_KW_5649_128, k, GK_CHUNK(big, GK_WRAP_MAX_KEY + 1), &w),
			 GK_E_TOO_BIG);
	static const size_t malformed[] = { 0, 1, 7, 8, 9, 15, 17, 23, 31 };
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		ck_assert_int_eq(gk_kw_unwrap(GK_KWA_KW_5649_128, k, GK_CHUNK(big, malformed[i]), &w),
				 GK_E_MALFORMED);
	ck_assert_int_eq(gk_kw_unwrap(GK_KWA_KW_5649_128, k, GK_CHUNK(big, GK_WRAP_MAX_KEY + 16), &w),
			 GK_E_TOO_BIG);
	ck_assert_uint_eq(w.len, 0);

	/* An output buffer too small for the result: its error, nothing appended. */
	gk_wbuf small;
	gk_wbuf_init(&small, 16);
	ck_assert_int_eq(gk_kw_wrap(GK_KWA_KW_5649_128, k, GK_CHUNK(big, 16), &small), GK_E_TOO_BIG);
	ck_assert_uint_eq(small.len, 0);
	gk_wbuf_free(&small);
	gk_wbuf_free(&w);
}
END_TEST

/* RFC 9838 4.5.4: Key ID | KWK ID | Encrypted Key, built and opened again. */
START_TEST(wrapped_key_round_trip)
{
	uint16_t kwa = kwas[_i];
	size_t kl = kek_lens[_i];
	gk_rand_test rt;
	gk_rand_test_init(&rt, 9838 + _i);
	uint8_t kwk[32], key[64];
	ck_assert_int_eq(gk_rand_bytes(&rt.r, kwk, sizeof(kwk)), GK_OK);
	ck_assert_int_eq(gk_rand_bytes(&rt.r, key, sizeof(key)), GK_OK);

	gk_wbuf v, plain, u;
	gk_wbuf_init(&v, 0);
	gk_wbuf_u16(&v, 0xabcd); /* built after what the buffer held */
	ck_assert_int_eq(gk_wrapped_key_build(kwa, GK_CHUNK(kwk, kl), 0x01020304, 0xa0b0c0d0,
					      GK_CHUNK(key, 40), &v), GK_OK);
	ck_assert_uint_eq(v.len, 2 + 8 + wrapped_len(40));
	ck_assert_mem_hex(v.data, 10, "abcd 01020304 a0b0c0d0");
	/* The Encrypted Key is exactly the RFC 5649 wrapping. */
	gk_wbuf_init(&plain, 0);
	ck_assert_int_eq(gk_kw_wrap(kwa, GK_CHUNK(kwk, kl), GK_CHUNK(key, 40), &plain), GK_OK);
	ck_assert_uint_eq(plain.len, v.len - 10);
	ck_assert_mem_eq(plain.data, v.data + 10, plain.len);

	gk_chunk value = GK_CHUNK(v.data + 2, v.len - 2);
	uint32_t kid = 0, wid = 0;
	ck_assert_int_eq(gk_wrapped_key_ids(value, &kid, &wid), GK_OK);
	ck_assert_uint_eq(kid, 0x01020304);
	ck_assert_uint_eq(wid, 0xa0b0c0d0);
	kid = wid = 0;
	gk_wbuf_init(&u, 0);
	ck_assert_int_eq(gk_wrapped_key_open(kwa, GK_CHUNK(kwk, kl), value, &kid, &wid, &u), GK_OK);
	ck_assert_uint_eq(kid, 0x01020304);
	ck_assert_uint_eq(wid, 0xa0b0c0d0);
	ck_assert_uint_eq(u.len, 40);
	ck_assert_mem_eq(u.data, key, 40);
	/* The ID pointers may be NULL. */
	ck_assert_int_eq(gk_wrapped_key_open(kwa, GK_CHUNK(kwk, kl), value, NULL, NULL, &u), GK_OK);
	ck_assert_uint_eq(u.len, 80);

	/* Key ID 0 with a 1-octet key: the shortest value, 8 + 16 octets. */
	gk_wbuf_free(&v);
	gk_wbuf_init(&v, 0);
	ck_assert_int_eq(gk_wrapped_key_build(kwa, GK_CHUNK(kwk, kl), 0, 0, GK_CHUNK(key, 1), &v), GK_OK);
	ck_assert_uint_eq(v.len, 24);
	gk_wbuf_free(&u);
	gk_wbuf_init(&u, 0);
	kid = wid = 7;
	uint8_t *in = exact(v.data, v.len);
	ck_assert_int_eq(gk_wrapped_key_open(kwa, GK_CHUNK(kwk, kl), GK_CHUNK(in, v.len), &kid, &wid, &u),
			 GK_OK);
	ck_assert_uint_eq(kid, 0);
	ck_assert_uint_eq(wid, 0);
	ck_assert_uint_eq(u.len, 1);
	ck_assert_uint_eq(u.data[0], key[0]);
	free(in);

	gk_wbuf_free(&v);
	gk_wbuf_free(&plain);
	gk_wbuf_free(&u);
}
END_TEST

/* Every truncation of a Wrapped Key value is refused without reading past it: below 8 + 16
 * octets as malformed, longer ones as malformed (not whole semiblocks) or failing integrity. */
/* A wrapper keyed once gives, wrap after wrap, exactly gk_wrapped_key_build's value (of
 * gk_wrapped_key_len octets) for keys of 1 .. 256 octets, written in a block of exactly that
 * length; it refuses what gk_wrapped_key_build refuses, and a wrapper not set up wraps nothing. */
START_TEST(wrapper_matches_build)
{
	uint16_t kwa = kwas[_i];
	size_t kl = kek_lens[_i];
	gk_rand_test rt;
	gk_rand_test_init(&rt, 5649 + _i);
	uint8_t kwk[32], key[GK_WRAP_MAX_KEY + 1];
	ck_assert_int_eq(gk_rand_bytes(&rt.r, kwk, sizeof(kwk)), GK_OK);
	ck_assert_int_eq(gk_rand_bytes(&rt.r, key, sizeof(key)), GK_OK);
	gk_kw_wrapper w = { 0 };
	ck_assert_int_eq(gk_kw_wrapper_build(&w, 1, 2, GK_CHUNK(key, 16), key), GK_E_INVAL);
	ck_assert_int_eq(gk_kw_wrapper_init(&w, kwa, GK_CHUNK(kwk, kl - 1)), GK_E_INVAL);
	ck_assert_ptr_null(w.ctx);
	ck_assert_int_eq(gk_kw_wrapper_init(&w, 0xfff0, GK_CHUNK(kwk, kl)), GK_E_UNSUPPORTED);
	ck_assert_int_eq(gk_kw_wrapper_init(&w, kwa, GK_CHUNK(kwk, kl)), GK_OK);
	static const size_t lens[] = { 1, 7, 8, 9, 16, 36, 40, 255, GK_WRAP_MAX_KEY };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i], len = gk_wrapped_key_len(n);
		ck_assert_uint_eq(len, 8 + wrapped_len(n));
		uint8_t *out = malloc(len);
		ck_assert_ptr_nonnull(out);
		ck_assert_int_eq(gk_kw_wrapper_build(&w, 0x01020304 + (uint32_t)i, 0xa0b0c0d0, GK_CHUNK(key, n), out),
				 GK_OK);
		gk_wbuf v;
		gk_wbuf_init(&v, 0);
		ck_assert_int_eq(gk_wrapped_key_build(kwa, GK_CHUNK(kwk, kl), 0x01020304 + (uint32_t)i, 0xa0b0c0d0,
						      GK_CHUNK(key, n), &v), GK_OK);
		ck_assert_uint_eq(v.len, len);
		ck_assert_mem_eq(out, v.data, len);
		gk_wbuf_free(&v);
		free(out);
	}
	uint8_t big[8 + GK_WRAP_MAX_KEY + 16];
	ck_assert_int_eq(gk_kw_wrapper_build(&w, 0, 0, GK_CHUNK(key, GK_WRAP_MAX_KEY + 1), big), GK_E_TOO_BIG);
	ck_assert_int_eq(gk_kw_wrapper_build(&w, 0, 0, GK_CHUNK(key, 0), big), GK_E_INVAL);
	gk_kw_wrapper_clear(&w);
	ck_assert_ptr_null(w.ctx);
	ck_assert_int_eq(gk_kw_wrapper_build(&w, 0, 0, GK_CHUNK(key, 16), big), GK_E_INVAL);
}
END_TEST

START_TEST(wrapped_key_truncated)
{
	uint8_t kwk[16] = { 9 }, key[32] = { 3 };
	gk_wbuf v, u;
	gk_wbuf_init(&v, 0);
	ck_assert_int_eq(gk_wrapped_key_build(GK_KWA_KW_5649_128, GK_CHUNK(kwk, 16), 5, 6,
					      GK_CHUNK(key, 32), &v), GK_OK);
	ck_assert_uint_eq(v.len, 8 + 40);
	gk_wbuf_init(&u, 0);
	for (size_t n = 0; n < v.len; n++) {
		uint8_t *in = exact(v.data, n);
		uint32_t kid = 0xeeeeeeee, wid = 0xeeeeeeee;
		gk_status st = gk_wrapped_key_open(GK_KWA_KW_5649_128, GK_CHUNK(kwk, 16),
						   GK_CHUNK(in, n), &kid, &wid, &u);
		gk_status want = n < 24 || n % 8 ? GK_E_MALFORMED : GK_E_INTEGRITY;
		ck_assert_msg(st == want, "length %zu: %s", n, gk_status_str(st));
		ck_assert_uint_eq(kid, 0xeeeeeeee); /* IDs are only set on success */
		ck_assert_uint_eq(wid, 0xeeeeeeee);
		if (n < 24)
			ck_assert_int_eq(gk_wrapped_key_ids(GK_CHUNK(in, n), &kid, &wid), GK_E_MALFORMED);
		free(in);
	}
	ck_assert_uint_eq(u.len, 0);
	ck_assert_int_eq(gk_wrapped_key_open(GK_KWA_KW_5649_128, GK_CHUNK(kwk, 16), GK_CHUNK(NULL, 30),
					     NULL, NULL, &u), GK_E_INVAL);
	gk_wbuf_free(&v);
	gk_wbuf_free(&u);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("keywrap");
	TCase *tc = tcase_create("keywrap");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, rfc5649_vectors);
	tcase_add_test(tc, kwa_support);
	tcase_add_loop_test(tc, round_trip_all_lengths, 0, 3);
	tcase_add_loop_test(tc, wrap_matches_openssl, 0, 3);
	tcase_add_loop_test(tc, tamper_fails_integrity, 0, 3);
	tcase_add_test(tc, unwrap_checks_aiv_mli_padding);
	tcase_add_test(tc, kek_size_mismatch);
	tcase_add_test(tc, input_bounds);
	tcase_add_loop_test(tc, wrapped_key_round_trip, 0, 3);
	tcase_add_test(tc, wrapped_key_truncated);
	tcase_add_loop_test(tc, wrapper_matches_build, 0, 3);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
