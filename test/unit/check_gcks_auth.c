/* The member's check of the key server's AUTH (RFC 7296 2.15, RFC 9838 2.3.1): a hand-made key
 * server on the fake network (fn_set_server) answers IKE_SA_INIT correctly and then GSA_AUTH with
 * an AUTH that does not verify, with a well-formed GSA and KD. The member must fail with
 * AUTHENTICATION_FAILED and take nothing of it; the same key server with a correct AUTH is
 * registered to, which shows that only the AUTH made the difference. With a PPK (RFC 8784 3) the
 * key server keys the SA with it and confirms with PPK_IDENTITY; one that keys with it but does
 * not say so is refused by a member that requires its PPK. */
#include <stdlib.h>
#include <string.h>
#include <openssl/x509.h>
#include "testutil.h"
#include "auth.h"
#include "certgen.h"
#include "codec.h"
#include "dh.h"
#include "fakenet.h"
#include "group_sa.h"
#include "ikekeys.h"
#include "ike_sa.h"
#include "message.h"
#include "ppk.h"
#include "proposal.h"
#include "regfix.h"

typedef enum ks_mode {
	KS_PSK,             /* the member's PSK: correct */
	KS_PSK_WRONG,       /* the MIC of another PSK */
	KS_SIG,             /* signed with the key the member pins: correct */
	KS_SIG_OTHER_KEY,   /* signed by another key */
	KS_CERT,            /* a certificate of the member's CA naming IDr: correct */
	KS_CERT_OTHER_ID,   /* the same certificate, but IDr names another key server */
	KS_PPK,             /* the member's PSK and PPK, confirmed with PPK_IDENTITY: correct */
	KS_PPK_SILENT,      /* keyed with the PPK, but no PPK_IDENTITY: refused by ppk_required */
	KS_NMODES
} ks_mode;

static const char *const mode_name[] = { "psk", "psk-wrong-mic", "sig", "sig-other-key", "cert",
					 "cert-not-naming-idr", "ppk", "ppk-unconfirmed" };

#define PPK "the post-quantum preshared key of m1"
#define PPK_ID "m1-ppk"


#define MEMBER_ID "fqdn:m1.example"

/* The hand-made key server: one IKE SA with the one member. */
static struct {
	ks_mode mode;
	gk_ike_sa ike;
	gk_rand_test rnd;
	EVP_PKEY *other_key;
	unsigned inits, auths;
} ks;

static bool ks_ppk(void)
{
	return ks.mode == KS_PPK || ks.mode == KS_PPK_SILENT;
}

static void ks_send(const struct sockaddr_in *to, const gk_wbuf *w)
{
	gk_gcks_env env = fn_gcks_env(&net, NULL);
	env.send(env.send_ctx, (const struct sockaddr *)&net.gcks_addr, (const struct sockaddr *)to, w->data, w->len);
}

/* IKE_SA_INIT as RFC 7296 1.2 has it: the member's proposal, our KE and nonce; keys derived. */
static void ks_init(const struct sockaddr_in *from, const gk_msg *m)
{
	const gk_pl_ke *ke = &gk_msg_find(m, GK_PL_KE)->body->ke;
	gk_chunk ni = gk_msg_find(m, GK_PL_NONCE)->body->bytes.data;
	gk_ike_offer accept;
	gk_ike_offer_default(&accept);
	uint8_t prop = 0, nr[32];
	ck_assert_int_eq(gk_ike_select(&gk_msg_find(m, GK_PL_SA)->body->sa, &accept, &ks.ike.suite, &prop), GK_OK);
	ck_assert(gk_ike_offer_has_ke(&accept, ke->group));
	ks.ike.suite.ke = ke->group;
	ck_assert_uint_ne(ks.ike.suite.kwa, 0);
	ks.ike.initiator = false;
	ks.ike.spi_i = m->hdr.spi_i;
	ck_assert_int_eq(gk_rand_bytes(&ks.rnd.r, (uint8_t *)&ks.ike.spi_r, 8), GK_OK);
	ck_assert_int_eq(gk_rand_bytes(&ks.rnd.r, nr, sizeof(nr)), GK_OK);
	gk_wbuf pub, shared, resp;
	gk_wbuf_init(&pub, 1024);
	gk_wbuf_init(&shared, 1024);
	gk_wbuf_init(&resp, GK_MAX_MESSAGE);
	ck_assert_int_eq(gk_dh_new(ks.ike.suite.ke, &ks.ike.dh), GK_OK);
	ck_assert_int_eq(gk_dh_public(ks.ike.dh, &pub), GK_OK);
	ck_assert_int_eq(gk_dh_derive(ks.ike.dh, ke->data, &shared), GK_OK);
	gk_arena a;
	gk_arena_init(&a, 0);
	gk_pl_sa sa;
	ck_assert_int_eq(gk_ike_suite_to_sa(&ks.ike.suite, prop, &a, &sa), GK_OK);
	gk_pl_ke kr = { .group = ks.ike.suite.ke, .data = gk_wbuf_chunk(&pub) };
	gk_pl_bytes nonce = { GK_CHUNK(nr, sizeof(nr)) };
	gk_pl_notify use_ppk = { .type = GK_N_USE_PPK };
	gk_out_pl pl[] = { { GK_PL_SA, false, &sa }, { GK_PL_KE, false, &kr }, { GK_PL_NONCE, false, &nonce },
			   { GK_PL_NOTIFY, false, &use_ppk } };
	ck_assert((gk_msg_find_notify(m, GK_N_USE_PPK) != NULL) == ks_ppk());
	gk_msg_out o = { .hdr = { .spi_i = ks.ike.spi_i, .spi_r = ks.ike.spi_r, .exchange = GK_EXCH_IKE_SA_INIT,
				  .flags = GK_FLAG_R },
			 .outer = pl, .nouter = ks_ppk() ? 4 : 3 };
	ck_assert_int_eq(gk_msg_build(&o, NULL, NULL, &resp), GK_OK);
	ck_assert_int_eq(gk_ike_sa_set_nonces(&ks.ike, ni, GK_CHUNK(nr, sizeof(nr))), GK_OK);
	ck_assert_int_eq(gk_ike_sa_keep_init(&ks.ike, m->data, gk_wbuf_chunk(&resp)), GK_OK);
	ck_assert_int_eq(gk_ike_sa_derive(&ks.ike, gk_wbuf_chunk(&shared)), GK_OK);
	ks.ike.state = GK_IKE_INIT_DONE;
	ks_send(from, &resp);
	gk_arena_free(&a);
	gk_wbuf_free(&pub);
	gk_wbuf_free(&shared);
	gk_wbuf_free(&resp);
}

/* What the key server hands out: a Rekey SA (RFC 9838 4.4.2.1), its keys wrapped under GSK_w. */
static void ks_group(gk_arena *a, gk_pl_gsa *gsa, gk_pl_kd *kd)
{
	gk_group_state *gs = calloc(1, sizeof(*gs));
	ck_assert_ptr_nonnull(gs);
	gk_group_sa *k = &gs->sas[gs->nsas++];
	k->proto = GK_PROTO_GIKE_UPDATE;
	memset(k->spi, 0x6b, 16);
	k->spi_len = 16;
	k->dst = (gk_ts_spec){ .family = 4, .start = { 239, 0, 0, 1 }, .end = { 239, 0, 0, 1 }, .ip_proto = 17,
			       .port_lo = 848, .port_hi = 848 };
	k->src = k->dst;
	k->encr = GK_ENCR_AES_CBC;
	k->encr_key_bits = 256;
	k->integ = GK_INTEG_HMAC_SHA2_256_128;
	k->kwa = GK_KWA_KW_5649_256;
	k->gcauth = GK_GCAUTH_IMPLICIT;
	k->lifetime = 3600;
	k->keymat_len = gk_group_keymat_len(k->proto, k->encr, k->encr_key_bits, k->integ, k->kwa);
	memset(k->keymat, 0x3c, k->keymat_len);
	ck_assert_int_eq(gk_group_state_encode(gs, GK_GSA_REGISTRATION, ks.ike.suite.kwa,
					       gk_ike_sa_gsk_w(&ks.ike), a, gsa, kd), GK_OK);
	gk_group_state_wipe(gs);
	free(gs);
}

/* The GSA_AUTH response: IDr, [CERT], AUTH as the mode says, GSA and KD. */
static void ks_auth(const struct sockaddr_in *from, gk_msg *m)
{
	bool complete = false;
	ck_assert_int_eq(gk_ike_sa_open(&ks.ike, m, &complete), GK_OK);
	ck_assert(complete);
	ck_assert_ptr_nonnull(gk_msg_find(m, GK_PL_AUTH)); /* the member authenticated itself first */
	if (ks_ppk()) {
		/* RFC 8784 3: the member named its PPK; from here on SK_d', SK_pr' and GSK_w' */
		const gk_payload *pid = gk_msg_find_notify(m, GK_N_PPK_IDENTITY);
		gk_chunk id;
		ck_assert_ptr_nonnull(pid);
		ck_assert_int_eq(gk_ppk_identity_parse(pid->body->notify.data, &id), GK_OK);
		ck_assert(gk_chunk_eq(id, GK_CHUNK(PPK_ID, strlen(PPK_ID))));
		ck_assert_int_eq(gk_ike_sa_ppk_update(&ks.ike, GK_CHUNK(PPK, strlen(PPK))), GK_OK);
	}
	gk_ident id = ident(ks.mode == KS_CERT_OTHER_ID ? "fqdn:other.example" : GCKS_ID);
	gk_pl_id idr = { .id_type = id.type, .data = GK_CHUNK(id.data, id.len) };
	gk_wbuf body, octets, sig, resp;
	uint8_t der[4096];
	gk_wbuf_init(&body, 512);
	gk_wbuf_init(&octets, 2 * GK_MAX_MESSAGE);
	gk_wbuf_init(&sig, 1024);
	gk_wbuf_init(&resp, GK_MAX_MESSAGE);
	ck_assert_int_eq(gk_codec_build(gk_payload_desc(GK_PL_IDr), &idr, &body), GK_OK);
	ck_assert_int_eq(gk_ike_sa_auth_octets(&ks.ike, false, gk_wbuf_chunk(&body), &octets), GK_OK);
	gk_pl_auth auth = { 0 };
	gk_pl_cert cert = { 0 };
	uint8_t mac[64];
	size_t mac_len = 0;
	if (ks.mode == KS_PSK || ks.mode == KS_PSK_WRONG || ks_ppk()) {
		const char *psk = ks.mode != KS_PSK_WRONG ? MEMBER_ID : "fqdn:m1.example, but not quite";
		ck_assert_int_eq(gk_auth_psk_compute(ks.ike.suite.prf, GK_CHUNK(psk, strlen(psk)), gk_wbuf_chunk(&octets),
						     mac, &mac_len), GK_OK);
		auth = (gk_pl_auth){ .method = GK_AUTH_SHARED_KEY_MIC, .data = GK_CHUNK(mac, mac_len) };
	} else {
		EVP_PKEY *key = ks.mode == KS_SIG_OTHER_KEY ? ks.other_key : gcks_key;
		gk_sig_scheme s;
		ck_assert_int_eq(gk_sig_scheme_for_key(key, &s), GK_OK);
		ck_assert_int_eq(gk_auth_sig_sign(key, s, gk_wbuf_chunk(&octets), &sig), GK_OK);
		auth = (gk_pl_auth){ .method = GK_AUTH_DIGITAL_SIGNATURE, .data = gk_wbuf_chunk(&sig) };
	}
	gk_arena a;
	gk_arena_init(&a, 0);
	gk_pl_gsa gsa;
	gk_pl_kd kd;
	ks_group(&a, &gsa, &kd);
	gk_out_pl pl[6];
	size_t n = 0;
	gk_pl_notify confirm = { .type = GK_N_PPK_IDENTITY };
	if (ks.mode == KS_PPK)
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &confirm };
	pl[n++] = (gk_out_pl){ GK_PL_IDr, false, &idr };
	if (ks.mode == KS_CERT || ks.mode == KS_CERT_OTHER_ID) {
		int len = i2d_X509(gcks_cert, NULL);
		ck_assert(len > 0 && (size_t)len <= sizeof(der));
		unsigned char *p = der;
		ck_assert_int_eq(i2d_X509(gcks_cert, &p), len);
		cert = (gk_pl_cert){ .encoding = GK_CERT_X509_SIGNATURE, .data = GK_CHUNK(der, (size_t)len) };
		pl[n++] = (gk_out_pl){ GK_PL_CERT, false, &cert };
	}
	pl[n++] = (gk_out_pl){ GK_PL_AUTH, false, &auth };
	pl[n++] = (gk_out_pl){ GK_PL_GSA, false, &gsa };
	pl[n++] = (gk_out_pl){ GK_PL_KD, false, &kd };
	gk_sk_keys k = gk_ike_sa_sk(&ks.ike, true);
	gk_msg_out o = { .hdr = { .spi_i = ks.ike.spi_i, .spi_r = ks.ike.spi_r, .exchange = GK_EXCH_GSA_AUTH,
				  .flags = GK_FLAG_R, .msg_id = m->hdr.msg_id },
			 .inner = pl, .ninner = n, .protect = true };
	ck_assert_int_eq(gk_msg_build(&o, &k, &ks.rnd.r, &resp), GK_OK);
	ks_send(from, &resp);
	gk_arena_free(&a);
	gk_wbuf_free(&body);
	gk_wbuf_free(&octets);
	gk_wbuf_free(&sig);
	gk_wbuf_free(&resp);
}

/* Answers the first IKE_SA_INIT and the first GSA_AUTH; everything else goes unanswered. */
static void ks_input(void *ctx, const struct sockaddr_in *from, const uint8_t *data, size_t len)
{
	(void)ctx;
	gk_msg m;
	ck_assert_int_eq(gk_msg_parse(&m, GK_CHUNK(data, len)), GK_OK);
	if (m.hdr.flags & GK_FLAG_R) {
		gk_msg_free(&m);
		return;
	}
	if (m.hdr.exchange == GK_EXCH_IKE_SA_INIT && !ks.inits++)
		ks_init(from, &m);
	else if (m.hdr.exchange == GK_EXCH_GSA_AUTH && m.hdr.spi_r == ks.ike.spi_r && !ks.auths++)
		ks_auth(from, &m);
	gk_msg_free(&m);
}

static void setup(void)
{
	rf_setup("check_gcks_auth", "gk-gcksauth");
	make_pki();
	memset(&ks, 0, sizeof(ks));
	gk_rand_test_init(&ks.rnd, 99);
	ks.other_key = cg_key_ec("P-256");
	ck_assert_ptr_nonnull(ks.other_key);
	fn_set_server(&net, ks_input, NULL);
}

static void teardown(void)
{
	rf_teardown();
	gk_ike_sa_free(&ks.ike);
	EVP_PKEY_free(ks.other_key);
	memset(&ks, 0, sizeof(ks));
}

START_TEST(member_checks_gcks_auth)
{
	ks.mode = (ks_mode)_i;
	EVP_PKEY *mkey = cg_key_ec("P-256");
	ck_assert_ptr_nonnull(mkey);
	gk_gm_config c;
	switch (ks.mode) {
	case KS_PSK:
	case KS_PSK_WRONG:
		c = gm_psk(MEMBER_ID, G1);
		break;
	case KS_PPK:
	case KS_PPK_SILENT:
		c = gm_psk(MEMBER_ID, G1);
		c.ppk = (const uint8_t *)PPK;
		c.ppk_len = strlen(PPK);
		c.ppk_id = (const uint8_t *)PPK_ID;
		c.ppk_id_len = strlen(PPK_ID);
		c.ppk_required = true;
		break;
	case KS_SIG:
	case KS_SIG_OTHER_KEY:
		c = gm_cert(MEMBER_ID, G1, mkey, NULL, NULL);
		c.gcks_pubkey = gcks_key; /* pinned: the key server's key, no certificate */
		break;
	default:
		c = gm_cert(MEMBER_ID, G1, mkey, NULL, ca_store);
		break;
	}
	fn_member *m = join(&c);
	run_member(m);
	char d[1024];
	describe(m, d, sizeof(d));
	ck_assert_msg(ks.inits == 1 && ks.auths == 1, "%s: %u IKE_SA_INIT, %u GSA_AUTH: %s", mode_name[_i], ks.inits,
		      ks.auths, d);
	if (ks.mode == KS_PSK || ks.mode == KS_SIG || ks.mode == KS_CERT || ks.mode == KS_PPK) {
		/* the real key server: its Rekey SA and keys are taken */
		const gk_group_state *gs = registered(m, 0);
		ck_assert_uint_eq(gs->nsas, 1);
		ck_assert_uint_eq(gs->sas[0].keymat[0], 0x3c);
	} else {
		/* an impostor: nothing of what it sent is taken */
		failed(m, GK_N_AUTHENTICATION_FAILED);
		const fn_event *e = fn_find(m, GK_GM_FAILED, 0);
		const char *why = ks.mode == KS_PPK_SILENT ? "the GCKS did not use our PPK and a PPK is required"
							   : "the GCKS failed to authenticate";
		ck_assert_msg(!strcmp(e->why, why), "%s: %s", mode_name[_i], d);
		ck_assert_msg(fn_count(m, GK_GM_REFUSED) == 0, "%s: %s", mode_name[_i], d);
	}
	fn_free(&net); /* the member holds its key until here */
	EVP_PKEY_free(mkey);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gcks_auth");
	TCase *tc = tcase_create("gcks_auth");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, member_checks_gcks_auth, 0, KS_NMODES);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
