#include <string.h>
#include <openssl/rand.h>
#include <openssl/evp.h>
#include "rand.h"
#include "chunk.h"

/* The thread's public DRBG, what RAND_bytes draws from, looked up once: RAND_bytes looks it
 * and the RAND method up at every call (a seventh of its cost). The DRBG is OpenSSL's own, so
 * its reseeding and its fork check (a child process reseeds before its first output) stay. */
static _Thread_local EVP_RAND_CTX *public_drbg;

static gk_status sys_bytes(void *ctx, uint8_t *out, size_t n)
{
	(void)ctx;
	if (!public_drbg && !(public_drbg = RAND_get0_public(NULL)))
		return GK_E_CRYPTO;
	return EVP_RAND_generate(public_drbg, out, n, 0, 0, NULL, 0) == 1 ? GK_OK : GK_E_CRYPTO;
}

static const gk_rand sys_rand = { sys_bytes, NULL };

const gk_rand *gk_rand_system(void) { return &sys_rand; }

static gk_status test_bytes(void *ctx, uint8_t *out, size_t n)
{
	gk_rand_test *t = ctx;
	uint8_t block[32], ctr[8];
	while (n > 0) {
		unsigned int blen = sizeof(block);
		gk_put_u64(ctr, t->counter++);
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
			 EVP_DigestUpdate(md, t->seed, sizeof(t->seed)) &&
			 EVP_DigestUpdate(md, ctr, sizeof(ctr)) &&
			 EVP_DigestFinal_ex(md, block, &blen);
		EVP_MD_CTX_free(md);
		if (!ok)
			return GK_E_CRYPTO;
		size_t take = n < blen ? n : blen;
		memcpy(out, block, take);
		out += take;
		n -= take;
	}
	return GK_OK;
}

void gk_rand_test_init(gk_rand_test *t, uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	gk_put_u64(t->seed, seed);
	t->r.bytes = test_bytes;
	t->r.ctx = t;
}
