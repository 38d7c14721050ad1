/* Unit tests of the UDP transport's batched sending (common/base/udp.c) on a real libuv loop and
 * loopback sockets, in one process: datagrams sent while corked leave with one sendmmsg at
 * gk_udp_uncork, in order, every one of them arriving (also with the non-ESP marker, RFC 3948
 * 2.2); a full batch leaves at once; what one sendmmsg leaves after a datagram the kernel
 * refuses goes one by one; uncorked sends go one by one as before; a batch socket whose last
 * read took a full batch reports a backlog until a read finds it empty. */
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "udp.h"

#define MAXD 128

typedef struct rx {
	size_t n;
	size_t len[MAXD];
	uint8_t first[MAXD], last[MAXD];
} rx;

typedef struct pair {
	uv_loop_t loop;
	gk_udp *tx, *rcv;
	rx got;
} pair;

static void on_rx(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *peer,
		  const struct sockaddr *local)
{
	rx *r = ctx;
	(void)peer;
	(void)local;
	ck_assert_uint_lt(r->n, MAXD);
	r->len[r->n] = len;
	r->first[r->n] = len ? data[0] : 0;
	r->last[r->n] = len ? data[len - 1] : 0;
	r->n++;
}

static void on_tx(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *peer,
		  const struct sockaddr *local)
{
	(void)ctx, (void)data, (void)len, (void)peer, (void)local;
	ck_abort_msg("nothing is sent to the sender");
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static void pair_open(pair *p, bool marker)
{
	char err[128];
	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(uv_loop_init(&p->loop), 0);
	struct sockaddr_in any = loopback(0);
	ck_assert_int_eq(gk_udp_open(&p->loop, (struct sockaddr *)&any, on_rx, &p->got, &p->rcv, err, sizeof(err)),
			 GK_OK);
	ck_assert_int_eq(gk_udp_open(&p->loop, (struct sockaddr *)&any, on_tx, NULL, &p->tx, err, sizeof(err)),
			 GK_OK);
	ck_assert_int_eq(gk_udp_set_rcvbuf(p->rcv, 1 << 20), GK_OK);
	gk_udp_set_marker(p->tx, marker);
	gk_udp_set_marker(p->rcv, marker);
}

/* Runs the loop until want datagrams arrived, or about 5 s. */
static void pair_wait(pair *p, size_t want)
{
	for (int i = 0; i < 5000 && p->got.n < want; i++) {
		uv_run(&p->loop, UV_RUN_NOWAIT);
		if (p->got.n < want)
			usleep(1000);
	}
	ck_assert_uint_eq(p->got.n, want);
}

static void pair_close(pair *p)
{
	gk_udp_close(p->tx);
	gk_udp_close(p->rcv);
	uv_run(&p->loop, UV_RUN_DEFAULT); /* only the closes are left */
	ck_assert_int_eq(uv_loop_close(&p->loop), 0);
}

/* Datagram i: i * 7 + 20 octets, its first octet i, its last 0xA0 ^ i. */
static void send_i(pair *p, const struct sockaddr_in *to, unsigned i)
{
	uint8_t d[20 + 7 * MAXD];
	size_t len = 20 + 7 * (size_t)i;
	memset(d, 0x55, len);
	d[0] = (uint8_t)i;
	d[len - 1] = (uint8_t)(0xA0 ^ i);
	ck_assert_int_eq(gk_udp_send(p->tx, (const struct sockaddr *)to, d, len), GK_OK);
}

static void check_i(const pair *p, size_t k, unsigned i)
{
	ck_assert_uint_eq(p->got.len[k], 20 + 7 * (size_t)i);
	ck_assert_uint_eq(p->got.first[k], i);
	ck_assert_uint_eq(p->got.last[k], 0xA0 ^ i);
}

static void corked_batch(bool marker)
{
	enum { N = 40 };
	pair p;
	pair_open(&p, marker);
	struct sockaddr_in to = *(const struct sockaddr_in *)(const void *)gk_udp_local(p.rcv);
	gk_udp_cork(p.tx);
	for (unsigned i = 0; i < N; i++)
		send_i(&p, &to, i);
	gk_udp_stats s = gk_udp_get_stats(p.tx);
	ck_assert_uint_eq(s.batches + s.batched + s.single, 0); /* nothing left yet */
	gk_udp_uncork(p.tx);
	s = gk_udp_get_stats(p.tx);
	ck_assert_uint_eq(s.batches, 1);
	ck_assert_uint_eq(s.batched, N);
	ck_assert_uint_eq(s.single, 0);
	pair_wait(&p, N);
	for (unsigned i = 0; i < N; i++)
		check_i(&p, i, i); /* all of them, in order; with the marker stripped where it was added */
	/* uncorked again: one by one */
	send_i(&p, &to, 3);
	ck_assert_uint_eq(gk_udp_get_stats(p.tx).single, 1);
	pair_wait(&p, N + 1);
	check_i(&p, N, 3);
	pair_close(&p);
}

START_TEST(corked_sends_leave_in_one_sendmmsg)
{
	corked_batch(false);
}
END_TEST

START_TEST(corked_sends_with_marker)
{
	corked_batch(true); /* the receiver drops any datagram without the marker */
}
END_TEST

START_TEST(full_batch_leaves_at_once)
{
	pair p;
	pair_open(&p, false);
	struct sockaddr_in to = *(const struct sockaddr_in *)(const void *)gk_udp_local(p.rcv);
	gk_udp_cork(p.tx);
	for (unsigned i = 0; i < 64; i++)
		send_i(&p, &to, i);
	ck_assert_uint_eq(gk_udp_get_stats(p.tx).batches, 0);
	send_i(&p, &to, 64); /* the 65th: the 64 held leave first */
	ck_assert_uint_eq(gk_udp_get_stats(p.tx).batches, 1);
	ck_assert_uint_eq(gk_udp_get_stats(p.tx).batched, 64);
	/* 64 KiB held at most: two of 30,000 octets, then a third that does not fit */
	gk_udp_uncork(p.tx);
	gk_udp_cork(p.tx);
	static uint8_t big[30000];
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(gk_udp_send(p.tx, (struct sockaddr *)&to, big, sizeof(big)), GK_OK);
	ck_assert_uint_eq(gk_udp_get_stats(p.tx).batches, 3);
	ck_assert_uint_eq(gk_udp_get_stats(p.tx).batched, 65 + 2);
	gk_udp_uncork(p.tx);
	gk_udp_stats s = gk_udp_get_stats(p.tx);
	ck_assert_uint_eq(s.batches, 4);
	ck_assert_uint_eq(s.batched, 68);
	ck_assert_uint_eq(s.single, 0);
	pair_wait(&p, 68);
	for (unsigned i = 0; i < 65; i++)
		check_i(&p, i, i);
	for (size_t k = 65; k < 68; k++)
		ck_assert_uint_eq(p.got.len[k], sizeof(big));
	pair_close(&p);
}
END_TEST

START_TEST(refused_datagram_rest_one_by_one)
{
	pair p;
	pair_open(&p, false);
	struct sockaddr_in to = *(const struct sockaddr_in *)(const void *)gk_udp_local(p.rcv);
	struct sockaddr_in port0 = loopback(0); /* udp_sendmsg(): EINVAL */
	gk_udp_cork(p.tx);
	for (unsigned i = 0; i < 5; i++)
		send_i(&p, &to, i);
	send_i(&p, &port0, 99);
	for (unsigned i = 5; i < 9; i++)
		send_i(&p, &to, i);
	gk_udp_uncork(p.tx);
	gk_udp_stats s = gk_udp_get_stats(p.tx);
	ck_assert_uint_eq(s.batches, 1);
	ck_assert_uint_eq(s.batched, 5);
	ck_assert_uint_eq(s.single, 5); /* the refused one (lost, as before), then the other 4 */
	pair_wait(&p, 9);
	for (unsigned i = 0; i < 9; i++)
		check_i(&p, i, i);
	pair_close(&p);
}
END_TEST

/* A batch socket reads 16 datagrams a call and at most 32 a turn (libuv): a turn that stops
 * there leaves it backlogged, one that empties it does not. */
START_TEST(backlog_after_full_reads)
{
	char err[128];
	pair p;
	pair_open(&p, false);
	gk_udp *b = NULL;
	struct sockaddr_in any = loopback(0);
	ck_assert_int_eq(gk_udp_open_batch(&p.loop, (struct sockaddr *)&any, 16, on_rx, &p.got, &b, err, sizeof(err)),
			 GK_OK);
	ck_assert_int_eq(gk_udp_set_rcvbuf(b, 1 << 20), GK_OK);
	struct sockaddr_in to = *(const struct sockaddr_in *)(const void *)gk_udp_local(b);
	ck_assert(!gk_udp_backlogged(b));
	gk_udp_cork(p.tx);
	for (unsigned i = 0; i < 40; i++)
		send_i(&p, &to, i);
	gk_udp_uncork(p.tx); /* on loopback they are queued at the receiver when sendmmsg returns */
	uv_run(&p.loop, UV_RUN_NOWAIT);
	ck_assert_uint_eq(p.got.n, 32);
	ck_assert(gk_udp_backlogged(b));
	pair_wait(&p, 40);
	ck_assert(!gk_udp_backlogged(b));
	for (unsigned i = 0; i < 40; i++)
		check_i(&p, i, i);
	gk_udp_close(b);
	pair_close(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udp");
	TCase *tc = tcase_create("udp");
	tcase_add_test(tc, corked_sends_leave_in_one_sendmmsg);
	tcase_add_test(tc, corked_sends_with_marker);
	tcase_add_test(tc, full_batch_leaves_at_once);
	tcase_add_test(tc, refused_datagram_rest_one_by_one);
	tcase_add_test(tc, backlog_after_full_reads);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
