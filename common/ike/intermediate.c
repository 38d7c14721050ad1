/* IKE_INTERMEDIATE key update and IntAuth (RFC 9242 3.3.2, RFC 9370 2.2.2). */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "algs.h"
#include "intermediate.h"
#include "prf.h"

gk_status gk_addke_update_keys(gk_ike_keys *k, gk_chunk shared, gk_chunk ni, gk_chunk nr, uint64_t spi_i,
			       uint64_t spi_r)
{
	gk_ike_keys old, n;
	if (!k || !k->d_len || !shared.len)
		return GK_E_INVAL;
	old = *k;
	/* the formula of an IKE SA rekey (RFC 7296 2.18) with SK_d(n-1) in place of the old SA's SK_d,
	 * the same suite, and the IKE_SA_INIT nonces and SPIs (RFC 9370 2.2.2) */
	gk_status st = gk_ike_keys_rekey(&n, &old.suite, &old, ni, nr, shared, spi_i, spi_r);
	if (!st)
		*k = n;
	OPENSSL_cleanse(&old, sizeof(old));
	OPENSSL_cleanse(&n, sizeof(n));
	return st;
}

gk_status gk_intauth_data(const gk_hdr *h, uint8_t first_inner, gk_chunk plain, gk_wbuf *out)
{
	if (GK_HDR_LEN + GK_GENERIC_HDR_LEN + plain.len > GK_MAX_MESSAGE)
		return GK_E_MALFORMED;
	gk_hdr a = *h;
	a.next_payload = GK_PL_SK;
	a.length = (uint32_t)(GK_HDR_LEN + GK_GENERIC_HDR_LEN + plain.len);
	gk_hdr_build(&a, out);
	gk_wbuf_u8(out, first_inner);
	gk_wbuf_u8(out, 0); /* not critical, reserved */
	gk_wbuf_u16(out, (uint16_t)(GK_GENERIC_HDR_LEN + plain.len));
	gk_wbuf_put(out, plain.ptr, plain.len);
	return out->err ? GK_E_NOMEM : GK_OK;
}

static gk_status add_data(gk_ike_int *ii, const gk_ike_keys *k, bool of_initiator, const gk_hdr *h,
			  uint8_t first_inner, gk_chunk plain)
{
	gk_wbuf w;
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	gk_status st = gk_intauth_data(h, first_inner, plain, &w);
	if (!st)
		st = gk_intauth_add(ii, k, of_initiator, gk_wbuf_chunk(&w));
	gk_wbuf_free(&w);
	return st;
}

gk_status gk_intauth_add_received(gk_ike_int *ii, const gk_ike_keys *k, bool of_initiator, const gk_msg *m)
{
	uint8_t first = GK_PL_NONE;
	if (!m->decrypted)
		return GK_E_STATE;
	for (size_t i = 0; i < m->pl.n && first == GK_PL_NONE; i++)
		if (m->pl.items[i].encrypted)
			first = m->pl.items[i].type;
	return add_data(ii, k, of_initiator, &m->hdr, first, m->plain);
}

gk_status gk_intauth_add_sent(gk_ike_int *ii, const gk_ike_keys *k, bool of_initiator, const gk_dgrams *d,
			      const gk_out_pl *pl, size_t n)
{
	gk_hdr h;
	gk_wbuf plain;
	if (!d->n || gk_hdr_parse(gk_wbuf_chunk(&d->d[0]), &h))
		return GK_E_STATE;
	gk_wbuf_init(&plain, GK_MAX_MESSAGE);
	gk_status st = gk_chain_build(pl, n, GK_PL_NONE, &plain);
	if (!st)
		st = add_data(ii, k, of_initiator, &h, n ? pl[0].type : GK_PL_NONE, gk_wbuf_chunk(&plain));
	gk_wbuf_free(&plain);
	return st;
}

gk_status gk_intauth_add(gk_ike_int *ii, const gk_ike_keys *k, bool of_initiator, gk_chunk data)
{
	uint8_t *chain = of_initiator ? ii->int_i : ii->int_r;
	size_t *chain_len = of_initiator ? &ii->int_i_len : &ii->int_r_len;
	uint8_t tmp[GK_MAX_KEY];
	const gk_prf_info *pi = gk_prf_lookup(k->suite.prf);
	if (!pi || pi->out_len > GK_MAX_KEY)
		return GK_E_UNSUPPORTED;
	/* IntAuth_x1 = prf(SK_px, IntAuth_x1A | IntAuth_x1P); later ones chain the previous value */
	gk_chunk parts[2] = { GK_CHUNK(chain, *chain_len), data };
	gk_chunk key = GK_CHUNK(of_initiator ? k->sk_pi : k->sk_pr, k->p_len);
	gk_status st = *chain_len ? gk_prf(k->suite.prf, key, parts, 2, tmp) : gk_prf(k->suite.prf, key, &data, 1, tmp);
	if (!st) {
		memcpy(chain, tmp, pi->out_len);
		*chain_len = pi->out_len;
	}
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return st;
}

gk_status gk_intauth_octets(const gk_ike_int *ii, uint32_t auth_msgid, gk_auth_octets *out)
{
	if (!ii || !ii->done)
		return GK_OK;
	if (!ii->int_i_len || !ii->int_r_len)
		return GK_E_STATE;
	gk_put_u32(out->msgid, auth_msgid);
	gk_status st = gk_auth_octets_add(out, GK_CHUNK(ii->int_i, ii->int_i_len));
	if (!st)
		st = gk_auth_octets_add(out, GK_CHUNK(ii->int_r, ii->int_r_len));
	if (!st)
		st = gk_auth_octets_add(out, GK_CHUNK(out->msgid, sizeof(out->msgid)));
	return st;
}

bool gk_ike_int_plan(gk_ike_int *ii, const uint16_t addke[GK_ADDKE_MAX])
{
	ii->naddke = 0;
	for (size_t i = 0; i < GK_ADDKE_MAX; i++) {
		if (addke[i] == GK_KE_NONE)
			continue;
		if (!gk_ke_by_id(addke[i]))
			return false;
		ii->addke[ii->naddke++] = addke[i];
	}
	return true;
}

void gk_ike_int_free(gk_ike_int *ii)
{
	if (!ii)
		return;
	gk_ke_state_free(ii->ke);
	OPENSSL_cleanse(ii, sizeof(*ii));
	free(ii);
}
