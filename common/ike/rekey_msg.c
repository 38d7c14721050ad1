#include <string.h>
#include "rekey_msg.h"
#include "exchange_rules.h"

#define SIG_TRIES 32

gk_status gk_rekey_signed_data(const uint8_t hdr[GK_HDR_LEN], uint8_t first_type, uint8_t sk_flags,
			       gk_chunk inner, size_t sig_off, size_t sig_len, gk_wbuf *out)
{
	if (sig_off > inner.len || sig_len > inner.len - sig_off)
		return GK_E_INVAL;
	size_t a = out->len;
	gk_wbuf_put(out, hdr, GK_HDR_LEN);
	gk_wbuf_u8(out, first_type);
	gk_wbuf_u8(out, sk_flags);
	gk_wbuf_u16(out, (uint16_t)(4 + inner.len));        /* AdjustedPldLen */
	gk_wbuf_put(out, inner.ptr, inner.len);
	if (out->err)
		return out->err;
	out->data[a + 16] = GK_PL_SK;                          /* as if sent unfragmented */
	gk_put_u32(out->data + a + 24, (uint32_t)(GK_HDR_LEN + 4 + inner.len)); /* AdjustedLen */
	memset(out->data + a + GK_HDR_LEN + 4 + sig_off, 0, sig_len);
	return GK_OK;
}

/* The AUTH payload body for a signature of sig_len octets, all zero (2.4.1.1). */
static gk_status auth_body(gk_sig_scheme s, size_t sig_len, gk_wbuf *w, gk_pl_auth *a)
{
	gk_chunk alg = gk_sig_algid(s);
	if (!alg.len || alg.len > 255)
		return GK_E_UNSUPPORTED;
	w->len = 0;
	gk_wbuf_u8(w, (uint8_t)alg.len);
	gk_wbuf_put(w, alg.ptr, alg.len);
	gk_wbuf_zero(w, sig_len);
	*a = (gk_pl_auth){ .method = GK_AUTH_DIGITAL_SIGNATURE, .data = gk_wbuf_chunk(w) };
	return w->err;
}

static void rekey_hdr(const gk_rekey_out *r, gk_hdr *h)
{
	*h = (gk_hdr){ .spi_i = gk_get_u64(r->spi), .spi_r = gk_get_u64(r->spi + 8),
		       .exchange = GK_EXCH_GSA_REKEY, .msg_id = r->msg_id };
}

/* Signs with a signature of the guessed length; ECDSA signatures vary in length, so when the
 * result differs the data is rebuilt with the new length and signed again. */
static gk_status sign_inner(const gk_rekey_out *r, gk_wbuf *inner, size_t *auth_at, uint8_t *first)
{
	gk_out_pl pl[32];
	gk_pl_auth auth;
	gk_wbuf ab, sig, data;
	uint8_t hb[GK_HDR_LEN];
	gk_hdr h;
	size_t guess = 64;
	gk_status st = GK_E_CRYPTO;
	if (r->npl + 1 > sizeof(pl) / sizeof(pl[0]))
		return GK_E_TOO_BIG;
	memcpy(pl, r->pl, r->npl * sizeof(*pl));
	rekey_hdr(r, &h);
	gk_wbuf_init(&ab, 4096);
	gk_wbuf_init(&sig, 4096);
	gk_wbuf_init(&data, 2 * GK_MAX_MESSAGE);
	for (int tries = 0; tries < SIG_TRIES; tries++) {
		if ((st = auth_body(r->scheme, guess, &ab, &auth)) != GK_OK)
			break;
		pl[r->npl] = (gk_out_pl){ GK_PL_AUTH, false, &auth };
		inner->len = 0;
		if ((st = gk_chain_build(pl, r->npl + 1, GK_PL_NONE, inner)) != GK_OK)
			break;
		size_t sig_off = inner->len - guess;
		gk_wbuf hw = { .data = hb, .cap = sizeof(hb), .max = sizeof(hb) };
		gk_hdr_build(&h, &hw);
		data.len = 0;
		sig.len = 0;
		st = gk_rekey_signed_data(hb, pl[0].type, 0, gk_wbuf_chunk(inner), sig_off, guess, &data);
		if (!st)
			st = gk_auth_sig_sign(r->sign_key, r->scheme, gk_wbuf_chunk(&data), &sig);
		if (st)
			break;
		/* gk_auth_sig_sign gives length | AlgorithmIdentifier | signature */
		size_t sig_len = sig.len - ab.len + guess;
		if (sig_len == guess) {
			memcpy(inner->data + sig_off - (ab.len - guess), sig.data, sig.len);
			*auth_at = sig_off;
			*first = pl[0].type;
			goto out;
		}
		guess = sig_len;
		st = GK_E_CRYPTO;
	}
out:
	gk_wbuf_free(&ab);
	gk_wbuf_free(&sig);
	gk_wbuf_free(&data);
	return st;
}

size_t gk_rekey_frag_len(size_t mtu, int family, bool non_esp_marker)
{
	size_t hdrs = (family == 4 ? GK_IPV4_HDR_LEN : GK_IPV6_HDR_LEN) + GK_UDP_HDR_LEN +
		      (non_esp_marker ? GK_NON_ESP_MARKER_LEN : 0);
	if (!mtu)
		return 0;
	return mtu > hdrs ? mtu - hdrs : 1;
}

gk_status gk_rekey_build(const gk_rekey_out *r, const gk_rand *rnd, gk_dgrams *out)
{
	gk_wbuf inner;
	gk_hdr h;
	uint8_t first = r->npl ? r->pl[0].type : GK_PL_NONE;
	size_t auth_at = 0;
	gk_status st;
	if (!r->npl)
		return GK_E_INVAL;
	gk_wbuf_init(&inner, GK_MAX_MESSAGE);
	if (r->sign_key)
		st = sign_inner(r, &inner, &auth_at, &first);
	else
		st = gk_chain_build(r->pl, r->npl, GK_PL_NONE, &inner);
	rekey_hdr(r, &h);
	if (!st)
		st = gk_msg_build_raw_dgrams(&h, first, gk_wbuf_chunk(&inner), &r->kek, rnd, r->frag_mtu, out);
	gk_wbuf_free(&inner);
	return st;
}

/* Verifies the AUTH payload over A | P (2.4.1.1). */
static gk_status verify_auth(const gk_rekey_in *in, const gk_msg *m, uint8_t sk_flags)
{
	const gk_payload *ap = gk_msg_find(m, GK_PL_AUTH);
	if (!in->auth_key) /* implicit: AUTH MUST NOT be there; a signed group without its key fails */
		return ap || in->want != GK_SIG_NONE ? GK_E_AUTH : GK_OK;
	if (!ap || ap->body->auth.method != GK_AUTH_DIGITAL_SIGNATURE)
		return GK_E_AUTH;
	gk_chunk d = ap->body->auth.data;
	if (d.len < 1 || (size_t)d.ptr[0] + 1 > d.len)
		return GK_E_MALFORMED;
	size_t sig_len = d.len - 1 - d.ptr[0];
	/* the signature is the tail of the AUTH payload, inside the plaintext */
	size_t sig_off = ap->offset + ap->raw.len + 4 - sig_len;
	gk_wbuf data;
	gk_wbuf_init(&data, 2 * GK_MAX_MESSAGE);
	gk_status st = gk_rekey_signed_data(m->data.ptr, m->sk_first, sk_flags, m->plain, sig_off, sig_len, &data);
	if (!st)
		st = gk_auth_sig_verify(in->auth_key, in->want, d, gk_wbuf_chunk(&data));
	gk_wbuf_free(&data);
	return st;
}

gk_status gk_rekey_open(const gk_rekey_in *in, gk_chunk dgram, gk_msg *m, bool *complete)
{
	*complete = false;
	gk_status st = gk_msg_parse(m, dgram);
	if (st)
		return st;
	if (m->hdr.exchange != GK_EXCH_GSA_REKEY || (m->hdr.flags & GK_FLAG_R) ||
	    m->hdr.spi_i != gk_get_u64(in->spi) || m->hdr.spi_r != gk_get_u64(in->spi + 8))
		return GK_E_NOT_FOUND;
	if (m->sk_index == SIZE_MAX)
		return GK_E_RULES;
	const gk_payload *sk = &m->pl.items[m->sk_index];
	uint8_t sk_flags = m->data.ptr[sk->offset + 1];
	if (sk->type == GK_PL_SKF) {
		gk_wbuf plain;
		uint8_t first = 0;
		bool done = false;
		if (!in->reasm)
			return GK_E_INVAL;
		if (m->hdr.msg_id < in->min_msg_id)
			return GK_E_STATE; /* checked before the fragment is decrypted or kept */
		gk_wbuf_init(&plain, GK_MAX_MESSAGE);
		st = gk_frag_add(in->reasm, m, &in->kek, &done, &plain, &first);
		if (!st && done) {
			m->sk_first = first;
			sk_flags = gk_frag_first_flags(in->reasm);
			st = gk_msg_add_inner(m, first, gk_wbuf_chunk(&plain));
			m->decrypted = true;
		}
		gk_wbuf_free(&plain);
		if (st || !done)
			return st;
	} else if ((st = gk_msg_decrypt(m, &in->kek)) != GK_OK) {
		return st;
	}
	uint8_t bad;
	if ((st = gk_exchange_rules_check(m, &bad)) != GK_OK)
		return st;
	if ((st = verify_auth(in, m, sk_flags)) != GK_OK)
		return st;
	*complete = true;
	return GK_OK;
}
