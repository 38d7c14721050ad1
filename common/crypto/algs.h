/* Properties of the IKEv2 transforms gikev2 implements: key, IV, salt and ICV sizes.
 * Used by the SK payload code, IKE keying, GSA validation and the kernel SA sink alike. */
#ifndef GK_ALGS_H
#define GK_ALGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gk_encr_info {
	uint16_t id;          /* GK_ENCR_* */
	bool aead;
	bool counter_mode;    /* needs unique IV per sender: CTR, GCM, CCM, ChaCha20 (RFC 6054) */
	bool implicit_iv;     /* RFC 8750 transforms: not allowed for group SAs (g-ikev2 2.7) */
	bool key_length_attr; /* transform carries a Key Length attribute */
	uint16_t default_key_bits; /* when no Key Length attribute is needed/given */
	size_t salt_len;      /* octets of keying material after the key (GCM/CCM/ChaCha: 4, CTR: 4) */
	size_t iv_len;        /* explicit IV in the packet */
	size_t block_len;     /* padding granularity of the SK payload */
	size_t icv_len;       /* AEAD tag length, 0 for non-AEAD */
} gk_encr_info;

typedef struct gk_integ_info {
	uint16_t id;          /* GK_INTEG_* */
	size_t key_len;
	size_t icv_len;       /* truncated output length */
} gk_integ_info;

typedef struct gk_prf_info {
	uint16_t id;          /* GK_PRF_* */
	size_t key_len;       /* preferred key length (RFC 7296 2.13/2.14) */
	size_t out_len;
} gk_prf_info;

/* NULL when the transform is not implemented. */
const gk_encr_info *gk_encr_lookup(uint16_t id);
const gk_integ_info *gk_integ_lookup(uint16_t id);
const gk_prf_info *gk_prf_lookup(uint16_t id);

/* Is key_bits a valid Key Length for this ENCR (0 = attribute absent)? */
bool gk_encr_key_bits_ok(const gk_encr_info *e, uint16_t key_bits);
/* Octets of keying material this ENCR takes: key + salt. key_bits 0 = default. */
size_t gk_encr_keymat_len(const gk_encr_info *e, uint16_t key_bits);

#endif
