#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "ike_sa.h"
#include "auth.h"
#include "intermediate.h"
#include "prf.h"

static void free_secret(uint8_t **p, size_t *len)
{
	if (*p) {
		OPENSSL_cleanse(*p, *len);
		free(*p);
	}
	*p = NULL;
	*len = 0;
}

/* Copies src into *dst; src may point into the old *dst, so the copy comes first. */
static gk_status dup_into(uint8_t **dst, size_t *dlen, gk_chunk src)
{
	uint8_t *n = NULL;
	if (src.len && !(n = malloc(src.len)))
		return GK_E_NOMEM;
	if (src.len)
		memcpy(n, src.ptr, src.len);
	free_secret(dst, dlen);
	*dst = n;
	*dlen = src.len;
	return GK_OK;
}

gk_status gk_ike_sa_set_nonces(gk_ike_sa *sa, gk_chunk ni, gk_chunk nr)
{
	gk_status st = dup_into(&sa->ni, &sa->ni_len, ni);
	return st ? st : dup_into(&sa->nr, &sa->nr_len, nr);
}

gk_status gk_ike_sa_keep_init(gk_ike_sa *sa, gk_chunk req, gk_chunk resp)
{
	gk_status st = dup_into(&sa->init_req, &sa->init_req_len, req);
	return st ? st : dup_into(&sa->init_resp, &sa->init_resp_len, resp);
}

gk_status gk_ike_sa_derive(gk_ike_sa *sa, gk_chunk shared)
{
	gk_status st = gk_ike_keys_derive(&sa->keys, &sa->suite, GK_CHUNK(sa->ni, sa->ni_len),
					  GK_CHUNK(sa->nr, sa->nr_len), shared, sa->spi_i, sa->spi_r);
	gk_dh_free(sa->dh);
	sa->dh = NULL;
	return st;
}

gk_sk_keys gk_ike_sa_sk(const gk_ike_sa *sa, bool outbound)
{
	/* the initiator protects with SK_ei/SK_ai, the responder with SK_er/SK_ar */
	bool use_i = sa->initiator == outbound;
	const gk_ike_keys *k = &sa->keys;
	return (gk_sk_keys){
		.encr = sa->suite.encr,
		.encr_key_bits = sa->suite.encr_key_bits,
		.integ = sa->suite.integ,
		.enc = GK_CHUNK(use_i ? k->sk_ei : k->sk_er, k->e_len),
		.integ_key = GK_CHUNK(use_i ? k->sk_ai : k->sk_ar, k->a_len),
	};
}

gk_status gk_ike_sa_auth_octets(const gk_ike_sa *sa, bool of_initiator, gk_chunk id_body, gk_wbuf *out)
{
	if (!sa->init_req || !sa->init_resp || !sa->ni || !sa->nr)
		return GK_E_STATE;
	/* RFC 7296 2.15: each side signs its own IKE_SA_INIT message and the peer's nonce */
	gk_chunk msg = of_initiator ? GK_CHUNK(sa->init_req, sa->init_req_len)
				    : GK_CHUNK(sa->init_resp, sa->init_resp_len);
	gk_chunk nonce = of_initiator ? GK_CHUNK(sa->nr, sa->nr_len) : GK_CHUNK(sa->ni, sa->ni_len);
	gk_chunk skp = GK_CHUNK(of_initiator ? sa->keys.sk_pi : sa->keys.sk_pr, sa->keys.p_len);
	gk_status st = gk_auth_signed_octets(sa->suite.prf, msg, nonce, skp, id_body, out);
	/* the exchanges are sequential from Message ID 1 (RFC 9242 3.3.1): the authenticating
	 * exchange's Message ID is one more than their count */
	if (!st && sa->intermediate)
		st = gk_intauth_octets(sa->intermediate, (uint32_t)sa->intermediate->done + 1, out);
	return st;
}

void gk_ike_sa_auth_done(gk_ike_sa *sa)
{
	/* SK_pi and SK_pr only make and check the AUTH payloads (RFC 7296 2.15, RFC 8784 3 after
	 * the PPK update); a rekey of the IKE SA derives from SK_d alone (2.18). */
	OPENSSL_cleanse(sa->keys.sk_pi, sizeof(sa->keys.sk_pi));
	OPENSSL_cleanse(sa->keys.sk_pr, sizeof(sa->keys.sk_pr));
	sa->keys.p_len = 0;
	free_secret(&sa->ni, &sa->ni_len);
	free_secret(&sa->nr, &sa->nr_len);
	free_secret(&sa->init_req, &sa->init_req_len);
	free_secret(&sa->init_resp, &sa->init_resp_len);
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

void gk_ike_sa_free(gk_ike_sa *sa)
{
	if (!sa)
		return;
	gk_ike_sa_auth_done(sa);
	if (sa->last_resp) {
		resp_cache_free(sa->last_resp);
	}
	if (sa->reasm) {
		gk_frag_reset(sa->reasm);
		free(sa->reasm);
	}
	gk_dh_free(sa->dh);
	gk_ike_keys_wipe(&sa->keys);
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
	unsigned int len = 20;
	return EVP_Digest(buf, n, out, &len, gk_md_sha1(), NULL) == 1 ? GK_OK : GK_E_CRYPTO;
}
