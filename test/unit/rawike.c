/* A hand-made IKE initiator on the fake network: see rawike.h. */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "regfix.h"
#include "rawike.h"
#include "dh.h"

void raw_new(raw_ike *r, uint64_t seed)
{
	memset(r, 0, sizeof(*r));
	r->ep = fn_add_raw(&net);
	ck_assert_ptr_nonnull(r->ep);
	gk_ike_offer_default(&r->offer);
	r->offer.kwa_required = true;
	gk_rand_test_init(&r->rnd, seed);
	r->ike.initiator = true;
}

/* Delivers everything and takes the one datagram the GCKS sent back, parsed; false if none. */
bool raw_recv(raw_ike *r, gk_msg *m, bool decrypt)
{
	fn_dgram d;
	fn_flush(&net);
	if (!fn_raw_take(r->ep, &d))
		return false;
	ck_assert_int_eq(gk_msg_parse(m, GK_CHUNK(d.data, d.len)), GK_OK);
	free(d.data);
	if (decrypt) {
		bool complete = false;
		ck_assert_int_eq(gk_ike_sa_open(&r->ike, m, &complete), GK_OK);
		ck_assert(complete);
	}
	return true;
}

/* Sends an IKE_SA_INIT request proposing r->offer; req gets it, ni its nonce. */
void raw_init_request(raw_ike *r, gk_wbuf *req, uint8_t ni[32])
{
	gk_arena a;
	gk_pl_sa sa;
	gk_wbuf pub;
	gk_arena_init(&a, 0);
	gk_wbuf_init(&pub, 1024);
	ck_assert_int_eq(gk_rand_bytes(&r->rnd.r, (uint8_t *)&r->ike.spi_i, 8), GK_OK);
	ck_assert_int_eq(gk_rand_bytes(&r->rnd.r, ni, 32), GK_OK);
	ck_assert_int_eq(gk_dh_new(r->offer.ke[0], &r->ike.dh), GK_OK);
	ck_assert_int_eq(gk_dh_public(r->ike.dh, &pub), GK_OK);
	ck_assert_int_eq(gk_ike_offer_to_sa(&r->offer, &a, &sa), GK_OK);
	gk_pl_ke ke = { .group = r->offer.ke[0], .data = gk_wbuf_chunk(&pub) };
	gk_pl_bytes nonce = { GK_CHUNK(ni, 32) };
	gk_pl_notify int_sup = { .type = GK_N_INTERMEDIATE_EXCHANGE_SUPPORTED };
	gk_out_pl pl[] = { { GK_PL_SA, false, &sa }, { GK_PL_KE, false, &ke }, { GK_PL_NONCE, false, &nonce },
			   { GK_PL_NOTIFY, false, &int_sup } };
	/* RFC 9370 2.2.1: an offer with additional key exchanges announces IKE_INTERMEDIATE */
	gk_msg_out o = { .hdr = { .spi_i = r->ike.spi_i, .exchange = GK_EXCH_IKE_SA_INIT, .flags = GK_FLAG_I },
			 .outer = pl, .nouter = gk_ike_offer_has_addke(&r->offer) ? 4 : 3 };
	ck_assert_int_eq(gk_msg_build(&o, NULL, NULL, req), GK_OK);
	fn_raw_send(r->ep, req->data, req->len);
	gk_wbuf_free(&pub);
	gk_arena_free(&a);
}

void raw_sa_init(raw_ike *r)
{
	gk_wbuf req, shared;
	uint8_t ni[32];
	gk_wbuf_init(&req, GK_MAX_MESSAGE);
	gk_wbuf_init(&shared, 1024);
	raw_init_request(r, &req, ni);
	gk_msg m;
	ck_assert_msg(raw_recv(r, &m, false), "no IKE_SA_INIT response");
	ck_assert_ptr_null(gk_msg_find_error(&m));
	ck_assert_int_eq(gk_ike_suite_from_sa(&gk_msg_find(&m, GK_PL_SA)->body->sa, &r->offer, &r->ike.suite), GK_OK);
	/* a KWA is chosen exactly when one was offered */
	ck_assert_uint_eq(r->ike.suite.kwa != 0, r->offer.nkwa > 0);
	r->ike.spi_r = m.hdr.spi_r;
	ck_assert_int_eq(gk_dh_derive(r->ike.dh, gk_msg_find(&m, GK_PL_KE)->body->ke.data, &shared), GK_OK);
	ck_assert_int_eq(gk_ike_sa_set_nonces(&r->ike, GK_CHUNK(ni, sizeof(ni)),
					      gk_msg_find(&m, GK_PL_NONCE)->body->bytes.data), GK_OK);
	ck_assert_int_eq(gk_ike_sa_keep_init(&r->ike, gk_wbuf_chunk(&req), m.data), GK_OK);
	ck_assert_int_eq(gk_ike_sa_derive(&r->ike, gk_wbuf_chunk(&shared)), GK_OK);
	r->ike.state = GK_IKE_INIT_DONE;
	r->ike.msgid_out = 1;
	gk_msg_free(&m);
	gk_wbuf_free(&req);
	gk_wbuf_free(&shared);
}

/* Sends a protected request with this Message ID (not necessarily the next one). */
void raw_send(raw_ike *r, uint8_t exchange, uint32_t msg_id, const gk_out_pl *pl, size_t n)
{
	gk_sk_keys k = gk_ike_sa_sk(&r->ike, true);
	gk_msg_out o = { .hdr = { .spi_i = r->ike.spi_i, .spi_r = r->ike.spi_r, .exchange = exchange,
				  .flags = GK_FLAG_I, .msg_id = msg_id },
			 .inner = pl, .ninner = n, .protect = true };
	gk_wbuf w;
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	ck_assert_int_eq(gk_msg_build(&o, &k, &r->rnd.r, &w), GK_OK);
	fn_raw_send(r->ep, w.data, w.len);
	gk_wbuf_free(&w);
}

void raw_free(raw_ike *r) { gk_ike_sa_free(&r->ike); }
