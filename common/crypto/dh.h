/* Key exchange methods (Transform Type 4): MODP 14/15/16, ECP 19/20/21, Curve25519, Curve448.
 * Public values use IKEv2 encodings (RFC 7296 3.4, RFC 5903, RFC 8031); a peer's value is
 * checked as RFC 6989 asks before use. */
#ifndef GK_DH_H
#define GK_DH_H

#include "chunk.h"

typedef struct gk_dh gk_dh; /* owns an EVP_PKEY private key */

bool gk_dh_supported(uint16_t group);
size_t gk_dh_public_len(uint16_t group);
/* Generates a fresh key pair (GK_E_UNSUPPORTED for a group not listed above). */
gk_status gk_dh_new(uint16_t group, gk_dh **out);
uint16_t gk_dh_group(const gk_dh *dh);
/* Appends our public value in IKE encoding. */
gk_status gk_dh_public(const gk_dh *dh, gk_wbuf *out);
/* Appends the shared secret (MODP: padded to the prime's length; ECP: x coordinate).
 * A peer value that fails RFC 6989 checks yields GK_E_BAD_KE and nothing is appended. */
gk_status gk_dh_derive(const gk_dh *dh, gk_chunk peer_public, gk_wbuf *shared);
void gk_dh_free(gk_dh *dh);
/* A second handle on dh's key pair, the same private value (reused as RFC 7296 2.12 allows);
 * every handle goes with gk_dh_free, the private value with the last one. */
gk_status gk_dh_share(const gk_dh *dh, gk_dh **out);

/* Test-only: a key pair from a known private value, for known-answer tests.
 * priv is big-endian for MODP and ECP (at most the prime/order length), raw 32/56 octets for
 * Curve25519/Curve448 (RFC 7748). GK_E_INVAL for a value out of range.
 * Never use it for keys in service: fresh keys come from gk_dh_new. */
gk_status gk_dh_new_from_private(uint16_t group, gk_chunk priv, gk_dh **out);

#endif
