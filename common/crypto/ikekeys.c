/* IKE SA keying (RFC 7296 2.14), the G-IKEv2 default KWK (RFC 9838 3.1.1) and group SA
 * keying material layout (RFC 9838 3.4). */
#include <string.h>
#include <openssl/crypto.h>
#include "ikekeys.h"
#include "algs.h"
#include "iana.h"
#include "prf.h"

#define NONCE_MIN 16  /* RFC 7296 2.10: at least 128 bits ... */
#define NONCE_MAX 256 /* ... and at most 2048 bits */
#define AES_PRF_NONCE_PART 8

static const char gsk_w_label[] = "Key Wrap for G-IKEv2"; /* 20 octets, no NUL (3.1.1) */

size_t gk_kwa_key_len(uint16_t kwa)
{
	switch (kwa) {
	case GK_KWA_KW_5649_128: return 16;
	case GK_KWA_KW_5649_192: return 24;
	case GK_KWA_KW_5649_256: return 32;
	default: return 0;
	}
}

/* Can this ENCR protect an SK payload? IIV transforms need ESP sequence numbers
 * (RFC 8750, forbidden for G-IKEv2 SAs by RFC 9838 2.7) and GMAC is ESP-only. */
static bool encr_usable_for_ike(const gk_encr_info *e)
{
	return e && !e->implicit_iv && e->id != GK_ENCR_NULL_AUTH_AES_GMAC;
}

/* Checks an IKE or Rekey SA suite and gives its ENCR key (+salt) and INTEG key lengths. */
static gk_status ike_suite_lens(uint16_t encr, uint16_t key_bits, uint16_t integ,
				size_t *e_len, size_t *a_len)
{
	const gk_encr_info *e = gk_encr_lookup(encr);
	if (!encr_usable_for_ike(e))
		return GK_E_UNSUPPORTED;
	*e_len = gk_encr_keymat_len(e, key_bits);
	if (*e_len == 0)
		return GK_E_INVAL;
	if (e->aead) { /* AEAD: no separate integrity transform, no SK_a */
		*a_len = 0;
		return integ == GK_INTEG_NONE ? GK_OK : GK_E_INVAL;
	}
	const gk_integ_info *i = gk_integ_lookup(integ);
	if (!i)
		return integ == GK_INTEG_NONE ? GK_E_INVAL : GK_E_UNSUPPORTED;
	*a_len = i->key_len;
	return GK_OK;
}

static gk_status check_suite(gk_ike_keys *k, const gk_ike_suite *s)
{
	const gk_prf_info *p = gk_prf_lookup(s->prf);
	if (!p)
		return GK_E_UNSUPPORTED;
	gk_status st = ike_suite_lens(s->encr, s->encr_key_bits, s->integ, &k->e_len, &k->a_len);
	if (st)
		return st;
	k->d_len = k->p_len = p->key_len; /* the PRF's preferred key length (2.14) */
	k->w_len = 0;
	if (s->kwa) {
		k->w_len = gk_kwa_key_len(s->kwa);
		if (k->w_len == 0)
			return GK_E_UNSUPPORTED;
	}
	return GK_OK;
}

/* SKEYSEED = prf(Ni | Nr, g^ir). For AES-XCBC-PRF-128 and AES-CMAC-PRF-128 only the first
 * 64 bits of each nonce form the key (RFC 7296 2.14, backward compatibility). *p is made keyed
 * with Ni | Nr; it is re-keyed with SKEYSEED for prf+ after. */
static gk_status skeyseed(uint16_t prf, gk_chunk ni, gk_chunk nr, gk_chunk shared, gk_prf_keyed **p, uint8_t *out)
{
	uint8_t key[2 * NONCE_MAX];
	size_t li = ni.len, lr = nr.len;
	if (prf == GK_PRF_AES128_XCBC || prf == GK_PRF_AES128_CMAC)
		li = lr = AES_PRF_NONCE_PART;
	memcpy(key, ni.ptr, li);
	memcpy(key + li, nr.ptr, lr);
	gk_status st = gk_prf_keyed_new(prf, GK_CHUNK(key, li + lr), p);
	if (!st)
		st = gk_prf_keyed_run(*p, &shared, 1, out);
	OPENSSL_cleanse(key, li + lr);
	return st;
}

static bool nonce_ok(gk_chunk n)
{
	return n.ptr && n.len >= NONCE_MIN && n.len <= NONCE_MAX;
}

/* Takes len octets from the prf+ stream into dst. */
static const uint8_t *take(uint8_t *dst, const uint8_t *src, size_t len)
{
	memcpy(dst, src, len);
	return src + len;
}

/* {SK_d|SK_ai|SK_ar|SK_ei|SK_er|SK_pi|SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) and GSK_w
 * (RFC 7296 2.14, RFC 9838 3.1.1) on p, keyed with SKEYSEED (then re-keyed with SK_d); k's
 * lengths are set (check_suite). */
static gk_status expand(gk_ike_keys *k, gk_prf_keyed *p, gk_chunk ni, gk_chunk nr, uint64_t spi_i, uint64_t spi_r)
{
	uint8_t stream[7 * GK_MAX_KEY], spis[16];
	gk_put_u64(spis, spi_i);
	gk_put_u64(spis + 8, spi_r);
	const gk_chunk seed[] = { ni, nr, GK_CHUNK(spis, sizeof(spis)) };
	size_t total = k->d_len + 2 * k->a_len + 2 * k->e_len + 2 * k->p_len;
	gk_status st = gk_prf_keyed_plus(p, seed, 3, stream, total);
	if (st)
		goto out;

	const uint8_t *s = stream;
	s = take(k->sk_d, s, k->d_len);
	s = take(k->sk_ai, s, k->a_len);
	s = take(k->sk_ar, s, k->a_len);
	s = take(k->sk_ei, s, k->e_len);
	s = take(k->sk_er, s, k->e_len);
	s = take(k->sk_pi, s, k->p_len);
	take(k->sk_pr, s, k->p_len);

	if (k->w_len) {
		const gk_chunk label = GK_CHUNK(gsk_w_label, sizeof(gsk_w_label) - 1);
		st = gk_prf_keyed_rekey(p, GK_CHUNK(k->sk_d, k->d_len));
		if (!st)
			st = gk_prf_keyed_plus(p, &label, 1, k->gsk_w, k->w_len);
	}
out:
	OPENSSL_cleanse(stream, total);
	return st;
}

gk_status gk_ike_keys_derive(gk_ike_keys *k, const gk_ike_suite *suite, gk_chunk ni, gk_chunk nr,
			     gk_chunk shared, uint64_t spi_i, uint64_t spi_r)
{
	uint8_t seed_key[GK_MAX_KEY];
	gk_prf_keyed *p = NULL;
	gk_status st = GK_E_INVAL;

	if (!k || !suite)
		return GK_E_INVAL;
	memset(k, 0, sizeof(*k));
	k->suite = *suite;
	if (!nonce_ok(ni) || !nonce_ok(nr) || !shared.ptr || shared.len == 0)
		goto out;
	st = check_suite(k, suite);
	/* one PRF context for all: keyed with Ni | Nr, then SKEYSEED, then SK_d */
	if (!st)
		st = skeyseed(suite->prf, ni, nr, shared, &p, seed_key);
	if (!st)
		st = gk_prf_keyed_rekey(p, GK_CHUNK(seed_key, gk_prf_keyed_len(p)));
	if (!st)
		st = expand(k, p, ni, nr, spi_i, spi_r);
out:
	gk_prf_keyed_free(p);
	OPENSSL_cleanse(seed_key, sizeof(seed_key));
	if (st)
		gk_ike_keys_wipe(k);
	return st;
}

gk_status gk_ike_keys_rekey(gk_ike_keys *k, const gk_ike_suite *suite, const gk_ike_keys *old, gk_chunk ni,
			    gk_chunk nr, gk_chunk shared, uint64_t spi_i, uint64_t spi_r)
{
	uint8_t seed_key[GK_MAX_KEY];
	gk_prf_keyed *p = NULL;
	gk_status st = GK_E_INVAL;

	if (!k || !suite || !old || k == old || !old->d_len)
		return GK_E_INVAL;
	memset(k, 0, sizeof(*k));
	k->suite = *suite;
	if (!nonce_ok(ni) || !nonce_ok(nr) || !shared.ptr || shared.len == 0)
		goto out;
	st = check_suite(k, suite);
	if (st)
		goto out;
	/* RFC 7296 2.18: the exchange belongs to the old SA, so its PRF makes SKEYSEED; no nonce
	 * truncation here (that is IKE_SA_INIT's SKEYSEED only) */
	const gk_chunk parts[] = { shared, ni, nr };
	const gk_prf_info *op = gk_prf_lookup(old->suite.prf);
	st = op ? gk_prf(old->suite.prf, GK_CHUNK(old->sk_d, old->d_len), parts, 3, seed_key) : GK_E_UNSUPPORTED;
	if (!st)
		st = gk_prf_keyed_new(suite->prf, GK_CHUNK(seed_key, op->out_len), &p);
	if (!st)
		st = expand(k, p, ni, nr, spi_i, spi_r);
out:
	gk_prf_keyed_free(p);
	OPENSSL_cleanse(seed_key, sizeof(seed_key));
	if (st)
		gk_ike_keys_wipe(k);
	return st;
}

void gk_ike_keys_wipe(gk_ike_keys *k)
{
	if (k)
		OPENSSL_cleanse(k, sizeof(*k));
}

/* Lengths of the three parts of a group SA's keying material (RFC 9838 3.4). */
typedef struct group_lens {
	size_t enc, integ, wrap;
} group_lens;

static gk_status esp_ah_lens(uint8_t proto, uint16_t encr, uint16_t key_bits, uint16_t integ,
			     group_lens *l)
{
	const gk_encr_info *e = NULL;
	if (proto == GK_PROTO_AH) {
		if (encr != 0)
			return GK_E_INVAL;
	} else if (encr != GK_ENCR_NULL) { /* ESP with ENCR_NULL has no encryption key */
		e = gk_encr_lookup(encr);
		if (!e)
			return encr == 0 ? GK_E_INVAL : GK_E_UNSUPPORTED;
		l->enc = gk_encr_keymat_len(e, key_bits);
		if (l->enc == 0)
			return GK_E_INVAL;
	}
	if (integ == GK_INTEG_NONE) /* AH needs INTEG; ESP needs at least one key */
		return proto == GK_PROTO_ESP && l->enc > 0 ? GK_OK : GK_E_INVAL;
	if (e && (e->aead || e->id == GK_ENCR_NULL_AUTH_AES_GMAC))
		return GK_E_INVAL; /* combined-mode ENCR takes no INTEG transform */
	const gk_integ_info *i = gk_integ_lookup(integ);
	if (!i)
		return GK_E_UNSUPPORTED;
	l->integ = i->key_len;
	return GK_OK;
}

static gk_status group_lens_get(uint8_t proto, uint16_t encr, uint16_t key_bits, uint16_t integ,
				uint16_t kwa, group_lens *l)
{
	memset(l, 0, sizeof(*l));
	switch (proto) {
	case GK_PROTO_ESP:
	case GK_PROTO_AH:
		return esp_ah_lens(proto, encr, key_bits, integ, l);
	case GK_PROTO_GIKE_UPDATE: {
		gk_status st = ike_suite_lens(encr, key_bits, integ, &l->enc, &l->integ);
		if (st)
			return st;
		l->wrap = gk_kwa_key_len(kwa); /* a Rekey SA always has a KWA (RFC 9838 4.5.4) */
		return l->wrap ? GK_OK : (kwa ? GK_E_UNSUPPORTED : GK_E_INVAL);
	}
	default:
		return GK_E_UNSUPPORTED;
	}
}

size_t gk_group_keymat_len(uint8_t proto, uint16_t encr, uint16_t encr_key_bits, uint16_t integ,
			   uint16_t kwa)
{
	group_lens l;
	if (group_lens_get(proto, encr, encr_key_bits, integ, kwa, &l))
		return 0;
	return l.enc + l.integ + l.wrap;
}

static gk_chunk slice(gk_chunk c, size_t off, size_t len)
{
	return len ? GK_CHUNK(c.ptr + off, len) : GK_CHUNK_EMPTY;
}

gk_status gk_group_keys_split(gk_chunk keymat, uint8_t proto, uint16_t encr, uint16_t encr_key_bits,
			      uint16_t integ, uint16_t kwa, gk_group_keys *out)
{
	group_lens l;
	if (!out)
		return GK_E_INVAL;
	memset(out, 0, sizeof(*out));
	gk_status st = group_lens_get(proto, encr, encr_key_bits, integ, kwa, &l);
	if (st)
		return st;
	/* SA_KEY must carry exactly the keys needed (RFC 9838 4.5.2.1). */
	if (!keymat.ptr || keymat.len != l.enc + l.integ + l.wrap)
		return GK_E_MALFORMED;
	out->enc = slice(keymat, 0, l.enc);
	out->integ = slice(keymat, l.enc, l.integ);
	out->wrap = slice(keymat, l.enc + l.integ, l.wrap);
	return GK_OK;
}
