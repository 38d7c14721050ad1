/* GSA_REKEY messages: signature over A|P (RFC 9838 2.4.1.1), fragmentation after signing
 * (2.4.1.2), and refusal of forged, truncated and wrongly keyed messages. */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "testutil.h"
#include "samples.h"
#include "rekey_msg.h"
#include "group_sa.h"
#include "ikekeys.h"

static const uint8_t gsk_e[36] = { 0x11, 0x22, 0x33 };
static const uint8_t spi[16] = { 0xaa, 1, 2, 3, 4, 5, 6, 7, 0xbb, 1, 2, 3, 4, 5, 6, 7 };

static EVP_PKEY *key_for(int i)
{
	switch (i) {
	case 0: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	case 1: return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	default: return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	}
}

static void setup(gk_rekey_out *o, gk_out_pl *pl, gk_pl_delete *del, gk_chunk *zero_spi, EVP_PKEY *k,
		  size_t mtu)
{
	static const uint8_t zero[4] = { 0 };
	*zero_spi = GK_CHUNK(zero, 4);
	*del = (gk_pl_delete){ .proto = GK_PROTO_ESP, .spi_size = 4, .spis = { zero_spi, 1 } };
	pl[0] = (gk_out_pl){ GK_PL_GSA, false, sample_gsa() };
	pl[1] = (gk_out_pl){ GK_PL_KD, false, sample_kd() };
	pl[2] = (gk_out_pl){ GK_PL_DELETE, false, del };
	*o = (gk_rekey_out){ .msg_id = 7, .pl = pl, .npl = 3, .sign_key = k, .frag_mtu = mtu,
			     .kek = { .encr = GK_ENCR_AES_GCM_16, .encr_key_bits = 256, .enc = GK_CHUNK(gsk_e, 36) } };
	memcpy(o->spi, spi, 16);
	if (k)
		ck_assert_int_eq(gk_sig_scheme_for_key(k, &o->scheme), GK_OK);
}

static gk_status open_all(const gk_rekey_in *in, gk_dgrams *d, gk_msg *m)
{
	gk_status st = GK_E_INVAL;
	for (size_t i = 0; i < d->n; i++) {
		bool complete = false;
		gk_msg_free(m);
		st = gk_rekey_open(in, gk_wbuf_chunk(&d->d[i]), m, &complete);
		if (st)
			return st;
		if (complete)
			return i + 1 == d->n ? GK_OK : GK_E_STATE;
	}
	return GK_E_TRUNCATED;
}

START_TEST(signed_rekey_roundtrip)
{
	gk_rand_test rt;
	gk_rand_test_init(&rt, 3);
	EVP_PKEY *k = key_for(_i % 3);
	size_t mtu = _i >= 3 ? 400 : 0; /* the second half of the runs fragments */
	gk_rekey_out o;
	gk_out_pl pl[3];
	gk_pl_delete del;
	gk_chunk z;
	setup(&o, pl, &del, &z, k, mtu);
	gk_dgrams d;
	ck_assert_int_eq(gk_rekey_build(&o, &rt.r, &d), GK_OK);
	if (mtu)
		ck_assert_uint_gt(d.n, 1);
	gk_frag_reasm reasm;
	memset(&reasm, 0, sizeof(reasm));
	gk_rekey_in in = { .kek = o.kek, .auth_key = k, .want = o.scheme, .reasm = &reasm };
	memcpy(in.spi, spi, 16);
	gk_msg m;
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(open_all(&in, &d, &m), GK_OK);
	ck_assert_uint_eq(m.hdr.msg_id, 7);
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_GSA));
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_KD));
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_AUTH));
	gk_msg_free(&m);

	/* another key: GK_E_AUTH */
	EVP_PKEY *other = key_for(_i % 3);
	in.auth_key = other;
	gk_frag_reset(&reasm);
	ck_assert_int_eq(open_all(&in, &d, &m), GK_E_AUTH);
	gk_msg_free(&m);
	/* RFC 9838 2.4.1: AUTH "MUST NOT be included if authentication is implicit" */
	in.auth_key = NULL;
	in.want = GK_SIG_NONE;
	gk_frag_reset(&reasm);
	ck_assert_int_eq(open_all(&in, &d, &m), GK_E_AUTH);
	gk_msg_free(&m);
	in.want = o.scheme;
	/* another SPI: not ours */
	in.auth_key = k;
	in.spi[0] ^= 1;
	ck_assert_int_eq(open_all(&in, &d, &m), GK_E_NOT_FOUND);
	gk_msg_free(&m);
	in.spi[0] ^= 1;
	/* a flipped bit in the encrypted part: the ICV fails */
	gk_frag_reset(&reasm);
	d.d[0].data[d.d[0].len / 2] ^= 0x40;
	ck_assert_int_eq(open_all(&in, &d, &m), GK_E_INTEGRITY);
	gk_msg_free(&m);
	gk_frag_reset(&reasm);
	gk_dgrams_free(&d);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}
END_TEST

START_TEST(copies_are_identical_and_implicit_has_no_auth)
{
	gk_rand_test rt;
	gk_rand_test_init(&rt, 4);
	gk_rekey_out o;
	gk_out_pl pl[3];
	gk_pl_delete del;
	gk_chunk z;
	setup(&o, pl, &del, &z, NULL, 0);
	gk_dgrams d;
	ck_assert_int_eq(gk_rekey_build(&o, &rt.r, &d), GK_OK);
	gk_rekey_in in = { .kek = o.kek };
	memcpy(in.spi, spi, 16);
	gk_msg m;
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(open_all(&in, &d, &m), GK_OK);
	ck_assert_ptr_null(gk_msg_find(&m, GK_PL_AUTH));
	gk_msg_free(&m);
	/* a member expecting a signature refuses an unsigned message */
	EVP_PKEY *k = key_for(0);
	in.auth_key = k;
	in.want = GK_SIG_ECDSA_SHA256;
	ck_assert_int_eq(open_all(&in, &d, &m), GK_E_AUTH);
	gk_msg_free(&m);
	/* fails closed: a member told to expect signatures, whose AUTH_KEY is missing, refuses
	 * the unsigned message instead of taking it for implicit authentication */
	in.auth_key = NULL;
	ck_assert_int_eq(open_all(&in, &d, &m), GK_E_AUTH);
	gk_msg_free(&m);
	in.auth_key = k;
	/* truncated datagrams are refused */
	for (size_t cut = 0; cut < d.d[0].len; cut += 7) {
		bool c;
		ck_assert_int_eq(gk_rekey_open(&in, GK_CHUNK(d.d[0].data, cut), &m, &c), GK_E_TRUNCATED);
		gk_msg_free(&m);
	}
	EVP_PKEY_free(k);
	gk_dgrams_free(&d);
}
END_TEST

/* One datagram into the member's reassembly; returns the status, *complete as it says. */
static gk_status feed(const gk_rekey_in *in, const gk_wbuf *dg, bool *complete)
{
	gk_msg m;
	memset(&m, 0, sizeof(m));
	gk_status st = gk_rekey_open(in, gk_wbuf_chunk(dg), &m, complete);
	gk_msg_free(&m);
	return st;
}

static void build_msg(uint32_t msg_id, EVP_PKEY *k, gk_rand_test *rt, gk_dgrams *d)
{
	gk_rekey_out o;
	gk_out_pl pl[3];
	gk_pl_delete del;
	gk_chunk z;
	setup(&o, pl, &del, &z, k, 400);
	o.msg_id = msg_id;
	ck_assert_int_eq(gk_rekey_build(&o, &rt->r, d), GK_OK);
	ck_assert_uint_ge(d->n, 3);
}

/* A rogue member holds the KEK, so its fragments pass the SK integrity check; only the
 * signature over the whole message tells them apart (RFC 9838 2.4.1.1). It replays an old
 * fragment into the reassembly of a new message, and sends a forged fragmented message. */
/* RFC 9838 2.4.1.2 / RFC 7383 2.5.1: the fragmentation threshold is the IP datagram size, so
 * the IP and UDP headers of the family (and the non-ESP marker on port 4500) come off it: at the
 * 1280 default no datagram of either family exceeds the IPv6 minimum MTU. */
START_TEST(frag_threshold_counts_headers)
{
	ck_assert_uint_eq(gk_rekey_frag_len(1280, 4, false), 1252);
	ck_assert_uint_eq(gk_rekey_frag_len(1280, 6, false), 1232);
	ck_assert_uint_eq(gk_rekey_frag_len(1280, 4, true), 1248);
	ck_assert_uint_eq(gk_rekey_frag_len(1280, 6, true), 1228);
	ck_assert_uint_eq(gk_rekey_frag_len(576, 4, false), 548);
	ck_assert_uint_eq(gk_rekey_frag_len(0, 6, true), 0);  /* never fragment stays never */
	ck_assert_uint_eq(gk_rekey_frag_len(52, 6, true), 1); /* no room: the build fails, not 0 */
	ck_assert_uint_eq(gk_rekey_frag_len(53, 6, true), 1);

	/* a message of about 1700 octets under a 600-octet IPv6 MTU: every datagram with its
	 * 48 octets of headers fits, and all but the last are full to within one cipher block */
	gk_rand_test rt;
	gk_rand_test_init(&rt, 5);
	EVP_PKEY *k = key_for(2); /* RSA-2048: a 256-octet signature */
	gk_rekey_out o;
	gk_out_pl pl[3];
	gk_pl_delete del;
	gk_chunk z;
	setup(&o, pl, &del, &z, k, gk_rekey_frag_len(600, 6, false));
	gk_dgrams d;
	ck_assert_int_eq(gk_rekey_build(&o, &rt.r, &d), GK_OK);
	ck_assert_uint_ge(d.n, 2);
	for (size_t i = 0; i < d.n; i++) {
		ck_assert_uint_le(d.d[i].len + 40 + 8, 600);
		if (i + 1 < d.n)
			ck_assert_uint_gt(d.d[i].len + 40 + 8, 600 - 16);
	}
	gk_dgrams_free(&d);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(rogue_fragments)
{
	gk_rand_test rt;
	gk_rand_test_init(&rt, 5);
	EVP_PKEY *k = key_for(1), *rogue = key_for(1);
	gk_dgrams d7, d8, forged9, d9;
	build_msg(7, k, &rt, &d7);
	build_msg(8, k, &rt, &d8);
	build_msg(9, rogue, &rt, &forged9);
	build_msg(9, k, &rt, &d9);
	gk_frag_reasm reasm;
	memset(&reasm, 0, sizeof(reasm));
	gk_rekey_in in = { .kek = { .encr = GK_ENCR_AES_GCM_16, .encr_key_bits = 256, .enc = GK_CHUNK(gsk_e, 36) },
			   .auth_key = k, .want = GK_SIG_ED25519, .reasm = &reasm };
	memcpy(in.spi, spi, 16);
	gk_msg m;
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(open_all(&in, &d7, &m), GK_OK);
	gk_msg_free(&m);
	in.min_msg_id = 8; /* the caller accepted 7 */

	/* message 8 arrives with a replayed fragment of 7 in the middle: the old fragment is
	 * dropped before it is kept, and 8 completes */
	bool complete = true;
	ck_assert_int_eq(feed(&in, &d8.d[0], &complete), GK_OK);
	ck_assert(!complete);
	for (size_t i = 0; i < d7.n; i++) {
		ck_assert_int_eq(feed(&in, &d7.d[i], &complete), GK_E_STATE);
		ck_assert(!complete);
	}
	ck_assert_uint_eq(reasm.msg_id, 8);
	ck_assert_uint_eq(reasm.have, 1);
	for (size_t i = 1; i < d8.n; i++)
		ck_assert_int_eq(feed(&in, &d8.d[i], &complete), GK_OK);
	ck_assert(complete);
	in.min_msg_id = 9;

	/* a forged message 9 (the rogue's signature) reassembles and fails; nothing of it stays */
	for (size_t i = 0; i + 1 < forged9.n; i++)
		ck_assert_int_eq(feed(&in, &forged9.d[i], &complete), GK_OK);
	ck_assert_int_eq(feed(&in, &forged9.d[forged9.n - 1], &complete), GK_E_AUTH);
	ck_assert(!complete);
	ck_assert(!reasm.active);
	ck_assert_uint_eq(reasm.have, 0);
	for (size_t i = 0; i < GK_FRAG_MAX; i++)
		ck_assert(!reasm.got[i] && !reasm.part[i].data);
	/* the real message 9 after it reassembles and verifies */
	ck_assert_int_eq(open_all(&in, &d9, &m), GK_OK);
	ck_assert_uint_eq(m.hdr.msg_id, 9);
	gk_msg_free(&m);

	gk_dgrams_free(&d7);
	gk_dgrams_free(&d8);
	gk_dgrams_free(&forged9);
	gk_dgrams_free(&d9);
	EVP_PKEY_free(k);
	EVP_PKEY_free(rogue);
}
END_TEST

/* A Rekey SA (AES-CBC with key_bits, HMAC-SHA2-256-128, KW_5649_256) with keys of the right
 * size for its transforms. */
static void rekey_sa(gk_group_sa *k, uint16_t key_bits)
{
	memset(k, 0, sizeof(*k));
	k->proto = GK_PROTO_GIKE_UPDATE;
	memcpy(k->spi, spi, 16);
	k->spi_len = 16;
	k->dst = (gk_ts_spec){ .family = 4, .start = { 239, 0, 0, 1 }, .end = { 239, 0, 0, 1 }, .ip_proto = 17,
			       .port_lo = 848, .port_hi = 848 };
	k->src = k->dst;
	k->encr = GK_ENCR_AES_CBC;
	k->encr_key_bits = key_bits;
	k->integ = GK_INTEG_HMAC_SHA2_256_128;
	k->kwa = GK_KWA_KW_5649_256;
	k->gcauth = GK_GCAUTH_IMPLICIT;
	k->keymat_len = gk_group_keymat_len(k->proto, k->encr, k->encr_key_bits, k->integ, k->kwa);
	ck_assert_uint_gt(k->keymat_len, 0);
	memset(k->keymat, 0x5c, k->keymat_len);
}

/* RFC 9838 4.4.2.1.2: an SA_KEY holds the keying material of its SA's transforms. A KD whose
 * SA_KEY unwraps (correctly, under the right key) to another length is refused, whether shorter
 * or longer, and no key of it is taken. */
START_TEST(kd_key_of_wrong_length_refused)
{
	gk_group_state *l = calloc(1, sizeof(*l)), *s = calloc(1, sizeof(*s)), *out = calloc(1, sizeof(*out));
	ck_assert(l && s && out);
	rekey_sa(&l->sas[0], 256);
	rekey_sa(&s->sas[0], 128);
	l->nsas = s->nsas = 1;
	ck_assert_uint_gt(l->sas[0].keymat_len, s->sas[0].keymat_len);
	uint8_t kwk[32];
	memset(kwk, 0x22, sizeof(kwk));
	gk_arena a;
	gk_arena_init(&a, 0);
	gk_pl_gsa gsa_l, gsa_s;
	gk_pl_kd kd_l, kd_s;
	ck_assert_int_eq(gk_group_state_encode(l, GK_GSA_REKEY, GK_KWA_KW_5649_256, GK_CHUNK(kwk, 32), &a, &gsa_l,
					       &kd_l), GK_OK);
	ck_assert_int_eq(gk_group_state_encode(s, GK_GSA_REKEY, GK_KWA_KW_5649_256, GK_CHUNK(kwk, 32), &a, &gsa_s,
					       &kd_s), GK_OK);
	char why[GK_ERR_MAX] = "";
	/* as sent: taken */
	ck_assert_int_eq(gk_group_state_decode(&gsa_l, &kd_l, GK_GSA_REKEY, GK_KWA_KW_5649_256, GK_CHUNK(kwk, 32),
					       out, why, sizeof(why)), GK_OK);
	ck_assert_uint_eq(out->sas[0].keymat_len, l->sas[0].keymat_len);
	gk_group_state_wipe(out);
	/* AES-256 announced, keys for AES-128 wrapped */
	why[0] = '\0';
	memset(out, 0, sizeof(*out));
	ck_assert_int_eq(gk_group_state_decode(&gsa_l, &kd_s, GK_GSA_REKEY, GK_KWA_KW_5649_256, GK_CHUNK(kwk, 32),
					       out, why, sizeof(why)), GK_E_MALFORMED);
	ck_assert_str_eq(why, "keying material size does not match the SA's transforms");
	ck_assert_uint_eq(out->sas[0].keymat_len, 0);
	gk_group_state_wipe(out);
	/* AES-128 announced, keys for AES-256 wrapped */
	why[0] = '\0';
	memset(out, 0, sizeof(*out));
	ck_assert_int_eq(gk_group_state_decode(&gsa_s, &kd_l, GK_GSA_REKEY, GK_KWA_KW_5649_256, GK_CHUNK(kwk, 32),
					       out, why, sizeof(why)), GK_E_MALFORMED);
	ck_assert_str_eq(why, "keying material size does not match the SA's transforms");
	ck_assert_uint_eq(out->sas[0].keymat_len, 0);
	gk_group_state_wipe(out);
	gk_arena_free(&a);
	gk_group_state_wipe(l);
	gk_group_state_wipe(s);
	free(l);
	free(s);
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rekey_msg");
	TCase *tc = tcase_create("rekey_msg");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, signed_rekey_roundtrip, 0, 6);
	tcase_add_test(tc, copies_are_identical_and_implicit_has_no_auth);
	tcase_add_test(tc, rogue_fragments);
	tcase_add_test(tc, frag_threshold_counts_headers);
	tcase_add_test(tc, kd_key_of_wrong_length_refused);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
