/* Transform property tables. Sizes come from the RFC defining each transform for IKEv2:
 * AES-CBC RFC 3602, AES-CTR RFC 5930, AES-GCM RFC 5282, ChaCha20-Poly1305 RFC 7634,
 * implicit IV RFC 8750, AES-GMAC RFC 4543, HMAC-SHA1-96 RFC 2404, AES-XCBC-96 RFC 3566,
 * AES-CMAC-96 RFC 4494, HMAC-SHA2 RFC 4868, PRFs RFC 7296 / RFC 4434 / RFC 4615. */
#include <stddef.h>
#include "algs.h"
#include "iana.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* AES takes a mandatory Key Length attribute (default_key_bits 0 = no default). */
static const gk_encr_info encr_table[] = {
	{ .id = GK_ENCR_AES_CBC, .key_length_attr = true, .iv_len = 16, .block_len = 16 },
	{ .id = GK_ENCR_AES_CTR, .counter_mode = true, .key_length_attr = true,
	  .salt_len = 4, .iv_len = 8, .block_len = 1 },
	{ .id = GK_ENCR_AES_GCM_8, .aead = true, .counter_mode = true, .key_length_attr = true,
	  .salt_len = 4, .iv_len = 8, .block_len = 1, .icv_len = 8 },
	{ .id = GK_ENCR_AES_GCM_12, .aead = true, .counter_mode = true, .key_length_attr = true,
	  .salt_len = 4, .iv_len = 8, .block_len = 1, .icv_len = 12 },
	{ .id = GK_ENCR_AES_GCM_16, .aead = true, .counter_mode = true, .key_length_attr = true,
	  .salt_len = 4, .iv_len = 8, .block_len = 1, .icv_len = 16 },
	{ .id = GK_ENCR_CHACHA20_POLY1305, .aead = true, .counter_mode = true,
	  .default_key_bits = 256, .salt_len = 4, .iv_len = 8, .block_len = 1, .icv_len = 16 },
	/* RFC 8750: the IV is not carried in the packet. Listed so policy code can refuse them. */
	{ .id = GK_ENCR_AES_GCM_16_IIV, .aead = true, .counter_mode = true, .implicit_iv = true,
	  .key_length_attr = true, .salt_len = 4, .iv_len = 0, .block_len = 1, .icv_len = 16 },
	{ .id = GK_ENCR_CHACHA20_POLY1305_IIV, .aead = true, .counter_mode = true,
	  .implicit_iv = true, .default_key_bits = 256, .salt_len = 4, .iv_len = 0,
	  .block_len = 1, .icv_len = 16 },
	/* RFC 4543: authentication only, so not an AEAD for confidentiality purposes, but it
	 * still carries its 16-octet GMAC tag (the kernel needs it) and is ESP-only. */
	{ .id = GK_ENCR_NULL_AUTH_AES_GMAC, .counter_mode = true, .key_length_attr = true,
	  .salt_len = 4, .iv_len = 8, .block_len = 1, .icv_len = 16 },
};

static const gk_integ_info integ_table[] = {
	{ .id = GK_INTEG_HMAC_SHA1_96, .key_len = 20, .icv_len = 12 },
	{ .id = GK_INTEG_AES_XCBC_96, .key_len = 16, .icv_len = 12 },
	{ .id = GK_INTEG_AES_CMAC_96, .key_len = 16, .icv_len = 12 },
	{ .id = GK_INTEG_HMAC_SHA2_256_128, .key_len = 32, .icv_len = 16 },
	{ .id = GK_INTEG_HMAC_SHA2_384_192, .key_len = 48, .icv_len = 24 },
	{ .id = GK_INTEG_HMAC_SHA2_512_256, .key_len = 64, .icv_len = 32 },
};

static const gk_prf_info prf_table[] = {
	{ .id = GK_PRF_HMAC_SHA1, .key_len = 20, .out_len = 20 },
	{ .id = GK_PRF_AES128_XCBC, .key_len = 16, .out_len = 16 },
	{ .id = GK_PRF_HMAC_SHA2_256, .key_len = 32, .out_len = 32 },
	{ .id = GK_PRF_HMAC_SHA2_384, .key_len = 48, .out_len = 48 },
	{ .id = GK_PRF_HMAC_SHA2_512, .key_len = 64, .out_len = 64 },
	{ .id = GK_PRF_AES128_CMAC, .key_len = 16, .out_len = 16 },
};

const gk_encr_info *gk_encr_lookup(uint16_t id)
{
	for (size_t i = 0; i < ARRAY_LEN(encr_table); i++)
		if (encr_table[i].id == id)
			return &encr_table[i];
	return NULL;
}

const gk_integ_info *gk_integ_lookup(uint16_t id)
{
	for (size_t i = 0; i < ARRAY_LEN(integ_table); i++)
		if (integ_table[i].id == id)
			return &integ_table[i];
	return NULL;
}

const gk_prf_info *gk_prf_lookup(uint16_t id)
{
	for (size_t i = 0; i < ARRAY_LEN(prf_table); i++)
		if (prf_table[i].id == id)
			return &prf_table[i];
	return NULL;
}

bool gk_encr_key_bits_ok(const gk_encr_info *e, uint16_t key_bits)
{
	if (!e)
		return false;
	if (e->key_length_attr)
		return key_bits == 128 || key_bits == 192 || key_bits == 256;
	/* Fixed-size key: the attribute must be absent (RFC 7296 3.3.5); a peer that states the
	 * one valid size anyway is tolerated. */
	return key_bits == 0 || key_bits == e->default_key_bits;
}

size_t gk_encr_keymat_len(const gk_encr_info *e, uint16_t key_bits)
{
	if (!e)
		return 0;
	if (key_bits == 0)
		key_bits = e->default_key_bits;
	if (key_bits == 0 || !gk_encr_key_bits_ok(e, key_bits))
		return 0; /* no default for this transform, or an invalid size */
	return key_bits / 8u + e->salt_len;
}
