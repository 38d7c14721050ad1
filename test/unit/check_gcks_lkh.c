/* The GCKS core with key-management lkh (RFC 9838 Appendix A) and gmd's cores and group
 * managers, hundreds of them, in one process on the fake network (fakenet.h) with multicast.
 * Members register over IKE, evictions (gcksctl evict, and policy loads that only remove
 * members) go out as one GSA_REKEY, then the Data-Security SAs follow under the new Rekey SA.
 * After each step every member still in the group follows a further rekey without registering
 * again, and every evicted one excluded itself (no Key Path, RFC 9838 3.3) and is refused when
 * it registers again. A GCKS restart keeps the members' paths (the tree is in the store). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <check.h>
#include "testutil.h"
#include "iana.h"
#include "regfix.h"
#include "gcks/gcks_state.h"
#include "gcks/gcks_lkh.h"
#include "gcks/gcks_rekey.h"
#include "gcks/gcks_groups.h"

#define N 150                   /* members the policy can list */
#define FIRST 120               /* registered at first; the others join between evictions */

static gk_gm_config cfgs[FN_MAX_MEMBERS];
static size_t ncfgs;
static char names[N][32];
static bool listed[N];          /* in the policy */
static bool in[N];              /* registered and not evicted */
static bool evicted[N];
static fn_groups *grp[N];
static size_t accepted[N];      /* rekey_accepted events seen so far */
static size_t excl_base[N];     /* excluded events and re-registrations before the last check */
static unsigned rereg_base[N];
static unsigned degree;
static uint16_t frag_mtu;       /* the Rekey SA's fragment-mtu (0: never fragment) */
static uint32_t tek_life;       /* the SA's lifetime (0: pol_init's) */
static bool other_psk[N];       /* listed with another PSK than the one its gmd has */

static void put_policy(void)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.kek.key_mgmt = GK_KEYMGMT_LKH;
	g.kek.lkh_degree = (uint8_t)degree;
	g.kek.frag_mtu = frag_mtu;
	if (tek_life)
		g.teks[0].lifetime = tek_life;
	for (size_t i = 0; i < N; i++) {
		if (!listed[i])
			continue;
		gk_member_policy *m = pol_member(&g, names[i], GK_MAUTH_PSK, GK_ROLE_RECEIVER);
		if (other_psk[i]) {
			free(m->psk);
			m->psk = (uint8_t *)strdup("a new PSK the old device does not have");
			ck_assert_ptr_nonnull(m->psk);
			m->psk_len = strlen((const char *)m->psk);
		}
	}
	pol_put(&g);
}

static void setup(void)
{
	rf_setup("check_gcks_lkh", "gklkh");
	net.multicast = true;
	/* hundreds of registrations in the same second of the fake clock */
	gcfg.costly_ke_rate = 100000;
	gcfg.cookie_rate = 100000;
	ncfgs = 0;
	memset(grp, 0, sizeof(grp));
	memset(accepted, 0, sizeof(accepted));
	memset(excl_base, 0, sizeof(excl_base));
	memset(rereg_base, 0, sizeof(rereg_base));
	memset(in, 0, sizeof(in));
	memset(evicted, 0, sizeof(evicted));
	frag_mtu = 0;
	tek_life = 0;
	memset(other_psk, 0, sizeof(other_psk));
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "fqdn:m%03zu.example", i);
		listed[i] = true;
	}
}

static void teardown(void)
{
	rf_teardown();
}

static gcks_group *g1(void)
{
	for (size_t i = 0; i < net.gcks->ngroups; i++)
		if (!strcmp(net.gcks->groups[i].pol.name, G1))
			return &net.gcks->groups[i];
	ck_abort_msg("no group %s", G1);
	return NULL;
}

/* The group's key tree, loaded on first use (gcks_group_lkh). */
static gk_lkh *tree(void)
{
	ck_assert_int_eq(gcks_group_lkh(net.gcks, g1()), GK_OK);
	return g1()->lkh;
}

static void reg(size_t i)
{
	ck_assert_uint_lt(ncfgs, FN_MAX_MEMBERS);
	gk_gm_config *c = &cfgs[ncfgs++];
	*c = gm_psk(names[i], G1);
	fn_groups *g = fn_add_groups(&net, NULL, c->groups, c->ngroups);
	ck_assert_ptr_nonnull(g);
	g->rereg_cfg = c;
	fn_member *m = join(c);
	fn_follow(m, g);
	run_member(m);
	const gk_group_state *gs = registered(m, 0);
	ck_assert_uint_gt(gs->wkp.n, 0); /* it holds a key path (A.2) */
	ck_assert_msg(g->joined[0], "%s did not join the rekey group", names[i]);
	grp[i] = g;
	in[i] = true;
	evicted[i] = false;
	accepted[i] = fn_groups_events(g, "rekey_accepted", NULL);
	excl_base[i] = 0;
	rereg_base[i] = 0;
}

static size_t nevents(size_t i, const char *ev)
{
	return grp[i] ? fn_groups_events(grp[i], ev, NULL) : 0;
}

/* Everyone in the group took every GSA_REKEY since the last check (at least `min`) and
 * registered no more; everyone evicted excluded itself and took none of them. */
static void check_step(size_t min)
{
	for (size_t i = 0; i < N; i++) {
		if (!grp[i])
			continue;
		size_t acc = nevents(i, "rekey_accepted");
		if (in[i]) {
			ck_assert_msg(acc >= accepted[i] + min, "%s took %zu GSA_REKEY, not %zu:\n%.*s", names[i],
				      acc - accepted[i], min, (int)grp[i]->ev_len, grp[i]->ev_buf);
			ck_assert_uint_eq(nevents(i, "excluded"), excl_base[i]);
			ck_assert_uint_eq(grp[i]->rereg[0], rereg_base[i]);
			ck_assert(grp[i]->joined[0]);
		} else if (evicted[i]) {
			ck_assert_msg(nevents(i, "excluded") >= 1, "%s (evicted) not excluded:\n%.*s", names[i],
				      (int)grp[i]->ev_len, grp[i]->ev_buf);
			ck_assert_msg(acc == accepted[i], "%s (evicted) took a GSA_REKEY", names[i]);
		}
		accepted[i] = acc;
	}
}

static void rekey_now(void)
{
	char msg[256];
	ck_assert_msg(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)) == GK_OK, "%s", msg);
	fn_flush(&net);
	check_step(1);
}

static size_t mcast_rekeys(void)
{
	return fn_trace_count(&net, FN_FROM_GCKS, FN_MCAST, GK_EXCH_GSA_REKEY, 0);
}

static void gone(size_t i)
{
	in[i] = false;
	evicted[i] = grp[i] != NULL;
}

/* gcksctl evict: one GSA_REKEY through the tree, one more for the Data-Security SAs. */
static void evict(size_t i)
{
	char msg[512];
	size_t before = mcast_rekeys();
	listed[i] = false;
	gone(i);
	ck_assert_msg(gk_gcks_evict(net.gcks, G1, names[i], msg, sizeof(msg)) == GK_OK, "%s", msg);
	ck_assert_msg(strstr(msg, "through the key tree"), "%s", msg);
	fn_flush(&net);
	ck_assert_uint_eq(mcast_rekeys(), before + 2);
	check_step(2);
	rekey_now();
}

/* A policy load that only removes members: one batch, no re-registration. */
static void evict_by_policy(const size_t *idx, size_t n)
{
	size_t before = mcast_rekeys();
	for (size_t k = 0; k < n; k++) {
		listed[idx[k]] = false;
		gone(idx[k]);
	}
	put_policy();
	ck_assert_int_eq(gk_gcks_reload(net.gcks), GK_OK);
	fn_flush(&net);
	ck_assert_uint_eq(mcast_rekeys(), before + 2);
	check_step(2);
	rekey_now();
}

/* The members in the subtree of position top (in the group and registered). */
static size_t subtree(uint32_t top, size_t *out, size_t max)
{
	const gk_lkh *t = tree();
	size_t n = 0;
	for (size_t i = 0; i < N && n < max; i++) {
		uint32_t p = in[i] ? gk_lkh_find(t, names[i]) : 0;
		while (p > top)
			p = (p - 1) / t->degree;
		if (in[i] && p == top)
			out[n++] = i;
	}
	return n;
}

static uint32_t parent_pos(size_t i)
{
	const gk_lkh *t = tree();
	return (gk_lkh_find(t, names[i]) - 1) / t->degree;
}

START_TEST(evictions_reach_everyone_else)
{
	degree = (unsigned)_i;
	put_policy();
	start_gcks();
	ck_assert_ptr_null(g1()->lkh); /* loaded on first use */
	for (size_t i = 0; i < FIRST; i++)
		reg(i);
	ck_assert_ptr_nonnull(g1()->lkh);
	ck_assert_uint_eq(tree()->nmembers, FIRST);
	rekey_now(); /* a simple rekey: no tree involved (A.3) */

	/* one member */
	evict(7);
	ck_assert_uint_eq(gk_lkh_find(tree(), names[7]), 0);

	/* several at once (a policy load) */
	size_t several[] = { 20, 21, 60, 99 };
	evict_by_policy(several, 4);

	/* joins between evictions */
	for (size_t i = FIRST; i < FIRST + 15; i++)
		reg(i);
	evict(FIRST + 3);
	reg(FIRST + 15);

	/* a whole subtree: everyone below the grandparent of member 40's leaf */
	uint32_t top = (parent_pos(40) - 1) / degree;
	size_t sub[64];
	size_t nsub = subtree(top, sub, 64);
	ck_assert_uint_ge(nsub, 2);
	evict_by_policy(sub, nsub);
	ck_assert_uint_eq(tree()->nodes[top].key_id, 0); /* the inner node went with them */

	/* the last member of a subtree: its siblings first, then it */
	size_t sib[16];
	size_t nsib = subtree(parent_pos(90), sib, 16);
	for (size_t k = 0; k < nsib; k++)
		evict(sib[k]);

	/* an evicted member registering again is refused (its PSK is no longer listed) ... */
	fn_groups *old = grp[7];
	fn_advance(&net, 6000);
	ck_assert_uint_ge(old->rereg[0], 1);
	ck_assert(fn_run_until(&net, fn_all_finished, NULL, 60000));
	ck_assert_uint_ge(fn_groups_events(old, "group_lost", "AUTHENTICATION_FAILED"), 1); /* no PSK listed */
	ck_assert(!old->joined[0]);
	/* ... until the policy lists it again: a new leaf and new Key IDs, and it follows */
	uint32_t next_id = tree()->next_key_id;
	const gk_lkh *before = tree();
	listed[7] = true;
	put_policy();
	ck_assert_int_eq(gk_gcks_reload(net.gcks), GK_OK);
	ck_assert_ptr_eq(g1()->lkh, before); /* a policy load keeps the tree it does not change */
	fn_flush(&net);
	check_step(0);
	reg(7);
	uint32_t leaf = gk_lkh_find(tree(), names[7]);
	ck_assert_uint_ge(tree()->nodes[leaf].key_id, next_id);
	evict(8);
	/* 136 joined, 7 back again; 7 + nsub + nsib evicted */
	ck_assert_uint_eq(tree()->nmembers, FIRST + 16 + 1 - 7 - nsub - nsib);
}
END_TEST

/* The tree lives in the store: after a restart of the GCKS an eviction still reaches every
 * member through the paths it got before, and nobody registers again. */
START_TEST(restart_keeps_paths)
{
	degree = 2;
	put_policy();
	start_gcks();
	for (size_t i = 0; i < 40; i++)
		reg(i);
	evict(3);
	uint32_t next_id = tree()->next_key_id;
	uint32_t pos5 = gk_lkh_find(tree(), names[5]);
	gk_gcks_free(net.gcks);
	net.gcks = NULL;
	start_gcks();
	ck_assert_ptr_null(g1()->lkh);
	ck_assert_uint_eq(tree()->next_key_id, next_id);
	ck_assert_uint_eq(tree()->nmembers, 39);
	ck_assert_uint_eq(gk_lkh_find(tree(), names[5]), pos5);
	evict(5);
	reg(40); /* a join after the restart */
	evict(30);
}
END_TEST

/* The store fails inside the eviction's transaction (the tree's rows): nothing is sent, the
 * running tree is what the store has (the member is still in it, the Key ID counter did not
 * move), members keep following; the eviction done again goes through. */
static int fail_puts;
gk_status __real_gk_store_lkh_put(gk_store *s, gk_store_gid gid, const gk_lkh_row *r);
gk_status __wrap_gk_store_lkh_put(gk_store *s, gk_store_gid gid, const gk_lkh_row *r);
gk_status __wrap_gk_store_lkh_put(gk_store *s, gk_store_gid gid, const gk_lkh_row *r)
{
	if (fail_puts && --fail_puts == 0)
		return GK_E_IO;
	return __real_gk_store_lkh_put(s, gid, r);
}

START_TEST(failed_commit_sends_nothing)
{
	char msg[512];
	degree = 2;
	put_policy();
	start_gcks();
	for (size_t i = 0; i < 20; i++)
		reg(i);
	uint32_t next_id = tree()->next_key_id, pos = gk_lkh_find(tree(), names[4]);
	size_t before = mcast_rekeys(), nkeys = g1()->nkeys;
	gk_sa_key keys[GK_GROUP_MAX_SAS];
	memcpy(keys, g1()->keys, sizeof(keys));
	fail_puts = 2; /* the second row of the eviction */
	ck_assert_int_ne(gk_gcks_evict(net.gcks, G1, names[4], msg, sizeof(msg)), GK_OK);
	fn_flush(&net);
	ck_assert_uint_eq(mcast_rekeys(), before);
	/* the running group keeps the keys it had: those the store has */
	ck_assert_uint_eq(g1()->nkeys, nkeys);
	for (size_t k = 0; k < nkeys; k++)
		ck_assert(!memcmp(g1()->keys[k].spi, keys[k].spi, 16) &&
			  !memcmp(g1()->keys[k].keymat, keys[k].keymat, keys[k].keymat_len));
	ck_assert_uint_eq(tree()->next_key_id, next_id);
	ck_assert_uint_eq(gk_lkh_find(tree(), names[4]), pos);
	ck_assert_uint_eq(tree()->nmembers, 20);
	/* the evicted member is out of the policy already; the tree still holds it, so a second
	 * eviction through the tree (as the next policy load would do) takes it out */
	const char *who[1] = { names[4] };
	gone(4);
	ck_assert_int_eq(gcks_lkh_evict(net.gcks, g1(), who, 1, "retry"), GK_OK);
	fn_flush(&net);
	ck_assert_uint_eq(mcast_rekeys(), before + 2);
	check_step(2);
	rekey_now();
}
END_TEST

/* The eviction's new Rekey SA takes the SPI promised in GSA_NEXT_SPI: members that missed the
 * eviction's GSA_REKEY (lost, or its sender died after storing it) know the next message, on
 * that SPI, for a lost rekey and register again instead of following nothing. */
START_TEST(lost_eviction_found_by_next_spi)
{
	char msg[512];
	degree = 2;
	put_policy();
	start_gcks();
	for (size_t i = 0; i < 4; i++)
		reg(i);
	fn_rule r = fn_rule_any(FN_DROP);
	r.peer = FN_MCAST;
	r.count = 1;
	fn_impair(&net, &r);
	listed[3] = false;
	gone(3);
	ck_assert_msg(gk_gcks_evict(net.gcks, G1, names[3], msg, sizeof(msg)) == GK_OK, "%s", msg);
	fn_flush(&net);
	size_t found = 0;
	for (size_t i = 0; i < 3; i++)
		found += fn_groups_events(grp[i], "reregistering", "GSA_REKEY on the announced next Rekey SA");
	ck_assert_uint_ge(found, 1);
}
END_TEST

/* Another degree (or key management, or key wrap algorithm) makes another tree: the members
 * hold no leaf in it, so a reload excludes them and they register into the new tree; Key IDs
 * go on from where the old tree left them (members may still hold its keys). */
START_TEST(new_tree_members_register_again)
{
	degree = 2;
	put_policy();
	start_gcks();
	for (size_t i = 0; i < 12; i++)
		reg(i);
	uint32_t next_id = tree()->next_key_id;
	degree = 3;
	put_policy();
	ck_assert_int_eq(gk_gcks_reload(net.gcks), GK_OK);
	fn_flush(&net);
	ck_assert_uint_eq(tree()->degree, 3);
	ck_assert_uint_ge(tree()->next_key_id, next_id);
	for (size_t i = 0; i < 12; i++)
		ck_assert_uint_ge(fn_groups_events(grp[i], "excluded", NULL), 1);
	fn_advance(&net, 6000);
	ck_assert(fn_run_until(&net, fn_all_finished, NULL, 60000));
	ck_assert_uint_eq(tree()->nmembers, 12);
	for (size_t i = 0; i < 12; i++) {
		uint32_t leaf = gk_lkh_find(tree(), names[i]);
		ck_assert_uint_ge(tree()->nodes[leaf].key_id, next_id);
		accepted[i] = fn_groups_events(grp[i], "rekey_accepted", NULL);
		excl_base[i] = nevents(i, "excluded");
		rereg_base[i] = grp[i]->rereg[0];
	}
	evict(4);
}
END_TEST

/* A group deleted and made again between two policy loads has no tree in the store: the
 * running one is not carried over to it (it would write rows of a tree the store lacks). */
START_TEST(recreated_group_gets_a_new_tree)
{
	degree = 2;
	put_policy();
	start_gcks();
	for (size_t i = 0; i < 4; i++)
		reg(i);
	ck_assert_uint_eq(tree()->nmembers, 4);
	ck_assert_int_eq(gk_store_group_delete(store, G1, "test", (int64_t)time(NULL)), GK_OK);
	put_policy();
	ck_assert_int_eq(gk_gcks_reload(net.gcks), GK_OK);
	fn_flush(&net);
	ck_assert_ptr_null(g1()->lkh);
	ck_assert_uint_eq(tree()->nmembers, 0);
}
END_TEST

/* Many members scattered over the tree, evicted by one policy load: the wrapped keys would
 * not fit one message of at most GK_FRAG_MAX fragments of fragment-mtu 576, so they go in
 * several GSA_REKEY messages, each fragmented, each a new Rekey SA the next one goes under. */
START_TEST(batch_eviction_fragmented)
{
	degree = 2;
	frag_mtu = 576;
	put_policy();
	start_gcks();
	for (size_t i = 0; i < 120; i++)
		reg(i);
	size_t first = fn_trace_count(&net, FN_FROM_GCKS, FN_MCAST, GK_EXCH_GSA_REKEY, 0);
	for (size_t k = 0; k < 40; k++) {
		listed[k * 3] = false;
		gone(k * 3);
	}
	put_policy();
	ck_assert_int_eq(gk_gcks_reload(net.gcks), GK_OK);
	fn_flush(&net);
	/* distinct messages (Rekey SA, Message ID) and fragments among the datagrams */
	size_t last = fn_trace_count(&net, FN_FROM_GCKS, FN_MCAST, GK_EXCH_GSA_REKEY, 0), msgs = 0, frags = 0;
	uint64_t seen_spi[64];
	uint32_t seen_id[64];
	for (size_t i = first; i < last; i++) {
		const fn_trace *t = fn_trace_find(&net, FN_FROM_GCKS, FN_MCAST, GK_EXCH_GSA_REKEY, 0, i);
		ck_assert_ptr_nonnull(t);
		frags += t->len > 16 && t->data[16] == GK_PL_SKF;
		bool dup = false;
		for (size_t m = 0; m < msgs; m++)
			dup |= seen_spi[m] == t->spi_i && seen_id[m] == t->msg_id;
		if (!dup && msgs < 64) {
			seen_spi[msgs] = t->spi_i;
			seen_id[msgs++] = t->msg_id;
		}
	}
	ck_assert_msg(msgs >= 3, "%zu messages", msgs); /* two batches at least, then the new SAs */
	ck_assert_uint_gt(frags, msgs);
	/* members of a later batch follow the earlier ones (they are still in the group then) and
	 * exclude themselves at theirs; the others follow every message */
	for (size_t i = 0; i < 120; i++) {
		if (evicted[i]) {
			ck_assert_uint_ge(nevents(i, "excluded"), 1);
			ck_assert_uint_lt(nevents(i, "rekey_accepted"), accepted[i] + msgs);
			accepted[i] = nevents(i, "rekey_accepted");
		}
	}
	check_step(msgs);
	ck_assert_uint_eq(tree()->nmembers, 80);
	rekey_now();
}
END_TEST

/* A member listed again with another credential (its device stolen, say): whoever holds the
 * old one must not follow. It is evicted through the tree like a removed member, and its
 * registration with the old PSK is refused. */
START_TEST(credential_change_evicts)
{
	degree = 2;
	put_policy();
	start_gcks();
	for (size_t i = 0; i < 20; i++)
		reg(i);
	size_t before = mcast_rekeys();
	other_psk[5] = true;
	gone(5);
	put_policy();
	ck_assert_int_eq(gk_gcks_reload(net.gcks), GK_OK);
	fn_flush(&net);
	ck_assert_uint_eq(mcast_rekeys(), before + 2);
	check_step(2);
	fn_advance(&net, 6000);
	ck_assert_uint_ge(grp[5]->rereg[0], 1);
	ck_assert(fn_run_until(&net, fn_all_finished, NULL, 60000));
	ck_assert_uint_ge(fn_groups_events(grp[5], "group_lost", "AUTHENTICATION_FAILED"), 1);
	ck_assert_uint_eq(gk_lkh_find(tree(), names[5]), 0);
	rekey_now();
}
END_TEST

/* Members removed by a policy load that also changes an SA: everyone is excluded and registers
 * again (as without LKH), and the removed member's leaf goes from the tree with every key on
 * its path replaced, so that the keys it holds open nothing later registrations and evictions
 * send. */
START_TEST(removal_with_sa_change_replaces_path)
{
	degree = 2;
	put_policy();
	start_gcks();
	for (size_t i = 0; i < 16; i++)
		reg(i);
	uint32_t path[GK_LKH_MAX_DEPTH], held_ids[GK_LKH_MAX_DEPTH];
	size_t np = gk_lkh_path(tree(), gk_lkh_find(tree(), names[3]), path);
	ck_assert_uint_gt(np, 1);
	for (size_t k = 0; k < np; k++)
		held_ids[k] = tree()->nodes[path[k]].key_id;
	listed[3] = false;
	gone(3);
	tek_life = 1800;
	put_policy();
	ck_assert_int_eq(gk_gcks_reload(net.gcks), GK_OK);
	fn_flush(&net);
	for (size_t i = 0; i < 16; i++)
		ck_assert_uint_ge(fn_groups_events(grp[i], "excluded", NULL), 1);
	fn_advance(&net, 6000);
	ck_assert(fn_run_until(&net, fn_all_finished, NULL, 60000));
	const gk_lkh *t = tree();
	ck_assert_uint_eq(gk_lkh_find(t, names[3]), 0);
	ck_assert_uint_eq(t->nmembers, 15);
	for (size_t p = 1; p < t->end; p++)
		for (size_t k = 0; k < np; k++)
			ck_assert_msg(t->nodes[p].key_id != held_ids[k], "key %u of the removed member's path is still in "
				      "the tree", held_ids[k]);
	for (size_t i = 0; i < 16; i++) {
		accepted[i] = fn_groups_events(grp[i], "rekey_accepted", NULL);
		excl_base[i] = nevents(i, "excluded");
		rereg_base[i] = grp[i]->rereg[0];
	}
	evict(7);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gcks_lkh");
	TCase *tc = tcase_create("lkh");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, evictions_reach_everyone_else, 2, 5);
	tcase_add_test(tc, restart_keeps_paths);
	tcase_add_test(tc, failed_commit_sends_nothing);
	tcase_add_test(tc, lost_eviction_found_by_next_spi);
	tcase_add_test(tc, new_tree_members_register_again);
	tcase_add_test(tc, recreated_group_gets_a_new_tree);
	tcase_add_test(tc, batch_eviction_fragmented);
	tcase_add_test(tc, credential_change_evicts);
	tcase_add_test(tc, removal_with_sa_change_replaces_path);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
