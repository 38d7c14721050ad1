/* Unit tests of key exchange (common/crypto/dh.c): published known-answer vectors, agreement of fresh
 * key pairs in every group, and the RFC 6989 checks on peer values. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "dh.h"
#include "iana.h"

static const uint16_t all_groups[] = {
	GK_KE_MODP_2048, GK_KE_MODP_3072, GK_KE_MODP_4096, GK_KE_ECP_256, GK_KE_ECP_384,
	GK_KE_ECP_521, GK_KE_CURVE25519, GK_KE_CURVE448,
};
#define NGROUPS ((int)(sizeof(all_groups) / sizeof(all_groups[0])))

static const uint16_t modp_groups[] = { GK_KE_MODP_2048, GK_KE_MODP_3072, GK_KE_MODP_4096 };
static const uint16_t ecp_groups[] = { GK_KE_ECP_256, GK_KE_ECP_384, GK_KE_ECP_521 };

/* Octets of the shared secret: MODP the prime, ECP the x coordinate, XDH the raw value. */
static size_t secret_len(uint16_t group)
{
	size_t n = gk_dh_public_len(group);
	return group >= GK_KE_ECP_256 && group <= GK_KE_ECP_521 ? n / 2 : n;
}

static gk_dh *new_dh(uint16_t group)
{
	gk_dh *dh = NULL;
	ck_assert_int_eq(gk_dh_new(group, &dh), GK_OK);
	ck_assert_ptr_nonnull(dh);
	ck_assert_uint_eq(gk_dh_group(dh), group);
	return dh;
}

static gk_dh *from_priv(uint16_t group, const char *priv_hex)
{
	gk_dh *dh = NULL;
	ck_assert_int_eq(gk_dh_new_from_private(group, tu_hexc(priv_hex), &dh), GK_OK);
	ck_assert_ptr_nonnull(dh);
	return dh;
}

/* Our public value into w (reset first). */
static gk_chunk pub_of(const gk_dh *dh, gk_wbuf *w)
{
	gk_wbuf_init(w, 0);
	ck_assert_int_eq(gk_dh_public(dh, w), GK_OK);
	ck_assert_uint_eq(w->len, gk_dh_public_len(gk_dh_group(dh)));
	return gk_wbuf_chunk(w);
}

static void expect_public(const gk_dh *dh, const char *hex)
{
	gk_wbuf w;
	gk_chunk c = pub_of(dh, &w);
	ck_assert_mem_hex(c.ptr, c.len, hex);
	gk_wbuf_free(&w);
}

static void expect_shared(const gk_dh *dh, gk_chunk peer, const char *hex)
{
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_dh_derive(dh, peer, &w), GK_OK);
	ck_assert_mem_hex(w.data, w.len, hex);
	gk_wbuf_free(&w);
}

/* The peer value is copied to a block of exactly its size, so that ASan sees any over-read;
 * the output holds one octet beforehand and must hold only it afterwards. */
static void expect_bad_ke(const gk_dh *dh, const uint8_t *val, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(copy);
	if (len)
		memcpy(copy, val, len);
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	gk_wbuf_u8(&w, 0xa5);
	gk_status st = gk_dh_derive(dh, GK_CHUNK(copy, len), &w);
	ck_assert_msg(st == GK_E_BAD_KE, "group %u, %zu-octet value %s: got %s", gk_dh_group(dh), len,
		      tu_tohex(val, len), gk_status_str(st));
	ck_assert_uint_eq(w.len, 1);
	ck_assert_uint_eq(w.data[0], 0xa5);
	gk_wbuf_free(&w);
	free(copy);
}

static void expect_bad_ke_hex(const gk_dh *dh, const char *hex)
{
	gk_chunk c = tu_hexc(hex);
	expect_bad_ke(dh, c.ptr, c.len);
}

/* Known answer for one pair: both publics and the shared secret from either side. */
static void kat_pair(uint16_t group, const char *priv_i, const char *pub_i, const char *priv_r,
		     const char *pub_r, const char *shared)
{
	gk_dh *i = from_priv(group, priv_i);
	gk_dh *r = from_priv(group, priv_r);
	expect_public(i, pub_i);
	expect_public(r, pub_r);
	expect_shared(i, tu_hexc(pub_r), shared);
	expect_shared(r, tu_hexc(pub_i), shared);
	gk_dh_free(i);
	gk_dh_free(r);
}

/* Known answer of a single scalar multiplication: X(scalar, u) = out. */
static void kat_scalarmult(uint16_t group, const char *scalar, const char *u, const char *out)
{
	gk_dh *dh = from_priv(group, scalar);
	expect_shared(dh, tu_hexc(u), out);
	gk_dh_free(dh);
}

START_TEST(groups_and_lengths)
{
	static const struct { uint16_t g; size_t len; } t[] = {
		{ 14, 256 }, { 15, 384 }, { 16, 512 }, { 19, 64 }, { 20, 96 }, { 21, 132 },
		{ 31, 32 }, { 32, 56 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert(gk_dh_supported(t[i].g));
		ck_assert_uint_eq(gk_dh_public_len(t[i].g), t[i].len);
	}
	static const uint16_t unsupported[] = { 0, 1, 2, 5, 17, 18, 22, 23, 24, 26, 30, 33, 0xffff };
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
		static int sentinel;
		gk_dh *dh = (gk_dh *)&sentinel; /* must be reset to NULL */
		ck_assert(!gk_dh_supported(unsupported[i]));
		ck_assert_uint_eq(gk_dh_public_len(unsupported[i]), 0);
		ck_assert_int_eq(gk_dh_new(unsupported[i], &dh), GK_E_UNSUPPORTED);
		ck_assert_ptr_null(dh);
		ck_assert_int_eq(gk_dh_new_from_private(unsupported[i], tu_hexc("01"), &dh),
				 GK_E_UNSUPPORTED);
	}
	ck_assert_int_eq(gk_dh_new(GK_KE_CURVE25519, NULL), GK_E_INVAL);
	gk_dh_free(NULL);
}
END_TEST

/* Two fresh key pairs agree, with values of the advertised lengths. */
START_TEST(fresh_pairs_agree)
{
	uint16_t group = all_groups[_i];
	gk_dh *a = new_dh(group), *b = new_dh(group);
	gk_wbuf pa, pb, sa, sb, again;
	gk_chunk ca = pub_of(a, &pa), cb = pub_of(b, &pb);
	ck_assert(!gk_chunk_eq(ca, cb));
	gk_chunk c2 = pub_of(a, &again); /* stable across calls */
	ck_assert(gk_chunk_eq(ca, c2));

	gk_wbuf_init(&sa, 0);
	gk_wbuf_init(&sb, 0);
	gk_wbuf_u32(&sa, 0xdeadbeef); /* appends after what is there */
	ck_assert_int_eq(gk_dh_derive(a, cb, &sa), GK_OK);
	ck_assert_int_eq(gk_dh_derive(b, ca, &sb), GK_OK);
	ck_assert_uint_eq(sb.len, secret_len(group));
	ck_assert_uint_eq(sa.len, 4 + secret_len(group));
	ck_assert_mem_eq(sa.data + 4, sb.data, sb.len);

	/* A third party gets a different secret. */
	gk_dh *c = new_dh(group);
	gk_wbuf sc;
	gk_wbuf_init(&sc, 0);
	ck_assert_int_eq(gk_dh_derive(c, ca, &sc), GK_OK);
	ck_assert(!gk_chunk_eq(gk_wbuf_chunk(&sc), gk_wbuf_chunk(&sb)));

	gk_wbuf_free(&pa);
	gk_wbuf_free(&pb);
	gk_wbuf_free(&again);
	gk_wbuf_free(&sa);
	gk_wbuf_free(&sb);
	gk_wbuf_free(&sc);
	gk_dh_free(a);
	gk_dh_free(b);
	gk_dh_free(c);
}
END_TEST

/* Wrong length is refused for every group, and an output buffer that cannot take the secret
 * gives its error with nothing appended. */
START_TEST(wrong_length_and_full_output)
{
	uint16_t group = all_groups[_i];
	gk_dh *a = new_dh(group), *b = new_dh(group);
	gk_wbuf pb;
	gk_chunk cb = pub_of(b, &pb);
	expect_bad_ke(a, cb.ptr, 0);
	expect_bad_ke(a, cb.ptr, cb.len - 1);
	uint8_t longer[1 + 512];
	longer[0] = 0;
	memcpy(longer + 1, cb.ptr, cb.len);
	expect_bad_ke(a, longer, cb.len + 1);
	expect_bad_ke(a, cb.ptr + 1, cb.len - 1);

	gk_wbuf small;
	gk_wbuf_init(&small, secret_len(group) - 1);
	ck_assert_int_eq(gk_dh_derive(a, cb, &small), GK_E_TOO_BIG);
	ck_assert_uint_eq(small.len, 0);
	ck_assert_int_eq(gk_dh_derive(a, GK_CHUNK(NULL, 4), &small), GK_E_INVAL);
	ck_assert_int_eq(gk_dh_derive(NULL, cb, &small), GK_E_INVAL);
	ck_assert_int_eq(gk_dh_public(a, NULL), GK_E_INVAL);
	gk_wbuf_free(&small);
	gk_wbuf_free(&pb);
	gk_dh_free(a);
	gk_dh_free(b);
}
END_TEST

/* RFC 7748 section 5.2: the two single-multiplication X25519 vectors. */
START_TEST(rfc7748_x25519_scalarmult)
{
	kat_scalarmult(GK_KE_CURVE25519,
		       "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
		       "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
		       "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
	/* The u-coordinate has its top bit set; X25519 masks it (RFC 7748 section 5). */
	kat_scalarmult(GK_KE_CURVE25519,
		       "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
		       "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
		       "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
}
END_TEST

/* RFC 7748 section 5.2: the two single-multiplication X448 vectors. */
START_TEST(rfc7748_x448_scalarmult)
{
	kat_scalarmult(GK_KE_CURVE448,
		       "3d262fddf9ec8e88495266fea19a34d28882acef045104d0d1aae121"
		       "700a779c984c24f8cdd78fbff44943eba368f54b29259a4f1c600ad3",
		       "06fce640fa3487bfda5f6cf2d5263f8aad88334cbd07437f020f08f9"
		       "814dc031ddbdc38c19c6da2583fa5429db94ada18aa7a7fb4ef8a086",
		       "ce3e4ff95a60dc6697da1db1d85e6afbdf79b50a2412d7546d5f239f"
		       "e14fbaadeb445fc66a01b0779d98223961111e21766282f73dd96b6f");
	kat_scalarmult(GK_KE_CURVE448,
		       "203d494428b8399352665ddca42f9de8fef600908e0d461cb021f8c5"
		       "38345dd77c3e4806e25f46d3315c44e0a5b4371282dd2c8d5be3095f",
		       "0fbcc2f993cd56d3305b0b7d9e55d4c1a8fb5dbb52f8e9a1e9b6201b"
		       "165d015894e56c4d3570bee52fe205e28a78b91cdfbde71ce8d157db",
		       "884a02576239ff7a2f2f63b2db6a9ff37047ac13568e1e30fe63c4a7"
		       "ad1b3ee3a5700df34321d62077e63633c575c1c954514e99da7c179d");
}
END_TEST

/* RFC 7748 section 6.1: Alice and Bob over Curve25519. */
START_TEST(rfc7748_x25519_dh)
{
	kat_pair(GK_KE_CURVE25519,
		 "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
		 "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
		 "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
		 "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
		 "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
}
END_TEST

/* One key pair deriving again and again through handles of gk_dh_share (RFC 7296 2.12 reuse):
 * the pair's kept derivation context and the thread's kept peer key, whose value each peer's
 * replaces, give every derivation the answer of its own peer value (RFC 7748 5.2 and 6.1
 * vectors), also right after a refused low-order value and after another pair's derivation. */
START_TEST(x25519_reuse_known_answers)
{
	static const char alice[] = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
			  alice_pub[] = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
			  bob[] = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
			  bob_pub[] = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
			  shared[] = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
	gk_dh *a = from_priv(GK_KE_CURVE25519, alice), *a2 = NULL, *b = from_priv(GK_KE_CURVE25519, bob);
	ck_assert_int_eq(gk_dh_share(a, &a2), GK_OK);
	expect_shared(a, tu_hexc(bob_pub), shared);
	expect_shared(b, tu_hexc(alice_pub), shared);
	expect_shared(a2, tu_hexc(bob_pub), shared);
	/* RFC 7748 5.2, first vector, through a fresh pair between the two handles' uses */
	gk_dh *k = from_priv(GK_KE_CURVE25519, "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
	expect_shared(k, tu_hexc("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
		      "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
	gk_dh_free(k);
	expect_bad_ke_hex(a2, "0000000000000000000000000000000000000000000000000000000000000000");
	expect_shared(a2, tu_hexc(bob_pub), shared);
	expect_public(a2, alice_pub);
	gk_dh_free(a);
	expect_shared(a2, tu_hexc(bob_pub), shared); /* the pair lives on with its last handle */
	expect_shared(b, tu_hexc(alice_pub), shared);
	gk_dh_free(a2);
	gk_dh_free(b);
}
END_TEST

/* Handles of one key pair on several threads at once: one thread uses the pair's kept
 * derivation context, the others contexts of their own while it is busy, and each its own
 * thread's kept peer key; every derivation gives the RFC 7748 6.1 secret. */
typedef struct share_run {
	gk_dh *dh;
	gk_chunk peer, want;
	int wrong;
} share_run;

static void *share_thread(void *arg)
{
	share_run *r = arg;
	gk_chunk want = r->want;
	for (int i = 0; i < 40; i++) {
		gk_wbuf w;
		gk_wbuf_init(&w, 0);
		if (gk_dh_derive(r->dh, r->peer, &w) != GK_OK || w.len != want.len || memcmp(w.data, want.ptr, w.len))
			r->wrong++;
		gk_wbuf_free(&w);
	}
	return NULL;
}

START_TEST(x25519_shared_pair_threads)
{
	gk_dh *a = from_priv(GK_KE_CURVE25519, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	gk_chunk bob_pub = tu_hexc("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	uint8_t *peer = malloc(bob_pub.len);
	ck_assert_ptr_nonnull(peer);
	memcpy(peer, bob_pub.ptr, bob_pub.len);
	gk_chunk want = tu_hexc("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	share_run runs[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		runs[i] = (share_run){ .peer = GK_CHUNK(peer, bob_pub.len), .want = want };
		ck_assert_int_eq(gk_dh_share(a, &runs[i].dh), GK_OK);
		ck_assert_int_eq(pthread_create(&t[i], NULL, share_thread, &runs[i]), 0);
	}
	gk_dh_free(a);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_int_eq(runs[i].wrong, 0);
		gk_dh_free(runs[i].dh);
	}
	free(peer);
}
END_TEST

/* RFC 7748 section 6.2: Alice and Bob over Curve448. */
START_TEST(rfc7748_x448_dh)
{
	kat_pair(GK_KE_CURVE448,
		 "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28d"
		 "d9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b",
		 "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c"
		 "22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0",
		 "1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d"
		 "6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d",
		 "3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b430"
		 "27d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609",
		 "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282b"
		 "b60c0b56fd2464c335543936521c24403085d59a449a5037514a879d");
}
END_TEST

/* RFC 5903 section 8.1: 256-bit random ECP group; public values are g^x | g^y, the shared
 * secret is the x coordinate of g^ir (RFC 5903 section 7 and 9). */
START_TEST(rfc5903_ecp256)
{
	kat_pair(GK_KE_ECP_256,
		 "C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433",
		 "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180"
		 "5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3",
		 "C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53",
		 "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63"
		 "56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
		 "D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE");
}
END_TEST

/* RFC 5903 section 8.2: 384-bit random ECP group. */
START_TEST(rfc5903_ecp384)
{
	kat_pair(GK_KE_ECP_384,
		 "099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655"
		 "E35B5380 41E649EE 3FAEF896 783AB194",
		 "667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6"
		 "DE3AC808 ACB4BDB4 C88732AE E95F41AA"
		 "9482ED1F C0EEB9CA FC498462 5CCFC23F 65032149 E0E144AD A0241815 35A0F38E"
		 "EB9FCFF3 C2C947DA E69B4C63 4573A81C",
		 "41CB0779 B4BDB85D 47846725 FBEC3C94 30FAB46C C8DC5060 855CC9BD A0AA2942"
		 "E0308312 916B8ED2 960E4BD5 5A7448FC",
		 "E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D"
		 "0D1AC43A 0336DEF9 6FDA41D0 774A3571"
		 "DCFBEC7A ACF31964 72169E83 8430367F 66EEBE3C 6E70C416 DD5F0C68 759DD1FF"
		 "F83FA401 42209DFF 5EAAD96D B9E6386C",
		 "11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4"
		 "D6031355 69B9E9D0 9CF5D4A2 70F59746");
}
END_TEST

/* RFC 5903 section 8.3: 521-bit random ECP group; coordinates are 66 octets. */
START_TEST(rfc5903_ecp521)
{
	kat_pair(GK_KE_ECP_521,
		 "0037ADE9 319A89F4 DABDB3EF 411AACCC A5123C61 ACAB57B5 393DCE47 608172A0"
		 "95AA85A3 0FE1C295 2C6771D9 37BA9777 F5957B26 39BAB072 462F68C2 7A57382D"
		 "4A52",
		 "0015417E 84DBF28C 0AD3C278 713349DC 7DF153C8 97A1891B D98BAB43 57C9ECBE"
		 "E1E3BF42 E00B8E38 0AEAE57C 2D107564 94188594 2AF5A7F4 601723C4 195D176C"
		 "ED3E"
		 "017CAE20 B6641D2E EB695786 D8C94614 6239D099 E18E1D5A 514C739D 7CB4A10A"
		 "D8A78801 5AC405D7 799DC75E 7B7D5B6C F2261A6A 7F150743 8BF01BEB 6CA3926F"
		 "9582",
		 "0145BA99 A847AF43 793FDD0E 872E7CDF A16BE30F DC780F97 BCCC3F07 8380201E"
		 "9C677D60 0B343757 A3BDBF2A 3163E4C2 F869CCA7 458AA4A4 EFFC311F 5CB15168"
		 "5EB9",
		 "00D0B397 5AC4B799 F5BEA16D 5E13E9AF 971D5E9B 984C9F39 728B5E57 39735A21"
		 "9B97C356 436ADC6E 95BB0352 F6BE64A6 C2912D4E F2D0433C ED2B6171 640012D9"
		 "460F"
		 "015C6822 6383956E 3BD066E7 97B623C2 7CE0EAC2 F551A10C 2C724D98 52077B87"
		 "220B6536 C5C408A1 D2AEBB8E 86D678AE 49CB5709 1F473229 6579AB44 FCD17F0F"
		 "C56A",
		 "01144C7D 79AE6956 BC8EDB8E 7C787C45 21CB086F A64407F9 7894E5E6 B2D79B04"
		 "D1427E73 CA4BAA24 0A347868 59810C06 B3C715A3 A8CC3151 F2BEE417 996D19F3"
		 "DDEA");
}
END_TEST

/* RFC 3526 section 3: the 2048-bit MODP prime (group 14). */
static const char modp14_p[] =
	"FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1 29024E08 8A67CC74"
	"020BBEA6 3B139B22 514A0879 8E3404DD EF9519B3 CD3A431B 302B0A6D F25F1437"
	"4FE1356D 6D51C245 E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED"
	"EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D C2007CB8 A163BF05"
	"98DA4836 1C55D39A 69163FA8 FD24CF5F 83655D23 DCA3AD96 1C62F356 208552BB"
	"9ED52907 7096966D 670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B"
	"E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9 DE2BCBF6 95581718"
	"3995497C EA956AE5 15D22618 98FA0510 15728E5A 8AACAA68 FFFFFFFF FFFFFFFF";

/* RFC 3526 section 4: the 3072-bit MODP prime (group 15). */
static const char modp15_p[] =
	"FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1 29024E08 8A67CC74"
	"020BBEA6 3B139B22 514A0879 8E3404DD EF9519B3 CD3A431B 302B0A6D F25F1437"
	"4FE1356D 6D51C245 E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED"
	"EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D C2007CB8 A163BF05"
	"98DA4836 1C55D39A 69163FA8 FD24CF5F 83655D23 DCA3AD96 1C62F356 208552BB"
	"9ED52907 7096966D 670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B"
	"E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9 DE2BCBF6 95581718"
	"3995497C EA956AE5 15D22618 98FA0510 15728E5A 8AAAC42D AD33170D 04507A33"
	"A85521AB DF1CBA64 ECFB8504 58DBEF0A 8AEA7157 5D060C7D B3970F85 A6E1E4C7"
	"ABF5AE8C DB0933D7 1E8C94E0 4A25619D CEE3D226 1AD2EE6B F12FFA06 D98A0864"
	"D8760273 3EC86A64 521F2B18 177B200C BBE11757 7A615D6C 770988C0 BAD946E2"
	"08E24FA0 74E5AB31 43DB5BFC E0FD108E 4B82D120 A93AD2CA FFFFFFFF FFFFFFFF";

/* RFC 3526 section 5: the 4096-bit MODP prime (group 16). */
static const char modp16_p[] =
	"FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1 29024E08 8A67CC74"
	"020BBEA6 3B139B22 514A0879 8E3404DD EF9519B3 CD3A431B 302B0A6D F25F1437"
	"4FE1356D 6D51C245 E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED"
	"EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D C2007CB8 A163BF05"
	"98DA4836 1C55D39A 69163FA8 FD24CF5F 83655D23 DCA3AD96 1C62F356 208552BB"
	"9ED52907 7096966D 670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B"
	"E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9 DE2BCBF6 95581718"
	"3995497C EA956AE5 15D22618 98FA0510 15728E5A 8AAAC42D AD33170D 04507A33"
	"A85521AB DF1CBA64 ECFB8504 58DBEF0A 8AEA7157 5D060C7D B3970F85 A6E1E4C7"
	"ABF5AE8C DB0933D7 1E8C94E0 4A25619D CEE3D226 1AD2EE6B F12FFA06 D98A0864"
	"D8760273 3EC86A64 521F2B18 177B200C BBE11757 7A615D6C 770988C0 BAD946E2"
	"08E24FA0 74E5AB31 43DB5BFC E0FD108E 4B82D120 A9210801 1A723C12 A787E6D7"
	"88719A10 BDBA5B26 99C32718 6AF4E23C 1A946834 B6150BDA 2583E9CA 2AD44CE8"
	"DBBBC2DB 04DE8EF9 2E8EFC14 1FBECAA6 287C5947 4E6BC05D 99B2964F A090C3A2"
	"233BA186 515BE7ED 1F612970 CEE2D7AF B81BDD76 2170481C D0069127 D5B05AA9"
	"93B4EA98 8D8FDDC1 86FFB7DC 90A6C08F 4DF435C9 34063199 FFFFFFFF FFFFFFFF";

/* p as a chunk; n is its bit length. */
static gk_chunk modp_prime(uint16_t group)
{
	switch (group) {
	case GK_KE_MODP_2048:
		return tu_hexc(modp14_p);
	case GK_KE_MODP_3072:
		return tu_hexc(modp15_p);
	default:
		return tu_hexc(modp16_p);
	}
}

/* MODP group 14 known answer. No published IKE vector exists for the RFC 3526 groups, so these
 * were computed independently (Python's pow() over the RFC 3526 section 3 prime, g = 2). */
START_TEST(modp2048_known_answer)
{
	kat_pair(GK_KE_MODP_2048,
		 "6f1c2a3b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8",
		 "9ffa801d53b1871379134b7cf91fa5ddfcf5a94b256348366418ff9a00c7c897"
		 "685c005017738b08ddfffcbba4e006b340e1c6a6d0c87741bf4385d23924da74"
		 "f552ef565a91a00e0f23c78c005b4aa89c4294221178cfd1022e887246e0d9a5"
		 "27cbffba845b9a43def20edcca1758de665a6300f5aaa4411f713aad4c90088e"
		 "3a33dceddf00da633d719936f16bcc379c45ae007469bc6e4492f80b537c88b3"
		 "91e4c226abb6df97340a78b42e6860ad30a59c91f36d0dc7b32b96d846152987"
		 "a3b56a9c5814c78b41268aadff6e39df1ca32e6941c05fde21fe614ebfc75c1c"
		 "7af7d3431f3515dec2f6647007ccaa1c613ae9f10e9b7b1cda0b35d8ecb5a1f3",
		 "0123456789abcdeffedcba98765432100f1e2d3c4b5a69788796a5b4c3d2e1f0",
		 "3ecbcbc408658733b351f2c3e9eb7d2af7476dfb33a9880d0e09e093b336984b"
		 "bfb761fde21ffe4c008e22dafd2a6530bf9da982a2fa12b6bff6a60da1f2ba6c"
		 "d06d9eb2032cd7cac809b987e9f9b96f6ed61be9a0cda7c463ed9b99fa054db3"
		 "b357acf1f56cf0af4adec693e4616738c7b5c71198bd9ed1c1f36c9778955b4b"
		 "59fc0e6a5ca41803ee85feef21fdf193f428228620e8abe41e006f3147774fcf"
		 "32bda2b5b09403013d9adbbe9a66bfafab042f5db59dbb8f99d0bc9bb2190d08"
		 "20bfdbe735e7d66eb265ee6b59f06a086713ba05a69cf0e9cb4d60dfba80b68d"
		 "e2a7cfdd936d822dc99245eb85e49bab37bd897ace2c688aa556c685b690d48e",
		 "d089010196d659bc8b8ebffda0d78fb815682f8a0efd375d0551133b6ef9717a"
		 "f92d1cdad447770ea0860d7d3bf2b77b9fa13ec09373ae22ef84ee2b52b61214"
		 "990d2464c3d18447d6eca65567b9d1284c8ca481a4ccd60b13378e0ba9ba45f2"
		 "861190177702ae1345dc80abe8cae2e076f509c9e58f699c78d5a498490939f6"
		 "765e56b951bbc5859ee6f21d86c93efcad87e42499830f8eaf07e85f8f0b1646"
		 "a192c26be43183122d9b2859e30bc819ea8b0e4bfdd1f28e23efe78513c7e94f"
		 "a0e2049364edb418ff80af549d45653e85d2ee8b37ba8cc847b1ce0fb0e90af2"
		 "f3384a0f45853211875175d2f733fb247e10effff0fd00766a1e6d0e183ca087");
}
END_TEST

/* 2^n mod p = 2^n - p for the n-bit RFC 3526 prime, i.e. p's two's complement in n bits:
 * with x = n both our public value (g = 2) and the secret from peer value 2 are that number.
 * This pins each group to the RFC 3526 prime (the RFC 7919 ffdhe primes differ). */
START_TEST(modp_power_of_two_wraps)
{
	uint16_t group = modp_groups[_i];
	gk_chunk p = modp_prime(group);
	uint8_t *neg = malloc(p.len), *two = calloc(1, p.len);
	ck_assert_ptr_nonnull(neg);
	ck_assert_ptr_nonnull(two);
	unsigned carry = 1;
	for (size_t k = p.len; k-- > 0;) {
		unsigned v = (uint8_t)~p.ptr[k] + carry;
		neg[k] = (uint8_t)v;
		carry = v >> 8;
	}
	two[p.len - 1] = 2;
	uint8_t x[2];
	gk_put_u16(x, (uint16_t)(p.len * 8));

	gk_dh *dh = NULL;
	ck_assert_int_eq(gk_dh_new_from_private(group, GK_CHUNK(x, 2), &dh), GK_OK);
	gk_wbuf w, s;
	gk_chunk pub = pub_of(dh, &w);
	ck_assert_mem_eq(pub.ptr, neg, p.len);
	gk_wbuf_init(&s, 0);
	ck_assert_int_eq(gk_dh_derive(dh, GK_CHUNK(two, p.len), &s), GK_OK);
	ck_assert_uint_eq(s.len, p.len);
	ck_assert_mem_eq(s.data, neg, p.len);

	/* A small secret keeps its leading zeros (RFC 7296 2.14): x = 5, peer 2 -> 2^5. */
	gk_dh *small = NULL;
	ck_assert_int_eq(gk_dh_new_from_private(group, tu_hexc("05"), &small), GK_OK);
	gk_wbuf_free(&s);
	gk_wbuf_init(&s, 0);
	ck_assert_int_eq(gk_dh_derive(small, GK_CHUNK(two, p.len), &s), GK_OK);
	ck_assert_uint_eq(s.len, p.len);
	for (size_t k = 0; k + 1 < p.len; k++)
		ck_assert_uint_eq(s.data[k], 0);
	ck_assert_uint_eq(s.data[p.len - 1], 32);

	gk_wbuf_free(&w);
	gk_wbuf_free(&s);
	gk_dh_free(dh);
	gk_dh_free(small);
	free(neg);
	free(two);
}
END_TEST

/* Adds v (may be negative) to the big-endian number of p.len octets, into a fresh buffer. */
static uint8_t *modp_plus(gk_chunk p, int v)
{
	uint8_t *r = malloc(p.len);
	ck_assert_ptr_nonnull(r);
	memcpy(r, p.ptr, p.len);
	int carry = v;
	for (size_t k = p.len; k-- > 0 && carry;) {
		int s = r[k] + carry;
		r[k] = (uint8_t)s;
		carry = s >> 8; /* arithmetic shift: -1 borrows */
	}
	return r;
}

/* RFC 6989 2.1 for the MODP groups: y must satisfy 1 < y < p-1 and be as long as the prime. */
START_TEST(rfc6989_modp)
{
	uint16_t group = modp_groups[_i];
	gk_chunk p = modp_prime(group);
	gk_dh *dh = new_dh(group);
	uint8_t *v = calloc(1, p.len + 1);
	ck_assert_ptr_nonnull(v);

	expect_bad_ke(dh, v, p.len); /* 0 */
	v[p.len - 1] = 1;
	expect_bad_ke(dh, v, p.len); /* 1 */
	v[p.len - 1] = 2;
	expect_bad_ke(dh, v + 1, p.len - 1); /* 2, but short */
	expect_bad_ke(dh, v, p.len + 1);     /* 2 with a zero after: long */
	int deltas[] = { -1, 0, 1 };         /* p-1, p, p+1 */
	for (size_t k = 0; k < sizeof(deltas) / sizeof(deltas[0]); k++) {
		uint8_t *y = modp_plus(p, deltas[k]);
		expect_bad_ke(dh, y, p.len);
		free(y);
	}
	memset(v, 0xff, p.len); /* 2^n - 1 > p */
	expect_bad_ke(dh, v, p.len);

	/* Controls: 2 and p-2 pass. p-2 is outside the order-q subgroup, but RFC 6989 2.2 needs
	 * only the range test for safe primes (the one small subgroup is {1, p-1}); the full
	 * test is deliberately not made (see derive_raw in dh.c). */
	memset(v, 0, p.len);
	v[p.len - 1] = 2;
	uint8_t *pm2 = modp_plus(p, -2);
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_dh_derive(dh, GK_CHUNK(v, p.len), &w), GK_OK);
	ck_assert_int_eq(gk_dh_derive(dh, GK_CHUNK(pm2, p.len), &w), GK_OK);
	ck_assert_uint_eq(w.len, 2 * p.len);
	gk_wbuf_free(&w);
	free(pm2);
	free(v);
	gk_dh_free(dh);
}
END_TEST

/* RFC 6989 2.3 for the ECP groups: the point must have the right length and be on the curve. */
START_TEST(rfc6989_ecp)
{
	uint16_t group = ecp_groups[_i];
	size_t len = gk_dh_public_len(group);
	gk_dh *a = new_dh(group), *b = new_dh(group);
	gk_wbuf pb;
	gk_chunk cb = pub_of(b, &pb);
	uint8_t v[1 + 132];

	memset(v, 0, sizeof(v));
	expect_bad_ke(a, v, len); /* (0, 0) is not on any of these curves */

	/* Flipping y's low bit leaves the curve: y ^ 1 is on it only if it equals p - y, which
	 * needs y = (p -+ 1)/2 and is negligible for a fresh key. */
	memcpy(v, cb.ptr, len);
	v[len - 1] ^= 1;
	expect_bad_ke(a, v, len);

	/* x and y at or above p (all ones exceeds every one of these primes). */
	memcpy(v, cb.ptr, len);
	memset(v, 0xff, len / 2);
	expect_bad_ke(a, v, len);
	memcpy(v, cb.ptr, len);
	memset(v + len / 2, 0xff, len / 2);
	expect_bad_ke(a, v, len);

	/* The SEC 1 form with its 0x04 octet is not the IKE encoding (RFC 5903 7). */
	v[0] = 0x04;
	memcpy(v + 1, cb.ptr, len);
	expect_bad_ke(a, v, len + 1);
	expect_bad_ke(a, v, len);

	gk_wbuf_free(&pb);
	gk_dh_free(a);
	gk_dh_free(b);
}
END_TEST

/* RFC 7748 6.1 / RFC 8031 2.1: a low-order point gives an all-zero secret, which is refused.
 * u-coordinates little-endian; p = 2^255 - 19 and p + 1 are non-canonical 0 and 1. */
START_TEST(x25519_low_order)
{
	gk_dh *dh = new_dh(GK_KE_CURVE25519);
	static const char *const bad[] = {
		"0000000000000000000000000000000000000000000000000000000000000000", /* 0 */
		"0100000000000000000000000000000000000000000000000000000000000000", /* 1 */
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", /* order 8 */
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", /* order 8 */
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p - 1 */
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p */
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p + 1 */
		"0000000000000000000000000000000000000000000000000000000000000080", /* 0, top bit set */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad_ke_hex(dh, bad[i]);
	gk_dh_free(dh);
}
END_TEST

/* The same for Curve448 (RFC 7748 6.2): 0, 1 and p - 1 = -1 have small order. */
START_TEST(x448_low_order)
{
	gk_dh *dh = new_dh(GK_KE_CURVE448);
	uint8_t v[56];
	memset(v, 0, sizeof(v));
	expect_bad_ke(dh, v, sizeof(v)); /* 0 */
	v[0] = 1;
	expect_bad_ke(dh, v, sizeof(v)); /* 1 */
	/* p - 1 = 2^448 - 2^224 - 2, little-endian. */
	memset(v, 0xff, sizeof(v));
	v[0] = 0xfe;
	v[28] = 0xfe;
	expect_bad_ke(dh, v, sizeof(v));
	gk_dh_free(dh);
}
END_TEST

/* The test constructor refuses values outside the key range. */
START_TEST(from_private_bounds)
{
	gk_dh *dh = NULL;
	ck_assert_int_eq(gk_dh_new_from_private(GK_KE_CURVE25519, tu_hexc("0102"), &dh), GK_E_INVAL);
	ck_assert_int_eq(gk_dh_new_from_private(GK_KE_MODP_2048, tu_hexc("01"), &dh), GK_E_INVAL);
	ck_assert_int_eq(gk_dh_new_from_private(GK_KE_MODP_2048, tu_hexc("00"), &dh), GK_E_INVAL);
	ck_assert_int_eq(gk_dh_new_from_private(GK_KE_ECP_256, tu_hexc("00"), &dh), GK_E_INVAL);
	/* The P-256 order n (FIPS 186-4 D.1.2.3) is not a private key. */
	ck_assert_int_eq(gk_dh_new_from_private(GK_KE_ECP_256,
		tu_hexc("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"), &dh), GK_E_INVAL);
	ck_assert_int_eq(gk_dh_new_from_private(GK_KE_ECP_256, GK_CHUNK_EMPTY, &dh), GK_E_INVAL);
	ck_assert_ptr_null(dh);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dh");
	TCase *tc = tcase_create("dh");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, groups_and_lengths);
	tcase_add_loop_test(tc, fresh_pairs_agree, 0, NGROUPS);
	tcase_add_loop_test(tc, wrong_length_and_full_output, 0, NGROUPS);
	tcase_add_test(tc, rfc7748_x25519_scalarmult);
	tcase_add_test(tc, rfc7748_x448_scalarmult);
	tcase_add_test(tc, rfc7748_x25519_dh);
	tcase_add_test(tc, rfc7748_x448_dh);
	tcase_add_test(tc, x25519_reuse_known_answers);
	tcase_add_test(tc, x25519_shared_pair_threads);
	tcase_add_test(tc, rfc5903_ecp256);
	tcase_add_test(tc, rfc5903_ecp384);
	tcase_add_test(tc, rfc5903_ecp521);
	tcase_add_test(tc, modp2048_known_answer);
	tcase_add_loop_test(tc, modp_power_of_two_wraps, 0, 3);
	tcase_add_loop_test(tc, rfc6989_modp, 0, 3);
	tcase_add_loop_test(tc, rfc6989_ecp, 0, 3);
	tcase_add_test(tc, x25519_low_order);
	tcase_add_test(tc, x448_low_order);
	tcase_add_test(tc, from_private_bounds);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
