/* Unit tests of IKEv2 authentication: RFC 7427 AlgorithmIdentifiers and signatures, the shared
 * key MIC (RFC 7296 2.15), raw public keys, X.509 chains and identities, PEM loading. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <openssl/hmac.h>
#include "testutil.h"
#include "auth.h"
#include "iana.h"
#include "certgen.h"
#include "codec.h"
#include "group_sa.h"
#include "ikekeys.h"

/* Every expected failure must leave the OpenSSL error queue empty for the next caller. */
#define ck_assert_err_clean() ck_assert_msg(ERR_peek_error() == 0, "OpenSSL error queue not empty")

static const char msg_text[] = "InitiatorSignedOctets: RealMessage1 | NonceRData | MACedIDForI";

static gk_chunk msg_chunk(void)
{
	return GK_CHUNK(msg_text, sizeof(msg_text) - 1);
}

/* A public-only copy of a key, the way a peer gets it: through a SubjectPublicKeyInfo. */
static EVP_PKEY *pub_only(EVP_PKEY *key)
{
	gk_wbuf w;
	EVP_PKEY *pub = NULL;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_pubkey_to_spki(key, &w), GK_OK);
	ck_assert_int_eq(gk_pubkey_from_spki(gk_wbuf_chunk(&w), &pub), GK_OK);
	gk_wbuf_free(&w);
	return pub;
}

/* ---- AlgorithmIdentifiers ---- */

START_TEST(algid_bytes_match_rfc7427)
{
	gk_chunk a;
	/* RFC 7427 A.1.2 sha256WithRSAEncryption */
	a = gk_sig_algid(GK_SIG_RSA_PKCS1_SHA256);
	ck_assert_mem_hex(a.ptr, a.len, "300d 0609 2a86 4886 f70d 0101 0b05 00");
	/* RFC 7427 A.3.2 ecdsa-with-sha256 */
	a = gk_sig_algid(GK_SIG_ECDSA_SHA256);
	ck_assert_mem_hex(a.ptr, a.len, "300a 0608 2a86 48ce 3d04 0302");
	/* RFC 7427 A.3.3 ecdsa-with-sha384 */
	a = gk_sig_algid(GK_SIG_ECDSA_SHA384);
	ck_assert_mem_hex(a.ptr, a.len, "300a 0608 2a86 48ce 3d04 0303");
	/* RFC 7427 A.3.4 ecdsa-with-sha512 */
	a = gk_sig_algid(GK_SIG_ECDSA_SHA512);
	ck_assert_mem_hex(a.ptr, a.len, "300a 0608 2a86 48ce 3d04 0304");
	/* RFC 7427 A.4.3 RSASSA-PSS with SHA-256 (Length = 72) */
	a = gk_sig_algid(GK_SIG_RSA_PSS_SHA256);
	ck_assert_mem_hex(a.ptr, a.len,
		"3046 0609 2a86 4886 f70d 0101 0a30 39a0"
		"0f30 0d06 0960 8648 0165 0304 0201 0500"
		"a11c 301a 0609 2a86 4886 f70d 0101 0830"
		"0d06 0960 8648 0165 0304 0201 0500 a203"
		"0201 20a3 0302 0101");
	/* Not in RFC 7427: the A.4.3 layout with id-sha384 and salt 48 ... */
	a = gk_sig_algid(GK_SIG_RSA_PSS_SHA384);
	ck_assert_mem_hex(a.ptr, a.len,
		"3046 0609 2a86 4886 f70d 0101 0a30 39a0"
		"0f30 0d06 0960 8648 0165 0304 0202 0500"
		"a11c 301a 0609 2a86 4886 f70d 0101 0830"
		"0d06 0960 8648 0165 0304 0202 0500 a203"
		"0201 30a3 0302 0101");
	/* ... and with id-sha512 and salt 64. */
	a = gk_sig_algid(GK_SIG_RSA_PSS_SHA512);
	ck_assert_mem_hex(a.ptr, a.len,
		"3046 0609 2a86 4886 f70d 0101 0a30 39a0"
		"0f30 0d06 0960 8648 0165 0304 0203 0500"
		"a11c 301a 0609 2a86 4886 f70d 0101 0830"
		"0d06 0960 8648 0165 0304 0203 0500 a203"
		"0201 40a3 0302 0101");
	/* RFC 8420 section 2: id-Ed25519, id-Ed448 */
	a = gk_sig_algid(GK_SIG_ED25519);
	ck_assert_mem_hex(a.ptr, a.len, "3005 0603 2b65 70");
	a = gk_sig_algid(GK_SIG_ED448);
	ck_assert_mem_hex(a.ptr, a.len, "3005 0603 2b65 71");
	ck_assert_uint_eq(gk_sig_algid(GK_SIG_NONE).len, 0);
	ck_assert_uint_eq(gk_sig_algid(GK_SIG_COUNT).len, 0);
}
END_TEST

/* Decodes our PSS AlgorithmIdentifiers with OpenSSL, independently of the hex above. */
static void check_pss_params(gk_sig_scheme s, int hash_nid, long salt)
{
	gk_chunk a = gk_sig_algid(s);
	const unsigned char *p = a.ptr;
	X509_ALGOR *alg = d2i_X509_ALGOR(NULL, &p, (long)a.len);
	ck_assert_ptr_nonnull(alg);
	ck_assert_ptr_eq(p, a.ptr + a.len);
	const ASN1_OBJECT *oid;
	int ptype;
	const void *pval;
	X509_ALGOR_get0(&oid, &ptype, &pval, alg);
	ck_assert_int_eq(OBJ_obj2nid(oid), NID_rsassaPss);
	ck_assert_int_eq(ptype, V_ASN1_SEQUENCE);
	RSA_PSS_PARAMS *pss = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_PSS_PARAMS), alg->parameter);
	ck_assert_ptr_nonnull(pss);
	ck_assert_int_eq(OBJ_obj2nid(pss->hashAlgorithm->algorithm), hash_nid);
	ck_assert_int_eq(OBJ_obj2nid(pss->maskGenAlgorithm->algorithm), NID_mgf1);
	X509_ALGOR *mgf_hash = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(X509_ALGOR), pss->maskGenAlgorithm->parameter);
	ck_assert_ptr_nonnull(mgf_hash);
	ck_assert_int_eq(OBJ_obj2nid(mgf_hash->algorithm), hash_nid);
	ck_assert_int_eq(ASN1_INTEGER_get(pss->saltLength), salt);
	ck_assert_int_eq(ASN1_INTEGER_get(pss->trailerField), 1);
	X509_ALGOR_free(mgf_hash);
	RSA_PSS_PARAMS_free(pss);
	X509_ALGOR_free(alg);
}

START_TEST(pss_algids_decode)
{
	check_pss_params(GK_SIG_RSA_PSS_SHA256, NID_sha256, 32);
	check_pss_params(GK_SIG_RSA_PSS_SHA384, NID_sha384, 48);
	check_pss_params(GK_SIG_RSA_PSS_SHA512, NID_sha512, 64);
}
END_TEST

START_TEST(algid_round_trip_and_unknown)
{
	gk_sig_scheme s;
	for (int i = GK_SIG_NONE + 1; i < GK_SIG_COUNT; i++) {
		s = GK_SIG_NONE;
		ck_assert_int_eq(gk_sig_scheme_from_algid(gk_sig_algid((gk_sig_scheme)i), &s), GK_OK);
		ck_assert_int_eq(s, i);
	}
	/* RFC 7427 A.1.1 sha1WithRSAEncryption: valid, but not accepted here. */
	ck_assert_int_eq(gk_sig_scheme_from_algid(tu_hexc("300d06092a864886f70d0101050500"), &s), GK_E_UNSUPPORTED);
	/* RFC 7427 A.4.1 RSASSA-PSS with empty parameters. */
	ck_assert_int_eq(gk_sig_scheme_from_algid(tu_hexc("300d06092a864886f70d01010a3000"), &s), GK_E_UNSUPPORTED);
	/* Garbled: truncated, extended, one octet changed, empty. */
	gk_chunk pss = gk_sig_algid(GK_SIG_RSA_PSS_SHA256);
	ck_assert_int_eq(gk_sig_scheme_from_algid(GK_CHUNK(pss.ptr, pss.len - 1), &s), GK_E_UNSUPPORTED);
	uint8_t buf[80];
	memcpy(buf, pss.ptr, pss.len);
	buf[pss.len] = 0;
	ck_assert_int_eq(gk_sig_scheme_from_algid(GK_CHUNK(buf, pss.len + 1), &s), GK_E_UNSUPPORTED);
	buf[66] ^= 0x01; /* salt 32 -> 33 */
	ck_assert_int_eq(gk_sig_scheme_from_algid(GK_CHUNK(buf, pss.len), &s), GK_E_UNSUPPORTED);
	ck_assert_int_eq(gk_sig_scheme_from_algid(GK_CHUNK_EMPTY, &s), GK_E_UNSUPPORTED);
	ck_assert_int_eq(gk_sig_scheme_from_algid(tu_hexc("300506032b6572"), &s), GK_E_UNSUPPORTED); /* X25519 */
	tu_free_all();
}
END_TEST

START_TEST(scheme_names)
{
	ck_assert_str_eq(gk_sig_scheme_name(GK_SIG_RSA_PSS_SHA256), "rsa-pss-sha256");
	ck_assert_str_eq(gk_sig_scheme_name(GK_SIG_RSA_PSS_SHA512), "rsa-pss-sha512");
	ck_assert_str_eq(gk_sig_scheme_name(GK_SIG_RSA_PKCS1_SHA256), "rsa-pkcs1-sha256");
	ck_assert_str_eq(gk_sig_scheme_name(GK_SIG_ECDSA_SHA256), "ecdsa-sha256");
	ck_assert_str_eq(gk_sig_scheme_name(GK_SIG_ECDSA_SHA512), "ecdsa-sha512");
	ck_assert_str_eq(gk_sig_scheme_name(GK_SIG_ED25519), "ed25519");
	ck_assert_str_eq(gk_sig_scheme_name(GK_SIG_ED448), "ed448");
	ck_assert_str_eq(gk_sig_scheme_name(GK_SIG_NONE), "none");
	ck_assert_str_eq(gk_sig_scheme_name(GK_SIG_COUNT), "unknown");
	for (int i = GK_SIG_NONE + 1; i < GK_SIG_COUNT; i++)
		for (int j = i + 1; j < GK_SIG_COUNT; j++)
			ck_assert_str_ne(gk_sig_scheme_name((gk_sig_scheme)i), gk_sig_scheme_name((gk_sig_scheme)j));
}
END_TEST

/* ---- Signatures ---- */

typedef struct sig_case {
	gk_sig_scheme s;
	const char *kind;   /* "RSA", "EC", "ED25519", "ED448" */
	const char *curve;
	const char *md;     /* for the independent check */
	int salt;
} sig_case;

static const sig_case sig_cases[] = {
	{ GK_SIG_RSA_PSS_SHA256, "RSA", NULL, "SHA256", 32 },
	{ GK_SIG_RSA_PSS_SHA384, "RSA", NULL, "SHA384", 48 },
	{ GK_SIG_RSA_PSS_SHA512, "RSA", NULL, "SHA512", 64 },
	{ GK_SIG_ECDSA_SHA256, "EC", "P-256", "SHA256", 0 },
	{ GK_SIG_ECDSA_SHA384, "EC", "P-384", "SHA384", 0 },
	{ GK_SIG_ECDSA_SHA512, "EC", "P-521", "SHA512", 0 },
	{ GK_SIG_ED25519, "ED25519", NULL, NULL, 0 },
	{ GK_SIG_ED448, "ED448", NULL, NULL, 0 },
};
#define N_SIG_CASES ((int)(sizeof(sig_cases) / sizeof(sig_cases[0])))

static EVP_PKEY *make_key(const sig_case *c)
{
	EVP_PKEY *k = NULL;
	if (strcmp(c->kind, "RSA") == 0)
		k = cg_key_rsa(2048);
	else if (strcmp(c->kind, "EC") == 0)
		k = cg_key_ec(c->curve);
	else if (strcmp(c->kind, "ED25519") == 0)
		k = cg_key_ed25519();
	else
		k = cg_key_ed448();
	ck_assert_ptr_nonnull(k);
	return k;
}

/* Verifies a bare signature with OpenSSL directly, PSS salt length given explicitly. */
static int indep_verify(EVP_PKEY *pub, const char *md, int salt, gk_chunk sig, gk_chunk msg)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	ck_assert_int_eq(EVP_DigestVerifyInit_ex(ctx, &pctx, md, NULL, NULL, pub, NULL), 1);
	if (salt) {
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 0);
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt), 0);
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, md, NULL), 0);
	}
	int rc = EVP_DigestVerify(ctx, sig.ptr, sig.len, msg.ptr, msg.len);
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

/* Some other scheme than s, for the `want` check. */
static gk_sig_scheme other_scheme(gk_sig_scheme s)
{
	return s == GK_SIG_ED448 ? GK_SIG_ED25519 : (gk_sig_scheme)(s + 1);
}

static void check_truncations(EVP_PKEY *pub, gk_chunk ad, gk_chunk msg)
{
	size_t alen = ad.ptr[0];
	ck_assert_int_eq(gk_auth_sig_verify(pub, GK_SIG_NONE, GK_CHUNK_EMPTY, msg), GK_E_MALFORMED);
	ck_assert_int_eq(gk_auth_sig_verify(pub, GK_SIG_NONE, GK_CHUNK(ad.ptr, 1), msg), GK_E_MALFORMED);
	/* Length octet runs past the data. */
	ck_assert_int_eq(gk_auth_sig_verify(pub, GK_SIG_NONE, GK_CHUNK(ad.ptr, alen), msg), GK_E_MALFORMED);
	/* AlgorithmIdentifier but no signature. */
	ck_assert_int_eq(gk_auth_sig_verify(pub, GK_SIG_NONE, GK_CHUNK(ad.ptr, 1 + alen), msg), GK_E_MALFORMED);
	uint8_t zero_len[2] = { 0, 0x30 };
	ck_assert_int_eq(gk_auth_sig_verify(pub, GK_SIG_NONE, GK_CHUNK(zero_len, 2), msg), GK_E_MALFORMED);
	uint8_t *big = malloc(ad.len);
	memcpy(big, ad.ptr, ad.len);
	big[0] = 0xff;
	ck_assert_int_eq(gk_auth_sig_verify(pub, GK_SIG_NONE, GK_CHUNK(big, ad.len < 256 ? ad.len : 200), msg), GK_E_MALFORMED);
	free(big);
	/* Signature missing its last octet: framing is fine, the signature is not. */
	ck_assert_int_eq(gk_auth_sig_verify(pub, GK_SIG_NONE, GK_CHUNK(ad.ptr, ad.len - 1), msg), GK_E_AUTH);
	ck_assert_err_clean();
}

static void check_flips(EVP_PKEY *pub, gk_sig_scheme s, gk_chunk ad, gk_chunk msg)
{
	uint8_t *copy = malloc(ad.len > msg.len ? ad.len : msg.len);
	memcpy(copy, ad.ptr, ad.len);
	copy[ad.len - 1] ^= 0x01;
	ck_assert_int_eq(gk_auth_sig_verify(pub, s, GK_CHUNK(copy, ad.len), msg), GK_E_AUTH);
	memcpy(copy, ad.ptr, ad.len);
	copy[1 + ad.ptr[0] + 5] ^= 0x80;
	ck_assert_int_eq(gk_auth_sig_verify(pub, s, GK_CHUNK(copy, ad.len), msg), GK_E_AUTH);
	memcpy(copy, msg.ptr, msg.len);
	copy[msg.len / 2] ^= 0x04;
	ck_assert_int_eq(gk_auth_sig_verify(pub, s, ad, GK_CHUNK(copy, msg.len)), GK_E_AUTH);
	ck_assert_int_eq(gk_auth_sig_verify(pub, s, ad, GK_CHUNK(msg.ptr, msg.len - 1)), GK_E_AUTH);
	free(copy);
	ck_assert_err_clean();
}

START_TEST(sig_round_trip)
{
	const sig_case *c = &sig_cases[_i];
	EVP_PKEY *key = make_key(c);
	EVP_PKEY *pub = pub_only(key);
	gk_chunk msg = msg_chunk();
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	gk_wbuf_put(&w, "hdr", 3); /* sign appends after what is already there */
	ck_assert_int_eq(gk_auth_sig_sign(key, c->s, msg, &w), GK_OK);
	gk_chunk ad = GK_CHUNK(w.data + 3, w.len - 3);
	gk_chunk algid = gk_sig_algid(c->s);

	/* Layout: ASN.1 length octet | AlgorithmIdentifier | signature. */
	ck_assert_uint_eq(ad.ptr[0], algid.len);
	ck_assert_mem_eq(ad.ptr + 1, algid.ptr, algid.len);
	gk_chunk sig = GK_CHUNK(ad.ptr + 1 + algid.len, ad.len - 1 - algid.len);
	ck_assert_int_eq(indep_verify(pub, c->md, c->salt, sig, msg), 1);
	if (c->salt) /* salt really is the hash length: a 20-octet salt check must fail */
		ck_assert_int_eq(indep_verify(pub, c->md, 20, sig, msg), 0); /* a bad signature, not an error */
	if (strcmp(c->kind, "EC") == 0) { /* DER Ecdsa-Sig-Value, nothing after it */
		const unsigned char *p = sig.ptr;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig.len);
		ck_assert_ptr_nonnull(es);
		ck_assert_ptr_eq(p, sig.ptr + sig.len);
		ECDSA_SIG_free(es);
	}

	ck_assert_int_eq(gk_auth_sig_verify(pub, GK_SIG_NONE, ad, msg), GK_OK);
	ck_assert_int_eq(gk_auth_sig_verify(pub, c->s, ad, msg), GK_OK);
	ck_assert_int_eq(gk_auth_sig_verify(key, c->s, ad, msg), GK_OK);
	ck_assert_int_eq(gk_auth_sig_verify(pub, other_scheme(c->s), ad, msg), GK_E_AUTH);
	check_flips(pub, c->s, ad, msg);
	check_truncations(pub, ad, msg);

	/* An empty message is signable too (EVP needs a non-NULL pointer). */
	gk_wbuf_free(&w);
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_auth_sig_sign(key, c->s, GK_CHUNK_EMPTY, &w), GK_OK);
	ck_assert_int_eq(gk_auth_sig_verify(pub, c->s, gk_wbuf_chunk(&w), GK_CHUNK_EMPTY), GK_OK);
	ck_assert_int_eq(gk_auth_sig_verify(pub, c->s, gk_wbuf_chunk(&w), msg), GK_E_AUTH);
	ck_assert_err_clean();

	gk_wbuf_free(&w);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(key);
}
END_TEST

static gk_status sign_into(EVP_PKEY *key, gk_sig_scheme s, gk_wbuf *w)
{
	gk_wbuf_init(w, 0);
	return gk_auth_sig_sign(key, s, msg_chunk(), w);
}

/* Replaces the AlgorithmIdentifier of auth data, keeping its signature. */
static void swap_algid(const gk_wbuf *src, gk_sig_scheme to, gk_wbuf *dst)
{
	gk_chunk a = gk_sig_algid(to);
	size_t old = src->data[0];
	gk_wbuf_init(dst, 0);
	gk_wbuf_u8(dst, (uint8_t)a.len);
	gk_wbuf_put(dst, a.ptr, a.len);
	gk_wbuf_put(dst, src->data + 1 + old, src->len - 1 - old);
	ck_assert_int_eq(dst->err, GK_OK);
}

#define ck_assert_refused(st) do { gk_status st_ = (st); \
	ck_assert_msg(st_ == GK_E_AUTH || st_ == GK_E_UNSUPPORTED, "got %s", gk_status_str(st_)); } while (0)

START_TEST(sig_algid_key_mismatch)
{
	EVP_PKEY *rsa = cg_key_rsa(2048), *ec = cg_key_ec("P-256");
	EVP_PKEY *ed25519 = cg_key_ed25519(), *ed448 = cg_key_ed448();
	ck_assert(rsa && ec && ed25519 && ed448);
	gk_chunk msg = msg_chunk();
	gk_wbuf w_rsa, w_ec, w_ed, x;

	ck_assert_int_eq(sign_into(rsa, GK_SIG_RSA_PSS_SHA256, &w_rsa), GK_OK);
	ck_assert_int_eq(sign_into(ec, GK_SIG_ECDSA_SHA256, &w_ec), GK_OK);
	ck_assert_int_eq(sign_into(ed25519, GK_SIG_ED25519, &w_ed), GK_OK);

	/* A genuine signature, checked with a key of another type. */
	ck_assert_refused(gk_auth_sig_verify(ec, GK_SIG_NONE, gk_wbuf_chunk(&w_rsa), msg));
	ck_assert_refused(gk_auth_sig_verify(ed25519, GK_SIG_NONE, gk_wbuf_chunk(&w_rsa), msg));
	ck_assert_refused(gk_auth_sig_verify(rsa, GK_SIG_NONE, gk_wbuf_chunk(&w_ec), msg));
	ck_assert_refused(gk_auth_sig_verify(ed448, GK_SIG_NONE, gk_wbuf_chunk(&w_ed), msg));
	ck_assert_refused(gk_auth_sig_verify(ec, GK_SIG_NONE, gk_wbuf_chunk(&w_ed), msg));

	/* The right key, a lying AlgorithmIdentifier. */
	swap_algid(&w_ec, GK_SIG_RSA_PSS_SHA256, &x);
	ck_assert_refused(gk_auth_sig_verify(ec, GK_SIG_NONE, gk_wbuf_chunk(&x), msg));
	gk_wbuf_free(&x);
	swap_algid(&w_ec, GK_SIG_ED25519, &x);
	ck_assert_refused(gk_auth_sig_verify(ec, GK_SIG_NONE, gk_wbuf_chunk(&x), msg));
	gk_wbuf_free(&x);
	swap_algid(&w_ec, GK_SIG_ECDSA_SHA384, &x); /* same key type, other hash */
	ck_assert_int_eq(gk_auth_sig_verify(ec, GK_SIG_NONE, gk_wbuf_chunk(&x), msg), GK_E_AUTH);
	gk_wbuf_free(&x);
	swap_algid(&w_rsa, GK_SIG_RSA_PSS_SHA384, &x);
	ck_assert_int_eq(gk_auth_sig_verify(rsa, GK_SIG_NONE, gk_wbuf_chunk(&x), msg), GK_E_AUTH);
	gk_wbuf_free(&x);
	swap_algid(&w_rsa, GK_SIG_RSA_PKCS1_SHA256, &x);
	ck_assert_int_eq(gk_auth_sig_verify(rsa, GK_SIG_NONE, gk_wbuf_chunk(&x), msg), GK_E_AUTH);
	gk_wbuf_free(&x);
	swap_algid(&w_ed, GK_SIG_ED448, &x);
	ck_assert_refused(gk_auth_sig_verify(ed25519, GK_SIG_NONE, gk_wbuf_chunk(&x), msg));
	gk_wbuf_free(&x);
	ck_assert_err_clean();

	/* Signing refuses a scheme the key cannot make and leaves the buffer alone. */
	gk_wbuf_init(&x, 0);
	gk_wbuf_put(&x, "abc", 3);
	ck_assert_int_eq(gk_auth_sig_sign(ec, GK_SIG_RSA_PSS_SHA256, msg, &x), GK_E_INVAL);
	ck_assert_int_eq(gk_auth_sig_sign(rsa, GK_SIG_ECDSA_SHA256, msg, &x), GK_E_INVAL);
	ck_assert_int_eq(gk_auth_sig_sign(ed25519, GK_SIG_ED448, msg, &x), GK_E_INVAL);
	ck_assert_int_eq(gk_auth_sig_sign(rsa, GK_SIG_RSA_PKCS1_SHA256, msg, &x), GK_E_UNSUPPORTED);
	ck_assert_int_eq(gk_auth_sig_sign(rsa, GK_SIG_NONE, msg, &x), GK_E_UNSUPPORTED);
	ck_assert_uint_eq(x.len, 3);
	ck_assert_int_eq(x.err, GK_OK);
	gk_wbuf_free(&x);
	ck_assert_err_clean();

	gk_wbuf_free(&w_rsa);
	gk_wbuf_free(&w_ec);
	gk_wbuf_free(&w_ed);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ed25519);
	EVP_PKEY_free(ed448);
}
END_TEST

/* Peers that still sign with PKCS#1 v1.5 (RFC 7427 A.1.2) verify; we never produce it. */
START_TEST(sig_pkcs1_verify_only)
{
	EVP_PKEY *rsa = cg_key_rsa(2048);
	ck_assert_ptr_nonnull(rsa);
	gk_chunk msg = msg_chunk();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t sig[512];
	size_t siglen = sizeof(sig);
	ck_assert_int_eq(EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, rsa, NULL), 1);
	ck_assert_int_eq(EVP_DigestSign(ctx, sig, &siglen, msg.ptr, msg.len), 1);
	EVP_MD_CTX_free(ctx);

	gk_chunk a = gk_sig_algid(GK_SIG_RSA_PKCS1_SHA256);
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	gk_wbuf_u8(&w, (uint8_t)a.len);
	gk_wbuf_put(&w, a.ptr, a.len);
	gk_wbuf_put(&w, sig, siglen);
	EVP_PKEY *pub = pub_only(rsa);
	ck_assert_int_eq(gk_auth_sig_verify(pub, GK_SIG_NONE, gk_wbuf_chunk(&w), msg), GK_OK);
	ck_assert_int_eq(gk_auth_sig_verify(pub, GK_SIG_RSA_PKCS1_SHA256, gk_wbuf_chunk(&w), msg), GK_OK);
	ck_assert_int_eq(gk_auth_sig_verify(pub, GK_SIG_RSA_PSS_SHA256, gk_wbuf_chunk(&w), msg), GK_E_AUTH);
	gk_wbuf_free(&w);

	/* The same PKCS#1 signature under the PSS AlgorithmIdentifier fails. */
	a = gk_sig_algid(GK_SIG_RSA_PSS_SHA256);
	gk_wbuf_init(&w, 0);
	gk_wbuf_u8(&w, (uint8_t)a.len);
	gk_wbuf_put(&w, a.ptr, a.len);
	gk_wbuf_put(&w, sig, siglen);
	ck_assert_int_eq(gk_auth_sig_verify(pub, GK_SIG_NONE, gk_wbuf_chunk(&w), msg), GK_E_AUTH);
	ck_assert_err_clean();
	gk_wbuf_free(&w);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(rsa);
}
END_TEST

/* A PSS signature with a salt other than the hash length does not fit the A.4.3 parameters. */
START_TEST(sig_pss_wrong_salt_refused)
{
	EVP_PKEY *rsa = cg_key_rsa(2048);
	ck_assert_ptr_nonnull(rsa);
	gk_chunk msg = msg_chunk();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t sig[512];
	size_t siglen = sizeof(sig);
	ck_assert_int_eq(EVP_DigestSignInit_ex(ctx, &pctx, "SHA256", NULL, NULL, rsa, NULL), 1);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 0);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 20), 0);
	ck_assert_int_eq(EVP_DigestSign(ctx, sig, &siglen, msg.ptr, msg.len), 1);
	EVP_MD_CTX_free(ctx);

	gk_chunk a = gk_sig_algid(GK_SIG_RSA_PSS_SHA256);
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	gk_wbuf_u8(&w, (uint8_t)a.len);
	gk_wbuf_put(&w, a.ptr, a.len);
	gk_wbuf_put(&w, sig, siglen);
	ck_assert_int_eq(gk_auth_sig_verify(rsa, GK_SIG_NONE, gk_wbuf_chunk(&w), msg), GK_E_AUTH);
	ck_assert_err_clean();
	gk_wbuf_free(&w);
	EVP_PKEY_free(rsa);
}
END_TEST

/* An id-RSASSA-PSS key pinned to SHA-384 (RFC 9838 4.5.3.2 allows such AUTH_KEYs). */
START_TEST(sig_rsa_pss_key)
{
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
	ck_assert_ptr_nonnull(kctx);
	ck_assert_int_eq(EVP_PKEY_keygen_init(kctx), 1);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_keygen_bits(kctx, 2048), 0);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_keygen_md_name(kctx, "SHA384", NULL), 0);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_keygen_mgf1_md_name(kctx, "SHA384"), 0);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_keygen_saltlen(kctx, 48), 0);
	ck_assert_int_eq(EVP_PKEY_generate(kctx, &key), 1);
	EVP_PKEY_CTX_free(kctx);

	gk_sig_scheme s = GK_SIG_NONE;
	ck_assert_int_eq(gk_sig_scheme_for_key(key, &s), GK_OK);
	ck_assert_int_eq(s, GK_SIG_RSA_PSS_SHA384);
	EVP_PKEY *pub = pub_only(key);
	ck_assert(EVP_PKEY_is_a(pub, "RSA-PSS"));
	gk_wbuf w;
	ck_assert_int_eq(sign_into(key, GK_SIG_RSA_PSS_SHA384, &w), GK_OK);
	ck_assert_int_eq(gk_auth_sig_verify(pub, GK_SIG_RSA_PSS_SHA384, gk_wbuf_chunk(&w), msg_chunk()), GK_OK);
	gk_wbuf_free(&w);
	/* The key forbids other hashes and PKCS#1 v1.5. */
	ck_assert_int_eq(sign_into(key, GK_SIG_RSA_PSS_SHA256, &w), GK_E_CRYPTO); /* OpenSSL refuses */
	gk_wbuf_free(&w);
	ck_assert_err_clean();
	EVP_PKEY_free(pub);
	EVP_PKEY_free(key);
}
END_TEST

START_TEST(scheme_for_key)
{
	struct { const char *kind, *curve; gk_sig_scheme want; } cases[] = {
		{ "EC", "P-256", GK_SIG_ECDSA_SHA256 },
		{ "EC", "P-384", GK_SIG_ECDSA_SHA384 },
		{ "EC", "P-521", GK_SIG_ECDSA_SHA512 },
		{ "ED25519", NULL, GK_SIG_ED25519 },
		{ "ED448", NULL, GK_SIG_ED448 },
		{ "RSA", NULL, GK_SIG_RSA_PSS_SHA256 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sig_case c = { GK_SIG_NONE, cases[i].kind, cases[i].curve, NULL, 0 };
		EVP_PKEY *k = strcmp(c.kind, "RSA") == 0 ? cg_key_rsa(1024) : make_key(&c);
		gk_sig_scheme s = GK_SIG_NONE;
		ck_assert_int_eq(gk_sig_scheme_for_key(k, &s), GK_OK);
		ck_assert_int_eq(s, cases[i].want);
		EVP_PKEY *pub = pub_only(k);
		ck_assert_int_eq(gk_sig_scheme_for_key(pub, &s), GK_OK);
		ck_assert_int_eq(s, cases[i].want);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(k);
	}
	gk_sig_scheme s;
	EVP_PKEY *x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	ck_assert_int_eq(gk_sig_scheme_for_key(x25519, &s), GK_E_UNSUPPORTED);
	EVP_PKEY_free(x25519);
	EVP_PKEY *k1 = cg_key_ec("secp256k1");
	ck_assert_ptr_nonnull(k1);
	ck_assert_int_eq(gk_sig_scheme_for_key(k1, &s), GK_E_UNSUPPORTED);
	EVP_PKEY_free(k1);
	ck_assert_int_eq(gk_sig_scheme_for_key(NULL, &s), GK_E_INVAL);
	ck_assert_err_clean();
}
END_TEST

/* ---- Shared key MIC and signed octets ---- */

static void hmac(const char *md, gk_chunk key, gk_chunk data, uint8_t *out, size_t *outlen)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)md, 0),
		OSSL_PARAM_construct_end(),
	};
	ck_assert_int_eq(EVP_MAC_init(ctx, key.ptr, key.len, params), 1);
	ck_assert_int_eq(EVP_MAC_update(ctx, data.ptr, data.len), 1);
	ck_assert_int_eq(EVP_MAC_final(ctx, out, outlen, 64), 1);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
}

static void check_psk(uint16_t prf, const char *md, size_t outlen)
{
	gk_chunk psk = GK_CHUNK("correct horse battery staple", 28);
	gk_chunk octets = msg_chunk();
	uint8_t kpad[64], want[64], got[64];
	size_t klen, wlen, glen = 0;
	hmac(md, psk, GK_CHUNK("Key Pad for IKEv2", 17), kpad, &klen);
	hmac(md, GK_CHUNK(kpad, klen), octets, want, &wlen);
	ck_assert_uint_eq(wlen, outlen);

	ck_assert_int_eq(gk_auth_psk_compute(prf, psk, octets, got, &glen), GK_OK);
	ck_assert_uint_eq(glen, outlen);
	ck_assert_mem_eq(got, want, outlen);
	ck_assert_int_eq(gk_auth_psk_verify(prf, psk, octets, GK_CHUNK(want, wlen)), GK_OK);

	gk_chunk wrong = GK_CHUNK("correct horse battery stapl3", 28);
	ck_assert_int_eq(gk_auth_psk_verify(prf, wrong, octets, GK_CHUNK(want, wlen)), GK_E_AUTH);
	ck_assert_int_eq(gk_auth_psk_verify(prf, psk, octets, GK_CHUNK(want, wlen - 1)), GK_E_AUTH);
	ck_assert_int_eq(gk_auth_psk_verify(prf, psk, octets, GK_CHUNK_EMPTY), GK_E_AUTH);
	/* every octet of the MIC counts, the last as much as the first */
	want[wlen - 1] ^= 0x80;
	ck_assert_int_eq(gk_auth_psk_verify(prf, psk, octets, GK_CHUNK(want, wlen)), GK_E_AUTH);
	want[wlen - 1] ^= 0x80;
	want[wlen / 2] ^= 1;
	ck_assert_int_eq(gk_auth_psk_verify(prf, psk, octets, GK_CHUNK(want, wlen)), GK_E_AUTH);
	want[wlen / 2] ^= 1;
	/* the right MIC with one octet more is not the MIC */
	uint8_t longer[65];
	memcpy(longer, want, wlen);
	longer[wlen] = 0;
	ck_assert_int_eq(gk_auth_psk_verify(prf, psk, octets, GK_CHUNK(longer, wlen + 1)), GK_E_AUTH);
	want[0] ^= 1;
	ck_assert_int_eq(gk_auth_psk_verify(prf, psk, octets, GK_CHUNK(want, wlen)), GK_E_AUTH);
}

START_TEST(psk_mic_matches_independent_hmac)
{
	check_psk(GK_PRF_HMAC_SHA2_256, "SHA256", 32);
	check_psk(GK_PRF_HMAC_SHA2_512, "SHA512", 64);
	uint8_t out[64];
	size_t len;
	ck_assert_int_eq(gk_auth_psk_compute(GK_PRF_HMAC_SHA2_256, GK_CHUNK_EMPTY, msg_chunk(), out, &len), GK_E_INVAL);
	ck_assert_int_eq(gk_auth_psk_compute(999, GK_CHUNK("k", 1), msg_chunk(), out, &len), GK_E_UNSUPPORTED);
	ck_assert_err_clean();
}
END_TEST

/* A PSK MIC over parts is the MIC of their concatenation; the parts are bounded; the key pad
 * refuses what gk_auth_psk_compute refuses. */
START_TEST(psk_mic_over_parts)
{
	gk_chunk psk = GK_CHUNK("correct horse battery staple", 28), msg = msg_chunk();
	gk_chunk skp = GK_CHUNK("0123456789abcdef0123456789abcdef", 32), id = GK_CHUNK("\x02\0\0\0gm1", 7);
	uint8_t want[64], got[64];
	size_t wlen = 0, glen = 0;
	gk_auth_octets o;
	gk_wbuf w;
	gk_prf_keyed *pad = NULL;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_auth_octets_make(&o, GK_PRF_HMAC_SHA2_256, msg, GK_CHUNK("nonce", 5), skp, id, NULL), GK_OK);
	ck_assert_int_eq(gk_auth_octets_add(&o, GK_CHUNK("tail", 4)), GK_OK);
	ck_assert_int_eq(gk_auth_octets_flat(&o, &w), GK_OK);
	ck_assert_uint_eq(w.len, msg.len + 5 + 32 + 4);
	ck_assert_int_eq(gk_auth_psk_compute(GK_PRF_HMAC_SHA2_256, psk, gk_wbuf_chunk(&w), want, &wlen), GK_OK);
	ck_assert_int_eq(gk_auth_psk_key(GK_PRF_HMAC_SHA2_256, psk, &pad), GK_OK);
	ck_assert_int_eq(gk_auth_psk_mic(pad, &o, got, &glen), GK_OK);
	ck_assert_uint_eq(glen, 32);
	ck_assert_mem_eq(got, want, 32);
	/* on one context: the MACed ID, then the key pad re-keying it; the same parts and MIC */
	gk_auth_octets o2;
	gk_prf_keyed *work = NULL;
	ck_assert_int_eq(gk_auth_octets_make(&o2, GK_PRF_HMAC_SHA2_256, msg, GK_CHUNK("nonce", 5), skp, id, &work), GK_OK);
	ck_assert_ptr_nonnull(work);
	ck_assert_mem_eq(o2.maced_id, o.maced_id, 32);
	ck_assert_int_eq(gk_auth_octets_add(&o2, GK_CHUNK("tail", 4)), GK_OK);
	ck_assert_int_eq(gk_auth_psk_key(GK_PRF_HMAC_SHA2_256, psk, &work), GK_OK);
	ck_assert_int_eq(gk_auth_psk_check(work, &o2, GK_CHUNK(want, wlen)), GK_OK);
	/* a context of another PRF is refused, and freed */
	ck_assert_int_eq(gk_auth_psk_key(GK_PRF_HMAC_SHA2_384, psk, &work), GK_E_INVAL);
	ck_assert_ptr_null(work);
	ck_assert_int_eq(gk_auth_octets_make(&o2, GK_PRF_HMAC_SHA2_256, msg, GK_CHUNK("nonce", 5), skp, id, &work), GK_OK);
	ck_assert_int_eq(gk_auth_octets_make(&o2, GK_PRF_HMAC_SHA2_512, msg, GK_CHUNK("nonce", 5), skp, id, &work),
			 GK_E_INVAL);
	gk_prf_keyed_free(work);
	work = NULL;
	/* in two steps: the key pad is HMAC(PSK, "Key Pad for IKEv2") (RFC 7296 2.15), and keying a
	 * context with it gives the same MIC; a pad of the wrong length or another PRF's context
	 * is refused (the context freed) */
	uint8_t kpad[64], ref[64];
	size_t kl = 0;
	unsigned int rl = 0;
	ck_assert_int_eq(gk_auth_psk_pad(GK_PRF_HMAC_SHA2_256, psk, &work, kpad, &kl), GK_OK);
	ck_assert_uint_eq(kl, 32);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), psk.ptr, (int)psk.len, (const uint8_t *)"Key Pad for IKEv2", 17, ref, &rl));
	ck_assert_mem_eq(kpad, ref, 32);
	ck_assert_int_eq(gk_auth_psk_key_from_pad(GK_PRF_HMAC_SHA2_256, GK_CHUNK(kpad, kl), &work), GK_OK);
	ck_assert_int_eq(gk_auth_psk_check(work, &o, GK_CHUNK(want, wlen)), GK_OK);
	ck_assert_int_eq(gk_auth_psk_key_from_pad(GK_PRF_HMAC_SHA2_256, GK_CHUNK(kpad, kl), &work), GK_OK);
	ck_assert_int_eq(gk_auth_psk_check(work, &o, GK_CHUNK(want, wlen)), GK_OK);
	ck_assert_int_eq(gk_auth_psk_key_from_pad(GK_PRF_HMAC_SHA2_256, GK_CHUNK(kpad, kl - 1), &work), GK_E_INVAL);
	ck_assert_ptr_null(work);
	ck_assert_int_eq(gk_auth_psk_key_from_pad(GK_PRF_HMAC_SHA2_256, GK_CHUNK(kpad, kl), &work), GK_OK);
	ck_assert_int_eq(gk_auth_psk_key_from_pad(GK_PRF_HMAC_SHA2_512, GK_CHUNK(kpad, kl), &work), GK_E_INVAL);
	ck_assert_ptr_null(work);
	ck_assert_int_eq(gk_auth_psk_pad(GK_PRF_HMAC_SHA2_256, GK_CHUNK_EMPTY, &work, kpad, &kl), GK_E_INVAL);
	ck_assert_ptr_null(work);
	ck_assert_int_eq(gk_auth_psk_check(pad, &o, GK_CHUNK(want, wlen)), GK_OK);
	ck_assert_int_eq(gk_auth_psk_check(pad, &o, GK_CHUNK(want, wlen - 1)), GK_E_AUTH);
	ck_assert_int_eq(gk_auth_psk_mic(NULL, &o, got, &glen), GK_E_INVAL);
	gk_prf_keyed_free(pad);
	pad = NULL;
	/* six parts at most: the signed octets and IKE_INTERMEDIATE's three */
	ck_assert_int_eq(gk_auth_octets_add(&o, GK_CHUNK("x", 1)), GK_OK);
	ck_assert_int_eq(gk_auth_octets_add(&o, GK_CHUNK("y", 1)), GK_OK);
	ck_assert_int_eq(gk_auth_octets_add(&o, GK_CHUNK("z", 1)), GK_E_INVAL);
	ck_assert_uint_eq(o.n, GK_AUTH_PARTS_MAX);
	ck_assert_int_eq(gk_auth_octets_make(&o, 999, msg, GK_CHUNK("nonce", 5), skp, id, NULL), GK_E_UNSUPPORTED);
	ck_assert_uint_eq(o.n, 0);
	ck_assert_int_eq(gk_auth_psk_key(GK_PRF_HMAC_SHA2_256, GK_CHUNK_EMPTY, &pad), GK_E_INVAL);
	ck_assert_ptr_null(pad);
	ck_assert_int_eq(gk_auth_psk_key(999, psk, &pad), GK_E_UNSUPPORTED);
	ck_assert_ptr_null(pad);
	gk_wbuf_free(&w);
	ck_assert_err_clean();
}
END_TEST

START_TEST(signed_octets_layout)
{
	gk_chunk real = tu_hexc("0011223344556677 8899aabbccddeeff 2e202308 00000001 00000040");
	gk_chunk nonce = tu_hexc("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
	gk_chunk skp = tu_hexc("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
	gk_chunk idbody = tu_hexc("02000000 676d312e6578616d706c65"); /* ID_FQDN gm1.example */
	uint8_t mac[64];
	size_t maclen;
	hmac("SHA256", skp, idbody, mac, &maclen);

	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_auth_signed_octets(GK_PRF_HMAC_SHA2_256, real, nonce, skp, idbody, &w), GK_OK);
	ck_assert_uint_eq(w.len, real.len + nonce.len + 32);
	ck_assert_mem_eq(w.data, real.ptr, real.len);
	ck_assert_mem_eq(w.data + real.len, nonce.ptr, nonce.len);
	ck_assert_mem_eq(w.data + real.len + nonce.len, mac, 32);
	ck_assert_int_eq(gk_auth_signed_octets(999, real, nonce, skp, idbody, &w), GK_E_UNSUPPORTED);
	gk_wbuf_free(&w);
	tu_free_all();
}
END_TEST

/* ---- Raw public keys ---- */

START_TEST(spki_round_trip_and_garbage)
{
	EVP_PKEY *keys[] = { cg_key_ec("P-256"), cg_key_ed25519(), cg_key_ed448(), cg_key_rsa(1024) };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		ck_assert_ptr_nonnull(keys[i]);
		gk_wbuf w;
		EVP_PKEY *back = NULL;
		gk_wbuf_init(&w, 0);
		ck_assert_int_eq(gk_pubkey_to_spki(keys[i], &w), GK_OK);
		ck_assert_int_eq(gk_pubkey_from_spki(gk_wbuf_chunk(&w), &back), GK_OK);
		ck_assert_int_eq(EVP_PKEY_eq(keys[i], back), 1);
		EVP_PKEY_free(back);

		gk_wbuf_u8(&w, 0x00); /* trailing garbage */
		ck_assert_int_eq(gk_pubkey_from_spki(gk_wbuf_chunk(&w), &back), GK_E_MALFORMED);
		ck_assert_ptr_null(back);
		ck_assert_int_eq(gk_pubkey_from_spki(GK_CHUNK(w.data, w.len - 2), &back), GK_E_MALFORMED);
		gk_wbuf_free(&w);
		EVP_PKEY_free(keys[i]);
	}
	EVP_PKEY *k = NULL;
	ck_assert_int_eq(gk_pubkey_from_spki(GK_CHUNK_EMPTY, &k), GK_E_MALFORMED);
	ck_assert_int_eq(gk_pubkey_from_spki(tu_hexc("3003020101"), &k), GK_E_MALFORMED);
	/* Well-formed SPKI of an algorithm (OID 1.2.3.4) nobody implements. */
	ck_assert_int_eq(gk_pubkey_from_spki(tu_hexc("300b 3005 06032a0304 03020000"), &k), GK_E_UNSUPPORTED);
	ck_assert_ptr_null(k);
	ck_assert_err_clean();
	tu_free_all();
}
END_TEST

/* ---- X.509 ---- */

typedef struct pki {
	EVP_PKEY *ca_key, *leaf_key;
	X509 *ca, *leaf;
	X509_STORE *store;
	time_t t0;
} pki;

static void pki_make(pki *p)
{
	p->t0 = time(NULL);
	p->ca_key = cg_key_ec("P-256");
	p->leaf_key = cg_key_ed25519();
	cg_cert_opts ca = { .cn = "gikev2 test CA", .ca = true, .base = p->t0,
			    .not_before = -3600, .not_after = 10L * 365 * 86400, .serial = 1 };
	cg_cert_opts leaf = { .cn = "gm1", .base = p->t0, .not_before = -3600, .not_after = 365L * 86400,
			      .serial = 2,
			      .san = "DNS:gm1.example,email:Gm1@example.org,IP:192.0.2.10,IP:2001:db8::10" };
	p->ca = cg_cert_issue(&ca, p->ca_key, NULL, NULL);
	p->leaf = cg_cert_issue(&leaf, p->leaf_key, p->ca, p->ca_key);
	ck_assert(p->ca_key && p->leaf_key && p->ca && p->leaf);
	p->store = X509_STORE_new();
	ck_assert_int_eq(X509_STORE_add_cert(p->store, p->ca), 1);
}

static void pki_free(pki *p)
{
	X509_STORE_free(p->store);
	X509_free(p->leaf);
	X509_free(p->ca);
	EVP_PKEY_free(p->leaf_key);
	EVP_PKEY_free(p->ca_key);
}

START_TEST(cert_verify_chain)
{
	pki p;
	pki_make(&p);
	ck_assert_int_eq(gk_cert_verify(p.leaf, NULL, p.store, 0), GK_OK);
	ck_assert_int_eq(gk_cert_verify(p.leaf, NULL, p.store, p.t0 + 86400), GK_OK);
	/* Expired, and not yet valid. */
	ck_assert_int_eq(gk_cert_verify(p.leaf, NULL, p.store, p.t0 + 400L * 86400), GK_E_AUTH);
	ck_assert_int_eq(gk_cert_verify(p.leaf, NULL, p.store, p.t0 - 2 * 86400), GK_E_AUTH);
	ck_assert_err_clean();

	/* A self-signed certificate the store does not hold. */
	EVP_PKEY *k = cg_key_ec("P-256");
	cg_cert_opts o = { .cn = "gm1", .not_before = -60, .not_after = 86400, .san = "DNS:gm1.example" };
	X509 *self = cg_cert_issue(&o, k, NULL, NULL);
	ck_assert_ptr_nonnull(self);
	ck_assert_int_eq(gk_cert_verify(self, NULL, p.store, 0), GK_E_AUTH);

	/* Same names as our leaf but issued by a look-alike CA with another key. */
	EVP_PKEY *fake_key = cg_key_ec("P-256");
	cg_cert_opts fo = { .cn = "gikev2 test CA", .ca = true, .not_before = -60, .not_after = 86400 };
	X509 *fake_ca = cg_cert_issue(&fo, fake_key, NULL, NULL);
	X509 *forged = cg_cert_issue(&o, k, fake_ca, fake_key);
	ck_assert_ptr_nonnull(forged);
	ck_assert_int_eq(gk_cert_verify(forged, NULL, p.store, 0), GK_E_AUTH);
	ck_assert_err_clean();

	/* Root -> intermediate -> leaf: needs the intermediate among the untrusted ones. */
	EVP_PKEY *ik = cg_key_ec("P-384");
	cg_cert_opts io = { .cn = "gikev2 test intermediate", .ca = true, .not_before = -60, .not_after = 86400, .serial = 3 };
	X509 *inter = cg_cert_issue(&io, ik, p.ca, p.ca_key);
	X509 *leaf2 = cg_cert_issue(&o, k, inter, ik);
	ck_assert(inter && leaf2);
	ck_assert_int_eq(gk_cert_verify(leaf2, NULL, p.store, 0), GK_E_AUTH);
	STACK_OF(X509) *chain = sk_X509_new_null();
	sk_X509_push(chain, inter);
	ck_assert_int_eq(gk_cert_verify(leaf2, chain, p.store, 0), GK_OK);
	sk_X509_free(chain);
	ck_assert_err_clean();

	X509_free(leaf2);
	X509_free(inter);
	EVP_PKEY_free(ik);
	X509_free(forged);
	X509_free(fake_ca);
	EVP_PKEY_free(fake_key);
	X509_free(self);
	EVP_PKEY_free(k);
	pki_free(&p);
}
END_TEST

START_TEST(cert_der_parse)
{
	pki p;
	pki_make(&p);
	unsigned char *der = NULL;
	int n = i2d_X509(p.leaf, &der);
	ck_assert_int_gt(n, 0);
	X509 *x = NULL;
	ck_assert_int_eq(gk_cert_from_der(GK_CHUNK(der, (size_t)n), &x), GK_OK);
	ck_assert_int_eq(X509_cmp(x, p.leaf), 0);
	X509_free(x);
	unsigned char *longer = OPENSSL_malloc((size_t)n + 1);
	memcpy(longer, der, (size_t)n);
	longer[n] = 0;
	ck_assert_int_eq(gk_cert_from_der(GK_CHUNK(longer, (size_t)n + 1), &x), GK_E_MALFORMED);
	ck_assert_ptr_null(x);
	ck_assert_int_eq(gk_cert_from_der(GK_CHUNK(der, (size_t)n - 1), &x), GK_E_MALFORMED);
	ck_assert_int_eq(gk_cert_from_der(GK_CHUNK_EMPTY, &x), GK_E_MALFORMED);
	ck_assert_err_clean();
	OPENSSL_free(longer);
	OPENSSL_free(der);
	pki_free(&p);
}
END_TEST

START_TEST(cert_matches_id)
{
	pki p;
	pki_make(&p);
	X509 *c = p.leaf;
	ck_assert(gk_cert_matches_id(c, GK_ID_FQDN, GK_CHUNK("gm1.example", 11)));
	ck_assert(gk_cert_matches_id(c, GK_ID_FQDN, GK_CHUNK("GM1.Example", 11)));
	ck_assert(!gk_cert_matches_id(c, GK_ID_FQDN, GK_CHUNK("gm2.example", 11)));
	ck_assert(!gk_cert_matches_id(c, GK_ID_FQDN, GK_CHUNK("gm1.exampl", 10)));
	ck_assert(!gk_cert_matches_id(c, GK_ID_FQDN, GK_CHUNK("gm1.example.evil", 16)));
	ck_assert(!gk_cert_matches_id(c, GK_ID_FQDN, GK_CHUNK("gm1", 3))); /* the CN is not a SAN */
	ck_assert(!gk_cert_matches_id(c, GK_ID_FQDN, GK_CHUNK_EMPTY));

	ck_assert(gk_cert_matches_id(c, GK_ID_RFC822_ADDR, GK_CHUNK("Gm1@example.org", 15)));
	ck_assert(gk_cert_matches_id(c, GK_ID_RFC822_ADDR, GK_CHUNK("Gm1@EXAMPLE.org", 15)));
	ck_assert(!gk_cert_matches_id(c, GK_ID_RFC822_ADDR, GK_CHUNK("gm1@example.org", 15)));
	ck_assert(!gk_cert_matches_id(c, GK_ID_RFC822_ADDR, GK_CHUNK("gm1.example", 11)));
	ck_assert(!gk_cert_matches_id(c, GK_ID_FQDN, GK_CHUNK("Gm1@example.org", 15)));

	uint8_t v4[4], v6[16];
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.10", v4), 1);
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::10", v6), 1);
	ck_assert(gk_cert_matches_id(c, GK_ID_IPV4_ADDR, GK_CHUNK(v4, 4)));
	ck_assert(gk_cert_matches_id(c, GK_ID_IPV6_ADDR, GK_CHUNK(v6, 16)));
	ck_assert(!gk_cert_matches_id(c, GK_ID_IPV6_ADDR, GK_CHUNK(v4, 4)));
	ck_assert(!gk_cert_matches_id(c, GK_ID_IPV4_ADDR, GK_CHUNK(v6, 16)));
	v4[3] = 11;
	ck_assert(!gk_cert_matches_id(c, GK_ID_IPV4_ADDR, GK_CHUNK(v4, 4)));

	unsigned char *dn = NULL;
	int n = i2d_X509_NAME(X509_get_subject_name(c), &dn);
	ck_assert_int_gt(n, 0);
	ck_assert(gk_cert_matches_id(c, GK_ID_DER_ASN1_DN, GK_CHUNK(dn, (size_t)n)));
	ck_assert(!gk_cert_matches_id(c, GK_ID_DER_ASN1_DN, GK_CHUNK(dn, (size_t)n - 1)));
	ck_assert(!gk_cert_matches_id(p.ca, GK_ID_DER_ASN1_DN, GK_CHUNK(dn, (size_t)n)));
	ck_assert(!gk_cert_matches_id(c, GK_ID_KEY_ID, GK_CHUNK(dn, (size_t)n)));
	ck_assert(!gk_cert_matches_id(c, GK_ID_KEY_ID, GK_CHUNK("gm1.example", 11)));
	/* The CA has no SAN at all. */
	ck_assert(!gk_cert_matches_id(p.ca, GK_ID_FQDN, GK_CHUNK("gm1.example", 11)));
	OPENSSL_free(dn);
	ck_assert_err_clean();
	pki_free(&p);
}
END_TEST

/* ---- PEM files ---- */

static char tmpdir[64];

static void tmp_setup(void)
{
	strcpy(tmpdir, "/tmp/gk-auth-XXXXXX");
	ck_assert_ptr_nonnull(tu_mkdtemp(tmpdir));
}

/* One buffer per file name of the test: paths stay valid however many are asked for (a rotating
 * buffer once left the trust anchor, the private key and the certificate behind). */
static const char *tmp_path(const char *name)
{
	static char buf[8][128];
	static const char *names[8];
	size_t i = 0;
	while (i < 8 && names[i] && strcmp(names[i], name))
		i++;
	ck_assert_uint_lt(i, 8);
	names[i] = name;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
}

START_TEST(pem_loading)
{
	tmp_setup();
	pki p;
	pki_make(&p);
	EVP_PKEY *ik = cg_key_ec("P-256");
	cg_cert_opts io = { .cn = "second CA", .ca = true, .not_before = -60, .not_after = 86400, .serial = 9 };
	X509 *ca2 = cg_cert_issue(&io, ik, NULL, NULL);
	ck_assert_ptr_nonnull(ca2);

	const char *trust = tmp_path("trust.pem"), *key = tmp_path("key.pem"), *cert = tmp_path("cert.pem");
	ck_assert_int_eq(cg_write_cert_pem(trust, ca2, false), 0);
	ck_assert_int_eq(cg_write_cert_pem(trust, p.ca, true), 0);
	ck_assert_int_eq(cg_write_key_pem(key, p.leaf_key), 0);
	ck_assert_int_eq(cg_write_cert_pem(cert, p.leaf, false), 0);

	X509_STORE *st = NULL;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	ck_assert_int_eq(gk_trust_load_pem(trust, &st), GK_OK);
	ck_assert_int_eq(gk_cert_load_pem(cert, &x), GK_OK);
	ck_assert_int_eq(gk_privkey_load_pem(key, &k), GK_OK);
	ck_assert_int_eq(gk_cert_verify(x, NULL, st, 0), GK_OK); /* CA is the second one in the file */
	ck_assert_int_eq(EVP_PKEY_eq(k, X509_get0_pubkey(x)), 1);
	X509_STORE_free(st);
	X509_free(x);
	EVP_PKEY_free(k);

	ck_assert_int_eq(gk_trust_load_pem(tmp_path("missing.pem"), &st), GK_E_NOT_FOUND);
	ck_assert_int_eq(gk_cert_load_pem(tmp_path("missing.pem"), &x), GK_E_NOT_FOUND);
	ck_assert_int_eq(gk_privkey_load_pem(tmp_path("missing.pem"), &k), GK_E_NOT_FOUND);

	const char *junk = tmp_path("junk.pem");
	write_text(junk, "not a PEM file\n");
	ck_assert_int_eq(gk_trust_load_pem(junk, &st), GK_E_MALFORMED);
	ck_assert_ptr_null(st);
	ck_assert_int_eq(gk_cert_load_pem(junk, &x), GK_E_MALFORMED);
	ck_assert_int_eq(gk_privkey_load_pem(junk, &k), GK_E_MALFORMED);
	/* A good certificate followed by a broken one. */
	ck_assert_int_eq(cg_write_cert_pem(junk, p.ca, false), 0);
	FILE *fp = fopen(junk, "a");
	fputs("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", fp);
	fclose(fp);
	ck_assert_int_eq(gk_trust_load_pem(junk, &st), GK_E_MALFORMED);

	/* An encrypted key fails at once rather than prompting on a terminal. */
	const char *enc = tmp_path("enc.pem");
	fp = fopen(enc, "w");
	ck_assert_int_eq(PEM_write_PrivateKey(fp, p.leaf_key, EVP_aes_128_cbc(), (unsigned char *)"secret", 6, NULL, NULL), 1);
	fclose(fp);
	ck_assert_int_eq(gk_privkey_load_pem(enc, &k), GK_E_MALFORMED);
	ck_assert_ptr_null(k);
	ck_assert_err_clean();

	unlink(trust); unlink(key); unlink(cert); unlink(junk); unlink(enc);
	ck_assert_int_eq(rmdir(tmpdir), 0); /* nothing else was left in it */
	X509_free(ca2);
	EVP_PKEY_free(ik);
	pki_free(&p);
}
END_TEST


/* RFC 9838 4.4.2.1.1: with Digital Signature the GCAUTH transform carries the RFC 7427
 * AlgorithmIdentifier of the GCKS key in a Signature Algorithm Identifier attribute (18, TLV).
 * Every scheme must fit where a Rekey SA keeps it: RSASSA-PSS (72 octets) did not, and went out
 * empty. Known answer: the attribute of an RSASSA-PSS-SHA256 GSA, then the round trip. */
START_TEST(sig_algid_fits_gsa)
{
	gk_group_sa probe;
	for (int i = GK_SIG_NONE + 1; i < GK_SIG_COUNT; i++)
		ck_assert_msg(gk_sig_algid((gk_sig_scheme)i).len <= sizeof(probe.sig_algid), "%s",
			      gk_sig_scheme_name((gk_sig_scheme)i));
	gk_group_state *gs = calloc(1, sizeof(*gs)), *back = calloc(1, sizeof(*back));
	ck_assert_ptr_nonnull(gs);
	ck_assert_ptr_nonnull(back);
	gk_group_sa *k = &gs->sas[gs->nsas++];
	k->proto = GK_PROTO_GIKE_UPDATE;
	memset(k->spi, 0x5a, 16);
	k->spi_len = 16;
	k->src = k->dst = (gk_ts_spec){ .family = 4, .start = { 239, 0, 0, 1 }, .end = { 239, 0, 0, 1 },
					.ip_proto = 17, .port_lo = 848, .port_hi = 848 };
	k->encr = GK_ENCR_AES_CBC;
	k->encr_key_bits = 256;
	k->integ = GK_INTEG_HMAC_SHA2_256_128;
	k->kwa = GK_KWA_KW_5649_256;
	k->gcauth = GK_GCAUTH_DIGITAL_SIGNATURE;
	gk_chunk pss = gk_sig_algid(GK_SIG_RSA_PSS_SHA256);
	ck_assert_uint_eq(pss.len, 72);
	memcpy(k->sig_algid, pss.ptr, pss.len);
	k->sig_algid_len = pss.len;
	k->keymat_len = gk_group_keymat_len(k->proto, k->encr, k->encr_key_bits, k->integ, k->kwa);
	memset(k->keymat, 0x11, k->keymat_len);
	EVP_PKEY *rsa = cg_key_rsa(2048);
	ck_assert_ptr_nonnull(rsa);
	gk_wbuf spki;
	gk_wbuf_init(&spki, 1024);
	ck_assert_int_eq(gk_pubkey_to_spki(rsa, &spki), GK_OK);
	ck_assert_uint_le(spki.len, sizeof(gs->auth_key));
	memcpy(gs->auth_key, spki.data, spki.len);
	gs->auth_key_len = spki.len;
	uint8_t kwk[32];
	memset(kwk, 0x22, sizeof(kwk));
	gk_arena a;
	gk_arena_init(&a, 0);
	gk_pl_gsa gsa;
	gk_pl_kd kd;
	ck_assert_int_eq(gk_group_state_encode(gs, GK_GSA_REGISTRATION, GK_KWA_KW_5649_256, GK_CHUNK(kwk, 32), &a,
					       &gsa, &kd), GK_OK);
	gk_wbuf w;
	gk_wbuf_init(&w, 4096);
	ck_assert_int_eq(gk_codec_build(gk_payload_desc(GK_PL_GSA), &gsa, &w), GK_OK);
	/* in the GCAUTH transform: attribute 18 (TLV), length 72, the AlgorithmIdentifier */
	uint8_t want[4 + 72];
	gk_put_u16(want, GK_TATTR_SIG_ALG_ID);
	gk_put_u16(want + 2, 72);
	memcpy(want + 4, pss.ptr, 72);
	ck_assert_ptr_nonnull(memmem(w.data, w.len, want, sizeof(want)));
	ck_assert_int_eq(gk_group_state_decode(&gsa, &kd, GK_GSA_REGISTRATION, GK_KWA_KW_5649_256, GK_CHUNK(kwk, 32),
					       back, NULL, 0), GK_OK);
	ck_assert_uint_eq(back->sas[0].sig_algid_len, 72);
	ck_assert_mem_eq(back->sas[0].sig_algid, pss.ptr, 72);
	gk_sig_scheme sch = GK_SIG_NONE;
	ck_assert_int_eq(gk_sig_scheme_from_algid(GK_CHUNK(back->sas[0].sig_algid, back->sas[0].sig_algid_len), &sch),
			 GK_OK);
	ck_assert_int_eq(sch, GK_SIG_RSA_PSS_SHA256);
	/* a Digital Signature GCAUTH without its AlgorithmIdentifier is not encoded at all */
	k->sig_algid_len = 0;
	ck_assert_int_eq(gk_group_state_encode(gs, GK_GSA_REGISTRATION, GK_KWA_KW_5649_256, GK_CHUNK(kwk, 32), &a,
					       &gsa, &kd), GK_E_INVAL);
	gk_wbuf_free(&w);
	gk_wbuf_free(&spki);
	gk_arena_free(&a);
	EVP_PKEY_free(rsa);
	gk_group_state_wipe(gs);
	gk_group_state_wipe(back);
	free(gs);
	free(back);
}
END_TEST

/* A state the GCKS fills per registration is emptied without writing its 12 KB of arrays, and
 * wiped up to what it holds: every SA slot below nsas cleansed whole (keymat), the counts
 * zeroed. Slots beyond nsas were never written by the filler and are left alone. */
START_TEST(group_state_clear_and_wipe_filled)
{
	gk_group_state *gs = malloc(sizeof(*gs));
	ck_assert_ptr_nonnull(gs);
	memset(gs, 0xaa, sizeof(*gs));
	gk_group_state_clear(gs);
	ck_assert_uint_eq(gs->nsas, 0);
	ck_assert(!gs->has_gw && !gs->has_atd && !gs->has_dtd && !gs->has_sender_id_bits);
	ck_assert_uint_eq(gs->atd | gs->dtd | gs->sender_id_bits, 0);
	ck_assert_uint_eq(gs->nsender_ids + gs->auth_key_len + gs->nwrap_keys + gs->nkh_sa_keys + gs->wkp.n, 0);
	ck_assert_ptr_null(gs->wrap_keys);
	ck_assert_ptr_null(gs->kh_sa_keys);
	ck_assert_uint_eq(gs->sas[0].keymat[0], 0xaa); /* untouched */
	for (int i = 0; i < 2; i++) {
		gk_group_sa *sa = &gs->sas[gs->nsas++];
		memset(sa, 0, sizeof(*sa));
		sa->keymat_len = 64;
		memset(sa->keymat, 0x11, sa->keymat_len);
	}
	gs->auth_key_len = 3;
	gs->nsender_ids = 1;
	gk_group_state_wipe_filled(gs);
	static const uint8_t zero[2 * sizeof(gk_group_sa)];
	ck_assert_mem_eq(gs->sas, zero, sizeof(zero));
	ck_assert_uint_eq(gs->nsas + gs->auth_key_len + gs->nsender_ids, 0);
	ck_assert_uint_eq(gs->sas[2].keymat[0], 0xaa);
	free(gs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("algid");
	tcase_add_test(tc, algid_bytes_match_rfc7427);
	tcase_add_test(tc, pss_algids_decode);
	tcase_add_test(tc, algid_round_trip_and_unknown);
	tcase_add_test(tc, scheme_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("signature");
	tcase_set_timeout(tc, 120); /* RSA key generation under sanitizers */
	tcase_add_loop_test(tc, sig_round_trip, 0, N_SIG_CASES);
	tcase_add_test(tc, sig_algid_key_mismatch);
	tcase_add_test(tc, sig_pkcs1_verify_only);
	tcase_add_test(tc, sig_pss_wrong_salt_refused);
	tcase_add_test(tc, sig_rsa_pss_key);
	tcase_add_test(tc, scheme_for_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("psk");
	tcase_add_test(tc, psk_mic_matches_independent_hmac);
	tcase_add_test(tc, signed_octets_layout);
	tcase_add_test(tc, psk_mic_over_parts);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys-certs");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, spki_round_trip_and_garbage);
	tcase_add_test(tc, cert_verify_chain);
	tcase_add_test(tc, cert_der_parse);
	tcase_add_test(tc, cert_matches_id);
	tcase_add_test(tc, pem_loading);
	tcase_add_test(tc, sig_algid_fits_gsa);
	tcase_add_test(tc, group_state_clear_and_wipe_filled);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
