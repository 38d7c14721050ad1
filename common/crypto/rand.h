/* Randomness behind a narrow interface, so unit tests can run deterministically.
 * gk_rand does not own ctx. */
#ifndef GK_RAND_H
#define GK_RAND_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

typedef struct gk_rand {
	gk_status (*bytes)(void *ctx, uint8_t *out, size_t n);
	void *ctx;
} gk_rand;

/* OpenSSL's public DRBG (what RAND_bytes draws from); the default everywhere outside tests. */
const gk_rand *gk_rand_system(void);

/* Deterministic generator for tests: SHA-256 in counter mode over a seed. Never for keys in use. */
typedef struct gk_rand_test {
	uint8_t seed[32];
	uint64_t counter;
	gk_rand r;
} gk_rand_test;
void gk_rand_test_init(gk_rand_test *t, uint64_t seed);

static inline gk_status gk_rand_bytes(const gk_rand *r, uint8_t *out, size_t n)
{
	return r->bytes(r->ctx, out, n);
}

#endif
