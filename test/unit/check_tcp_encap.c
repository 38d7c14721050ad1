/* Unit tests of the TCP transport (common/base/tcp_encap.c, RFC 9329) on a real libuv loop
 * and loopback sockets, in one process: the originator's prefix and frames reach the
 * responder's callback with a connection id, the answer comes back on that connection; a
 * client message sent twice on one connection goes out once (RFC 9329 7.2; the server side sends
 * what gcksd's request engine gives it); an unknown
 * connection is GK_E_NOT_FOUND; a peer that never reads is closed once max_queued octets of ours wait. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "testutil.h"
#include "tcp_encap.h"

typedef struct ctx {
	uv_loop_t loop;
	uv_timer_t deadline;
	gk_tcp_server *srv;
	uint64_t conn;
	size_t srv_msgs, cli_msgs;
	uint8_t last_srv[64], last_cli[64];
	size_t last_srv_len, last_cli_len;
	bool timed_out;
} ctx;

static void on_srv(void *c_, uint64_t conn, const uint8_t *ike, size_t len, const struct sockaddr *peer,
		   const struct sockaddr *local)
{
	ctx *c = c_;
	ck_assert_int_eq(peer->sa_family, AF_INET);
	ck_assert_int_eq(local->sa_family, AF_INET);
	ck_assert_uint_ne(conn, 0);
	c->conn = conn;
	c->srv_msgs++;
	ck_assert_uint_le(len, sizeof(c->last_srv));
	memcpy(c->last_srv, ike, len);
	c->last_srv_len = len;
}

static void on_cli(void *c_, const uint8_t *ike, size_t len, const struct sockaddr *peer)
{
	ctx *c = c_;
	(void)peer;
	c->cli_msgs++;
	ck_assert_uint_le(len, sizeof(c->last_cli));
	memcpy(c->last_cli, ike, len);
	c->last_cli_len = len;
}

static void on_deadline(uv_timer_t *t)
{
	ctx *c = t->data;
	c->timed_out = true;
}

/* Runs the loop until *count reaches want, or 5 s. Then runs 100 ms more, so that a copy that
 * should not arrive would. */
static void run_until(ctx *c, const size_t *count, size_t want)
{
	c->timed_out = false;
	uv_timer_start(&c->deadline, on_deadline, 5000, 0);
	while (*count < want && !c->timed_out)
		uv_run(&c->loop, UV_RUN_ONCE);
	ck_assert_msg(!c->timed_out, "timed out waiting for %zu messages (have %zu)", want, *count);
	uv_timer_start(&c->deadline, on_deadline, 100, 0);
	while (!c->timed_out)
		uv_run(&c->loop, UV_RUN_ONCE);
}

static void setup(ctx *c, const gk_tcp_limits *lim)
{
	memset(c, 0, sizeof(*c));
	uv_loop_init(&c->loop);
	uv_timer_init(&c->loop, &c->deadline);
	c->deadline.data = c;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char err[256] = "";
	ck_assert_int_eq(gk_tcp_server_new(&c->loop, lim, on_srv, c, &c->srv), GK_OK);
	ck_assert_msg(gk_tcp_server_listen(c->srv, (struct sockaddr *)&a, err, sizeof(err)) == GK_OK, "%s", err);
	ck_assert_ptr_nonnull(gk_tcp_server_local(c->srv, 0));
	ck_assert_ptr_null(gk_tcp_server_local(c->srv, 1));
}

static void teardown(ctx *c)
{
	gk_tcp_server_free(c->srv);
	uv_close((uv_handle_t *)&c->deadline, NULL);
	uv_run(&c->loop, UV_RUN_NOWAIT);
	uv_run(&c->loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(uv_loop_close(&c->loop), 0);
}

static const gk_tcp_limits lim = { .max_conns = 4, .max_per_source = 4, .idle_ms = 10000, .max_frame = 2048,
				   .max_queued = 64 << 10 };

START_TEST(roundtrip_and_no_copies)
{
	ctx c;
	gk_tcp_client *cl;
	gk_tcp_stats st;
	static const uint8_t a[28] = "request one, 28 octets long", b[28] = "request two, 28 octets long",
			     r[28] = "an answer on the connection";
	setup(&c, &lim);
	ck_assert_int_eq(gk_tcp_client_new(&c.loop, gk_tcp_server_local(c.srv, 0), 2048, on_cli, NULL, &c, &cl), GK_OK);
	/* sent before the connection is up: queued behind the prefix */
	ck_assert_int_eq(gk_tcp_client_send(cl, a, sizeof(a)), GK_OK);
	ck_assert_int_eq(gk_tcp_client_send(cl, a, sizeof(a)), GK_OK); /* a retransmission: not sent */
	ck_assert_int_eq(gk_tcp_client_send(cl, b, sizeof(b)), GK_OK);
	run_until(&c, &c.srv_msgs, 2);
	ck_assert_uint_eq(c.srv_msgs, 2);
	ck_assert_mem_eq(c.last_srv, b, sizeof(b));
	ck_assert_uint_eq(gk_tcp_client_dups(cl), 1);
	/* the server's side sends what it is given: gcksd's request engine decides what not to
	 * send again on a stream (RFC 9329 7.2), without hashing every frame */
	ck_assert_int_eq(gk_tcp_server_send(c.srv, c.conn, r, sizeof(r)), GK_OK);
	ck_assert_int_eq(gk_tcp_server_send(c.srv, c.conn, r, sizeof(r)), GK_OK);
	run_until(&c, &c.cli_msgs, 2);
	ck_assert_uint_eq(c.cli_msgs, 2);
	ck_assert_uint_eq(c.last_cli_len, sizeof(r));
	ck_assert_mem_eq(c.last_cli, r, sizeof(r));
	gk_tcp_server_stats(c.srv, &st);
	ck_assert_uint_eq(st.open, 1);
	ck_assert_uint_eq(st.accepted, 1);
	ck_assert_uint_eq(st.messages, 2);
	ck_assert_int_eq(gk_tcp_server_send(c.srv, c.conn + 1, r, sizeof(r)), GK_E_NOT_FOUND);
	gk_tcp_client_free(cl);
	teardown(&c);
}
END_TEST

START_TEST(unread_answers_close)
{
	ctx c;
	gk_tcp_stats st;
	setup(&c, &lim);
	/* a peer that sends one message and never reads */
	int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096;
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	const struct sockaddr *to = gk_tcp_server_local(c.srv, 0);
	ck_assert_int_eq(connect(fd, to, sizeof(struct sockaddr_in)), 0);
	static const uint8_t hello[6 + 6 + 28] = { 'I', 'K', 'E', 'T', 'C', 'P', 0, 34, 0, 0, 0, 0, 1, 2, 3 };
	ck_assert_int_eq(write(fd, hello, sizeof(hello)), (ssize_t)sizeof(hello));
	run_until(&c, &c.srv_msgs, 1);
	uint8_t big[2000];
	memset(big, 0x5a, sizeof(big));
	gk_status s = GK_OK;
	size_t sent = 0;
	for (uint32_t i = 0; s == GK_OK && sent < (64u << 20); i++) {
		memcpy(big, &i, sizeof(i)); /* each one differs: no copy suppressed */
		s = gk_tcp_server_send(c.srv, c.conn, big, sizeof(big));
		sent += sizeof(big);
		uv_run(&c.loop, UV_RUN_NOWAIT);
	}
	ck_assert_int_eq(s, GK_E_IO);
	gk_tcp_server_stats(c.srv, &st);
	ck_assert_uint_eq(st.queue_closed, 1);
	ck_assert_uint_eq(st.open, 0);
	ck_assert_int_eq(gk_tcp_server_send(c.srv, c.conn, big, sizeof(big)), GK_E_NOT_FOUND);
	close(fd);
	teardown(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_encap");
	TCase *tc = tcase_create("tcp_encap");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, roundtrip_and_no_copies);
	tcase_add_test(tc, unread_answers_close);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
