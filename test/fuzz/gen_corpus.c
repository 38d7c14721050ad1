/* Writes the seed corpus of the fuzz targets: test/fuzz/gen_corpus OUTDIR [POLICYDIR] fills
 * OUTDIR/NAME/ for every target with valid inputs, so that fuzzing starts from deep inside the
 * parsers instead of having to discover the formats. `make fuzz-corpus` runs it into the
 * source tree. Messages, wrapped keys and signatures are made with the fixed keys of
 * fuzz_keys.h, so the targets decrypt, unwrap and verify them. IVs come from a seeded test
 * generator, so reruns give the same files (except ECDSA signatures and the certificates,
 * which OpenSSL 3.0 randomizes). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/x509.h>
#include "fuzz_keys.h"
#include "fuzz_gm_state.h"
#include "rekey_msg.h"
#include "message.h"
#include "keywrap.h"
#include "auth.h"
#include "../unit/samples.h"
#include "../unit/certgen.h"

static const char *outdir;
static int nfiles;

static void die(const char *what)
{
	fprintf(stderr, "gen_corpus: %s\n", what);
	exit(1);
}

static void mkdir_p(const char *path)
{
	if (mkdir(path, 0777) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
}

static void put_file(const char *target, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	mkdir_p(path);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	nfiles++;
}

static void put_wbuf(const char *target, const char *name, const gk_wbuf *w)
{
	if (w->err)
		die(name);
	put_file(target, name, w->data, w->len);
}

/* ---- fuzz_payload: type octet | body, for every sample payload ---- */

static void gen_payload(void)
{
	gk_out_pl pls[64];
	size_t n = sample_payloads(pls, 64);
	for (size_t i = 0; i < n; i++) {
		gk_wbuf w;
		gk_wbuf_init(&w, 0);
		gk_wbuf_u8(&w, pls[i].type);
		if (gk_codec_build(gk_payload_desc(pls[i].type), pls[i].body, &w))
			die("payload sample does not build");
		char name[64];
		snprintf(name, sizeof(name), "%02zu-%s", i, gk_iana_str(GK_REG_PAYLOAD, pls[i].type));
		put_wbuf("payload", name, &w);
		gk_wbuf_free(&w);
	}
}

/* ---- fuzz_message and fuzz_sk: whole messages ---- */

static gk_out_pl samples[64];
static size_t nsamples;

/* The nth sample payload of a type (samples.c has several Notify, Delete, ...). */
static gk_out_pl sample(uint8_t type, unsigned nth)
{
	for (size_t i = 0; i < nsamples; i++)
		if (samples[i].type == type && nth-- == 0)
			return samples[i];
	die("no such sample");
	return samples[0];
}

static gk_rand_test rnd;

/* Saves a message for fuzz_message and, if protected, for fuzz_sk with the selector octet
 * that points at its SK/SKF header. */
static void save_msg(const char *name, const gk_wbuf *w)
{
	put_wbuf("message", name, w);
	gk_msg m;
	gk_status st = gk_msg_parse(&m, gk_wbuf_chunk(w));
	if (st)
		die(name);
	if (m.sk_index != SIZE_MAX) {
		const gk_payload *sk = &m.pl.items[m.sk_index];
		size_t off = sk->offset - GK_HDR_LEN;
		if (off % 4 || off / 4 > 63)
			die("SK offset not reachable by the fuzz_sk selector");
		uint8_t sel = (uint8_t)((m.hdr.msg_id & 1) | (sk->type == GK_PL_SKF ? 2 : 0) | (off / 4) << 2);
		/* gk_sk_open, not gk_msg_decrypt: a fragment's piece of chain need not parse alone. */
		gk_sk_keys k = fk_sk_keys(m.hdr.msg_id & 1);
		gk_wbuf plain;
		gk_wbuf_init(&plain, 0);
		if (gk_sk_open(&k, m.data, sk->offset, sk->type == GK_PL_SKF ? 8 : 4, &plain) != GK_OK)
			die("seed does not decrypt with the fuzz keys");
		gk_wbuf_free(&plain);
		gk_wbuf s;
		gk_wbuf_init(&s, 0);
		gk_wbuf_u8(&s, sel);
		gk_wbuf_put(&s, w->data, w->len);
		put_wbuf("sk", name, &s);
		gk_wbuf_free(&s);
	}
	gk_msg_free(&m);
}

/* The same message with the inner chain in the clear as the SK body, for the path of
 * fuzz_message that parses a body which does not open as plaintext (not for fuzz_sk). */
static void save_plain(const char *name, const gk_msg_out *o, const gk_wbuf *sealed)
{
	gk_msg m;
	if (gk_msg_parse(&m, gk_wbuf_chunk(sealed)) || m.sk_index == SIZE_MAX)
		die(name);
	size_t sk_off = m.pl.items[m.sk_index].offset;
	gk_msg_free(&m);
	gk_wbuf w;
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	gk_wbuf_put(&w, sealed->data, sk_off + 4); /* header, outer payloads, SK header */
	if (gk_chain_build(o->inner, o->ninner, GK_PL_NONE, &w) || w.len > GK_MAX_MESSAGE)
		die(name);
	gk_wbuf_set_u16(&w, sk_off + 2, (uint16_t)(w.len - sk_off));
	gk_wbuf_set_u32(&w, 24, (uint32_t)w.len);
	char pname[128];
	snprintf(pname, sizeof(pname), "plain-%s", name);
	put_wbuf("message", pname, &w);
	gk_wbuf_free(&w);
}

/* msg_id's low bit picks the suite, as in fuzz_message. */
static void msg(const char *name, uint8_t exch, uint8_t flags, uint32_t msg_id,
		const gk_out_pl *outer, size_t nouter, const gk_out_pl *inner, size_t ninner,
		bool protect)
{
	gk_msg_out o = {
		.hdr = { .spi_i = 0x1122334455667788ull, .spi_r = exch == GK_EXCH_IKE_SA_INIT &&
			 !(flags & GK_FLAG_R) ? 0 : 0x99aabbccddeeff00ull,
			 .exchange = exch, .flags = flags, .msg_id = msg_id },
		.outer = outer, .nouter = nouter, .inner = inner, .ninner = ninner, .protect = protect,
	};
	if (exch == GK_EXCH_GSA_REKEY) /* group SA: the Rekey SA SPIs (RFC 9838 2.4.1) */
		o.hdr.spi_r = 0;
	gk_sk_keys k = fk_sk_keys(msg_id & 1);
	gk_wbuf w;
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	if (gk_msg_build(&o, &k, &rnd.r, &w))
		die(name);
	save_msg(name, &w);
	if (protect)
		save_plain(name, &o, &w);
	gk_wbuf_free(&w);
}

/* An Encrypted Fragment message (RFC 7383 2.5) carrying part of an inner payload chain. */
static void fragment(const char *name, uint8_t exch, uint8_t flags, uint32_t msg_id,
		     uint16_t num, uint16_t total, uint8_t first, gk_chunk piece)
{
	gk_hdr h = { .spi_i = 0x1122334455667788ull, .spi_r = 0x99aabbccddeeff00ull,
		     .next_payload = GK_PL_SKF, .exchange = exch, .flags = flags, .msg_id = msg_id };
	gk_sk_keys k = fk_sk_keys(msg_id & 1);
	gk_wbuf w;
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	gk_hdr_build(&h, &w);
	gk_wbuf_u8(&w, num == 1 ? first : GK_PL_NONE); /* only the first fragment names it */
	gk_wbuf_u8(&w, 0);
	gk_wbuf_u16(&w, 0);
	gk_wbuf_u16(&w, num);
	gk_wbuf_u16(&w, total);
	if (gk_sk_seal(&k, &rnd.r, &w, GK_HDR_LEN, piece))
		die(name);
	save_msg(name, &w);
	gk_wbuf_free(&w);
}

static void gen_message(void)
{
	nsamples = sample_payloads(samples, 64);
	gk_rand_test_init(&rnd, 9838);

	static const uint8_t nonce_d[32] = { 0x4e, 0x6f, 0x6e, 0x63, 0x65 };
	static const uint8_t ke_d[32] = { 0x85, 0x20, 0xf0, 0x09 };
	static const uint8_t grp19[2] = { 0, 19 }, cookie_d[16] = { 0xc0, 0x0c, 0x1e };
	static const uint8_t sid[4] = { 0, 0, 0, 7 };
	static gk_pl_bytes nonce = { { nonce_d, 32 } };
	static gk_pl_ke ke = { GK_KE_CURVE25519, { ke_d, 32 } };
	static gk_pl_notify n_frag = { 0, 0, GK_N_IKEV2_FRAGMENTATION_SUPPORTED, { 0 }, { 0 } };
	static gk_pl_notify n_inv_ke = { 0, 0, GK_N_INVALID_KE_PAYLOAD, { 0 }, { grp19, 2 } };
	static gk_pl_notify n_cookie = { 0, 0, GK_N_COOKIE, { 0 }, { cookie_d, 16 } };
	static gk_pl_notify n_sender = { 0, 0, GK_N_GROUP_SENDER, { 0 }, { sid, 4 } };
	static gk_pl_notify n_authz = { 0, 0, GK_N_AUTHORIZATION_FAILED, { 0 }, { 0 } };
	static gk_pl_notify n_contact = { 0, 0, GK_N_INITIAL_CONTACT, { 0 }, { 0 } };
	static gk_transform tr_resp[] = {
		{ GK_TT_ENCR, GK_ENCR_AES_GCM_16, { 0 } },
		{ GK_TT_PRF, GK_PRF_HMAC_SHA2_256, { 0 } },
		{ GK_TT_KE, GK_KE_CURVE25519, { 0 } },
	};
	static gk_attr keylen = { .type = GK_TATTR_KEY_LENGTH, .tv = true, .tv_value = 256 };
	tr_resp[0].attrs = (gk_attr_list){ &keylen, 1 };
	static gk_proposal prop_resp = { 1, GK_PROTO_IKE, 0, { 0 }, { tr_resp, 3 } };
	static gk_pl_sa sa_resp = { { &prop_resp, 1 } };

	const gk_out_pl SA = { GK_PL_SA, false, sample_sa_ike() },
		SA1 = { GK_PL_SA, false, &sa_resp }, SAg = sample(GK_PL_SA, 1),
		KE = { GK_PL_KE, false, &ke }, NONCE = { GK_PL_NONCE, false, &nonce },
		N_FRAG = { GK_PL_NOTIFY, false, &n_frag }, N_HASH = sample(GK_PL_NOTIFY, 1),
		N_INV_KE = { GK_PL_NOTIFY, false, &n_inv_ke }, N_COOKIE = { GK_PL_NOTIFY, false, &n_cookie },
		N_SENDER = { GK_PL_NOTIFY, false, &n_sender }, N_AUTHZ = { GK_PL_NOTIFY, false, &n_authz },
		N_CONTACT = { GK_PL_NOTIFY, false, &n_contact }, N_REKEY = sample(GK_PL_NOTIFY, 3),
		CERTREQ = sample(GK_PL_CERTREQ, 0), CERT = sample(GK_PL_CERT, 0),
		RAWKEY = sample(GK_PL_CERT, 1), IDi = sample(GK_PL_IDi, 0), IDr = sample(GK_PL_IDr, 0),
		IDg = sample(GK_PL_IDg, 0), AUTH_PSK = sample(GK_PL_AUTH, 0),
		AUTH_SIG = sample(GK_PL_AUTH, 1), GSA = { GK_PL_GSA, false, sample_gsa() },
		KD = { GK_PL_KD, false, sample_kd() }, D_ESP = sample(GK_PL_DELETE, 0),
		D_ALL = sample(GK_PL_DELETE, 1), D_IKE = sample(GK_PL_DELETE, 2),
		VID = sample(GK_PL_VENDOR, 0), TSi = sample(GK_PL_TSi, 0), TSr = sample(GK_PL_TSr, 0),
		CP = sample(GK_PL_CP, 0), ESP_SA = sample(GK_PL_SA, 1);
	const uint8_t I = GK_FLAG_I, R = GK_FLAG_R;

	/* IKE_SA_INIT (RFC 7296 1.2) */
	msg("ike_sa_init_req", GK_EXCH_IKE_SA_INIT, I, 0,
	    (gk_out_pl[]){ SA, KE, NONCE, N_FRAG, N_HASH, VID }, 6, NULL, 0, false);
	msg("ike_sa_init_resp", GK_EXCH_IKE_SA_INIT, R, 0,
	    (gk_out_pl[]){ SA1, KE, NONCE, CERTREQ, N_FRAG, N_HASH }, 6, NULL, 0, false);
	msg("ike_sa_init_invalid_ke", GK_EXCH_IKE_SA_INIT, R, 0,
	    (gk_out_pl[]){ N_INV_KE }, 1, NULL, 0, false);
	msg("ike_sa_init_cookie", GK_EXCH_IKE_SA_INIT, R, 0,
	    (gk_out_pl[]){ N_COOKIE }, 1, NULL, 0, false);
	/* GSA_AUTH (RFC 9838 2.3.1): odd Message ID = AES-CBC + HMAC suite */
	const gk_out_pl auth_req[] = { IDi, AUTH_SIG, IDg, SAg, N_SENDER };
	const gk_out_pl auth_resp[] = { IDr, AUTH_SIG, GSA, KD };
	msg("gsa_auth_req", GK_EXCH_GSA_AUTH, I, 1, NULL, 0, auth_req, 5, true);
	msg("gsa_auth_req_cert", GK_EXCH_GSA_AUTH, I, 1, NULL, 0,
	    (gk_out_pl[]){ IDi, CERT, CERTREQ, IDr, AUTH_SIG, IDg, SAg, N_CONTACT }, 8, true);
	msg("gsa_auth_req_psk", GK_EXCH_GSA_AUTH, I, 0, NULL, 0,
	    (gk_out_pl[]){ IDi, AUTH_PSK, IDg }, 3, true);
	msg("gsa_auth_resp", GK_EXCH_GSA_AUTH, R, 1, NULL, 0, auth_resp, 4, true);
	msg("gsa_auth_resp_rawkey", GK_EXCH_GSA_AUTH, R, 1, NULL, 0,
	    (gk_out_pl[]){ IDr, RAWKEY, AUTH_SIG, GSA, KD, VID }, 6, true);
	msg("gsa_auth_resp_error", GK_EXCH_GSA_AUTH, R, 1, NULL, 0,
	    (gk_out_pl[]){ IDr, AUTH_PSK, N_AUTHZ }, 3, true);
	/* IKE_AUTH, for the IKEv2 tables */
	msg("ike_auth_req", GK_EXCH_IKE_AUTH, I, 1, NULL, 0,
	    (gk_out_pl[]){ IDi, AUTH_PSK, CP, ESP_SA, TSi, TSr }, 6, true);
	/* GSA_REGISTRATION (RFC 9838 2.3.2): even Message ID = AES-GCM suite */
	msg("gsa_registration_req", GK_EXCH_GSA_REGISTRATION, I, 2, NULL, 0,
	    (gk_out_pl[]){ IDg, SAg, N_SENDER }, 3, true);
	msg("gsa_registration_resp", GK_EXCH_GSA_REGISTRATION, R, 2, NULL, 0,
	    (gk_out_pl[]){ GSA, KD }, 2, true);
	msg("gsa_registration_resp_leave", GK_EXCH_GSA_REGISTRATION, R, 3, NULL, 0, NULL, 0, true);
	/* GSA_REKEY (RFC 9838 2.4.1, 2.4.3), both suites */
	msg("gsa_rekey", GK_EXCH_GSA_REKEY, I, 0, NULL, 0,
	    (gk_out_pl[]){ GSA, KD, D_ESP, AUTH_SIG }, 4, true);
	msg("gsa_rekey_cbc", GK_EXCH_GSA_REKEY, I, 1, NULL, 0,
	    (gk_out_pl[]){ GSA, KD, AUTH_SIG }, 3, true);
	msg("gsa_rekey_delete_all", GK_EXCH_GSA_REKEY, I, 2, NULL, 0,
	    (gk_out_pl[]){ D_ALL, AUTH_SIG }, 2, true);
	/* GSA_INBAND_REKEY (RFC 9838 2.4.2): a request from the GCKS, the original responder */
	msg("gsa_inband_rekey", GK_EXCH_GSA_INBAND_REKEY, 0, 5, NULL, 0,
	    (gk_out_pl[]){ GSA, KD, D_ESP }, 3, true);
	msg("gsa_inband_rekey_resp", GK_EXCH_GSA_INBAND_REKEY, I | R, 5, NULL, 0, NULL, 0, true);
	/* INFORMATIONAL */
	msg("informational_delete", GK_EXCH_INFORMATIONAL, I, 4, NULL, 0,
	    (gk_out_pl[]){ D_IKE, N_REKEY }, 2, true);
	msg("informational_resp", GK_EXCH_INFORMATIONAL, R, 4, NULL, 0, NULL, 0, true);
	/* An unprotected payload before SK (refused by the rules, but a valid SK for fuzz_sk) */
	msg("informational_outer_notify", GK_EXCH_INFORMATIONAL, I, 7,
	    (gk_out_pl[]){ N_CONTACT }, 1, (gk_out_pl[]){ D_ESP }, 1, true);

	/* SKF (RFC 7383): the GSA_AUTH response as one fragment, and split in two */
	gk_wbuf chain;
	gk_wbuf_init(&chain, GK_MAX_MESSAGE);
	if (gk_chain_build(auth_resp, 4, GK_PL_NONE, &chain))
		die("chain");
	fragment("skf_gsa_auth_resp_1of1", GK_EXCH_GSA_AUTH, R, 1, 1, 1, GK_PL_IDr,
		 gk_wbuf_chunk(&chain));
	size_t half = chain.len / 2;
	fragment("skf_gsa_auth_resp_1of2", GK_EXCH_GSA_AUTH, R, 1, 1, 2, GK_PL_IDr,
		 GK_CHUNK(chain.data, half));
	fragment("skf_gsa_auth_resp_2of2", GK_EXCH_GSA_AUTH, R, 1, 2, 2, GK_PL_IDr,
		 GK_CHUNK(chain.data + half, chain.len - half));
	fragment("skf_gsa_registration_resp_1of1", GK_EXCH_GSA_REGISTRATION, R, 2, 1, 1, GK_PL_IDr,
		 gk_wbuf_chunk(&chain));
	gk_wbuf_free(&chain);
}

/* ---- fuzz_keywrap: Wrapped Key attribute values ---- */

static void gen_keywrap(void)
{
	static const size_t lens[] = { 1, 7, 16, 32, 36, 64, 255, GK_WRAP_MAX_KEY };
	uint8_t key[GK_WRAP_MAX_KEY];
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 31 + 7);
	for (int kw = 0; kw < 2; kw++) {
		uint16_t kwa = kw ? GK_KWA_KW_5649_256 : GK_KWA_KW_5649_128;
		gk_chunk kwk = kw ? GK_CHUNK(fk_kwk256, 32) : GK_CHUNK(fk_kwk128, 16);
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			gk_wbuf w;
			gk_wbuf_init(&w, 0);
			if (gk_wrapped_key_build(kwa, kwk, (uint32_t)i, kw ? 0x01000000u + (uint32_t)i : 0,
						 GK_CHUNK(key, lens[i]), &w))
				die("wrap");
			char name[64];
			snprintf(name, sizeof(name), "kw%d-key%zu", kw ? 256 : 128, lens[i]);
			put_wbuf("keywrap", name, &w);
			gk_wbuf_free(&w);
		}
	}
}

/* ---- fuzz_auth: AUTH data, AlgorithmIdentifiers, SPKIs, certificates ---- */

static EVP_PKEY *load_priv(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, (long)len);
	if (!k)
		die("private key");
	return k;
}

static void put_cert(const char *name, X509 *x)
{
	unsigned char *der = NULL;
	int n = x ? i2d_X509(x, &der) : -1;
	if (n <= 0)
		die(name);
	put_file("auth", name, der, (size_t)n);
	OPENSSL_free(der);
}

static void gen_auth(void)
{
	EVP_PKEY *p256 = load_priv(fk_p256_priv, sizeof(fk_p256_priv));
	EVP_PKEY *ed = load_priv(fk_ed25519_priv, sizeof(fk_ed25519_priv));
	gk_chunk octets = GK_CHUNK(fk_signed_octets, sizeof(fk_signed_octets) - 1);
	gk_wbuf w;

	gk_wbuf_init(&w, 0);
	if (gk_auth_sig_sign(p256, GK_SIG_ECDSA_SHA256, octets, &w))
		die("sign p256");
	put_wbuf("auth", "authdata-ecdsa-sha256", &w);
	gk_wbuf_free(&w);
	gk_wbuf_init(&w, 0);
	if (gk_auth_sig_sign(ed, GK_SIG_ED25519, octets, &w))
		die("sign ed25519");
	put_wbuf("auth", "authdata-ed25519", &w);
	gk_wbuf_free(&w);

	for (int s = GK_SIG_NONE + 1; s < GK_SIG_COUNT; s++) {
		gk_chunk a = gk_sig_algid((gk_sig_scheme)s);
		char name[64];
		snprintf(name, sizeof(name), "algid-%s", gk_sig_scheme_name((gk_sig_scheme)s));
		put_file("auth", name, a.ptr, a.len);
	}
	put_file("auth", "spki-p256", fk_p256_spki, sizeof(fk_p256_spki));
	put_file("auth", "spki-ed25519", fk_ed25519_spki, sizeof(fk_ed25519_spki));

	cg_cert_opts o = { .cn = "gm1.example", .san = "DNS:gm1.example,email:gm1@example.org,IP:192.0.2.1",
			   .not_before = -3600, .not_after = 86400 * 365, .serial = 1 };
	X509 *x = cg_cert_issue(&o, p256, NULL, NULL);
	put_cert("cert-p256-selfsigned", x);
	X509_free(x);
	o = (cg_cert_opts){ .cn = "gikev2 fuzz CA", .ca = true, .not_before = -3600,
			    .not_after = 86400 * 365, .serial = 2 };
	x = cg_cert_issue(&o, ed, NULL, NULL);
	put_cert("cert-ed25519-ca", x);
	X509_free(x);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(ed);
}

/* ---- fuzz_ident: text forms, and ID payload forms (type octet | data) ---- */

static void gen_ident(void)
{
	static const char *const texts[] = {
		"fqdn:gm1.example", "FQDN:GCKS.Example", "email:gm1@example.org",
		"ipv4:192.0.2.1", "ipv6:2001:db8::1", "ipv6:::ffff:192.0.2.7",
		"keyid:video-239.1.1.1", "keyid:0x00112233445566778899aabbccddeeff", "keyid:0x",
		"keyid:a:b",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "text-%02zu", i);
		put_file("ident", name, texts[i], strlen(texts[i]));
	}
	static const uint8_t v4[] = { GK_ID_IPV4_ADDR, 192, 0, 2, 1 };
	static const uint8_t v6[] = { GK_ID_IPV6_ADDR, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0,
				      0, 0, 0, 1 };
	static const uint8_t kid[] = { GK_ID_KEY_ID, 0, 1, 2, 0xfe, 0xff };
	static const uint8_t dn[] = { GK_ID_DER_ASN1_DN, 0x30, 0x0f, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03,
				      0x55, 0x04, 0x03, 0x0c, 0x04, 0x67, 0x63, 0x6b, 0x73 };
	put_file("ident", "payload-ipv4", v4, sizeof(v4));
	put_file("ident", "payload-ipv6", v6, sizeof(v6));
	put_file("ident", "payload-keyid", kid, sizeof(kid));
	put_file("ident", "payload-dn", dn, sizeof(dn));
}

/* ---- fuzz_policy_yaml: the shipped example policies ---- */

static void gen_policy_yaml(const char *dir)
{
	DIR *d = dir ? opendir(dir) : NULL;
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		static uint8_t buf[1 << 16];
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		put_file("policy_yaml", e->d_name, buf, len);
	}
	closedir(d);
}

/* ---- fuzz_gm_rekey: GSA_REKEY datagrams (records len | datagram) under the Rekey SA of
 * fuzz_gm_state.h, signed with its AUTH_KEY's private key ---- */

/* Key hierarchy seeds (RFC 9838 3.3): the new Rekey SA's key only under intermediate keys
 * (SA_KEY Key ID 0, KWK ID != 0) and WRAP_KEYs in a member key bag, all values fg_kh_key, so
 * that they reach (or, by design, miss or loop around) the fuzz member's Working Key Path. */
typedef struct lkh_wrap {
	uint32_t key_id, kwk_id;
} lkh_wrap;
typedef struct lkh_spec {
	const lkh_wrap *sa, *wrap;
	size_t nsa, nwrap;
} lkh_spec;
static const lkh_spec *lkh; /* set while a key hierarchy seed is built */

static gk_chunk lkh_wrapped(gk_arena *a, uint16_t kwa, gk_chunk gsk_w, uint32_t key_id, uint32_t kwk_id, gk_chunk key)
{
	uint8_t kwk[32];
	fg_kh_key(kwk_id, kwk);
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	if (gk_wrapped_key_build(kwa, kwk_id ? GK_CHUNK(kwk, 32) : gsk_w, key_id, kwk_id, key, &w))
		die("key hierarchy wrap");
	gk_chunk c = GK_CHUNK(gk_arena_dup(a, w.data, w.len), w.len);
	gk_wbuf_free(&w);
	return c;
}

static void lkh_apply(gk_arena *a, uint16_t kwa, gk_chunk gsk_w, const gk_group_state *ns, gk_pl_kd *kd)
{
	const gk_group_sa *kek = NULL;
	for (size_t i = 0; i < ns->nsas; i++)
		if (ns->sas[i].proto == GK_PROTO_GIKE_UPDATE)
			kek = &ns->sas[i];
	gk_attr *sa = gk_arena_calloc(a, lkh->nsa, sizeof(*sa)), *wr = gk_arena_calloc(a, lkh->nwrap, sizeof(*wr));
	gk_key_bag *bags = gk_arena_calloc(a, kd->bags.n + 1, sizeof(*bags));
	if (!kek || !sa || !wr || !bags)
		die("key hierarchy seed");
	for (size_t i = 0; i < lkh->nsa; i++)
		sa[i] = (gk_attr){ .type = GK_GKBA_SA_KEY,
				   .value = lkh_wrapped(a, kwa, gsk_w, 0, lkh->sa[i].kwk_id,
							GK_CHUNK(kek->keymat, kek->keymat_len)) };
	for (size_t i = 0; i < lkh->nwrap; i++) {
		uint8_t key[32];
		fg_kh_key(lkh->wrap[i].key_id, key);
		wr[i] = (gk_attr){ .type = GK_MKBA_WRAP_KEY,
				   .value = lkh_wrapped(a, kwa, gsk_w, lkh->wrap[i].key_id, lkh->wrap[i].kwk_id,
							GK_CHUNK(key, 32)) };
	}
	memcpy(bags, kd->bags.items, kd->bags.n * sizeof(*bags));
	bool member = false;
	for (size_t i = 0; i < kd->bags.n; i++) {
		if (bags[i].proto == GK_PROTO_GIKE_UPDATE)
			bags[i].attrs = (gk_attr_list){ sa, lkh->nsa };
		if (bags[i].proto == 0) { /* AUTH_KEY is there: the WRAP_KEYs join it */
			gk_attr *all = gk_arena_calloc(a, bags[i].attrs.n + lkh->nwrap, sizeof(*all));
			if (!all)
				die("key hierarchy seed");
			memcpy(all, bags[i].attrs.items, bags[i].attrs.n * sizeof(*all));
			memcpy(all + bags[i].attrs.n, wr, lkh->nwrap * sizeof(*all));
			bags[i].attrs = (gk_attr_list){ all, bags[i].attrs.n + lkh->nwrap };
			member = true;
		}
	}
	if (!member)
		bags[kd->bags.n++] = (gk_key_bag){ .proto = 0, .attrs = { wr, lkh->nwrap } };
	kd->bags.items = bags;
}

/* Appends one GSA_REKEY (all its datagrams) with the new state ns (NULL: none) and deletions. */
static void rekey_msg(gk_wbuf *rec, EVP_PKEY *sign, uint32_t msg_id, const gk_group_state *ns,
		      const gk_pl_delete *del, size_t ndel, size_t frag_mtu)
{
	gk_group_state reg;
	fg_registered_state(&reg);
	const gk_group_sa *kek = &reg.sas[1];
	gk_group_keys k;
	if (gk_group_keys_split(GK_CHUNK(kek->keymat, kek->keymat_len), kek->proto, kek->encr, kek->encr_key_bits,
				kek->integ, kek->kwa, &k))
		die("KEK split");
	gk_arena a;
	gk_arena_init(&a, 0);
	gk_pl_gsa gsa;
	gk_pl_kd kd;
	gk_out_pl pl[8];
	size_t n = 0;
	if (ns) {
		if (gk_group_state_encode(ns, GK_GSA_REKEY, kek->kwa, k.wrap, &a, &gsa, &kd))
			die("rekey state encode");
		if (lkh)
			lkh_apply(&a, kek->kwa, k.wrap, ns, &kd);
		pl[n++] = (gk_out_pl){ GK_PL_GSA, false, &gsa };
		pl[n++] = (gk_out_pl){ GK_PL_KD, false, &kd };
	}
	for (size_t i = 0; i < ndel; i++)
		pl[n++] = (gk_out_pl){ GK_PL_DELETE, false, &del[i] };
	gk_rekey_out r = { .msg_id = msg_id, .pl = pl, .npl = n, .sign_key = sign, .scheme = GK_SIG_ECDSA_SHA256,
			   .kek = { .encr = kek->encr, .encr_key_bits = kek->encr_key_bits, .integ = kek->integ,
				    .enc = k.enc, .integ_key = k.integ },
			   .frag_mtu = frag_mtu };
	memcpy(r.spi, kek->spi, 16);
	gk_dgrams d;
	if (gk_rekey_build(&r, &rnd.r, &d))
		die("GSA_REKEY build");
	for (size_t i = 0; i < d.n; i++) {
		gk_wbuf_u16(rec, (uint16_t)d.d[i].len);
		gk_wbuf_put(rec, d.d[i].data, d.d[i].len);
	}
	gk_dgrams_free(&d);
	gk_arena_free(&a);
}

/* The same in the clear, for fuzz_gm_rekey to sign and encrypt (its SEAL records). */
static void rekey_clear(gk_wbuf *rec, uint32_t msg_id, const gk_group_state *ns, const gk_pl_delete *del,
			size_t ndel, bool frag)
{
	gk_group_state reg;
	fg_registered_state(&reg);
	const gk_group_sa *kek = &reg.sas[1];
	gk_group_keys k;
	if (gk_group_keys_split(GK_CHUNK(kek->keymat, kek->keymat_len), kek->proto, kek->encr, kek->encr_key_bits,
				kek->integ, kek->kwa, &k))
		die("KEK split");
	gk_arena a;
	gk_arena_init(&a, 0);
	gk_pl_gsa gsa;
	gk_pl_kd kd;
	gk_out_pl pl[8];
	size_t n = 0;
	if (ns) {
		if (gk_group_state_encode(ns, GK_GSA_REKEY, kek->kwa, k.wrap, &a, &gsa, &kd))
			die("rekey state encode");
		if (lkh)
			lkh_apply(&a, kek->kwa, k.wrap, ns, &kd);
		pl[n++] = (gk_out_pl){ GK_PL_GSA, false, &gsa };
		pl[n++] = (gk_out_pl){ GK_PL_KD, false, &kd };
	}
	for (size_t i = 0; i < ndel; i++)
		pl[n++] = (gk_out_pl){ GK_PL_DELETE, false, &del[i] };
	gk_wbuf w;
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	gk_hdr h = { .exchange = GK_EXCH_GSA_REKEY, .msg_id = msg_id, .flags = frag ? 1 : 0 };
	memcpy(&h.spi_i, kek->spi, 8);
	memcpy(&h.spi_r, kek->spi + 8, 8);
	gk_hdr_build(&h, &w);
	gk_wbuf_u8(&w, pl[0].type);
	if (gk_chain_build(pl, n, GK_PL_NONE, &w) || w.len > 0x7fff)
		die("clear GSA_REKEY");
	gk_wbuf_u16(rec, (uint16_t)(0x8000 | w.len));
	gk_wbuf_put(rec, w.data, w.len);
	gk_wbuf_free(&w);
	gk_arena_free(&a);
}

static void gen_gm_rekey(void)
{
	const uint8_t *p = fk_p256_priv;
	EVP_PKEY *sign = d2i_AutoPrivateKey(NULL, &p, sizeof(fk_p256_priv));
	if (!sign)
		die("fuzz P-256 key");
	static uint8_t spi1[4] = { 0, 0, 0, 1 }, zero16[16];
	gk_chunk esp1 = GK_CHUNK(spi1, 4), kek0 = GK_CHUNK(zero16, 16);
	gk_pl_delete del_esp1 = { .proto = GK_PROTO_ESP, .spi_size = 4, .spis = { &esp1, 1 } };
	gk_pl_delete exclude = { .proto = GK_PROTO_GIKE_UPDATE, .spi_size = 16, .spis = { &kek0, 1 } };
	gk_group_state tek2, kek2;
	memset(&tek2, 0, sizeof(tek2));
	fg_tek(&tek2.sas[0], 2);
	tek2.nsas = 1;
	tek2.atd = 30;
	tek2.dtd = 60;
	tek2.has_atd = tek2.has_dtd = true;
	memset(&kek2, 0, sizeof(kek2));
	fg_tek(&kek2.sas[0], 3);
	fg_kek(&kek2.sas[1], 0x22);
	kek2.nsas = 2;
	memcpy(kek2.auth_key, fk_p256_spki, sizeof(fk_p256_spki));
	kek2.auth_key_len = sizeof(fk_p256_spki);
	static const struct {
		const char *name;
		int kind;
	} seeds[] = { { "00-new-tek", 0 }, { "01-new-tek-fragmented", 1 }, { "02-new-kek-and-auth-key", 2 },
		      { "03-delete", 3 }, { "04-exclusion", 4 }, { "05-sequence-with-replay", 5 },
		      { "06-clear-new-tek-fragmented-then-delete", 6 }, { "07-clear-new-kek", 7 },
		      { "08-lkh-new-kek", 8 }, { "09-clear-lkh-new-kek", 9 }, { "10-lkh-excluded", 10 },
		      { "11-clear-lkh-cycle", 11 } };
	/* 08, 09: K under 1 (the member's top key: an empty path) and under 15; 15 under 16, 16
	 * under 3 (its own key): the path 15 -> 16 -> 3; and 17 under 99, a key it never had.
	 * 10: K under 50, 50 under 51: no path. 11: K under 20, 20 and 21 under each other. */
	static const lkh_wrap sa_a[] = { { 0, 1 }, { 0, 15 } }, wrap_a[] = { { 15, 16 }, { 16, 3 }, { 17, 99 } };
	static const lkh_wrap sa_b[] = { { 0, 50 } }, wrap_b[] = { { 50, 51 } };
	static const lkh_wrap sa_c[] = { { 0, 20 } }, wrap_c[] = { { 20, 21 }, { 21, 20 } };
	static const lkh_spec lkh_a = { sa_a + 1, wrap_a, 1, 3 }, lkh_a2 = { sa_a, wrap_a, 2, 3 },
			      lkh_b = { sa_b, wrap_b, 1, 1 }, lkh_c = { sa_c, wrap_c, 1, 2 };
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		gk_wbuf rec;
		gk_wbuf_init(&rec, 1u << 20);
		switch (seeds[i].kind) {
		case 0:
			rekey_msg(&rec, sign, FG_INITIAL_MSGID, &tek2, &del_esp1, 1, 0);
			break;
		case 1:
			rekey_msg(&rec, sign, FG_INITIAL_MSGID, &tek2, &del_esp1, 1, 300);
			break;
		case 2:
			rekey_msg(&rec, sign, FG_INITIAL_MSGID + 5, &kek2, NULL, 0, 0);
			break;
		case 3:
			rekey_msg(&rec, sign, FG_INITIAL_MSGID, NULL, &del_esp1, 1, 0);
			break;
		case 4:
			rekey_msg(&rec, sign, FG_INITIAL_MSGID, NULL, &exclude, 1, 0);
			break;
		case 5:
			rekey_msg(&rec, sign, FG_INITIAL_MSGID, &tek2, NULL, 0, 0);
			rekey_msg(&rec, sign, FG_INITIAL_MSGID, &tek2, NULL, 0, 0);
			rekey_msg(&rec, sign, FG_INITIAL_MSGID + 1, NULL, &del_esp1, 1, 300);
			break;
		case 6:
			rekey_clear(&rec, FG_INITIAL_MSGID, &tek2, &del_esp1, 1, true);
			rekey_clear(&rec, FG_INITIAL_MSGID + 1, NULL, &del_esp1, 1, false);
			break;
		case 7:
			rekey_clear(&rec, FG_INITIAL_MSGID + 2, &kek2, NULL, 0, false);
			break;
		case 8:
			lkh = &lkh_a2;
			rekey_msg(&rec, sign, FG_INITIAL_MSGID, &kek2, NULL, 0, 0);
			break;
		case 9:
			lkh = &lkh_a;
			rekey_clear(&rec, FG_INITIAL_MSGID, &kek2, NULL, 0, false);
			break;
		case 10:
			lkh = &lkh_b;
			rekey_msg(&rec, sign, FG_INITIAL_MSGID, &kek2, NULL, 0, 0);
			break;
		default:
			lkh = &lkh_c;
			rekey_clear(&rec, FG_INITIAL_MSGID, &kek2, NULL, 0, false);
			break;
		}
		lkh = NULL;
		put_wbuf("gm_rekey", seeds[i].name, &rec);
		gk_wbuf_free(&rec);
	}
	EVP_PKEY_free(sign);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s OUTDIR [POLICYDIR]\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	mkdir_p(outdir);
	gen_payload();
	gen_message();
	gen_keywrap();
	gen_auth();
	gen_ident();
	gen_policy_yaml(argc > 2 ? argv[2] : NULL);
	gen_gm_rekey();
	printf("gen_corpus: %d files in %s\n", nfiles, outdir);
	return 0;
}
