/* Encrypted (SK, RFC 7296 3.14) and Encrypted Fragment (SKF, RFC 7383 2.5) payloads.
 * Layout after the 4 (SK) or 8 (SKF) octet header: IV | E(inner | padding | pad length) | ICV.
 *  - AES-CBC / AES-CTR (RFC 5930) + INTEG: the ICV covers the message from the IKE header
 *    through the end of the ciphertext, truncated to the INTEG's length.
 *  - AES-GCM (RFC 5282) / ChaCha20-Poly1305 (RFC 7634): nonce = salt | IV, AAD = IKE header
 *    through the end of the SK/SKF header, ICV = the AEAD tag. */
#include <limits.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include "sk.h"
#include "algs.h"
#include "iana.h"
#include "prf.h"

#define IKE_HDR_LEN 28
#define IKE_LEN_OFF 24
#define SK_HDR_LEN 4
#define SKF_HDR_LEN 8
#define SALT_LEN 4
#define AEAD_IV_LEN 8
#define NONCE_LEN (SALT_LEN + AEAD_IV_LEN)
#define MAX_IV 16
#define MAX_MAC 64

/* What one gk_sk_keys configuration means. */
typedef struct sk_algs {
	const gk_encr_info *e;
	const gk_integ_info *i; /* NULL for AEAD */
	const EVP_CIPHER *cipher;
	size_t key_len;         /* cipher key, salt excluded */
	size_t icv_len;
	uint16_t mac_prf;       /* PRF whose output, truncated, is the INTEG ICV */
} sk_algs;

/* The ciphers, fetched once per process: an EVP_aes_xxx() getter makes OpenSSL 3 look the
 * algorithm up by name again at every EVP_CipherInit. Row: AES-CBC, AES-CTR, AES-GCM; column:
 * 128/192/256-bit key. */
static CRYPTO_ONCE fetch_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_CIPHER *aes_ciphers[3][3], *chacha20_poly1305;

static void fetch_all(void)
{
	static const char *const names[3][3] = {
		{ "AES-128-CBC", "AES-192-CBC", "AES-256-CBC" },
		{ "AES-128-CTR", "AES-192-CTR", "AES-256-CTR" },
		{ "AES-128-GCM", "AES-192-GCM", "AES-256-GCM" },
	};
	for (size_t m = 0; m < 3; m++)
		for (size_t k = 0; k < 3; k++)
			aes_ciphers[m][k] = EVP_CIPHER_fetch(NULL, names[m][k], NULL);
	chacha20_poly1305 = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	ERR_clear_error(); /* a cipher a provider lacks fails where it is used */
}

static const EVP_CIPHER *aes_cipher(size_t mode, size_t key_len)
{
	switch (key_len) {
	case 16: return aes_ciphers[mode][0];
	case 24: return aes_ciphers[mode][1];
	case 32: return aes_ciphers[mode][2];
	default: return NULL;
	}
}

static const EVP_CIPHER *sk_cipher(uint16_t encr, size_t key_len)
{
	if (CRYPTO_THREAD_run_once(&fetch_once, fetch_all) != 1)
		return NULL;
	switch (encr) {
	case GK_ENCR_AES_CBC:
		return aes_cipher(0, key_len);
	case GK_ENCR_AES_CTR:
		return aes_cipher(1, key_len);
	case GK_ENCR_AES_GCM_8:
	case GK_ENCR_AES_GCM_12:
	case GK_ENCR_AES_GCM_16:
		return aes_cipher(2, key_len);
	case GK_ENCR_CHACHA20_POLY1305:
		return key_len == 32 ? chacha20_poly1305 : NULL;
	default:
		return NULL; /* IIV (RFC 8750) and GMAC are ESP-only */
	}
}

/* INTEG transforms are their PRF counterparts truncated (RFC 2404, 3566, 4494, 4868); with the
 * fixed key lengths checked in sk_setup the AES PRF key-length rules never apply. */
static uint16_t integ_prf(uint16_t integ)
{
	switch (integ) {
	case GK_INTEG_HMAC_SHA1_96: return GK_PRF_HMAC_SHA1;
	case GK_INTEG_AES_XCBC_96: return GK_PRF_AES128_XCBC;
	case GK_INTEG_AES_CMAC_96: return GK_PRF_AES128_CMAC;
	case GK_INTEG_HMAC_SHA2_256_128: return GK_PRF_HMAC_SHA2_256;
	case GK_INTEG_HMAC_SHA2_384_192: return GK_PRF_HMAC_SHA2_384;
	case GK_INTEG_HMAC_SHA2_512_256: return GK_PRF_HMAC_SHA2_512;
	default: return 0;
	}
}

/* Checks the algorithm choice only (not the keys). */
static gk_status sk_algs_get(uint16_t encr, uint16_t key_bits, uint16_t integ, sk_algs *a)
{
	memset(a, 0, sizeof(*a));
	a->e = gk_encr_lookup(encr);
	if (!a->e)
		return GK_E_UNSUPPORTED;
	size_t km = gk_encr_keymat_len(a->e, key_bits);
	if (km == 0)
		return GK_E_INVAL;
	a->key_len = km - a->e->salt_len;
	a->cipher = sk_cipher(encr, a->key_len);
	if (!a->cipher)
		return GK_E_UNSUPPORTED;
	if (a->e->aead) {
		a->icv_len = a->e->icv_len;
		return integ == GK_INTEG_NONE ? GK_OK : GK_E_INVAL;
	}
	a->i = gk_integ_lookup(integ);
	if (!a->i)
		return integ == GK_INTEG_NONE ? GK_E_INVAL : GK_E_UNSUPPORTED;
	a->icv_len = a->i->icv_len;
	a->mac_prf = integ_prf(integ);
	return a->mac_prf ? GK_OK : GK_E_UNSUPPORTED;
}

static gk_status sk_setup(const gk_sk_keys *k, sk_algs *a)
{
	gk_status st = sk_algs_get(k->encr, k->encr_key_bits, k->integ, a);
	if (st)
		return st;
	if (!k->enc.ptr || k->enc.len != a->key_len + a->e->salt_len)
		return GK_E_INVAL;
	if (a->i && (!k->integ_key.ptr || k->integ_key.len != a->i->key_len))
		return GK_E_INVAL;
	return GK_OK;
}

/* Padding so that inner | padding | pad length fills whole cipher blocks. */
static size_t sk_pad_len(const sk_algs *a, size_t n)
{
	size_t b = a->e->block_len;
	return (b - (n + 1) % b) % b;
}

size_t gk_sk_overhead(const gk_sk_keys *k, size_t n)
{
	sk_algs a;
	if (!k || sk_algs_get(k->encr, k->encr_key_bits, k->integ, &a))
		return 0;
	return a.e->iv_len + sk_pad_len(&a, n) + 1 + a.icv_len;
}

/* AES-CBC (IV as is) or AES-CTR (RFC 3686 4 counter block: salt | IV | 1) over len octets. */
static gk_status sk_cipher_run(const sk_algs *a, const gk_sk_keys *k, const uint8_t *iv,
			       const uint8_t *in, uint8_t *out, size_t len, int enc)
{
	uint8_t ivb[MAX_IV];
	int outl = 0, finl = 0;
	gk_status st = GK_E_CRYPTO;

	if (len > INT_MAX)
		return GK_E_TOO_BIG;
	if (a->e->id == GK_ENCR_AES_CTR) {
		memcpy(ivb, k->enc.ptr + a->key_len, SALT_LEN);
		memcpy(ivb + SALT_LEN, iv, AEAD_IV_LEN);
		gk_put_u32(ivb + SALT_LEN + AEAD_IV_LEN, 1);
	} else {
		memcpy(ivb, iv, MAX_IV);
	}
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (!c)
		goto out;
	if (EVP_CipherInit_ex2(c, a->cipher, k->enc.ptr, ivb, enc, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(c, 0) != 1 ||
	    EVP_CipherUpdate(c, out, &outl, in, (int)len) != 1 ||
	    EVP_CipherFinal_ex(c, out + outl, &finl) != 1 || (size_t)outl + (size_t)finl != len)
		goto out;
	st = GK_OK;
out:
	EVP_CIPHER_CTX_free(c);
	OPENSSL_cleanse(ivb, sizeof(ivb));
	return st;
}

/* One AEAD operation; on decryption a tag mismatch is GK_E_INTEGRITY. */
static gk_status aead_run(const sk_algs *a, const uint8_t *key_salt, const uint8_t *iv,
			  gk_chunk aad, const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag,
			  int enc)
{
	uint8_t nonce[NONCE_LEN], fin[MAX_IV];
	int outl = 0, tl = (int)a->icv_len;
	gk_status st = GK_E_CRYPTO;

	if (len > INT_MAX || aad.len > INT_MAX)
		return GK_E_TOO_BIG;
	memcpy(nonce, key_salt + a->key_len, SALT_LEN);
	memcpy(nonce + SALT_LEN, iv, AEAD_IV_LEN);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (!c)
		goto out;
	/* The nonce is 12 octets, the default of both AES-GCM and ChaCha20-Poly1305. */
	if (EVP_CIPHER_get_iv_length(a->cipher) != NONCE_LEN ||
	    EVP_CipherInit_ex2(c, a->cipher, key_salt, nonce, enc, NULL) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, tl, tag) != 1)
		goto out;
	if (aad.len && EVP_CipherUpdate(c, NULL, &outl, aad.ptr, (int)aad.len) != 1)
		goto out;
	if (len && (EVP_CipherUpdate(c, out, &outl, in, (int)len) != 1 || (size_t)outl != len))
		goto out;
	if (EVP_CipherFinal_ex(c, fin, &outl) != 1) { /* GCM/ChaCha output nothing here */
		st = enc ? GK_E_CRYPTO : GK_E_INTEGRITY;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, tl, tag) != 1)
		goto out;
	st = GK_OK;
out:
	EVP_CIPHER_CTX_free(c);
	OPENSSL_cleanse(nonce, sizeof(nonce));
	return st;
}

/* INTEG ICV over p[0..n), truncated into icv. */
static gk_status sk_icv(const sk_algs *a, const gk_sk_keys *k, const uint8_t *p, size_t n,
			uint8_t *icv)
{
	uint8_t full[MAX_MAC];
	gk_chunk part = GK_CHUNK(p, n);
	gk_status st = gk_prf(a->mac_prf, k->integ_key, &part, 1, full);
	if (!st)
		memcpy(icv, full, a->icv_len);
	OPENSSL_cleanse(full, sizeof(full));
	return st;
}

/* Encrypts the plaintext already in place at msg->data[base + iv_len ..] and writes the ICV. */
static gk_status seal_body(const sk_algs *a, const gk_sk_keys *k, gk_wbuf *msg, size_t base,
			   size_t pt_len)
{
	uint8_t *iv = msg->data + base, *pt = iv + a->e->iv_len, *icv = pt + pt_len;
	if (a->e->aead) {
		gk_chunk aad = GK_CHUNK(msg->data, base); /* the header ends where the IV starts */
		return aead_run(a, k->enc.ptr, iv, aad, pt, pt_len, pt, icv, 1);
	}
	gk_status st = sk_cipher_run(a, k, iv, pt, pt, pt_len, 1);
	if (!st)
		st = sk_icv(a, k, msg->data, base + a->e->iv_len + pt_len, icv);
	return st;
}

gk_status gk_sk_seal(const gk_sk_keys *k, const gk_rand *rnd, gk_wbuf *msg, size_t sk_off,
		     gk_chunk inner)
{
	sk_algs a;

	if (!k || !rnd || !msg || (inner.len && !inner.ptr))
		return GK_E_INVAL;
	if (msg->err)
		return msg->err;
	if (sk_off < IKE_HDR_LEN || sk_off > msg->len)
		return GK_E_INVAL;
	size_t hdr_len = msg->len - sk_off;
	if (hdr_len != SK_HDR_LEN && hdr_len != SKF_HDR_LEN)
		return GK_E_INVAL;
	gk_status st = sk_setup(k, &a);
	if (st)
		return st;
	if (inner.len > UINT16_MAX)
		return GK_E_TOO_BIG;

	size_t pad = sk_pad_len(&a, inner.len), pt_len = inner.len + pad + 1;
	size_t body = a.e->iv_len + pt_len + a.icv_len, base = msg->len;
	if (hdr_len + body > UINT16_MAX || base + body > UINT32_MAX)
		return GK_E_TOO_BIG;
	uint16_t old_pl = gk_get_u16(msg->data + sk_off + 2);
	uint32_t old_ml = gk_get_u32(msg->data + IKE_LEN_OFF);
	gk_wbuf_zero(msg, body); /* padding octets stay zero */
	if (msg->err)
		return msg->err;

	uint8_t *iv = msg->data + base, *pt = iv + a.e->iv_len;
	if (k->iv_next && a.e->counter_mode && a.e->iv_len == AEAD_IV_LEN) {
		/* The counter modes need an IV that never repeats under one key, not an unpredictable
		 * one (RFC 5930 2.1 AES-CTR, RFC 5282 3.1 with RFC 4106 3.1 AES-GCM, RFC 7634 2
		 * ChaCha20-Poly1305, each recommending a counter): the sender's own counter is that,
		 * and costs no DRBG draw (about 6,000 instructions). It stops short of wrapping. */
		if (*k->iv_next == UINT32_MAX) {
			st = GK_E_STATE;
			goto out;
		}
		gk_put_u64(iv, (*k->iv_next)++);
	} else {
		/* CBC: an unpredictable IV (RFC 7296 3.14). A counter-mode key without a counter gets
		 * a 64-bit random IV: a repeat under one key is negligible for the message counts of
		 * an IKE SA. */
		st = gk_rand_bytes(rnd, iv, a.e->iv_len);
		if (st)
			goto out;
	}
	if (inner.len)
		memcpy(pt, inner.ptr, inner.len);
	pt[pt_len - 1] = (uint8_t)pad;
	gk_put_u16(msg->data + sk_off + 2, (uint16_t)(hdr_len + body));
	gk_put_u32(msg->data + IKE_LEN_OFF, (uint32_t)msg->len);
	st = seal_body(&a, k, msg, base, pt_len);
out:
	if (st) { /* leave msg as it was, without plaintext behind */
		OPENSSL_cleanse(msg->data + base, body);
		msg->len = base;
		gk_put_u16(msg->data + sk_off + 2, old_pl);
		gk_put_u32(msg->data + IKE_LEN_OFF, old_ml);
	}
	return st;
}

/* Decrypts ct_len octets into pt after checking the ICV (non-AEAD) or the tag (AEAD). */
static gk_status open_body(const sk_algs *a, const gk_sk_keys *k, gk_chunk msg, size_t body_off,
			   size_t ct_len, uint8_t *pt)
{
	const uint8_t *iv = msg.ptr + body_off, *ct = iv + a->e->iv_len, *icv = ct + ct_len;
	uint8_t mine[MAX_MAC];
	if (a->e->aead) { /* EVP takes the expected tag through a non-const pointer */
		memcpy(mine, icv, a->icv_len);
		return aead_run(a, k->enc.ptr, iv, GK_CHUNK(msg.ptr, body_off), ct, ct_len, pt,
				mine, 0);
	}
	gk_status st = sk_icv(a, k, msg.ptr, msg.len - a->icv_len, mine);
	if (!st && CRYPTO_memcmp(mine, icv, a->icv_len) != 0)
		st = GK_E_INTEGRITY;
	OPENSSL_cleanse(mine, sizeof(mine));
	if (!st)
		st = sk_cipher_run(a, k, iv, ct, pt, ct_len, 0);
	return st;
}

gk_status gk_sk_open(const gk_sk_keys *k, gk_chunk msg, size_t sk_off, size_t hdr_len, gk_wbuf *out)
{
	sk_algs a;

	if (!k || !out || !msg.ptr)
		return GK_E_INVAL;
	if (out->err)
		return out->err;
	if (sk_off < IKE_HDR_LEN || (hdr_len != SK_HDR_LEN && hdr_len != SKF_HDR_LEN))
		return GK_E_INVAL;
	if (sk_off > msg.len || msg.len - sk_off < hdr_len)
		return GK_E_TRUNCATED;
	gk_status st = sk_setup(k, &a);
	if (st)
		return st;

	size_t body_off = sk_off + hdr_len, body = msg.len - body_off;
	if (body < a.e->iv_len + a.icv_len + 1)
		return GK_E_MALFORMED;
	size_t ct_len = body - a.e->iv_len - a.icv_len;
	if (ct_len % a.e->block_len)
		return GK_E_MALFORMED;
	st = gk_wbuf_reserve(out, ct_len);
	if (st)
		return st;

	uint8_t *pt = out->data + out->len;
	st = open_body(&a, k, msg, body_off, ct_len, pt);
	if (st)
		goto out;
	/* Authenticated from here on: inconsistencies are the sender's construction errors. */
	size_t pad = pt[ct_len - 1];
	if (pad + 1 > ct_len || gk_get_u16(msg.ptr + sk_off + 2) != msg.len - sk_off ||
	    gk_get_u32(msg.ptr + IKE_LEN_OFF) != msg.len) {
		st = GK_E_MALFORMED;
		goto out;
	}
	out->len += ct_len - pad - 1;
	OPENSSL_cleanse(pt + ct_len - pad - 1, pad + 1);
	return GK_OK;
out:
	OPENSSL_cleanse(pt, ct_len);
	return st;
}

/* Algorithm view of a bare AEAD key (key length taken from key_salt). */
static gk_status aead_algs(uint16_t encr, gk_chunk key_salt, sk_algs *a)
{
	const gk_encr_info *e = gk_encr_lookup(encr);
	if (!e || !e->aead)
		return GK_E_UNSUPPORTED;
	if (!key_salt.ptr || key_salt.len <= e->salt_len || key_salt.len - e->salt_len > 32)
		return GK_E_INVAL;
	uint16_t bits = e->key_length_attr ? (uint16_t)((key_salt.len - e->salt_len) * 8) : 0;
	gk_status st = sk_algs_get(encr, bits, GK_INTEG_NONE, a);
	if (st)
		return st;
	return key_salt.len == a->key_len + e->salt_len ? GK_OK : GK_E_INVAL;
}

gk_status gk_sk_aead_seal(uint16_t encr, gk_chunk key_salt, const uint8_t iv[8], gk_chunk aad,
			  gk_chunk pt, uint8_t *ct, uint8_t *tag)
{
	sk_algs a;
	if (!iv || !tag || (pt.len && (!pt.ptr || !ct)) || (aad.len && !aad.ptr))
		return GK_E_INVAL;
	gk_status st = aead_algs(encr, key_salt, &a);
	if (st)
		return st;
	return aead_run(&a, key_salt.ptr, iv, aad, pt.ptr, pt.len, ct, tag, 1);
}

gk_status gk_sk_aead_open(uint16_t encr, gk_chunk key_salt, const uint8_t iv[8], gk_chunk aad,
			  gk_chunk ct, gk_chunk tag, uint8_t *pt)
{
	sk_algs a;
	uint8_t t[MAX_IV];
	if (!iv || !tag.ptr || (ct.len && (!ct.ptr || !pt)) || (aad.len && !aad.ptr))
		return GK_E_INVAL;
	gk_status st = aead_algs(encr, key_salt, &a);
	if (st)
		return st;
	if (tag.len != a.icv_len)
		return GK_E_INTEGRITY;
	memcpy(t, tag.ptr, tag.len); /* EVP takes the expected tag through a non-const pointer */
	st = aead_run(&a, key_salt.ptr, iv, aad, ct.ptr, ct.len, pt, t, 0);
	if (st && ct.len)
		OPENSSL_cleanse(pt, ct.len);
	return st;
}
