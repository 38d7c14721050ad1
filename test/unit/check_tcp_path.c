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

int main(void)
{
	Suite *s = suite_create("tcp_path");
	TCase *tc = tcase_create("tcp_path");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, answers_and_inband_rekey_on_the_stream);
	tcase_add_test(tc, follows_a_new_connection_after_an_authenticated_message);
	tcase_add_test(tc, closed_stream_is_not_replaced_by_datagrams);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
