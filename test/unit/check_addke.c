/* IKE_INTERMEDIATE and multiple key exchanges (RFC 9242, RFC 9370) on the fake network
 * (fakenet.h): a GCKS core and member cores, and a hand-made initiator (rawike.h) for what the
 * member never sends. Each test asserts the outcome (registered, or the exact notify), the keys
 * of the GCKS's IKE SA, and that the additional exchanges neither outlive nor escape the
 * half-open limits. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "fakenet.h"
#include "rawike.h"
#include "regfix.h"
#include "auth.h"
#include "codec.h"
#include "gcks/gcks_state.h"
#include "gcks/gcks_sa_table.h"
#include "intermediate.h"
#include "ke.h"
#include "ppk.h"

#define R1 "fqdn:r1.example"
#define PPK_R1 "a post-quantum preshared key of r1"
#define PPK_ID_R1 "r1-ppk"

static void setup(void)
{
	rf_setup("check_addke", "gk-addke");
}

static void teardown(void)
{
	rf_teardown();
}

static void policy(gk_ppk_mode ppk)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.ppk = (uint8_t)ppk;
	gk_member_policy *m = pol_member(&g, R1, GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	if (ppk) {
		m->ppk_len = strlen(PPK_R1);
		m->ppk_id_len = strlen(PPK_ID_R1);
		m->ppk = malloc(m->ppk_len);
		m->ppk_id = malloc(m->ppk_id_len);
		ck_assert(m->ppk && m->ppk_id);
		memcpy(m->ppk, PPK_R1, m->ppk_len);
		memcpy(m->ppk_id, PPK_ID_R1, m->ppk_id_len);
	}
	pol_put(&g);
}

/* A member keying with X25519 in IKE_SA_INIT and ADDKE1 = P-384 (RFC 9370 2.2.1). */
static gk_gm_config gm_addke(void)
{
	gk_gm_config c = gm_psk(R1, G1);
	const uint16_t p384 = GK_KE_ECP_384;
	c.offer.ke[0] = GK_KE_CURVE25519;
	gk_ike_offer_require_addke(&c.offer, &p384, 1);
	return c;
}

struct sa_walk {
	gk_ike_state state;
	uint64_t spi_i;                   /* 0: any */
	gcks_sa *found;
};

static void sa_one(gk_gcks *g, gcks_sa *sa, void *ctx)
{
	struct sa_walk *w = ctx;
	(void)g;
	if (!w->found && sa->ike.state == w->state && (!w->spi_i || sa->ike.spi_i == w->spi_i))
		w->found = sa;
}

static gcks_sa *gcks_sa_in(gk_ike_state state)
{
	struct sa_walk w = { state, 0, NULL };
	gcks_sa_foreach(net.gcks, sa_one, &w);
	return w.found;
}

static gcks_sa *gcks_sa_of(uint64_t spi_i)
{
	struct sa_walk w = { GK_IKE_INIT_DONE, spi_i, NULL };
	gcks_sa_foreach(net.gcks, sa_one, &w);
	return w.found;
}

static fn_rule drop_once(uint8_t exchange)
{
	fn_rule drop = fn_rule_any(FN_DROP);
	drop.dir = FN_TO_GCKS;
	drop.exchange = exchange;
	drop.count = 1;
	return drop;
}

/* X25519 then P-384 in IKE_INTERMEDIATE: the member registers; the GCKS's SA ran one additional
 * exchange, and every key changed with it (RFC 9370 2.2.2: SK_e and SK_a too, unlike a PPK), both
 * roles agreeing since AUTH and the wrapped group keys (under GSK_w from the final SK_d) verify. */
START_TEST(registers_with_x25519_and_p384)
{
	policy(GK_PPK_NONE);
	start_gcks();
	gk_gm_config c = gm_addke();
	fn_rule d1 = drop_once(GK_EXCH_IKE_INTERMEDIATE), d2 = drop_once(GK_EXCH_GSA_AUTH);
	fn_impair(&net, &d1);
	fn_impair(&net, &d2);
	fn_member *m = join(&c);
	fn_flush(&net);
	gcks_sa *half = gcks_sa_in(GK_IKE_INIT_DONE);
	ck_assert_ptr_nonnull(half);
	ck_assert_uint_eq(half->ike.suite.ke, GK_KE_CURVE25519);
	ck_assert_uint_eq(half->ike.suite.addke[0], GK_KE_ECP_384);
	ck_assert_ptr_nonnull(half->ike.intermediate);
	ck_assert_uint_eq(half->ike.intermediate->done, 0);
	gk_ike_keys before, after;
	gk_ike_sa_keys_get(&half->ike, &before);
	run_member(m);
	registered(m, 0);
	ck_assert_uint_eq(reg_count(G1), 1);
	gcks_sa *sa = gcks_sa_in(GK_IKE_ESTABLISHED);
	ck_assert_ptr_nonnull(sa);
	ck_assert_ptr_null(sa->ike.intermediate); /* dropped with the nonces once authenticated */
	gk_ike_sa_keys_get(&sa->ike, &after);
	const gk_ike_keys *k = &after;
	ck_assert_int_ne(memcmp(k->sk_d, before.sk_d, k->d_len), 0);
	ck_assert_int_ne(memcmp(k->sk_ei, before.sk_ei, k->e_len), 0);
	/* SK_pi/SK_pr are wiped once authenticated (RFC 7296 2.15: only AUTH needs them); that AUTH
	 * verified under the updated ones is what check_kat_intermediate and the tampering tests show */
	ck_assert_uint_eq(k->p_len, 0);
	ck_assert_int_ne(memcmp(k->gsk_w, before.gsk_w, k->w_len), 0);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, m->idx, GK_EXCH_IKE_INTERMEDIATE, 1), 1);
	/* the GSA_AUTH after one IKE_INTERMEDIATE had Message ID 2 (RFC 9242 3.3.1) */
	ck_assert_uint_eq(sa->ike.msgid_in, 3);
}
END_TEST

/* A GCKS that requires ADDKE1 = P-384 (gcksd --addke p384) refuses a member proposing none:
 * NO_PROPOSAL_CHOSEN to IKE_SA_INIT (RFC 7296 2.7), no SA left. */
START_TEST(required_addke_refuses_member_without)
{
	const uint16_t p384 = GK_KE_ECP_384;
	policy(GK_PPK_NONE);
	gk_ike_offer_require_addke(&gcfg.offer, &p384, 1);
	start_gcks();
	gk_gm_config c = gm_psk(R1, G1);
	fn_member *m = join(&c);
	run_member(m);
	failed(m, GK_N_NO_PROPOSAL_CHOSEN);
	ck_assert_uint_eq(stats().half_open, 0);
	ck_assert_uint_eq(reg_count(G1), 0);
	/* and takes one that proposes it */
	gk_gm_config c2 = gm_addke();
	fn_member *m2 = join(&c2);
	run_member(m2);
	registered(m2, 0);
}
END_TEST

/* A group whose policy requires P-384 (additional-key-exchanges: [p384]): a member whose IKE SA
 * ran none gets NO_PROPOSAL_CHOSEN for the group (RFC 9370; the GCKS itself requires nothing), one
 * that ran it registers. */
START_TEST(group_requires_addke)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.addke[0] = GK_KE_ECP_384;
	g.naddke = 1;
	pol_member(&g, R1, GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	gk_gm_config c = gm_psk(R1, G1);
	fn_member *m = join(&c);
	run_member(m);
	refused(m, GK_N_NO_PROPOSAL_CHOSEN);
	ck_assert_uint_eq(reg_count(G1), 0);
	gk_gm_config c2 = gm_addke();
	fn_member *m2 = join(&c2);
	run_member(m2);
	registered(m2, 0);
	ck_assert_uint_eq(reg_count(G1), 1);
}
END_TEST

/* A member proposing ADDKE with another method than the one the GCKS requires: refused too. */
START_TEST(required_addke_other_method_refused)
{
	const uint16_t p384 = GK_KE_ECP_384, p256 = GK_KE_ECP_256;
	policy(GK_PPK_NONE);
	gk_ike_offer_require_addke(&gcfg.offer, &p384, 1);
	start_gcks();
	gk_gm_config c = gm_psk(R1, G1);
	gk_ike_offer_require_addke(&c.offer, &p256, 1);
	fn_member *m = join(&c);
	run_member(m);
	failed(m, GK_N_NO_PROPOSAL_CHOSEN);
}
END_TEST

/* IntAuth (RFC 9242 3.3.2) is in the AUTH octets: had the GCKS seen other IKE_INTERMEDIATE
 * octets than the member sent (its IntAuth_i differs), the member's AUTH fails:
 * AUTHENTICATION_FAILED, nothing registered. The same for the responder's chain. */
static void tampered(bool initiator_chain)
{
	policy(GK_PPK_NONE);
	start_gcks();
	gk_gm_config c = gm_addke();
	fn_rule d = drop_once(GK_EXCH_GSA_AUTH);
	fn_impair(&net, &d);
	fn_member *m = join(&c);
	fn_flush(&net);
	gcks_sa *half = gcks_sa_in(GK_IKE_INIT_DONE);
	ck_assert_ptr_nonnull(half);
	ck_assert_ptr_nonnull(half->ike.intermediate);
	ck_assert_uint_eq(half->ike.intermediate->done, 1);
	if (initiator_chain)
		half->ike.intermediate->int_i[3] ^= 0x40;
	else
		half->ike.intermediate->int_r[0] ^= 0x01;
	run_member(m);
	failed(m, GK_N_AUTHENTICATION_FAILED);
	ck_assert_uint_eq(reg_count(G1), 0);
	ck_assert_uint_eq(stats().established, 0);
}

START_TEST(tampered_intermediate_fails_auth)
{
	tampered(true);
}
END_TEST

START_TEST(tampered_intermediate_response_fails_auth)
{
	tampered(false);
}
END_TEST

/* PPK with ADDKE: RFC 8784 3 applies to the keys after the last additional key exchange. */
START_TEST(ppk_after_last_key_update)
{
	policy(GK_PPK_REQUIRED);
	start_gcks();
	gk_gm_config c = gm_addke();
	c.ppk = (const uint8_t *)PPK_R1;
	c.ppk_len = strlen(PPK_R1);
	c.ppk_id = (const uint8_t *)PPK_ID_R1;
	c.ppk_id_len = strlen(PPK_ID_R1);
	c.ppk_required = true;
	fn_rule d = drop_once(GK_EXCH_GSA_AUTH);
	fn_impair(&net, &d);
	fn_member *m = join(&c);
	fn_flush(&net);
	gcks_sa *half = gcks_sa_in(GK_IKE_INIT_DONE);
	ck_assert_ptr_nonnull(half);
	ck_assert_uint_eq(half->ike.intermediate->done, 1);
	gk_ike_keys want;
	gk_ike_sa_keys_get(&half->ike, &want);
	ck_assert_int_eq(gk_ppk_update_keys(&want, GK_CHUNK(PPK_R1, strlen(PPK_R1))), GK_OK);
	run_member(m);
	registered(m, 0);
	gcks_sa *sa = gcks_sa_in(GK_IKE_ESTABLISHED);
	ck_assert_ptr_nonnull(sa);
	ck_assert(sa->ppk_used);
	ck_assert_int_eq(memcmp(gk_ike_sa_sk_d(&sa->ike).ptr, want.sk_d, want.d_len), 0);
	ck_assert_int_eq(memcmp(gk_ike_sa_gsk_w(&sa->ike).ptr, want.gsk_w, want.w_len), 0);
}
END_TEST

/* ---- a hand-made initiator ---- */

static void raw_addke(raw_ike *r, uint64_t seed)
{
	const uint16_t p384 = GK_KE_ECP_384;
	raw_new(r, seed);
	gk_ike_offer_require_addke(&r->offer, &p384, 1);
	raw_sa_init(r);
	ck_assert_uint_eq(r->ike.suite.addke[0], GK_KE_ECP_384);
}

/* Builds a protected request of r as raw_send does, keeping the datagram. */
static void raw_build(raw_ike *r, uint8_t exchange, uint32_t msg_id, const gk_out_pl *pl, size_t n, gk_wbuf *w)
{
	gk_sk_keys k = gk_ike_sa_sk(&r->ike, true);
	gk_msg_out o = { .hdr = { .spi_i = r->ike.spi_i, .spi_r = r->ike.spi_r, .exchange = exchange,
				  .flags = GK_FLAG_I, .msg_id = msg_id },
			 .inner = pl, .ninner = n, .protect = true };
	ck_assert_int_eq(gk_msg_build(&o, &k, &r->rnd.r, w), GK_OK);
}

static uint16_t error_of(const gk_msg *m)
{
	const gk_payload *e = gk_msg_find_error(m);
	return e ? e->body->notify.type : 0;
}

/* GSA_AUTH before the negotiated IKE_INTERMEDIATE: INVALID_SYNTAX, and the half-open SA goes
 * (RFC 9370 2.2.2: all additional exchanges come before authentication). */
START_TEST(gsa_auth_before_intermediate_invalid_syntax)
{
	raw_ike r;
	policy(GK_PPK_NONE);
	start_gcks();
	raw_addke(&r, 91);
	ck_assert_uint_eq(stats().half_open, 1);
	gk_ident mid = ident(R1), gid = ident(G1);
	gk_pl_id idi = { .id_type = mid.type, .data = GK_CHUNK(mid.data, mid.len) };
	gk_pl_id idg = { .id_type = gid.type, .data = GK_CHUNK(gid.data, gid.len) };
	uint8_t mic[32] = { 0 };
	gk_pl_auth auth = { .method = GK_AUTH_SHARED_KEY_MIC, .data = GK_CHUNK(mic, sizeof(mic)) };
	gk_out_pl pl[3] = { { GK_PL_IDi, false, &idi }, { GK_PL_AUTH, false, &auth }, { GK_PL_IDg, false, &idg } };
	raw_send(&r, GK_EXCH_GSA_AUTH, 1, pl, 3);
	gk_msg resp;
	ck_assert(raw_recv(&r, &resp, true));
	ck_assert_uint_eq(error_of(&resp), GK_N_INVALID_SYNTAX);
	gk_msg_free(&resp);
	ck_assert_uint_eq(stats().half_open, 0);
	ck_assert_uint_eq(stats().established, 0);
	raw_free(&r);
}
END_TEST

/* One IKE_INTERMEDIATE done right (the GCKS's keys change as RFC 9370 2.2.2 says, computed here
 * from our side), then: the same datagram again gets the same response (RFC 7296 2.1), a KE of
 * another method or an IKE_INTERMEDIATE beyond the negotiated ones gets INVALID_SYNTAX and ends
 * the SA. */
static void raw_one_intermediate(raw_ike *r, gk_wbuf *req, gk_msg *resp)
{
	const gk_ke_method *km = gk_ke_by_id(GK_KE_ECP_384);
	gk_ke_state *st = NULL;
	gk_wbuf pub, shared;
	gk_wbuf_init(&pub, 1024);
	gk_wbuf_init(&shared, 1024);
	ck_assert_int_eq(gk_ke_start(km, &st, &pub), GK_OK);
	gk_pl_ke ke = { .group = km->id, .data = gk_wbuf_chunk(&pub) };
	gk_out_pl pl[1] = { { GK_PL_KE, false, &ke } };
	raw_build(r, GK_EXCH_IKE_INTERMEDIATE, 1, pl, 1, req);
	fn_raw_send(r->ep, req->data, req->len);
	ck_assert(raw_recv(r, resp, true));
	ck_assert_uint_eq(error_of(resp), 0);
	const gk_payload *kr = gk_msg_find(resp, GK_PL_KE);
	ck_assert_ptr_nonnull(kr);
	ck_assert_uint_eq(kr->body->ke.group, GK_KE_ECP_384);
	ck_assert_int_eq(gk_ke_finish(st, kr->body->ke.data, &shared), GK_OK);
	ck_assert_int_eq(gk_ike_sa_addke_update(&r->ike, gk_wbuf_chunk(&shared)), GK_OK);
	gcks_sa *half = gcks_sa_of(r->ike.spi_i);
	ck_assert_ptr_nonnull(half);
	gk_ike_keys hk, rk;
	gk_ike_sa_keys_get(&half->ike, &hk);
	gk_ike_sa_keys_get(&r->ike, &rk);
	ck_assert_uint_eq(rk.p_len, hk.p_len);
	ck_assert_int_eq(memcmp(hk.sk_d, rk.sk_d, rk.d_len), 0);
	ck_assert_int_eq(memcmp(hk.sk_ei, rk.sk_ei, rk.e_len), 0);
	ck_assert_int_eq(memcmp(hk.sk_pr, rk.sk_pr, rk.p_len), 0);
	gk_ke_state_free(st);
	gk_wbuf_free(&pub);
	gk_wbuf_free(&shared);
}

START_TEST(repeated_intermediate_same_response)
{
	raw_ike r;
	gk_wbuf req;
	gk_msg first, again;
	policy(GK_PPK_NONE);
	start_gcks();
	raw_addke(&r, 92);
	gk_wbuf_init(&req, GK_MAX_MESSAGE);
	raw_one_intermediate(&r, &req, &first);
	fn_raw_send(r.ep, req.data, req.len);
	ck_assert(raw_recv(&r, &again, false));
	ck_assert_uint_eq(again.data.len, first.data.len);
	ck_assert_int_eq(memcmp(again.data.ptr, first.data.ptr, first.data.len), 0);
	ck_assert_uint_eq(gcks_sa_in(GK_IKE_INIT_DONE)->ike.intermediate->done, 1); /* not run twice */
	gk_msg_free(&first);
	gk_msg_free(&again);
	gk_wbuf_free(&req);
	raw_free(&r);
}
END_TEST

START_TEST(extra_intermediate_invalid_syntax)
{
	raw_ike r;
	gk_wbuf req;
	gk_msg first, resp;
	policy(GK_PPK_NONE);
	start_gcks();
	raw_addke(&r, 93);
	gk_wbuf_init(&req, GK_MAX_MESSAGE);
	raw_one_intermediate(&r, &req, &first);
	gk_pl_ke ke = { .group = GK_KE_ECP_384, .data = GK_CHUNK(req.data, 96) };
	gk_out_pl pl[1] = { { GK_PL_KE, false, &ke } };
	raw_send(&r, GK_EXCH_IKE_INTERMEDIATE, 2, pl, 1);
	ck_assert(raw_recv(&r, &resp, true)); /* under the updated keys */
	ck_assert_uint_eq(error_of(&resp), GK_N_INVALID_SYNTAX);
	ck_assert_uint_eq(stats().half_open, 0);
	gk_msg_free(&first);
	gk_msg_free(&resp);
	gk_wbuf_free(&req);
	raw_free(&r);
}
END_TEST

/* KEi(1) naming another method, though its value is a valid ECP-384 point of the right length */
START_TEST(intermediate_wrong_method_invalid_syntax)
{
	raw_ike r;
	gk_msg resp;
	gk_ke_state *st = NULL;
	gk_wbuf v;
	gk_wbuf_init(&v, 1024);
	policy(GK_PPK_NONE);
	start_gcks();
	raw_addke(&r, 94);
	ck_assert_int_eq(gk_ke_start(gk_ke_by_id(GK_KE_ECP_384), &st, &v), GK_OK);
	gk_pl_ke ke = { .group = GK_KE_ECP_521, .data = gk_wbuf_chunk(&v) };
	gk_out_pl pl[1] = { { GK_PL_KE, false, &ke } };
	raw_send(&r, GK_EXCH_IKE_INTERMEDIATE, 1, pl, 1);
	ck_assert(raw_recv(&r, &resp, true));
	ck_assert_uint_eq(error_of(&resp), GK_N_INVALID_SYNTAX);
	ck_assert_uint_eq(stats().half_open, 0);
	gk_msg_free(&resp);
	gk_ke_state_free(st);
	gk_wbuf_free(&v);
	raw_free(&r);
}
END_TEST

/* IKE_INTERMEDIATE without negotiated ADDKE: INVALID_SYNTAX. */
START_TEST(intermediate_not_negotiated_invalid_syntax)
{
	raw_ike r;
	gk_msg resp;
	policy(GK_PPK_NONE);
	start_gcks();
	raw_new(&r, 95);
	raw_sa_init(&r);
	raw_send(&r, GK_EXCH_IKE_INTERMEDIATE, 1, NULL, 0);
	ck_assert(raw_recv(&r, &resp, true));
	ck_assert_uint_eq(error_of(&resp), GK_N_INVALID_SYNTAX);
	gk_msg_free(&resp);
	raw_free(&r);
}
END_TEST

/* The attack: IKE_SA_INITs with ADDKE that stop after IKE_INTERMEDIATE. Their SAs stay half-open
 * (counted against half_open_max, evicted oldest first when a new one comes) and expire with the
 * half-open timeout counted from IKE_SA_INIT: the exchange buys no time. */
START_TEST(intermediate_stays_within_half_open_limits)
{
	raw_ike r[5];
	gk_wbuf req;
	gk_msg resp;
	policy(GK_PPK_NONE);
	gcfg.cookie_per_source = 100; /* no cookies: the cap itself is what is tested */
	gcfg.cookie_threshold = 1000;
	gcfg.cookie_rate = 1000;
	gcfg.costly_ke_rate = 1000;
	gcfg.costly_ke_per_source = 1000;
	gcfg.half_open_max = 4;
	start_gcks();
	size_t cap = gcfg.half_open_max;
	for (size_t i = 0; i < cap; i++) {
		raw_addke(&r[i], 100 + i);
		gk_wbuf_init(&req, GK_MAX_MESSAGE);
		raw_one_intermediate(&r[i], &req, &resp);
		gk_msg_free(&resp);
		gk_wbuf_free(&req);
		fn_advance(&net, 100);
	}
	ck_assert_uint_eq(stats().half_open, cap);
	ck_assert_uint_eq(stats().established, 0);
	/* one more evicts the oldest, intermediate stage or not */
	raw_addke(&r[cap], 200);
	ck_assert_uint_eq(stats().half_open, cap);
	ck_assert_uint_eq(stats().half_open_evicted, 1);
	ck_assert_ptr_null(gcks_sa_of(r[0].ike.spi_i));
	/* and all expire on the half-open timeout, counted from IKE_SA_INIT */
	fn_advance(&net, gcfg.half_open_timeout_ms + 1000);
	ck_assert_uint_eq(stats().half_open, 0);
	for (size_t i = 0; i <= cap; i++)
		raw_free(&r[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("addke");
	TCase *tc = tcase_create("addke");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, registers_with_x25519_and_p384);
	tcase_add_test(tc, required_addke_refuses_member_without);
	tcase_add_test(tc, required_addke_other_method_refused);
	tcase_add_test(tc, group_requires_addke);
	tcase_add_test(tc, tampered_intermediate_fails_auth);
	tcase_add_test(tc, tampered_intermediate_response_fails_auth);
	tcase_add_test(tc, ppk_after_last_key_update);
	tcase_add_test(tc, gsa_auth_before_intermediate_invalid_syntax);
	tcase_add_test(tc, repeated_intermediate_same_response);
	tcase_add_test(tc, extra_intermediate_invalid_syntax);
	tcase_add_test(tc, intermediate_wrong_method_invalid_syntax);
	tcase_add_test(tc, intermediate_not_negotiated_invalid_syntax);
	tcase_add_test(tc, intermediate_stays_within_half_open_limits);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
