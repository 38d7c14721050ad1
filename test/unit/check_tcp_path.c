/* The GCKS core's reply path for IKE over TCP (RFC 9329), on the fake network: a member whose
 * messages come on a stream gets every answer and every GSA_INBAND_REKEY on that stream, never
 * as a datagram (fakenet aborts then); after the member reconnects (a new stream), the GCKS
 * follows it once an authenticated message came on the new one, and until then what it sends
 * on the closed one is lost, not sent by UDP (RFC 9329, Connection Establishment and Teardown:
 * the responder opens no connection). */
#include <string.h>
#include "testutil.h"
#include "fakenet.h"
#include "regfix.h"

static void setup(void)
{
	rf_setup("check_tcp_path", "gk-tcppath");
}

static void teardown(void)
{
	rf_teardown();
}

static fn_member *member_on_stream(uint64_t stream)
{
	gk_group_policy g;
	pol_init(&g, G1);
	g.rekey_transport = GK_REKEY_INBAND;
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.liveness_ms = 5000;
	c.retransmit_tries = 2;
	fn_member *m = join(&c);
	m->stream = stream;
	fn_advance(&net, 2000);
	registered(m, 0);
	return m;
}

START_TEST(answers_and_inband_rekey_on_the_stream)
{
	fn_member *m = member_on_stream(7);
	/* IKE_SA_INIT and GSA_AUTH answered on the stream */
	ck_assert_uint_eq(m->stream_rx, 2);
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 1000);
	ck_assert_msg(fn_count(m, GK_GM_REKEYED) == 1, "%s", msg);
	ck_assert_uint_eq(m->stream_rx, 3);
	ck_assert_uint_eq(net.stream_lost, 0);
}
END_TEST

START_TEST(follows_a_new_connection_after_an_authenticated_message)
{
	fn_member *m = member_on_stream(7);
	m->stream = 8; /* the connection broke; the member opened another */
	unsigned rx = m->stream_rx;
	/* its liveness check (5 s of silence) comes on the new stream and is answered there */
	fn_advance(&net, 7000);
	ck_assert_uint_eq(fn_count(m, GK_GM_DEAD), 0);
	ck_assert_uint_gt(m->stream_rx, rx);
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 1000);
	ck_assert_msg(fn_count(m, GK_GM_REKEYED) == 1, "%s", msg);
	ck_assert_uint_eq(net.stream_lost, 0);
}
END_TEST

START_TEST(closed_stream_is_not_replaced_by_datagrams)
{
	fn_member *m = member_on_stream(7);
	m->stream = 8;
	unsigned rx = m->stream_rx;
	/* the rekey goes on the stream the last authenticated message came on: gone */
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 100);
	ck_assert_uint_eq(fn_count(m, GK_GM_REKEYED), 0);
	ck_assert_uint_ge(net.stream_lost, 1);
	ck_assert_uint_eq(m->stream_rx, rx);
}
END_TEST

/* RFC 9329 7.2: over a stream the GCKS does not retransmit. A GSA_INBAND_REKEY whose answer
 * never comes goes out once on the member's stream through the whole retransmission schedule
 * (1 s doubling, 5 tries: given up after 63 s), where over UDP it would go 6 times. */
START_TEST(request_not_sent_twice_on_one_stream)
{
	fn_member *m = member_on_stream(7);
	fn_rule r = fn_rule_any(FN_DROP);
	r.dir = FN_TO_GCKS;
	r.exchange = GK_EXCH_GSA_INBAND_REKEY;
	r.response = 1;
	fn_impair(&net, &r);
	unsigned rx = m->stream_rx;
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 70000);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, m->idx, GK_EXCH_GSA_INBAND_REKEY, 0), 1);
	ck_assert_uint_ge(fn_trace_count(&net, FN_TO_GCKS, m->idx, GK_EXCH_GSA_INBAND_REKEY, 1), 1);
	ck_assert_uint_ge(m->stream_rx, rx + 1);
	ck_assert_uint_eq(net.stream_lost, 0);
}
END_TEST

/* ... and, once the member is on a new connection (an authenticated message came on it), the
 * outstanding request goes once on the new one: the old stream may have lost it. */
START_TEST(request_sent_again_on_a_new_stream)
{
	fn_member *m = member_on_stream(7);
	fn_rule r = fn_rule_any(FN_DROP);
	r.dir = FN_TO_GCKS;
	r.exchange = GK_EXCH_GSA_INBAND_REKEY;
	r.response = 1;
	fn_impair(&net, &r);
	char msg[256];
	ck_assert_int_eq(gk_gcks_rekey(net.gcks, G1, msg, sizeof(msg)), GK_OK);
	fn_advance(&net, 500);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, m->idx, GK_EXCH_GSA_INBAND_REKEY, 0), 1);
	m->stream = 8; /* its liveness check (5 s of silence) comes on the new stream */
	fn_advance(&net, 70000);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, m->idx, GK_EXCH_GSA_INBAND_REKEY, 0), 2);
}
END_TEST

/* RFC 9329 7.2: a responder does not resend its answer on the stream that carried it. The
 * member's GSA_AUTH is answered once; the member retransmits it on the same stream (the answer
 * was dropped here to make it): no second answer. */
START_TEST(answer_not_resent_on_its_stream)
{
	gk_group_policy g;
	pol_init(&g, G1);
	pol_member(&g, "fqdn:r1.example", GK_MAUTH_PSK, GK_ROLE_RECEIVER);
	pol_put(&g);
	start_gcks();
	fn_rule r = fn_rule_any(FN_DROP);
	r.dir = FN_FROM_GCKS;
	r.exchange = GK_EXCH_GSA_AUTH;
	r.response = 1;
	r.count = 1;
	fn_impair(&net, &r);
	gk_gm_config c = gm_psk("fqdn:r1.example", G1);
	c.retransmit_tries = 2;
	fn_member *m = join(&c);
	m->stream = 7;
	fn_advance(&net, 20000);
	ck_assert_uint_ge(fn_trace_count(&net, FN_TO_GCKS, m->idx, GK_EXCH_GSA_AUTH, 0), 2);
	ck_assert_uint_eq(fn_trace_count(&net, FN_FROM_GCKS, m->idx, GK_EXCH_GSA_AUTH, 1), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_path");
	TCase *tc = tcase_create("tcp_path");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, answers_and_inband_rekey_on_the_stream);
	tcase_add_test(tc, follows_a_new_connection_after_an_authenticated_message);
	tcase_add_test(tc, closed_stream_is_not_replaced_by_datagrams);
	tcase_add_test(tc, request_not_sent_twice_on_one_stream);
	tcase_add_test(tc, request_sent_again_on_a_new_stream);
	tcase_add_test(tc, answer_not_resent_on_its_stream);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
