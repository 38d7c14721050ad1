/* IKE SA keying (RFC 7296 2.14), G-IKEv2 default key wrap key (RFC 9838 3.1.1) and
 * the splitting of group SA keying material (RFC 9838 3.4). */
#ifndef GK_IKEKEYS_H
#define GK_IKEKEYS_H

#include "chunk.h"
#include "iana.h"

#define GK_MAX_KEY 64     /* PRF and INTEG keys: HMAC-SHA2-512 (RFC 4868) */
#define GK_MAX_ENC_KEY 36 /* ENCR key and salt: a 256-bit key + 4 (RFC 5282 7.1, RFC 7634 2) */
#define GK_MAX_KWK 32     /* GSK_w: KW_5649_256 */

/* The negotiated algorithms of an IKE SA. */
typedef struct gk_ike_suite {
	uint16_t encr, encr_key_bits, prf, integ, ke, kwa; /* integ 0 for AEAD, kwa 0 if none */
	/* RFC 9370 2.2.1: the method chosen for Additional Key Exchange i+1 (GK_KE_NONE: none), and
	 * which of the seven types the proposal carried (bit i), so the answer names each of them */
	uint16_t addke[GK_ADDKE_MAX];
	uint8_t addke_present;
} gk_ike_suite;

/* All keys of one IKE SA. Owns its arrays; gk_ike_keys_wipe() clears them. Each array is as long
 * as the longest key of its kind (every IKE SA holds one for its life). */
typedef struct gk_ike_keys {
	gk_ike_suite suite;
	uint8_t sk_d[GK_MAX_KEY], sk_ai[GK_MAX_KEY], sk_ar[GK_MAX_KEY];
	uint8_t sk_ei[GK_MAX_ENC_KEY], sk_er[GK_MAX_ENC_KEY], sk_pi[GK_MAX_KEY], sk_pr[GK_MAX_KEY];
	uint8_t gsk_w[GK_MAX_KWK];
	size_t d_len, a_len, e_len, p_len, w_len; /* e_len includes salt */
} gk_ike_keys;

/* SKEYSEED = prf(Ni | Nr, g^ir); {SK_d|SK_ai|SK_ar|SK_ei|SK_er|SK_pi|SK_pr} =
 * prf+(SKEYSEED, Ni | Nr | SPIi | SPIr); GSK_w = prf+(SK_d, "Key Wrap for G-IKEv2") when
 * suite->kwa is set. */
gk_status gk_ike_keys_derive(gk_ike_keys *k, const gk_ike_suite *suite, gk_chunk ni, gk_chunk nr,
			     gk_chunk shared, uint64_t spi_i, uint64_t spi_r);
/* The keys of a rekeyed IKE SA (RFC 7296 2.18): SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
 * with the old SA's PRF (old->suite.prf), then prf+ and GSK_w as above with the new suite and
 * the new SPIs. Ni and Nr are the nonces of the CREATE_CHILD_SA exchange. */
gk_status gk_ike_keys_rekey(gk_ike_keys *k, const gk_ike_suite *suite, const gk_ike_keys *old, gk_chunk ni,
			    gk_chunk nr, gk_chunk shared, uint64_t spi_i, uint64_t spi_r);
void gk_ike_keys_wipe(gk_ike_keys *k);

/* Octets of keying material a group SA needs (RFC 9838 3.4): for ESP/AH the ENCR key (+salt)
 * then the INTEG key; for GIKE_UPDATE also the KWA key (GSK_e | GSK_a | GSK_w). */
size_t gk_group_keymat_len(uint8_t proto, uint16_t encr, uint16_t encr_key_bits, uint16_t integ,
			   uint16_t kwa);

/* Views into a group SA's keying material; they point into the keymat passed in. */
typedef struct gk_group_keys {
	gk_chunk enc, integ, wrap;
} gk_group_keys;
gk_status gk_group_keys_split(gk_chunk keymat, uint8_t proto, uint16_t encr, uint16_t encr_key_bits,
			      uint16_t integ, uint16_t kwa, gk_group_keys *out);

/* Key length in octets of a KWA transform (KW_5649_128 -> 16 ...), 0 if unknown. */
size_t gk_kwa_key_len(uint16_t kwa);

#endif
