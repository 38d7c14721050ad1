/* IKE SA rekeying with CREATE_CHILD_SA (RFC 7296 1.3.2, 2.18) of the IKE SAs inband groups keep
 * (RFC 9838 2.3.3), on the fake network: the member rekeys its SA and the group's inband rekeys
 * follow it; the GCKS refuses Child SAs, wrong KE groups, malformed and too frequent rekeys. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "fakenet.h"
#include "rawike.h"
#include "regfix.h"
#include "dh.h"
#include "ike_sa.h"
#include "ikekeys.h"
#include "message.h"
#include "proposal.h"

static void setup(void)
{
	rf_setup("check_ikerekey", "gk-ikerekey");
}

static void teardown(void)
{
	rf_teardown();
}

static void inband_policy(void)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.rekey_transport = GK_REKEY_INBAND;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_member(&g, "fqdn:r2.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
}

/* The last datagram of this kind in the trace (NULL if none). */
static const fn_trace *last_trace(fn_dir dir, int peer, int exchange, int response)
{
	for (size_t i = net.ntrace; i-- > 0;) {
		const fn_trace *t = &net.trace[i];
		if ((dir == FN_TO_GCKS) != t->to_gcks || t->peer != peer || t->exchange != exchange ||
		    (response >= 0 && !!(t->flags & GK_FLAG_R) != response))
			continue;
		return t;
	}
	return NULL;
}

/* Two inband members registered; r1 rekeys its IKE SA after ike_lifetime_s minus 10-20 %. */
static void two_members(fn_member **r1, fn_member **r2, unsigned r1_lifetime_s)
{
	inband_policy();
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.ike_lifetime_s = r1_lifetime_s;
	*r1 = join(&c);
	c = gm_psk("fqdn:r2.example", G1);
	*r2 = join(&c);
	run_all();
	registered(*r1, 0);
	registered(*r2, 0);
}

/* A raw initiator holding a copy of the member's current IKE SA: it speaks for the member. */
static void raw_as(raw_ike *r, const fn_member *m, uint64_t seed)
{
	const gk_ike_sa *s = gk_gm_ike_sa(m->gm);
	raw_new(r, seed);
	r->ike.spi_i = s->spi_i;
	r->ike.spi_r = s->spi_r;
	r->ike.suite = s->suite;
	r->ike.keys = s->keys;
	r->ike.state = GK_IKE_ESTABLISHED;
	r->ike.msgid_out = s->msgid_out;
	r->ike.msgid_in = s->msgid_in;
}

/* Every GSA_INBAND_REKEY to the member since `since` came on this SA (spi_r 0: any), and at
 * least one did. */
static void inband_on(const fn_member *m, int64_t since, uint64_t spi_i, uint64_t spi_r)
{
	size_t n = 0;
	for (size_t i = 0; i < net.ntrace; i++) {
		const fn_trace *t = &net.trace[i];
		if (t->at_ms < since || t->to_gcks || t->peer != m->idx || t->exchange != GK_EXCH_GSA_INBAND_REKEY ||
		    (t->flags & GK_FLAG_R))
			continue;
		ck_assert_uint_eq(t->spi_i, spi_i);
		if (spi_r)
			ck_assert_uint_eq(t->spi_r, spi_r);
		n++;
	}
	ck_assert_uint_gt(n, 0);
}

/* ---- the member rekeys ---- */

/* The member rekeys its kept IKE SA before the lifetime ends; the old SA is deleted, and the
 * group's next GSA_INBAND_REKEY reaches it on the new SA with Message ID 0, while the member
 * that did not rekey gets it on its first SA. */
START_TEST(member_rekeys_and_inband_follows)
{
	fn_member *r1, *r2;
	two_members(&r1, &r2, 3600);
	uint64_t r1_spi = gk_gm_ike_sa(r1->gm)->spi_i, r2_spi = gk_gm_ike_sa(r2->gm)->spi_i;
	fn_advance(&net, 2800 * 1000); /* before lifetime - 20 % */
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, r1->idx, GK_EXCH_CREATE_CHILD_SA, 0), 0);
	fn_advance(&net, 500 * 1000); /* past lifetime - 10 % */
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, r1->idx, GK_EXCH_CREATE_CHILD_SA, 0), 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, r1->idx, GK_EXCH_CREATE_CHILD_SA, 1), 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, r2->idx, GK_EXCH_CREATE_CHILD_SA, 0), 0);
	ck_assert_uint_eq(stats().ike_rekeys, 1);
	const gk_ike_sa *now1 = gk_gm_ike_sa(r1->gm);
	ck_assert_uint_ne(now1->spi_i, r1_spi);
	ck_assert_uint_eq(gk_gm_ike_sa(r2->gm)->spi_i, r2_spi);
	/* the Delete of the old SA, on the old SA, answered: two SAs again, not three */
	const fn_trace *del = last_trace(FN_TO_GCKS, r1->idx, GK_EXCH_INFORMATIONAL, 0);
	ck_assert_ptr_nonnull(del);
	ck_assert_uint_eq(del->spi_i, r1_spi);
	ck_assert_ptr_nonnull(last_trace(FN_FROM_GCKS, r1->idx, GK_EXCH_INFORMATIONAL, 1));
	ck_assert_uint_eq(stats().established, 2);
	ck_assert_uint_eq(fn_count(r1, GK_GM_CLOSED), 0);
	ck_assert_uint_eq(fn_count(r1, GK_GM_EXCLUDED), 0);
	/* RFC 7296 2.18: the new SA's Message IDs start at 0 (the first request on it is the group's
	 * scheduled inband rekey) */
	fn_advance(&net, 1200 * 1000);
	const fn_trace *first = NULL;
	for (size_t i = 0; i < net.ntrace && !first; i++)
		if (!net.trace[i].to_gcks && net.trace[i].peer == r1->idx && net.trace[i].spi_i == now1->spi_i &&
		    !(net.trace[i].flags & GK_FLAG_R))
			first = &net.trace[i];
	ck_assert_ptr_nonnull(first);
	ck_assert_uint_eq(first->exchange, GK_EXCH_GSA_INBAND_REKEY);
	ck_assert_uint_eq(first->msg_id, 0);

	char msg[256];
	size_t got1 = fn_count(r1, GK_GM_REKEYED), got2 = fn_count(r2, GK_GM_REKEYED);
	int64_t moved_at = net.now_ms;
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 2000);
	ck_assert_uint_eq(fn_count(r1, GK_GM_REKEYED), got1 + 1);
	ck_assert_uint_eq(fn_count(r2, GK_GM_REKEYED), got2 + 1);
	inband_on(r1, moved_at, now1->spi_i, now1->spi_r);
	inband_on(r2, moved_at, r2_spi, 0);
	/* and a second lifetime later, a second rekey of the new SA */
	uint64_t second = now1->spi_i;
	fn_advance(&net, 3300 * 1000);
	ck_assert_uint_eq(stats().ike_rekeys, 2);
	ck_assert_uint_eq(stats().established, 2);
	ck_assert_uint_ne(gk_gm_ike_sa(r1->gm)->spi_i, second);
	moved_at = net.now_ms;
	got1 = fn_count(r1, GK_GM_REKEYED);
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 2000);
	ck_assert_uint_eq(fn_count(r1, GK_GM_REKEYED), got1 + 1);
	inband_on(r1, moved_at, gk_gm_ike_sa(r1->gm)->spi_i, gk_gm_ike_sa(r1->gm)->spi_r);
}
END_TEST

/* After the Delete, a message on the old SA finds no SA: dropped, unanswered. */
START_TEST(old_sa_dropped_after_delete)
{
	fn_member *r1, *r2;
	two_members(&r1, &r2, 3600);
	raw_ike old;
	raw_as(&old, r1, 7);
	fn_advance(&net, 3300 * 1000);
	ck_assert_uint_eq(stats().ike_rekeys, 1);
	ck_assert_uint_eq(stats().established, 2);
	gk_gcks_stats before = stats();
	raw_send(&old, GK_EXCH_INFORMATIONAL, old.ike.msgid_out + 1, NULL, 0);
	gk_msg m;
	ck_assert(!raw_recv(&old, &m, false));
	ck_assert_uint_eq(stats().dropped, before.dropped + 1);
	raw_free(&old);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("ikerekey");
	TCase *tc = tcase_create("ikerekey");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, member_rekeys_and_inband_follows);
	tcase_add_test(tc, old_sa_dropped_after_delete);
	suite_add_tcase(su, tc);
	return tu_run(su);
}
