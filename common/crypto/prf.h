/* IKEv2 pseudo-random functions and prf+ (RFC 7296 2.13), via OpenSSL 3 EVP_MAC; and the
 * digests they rest on, fetched once (gk_md_*), with gk_digest hashing on a kept context per
 * thread (NAT detection, credential hashes). */
#ifndef GK_PRF_H
#define GK_PRF_H

#include <openssl/evp.h>
#include "chunk.h"

/* out must hold gk_prf_lookup(prf)->out_len octets. Data is the concatenation of parts.
 * AES-XCBC/CMAC PRFs take keys of any length as RFC 4434/4615 say. */
gk_status gk_prf(uint16_t prf, gk_chunk key, const gk_chunk *parts, size_t nparts, uint8_t *out);
/* A PRF keyed once and run many times under that key (a COOKIE secret, RFC 7296 2.6; the PSK
 * pad key of both AUTH payloads, 2.15): each run restarts from the keyed state, so it costs no
 * context allocation and no key schedule. Re-keyed, it serves a chain of computations under
 * changing keys (SKEYSEED, then prf+ under it, 2.14) with one OpenSSL context.
 * Owns its OpenSSL context; gk_prf_keyed_free wipes it. */
typedef struct gk_prf_keyed gk_prf_keyed;
gk_status gk_prf_keyed_new(uint16_t prf, gk_chunk key, gk_prf_keyed **out);
/* A new key (the AES PRFs' key rules apply as in gk_prf); the old key's state is overwritten.
 * After a failure the PRF runs nothing until a key is set again. */
gk_status gk_prf_keyed_rekey(gk_prf_keyed *k, gk_chunk key);
/* prf(key, parts...) into out (gk_prf_keyed_len(k) octets). */
gk_status gk_prf_keyed_run(gk_prf_keyed *k, const gk_chunk *parts, size_t nparts, uint8_t *out);
/* prf+(key, seed) as gk_prf_plus. */
gk_status gk_prf_keyed_plus(gk_prf_keyed *k, const gk_chunk *seed, size_t nseed, uint8_t *out, size_t outlen);
/* The PRF (a GK_PRF_* value) and its output length in octets. */
uint16_t gk_prf_keyed_prf(const gk_prf_keyed *k);
size_t gk_prf_keyed_len(const gk_prf_keyed *k);
void gk_prf_keyed_free(gk_prf_keyed *k);
/* prf+(K, S) = T1 | T2 | ... ; fails with GK_E_INVAL beyond 255 iterations. */
gk_status gk_prf_plus(uint16_t prf, gk_chunk key, const gk_chunk *seed, size_t nseed,
		      uint8_t *out, size_t outlen);

/* SHA-1 and SHA-256 fetched once per process, for EVP_Digest and the like (EVP_sha1() and
 * EVP_sha256() make OpenSSL 3 look the digest up by name at every use). NULL when the default
 * provider lacks it. */
const EVP_MD *gk_md_sha1(void);
const EVP_MD *gk_md_sha256(void);
/* The SHA-1 or SHA-256 digest (md is gk_md_sha1() or gk_md_sha256(); any other digest works the
 * slow way) of data into out (EVP_MD_get_size(md) octets). A one-shot EVP_Digest makes and frees
 * an EVP_MD_CTX on every call (about 1,000 instructions, more than SHA-1 takes for one block);
 * this runs on a context per digest and thread, kept for the thread's life (freed at its end).
 * With secret true the kept context is set back to the digest's initial state after the call,
 * so that nothing of the input (nor its digest, the final chaining value) stays in it. */
gk_status gk_digest(const EVP_MD *md, const void *data, size_t len, uint8_t *out, bool secret);

#endif
