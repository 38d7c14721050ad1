#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "ike_sa.h"
#include "auth.h"
#include "intermediate.h"
#include "keylog.h"
#include "ppk.h"
#include "prf.h"

static void pre_free(gk_ike_pre *p)
{
	if (!p)
		return;
	if (p->init) {
		OPENSSL_cleanse(p->init, (size_t)p->init_req_len + p->init_resp_len);
		free(p->init);
	}
	OPENSSL_cleanse(p, sizeof(*p) + p->ni_len + p->nr_len);
	free(p);
}

gk_status gk_ike_sa_set_nonces(gk_ike_sa *sa, gk_chunk ni, gk_chunk nr)
{
	if (ni.len > UINT16_MAX || nr.len > UINT16_MAX)
		return GK_E_INVAL;
	/* the copy comes first: ni or nr may point into the old one */
	gk_ike_pre *p = malloc(sizeof(*p) + ni.len + nr.len), *old = sa->pre;
	if (!p)
		return GK_E_NOMEM;
	*p = old ? *old : (gk_ike_pre){ 0 };
	p->ni_len = (uint16_t)ni.len;
	p->nr_len = (uint16_t)nr.len;
	if (ni.len)
		memcpy(p->n, ni.ptr, ni.len);
	if (nr.len)
		memcpy(p->n + ni.len, nr.ptr, nr.len);
	if (old)
		old->init = NULL; /* now p's */
	pre_free(old);
	sa->pre = p;
	return GK_OK;
}

gk_status gk_ike_sa_keep_init(gk_ike_sa *sa, gk_chunk req, gk_chunk resp)
{
	if (req.len > UINT32_MAX - resp.len)
		return GK_E_INVAL;
	if (!sa->pre && gk_ike_sa_set_nonces(sa, GK_CHUNK_EMPTY, GK_CHUNK_EMPTY))
		return GK_E_NOMEM;
	gk_ike_pre *p = sa->pre;
	uint8_t *b = malloc(req.len + resp.len ? req.len + resp.len : 1);
	if (!b)
		return GK_E_NOMEM;
	if (req.len)
		memcpy(b, req.ptr, req.len);
	if (resp.len)
		memcpy(b + req.len, resp.ptr, resp.len);
	if (p->init) {
		OPENSSL_cleanse(p->init, (size_t)p->init_req_len + p->init_resp_len);
		free(p->init);
	}
	p->init = b;
	p->init_req_len = (uint32_t)req.len;
	p->init_resp_len = (uint32_t)resp.len;
	return GK_OK;
}

gk_chunk gk_ike_sa_ni(const gk_ike_sa *sa)
{
	return sa->pre ? GK_CHUNK(sa->pre->n, sa->pre->ni_len) : GK_CHUNK_EMPTY;
}

gk_chunk gk_ike_sa_nr(const gk_ike_sa *sa)
{
	return sa->pre ? GK_CHUNK(sa->pre->n + sa->pre->ni_len, sa->pre->nr_len) : GK_CHUNK_EMPTY;
}

gk_chunk gk_ike_sa_init_req(const gk_ike_sa *sa)
{
	return sa->pre && sa->pre->init ? GK_CHUNK(sa->pre->init, sa->pre->init_req_len) : GK_CHUNK_EMPTY;
}

gk_chunk gk_ike_sa_init_resp(const gk_ike_sa *sa)
{
	return sa->pre && sa->pre->init ? GK_CHUNK(sa->pre->init + sa->pre->init_req_len, sa->pre->init_resp_len)
					: GK_CHUNK_EMPTY;
}

/* Octets of the key block: SK_d | SK_ai | SK_ar | SK_ei | SK_er | GSK_w | SK_pi | SK_pr. */
static size_t kb_len(size_t d, size_t a, size_t e, size_t p, size_t w)
{
	return d + 2 * a + 2 * e + w + 2 * p;
}

static size_t sa_kb_len(const gk_ike_sa *sa)
{
	return kb_len(sa->kd_len, sa->ka_len, sa->ke_len, sa->kp_len, sa->kw_len);
}

static void kb_free(gk_ike_sa *sa)
{
	if (sa->kb) {
		OPENSSL_cleanse(sa->kb, sa_kb_len(sa));
		free(sa->kb);
	}
	sa->kb = NULL;
	sa->kd_len = sa->ka_len = sa->ke_len = sa->kp_len = sa->kw_len = 0;
}

static uint8_t *put(uint8_t *p, const uint8_t *key, size_t len)
{
	if (len)
		memcpy(p, key, len);
	return p + len;
}

gk_status gk_ike_sa_keys_set(gk_ike_sa *sa, const gk_ike_keys *k)
{
	/* every length fits the uint8_t fields: gk_ike_keys holds at most GK_MAX_KEY octets a key */
	size_t len = kb_len(k->d_len, k->a_len, k->e_len, k->p_len, k->w_len);
	uint8_t *b = sa->kb;
	/* the same lengths (a PPK or additional key exchange update, or its undoing): in place, so
	 * it cannot fail */
	if (!b || k->d_len != sa->kd_len || k->a_len != sa->ka_len || k->e_len != sa->ke_len ||
	    k->p_len != sa->kp_len || k->w_len != sa->kw_len) {
		if (!(b = malloc(len ? len : 1)))
			return GK_E_NOMEM;
		kb_free(sa);
	}
	uint8_t *p = put(b, k->sk_d, k->d_len);
	p = put(p, k->sk_ai, k->a_len);
	p = put(p, k->sk_ar, k->a_len);
	p = put(p, k->sk_ei, k->e_len);
	p = put(p, k->sk_er, k->e_len);
	p = put(p, k->gsk_w, k->w_len);
	p = put(p, k->sk_pi, k->p_len);
	put(p, k->sk_pr, k->p_len);
	sa->kb = b;
	sa->kd_len = (uint8_t)k->d_len;
	sa->ka_len = (uint8_t)k->a_len;
	sa->ke_len = (uint8_t)k->e_len;
	sa->kp_len = (uint8_t)k->p_len;
	sa->kw_len = (uint8_t)k->w_len;
	return GK_OK;
}

/* Where each key starts in kb (NULL without keys: every length is 0 then). */
static const uint8_t *key_at(const gk_ike_sa *sa, int which)
{
	static const uint8_t none[1];
	size_t off[8] = { 0 };
	size_t lens[8] = { sa->kd_len, sa->ka_len, sa->ka_len, sa->ke_len, sa->ke_len, sa->kw_len, sa->kp_len, 0 };
	if (!sa->kb)
		return none;
	for (int i = 1; i <= which; i++)
		off[i] = off[i - 1] + lens[i - 1];
	return sa->kb + off[which];
}

enum { K_D, K_AI, K_AR, K_EI, K_ER, K_W, K_PI, K_PR };

static void get(uint8_t *dst, const gk_ike_sa *sa, int which, size_t len)
{
	if (len)
		memcpy(dst, key_at(sa, which), len);
}

void gk_ike_sa_keys_get(const gk_ike_sa *sa, gk_ike_keys *out)
{
	memset(out, 0, sizeof(*out));
	out->suite = sa->suite;
	out->d_len = sa->kd_len;
	out->a_len = sa->ka_len;
	out->e_len = sa->ke_len;
	out->p_len = sa->kp_len;
	out->w_len = sa->kw_len;
	get(out->sk_d, sa, K_D, out->d_len);
	get(out->sk_ai, sa, K_AI, out->a_len);
	get(out->sk_ar, sa, K_AR, out->a_len);
	get(out->sk_ei, sa, K_EI, out->e_len);
	get(out->sk_er, sa, K_ER, out->e_len);
	get(out->gsk_w, sa, K_W, out->w_len);
	get(out->sk_pi, sa, K_PI, out->p_len);
	get(out->sk_pr, sa, K_PR, out->p_len);
}

gk_chunk gk_ike_sa_sk_d(const gk_ike_sa *sa)
{
	return GK_CHUNK(key_at(sa, K_D), sa->kd_len);
}

gk_chunk gk_ike_sa_gsk_w(const gk_ike_sa *sa)
{
	return GK_CHUNK(key_at(sa, K_W), sa->kw_len);
}

/* Keeps k's keys in sa and wipes k, whatever st says. */
static gk_status keep_keys(gk_ike_sa *sa, gk_ike_keys *k, gk_status st)
{
	if (!st)
		st = gk_ike_sa_keys_set(sa, k);
	gk_ike_keys_wipe(k);
	return st;
}

gk_status gk_ike_sa_derive_keys(gk_ike_sa *sa, gk_chunk ni, gk_chunk nr, gk_chunk shared)
{
	gk_ike_keys k;
	gk_status st = gk_ike_keys_derive(&k, &sa->suite, ni, nr, shared, sa->spi_i, sa->spi_r);
	return keep_keys(sa, &k, st);
}

gk_status gk_ike_sa_derive(gk_ike_sa *sa, gk_chunk shared)
{
	gk_status st = gk_ike_sa_derive_keys(sa, gk_ike_sa_ni(sa), gk_ike_sa_nr(sa), shared);
	gk_dh_free(sa->dh);
	sa->dh = NULL;
	return st;
}

gk_status gk_ike_sa_rekey_keys(gk_ike_sa *n, const gk_ike_suite *suite, const gk_ike_sa *old, gk_chunk ni,
			       gk_chunk nr, gk_chunk shared, uint64_t spi_i, uint64_t spi_r)
{
	gk_ike_keys o, k;
	gk_ike_sa_keys_get(old, &o);
	gk_status st = gk_ike_keys_rekey(&k, suite, &o, ni, nr, shared, spi_i, spi_r);
	gk_ike_keys_wipe(&o);
	k.p_len = 0; /* no AUTH is made under a rekeyed IKE SA (RFC 7296 2.18): SK_pi, SK_pr unused */
	return keep_keys(n, &k, st);
}

gk_status gk_ike_sa_ppk_update(gk_ike_sa *sa, gk_chunk ppk)
{
	gk_ike_keys k;
	gk_ike_sa_keys_get(sa, &k);
	return keep_keys(sa, &k, gk_ppk_update_keys(&k, ppk));
}

gk_status gk_ike_sa_addke_update(gk_ike_sa *sa, gk_chunk shared)
{
	gk_ike_keys k;
	gk_ike_sa_keys_get(sa, &k);
	gk_status st = gk_addke_update_keys(&k, shared, gk_ike_sa_ni(sa), gk_ike_sa_nr(sa), sa->spi_i, sa->spi_r);
	return keep_keys(sa, &k, st);
}

gk_status gk_ike_sa_intauth_add(gk_ike_sa *sa, bool of_initiator, gk_chunk data)
{
	gk_ike_keys k;
	gk_ike_sa_keys_get(sa, &k);
	gk_status st = gk_intauth_add(sa->intermediate, &k, of_initiator, data);
	gk_ike_keys_wipe(&k);
	return st;
}

gk_status gk_ike_sa_intauth_add_received(gk_ike_sa *sa, bool of_initiator, const gk_msg *m)
{
	gk_ike_keys k;
	gk_ike_sa_keys_get(sa, &k);
	gk_status st = gk_intauth_add_received(sa->intermediate, &k, of_initiator, m);
	gk_ike_keys_wipe(&k);
	return st;
}

gk_status gk_ike_sa_intauth_add_sent(gk_ike_sa *sa, bool of_initiator, const gk_dgrams *d, const gk_out_pl *pl,
				     size_t n)
{
	gk_ike_keys k;
	gk_ike_sa_keys_get(sa, &k);
	gk_status st = gk_intauth_add_sent(sa->intermediate, &k, of_initiator, d, pl, n);
	gk_ike_keys_wipe(&k);
	return st;
}

void gk_ike_sa_keylog(gk_keylog *kl, const gk_ike_sa *sa)
{
	if (!kl)
		return;
	gk_ike_keys k;
	gk_ike_sa_keys_get(sa, &k);
	gk_keylog_ike_sa(kl, sa->spi_i, sa->spi_r, &k);
	gk_ike_keys_wipe(&k);
}

gk_sk_keys gk_ike_sa_sk(const gk_ike_sa *sa, bool outbound)
{
	/* the initiator protects with SK_ei/SK_ai, the responder with SK_er/SK_ar */
	bool use_i = sa->initiator == outbound;
	return (gk_sk_keys){
		.encr = sa->suite.encr,
		.encr_key_bits = sa->suite.encr_key_bits,
		.integ = sa->suite.integ,
		.enc = GK_CHUNK(key_at(sa, use_i ? K_EI : K_ER), sa->ke_len),
		.integ_key = GK_CHUNK(key_at(sa, use_i ? K_AI : K_AR), sa->ka_len),
	};
}

gk_status gk_ike_sa_auth_parts(const gk_ike_sa *sa, bool of_initiator, gk_chunk id_body, gk_prf_keyed **work,
			       gk_auth_octets *out)
{
	gk_chunk req = gk_ike_sa_init_req(sa), resp = gk_ike_sa_init_resp(sa);
	gk_chunk ni = gk_ike_sa_ni(sa), nr = gk_ike_sa_nr(sa);
	memset(out, 0, sizeof(*out));
	if (!req.len || !resp.len || !ni.len || !nr.len)
		return GK_E_STATE;
	/* RFC 7296 2.15: each side signs its own IKE_SA_INIT message and the peer's nonce */
	gk_chunk msg = of_initiator ? req : resp;
	gk_chunk nonce = of_initiator ? nr : ni;
	gk_chunk skp = GK_CHUNK(key_at(sa, of_initiator ? K_PI : K_PR), sa->kp_len);
	gk_status st = gk_auth_octets_make(out, sa->suite.prf, msg, nonce, skp, id_body, work);
	/* the exchanges are sequential from Message ID 1 (RFC 9242 3.3.1): the authenticating
	 * exchange's Message ID is one more than their count */
	if (!st && sa->intermediate)
		st = gk_intauth_octets(sa->intermediate, (uint32_t)sa->intermediate->done + 1, out);
	if (st)
		gk_auth_octets_wipe(out);
	return st;
}

gk_status gk_ike_sa_auth_octets(const gk_ike_sa *sa, bool of_initiator, gk_chunk id_body, gk_wbuf *out)
{
	gk_auth_octets o;
	gk_status st = gk_ike_sa_auth_parts(sa, of_initiator, id_body, NULL, &o);
	if (!st)
		st = gk_auth_octets_flat(&o, out);
	gk_auth_octets_wipe(&o);
	return st;
}

void gk_ike_sa_auth_done(gk_ike_sa *sa)
{
	/* SK_pi and SK_pr only make and check the AUTH payloads (RFC 7296 2.15, RFC 8784 3 after
	 * the PPK update); a rekey of the IKE SA derives from SK_d alone (2.18). */
	if (sa->kp_len) {
		gk_ike_keys k;
		gk_ike_sa_keys_get(sa, &k);
		k.p_len = 0;
		/* out of memory the SA keeps them, still wiped with it */
		(void)gk_ike_sa_keys_set(sa, &k);
		gk_ike_keys_wipe(&k);
	}
	pre_free(sa->pre);
	sa->pre = NULL;
	gk_ike_int_free(sa->intermediate);
	sa->intermediate = NULL;
}

static void resp_cache_free(gk_resp_cache *c)
{
	free(c); /* ciphertext only: nothing to wipe */
}

void gk_ike_sa_cache_response(gk_ike_sa *sa, gk_dgrams *resp)
{
	size_t total = 0;
	for (size_t i = 0; i < resp->n; i++)
		total += resp->d[i].len;
	resp_cache_free(sa->last_resp);
	sa->last_resp = malloc(sizeof(gk_resp_cache) + resp->n * sizeof(gk_chunk) + total);
	if (sa->last_resp) {
		uint8_t *p = (uint8_t *)&sa->last_resp->d[resp->n];
		sa->last_resp->n = resp->n;
		for (size_t i = 0; i < resp->n; i++) {
			if (resp->d[i].len)
				memcpy(p, resp->d[i].data, resp->d[i].len);
			sa->last_resp->d[i] = GK_CHUNK(p, resp->d[i].len);
			p += resp->d[i].len;
		}
	}
	gk_dgrams_free(resp);
}

gk_status gk_ike_sa_open(gk_ike_sa *sa, gk_msg *m, bool *complete)
{
	return gk_ike_sa_open_at(sa, m, 0, complete);
}

gk_status gk_ike_sa_open_at(gk_ike_sa *sa, gk_msg *m, int64_t now_ms, bool *complete)
{
	gk_sk_keys k = gk_ike_sa_sk(sa, false);
	*complete = true;
	if (m->sk_index == SIZE_MAX)
		return GK_E_STATE;
	if (m->pl.items[m->sk_index].type != GK_PL_SKF)
		return gk_msg_decrypt(m, &k);
	if (!sa->reasm) {
		if (!(sa->reasm = calloc(1, sizeof(*sa->reasm))))
			return GK_E_NOMEM;
		sa->reasm->max_bytes = sa->frag_max;
		sa->reasm->pool = sa->frag_pool;
		sa->reasm->acct = sa->frag_acct;
	}
	gk_wbuf plain;
	uint8_t first = 0;
	uint32_t sets = sa->reasm->sets;
	gk_wbuf_init(&plain, GK_MAX_MESSAGE);
	gk_status st = gk_frag_add(sa->reasm, m, &k, complete, &plain, &first);
	if (sa->reasm->sets != sets)
		sa->frag_started_ms = now_ms;
	if (!st && *complete) {
		st = gk_msg_add_inner(m, first, gk_wbuf_chunk(&plain));
		m->decrypted = true;
	}
	gk_wbuf_free(&plain);
	/* No set under way (the message is whole, or its fragments were dropped): the 1.4 KB of
	 * reassembly state goes until the next fragment, not for the rest of the SA's life. */
	if (!sa->reasm->active) {
		gk_frag_reset(sa->reasm);
		free(sa->reasm);
		sa->reasm = NULL;
	}
	return st;
}

void gk_ike_sa_frag_expire(gk_ike_sa *sa, int64_t now_ms)
{
	if (sa->reasm && sa->reasm->active && sa->frag_timeout_ms &&
	    now_ms - sa->frag_started_ms >= sa->frag_timeout_ms)
		gk_frag_reset(sa->reasm);
}

void gk_ike_sa_expire(gk_ike_sa *sa, int64_t now_ms)
{
	gk_ike_sa_frag_expire(sa, now_ms);
	if (sa->last_resp && now_ms - sa->used_ms >= GK_RESP_FORGET_MS) {
		resp_cache_free(sa->last_resp);
		sa->last_resp = NULL;
	}
}

void gk_ike_sa_free(gk_ike_sa *sa)
{
	if (!sa)
		return;
	kb_free(sa);
	gk_ike_sa_auth_done(sa);
	if (sa->last_resp) {
		resp_cache_free(sa->last_resp);
	}
	if (sa->reasm) {
		gk_frag_reset(sa->reasm);
		free(sa->reasm);
	}
	gk_dh_free(sa->dh);
	kb_free(sa);
	memset(sa, 0, sizeof(*sa));
}

gk_status gk_natd_hash(uint64_t spi_i, uint64_t spi_r, const struct sockaddr *addr, uint8_t out[20])
{
	uint8_t buf[16 + 16 + 2];
	size_t n = 16;
	gk_put_u64(buf, spi_i);
	gk_put_u64(buf + 8, spi_r);
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)addr;
		memcpy(buf + n, &a->sin_addr, 4);
		n += 4;
		memcpy(buf + n, &a->sin_port, 2);
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)addr;
		memcpy(buf + n, &a->sin6_addr, 16);
		n += 16;
		memcpy(buf + n, &a->sin6_port, 2);
	} else {
		return GK_E_INVAL;
	}
	n += 2;
	return gk_digest(gk_md_sha1(), buf, n, out, false);
}
