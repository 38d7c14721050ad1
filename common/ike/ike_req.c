/* The IKE request engine: our outstanding request and its retransmissions, the peer's Message ID
 * window (RFC 7296 2.1, 2.2), and on a stream path (TCP, RFC 9329 7.2) no copy of a request or
 * of an answer on the connection that already carried it. */
#include <limits.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "ike_req.h"

gk_status gk_ike_req_build(gk_ike_sa *sa, uint8_t exchange, bool response, uint32_t msg_id,
			   const gk_out_pl *pl, size_t n, const gk_rand *rnd, gk_dgrams *out)
{
	gk_sk_keys k = gk_ike_sa_sk(sa, true);
	k.iv_next = &sa->iv_next; /* our outbound key is ours alone: counter IVs (sk.h) */
	gk_msg_out o = { .hdr = { .spi_i = sa->spi_i, .spi_r = sa->spi_r, .exchange = exchange,
				  .flags = (sa->initiator ? GK_FLAG_I : 0) | (response ? GK_FLAG_R : 0),
				  .msg_id = msg_id },
			 .inner = pl, .ninner = n, .protect = true };
	return gk_msg_build_dgrams(&o, &k, rnd, sa->frag_ok, GK_FRAG_DEFAULT_SIZE, out);
}

void gk_ike_req_start(gk_ike_req *r, gk_dgrams *d, uint8_t exchange, uint32_t msg_id,
		      gk_ike_req_sched sched, int64_t now_ms)
{
	if (d != &r->d) {
		gk_dgrams_free(&r->d);
		r->d = *d;
		memset(d, 0, sizeof(*d));
	}
	r->exchange = exchange;
	r->msg_id = msg_id;
	r->sched = sched;
	r->sent = 0;
	r->pending = true;
	r->wait_ms = sched.first_ms;
	r->at = now_ms + r->wait_ms;
	r->stream = 0;
}

bool gk_ike_req_send_on(gk_ike_req *r, uint64_t path)
{
	if (path && path == r->stream)
		return false;
	r->stream = path;
	return true;
}

bool gk_ike_req_stream_answered(uint64_t path, uint64_t answered_on)
{
	return path && path == answered_on;
}

gk_ike_req_due gk_ike_req_tick(gk_ike_req *r, int64_t now_ms)
{
	if (!r->at || now_ms < r->at)
		return GK_REQ_IDLE;
	if (++r->sent > r->sched.tries) {
		r->at = 0;
		r->pending = false;
		return GK_REQ_GIVE_UP;
	}
	r->wait_ms *= 2;
	r->at = now_ms + r->wait_ms;
	return GK_REQ_RESEND;
}

bool gk_ike_req_answers(const gk_ike_req *r, uint8_t exchange, uint32_t msg_id)
{
	return r->pending && r->exchange == exchange && r->msg_id == msg_id;
}

void gk_ike_req_stop(gk_ike_req *r)
{
	r->at = 0;
	r->pending = false;
}

void gk_ike_req_clear(gk_ike_req *r)
{
	gk_dgrams_free(&r->d);
	memset(r, 0, sizeof(*r));
}

int64_t gk_ike_req_next(const gk_ike_req *r)
{
	return r->at;
}

gk_ike_in gk_ike_req_window(const gk_ike_sa *sa, uint32_t msg_id)
{
	if (msg_id + 1 == sa->msgid_in && sa->last_resp)
		return GK_IN_RETRANSMIT;
	return msg_id == sa->msgid_in ? GK_IN_NEW : GK_IN_DROP;
}

void gk_ike_req_answered(gk_ike_sa *sa, uint32_t msg_id, gk_dgrams *resp)
{
	sa->msgid_in = msg_id + 1;
	gk_ike_sa_cache_response(sa, resp);
}

/* GMAC's nonce: fixed, as the key hashes (it authenticates nothing that is sent); the mask
 * E(K, nonce | 1) it adds is the same for every datagram. */
static const uint8_t gmac_nonce[12];

gk_status gk_ike_resend_key_new(const gk_rand *rnd, gk_ike_resend_key **out)
{
	uint8_t key[16];
	EVP_CIPHER *gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	EVP_CIPHER_CTX *c = gcm ? EVP_CIPHER_CTX_new() : NULL;
	gk_status st = c ? gk_rand_bytes(rnd, key, sizeof(key)) : GK_E_CRYPTO;
	if (st == GK_OK && EVP_EncryptInit_ex2(c, gcm, key, gmac_nonce, NULL) != 1)
		st = GK_E_CRYPTO;
	OPENSSL_cleanse(key, sizeof(key));
	EVP_CIPHER_free(gcm); /* the context keeps its own reference */
	if (st) {
		EVP_CIPHER_CTX_free(c);
		c = NULL;
	}
	*out = c;
	return st;
}

void gk_ike_resend_key_free(gk_ike_resend_key *k)
{
	EVP_CIPHER_CTX_free(k); /* wipes the key schedule */
}

/* GMAC(K, d): d as GCM's additional data, nothing encrypted. The nonce is set again (NULL cipher
 * and key: the key schedule stays), which restarts the GHASH. */
static bool dgram_hash(gk_ike_resend_key *k, gk_chunk d, uint8_t out[16])
{
	int n = 0;
	uint8_t none[16];
	return k && d.len <= INT_MAX && EVP_EncryptInit_ex2(k, NULL, NULL, gmac_nonce, NULL) == 1 &&
	       (!d.len || EVP_EncryptUpdate(k, NULL, &n, d.ptr, (int)d.len) == 1) &&
	       EVP_EncryptFinal_ex(k, none, &n) == 1 &&
	       EVP_CIPHER_CTX_ctrl(k, EVP_CTRL_AEAD_GET_TAG, 16, out) == 1;
}

void gk_ike_resend_note(gk_ike_resend *c, gk_ike_resend_key *k, uint32_t msg_id, gk_chunk d)
{
	if (c->msg_id != msg_id || !c->n) {
		c->n = 0;
		c->msg_id = msg_id;
	}
	if (c->n < 4 && dgram_hash(k, d, c->hash[c->n]))
		c->n++;
}

gk_ike_copy gk_ike_resend_copy(const gk_ike_resend *c, gk_ike_resend_key *k, const gk_ike_sa *sa,
			       gk_chunk d)
{
	uint8_t h[16];
	if (c->msg_id + 1 != sa->msgid_in)
		return GK_COPY_UNKNOWN;
	if (!dgram_hash(k, d, h))
		return GK_COPY_OTHER;
	for (size_t i = 0; i < c->n; i++)
		if (!CRYPTO_memcmp(h, c->hash[i], 16))
			return GK_COPY_SAME;
	return GK_COPY_OTHER;
}

bool gk_ike_resend_allowed(gk_ike_resend *c, int64_t now_ms, unsigned max, unsigned window_ms)
{
	if (now_ms - c->window_ms >= window_ms) {
		c->window_ms = now_ms;
		c->sent = 0;
	}
	if (c->sent >= max)
		return false;
	c->sent++;
	return true;
}
