/* Unit tests of the IKEv2 PRFs and prf+ against published vectors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "algs.h"
#include "iana.h"
#include "prf.h"

/* A known-answer vector. Key and data are hex, or fill octets repeated, or (data) ASCII.
 * out may be shorter than the PRF output: only that prefix is compared (truncation tests). */
typedef struct prf_vec {
	const char *src;
	uint16_t prf;
	const char *key_hex;
	uint8_t key_fill;
	size_t key_fill_n;
	const char *data_hex;
	const char *data_str;
	uint8_t data_fill;
	size_t data_fill_n;
	const char *out;
} prf_vec;

#define S256 GK_PRF_HMAC_SHA2_256
#define S384 GK_PRF_HMAC_SHA2_384
#define S512 GK_PRF_HMAC_SHA2_512
#define XCBC GK_PRF_AES128_XCBC
#define CMAC GK_PRF_AES128_CMAC

static const char tc6_data[] = "Test Using Larger Than Block-Size Key - Hash Key First";
static const char tc7_data[] = "This is a test using a larger than block-size key and a larger "
			       "than block-size data. The key needs to be hashed before being "
			       "used by the HMAC algorithm.";
static const char k0_15[] = "000102030405060708090a0b0c0d0e0f";
static const char m20[] = "000102030405060708090a0b0c0d0e0f10111213";

static const prf_vec vecs[] = {
	/* RFC 4231 section 4.2, test case 1 */
	{ "4231 4.2", S256, NULL, 0x0b, 20, NULL, "Hi There", 0, 0,
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
	{ "4231 4.2", S384, NULL, 0x0b, 20, NULL, "Hi There", 0, 0,
	  "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
	  "faea9ea9076ede7f4af152e8b2fa9cb6" },
	{ "4231 4.2", S512, NULL, 0x0b, 20, NULL, "Hi There", 0, 0,
	  "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
	  "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854" },
	/* RFC 4231 section 4.3, test case 2 */
	{ "4231 4.3", S256, "4a656665", 0, 0, NULL, "what do ya want for nothing?", 0, 0,
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	{ "4231 4.3", S384, "4a656665", 0, 0, NULL, "what do ya want for nothing?", 0, 0,
	  "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
	  "8e2240ca5e69e2c78b3239ecfab21649" },
	{ "4231 4.3", S512, "4a656665", 0, 0, NULL, "what do ya want for nothing?", 0, 0,
	  "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
	  "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
	/* RFC 4231 section 4.4, test case 3 */
	{ "4231 4.4", S256, NULL, 0xaa, 20, NULL, NULL, 0xdd, 50,
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
	{ "4231 4.4", S384, NULL, 0xaa, 20, NULL, NULL, 0xdd, 50,
	  "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b"
	  "2a5ab39dc13814b94e3ab6e101a34f27" },
	{ "4231 4.4", S512, NULL, 0xaa, 20, NULL, NULL, 0xdd, 50,
	  "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
	  "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb" },
	/* RFC 4231 section 4.5, test case 4 */
	{ "4231 4.5", S256, "0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 0,
	  NULL, NULL, 0xcd, 50,
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
	{ "4231 4.5", S384, "0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 0,
	  NULL, NULL, 0xcd, 50,
	  "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e"
	  "6801dd23c4a7d679ccf8a386c674cffb" },
	{ "4231 4.5", S512, "0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 0,
	  NULL, NULL, 0xcd, 50,
	  "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
	  "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd" },
	/* RFC 4231 section 4.6, test case 5: output truncated to 128 bits */
	{ "4231 4.6", S256, NULL, 0x0c, 20, NULL, "Test With Truncation", 0, 0,
	  "a3b6167473100ee06e0c796c2955552b" },
	{ "4231 4.6", S384, NULL, 0x0c, 20, NULL, "Test With Truncation", 0, 0,
	  "3abf34c3503b2a23a46efc619baef897" },
	{ "4231 4.6", S512, NULL, 0x0c, 20, NULL, "Test With Truncation", 0, 0,
	  "415fad6271580a531d4179bc891d87a6" },
	/* RFC 4231 section 4.7, test case 6 */
	{ "4231 4.7", S256, NULL, 0xaa, 131, NULL, tc6_data, 0, 0,
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
	{ "4231 4.7", S384, NULL, 0xaa, 131, NULL, tc6_data, 0, 0,
	  "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
	  "0c2ef6ab4030fe8296248df163f44952" },
	{ "4231 4.7", S512, NULL, 0xaa, 131, NULL, tc6_data, 0, 0,
	  "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
	  "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598" },
	/* RFC 4231 section 4.8, test case 7 */
	{ "4231 4.8", S256, NULL, 0xaa, 131, NULL, tc7_data, 0, 0,
	  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
	{ "4231 4.8", S384, NULL, 0xaa, 131, NULL, tc7_data, 0, 0,
	  "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5"
	  "a678cc31e799176d3860e6110c46523e" },
	{ "4231 4.8", S512, NULL, 0xaa, 131, NULL, tc7_data, 0, 0,
	  "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
	  "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58" },
	/* RFC 2202 section 3, HMAC-SHA-1 test cases 1 and 2 */
	{ "2202 3", GK_PRF_HMAC_SHA1, NULL, 0x0b, 20, NULL, "Hi There", 0, 0,
	  "b617318655057264e28bc0b6fb378c8ef146be00" },
	{ "2202 3", GK_PRF_HMAC_SHA1, "4a656665", 0, 0, NULL, "what do ya want for nothing?", 0, 0,
	  "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" },
	/* RFC 3566 section 4, AES-XCBC-MAC test cases 1-7 (16-octet key: the PRF is the MAC) */
	{ "3566 4 #1", XCBC, k0_15, 0, 0, "", NULL, 0, 0, "75f0251d528ac01c4573dfd584d79f29" },
	{ "3566 4 #2", XCBC, k0_15, 0, 0, "000102", NULL, 0, 0, "5b376580ae2f19afe7219ceef172756f" },
	{ "3566 4 #3", XCBC, k0_15, 0, 0, k0_15, NULL, 0, 0, "d2a246fa349b68a79998a4394ff7a263" },
	{ "3566 4 #4", XCBC, k0_15, 0, 0, m20, NULL, 0, 0, "47f51b4564966215b8985c63055ed308" },
	{ "3566 4 #5", XCBC, k0_15, 0, 0,
	  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", NULL, 0, 0,
	  "f54f0ec8d2b9f3d36807734bd5283fd4" },
	{ "3566 4 #6", XCBC, k0_15, 0, 0,
	  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021", NULL, 0, 0,
	  "becbb3bccdb518a30677d5481fb6b4d8" },
	{ "3566 4 #7", XCBC, k0_15, 0, 0, NULL, NULL, 0x00, 1000,
	  "f0dafee895db30253761103b5d84528f" },
	/* RFC 4434 section 4, AES-XCBC-PRF-128 with 16, 10 and 18 octet keys */
	{ "4434 4", XCBC, k0_15, 0, 0, m20, NULL, 0, 0, "47f51b4564966215b8985c63055ed308" },
	{ "4434 4", XCBC, "00010203040506070809", 0, 0, m20, NULL, 0, 0,
	  "0fa087af7d866e7653434e602fdde835" },
	{ "4434 4", XCBC, "000102030405060708090a0b0c0d0e0fedcb", 0, 0, m20, NULL, 0, 0,
	  "8cd3c93ae598a9803006ffb67c40e9e4" },
	/* RFC 4615 section 4, AES-CMAC-PRF-128 with 18, 16 and 10 octet keys */
	{ "4615 4", CMAC, "000102030405060708090a0b0c0d0e0fedcb", 0, 0, m20, NULL, 0, 0,
	  "84a348a4a45d235babfffc0d2b4da09a" },
	{ "4615 4", CMAC, k0_15, 0, 0, m20, NULL, 0, 0, "980ae87b5f4c9c5214f5b6a8455e4c2d" },
	{ "4615 4", CMAC, "00010203040506070809", 0, 0, m20, NULL, 0, 0,
	  "290d9e112edb09ee141fcf64c0b72f3d" },
};
#define NVECS ((int)(sizeof(vecs) / sizeof(vecs[0])))

/* Materialises a key or data field into a malloc'd buffer. */
static uint8_t *field(const char *hex, const char *str, uint8_t fill, size_t fill_n, size_t *len)
{
	if (hex)
		return tu_hex(hex, len);
	uint8_t *p = malloc(fill_n + (str ? strlen(str) : 0) + 1);
	ck_assert_ptr_nonnull(p);
	if (str) {
		*len = strlen(str);
		memcpy(p, str, *len);
	} else {
		*len = fill_n;
		memset(p, fill, fill_n);
	}
	return p;
}

START_TEST(prf_known_answers)
{
	const prf_vec *v = &vecs[_i];
	size_t klen, dlen, olen;
	uint8_t *key = field(v->key_hex, NULL, v->key_fill, v->key_fill_n, &klen);
	uint8_t *data = field(v->data_hex, v->data_str, v->data_fill, v->data_fill_n, &dlen);
	uint8_t *want = tu_hex(v->out, &olen);
	uint8_t out[64];
	gk_chunk part = GK_CHUNK(data, dlen);

	ck_assert_int_eq(gk_prf(v->prf, GK_CHUNK(key, klen), &part, 1, out), GK_OK);
	ck_assert_uint_le(olen, gk_prf_lookup(v->prf)->out_len);
	ck_assert_msg(memcmp(out, want, olen) == 0, "RFC %s prf %u: got %s", v->src, v->prf,
		      tu_tohex(out, olen));
	free(key);
	free(data);
	free(want);
}
END_TEST

static const uint16_t all_prfs[] = {
	GK_PRF_HMAC_SHA1, GK_PRF_AES128_XCBC, GK_PRF_HMAC_SHA2_256, GK_PRF_HMAC_SHA2_384,
	GK_PRF_HMAC_SHA2_512, GK_PRF_AES128_CMAC,
};
#define NPRFS ((int)(sizeof(all_prfs) / sizeof(all_prfs[0])))

/* Data given as several parts (some empty, splits off block boundaries) is their concatenation. */
START_TEST(prf_parts_concatenate)
{
	uint16_t prf = all_prfs[_i];
	uint8_t key[64], data[70], one[64], many[64];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	memset(key, 0x42, sizeof(key));
	gk_chunk k = GK_CHUNK(key, gk_prf_lookup(prf)->key_len);
	gk_chunk whole = GK_CHUNK(data, sizeof(data));
	ck_assert_int_eq(gk_prf(prf, k, &whole, 1, one), GK_OK);

	static const size_t cuts[][2] = { { 0, 0 }, { 1, 2 }, { 15, 16 }, { 16, 32 }, { 17, 17 },
					  { 31, 69 }, { 70, 70 } };
	for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		size_t a = cuts[c][0], b = cuts[c][1];
		gk_chunk parts[4] = { GK_CHUNK(data, a), GK_CHUNK(data + a, b - a), GK_CHUNK_EMPTY,
				      GK_CHUNK(data + b, sizeof(data) - b) };
		ck_assert_int_eq(gk_prf(prf, k, parts, 4, many), GK_OK);
		ck_assert_mem_eq(one, many, gk_prf_lookup(prf)->out_len);
	}
	/* No data at all is valid too, and differs from one zero octet. */
	uint8_t zero = 0;
	gk_chunk z = GK_CHUNK(&zero, 1);
	ck_assert_int_eq(gk_prf(prf, k, NULL, 0, one), GK_OK);
	ck_assert_int_eq(gk_prf(prf, k, &z, 1, many), GK_OK);
	ck_assert_mem_ne(one, many, gk_prf_lookup(prf)->out_len);
}
END_TEST

/* A keyed PRF run again and again gives gk_prf's value for each input: every run starts from
 * the key alone, whatever the runs before it hashed. */
START_TEST(prf_keyed_runs)
{
	uint16_t prf = all_prfs[_i];
	uint8_t key[64], data[70], want[64], got[64];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 5 + 3);
	memset(key, 0x24, sizeof(key));
	gk_chunk k = GK_CHUNK(key, gk_prf_lookup(prf)->key_len);
	gk_prf_keyed *kp = NULL;
	ck_assert_int_eq(gk_prf_keyed_new(prf, k, &kp), GK_OK);
	for (size_t n = 0; n <= sizeof(data); n += 7) {
		gk_chunk parts[2] = { GK_CHUNK(data, n / 2), GK_CHUNK(data + n / 2, n - n / 2) };
		ck_assert_int_eq(gk_prf(prf, k, parts, 2, want), GK_OK);
		ck_assert_int_eq(gk_prf_keyed_run(kp, parts, 2, got), GK_OK);
		ck_assert_mem_eq(want, got, gk_prf_lookup(prf)->out_len);
	}
	ck_assert_int_eq(gk_prf_keyed_run(kp, NULL, 1, got), GK_E_INVAL);
	gk_prf_keyed_free(kp);
	ck_assert_int_eq(gk_prf_keyed_new(0xffff, k, &kp), GK_E_UNSUPPORTED);
	ck_assert_ptr_null(kp);
}
END_TEST

/* A re-keyed PRF computes under its new key alone, for every key length the key rules treat
 * apart (empty, short, one AES block, odd, long), runs again after prf+ and prf+ after runs;
 * a refused key leaves it running nothing until a key is set again. */
START_TEST(prf_keyed_rekeys)
{
	uint16_t prf = all_prfs[_i];
	size_t h = gk_prf_lookup(prf)->out_len;
	uint8_t key[256], want[64], got[64], pw[3 * 64 + 7], pg[sizeof(pw)];
	static const size_t lens[] = { 0, 5, 16, 37, 64, 200, 16 };
	gk_chunk data = GK_CHUNK("some data", 9), seed = GK_CHUNK("seed", 4);
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 3 + 11);
	gk_prf_keyed *kp = NULL;
	ck_assert_int_eq(gk_prf_keyed_new(prf, GK_CHUNK(key + 1, 20), &kp), GK_OK);
	ck_assert_uint_eq(gk_prf_keyed_len(kp), h);
	ck_assert_int_eq(gk_prf_keyed_run(kp, &data, 1, got), GK_OK);
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		gk_chunk k = GK_CHUNK(key + l, lens[l]);
		ck_assert_int_eq(gk_prf_keyed_rekey(kp, k), GK_OK);
		ck_assert_int_eq(gk_prf(prf, k, &data, 1, want), GK_OK);
		ck_assert_int_eq(gk_prf_keyed_run(kp, &data, 1, got), GK_OK);
		ck_assert_mem_eq(want, got, h);
		ck_assert_int_eq(gk_prf_plus(prf, k, &seed, 1, pw, sizeof(pw)), GK_OK);
		ck_assert_int_eq(gk_prf_keyed_plus(kp, &seed, 1, pg, sizeof(pg)), GK_OK);
		ck_assert_mem_eq(pw, pg, sizeof(pw));
		ck_assert_int_eq(gk_prf_keyed_run(kp, &data, 1, got), GK_OK);
		ck_assert_mem_eq(want, got, h);
	}
	ck_assert_int_eq(gk_prf_keyed_rekey(kp, GK_CHUNK(NULL, 4)), GK_E_INVAL);
	ck_assert_int_eq(gk_prf_keyed_run(kp, &data, 1, got), GK_E_STATE);
	ck_assert_int_eq(gk_prf_keyed_plus(kp, &seed, 1, pg, 5), GK_E_STATE);
	ck_assert_int_eq(gk_prf_keyed_rekey(kp, GK_CHUNK(key, 16)), GK_OK);
	ck_assert_int_eq(gk_prf(prf, GK_CHUNK(key, 16), &data, 1, want), GK_OK);
	ck_assert_int_eq(gk_prf_keyed_run(kp, &data, 1, got), GK_OK);
	ck_assert_mem_eq(want, got, h);
	ck_assert_int_eq(gk_prf_keyed_plus(kp, &seed, 1, pg, 255 * h + 1), GK_E_INVAL);
	gk_prf_keyed_free(kp);
	ck_assert_int_eq(gk_prf_keyed_rekey(NULL, GK_CHUNK(key, 16)), GK_E_INVAL);
}
END_TEST

/* prf+ = T1 | T2 | ..., T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n) (RFC 7296 2.13). */
START_TEST(prf_plus_structure)
{
	uint16_t prf = all_prfs[_i];
	size_t h = gk_prf_lookup(prf)->out_len;
	uint8_t key[37], s1[5] = "seed", s2[9] = "material";
	uint8_t t[3][64], out[3 * 64];
	uint8_t c1 = 1, c2 = 2, c3 = 3;
	memset(key, 0x5a, sizeof(key)); /* odd length: exercises the AES PRF key rules too */
	gk_chunk k = GK_CHUNK(key, sizeof(key));
	gk_chunk seed[2] = { GK_CHUNK(s1, 4), GK_CHUNK(s2, 8) };

	gk_chunk p1[] = { seed[0], seed[1], GK_CHUNK(&c1, 1) };
	ck_assert_int_eq(gk_prf(prf, k, p1, 3, t[0]), GK_OK);
	gk_chunk p2[] = { GK_CHUNK(t[0], h), seed[0], seed[1], GK_CHUNK(&c2, 1) };
	ck_assert_int_eq(gk_prf(prf, k, p2, 4, t[1]), GK_OK);
	gk_chunk p3[] = { GK_CHUNK(t[1], h), seed[0], seed[1], GK_CHUNK(&c3, 1) };
	ck_assert_int_eq(gk_prf(prf, k, p3, 4, t[2]), GK_OK);

	size_t want = 2 * h + 5;
	memset(out, 0xee, sizeof(out));
	ck_assert_int_eq(gk_prf_plus(prf, k, seed, 2, out, want), GK_OK);
	ck_assert_mem_eq(out, t[0], h);
	ck_assert_mem_eq(out + h, t[1], h);
	ck_assert_mem_eq(out + 2 * h, t[2], 5);
	ck_assert_uint_eq(out[want], 0xee); /* nothing written past outlen */

	/* A shorter request is a prefix of a longer one. */
	ck_assert_int_eq(gk_prf_plus(prf, k, seed, 2, out, 3), GK_OK);
	ck_assert_mem_eq(out, t[0], 3);
	ck_assert_int_eq(gk_prf_plus(prf, k, seed, 2, NULL, 0), GK_OK);

	/* A seed longer than prf+'s stack buffer (hashed from the heap) gives the same structure. */
	size_t bl = 3000;
	uint8_t *big = malloc(bl), *bt = malloc(2 * 64);
	ck_assert_ptr_nonnull(big);
	ck_assert_ptr_nonnull(bt);
	for (size_t i = 0; i < bl; i++)
		big[i] = (uint8_t)(i * 13 + 5);
	gk_chunk bseed[2] = { GK_CHUNK(big, 1500), GK_CHUNK(big + 1500, bl - 1500) };
	gk_chunk b1[] = { GK_CHUNK(big, bl), GK_CHUNK(&c1, 1) };
	ck_assert_int_eq(gk_prf(prf, k, b1, 2, t[0]), GK_OK);
	gk_chunk b2[] = { GK_CHUNK(t[0], h), GK_CHUNK(big, bl), GK_CHUNK(&c2, 1) };
	ck_assert_int_eq(gk_prf(prf, k, b2, 3, t[1]), GK_OK);
	ck_assert_int_eq(gk_prf_plus(prf, k, bseed, 2, bt, h + 3), GK_OK);
	ck_assert_mem_eq(bt, t[0], h);
	ck_assert_mem_eq(bt + h, t[1], 3);
	free(big);
	free(bt);
}
END_TEST

START_TEST(prf_plus_bounds)
{
	uint16_t prf = all_prfs[_i];
	size_t h = gk_prf_lookup(prf)->out_len;
	uint8_t key[16] = { 1 }, *out = malloc(255 * h + 1);
	gk_chunk seed = GK_CHUNK("S", 1);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(gk_prf_plus(prf, GK_CHUNK(key, 16), &seed, 1, out, 255 * h), GK_OK);
	ck_assert_int_eq(gk_prf_plus(prf, GK_CHUNK(key, 16), &seed, 1, out, 255 * h + 1),
			 GK_E_INVAL);
	/* seed lengths whose sum does not fit a buffer are refused before anything is copied */
	gk_chunk huge[2] = { GK_CHUNK(key, SIZE_MAX / 2), GK_CHUNK(key, SIZE_MAX / 2) };
	ck_assert_int_eq(gk_prf_plus(prf, GK_CHUNK(key, 16), huge, 2, out, h), GK_E_INVAL);
	free(out);
}
END_TEST

START_TEST(prf_unknown_and_bad_args)
{
	uint8_t out[64], key[16] = { 0 };
	gk_chunk d = GK_CHUNK("x", 1);
	ck_assert_int_eq(gk_prf(1 /* HMAC_MD5, not implemented */, GK_CHUNK(key, 16), &d, 1, out),
			 GK_E_UNSUPPORTED);
	ck_assert_int_eq(gk_prf_plus(3, GK_CHUNK(key, 16), &d, 1, out, 16), GK_E_UNSUPPORTED);
	ck_assert_int_eq(gk_prf(GK_PRF_HMAC_SHA2_256, GK_CHUNK(key, 16), &d, 1, NULL), GK_E_INVAL);
	ck_assert_int_eq(gk_prf(GK_PRF_HMAC_SHA2_256, GK_CHUNK(NULL, 4), &d, 1, out), GK_E_INVAL);
	/* An empty key is legal for HMAC (RFC 2104) and, via the key rules, the AES PRFs. */
	for (int i = 0; i < NPRFS; i++)
		ck_assert_int_eq(gk_prf(all_prfs[i], GK_CHUNK_EMPTY, &d, 1, out), GK_OK);
}
END_TEST

/* gk_digest on its kept contexts gives the FIPS 180-4 digests, call after call, switching between
 * SHA-1 and SHA-256, after a secret input (the context set back) and for a digest it does not
 * keep; a NULL digest fails. */
START_TEST(digest_kept_contexts)
{
	/* FIPS 180-2 appendix examples: "abc" */
	static const uint8_t sha1_abc[20] = { 0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
					      0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d };
	static const uint8_t sha256_abc[32] = { 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
						0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
						0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	uint8_t out[32], big[1000], ref[32];
	unsigned int n = 0;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	for (int round = 0; round < 3; round++) {
		ck_assert_int_eq(gk_digest(gk_md_sha256(), "abc", 3, out, round == 1), GK_OK);
		ck_assert_mem_eq(out, sha256_abc, 32);
		ck_assert_int_eq(gk_digest(gk_md_sha1(), "abc", 3, out, round == 2), GK_OK);
		ck_assert_mem_eq(out, sha1_abc, 20);
		ck_assert_int_eq(gk_digest(gk_md_sha256(), big, sizeof(big), out, round == 0), GK_OK);
		ck_assert_int_eq(EVP_Digest(big, sizeof(big), ref, &n, EVP_sha256(), NULL), 1);
		ck_assert_mem_eq(out, ref, 32);
	}
	/* not a kept digest: the one-shot way */
	EVP_MD *sha384 = EVP_MD_fetch(NULL, "SHA2-384", NULL);
	uint8_t o384[48], r384[48];
	ck_assert_ptr_nonnull(sha384);
	ck_assert_int_eq(gk_digest(sha384, big, 10, o384, true), GK_OK);
	ck_assert_int_eq(EVP_Digest(big, 10, r384, &n, sha384, NULL), 1);
	ck_assert_mem_eq(o384, r384, 48);
	EVP_MD_free(sha384);
	ck_assert_int_eq(gk_digest(NULL, "abc", 3, out, false), GK_E_CRYPTO);
}
END_TEST

START_TEST(prf_table)
{
	ck_assert_uint_eq(gk_prf_lookup(GK_PRF_HMAC_SHA2_384)->key_len, 48);
	ck_assert_uint_eq(gk_prf_lookup(GK_PRF_AES128_XCBC)->out_len, 16);
	ck_assert_uint_eq(gk_prf_lookup(GK_PRF_HMAC_SHA1)->out_len, 20);
	ck_assert_ptr_null(gk_prf_lookup(1));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("prf");
	TCase *tc = tcase_create("prf");
	tcase_add_loop_test(tc, prf_known_answers, 0, NVECS);
	tcase_add_loop_test(tc, prf_parts_concatenate, 0, NPRFS);
	tcase_add_loop_test(tc, prf_plus_structure, 0, NPRFS);
	tcase_add_loop_test(tc, prf_keyed_runs, 0, NPRFS);
	tcase_add_loop_test(tc, prf_keyed_rekeys, 0, NPRFS);
	tcase_add_loop_test(tc, prf_plus_bounds, 0, NPRFS);
	tcase_add_test(tc, prf_unknown_and_bad_args);
	tcase_add_test(tc, prf_table);
	tcase_add_test(tc, digest_kept_contexts);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
