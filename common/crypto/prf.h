/* IKEv2 pseudo-random functions and prf+ (RFC 7296 2.13), via OpenSSL 3 EVP_MAC. */
#ifndef GK_PRF_H
#define GK_PRF_H

#include <openssl/evp.h>
#include "chunk.h"

/* out must hold gk_prf_lookup(prf)->out_len octets. Data is the concatenation of parts.
 * AES-XCBC/CMAC PRFs take keys of any length as RFC 4434/4615 say. */
gk_status gk_prf(uint16_t prf, gk_chunk key, const gk_chunk *parts, size_t nparts, uint8_t *out);
/* prf+(K, S) = T1 | T2 | ... ; fails with GK_E_INVAL beyond 255 iterations. */
gk_status gk_prf_plus(uint16_t prf, gk_chunk key, const gk_chunk *seed, size_t nseed,
		      uint8_t *out, size_t outlen);

/* SHA-1 and SHA-256 fetched once per process, for EVP_Digest and the like (EVP_sha1() and
 * EVP_sha256() make OpenSSL 3 look the digest up by name at every use). NULL when the default
 * provider lacks it. */
const EVP_MD *gk_md_sha1(void);
const EVP_MD *gk_md_sha256(void);

#endif
