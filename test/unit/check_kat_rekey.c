/* Known answers for the octets a GSA_REKEY signature covers (RFC 9838 2.4.1.1), written out by
 * hand from the RFC text, field by field, for one fixed message: the GCKS must sign exactly
 * these octets and a member must verify exactly these, so an error both sides share (such as
 * a wrong AdjustedPldLen) cannot pass as a round trip.
 *
 * The message: Rekey SA SPIs aa01020304050607 | bb01020304050607, Message ID 7, inner
 * payloads Delete (ESP, SPI 01020304) then AUTH (Digital Signature, Ed25519, RFC 8420) signed
 * with the RFC 8032 7.1 TEST 1 key; the KEK is AES-GCM-16 with a 256-bit key. */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "testutil.h"
#include "rekey_msg.h"

/* RFC 8032 7.1, TEST 1 */
#define ED25519_SECRET "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"

#define SIG_LEN 64
#define P_LEN 92       /* Delete (12) + AUTH (80) */
#define SIG_OFF 28     /* in P: Delete 12 + AUTH header 4 + method/RESERVED 4 + 1 + 7 */

/* A | P of RFC 9838 2.4.1.1 for the message above, the signature field zeroed. */
static const char signed_octets[] =
	/* A: AdjustedIKEHDR */
	"aa01020304050607"  /* IKE SA Initiator's SPI */
	"bb01020304050607"  /* IKE SA Responder's SPI */
	"2e"                /* Next Payload: SK (46), also when sent as SKF fragments */
	"20"                /* MjVer 2, MnVer 0 */
	"29"                /* Exchange Type: GSA_REKEY (41) */
	"00"                /* Flags */
	"00000007"          /* Message ID */
	"0000007c"          /* AdjustedLen = |A| + |P| = 28 + 4 + 92 = 124 */
	/* A: AdjustedEncPldHdr */
	"2a"                /* Next Payload: the first inner payload, Delete (42) */
	"00"                /* C = 0, RESERVED */
	"0060"              /* AdjustedPldLen = |P| + 4 = 96 */
	/* P: Delete payload (RFC 7296 3.11) */
	"27"                /* Next Payload: AUTH (39) */
	"00"                /* C = 0, RESERVED */
	"000c"              /* Payload Length 12 */
	"03"                /* Protocol ID: ESP */
	"04"                /* SPI Size 4 */
	"0001"              /* Num of SPIs 1 */
	"01020304"          /* SPI */
	/* P: AUTH payload (RFC 7296 3.8, RFC 7427 3) */
	"00"                /* Next Payload: none */
	"00"                /* C = 0, RESERVED */
	"0050"              /* Payload Length 4 + 4 + 1 + 7 + 64 = 80 */
	"0e"                /* Auth Method: Digital Signature (14) */
	"000000"            /* RESERVED */
	"07"                /* ASN.1 Length of the AlgorithmIdentifier */
	"300506032b6570"    /* AlgorithmIdentifier id-Ed25519 (RFC 8420 3, RFC 8410 3) */
	/* Signature: 64 octets, zeroed (2.4.1.1) */
	"0000000000000000000000000000000000000000000000000000000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000";

/* The IKE header as it is sent (before the length is known): as A, but with the real length
 * (here still 0) and, for a fragment, SKF (53) as Next Payload. */
static const char sent_hdr[] = "aa01020304050607 bb01020304050607 2e 20 29 00 00000007 00000000";

static const uint8_t spi[16] = { 0xaa, 1, 2, 3, 4, 5, 6, 7, 0xbb, 1, 2, 3, 4, 5, 6, 7 };
static const uint8_t del_spi[4] = { 1, 2, 3, 4 };
static uint8_t gsk_e[36]; /* AES-256 key + salt: 00 01 .. 23 */

static EVP_PKEY *ed25519_key(void)
{
	gk_chunk sk = tu_hexc(ED25519_SECRET);
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk.ptr, sk.len);
	ck_assert_ptr_nonnull(k);
	return k;
}

/* Ed25519 (RFC 8032) over data, straight from OpenSSL. */
static void ed25519_sign(EVP_PKEY *k, gk_chunk data, uint8_t sig[SIG_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t n = SIG_LEN;
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(EVP_DigestSignInit(c, NULL, NULL, NULL, k), 1);
	ck_assert_int_eq(EVP_DigestSign(c, sig, &n, data.ptr, data.len), 1);
	ck_assert_uint_eq(n, SIG_LEN);
	EVP_MD_CTX_free(c);
}

static gk_sk_keys kek(void)
{
	for (size_t i = 0; i < sizeof(gsk_e); i++)
		gsk_e[i] = (uint8_t)i;
	return (gk_sk_keys){ .encr = GK_ENCR_AES_GCM_16, .encr_key_bits = 256,
			     .enc = GK_CHUNK(gsk_e, sizeof(gsk_e)) };
}

/* gk_rekey_signed_data turns the sent header and plaintext P (signature filled in) into
 * exactly the hand-written A | P: Next Payload SK, AdjustedLen, AdjustedPldLen, zeroed
 * signature. The header given here is a fragment's (SKF, length of the fragment) to show
 * that neither survives. */
START_TEST(signed_data_matches_hand_built)
{
	gk_chunk want = tu_hexc(signed_octets);
	ck_assert_uint_eq(want.len, 28 + 4 + P_LEN);
	uint8_t hdr[GK_HDR_LEN], p[P_LEN];
	memcpy(hdr, tu_hexc(sent_hdr).ptr, GK_HDR_LEN);
	hdr[16] = GK_PL_SKF;
	gk_put_u32(hdr + 24, 1200);
	memcpy(p, want.ptr + 32, P_LEN);
	memset(p + SIG_OFF, 0xee, SIG_LEN); /* a signature already in place */

	gk_wbuf out;
	gk_wbuf_init(&out, 0);
	gk_wbuf_u8(&out, 0x99); /* appended after what the buffer held */
	ck_assert_int_eq(gk_rekey_signed_data(hdr, GK_PL_DELETE, 0, GK_CHUNK(p, P_LEN), SIG_OFF,
					      SIG_LEN, &out), GK_OK);
	ck_assert_uint_eq(out.len, 1 + want.len);
	ck_assert_uint_eq(out.data[0], 0x99);
	ck_assert_msg(memcmp(out.data + 1, want.ptr, want.len) == 0, "got %s",
		      tu_tohex(out.data + 1, want.len));
	gk_wbuf_free(&out);
	tu_free_all();
}
END_TEST

static gk_status fixed_iv(void *ctx, uint8_t *out, size_t n)
{
	(void)ctx;
	memset(out, 0x5c, n);
	return GK_OK;
}

/* gcksd's side: gk_rekey_build signs exactly the hand-written octets. Ed25519 is
 * deterministic, so the AUTH payload in the sent message must carry the signature that
 * OpenSSL makes over them, and the P the member decrypts is the hand-written P with it. */
START_TEST(build_signs_hand_built_octets)
{
	EVP_PKEY *k = ed25519_key();
	gk_chunk z = GK_CHUNK(del_spi, 4);
	gk_pl_delete del = { .proto = GK_PROTO_ESP, .spi_size = 4, .spis = { &z, 1 } };
	gk_out_pl pl[1] = { { GK_PL_DELETE, false, &del } };
	gk_rekey_out o = { .msg_id = 7, .pl = pl, .npl = 1, .sign_key = k,
			   .scheme = GK_SIG_ED25519, .kek = kek(), .frag_mtu = _i ? 100 : 0 };
	memcpy(o.spi, spi, 16);
	gk_rand r = { .bytes = fixed_iv };
	gk_dgrams d;
	ck_assert_int_eq(gk_rekey_build(&o, &r, &d), GK_OK);

	gk_chunk want = tu_hexc(signed_octets);
	uint8_t sig[SIG_LEN];
	ed25519_sign(k, want, sig);

	/* The member's view: the reassembled and decrypted P. */
	gk_frag_reasm reasm;
	memset(&reasm, 0, sizeof(reasm));
	gk_rekey_in in = { .kek = o.kek, .auth_key = k, .want = GK_SIG_ED25519, .reasm = &reasm };
	memcpy(in.spi, spi, 16);
	gk_msg m;
	memset(&m, 0, sizeof(m));
	bool complete = false;
	gk_status st = GK_E_TRUNCATED;
	for (size_t i = 0; i < d.n && !complete; i++) {
		gk_msg_free(&m);
		st = gk_rekey_open(&in, gk_wbuf_chunk(&d.d[i]), &m, &complete);
		ck_assert_int_eq(st, GK_OK);
	}
	ck_assert(complete);
	if (_i)
		ck_assert_uint_gt(d.n, 1); /* sent as SKF fragments, signed as if unfragmented */
	ck_assert_uint_eq(m.plain.len, P_LEN);
	ck_assert_mem_eq(m.plain.ptr, want.ptr + 32, SIG_OFF);
	ck_assert_msg(memcmp(m.plain.ptr + SIG_OFF, sig, SIG_LEN) == 0,
		      "signature %s is not over the RFC 9838 2.4.1.1 octets",
		      tu_tohex(m.plain.ptr + SIG_OFF, SIG_LEN));
	gk_msg_free(&m);
	gk_frag_reset(&reasm);
	gk_dgrams_free(&d);
	EVP_PKEY_free(k);
	tu_free_all();
}
END_TEST

/* A GSA_REKEY whose signature was made over `octets` (hand-written, signed by OpenSSL),
 * sealed under the KEK with the SK code (whose own known answers are in check_kat_sym). */
static void hand_message(EVP_PKEY *k, gk_chunk octets, gk_wbuf *dgram)
{
	uint8_t p[P_LEN];
	gk_chunk good = tu_hexc(signed_octets);
	memcpy(p, good.ptr + 32, P_LEN);
	ed25519_sign(k, octets, p + SIG_OFF);
	gk_sk_keys kk = kek();
	gk_rand r = { .bytes = fixed_iv };
	gk_wbuf_init(dgram, 0);
	gk_chunk h = tu_hexc(sent_hdr);
	gk_wbuf_put(dgram, h.ptr, h.len);
	gk_wbuf_u8(dgram, GK_PL_DELETE);
	gk_wbuf_u8(dgram, 0);
	gk_wbuf_u16(dgram, 0);
	ck_assert_int_eq(gk_sk_seal(&kk, &r, dgram, GK_HDR_LEN, GK_CHUNK(p, P_LEN)), GK_OK);
}

static gk_status member_opens(EVP_PKEY *k, gk_wbuf *dgram)
{
	gk_frag_reasm reasm;
	memset(&reasm, 0, sizeof(reasm));
	gk_rekey_in in = { .kek = kek(), .auth_key = k, .want = GK_SIG_ED25519, .reasm = &reasm };
	memcpy(in.spi, spi, 16);
	gk_msg m;
	memset(&m, 0, sizeof(m));
	bool complete = false;
	gk_status st = gk_rekey_open(&in, gk_wbuf_chunk(dgram), &m, &complete);
	if (st == GK_OK && !complete)
		st = GK_E_TRUNCATED;
	gk_msg_free(&m);
	gk_frag_reset(&reasm);
	return st;
}

/* gmd's side: a message signed over the hand-written octets verifies; one signed over the
 * same octets with a wrong AdjustedPldLen (|P| instead of |P| + 4, or counting the IV and
 * ICV), a wrong AdjustedLen (the sent length) or the signature not zeroed is refused. */
START_TEST(member_verifies_hand_built_octets)
{
	EVP_PKEY *k = ed25519_key();
	gk_chunk good = tu_hexc(signed_octets);
	uint8_t bad[28 + 4 + P_LEN];
	gk_wbuf dg;

	hand_message(k, good, &dg);
	ck_assert_int_eq(member_opens(k, &dg), GK_OK);
	size_t sent_len = dg.len;
	gk_wbuf_free(&dg);

	struct { size_t off; uint32_t val; int width; } wrong[] = {
		{ 30, P_LEN, 2 },                       /* AdjustedPldLen without the SK header */
		{ 30, P_LEN + 4 + 8 + 1 + 16, 2 },      /* the SK payload's real length */
		{ 24, 0, 4 },                           /* AdjustedLen: set below to the sent length */
		{ 24, 28 + P_LEN, 4 },                  /* AdjustedLen without the SK header */
		{ 32 + SIG_OFF, 0xee, 1 },              /* a signature octet not zeroed */
	};
	wrong[2].val = (uint32_t)sent_len;
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		memcpy(bad, good.ptr, sizeof(bad));
		if (wrong[i].width == 4)
			gk_put_u32(bad + wrong[i].off, wrong[i].val);
		else if (wrong[i].width == 2)
			gk_put_u16(bad + wrong[i].off, (uint16_t)wrong[i].val);
		else
			bad[wrong[i].off] = (uint8_t)wrong[i].val;
		hand_message(k, GK_CHUNK(bad, sizeof(bad)), &dg);
		ck_assert_msg(member_opens(k, &dg) == GK_E_AUTH, "wrong octets %zu accepted", i);
		gk_wbuf_free(&dg);
	}
	EVP_PKEY_free(k);
	tu_free_all();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kat_rekey");
	TCase *tc = tcase_create("kat_rekey");
	tcase_add_test(tc, signed_data_matches_hand_built);
	tcase_add_loop_test(tc, build_signs_hand_built_octets, 0, 2);
	tcase_add_test(tc, member_verifies_hand_built_octets);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
