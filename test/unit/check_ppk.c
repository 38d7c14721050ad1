/* Post-quantum preshared keys (RFC 8784) end to end on the fake network (fakenet.h): a GCKS core
 * and member cores, each test a policy and a member that either share a PPK or do not, asserting
 * the outcome (registered, or the exact notify), the GCKS's IKE SA keys (RFC 8784 3: SK_d',
 * SK_pi', SK_pr' and GSK_w derived again) and that nothing is left of a refused member. */
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
#include "gcks/gcks_auth.h"
#include "gcks/gcks_ikerekey.h"
#include "gcks/gcks_resp.h"
#include "ppk.h"

#define R1 "fqdn:r1.example"
#define PPK_R1 "a post-quantum preshared key of r1"
#define PPK_ID_R1 "r1-ppk"

static void setup(void)
{
	rf_setup("check_ppk", "gk-ppk");
}

static void teardown(void)
{
	rf_teardown();
}

static void set_ppk(gk_member_policy *m, const char *ppk, const char *id)
{
	m->ppk_len = strlen(ppk);
	m->ppk = malloc(m->ppk_len);
	m->ppk_id_len = strlen(id);
	m->ppk_id = malloc(m->ppk_id_len);
	ck_assert(m->ppk && m->ppk_id);
	memcpy(m->ppk, ppk, m->ppk_len);
	memcpy(m->ppk_id, id, m->ppk_id_len);
}

/* G1 with PSK member R1 holding PPK_R1 / PPK_ID_R1, and G2 (no PPKs) with R1 too. */
static void ppk_policy(gk_ppk_mode mode)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.ppk = (uint8_t)mode;
	set_ppk(pol_member(&g, R1, GK_MAUTH_PSK, GK_ROLE_RECEIVER), PPK_R1, PPK_ID_R1);
	pol_put(&g);
	pol_init(&g, G2);
	g.teks[0].dst.start[3] = g.teks[0].dst.end[3] = 2;
	pol_member(&g, R1, GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
}

static gk_gm_config gm_ppk(const char *group, const char *ppk, const char *id, bool required)
{
	gk_gm_config c = gm_psk(R1, group);
	c.ppk = (const uint8_t *)ppk;
	c.ppk_len = strlen(ppk);
	c.ppk_id = (const uint8_t *)id;
	c.ppk_id_len = strlen(id);
	c.ppk_required = required;
	return c;
}

struct sa_walk {
	gk_ike_state state;
	gcks_sa *found;
};

static void sa_one(gk_gcks *g, gcks_sa *sa, void *ctx)
{
	struct sa_walk *w = ctx;
	(void)g;
	if (!w->found && sa->ike.state == w->state)
		w->found = sa;
}

static gcks_sa *gcks_sa_in(gk_ike_state state)
{
	struct sa_walk w = { state, NULL };
	gcks_sa_foreach(net.gcks, sa_one, &w);
	return w.found;
}

static void no_trace_of(void)
{
	gk_gcks_stats st = stats();
	ck_assert_uint_eq(st.established, 0);
	ck_assert_uint_eq(st.half_open, 0);
	ck_assert_uint_eq(reg_count(G1), 0);
}

/* Member c joins and its first GSA_AUTH is lost on the way: the half-open SA IKE_SA_INIT made,
 * with the keys it gave, is the GCKS's only one. */
static gcks_sa *join_gsa_auth_lost(const gk_gm_config *c, fn_member **m)
{
	fn_rule drop = fn_rule_any(FN_DROP);
	drop.dir = FN_TO_GCKS;
	drop.exchange = GK_EXCH_GSA_AUTH;
	drop.count = 1;
	fn_impair(&net, &drop);
	*m = join(c);
	fn_flush(&net);
	gcks_sa *half = gcks_sa_in(GK_IKE_INIT_DONE);
	ck_assert_ptr_nonnull(half);
	return half;
}

/* Both sides hold the same PPK: the member registers, and the GCKS's IKE SA runs on SK_d',
 * SK_pi', SK_pr' = prf+(PPK, SK_*) and GSK_w from SK_d' (RFC 8784 3, RFC 9838 6.2), computed
 * here from the keys IKE_SA_INIT gave (caught while the first GSA_AUTH is lost). */
START_TEST(same_ppk_registers_with_updated_keys)
{
	ppk_policy(GK_PPK_REQUIRED);
	start_gcks();
	gk_gm_config c = gm_ppk(G1, PPK_R1, PPK_ID_R1, true);
	fn_member *m;
	gcks_sa *half = join_gsa_auth_lost(&c, &m);
	gk_ike_keys before, after;
	gk_ike_sa_keys_get(&half->ike, &before);
	gk_ike_keys want = before;
	ck_assert_int_eq(gk_ppk_update_keys(&want, GK_CHUNK(PPK_R1, strlen(PPK_R1))), GK_OK);
	run_member(m);
	registered(m, 0);
	ck_assert_uint_eq(reg_count(G1), 1);
	gcks_sa *sa = gcks_sa_in(GK_IKE_ESTABLISHED);
	ck_assert_ptr_nonnull(sa);
	ck_assert(sa->ppk_used);
	gk_ike_sa_keys_get(&sa->ike, &after);
	const gk_ike_keys *k = &after;
	ck_assert_int_eq(memcmp(k->sk_d, want.sk_d, k->d_len), 0);
	ck_assert_int_eq(memcmp(k->sk_pr, want.sk_pr, k->p_len), 0);
	ck_assert_int_eq(memcmp(k->gsk_w, want.gsk_w, k->w_len), 0);
	ck_assert_int_ne(memcmp(k->sk_d, before.sk_d, k->d_len), 0);
	ck_assert_int_ne(memcmp(k->gsk_w, before.gsk_w, k->w_len), 0);
	/* SK_e, SK_a stay: the GSA_AUTH exchange itself was protected with them */
	ck_assert_int_eq(memcmp(k->sk_er, before.sk_er, k->e_len), 0);
	/* the GCKS confirmed with PPK_IDENTITY: the member's GSK_w' unwrapped the group keys */
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, m->idx, GK_EXCH_IKE_SA_INIT, 1), 1);
}
END_TEST

/* A group that requires a PPK refuses a member without one: AUTHENTICATION_FAILED (RFC 8784 3). */
START_TEST(required_refuses_member_without_ppk)
{
	ppk_policy(GK_PPK_REQUIRED);
	start_gcks();
	gk_gm_config c = gm_psk(R1, G1);
	fn_member *m = join(&c);
	run_member(m);
	failed(m, GK_N_AUTHENTICATION_FAILED);
	no_trace_of();
}
END_TEST

/* ... and one whose PPK_ID it does not know, even with NO_PPK_AUTH. */
START_TEST(required_refuses_unknown_ppk_id)
{
	ppk_policy(GK_PPK_REQUIRED);
	start_gcks();
	gk_gm_config c = gm_ppk(G1, PPK_R1, "someone-else", false);
	fn_member *m = join(&c);
	run_member(m);
	failed(m, GK_N_AUTHENTICATION_FAILED);
	no_trace_of();
}
END_TEST

/* optional: a member whose PPK_ID the GCKS does not know registers with NO_PPK_AUTH, on the
 * keys without a PPK; a member without a PPK registers as usual. */
START_TEST(optional_falls_back_to_no_ppk_auth)
{
	ppk_policy(GK_PPK_OPTIONAL);
	start_gcks();
	gk_gm_config c = gm_ppk(G1, PPK_R1, "someone-else", false);
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	gcks_sa *sa = gcks_sa_in(GK_IKE_ESTABLISHED);
	ck_assert_ptr_nonnull(sa);
	ck_assert(!sa->ppk_used);
	gk_gm_config plain = gm_psk(R1, G1);
	plain.initial_contact = true;
	fn_member *p = join(&plain);
	run_member(p);
	registered(p, 0);
}
END_TEST

/* The member insists (ppk_required) and the GCKS does not know its PPK_ID: no NO_PPK_AUTH to
 * fall back on, AUTHENTICATION_FAILED. */
START_TEST(member_requires_ppk_gcks_has_none)
{
	ppk_policy(GK_PPK_OPTIONAL);
	start_gcks();
	gk_gm_config c = gm_ppk(G1, PPK_R1, "someone-else", true);
	fn_member *m = join(&c);
	run_member(m);
	failed(m, GK_N_AUTHENTICATION_FAILED);
	no_trace_of();
}
END_TEST

/* A wrong PPK under a known PPK_ID fails, though NO_PPK_AUTH would verify and the group would
 * allow the fallback: RFC 8784 3, a responder with the PPK ignores NO_PPK_AUTH. */
START_TEST(wrong_ppk_fails_without_fallback)
{
	ppk_policy(GK_PPK_OPTIONAL);
	start_gcks();
	gk_gm_config c = gm_ppk(G1, "not the post-quantum key of r1", PPK_ID_R1, false);
	fn_member *m = join(&c);
	run_member(m);
	failed(m, GK_N_AUTHENTICATION_FAILED);
	no_trace_of();
}
END_TEST

/* A wrong PPK under a known PPK_ID: the GCKS tried SK_d', SK_pi', SK_pr' of its own PPK, AUTH
 * did not verify, and the IKE SA keeps the keys IKE_SA_INIT made (RFC 8784 3: the keys are
 * updated only for an authentication that succeeds with the PPK). The member's GSA_AUTH is
 * caught while lost and handed to the GSA_AUTH handler on the half-open SA, whose keys are
 * compared before the SA is closed as the core would close it. */
START_TEST(wrong_ppk_restores_init_keys)
{
	ppk_policy(GK_PPK_OPTIONAL);
	start_gcks();
	gk_gm_config c = gm_ppk(G1, "not the post-quantum key of r1", PPK_ID_R1, false);
	fn_member *m;
	gcks_sa *half = join_gsa_auth_lost(&c, &m);
	gk_ike_keys before, after, ppk_keys;
	gk_ike_sa_keys_get(&half->ike, &before);
	ppk_keys = before;
	ck_assert_int_eq(gk_ppk_update_keys(&ppk_keys, GK_CHUNK(PPK_R1, strlen(PPK_R1))), GK_OK);
	const fn_trace *t = fn_trace_find(&net, FN_TO_GCKS, m->idx, GK_EXCH_GSA_AUTH, 0, 0);
	ck_assert_ptr_nonnull(t);
	ck_assert(t->fates & (1u << FN_DROPPED));
	gk_msg msg;
	bool complete = false;
	ck_assert_int_eq(gk_msg_parse(&msg, GK_CHUNK(t->data, t->len)), GK_OK);
	ck_assert_int_eq(gk_ike_sa_open_at(&half->ike, &msg, gcks_now(net.gcks), &complete), GK_OK);
	ck_assert(complete);
	ck_assert_ptr_nonnull(gk_msg_find_notify(&msg, GK_N_PPK_IDENTITY));
	ck_assert_ptr_nonnull(gk_msg_find_notify(&msg, GK_N_NO_PPK_AUTH));
	gcks_resp r = { 0 };
	gk_arena_init(&r.arena, 0);
	gcks_gsa_auth(net.gcks, half, &msg, &r);
	/* AUTHENTICATION_FAILED alone, and the SA is to go */
	ck_assert(r.close_after);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.pl[0].type, GK_PL_NOTIFY);
	ck_assert_uint_eq(((const gk_pl_notify *)r.pl[0].body)->type, GK_N_AUTHENTICATION_FAILED);
	ck_assert(!half->ppk_used);
	ck_assert_int_eq(half->ike.state, GK_IKE_INIT_DONE);
	gk_ike_sa_keys_get(&half->ike, &after);
	ck_assert_uint_eq(after.d_len, before.d_len);
	ck_assert_uint_eq(after.p_len, before.p_len);
	ck_assert_uint_eq(after.w_len, before.w_len);
	ck_assert_int_eq(memcmp(after.sk_d, before.sk_d, before.d_len), 0);
	ck_assert_int_eq(memcmp(after.sk_pi, before.sk_pi, before.p_len), 0);
	ck_assert_int_eq(memcmp(after.sk_pr, before.sk_pr, before.p_len), 0);
	ck_assert_int_eq(memcmp(after.gsk_w, before.gsk_w, before.w_len), 0);
	ck_assert_int_eq(memcmp(after.sk_er, before.sk_er, before.e_len), 0);
	/* and they are not the keys of the GCKS's PPK (the test would otherwise prove nothing) */
	ck_assert_int_ne(memcmp(ppk_keys.sk_d, before.sk_d, before.d_len), 0);
	gk_ike_keys_wipe(&before);
	gk_ike_keys_wipe(&after);
	gk_ike_keys_wipe(&ppk_keys);
	gk_arena_free(&r.arena);
	gk_msg_free(&msg);
	gcks_sa_close(net.gcks, half);
	no_trace_of();
}
END_TEST

/* An IKE SA authenticated without a PPK (for G2, which uses none) does not carry a registration
 * to G1, which requires one: AUTHORIZATION_FAILED to that GSA_REGISTRATION. */
START_TEST(required_group_not_over_sa_without_ppk)
{
	ppk_policy(GK_PPK_REQUIRED);
	start_gcks();
	gk_gm_config c = gm_psk(R1, G2);
	c.groups[1] = ident(G1);
	c.ngroups = 2;
	fn_member *m = join(&c);
	run_member(m);
	ck_assert_uint_eq(fn_count(m, GK_GM_REGISTERED), 1);
	ck_assert_uint_eq(fn_find(m, GK_GM_REGISTERED, 0)->group, 0);
	ck_assert_uint_eq(reg_count(G1), 0);
	ck_assert_uint_eq(reg_count(G2), 1);
	const fn_event *e = fn_find(m, GK_GM_REFUSED, 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->group, 1);
	ck_assert_uint_eq(e->notify, GK_N_AUTHORIZATION_FAILED);
}
END_TEST

/* A GSA_AUTH whose PPK notifies break RFC 8784 3 (two PPK_IDENTITY; USE_PPK outside
 * IKE_SA_INIT) is malformed: INVALID_SYNTAX, and the half-open SA is gone. */
static void raw_gsa_auth_with(const gk_pl_notify *extra, size_t nextra, gk_msg *resp)
{
	raw_ike r;
	gk_ident mid = ident(R1), gid = ident(G1);
	gk_pl_id idi = { .id_type = mid.type, .data = GK_CHUNK(mid.data, mid.len) };
	gk_pl_id idg = { .id_type = gid.type, .data = GK_CHUNK(gid.data, gid.len) };
	gk_wbuf body, octets;
	uint8_t mic[64];
	size_t miclen = sizeof(mic);
	raw_new(&r, 77);
	raw_sa_init(&r);
	gk_wbuf_init(&body, 1024);
	gk_wbuf_init(&octets, GK_MAX_MESSAGE * 2);
	ck_assert_int_eq(gk_codec_build(gk_payload_desc(GK_PL_IDi), &idi, &body), GK_OK);
	ck_assert_int_eq(gk_ike_sa_auth_octets(&r.ike, true, gk_wbuf_chunk(&body), &octets), GK_OK);
	ck_assert_int_eq(gk_auth_psk_compute(r.ike.suite.prf, GK_CHUNK(R1, strlen(R1)), gk_wbuf_chunk(&octets),
					     mic, &miclen), GK_OK);
	gk_pl_auth auth = { .method = GK_AUTH_SHARED_KEY_MIC, .data = GK_CHUNK(mic, miclen) };
	gk_out_pl pl[8] = { { GK_PL_IDi, false, &idi }, { GK_PL_AUTH, false, &auth }, { GK_PL_IDg, false, &idg } };
	size_t n = 3;
	for (size_t i = 0; i < nextra; i++)
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &extra[i] };
	raw_send(&r, GK_EXCH_GSA_AUTH, 1, pl, n);
	ck_assert(raw_recv(&r, resp, true));
	gk_wbuf_free(&body);
	gk_wbuf_free(&octets);
	raw_free(&r);
}

START_TEST(misplaced_ppk_notifies_invalid_syntax)
{
	ppk_policy(GK_PPK_OPTIONAL);
	start_gcks();
	gk_pl_notify pid = { .type = GK_N_PPK_IDENTITY, .data = GK_CHUNK("\x02" PPK_ID_R1, 1 + strlen(PPK_ID_R1)) };
	gk_pl_notify use = { .type = GK_N_USE_PPK };
	const gk_pl_notify twice[] = { pid, pid };
	for (int c = 0; c < 3; c++) {
		gk_msg m;
		if (c == 0)
			raw_gsa_auth_with(NULL, 0, &m); /* the same GSA_AUTH without them registers */
		else
			raw_gsa_auth_with(c == 1 ? twice : &use, c == 1 ? 2 : 1, &m);
		const gk_payload *err = gk_msg_find_error(&m);
		if (c == 0) {
			ck_assert_ptr_null(err);
			ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_AUTH));
		} else {
			ck_assert_ptr_nonnull(err);
			ck_assert_uint_eq(err->body->notify.type, GK_N_INVALID_SYNTAX);
			ck_assert_ptr_null(gk_msg_find(&m, GK_PL_AUTH));
		}
		gk_msg_free(&m);
	}
	ck_assert_uint_eq(stats().half_open, 0);
	ck_assert_uint_eq(reg_count(G1), 1);
}
END_TEST

/* The GCKS answers USE_PPK only to a member that sent it (RFC 8784 3). */
START_TEST(use_ppk_answered_in_kind)
{
	ppk_policy(GK_PPK_OPTIONAL);
	start_gcks();
	gk_gm_config plain = gm_psk(R1, G1);
	fn_member *p = join(&plain);
	run_member(p);
	gk_gm_config c = gm_ppk(G1, PPK_R1, PPK_ID_R1, true);
	c.initial_contact = true;
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	for (int i = 0; i < 4; i++) {
		const fn_trace *t = fn_trace_find(&net, i < 2 ? FN_TO_GCKS : FN_FROM_GCKS, i % 2 ? m->idx : p->idx,
						  GK_EXCH_IKE_SA_INIT, i >= 2, 0);
		gk_msg msg;
		ck_assert_ptr_nonnull(t);
		ck_assert_int_eq(gk_msg_parse(&msg, GK_CHUNK(t->data, t->len)), GK_OK);
		ck_assert_msg((gk_msg_find_notify(&msg, GK_N_USE_PPK) != NULL) == (i % 2 == 1), "message %d", i);
		gk_msg_free(&msg);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ppk");
	TCase *tc = tcase_create("ppk");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, same_ppk_registers_with_updated_keys);
	tcase_add_test(tc, required_refuses_member_without_ppk);
	tcase_add_test(tc, required_refuses_unknown_ppk_id);
	tcase_add_test(tc, optional_falls_back_to_no_ppk_auth);
	tcase_add_test(tc, member_requires_ppk_gcks_has_none);
	tcase_add_test(tc, wrong_ppk_fails_without_fallback);
	tcase_add_test(tc, wrong_ppk_restores_init_keys);
	tcase_add_test(tc, required_group_not_over_sa_without_ppk);
	tcase_add_test(tc, use_ppk_answered_in_kind);
	tcase_add_test(tc, misplaced_ppk_notifies_invalid_syntax);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
