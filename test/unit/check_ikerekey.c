/* IKE SA rekeying with CREATE_CHILD_SA (RFC 7296 1.3.2, 2.18) of the IKE SAs inband groups keep
 * (RFC 9838 2.3.3), on the fake network: the member rekeys its SA and the group's inband rekeys
 * follow it; the GCKS refuses Child SAs, wrong KE groups, malformed and too frequent rekeys. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "fakenet.h"
#include "rawike.h"
#include "regfix.h"
#include "dh.h"
#include "gcks/gcks_ikerekey.h"
#include "gcks/gcks_sa_table.h"
#include "ike_sa.h"
#include "ikekeys.h"
#include "keylog.h"
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

static void copy_keys(gk_ike_sa *to, const gk_ike_sa *from)
{
	gk_ike_keys k;
	gk_ike_sa_keys_get(from, &k);
	ck_assert_int_eq(gk_ike_sa_keys_set(to, &k), GK_OK);
	gk_ike_keys_wipe(&k);
}

/* A raw initiator holding a copy of the member's current IKE SA: it speaks for the member. */
static void raw_as(raw_ike *r, const fn_member *m, uint64_t seed)
{
	const gk_ike_sa *s = gk_gm_ike_sa(m->gm);
	raw_new(r, seed);
	r->ike.spi_i = s->spi_i;
	r->ike.spi_r = s->spi_r;
	r->ike.suite = s->suite;
	copy_keys(&r->ike, s);
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
	int64_t moved_at = net.clock.now_ms;
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
	moved_at = net.clock.now_ms;
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

/* ---- a hand-made rekey (the attacks) ---- */

/* How a hand-made CREATE_CHILD_SA deviates from a proper IKE SA rekey. */
typedef struct rekey_req {
	uint16_t ke_group;          /* KE payload's group; 0 = the SA's */
	uint16_t only_ke;           /* the proposal offers only this group; 0 = the default offer */
	uint8_t proto;              /* proposal protocol; 0 = IKE */
	uint8_t spi_size;           /* 0 = 8 */
	bool no_ke, ts, zero_ke;    /* leave KE out, add TSi/TSr, send an all-zero public value */
	size_t nonce_len;           /* 0 = 32 */
} rekey_req;

/* A rekey in flight: our nonce, key pair and new SPI. */
typedef struct rekey_run {
	uint8_t ni[32];
	gk_dh *dh;
	uint64_t spi;
} rekey_run;

/* Sends CREATE_CHILD_SA on r's SA with Message ID r->ike.msgid_out (then counted). */
static void raw_rekey_send(raw_ike *r, const rekey_req *q, rekey_run *run)
{
	gk_arena a;
	gk_pl_sa sa;
	gk_wbuf pub;
	gk_ike_offer o = r->offer;
	uint16_t group = q->ke_group ? q->ke_group : r->ike.suite.ke;
	gk_arena_init(&a, 0);
	gk_wbuf_init(&pub, 1024);
	memset(run, 0, sizeof(*run));
	gk_rand_bytes(&r->rnd.r, run->ni, sizeof(run->ni));
	gk_rand_bytes(&r->rnd.r, (uint8_t *)&run->spi, sizeof(run->spi));
	run->spi |= 1;
	ck_assert_int_eq(gk_dh_new(group, &run->dh), GK_OK);
	ck_assert_int_eq(gk_dh_public(run->dh, &pub), GK_OK);
	if (q->zero_ke)
		memset(pub.data, 0, pub.len);
	if (q->only_ke) {
		o.ke[0] = q->only_ke;
		o.nke = 1;
	}
	ck_assert_int_eq(gk_ike_offer_to_sa(&o, &a, &sa), GK_OK);
	ck_assert_int_eq(gk_sa_set_ike_spi(&sa, &a, run->spi), GK_OK);
	for (size_t i = 0; i < sa.proposals.n; i++) {
		if (q->proto)
			sa.proposals.items[i].proto = q->proto;
		if (q->spi_size) {
			sa.proposals.items[i].spi_size = q->spi_size;
			sa.proposals.items[i].spi.len = q->spi_size;
		}
	}
	uint8_t a4[4] = { 224, 0, 0, 1 }, b4[4] = { 224, 0, 0, 1 };
	gk_ts t = { .type = GK_TS_IPV4_ADDR_RANGE, .end_port = 65535, .start_addr = GK_CHUNK(a4, 4),
		    .end_addr = GK_CHUNK(b4, 4) };
	gk_pl_ts tsi = { .ts = { &t, 1 } }, tsr = tsi;
	gk_pl_bytes nonce = { GK_CHUNK(run->ni, q->nonce_len ? q->nonce_len : 32) };
	gk_pl_ke ke = { .group = group, .data = gk_wbuf_chunk(&pub) };
	gk_out_pl pl[5] = { { GK_PL_SA, false, &sa }, { GK_PL_NONCE, false, &nonce } };
	size_t n = 2;
	if (!q->no_ke)
		pl[n++] = (gk_out_pl){ GK_PL_KE, false, &ke };
	if (q->ts) {
		pl[n++] = (gk_out_pl){ GK_PL_TSi, false, &tsi };
		pl[n++] = (gk_out_pl){ GK_PL_TSr, false, &tsr };
	}
	raw_send(r, GK_EXCH_CREATE_CHILD_SA, r->ike.msgid_out++, pl, n);
	gk_wbuf_free(&pub);
	gk_arena_free(&a);
}

/* The GCKS's answer to r's last request: the error notify (0 when none); its data in *data. */
static uint16_t raw_answer(raw_ike *r, gk_msg *m, uint8_t *data, size_t *len)
{
	ck_assert_msg(raw_recv(r, m, true), "no answer from the GCKS");
	ck_assert_uint_eq(m->hdr.msg_id, r->ike.msgid_out - 1);
	const gk_payload *e = gk_msg_find_error(m);
	if (!e)
		return 0;
	if (data) {
		*len = e->body->notify.data.len;
		memcpy(data, e->body->notify.data.ptr, *len);
	}
	return e->body->notify.type;
}

/* The rekey went through: r now speaks on the new SA, its keys computed here. */
static void raw_rekey_done(raw_ike *r, const gk_msg *m, rekey_run *run)
{
	gk_ike_suite suite;
	uint64_t spi_r;
	gk_wbuf shared;
	gk_wbuf_init(&shared, 1024);
	ck_assert_ptr_null(gk_msg_find_error(m));
	ck_assert_int_eq(gk_ike_suite_from_rekey_sa(&gk_msg_find(m, GK_PL_SA)->body->sa, &r->offer, &suite, &spi_r),
			 GK_OK);
	ck_assert_int_eq(gk_dh_derive(run->dh, gk_msg_find(m, GK_PL_KE)->body->ke.data, &shared), GK_OK);
	ck_assert_int_eq(gk_ike_sa_rekey_keys(&r->ike, &suite, &r->ike, GK_CHUNK(run->ni, 32),
					      gk_msg_find(m, GK_PL_NONCE)->body->bytes.data, gk_wbuf_chunk(&shared),
					      run->spi, spi_r), GK_OK);
	r->ike.suite = suite;
	r->ike.spi_i = run->spi;
	r->ike.spi_r = spi_r;
	r->ike.msgid_out = r->ike.msgid_in = 0;
	gk_dh_free(run->dh);
	run->dh = NULL;
	gk_wbuf_free(&shared);
}

/* One rekey that must be refused with `notify` and change nothing. */
static void refused_rekey(raw_ike *r, const rekey_req *q, uint16_t notify)
{
	rekey_run run;
	gk_msg m;
	gk_gcks_stats before = stats();
	raw_rekey_send(r, q, &run);
	ck_assert_uint_eq(raw_answer(r, &m, NULL, NULL), notify);
	ck_assert_ptr_null(gk_msg_find(&m, GK_PL_SA));
	ck_assert_ptr_null(gk_msg_find(&m, GK_PL_KE));
	ck_assert_uint_eq(stats().ike_rekeys, before.ike_rekeys);
	ck_assert_uint_eq(stats().established, before.established);
	gk_msg_free(&m);
	gk_dh_free(run.dh);
}

/* One rekey that must go through; r moves to the new SA. */
static void accepted_rekey(raw_ike *r, const rekey_req *q)
{
	rekey_run run;
	gk_msg m;
	uint64_t n = stats().ike_rekeys;
	raw_rekey_send(r, q, &run);
	ck_assert_uint_eq(raw_answer(r, &m, NULL, NULL), 0);
	raw_rekey_done(r, &m, &run);
	ck_assert_uint_eq(stats().ike_rekeys, n + 1);
	gk_msg_free(&m);
}

/* A member asks for a Child SA (an ESP proposal, or traffic selectors): G-IKEv2 has none between
 * a member and the GCKS, NO_ADDITIONAL_SAS, nothing made. */
START_TEST(child_sa_refused)
{
	fn_member *r1, *r2;
	two_members(&r1, &r2, 0);
	raw_ike r;
	raw_as(&r, r1, 11);
	refused_rekey(&r, &(rekey_req){ .proto = GK_PROTO_ESP, .spi_size = 4, .ts = true }, GK_N_NO_ADDITIONAL_SAS);
	refused_rekey(&r, &(rekey_req){ .proto = GK_PROTO_ESP, .spi_size = 4 }, GK_N_NO_ADDITIONAL_SAS);
	refused_rekey(&r, &(rekey_req){ .ts = true }, GK_N_NO_ADDITIONAL_SAS);
	refused_rekey(&r, &(rekey_req){ .proto = GK_PROTO_AH, .spi_size = 4, .no_ke = true }, GK_N_NO_ADDITIONAL_SAS);
	raw_free(&r);
}
END_TEST

/* A KE of a group the chosen proposal does not list: INVALID_KE_PAYLOAD naming the group
 * (RFC 7296 1.3, 2.7); with it, the rekey goes through. */
START_TEST(wrong_ke_group)
{
	fn_member *r1, *r2;
	two_members(&r1, &r2, 0);
	raw_ike r;
	raw_as(&r, r1, 12);
	uint8_t data[8];
	size_t len = 0;
	rekey_run run;
	gk_msg m;
	raw_rekey_send(&r, &(rekey_req){ .ke_group = GK_KE_ECP_256, .only_ke = GK_KE_CURVE25519 }, &run);
	ck_assert_uint_eq(raw_answer(&r, &m, data, &len), GK_N_INVALID_KE_PAYLOAD);
	ck_assert_uint_eq(len, 2);
	ck_assert_uint_eq(gk_get_u16(data), GK_KE_CURVE25519);
	ck_assert_uint_eq(stats().ike_rekeys, 0);
	gk_msg_free(&m);
	gk_dh_free(run.dh);
	accepted_rekey(&r, &(rekey_req){ .ke_group = GK_KE_CURVE25519, .only_ke = GK_KE_CURVE25519 });
	raw_free(&r);
}
END_TEST

/* Malformed rekeys: INVALID_SYNTAX, nothing made (no SPI or a short one, no KE, a short nonce,
 * an invalid public value). */
START_TEST(malformed_rekey)
{
	fn_member *r1, *r2;
	two_members(&r1, &r2, 0);
	raw_ike r;
	raw_as(&r, r1, 13);
	refused_rekey(&r, &(rekey_req){ .spi_size = 4 }, GK_N_INVALID_SYNTAX);
	refused_rekey(&r, &(rekey_req){ .no_ke = true }, GK_N_INVALID_SYNTAX);
	refused_rekey(&r, &(rekey_req){ .nonce_len = 8 }, GK_N_INVALID_SYNTAX);
	refused_rekey(&r, &(rekey_req){ .zero_ke = true }, GK_N_INVALID_SYNTAX);
	/* the SA is still in order: a proper rekey follows */
	accepted_rekey(&r, &(rekey_req){ 0 });
	raw_free(&r);
}
END_TEST

/* A rekey cannot weaken the SA: proposals are held to the same offer as IKE_SA_INIT (MODP-2048
 * is not in it), and a G-IKEv2 SA keeps a key wrap algorithm (GSK_w wraps the group keys):
 * NO_PROPOSAL_CHOSEN, nothing made. */
START_TEST(rekey_cannot_downgrade)
{
	fn_member *r1, *r2;
	two_members(&r1, &r2, 0);
	raw_ike r;
	raw_as(&r, r1, 19);
	r.offer.nkwa = 0;
	refused_rekey(&r, &(rekey_req){ 0 }, GK_N_NO_PROPOSAL_CHOSEN);
	gk_ike_offer_default(&r.offer);
	refused_rekey(&r, &(rekey_req){ .ke_group = GK_KE_MODP_2048, .only_ke = GK_KE_MODP_2048 },
		      GK_N_NO_PROPOSAL_CHOSEN);
	accepted_rekey(&r, &(rekey_req){ 0 });
	ck_assert_uint_ne(r.ike.suite.kwa, 0);
	raw_free(&r);
}
END_TEST

/* An authenticated member rekeys in a loop: one rekey per ike_rekey_min_interval_s (60 s) goes
 * through, the others get TEMPORARY_FAILURE without a key exchange, on the new SA and on the
 * old one; the old SA its initiator never deleted goes by itself, so the SAs stay bounded. */
START_TEST(rekey_flood_refused)
{
	fn_member *r1, *r2;
	two_members(&r1, &r2, 0);
	raw_ike r, old;
	raw_as(&r, r1, 14);
	raw_as(&old, r1, 15);
	accepted_rekey(&r, &(rekey_req){ 0 });
	ck_assert_uint_eq(stats().established, 3); /* the old one waits for its Delete */
	for (int i = 0; i < 50; i++)
		refused_rekey(&r, &(rekey_req){ 0 }, GK_N_TEMPORARY_FAILURE);
	old.ike.msgid_out++;
	refused_rekey(&old, &(rekey_req){ 0 }, GK_N_TEMPORARY_FAILURE);
	/* the replaced SA takes no other work either (RFC 7296 2.25) */
	gk_ident grp = ident(G1);
	gk_pl_id idg = { .id_type = grp.type, .data = GK_CHUNK(grp.data, grp.len) };
	gk_out_pl reg = { GK_PL_IDg, false, &idg };
	raw_send(&old, GK_EXCH_GSA_REGISTRATION, old.ike.msgid_out++, &reg, 1);
	gk_msg m;
	ck_assert_uint_eq(raw_answer(&old, &m, NULL, NULL), GK_N_TEMPORARY_FAILURE);
	ck_assert_ptr_null(gk_msg_find(&m, GK_PL_GSA));
	gk_msg_free(&m);
	ck_assert_uint_eq(stats().ike_rekeys, 1);
	fn_advance(&net, 31000);
	ck_assert_uint_eq(stats().established, 2); /* the undeleted old SA is gone */
	for (int i = 0; i < 5; i++)
		refused_rekey(&r, &(rekey_req){ 0 }, GK_N_TEMPORARY_FAILURE);
	fn_advance(&net, 30000);
	accepted_rekey(&r, &(rekey_req){ 0 });
	refused_rekey(&r, &(rekey_req){ 0 }, GK_N_TEMPORARY_FAILURE);
	ck_assert_uint_eq(stats().ike_rekeys, 2);
	raw_free(&r);
	raw_free(&old);
}
END_TEST

/* Rekeys with a costly group (ECP-384) are charged to the costly key exchange budget of the
 * pre-authentication defenses: with none left they get TEMPORARY_FAILURE; Curve25519 is not
 * charged. */
START_TEST(costly_rekey_charged)
{
	gcfg.costly_ke_rate = 0;
	fn_member *r1, *r2;
	two_members(&r1, &r2, 0);
	raw_ike r;
	raw_as(&r, r1, 16);
	uint64_t limited = stats().costly_limited;
	refused_rekey(&r, &(rekey_req){ .ke_group = GK_KE_ECP_384, .only_ke = GK_KE_ECP_384 }, GK_N_TEMPORARY_FAILURE);
	ck_assert_uint_eq(stats().costly_limited, limited + 1);
	accepted_rekey(&r, &(rekey_req){ .ke_group = GK_KE_CURVE25519 });
	ck_assert_uint_eq(stats().costly_limited, limited + 1);
	raw_free(&r);
}
END_TEST

/* RFC 7296 2.25: a rekey that arrives while the GCKS's GSA_INBAND_REKEY is outstanding on the
 * SA gets TEMPORARY_FAILURE; the inband rekey completes on the old SA, and the rekey goes
 * through when asked again. */
START_TEST(rekey_during_inband_rekey)
{
	fn_member *r1, *r2;
	two_members(&r1, &r2, 0);
	raw_ike r;
	raw_as(&r, r1, 17);
	size_t got = fn_count(r1, GK_GM_REKEYED);
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	refused_rekey(&r, &(rekey_req){ 0 }, GK_N_TEMPORARY_FAILURE); /* delivered after the request */
	ck_assert_uint_eq(fn_count(r1, GK_GM_REKEYED), got + 1);
	accepted_rekey(&r, &(rekey_req){ 0 });
	raw_free(&r);
}
END_TEST

/* The member's rekey meets a GSA_INBAND_REKEY the GCKS keeps retransmitting: refused with
 * TEMPORARY_FAILURE, the member answers the inband rekey (no key update lost), waits and rekeys
 * later. */
START_TEST(member_retries_after_temporary_failure)
{
	fn_member *r1, *r2;
	two_members(&r1, &r2, 100); /* rekey 80-90 s after registration */
	uint64_t first = gk_gm_ike_sa(r1->gm)->spi_i;
	size_t got = fn_count(r1, GK_GM_REKEYED);
	fn_rule drop = fn_rule_any(FN_DROP);
	drop.dir = FN_FROM_GCKS;
	drop.peer = r1->idx;
	drop.exchange = GK_EXCH_GSA_INBAND_REKEY;
	drop.until_ms = net.clock.now_ms + 95000;
	fn_advance(&net, 70000);
	fn_impair(&net, &drop);
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 25000);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, r1->idx, GK_EXCH_CREATE_CHILD_SA, 0), 1);
	ck_assert_uint_eq(stats().ike_rekeys, 0);
	ck_assert_uint_eq(gk_gm_ike_sa(r1->gm)->spi_i, first);
	fn_advance(&net, 10000);
	ck_assert_uint_eq(fn_count(r1, GK_GM_REKEYED), got + 1); /* the update was not lost */
	fn_advance(&net, 80000);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, r1->idx, GK_EXCH_CREATE_CHILD_SA, 0), 2);
	ck_assert_uint_eq(stats().ike_rekeys, 1);
	ck_assert_uint_ne(gk_gm_ike_sa(r1->gm)->spi_i, first);
	ck_assert_uint_eq(stats().established, 2);
	ck_assert_uint_eq(fn_count(r1, GK_GM_CLOSED), 0);
}
END_TEST

/* With at most 2 IKE SAs per identity, a rekeyed SA and the old one waiting for its Delete
 * count once: a second SA of the same identity leaves the rekeyed one in place. */
START_TEST(rekey_counts_once_per_identity)
{
	gcfg.max_sas_per_identity = 2;
	fn_member *r1, *r2;
	two_members(&r1, &r2, 0);
	raw_ike r;
	raw_as(&r, r1, 18);
	accepted_rekey(&r, &(rekey_req){ 0 });
	ck_assert_uint_eq(stats().established, 3);
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	fn_member *again = join(&c);
	run_member(again);
	registered(again, 0);
	ck_assert_uint_eq(stats().established, 4);
	/* the rekeyed SA still answers */
	raw_send(&r, GK_EXCH_INFORMATIONAL, r.ike.msgid_out++, NULL, 0);
	gk_msg m;
	ck_assert_uint_eq(raw_answer(&r, &m, NULL, NULL), 0);
	gk_msg_free(&m);
	/* a third SA of r1 evicts the oldest of the identity's two: the rekeyed one, which kept
	 * the place of the SA it replaced */
	fn_member *third = join(&c);
	run_member(third);
	registered(third, 0);
	raw_send(&r, GK_EXCH_INFORMATIONAL, r.ike.msgid_out++, NULL, 0);
	ck_assert(!raw_recv(&r, &m, false));
	raw_free(&r);
}
END_TEST

/* A long-lived inband member checks liveness every 60 s (gmd's default) against gcksd's
 * default 60 s idle timeout: its kept IKE SA stays open for the half hour, the GCKS does not
 * close it between two checks (which would exclude the member). */
START_TEST(liveness_keeps_inband_sa)
{
	gcfg.ike_lifetime_s = 0;
	inband_policy();
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.liveness_ms = 60000;
	fn_member *r1 = join(&c);
	run_member(r1);
	registered(r1, 0);
	fn_advance(&net, 1800 * 1000);
	ck_assert_uint_ge(fn_trace_count(&net, FN_TO_GCKS, r1->idx, GK_EXCH_INFORMATIONAL, 0), 20);
	ck_assert_uint_eq(fn_count(r1, GK_GM_CLOSED) + fn_count(r1, GK_GM_EXCLUDED) + fn_count(r1, GK_GM_DEAD), 0);
	ck_assert_uint_eq(stats().established, 1);
}
END_TEST

/* ---- the GCKS rekeys, and both at once ---- */

/* Members that do not rekey (no lifetime) have their kept IKE SAs rekeyed by the GCKS 0-10 %
 * before its ike_lifetime_s: the GCKS becomes the new SA's initiator (RFC 7296 2.18), deletes
 * the old SA, and the group's inband rekeys and the member's liveness checks go over the new
 * one. */
START_TEST(gcks_rekeys_when_member_does_not)
{
	gcfg.ike_lifetime_s = 1000;
	inband_policy();
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.liveness_ms = 20000;
	fn_member *r1 = join(&c);
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *r2 = join(&c);
	run_all();
	registered(r1, 0);
	registered(r2, 0);
	uint64_t first = gk_gm_ike_sa(r1->gm)->spi_i;
	/* the moment in the last 10 % is the high half of the GCKS's SPI modulo 10 % + 1 ms */
	fn_advance(&net, 1000);
	for (fn_member *m = r1; m; m = m == r1 ? r2 : NULL) {
		gcks_sa *s = gcks_sa_find(net.gcks, gk_gm_ike_sa(m->gm)->spi_r);
		ck_assert_ptr_nonnull(s);
		ck_assert_int_eq(gcks_ike_rekey_due(net.gcks, s),
				 s->ike.created_ms + 1000 * 1000 - (int64_t)((s->ike.spi_r >> 32) % (100 * 1000 + 1)));
	}
	fn_advance(&net, 889 * 1000);
	ck_assert_uint_eq(stats().ike_rekeys, 0);
	fn_advance(&net, 120 * 1000);
	ck_assert_uint_eq(stats().ike_rekeys, 2);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, r1->idx, GK_EXCH_CREATE_CHILD_SA, 0), 1);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, r1->idx, GK_EXCH_CREATE_CHILD_SA, 0), 0);
	const gk_ike_sa *now1 = gk_gm_ike_sa(r1->gm);
	ck_assert(!now1->initiator);
	ck_assert_uint_ne(now1->spi_i, first);
	/* the GCKS deleted the old SA: its Delete on it, answered */
	const fn_trace *del = last_trace(FN_FROM_GCKS, r1->idx, GK_EXCH_INFORMATIONAL, 0);
	ck_assert_ptr_nonnull(del);
	ck_assert_uint_eq(del->spi_i, first);
	ck_assert_uint_eq(stats().established, 2);
	/* the member's liveness checks on the new SA carry no I flag and are answered */
	int64_t since = net.clock.now_ms;
	fn_advance(&net, 60 * 1000);
	ck_assert_uint_eq(fn_count(r1, GK_GM_DEAD), 0);
	const fn_trace *probe = last_trace(FN_TO_GCKS, r1->idx, GK_EXCH_INFORMATIONAL, 0);
	ck_assert_ptr_nonnull(probe);
	ck_assert(probe->at_ms >= since);
	ck_assert_uint_eq(probe->spi_i, now1->spi_i);
	ck_assert_uint_eq(probe->flags & GK_FLAG_I, 0);
	char msg[256];
	size_t got1 = fn_count(r1, GK_GM_REKEYED), got2 = fn_count(r2, GK_GM_REKEYED);
	since = net.clock.now_ms;
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 2000);
	ck_assert_uint_eq(fn_count(r1, GK_GM_REKEYED), got1 + 1);
	ck_assert_uint_eq(fn_count(r2, GK_GM_REKEYED), got2 + 1);
	inband_on(r1, since, now1->spi_i, now1->spi_r);
	ck_assert_uint_eq(fn_count(r1, GK_GM_CLOSED) + fn_count(r1, GK_GM_EXCLUDED), 0);
	/* the member rekeys an SA the GCKS made: it is the initiator again */
	ck_assert_int_eq(gk_gm_rekey_ike(r1->gm), GK_OK);
	fn_advance(&net, 2000);
	ck_assert(gk_gm_ike_sa(r1->gm)->initiator);
	ck_assert_uint_eq(stats().ike_rekeys, 3);
	ck_assert_uint_eq(stats().established, 2);
}
END_TEST

/* The key log (--ike-keylog, Wireshark's IKEv2 decryption table) has a line for every IKE SA
 * CREATE_CHILD_SA makes (RFC 7296 2.18), on both sides: the GCKS's rekey and the member's,
 * each with the new SA's SPIs and SK_e of the new SA, so that a capture stays readable past a
 * rekey. */
static size_t keylog_lines_with(const char *path, uint64_t spi_i, uint64_t spi_r, const gk_ike_sa *sa)
{
	char want[64], line[1024];
	snprintf(want, sizeof(want), "%016llx,%016llx,", (unsigned long long)spi_i, (unsigned long long)spi_r);
	gk_chunk ei = GK_CHUNK_EMPTY;
	gk_ike_keys k;
	char eih[2 * GK_MAX_KEY + 1] = "";
	if (sa) {
		gk_ike_sa_keys_get(sa, &k);
		ei = GK_CHUNK(k.sk_ei, k.e_len);
		for (size_t i = 0; i < ei.len; i++)
			snprintf(eih + 2 * i, 3, "%02x", ei.ptr[i]);
		gk_ike_keys_wipe(&k);
	}
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)) && (!sa || !strncmp(line + strlen(want), eih, strlen(eih))))
			n++;
	fclose(f);
	return n;
}

static size_t keylog_count(const char *path)
{
	char line[1024];
	size_t n = 0;
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

START_TEST(keylog_records_rekeyed_sas)
{
	char gpath[256], mpath[256], err[256] = "";
	gk_keylog *gkl = NULL, *mkl = NULL;
	snprintf(gpath, sizeof(gpath), "%s.gcks-keylog", rf_db_path());
	snprintf(mpath, sizeof(mpath), "%s.gm-keylog", rf_db_path());
	ck_assert_int_eq(gk_keylog_open(gpath, &gkl, err, sizeof(err)), GK_OK);
	ck_assert_int_eq(gk_keylog_open(mpath, &mkl, err, sizeof(err)), GK_OK);
	gcfg.ike_lifetime_s = 1000;
	inband_policy();
	gk_gcks_env env = fn_gcks_env(&net, store);
	env.keylog = gkl;
	ck_assert_int_eq(gk_gcks_new(&gcfg, &env, &net.gcks, err, sizeof(err)), GK_OK);
	net.member_keylog = mkl;
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.liveness_ms = 20000;
	fn_member *r1 = join(&c);
	run_all();
	registered(r1, 0);
	const gk_ike_sa *sa = gk_gm_ike_sa(r1->gm);
	ck_assert_uint_eq(keylog_lines_with(gpath, sa->spi_i, sa->spi_r, sa), 1);
	ck_assert_uint_eq(keylog_lines_with(mpath, sa->spi_i, sa->spi_r, sa), 1);
	ck_assert_uint_eq(keylog_count(gpath), 1);
	/* the GCKS rekeys: it is the new SA's initiator */
	fn_advance(&net, 1010 * 1000);
	ck_assert_uint_eq(stats().ike_rekeys, 1);
	sa = gk_gm_ike_sa(r1->gm);
	ck_assert(!sa->initiator);
	ck_assert_uint_eq(keylog_lines_with(gpath, sa->spi_i, sa->spi_r, sa), 1);
	ck_assert_uint_eq(keylog_lines_with(mpath, sa->spi_i, sa->spi_r, sa), 1);
	ck_assert_uint_eq(keylog_count(gpath), 2);
	ck_assert_uint_eq(keylog_count(mpath), 2);
	/* the member rekeys */
	ck_assert_int_eq(gk_gm_rekey_ike(r1->gm), GK_OK);
	fn_advance(&net, 2000);
	ck_assert_uint_eq(stats().ike_rekeys, 2);
	sa = gk_gm_ike_sa(r1->gm);
	ck_assert(sa->initiator);
	ck_assert_uint_eq(keylog_lines_with(gpath, sa->spi_i, sa->spi_r, sa), 1);
	ck_assert_uint_eq(keylog_lines_with(mpath, sa->spi_i, sa->spi_r, sa), 1);
	ck_assert_uint_eq(keylog_count(gpath), 3);
	ck_assert_uint_eq(keylog_count(mpath), 3);
	net.member_keylog = NULL;
	/* nothing is logged when the SAs are freed (rf_teardown) */
	gk_keylog_close(gkl);
	gk_keylog_close(mkl);
	unlink(gpath);
	unlink(mpath);
}
END_TEST

/* A group rekey while the GCKS's own IKE SA rekey is out waits for the SA's window and then
 * goes over the new SA; when the member refuses the IKE SA rekey, over the old one. No inband
 * key update is lost either way. */
START_TEST(inband_rekey_waits_for_gcks_rekey)
{
	gcfg.ike_lifetime_s = 86400;
	inband_policy();
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.liveness_ms = 20000;
	fn_member *r1 = join(&c);
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *r2 = join(&c);
	run_all();
	registered(r1, 0);
	registered(r2, 0);
	size_t got = fn_count(r1, GK_GM_REKEYED);
	char msg[256];
	int64_t since = net.clock.now_ms;
	ck_assert_uint_eq(gk_gcks_rekey_ike_sas(net.gcks), 2);
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK); /* queued behind it */
	fn_advance(&net, 2000);
	ck_assert_uint_eq(stats().ike_rekeys, 2);
	ck_assert_uint_eq(fn_count(r1, GK_GM_REKEYED), got + 1);
	const gk_ike_sa *s1 = gk_gm_ike_sa(r1->gm);
	inband_on(r1, since, s1->spi_i, s1->spi_r);
	/* the member refuses the next IKE SA rekey (its liveness check is out): the update that
	 * waited goes over the SA it has */
	fn_rule drop = fn_rule_any(FN_DROP);
	drop.dir = FN_FROM_GCKS;
	drop.peer = r1->idx;
	drop.exchange = GK_EXCH_INFORMATIONAL;
	drop.response = 1;
	drop.count = 1;
	fn_impair(&net, &drop);
	size_t probes = fn_trace_count(&net, FN_TO_GCKS, r1->idx, GK_EXCH_INFORMATIONAL, 0);
	for (int i = 0; i < 400 && fn_trace_count(&net, FN_TO_GCKS, r1->idx, GK_EXCH_INFORMATIONAL, 0) == probes; i++)
		fn_advance(&net, 100);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, r1->idx, GK_EXCH_INFORMATIONAL, 0), probes + 1);
	got = fn_count(r1, GK_GM_REKEYED);
	since = net.clock.now_ms;
	uint64_t rekeys = stats().ike_rekeys, si = s1->spi_i, sr = s1->spi_r;
	ck_assert_uint_eq(gk_gcks_rekey_ike_sas(net.gcks), 2);
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_flush(&net);
	ck_assert_uint_eq(stats().ike_rekeys, rekeys + 1); /* r2's only */
	fn_advance(&net, 2000);
	ck_assert_uint_eq(fn_count(r1, GK_GM_REKEYED), got + 1);
	ck_assert_uint_eq(gk_gm_ike_sa(r1->gm)->spi_i, si);
	inband_on(r1, since, si, sr);
	(void)r2;
}
END_TEST

/* RFC 7296 2.25: the GCKS's rekey reaches the member while the member's own request (a
 * liveness check) is out: TEMPORARY_FAILURE, the SA stays as it is, and the GCKS tries again
 * a minute later. */
START_TEST(member_busy_refuses_gcks_rekey)
{
	gcfg.ike_lifetime_s = 86400; /* far off: the rekeys here are asked for */
	inband_policy();
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.liveness_ms = 20000;
	fn_member *r1 = join(&c);
	c = gm_psk("fqdn:r2.example", G1);
	fn_member *r2 = join(&c);
	run_all();
	registered(r1, 0);
	registered(r2, 0);
	uint64_t first = gk_gm_ike_sa(r1->gm)->spi_i;
	fn_rule drop = fn_rule_any(FN_DROP);
	drop.dir = FN_FROM_GCKS;
	drop.peer = r1->idx;
	drop.exchange = GK_EXCH_INFORMATIONAL;
	drop.response = 1;
	drop.count = 1;
	fn_impair(&net, &drop);
	for (int i = 0; i < 400 && !fn_trace_count(&net, FN_TO_GCKS, r1->idx, GK_EXCH_INFORMATIONAL, 0); i++)
		fn_advance(&net, 100);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, r1->idx, GK_EXCH_INFORMATIONAL, 0), 1);
	/* the probe's answer is lost: the member waits for it */
	ck_assert_uint_eq(gk_gcks_rekey_ike_sas(net.gcks), 2);
	fn_flush(&net);
	ck_assert_uint_eq(stats().ike_rekeys, 1); /* r2's */
	ck_assert_uint_eq(gk_gm_ike_sa(r1->gm)->spi_i, first);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, r1->idx, GK_EXCH_CREATE_CHILD_SA, 1), 1);
	fn_advance(&net, 70000);
	ck_assert_uint_eq(stats().ike_rekeys, 2);
	ck_assert_uint_ne(gk_gm_ike_sa(r1->gm)->spi_i, first);
	ck_assert(!gk_gm_ike_sa(r1->gm)->initiator);
	ck_assert_uint_eq(fn_count(r1, GK_GM_DEAD) + fn_count(r1, GK_GM_CLOSED), 0);
	ck_assert_uint_eq(stats().established, 2);
}
END_TEST

/* A member answers the GCKS's rekey with a CREATE_CHILD_SA response that breaks the exchange's
 * payload rules (no SA, no KE): nothing is made, nothing crashes, the old SA stays. */
START_TEST(malformed_rekey_answer)
{
	gcfg.ike_lifetime_s = 86400;
	fn_member *r1, *r2;
	two_members(&r1, &r2, 0);
	raw_ike r;
	raw_as(&r, r1, 21);
	/* a message of the raw copy moves the SA's peer address to the raw endpoint */
	raw_send(&r, GK_EXCH_INFORMATIONAL, r.ike.msgid_out++, NULL, 0);
	gk_msg m;
	ck_assert_uint_eq(raw_answer(&r, &m, NULL, NULL), 0);
	gk_msg_free(&m);
	ck_assert_uint_eq(gk_gcks_rekey_ike_sas(net.gcks), 2);
	ck_assert(raw_recv(&r, &m, true));
	ck_assert_uint_eq(m.hdr.exchange, GK_EXCH_CREATE_CHILD_SA);
	ck_assert_uint_eq(m.hdr.flags & (GK_FLAG_R | GK_FLAG_I), 0);
	uint8_t nonce[32] = { 1 };
	gk_pl_bytes nb = { GK_CHUNK(nonce, sizeof(nonce)) };
	gk_out_pl pl = { GK_PL_NONCE, false, &nb };
	gk_sk_keys k = gk_ike_sa_sk(&r.ike, true);
	gk_msg_out o = { .hdr = { .spi_i = r.ike.spi_i, .spi_r = r.ike.spi_r, .exchange = GK_EXCH_CREATE_CHILD_SA,
				  .flags = GK_FLAG_I | GK_FLAG_R, .msg_id = m.hdr.msg_id },
			 .inner = &pl, .ninner = 1, .protect = true };
	gk_msg_free(&m);
	gk_wbuf w;
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	ck_assert_int_eq(gk_msg_build(&o, &k, &r.rnd.r, &w), GK_OK);
	uint64_t rekeys = stats().ike_rekeys;
	fn_raw_send(r.ep, w.data, w.len);
	gk_wbuf_free(&w);
	fn_flush(&net);
	ck_assert_uint_eq(stats().ike_rekeys, rekeys); /* r2's was before, r1's is not made */
	ck_assert_uint_eq(stats().established, 2);
	/* the old SA still works */
	raw_send(&r, GK_EXCH_INFORMATIONAL, r.ike.msgid_out++, NULL, 0);
	ck_assert_uint_eq(raw_answer(&r, &m, NULL, NULL), 0);
	gk_msg_free(&m);
	raw_free(&r);
}
END_TEST

/* RFC 7296 2.8.2: the member and the GCKS rekey the same SA at once. The new SA made with the
 * lowest of the four nonces is deleted by its initiator, the old one by the survivor's; both
 * sides keep the same SA, the group's inband rekeys reach the member over it, nothing is left
 * over. Repeated with other member nonces until each side's SA has survived at least once. */
START_TEST(simultaneous_rekey)
{
	gcfg.ike_rekey_min_interval_s = 1;
	gcfg.ike_lifetime_s = 0;
	fn_member *r1, *r2;
	two_members(&r1, &r2, 0);
	unsigned kept[2][2] = { { 0, 0 }, { 0, 0 } }; /* [lossy][the member's SA survived] */
	for (unsigned round = 0; round < 16; round++) {
		/* every other round the member's answer to the GCKS's rekey is lost once, so that the
		 * member decides first and its Delete reaches the GCKS before the answer */
		bool lossy = round % 2;
		fn_rule drop = fn_rule_any(FN_DROP);
		drop.dir = FN_TO_GCKS;
		drop.peer = r1->idx;
		drop.exchange = GK_EXCH_CREATE_CHILD_SA;
		drop.response = 1;
		drop.count = 1;
		if (lossy)
			fn_impair(&net, &drop);
		gk_rand_test_init(&r1->rnd, 5000 + round);
		uint64_t before = stats().ike_rekeys;
		ck_assert_int_eq(gk_gm_rekey_ike(r1->gm), GK_OK);
		ck_assert_uint_eq(gk_gcks_rekey_ike_sas(net.gcks), 2); /* r1's and r2's */
		fn_advance(&net, 5000);
		fn_impair_clear(&net);
		/* two new SAs for r1 (one, when the member's deleted the old SA before the GCKS's was
		 * answered), one for r2 */
		if (lossy)
			ck_assert_uint_ge(stats().ike_rekeys, before + 2);
		else
			ck_assert_uint_eq(stats().ike_rekeys, before + 3);
		ck_assert_uint_eq(stats().established, 2); /* the loser and the old SA deleted */
		const gk_ike_sa *s = gk_gm_ike_sa(r1->gm);
		kept[lossy][s->initiator]++;
		char msg[256];
		size_t got = fn_count(r1, GK_GM_REKEYED);
		int64_t since = net.clock.now_ms;
		ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
		fn_advance(&net, 2000);
		ck_assert_uint_eq(fn_count(r1, GK_GM_REKEYED), got + 1);
		inband_on(r1, since, s->spi_i, s->spi_r);
	}
	ck_assert_uint_eq(fn_count(r1, GK_GM_CLOSED) + fn_count(r1, GK_GM_EXCLUDED) + fn_count(r1, GK_GM_DEAD), 0);
	for (int lossy = 0; lossy < 2; lossy++) {
		ck_assert_uint_gt(kept[lossy][0], 0); /* the GCKS's SA survived */
		ck_assert_uint_gt(kept[lossy][1], 0); /* the member's SA survived */
	}
}
END_TEST

/* The GCKS side of a member's SA, made here: requests to the member as the GCKS would send
 * them (the member is the SA's initiator), fed straight into its core; its answer is read from
 * the trace. */
static uint16_t gcks_asks(fn_member *m, gk_ike_sa *g, const rekey_req *q, gk_rand_test *rnd)
{
	gk_arena a;
	gk_pl_sa sa;
	gk_wbuf pub, w;
	gk_dh *dh = NULL;
	gk_ike_offer o;
	uint8_t ni[32];
	uint64_t spi = 0x1122334455667788ull;
	gk_ike_offer_default(&o);
	gk_arena_init(&a, 0);
	gk_wbuf_init(&pub, 1024);
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	gk_rand_bytes(&rnd->r, ni, sizeof(ni));
	uint16_t group = q->ke_group ? q->ke_group : g->suite.ke;
	ck_assert_int_eq(gk_dh_new(group, &dh), GK_OK);
	ck_assert_int_eq(gk_dh_public(dh, &pub), GK_OK);
	if (q->only_ke) {
		o.ke[0] = q->only_ke;
		o.nke = 1;
	}
	ck_assert_int_eq(gk_ike_offer_to_sa(&o, &a, &sa), GK_OK);
	ck_assert_int_eq(gk_sa_set_ike_spi(&sa, &a, spi), GK_OK);
	for (size_t i = 0; i < sa.proposals.n; i++) {
		if (q->proto)
			sa.proposals.items[i].proto = q->proto;
		if (q->spi_size)
			sa.proposals.items[i].spi_size = sa.proposals.items[i].spi.len = q->spi_size;
	}
	gk_pl_bytes nonce = { GK_CHUNK(ni, 32) };
	gk_pl_ke ke = { .group = group, .data = gk_wbuf_chunk(&pub) };
	gk_out_pl pl[3] = { { GK_PL_SA, false, &sa }, { GK_PL_NONCE, false, &nonce }, { GK_PL_KE, false, &ke } };
	gk_sk_keys k = gk_ike_sa_sk(g, true);
	gk_msg_out out = { .hdr = { .spi_i = g->spi_i, .spi_r = g->spi_r, .exchange = GK_EXCH_CREATE_CHILD_SA,
				    .msg_id = g->msgid_out++ },
			   .inner = pl, .ninner = q->no_ke ? 2 : 3, .protect = true };
	ck_assert_int_eq(gk_msg_build(&out, &k, &rnd->r, &w), GK_OK);
	size_t before = net.ntrace;
	gk_gm_input(m->gm, w.data, w.len);
	/* the answer: the member's last datagram, a CREATE_CHILD_SA response */
	ck_assert_uint_eq(net.ntrace, before + 1);
	const fn_trace *t = &net.trace[net.ntrace - 1];
	ck_assert_uint_eq(t->exchange, GK_EXCH_CREATE_CHILD_SA);
	ck_assert_uint_eq(t->flags, GK_FLAG_R | GK_FLAG_I);
	gk_msg r;
	bool complete;
	ck_assert_int_eq(gk_msg_parse(&r, GK_CHUNK(t->data, t->len)), GK_OK);
	ck_assert_int_eq(gk_ike_sa_open(g, &r, &complete), GK_OK);
	const gk_payload *e = gk_msg_find_error(&r);
	uint16_t n = e ? e->body->notify.type : 0;
	if (n == GK_N_INVALID_KE_PAYLOAD) {
		ck_assert_uint_eq(e->body->notify.data.len, 2);
		ck_assert_uint_eq(gk_get_u16(e->body->notify.data.ptr), g->suite.ke);
	}
	if (n)
		ck_assert_ptr_null(gk_msg_find(&r, GK_PL_SA));
	gk_msg_free(&r);
	gk_dh_free(dh);
	gk_wbuf_free(&pub);
	gk_wbuf_free(&w);
	gk_arena_free(&a);
	fn_flush(&net);
	return n;
}

/* The member refuses what the GCKS must not ask: a Child SA (NO_ADDITIONAL_SAS), a KE the
 * proposal does not list (INVALID_KE_PAYLOAD naming the SA's group), no SPI or no KE
 * (INVALID_SYNTAX); its SA stays. */
START_TEST(member_refuses_bad_gcks_rekeys)
{
	gcfg.ike_lifetime_s = 0;
	fn_member *r1, *r2;
	two_members(&r1, &r2, 0);
	const gk_ike_sa *s = gk_gm_ike_sa(r1->gm);
	uint64_t first = s->spi_i;
	gk_ike_sa g;
	memset(&g, 0, sizeof(g));
	g.spi_i = s->spi_i;
	g.spi_r = s->spi_r;
	g.suite = s->suite;
	copy_keys(&g, s);
	g.initiator = false;
	g.state = GK_IKE_ESTABLISHED;
	g.msgid_out = s->msgid_in;
	gk_rand_test rnd;
	gk_rand_test_init(&rnd, 31);
	ck_assert_uint_eq(gcks_asks(r1, &g, &(rekey_req){ .proto = GK_PROTO_ESP, .spi_size = 4 }, &rnd),
			  GK_N_NO_ADDITIONAL_SAS);
	ck_assert_uint_eq(gcks_asks(r1, &g, &(rekey_req){ .ke_group = GK_KE_ECP_256, .only_ke = GK_KE_CURVE25519 }, &rnd),
			  GK_N_INVALID_KE_PAYLOAD);
	ck_assert_uint_eq(gcks_asks(r1, &g, &(rekey_req){ .spi_size = 4 }, &rnd), GK_N_INVALID_SYNTAX);
	ck_assert_uint_eq(gcks_asks(r1, &g, &(rekey_req){ .no_ke = true }, &rnd), GK_N_INVALID_SYNTAX);
	ck_assert_uint_eq(gk_gm_ike_sa(r1->gm)->spi_i, first);
	ck_assert_uint_eq(fn_count(r1, GK_GM_CLOSED) + fn_count(r1, GK_GM_EXCLUDED), 0);
	/* and a proper one is taken: the member moves to the new SA, as responder */
	ck_assert_uint_eq(gcks_asks(r1, &g, &(rekey_req){ 0 }, &rnd), 0);
	ck_assert_uint_ne(gk_gm_ike_sa(r1->gm)->spi_i, first);
	ck_assert(!gk_gm_ike_sa(r1->gm)->initiator);
	gk_ike_sa_free(&g);
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
	tcase_add_test(tc, child_sa_refused);
	tcase_add_test(tc, wrong_ke_group);
	tcase_add_test(tc, malformed_rekey);
	tcase_add_test(tc, rekey_cannot_downgrade);
	tcase_add_test(tc, rekey_flood_refused);
	tcase_add_test(tc, costly_rekey_charged);
	tcase_add_test(tc, rekey_during_inband_rekey);
	tcase_add_test(tc, member_retries_after_temporary_failure);
	tcase_add_test(tc, rekey_counts_once_per_identity);
	tcase_add_test(tc, liveness_keeps_inband_sa);
	tcase_add_test(tc, gcks_rekeys_when_member_does_not);
	tcase_add_test(tc, keylog_records_rekeyed_sas);
	tcase_add_test(tc, member_busy_refuses_gcks_rekey);
	tcase_add_test(tc, inband_rekey_waits_for_gcks_rekey);
	tcase_add_test(tc, malformed_rekey_answer);
	tcase_add_test(tc, member_refuses_bad_gcks_rekeys);
	tcase_add_test(tc, simultaneous_rekey);
	suite_add_tcase(su, tc);
	return tu_run(su);
}
