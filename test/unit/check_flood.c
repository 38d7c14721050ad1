/* Attacks on the GCKS before authentication, performed on the in-memory network
 * (test/unit/fakenet.[ch]) with the fake clock: a flood of IKE_SA_INIT from many source
 * addresses that answers every COOKIE challenge and never continues, SPIs chosen to collide in
 * an unkeyed hash, SPIs of ours sieved into one bucket, MODP key exchange without a cookie, and replayed IKE_SA_INIT requests. Each
 * test asserts what the attacker got (answers, half-open SAs, table shape) and that a listed
 * member still registers. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "fakenet.h"
#include "regfix.h"
#include "gcks/gcks_sa_table.h"
#include "gcks/gcks_sources.h"
#include "gcks/storage.h"
#include "dh.h"
#include "log.h"
#include "message.h"
#include "proposal.h"

#define MEMBER "fqdn:r1.example"

/* ---- fixture (regfix.h): a store with the GCKS identity and one group listing MEMBER (PSK) ---- */

static void setup(void)
{
	rf_setup("check_flood", "gk-flood");
	single_member_policy(MEMBER);
}

static void teardown(void)
{
	rf_teardown();
}

/* ---- the attacker: IKE_SA_INIT requests from many addresses, answering COOKIE ---- */

typedef struct flooder {
	unsigned nsrc, rr;
	uint64_t next_spi;
	uint16_t ke_group;
	gk_wbuf ke_pub;               /* one public value for every request, as a cheap attacker */
	gk_arena arena;
	gk_pl_sa sa;
	bool answer_cookies;
	bool bad_ke;                  /* KE data of all zeros: invalid in every group (RFC 6989) */
	const struct sockaddr_in *from; /* every request from this address, not source(i) */
	uint64_t sent, cookies, answers, others;
	uint16_t last_notify;         /* of the last answer that was neither COOKIE nor KE */
} flooder;

static flooder fl;

static struct sockaddr_in source(unsigned i)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(500);
	a.sin_addr.s_addr = htonl((127u << 24) | (2u << 16) | ((i / 250) << 8) | (i % 250 + 1));
	return a;
}

/* An IKE_SA_INIT request; the nonce follows from the SPI so the answer to a COOKIE needs no
 * memory. */
static void flood_build(const flooder *f, uint64_t spi, gk_chunk cookie, gk_wbuf *out)
{
	uint8_t ni[32];
	for (int i = 0; i < 4; i++)
		gk_put_u64(ni + 8 * i, spi ^ (uint64_t)i);
	gk_pl_notify cn = { .type = GK_N_COOKIE, .data = cookie };
	static const uint8_t zeros[1024];
	gk_pl_ke ke = { .group = f->ke_group, .data = gk_wbuf_chunk(&f->ke_pub) };
	if (f->bad_ke)
		ke.data.ptr = zeros;
	gk_pl_bytes nonce = { GK_CHUNK(ni, sizeof(ni)) };
	gk_out_pl pl[4];
	size_t n = 0;
	if (cookie.len)
		pl[n++] = (gk_out_pl){ GK_PL_NOTIFY, false, &cn };
	pl[n++] = (gk_out_pl){ GK_PL_SA, false, &f->sa };
	pl[n++] = (gk_out_pl){ GK_PL_KE, false, &ke };
	pl[n++] = (gk_out_pl){ GK_PL_NONCE, false, &nonce };
	gk_msg_out o = { .hdr = { .spi_i = spi, .exchange = GK_EXCH_IKE_SA_INIT, .flags = GK_FLAG_I },
			 .outer = pl, .nouter = n };
	out->len = 0;
	ck_assert_int_eq(gk_msg_build(&o, NULL, NULL, out), GK_OK);
}

static void flood_sink(void *ctx, const struct sockaddr_in *to, const uint8_t *data, size_t len)
{
	flooder *f = ctx;
	gk_msg m;
	ck_assert_int_eq(gk_msg_parse(&m, GK_CHUNK(data, len)), GK_OK);
	const gk_payload *c = gk_msg_find_notify(&m, GK_N_COOKIE);
	if (c) {
		f->cookies++;
		if (f->answer_cookies) {
			gk_wbuf w;
			gk_wbuf_init(&w, GK_MAX_MESSAGE);
			flood_build(f, m.hdr.spi_i, c->body->notify.data, &w);
			fn_send_from(&net, to, w.data, w.len);
			f->sent++;
			gk_wbuf_free(&w);
		}
	} else if (gk_msg_find(&m, GK_PL_KE)) {
		f->answers++;
	} else {
		const gk_payload *e = gk_msg_find_error(&m);
		f->last_notify = e ? e->body->notify.type : 0;
		f->others++;
	}
	gk_msg_free(&m);
}

static void flood_init(flooder *f, unsigned nsrc, uint16_t ke_group, const gk_ike_offer *offer)
{
	memset(f, 0, sizeof(*f));
	f->nsrc = nsrc;
	f->next_spi = 0x1000;
	f->ke_group = ke_group;
	f->answer_cookies = true;
	gk_arena_init(&f->arena, 0);
	gk_wbuf_init(&f->ke_pub, 1024);
	gk_dh *dh = NULL;
	ck_assert_int_eq(gk_dh_new(ke_group, &dh), GK_OK);
	ck_assert_int_eq(gk_dh_public(dh, &f->ke_pub), GK_OK);
	gk_dh_free(dh);
	ck_assert_int_eq(gk_ike_offer_to_sa(offer, &f->arena, &f->sa), GK_OK);
	fn_set_sink(&net, flood_sink, f);
}

static void flood_free(flooder *f)
{
	gk_wbuf_free(&f->ke_pub);
	gk_arena_free(&f->arena);
}

/* One request from source i (fresh SPI, no cookie); the answer comes with the next flush. */
static void flood_one(flooder *f, unsigned i)
{
	gk_wbuf w;
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	flood_build(f, f->next_spi++, GK_CHUNK_EMPTY, &w);
	struct sockaddr_in a = f->from ? *f->from : source(i);
	fn_send_from(&net, &a, w.data, w.len);
	f->sent++;
	gk_wbuf_free(&w);
}

#define FLOOD_PER_STEP 240 /* per 100 ms of the fake clock: 2,400 IKE_SA_INIT/s */

/* Floods for ms of fake time, round robin over the sources; returns the most half-open SAs
 * seen after a step, and checks the sources counted never exceed the addresses sending. */
static unsigned flood_run(flooder *f, int64_t ms)
{
	unsigned peak = 0;
	for (int64_t t = 0; t < ms; t += 100) {
		for (int k = 0; k < FLOOD_PER_STEP; k++)
			flood_one(f, f->rr++ % f->nsrc);
		fn_advance(&net, 100);
		gk_gcks_stats s = stats();
		peak = s.half_open > peak ? s.half_open : peak;
		ck_assert_uint_le(gcks_source_entries(net.gcks), f->nsrc + 1);
	}
	return peak;
}

/* ---- the listed member ---- */

static fn_member *join_member(void)
{
	gk_gm_config c;
	gk_gm_config_default(&c);
	c.id = ident(MEMBER);
	c.groups[0] = ident(G1);
	c.ngroups = 1;
	c.psk = (const uint8_t *)MEMBER;
	c.psk_len = strlen(MEMBER);
	fn_member *m = fn_add_member(&net, &c);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(gk_gm_start(m->gm), GK_OK);
	return m;
}

/* Floods while the member registers; returns the fake-clock milliseconds it took. */
static int64_t register_during_flood(flooder *f, unsigned *peak)
{
	int64_t t0 = net.clock.now_ms;
	fn_member *m = join_member();
	while (!fn_count(m, GK_GM_REGISTERED) && !fn_count(m, GK_GM_FAILED) && net.clock.now_ms - t0 < 60000) {
		unsigned p = flood_run(f, 100);
		*peak = p > *peak ? p : *peak;
	}
	ck_assert_msg(fn_count(m, GK_GM_REGISTERED) == 1, "the member did not register during the flood");
	ck_assert_uint_eq(fn_count(m, GK_GM_FAILED), 0);
	const fn_event *e = fn_find(m, GK_GM_REGISTERED, 0);
	return e->at_ms - t0;
}

/* A flood answering cookies from nsrc sources holds exactly nsrc * half_open_per_source
 * half-open SAs and no more (each request past a source's cap evicts that source's oldest); the
 * member registers without waiting for a retransmission. */
static void flood_sources(unsigned nsrc)
{
	start_gcks();
	gk_ike_offer offer;
	gk_ike_offer_default(&offer);
	flood_init(&fl, nsrc, GK_KE_CURVE25519, &offer);
	unsigned cap = nsrc * gcfg.half_open_per_source;
	ck_assert_uint_lt(cap, gcfg.half_open_max); /* the per-source caps bind, not the table's */
	unsigned peak = flood_run(&fl, 5000);
	ck_assert_uint_eq(peak, cap);
	ck_assert_uint_eq(stats().half_open, cap);
	ck_assert_uint_eq(gcks_source_entries(net.gcks), nsrc);
	/* every request not challenged was answered; past its cap each evicted its source's oldest
	 * SA, never another source's */
	ck_assert_uint_eq(fl.answers, fl.sent - fl.cookies);
	ck_assert_uint_eq(fl.others, 0);
	ck_assert_uint_eq(stats().source_evicted, fl.answers - cap);
	ck_assert_uint_eq(stats().half_open_evicted, 0);
	int64_t took = register_during_flood(&fl, &peak);
	ck_assert_int_lt(took, 1000);
	ck_assert_uint_eq(peak, cap); /* the member's SA was established within the step */
	/* one COOKIE round and no retransmission */
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_IKE_SA_INIT, 0), 2);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_GSA_AUTH, 0), 1);
	/* the flood goes on: the caps are never exceeded, the member's SA is never evicted */
	peak = flood_run(&fl, 5000);
	ck_assert_uint_eq(peak, cap);
	ck_assert_uint_eq(fl.answers, fl.sent - fl.cookies);
	ck_assert_uint_eq(stats().source_evicted, fl.answers - cap);
	ck_assert_uint_eq(stats().half_open_evicted, 0);
	ck_assert_uint_eq(stats().established, 1);
	flood_free(&fl);
}

START_TEST(flood_64_sources)
{
	flood_sources(64);
}
END_TEST

START_TEST(flood_640_sources)
{
	flood_sources(640);
}
END_TEST

/* More sources than the table holds: new half-open SAs evict the oldest, the table never grows
 * past half_open_max, and the member's fresh SA lives long enough to register. */
START_TEST(flood_evicts_oldest)
{
	gcfg.half_open_max = 1000;
	start_gcks();
	gk_ike_offer offer;
	gk_ike_offer_default(&offer);
	flood_init(&fl, 640, GK_KE_CURVE25519, &offer);
	unsigned peak = flood_run(&fl, 5000);
	ck_assert_uint_eq(peak, 1000);
	ck_assert_uint_gt(stats().half_open_evicted, 0);
	ck_assert_uint_eq(stats().half_open_evicted + stats().source_evicted, fl.answers - 1000);
	int64_t took = register_during_flood(&fl, &peak);
	ck_assert_int_lt(took, 1000);
	ck_assert_uint_eq(peak, 1000);
	ck_assert_uint_eq(stats().established, 1);
	flood_free(&fl);
}
END_TEST

/* The SA table's own bound (max_sas) also makes room by evicting half-open SAs, never by
 * refusing the newcomer. */
START_TEST(max_sas_evicts_half_open)
{
	gcfg.max_sas = 1000;
	start_gcks();
	gk_ike_offer offer;
	gk_ike_offer_default(&offer);
	flood_init(&fl, 640, GK_KE_CURVE25519, &offer);
	unsigned peak = flood_run(&fl, 3000);
	ck_assert_uint_eq(peak, 1000);
	ck_assert_uint_eq(stats().half_open_evicted + stats().source_evicted, fl.answers - 1000);
	int64_t took = register_during_flood(&fl, &peak);
	ck_assert_int_lt(took, 1000);
	ck_assert_uint_eq(stats().established, 1);
	ck_assert_uint_eq(stats().half_open, 999);
	flood_free(&fl);
}
END_TEST

/* Cookies by rate: one request from each of many sources (none over its own share, the table
 * far from cookie_threshold): past cookie_rate in a second, COOKIE is asked for. */
/* RFC 7296 2.6: with cookie_threshold half-open SAs, the next request is challenged (and not
 * one earlier); a COOKIE of the right length but the wrong value makes no SA. */
START_TEST(cookie_threshold_exact_and_forged_cookie)
{
	gcfg.cookie_threshold = 3;
	start_gcks();
	gk_ike_offer offer;
	gk_ike_offer_default(&offer);
	flood_init(&fl, 8, GK_KE_CURVE25519, &offer);
	fl.answer_cookies = false;
	for (unsigned i = 0; i < 3; i++) {
		flood_one(&fl, i);
		fn_flush(&net);
	}
	ck_assert_uint_eq(fl.answers, 3);
	ck_assert_uint_eq(fl.cookies, 0);
	ck_assert_uint_eq(stats().half_open, 3);
	flood_one(&fl, 3);
	fn_flush(&net);
	ck_assert_uint_eq(fl.cookies, 1);
	ck_assert_uint_eq(fl.answers, 3);
	uint8_t forged[33];
	memset(forged, 0x5a, sizeof(forged));
	gk_wbuf w;
	gk_wbuf_init(&w, GK_MAX_MESSAGE);
	flood_build(&fl, fl.next_spi++, GK_CHUNK(forged, sizeof(forged)), &w);
	struct sockaddr_in a = source(4);
	fn_send_from(&net, &a, w.data, w.len);
	gk_wbuf_free(&w);
	fn_flush(&net);
	ck_assert_uint_eq(fl.cookies, 2); /* challenged again */
	ck_assert_uint_eq(fl.answers, 3);
	ck_assert_uint_eq(fl.others, 0);
	ck_assert_uint_eq(stats().half_open, 3);
	flood_free(&fl);
}
END_TEST

START_TEST(cookie_by_rate)
{
	start_gcks();
	gk_ike_offer offer;
	gk_ike_offer_default(&offer);
	flood_init(&fl, 150, GK_KE_CURVE25519, &offer);
	fl.answer_cookies = false;
	for (unsigned i = 0; i < 150; i++)
		flood_one(&fl, i);
	fn_flush(&net);
	ck_assert_uint_eq(fl.answers, gcfg.cookie_rate);
	ck_assert_uint_eq(fl.cookies, 150 - gcfg.cookie_rate);
	ck_assert_uint_eq(stats().half_open, gcfg.cookie_rate);
	/* the next second still remembers the rate of the last */
	fn_advance(&net, 1000);
	flood_one(&fl, 0);
	fn_flush(&net);
	ck_assert_uint_eq(fl.cookies, 150 - gcfg.cookie_rate + 1);
	/* two quiet seconds later, no cookie is needed */
	fn_advance(&net, 2000);
	flood_one(&fl, 149);
	fn_flush(&net);
	ck_assert_uint_eq(fl.answers, gcfg.cookie_rate + 1);
	flood_free(&fl);
}
END_TEST

/* One source: its first cookie_per_source requests need no cookie, the next ones do (a spoofer
 * cannot fill a victim's share), and past half_open_per_source each cookie'd one evicts the
 * source's oldest half-open SA: the source never holds more. */
START_TEST(per_source_share)
{
	start_gcks();
	gk_ike_offer offer;
	gk_ike_offer_default(&offer);
	flood_init(&fl, 1, GK_KE_CURVE25519, &offer);
	fl.answer_cookies = false;
	for (unsigned i = 0; i < gcfg.cookie_per_source + 1; i++)
		flood_one(&fl, 0);
	fn_flush(&net);
	ck_assert_uint_eq(fl.answers, gcfg.cookie_per_source);
	ck_assert_uint_eq(fl.cookies, 1);
	fl.answer_cookies = true;
	for (unsigned i = 0; i < 20; i++)
		flood_one(&fl, 0);
	fn_flush(&net);
	ck_assert_uint_eq(fl.answers, gcfg.cookie_per_source + 20);
	ck_assert_uint_eq(stats().half_open, gcfg.half_open_per_source);
	ck_assert_uint_eq(stats().source_evicted, gcfg.cookie_per_source + 20 - gcfg.half_open_per_source);
	ck_assert_uint_eq(stats().half_open_evicted, 0);
	/* another source is not affected */
	flood_free(&fl);
	flood_init(&fl, 2, GK_KE_CURVE25519, &offer);
	flood_one(&fl, 1);
	fn_flush(&net);
	ck_assert_uint_eq(fl.answers, 1);
	ck_assert_uint_eq(fl.cookies, 0);
	/* the share comes back as the SAs expire */
	fn_advance(&net, gcfg.half_open_timeout_ms + 1000);
	ck_assert_uint_eq(stats().half_open, 0);
	ck_assert_uint_eq(gcks_source_entries(net.gcks), 0);
	flood_free(&fl);
}
END_TEST

/* A host sharing a member's address (same NAT, same IPv4 address) holds the source's whole
 * share of half-open SAs and keeps it alive: the member's request still gets its SA, by
 * evicting the host's oldest, and the member registers at once. */
START_TEST(shared_source_member_registers)
{
	start_gcks();
	gk_ike_offer offer;
	gk_ike_offer_default(&offer);
	flood_init(&fl, 1, GK_KE_CURVE25519, &offer);
	struct sockaddr_in shared = { .sin_family = AF_INET, .sin_port = htons(500) };
	inet_pton(AF_INET, "127.0.0.10", &shared.sin_addr); /* member 0's address, another port */
	fl.from = &shared;
	for (unsigned i = 0; i < gcfg.half_open_per_source; i++)
		flood_one(&fl, 0);
	fn_flush(&net);
	ck_assert_uint_eq(fl.answers, gcfg.half_open_per_source);
	ck_assert_uint_eq(stats().half_open, gcfg.half_open_per_source);
	ck_assert_uint_eq(gcks_source_entries(net.gcks), 1);
	/* it keeps its SAs fresh well within the half-open timeout */
	fn_advance(&net, gcfg.half_open_timeout_ms / 2);
	int64_t t0 = net.clock.now_ms;
	fn_member *m = join_member();
	for (int i = 0; i < 50 && !fn_count(m, GK_GM_REGISTERED); i++)
		fn_advance(&net, 100);
	ck_assert_uint_eq(fn_count(m, GK_GM_REGISTERED), 1);
	ck_assert_int_lt(fn_find(m, GK_GM_REGISTERED, 0)->at_ms - t0, 1000);
	/* one COOKIE round (the source holds SAs), no retransmission, one SA of the host evicted */
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_IKE_SA_INIT, 0), 2);
	ck_assert_uint_eq(fn_trace_count(&net, FN_TO_GCKS, 0, GK_EXCH_GSA_AUTH, 0), 1);
	ck_assert_uint_eq(stats().source_evicted, 1);
	ck_assert_uint_eq(stats().half_open, gcfg.half_open_per_source - 1);
	ck_assert_uint_eq(stats().established, 1);
	flood_free(&fl);
}
END_TEST

/* At its cap a source's request needs a COOKIE even where cookie_per_source would not ask for
 * one: an eviction at the cap is only for a peer that receives at the address, so a spoofer
 * cannot evict a victim's SAs. */
START_TEST(source_cap_needs_cookie)
{
	gcfg.half_open_per_source = 1;
	start_gcks();
	gk_ike_offer offer;
	gk_ike_offer_default(&offer);
	flood_init(&fl, 1, GK_KE_CURVE25519, &offer);
	fl.answer_cookies = false;
	flood_one(&fl, 0);
	fn_flush(&net);
	ck_assert_uint_eq(fl.answers, 1);
	for (int i = 0; i < 5; i++)
		flood_one(&fl, 0);
	fn_flush(&net);
	ck_assert_uint_eq(fl.cookies, 5);
	ck_assert_uint_eq(fl.answers, 1);
	ck_assert_uint_eq(stats().source_evicted, 0);
	ck_assert_uint_eq(stats().half_open, 1);
	/* with the cookie, the new SA replaces the old */
	fl.answer_cookies = true;
	flood_one(&fl, 0);
	fn_flush(&net);
	ck_assert_uint_eq(fl.answers, 2);
	ck_assert_uint_eq(stats().source_evicted, 1);
	ck_assert_uint_eq(stats().half_open, 1);
	flood_free(&fl);
}
END_TEST

/* A request that makes no SA evicts none: in a full table, requests with an invalid KE value
 * (one source, answering every cookie) leave every half-open SA in place, while each request
 * that makes an SA evicts exactly one. */
START_TEST(failed_request_evicts_nothing)
{
	gcfg.half_open_max = 10;
	start_gcks();
	gk_ike_offer offer;
	gk_ike_offer_default(&offer);
	flood_init(&fl, 40, GK_KE_CURVE25519, &offer);
	for (unsigned i = 0; i < 10; i++)
		flood_one(&fl, i);
	fn_flush(&net);
	ck_assert_uint_eq(stats().half_open, 10);
	for (unsigned round = 0; round < 5; round++) {
		fl.bad_ke = true;
		for (int k = 0; k < 10; k++)
			flood_one(&fl, 39);
		fn_flush(&net);
		ck_assert_uint_eq(fl.last_notify, GK_N_INVALID_SYNTAX);
		ck_assert_uint_eq(stats().half_open, 10);
		ck_assert_uint_eq(stats().half_open_evicted, round);
		fl.bad_ke = false;
		flood_one(&fl, 10 + round);
		fn_flush(&net);
		ck_assert_uint_eq(stats().half_open_evicted, round + 1);
	}
	ck_assert_uint_eq(fl.others, 50);
	ck_assert_uint_eq(fl.answers, 15);
	ck_assert_uint_eq(stats().half_open, 10);
	flood_free(&fl);
}
END_TEST

/* IPv6 sources count by /64: a host owns a whole /64, and counting its addresses one by one
 * would bound nothing. IPv4 sources count by address. */
START_TEST(sources_by_prefix)
{
	start_gcks();
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(500) }, b = a, c = a;
	inet_pton(AF_INET6, "2001:db8:1:2::1", &a.sin6_addr);
	inet_pton(AF_INET6, "2001:db8:1:2:ffff:ffff:ffff:fffe", &b.sin6_addr);
	inet_pton(AF_INET6, "2001:db8:1:3::1", &c.sin6_addr);
	struct sockaddr_in v4a = source(0), v4b = source(1);
	gcks_sa *sa[3];
	for (int i = 0; i < 3; i++) {
		sa[i] = calloc(1, sizeof(*sa[i]));
		ck_assert_ptr_nonnull(sa[i]);
	}
	ck_assert_int_eq(gcks_source_add(net.gcks, sa[0], (struct sockaddr *)&a), GK_OK);
	ck_assert_int_eq(gcks_source_add(net.gcks, sa[1], (struct sockaddr *)&b), GK_OK);
	ck_assert_int_eq(gcks_source_add(net.gcks, sa[2], (struct sockaddr *)&v4a), GK_OK);
	ck_assert_uint_eq(gcks_source_count(net.gcks, (struct sockaddr *)&a), 2);
	ck_assert_uint_eq(gcks_source_count(net.gcks, (struct sockaddr *)&c), 0);
	ck_assert_uint_eq(gcks_source_count(net.gcks, (struct sockaddr *)&v4a), 1);
	ck_assert_uint_eq(gcks_source_count(net.gcks, (struct sockaddr *)&v4b), 0);
	ck_assert_uint_eq(gcks_source_entries(net.gcks), 2);
	/* oldest first in the age list */
	ck_assert_ptr_eq(net.gcks->ho_oldest, sa[0]);
	ck_assert_ptr_eq(net.gcks->ho_newest, sa[2]);
	gcks_source_del(net.gcks, sa[0]);
	ck_assert_ptr_eq(net.gcks->ho_oldest, sa[1]);
	ck_assert_uint_eq(gcks_source_count(net.gcks, (struct sockaddr *)&b), 1);
	for (int i = 1; i < 3; i++)
		gcks_source_del(net.gcks, sa[i]);
	ck_assert_uint_eq(gcks_source_entries(net.gcks), 0);
	ck_assert_ptr_null(net.gcks->ho_oldest);
	ck_assert_ptr_null(net.gcks->ho_newest);
	for (int i = 0; i < 3; i++)
		free(sa[i]);
}
END_TEST

/* ---- chosen SPIs ---- */

/* The hash of the SA table before it was keyed. */
static size_t old_bucket(uint64_t spi, size_t nbuckets)
{
	return (size_t)((spi * 0x9e3779b97f4a7c15ull) >> 32) % nbuckets;
}

/* The inverse of the old multiplier modulo 2^64 (Newton's iteration). */
static uint64_t inverse(uint64_t a)
{
	uint64_t x = a;
	for (int i = 0; i < 6; i++)
		x *= 2 - a * x;
	return x;
}

START_TEST(chosen_spis_spread)
{
	enum { N = 2000 };
	gcfg.half_open_per_source = gcfg.cookie_per_source = N;
	gcfg.cookie_rate = gcfg.cookie_threshold = 100000;
	start_gcks();
	gk_ike_offer offer;
	gk_ike_offer_default(&offer);
	flood_init(&fl, 1, GK_KE_CURVE25519, &offer);
	/* spi * K = j << 48: the same old bucket for every table size up to 2^16 buckets */
	uint64_t kinv = inverse(0x9e3779b97f4a7c15ull);
	ck_assert_uint_eq(kinv * 0x9e3779b97f4a7c15ull, 1);
	for (uint64_t j = 1; j <= N; j++) {
		uint64_t spi = (j << 48) * kinv;
		ck_assert_uint_eq(old_bucket(spi, 4096), old_bucket(kinv << 48, 4096));
		fl.next_spi = spi;
		flood_one(&fl, 0);
		if (j % 100 == 0)
			fn_flush(&net);
	}
	fn_flush(&net);
	ck_assert_uint_eq(fl.answers, N);
	ck_assert_uint_eq(stats().half_open, N);
	/* keyed: about N / 4096 per chain; 8 is far in the tail for a random function */
	ck_assert_uint_le(gcks_sa_chain_max(net.gcks, true), 8);
	ck_assert_uint_le(gcks_sa_chain_max(net.gcks, false), 8);
	flood_free(&fl);
}
END_TEST

/* The generator of a GCKS whose every IKE_SA_INIT SPI falls in bucket 0 of by_r: what an
 * attacker who sieves gets, keeping the SAs whose SPI shares a bucket and ending the others. */
typedef struct sieve {
	gk_rand real;
	uint64_t k;
} sieve;

static gk_status sieve_bytes(void *ctx, uint8_t *out, size_t n)
{
	sieve *s = ctx;
	gk_status st = gk_rand_bytes(&s->real, out, n);
	if (n > 8) { /* our SPI, then our nonce (gcks_ike_sa_init); a redraw alone is random */
		uint64_t spi = ++s->k << 32;
		memcpy(out, &spi, sizeof(spi));
	}
	return st;
}

START_TEST(sieved_spis_capped)
{
	enum { N = 100 };
	gcfg.half_open_per_source = gcfg.cookie_per_source = N;
	gcfg.cookie_rate = gcfg.cookie_threshold = 100000;
	start_gcks();
	sieve sv = { .real = net.gcks_rnd.r };
	net.gcks_rnd.r = (gk_rand){ sieve_bytes, &sv };
	gk_ike_offer offer;
	gk_ike_offer_default(&offer);
	flood_init(&fl, 1, GK_KE_CURVE25519, &offer);
	for (unsigned j = 0; j < N; j++)
		flood_one(&fl, 0);
	fn_flush(&net);
	ck_assert_uint_eq(fl.answers, N);
	ck_assert_uint_eq(stats().half_open, N);
	ck_assert_uint_eq(sv.k, N); /* one draw of SPI and nonce per IKE_SA_INIT */
	/* the first 8 filled the chain; every later one was drawn again, elsewhere */
	ck_assert_uint_eq(gcks_sa_chain_max(net.gcks, false), 8);
	flood_free(&fl);
	fn_set_sink(&net, NULL, NULL);
	fn_member *m = join_member();
	fn_advance(&net, 5000);
	ck_assert_uint_eq(fn_count(m, GK_GM_REGISTERED), 1);
	ck_assert_uint_eq(gcks_sa_chain_max(net.gcks, false), 8);
	net.gcks_rnd.r = sv.real;
}
END_TEST

/* ---- MODP ---- */

START_TEST(modp_not_offered)
{
	gk_ike_offer o;
	gk_ike_offer_default(&o);
	ck_assert_uint_gt(o.nke, 0);
	for (size_t i = 0; i < o.nke; i++)
		ck_assert_msg(o.ke[i] != GK_KE_MODP_2048 && o.ke[i] != GK_KE_MODP_3072 && o.ke[i] != GK_KE_MODP_4096,
			      "MODP group %u in the default offer", o.ke[i]);
	/* a request proposing only MODP gets a COOKIE challenge, then NO_PROPOSAL_CHOSEN: no key
	 * exchange and no SA */
	start_gcks();
	gk_ike_offer modp = o;
	modp.ke[0] = GK_KE_MODP_4096;
	modp.nke = 1;
	flood_init(&fl, 1, GK_KE_MODP_4096, &modp);
	flood_one(&fl, 0);
	fn_flush(&net);
	ck_assert_uint_eq(fl.answers, 0);
	ck_assert_uint_eq(fl.cookies, 1);
	ck_assert_uint_eq(fl.others, 1);
	ck_assert_uint_eq(fl.last_notify, GK_N_NO_PROPOSAL_CHOSEN);
	ck_assert_uint_eq(stats().half_open, 0);
	flood_free(&fl);
}
END_TEST

/* The costly key exchanges (an operator who adds a MODP group; ECP-384, ECP-521 and Curve448
 * of the default offer) only for peers that answered a COOKIE: the first request gets the
 * challenge (no KE, no SA), the cookie'd one the key exchange. Curve25519 and ECP-256 need
 * none. */
START_TEST(costly_ke_needs_cookie)
{
	static const struct {
		uint16_t group;
		bool cookie;
	} cases[] = { { GK_KE_MODP_2048, true }, { GK_KE_MODP_4096, true }, { GK_KE_ECP_384, true },
		      { GK_KE_ECP_521, true }, { GK_KE_CURVE448, true }, { GK_KE_CURVE25519, false },
		      { GK_KE_ECP_256, false } };
	gcfg.offer.ke[gcfg.offer.nke++] = GK_KE_MODP_2048;
	gcfg.offer.ke[gcfg.offer.nke++] = GK_KE_MODP_4096;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		gk_gcks_free(net.gcks); /* a fresh GCKS per case */
		net.gcks = NULL;
		start_gcks();
		bool ck = cases[i].cookie;
		gk_ike_offer one;
		gk_ike_offer_default(&one);
		one.ke[0] = cases[i].group;
		one.nke = 1;
		flood_init(&fl, 1, cases[i].group, &one);
		fl.answer_cookies = false;
		flood_one(&fl, 0);
		fn_flush(&net);
		ck_assert_msg(fl.cookies == (ck ? 1u : 0u), "group %u", cases[i].group);
		ck_assert_uint_eq(fl.answers, ck ? 0 : 1);
		ck_assert_uint_eq(stats().half_open, ck ? 0 : 1);
		/* again, answering the challenge */
		fl.answer_cookies = true;
		flood_one(&fl, 0);
		fn_flush(&net);
		ck_assert_uint_eq(fl.cookies, ck ? 2 : 0);
		ck_assert_uint_eq(fl.answers, ck ? 1 : 2);
		ck_assert_uint_eq(stats().half_open, ck ? 1 : 2);
		flood_free(&fl);
	}
}
END_TEST

/* Many sources answering cookies cannot buy more than costly_ke_rate costly key exchanges a
 * second: the rest are dropped before any DH, and cheap groups are not affected. */
START_TEST(costly_ke_budget)
{
	gcfg.costly_ke_rate = 3;
	start_gcks();
	gk_ike_offer one;
	gk_ike_offer_default(&one);
	one.ke[0] = GK_KE_ECP_384;
	one.nke = 1;
	flood_init(&fl, 10, GK_KE_ECP_384, &one);
	for (unsigned i = 0; i < 10; i++)
		flood_one(&fl, i);
	fn_flush(&net);
	ck_assert_uint_eq(fl.cookies, 10);
	ck_assert_uint_eq(fl.answers, 3);
	ck_assert_uint_eq(stats().costly_limited, 7);
	ck_assert_uint_eq(stats().half_open, 3);
	/* Curve25519 in the same second is not limited */
	flood_free(&fl);
	gk_ike_offer_default(&one);
	flood_init(&fl, 12, GK_KE_CURVE25519, &one);
	flood_one(&fl, 11);
	fn_flush(&net);
	ck_assert_uint_eq(fl.answers, 1);
	/* the next second has a new budget */
	flood_free(&fl);
	fn_advance(&net, 1000);
	one.ke[0] = GK_KE_ECP_384;
	one.nke = 1;
	flood_init(&fl, 10, GK_KE_ECP_384, &one);
	for (unsigned i = 0; i < 10; i++)
		flood_one(&fl, i);
	fn_flush(&net);
	ck_assert_uint_eq(fl.answers, 3);
	ck_assert_uint_eq(stats().costly_limited, 14);
	flood_free(&fl);
}
END_TEST

/* One source cannot spend everyone's costly key exchanges: with one address answering cookies
 * it sends 100 ECP-384 requests in a second with a KE value that is no point on the curve (no
 * SA is made, so its half-open count stays 0). Only costly_ke_per_source of them reach the key
 * exchange; a member's ECP-384 request from another address in the same second gets its SA. */
START_TEST(costly_ke_per_source)
{
	start_gcks();
	ck_assert_uint_eq(gcfg.costly_ke_rate, 100);
	ck_assert_uint_eq(gcfg.costly_ke_per_source, 4);
	gk_ike_offer one;
	gk_ike_offer_default(&one);
	one.ke[0] = GK_KE_ECP_384;
	one.nke = 1;
	flood_init(&fl, 2, GK_KE_ECP_384, &one);
	fl.bad_ke = true;
	for (int i = 0; i < 100; i++)
		flood_one(&fl, 0);
	fn_flush(&net);
	ck_assert_uint_eq(fl.cookies, 100);
	ck_assert_uint_eq(fl.others, 4); /* INVALID_SYNTAX after the failed key exchange */
	ck_assert_uint_eq(fl.last_notify, GK_N_INVALID_SYNTAX);
	ck_assert_uint_eq(stats().costly_limited, 96);
	ck_assert_uint_eq(stats().half_open, 0);
	fl.bad_ke = false;
	flood_one(&fl, 1);
	fn_flush(&net);
	ck_assert_uint_eq(fl.answers, 1);
	ck_assert_uint_eq(stats().half_open, 1);
	ck_assert_uint_eq(stats().costly_limited, 96);
	/* the source's bucket refills at costly_ke_per_source a second */
	fn_advance(&net, 1000);
	fl.bad_ke = true;
	for (int i = 0; i < 10; i++)
		flood_one(&fl, 0);
	fn_flush(&net);
	ck_assert_uint_eq(fl.others, 8);
	ck_assert_uint_eq(stats().costly_limited, 102);
	/* the spent bucket is remembered only until it is full again */
	ck_assert_uint_eq(gcks_source_entries(net.gcks), 2);
	fn_advance(&net, 2000);
	ck_assert_uint_eq(gcks_source_entries(net.gcks), 1);
	flood_free(&fl);
}
END_TEST

/* ---- replayed IKE_SA_INIT ---- */

/* Collects what the GCKS sends to the replayer's address. */
static void count_sink(void *ctx, const struct sockaddr_in *to, const uint8_t *data, size_t len)
{
	(void)to;
	(void)data;
	(void)len;
	(*(unsigned *)ctx)++;
}

START_TEST(replay_rate_limited)
{
	start_gcks();
	gk_ike_offer offer;
	gk_ike_offer_default(&offer);
	flood_init(&fl, 1, GK_KE_CURVE25519, &offer);
	unsigned answers = 0;
	fn_set_sink(&net, count_sink, &answers);
	gk_wbuf req;
	gk_wbuf_init(&req, GK_MAX_MESSAGE);
	flood_build(&fl, 0x4242, GK_CHUNK_EMPTY, &req);
	struct sockaddr_in victim = source(0);
	fn_send_from(&net, &victim, req.data, req.len);
	fn_flush(&net);
	ck_assert_uint_eq(answers, 1);
	ck_assert_uint_eq(stats().half_open, 1);
	/* a burst of copies right after the answer: none answered */
	for (int i = 0; i < 50; i++)
		fn_send_from(&net, &victim, req.data, req.len);
	fn_flush(&net);
	ck_assert_uint_eq(answers, 1);
	ck_assert_uint_eq(stats().resends_limited, 50);
	/* copies every 100 ms for 20 s: one answer per init_resend_interval_ms, init_resend_max in
	 * all */
	unsigned sent = 0;
	for (int i = 0; i < 200; i++) {
		fn_advance(&net, 100);
		fn_send_from(&net, &victim, req.data, req.len);
		sent++;
	}
	fn_flush(&net);
	ck_assert_uint_eq(answers, 1 + gcfg.init_resend_max);
	ck_assert_uint_eq(stats().resends_limited, 50 + sent - gcfg.init_resend_max);
	ck_assert_uint_eq(stats().half_open, 1);
	gk_wbuf_free(&req);
	flood_free(&fl);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("flood");
	TCase *tc = tcase_create("flood");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600); /* tens of thousands of datagrams under sanitizers */
	tcase_add_test(tc, flood_64_sources);
	tcase_add_test(tc, flood_640_sources);
	tcase_add_test(tc, flood_evicts_oldest);
	tcase_add_test(tc, max_sas_evicts_half_open);
	tcase_add_test(tc, cookie_by_rate);
	tcase_add_test(tc, cookie_threshold_exact_and_forged_cookie);
	tcase_add_test(tc, per_source_share);
	tcase_add_test(tc, shared_source_member_registers);
	tcase_add_test(tc, source_cap_needs_cookie);
	tcase_add_test(tc, failed_request_evicts_nothing);
	tcase_add_test(tc, sources_by_prefix);
	tcase_add_test(tc, chosen_spis_spread);
	tcase_add_test(tc, sieved_spis_capped);
	tcase_add_test(tc, modp_not_offered);
	tcase_add_test(tc, costly_ke_needs_cookie);
	tcase_add_test(tc, costly_ke_budget);
	tcase_add_test(tc, costly_ke_per_source);
	tcase_add_test(tc, replay_rate_limited);
	suite_add_tcase(su, tc);
	return tu_run(su);
}
