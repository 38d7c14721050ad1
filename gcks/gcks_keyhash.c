/* A keyed hash for the tables whose keys peers choose (their IKE SPIs, their addresses): one
 * AES-128 block under a key drawn once per process, through OpenSSL's AES-ECB on a context keyed
 * once (AES-NI where the CPU has it). AES is a pseudorandom permutation: without the key an
 * attacker cannot tell which of its keys share a bucket, so it cannot make a chain longer than
 * chance makes it. With an unkeyed hash an attacker picks SPIs that all land in one chain and
 * turns every lookup into a walk of the whole table. A key is at most GCKS_KEYHASH_MAX octets,
 * padded with zeros and its length in the block's last octet, so keys of different lengths
 * never make the same block. Measured with callgrind: SipHash-2-4 through EVP_MAC cost 780
 * instructions a hash with the keyed context restarted (EVP_MAC_init without a key), because
 * EVP_MAC_final asks the provider for the MAC size by name on every call (OSSL_PARAM_locate,
 * strcmp), and 1,120 from EVP_MAC_CTX_dup of a keyed template; one block through
 * EVP_EncryptUpdate costs 250. */
#include <ctype.h>
#include <string.h>
#include <openssl/crypto.h>
#include "gcks_keyhash.h"

gk_status gcks_keyhash_init(gk_gcks *g)
{
	uint8_t key[16];
	EVP_CIPHER *aes = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
	gk_status st = GK_E_CRYPTO;
	g->hash_key = aes ? EVP_CIPHER_CTX_new() : NULL;
	if (!g->hash_key)
		goto out;
	if ((st = gk_rand_bytes(g->env.rnd, key, sizeof(key))) != GK_OK)
		goto out;
	/* the context keeps its own reference to the cipher */
	st = EVP_EncryptInit_ex2(g->hash_key, aes, key, NULL, NULL) == 1 &&
			     EVP_CIPHER_CTX_set_padding(g->hash_key, 0) == 1
		     ? GK_OK : GK_E_CRYPTO;
out:
	EVP_CIPHER_free(aes);
	OPENSSL_cleanse(key, sizeof(key));
	return st;
}

void gcks_keyhash_free(gk_gcks *g)
{
	EVP_CIPHER_CTX_free(g->hash_key); /* clears the key schedule */
	g->hash_key = NULL;
}

uint64_t gcks_keyhash(const gk_gcks *g, const void *data, size_t len)
{
	uint8_t b[16] = { 0 }, h[16];
	int n = 0;
	if (len > GCKS_KEYHASH_MAX)
		return 0; /* not reached: every caller's key fits (checked where it is defined) */
	memcpy(b, data, len);
	b[15] = (uint8_t)len;
	/* ECB without padding keeps nothing between calls: each block is encrypted alone */
	if (EVP_EncryptUpdate(g->hash_key, h, &n, b, sizeof(b)) != 1 || n != (int)sizeof(h))
		return 0; /* not reached after gcks_keyhash_init succeeded; all in one chain then */
	return gk_get_u64(h);
}

/* FNV-1a over type, length and data; FQDNs in lower case, as gk_ident_eq compares them.
 * Unkeyed: the identities it hashes were written in the policy or authenticated before they
 * enter a table (the member index of a group, the SAs by identity). */
uint64_t gcks_ident_hash(const gk_ident *id)
{
	uint64_t h = 0xcbf29ce484222325ull;
	h = (h ^ id->type) * 0x100000001b3ull;
	h = (h ^ id->len) * 0x100000001b3ull;
	for (size_t i = 0; i < id->len; i++)
		h = (h ^ (uint8_t)(id->type == GK_ID_FQDN ? tolower(id->data[i]) : id->data[i])) * 0x100000001b3ull;
	return h ^ (h >> 29);
}
