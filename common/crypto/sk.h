/* Encrypted payload (SK, RFC 7296 3.14) and Encrypted Fragment (SKF, RFC 7383) protection.
 * AEAD transforms per RFC 5282 (AES-GCM) and RFC 7634 (ChaCha20-Poly1305). */
#ifndef GK_SK_H
#define GK_SK_H

#include "chunk.h"
#include "rand.h"

/* One direction's keys. Does not own enc/integ (they point into gk_ike_keys or a group keymat). */
typedef struct gk_sk_keys {
	uint16_t encr, encr_key_bits, integ;
	gk_chunk enc;   /* key then salt, as taken from keying material */
	gk_chunk integ_key;
	/* With a counter-mode cipher (AES-CTR, AES-GCM, ChaCha20-Poly1305), the counter the explicit
	 * IV is taken from (and advanced) instead of the generator; NULL: random IVs. Only for a key
	 * that one sender uses alone (an IKE SA's outbound SK_e, RFC 7296 2.14: each direction has
	 * its own), never for a key several senders share (a Rekey SA's, RFC 9838). */
	uint32_t *iv_next;
} gk_sk_keys;

/* Octets the protection adds around n octets of inner payloads (IV, padding, pad length, ICV). */
size_t gk_sk_overhead(const gk_sk_keys *k, size_t n);

/* msg holds the IKE header then payloads up to and including the SK (or SKF) header, which
 * starts at sk_off and ends at msg->len. Appends IV | ciphertext | ICV for `inner`, writes the
 * SK payload length (sk_off+2) and the IKE message length (offset 24), and computes the ICV
 * over the whole message (or uses header..SK header as AAD for AEAD). */
gk_status gk_sk_seal(const gk_sk_keys *k, const gk_rand *rnd, gk_wbuf *msg, size_t sk_off,
		     gk_chunk inner);

/* msg is a whole received message; the SK (or SKF) header of hdr_len octets starts at sk_off
 * and its payload runs to the end of msg. Verifies the ICV in constant time
 * (GK_E_INTEGRITY on mismatch), then appends the decrypted inner payloads to out. */
gk_status gk_sk_open(const gk_sk_keys *k, gk_chunk msg, size_t sk_off, size_t hdr_len, gk_wbuf *out);

/* The AEAD transform under the SK payload, exposed so tests can check it against published
 * vectors: key_salt is key | 4-octet salt, nonce = salt | iv (RFC 5282 4, RFC 7634 2).
 * ct/pt may equal the input; tag holds the transform's ICV length (gk_encr_info.icv_len).
 * gk_sk_aead_open fails with GK_E_INTEGRITY (and wipes pt) when the tag does not verify. */
gk_status gk_sk_aead_seal(uint16_t encr, gk_chunk key_salt, const uint8_t iv[8], gk_chunk aad,
			  gk_chunk pt, uint8_t *ct, uint8_t *tag);
gk_status gk_sk_aead_open(uint16_t encr, gk_chunk key_salt, const uint8_t iv[8], gk_chunk aad,
			  gk_chunk ct, gk_chunk tag, uint8_t *pt);

#endif
