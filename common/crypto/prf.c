/* IKEv2 PRFs and prf+ (RFC 7296 2.13); the digests fetched once and gk_digest's kept contexts.
 * HMAC and AES-CMAC come from OpenSSL's EVP_MAC. OpenSSL 3 has no AES-XCBC MAC, so it is
 * composed here from AES-128-ECB exactly as RFC 3566 section 4 describes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include "prf.h"
#include "algs.h"
#include "iana.h"

#define AES_BLOCK 16
#define PRF_MAX_OUT 64

/* AES-XCBC-MAC state (RFC 3566): k1 drives the CBC chain, k2/k3 whiten the last block.
 * The last (possibly full) block is kept in buf until final, since only then do we know
 * whether it is the last. */
typedef struct xcbc_ctx {
	EVP_CIPHER_CTX *k1;
	uint8_t k2[AES_BLOCK], k3[AES_BLOCK];
	uint8_t e[AES_BLOCK], buf[AES_BLOCK];
	size_t blen;
} xcbc_ctx;

/* A streaming PRF: EVP_MAC for HMAC/CMAC, xcbc_ctx for AES-XCBC. */
typedef struct prf_ctx {
	uint16_t prf;
	bool keyed; /* a key is set */
	bool dirty; /* something was hashed since the key or the last reset */
	EVP_MAC_CTX *mac;
	xcbc_ctx x;
} prf_ctx;

static const uint8_t zero_block[AES_BLOCK];

static bool aes_block(EVP_CIPHER_CTX *c, const uint8_t in[AES_BLOCK], uint8_t out[AES_BLOCK])
{
	int outl = 0;
	return EVP_EncryptUpdate(c, out, &outl, in, AES_BLOCK) == 1 && outl == AES_BLOCK;
}

/* OpenSSL 3 looks an algorithm up by name on every by-name fetch, and the EVP_xxx() getters and
 * a MAC's digest parameter fetch again on every use: per PRF computation that lookup cost more
 * than the hashing. So the algorithms are fetched once per process, and each PRF has a
 * template context with its digest or cipher already set (keyed with a fixed public key: an
 * unkeyed HMAC context cannot be duplicated); a computation duplicates the template and only
 * sets its own key, which fetches nothing. The templates hold no secret. */
enum { T_SHA1, T_SHA256, T_SHA384, T_SHA512, T_CMAC, T_COUNT };
static CRYPTO_ONCE fetch_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MAC_CTX *templates[T_COUNT];
static EVP_CIPHER *aes128_ecb;
static EVP_MD *sha1, *sha256;

static EVP_MAC_CTX *template_new(EVP_MAC *mac, const char *param, const char *alg)
{
	static const uint8_t public_key[AES_BLOCK]; /* CMAC takes exactly 16 octets */
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(param, (char *)alg, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	if (ctx && EVP_MAC_init(ctx, public_key, sizeof(public_key), params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

static void fetch_all(void)
{
	static const char *const digests[] = { "SHA1", "SHA2-256", "SHA2-384", "SHA2-512" };
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL), *cmac = EVP_MAC_fetch(NULL, "CMAC", NULL);
	for (size_t i = 0; i < 4; i++)
		templates[T_SHA1 + i] = template_new(hmac, OSSL_MAC_PARAM_DIGEST, digests[i]);
	templates[T_CMAC] = template_new(cmac, OSSL_MAC_PARAM_CIPHER, "AES-128-CBC");
	EVP_MAC_free(hmac); /* the templates hold their own references */
	EVP_MAC_free(cmac);
	aes128_ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
	sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	/* An algorithm a provider lacks (SHA-1 under FIPS) fails where it is used, not here. */
	ERR_clear_error();
}

static bool fetched(void)
{
	return CRYPTO_THREAD_run_once(&fetch_once, fetch_all) == 1;
}

const EVP_MD *gk_md_sha1(void)
{
	return fetched() ? sha1 : NULL;
}

const EVP_MD *gk_md_sha256(void)
{
	return fetched() ? sha256 : NULL;
}

/* gk_digest's kept contexts (SHA-1, SHA-256), freed as their thread ends by a tss destructor run
 * on that thread (the main thread's stay until the process exits). They hold no secret between
 * calls: gk_digest re-initialises one after hashing a secret. */
static _Thread_local EVP_MD_CTX *md_kept[2];
static once_flag md_tss_once = ONCE_FLAG_INIT;
static tss_t md_tss;
static bool md_tss_made;
static _Thread_local bool md_thread_kept;

static void md_kept_free(void *unused)
{
	(void)unused;
	for (size_t i = 0; i < 2; i++) {
		EVP_MD_CTX_free(md_kept[i]);
		md_kept[i] = NULL;
	}
	md_thread_kept = false;
}

static void md_tss_make(void)
{
	md_tss_made = tss_create(&md_tss, md_kept_free) == thrd_success;
}

/* The kept context for md on this thread, NULL when it cannot be kept (the caller hashes the slow
 * way). */
static EVP_MD_CTX *md_ctx_of(const EVP_MD *md)
{
	if (!md || (md != sha1 && md != sha256))
		return NULL;
	size_t i = md == sha1 ? 0 : 1;
	if (md_kept[i])
		return md_kept[i];
	if (!md_thread_kept) {
		call_once(&md_tss_once, md_tss_make);
		/* a non-NULL value, so that the destructor runs */
		if (!md_tss_made || tss_set(md_tss, &md_thread_kept) != thrd_success)
			return NULL;
		md_thread_kept = true;
	}
	return md_kept[i] = EVP_MD_CTX_new();
}

gk_status gk_digest(const EVP_MD *md, const void *data, size_t len, uint8_t *out, bool secret)
{
	unsigned int n = 0;
	if (!md)
		return GK_E_CRYPTO;
	EVP_MD_CTX *c = md_ctx_of(md);
	if (!c)
		return EVP_Digest(data, len, out, &n, md, NULL) == 1 ? GK_OK : GK_E_CRYPTO;
	/* the same digest again: OpenSSL re-initialises its state in place, nothing is allocated */
	bool ok = EVP_DigestInit_ex2(c, md, NULL) == 1 && EVP_DigestUpdate(c, data, len) == 1 &&
		  EVP_DigestFinal_ex(c, out, &n) == 1;
	/* the final chaining value is the digest; a failure may leave input in the block buffer.
	 * A context that cannot be set back is freed (OpenSSL wipes a digest's state as it frees it). */
	if ((secret || !ok) && EVP_DigestInit_ex2(c, md, NULL) != 1) {
		EVP_MD_CTX_free(c);
		md_kept[md == sha1 ? 0 : 1] = NULL;
		ok = false;
	}
	return ok ? GK_OK : GK_E_CRYPTO;
}

static EVP_CIPHER_CTX *aes128_ecb_new(const uint8_t key[AES_BLOCK])
{
	if (!fetched() || !aes128_ecb)
		return NULL;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (!c)
		return NULL;
	if (EVP_EncryptInit_ex2(c, aes128_ecb, key, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(c, 0) != 1) {
		EVP_CIPHER_CTX_free(c);
		return NULL;
	}
	return c;
}

static void xcbc_free(xcbc_ctx *x)
{
	EVP_CIPHER_CTX_free(x->k1); /* also cleanses the key schedule */
	OPENSSL_cleanse(x, sizeof(*x));
}

/* RFC 3566 4: K1 = E(K, 0x01..), K2 = E(K, 0x02..), K3 = E(K, 0x03..). key is 16 octets. */
static gk_status xcbc_init(xcbc_ctx *x, const uint8_t key[AES_BLOCK])
{
	uint8_t c1[AES_BLOCK], c2[AES_BLOCK], c3[AES_BLOCK], k1[AES_BLOCK];
	gk_status st = GK_E_CRYPTO;

	memset(x, 0, sizeof(*x));
	memset(c1, 0x01, sizeof(c1));
	memset(c2, 0x02, sizeof(c2));
	memset(c3, 0x03, sizeof(c3));
	EVP_CIPHER_CTX *kc = aes128_ecb_new(key);
	if (!kc)
		goto out;
	if (!aes_block(kc, c1, k1) || !aes_block(kc, c2, x->k2) || !aes_block(kc, c3, x->k3))
		goto out;
	x->k1 = aes128_ecb_new(k1);
	if (!x->k1)
		goto out;
	st = GK_OK;
out:
	EVP_CIPHER_CTX_free(kc);
	OPENSSL_cleanse(k1, sizeof(k1));
	if (st)
		xcbc_free(x);
	return st;
}

static void xor_block(uint8_t *dst, const uint8_t *src)
{
	for (size_t i = 0; i < AES_BLOCK; i++)
		dst[i] ^= src[i];
}

static gk_status xcbc_update(xcbc_ctx *x, const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (x->blen == AES_BLOCK) { /* more data follows, so buf is not the last block */
			xor_block(x->e, x->buf);
			if (!aes_block(x->k1, x->e, x->e))
				return GK_E_CRYPTO;
			x->blen = 0;
		}
		size_t take = AES_BLOCK - x->blen;
		if (take > n)
			take = n;
		memcpy(x->buf + x->blen, p, take);
		x->blen += take;
		p += take;
		n -= take;
	}
	return GK_OK;
}

static gk_status xcbc_final(xcbc_ctx *x, uint8_t out[AES_BLOCK])
{
	if (x->blen == AES_BLOCK) {
		xor_block(x->e, x->k2);
	} else { /* incomplete or empty: pad with 0x80 00.. and use K3 */
		x->buf[x->blen] = 0x80;
		memset(x->buf + x->blen + 1, 0, AES_BLOCK - x->blen - 1);
		xor_block(x->e, x->k3);
	}
	xor_block(x->e, x->buf);
	return aes_block(x->k1, x->e, out) ? GK_OK : GK_E_CRYPTO;
}

/* The template of an HMAC or CMAC PRF, -1 for the others. */
static int template_index(uint16_t prf)
{
	switch (prf) {
	case GK_PRF_HMAC_SHA1: return T_SHA1;
	case GK_PRF_HMAC_SHA2_256: return T_SHA256;
	case GK_PRF_HMAC_SHA2_384: return T_SHA384;
	case GK_PRF_HMAC_SHA2_512: return T_SHA512;
	case GK_PRF_AES128_CMAC: return T_CMAC;
	default: return -1;
	}
}

static bool is_hmac(uint16_t prf)
{
	return prf != GK_PRF_AES128_CMAC && template_index(prf) >= 0;
}

/* A new EVP_MAC context for an HMAC or CMAC PRF, still keyed with the template's public key:
 * prf_set_key gives it its key. */
static EVP_MAC_CTX *mac_new(uint16_t prf)
{
	int t = template_index(prf);
	if (t < 0 || !fetched() || !templates[t])
		return NULL;
	return EVP_MAC_CTX_dup(templates[t]);
}

/* Keys an EVP_MAC context (exactly 16 octets for CMAC). It keeps its digest or cipher and its
 * memory: OpenSSL only hashes the new key into the HMAC pads (RFC 2104) or schedules the AES
 * key, so a run of computations under different keys needs one context, not one each. */
static gk_status mac_key(EVP_MAC_CTX *mac, const uint8_t *key, size_t key_len)
{
	static const uint8_t empty_key[1];
	/* A NULL key would mean "keep the previous key" to OpenSSL: pass a real pointer. No
	 * parameters: the digest or cipher is the template's. */
	return EVP_MAC_init(mac, key_len ? key : empty_key, key_len, NULL) == 1 ? GK_OK : GK_E_CRYPTO;
}

static void prf_free(prf_ctx *c)
{
	EVP_MAC_CTX_free(c->mac);
	c->mac = NULL;
	if (c->prf == GK_PRF_AES128_XCBC)
		xcbc_free(&c->x);
	c->keyed = c->dirty = false;
}

static gk_status prf_update(prf_ctx *c, const uint8_t *p, size_t n)
{
	c->dirty = true;
	if (n == 0)
		return GK_OK;
	if (c->prf == GK_PRF_AES128_XCBC)
		return xcbc_update(&c->x, p, n);
	return EVP_MAC_update(c->mac, p, n) == 1 ? GK_OK : GK_E_CRYPTO;
}

/* out holds the PRF's out_len octets. */
static gk_status prf_final(prf_ctx *c, uint8_t *out, size_t out_len)
{
	c->dirty = true;
	if (c->prf == GK_PRF_AES128_XCBC)
		return xcbc_final(&c->x, out);
	size_t got = 0;
	if (EVP_MAC_final(c->mac, out, &got, out_len) != 1 || got != out_len)
		return GK_E_CRYPTO;
	return GK_OK;
}

/* Back to the state the key left, key kept, for the next computation (the next block of prf+);
 * nothing to do when nothing was hashed since. */
static gk_status prf_reset(prf_ctx *c)
{
	if (!c->keyed)
		return GK_E_STATE;
	if (!c->dirty)
		return GK_OK;
	if (c->prf == GK_PRF_AES128_XCBC) {
		memset(c->x.e, 0, sizeof(c->x.e));
		memset(c->x.buf, 0, sizeof(c->x.buf));
		c->x.blen = 0;
	} else if (EVP_MAC_init(c->mac, NULL, 0, NULL) != 1) {
		/* No key: OpenSSL restarts from the keyed state (RFC 2104's inner and outer pads). */
		return GK_E_CRYPTO;
	}
	c->dirty = false;
	return GK_OK;
}

static gk_status prf_init(prf_ctx *c, uint16_t prf, gk_chunk key);

/* The AES PRFs take any key length: RFC 4434 section 2 (XCBC: zero-pad a short key, a long
 * one becomes XCBC(0^128, K)) and RFC 4615 section 3 (CMAC: any key other than 16 octets
 * becomes CMAC(0^128, K)). k16 receives the 16-octet key actually used. */
static gk_status aes_prf_key(uint16_t prf, gk_chunk key, uint8_t k16[AES_BLOCK])
{
	if (key.len == AES_BLOCK) {
		memcpy(k16, key.ptr, AES_BLOCK);
		return GK_OK;
	}
	if (prf == GK_PRF_AES128_XCBC && key.len < AES_BLOCK) {
		memset(k16, 0, AES_BLOCK);
		if (key.len)
			memcpy(k16, key.ptr, key.len);
		return GK_OK;
	}
	prf_ctx c;
	gk_status st = prf_init(&c, prf, GK_CHUNK(zero_block, AES_BLOCK));
	if (!st)
		st = prf_update(&c, key.ptr, key.len);
	if (!st)
		st = prf_final(&c, k16, AES_BLOCK);
	prf_free(&c);
	return st;
}

/* Gives c (made by prf_init) a new key; the old key's state is overwritten. */
static gk_status prf_set_key(prf_ctx *c, gk_chunk key)
{
	c->keyed = c->dirty = false;
	if (key.len && !key.ptr)
		return GK_E_INVAL;
	gk_status st;
	if (is_hmac(c->prf)) {
		st = mac_key(c->mac, key.ptr, key.len);
	} else {
		uint8_t k16[AES_BLOCK];
		st = aes_prf_key(c->prf, key, k16);
		if (!st && c->prf == GK_PRF_AES128_XCBC) {
			xcbc_free(&c->x);
			st = xcbc_init(&c->x, k16);
		} else if (!st) {
			st = mac_key(c->mac, k16, sizeof(k16));
		}
		OPENSSL_cleanse(k16, sizeof(k16));
	}
	c->keyed = st == GK_OK;
	return st;
}

/* A context for prf keyed with key; prf_free releases it, also on failure. */
static gk_status prf_init(prf_ctx *c, uint16_t prf, gk_chunk key)
{
	memset(c, 0, sizeof(*c));
	if (!gk_prf_lookup(prf))
		return GK_E_UNSUPPORTED;
	c->prf = prf;
	if (prf != GK_PRF_AES128_XCBC && !(c->mac = mac_new(prf)))
		return GK_E_CRYPTO;
	return prf_set_key(c, key);
}

static gk_status prf_update_parts(prf_ctx *c, const gk_chunk *parts, size_t nparts)
{
	for (size_t i = 0; i < nparts; i++) {
		if (parts[i].len && !parts[i].ptr)
			return GK_E_INVAL;
		gk_status st = prf_update(c, parts[i].ptr, parts[i].len);
		if (st)
			return st;
	}
	return GK_OK;
}

/* prf(c's key, parts...) from the keyed state, whatever an earlier (perhaps failed) run left. */
static gk_status prf_run(prf_ctx *c, const gk_chunk *parts, size_t nparts, uint8_t *out)
{
	gk_status st = prf_reset(c);
	if (!st)
		st = prf_update_parts(c, parts, nparts);
	if (!st)
		st = prf_final(c, out, gk_prf_lookup(c->prf)->out_len);
	return st;
}

gk_status gk_prf(uint16_t prf, gk_chunk key, const gk_chunk *parts, size_t nparts, uint8_t *out)
{
	if (!gk_prf_lookup(prf))
		return GK_E_UNSUPPORTED;
	if (!out || (nparts && !parts))
		return GK_E_INVAL;

	prf_ctx c;
	gk_status st = prf_init(&c, prf, key);
	if (!st)
		st = prf_run(&c, parts, nparts, out);
	prf_free(&c);
	return st;
}

struct gk_prf_keyed {
	prf_ctx c;
};

gk_status gk_prf_keyed_new(uint16_t prf, gk_chunk key, gk_prf_keyed **out)
{
	*out = NULL;
	gk_prf_keyed *k = calloc(1, sizeof(*k));
	if (!k)
		return GK_E_NOMEM;
	gk_status st = prf_init(&k->c, prf, key);
	if (st) {
		prf_free(&k->c);
		free(k);
		return st;
	}
	*out = k;
	return GK_OK;
}

gk_status gk_prf_keyed_rekey(gk_prf_keyed *k, gk_chunk key)
{
	return k ? prf_set_key(&k->c, key) : GK_E_INVAL;
}

gk_status gk_prf_keyed_run(gk_prf_keyed *k, const gk_chunk *parts, size_t nparts, uint8_t *out)
{
	if (!k || !out || (nparts && !parts))
		return GK_E_INVAL;
	return prf_run(&k->c, parts, nparts, out);
}

uint16_t gk_prf_keyed_prf(const gk_prf_keyed *k)
{
	return k->c.prf;
}

size_t gk_prf_keyed_len(const gk_prf_keyed *k)
{
	return gk_prf_lookup(k->c.prf)->out_len;
}

void gk_prf_keyed_free(gk_prf_keyed *k)
{
	if (!k)
		return;
	prf_free(&k->c); /* EVP_MAC_CTX_free wipes the keyed state */
	free(k);
}

/* Seeds up to this long are hashed from a buffer on the stack, longer ones from the heap; an
 * IKE SA's seed Ni | Nr | SPIi | SPIr is at most 528 octets (RFC 7296 2.10, 2.14). */
#define PLUS_SEED_STACK 1024

/* T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), prf+ = T1 | T2 | ... (RFC 7296 2.13), on
 * one keyed context: each block starts again from the key's state. Tn-1 | S | n is one buffer,
 * so each block is one update: S is copied in once, each Tn lands just before it. */
static gk_status prf_plus_run(prf_ctx *c, const gk_chunk *seed, size_t nseed, uint8_t *out, size_t outlen)
{
	const gk_prf_info *info = gk_prf_lookup(c->prf);
	const size_t h = info->out_len;
	if (outlen > 255 * h)
		return GK_E_INVAL; /* the counter is one octet */
	if ((outlen && !out) || (nseed && !seed))
		return GK_E_INVAL;
	size_t slen = 0;
	for (size_t i = 0; i < nseed; i++) {
		if (seed[i].len && !seed[i].ptr)
			return GK_E_INVAL;
		if (seed[i].len > SIZE_MAX / 2 - slen - PRF_MAX_OUT)
			return GK_E_INVAL;
		slen += seed[i].len;
	}

	uint8_t stack[PRF_MAX_OUT + PLUS_SEED_STACK + 1];
	size_t blen = PRF_MAX_OUT + slen + 1;
	uint8_t *buf = slen <= PLUS_SEED_STACK ? stack : malloc(blen);
	if (!buf)
		return GK_E_NOMEM;
	uint8_t *s = buf + PRF_MAX_OUT, *t = s - h;
	for (size_t i = 0, at = 0; i < nseed; at += seed[i].len, i++)
		if (seed[i].len)
			memcpy(s + at, seed[i].ptr, seed[i].len);

	size_t done = 0;
	gk_status st = GK_OK;
	for (unsigned n = 1; done < outlen; n++) {
		const uint8_t *from = done ? t : s; /* T1 has no Tn-1 */
		s[slen] = (uint8_t)n;
		st = prf_reset(c);
		if (!st)
			st = prf_update(c, from, (size_t)(s + slen + 1 - from));
		if (!st)
			st = prf_final(c, t, h);
		if (st)
			break;
		size_t take = outlen - done < h ? outlen - done : h;
		memcpy(out + done, t, take);
		done += take;
	}
	OPENSSL_cleanse(buf, blen);
	if (buf != stack)
		free(buf);
	if (st && outlen)
		OPENSSL_cleanse(out, outlen);
	return st;
}

gk_status gk_prf_keyed_plus(gk_prf_keyed *k, const gk_chunk *seed, size_t nseed, uint8_t *out, size_t outlen)
{
	return k ? prf_plus_run(&k->c, seed, nseed, out, outlen) : GK_E_INVAL;
}

gk_status gk_prf_plus(uint16_t prf, gk_chunk key, const gk_chunk *seed, size_t nseed,
		      uint8_t *out, size_t outlen)
{
	const gk_prf_info *info = gk_prf_lookup(prf);
	if (!info)
		return GK_E_UNSUPPORTED;
	if (outlen > 255 * info->out_len)
		return GK_E_INVAL; /* the counter is one octet */
	if ((outlen && !out) || (nseed && !seed))
		return GK_E_INVAL;
	if (!outlen)
		return GK_OK;

	prf_ctx c;
	gk_status st = prf_init(&c, prf, key);
	if (!st)
		st = prf_plus_run(&c, seed, nseed, out, outlen);
	else
		OPENSSL_cleanse(out, outlen);
	prf_free(&c);
	return st;
}
