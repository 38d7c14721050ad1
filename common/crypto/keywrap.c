/* RFC 5649 AES Key Wrap with Padding, and the RFC 9838 4.5.4 Wrapped Key format. Wrapping and
 * unwrapping (with its integrity check) are OpenSSL's RFC 5649 sections 4.1 and 4.2
 * (CRYPTO_128_wrap_pad, CRYPTO_128_unwrap_pad) over OpenSSL's AES-ECB: the same functions run
 * OpenSSL 3.0's wrap-pad ciphers, but those give them the portable C AES (AES_encrypt, about
 * 3,000 instructions a block) instead of AES-NI, and a registration wraps (the member unwraps)
 * two keys of 24-30 blocks each. KW_ARX is not implemented. */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/modes.h>
#include "keywrap.h"
#include "iana.h"

#define KW_SEMIBLOCK 8
/* RFC 5649: the key padded to 8 octets plus the 8-octet integrity block. */
#define KW_MAX_WRAPPED (GK_WRAP_MAX_KEY + KW_SEMIBLOCK)
#define WK_HEADER 8 /* Key ID | KWK ID */

/* The block ciphers, fetched once per process (an EVP_aes_xxx_ecb() getter makes OpenSSL 3 look
 * the algorithm up by name again at every EVP_CipherInit). */
static CRYPTO_ONCE fetch_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_CIPHER *ecb[3];

static void fetch_all(void)
{
	ecb[0] = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
	ecb[1] = EVP_CIPHER_fetch(NULL, "AES-192-ECB", NULL);
	ecb[2] = EVP_CIPHER_fetch(NULL, "AES-256-ECB", NULL);
	ERR_clear_error(); /* a cipher a provider lacks fails where it is used */
}

/* The block cipher of a KWA, with its KEK length; NULL when not implemented. */
static const EVP_CIPHER *kw_cipher(uint16_t kwa, size_t *kek_len)
{
	if (CRYPTO_THREAD_run_once(&fetch_once, fetch_all) != 1)
		return NULL;
	switch (kwa) {
	case GK_KWA_KW_5649_128:
		*kek_len = 16;
		return ecb[0];
	case GK_KWA_KW_5649_192:
		*kek_len = 24;
		return ecb[1];
	case GK_KWA_KW_5649_256:
		*kek_len = 32;
		return ecb[2];
	default:
		return NULL;
	}
}

bool gk_kwa_supported(uint16_t kwa)
{
	size_t kek_len;
	return kw_cipher(kwa, &kek_len) != NULL;
}

static gk_status kw_check(uint16_t kwa, gk_chunk kek)
{
	size_t kek_len = 0;
	if (!kw_cipher(kwa, &kek_len))
		return GK_E_UNSUPPORTED;
	return kek.ptr && kek.len == kek_len ? GK_OK : GK_E_INVAL;
}

/* The AES-ECB context under the RFC 3394 steps, and whether a block failed (block128_f has no
 * return value). */
typedef struct kw_ecb {
	EVP_CIPHER_CTX *ctx;
	bool failed;
} kw_ecb;

/* One AES block for CRYPTO_128_wrap and CRYPTO_128_unwrap (encrypting or decrypting as ctx was
 * made): EVP_Cipher, the cipher's own call without EVP_CipherUpdate's buffering (the input is
 * always one whole block). */
static void ecb_block(const unsigned char in[16], unsigned char out[16], const void *key)
{
	kw_ecb *e = (kw_ecb *)key; /* block128_f hands its key through as const */
	if (EVP_Cipher(e->ctx, out, in, 2 * KW_SEMIBLOCK) != 2 * KW_SEMIBLOCK)
		e->failed = true;
}

/* RFC 5649 4.1 wrap of key (1 .. GK_WRAP_MAX_KEY octets) into buf (the key padded to whole
 * semiblocks plus one): OpenSSL's own CRYPTO_128_wrap_pad (the AIV, the padding, one AES block
 * when the key fits one semiblock, else RFC 3394 2.2.1's W()), its blocks through ctx, AES-ECB
 * encrypting under the KEK. */
static gk_status kw_wrap_on(EVP_CIPHER_CTX *ctx, gk_chunk key, uint8_t *buf, size_t *out_len)
{
	const size_t padded = (key.len + KW_SEMIBLOCK - 1) / KW_SEMIBLOCK * KW_SEMIBLOCK;
	kw_ecb e = { ctx, false };
	size_t n = CRYPTO_128_wrap_pad(&e, NULL, buf, key.ptr, key.len, ecb_block);
	if (n != padded + KW_SEMIBLOCK || e.failed) {
		OPENSSL_cleanse(buf, padded + KW_SEMIBLOCK); /* the key is copied there first */
		return GK_E_CRYPTO;
	}
	*out_len = n;
	return GK_OK;
}

/* A context encrypting AES-ECB under kek (checked against the KWA by the caller); NULL when
 * OpenSSL cannot make it. */
static EVP_CIPHER_CTX *kw_ctx_new(const EVP_CIPHER *cipher, gk_chunk kek)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	/* no EVP_CIPHER_CTX_set_padding: EVP_Cipher takes whole blocks and never pads */
	if (c && EVP_EncryptInit_ex2(c, cipher, kek.ptr, NULL, NULL) != 1) {
		EVP_CIPHER_CTX_free(c);
		c = NULL;
	}
	return c;
}

static gk_status kw_wrap_ecb(const EVP_CIPHER *cipher, gk_chunk kek, gk_chunk key, uint8_t *buf, size_t *out_len)
{
	EVP_CIPHER_CTX *c = kw_ctx_new(cipher, kek);
	gk_status st = c ? kw_wrap_on(c, key, buf, out_len) : GK_E_CRYPTO;
	EVP_CIPHER_CTX_free(c); /* clears the key schedule */
	return st;
}

/* RFC 5649 4.2 unwrap of in (whole semiblocks, at least two, at most KW_MAX_WRAPPED octets)
 * into buf: OpenSSL's CRYPTO_128_unwrap_pad, which checks the AIV constant, the MLI against
 * the length and the zero padding (constant-time compares) and wipes buf when they fail. */
static gk_status kw_unwrap_ecb(const EVP_CIPHER *cipher, gk_chunk kek, gk_chunk in, uint8_t *buf, size_t *out_len)
{
	kw_ecb e = { EVP_CIPHER_CTX_new(), false };
	size_t n = 0;
	gk_status st = GK_E_NOMEM;
	if (!e.ctx)
		goto out;
	st = GK_E_CRYPTO;
	if (EVP_DecryptInit_ex2(e.ctx, cipher, kek.ptr, NULL, NULL) != 1)
		goto out;
	n = CRYPTO_128_unwrap_pad(&e, NULL, buf, in.ptr, in.len, ecb_block);
	if (e.failed)
		goto out;
	st = n ? GK_OK : GK_E_INTEGRITY;
	*out_len = n;
out:
	EVP_CIPHER_CTX_free(e.ctx); /* clears the key schedule */
	if (st)
		OPENSSL_cleanse(buf, KW_MAX_WRAPPED);
	return st;
}

static gk_status kw_wrap_raw(uint16_t kwa, gk_chunk kek, gk_chunk key, uint8_t *buf, size_t *n)
{
	/* RFC 5649 wraps 1 .. 2^32 octets; G-IKEv2 needs up to 256 (RFC 9838 4.4.2.1.2). */
	if (!key.ptr || key.len == 0)
		return GK_E_INVAL;
	if (key.len > GK_WRAP_MAX_KEY)
		return GK_E_TOO_BIG;
	size_t kek_len = 0;
	const EVP_CIPHER *cipher = kw_cipher(kwa, &kek_len);
	gk_status st = kw_check(kwa, kek);
	if (st)
		return st;
	return kw_wrap_ecb(cipher, kek, key, buf, n);
}

gk_status gk_kw_wrap(uint16_t kwa, gk_chunk kek, gk_chunk key, gk_wbuf *out)
{
	if (!out)
		return GK_E_INVAL;
	uint8_t buf[KW_MAX_WRAPPED];
	size_t n = 0;
	gk_status st = kw_wrap_raw(kwa, kek, key, buf, &n);
	if (!st) {
		gk_wbuf_put(out, buf, n);
		st = out->err;
	}
	return st;
}

gk_status gk_kw_unwrap(uint16_t kwa, gk_chunk kek, gk_chunk wrapped, gk_wbuf *out)
{
	if (!out || (wrapped.len && !wrapped.ptr))
		return GK_E_INVAL;
	gk_status st = kw_check(kwa, kek);
	if (st)
		return st;
	/* RFC 5649 output is whole semiblocks, at least two. */
	if (wrapped.len < 2 * KW_SEMIBLOCK || wrapped.len % KW_SEMIBLOCK)
		return GK_E_MALFORMED;
	if (wrapped.len > KW_MAX_WRAPPED)
		return GK_E_TOO_BIG;

	uint8_t buf[KW_MAX_WRAPPED];
	size_t n = 0, kek_len = 0;
	st = kw_unwrap_ecb(kw_cipher(kwa, &kek_len), kek, wrapped, buf, &n);
	if (!st && (n == 0 || n > GK_WRAP_MAX_KEY))
		st = GK_E_INTEGRITY;
	if (!st) {
		gk_wbuf_put(out, buf, n);
		st = out->err;
	}
	/* A failed check is the peer's doing, not an OpenSSL fault worth its error queue. */
	if (st == GK_E_INTEGRITY)
		ERR_clear_error();
	OPENSSL_cleanse(buf, sizeof(buf));
	return st;
}

gk_status gk_wrapped_key_build(uint16_t kwa, gk_chunk kwk, uint32_t key_id, uint32_t kwk_id,
			       gk_chunk key, gk_wbuf *out)
{
	if (!out)
		return GK_E_INVAL;
	/* Wrap first, so that nothing is appended when wrapping fails. */
	uint8_t buf[WK_HEADER + KW_MAX_WRAPPED];
	size_t n = 0;
	gk_status st = kw_wrap_raw(kwa, kwk, key, buf + WK_HEADER, &n);
	if (st)
		return st;
	gk_put_u32(buf, key_id);
	gk_put_u32(buf + 4, kwk_id);
	gk_wbuf_put(out, buf, WK_HEADER + n);
	return out->err;
}

gk_status gk_kw_wrapper_init(gk_kw_wrapper *w, uint16_t kwa, gk_chunk kwk)
{
	size_t kek_len = 0;
	gk_status st = kw_check(kwa, kwk);
	w->ctx = NULL;
	if (st)
		return st;
	w->ctx = kw_ctx_new(kw_cipher(kwa, &kek_len), kwk);
	return w->ctx ? GK_OK : GK_E_CRYPTO;
}

void gk_kw_wrapper_clear(gk_kw_wrapper *w)
{
	EVP_CIPHER_CTX_free(w->ctx); /* clears the key schedule */
	w->ctx = NULL;
}

size_t gk_wrapped_key_len(size_t key_len)
{
	return WK_HEADER + (key_len + KW_SEMIBLOCK - 1) / KW_SEMIBLOCK * KW_SEMIBLOCK + KW_SEMIBLOCK;
}

gk_status gk_kw_wrapper_build(gk_kw_wrapper *w, uint32_t key_id, uint32_t kwk_id, gk_chunk key, uint8_t *out)
{
	size_t n = 0;
	if (!w->ctx || !out)
		return GK_E_INVAL;
	/* RFC 5649 wraps 1 .. 2^32 octets; G-IKEv2 needs up to 256 (RFC 9838 4.4.2.1.2). */
	if (!key.ptr || key.len == 0)
		return GK_E_INVAL;
	if (key.len > GK_WRAP_MAX_KEY)
		return GK_E_TOO_BIG;
	gk_status st = kw_wrap_on(w->ctx, key, out + WK_HEADER, &n);
	if (st)
		return st;
	gk_put_u32(out, key_id);
	gk_put_u32(out + 4, kwk_id);
	return GK_OK;
}

gk_status gk_wrapped_key_ids(gk_chunk value, uint32_t *key_id, uint32_t *kwk_id)
{
	if (value.len && !value.ptr)
		return GK_E_INVAL;
	if (value.len < WK_HEADER + 2 * KW_SEMIBLOCK)
		return GK_E_MALFORMED;
	if (key_id)
		*key_id = gk_get_u32(value.ptr);
	if (kwk_id)
		*kwk_id = gk_get_u32(value.ptr + 4);
	return GK_OK;
}

gk_status gk_wrapped_key_open(uint16_t kwa, gk_chunk kwk, gk_chunk value, uint32_t *key_id,
			      uint32_t *kwk_id, gk_wbuf *out)
{
	uint32_t kid = 0, wid = 0;
	gk_status st = gk_wrapped_key_ids(value, &kid, &wid);
	if (st)
		return st;
	st = gk_kw_unwrap(kwa, kwk, GK_CHUNK(value.ptr + WK_HEADER, value.len - WK_HEADER), out);
	if (st)
		return st;
	if (key_id)
		*key_id = kid;
	if (kwk_id)
		*kwk_id = wid;
	return GK_OK;
}
