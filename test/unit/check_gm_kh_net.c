/* The member core (member/gm_core.c) with key hierarchies on the fake network, against the real
 * GCKS whose encoding of group state is wrapped (gk_group_state_encode) to send what it does not
 * send itself yet:
 *  - RFC 9838 4.5.3.1: WRAP_KEY "MUST NOT be used if inband rekey (via the GSA_INBAND_REKEY
 *    exchange) is employed by the GCKS for the GM": a GSA_INBAND_REKEY with a member key bag
 *    holding a WRAP_KEY (a proper Wrapped Key under the IKE SA's GSK_w) is refused whole (no new
 *    SAs reported) and answered; the same rekey without it is taken (the control).
 *  - Appendix A.2: a registration whose Rekey SA key comes under the tree's key 1 with
 *    MP(3{1},7{3},GSK_w{7}) gives the member the keys and the Working Key Path 1 -> 3 -> 7;
 *    without GSK_w{7} no key path opens and the registration is refused. */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "fakenet.h"
#include "regfix.h"
#include "group_sa.h"
#include "keywrap.h"

static bool inject;        /* a WRAP_KEY into GSA_INBAND_REKEY */
static int lkh_reg;         /* registration as A.2: 1 = whole path, 2 = without GSK_w{7} */
static uint8_t kek_keymat[GK_KEYMAT_MAX];
static size_t kek_keymat_len;

/* Intermediate key id of the test tree (32 octets: KW-5649-256). */
static gk_chunk tree_key(uint32_t id, uint8_t buf[32])
{
	for (size_t i = 0; i < 32; i++)
		buf[i] = (uint8_t)(id * 13 + 7 * i);
	return GK_CHUNK(buf, 32);
}

static gk_attr wrapped_attr(gk_arena *a, uint16_t type, uint16_t kwa, gk_chunk kwk, uint32_t key_id, uint32_t kwk_id,
			    gk_chunk key)
{
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_wrapped_key_build(kwa, kwk, key_id, kwk_id, key, &w), GK_OK);
	gk_attr at = { .type = type, .value = GK_CHUNK(gk_arena_dup(a, w.data, w.len), w.len) };
	gk_wbuf_free(&w);
	return at;
}

/* A.2 for member A: KD(GP(SA1)(1{K_sa1}),MP(3{1},7{3},GSK_w{7})). GSK_w{7} with the IKE SA's
 * key wrap algorithm, the rest with the Rekey SA's (key_path.h). */
static void lkh_registration(const gk_group_state *gs, uint16_t kwa, gk_chunk kwk, gk_arena *a, gk_pl_kd *kd)
{
	const gk_group_sa *kek = NULL;
	for (size_t i = 0; i < gs->nsas; i++)
		if (gs->sas[i].proto == GK_PROTO_GIKE_UPDATE)
			kek = &gs->sas[i];
	ck_assert_ptr_nonnull(kek);
	memcpy(kek_keymat, kek->keymat, kek->keymat_len);
	kek_keymat_len = kek->keymat_len;
	uint8_t k1[32], k3[32], k7[32];
	gk_attr *sa = gk_arena_alloc(a, sizeof(*sa)), *mp = gk_arena_calloc(a, 3, sizeof(*mp));
	ck_assert_ptr_nonnull(sa);
	ck_assert_ptr_nonnull(mp);
	*sa = wrapped_attr(a, GK_GKBA_SA_KEY, kek->kwa, tree_key(1, k1), 0, 1, GK_CHUNK(kek->keymat, kek->keymat_len));
	mp[0] = wrapped_attr(a, GK_MKBA_WRAP_KEY, kek->kwa, tree_key(3, k3), 1, 3, tree_key(1, k1));
	mp[1] = wrapped_attr(a, GK_MKBA_WRAP_KEY, kek->kwa, tree_key(7, k7), 3, 7, tree_key(3, k3));
	mp[2] = wrapped_attr(a, GK_MKBA_WRAP_KEY, kwa, kwk, 7, 0, tree_key(7, k7));
	size_t nmp = lkh_reg == 2 ? 2 : 3;
	gk_key_bag *bags = gk_arena_calloc(a, kd->bags.n + 1, sizeof(*bags));
	ck_assert_ptr_nonnull(bags);
	memcpy(bags, kd->bags.items, kd->bags.n * sizeof(*bags));
	bool member = false;
	for (size_t i = 0; i < kd->bags.n; i++) {
		if (bags[i].proto == GK_PROTO_GIKE_UPDATE)
			bags[i].attrs = (gk_attr_list){ sa, 1 };
		if (bags[i].proto == 0) { /* AUTH_KEY, Sender-IDs: the WRAP_KEYs join them */
			gk_attr *all = gk_arena_calloc(a, bags[i].attrs.n + nmp, sizeof(*all));
			ck_assert_ptr_nonnull(all);
			memcpy(all, bags[i].attrs.items, bags[i].attrs.n * sizeof(*all));
			memcpy(all + bags[i].attrs.n, mp, nmp * sizeof(*all));
			bags[i].attrs = (gk_attr_list){ all, bags[i].attrs.n + nmp };
			member = true;
		}
	}
	if (!member)
		bags[kd->bags.n++] = (gk_key_bag){ .proto = 0, .attrs = { mp, nmp } };
	kd->bags.items = bags;
}

gk_status __real_gk_group_state_encode(const gk_group_state *gs, gk_gsa_context ctx, uint16_t kwa, gk_chunk kwk,
				       gk_arena *a, gk_pl_gsa *gsa, gk_pl_kd *kd);
gk_status __wrap_gk_group_state_encode(const gk_group_state *gs, gk_gsa_context ctx, uint16_t kwa, gk_chunk kwk,
				       gk_arena *a, gk_pl_gsa *gsa, gk_pl_kd *kd);

/* The encoding as the GCKS makes it, plus (when injecting into a rekey) a member key bag with
 * one WRAP_KEY: Key ID 5 under GSK_w. */
gk_status __wrap_gk_group_state_encode(const gk_group_state *gs, gk_gsa_context ctx, uint16_t kwa, gk_chunk kwk,
				       gk_arena *a, gk_pl_gsa *gsa, gk_pl_kd *kd)
{
	gk_status st = __real_gk_group_state_encode(gs, ctx, kwa, kwk, a, gsa, kd);
	if (!st && lkh_reg && ctx == GK_GSA_REGISTRATION)
		lkh_registration(gs, kwa, kwk, a, kd);
	if (st || !inject || ctx != GK_GSA_REKEY)
		return st;
	uint8_t key[32];
	memset(key, 0x5c, sizeof(key));
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_wrapped_key_build(kwa, kwk, 5, 0, GK_CHUNK(key, sizeof(key)), &w), GK_OK);
	gk_attr *at = gk_arena_alloc(a, sizeof(*at));
	gk_key_bag *bags = gk_arena_calloc(a, kd->bags.n + 1, sizeof(*bags));
	ck_assert_ptr_nonnull(at);
	ck_assert_ptr_nonnull(bags);
	*at = (gk_attr){ .type = GK_MKBA_WRAP_KEY, .value = GK_CHUNK(gk_arena_dup(a, w.data, w.len), w.len) };
	gk_wbuf_free(&w);
	memcpy(bags, kd->bags.items, kd->bags.n * sizeof(*bags));
	bags[kd->bags.n] = (gk_key_bag){ .proto = 0, .attrs = { at, 1 } };
	kd->bags.items = bags;
	kd->bags.n++;
	return GK_OK;
}

static void setup(void)
{
	rf_setup("check_gm_kh_net", "gk-khnet");
	inject = false;
	lkh_reg = 0;
}

static void teardown(void)
{
	rf_teardown();
}

START_TEST(wrap_key_in_inband_rekey_refused)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.rekey_transport = GK_REKEY_INBAND;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	registered(m, 0);
	char msg[256];
	/* the control: a plain inband rekey is taken */
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 2000);
	size_t rekeyed = fn_count(m, GK_GM_REKEYED);
	ck_assert_uint_ge(rekeyed, 1);
	size_t answers = fn_trace_count(&net, FN_TO_GCKS, m->idx, GK_EXCH_GSA_INBAND_REKEY, 1);
	ck_assert_uint_ge(answers, 1);
	/* with a WRAP_KEY: answered, nothing of it reported */
	inject = true;
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 2000);
	ck_assert_uint_gt(fn_trace_count(&net, FN_TO_GCKS, m->idx, GK_EXCH_GSA_INBAND_REKEY, 1), answers);
	ck_assert_uint_eq(fn_count(m, GK_GM_REKEYED), rekeyed);
}
END_TEST

/* A.2 end to end: the member core decodes the registration, opens the Rekey SA key through
 * 1 -> 3 -> 7 -> GSK_w, and reports the keys and its first Working Key Path. */
START_TEST(registration_key_path)
{
	gk_group_policy g;
	pol_init(&g, G1);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:r2.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	lkh_reg = 1;
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *m = join(&c);
	run_member(m);
	const gk_group_state *gs = registered(m, 0);
	const gk_group_sa *kek = NULL;
	for (size_t i = 0; i < gs->nsas; i++)
		if (gs->sas[i].proto == GK_PROTO_GIKE_UPDATE)
			kek = &gs->sas[i];
	ck_assert_ptr_nonnull(kek);
	ck_assert_uint_eq(kek->keymat_len, kek_keymat_len);
	ck_assert(!memcmp(kek->keymat, kek_keymat, kek_keymat_len));
	ck_assert_uint_eq(gs->wkp.n, 3);
	static const uint32_t ids[3] = { 1, 3, 7 };
	for (size_t i = 0; i < 3; i++) {
		uint8_t k[32];
		ck_assert_uint_eq(gs->wkp.keys[i].id, ids[i]);
		ck_assert_uint_eq(gs->wkp.keys[i].len, 32);
		ck_assert(!memcmp(gs->wkp.keys[i].key, tree_key(ids[i], k).ptr, 32));
	}
	ck_assert_ptr_null(gs->wrap_keys);
	ck_assert_ptr_null(gs->kh_sa_keys);
	/* no GSK_w{7}: nothing reaches the member's own key, no key path */
	lkh_reg = 2;
	c = gm_psk("fqdn:r2.example", G1);
	m = join(&c);
	run_member(m);
	refused(m, 0);
	const fn_event *e = fn_find(m, GK_GM_REFUSED, 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->why, "no key path to any SA_KEY: excluded (RFC 9838 3.3)");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gm_kh_net");
	TCase *tc = tcase_create("net");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, wrap_key_in_inband_rekey_refused);
	tcase_add_test(tc, registration_key_path);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
