/* The member's rekey follower (member/gm_groups.c) and the GCKS in one process on the fake
 * network (fakenet.h) with multicast: what only test/integration/rekey.sh covered with network
 * namespaces. Members register through their cores; what a core reports goes to its group
 * manager as gmd hands it on (fn_follow); the GCKS sends GSA_REKEY through its env's
 * send_multicast to the Rekey SA's group address, and every group manager that joined it
 * receives a copy, subject to the network's impairments. Time is the fake clock: ATD and DTD
 * pass without sleeping. What a group manager did is read from its JSON event lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <check.h>
#include "testutil.h"
#include "certgen.h"
#include "iana.h"
#include "ikekeys.h"
#include "rekey_msg.h"
#include "regfix.h"

#define R1 "fqdn:r1.example"
#define R2 "fqdn:r2.example"
#define S1 "fqdn:s1.example"
#define REKEY_PORT 848

static gk_gm_config cfgs[FN_MAX_MEMBERS]; /* the members' configs, kept for re-registrations */
static size_t ncfgs;

static void setup(void)
{
	rf_setup("check_gm_rekey", "gkrekey");
	net.multicast = true;
	ncfgs = 0;
	standard_policies(0);
	start_gcks();
}

static void teardown(void)
{
	rf_teardown();
}

/* Member id of G1, registered through its core, followed by a group manager that registers
 * again through a new core whenever it asks to. */
static fn_groups *member(const char *id, bool sender)
{
	ck_assert_uint_lt(ncfgs, FN_MAX_MEMBERS);
	gk_gm_config *c = &cfgs[ncfgs++];
	*c = gm_psk(id, G1);
	c->sender = sender;
	gk_gm_groups_env base = { .sender = sender };
	fn_groups *g = fn_add_groups(&net, &base, c->groups, c->ngroups);
	ck_assert_ptr_nonnull(g);
	g->rereg_cfg = c;
	fn_member *m = join(c);
	fn_follow(m, g);
	run_member(m);
	registered(m, 0);
	ck_assert_uint_eq(fn_groups_events(g, "sa_added", NULL), 1);
	ck_assert_msg(g->joined[0], "%s did not join the rekey group", id);
	return g;
}

static void rekey_now(void)
{
	char msg[256];
	ck_assert_msg(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)) == GK_OK, "%s", msg);
	fn_flush(&net);
}

static size_t mcast_rekeys(void)
{
	return fn_trace_count(&net, FN_FROM_GCKS, FN_MCAST, GK_EXCH_GSA_REKEY, 0);
}

/* The i-th GSA_REKEY the GCKS multicast (as sent, before impairments). */
static const fn_trace *sent_rekey(size_t i)
{
	const fn_trace *t = fn_trace_find(&net, FN_FROM_GCKS, FN_MCAST, GK_EXCH_GSA_REKEY, 0, i);
	ck_assert_ptr_nonnull(t);
	return t;
}

/* Sends a copy of what the GCKS multicast, as anyone on the path can. */
static void resend(const fn_trace *t)
{
	struct sockaddr_in from = net.gcks_addr, grp = { .sin_family = AF_INET, .sin_port = htons(REKEY_PORT) };
	inet_pton(AF_INET, "239.0.0.1", &grp.sin_addr);
	uint8_t *copy = malloc(t->len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, t->data, t->len);
	fn_mcast_send(&net, &from, &grp, copy, t->len);
	free(copy);
	fn_flush(&net);
}

static void events_are(fn_groups *g, const char *event, const char *with, size_t n)
{
	size_t got = fn_groups_events(g, event, with);
	ck_assert_msg(got == n, "%zu %s events with %s, not %zu:\n%.*s", got, event, with ? with : "anything", n,
		      (int)g->ev_len, g->ev_buf);
}

/* ---- tests ---- */

/* RFC 9838 2.4.1: one GSA_REKEY to the group address reaches every member that joined it;
 * each takes the new Data-Security SA (2.4.3) under the Rekey SA it learnt at registration. */
START_TEST(rekey_reaches_members)
{
	fn_groups *a = member(R1, false), *b = member(R2, false);
	rekey_now();
	ck_assert_uint_eq(mcast_rekeys(), 1);
	for (fn_groups *g = a; g; g = g == a ? b : NULL) {
		events_are(g, "rekey_accepted", NULL, 1);
		events_are(g, "sa_added", NULL, 2);
	}
	ck_assert_uint_eq(a->joins, 1);
	ck_assert_uint_eq(a->leaves, 0);
}
END_TEST


/* The Rekey SA of a registration state. */
static const gk_group_sa *kek_of(const gk_group_state *gs)
{
	for (size_t i = 0; i < gs->nsas; i++)
		if (gs->sas[i].proto == GK_PROTO_GIKE_UPDATE)
			return &gs->sas[i];
	ck_abort_msg("no Rekey SA");
	return NULL;
}

/* A GSA_REKEY under kek with this Message ID, signed with sign (the GCKS's key: what the GCKS
 * would send; another: a forgery), deleting the ESP SA `spi` (4 octets; NULL: SPI 0 of
 * GIKE_UPDATE, the member's exclusion), multicast from the GCKS's address. */
static void send_own_rekey(const gk_group_sa *kek, uint32_t msg_id, EVP_PKEY *sign, const uint8_t *spi)
{
	static const uint8_t zero[16];
	gk_group_keys k;
	ck_assert_int_eq(gk_group_keys_split(GK_CHUNK(kek->keymat, kek->keymat_len), kek->proto, kek->encr,
					     kek->encr_key_bits, kek->integ, kek->kwa, &k), GK_OK);
	gk_chunk spis[1] = { spi ? GK_CHUNK(spi, 4) : GK_CHUNK(zero, 16) };
	gk_pl_delete del = { spi ? GK_PROTO_ESP : GK_PROTO_GIKE_UPDATE, spi ? 4 : 16, { spis, 1 } };
	gk_out_pl pl[] = { { GK_PL_DELETE, false, &del } };
	gk_rekey_out o = { .msg_id = msg_id, .pl = pl, .npl = 1, .sign_key = sign, .scheme = GK_SIG_ECDSA_SHA256,
			   .kek = { .encr = kek->encr, .encr_key_bits = kek->encr_key_bits, .integ = kek->integ,
				    .enc = k.enc, .integ_key = k.integ } };
	memcpy(o.spi, kek->spi, 16);
	gk_dgrams d;
	ck_assert_int_eq(gk_rekey_build(&o, gk_rand_system(), &d), GK_OK);
	ck_assert_uint_eq(d.n, 1);
	fn_trace t = { .data = d.d[0].data, .len = d.d[0].len };
	resend(&t);
	gk_dgrams_free(&d);
}

/* The ESP SA of a registration state. */
static const uint8_t *esp_spi_of(const gk_group_state *gs)
{
	for (size_t i = 0; i < gs->nsas; i++)
		if (gs->sas[i].proto == GK_PROTO_ESP)
			return gs->sas[i].spi;
	ck_abort_msg("no ESP SA");
	return NULL;
}

/* RFC 9838 2.4.1.4: a GSA_REKEY received again changes nothing: a copy of the last one is
 * dropped without a word (2.4.1.3 sends copies on purpose), an older one is refused as a
 * replay, and neither applies its Delete. */
START_TEST(rekey_replayed)
{
	fn_groups *g = member(R1, false);
	const gk_group_state *gs = registered(&net.members[0], 0);
	const gk_group_sa *kek = kek_of(gs);
	static const uint8_t unknown[4] = { 0xde, 0xad, 0xbe, 0xef };
	uint32_t id = kek->initial_msgid + 10;
	send_own_rekey(kek, id, gcks_key, unknown);
	send_own_rekey(kek, id + 1, gcks_key, esp_spi_of(gs));
	events_are(g, "rekey_accepted", NULL, 2);
	/* a copy of the last: nothing; the one before it: a replay */
	resend(&(fn_trace){ .data = net.trace[net.ntrace - 1].data, .len = net.trace[net.ntrace - 1].len });
	events_are(g, "rekey_rejected", NULL, 0);
	send_own_rekey(kek, id, gcks_key, esp_spi_of(gs));
	events_are(g, "rekey_rejected", "old Message ID (replay)", 1);
	events_are(g, "rekey_accepted", NULL, 2);
	/* the registration's SA goes once, at DTD, by the Delete taken */
	fn_advance(&net, 59900);
	events_are(g, "sa_deleted", NULL, 0);
	fn_advance(&net, 200);
	events_are(g, "sa_deleted", NULL, 1);
	resend(&(fn_trace){ .data = net.trace[1].data, .len = net.trace[1].len });
	fn_advance(&net, 61000);
	events_are(g, "sa_deleted", NULL, 1);
	events_are(g, "rekey_accepted", NULL, 2);
	ck_assert_uint_eq(g->rereg[0], 0);
}
END_TEST

/* A member knows the Rekey SA's keys, so it can encrypt a GSA_REKEY that the others open; with
 * Digital Signature GCAUTH only the GCKS's AUTH_KEY signs (RFC 9838 4.4.2.1.1): an insider's
 * forged exclusion is refused whole, and so is a GCKS message whose ICV changed on the way. */
START_TEST(rekey_forged)
{
	fn_groups *victim = member(R1, false);
	member(R2, false);
	const gk_group_state *gs = registered(&net.members[1], 0);
	EVP_PKEY *rogue = cg_key_ec("P-256");
	ck_assert_ptr_nonnull(rogue);
	send_own_rekey(kek_of(gs), 1000, rogue, NULL);
	EVP_PKEY_free(rogue);
	events_are(victim, "rekey_rejected", "authentication failed", 1);
	events_are(victim, "excluded", NULL, 0);
	events_are(victim, "rekey_accepted", NULL, 0);
	/* the same, signed by the GCKS: the exclusion is taken (the forgery moved nothing) */
	fn_rule r = fn_rule_any(FN_CORRUPT);
	r.peer = FN_MCAST;
	r.count = 1;
	fn_impair(&net, &r);
	rekey_now();
	ck_assert_uint_eq(sent_rekey(1)->fates, 1u << FN_CORRUPTED);
	events_are(victim, "rekey_rejected", "integrity check failed", 1);
	events_are(victim, "rekey_accepted", NULL, 0);
	events_are(victim, "sa_added", NULL, 1);
	send_own_rekey(kek_of(gs), 1000, gcks_key, NULL);
	events_are(victim, "rekey_accepted", "\"message_id\":1000", 1);
	events_are(victim, "excluded", "excluded by the GCKS", 1);
	ck_assert(!victim->joined[0]);
}
END_TEST

/* A GSA_REKEY cut short on the way is refused and applies nothing. */
START_TEST(rekey_truncated)
{
	fn_groups *g = member(R1, false);
	fn_rule r = fn_rule_any(FN_TRUNCATE);
	r.peer = FN_MCAST;
	r.count = 1;
	r.keep = 60;
	fn_impair(&net, &r);
	rekey_now();
	ck_assert_uint_eq(sent_rekey(0)->fates, 1u << FN_TRUNCATED);
	events_are(g, "rekey_rejected", "truncated", 1);
	events_are(g, "rekey_accepted", NULL, 0);
	events_are(g, "rekey_sa_replaced", NULL, 0);
	events_are(g, "sa_added", NULL, 1);
}
END_TEST

/* RFC 9838 2.4.1.4: Message IDs only go up. Two GSA_REKEY swapped on the way: the later one is
 * taken, the earlier one arriving after it is refused as a replay and its Delete is not
 * applied (the SA it names outlives DTD). */
START_TEST(rekey_reordered)
{
	fn_groups *g = member(R1, false);
	const gk_group_state *gs = registered(&net.members[0], 0);
	static const uint8_t unknown[4] = { 0xde, 0xad, 0xbe, 0xef };
	fn_rule r = fn_rule_any(FN_REORDER);
	r.peer = FN_MCAST;
	r.count = 1;
	fn_impair(&net, &r);
	uint32_t id = kek_of(gs)->initial_msgid + 5;
	send_own_rekey(kek_of(gs), id, gcks_key, esp_spi_of(gs));
	events_are(g, "rekey_accepted", NULL, 0);
	send_own_rekey(kek_of(gs), id + 1, gcks_key, unknown);
	char want[32];
	snprintf(want, sizeof(want), "\"message_id\":%u", id + 1);
	events_are(g, "rekey_accepted", want, 1);
	events_are(g, "rekey_accepted", NULL, 1);
	events_are(g, "rekey_rejected", "old Message ID (replay)", 1);
	fn_advance(&net, 61000);
	events_are(g, "sa_deleted", NULL, 0);
}
END_TEST

/* RFC 9838 2.4.1.4 with ATD 30 s and DTD 60 s, on the fake clock: a sender switches to the new
 * SA after ATD, the SA a rekey deletes and the Rekey SA it replaces go after DTD, not before;
 * gk_gm_groups_next_timeout names each of these times. */
START_TEST(atd_dtd_timing)
{
	fn_groups *g = member(S1, true);
	events_are(g, "sa_added", "\"out\"", 1);
	rekey_now();
	events_are(g, "sa_added", NULL, 2);
	events_are(g, "sa_activated", NULL, 0);
	ck_assert_int_eq(gk_gm_groups_next_timeout(g->m), 30000); /* the first timer: ATD */
	fn_advance(&net, 29900);
	events_are(g, "sa_activated", NULL, 0);
	fn_advance(&net, 100);
	events_are(g, "sa_activated", NULL, 1);
	ck_assert_int_eq(gk_gm_groups_next_timeout(g->m), 30000); /* then DTD */
	fn_advance(&net, 29900);
	events_are(g, "sa_deleted", NULL, 0);
	events_are(g, "rekey_sa_deleted", NULL, 0);
	fn_advance(&net, 100);
	events_are(g, "sa_deleted", NULL, 1);
	events_are(g, "rekey_sa_deleted", NULL, 1);
}
END_TEST

/* A registration again (after a failover to another key server, say) installs what it carries
 * and keeps the SA a rekey replaced until that SA's DTD, as without the registration: the
 * registration does not cut traffic still protected by it. */
START_TEST(reregistration_keeps_replaced_sa_until_dtd)
{
	fn_groups *g = member(R1, false);
	rekey_now();
	events_are(g, "sa_added", NULL, 2);
	fn_advance(&net, 10000);
	fn_member *m = join(&cfgs[0]);
	fn_follow(m, g);
	run_member(m);
	registered(m, 0);
	events_are(g, "sa_deleted", NULL, 0);
	fn_advance(&net, 49900); /* DTD 60 s after the rekey */
	events_are(g, "sa_deleted", NULL, 0);
	fn_advance(&net, 100);
	events_are(g, "sa_deleted", NULL, 1);
}
END_TEST

/* RFC 9838 4.4.2.2.3: a member that lost a GSA_REKEY (here: the one that brought a new Rekey
 * SA) cannot open the next one, but its SPI was announced in GSA_NEXT_SPI: the member
 * registers again, once (another such message does not ask again), after a randomized
 * delay, and follows the group from there. Anyone who learnt the SPI announced next can send
 * a header with it: that does not make the member register again within
 * GK_GM_NEXT_SPI_INTERVAL_S. */
START_TEST(next_spi_recovery)
{
	fn_groups *g = member(R1, false);
	fn_rule r = fn_rule_any(FN_DROP);
	r.peer = FN_MCAST;
	r.count = 1;
	fn_impair(&net, &r);
	rekey_now();
	events_are(g, "rekey_accepted", NULL, 0);
	rekey_now();
	events_are(g, "reregistering", "GSA_REKEY on the announced next Rekey SA", 1);
	rekey_now();
	events_are(g, "reregistering", NULL, 1);
	ck_assert_uint_eq(g->rereg[0], 0);
	fn_advance(&net, 5000);
	ck_assert_uint_eq(g->rereg[0], 1);
	ck_assert_uint_eq(net.nmembers, 2);
	run_member(&net.members[1]);
	registered(&net.members[1], 0);
	events_are(g, "sa_added", NULL, 2);
	/* the Rekey SA announced next at the re-registration, put in a GSA_REKEY seen before */
	const gk_group_sa *kek = kek_of(registered(&net.members[1], 0));
	ck_assert_uint_eq(kek->n_next_spi, 1);
	const fn_trace *seen = sent_rekey(2);
	uint8_t h[2048];
	ck_assert_uint_le(seen->len, sizeof(h));
	memcpy(h, seen->data, seen->len);
	memcpy(h, kek->next_spi[0], 16);
	resend(&(fn_trace){ .data = h, .len = seen->len });
	fn_advance(&net, 10000);
	events_are(g, "reregistering", NULL, 1);
	ck_assert_uint_eq(g->rereg[0], 1);
	ck_assert_uint_eq(net.nmembers, 2);
	rekey_now();
	events_are(g, "rekey_accepted", NULL, 1);
	events_are(g, "sa_added", NULL, 3);
}
END_TEST

/* RFC 9838 4.4.2.2.3 with a GCKS that restarts on its store, as another key server on a shared
 * store takes over: the SPI the member was promised for the next Rekey SA is the one the new
 * process uses. The GSA_REKEY bringing the new Rekey SA is lost (its sender may have died right
 * after storing it): the member knows the next one, under that Rekey SA, for a lost rekey and
 * registers again. */
START_TEST(next_spi_kept_across_gcks_restart)
{
	fn_groups *g = member(R1, false);
	gk_gcks_free(net.gcks);
	net.gcks = NULL;
	start_gcks();
	fn_rule r = fn_rule_any(FN_DROP);
	r.peer = FN_MCAST;
	r.count = 1;
	fn_impair(&net, &r);
	rekey_now();
	events_are(g, "rekey_accepted", NULL, 0);
	rekey_now();
	events_are(g, "reregistering", "GSA_REKEY on the announced next Rekey SA", 1);
	fn_advance(&net, 5000);
	ck_assert_uint_eq(g->rereg[0], 1);
	run_member(&net.members[1]);
	registered(&net.members[1], 0);
	rekey_now();
	events_are(g, "rekey_accepted", NULL, 1);
}
END_TEST

/* An exclusion's new Rekey SA also takes the SPI promised in GSA_NEXT_SPI: a member that missed
 * the exclusion (its sender died after storing it, or the network lost it) knows the next
 * GSA_REKEY for a lost one and registers again, instead of following nothing until its keys
 * expire. */
START_TEST(lost_exclusion_found_by_next_spi)
{
	fn_groups *a = member(R1, false);
	member(R2, false);
	char msg[256];
	fn_rule r = fn_rule_any(FN_DROP);
	r.peer = FN_MCAST;
	r.count = 1;
	fn_impair(&net, &r);
	ck_assert_msg(gk_gcks_evict(net.gcks, G1, R2, msg, sizeof(msg)) == GK_OK, "%s", msg);
	fn_flush(&net);
	events_are(a, "excluded", NULL, 0);
	rekey_now();
	events_are(a, "reregistering", "GSA_REKEY on the announced next Rekey SA", 1);
}
END_TEST

/* RFC 9838 2.4.1.4: a GSA_REKEY carrying a Rekey SA replaces the current one. The replaced
 * one still opens messages until DTD (a copy of the replacing message changes nothing) and then
 * goes; the next message comes under the new one from Message ID 0; a copy of the first after
 * DTD opens under nothing. The listener stays on the same group address throughout. */
START_TEST(rekey_sa_replaced)
{
	fn_groups *g = member(R1, false);
	rekey_now();
	events_are(g, "rekey_sa_replaced", NULL, 1);
	resend(sent_rekey(0));
	events_are(g, "rekey_accepted", NULL, 1);
	events_are(g, "rekey_rejected", NULL, 0);
	fn_advance(&net, 59900);
	events_are(g, "rekey_sa_deleted", NULL, 0);
	fn_advance(&net, 100);
	events_are(g, "rekey_sa_deleted", NULL, 1);
	rekey_now();
	ck_assert_uint_eq(sent_rekey(2)->msg_id, 0);
	ck_assert_uint_ne(sent_rekey(0)->spi_i, sent_rekey(2)->spi_i);
	events_are(g, "rekey_accepted", "\"message_id\":0", 2);
	events_are(g, "rekey_sa_replaced", NULL, 2);
	resend(sent_rekey(0));
	events_are(g, "rekey_accepted", NULL, 2);
	events_are(g, "rekey_rejected", NULL, 0);
	events_are(g, "reregistering", NULL, 0);
	ck_assert_uint_eq(g->joins, 1);
	ck_assert_uint_eq(g->leaves, 0);
	ck_assert(g->joined[0]);
}
END_TEST

/* The GSA_REKEY datagrams (copies too) multicast under G1's Rekey SA whose first 8 octets of
 * SPI are spi, in the order sent (G2 shares the group address). */
static size_t g1_rekeys(uint64_t spi, const fn_trace **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < mcast_rekeys(); i++) {
		const fn_trace *t = sent_rekey(i);
		if (t->spi_i == spi && n < max)
			out[n++] = t;
	}
	return n;
}

static uint64_t g1_kek;

static bool first_rekey(fakenet *n, void *ctx)
{
	(void)n;
	(void)ctx;
	const fn_trace *t[1];
	return g1_rekeys(g1_kek, t, 1) >= 1;
}

/* RFC 9838 2.4.1.3-2.4.1.4: copies of a GSA_REKEY still due when the next one goes leave before
 * it, never after it, where every member that took the next would drop them as replays. G1
 * sends three copies 500 ms apart; its scheduled rekey (under the same Rekey SA) goes, and a
 * requested one follows 100 ms after the first copy. */
START_TEST(copies_precede_next_rekey)
{
	gk_gcks_free(net.gcks);
	net.gcks = NULL;
	gk_group_policy p;
	pol_init(&p, G1);
	p.kek.copies = 3;
	p.kek.interval_ms = 500;
	pol_member(&p, R1, GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&p);
	start_gcks();
	fn_groups *g = member(R1, false);
	g1_kek = gk_get_u64(kek_of(registered(&net.members[0], 0))->spi);
	ck_assert(fn_run_until(&net, first_rekey, NULL, 3600 * 1000));
	fn_advance(&net, 100);
	const fn_trace *t[8];
	ck_assert_uint_eq(g1_rekeys(g1_kek, t, 8), 1);
	rekey_now();
	fn_advance(&net, 2000);
	ck_assert_uint_eq(g1_rekeys(g1_kek, t, 8), 6);
	for (size_t i = 0; i < 6; i++)
		ck_assert_uint_eq(t[i]->msg_id, i < 3 ? t[0]->msg_id : t[0]->msg_id + 1);
	events_are(g, "rekey_accepted", NULL, 2);
	events_are(g, "rekey_rejected", NULL, 0);
	events_are(g, "rekey_sa_replaced", NULL, 1);
}
END_TEST

/* gcksctl evict without LKH (RFC 9838 2.4.3): the GCKS excludes every member by a Delete in a
 * GSA_REKEY (4.6); each removes what it installed for the group, leaves the rekey
 * group and, after a randomized delay of 1-5 s, registers again: the remaining member gets the
 * new keys and listens again, the evicted one is refused and holds nothing. */
START_TEST(excluded_then_reregistered)
{
	fn_groups *a = member(R1, false), *b = member(R2, false);
	char msg[256];
	ck_assert_msg(gk_gcks_evict(net.gcks, G1, R2, msg, sizeof(msg)) == GK_OK, "%s", msg);
	fn_flush(&net);
	for (fn_groups *g = a; g; g = g == a ? b : NULL) {
		events_are(g, "excluded", "excluded by the GCKS", 1);
		events_are(g, "sa_deleted", NULL, 1);
		events_are(g, "reregistering", "excluded by the GCKS", 1);
		ck_assert(!g->joined[0]);
		ck_assert_uint_eq(g->leaves, 1);
	}
	fn_advance(&net, 900);
	ck_assert_uint_eq(a->rereg[0] + b->rereg[0], 0);
	fn_advance(&net, 4200);
	ck_assert_uint_eq(a->rereg[0], 1);
	ck_assert_uint_eq(b->rereg[0], 1);
	ck_assert(fn_run_until(&net, fn_all_finished, NULL, 60000));
	events_are(a, "sa_added", NULL, 2);
	ck_assert(a->joined[0]);
	ck_assert_uint_eq(a->joins, 2);
	events_are(b, "group_lost", "AUTHENTICATION_FAILED", 1);
	events_are(b, "sa_added", NULL, 1);
	ck_assert(!b->joined[0]);
	/* the next rekey reaches the remaining member only */
	rekey_now();
	events_are(a, "rekey_accepted", NULL, 2);
	events_are(b, "rekey_accepted", NULL, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gm_rekey");
	TCase *tc = tcase_create("multicast");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, rekey_reaches_members);
	tcase_add_test(tc, rekey_replayed);
	tcase_add_test(tc, rekey_forged);
	tcase_add_test(tc, rekey_truncated);
	tcase_add_test(tc, rekey_reordered);
	tcase_add_test(tc, copies_precede_next_rekey);
	tcase_add_test(tc, atd_dtd_timing);
	tcase_add_test(tc, reregistration_keeps_replaced_sa_until_dtd);
	tcase_add_test(tc, next_spi_recovery);
	tcase_add_test(tc, next_spi_kept_across_gcks_restart);
	tcase_add_test(tc, lost_exclusion_found_by_next_spi);
	tcase_add_test(tc, rekey_sa_replaced);
	tcase_add_test(tc, excluded_then_reregistered);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
