/* Key wrapping for G-IKEv2 (RFC 9838 4.5.4): AES Key Wrap with Padding (RFC 5649) under
 * KW_5649_128/192/256, and the Wrapped Key format (Key ID | KWK ID | Encrypted Key). */
#ifndef GK_KEYWRAP_H
#define GK_KEYWRAP_H

#include "chunk.h"

#define GK_WRAP_MAX_KEY 256 /* RFC 9838 4.4.2.1.2: algorithms wrap up to 256 octets */

bool gk_kwa_supported(uint16_t kwa);
/* Errors of the calls below: GK_E_UNSUPPORTED for a KWA not implemented (KW_ARX), GK_E_INVAL for
 * a KEK whose length is not the KWA's (16/24/32) or an empty key, GK_E_TOO_BIG past
 * GK_WRAP_MAX_KEY. On any error nothing is appended. */
/* Appends the RFC 5649 wrapping of key under kek (kek length must match the KWA). */
gk_status gk_kw_wrap(uint16_t kwa, gk_chunk kek, gk_chunk key, gk_wbuf *out);
/* Appends the unwrapped key; GK_E_INTEGRITY if the integrity check fails (nothing appended),
 * GK_E_MALFORMED if wrapped is not whole 8-octet blocks, at least two. */
gk_status gk_kw_unwrap(uint16_t kwa, gk_chunk kek, gk_chunk wrapped, gk_wbuf *out);

/* Wrapped Key format: appends Key ID | KWK ID | wrap(kwk, key). */
gk_status gk_wrapped_key_build(uint16_t kwa, gk_chunk kwk, uint32_t key_id, uint32_t kwk_id,
			       gk_chunk key, gk_wbuf *out);
/* A KWK set up once for the wraps of one message (RFC 9838 4.5.4: a registration's Rekey SA
 * and TEK keys both go under GSK_w): one AES key schedule for all of them instead of one a wrap.
 * Zero = nothing set up; gk_kw_wrapper_clear wipes the key schedule (call it also after a
 * failed init). */
typedef struct gk_kw_wrapper {
	struct evp_cipher_ctx_st *ctx; /* AES-ECB under the KWK */
} gk_kw_wrapper;
gk_status gk_kw_wrapper_init(gk_kw_wrapper *w, uint16_t kwa, gk_chunk kwk);
void gk_kw_wrapper_clear(gk_kw_wrapper *w);
/* Octets of the Wrapped Key format of a key of key_len octets (1 .. GK_WRAP_MAX_KEY). */
size_t gk_wrapped_key_len(size_t key_len);
/* gk_wrapped_key_build under w into out (gk_wrapped_key_len(key.len) octets; wiped on error). */
gk_status gk_kw_wrapper_build(gk_kw_wrapper *w, uint32_t key_id, uint32_t kwk_id, gk_chunk key, uint8_t *out);
/* Reads the IDs without unwrapping, e.g. to pick the KWK named by KWK ID before opening.
 * GK_E_MALFORMED when value is shorter than 8 + 16 octets. */
gk_status gk_wrapped_key_ids(gk_chunk value, uint32_t *key_id, uint32_t *kwk_id);
/* Splits an attribute value into its IDs and unwraps the key into out.
 * GK_E_MALFORMED when value is shorter than 8 + 16 octets; the IDs are set only on success. */
gk_status gk_wrapped_key_open(uint16_t kwa, gk_chunk kwk, gk_chunk value, uint32_t *key_id,
			      uint32_t *kwk_id, gk_wbuf *out);

#endif
