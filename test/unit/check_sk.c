/* Unit tests of the transform tables and of SK/SKF payload protection. */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "testutil.h"
#include "algs.h"
#include "iana.h"
#include "rand.h"
#include "sk.h"

/* ---- transform tables ---- */

START_TEST(encr_table)
{
	const gk_encr_info *e = gk_encr_lookup(GK_ENCR_AES_CBC);
	ck_assert_ptr_nonnull(e);
	ck_assert(!e->aead && !e->counter_mode && e->key_length_attr);
	ck_assert_uint_eq(e->iv_len, 16);
	ck_assert_uint_eq(e->block_len, 16);
	ck_assert(!gk_encr_key_bits_ok(e, 0)); /* AES has no default key length */
	ck_assert(gk_encr_key_bits_ok(e, 192));
	ck_assert(!gk_encr_key_bits_ok(e, 64));
	ck_assert_uint_eq(gk_encr_keymat_len(e, 256), 32);
	ck_assert_uint_eq(gk_encr_keymat_len(e, 0), 0);

	e = gk_encr_lookup(GK_ENCR_AES_GCM_12);
	ck_assert(e->aead && e->counter_mode && !e->implicit_iv);
	ck_assert_uint_eq(e->icv_len, 12);
	ck_assert_uint_eq(e->iv_len, 8);
	ck_assert_uint_eq(gk_encr_keymat_len(e, 128), 20);

	e = gk_encr_lookup(GK_ENCR_CHACHA20_POLY1305);
	ck_assert(e->aead && !e->key_length_attr);
	ck_assert(gk_encr_key_bits_ok(e, 0));
	ck_assert(!gk_encr_key_bits_ok(e, 128));
	ck_assert_uint_eq(gk_encr_keymat_len(e, 0), 36);

	e = gk_encr_lookup(GK_ENCR_AES_CTR);
	ck_assert(!e->aead && e->counter_mode);
	ck_assert_uint_eq(gk_encr_keymat_len(e, 192), 28);

	ck_assert(gk_encr_lookup(GK_ENCR_AES_GCM_16_IIV)->implicit_iv);
	ck_assert(gk_encr_lookup(GK_ENCR_CHACHA20_POLY1305_IIV)->implicit_iv);
	e = gk_encr_lookup(GK_ENCR_NULL_AUTH_AES_GMAC);
	ck_assert(!e->aead && e->counter_mode);
	ck_assert_uint_eq(gk_encr_keymat_len(e, 128), 20);
	ck_assert_ptr_null(gk_encr_lookup(GK_ENCR_3DES));
	ck_assert_ptr_null(gk_encr_lookup(GK_ENCR_AES_CCM_16));
}
END_TEST

START_TEST(integ_table)
{
	static const struct { uint16_t id; size_t key, icv; } t[] = {
		{ GK_INTEG_HMAC_SHA1_96, 20, 12 }, { GK_INTEG_AES_XCBC_96, 16, 12 },
		{ GK_INTEG_AES_CMAC_96, 16, 12 }, { GK_INTEG_HMAC_SHA2_256_128, 32, 16 },
		{ GK_INTEG_HMAC_SHA2_384_192, 48, 24 }, { GK_INTEG_HMAC_SHA2_512_256, 64, 32 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const gk_integ_info *g = gk_integ_lookup(t[i].id);
		ck_assert_ptr_nonnull(g);
		ck_assert_uint_eq(g->key_len, t[i].key);
		ck_assert_uint_eq(g->icv_len, t[i].icv);
	}
	ck_assert_ptr_null(gk_integ_lookup(GK_INTEG_NONE));
}
END_TEST

/* ---- AEAD known answers ---- */

static const char rfc8439_pt[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
				 "only one tip for the future, sunscreen would be it.";

/* RFC 8439 section 2.8.2: the IKEv2 nonce salt | IV (RFC 7634 2) is 07000000 | 4041424344454647. */
START_TEST(chacha20_poly1305_rfc8439_2_8_2)
{
	gk_chunk key = tu_hexc("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
			       "07000000");
	gk_chunk iv = tu_hexc("4041424344454647");
	gk_chunk aad = tu_hexc("50515253c0c1c2c3c4c5c6c7");
	gk_chunk pt = GK_CHUNK(rfc8439_pt, strlen(rfc8439_pt));
	uint8_t ct[114], tag[16], back[114];
	ck_assert_uint_eq(pt.len, 114);

	ck_assert_int_eq(gk_sk_aead_seal(GK_ENCR_CHACHA20_POLY1305, key, iv.ptr, aad, pt, ct, tag),
			 GK_OK);
	ck_assert_mem_hex(ct, sizeof(ct),
			  "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
			  "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
			  "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
			  "3ff4def08e4b7a9de576d26586cec64b6116");
	ck_assert_mem_hex(tag, sizeof(tag), "1ae10b594f09e26a7e902ecbd0600691");

	ck_assert_int_eq(gk_sk_aead_open(GK_ENCR_CHACHA20_POLY1305, key, iv.ptr, aad,
					 GK_CHUNK(ct, 114), GK_CHUNK(tag, 16), back), GK_OK);
	ck_assert_mem_eq(back, rfc8439_pt, 114);
	tag[15] ^= 1;
	ck_assert_int_eq(gk_sk_aead_open(GK_ENCR_CHACHA20_POLY1305, key, iv.ptr, aad,
					 GK_CHUNK(ct, 114), GK_CHUNK(tag, 16), back), GK_E_INTEGRITY);
	tag[15] ^= 1;
	uint8_t aad2[12];
	memcpy(aad2, aad.ptr, 12);
	aad2[0] ^= 0x80;
	ck_assert_int_eq(gk_sk_aead_open(GK_ENCR_CHACHA20_POLY1305, key, iv.ptr,
					 GK_CHUNK(aad2, 12), GK_CHUNK(ct, 114), GK_CHUNK(tag, 16),
					 back), GK_E_INTEGRITY);
}
END_TEST

/* McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 4 (AES-128), 10 (AES-192)
 * and 16 (AES-256): 96-bit IV cafebabefacedbaddecaf888 split as RFC 5282 salt | IV. The
 * truncated ICVs of AES_GCM_8/12 are the leftmost octets of the tag. */
static const struct {
	const char *key, *ct, *tag;
} gcm_vecs[] = {
	{ "feffe9928665731c6d6a8f9467308308",
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
	  "5bc94fbc3221a5db94fae95ae7121a47" },
	{ "feffe9928665731c6d6a8f9467308308feffe9928665731c",
	  "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c"
	  "7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710",
	  "2519498e80f1478f37ba55bd6d27618c" },
	{ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
};

START_TEST(aes_gcm_mcgrew_viega)
{
	static const uint16_t ids[] = { GK_ENCR_AES_GCM_8, GK_ENCR_AES_GCM_12, GK_ENCR_AES_GCM_16 };
	gk_chunk pt = tu_hexc("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
			      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
	gk_chunk aad = tu_hexc("feedfacedeadbeeffeedfacedeadbeefabaddad2");
	gk_chunk iv = tu_hexc("facedbaddecaf888");
	gk_chunk want_ct = tu_hexc(gcm_vecs[_i].ct), want_tag = tu_hexc(gcm_vecs[_i].tag);
	size_t klen;
	uint8_t *k = tu_hex(gcm_vecs[_i].key, &klen);
	uint8_t key[36], ct[60], tag[16], back[60];
	memcpy(key, k, klen);
	memcpy(key + klen, "\xca\xfe\xba\xbe", 4); /* salt */
	free(k);
	gk_chunk ks = GK_CHUNK(key, klen + 4);

	for (size_t j = 0; j < 3; j++) {
		size_t icv = gk_encr_lookup(ids[j])->icv_len;
		ck_assert_int_eq(gk_sk_aead_seal(ids[j], ks, iv.ptr, aad, pt, ct, tag), GK_OK);
		ck_assert_mem_eq(ct, want_ct.ptr, 60);
		ck_assert_mem_eq(tag, want_tag.ptr, icv);
		ck_assert_int_eq(gk_sk_aead_open(ids[j], ks, iv.ptr, aad, GK_CHUNK(ct, 60),
						 GK_CHUNK(tag, icv), back), GK_OK);
		ck_assert_mem_eq(back, pt.ptr, 60);
		ct[59] ^= 1;
		ck_assert_int_eq(gk_sk_aead_open(ids[j], ks, iv.ptr, aad, GK_CHUNK(ct, 60),
						 GK_CHUNK(tag, icv), back), GK_E_INTEGRITY);
		/* The full 16-octet tag is not a valid ICV for the truncated transforms. */
		if (icv != 16)
			ck_assert_int_eq(gk_sk_aead_open(ids[j], ks, iv.ptr, aad, GK_CHUNK(ct, 60),
							 want_tag, back), GK_E_INTEGRITY);
	}
}
END_TEST

START_TEST(aead_primitive_refusals)
{
	uint8_t key[36] = { 0 }, iv[8] = { 0 }, buf[4] = { 0 }, tag[16];
	gk_chunk d = GK_CHUNK(buf, 4);
	ck_assert_int_eq(gk_sk_aead_seal(GK_ENCR_AES_CBC, GK_CHUNK(key, 20), iv, d, d, buf, tag),
			 GK_E_UNSUPPORTED);
	ck_assert_int_eq(gk_sk_aead_seal(GK_ENCR_AES_GCM_16, GK_CHUNK(key, 21), iv, d, d, buf, tag),
			 GK_E_INVAL);
	ck_assert_int_eq(gk_sk_aead_seal(GK_ENCR_CHACHA20_POLY1305, GK_CHUNK(key, 20), iv, d, d,
					 buf, tag), GK_E_INVAL);
	ck_assert_int_eq(gk_sk_aead_seal(GK_ENCR_AES_GCM_16_IIV, GK_CHUNK(key, 20), iv, d, d, buf,
					 tag), GK_E_UNSUPPORTED);
	/* Empty plaintext and AAD are fine. */
	ck_assert_int_eq(gk_sk_aead_seal(GK_ENCR_AES_GCM_16, GK_CHUNK(key, 20), iv, GK_CHUNK_EMPTY,
					 GK_CHUNK_EMPTY, NULL, tag), GK_OK);
	ck_assert_mem_hex(tag, 16, "58e2fccefa7e3061367f1d57a4e7455a"); /* GCM spec test case 1 */
}
END_TEST

/* ---- SK / SKF payloads ---- */

typedef struct combo {
	uint16_t encr, bits, integ;
} combo;

static combo combos[64];
static int ncombos;

static void make_combos(void)
{
	static const uint16_t integs[] = {
		GK_INTEG_HMAC_SHA1_96, GK_INTEG_AES_XCBC_96, GK_INTEG_AES_CMAC_96,
		GK_INTEG_HMAC_SHA2_256_128, GK_INTEG_HMAC_SHA2_384_192, GK_INTEG_HMAC_SHA2_512_256,
	};
	static const uint16_t bits[] = { 128, 192, 256 };
	static const uint16_t plain[] = { GK_ENCR_AES_CBC, GK_ENCR_AES_CTR };
	static const uint16_t aead[] = { GK_ENCR_AES_GCM_8, GK_ENCR_AES_GCM_12, GK_ENCR_AES_GCM_16 };
	for (size_t e = 0; e < 2; e++)
		for (size_t b = 0; b < 3; b++)
			for (size_t i = 0; i < 6; i++)
				combos[ncombos++] = (combo){ plain[e], bits[b], integs[i] };
	for (size_t e = 0; e < 3; e++)
		for (size_t b = 0; b < 3; b++)
			combos[ncombos++] = (combo){ aead[e], bits[b], 0 };
	combos[ncombos++] = (combo){ GK_ENCR_CHACHA20_POLY1305, 0, 0 };
}

/* Keys for a combo, in static storage. */
static gk_sk_keys keys_for(const combo *c)
{
	static uint8_t enc[64], integ[64];
	for (size_t i = 0; i < sizeof(enc); i++) {
		enc[i] = (uint8_t)(0x10 + i);
		integ[i] = (uint8_t)(0xa0 ^ i);
	}
	const gk_integ_info *g = gk_integ_lookup(c->integ);
	return (gk_sk_keys){
		.encr = c->encr, .encr_key_bits = c->bits, .integ = c->integ,
		.enc = GK_CHUNK(enc, gk_encr_keymat_len(gk_encr_lookup(c->encr), c->bits)),
		.integ_key = g ? GK_CHUNK(integ, g->key_len) : GK_CHUNK_EMPTY,
	};
}

/* IKE header (+ an unprotected 8-octet payload when pre) and an SK (4) or SKF (8) header.
 * Returns the SK header's offset. */
static size_t build_head(gk_wbuf *w, bool pre, size_t hdr_len)
{
	gk_wbuf_init(w, 0);
	gk_wbuf_u64(w, 0x1122334455667788ull);            /* SPIi */
	gk_wbuf_u64(w, 0x99aabbccddeeff00ull);            /* SPIr */
	gk_wbuf_u8(w, pre ? GK_PL_VENDOR : (hdr_len == 8 ? GK_PL_SKF : GK_PL_SK));
	gk_wbuf_u8(w, 0x20);                              /* version 2.0 */
	gk_wbuf_u8(w, GK_EXCH_GSA_REKEY);
	gk_wbuf_u8(w, 0x08);                              /* initiator */
	gk_wbuf_u32(w, 7);                                /* message ID */
	gk_wbuf_u32(w, 0);                                /* length, set by seal */
	if (pre) {
		gk_wbuf_u8(w, hdr_len == 8 ? GK_PL_SKF : GK_PL_SK);
		gk_wbuf_u8(w, 0);
		gk_wbuf_u16(w, 8);
		gk_wbuf_u32(w, 0xdeadbeef);
	}
	size_t sk_off = w->len;
	gk_wbuf_u8(w, GK_PL_GSA); /* first inner payload */
	gk_wbuf_u8(w, 0);
	gk_wbuf_u16(w, 0);        /* length, set by seal */
	if (hdr_len == 8) {
		gk_wbuf_u16(w, 2); /* Fragment Number */
		gk_wbuf_u16(w, 3); /* Total Fragments */
	}
	ck_assert_int_eq(w->err, GK_OK);
	return sk_off;
}

static uint8_t *inner_of(size_t n)
{
	uint8_t *p = malloc(n + 1);
	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + 5);
	return p;
}

/* Seals inner into a new message; returns the SK offset. */
static size_t seal_msg(const gk_sk_keys *k, gk_wbuf *w, bool pre, size_t hdr_len,
		       const uint8_t *inner, size_t n, uint64_t seed)
{
	gk_rand_test r;
	gk_rand_test_init(&r, seed);
	size_t sk_off = build_head(w, pre, hdr_len);
	size_t before = w->len;
	ck_assert_int_eq(gk_sk_seal(k, &r.r, w, sk_off, GK_CHUNK(inner, n)), GK_OK);
	ck_assert_uint_eq(w->len, before + gk_sk_overhead(k, n) + n);
	ck_assert_uint_eq(gk_get_u32(w->data + 24), w->len);
	ck_assert_uint_eq(gk_get_u16(w->data + sk_off + 2), w->len - sk_off);
	return sk_off;
}

START_TEST(sk_round_trip_all_combos)
{
	static const size_t lens[] = { 0, 1, 14, 15, 16, 17, 31, 100, 1000 };
	gk_sk_keys k = keys_for(&combos[_i]);
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		for (int pre = 0; pre < 2; pre++) {
			size_t n = lens[li];
			uint8_t *inner = inner_of(n);
			gk_wbuf m, out;
			size_t sk_off = seal_msg(&k, &m, pre, 4, inner, n, li);
			/* the ciphertext is not the plaintext */
			if (n >= 16)
				ck_assert(memmem(m.data, m.len, inner, 16) == NULL);
			gk_wbuf_init(&out, 0);
			gk_wbuf_put(&out, "hdr", 3); /* open appends */
			ck_assert_int_eq(gk_sk_open(&k, gk_wbuf_chunk(&m), sk_off, 4, &out), GK_OK);
			ck_assert_uint_eq(out.len, 3 + n);
			ck_assert_mem_eq(out.data, "hdr", 3);
			if (n)
				ck_assert_mem_eq(out.data + 3, inner, n);
			gk_wbuf_free(&out);
			gk_wbuf_free(&m);
			free(inner);
		}
	}
}
END_TEST

/* Flipping any single bit anywhere in the message (IKE header, unprotected payload, SK
 * header, IV, ciphertext, ICV) is caught by the ICV. */
START_TEST(sk_tamper_any_byte)
{
	gk_sk_keys k = keys_for(&combos[_i]);
	uint8_t *inner = inner_of(45);
	gk_wbuf m, out;
	size_t sk_off = seal_msg(&k, &m, true, 4, inner, 45, 1);
	gk_wbuf_init(&out, 0);
	for (size_t i = 0; i < m.len; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			m.data[i] ^= (uint8_t)(1u << bit);
			gk_status st = gk_sk_open(&k, gk_wbuf_chunk(&m), sk_off, 4, &out);
			ck_assert_msg(st == GK_E_INTEGRITY, "byte %zu bit %d: %s", i, bit,
				      gk_status_str(st));
			ck_assert_uint_eq(out.len, 0);
			m.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	ck_assert_int_eq(gk_sk_open(&k, gk_wbuf_chunk(&m), sk_off, 4, &out), GK_OK);
	gk_wbuf_free(&out);
	gk_wbuf_free(&m);
	free(inner);
}
END_TEST

/* Every truncation of a valid message fails cleanly (run under ASan to see no overread). */
START_TEST(sk_truncated_inputs)
{
	gk_sk_keys k = keys_for(&combos[_i]);
	uint8_t *inner = inner_of(33);
	gk_wbuf m, out;
	size_t sk_off = seal_msg(&k, &m, false, 4, inner, 33, 2);
	gk_wbuf_init(&out, 0);
	for (size_t l = 0; l < m.len; l++) {
		uint8_t *copy = malloc(l + 1); /* exact-size heap copy so ASan sees overreads */
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, m.data, l);
		gk_status st = gk_sk_open(&k, GK_CHUNK(copy, l), sk_off, 4, &out);
		/* cut inside the header or the SK payload header: truncated; later, a body that is
		 * not IV | blocks | ICV is malformed, one that is fails its ICV */
		if (l < sk_off + 4)
			ck_assert_msg(st == GK_E_TRUNCATED, "length %zu: %s", l, gk_status_str(st));
		else
			ck_assert_msg(st == GK_E_MALFORMED || st == GK_E_INTEGRITY, "length %zu: %s", l, gk_status_str(st));
		ck_assert_uint_eq(out.len, 0);
		free(copy);
	}
	/* A longer message (trailing garbage) fails too: malformed, or an ICV that fails */
	gk_wbuf_u8(&m, 0);
	gk_status st = gk_sk_open(&k, gk_wbuf_chunk(&m), sk_off, 4, &out);
	ck_assert_msg(st == GK_E_MALFORMED || st == GK_E_INTEGRITY, "%s", gk_status_str(st));
	gk_wbuf_free(&out);
	gk_wbuf_free(&m);
	free(inner);
}
END_TEST

/* SKF (RFC 7383 2.5): the 8-octet header (with Fragment Number / Total Fragments) is
 * covered by the ICV or AAD. */
START_TEST(skf_round_trip_and_header_coverage)
{
	gk_sk_keys k = keys_for(&combos[_i]);
	uint8_t *inner = inner_of(77);
	gk_wbuf m, out;
	size_t sk_off = seal_msg(&k, &m, false, 8, inner, 77, 3);
	gk_wbuf_init(&out, 0);
	ck_assert_int_eq(gk_sk_open(&k, gk_wbuf_chunk(&m), sk_off, 8, &out), GK_OK);
	ck_assert_uint_eq(out.len, 77);
	ck_assert_mem_eq(out.data, inner, 77);
	out.len = 0;
	for (size_t i = sk_off + 4; i < sk_off + 8; i++) { /* Fragment Number, Total Fragments */
		m.data[i] ^= 0x01;
		ck_assert_int_eq(gk_sk_open(&k, gk_wbuf_chunk(&m), sk_off, 8, &out), GK_E_INTEGRITY);
		m.data[i] ^= 0x01;
	}
	/* With an AEAD the AAD ends at the header, so reading an SKF as a plain SK payload does not
	 * authenticate. An INTEG ICV covers the whole message however it is split; there what keeps
	 * the header length right is the authenticated payload type the caller took it from. */
	if (gk_encr_lookup(k.encr)->aead) {
		ck_assert_int_eq(gk_sk_open(&k, gk_wbuf_chunk(&m), sk_off, 4, &out), GK_E_INTEGRITY);
		ck_assert_uint_eq(out.len, 0);
	}
	gk_wbuf_free(&out);
	gk_wbuf_free(&m);
	free(inner);
}
END_TEST

/* The IV comes from the gk_rand given: the same seed gives the same message, another seed
 * another IV and ciphertext. */
START_TEST(sk_iv_from_rand)
{
	gk_sk_keys k = keys_for(&combos[_i]);
	uint8_t *inner = inner_of(20);
	gk_wbuf a, b, c;
	size_t sk_off = seal_msg(&k, &a, false, 4, inner, 20, 9);
	seal_msg(&k, &b, false, 4, inner, 20, 9);
	seal_msg(&k, &c, false, 4, inner, 20, 10);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert_mem_eq(a.data, b.data, a.len);
	size_t iv_len = gk_encr_lookup(k.encr)->iv_len;
	ck_assert_mem_ne(a.data + sk_off + 4, c.data + sk_off + 4, iv_len);

	gk_rand_test r;
	uint8_t iv[16];
	gk_rand_test_init(&r, 9);
	ck_assert_int_eq(gk_rand_bytes(&r.r, iv, iv_len), GK_OK);
	ck_assert_mem_eq(a.data + sk_off + 4, iv, iv_len);
	gk_wbuf_free(&a);
	gk_wbuf_free(&b);
	gk_wbuf_free(&c);
	free(inner);
}
END_TEST

/* AES-CBC-256 + HMAC-SHA2-256-128 checked straight against OpenSSL: the ICV is HMAC over
 * the IKE header through the ciphertext (RFC 7296 3.14), truncated to 128 bits. */
START_TEST(sk_cbc_hmac_matches_openssl)
{
	combo c = { GK_ENCR_AES_CBC, 256, GK_INTEG_HMAC_SHA2_256_128 };
	gk_sk_keys k = keys_for(&c);
	uint8_t *inner = inner_of(50);
	gk_wbuf m;
	size_t sk_off = seal_msg(&k, &m, true, 4, inner, 50, 4);
	/* 50 + pad length octet = 51 -> padded to 64: pad 13 */
	size_t body = sk_off + 4, ct_len = 64;
	ck_assert_uint_eq(m.len, body + 16 + ct_len + 16);

	uint8_t mac[64], pt[64];
	size_t mlen = 0;
	ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k.integ_key.ptr, 32,
					m.data, m.len - 16, mac, sizeof(mac), &mlen));
	ck_assert_mem_eq(m.data + m.len - 16, mac, 16);

	EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;
	ck_assert_int_eq(EVP_DecryptInit_ex(cc, EVP_aes_256_cbc(), NULL, k.enc.ptr, m.data + body), 1);
	EVP_CIPHER_CTX_set_padding(cc, 0);
	ck_assert_int_eq(EVP_DecryptUpdate(cc, pt, &l1, m.data + body + 16, (int)ct_len), 1);
	ck_assert_int_eq(EVP_DecryptFinal_ex(cc, pt + l1, &l2), 1);
	EVP_CIPHER_CTX_free(cc);
	ck_assert_int_eq(l1 + l2, 64);
	ck_assert_mem_eq(pt, inner, 50);
	ck_assert_uint_eq(pt[63], 13);
	gk_wbuf_free(&m);
	free(inner);
}
END_TEST

/* AES-GCM-16 checked straight against OpenSSL: nonce = salt | IV, AAD = IKE header through
 * the SK header (RFC 5282 5.1). */
START_TEST(sk_gcm_matches_openssl)
{
	combo c = { GK_ENCR_AES_GCM_16, 128, 0 };
	gk_sk_keys k = keys_for(&c);
	uint8_t *inner = inner_of(40);
	gk_wbuf m;
	size_t sk_off = seal_msg(&k, &m, true, 4, inner, 40, 5);
	size_t body = sk_off + 4, ct_len = 41; /* no block alignment: pad length 0 */
	ck_assert_uint_eq(m.len, body + 8 + ct_len + 16);

	uint8_t nonce[12], pt[41];
	memcpy(nonce, k.enc.ptr + 16, 4);
	memcpy(nonce + 4, m.data + body, 8);
	EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
	int l = 0;
	ck_assert_int_eq(EVP_DecryptInit_ex(cc, EVP_aes_128_gcm(), NULL, k.enc.ptr, nonce), 1);
	ck_assert_int_eq(EVP_DecryptUpdate(cc, NULL, &l, m.data, (int)body), 1);
	ck_assert_int_eq(EVP_DecryptUpdate(cc, pt, &l, m.data + body + 8, (int)ct_len), 1);
	ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_AEAD_SET_TAG, 16,
					     m.data + body + 8 + ct_len), 1);
	ck_assert_int_eq(EVP_DecryptFinal_ex(cc, pt + l, &l), 1);
	EVP_CIPHER_CTX_free(cc);
	ck_assert_mem_eq(pt, inner, 40);
	ck_assert_uint_eq(pt[40], 0);
	gk_wbuf_free(&m);
	free(inner);
}
END_TEST

/* Builds an authentic AES-GCM SK message around an arbitrary plaintext (with its own pad
 * length octet), to reach the checks that come after authentication. */
static void forge_gcm(const gk_sk_keys *k, gk_wbuf *m, const uint8_t *pt, size_t n,
		      uint16_t sk_len_adjust)
{
	size_t sk_off = build_head(m, false, 4);
	gk_put_u16(m->data + sk_off + 2, (uint16_t)(4 + 8 + n + 16 + sk_len_adjust));
	gk_put_u32(m->data + 24, (uint32_t)(m->len + 8 + n + 16));
	uint8_t iv[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, ct[64], tag[16];
	ck_assert_int_eq(gk_sk_aead_seal(k->encr, k->enc, iv, gk_wbuf_chunk(m), GK_CHUNK(pt, n),
					 ct, tag), GK_OK);
	gk_wbuf_put(m, iv, 8);
	gk_wbuf_put(m, ct, n);
	gk_wbuf_put(m, tag, 16);
}

START_TEST(sk_malformed_after_authentication)
{
	combo c = { GK_ENCR_AES_GCM_16, 256, 0 };
	gk_sk_keys k = keys_for(&c);
	uint8_t pt[16] = { 0 };
	gk_wbuf m, out;
	gk_wbuf_init(&out, 0);

	pt[15] = 15; /* pad length 15 of 16: empty inner payloads, valid */
	forge_gcm(&k, &m, pt, 16, 0);
	ck_assert_int_eq(gk_sk_open(&k, gk_wbuf_chunk(&m), 28, 4, &out), GK_OK);
	ck_assert_uint_eq(out.len, 0);
	gk_wbuf_free(&m);

	pt[15] = 16; /* pad length runs past the data */
	forge_gcm(&k, &m, pt, 16, 0);
	ck_assert_int_eq(gk_sk_open(&k, gk_wbuf_chunk(&m), 28, 4, &out), GK_E_MALFORMED);
	ck_assert_uint_eq(out.len, 0);
	gk_wbuf_free(&m);

	pt[15] = 255;
	forge_gcm(&k, &m, pt, 16, 0);
	ck_assert_int_eq(gk_sk_open(&k, gk_wbuf_chunk(&m), 28, 4, &out), GK_E_MALFORMED);
	gk_wbuf_free(&m);

	pt[15] = 0; /* authentic, but the SK payload length disagrees with the message */
	forge_gcm(&k, &m, pt, 16, 1);
	ck_assert_int_eq(gk_sk_open(&k, gk_wbuf_chunk(&m), 28, 4, &out), GK_E_MALFORMED);
	ck_assert_uint_eq(out.len, 0);
	gk_wbuf_free(&m);
	gk_wbuf_free(&out);
}
END_TEST

START_TEST(sk_cbc_length_not_block_multiple)
{
	combo c = { GK_ENCR_AES_CBC, 128, GK_INTEG_HMAC_SHA1_96 };
	gk_sk_keys k = keys_for(&c);
	uint8_t *inner = inner_of(10);
	gk_wbuf m, out;
	size_t sk_off = seal_msg(&k, &m, false, 4, inner, 10, 6);
	gk_wbuf_init(&out, 0);
	/* Drop one ciphertext octet but keep the ICV in place. */
	memmove(m.data + m.len - 13, m.data + m.len - 12, 12);
	ck_assert_int_eq(gk_sk_open(&k, GK_CHUNK(m.data, m.len - 1), sk_off, 4, &out),
			 GK_E_MALFORMED);
	/* Too short for IV + ICV + pad length. */
	ck_assert_int_eq(gk_sk_open(&k, GK_CHUNK(m.data, sk_off + 4 + 16 + 12), sk_off, 4, &out),
			 GK_E_MALFORMED);
	gk_wbuf_free(&out);
	gk_wbuf_free(&m);
	free(inner);
}
END_TEST

START_TEST(sk_refuses_bad_parameters)
{
	uint8_t key[64] = { 0 }, buf[8] = { 0 };
	gk_rand_test r;
	gk_rand_test_init(&r, 1);
	gk_wbuf m, out;
	gk_wbuf_init(&out, 0);
	gk_chunk in = GK_CHUNK(buf, 8);
	const struct { gk_sk_keys k; gk_status want; } bad[] = {
		{ { GK_ENCR_AES_GCM_16_IIV, 128, 0, { key, 20 }, { NULL, 0 }, NULL }, GK_E_UNSUPPORTED },
		{ { GK_ENCR_CHACHA20_POLY1305_IIV, 0, 0, { key, 36 }, { NULL, 0 }, NULL }, GK_E_UNSUPPORTED },
		{ { GK_ENCR_NULL_AUTH_AES_GMAC, 128, 0, { key, 20 }, { NULL, 0 }, NULL }, GK_E_UNSUPPORTED },
		{ { GK_ENCR_3DES, 0, GK_INTEG_HMAC_SHA1_96, { key, 24 }, { key, 20 }, NULL }, GK_E_UNSUPPORTED },
		{ { GK_ENCR_AES_GCM_16, 128, GK_INTEG_HMAC_SHA1_96, { key, 20 }, { key, 20 }, NULL }, GK_E_INVAL },
		{ { GK_ENCR_AES_GCM_16, 128, 0, { key, 16 }, { NULL, 0 }, NULL }, GK_E_INVAL },
		{ { GK_ENCR_AES_GCM_16, 0, 0, { key, 20 }, { NULL, 0 }, NULL }, GK_E_INVAL },
		{ { GK_ENCR_AES_CBC, 128, 0, { key, 16 }, { NULL, 0 }, NULL }, GK_E_INVAL },
		{ { GK_ENCR_AES_CBC, 128, GK_INTEG_HMAC_SHA1_96, { key, 16 }, { key, 16 }, NULL }, GK_E_INVAL },
		{ { GK_ENCR_AES_CBC, 128, 1, { key, 16 }, { key, 16 }, NULL }, GK_E_UNSUPPORTED },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t sk_off = build_head(&m, false, 4);
		size_t len = m.len;
		ck_assert_int_eq(gk_sk_seal(&bad[i].k, &r.r, &m, sk_off, in), bad[i].want);
		ck_assert_uint_eq(m.len, len); /* nothing appended */
		gk_wbuf_put(&m, key, 64);
		ck_assert_int_eq(gk_sk_open(&bad[i].k, gk_wbuf_chunk(&m), sk_off, 4, &out),
				 bad[i].want);
		gk_wbuf_free(&m);
	}

	combo c = { GK_ENCR_AES_GCM_16, 128, 0 };
	gk_sk_keys k = keys_for(&c);
	size_t sk_off = build_head(&m, false, 4);
	ck_assert_int_eq(gk_sk_seal(&k, &r.r, &m, sk_off + 1, in), GK_E_INVAL); /* 3-octet header */
	ck_assert_int_eq(gk_sk_seal(&k, &r.r, &m, 20, in), GK_E_INVAL);         /* inside IKE header */
	ck_assert_int_eq(gk_sk_seal(&k, &r.r, &m, sk_off, GK_CHUNK(NULL, 3)), GK_E_INVAL);
	ck_assert_int_eq(gk_sk_seal(&k, &r.r, &m, sk_off, GK_CHUNK_EMPTY), GK_OK);
	ck_assert_int_eq(gk_sk_open(&k, gk_wbuf_chunk(&m), sk_off, 6, &out), GK_E_INVAL);
	ck_assert_int_eq(gk_sk_open(&k, gk_wbuf_chunk(&m), 12, 4, &out), GK_E_INVAL);
	ck_assert_int_eq(gk_sk_open(&k, gk_wbuf_chunk(&m), m.len, 4, &out), GK_E_TRUNCATED);
	ck_assert_int_eq(gk_sk_open(&k, gk_wbuf_chunk(&m), sk_off, 4, &out), GK_OK);
	ck_assert_uint_eq(out.len, 0);
	gk_wbuf_free(&m);

	/* A message whose SK payload would exceed 65535 octets is refused. */
	uint8_t *big = calloc(1, 70000);
	ck_assert_ptr_nonnull(big);
	sk_off = build_head(&m, false, 4);
	ck_assert_int_eq(gk_sk_seal(&k, &r.r, &m, sk_off, GK_CHUNK(big, 70000)), GK_E_TOO_BIG);
	free(big);
	gk_wbuf_free(&m);
	gk_wbuf_free(&out);
}
END_TEST

START_TEST(sk_overhead_values)
{
	combo cbc = { GK_ENCR_AES_CBC, 128, GK_INTEG_HMAC_SHA2_256_128 };
	gk_sk_keys k = keys_for(&cbc);
	ck_assert_uint_eq(gk_sk_overhead(&k, 15), 16 + 0 + 1 + 16);
	ck_assert_uint_eq(gk_sk_overhead(&k, 16), 16 + 15 + 1 + 16);
	combo gcm = { GK_ENCR_AES_GCM_8, 256, 0 };
	k = keys_for(&gcm);
	ck_assert_uint_eq(gk_sk_overhead(&k, 100), 8 + 1 + 8);
	k.integ = GK_INTEG_HMAC_SHA1_96;
	ck_assert_uint_eq(gk_sk_overhead(&k, 100), 0);
}
END_TEST

int main(void)
{
	make_combos();
	Suite *s = suite_create("sk");
	TCase *tc = tcase_create("sk");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, encr_table);
	tcase_add_test(tc, integ_table);
	tcase_add_test(tc, chacha20_poly1305_rfc8439_2_8_2);
	tcase_add_loop_test(tc, aes_gcm_mcgrew_viega, 0, 3);
	tcase_add_test(tc, aead_primitive_refusals);
	tcase_add_loop_test(tc, sk_round_trip_all_combos, 0, ncombos);
	tcase_add_loop_test(tc, sk_tamper_any_byte, 0, ncombos);
	tcase_add_loop_test(tc, sk_truncated_inputs, 0, ncombos);
	tcase_add_loop_test(tc, skf_round_trip_and_header_coverage, 0, ncombos);
	tcase_add_loop_test(tc, sk_iv_from_rand, 0, ncombos);
	tcase_add_test(tc, sk_cbc_hmac_matches_openssl);
	tcase_add_test(tc, sk_gcm_matches_openssl);
	tcase_add_test(tc, sk_malformed_after_authentication);
	tcase_add_test(tc, sk_cbc_length_not_block_multiple);
	tcase_add_test(tc, sk_refuses_bad_parameters);
	tcase_add_test(tc, sk_overhead_values);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
