#include <string.h>
#include "samples.h"

#define C(s) GK_CHUNK(s, sizeof(s) - 1)

static const uint8_t spi16[16] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
				   0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01 };
static const uint8_t spi4a[4] = { 0xc0, 0x01, 0xd0, 0x0d };
static const uint8_t spi4b[4] = { 0xc0, 0x01, 0xd0, 0x0e };
static const uint8_t v4_any_s[4] = { 0, 0, 0, 0 }, v4_any_e[4] = { 255, 255, 255, 255 };
static const uint8_t v4_src[4] = { 192, 0, 2, 10 };
static const uint8_t v4_grp[4] = { 239, 1, 1, 1 };
static const uint8_t v4_rekey[4] = { 239, 192, 0, 1 };
static const uint8_t v6_grp[16] = { 0xff, 0x3e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34 };
/* RFC 7427 A.4.3: ecdsa-with-SHA256 AlgorithmIdentifier */
static const uint8_t algid_ecdsa256[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
					  0x3d, 0x04, 0x03, 0x02 };
static uint8_t wrapped_tek[8 + 40], wrapped_kek[8 + 72], spki[91], sid1[4] = { 0, 0, 0, 1 };
static uint8_t lifetime[4] = { 0, 0, 0x0e, 0x10 }, msgid[4] = { 0, 0, 0, 5 };

static gk_attr keylen256 = { .type = GK_TATTR_KEY_LENGTH, .tv = true, .tv_value = 256 };
static gk_attr keylen128 = { .type = GK_TATTR_KEY_LENGTH, .tv = true, .tv_value = 128 };
static gk_attr sigalg;

static gk_transform ike_tr[] = {
	{ GK_TT_ENCR, GK_ENCR_AES_GCM_16, { &keylen256, 1 } },
	{ GK_TT_PRF, GK_PRF_HMAC_SHA2_256, { 0 } },
	{ GK_TT_KE, GK_KE_CURVE25519, { 0 } },
	{ GK_TT_KWA, GK_KWA_KW_5649_256, { 0 } },
};
static gk_transform ike_tr2[] = {
	{ GK_TT_ENCR, GK_ENCR_AES_CBC, { &keylen128, 1 } },
	{ GK_TT_PRF, GK_PRF_HMAC_SHA2_256, { 0 } },
	{ GK_TT_INTEG, GK_INTEG_HMAC_SHA2_256_128, { 0 } },
	{ GK_TT_KE, GK_KE_ECP_256, { 0 } },
};
static gk_proposal ike_props[] = {
	{ 1, GK_PROTO_IKE, 0, { 0 }, { ike_tr, 4 } },
	{ 2, GK_PROTO_IKE, 0, { 0 }, { ike_tr2, 4 } },
};
static gk_pl_sa sa_ike = { { ike_props, 2 } };

static gk_transform esp_tr[] = {
	{ GK_TT_ENCR, GK_ENCR_AES_GCM_16, { &keylen256, 1 } },
	{ GK_TT_SN, GK_SN_UNSPEC32, { 0 } },
};
static gk_proposal esp_prop[] = { { 1, GK_PROTO_ESP, 4, { spi4a, 4 }, { esp_tr, 2 } } };
static gk_pl_sa sa_esp = { { esp_prop, 1 } };

static gk_transform kek_tr[] = {
	{ GK_TT_ENCR, GK_ENCR_AES_CBC, { &keylen256, 1 } },
	{ GK_TT_INTEG, GK_INTEG_HMAC_SHA2_256_128, { 0 } },
	{ GK_TT_KWA, GK_KWA_KW_5649_256, { 0 } },
	{ GK_TT_GCAUTH, GK_GCAUTH_DIGITAL_SIGNATURE, { &sigalg, 1 } },
};
static gk_attr kek_attrs[2];
static gk_transform tek_tr[] = {
	{ GK_TT_ENCR, GK_ENCR_AES_GCM_16, { &keylen256, 1 } },
	{ GK_TT_SN, GK_SN_SEQ32, { 0 } },
};
static gk_transform tek6_tr[] = {
	{ GK_TT_ENCR, GK_ENCR_AES_CBC, { &keylen128, 1 } },
	{ GK_TT_INTEG, GK_INTEG_HMAC_SHA2_256_128, { 0 } },
	{ GK_TT_SN, GK_SN_UNSPEC32, { 0 } },
};
static gk_attr tek_attrs[2];
static gk_attr gw_attrs[] = {
	{ .type = GK_GWPA_GWP_ATD, .tv = true, .tv_value = 10 },
	{ .type = GK_GWPA_GWP_DTD, .tv = true, .tv_value = 30 },
	{ .type = GK_GWPA_GWP_SENDER_ID_BITS, .tv = true, .tv_value = 8 },
};
static gk_gsa_policy gsa_pols[4];
static gk_pl_gsa gsa;

static gk_attr kek_bag_attrs[1], tek_bag_attrs[1], tek6_bag_attrs[1], member_attrs[2];
static gk_key_bag bags[4];
static gk_pl_kd kd;

static gk_ts ts4[2], ts6;
static gk_pl_ts pl_ts4, pl_ts6;

static void fill(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	sigalg = (gk_attr){ .type = GK_TATTR_SIG_ALG_ID, .value = GK_CHUNK(algid_ecdsa256, sizeof(algid_ecdsa256)) };
	for (size_t i = 0; i < sizeof(wrapped_tek); i++) wrapped_tek[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < sizeof(wrapped_kek); i++) wrapped_kek[i] = (uint8_t)(i * 13);
	memset(wrapped_tek, 0, 8); /* Key ID 0, KWK ID 0 */
	memset(wrapped_kek, 0, 8);
	for (size_t i = 0; i < sizeof(spki); i++) spki[i] = (uint8_t)(0x30 + i);
	kek_attrs[0] = (gk_attr){ .type = GK_GSAA_GSA_KEY_LIFETIME, .value = GK_CHUNK(lifetime, 4) };
	kek_attrs[1] = (gk_attr){ .type = GK_GSAA_GSA_INITIAL_MESSAGE_ID, .value = GK_CHUNK(msgid, 4) };
	tek_attrs[0] = (gk_attr){ .type = GK_GSAA_GSA_KEY_LIFETIME, .value = GK_CHUNK(lifetime, 4) };
	tek_attrs[1] = (gk_attr){ .type = GK_GSAA_GSA_NEXT_SPI, .value = GK_CHUNK(spi4b, 4) };

	gk_ts rekey_src = { GK_TS_IPV4_ADDR_RANGE, 17, 848, 848, GK_CHUNK(v4_src, 4), GK_CHUNK(v4_src, 4) };
	gk_ts rekey_dst = { GK_TS_IPV4_ADDR_RANGE, 17, 848, 848, GK_CHUNK(v4_rekey, 4), GK_CHUNK(v4_rekey, 4) };
	gk_ts any4 = { GK_TS_IPV4_ADDR_RANGE, 0, 0, 65535, GK_CHUNK(v4_any_s, 4), GK_CHUNK(v4_any_e, 4) };
	gk_ts grp4 = { GK_TS_IPV4_ADDR_RANGE, 17, 0, 65535, GK_CHUNK(v4_grp, 4), GK_CHUNK(v4_grp, 4) };
	static uint8_t v6_any_s[16], v6_any_e[16];
	memset(v6_any_e, 0xff, 16);
	gk_ts any6 = { GK_TS_IPV6_ADDR_RANGE, 0, 0, 65535, GK_CHUNK(v6_any_s, 16), GK_CHUNK(v6_any_e, 16) };
	gk_ts grp6 = { GK_TS_IPV6_ADDR_RANGE, 17, 5004, 5004, GK_CHUNK(v6_grp, 16), GK_CHUNK(v6_grp, 16) };

	gsa_pols[0] = (gk_gsa_policy){ GK_PROTO_GIKE_UPDATE, 16, GK_CHUNK(spi16, 16), rekey_src, rekey_dst,
				       { kek_tr, 4 }, { kek_attrs, 2 } };
	gsa_pols[1] = (gk_gsa_policy){ GK_PROTO_ESP, 4, GK_CHUNK(spi4a, 4), any4, grp4, { tek_tr, 2 },
				       { tek_attrs, 2 } };
	gsa_pols[2] = (gk_gsa_policy){ GK_PROTO_ESP, 4, GK_CHUNK(spi4b, 4), any6, grp6,
				       { tek6_tr, 3 }, { tek_attrs, 1 } };
	gsa_pols[3] = (gk_gsa_policy){ .proto = 0, .attrs = { gw_attrs, 3 } };
	gsa = (gk_pl_gsa){ { gsa_pols, 4 } };

	kek_bag_attrs[0] = (gk_attr){ .type = GK_GKBA_SA_KEY, .value = GK_CHUNK(wrapped_kek, sizeof(wrapped_kek)) };
	tek_bag_attrs[0] = (gk_attr){ .type = GK_GKBA_SA_KEY, .value = GK_CHUNK(wrapped_tek, sizeof(wrapped_tek)) };
	tek6_bag_attrs[0] = tek_bag_attrs[0];
	member_attrs[0] = (gk_attr){ .type = GK_MKBA_AUTH_KEY, .value = GK_CHUNK(spki, sizeof(spki)) };
	member_attrs[1] = (gk_attr){ .type = GK_MKBA_GM_SENDER_ID, .value = GK_CHUNK(sid1, 4) };
	bags[0] = (gk_key_bag){ GK_PROTO_GIKE_UPDATE, 16, GK_CHUNK(spi16, 16), { kek_bag_attrs, 1 } };
	bags[1] = (gk_key_bag){ GK_PROTO_ESP, 4, GK_CHUNK(spi4a, 4), { tek_bag_attrs, 1 } };
	bags[2] = (gk_key_bag){ GK_PROTO_ESP, 4, GK_CHUNK(spi4b, 4), { tek6_bag_attrs, 1 } };
	bags[3] = (gk_key_bag){ .proto = 0, .attrs = { member_attrs, 2 } };
	kd = (gk_pl_kd){ { bags, 4 } };

	ts4[0] = any4;
	ts4[1] = grp4;
	ts6 = grp6;
	pl_ts4 = (gk_pl_ts){ { ts4, 2 } };
	pl_ts6 = (gk_pl_ts){ { &ts6, 1 } };
}

const gk_pl_sa *sample_sa_ike(void) { fill(); return &sa_ike; }
const gk_pl_gsa *sample_gsa(void) { fill(); return &gsa; }
const gk_pl_kd *sample_kd(void) { fill(); return &kd; }

static const uint8_t ke_x25519[32] = { 0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b };
static const uint8_t der_cert[] = { 0x30, 0x82, 0x01, 0x0a, 0x02, 0x01, 0x01 };
static const uint8_t sid_data[4] = { 0, 0, 0, 2 };
static const uint8_t hash_algs[] = { 0, 2, 0, 3, 0, 4, 0, 5 };
static const uint8_t cp_addr[4] = { 10, 0, 0, 1 };
static gk_attr cp_attrs[] = {
	{ .type = 1, .value = { cp_addr, 4 } },   /* INTERNAL_IP4_ADDRESS */
	{ .type = 3, .value = { NULL, 0 } },      /* INTERNAL_IP4_DNS request */
};
static gk_chunk del_spis[3];

size_t sample_payloads(gk_out_pl *out, size_t max)
{
	static gk_pl_ke ke;
	static gk_pl_id idi, idr, idg;
	static gk_pl_cert cert, certreq, rawkey;
	static gk_pl_auth auth_psk, auth_sig;
	static gk_pl_bytes nonce, vendor, eap, sk;
	static gk_pl_notify n_sender, n_hash, n_err, n_spi;
	static gk_pl_delete del_esp, del_all, del_ike;
	static gk_pl_skf skf;
	static gk_pl_cp cp;
	static const char fqdn[] = "gm1.example", grp[] = "video-239.1.1.1", gcks[] = "gcks.example";
	static const uint8_t nonce_d[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	static const uint8_t mic[32] = { 0xde, 0xad, 0xbe, 0xef };
	static const uint8_t zero4[4] = { 0 };
	fill();
	ke = (gk_pl_ke){ GK_KE_CURVE25519, GK_CHUNK(ke_x25519, 32) };
	idi = (gk_pl_id){ GK_ID_FQDN, C(fqdn) };
	idr = (gk_pl_id){ GK_ID_FQDN, C(gcks) };
	idg = (gk_pl_id){ GK_ID_KEY_ID, C(grp) };
	cert = (gk_pl_cert){ GK_CERT_X509_SIGNATURE, GK_CHUNK(der_cert, sizeof(der_cert)) };
	certreq = (gk_pl_cert){ GK_CERT_X509_SIGNATURE, GK_CHUNK(mic, 20) };
	rawkey = (gk_pl_cert){ GK_CERT_RAW_PUBLIC_KEY, GK_CHUNK(spki, sizeof(spki)) };
	auth_psk = (gk_pl_auth){ GK_AUTH_SHARED_KEY_MIC, GK_CHUNK(mic, 32) };
	auth_sig = (gk_pl_auth){ GK_AUTH_DIGITAL_SIGNATURE, GK_CHUNK(algid_ecdsa256, sizeof(algid_ecdsa256)) };
	nonce = (gk_pl_bytes){ GK_CHUNK(nonce_d, 32) };
	vendor = (gk_pl_bytes){ C("gikev2") };
	eap = (gk_pl_bytes){ GK_CHUNK("\x01\x01\x00\x05\x01", 5) };
	sk = (gk_pl_bytes){ GK_CHUNK(nonce_d, 32) };
	n_sender = (gk_pl_notify){ 0, 0, GK_N_GROUP_SENDER, { 0 }, GK_CHUNK(sid_data, 4) };
	n_hash = (gk_pl_notify){ 0, 0, GK_N_SIGNATURE_HASH_ALGORITHMS, { 0 }, GK_CHUNK(hash_algs, 8) };
	n_err = (gk_pl_notify){ 0, 0, GK_N_INVALID_GROUP_ID, { 0 }, { 0 } };
	n_spi = (gk_pl_notify){ GK_PROTO_ESP, 4, GK_N_REKEY_SA, GK_CHUNK(spi4a, 4), { 0 } };
	del_spis[0] = GK_CHUNK(spi4a, 4);
	del_spis[1] = GK_CHUNK(spi4b, 4);
	del_esp = (gk_pl_delete){ GK_PROTO_ESP, 4, { del_spis, 2 } };
	del_spis[2] = GK_CHUNK(zero4, 4); /* RFC 9838 2.4.3: SPI zero deletes all */
	del_all = (gk_pl_delete){ GK_PROTO_ESP, 4, { &del_spis[2], 1 } };
	del_ike = (gk_pl_delete){ GK_PROTO_IKE, 0, { NULL, 0 } };
	skf = (gk_pl_skf){ 2, 3, GK_CHUNK(nonce_d, 16) };
	cp = (gk_pl_cp){ GK_CP_CFG_REQUEST, { cp_attrs, 2 } };

	const gk_out_pl all[] = {
		{ GK_PL_SA, false, &sa_ike }, { GK_PL_SA, false, &sa_esp }, { GK_PL_KE, false, &ke },
		{ GK_PL_IDi, false, &idi }, { GK_PL_IDr, false, &idr }, { GK_PL_CERT, false, &cert },
		{ GK_PL_CERT, false, &rawkey }, { GK_PL_CERTREQ, false, &certreq },
		{ GK_PL_AUTH, false, &auth_psk }, { GK_PL_AUTH, false, &auth_sig },
		{ GK_PL_NONCE, false, &nonce }, { GK_PL_NOTIFY, false, &n_sender },
		{ GK_PL_NOTIFY, false, &n_hash }, { GK_PL_NOTIFY, false, &n_err },
		{ GK_PL_NOTIFY, false, &n_spi }, { GK_PL_DELETE, false, &del_esp },
		{ GK_PL_DELETE, false, &del_all }, { GK_PL_DELETE, false, &del_ike },
		{ GK_PL_VENDOR, false, &vendor }, { GK_PL_TSi, false, &pl_ts4 },
		{ GK_PL_TSr, false, &pl_ts6 }, { GK_PL_SK, false, &sk }, { GK_PL_CP, false, &cp },
		{ GK_PL_EAP, false, &eap }, { GK_PL_IDg, false, &idg }, { GK_PL_GSA, false, &gsa },
		{ GK_PL_KD, false, &kd }, { GK_PL_SKF, false, &skf },
	};
	size_t n = sizeof(all) / sizeof(all[0]);
	if (n > max)
		n = max;
	memcpy(out, all, n * sizeof(all[0]));
	return n;
}
