/* The group state fuzz_gm_rekey gives its member as if it had just registered, and that
 * gen_corpus signs and encrypts GSA_REKEY seeds for: a fixed Rekey SA (KEK) with AES-CBC-256,
 * HMAC-SHA2-256-128 and KW-5649-256, GSA_REKEY signed with the P-256 key of fuzz_keys.h, and
 * one ESP TEK. NEVER use any of it outside test/fuzz. */
#ifndef GK_FUZZ_GM_STATE_H
#define GK_FUZZ_GM_STATE_H

#include <string.h>
#include "fuzz_keys.h"
#include "auth.h"
#include "group_sa.h"
#include "ikekeys.h"

#define FG_GROUP "keyid:fuzz-grp-1"
#define FG_INITIAL_MSGID 1

static inline gk_ts_spec fg_ts(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t proto, uint16_t port)
{
	return (gk_ts_spec){ .family = 4, .start = { a, b, c, d }, .end = { a, b, c, d }, .ip_proto = proto,
			     .port_lo = port, .port_hi = port };
}

static inline void fg_keymat(gk_group_sa *sa, uint8_t seed)
{
	sa->keymat_len = gk_group_keymat_len(sa->proto, sa->encr, sa->encr_key_bits, sa->integ, sa->kwa);
	for (size_t i = 0; i < sa->keymat_len; i++)
		sa->keymat[i] = (uint8_t)(seed + 7 * i);
}

/* The Rekey SA: SPI seed-filled, keys from seed. */
static inline void fg_kek(gk_group_sa *k, uint8_t seed)
{
	memset(k, 0, sizeof(*k));
	k->proto = GK_PROTO_GIKE_UPDATE;
	memset(k->spi, seed, 16);
	k->spi_len = 16;
	k->src = fg_ts(192, 0, 2, 1, 17, 848);
	k->dst = fg_ts(239, 0, 0, 1, 17, 848);
	k->encr = GK_ENCR_AES_CBC;
	k->encr_key_bits = 256;
	k->integ = GK_INTEG_HMAC_SHA2_256_128;
	k->kwa = GK_KWA_KW_5649_256;
	k->lifetime = 86400;
	gk_chunk alg = gk_sig_algid(GK_SIG_ECDSA_SHA256);
	memcpy(k->sig_algid, alg.ptr, alg.len);
	k->sig_algid_len = alg.len;
	fg_keymat(k, seed);
}

static inline void fg_tek(gk_group_sa *t, uint8_t spi)
{
	memset(t, 0, sizeof(*t));
	t->proto = GK_PROTO_ESP;
	t->spi[3] = spi;
	t->spi_len = 4;
	t->src = fg_ts(192, 0, 2, 10, 17, 0);
	t->dst = fg_ts(239, 1, 1, 1, 17, 5004);
	t->encr = GK_ENCR_AES_GCM_16;
	t->encr_key_bits = 256;
	t->sn = GK_SN_UNSPEC32;
	t->lifetime = 3600;
	fg_keymat(t, spi);
}

/* Intermediate key id of the fuzz group's key hierarchy (32 octets: KW-5649-256). */
static inline void fg_kh_key(uint32_t id, uint8_t out[32])
{
	for (size_t i = 0; i < 32; i++)
		out[i] = (uint8_t)(id * 29 + 5 * i + 1);
}

/* The member's Working Key Path after registration (RFC 9838 3.3): keys 1 -> 2 -> 3. */
static inline void fg_wkp(gk_key_path *p)
{
	memset(p, 0, sizeof(*p));
	for (uint32_t id = 1; id <= 3; id++) {
		gk_kh_key *k = &p->keys[p->n++];
		k->id = id;
		k->len = 32;
		fg_kh_key(id, k->key);
	}
}

/* What the member holds after registration. */
static inline void fg_registered_state(gk_group_state *gs)
{
	memset(gs, 0, sizeof(*gs));
	fg_tek(&gs->sas[0], 1);
	fg_kek(&gs->sas[1], 0x11);
	gs->sas[1].gcauth = GK_GCAUTH_DIGITAL_SIGNATURE;
	gs->sas[1].initial_msgid = FG_INITIAL_MSGID;
	gs->nsas = 2;
	gs->atd = 30;
	gs->dtd = 60;
	gs->has_atd = gs->has_dtd = true;
	memcpy(gs->auth_key, fk_p256_spki, sizeof(fk_p256_spki));
	gs->auth_key_len = sizeof(fk_p256_spki);
	fg_wkp(&gs->wkp);
}

#endif
