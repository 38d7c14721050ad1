/* Key exchange through OpenSSL 3 EVP: RFC 3526 MODP (14/15/16), RFC 5903 ECP (19/20/21),
 * RFC 8031 Curve25519/Curve448 (31/32). Peer values are checked as RFC 6989 asks. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/dh.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include "dh.h"
#include "iana.h"

enum dh_kind { DH_MODP, DH_ECP, DH_XDH };

typedef struct dh_group {
	uint16_t id;
	enum dh_kind kind;
	const char *type; /* OpenSSL key type */
	const char *name; /* OpenSSL group name; "modp_*" are the RFC 3526 groups, not ffdhe */
	size_t len;       /* octets of the IKE public value */
	uint8_t base_u;   /* XDH: the base point's u-coordinate (RFC 7748 4.1, 4.2) */
} dh_group;

#define DH_MAX_LEN 512 /* MODP 4096, the longest public value and shared secret */
#define XDH_MAX_LEN 56 /* Curve448 */

static const dh_group groups[] = {
	{ GK_KE_MODP_2048, DH_MODP, "DH", "modp_2048", 256, 0 },
	{ GK_KE_MODP_3072, DH_MODP, "DH", "modp_3072", 384, 0 },
	{ GK_KE_MODP_4096, DH_MODP, "DH", "modp_4096", 512, 0 },
	{ GK_KE_ECP_256, DH_ECP, "EC", "P-256", 64, 0 },
	{ GK_KE_ECP_384, DH_ECP, "EC", "P-384", 96, 0 },
	{ GK_KE_ECP_521, DH_ECP, "EC", "P-521", 132, 0 },
	{ GK_KE_CURVE25519, DH_XDH, "X25519", NULL, 32, 9 },
	{ GK_KE_CURVE448, DH_XDH, "X448", NULL, 56, 5 },
};

/* One key pair. gk_dh_share hands out the same struct again (refs counts the handles), so that
 * a private value reused as RFC 7296 2.12 allows keeps one derivation context: a new context
 * looks its key type up by name (about 13,000 instructions in OpenSSL 3.0, a quarter of what
 * a derivation costs above X25519 itself). */
struct gk_dh {
	const dh_group *g;
	EVP_PKEY *key;
	EVP_PKEY_CTX *derive;  /* made at the first derivation, freed with the key; NULL before */
	atomic_flag busy;      /* derive is in use: a handle on another thread makes its own */
	atomic_uint refs;
	uint8_t xpub[XDH_MAX_LEN]; /* XDH: our public value; the key's own public half is not it */
};

#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

/* Key generation and import contexts, made on first use and reused: a new context looks its key
 * type up by name, which cost a few percent of a key exchange. Per thread, as a context is
 * changed by its use (one of each per group). */
static _Thread_local EVP_PKEY_CTX *keygen_ctx[NGROUPS], *import_ctx[NGROUPS];
/* XDH: the last peer public value imported, an EVP_PKEY whose value the next peer's replaces
 * (EVP_PKEY_set1_encoded_public_key): a new EVP_PKEY costs a type lookup by name, as above.
 * Only a public value (one per group and thread). */
static _Thread_local EVP_PKEY *xdh_peer_key[NGROUPS];
/* XDH: the base point as a public key, for making our public values (one per group and thread). */
static _Thread_local EVP_PKEY *xdh_base_key[NGROUPS];

/* The objects above are freed as their thread ends (a tss destructor, run on that thread), so
 * that a thread which exchanged keys and ended leaves nothing behind; the main thread's stay
 * until the process exits. */
static once_flag tss_once = ONCE_FLAG_INIT;
static tss_t tss_key;
static bool tss_made;
static _Thread_local bool thread_kept;

static void thread_objects_free(void *unused)
{
	(void)unused;
	for (size_t i = 0; i < NGROUPS; i++) {
		EVP_PKEY_CTX_free(keygen_ctx[i]);
		EVP_PKEY_CTX_free(import_ctx[i]);
		EVP_PKEY_free(xdh_peer_key[i]);
		EVP_PKEY_free(xdh_base_key[i]);
		keygen_ctx[i] = import_ctx[i] = NULL;
		xdh_peer_key[i] = xdh_base_key[i] = NULL;
	}
	thread_kept = false;
}

static void tss_make(void)
{
	tss_made = tss_create(&tss_key, thread_objects_free) == thrd_success;
}

/* Called before this thread keeps an object above. */
static void thread_keeps(void)
{
	if (thread_kept)
		return;
	call_once(&tss_once, tss_make);
	thread_kept = tss_made && tss_set(tss_key, &thread_kept) == thrd_success;
}

static const dh_group *group_find(uint16_t id)
{
	for (size_t i = 0; i < NGROUPS; i++)
		if (groups[i].id == id)
			return &groups[i];
	return NULL;
}

/* The reusable key generation context of g, NULL when OpenSSL cannot make it. */
static EVP_PKEY_CTX *keygen_ctx_of(const dh_group *g)
{
	EVP_PKEY_CTX **slot = &keygen_ctx[g - groups];
	if (*slot)
		return *slot;
	thread_keeps();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, g->type, NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0)
		goto fail;
	if (g->name) {
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)g->name, 0),
			OSSL_PARAM_construct_end(),
		};
		if (EVP_PKEY_CTX_set_params(ctx, params) <= 0)
			goto fail;
	}
	return *slot = ctx;
fail:
	EVP_PKEY_CTX_free(ctx);
	return NULL;
}

/* The reusable import (fromdata) context of g. */
static EVP_PKEY_CTX *import_ctx_of(const dh_group *g)
{
	EVP_PKEY_CTX **slot = &import_ctx[g - groups];
	if (*slot)
		return *slot;
	thread_keeps();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, g->type, NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	return *slot = ctx;
}

/* MODP: the prime's length (RFC 7296 2.14); ECP: the x coordinate (RFC 5903 7). */
static size_t secret_len(const dh_group *g)
{
	return g->kind == DH_ECP ? g->len / 2 : g->len;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

bool gk_dh_supported(uint16_t group)
{
	return group_find(group) != NULL;
}

size_t gk_dh_public_len(uint16_t group)
{
	const dh_group *g = group_find(group);
	return g ? g->len : 0;
}

uint16_t gk_dh_group(const gk_dh *dh)
{
	return dh ? dh->g->id : 0;
}

/* Takes ownership of *key (set to NULL) on success. */
static gk_status dh_adopt(const dh_group *g, EVP_PKEY **key, gk_dh **out)
{
	gk_dh *dh = calloc(1, sizeof(*dh));
	if (!dh)
		return GK_E_NOMEM;
	dh->g = g;
	dh->key = *key;
	atomic_flag_clear(&dh->busy);
	atomic_init(&dh->refs, 1);
	*key = NULL;
	*out = dh;
	return GK_OK;
}

/* A builder holding the group name, or NULL on allocation failure. */
static OSSL_PARAM_BLD *group_bld(const dh_group *g)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	if (bld && !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, g->name, 0)) {
		OSSL_PARAM_BLD_free(bld);
		return NULL;
	}
	return bld;
}

/* Imports what bld holds; NULL when OpenSSL refuses it (for EC: a point off the curve). */
static EVP_PKEY *pkey_fromdata(const dh_group *g, int selection, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = params ? import_ctx_of(g) : NULL;
	EVP_PKEY *key = NULL;
	if (ctx && EVP_PKEY_fromdata(ctx, &key, selection, params) <= 0)
		key = NULL;
	OSSL_PARAM_free(params); /* private BIGNUMs were secure, so their copy is cleared here */
	return key;
}

static gk_status xdh_keypair(const dh_group *g, const uint8_t *priv, gk_dh **out);

gk_status gk_dh_new(uint16_t group, gk_dh **out)
{
	if (!out)
		return GK_E_INVAL;
	*out = NULL;
	const dh_group *g = group_find(group);
	if (!g)
		return GK_E_UNSUPPORTED;
	if (g->kind == DH_XDH) {
		/* RFC 7748 6: a private value is random octets (the function masks them). */
		uint8_t priv[XDH_MAX_LEN];
		gk_status st = RAND_priv_bytes(priv, (int)g->len) > 0 ? xdh_keypair(g, priv, out) : GK_E_CRYPTO;
		OPENSSL_cleanse(priv, sizeof(priv));
		return st;
	}

	EVP_PKEY_CTX *ctx = keygen_ctx_of(g);
	EVP_PKEY *key = NULL;
	gk_status st = GK_E_CRYPTO;
	if (ctx && EVP_PKEY_generate(ctx, &key) > 0)
		st = dh_adopt(g, &key, out);
	EVP_PKEY_free(key);
	return st;
}

/* Writes a BIGNUM parameter of key big-endian, left-padded to len octets. */
static gk_status bn_param(const EVP_PKEY *key, const char *name, uint8_t *buf, size_t len)
{
	BIGNUM *bn = NULL;
	gk_status st = GK_E_CRYPTO;
	if (EVP_PKEY_get_bn_param(key, name, &bn) && BN_bn2binpad(bn, buf, (int)len) == (int)len)
		st = GK_OK;
	BN_free(bn);
	return st;
}

/* Our public value in IKE encoding, exactly g->len octets into buf. */
static gk_status public_raw(const gk_dh *dh, uint8_t *buf)
{
	const dh_group *g = dh->g;
	size_t n = g->len;
	switch (g->kind) {
	case DH_MODP:
		return bn_param(dh->key, OSSL_PKEY_PARAM_PUB_KEY, buf, n);
	case DH_ECP: {
		/* RFC 5903 7: x | y, each padded to the field size; no point-format octet. */
		gk_status st = bn_param(dh->key, OSSL_PKEY_PARAM_EC_PUB_X, buf, n / 2);
		return st ? st : bn_param(dh->key, OSSL_PKEY_PARAM_EC_PUB_Y, buf + n / 2, n / 2);
	}
	case DH_XDH:
		memcpy(buf, dh->xpub, n);
		return GK_OK;
	}
	return GK_E_CRYPTO;
}

gk_status gk_dh_public(const gk_dh *dh, gk_wbuf *out)
{
	if (!dh || !out)
		return GK_E_INVAL;
	uint8_t buf[DH_MAX_LEN];
	gk_status st = public_raw(dh, buf);
	if (!st) {
		gk_wbuf_put(out, buf, dh->g->len);
		st = out->err;
	}
	return st;
}

/* RFC 6989 2.1: for the RFC 3526 safe-prime groups, 1 < y < p-1 is the required check. */
static gk_status modp_peer(const gk_dh *dh, gk_chunk peer, EVP_PKEY **out)
{
	BIGNUM *pm1 = NULL;
	BIGNUM *y = BN_bin2bn(peer.ptr, (int)peer.len, NULL);
	OSSL_PARAM_BLD *bld = NULL;
	gk_status st = GK_E_CRYPTO;
	if (!y || !EVP_PKEY_get_bn_param(dh->key, OSSL_PKEY_PARAM_FFC_P, &pm1) || !BN_sub_word(pm1, 1))
		goto out;
	if (BN_cmp(y, BN_value_one()) <= 0 || BN_cmp(y, pm1) >= 0) {
		st = GK_E_BAD_KE;
		goto out;
	}
	bld = group_bld(dh->g);
	if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, y))
		goto out;
	*out = pkey_fromdata(dh->g, EVP_PKEY_PUBLIC_KEY, bld);
	st = *out ? GK_OK : GK_E_CRYPTO;
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(pm1);
	BN_free(y);
	return st;
}

/* RFC 6989 2.3: OpenSSL's import of the uncompressed point 0x04|x|y rejects coordinates
 * >= p and points not on the curve; infinity has no x|y encoding at all. */
static gk_status ecp_peer(const gk_dh *dh, gk_chunk peer, EVP_PKEY **out)
{
	uint8_t pt[1 + DH_MAX_LEN];
	pt[0] = POINT_CONVERSION_UNCOMPRESSED;
	memcpy(pt + 1, peer.ptr, peer.len);
	OSSL_PARAM_BLD *bld = group_bld(dh->g);
	if (!bld || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + peer.len)) {
		OSSL_PARAM_BLD_free(bld);
		return GK_E_CRYPTO;
	}
	*out = pkey_fromdata(dh->g, EVP_PKEY_PUBLIC_KEY, bld);
	OSSL_PARAM_BLD_free(bld);
	return *out ? GK_OK : GK_E_BAD_KE;
}

/* RFC 8031 2: any 32/56 octets are a public value; the check is on the result. The thread's
 * peer key takes the new value in place; the first is imported. *out is a new reference. */
static gk_status xdh_peer(const gk_dh *dh, gk_chunk peer, EVP_PKEY **out)
{
	EVP_PKEY **kept = &xdh_peer_key[dh->g - groups];
	*out = NULL;
	if (*kept) {
		if (EVP_PKEY_set1_encoded_public_key(*kept, peer.ptr, peer.len) <= 0)
			return GK_E_CRYPTO;
	} else {
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)peer.ptr, peer.len),
			OSSL_PARAM_construct_end(),
		};
		EVP_PKEY_CTX *ctx = import_ctx_of(dh->g);
		if (!ctx || EVP_PKEY_fromdata(ctx, kept, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
			*kept = NULL;
			return GK_E_CRYPTO;
		}
	}
	if (!EVP_PKEY_up_ref(*kept))
		return GK_E_CRYPTO;
	*out = *kept;
	return GK_OK;
}

static gk_status peer_import(const gk_dh *dh, gk_chunk peer, EVP_PKEY **out)
{
	switch (dh->g->kind) {
	case DH_MODP:
		return modp_peer(dh, peer, out);
	case DH_ECP:
		return ecp_peer(dh, peer, out);
	case DH_XDH:
		return xdh_peer(dh, peer, out);
	}
	return GK_E_CRYPTO;
}

/* A derivation context for dh's key, initialized; NULL when OpenSSL cannot make it. */
static EVP_PKEY_CTX *derive_ctx_new(const gk_dh *dh)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, dh->key, NULL);
	if (!ctx || EVP_PKEY_derive_init(ctx) <= 0)
		goto fail;
	/* RFC 7296 2.14: g^ir keeps its leading zeros, as long as the prime. */
	if (dh->g->kind == DH_MODP && EVP_PKEY_CTX_set_dh_pad(ctx, 1) <= 0)
		goto fail;
	return ctx;
fail:
	EVP_PKEY_CTX_free(ctx);
	return NULL;
}

/* Derives exactly secret_len(g) octets into sec with ctx (dh's key). */
static gk_status derive_with(const gk_dh *dh, EVP_PKEY_CTX *ctx, EVP_PKEY *peer, uint8_t *sec)
{
	const dh_group *g = dh->g;
	size_t n = secret_len(g);
	/* OpenSSL's public key check on ECP peers (cheap, on top of the import's). Not on MODP:
	 * there it is the full y^q = 1 test, ten times the cost of the derivation, while RFC 6989
	 * 2.2 asks only for modp_peer's range test on these safe-prime groups. Nor on XDH, where
	 * every value is a public key (RFC 8031 2) and the check only asks whether one is set, at
	 * the cost of a context looked up by name: the all-zero result below is the check. */
	if (EVP_PKEY_derive_set_peer_ex(ctx, peer, g->kind == DH_ECP) <= 0)
		return GK_E_BAD_KE;
	if (EVP_PKEY_derive(ctx, sec, &n) <= 0)
		/* X25519/X448 derivation refuses an all-zero result (RFC 7748 6.1). */
		return g->kind == DH_XDH ? GK_E_BAD_KE : GK_E_CRYPTO;
	if (n != secret_len(g))
		return GK_E_CRYPTO;
	/* RFC 7748 6.1 / RFC 8031 2.1: checked here as well, not left to OpenSSL alone. */
	return g->kind == DH_XDH && all_zero(sec, n) ? GK_E_BAD_KE : GK_OK;
}

/* Derives with the key pair's kept context (made at its first use), or with a context of this
 * call's own while another thread uses the kept one. */
static gk_status derive_raw(const gk_dh *cdh, EVP_PKEY *peer, uint8_t *sec)
{
	gk_dh *dh = (gk_dh *)cdh; /* the context is a cache, not the key pair's value */
	if (atomic_flag_test_and_set_explicit(&dh->busy, memory_order_acquire)) {
		EVP_PKEY_CTX *own = derive_ctx_new(dh);
		gk_status st = own ? derive_with(dh, own, peer, sec) : GK_E_CRYPTO;
		EVP_PKEY_CTX_free(own);
		return st;
	}
	if (!dh->derive)
		dh->derive = derive_ctx_new(dh);
	gk_status st = dh->derive ? derive_with(dh, dh->derive, peer, sec) : GK_E_CRYPTO;
	atomic_flag_clear_explicit(&dh->busy, memory_order_release);
	return st;
}

gk_status gk_dh_derive(const gk_dh *dh, gk_chunk peer_public, gk_wbuf *shared)
{
	if (!dh || !shared || (peer_public.len && !peer_public.ptr))
		return GK_E_INVAL;
	/* RFC 7296 3.4 / RFC 6989: a value of the wrong length is refused before any use. */
	if (peer_public.len != dh->g->len)
		return GK_E_BAD_KE;

	uint8_t sec[DH_MAX_LEN];
	EVP_PKEY *peer = NULL;
	gk_status st = peer_import(dh, peer_public, &peer);
	if (!st)
		st = derive_raw(dh, peer, sec);
	if (!st) {
		gk_wbuf_put(shared, sec, secret_len(dh->g));
		st = shared->err;
	}
	/* A bad peer value is an expected outcome, not an OpenSSL fault worth its error queue. */
	if (st == GK_E_BAD_KE)
		ERR_clear_error();
	OPENSSL_cleanse(sec, secret_len(dh->g)); /* derivations write no further */
	EVP_PKEY_free(peer);
	return st;
}

void gk_dh_free(gk_dh *dh)
{
	if (!dh || atomic_fetch_sub_explicit(&dh->refs, 1, memory_order_acq_rel) > 1)
		return;
	EVP_PKEY_CTX_free(dh->derive); /* holds a reference to the key */
	EVP_PKEY_free(dh->key); /* OpenSSL clears the private key as it frees it */
	OPENSSL_cleanse(dh, sizeof(*dh));
	free(dh);
}

/* The thread's base point key of g (a public key), NULL when OpenSSL cannot make it. */
static EVP_PKEY *xdh_base_of(const dh_group *g)
{
	EVP_PKEY **slot = &xdh_base_key[g - groups];
	if (*slot)
		return *slot;
	thread_keeps();
	uint8_t u[XDH_MAX_LEN] = { g->base_u }; /* little-endian (RFC 7748 5) */
	return *slot = EVP_PKEY_new_raw_public_key_ex(NULL, g->type, NULL, u, g->len);
}

/* A key pair from the private value priv (g->len octets). Our public value is X25519(k, 9) or
 * X448(k, 5) (RFC 7748 6.1, 6.2), computed by a derivation with the base point: OpenSSL 3.0's
 * own key generation (and its import of a private value alone) computes it with generic C
 * fixed-base code, which on x86-64 costs more than the ladder its derivation runs (X25519: 57
 * against 49 us a key pair, X448: 369 against 316, on the benchmark's machine). So the key is
 * imported with the base point as its public half, which nothing reads (a derivation uses the
 * private half and the peer's value; gk_dh_public gives xpub), and its derivation context,
 * kept for the peer's value, makes the public value first. */
static gk_status xdh_keypair(const dh_group *g, const uint8_t *priv, gk_dh **out)
{
	EVP_PKEY *base = xdh_base_of(g), *key = NULL;
	EVP_PKEY_CTX *ictx = import_ctx_of(g);
	gk_status st = GK_E_CRYPTO;
	if (!base || !ictx)
		return st;
	uint8_t u[XDH_MAX_LEN] = { g->base_u };
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, (void *)priv, g->len),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, u, g->len),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_PKEY_fromdata(ictx, &key, EVP_PKEY_KEYPAIR, params) <= 0)
		return st;
	gk_dh *dh = NULL;
	if ((st = dh_adopt(g, &key, &dh)))
		goto out;
	dh->derive = derive_ctx_new(dh);
	st = dh->derive ? derive_with(dh, dh->derive, base, dh->xpub) : GK_E_CRYPTO;
	if (st) {
		st = GK_E_CRYPTO; /* the base point never gives an all-zero value */
		gk_dh_free(dh);
		goto out;
	}
	*out = dh;
out:
	EVP_PKEY_free(key);
	return st;
}

/* ---- test-only construction from a known private value ---- */

/* Big-endian private value in a secure BIGNUM, so that OpenSSL clears its copies. */
static BIGNUM *priv_bn(gk_chunk priv)
{
	BIGNUM *x = BN_secure_new();
	if (x && !BN_bin2bn(priv.ptr, (int)priv.len, x)) {
		BN_clear_free(x);
		return NULL;
	}
	if (x)
		BN_set_flags(x, BN_FLG_CONSTTIME);
	return x;
}

/* Imports x with its public value pub (a BIGNUM for MODP, an encoded point for ECP). */
static EVP_PKEY *keypair_fromdata(const dh_group *g, const BIGNUM *x, const BIGNUM *pub_bn,
				  const uint8_t *pub_oct, size_t pub_len)
{
	OSSL_PARAM_BLD *bld = group_bld(g);
	EVP_PKEY *key = NULL;
	if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, x))
		goto out;
	if (pub_bn && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, pub_bn))
		goto out;
	if (pub_oct && !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub_oct, pub_len))
		goto out;
	key = pkey_fromdata(g, EVP_PKEY_KEYPAIR, bld);
out:
	OSSL_PARAM_BLD_free(bld);
	return key;
}

static BIGNUM *modp_prime(const dh_group *g)
{
	switch (g->id) {
	case GK_KE_MODP_2048:
		return BN_get_rfc3526_prime_2048(NULL);
	case GK_KE_MODP_3072:
		return BN_get_rfc3526_prime_3072(NULL);
	default:
		return BN_get_rfc3526_prime_4096(NULL);
	}
}

/* OpenSSL 3.0 does not compute a DH public value on import: y = 2^x mod p (RFC 3526, g = 2). */
static gk_status modp_from_private(const dh_group *g, gk_chunk priv, EVP_PKEY **out)
{
	BIGNUM *x = priv_bn(priv), *p = modp_prime(g), *pm1 = BN_new(), *y = BN_new();
	BIGNUM *two = BN_new();
	BN_CTX *bnctx = BN_CTX_new();
	gk_status st = GK_E_CRYPTO;
	if (!x || !p || !pm1 || !y || !two || !bnctx)
		goto out;
	if (!BN_set_word(two, 2) || !BN_sub(pm1, p, BN_value_one()))
		goto out;
	if (BN_cmp(x, BN_value_one()) <= 0 || BN_cmp(x, pm1) >= 0) {
		st = GK_E_INVAL;
		goto out;
	}
	if (!BN_mod_exp_mont_consttime(y, two, x, p, bnctx, NULL))
		goto out;
	*out = keypair_fromdata(g, x, y, NULL, 0);
	st = *out ? GK_OK : GK_E_CRYPTO;
out:
	BN_CTX_free(bnctx);
	BN_free(two);
	BN_free(y);
	BN_free(pm1);
	BN_free(p);
	BN_clear_free(x);
	return st;
}

/* Nor an EC one: Q = x*G, 1 <= x < n. */
static gk_status ecp_from_private(const dh_group *g, gk_chunk priv, EVP_PKEY **out)
{
	uint8_t pt[1 + DH_MAX_LEN];
	EC_GROUP *grp = EC_GROUP_new_by_curve_name_ex(NULL, NULL, EC_curve_nist2nid(g->name));
	EC_POINT *q = grp ? EC_POINT_new(grp) : NULL;
	BIGNUM *x = priv_bn(priv);
	BN_CTX *bnctx = BN_CTX_new();
	gk_status st = GK_E_CRYPTO;
	if (!q || !x || !bnctx)
		goto out;
	if (BN_is_zero(x) || BN_cmp(x, EC_GROUP_get0_order(grp)) >= 0) {
		st = GK_E_INVAL;
		goto out;
	}
	if (!EC_POINT_mul(grp, q, x, NULL, NULL, bnctx))
		goto out;
	if (EC_POINT_point2oct(grp, q, POINT_CONVERSION_UNCOMPRESSED, pt, sizeof(pt), bnctx) != 1 + g->len)
		goto out;
	*out = keypair_fromdata(g, x, NULL, pt, 1 + g->len);
	st = *out ? GK_OK : GK_E_CRYPTO;
out:
	BN_CTX_free(bnctx);
	BN_clear_free(x);
	EC_POINT_free(q);
	EC_GROUP_free(grp);
	return st;
}

gk_status gk_dh_new_from_private(uint16_t group, gk_chunk priv, gk_dh **out)
{
	if (!out || !priv.ptr || !priv.len)
		return GK_E_INVAL;
	*out = NULL;
	const dh_group *g = group_find(group);
	if (!g)
		return GK_E_UNSUPPORTED;
	if (priv.len > g->len)
		return GK_E_INVAL;

	if (g->kind == DH_XDH)
		return priv.len == g->len ? xdh_keypair(g, priv.ptr, out) : GK_E_INVAL;
	EVP_PKEY *key = NULL;
	gk_status st = g->kind == DH_MODP ? modp_from_private(g, priv, &key) : ecp_from_private(g, priv, &key);
	if (!st)
		st = dh_adopt(g, &key, out);
	EVP_PKEY_free(key);
	return st;
}

/* ---- sharing one key pair (RFC 7296 2.12 reuse) ---- */

gk_status gk_dh_share(const gk_dh *dh, gk_dh **out)
{
	if (!dh || !out)
		return GK_E_INVAL;
	gk_dh *s = (gk_dh *)dh; /* a handle is the key pair itself, counted */
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	*out = s;
	return GK_OK;
}
