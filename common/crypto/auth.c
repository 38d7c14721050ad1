/* IKEv2 authentication through OpenSSL 3: shared key MIC (RFC 7296 2.15), Digital Signature
 * (RFC 7427), raw public keys (RFC 7670), X.509 chains and PEM loading. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include "auth.h"
#include "algs.h"
#include "iana.h"
#include "prf.h"

/* ---- AlgorithmIdentifiers ----------------------------------------------------------- */

/* RFC 7427 A.1.2 sha256WithRSAEncryption (1.2.840.113549.1.1.11), NULL parameters. */
static const uint8_t algid_rsa_pkcs1_sha256[] = {
	0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
};
/* RFC 7427 A.3.2 ecdsa-with-sha256 (1.2.840.10045.4.3.2), absent parameters. */
static const uint8_t algid_ecdsa_sha256[] = {
	0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
};
/* RFC 7427 A.3.3 ecdsa-with-sha384 (1.2.840.10045.4.3.3). */
static const uint8_t algid_ecdsa_sha384[] = {
	0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
};
/* RFC 7427 A.3.4 ecdsa-with-sha512 (1.2.840.10045.4.3.4). */
static const uint8_t algid_ecdsa_sha512[] = {
	0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04,
};

/* RFC 7427 A.4.3 RSASSA-PSS with SHA-256: id-RSASSA-PSS (1.2.840.113549.1.1.10) with
 * hashAlgorithm sha256, maskGenAlgorithm mgf1(sha256), saltLength 32 and trailerField 1.
 * The RFC spells out trailerField although it is the DEFAULT; we send these exact 72
 * octets since peers compare the AlgorithmIdentifier byte for byte. */
#define PSS_ALGID(hash_oid_last, salt) { \
	0x30, 0x46, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, \
	0x30, 0x39, \
	0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, \
	(hash_oid_last), 0x05, 0x00, \
	0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, \
	0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, \
	(hash_oid_last), 0x05, 0x00, \
	0xa2, 0x03, 0x02, 0x01, (salt), \
	0xa3, 0x03, 0x02, 0x01, 0x01 }
static const uint8_t algid_rsa_pss_sha256[] = PSS_ALGID(0x01, 0x20);
/* RFC 7427 lists only SHA-256 for PSS; SHA-384/512 use the A.4.3 layout with the
 * id-sha384/id-sha512 OIDs (2.16.840.1.101.3.4.2.2/.3) and salt = hash length. */
static const uint8_t algid_rsa_pss_sha384[] = PSS_ALGID(0x02, 0x30);
static const uint8_t algid_rsa_pss_sha512[] = PSS_ALGID(0x03, 0x40);

/* RFC 8420 section 2 (EdDSA in IKEv2): id-Ed25519 (1.3.101.112) and id-Ed448 (1.3.101.113). */
static const uint8_t algid_ed25519[] = { 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const uint8_t algid_ed448[] = { 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71 };

enum key_family { FAM_RSA, FAM_EC, FAM_ED25519, FAM_ED448 };

typedef struct sig_info {
	const char *name;
	const uint8_t *algid;
	size_t algid_len;
	enum key_family family;
	const char *md;   /* OpenSSL digest name; NULL for pure EdDSA */
	bool pss;
	bool can_sign;    /* PKCS#1 v1.5 is accepted from peers, never produced */
} sig_info;

#define ALGID(a) (a), sizeof(a)
static const sig_info sig_table[GK_SIG_COUNT] = {
	[GK_SIG_RSA_PSS_SHA256] = { "rsa-pss-sha256", ALGID(algid_rsa_pss_sha256), FAM_RSA, "SHA256", true, true },
	[GK_SIG_RSA_PSS_SHA384] = { "rsa-pss-sha384", ALGID(algid_rsa_pss_sha384), FAM_RSA, "SHA384", true, true },
	[GK_SIG_RSA_PSS_SHA512] = { "rsa-pss-sha512", ALGID(algid_rsa_pss_sha512), FAM_RSA, "SHA512", true, true },
	[GK_SIG_RSA_PKCS1_SHA256] = { "rsa-pkcs1-sha256", ALGID(algid_rsa_pkcs1_sha256), FAM_RSA, "SHA256", false, false },
	[GK_SIG_ECDSA_SHA256] = { "ecdsa-sha256", ALGID(algid_ecdsa_sha256), FAM_EC, "SHA256", false, true },
	[GK_SIG_ECDSA_SHA384] = { "ecdsa-sha384", ALGID(algid_ecdsa_sha384), FAM_EC, "SHA384", false, true },
	[GK_SIG_ECDSA_SHA512] = { "ecdsa-sha512", ALGID(algid_ecdsa_sha512), FAM_EC, "SHA512", false, true },
	[GK_SIG_ED25519] = { "ed25519", ALGID(algid_ed25519), FAM_ED25519, NULL, false, true },
	[GK_SIG_ED448] = { "ed448", ALGID(algid_ed448), FAM_ED448, NULL, false, true },
};

static const sig_info *sig_lookup(gk_sig_scheme s)
{
	if (s <= GK_SIG_NONE || s >= GK_SIG_COUNT)
		return NULL;
	return &sig_table[s];
}

const char *gk_sig_scheme_name(gk_sig_scheme s)
{
	if (s == GK_SIG_NONE)
		return "none";
	const sig_info *si = sig_lookup(s);
	return si ? si->name : "unknown";
}

gk_chunk gk_sig_algid(gk_sig_scheme s)
{
	const sig_info *si = sig_lookup(s);
	return si ? GK_CHUNK(si->algid, si->algid_len) : GK_CHUNK_EMPTY;
}

gk_status gk_sig_scheme_from_algid(gk_chunk der, gk_sig_scheme *s)
{
	if (!s)
		return GK_E_INVAL;
	for (int i = GK_SIG_NONE + 1; i < GK_SIG_COUNT; i++) {
		if (gk_chunk_eq(der, GK_CHUNK(sig_table[i].algid, sig_table[i].algid_len))) {
			*s = (gk_sig_scheme)i;
			return GK_OK;
		}
	}
	return GK_E_UNSUPPORTED;
}

/* RSA-PSS keys (id-RSASSA-PSS SPKI) may only make PSS signatures. */
static bool key_fits(EVP_PKEY *key, const sig_info *si)
{
	switch (si->family) {
	case FAM_RSA:
		return EVP_PKEY_is_a(key, "RSA") || (si->pss && EVP_PKEY_is_a(key, "RSA-PSS"));
	case FAM_EC:
		return EVP_PKEY_is_a(key, "EC");
	case FAM_ED25519:
		return EVP_PKEY_is_a(key, "ED25519");
	case FAM_ED448:
		return EVP_PKEY_is_a(key, "ED448");
	}
	return false;
}

/* An id-RSASSA-PSS key may pin its hash; follow it, else default to SHA-256. */
static gk_sig_scheme pss_scheme_for_key(EVP_PKEY *key)
{
	char md[64] = "";
	if (!EVP_PKEY_is_a(key, "RSA-PSS") ||
	    !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_RSA_DIGEST, md, sizeof(md), NULL)) {
		ERR_clear_error();
		return GK_SIG_RSA_PSS_SHA256;
	}
	EVP_MD *m = EVP_MD_fetch(NULL, md, NULL);
	gk_sig_scheme s = GK_SIG_RSA_PSS_SHA256;
	if (m && EVP_MD_is_a(m, "SHA384"))
		s = GK_SIG_RSA_PSS_SHA384;
	else if (m && EVP_MD_is_a(m, "SHA512"))
		s = GK_SIG_RSA_PSS_SHA512;
	EVP_MD_free(m);
	ERR_clear_error();
	return s;
}

static gk_status ec_scheme_for_key(EVP_PKEY *key, gk_sig_scheme *s)
{
	char group[64];
	if (!EVP_PKEY_get_group_name(key, group, sizeof(group), NULL)) {
		ERR_clear_error();
		return GK_E_UNSUPPORTED;
	}
	int nid = OBJ_sn2nid(group);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(group);
	switch (nid) {
	case NID_X9_62_prime256v1: *s = GK_SIG_ECDSA_SHA256; return GK_OK;
	case NID_secp384r1: *s = GK_SIG_ECDSA_SHA384; return GK_OK;
	case NID_secp521r1: *s = GK_SIG_ECDSA_SHA512; return GK_OK;
	default: return GK_E_UNSUPPORTED;
	}
}

gk_status gk_sig_scheme_for_key(EVP_PKEY *key, gk_sig_scheme *s)
{
	if (!key || !s)
		return GK_E_INVAL;
	if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS")) {
		*s = pss_scheme_for_key(key);
		return GK_OK;
	}
	if (EVP_PKEY_is_a(key, "EC"))
		return ec_scheme_for_key(key, s);
	if (EVP_PKEY_is_a(key, "ED25519")) {
		*s = GK_SIG_ED25519;
		return GK_OK;
	}
	if (EVP_PKEY_is_a(key, "ED448")) {
		*s = GK_SIG_ED448;
		return GK_OK;
	}
	return GK_E_UNSUPPORTED;
}

/* ---- Signed octets and shared key MIC ----------------------------------------------- */

/* EVP wants a non-NULL pointer even for empty input. */
static const uint8_t *nz_ptr(gk_chunk c)
{
	static const uint8_t empty[1];
	return c.ptr ? c.ptr : empty;
}

static gk_status prf_out_len(uint16_t prf, size_t *len)
{
	const gk_prf_info *pi = gk_prf_lookup(prf);
	if (!pi)
		return GK_E_UNSUPPORTED;
	if (pi->out_len == 0 || pi->out_len > EVP_MAX_MD_SIZE)
		return GK_E_UNSUPPORTED;
	*len = pi->out_len;
	return GK_OK;
}

gk_status gk_auth_octets_add(gk_auth_octets *o, gk_chunk part)
{
	if (o->n >= GK_AUTH_PARTS_MAX || (part.len && !part.ptr))
		return GK_E_INVAL;
	o->part[o->n++] = part;
	return GK_OK;
}

/* prf(key, data) on *work: a new context when NULL, else re-keyed (of the same PRF). */
static gk_status prf_on(gk_prf_keyed **work, uint16_t prf, gk_chunk key, gk_chunk data, uint8_t *out)
{
	if (*work && gk_prf_keyed_prf(*work) != prf)
		return GK_E_INVAL;
	gk_status st = *work ? gk_prf_keyed_rekey(*work, key) : gk_prf_keyed_new(prf, key, work);
	if (!st)
		st = gk_prf_keyed_run(*work, &data, 1, out);
	return st;
}

gk_status gk_auth_octets_make(gk_auth_octets *o, uint16_t prf, gk_chunk real_message, gk_chunk peer_nonce,
			      gk_chunk sk_p, gk_chunk id_payload_body, gk_prf_keyed **work)
{
	size_t len;
	memset(o, 0, sizeof(*o));
	gk_status st = prf_out_len(prf, &len);
	if (!st && work)
		st = prf_on(work, prf, sk_p, id_payload_body, o->maced_id);
	else if (!st)
		st = gk_prf(prf, sk_p, &id_payload_body, 1, o->maced_id);
	if (!st)
		st = gk_auth_octets_add(o, real_message);
	if (!st)
		st = gk_auth_octets_add(o, peer_nonce);
	if (!st)
		st = gk_auth_octets_add(o, GK_CHUNK(o->maced_id, len));
	if (st)
		gk_auth_octets_wipe(o);
	return st;
}

gk_status gk_auth_octets_flat(const gk_auth_octets *o, gk_wbuf *out)
{
	for (size_t i = 0; i < o->n; i++)
		gk_wbuf_put(out, o->part[i].ptr, o->part[i].len);
	return out->err;
}

void gk_auth_octets_wipe(gk_auth_octets *o)
{
	OPENSSL_cleanse(o, sizeof(*o));
}

gk_status gk_auth_signed_octets(uint16_t prf, gk_chunk real_message, gk_chunk peer_nonce,
				gk_chunk sk_p, gk_chunk id_payload_body, gk_wbuf *out)
{
	gk_auth_octets o;
	if (!out)
		return GK_E_INVAL;
	gk_status st = gk_auth_octets_make(&o, prf, real_message, peer_nonce, sk_p, id_payload_body, NULL);
	if (!st)
		st = gk_auth_octets_flat(&o, out);
	gk_auth_octets_wipe(&o);
	return st;
}

/* RFC 7296 2.15: the pad string is the 17 ASCII octets, without a terminating NUL. */
static const char key_pad[] = "Key Pad for IKEv2";
#define KEY_PAD_LEN (sizeof(key_pad) - 1)

gk_status gk_auth_psk_pad(uint16_t prf, gk_chunk psk, gk_prf_keyed **work, uint8_t *out, size_t *out_len)
{
	size_t len = 0;
	if (!work || !out || !out_len)
		return GK_E_INVAL;
	gk_status st = psk.len && psk.ptr ? prf_out_len(prf, &len) : GK_E_INVAL;
	if (!st)
		st = prf_on(work, prf, psk, GK_CHUNK(key_pad, KEY_PAD_LEN), out);
	if (st) {
		OPENSSL_cleanse(out, len);
		gk_prf_keyed_free(*work);
		*work = NULL;
		return st;
	}
	*out_len = len;
	return GK_OK;
}

gk_status gk_auth_psk_key_from_pad(uint16_t prf, gk_chunk kpad, gk_prf_keyed **pad)
{
	size_t len = 0;
	if (!pad)
		return GK_E_INVAL;
	gk_status st = prf_out_len(prf, &len);
	if (!st && (!kpad.ptr || kpad.len != len || (*pad && gk_prf_keyed_prf(*pad) != prf)))
		st = GK_E_INVAL;
	if (!st)
		st = *pad ? gk_prf_keyed_rekey(*pad, kpad) : gk_prf_keyed_new(prf, kpad, pad);
	if (st) {
		gk_prf_keyed_free(*pad);
		*pad = NULL;
	}
	return st;
}

gk_status gk_auth_psk_key(uint16_t prf, gk_chunk psk, gk_prf_keyed **pad)
{
	uint8_t kpad[EVP_MAX_MD_SIZE];
	size_t len = 0;
	/* one context: keyed with the PSK for the key pad, then with the key pad */
	gk_status st = gk_auth_psk_pad(prf, psk, pad, kpad, &len);
	if (!st)
		st = gk_auth_psk_key_from_pad(prf, GK_CHUNK(kpad, len), pad);
	OPENSSL_cleanse(kpad, sizeof(kpad));
	return st;
}

gk_status gk_auth_psk_mic(gk_prf_keyed *pad, const gk_auth_octets *o, uint8_t *out, size_t *out_len)
{
	if (!pad || !o || !out || !out_len)
		return GK_E_INVAL;
	gk_status st = gk_prf_keyed_run(pad, o->part, o->n, out);
	if (!st)
		*out_len = gk_prf_keyed_len(pad);
	return st;
}

gk_status gk_auth_psk_check(gk_prf_keyed *pad, const gk_auth_octets *o, gk_chunk auth_data)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	size_t len = 0;
	gk_status st = gk_auth_psk_mic(pad, o, mac, &len);
	if (st)
		goto out;
	/* The length is public (it follows from the PRF); only the content needs constant time. */
	if (auth_data.len != len || !auth_data.ptr || CRYPTO_memcmp(mac, auth_data.ptr, len) != 0)
		st = GK_E_AUTH;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return st;
}

/* octets whole, as the one part of a gk_auth_octets */
static gk_auth_octets whole(gk_chunk octets)
{
	return (gk_auth_octets){ .part = { octets }, .n = 1 };
}

gk_status gk_auth_psk_compute(uint16_t prf, gk_chunk psk, gk_chunk octets, uint8_t *out, size_t *out_len)
{
	gk_prf_keyed *pad = NULL;
	if (!out || !out_len)
		return GK_E_INVAL;
	gk_auth_octets o = whole(octets);
	gk_status st = gk_auth_psk_key(prf, psk, &pad);
	if (!st)
		st = gk_auth_psk_mic(pad, &o, out, out_len);
	gk_prf_keyed_free(pad);
	return st;
}

gk_status gk_auth_psk_verify(uint16_t prf, gk_chunk psk, gk_chunk octets, gk_chunk auth_data)
{
	gk_prf_keyed *pad = NULL;
	gk_auth_octets o = whole(octets);
	gk_status st = gk_auth_psk_key(prf, psk, &pad);
	if (!st)
		st = gk_auth_psk_check(pad, &o, auth_data);
	gk_prf_keyed_free(pad);
	return st;
}

/* ---- Digital Signature (RFC 7427) --------------------------------------------------- */

static int pss_setup(EVP_PKEY_CTX *pctx, const sig_info *si)
{
	if (!si->pss)
		return EVP_PKEY_is_a(EVP_PKEY_CTX_get0_pkey(pctx), "RSA") ?
		       EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) : 1;
	/* RFC 7427 A.4.3: MGF1 with the same hash, salt length = hash length. */
	if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0)
		return 0;
	if (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0)
		return 0;
	return EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, si->md, NULL) > 0;
}

static gk_status sign_raw(EVP_PKEY *priv, const sig_info *si, gk_chunk octets, gk_wbuf *out)
{
	gk_status st = GK_E_CRYPTO;
	EVP_PKEY_CTX *pctx = NULL;
	size_t siglen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return GK_E_NOMEM;
	if (EVP_DigestSignInit_ex(ctx, &pctx, si->md, NULL, NULL, priv, NULL) != 1 || !pss_setup(pctx, si))
		goto out;
	/* First call gives the maximum size (ECDSA DER may come out shorter). */
	if (EVP_DigestSign(ctx, NULL, &siglen, nz_ptr(octets), octets.len) != 1)
		goto out;
	st = gk_wbuf_reserve(out, siglen);
	if (st)
		goto out;
	st = GK_E_CRYPTO;
	if (EVP_DigestSign(ctx, out->data + out->len, &siglen, nz_ptr(octets), octets.len) != 1)
		goto out;
	out->len += siglen;
	st = GK_OK;
out:
	EVP_MD_CTX_free(ctx);
	return st;
}

gk_status gk_auth_sig_sign(EVP_PKEY *priv, gk_sig_scheme s, gk_chunk octets, gk_wbuf *auth_data)
{
	const sig_info *si = sig_lookup(s);
	if (!priv || !auth_data)
		return GK_E_INVAL;
	if (!si || !si->can_sign)
		return GK_E_UNSUPPORTED;
	if (!key_fits(priv, si))
		return GK_E_INVAL;
	if (auth_data->err)
		return auth_data->err;
	size_t start = auth_data->len;
	gk_wbuf_u8(auth_data, (uint8_t)si->algid_len);
	gk_wbuf_put(auth_data, si->algid, si->algid_len);
	gk_status st = auth_data->err;
	if (!st)
		st = sign_raw(priv, si, octets, auth_data);
	if (st) {
		/* Leave the buffer as it was, not with half an AUTH payload in it. */
		auth_data->len = start;
		ERR_clear_error();
	}
	return st;
}

static gk_status verify_raw(EVP_PKEY *pub, const sig_info *si, gk_chunk sig, gk_chunk octets)
{
	gk_status st = GK_E_AUTH;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return GK_E_NOMEM;
	/* A key that refuses these parameters (e.g. a PSS key pinned to another hash)
	 * cannot have made this signature. */
	if (EVP_DigestVerifyInit_ex(ctx, &pctx, si->md, NULL, NULL, pub, NULL) != 1 || !pss_setup(pctx, si))
		goto out;
	if (EVP_DigestVerify(ctx, sig.ptr, sig.len, nz_ptr(octets), octets.len) == 1)
		st = GK_OK;
out:
	EVP_MD_CTX_free(ctx);
	return st;
}

gk_status gk_auth_sig_verify(EVP_PKEY *pub, gk_sig_scheme want, gk_chunk auth_data, gk_chunk octets)
{
	gk_sig_scheme s;
	if (!pub || (int)want < GK_SIG_NONE || want >= GK_SIG_COUNT)
		return GK_E_INVAL;
	if (auth_data.len < 1 || !auth_data.ptr)
		return GK_E_MALFORMED;
	size_t alen = auth_data.ptr[0];
	if (alen == 0 || auth_data.len - 1 <= alen) /* no room for the signature */
		return GK_E_MALFORMED;
	gk_chunk algid = GK_CHUNK(auth_data.ptr + 1, alen);
	gk_chunk sig = GK_CHUNK(auth_data.ptr + 1 + alen, auth_data.len - 1 - alen);
	gk_status st = gk_sig_scheme_from_algid(algid, &s);
	if (st)
		return st;
	/* RFC 9838 4.4.2.1.1: the AlgorithmIdentifier MUST match the announced one. */
	if (want != GK_SIG_NONE && s != want)
		return GK_E_AUTH;
	if (!key_fits(pub, &sig_table[s]))
		return GK_E_AUTH;
	st = verify_raw(pub, &sig_table[s], sig, octets);
	if (st)
		ERR_clear_error();
	return st;
}

/* ---- Raw public keys ----------------------------------------------------------------- */

gk_status gk_pubkey_from_spki(gk_chunk der, EVP_PKEY **out)
{
	if (!out)
		return GK_E_INVAL;
	*out = NULL;
	if (der.len == 0 || !der.ptr || der.len > LONG_MAX)
		return GK_E_MALFORMED;
	const unsigned char *p = der.ptr;
	X509_PUBKEY *xpk = d2i_X509_PUBKEY(NULL, &p, (long)der.len);
	if (!xpk || p != der.ptr + der.len) {
		X509_PUBKEY_free(xpk);
		ERR_clear_error();
		return GK_E_MALFORMED;
	}
	/* Well-formed SubjectPublicKeyInfo, but maybe an algorithm OpenSSL has no key type for. */
	EVP_PKEY *key = X509_PUBKEY_get(xpk);
	X509_PUBKEY_free(xpk);
	if (!key) {
		ERR_clear_error();
		return GK_E_UNSUPPORTED;
	}
	*out = key;
	return GK_OK;
}

gk_status gk_pubkey_to_spki(EVP_PKEY *key, gk_wbuf *out)
{
	if (!key || !out)
		return GK_E_INVAL;
	int n = i2d_PUBKEY(key, NULL);
	if (n <= 0) {
		ERR_clear_error();
		return GK_E_CRYPTO;
	}
	gk_status st = gk_wbuf_reserve(out, (size_t)n);
	if (st)
		return st;
	unsigned char *p = out->data + out->len;
	if (i2d_PUBKEY(key, &p) != n) {
		ERR_clear_error();
		return GK_E_CRYPTO;
	}
	out->len += (size_t)n;
	return GK_OK;
}

/* ---- X.509 ----------------------------------------------------------------------------- */

gk_status gk_cert_from_der(gk_chunk der, X509 **out)
{
	if (!out)
		return GK_E_INVAL;
	*out = NULL;
	if (der.len == 0 || !der.ptr || der.len > LONG_MAX)
		return GK_E_MALFORMED;
	const unsigned char *p = der.ptr;
	X509 *x = d2i_X509(NULL, &p, (long)der.len);
	if (!x || p != der.ptr + der.len) {
		X509_free(x);
		ERR_clear_error();
		return GK_E_MALFORMED;
	}
	*out = x;
	return GK_OK;
}

gk_status gk_cert_verify(X509 *leaf, STACK_OF(X509) *untrusted, X509_STORE *trust, time_t now)
{
	if (!leaf || !trust)
		return GK_E_INVAL;
	gk_status st = GK_E_NOMEM;
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	if (!ctx)
		goto out;
	st = GK_E_CRYPTO;
	if (X509_STORE_CTX_init(ctx, trust, leaf, untrusted) != 1)
		goto out;
	if (now != 0)
		X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), now);
	st = X509_verify_cert(ctx) == 1 ? GK_OK : GK_E_AUTH;
out:
	if (st)
		ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	return st;
}

static int ascii_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static bool ascii_case_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	return true;
}

/* RFC 5280 4.2.1.6 / 7.5: the local part of a mailbox is case-sensitive, the domain is not. */
static bool email_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	const uint8_t *at = NULL;
	for (size_t i = 0; i < n; i++)
		if (a[i] == '@')
			at = a + i;
	size_t local = at ? (size_t)(at - a) : n;
	return memcmp(a, b, local) == 0 && ascii_case_eq(a + local, b + local, n - local);
}

static bool san_entry_matches(const GENERAL_NAME *gn, uint8_t id_type, gk_chunk id)
{
	int type;
	const void *val = GENERAL_NAME_get0_value(gn, &type);
	/* Only these three carry an ASN1_STRING; other kinds hold other structures. */
	if (!val || (type != GEN_DNS && type != GEN_EMAIL && type != GEN_IPADD))
		return false;
	const ASN1_STRING *v = val;
	if ((size_t)ASN1_STRING_length(v) != id.len)
		return false;
	const uint8_t *d = ASN1_STRING_get0_data(v);
	switch (id_type) {
	case GK_ID_FQDN:
		return type == GEN_DNS && ascii_case_eq(d, id.ptr, id.len);
	case GK_ID_RFC822_ADDR:
		return type == GEN_EMAIL && email_eq(d, id.ptr, id.len);
	case GK_ID_IPV4_ADDR:
	case GK_ID_IPV6_ADDR:
		return type == GEN_IPADD && memcmp(d, id.ptr, id.len) == 0;
	default:
		return false;
	}
}

static bool san_matches(X509 *cert, uint8_t id_type, gk_chunk id)
{
	if ((id_type == GK_ID_IPV4_ADDR && id.len != 4) || (id_type == GK_ID_IPV6_ADDR && id.len != 16))
		return false;
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	bool found = false;
	for (int i = 0; names && !found && i < sk_GENERAL_NAME_num(names); i++)
		found = san_entry_matches(sk_GENERAL_NAME_value(names, i), id_type, id);
	GENERAL_NAMES_free(names);
	ERR_clear_error();
	return found;
}

static bool dn_matches(X509 *cert, gk_chunk id)
{
	const unsigned char *der = NULL;
	size_t len = 0;
	if (X509_NAME_get0_der(X509_get_subject_name(cert), &der, &len) != 1) {
		ERR_clear_error();
		return false;
	}
	return len == id.len && memcmp(der, id.ptr, len) == 0;
}

bool gk_cert_matches_id(X509 *cert, uint8_t id_type, gk_chunk id_data)
{
	if (!cert || id_data.len == 0 || !id_data.ptr)
		return false;
	switch (id_type) {
	case GK_ID_FQDN:
	case GK_ID_RFC822_ADDR:
	case GK_ID_IPV4_ADDR:
	case GK_ID_IPV6_ADDR:
		return san_matches(cert, id_type, id_data);
	case GK_ID_DER_ASN1_DN:
		return dn_matches(cert, id_data);
	default: /* KEY_ID and DER_ASN1_GN never name a certificate here */
		return false;
	}
}

/* ---- PEM files ------------------------------------------------------------------------- */

/* Never prompt on a terminal for a passphrase: encrypted keys simply fail to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return -1;
}

static gk_status open_pem(const char *path, FILE **fp)
{
	if (!path)
		return GK_E_INVAL;
	*fp = fopen(path, "r");
	if (*fp)
		return GK_OK;
	return errno == ENOENT ? GK_E_NOT_FOUND : GK_E_IO;
}

const char *const gk_key_types[] = { "ecdsa-p256", "ecdsa-p384", "ed25519", "rsa", NULL };

EVP_PKEY *gk_privkey_generate(const char *type)
{
	if (!strcmp(type, "ecdsa-p256"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!strcmp(type, "ecdsa-p384"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	if (!strcmp(type, "ed25519"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!strcmp(type, "rsa"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	return NULL;
}

gk_status gk_privkey_load_pem(const char *path, EVP_PKEY **out)
{
	FILE *fp;
	if (!out)
		return GK_E_INVAL;
	*out = NULL;
	gk_status st = open_pem(path, &fp);
	if (st)
		return st;
	*out = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL);
	fclose(fp);
	if (!*out) {
		ERR_clear_error();
		return GK_E_MALFORMED;
	}
	return GK_OK;
}

gk_status gk_cert_load_pem(const char *path, X509 **out)
{
	FILE *fp;
	if (!out)
		return GK_E_INVAL;
	*out = NULL;
	gk_status st = open_pem(path, &fp);
	if (st)
		return st;
	*out = PEM_read_X509(fp, NULL, no_passphrase, NULL);
	fclose(fp);
	if (!*out) {
		ERR_clear_error();
		return GK_E_MALFORMED;
	}
	return GK_OK;
}

/* Reads certificates until the end of the file; a clean end is "no start line" at EOF. */
static gk_status read_certs(FILE *fp, X509_STORE *store)
{
	int n = 0;
	X509 *x;
	while ((x = PEM_read_X509(fp, NULL, no_passphrase, NULL)) != NULL) {
		int ok = X509_STORE_add_cert(store, x);
		X509_free(x);
		if (ok != 1)
			return GK_E_CRYPTO;
		n++;
	}
	unsigned long e = ERR_peek_last_error();
	bool clean_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
	return (n > 0 && clean_end) ? GK_OK : GK_E_MALFORMED;
}

gk_status gk_trust_load_pem(const char *path, X509_STORE **out)
{
	FILE *fp;
	if (!out)
		return GK_E_INVAL;
	*out = NULL;
	gk_status st = open_pem(path, &fp);
	if (st)
		return st;
	X509_STORE *store = X509_STORE_new();
	st = store ? read_certs(fp, store) : GK_E_NOMEM;
	fclose(fp);
	ERR_clear_error();
	if (st) {
		X509_STORE_free(store);
		return st;
	}
	*out = store;
	return GK_OK;
}
