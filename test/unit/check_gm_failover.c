/* Failover among key servers in the member core (member/gm_core.c): no answer to IKE_SA_INIT
 * through every retransmission, or TEMPORARY_FAILURE, moves the registration to the next key
 * server at once; when every one was tried, the usual backoff applies and the next attempt
 * starts with the first again; any other refusal does not move it; one key server never moves.
 * The core runs on a fake clock; what it sends is kept, answers are built here. */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "iana.h"
#include "log.h"
#include "message.h"
#include "payloads.h"
#include "rand.h"
#include "member/gm.h"

static int64_t clock_ms;
static size_t nsent, moves[8], nmoves;
static uint8_t last[2048];
static size_t last_len;
static gk_gm_event_type events[16];
static int64_t retry[16];
static size_t nevents;
static gk_rand_test rnd;

static int64_t fake_now(void *ctx)
{
	(void)ctx;
	return clock_ms;
}

static void on_send(void *ctx, const uint8_t *data, size_t len)
{
	(void)ctx;
	nsent++;
	last_len = len < sizeof(last) ? len : sizeof(last);
	memcpy(last, data, last_len);
}

static void on_event(void *ctx, const gk_gm_event *ev)
{
	(void)ctx;
	if (nevents < 16) {
		retry[nevents] = ev->retry_ms;
		events[nevents++] = ev->type;
	}
}

static void on_server(void *ctx, size_t index, const char *why, struct sockaddr_storage *local,
		      struct sockaddr_storage *gcks)
{
	(void)ctx;
	ck_assert_ptr_nonnull(why);
	memset(local, 0, sizeof(*local));
	memset(gcks, 0, sizeof(*gcks));
	if (nmoves < 8)
		moves[nmoves++] = index;
}

static gk_gm *make(size_t nservers, bool with_server_cb)
{
	gk_gm_config c;
	gk_gm *gm;
	char why[GK_ERR_MAX];
	gk_gm_config_default(&c);
	ck_assert_int_eq(gk_ident_parse("fqdn:m.example", &c.id, why, sizeof(why)), GK_OK);
	ck_assert_int_eq(gk_ident_parse("keyid:g", &c.groups[0], why, sizeof(why)), GK_OK);
	c.ngroups = 1;
	c.psk = (const uint8_t *)"0123456789abcdef";
	c.psk_len = 16;
	c.retransmit_ms = 100;
	c.retransmit_tries = 1;
	c.retry_ms = 5000;
	c.retry_max_ms = 5000;
	c.nservers = nservers;
	gk_rand_test_init(&rnd, 7);
	gk_gm_env env = { .rnd = &rnd.r, .clock = { .now_ms = fake_now }, .send = on_send, .event = on_event,
			  .server = with_server_cb ? on_server : NULL };
	ck_assert_int_eq(gk_gm_new(&c, &env, &gm), GK_OK);
	return gm;
}

static void setup(void)
{
	gk_log_init("check_gm_failover", getenv("GK_TEST_DEBUG") ? GK_LOG_DEBUG : GK_LOG_ERROR);
	clock_ms = 1000;
	nsent = nmoves = nevents = 0;
}

/* Runs the clock in 50 ms steps for ms. */
static void run(gk_gm *gm, int64_t ms)
{
	for (int64_t end = clock_ms + ms; clock_ms < end;) {
		clock_ms += 50;
		gk_gm_tick(gm);
	}
}

/* The IKE_SA_INIT response to the last request: an error notify alone. */
static void answer_error(gk_gm *gm, uint16_t notify)
{
	gk_hdr h;
	ck_assert_int_eq(gk_hdr_parse(GK_CHUNK(last, last_len), &h), GK_OK);
	ck_assert_uint_eq(h.exchange, GK_EXCH_IKE_SA_INIT);
	gk_pl_notify n = { .type = notify };
	gk_out_pl pl = { GK_PL_NOTIFY, false, &n };
	gk_msg_out o = { .hdr = { .spi_i = h.spi_i, .version = GK_IKE_VERSION, .exchange = GK_EXCH_IKE_SA_INIT,
				  .flags = GK_FLAG_R, .msg_id = 0 },
			 .outer = &pl, .nouter = 1 };
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_msg_build(&o, NULL, &rnd.r, &w), GK_OK);
	gk_gm_input(gm, w.data, w.len);
	gk_wbuf_free(&w);
}

/* The IKE_SA_INIT response to the last request: a COOKIE notify of len octets of value v, alone
 * (RFC 7296 2.6). */
static void answer_cookie(gk_gm *gm, size_t len, uint8_t v)
{
	uint8_t data[80];
	gk_hdr h;
	ck_assert_uint_le(len, sizeof(data));
	memset(data, v, sizeof(data));
	ck_assert_int_eq(gk_hdr_parse(GK_CHUNK(last, last_len), &h), GK_OK);
	gk_pl_notify n = { .type = GK_N_COOKIE, .data = GK_CHUNK(data, len) };
	gk_out_pl pl = { GK_PL_NOTIFY, false, &n };
	gk_msg_out o = { .hdr = { .spi_i = h.spi_i, .version = GK_IKE_VERSION, .exchange = GK_EXCH_IKE_SA_INIT,
				  .flags = GK_FLAG_R, .msg_id = 0 },
			 .outer = &pl, .nouter = 1 };
	gk_wbuf w;
	gk_wbuf_init(&w, 0);
	ck_assert_int_eq(gk_msg_build(&o, NULL, &rnd.r, &w), GK_OK);
	gk_gm_input(gm, w.data, w.len);
	gk_wbuf_free(&w);
}

/* The last request is IKE_SA_INIT with the COOKIE len x v first (RFC 7296 2.6). */
static void assert_sent_cookie(size_t len, uint8_t v)
{
	gk_msg m;
	ck_assert_int_eq(gk_msg_parse(&m, GK_CHUNK(last, last_len)), GK_OK);
	ck_assert_uint_eq(m.hdr.exchange, GK_EXCH_IKE_SA_INIT);
	ck_assert_uint_gt(m.pl.n, 0);
	ck_assert_uint_eq(m.pl.items[0].type, GK_PL_NOTIFY);
	ck_assert_uint_eq(m.pl.items[0].body->notify.type, GK_N_COOKIE);
	ck_assert_uint_eq(m.pl.items[0].body->notify.data.len, len);
	for (size_t i = 0; i < len; i++)
		ck_assert_uint_eq(m.pl.items[0].body->notify.data.ptr[i], v);
	ck_assert_ptr_nonnull(gk_msg_find(&m, GK_PL_KE));
	gk_msg_free(&m);
}

START_TEST(no_answer_moves_on)
{
	gk_gm *gm = make(3, true);
	ck_assert_int_eq(gk_gm_start(gm), GK_OK);
	ck_assert_uint_eq(nsent, 1);
	run(gm, 400); /* one retransmission, then give-up: on to the second at once */
	ck_assert_uint_eq(nmoves, 1);
	ck_assert_uint_eq(moves[0], 1);
	ck_assert_uint_eq(gk_gm_server(gm), 1);
	ck_assert_uint_eq(nevents, 0); /* no failure reported: the registration goes on */
	ck_assert_uint_eq(nsent, 3);   /* IKE_SA_INIT, its retransmission, IKE_SA_INIT to the second */
	run(gm, 400);
	ck_assert_uint_eq(nmoves, 2);
	ck_assert_uint_eq(moves[1], 2);
	run(gm, 400); /* the third was the last: a failure with backoff, back to the first */
	ck_assert_uint_eq(nmoves, 3);
	ck_assert_uint_eq(moves[2], 0);
	ck_assert_uint_eq(gk_gm_server(gm), 0);
	ck_assert_uint_eq(nevents, 1);
	ck_assert_int_eq(events[0], GK_GM_FAILED);
	ck_assert_int_ge(retry[0], 3750);
	size_t sent = nsent;
	run(gm, 3000); /* nothing before the backoff ends */
	ck_assert_uint_eq(nsent, sent);
	while (nsent == sent && clock_ms < 20000) {
		clock_ms += 50;
		gk_gm_tick(gm);
	}
	ck_assert_int_le(clock_ms, 1000 + 1200 + 5100);
	ck_assert_uint_eq(nsent, sent + 1); /* the new round, to the first key server */
	ck_assert_uint_eq(nmoves, 3);
	ck_assert_uint_eq(gk_gm_server(gm), 0);
	gk_gm_free(gm);
}
END_TEST

START_TEST(temporary_failure_moves_on)
{
	gk_gm *gm = make(2, true);
	ck_assert_int_eq(gk_gm_start(gm), GK_OK);
	answer_error(gm, GK_N_TEMPORARY_FAILURE);
	ck_assert_uint_eq(nmoves, 1);
	ck_assert_uint_eq(moves[0], 1);
	ck_assert_uint_eq(nevents, 0);
	run(gm, 50);
	ck_assert_uint_eq(nsent, 2);
	answer_error(gm, GK_N_TEMPORARY_FAILURE); /* the last one: fails, back to the first */
	ck_assert_uint_eq(nmoves, 2);
	ck_assert_uint_eq(moves[1], 0);
	ck_assert_uint_eq(nevents, 1);
	ck_assert_int_eq(events[0], GK_GM_FAILED);
	gk_gm_free(gm);
}
END_TEST

START_TEST(other_refusal_stays)
{
	gk_gm *gm = make(2, true);
	ck_assert_int_eq(gk_gm_start(gm), GK_OK);
	answer_error(gm, GK_N_NO_PROPOSAL_CHOSEN);
	ck_assert_uint_eq(nmoves, 0);
	ck_assert_uint_eq(nevents, 1);
	ck_assert_int_eq(events[0], GK_GM_FAILED);
	ck_assert_uint_eq(gk_gm_server(gm), 0);
	gk_gm_free(gm);
}
END_TEST

START_TEST(one_server_never_moves)
{
	gk_gm *gm = make(1, true);
	ck_assert_int_eq(gk_gm_start(gm), GK_OK);
	run(gm, 400);
	ck_assert_uint_eq(nmoves, 0);
	ck_assert_uint_eq(nevents, 1);
	ck_assert_int_eq(events[0], GK_GM_FAILED);
	gk_gm_free(gm);
	/* several key servers, but nobody to tell: no failover either */
	nevents = 0;
	gm = make(2, false);
	ck_assert_int_eq(gk_gm_start(gm), GK_OK);
	run(gm, 400);
	ck_assert_uint_eq(nevents, 1);
	ck_assert_int_eq(events[0], GK_GM_FAILED);
	ck_assert_uint_eq(gk_gm_server(gm), 0);
	gk_gm_free(gm);
}
END_TEST

/* A COOKIE answer again (the answer to a retransmitted request, or a new cookie): the request
 * goes out again with it, four times per attempt; the fifth ends the attempt. A COOKIE-only
 * answer is never taken for a full one (it has no KE: the member crashed on it). */
START_TEST(cookie_again)
{
	gk_gm *gm = make(1, false);
	ck_assert_int_eq(gk_gm_start(gm), GK_OK);
	answer_cookie(gm, 16, 0xa1);
	ck_assert_uint_eq(nsent, 2);
	assert_sent_cookie(16, 0xa1);
	answer_cookie(gm, 16, 0xa1); /* the same one: the copy of a retransmitted request's answer */
	ck_assert_uint_eq(nsent, 3);
	assert_sent_cookie(16, 0xa1);
	answer_cookie(gm, 20, 0xb2); /* a new one */
	ck_assert_uint_eq(nsent, 4);
	assert_sent_cookie(20, 0xb2);
	answer_cookie(gm, 20, 0xb2);
	ck_assert_uint_eq(nsent, 5);
	ck_assert_uint_eq(nevents, 0);
	answer_cookie(gm, 20, 0xb2); /* one too many */
	ck_assert_uint_eq(nsent, 5);
	ck_assert_uint_eq(nevents, 1);
	ck_assert_int_eq(events[0], GK_GM_FAILED);
	gk_gm_free(gm);
}
END_TEST

/* A COOKIE the member cannot send back (empty, or longer than 64 octets) ends the attempt. */
START_TEST(cookie_unusable)
{
	static const size_t lens[] = { 0, 65 };
	for (size_t i = 0; i < 2; i++) {
		nsent = nevents = 0;
		gk_gm *gm = make(1, false);
		ck_assert_int_eq(gk_gm_start(gm), GK_OK);
		answer_cookie(gm, lens[i], 0xc3);
		ck_assert_uint_eq(nsent, 1);
		ck_assert_uint_eq(nevents, 1);
		ck_assert_int_eq(events[0], GK_GM_FAILED);
		gk_gm_free(gm);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gm_failover");
	TCase *t = tcase_create("failover");
	tcase_add_checked_fixture(t, setup, NULL);
	tcase_add_test(t, no_answer_moves_on);
	tcase_add_test(t, temporary_failure_moves_on);
	tcase_add_test(t, other_refusal_stays);
	tcase_add_test(t, one_server_never_moves);
	tcase_add_test(t, cookie_again);
	tcase_add_test(t, cookie_unusable);
	suite_add_tcase(s, t);
	return tu_run(s);
}
