/* The floor of a registration (make bench): the GCKS side's irreducible crypto for one PSK
 * registration with X25519 and AES-GCM-256, done with OpenSSL at its fastest: every algorithm
 * fetched once, one context of each kind reused (EVP_MAC_init/EVP_CipherInit_ex2 with a new key
 * only where the key changes), nothing from the project's own code. What gcksd does for one
 * registration (gcks/gcks_init.c start_sa, gcks/gcks_auth.c, common/crypto), and so this loop:
 *   IKE_SA_INIT   X25519 key generation + public value, X25519 derivation with the member's
 *                 public value; 32 random octets of Nr, 8 of SPIr;
 *                 SKEYSEED = prf(Ni | Nr, g^ir): 1 HMAC-SHA-256 keyed with 64 octets;
 *                 prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) for SK_d (32), SK_ei/SK_er (36 each:
 *                 AES-256 key + 4-octet salt), SK_pi/SK_pr (32 each) = 168 octets: 6 HMACs;
 *                 GSK_w = prf+(SK_d, "Key Wrap for G-IKEv2") (RFC 9838 3.1.1): 1 HMAC (RFC 7296 2.14)
 *   GSA_AUTH      AES-GCM-256 open of the request (key SK_ei, AAD = IKE header + SK header);
 *                 the member's PSK AUTH checked: prf(SK_pi, IDi'), prf(PSK, "Key Pad for
 *                 IKEv2"), prf(that, IKE_SA_INIT request | Nr | prf(SK_pi, IDi')): 3 HMACs;
 *                 ours computed the same way over the IKE_SA_INIT response and Ni: 3 HMACs
 *                 (RFC 7296 2.15); the TEK's and the KEK's keying material wrapped under GSK_w
 *                 (RFC 5649 AES-256 key wrap with padding, RFC 9838 4.5.4): 2 wraps;
 *                 AES-GCM-256 seal of the response (key SK_er, random 8-octet IV).
 * 14 HMAC-SHA-256 in all (the prf(PSK, key pad) of both AUTHs is the same value and could be
 * cached per member: 1 HMAC of 17 octets, well under a microsecond, left in the floor).
 * The message sizes are those the registration benchmark saw (options); the member's side and
 * the datagram I/O are not part of it. It prints the floor per registration in CPU time of
 * this thread, each part alone, and the figures `openssl speed` also gives (X25519
 * derivation, HMAC-SHA-256 of 64 octets, AES-256-GCM AEAD sequence of one message) so that the
 * two can be read side by side. With --dh-reuse N (gcksd --dh-reuse N: one X25519 private value
 * serves up to N IKE_SA_INIT responses, RFC 7296 2.12) a key pair is made every N-th
 * registration only, so the floor holds 1/N of a key generation; the derivation stays per
 * registration. Exit status 0, 1 when OpenSSL fails, 2 on usage errors. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/rand.h>
#include "bench_util.h"

#define MAXMSG 8192

typedef struct sizes {
	size_t init_req, init_resp, auth_req, auth_resp; /* datagrams, octets */
	size_t nonce, id_i, id_r, psk, tek, kek;
} sizes;

/* Everything fetched or allocated once. */
typedef struct floor_ctx {
	EVP_PKEY_CTX *kgen;            /* X25519 key generation (setup only), initialized once */
	EVP_PKEY_CTX *kimp;            /* X25519 key import, initialized once */
	EVP_PKEY *base;                /* the base point u = 9 as a public key */
	EVP_MAC_CTX *hmac;             /* HMAC with SHA-256 set once; re-keyed per use */
	EVP_CIPHER *gcm, *wrap;
	EVP_CIPHER_CTX *aead, *kw;
	uint8_t peer_pub[32];          /* the member's public value */
	unsigned dh_reuse;             /* --dh-reuse: registrations per key pair (1: a new one each) */
	unsigned dh_uses;              /* registrations the current key pair served */
	EVP_PKEY *dh_key;              /* the current key pair with --dh-reuse above 1 */
	EVP_PKEY_CTX *dh_derive;       /* dh_key's derivation context */
	uint8_t dh_pub[32];            /* dh_key's public value */
	EVP_PKEY *peer;                /* the member's public value, replaced in place per use */
	uint8_t msg[MAXMSG], out[MAXMSG + 64];
	sizes z;
} floor_ctx;

static int fail(const char *what)
{
	fprintf(stderr, "bench_floor: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	return -1;
}

/* One HMAC-SHA-256 under key (a new key when key is not NULL, else the last one) over parts. */
static int hmac(floor_ctx *f, const uint8_t *key, size_t klen, const uint8_t *const *p, const size_t *l, int n,
		uint8_t out[32])
{
	size_t ol;
	if (!EVP_MAC_init(f->hmac, key, key ? klen : 0, NULL))
		return fail("EVP_MAC_init");
	for (int i = 0; i < n; i++)
		if (!EVP_MAC_update(f->hmac, p[i], l[i]))
			return fail("EVP_MAC_update");
	return EVP_MAC_final(f->hmac, out, &ol, 32) ? 0 : fail("EVP_MAC_final");
}

static int hmac1(floor_ctx *f, const uint8_t *key, size_t klen, const uint8_t *d, size_t dl, uint8_t out[32])
{
	const uint8_t *p[] = { d };
	size_t l[] = { dl };
	return hmac(f, key, klen, p, l, 1, out);
}

/* A new X25519 key pair as OpenSSL makes it fastest, with its derivation context and public
 * value: random octets imported as the private value (with the base point as a public half that
 * nothing reads), then the public value X25519(k, 9) (RFC 7748 6.1) by the derivation the pair
 * needs anyway. EVP_PKEY_keygen computes it with OpenSSL 3.0's generic C fixed-base code, slower
 * on x86-64 than the ladder of its derivation (gcksd makes its key pairs so: common/crypto/dh.c). */
static int keypair(floor_ctx *f, EVP_PKEY **k, EVP_PKEY_CTX **d, uint8_t pub[32])
{
	uint8_t priv[32], u[32] = { 9 };
	size_t pl = 32;
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, priv, 32),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, u, 32),
		OSSL_PARAM_construct_end(),
	};
	int rc = -1;
	*k = NULL;
	*d = NULL;
	if (RAND_priv_bytes(priv, 32) <= 0 || EVP_PKEY_fromdata(f->kimp, k, EVP_PKEY_KEYPAIR, p) <= 0) {
		fail("X25519 key generation");
		goto out;
	}
	*d = EVP_PKEY_CTX_new_from_pkey(NULL, *k, NULL);
	if (!*d || EVP_PKEY_derive_init(*d) <= 0 || EVP_PKEY_derive_set_peer_ex(*d, f->base, 0) <= 0 ||
	    EVP_PKEY_derive(*d, pub, &pl) <= 0 || pl != 32) {
		fail("X25519 public value");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(priv, sizeof(priv));
	return rc;
}

/* X25519: a new key pair (or, with --dh-reuse, the current one while it may still serve), its
 * public value, the shared secret with the member's. The member's value goes into one kept
 * EVP_PKEY (EVP_PKEY_set1_encoded_public_key) and a key pair keeps its derivation context: a
 * new EVP_PKEY or EVP_PKEY_CTX costs OpenSSL 3.0 a key type lookup by name. No public key check
 * on the member's value: every value is one (RFC 8031 2); the all-zero result is refused by the
 * derivation. */
static int x25519(floor_ctx *f, uint8_t pub[32], uint8_t shared[32], int derive)
{
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *d = NULL;
	size_t sl = 32;
	int rc = -1;
	if (f->dh_reuse > 1 && f->dh_key && f->dh_uses < f->dh_reuse) {
		k = f->dh_key;
		d = f->dh_derive;
		memcpy(pub, f->dh_pub, 32);
		f->dh_uses++;
	} else if (keypair(f, &k, &d, pub)) {
		goto out;
	} else if (f->dh_reuse > 1) {
		EVP_PKEY_CTX_free(f->dh_derive);
		EVP_PKEY_free(f->dh_key);
		f->dh_key = k;
		f->dh_derive = d;
		memcpy(f->dh_pub, pub, 32);
		f->dh_uses = 1;
	}
	if (!derive) {
		rc = 0;
		goto out;
	}
	if (!EVP_PKEY_set1_encoded_public_key(f->peer, f->peer_pub, 32)) {
		fail("X25519 peer value");
		goto out;
	}
	if (EVP_PKEY_derive_set_peer_ex(d, f->peer, 0) <= 0 || EVP_PKEY_derive(d, shared, &sl) <= 0) {
		fail("X25519 derivation");
		goto out;
	}
	rc = 0;
out:
	if (k != f->dh_key) {
		EVP_PKEY_CTX_free(d);
		EVP_PKEY_free(k);
	}
	return rc;
}

static int ike_keys(floor_ctx *f, const uint8_t *ni, const uint8_t *nr, const uint8_t shared[32], uint8_t *keys,
		    uint8_t gsk_w[32])
{
	uint8_t nn[512], seed[32], spis[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	size_t n = f->z.nonce;
	memcpy(nn, ni, n);
	memcpy(nn + n, nr, n);
	if (hmac1(f, nn, 2 * n, shared, 32, seed))
		return -1;
	/* T1 = prf(K, S | 0x01), Ti = prf(K, Ti-1 | S | i): the key set once, the context restarted */
	for (uint8_t i = 1; i <= 6; i++) {
		const uint8_t *p[] = { i > 1 ? keys + 32 * (i - 2) : NULL, nn, spis, &i };
		const size_t l[] = { 32, 2 * n, 16, 1 };
		if (i == 1 ? hmac(f, seed, 32, p + 1, l + 1, 3, keys) : hmac(f, NULL, 0, p, l, 4, keys + 32 * (i - 1)))
			return -1;
	}
	static const uint8_t label[] = "Key Wrap for G-IKEv2\x01";
	OPENSSL_cleanse(seed, sizeof(seed));
	return hmac1(f, keys, 32, label, sizeof(label) - 1, gsk_w);
}

/* One PSK AUTH (RFC 7296 2.15) over a message, a nonce and an ID payload body. */
static int psk_auth(floor_ctx *f, const uint8_t *skp, size_t msg_len, const uint8_t *nonce, size_t id_len,
		    const uint8_t *psk, uint8_t mic[32])
{
	static const uint8_t pad[] = "Key Pad for IKEv2";
	uint8_t maced[32], kpad[32];
	if (hmac1(f, skp, 32, f->msg, id_len, maced) || hmac1(f, psk, f->z.psk, pad, sizeof(pad) - 1, kpad))
		return -1;
	const uint8_t *p[] = { f->msg, nonce, maced };
	const size_t l[] = { msg_len, f->z.nonce, 32 };
	return hmac(f, kpad, 32, p, l, 3, mic);
}

/* AES-GCM-256 over one SK payload's contents (RFC 5282): 8-octet IV, AAD = IKE header + SK
 * payload header (32 octets), ICV 16. seal: encrypts len octets; else decrypts and checks the
 * tag of a message sealed the same way. */
static int gcm(floor_ctx *f, const uint8_t key[36], size_t len, int seal)
{
	uint8_t iv[12], tag[16];
	int ol = 0, fl = 0;
	memcpy(iv, key + 32, 4); /* salt */
	if (seal && RAND_bytes(iv + 4, 8) != 1)
		return fail("RAND_bytes");
	if (!seal)
		memset(iv + 4, 7, 8);
	if (!EVP_CipherInit_ex2(f->aead, f->gcm, key, iv, seal, NULL) || !EVP_CipherUpdate(f->aead, NULL, &ol, f->msg, 32) ||
	    !EVP_CipherUpdate(f->aead, f->out, &ol, f->msg + 32, (int)len))
		return fail("AES-GCM");
	if (!seal && !EVP_CIPHER_CTX_ctrl(f->aead, EVP_CTRL_AEAD_SET_TAG, 16, f->out + MAXMSG))
		return fail("AES-GCM tag");
	if (!EVP_CipherFinal_ex(f->aead, f->out + ol, &fl))
		return seal ? fail("AES-GCM seal") : 1; /* 1: the tag did not match */
	if (seal && !EVP_CIPHER_CTX_ctrl(f->aead, EVP_CTRL_AEAD_GET_TAG, 16, tag))
		return fail("AES-GCM tag");
	return 0;
}

/* RFC 5649 wraps of the TEK's and the KEK's keying material under GSK_w, as the AES work they
 * cannot do without: the key schedule once, then RFC 3394 2.2.1's W() as 6n dependent AES-256
 * block encryptions (one when n is 1) through AES-ECB, which uses AES-NI, each one EVP_Cipher
 * call (EVP_EncryptUpdate adds its buffering to every block). OpenSSL 3.0's own
 * AES-256-WRAP-PAD cipher runs the portable C AES at about 3,000 instructions a block, so it is
 * not OpenSSL at its fastest (gcksd wraps this way too, common/crypto/keywrap.c). */
static int wrap_one(floor_ctx *f, size_t len)
{
	const size_t n = (len + 7) / 8;
	uint8_t *buf = f->out, b[16];
	memcpy(buf, "\xa6\x59\x59\xa6", 4);
	buf[4] = 0, buf[5] = 0, buf[6] = (uint8_t)(len >> 8), buf[7] = (uint8_t)len;
	memcpy(buf + 8, f->msg, len);
	memset(buf + 8 + len, 0, n * 8 - len);
	if (n == 1)
		return EVP_Cipher(f->kw, buf, buf, 16) == 16 ? 0 : fail("AES-256 key wrap");
	memcpy(b, buf, 8);
	for (unsigned j = 0, t = 0; j < 6; j++)
		for (size_t i = 1; i <= n; i++) {
			memcpy(b + 8, buf + 8 * i, 8);
			if (EVP_Cipher(f->kw, b, b, 16) != 16)
				return fail("AES-256 key wrap");
			memcpy(buf + 8 * i, b + 8, 8);
			b[7] ^= (uint8_t)++t; /* t < 256 for the keys wrapped here */
		}
	memcpy(buf, b, 8);
	return 0;
}

static int wraps(floor_ctx *f, const uint8_t gsk_w[32])
{
	if (!EVP_EncryptInit_ex2(f->kw, f->wrap, gsk_w, NULL, NULL))
		return fail("AES-256-ECB key schedule");
	return wrap_one(f, f->z.tek) || wrap_one(f, f->z.kek);
}

/* Inner octets of an SK payload in a datagram of n octets (header 28, SK header 4, IV 8,
 * ICV 16, pad length 1). */
static size_t inner(size_t n, size_t dflt)
{
	return n > 57 ? n - 57 : dflt;
}

/* The GCKS's crypto of one registration. */
static int one_registration(floor_ctx *f, const uint8_t *psk)
{
	uint8_t pub[32], shared[32], ni[256], nr[256], spi[8], keys[7 * 32], gsk_w[32], mic[32];
	const uint8_t *sk_ei = keys + 32, *sk_er = keys + 68, *sk_pi = keys + 104, *sk_pr = keys + 136;
	memset(ni, 3, sizeof(ni));
	if (x25519(f, pub, shared, 1) || RAND_bytes(nr, (int)f->z.nonce) != 1 || RAND_bytes(spi, 8) != 1 ||
	    ike_keys(f, ni, nr, shared, keys, gsk_w))
		return -1;
	/* the open: decryption, GHASH and the tag comparison, whose outcome (a mismatch here: the
	 * request was not sealed under this SA's fresh key) does not change the work */
	if (gcm(f, sk_ei, inner(f->z.auth_req, 400), 0) < 0)
		return -1;
	if (psk_auth(f, sk_pi, f->z.init_req, nr, f->z.id_i, psk, mic) || psk_auth(f, sk_pr, f->z.init_resp, ni, f->z.id_r, psk, mic) ||
	    wraps(f, gsk_w) || gcm(f, sk_er, inner(f->z.auth_resp, 700), 1))
		return -1;
	OPENSSL_cleanse(keys, sizeof(keys));
	OPENSSL_cleanse(shared, sizeof(shared));
	OPENSSL_cleanse(gsk_w, sizeof(gsk_w));
	return 0;
}

/* ---- timing ---- */

typedef int (*step_fn)(floor_ctx *f, void *arg);

/* Microseconds of this thread's CPU per call of fn, over about `seconds`. */
static double time_us(floor_ctx *f, step_fn fn, void *arg, double seconds, unsigned long *iters)
{
	unsigned long n = 0;
	double c0 = bench_now(CLOCK_THREAD_CPUTIME_ID), c1;
	do {
		for (int i = 0; i < 20; i++, n++)
			if (fn(f, arg))
				return -1;
		c1 = bench_now(CLOCK_THREAD_CPUTIME_ID);
	} while (c1 - c0 < seconds);
	if (iters)
		*iters = n;
	return (c1 - c0) * 1e6 / (double)n;
}

static uint8_t g_psk[256];
static uint8_t g_key[36] = { 9, 8, 7 };

static int s_reg(floor_ctx *f, void *a) { (void)a; return one_registration(f, g_psk); }
/* the parts time a key generation each (a reused key pair is timed in the whole floor only) */
static int s_keygen(floor_ctx *f, void *a)
{
	uint8_t p[32], s[32];
	unsigned r = f->dh_reuse;
	(void)a;
	f->dh_reuse = 1;
	int rc = x25519(f, p, s, 0);
	f->dh_reuse = r;
	return rc;
}
static int s_kex(floor_ctx *f, void *a)
{
	uint8_t p[32], s[32];
	unsigned r = f->dh_reuse;
	(void)a;
	f->dh_reuse = 1;
	int rc = x25519(f, p, s, 1);
	f->dh_reuse = r;
	return rc;
}
static int s_keys(floor_ctx *f, void *a)
{
	uint8_t ni[256] = { 1 }, nr[256] = { 2 }, k[7 * 32], w[32];
	(void)a;
	return ike_keys(f, ni, nr, g_key, k, w);
}
static int s_auth(floor_ctx *f, void *a)
{
	uint8_t mic[32], n[256] = { 4 };
	(void)a;
	return psk_auth(f, g_key, f->z.init_req, n, f->z.id_i, g_psk, mic) || psk_auth(f, g_key, f->z.init_resp, n, f->z.id_r, g_psk, mic);
}
static int s_gcm_pair(floor_ctx *f, void *a)
{
	(void)a;
	/* an open costs what a seal does (the same CTR and GHASH work): two seals */
	return gcm(f, g_key, inner(f->z.auth_req, 400), 1) || gcm(f, g_key, inner(f->z.auth_resp, 700), 1);
}
static int s_wraps(floor_ctx *f, void *a) { (void)a; return wraps(f, g_key); }
/* what openssl speed times: X25519 derivation with both keys made beforehand; HMAC-SHA-256 of
 * 64 octets under a key set once; AES-256-GCM with -aead: init with the IV, AAD, one message,
 * final and tag */
static EVP_PKEY_CTX *g_speed_derive;
static int s_speed_x25519(floor_ctx *f, void *a)
{
	uint8_t s[32];
	size_t sl = 32;
	(void)f;
	(void)a;
	return EVP_PKEY_derive(g_speed_derive, s, &sl) > 0 ? 0 : fail("X25519 derivation");
}
static int s_speed_hmac(floor_ctx *f, void *a)
{
	uint8_t o[32];
	(void)a;
	return hmac1(f, NULL, 0, f->msg, 64, o);
}
static int s_speed_gcm(floor_ctx *f, void *a)
{
	size_t len = *(size_t *)a;
	uint8_t iv[12] = { 0 };
	int ol = 0, fl = 0;
	if (!EVP_CipherInit_ex2(f->aead, NULL, NULL, iv, 1, NULL) || !EVP_CipherUpdate(f->aead, NULL, &ol, f->msg, 13) ||
	    !EVP_CipherUpdate(f->aead, f->out, &ol, f->msg, (int)len) || !EVP_CipherFinal_ex(f->aead, f->out + ol, &fl))
		return fail("AES-GCM");
	return 0;
}

static int setup(floor_ctx *f)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	OSSL_PARAM p[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0), OSSL_PARAM_construct_end() };
	uint8_t k[32] = { 1 };
	f->hmac = mac ? EVP_MAC_CTX_new(mac) : NULL;
	EVP_MAC_free(mac);
	if (!f->hmac || !EVP_MAC_init(f->hmac, k, sizeof(k), p))
		return fail("HMAC-SHA-256 fetch");
	uint8_t u9[32] = { 9 };
	f->kgen = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
	f->kimp = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
	f->base = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, u9, 32);
	if (!f->kgen || EVP_PKEY_keygen_init(f->kgen) <= 0 || !f->kimp || EVP_PKEY_fromdata_init(f->kimp) <= 0 || !f->base)
		return fail("X25519 fetch");
	f->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	f->wrap = EVP_CIPHER_fetch(NULL, "AES-256-ECB", NULL);
	f->aead = EVP_CIPHER_CTX_new();
	f->kw = EVP_CIPHER_CTX_new();
	if (!f->gcm || !f->wrap || !f->aead || !f->kw)
		return fail("AES-256-GCM / AES-256-ECB fetch");
	/* the member's public value, and a pair of keys for the `openssl speed` derivation */
	EVP_PKEY *a = NULL, *b = NULL;
	size_t pl = 32;
	if (EVP_PKEY_keygen(f->kgen, &a) <= 0 || EVP_PKEY_keygen(f->kgen, &b) <= 0 ||
	    !EVP_PKEY_get_raw_public_key(b, f->peer_pub, &pl) || !(f->peer = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, f->peer_pub, 32)))
		return fail("X25519 key generation");
	g_speed_derive = EVP_PKEY_CTX_new_from_pkey(NULL, a, NULL);
	if (!g_speed_derive || EVP_PKEY_derive_init(g_speed_derive) <= 0 || EVP_PKEY_derive_set_peer(g_speed_derive, b) <= 0)
		return fail("X25519 derivation");
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	for (size_t i = 0; i < sizeof(f->msg); i++)
		f->msg[i] = (uint8_t)(i * 131 + 7);
	for (size_t i = 0; i < sizeof(g_psk); i++)
		g_psk[i] = (uint8_t)(i + 1);
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: bench_floor [--seconds S] [--init-req N] [--init-resp N] [--auth-req N] [--auth-resp N]\n"
	      "                   [--nonce N] [--id-i N] [--id-r N] [--psk N] [--tek N] [--kek N]\n"
	      "                   [--dh-reuse N]\n"
	      "Sizes in octets: the IKE_SA_INIT and GSA_AUTH datagrams (request, response), the\n"
	      "nonces, the ID payload bodies, the PSK, the TEK's and the KEK's keying material.\n"
	      "--dh-reuse N: one X25519 key pair serves N registrations (gcksd --dh-reuse N).\n", f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },   { "init-req", required_argument, NULL, 1 },
		{ "init-resp", required_argument, NULL, 2 },   { "auth-req", required_argument, NULL, 3 },
		{ "auth-resp", required_argument, NULL, 4 },   { "nonce", required_argument, NULL, 5 },
		{ "id-i", required_argument, NULL, 6 },        { "id-r", required_argument, NULL, 7 },
		{ "psk", required_argument, NULL, 8 },         { "tek", required_argument, NULL, 9 },
		{ "kek", required_argument, NULL, 10 },        { "dh-reuse", required_argument, NULL, 11 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static floor_ctx F;
	floor_ctx *f = &F;
	double seconds = 3;
	/* defaults: the sizes of test/bench/run.sh's group (GSA_AUTH request and response as the
	 * registration benchmark sees them, TEK AES-GCM-256 ESP: 36, KEK with KW-256: 68) */
	f->dh_reuse = 1;
	f->z = (sizes){ .init_req = 300, .init_resp = 300, .auth_req = 400, .auth_resp = 700, .nonce = 32,
			.id_i = 30, .id_r = 16, .psk = 38, .tek = 36, .kek = 68 };
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		size_t v = optarg ? strtoul(optarg, NULL, 10) : 0;
		switch (c) {
		case 's': seconds = atof(optarg); break;
		case 1: f->z.init_req = v; break;
		case 2: f->z.init_resp = v; break;
		case 3: f->z.auth_req = v; break;
		case 4: f->z.auth_resp = v; break;
		case 5: f->z.nonce = v; break;
		case 6: f->z.id_i = v; break;
		case 7: f->z.id_r = v; break;
		case 8: f->z.psk = v; break;
		case 9: f->z.tek = v; break;
		case 10: f->z.kek = v; break;
		case 11: f->dh_reuse = (unsigned)v; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	const sizes *z = &f->z;
	if (optind != argc || seconds <= 0 || z->init_req > 4096 || z->init_resp > 4096 || z->auth_req > 4096 ||
	    z->auth_resp > 4096 || z->nonce < 16 || z->nonce > 256 || z->id_i > 256 || z->id_r > 256 || !z->psk ||
	    z->psk > sizeof(g_psk) || !z->tek || z->tek > 256 || !z->kek || z->kek > 256 || !f->dh_reuse ||
	    f->dh_reuse > 1000000) {
		usage(stderr);
		return 2;
	}
	if (setup(f))
		return 1;
	/* a first pass outside the clock: lazy initialization inside OpenSSL */
	if (one_registration(f, g_psk))
		return 1;
	unsigned long n = 0;
	double part = seconds / 8;
	size_t gl = inner(z->auth_resp, 700);
	double reg = time_us(f, s_reg, NULL, seconds, &n);
	double keygen = time_us(f, s_keygen, NULL, part, NULL), kex = time_us(f, s_kex, NULL, part, NULL);
	double keys = time_us(f, s_keys, NULL, part, NULL), auth = time_us(f, s_auth, NULL, part, NULL);
	double gseal = time_us(f, s_gcm_pair, NULL, part, NULL);
	double kw = time_us(f, s_wraps, NULL, part, NULL);
	double sx = time_us(f, s_speed_x25519, NULL, part, NULL), sh = time_us(f, s_speed_hmac, NULL, part, NULL);
	if (EVP_CipherInit_ex2(f->aead, f->gcm, g_key, NULL, 1, NULL) != 1)
		return fail("AES-GCM") ? 1 : 1;
	double sg = time_us(f, s_speed_gcm, &gl, part, NULL);
	if (reg < 0 || keygen < 0 || kex < 0 || keys < 0 || auth < 0 || gseal < 0 || kw < 0 || sx < 0 ||
	    sh < 0 || sg < 0)
		return 1;
	printf("floor: %.1f us per registration (GCKS side, %s, %lu registrations in %.1f s of CPU",
	       reg, OpenSSL_version(OPENSSL_VERSION), n, reg * (double)n / 1e6);
	if (f->dh_reuse > 1)
		printf(", one X25519 key pair per %u registrations", f->dh_reuse);
	printf(")\n");
	printf("floor sizes: IKE_SA_INIT %zu/%zu, GSA_AUTH %zu/%zu octets, nonces %zu, IDi %zu, IDr %zu, PSK %zu, "
	       "TEK %zu, KEK %zu\n", z->init_req, z->init_resp, z->auth_req, z->auth_resp, z->nonce, z->id_i, z->id_r,
	       z->psk, z->tek, z->kek);
	if (f->dh_reuse > 1)
		printf("floor part: X25519 key pair + public value         %6.1f us  (1/%u: %.2f us)\n", keygen, f->dh_reuse,
		       keygen / f->dh_reuse);
	else
		printf("floor part: X25519 key pair + public value         %6.1f us  (1)\n", keygen);
	printf("floor part: X25519 shared secret (peer key, derive)  %6.1f us  (1)\n", kex - keygen);
	printf("floor part: SKEYSEED + prf+ 168 octets + GSK_w        %6.1f us  (8 HMAC-SHA-256)\n", keys);
	printf("floor part: PSK AUTH check + PSK AUTH of ours         %6.1f us  (6 HMAC-SHA-256)\n", auth);
	printf("floor part: AES-GCM-256 open %zu + seal %zu octets      %6.1f us\n", inner(z->auth_req, 400), gl, gseal);
	printf("floor part: AES-256 key wrap %zu + %zu octets (RFC 5649) %6.1f us  (2)\n", z->tek, z->kek, kw);
	printf("floor part: sum of the parts                          %6.1f us\n",
	       kex - keygen + keygen / f->dh_reuse + keys + auth + gseal + kw);
	printf("speed x25519: %.2f us per derivation\n", sx);
	printf("speed hmac-sha256-64: %.3f us per 64-octet HMAC\n", sh);
	printf("speed aes-256-gcm-%zu: %.3f us per message\n", gl, sg);
	EVP_PKEY_CTX_free(f->dh_derive);
	EVP_PKEY_free(f->dh_key);
	EVP_PKEY_free(f->peer);
	EVP_PKEY_CTX_free(g_speed_derive);
	EVP_PKEY_CTX_free(f->kgen);
	EVP_PKEY_CTX_free(f->kimp);
	EVP_PKEY_free(f->base);
	EVP_MAC_CTX_free(f->hmac);
	EVP_CIPHER_CTX_free(f->aead);
	EVP_CIPHER_CTX_free(f->kw);
	EVP_CIPHER_free(f->gcm);
	EVP_CIPHER_free(f->wrap);
	return 0;
}
