/* GSA_INBAND_REKEY to a large inband group (RFC 9838 2.4.2) goes out in batches of
 * GCKS_INBAND_BATCH IKE SAs per event-loop turn (gk_gcks_continue), and registrations arriving
 * between turns are answered. Every member gets the rekey once, a rekey made while the previous
 * one is being sent never lets a member take older keys after newer ones, a member that leaves
 * or rekeys its IKE SA (RFC 7296 2.18) mid-way is handled, and a GCKS freed mid-way leaks
 * nothing. The fake network (fakenet.h) runs the GCKS and hundreds of member cores. */
#include <stdio.h>
#include <string.h>
#include <check.h>
#include "testutil.h"
#include "iana.h"
#include "regfix.h"
#include "gcks/gcks_state.h"
#include "gcks/gcks_rekey.h"

#define N 999 /* and the late member: member indices stay below FN_RAW_BASE */

static char names[N + 1][32];
static gk_gm_config cfgs[N + 1];
static fn_member *mem[N + 1];

static void setup(void)
{
	rf_setup("check_inband_batch", "gkinb");
	gcfg.costly_ke_rate = 100000;
	gcfg.cookie_rate = 100000;
	gcfg.half_open_max = 100000;
	gcfg.half_open_per_source = 100000;
	for (size_t i = 0; i <= N; i++)
		snprintf(names[i], sizeof(names[i]), "fqdn:m%04zu.example", i);
	memset(mem, 0, sizeof(mem));
}

static void teardown(void)
{
	rf_teardown();
}

/* G1 inband with members 0..n (member n registers late, to G2: a registration between turns). */
static void policies(size_t n)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.rekey_transport = GK_REKEY_INBAND;
	for (size_t i = 0; i < n; i++)
		pol_member(&g, names[i], GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	pol_init(&g, G2);
	pol_member(&g, names[N], GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
}

static void register_all(size_t n)
{
	policies(n);
	start_gcks();
	for (size_t i = 0; i < n; i++) {
		cfgs[i] = gm_psk(names[i], G1);
		mem[i] = join(&cfgs[i]);
	}
	fn_flush(&net);
	for (size_t i = 0; i < n; i++)
		registered(mem[i], 0);
	ck_assert_uint_eq(stats().established, n);
}

static size_t inband_sent(void)
{
	return fn_trace_count(&net, FN_FROM_GCKS, -1, GK_EXCH_GSA_INBAND_REKEY, 0);
}

static gcks_group *g1(void)
{
	for (size_t i = 0; i < net.gcks->ngroups; i++)
		if (!strcmp(net.gcks->groups[i].pol.name, G1))
			return &net.gcks->groups[i];
	ck_abort_msg("no group %s", G1);
	return NULL;
}

static void rekey(void)
{
	char msg[256];
	ck_assert_msg(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)) == GK_OK, "%s", msg);
}

/* The state of member i's last REKEYED event, NULL if none. */
static const gk_group_state *last_rekey(size_t i)
{
	const gk_group_state *gs = NULL;
	for (size_t k = 0; k < mem[i]->nev; k++)
		if (mem[i]->ev[k].type == GK_GM_REKEYED)
			gs = mem[i]->ev[k].state;
	return gs;
}

/* Member i holds the group's current TEK (the SPI the GCKS made last). */
static void holds_current(size_t i)
{
	const gk_group_state *gs = last_rekey(i);
	const gcks_group *grp = g1();
	ck_assert_msg(gs, "member %zu got no rekey", i);
	ck_assert_uint_eq(gs->nsas, 1);
	for (size_t j = 0; j < grp->nkeys; j++)
		if (grp->keys[j].tek_index == 0) {
			ck_assert_uint_eq(gs->sas[0].spi_len, grp->keys[j].spi_len);
			ck_assert_msg(!memcmp(gs->sas[0].spi, grp->keys[j].spi, grp->keys[j].spi_len),
				      "member %zu holds an older TEK", i);
			return;
		}
	ck_abort_msg("no TEK");
}

/* Turns until the core has nothing left, each after the network is quiet. */
static unsigned turns(void)
{
	unsigned t = 0;
	for (; gk_gcks_busy(net.gcks); t++) {
		ck_assert_uint_lt(t, N);
		gk_gcks_continue(net.gcks);
		fn_flush(&net);
	}
	return t;
}

START_TEST(first_turn_sends_a_batch)
{
	register_all(N);
	net.manual_turns = true;
	size_t before = inband_sent();
	rekey();
	ck_assert_uint_eq(inband_sent() - before, GCKS_INBAND_BATCH);
	/* the next batch waits for the answers to most of this one */
	ck_assert(!gk_gcks_busy(net.gcks));
	gk_gcks_continue(net.gcks);
	ck_assert_uint_eq(inband_sent() - before, GCKS_INBAND_BATCH);
	/* a registration between turns is answered, while the rest of the rekey waits */
	cfgs[N] = gm_psk(names[N], G2);
	mem[N] = join(&cfgs[N]);
	fn_flush(&net);
	registered(mem[N], 0);
	ck_assert_uint_eq(inband_sent() - before, GCKS_INBAND_BATCH);
	/* the answers of the first batch came back in that turn */
	ck_assert_uint_eq(g1()->ctr.inband_acked, GCKS_INBAND_BATCH);
	ck_assert_uint_eq(turns(), (N + GCKS_INBAND_BATCH - 1) / GCKS_INBAND_BATCH - 1);
	ck_assert_uint_eq(inband_sent() - before, N);
	ck_assert_uint_eq(g1()->ctr.inband_acked, N);
	ck_assert_uint_eq(g1()->ctr.last_copies, N);
	for (size_t i = 0; i < N; i++) {
		ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, mem[i]->idx, GK_EXCH_GSA_INBAND_REKEY, 0), 1);
		ck_assert_uint_eq(fn_count(mem[i], GK_GM_REKEYED), 1);
		holds_current(i);
	}
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, mem[N]->idx, GK_EXCH_GSA_INBAND_REKEY, 0), 0);
	ck_assert_uint_eq(stats().req_retransmits, 0);
}
END_TEST

/* The TEK SPI the GCKS holds now. */
static void tek_spi(uint8_t *spi, size_t *len)
{
	const gcks_group *grp = g1();
	for (size_t j = 0; j < grp->nkeys; j++)
		if (grp->keys[j].tek_index == 0) {
			memcpy(spi, grp->keys[j].spi, grp->keys[j].spi_len);
			*len = grp->keys[j].spi_len;
			return;
		}
	ck_abort_msg("no TEK");
}

/* Member i's last GSA_INBAND_REKEY deleted the TEK spi. */
static bool deleted(size_t i, const uint8_t *spi, size_t len)
{
	const fn_event *e = NULL;
	for (size_t k = 0; k < mem[i]->nev; k++)
		if (mem[i]->ev[k].type == GK_GM_REKEYED)
			e = &mem[i]->ev[k];
	for (size_t d = 0; e && d < e->ndel; d++)
		if (e->dels[d].spi_len == len && !memcmp(e->dels[d].spi, spi, len))
			return true;
	return false;
}

/* A second rekey (an eviction) while the first is being sent: the members the first has not
 * reached get the newest keys once, with the first one's Deletes; those it reached get the
 * second after; nobody takes the older keys after the newer ones, and the evicted member none.
 * A member that leaves and one that rekeys its IKE SA mid-way: the first gets nothing more,
 * the second gets it on its new SA. */
START_TEST(newer_rekey_midway)
{
	const size_t n = 3 * GCKS_INBAND_BATCH;
	uint8_t s0[16], s1[16];
	size_t s0_len, s1_len;
	register_all(n);
	net.manual_turns = true;
	size_t before = inband_sent();
	tek_spi(s0, &s0_len);
	rekey();
	tek_spi(s1, &s1_len);
	ck_assert_uint_eq(inband_sent() - before, GCKS_INBAND_BATCH);
	fn_flush(&net);
	/* which members did the first batch reach? */
	bool first[3 * GCKS_INBAND_BATCH];
	size_t leaver = n, mover = n, evictee = n;
	for (size_t i = 0; i < n; i++) {
		first[i] = fn_count(mem[i], GK_GM_REKEYED) == 1;
		if (!first[i] && leaver == n)
			leaver = i;
		else if (!first[i] && mover == n)
			mover = i;
		else if (!first[i] && evictee == n)
			evictee = i;
	}
	ck_assert_uint_lt(evictee, n);
	ck_assert_int_eq(gk_gm_leave(mem[leaver]->gm, 0), GK_OK);
	ck_assert_int_eq(gk_gm_rekey_ike(mem[mover]->gm), GK_OK);
	fn_flush(&net);
	ck_assert_uint_eq(stats().established, n);
	char msg[512];
	ck_assert_msg(gk_gcks_evict(net.gcks, G1, names[evictee], msg, sizeof(msg)) == GK_OK, "%s", msg);
	ck_assert(gk_gcks_busy(net.gcks));
	ck_assert_uint_eq(turns(), 3);
	for (size_t i = 0; i < n; i++) {
		size_t got = fn_trace_count(&net, FN_FROM_GCKS, mem[i]->idx, GK_EXCH_GSA_INBAND_REKEY, 0);
		if (i == leaver || i == evictee) {
			ck_assert_uint_eq(got, 0);
			ck_assert_uint_eq(fn_count(mem[i], GK_GM_REKEYED), 0);
			continue;
		}
		ck_assert_msg(got == (first[i] ? 2u : 1u), "member %zu: %zu rekeys", i, got);
		ck_assert_uint_eq(fn_count(mem[i], GK_GM_REKEYED), got);
		holds_current(i);
		/* the Deletes: of what it held before (the first rekey's), and of the first rekey's TEK */
		ck_assert_msg(deleted(i, s1, s1_len), "member %zu: the first rekey's TEK not deleted", i);
		if (!first[i])
			ck_assert_msg(deleted(i, s0, s0_len), "member %zu: the TEK it held not deleted", i);
	}
	ck_assert_uint_eq(inband_sent() - before, GCKS_INBAND_BATCH + (n - 2));
}
END_TEST

/* Members that do not answer hold the next batch back only until the first retransmission of
 * the last batch is due (1 s): the window bounds the answers queued ahead of registrations,
 * not the rekey. */
START_TEST(silent_members_wait_one_second)
{
	register_all(2 * GCKS_INBAND_BATCH);
	net.manual_turns = true;
	fn_rule r = fn_rule_any(FN_DROP);
	r.dir = FN_TO_GCKS;
	r.exchange = GK_EXCH_GSA_INBAND_REKEY;
	r.response = 1;
	fn_impair(&net, &r);
	size_t before = inband_sent();
	rekey();
	fn_flush(&net);
	ck_assert_uint_eq(inband_sent() - before, GCKS_INBAND_BATCH);
	fn_advance(&net, 999);
	ck_assert(!gk_gcks_busy(net.gcks));
	gk_gcks_continue(net.gcks);
	ck_assert_uint_eq(inband_sent() - before, GCKS_INBAND_BATCH);
	fn_advance(&net, 1); /* the first retransmission of the first batch is due: the second may go */
	ck_assert(gk_gcks_busy(net.gcks));
	gk_gcks_continue(net.gcks);
	ck_assert(!gk_gcks_busy(net.gcks));
	ck_assert_ptr_null(net.gcks->inband_jobs);
	ck_assert_uint_eq(inband_sent() - before - stats().req_retransmits, 2 * GCKS_INBAND_BATCH);
}
END_TEST

/* The GCKS goes (gcksd stops) while a rekey is being sent: the rest is dropped, nothing
 * leaks (the sanitizer run checks), the members register again to the new instance. */
START_TEST(freed_midway)
{
	register_all(2 * GCKS_INBAND_BATCH);
	net.manual_turns = true;
	rekey();
	ck_assert_ptr_nonnull(net.gcks->inband_jobs);
	gk_gcks_free(net.gcks);
	net.gcks = NULL;
	start_gcks();
	ck_assert(!gk_gcks_busy(net.gcks));
}
END_TEST

/* The SA scan visits only the SAs with a timer due (gcks_timers.h), not every SA each second:
 * idle established SAs cost nothing, and a member that does not answer is still retransmitted
 * to on time, its SA alone visited. */
START_TEST(scan_visits_only_due_sas)
{
	register_all(N);
	net.step_ms = 1000;
	fn_advance(&net, GK_RESP_FORGET_MS + 2000); /* the registrations' answers are forgotten */
	uint64_t visits = stats().sa_visits;
	fn_advance(&net, 10000);
	ck_assert_uint_eq(stats().sa_visits - visits, 0);
	fn_rule r = fn_rule_any(FN_DROP);
	r.dir = FN_TO_GCKS;
	r.peer = 7;
	r.exchange = GK_EXCH_GSA_INBAND_REKEY;
	r.response = 1;
	fn_impair(&net, &r);
	rekey();
	while (gk_gcks_busy(net.gcks)) {
		gk_gcks_continue(net.gcks);
		fn_flush(&net);
	}
	fn_advance(&net, 1000); /* the SAs that took the rekey: visited once, nothing due after */
	visits = stats().sa_visits;
	uint64_t resent = stats().req_retransmits;
	fn_advance(&net, 20000);
	ck_assert_uint_ge(stats().req_retransmits - resent, 3);
	ck_assert_uint_eq(stats().sa_visits - visits, stats().req_retransmits - resent);
	for (size_t i = 0; i < N; i++)
		if (i != 7)
			holds_current(i);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("inband_batch");
	TCase *tc = tcase_create("batches");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, first_turn_sends_a_batch);
	tcase_add_test(tc, newer_rekey_midway);
	tcase_add_test(tc, silent_members_wait_one_second);
	tcase_add_test(tc, freed_midway);
	tcase_add_test(tc, scan_visits_only_due_sas);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
