/* RFC 9838 4.5.3.1: WRAP_KEY "MUST NOT be used if inband rekey (via the GSA_INBAND_REKEY
 * exchange) is employed by the GCKS for the GM". On the fake network an inband member and the
 * real GCKS, whose GSA_INBAND_REKEY gets a member key bag with a WRAP_KEY (gk_group_state_encode
 * wrapped: the key is a proper Wrapped Key under the IKE SA's GSK_w): the member refuses the
 * whole update (no new SAs reported) and answers; the same rekey without it is taken (the
 * control). */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "fakenet.h"
#include "regfix.h"
#include "group_sa.h"
#include "keywrap.h"

static bool inject;

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
	rf_setup("check_gm_kh_inband", "gk-khinband");
	inject = false;
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

int main(void)
{
	Suite *s = suite_create("gm_kh_inband");
	TCase *tc = tcase_create("inband");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, wrap_key_in_inband_rekey_refused);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
