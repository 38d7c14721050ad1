/* Post-quantum preshared keys: the IKE SA key update and PPK_IDENTITY (RFC 8784 3, 5.1). */
#include <string.h>
#include <openssl/crypto.h>
#include "ppk.h"
#include "prf.h"

static const char gsk_w_label[] = "Key Wrap for G-IKEv2"; /* RFC 9838 3.1.1, no NUL */

/* out = prf+(PPK, key) with len octets; key and out may be the same array. */
static gk_status mix(uint16_t prf, gk_chunk ppk, uint8_t *key, size_t len, uint8_t *out)
{
	uint8_t tmp[GK_MAX_KEY];
	const gk_chunk seed = GK_CHUNK(key, len);
	gk_status st = gk_prf_plus(prf, ppk, &seed, 1, tmp, len);
	if (!st)
		memcpy(out, tmp, len);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return st;
}

gk_status gk_ppk_update_keys(gk_ike_keys *k, gk_chunk ppk)
{
	gk_ike_keys n;
	gk_status st = GK_E_INVAL;
	if (!k || !ppk.ptr || !ppk.len || k->d_len > GK_MAX_KEY || k->p_len > GK_MAX_KEY ||
	    k->w_len > GK_MAX_KEY)
		return GK_E_INVAL;
	n = *k;
	uint16_t prf = k->suite.prf;
	if ((st = mix(prf, ppk, k->sk_d, k->d_len, n.sk_d)) || (st = mix(prf, ppk, k->sk_pi, k->p_len, n.sk_pi)) ||
	    (st = mix(prf, ppk, k->sk_pr, k->p_len, n.sk_pr)))
		goto out;
	if (n.w_len) {
		const gk_chunk label = GK_CHUNK(gsk_w_label, sizeof(gsk_w_label) - 1);
		if ((st = gk_prf_plus(prf, GK_CHUNK(n.sk_d, n.d_len), &label, 1, n.gsk_w, n.w_len)))
			goto out;
	}
	*k = n;
out:
	OPENSSL_cleanse(&n, sizeof(n));
	return st;
}

gk_status gk_ppk_identity_build(gk_chunk ppk_id, gk_wbuf *out)
{
	if (!ppk_id.ptr || !ppk_id.len || ppk_id.len > GK_PPK_ID_MAX)
		return GK_E_INVAL;
	gk_wbuf_u8(out, GK_PPK_ID_FIXED);
	gk_wbuf_put(out, ppk_id.ptr, ppk_id.len);
	return out->err ? GK_E_NOMEM : GK_OK;
}

gk_status gk_ppk_identity_parse(gk_chunk data, gk_chunk *ppk_id)
{
	/* RFC 8784 5.1: PPK Type (1 octet), then the PPK_ID; PPK_ID_OPAQUE is not an ID we can look up */
	if (!data.ptr || data.len < 2 || data.len - 1 > GK_PPK_ID_MAX || data.ptr[0] != GK_PPK_ID_FIXED)
		return GK_E_INVAL;
	*ppk_id = GK_CHUNK(data.ptr + 1, data.len - 1);
	return GK_OK;
}
