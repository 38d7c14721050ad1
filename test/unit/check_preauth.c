/* What a peer can make the GCKS hold or send before it authenticates, attacked over the fake
 * network (fakenet.h) with hand-made messages: an oversized IKE_SA_INIT request, floods of IKE
 * fragments (RFC 7383) on half-open SAs, incomplete fragment sets, and replays of a protected
 * request to have its cached response resent (RFC 7296 2.1). Each test asserts the exact
 * outcome: what went over the wire, the parked fragment octets and the GCKS counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "fakenet.h"
#include "regfix.h"
#include "gcks/storage.h"
#include "auth.h"
#include "dh.h"
#include "ike_sa.h"
#include "log.h"
#include "message.h"
#include "proposal.h"

#define MEMBER "fqdn:r1.example"

/* ---- fixture (regfix.h): G1 with one ESP TEK, a multicast Rekey SA and the PSK receiver
 * MEMBER (its PSK is its name) ---- */

static void setup(void)
{
	rf_setup("check_preauth", "gk-preauth");
	single_member_policy(MEMBER);
}

static void teardown(void)
{
	rf_teardown();
}

/* ---- a hand-made initiator ---- */

typedef struct raw_ike {
	fn_raw *ep;
	gk_ike_sa ike;
	gk_ike_offer offer;
	gk_rand_test rnd;
	uint8_t ni[32];
} raw_ike;

/* A hand-made initiator at endpoint ep (shared by several: one source), or a new one. */
static void raw_new_at(raw_ike *r, uint64_t seed, fn_raw *ep)
{
	memset(r, 0, sizeof(*r));
	r->ep = ep ? ep : fn_add_raw(&net);
	ck_assert_ptr_nonnull(r->ep);
	gk_ike_offer_default(&r->offer);
	r->offer.kwa_required = true;
	gk_rand_test_init(&r->rnd, seed);
	r->ike.initiator = true;
	ck_assert_int_eq(gk_rand_bytes(&r->rnd.r, (uint8_t *)&r->ike.spi_i, 8), GK_OK);
	ck_assert_int_eq(gk_rand_bytes(&r->rnd.r, r->ni, sizeof(r->ni)), GK_OK);
	ck_assert_int_eq(gk_dh_new(r->offer.ke[0], &r->ike.dh), GK_OK);
}

static void raw_new(raw_ike *r, uint64_t seed)
{
	raw_new_at(r, seed, NULL);
}

static void raw_free(raw_ike *r) { gk_ike_sa_free(&r->ike); }

/* Datagrams the GCKS sent to the raw endpoint since the last call (after delivering all). */
static size_t raw_drain(fn_raw *ep, fn_dgram *last)
{
	fn_dgram d;
	size_t n = 0;
	fn_flush(&net);
	while (fn_raw_take(ep, &d)) {
		if (last) {
			free(last->data);
			*last = d;
		} else {
			free(d.data);
		}
		n++;
	}
	return n;
}

/* IKE_SA_INIT request padded with a Vendor ID payload to exactly `size` octets (0: no pad). */
static void raw_init_request(raw_ike *r, size_t size, gk_wbuf *req)
{
	gk_arena a;
	gk_pl_sa sa;
	gk_wbuf pub;
	gk_arena_init(&a, 0);
	gk_wbuf_init(&pub, 1024);
	ck_assert_int_eq(gk_dh_public(r->ike.dh, &pub), GK_OK);
	ck_assert_int_eq(gk_ike_offer_to_sa(&r->offer, &a, &sa), GK_OK);
	gk_pl_ke ke = { .group = r->offer.ke[0], .data = gk_wbuf_chunk(&pub) };
	gk_pl_bytes nonce = { GK_CHUNK(r->ni, sizeof(r->ni)) };
	static uint8_t pad[GK_MAX_MESSAGE];
	gk_pl_bytes vid = { GK_CHUNK(pad, 0) };
	gk_out_pl pl[] = { { GK_PL_SA, false, &sa }, { GK_PL_KE, false, &ke }, { GK_PL_NONCE, false, &nonce },
			   { GK_PL_VENDOR, false, &vid } };
	gk_msg_out o = { .hdr = { .spi_i = r->ike.spi_i, .exchange = GK_EXCH_IKE_SA_INIT, .flags = GK_FLAG_I },
			 .outer = pl, .nouter = size ? 4 : 3 };
	gk_wbuf_init(req, GK_MAX_MESSAGE);
	ck_assert_int_eq(gk_msg_build(&o, NULL, NULL, req), GK_OK);
	if (size) {
		ck_assert_uint_le(req->len, size);
		vid.data.len = size - req->len;
		gk_wbuf_free(req);
		gk_wbuf_init(req, GK_MAX_MESSAGE);
		ck_assert_int_eq(gk_msg_build(&o, NULL, NULL, req), GK_OK);
		ck_assert_uint_eq(req->len, size);
	}
	gk_wbuf_free(&pub);
	gk_arena_free(&a);
}

/* Takes the IKE_SA_INIT response and derives the keys: the SA is half-open at the GCKS. */
static void raw_init_finish(raw_ike *r, gk_chunk req, const fn_dgram *resp)
{
	gk_msg m;
	gk_wbuf shared;
	gk_wbuf_init(&shared, 1024);
	ck_assert_int_eq(gk_msg_parse(&m, GK_CHUNK(resp->data, resp->len)), GK_OK);
	ck_assert_ptr_null(gk_msg_find_error(&m));
	ck_assert_int_eq(gk_ike_suite_from_sa(&gk_msg_find(&m, GK_PL_SA)->body->sa, &r->offer, &r->ike.suite), GK_OK);
	r->ike.spi_r = m.hdr.spi_r;
	ck_assert_int_eq(gk_dh_derive(r->ike.dh, gk_msg_find(&m, GK_PL_KE)->body->ke.data, &shared), GK_OK);
	ck_assert_int_eq(gk_ike_sa_set_nonces(&r->ike, GK_CHUNK(r->ni, sizeof(r->ni)),
					      gk_msg_find(&m, GK_PL_NONCE)->body->bytes.data), GK_OK);
	ck_assert_int_eq(gk_ike_sa_keep_init(&r->ike, req, m.data), GK_OK);
	ck_assert_int_eq(gk_ike_sa_derive(&r->ike, gk_wbuf_chunk(&shared)), GK_OK);
	r->ike.state = GK_IKE_INIT_DONE;
	r->ike.msgid_out = 1;
	gk_msg_free(&m);
	gk_wbuf_free(&shared);
}

static void raw_sa_init(raw_ike *r)
{
	gk_wbuf req;
	fn_dgram resp = { 0 };
	raw_init_request(r, 0, &req);
	fn_raw_send(r->ep, req.data, req.len);
	ck_assert_uint_eq(raw_drain(r->ep, &resp), 1);
	raw_init_finish(r, gk_wbuf_chunk(&req), &resp);
	free(resp.data);
	gk_wbuf_free(&req);
}

/* GSA_AUTH request of MEMBER for G1 as datagrams: fragmented at max_len when non-zero. */
static void raw_gsa_auth(raw_ike *r, size_t max_len, gk_dgrams *out)
{
	gk_ident mid = ident(MEMBER), gid = ident(G1);
	gk_pl_id idi = { .id_type = mid.type, .data = GK_CHUNK(mid.data, mid.len) };
	gk_pl_id idg = { .id_type = gid.type, .data = GK_CHUNK(gid.data, gid.len) };
	gk_wbuf body, octets;
	uint8_t mic[64];
	size_t miclen = sizeof(mic);
	gk_wbuf_init(&body, 1024);
	gk_wbuf_init(&octets, GK_MAX_MESSAGE * 2);
	ck_assert_int_eq(gk_codec_build(gk_payload_desc(GK_PL_IDi), &idi, &body), GK_OK);
	ck_assert_int_eq(gk_ike_sa_auth_octets(&r->ike, true, gk_wbuf_chunk(&body), &octets), GK_OK);
	ck_assert_int_eq(gk_auth_psk_compute(r->ike.suite.prf, GK_CHUNK(MEMBER, strlen(MEMBER)),
					     gk_wbuf_chunk(&octets), mic, &miclen), GK_OK);
	gk_pl_auth auth = { .method = GK_AUTH_SHARED_KEY_MIC, .data = GK_CHUNK(mic, miclen) };
	gk_out_pl pl[] = { { GK_PL_IDi, false, &idi }, { GK_PL_AUTH, false, &auth }, { GK_PL_IDg, false, &idg } };
	gk_sk_keys k = gk_ike_sa_sk(&r->ike, true);
	gk_msg_out o = { .hdr = { .spi_i = r->ike.spi_i, .spi_r = r->ike.spi_r, .exchange = GK_EXCH_GSA_AUTH,
				  .flags = GK_FLAG_I, .msg_id = 1 },
			 .inner = pl, .ninner = 3, .protect = true };
	ck_assert_int_eq(gk_msg_build_dgrams(&o, &k, &r->rnd.r, max_len != 0, max_len, out), GK_OK);
	gk_wbuf_free(&body);
	gk_wbuf_free(&octets);
}

/* One SKF fragment (RFC 7383 2.5) of request msg_id on r's SA carrying plain_len octets. */
static void raw_fragment(raw_ike *r, uint32_t msg_id, uint16_t num, uint16_t total, size_t plain_len, gk_wbuf *w)
{
	static uint8_t plain[GK_MAX_MESSAGE];
	gk_sk_keys k = gk_ike_sa_sk(&r->ike, true);
	gk_hdr h = { .spi_i = r->ike.spi_i, .spi_r = r->ike.spi_r, .next_payload = GK_PL_SKF,
		     .exchange = GK_EXCH_GSA_AUTH, .flags = GK_FLAG_I, .msg_id = msg_id };
	gk_wbuf_init(w, GK_MAX_MESSAGE);
	gk_hdr_build(&h, w);
	size_t sk_off = w->len;
	gk_wbuf_u8(w, num == 1 ? GK_PL_VENDOR : GK_PL_NONE);
	gk_wbuf_u8(w, 0);
	gk_wbuf_u16(w, 0);
	gk_wbuf_u16(w, num);
	gk_wbuf_u16(w, total);
	ck_assert_int_eq(gk_sk_seal(&k, &r->rnd.r, w, sk_off, GK_CHUNK(plain, plain_len)), GK_OK);
}

static void raw_send_fragment(raw_ike *r, uint16_t num, uint16_t total, size_t plain_len)
{
	gk_wbuf w;
	raw_fragment(r, 1, num, total, plain_len, &w);
	fn_raw_send(r->ep, w.data, w.len);
	gk_wbuf_free(&w);
	fn_flush(&net);
}

/* Octets one fragment of FRAG_PLAIN octets holds parked (its decryption buffer). */
#define FRAG_PLAIN 3000
#define FRAG_COST 4096

/* =========================================================================================
 * IKE_SA_INIT: the request kept until authentication is bounded
 * ========================================================================================= */

START_TEST(init_request_over_cap_dropped)
{
	start_gcks();
	raw_ike r;
	raw_new(&r, 1);
	gk_wbuf req;
	/* one octet over: dropped silently, no SA, nothing kept, nothing sent back */
	raw_init_request(&r, gcfg.init_req_max + 1, &req);
	fn_raw_send(r.ep, req.data, req.len);
	ck_assert_uint_eq(raw_drain(r.ep, NULL), 0);
	gk_gcks_stats s = stats();
	ck_assert_uint_eq(s.half_open, 0);
	ck_assert_uint_eq(s.dropped, 1);
	ck_assert_uint_eq(s.refusals, 0);
	gk_wbuf_free(&req);
	/* exactly at the bound: answered, one half-open SA */
	raw_init_request(&r, gcfg.init_req_max, &req);
	fn_raw_send(r.ep, req.data, req.len);
	fn_dgram resp = { 0 };
	ck_assert_uint_eq(raw_drain(r.ep, &resp), 1);
	raw_init_finish(&r, gk_wbuf_chunk(&req), &resp);
	free(resp.data);
	s = stats();
	ck_assert_uint_eq(s.half_open, 1);
	ck_assert_uint_eq(s.dropped, 1);
	/* and the SA it made works: the AUTH covers the whole stored request */
	gk_dgrams d;
	raw_gsa_auth(&r, 0, &d);
	fn_raw_send(r.ep, d.d[0].data, d.d[0].len);
	ck_assert_uint_eq(raw_drain(r.ep, NULL), 1);
	ck_assert_uint_eq(stats().registrations, 1);
	gk_dgrams_free(&d);
	gk_wbuf_free(&req);
	raw_free(&r);
}
END_TEST

/* =========================================================================================
 * Fragments parked before authentication
 * ========================================================================================= */

START_TEST(fragmented_gsa_auth_within_caps)
{
	start_gcks();
	raw_ike r;
	raw_new(&r, 2);
	raw_sa_init(&r);
	gk_dgrams d;
	raw_gsa_auth(&r, 80, &d);
	ck_assert_uint_ge(d.n, 3);
	for (size_t i = 0; i + 1 < d.n; i++) {
		fn_raw_send(r.ep, d.d[i].data, d.d[i].len);
		ck_assert_uint_eq(raw_drain(r.ep, NULL), 0);
		ck_assert_uint_gt(stats().frag_bytes, 0);
	}
	fn_raw_send(r.ep, d.d[d.n - 1].data, d.d[d.n - 1].len);
	ck_assert_uint_eq(raw_drain(r.ep, NULL), 1);
	gk_gcks_stats s = stats();
	ck_assert_uint_eq(s.registrations, 1);
	ck_assert_uint_eq(s.established, 1);
	ck_assert_uint_eq(s.frag_bytes, 0);
	gk_dgrams_free(&d);
	raw_free(&r);
}
END_TEST

/* A peer that completed IKE_SA_INIT (so its fragments verify) sends fragments of a message
 * that never completes: what is parked never exceeds frag_sa_max; the set that would is
 * dropped whole, and the next fragment starts a new one. */
START_TEST(fragment_flood_per_sa_cap)
{
	start_gcks();
	raw_ike r;
	raw_new(&r, 3);
	raw_sa_init(&r);
	const unsigned fit = gcfg.frag_sa_max / FRAG_COST;
	ck_assert_uint_eq(fit, 16);
	for (unsigned k = 1; k <= 2 * fit; k++) {
		raw_send_fragment(&r, (uint16_t)k, GK_FRAG_MAX, FRAG_PLAIN);
		uint64_t want = k <= fit ? k * FRAG_COST : k == fit + 1 ? 0 : (k - fit - 1) * FRAG_COST;
		ck_assert_msg(stats().frag_bytes == want, "fragment %u: %llu parked, want %llu", k,
			      (unsigned long long)stats().frag_bytes, (unsigned long long)want);
	}
	ck_assert_uint_eq(raw_drain(r.ep, NULL), 0);
	gk_gcks_stats s = stats();
	ck_assert_uint_eq(s.half_open, 1);
	ck_assert_uint_eq(s.established, 0);
	/* the half-open SA's end returns its fragments' octets */
	fn_advance(&net, gcfg.half_open_timeout_ms + 1000);
	s = stats();
	ck_assert_uint_eq(s.half_open, 0);
	ck_assert_uint_eq(s.frag_bytes, 0);
	raw_free(&r);
}
END_TEST

/* Many half-open SAs together park at most frag_total_max; a fragment beyond it makes room by
 * dropping the oldest incomplete set of another source, so a newcomer is never locked out. */
START_TEST(fragment_flood_total_cap)
{
	gcfg.frag_sa_max = 2 * FRAG_COST;
	gcfg.frag_total_max = 5 * FRAG_COST;
	start_gcks();
	raw_ike r[4];
	for (int i = 0; i < 4; i++) {
		raw_new(&r[i], 10 + (uint64_t)i);
		raw_sa_init(&r[i]);
	}
	raw_send_fragment(&r[0], 1, 4, FRAG_PLAIN);
	raw_send_fragment(&r[0], 2, 4, FRAG_PLAIN);
	raw_send_fragment(&r[1], 1, 4, FRAG_PLAIN);
	raw_send_fragment(&r[1], 2, 4, FRAG_PLAIN);
	raw_send_fragment(&r[2], 1, 4, FRAG_PLAIN);
	ck_assert_uint_eq(stats().frag_bytes, 5 * FRAG_COST);
	ck_assert_uint_eq(stats().frag_evicted, 0);
	/* r[0]'s set is the oldest: it goes, r[2]'s second fragment is kept */
	raw_send_fragment(&r[2], 2, 4, FRAG_PLAIN);
	ck_assert_uint_eq(stats().frag_bytes, 4 * FRAG_COST);
	ck_assert_uint_eq(stats().frag_evicted, 1);
	raw_send_fragment(&r[3], 1, 4, FRAG_PLAIN);
	ck_assert_uint_eq(stats().frag_bytes, 5 * FRAG_COST);
	/* the newcomer's next fragment: r[1]'s set goes */
	raw_send_fragment(&r[3], 2, 4, FRAG_PLAIN);
	ck_assert_uint_eq(stats().frag_bytes, 4 * FRAG_COST);
	ck_assert_uint_eq(stats().frag_evicted, 2);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(raw_drain(r[i].ep, NULL), 0);
	ck_assert_uint_eq(stats().half_open, 4);
	/* once the sets time out, the pool is free again */
	fn_advance(&net, gcfg.frag_timeout_ms + 1000);
	ck_assert_uint_eq(stats().frag_bytes, 0);
	raw_send_fragment(&r[3], 1, 4, FRAG_PLAIN);
	ck_assert_uint_eq(stats().frag_bytes, FRAG_COST);
	for (int i = 0; i < 4; i++)
		raw_free(&r[i]);
}
END_TEST

/* One source's half-open SAs park at most frag_source_max together: beyond it the source's
 * oldest set goes, and other sources keep theirs. */
START_TEST(fragment_flood_source_cap)
{
	gcfg.frag_sa_max = 4 * FRAG_COST;
	gcfg.frag_source_max = 6 * FRAG_COST;
	start_gcks();
	raw_ike a1, a2, b;
	raw_new(&a1, 30);
	raw_new_at(&a2, 31, a1.ep);
	raw_new(&b, 32);
	raw_sa_init(&a1);
	raw_sa_init(&a2);
	raw_sa_init(&b);
	for (uint16_t k = 1; k <= 4; k++)
		raw_send_fragment(&b, k, GK_FRAG_MAX, FRAG_PLAIN);
	for (uint16_t k = 1; k <= 4; k++)
		raw_send_fragment(&a1, k, GK_FRAG_MAX, FRAG_PLAIN);
	raw_send_fragment(&a2, 1, GK_FRAG_MAX, FRAG_PLAIN);
	raw_send_fragment(&a2, 2, GK_FRAG_MAX, FRAG_PLAIN);
	ck_assert_uint_eq(stats().frag_bytes, 10 * FRAG_COST);
	ck_assert_uint_eq(stats().frag_evicted, 0);
	/* a's seventh: a1's set goes (b's, older, stays) */
	raw_send_fragment(&a2, 3, GK_FRAG_MAX, FRAG_PLAIN);
	ck_assert_uint_eq(stats().frag_bytes, 7 * FRAG_COST);
	ck_assert_uint_eq(stats().frag_evicted, 1);
	raw_send_fragment(&a2, 4, GK_FRAG_MAX, FRAG_PLAIN);
	ck_assert_uint_eq(stats().frag_bytes, 8 * FRAG_COST);
	/* a1 starts a new set; past the source's bound again, a2's set (now its oldest) goes */
	raw_send_fragment(&a1, 1, GK_FRAG_MAX, FRAG_PLAIN);
	raw_send_fragment(&a1, 2, GK_FRAG_MAX, FRAG_PLAIN);
	ck_assert_uint_eq(stats().frag_bytes, 6 * FRAG_COST + 4 * FRAG_COST);
	ck_assert_uint_eq(stats().frag_evicted, 1);
	raw_send_fragment(&a1, 3, GK_FRAG_MAX, FRAG_PLAIN);
	ck_assert_uint_eq(stats().frag_bytes, 3 * FRAG_COST + 4 * FRAG_COST);
	ck_assert_uint_eq(stats().frag_evicted, 2);
	ck_assert_uint_eq(stats().half_open, 3);
	raw_free(&a1);
	raw_free(&a2);
	raw_free(&b);
}
END_TEST

/* The attack on the shared pool: sources that completed IKE_SA_INIT fill it with fragment sets
 * that never complete, and start each set over (another Fragment Total) before it times out.
 * Starting over does not make a set younger: all of them go frag_timeout_ms after they began.
 * And while the pool is full, a member's fragmented GSA_AUTH still gets through: its fragments
 * take the room of the oldest sets of other sources, also while the attacker keeps sending. */
START_TEST(fragment_pool_lockout)
{
	gcfg.frag_sa_max = 4 * FRAG_COST;
	gcfg.frag_source_max = 8 * FRAG_COST;
	gcfg.frag_total_max = 16 * FRAG_COST;
	start_gcks();
	raw_ike att[4], m;
	for (int i = 0; i < 4; i++) {
		raw_new_at(&att[i], 40 + (uint64_t)i, i % 2 ? att[i - 1].ep : NULL);
		raw_sa_init(&att[i]);
	}
	for (int i = 0; i < 4; i++)
		for (uint16_t k = 1; k <= 4; k++)
			raw_send_fragment(&att[i], k, GK_FRAG_MAX, FRAG_PLAIN);
	ck_assert_uint_eq(stats().frag_bytes, 16 * FRAG_COST);
	/* just before the timeout, every set starts over and fills up again */
	fn_advance(&net, gcfg.frag_timeout_ms - 1000);
	ck_assert_uint_eq(stats().frag_bytes, 16 * FRAG_COST);
	for (int i = 0; i < 4; i++)
		for (uint16_t k = 1; k <= 4; k++)
			raw_send_fragment(&att[i], k, GK_FRAG_MAX - 1, FRAG_PLAIN);
	ck_assert_uint_eq(stats().frag_bytes, 16 * FRAG_COST);
	fn_advance(&net, 1100);
	ck_assert_uint_eq(stats().frag_bytes, 0);
	ck_assert_uint_eq(stats().frag_evicted, 0);
	/* filled again; the member comes */
	for (int i = 0; i < 4; i++)
		for (uint16_t k = 1; k <= 4; k++)
			raw_send_fragment(&att[i], k, GK_FRAG_MAX, FRAG_PLAIN);
	ck_assert_uint_eq(stats().frag_bytes, 16 * FRAG_COST);
	raw_new(&m, 50);
	raw_sa_init(&m);
	gk_dgrams d;
	raw_gsa_auth(&m, 80, &d);
	ck_assert_uint_ge(d.n, 3);
	uint16_t next = 5;
	for (size_t i = 0; i < d.n; i++) {
		fn_raw_send(m.ep, d.d[i].data, d.d[i].len);
		fn_flush(&net);
		ck_assert_uint_le(stats().frag_bytes, gcfg.frag_total_max);
		/* the attacker keeps sending on the set that was dropped for the member's fragment */
		raw_send_fragment(&att[0], next++, GK_FRAG_MAX, FRAG_PLAIN);
		ck_assert_uint_le(stats().frag_bytes, gcfg.frag_total_max);
	}
	ck_assert_uint_eq(raw_drain(m.ep, NULL), 1);
	gk_gcks_stats s = stats();
	ck_assert_uint_eq(s.registrations, 1);
	ck_assert_uint_eq(s.established, 1);
	ck_assert_uint_eq(s.half_open, 4);
	/* the member's first fragment took the room of the oldest set (att[0]'s, 4 fragments);
	 * what the attacker sent on att[0] since fits in what that freed */
	ck_assert_uint_eq(s.frag_evicted, 1);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(raw_drain(att[i].ep, NULL), 0);
	gk_dgrams_free(&d);
	for (int i = 0; i < 4; i++)
		raw_free(&att[i]);
	raw_free(&m);
}
END_TEST

/* An incomplete set is dropped frag_timeout_ms after its first fragment: the fragment parked
 * before is gone, so the rest alone does not complete the message. */
START_TEST(fragment_set_expires)
{
	start_gcks();
	raw_ike r;
	raw_new(&r, 4);
	raw_sa_init(&r);
	/* a scan has set the half-open SA's next due time (its deadline, far later) before the
	 * first fragment comes: the fragment must bring it forward */
	fn_advance(&net, 2000);
	ck_assert_uint_eq(stats().half_open, 1);
	gk_dgrams d;
	raw_gsa_auth(&r, 100, &d);
	ck_assert_uint_eq(d.n, 2);
	fn_raw_send(r.ep, d.d[0].data, d.d[0].len);
	fn_flush(&net);
	uint64_t parked = stats().frag_bytes;
	ck_assert_uint_gt(parked, 0);
	fn_advance(&net, gcfg.frag_timeout_ms - 100);
	ck_assert_uint_eq(stats().frag_bytes, parked);
	fn_advance(&net, 1100);
	ck_assert_uint_eq(stats().frag_bytes, 0);
	/* the second fragment starts a new set instead of completing the message */
	fn_raw_send(r.ep, d.d[1].data, d.d[1].len);
	ck_assert_uint_eq(raw_drain(r.ep, NULL), 0);
	ck_assert_uint_gt(stats().frag_bytes, 0);
	ck_assert_uint_eq(stats().registrations, 0);
	/* the first one again completes it */
	fn_raw_send(r.ep, d.d[0].data, d.d[0].len);
	ck_assert_uint_eq(raw_drain(r.ep, NULL), 1);
	ck_assert_uint_eq(stats().registrations, 1);
	ck_assert_uint_eq(stats().frag_bytes, 0);
	gk_dgrams_free(&d);
	raw_free(&r);
}
END_TEST

/* =========================================================================================
 * Replayed protected requests: the cached response is resent at a bounded rate
 * ========================================================================================= */

START_TEST(replayed_request_rate_limited)
{
	start_gcks();
	raw_ike r;
	raw_new(&r, 5);
	raw_sa_init(&r);
	fn_raw *victim = fn_add_raw(&net);
	ck_assert_ptr_nonnull(victim);
	gk_dgrams d;
	raw_gsa_auth(&r, 0, &d);
	fn_dgram first = { 0 }, again = { 0 };
	fn_raw_send(r.ep, d.d[0].data, d.d[0].len);
	ck_assert_uint_eq(raw_drain(r.ep, &first), 1);
	ck_assert_uint_eq(stats().registrations, 1);
	/* an attacker replays the captured request, from the victim's address, 10 times at once:
	 * the victim gets rtx_resend_max copies of the cached response, no more */
	ck_assert_uint_eq(gcfg.rtx_resend_max, 3);
	for (int i = 0; i < 10; i++)
		fn_raw_send(victim, d.d[0].data, d.d[0].len);
	ck_assert_uint_eq(raw_drain(victim, &again), 3);
	ck_assert_uint_eq(again.len, first.len);
	ck_assert_mem_eq(again.data, first.data, first.len);
	gk_gcks_stats s = stats();
	ck_assert_uint_eq(s.rtx_limited, 7);
	ck_assert_uint_eq(s.registrations, 1);
	/* still within the window: nothing more */
	fn_advance(&net, gcfg.rtx_window_ms - 200);
	fn_raw_send(victim, d.d[0].data, d.d[0].len);
	ck_assert_uint_eq(raw_drain(victim, NULL), 0);
	/* the next window allows rtx_resend_max again */
	fn_advance(&net, 200);
	for (int i = 0; i < 10; i++)
		fn_raw_send(victim, d.d[0].data, d.d[0].len);
	ck_assert_uint_eq(raw_drain(victim, NULL), 3);
	ck_assert_uint_eq(stats().rtx_limited, 15);
	free(first.data);
	free(again.data);
	gk_dgrams_free(&d);
	raw_free(&r);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("preauth");
	TCase *tc = tcase_create("preauth");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, init_request_over_cap_dropped);
	tcase_add_test(tc, fragmented_gsa_auth_within_caps);
	tcase_add_test(tc, fragment_flood_per_sa_cap);
	tcase_add_test(tc, fragment_flood_total_cap);
	tcase_add_test(tc, fragment_flood_source_cap);
	tcase_add_test(tc, fragment_pool_lockout);
	tcase_add_test(tc, fragment_set_expires);
	tcase_add_test(tc, replayed_request_rate_limited);
	suite_add_tcase(su, tc);
	return tu_run(su);
}
