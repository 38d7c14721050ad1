#include <string.h>
#include <openssl/rand.h>
#include <openssl/evp.h>
#include "rand.h"
#include "chunk.h"

static gk_status sys_bytes(void *ctx, uint8_t *out, size_t n)
{
	(void)ctx;
	while (n > 0) {
		int step = n > (1u << 30) ? (1 << 30) : (int)n;
		if (RAND_bytes(out, step) != 1)
			return GK_E_CRYPTO;
		out += step;
		n -= (size_t)step;
	}
	return GK_OK;
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
