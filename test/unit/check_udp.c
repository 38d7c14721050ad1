/* Unit tests of the UDP transport's batched sending (common/base/udp.c) on a real libuv loop and
 * loopback sockets, in one process: datagrams sent while corked leave with one sendmmsg at
 * gk_udp_uncork, in order, every one of them arriving (also with the non-ESP marker, RFC 3948
 * 2.2); a full batch leaves at once; what one sendmmsg leaves after a datagram the kernel
 * refuses goes one by one; uncorked sends go one by one as before; a batch socket whose last
 * read took a full batch reports a backlog until a read finds it empty. A socket bound to a
 * wildcard address reports the address each datagram came to (the whole of 127/8 reaches the
 * loopback interface: a client sends to 127.0.0.2 and 127.0.0.3) and answers from it, uncorked
 * and corked (RFC 7296 2.11, 2.23); one bound to an address ignores the source asked for. */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "testutil.h"
#include "addr.h"
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
	ck_assert_uint_eq(gk_udp_get_stats(p.tx).dropped, 0);
	pair_wait(&p, N + 1);
	check_i(&p, N, 3);
	/* one the kernel refuses (port 0: EINVAL) is counted as not sent */
	struct sockaddr_in port0 = loopback(0);
	uint8_t d4 = 4;
	ck_assert_int_eq(gk_udp_send(p.tx, (const struct sockaddr *)&port0, &d4, 1), GK_E_IO);
	ck_assert_uint_eq(gk_udp_get_stats(p.tx).single, 2);
	ck_assert_uint_eq(gk_udp_get_stats(p.tx).dropped, 1);
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

START_TEST(refused_datagram_alone_rest_batched)
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
	ck_assert_uint_eq(s.batches, 2);
	ck_assert_uint_eq(s.batched, 9);
	ck_assert_uint_eq(s.single, 1); /* the refused one (lost, as before); the rest batched again */
	ck_assert_uint_eq(s.dropped, 1); /* the refused one */
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


/* ---- wildcard sockets: the address a datagram came to, and answers from it ---- */

typedef struct wrx {
	size_t n;
	struct sockaddr_storage peer[8], local[8];
	uint8_t first[8];
	size_t len[8];
	gk_udp *close_in_cb;        /* closed by the first datagram's callback */
} wrx;

static void on_wrx(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *peer,
		   const struct sockaddr *local)
{
	wrx *r = ctx;
	ck_assert_uint_lt(r->n, 8);
	memcpy(&r->peer[r->n], peer, gk_addr_len(peer));
	memset(&r->local[r->n], 0, sizeof(r->local[r->n]));
	memcpy(&r->local[r->n], local, gk_addr_len(local));
	r->first[r->n] = len ? data[0] : 0;
	r->len[r->n] = len;
	r->n++;
	if (r->close_in_cb) {
		gk_udp_close(r->close_in_cb);
		r->close_in_cb = NULL;
	}
}

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

/* A plain socket bound to addr (port 0), reads time out after 5 s. -1 when the address cannot
 * be bound here (no IPv6). */
static int client(const struct sockaddr *addr)
{
	struct timeval tv = { 5, 0 };
	int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, addr, gk_addr_len(addr))) {
		close(fd);
		return -1;
	}
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

static void client_send(int fd, const struct sockaddr *to, uint8_t tag, bool marker)
{
	uint8_t d[40];
	memset(d, 0, sizeof(d));
	d[marker ? 4 : 0] = tag;
	ck_assert_int_eq(sendto(fd, d, sizeof(d), 0, to, gk_addr_len(to)), (ssize_t)sizeof(d));
}

/* Reads one datagram: its first octet (after the marker, which it must carry when told) and,
 * in from, where it came from. */
static uint8_t client_recv(int fd, struct sockaddr_storage *from, bool marker)
{
	uint8_t d[128];
	socklen_t fl = sizeof(*from);
	memset(from, 0, sizeof(*from));
	ssize_t n = recvfrom(fd, d, sizeof(d), 0, (struct sockaddr *)from, &fl);
	ck_assert_msg(n > 0, "no answer: %s", n < 0 ? strerror(errno) : "empty");
	if (marker) {
		ck_assert_int_ge(n, 5);
		ck_assert(!d[0] && !d[1] && !d[2] && !d[3]);
		return d[4];
	}
	return d[0];
}

static void wait_wrx(uv_loop_t *loop, const wrx *r, size_t want)
{
	for (int i = 0; i < 5000 && r->n < want; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		if (r->n < want)
			usleep(1000);
	}
	ck_assert_uint_eq(r->n, want);
}

static void assert_addr(const struct sockaddr_storage *got, const struct sockaddr *want)
{
	char a[64], b[64];
	ck_assert_msg(got->ss_family == want->sa_family && gk_addr_len(want) &&
			      !memcmp(got, want, gk_addr_len(want)),
		      "address %s, wanted %s", gk_addr_text((const struct sockaddr *)got, a, sizeof(a)),
		      gk_addr_text(want, b, sizeof(b)));
}

static void wildcard_v4(bool marker)
{
	char err[128];
	uv_loop_t loop;
	wrx r = { 0 };
	gk_udp *srv = NULL;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	struct sockaddr_in any = v4("0.0.0.0", 0);
	ck_assert_int_eq(gk_udp_open_batch(&loop, (struct sockaddr *)&any, 4, on_wrx, &r, &srv, err, sizeof(err)), GK_OK);
	gk_udp_set_marker(srv, marker);
	uint16_t port = (uint16_t)gk_addr_port(gk_udp_local(srv));
	struct sockaddr_in c = v4("127.0.0.1", 0), to2 = v4("127.0.0.2", port), to3 = v4("127.0.0.3", port);
	int fd = client((struct sockaddr *)&c);
	ck_assert_int_ge(fd, 0);
	socklen_t cl = sizeof(c);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&c, &cl), 0);
	client_send(fd, (struct sockaddr *)&to2, 2, marker);
	client_send(fd, (struct sockaddr *)&to3, 3, marker);
	wait_wrx(&loop, &r, 2);
	/* each reports the address it was sent to, with the socket's port; the marker is gone */
	ck_assert_uint_eq(r.first[0], 2);
	ck_assert_uint_eq(r.first[1], 3);
	ck_assert_uint_eq(r.len[0], marker ? 36 : 40);
	assert_addr(&r.local[0], (struct sockaddr *)&to2);
	assert_addr(&r.local[1], (struct sockaddr *)&to3);
	assert_addr(&r.peer[0], (struct sockaddr *)&c);
	/* answers from the address each request came to (RFC 7296 2.11), the second first */
	uint8_t a = 0x33, b = 0x22;
	ck_assert_int_eq(gk_udp_send_from(srv, (struct sockaddr *)&r.local[1], (struct sockaddr *)&r.peer[1], &a, 1), GK_OK);
	ck_assert_int_eq(gk_udp_send_from(srv, (struct sockaddr *)&r.local[0], (struct sockaddr *)&r.peer[0], &b, 1), GK_OK);
	struct sockaddr_storage from;
	ck_assert_uint_eq(client_recv(fd, &from, marker), 0x33);
	assert_addr(&from, (struct sockaddr *)&to3);
	ck_assert_uint_eq(client_recv(fd, &from, marker), 0x22);
	assert_addr(&from, (struct sockaddr *)&to2);
	/* corked, from three sources (the last none: the kernel's choice toward 127.0.0.1), in one
	 * sendmmsg; then a batch whose middle datagram the kernel refuses: it goes alone, the rest
	 * in a batch again, still from their sources */
	struct sockaddr_in lo = v4("127.0.0.1", port), port0 = v4("127.0.0.1", 0);
	uint8_t t[3] = { 0x40, 0x41, 0x42 };
	gk_udp_cork(srv);
	ck_assert_int_eq(gk_udp_send_from(srv, (struct sockaddr *)&to3, (struct sockaddr *)&c, &t[0], 1), GK_OK);
	ck_assert_int_eq(gk_udp_send_from(srv, (struct sockaddr *)&to2, (struct sockaddr *)&c, &t[1], 1), GK_OK);
	ck_assert_int_eq(gk_udp_send_from(srv, NULL, (struct sockaddr *)&c, &t[2], 1), GK_OK);
	gk_udp_uncork(srv);
	gk_udp_stats s = gk_udp_get_stats(srv);
	ck_assert_uint_eq(s.batches, 1);
	ck_assert_uint_eq(s.batched, 3);
	ck_assert_uint_eq(s.single, 2);
	ck_assert_uint_eq(client_recv(fd, &from, marker), 0x40);
	assert_addr(&from, (struct sockaddr *)&to3);
	ck_assert_uint_eq(client_recv(fd, &from, marker), 0x41);
	assert_addr(&from, (struct sockaddr *)&to2);
	ck_assert_uint_eq(client_recv(fd, &from, marker), 0x42);
	assert_addr(&from, (struct sockaddr *)&lo);
	gk_udp_cork(srv);
	ck_assert_int_eq(gk_udp_send_from(srv, (struct sockaddr *)&to2, (struct sockaddr *)&c, &t[0], 1), GK_OK);
	ck_assert_int_eq(gk_udp_send_from(srv, (struct sockaddr *)&to2, (struct sockaddr *)&port0, &t[1], 1), GK_OK);
	ck_assert_int_eq(gk_udp_send_from(srv, (struct sockaddr *)&to3, (struct sockaddr *)&c, &t[2], 1), GK_OK);
	gk_udp_uncork(srv);
	s = gk_udp_get_stats(srv);
	ck_assert_uint_eq(s.batches, 3);
	ck_assert_uint_eq(s.batched, 5);
	ck_assert_uint_eq(s.single, 3);
	ck_assert_uint_eq(s.dropped, 1); /* the refused one */
	ck_assert_uint_eq(client_recv(fd, &from, marker), 0x40);
	assert_addr(&from, (struct sockaddr *)&to2);
	ck_assert_uint_eq(client_recv(fd, &from, marker), 0x42);
	assert_addr(&from, (struct sockaddr *)&to3);
	close(fd);
	gk_udp_close(srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}

START_TEST(wildcard_v4_reports_and_answers_from_destination)
{
	wildcard_v4(false);
}
END_TEST

START_TEST(wildcard_v4_with_marker)
{
	wildcard_v4(true);
}
END_TEST

/* A socket bound to 127.0.0.1 reports it and sends from it whatever source is asked for. */
START_TEST(bound_socket_ignores_from)
{
	char err[128];
	uv_loop_t loop;
	wrx r = { 0 };
	gk_udp *srv = NULL;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	struct sockaddr_in at = v4("127.0.0.1", 0);
	ck_assert_int_eq(gk_udp_open(&loop, (struct sockaddr *)&at, on_wrx, &r, &srv, err, sizeof(err)), GK_OK);
	const struct sockaddr *l = gk_udp_local(srv);
	struct sockaddr_in c = v4("127.0.0.1", 0), other = v4("127.0.0.2", (uint16_t)gk_addr_port(l));
	int fd = client((struct sockaddr *)&c);
	ck_assert_int_ge(fd, 0);
	client_send(fd, l, 7, false);
	wait_wrx(&loop, &r, 1);
	assert_addr(&r.local[0], l);
	uint8_t a = 0x55;
	ck_assert_int_eq(gk_udp_send_from(srv, (struct sockaddr *)&other, (struct sockaddr *)&r.peer[0], &a, 1), GK_OK);
	gk_udp_cork(srv);
	ck_assert_int_eq(gk_udp_send_from(srv, (struct sockaddr *)&other, (struct sockaddr *)&r.peer[0], &a, 1), GK_OK);
	gk_udp_uncork(srv);
	struct sockaddr_storage from;
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(client_recv(fd, &from, false), 0x55);
		assert_addr(&from, l);
	}
	close(fd);
	gk_udp_close(srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* IPv6: on [::] a datagram to ::1 reports ::1 (the only address of lo) and the answer leaves
 * from it. */
START_TEST(wildcard_v6_reports_destination)
{
	char err[128];
	uv_loop_t loop;
	wrx r = { 0 };
	gk_udp *srv = NULL;
	struct sockaddr_in6 any, c, to;
	memset(&any, 0, sizeof(any));
	any.sin6_family = AF_INET6;
	c = any;
	c.sin6_addr = in6addr_loopback;
	int fd = client((struct sockaddr *)&c);
	if (fd < 0) {
		tu_skip("IPv6 on a wildcard socket", "no ::1 here");
		return;
	}
	socklen_t cl = sizeof(c);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&c, &cl), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(gk_udp_open_batch(&loop, (struct sockaddr *)&any, 4, on_wrx, &r, &srv, err, sizeof(err)), GK_OK);
	to = c;
	to.sin6_port = htons((uint16_t)gk_addr_port(gk_udp_local(srv)));
	client_send(fd, (struct sockaddr *)&to, 6, false);
	wait_wrx(&loop, &r, 1);
	assert_addr(&r.local[0], (struct sockaddr *)&to);
	assert_addr(&r.peer[0], (struct sockaddr *)&c);
	uint8_t a = 0x66;
	ck_assert_int_eq(gk_udp_send_from(srv, (struct sockaddr *)&r.local[0], (struct sockaddr *)&r.peer[0], &a, 1), GK_OK);
	struct sockaddr_storage from;
	ck_assert_uint_eq(client_recv(fd, &from, false), 0x66);
	assert_addr(&from, (struct sockaddr *)&to);
	close(fd);
	gk_udp_close(srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* A callback that closes its socket gets no more datagrams of the read under way (they were
 * read: they are lost with the socket), and the socket is freed once (ASan would see a second
 * free or a use after it). */
START_TEST(close_in_callback_stops_delivery)
{
	char err[128];
	uv_loop_t loop;
	wrx r = { 0 };
	gk_udp *srv = NULL;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	struct sockaddr_in any = v4("0.0.0.0", 0);
	ck_assert_int_eq(gk_udp_open_batch(&loop, (struct sockaddr *)&any, 8, on_wrx, &r, &srv, err, sizeof(err)), GK_OK);
	r.close_in_cb = srv;
	struct sockaddr_in c = v4("127.0.0.1", 0), to = v4("127.0.0.2", (uint16_t)gk_addr_port(gk_udp_local(srv)));
	int fd = client((struct sockaddr *)&c);
	ck_assert_int_ge(fd, 0);
	for (uint8_t i = 0; i < 5; i++)
		client_send(fd, (struct sockaddr *)&to, i, false);
	wait_wrx(&loop, &r, 1);
	uv_run(&loop, UV_RUN_DEFAULT); /* only the closes are left */
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.first[0], 0);
	close(fd);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* A socket error (here an ICMP port unreachable queued with IP_RECVERR, which makes the socket
 * report POLLERR until its error queue is read) does not stop the reading: libuv stops a poll
 * handle on POLLERR, and the socket must keep reading after it. */
START_TEST(socket_error_keeps_reading)
{
	char err[128];
	uv_loop_t loop;
	wrx r = { 0 };
	gk_udp *srv = NULL;
	int one = 1;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	struct sockaddr_in any = v4("0.0.0.0", 0), c = v4("127.0.0.1", 0), closed = v4("127.0.0.1", 0);
	ck_assert_int_eq(gk_udp_open_batch(&loop, (struct sockaddr *)&any, 4, on_wrx, &r, &srv, err, sizeof(err)), GK_OK);
	ck_assert_int_eq(setsockopt(gk_udp_fd(srv), IPPROTO_IP, IP_RECVERR, &one, sizeof(one)), 0);
	int gone = client((struct sockaddr *)&closed);
	socklen_t cl = sizeof(closed);
	ck_assert_int_ge(gone, 0);
	ck_assert_int_eq(getsockname(gone, (struct sockaddr *)&closed, &cl), 0);
	close(gone); /* nothing listens there now: the kernel answers port unreachable */
	uint8_t a = 1;
	ck_assert_int_eq(gk_udp_send(srv, (struct sockaddr *)&closed, &a, 1), GK_OK);
	for (int i = 0; i < 50; i++) { /* the ICMP error arrives and is handled */
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	int fd = client((struct sockaddr *)&c);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in to = v4("127.0.0.2", (uint16_t)gk_addr_port(gk_udp_local(srv)));
	client_send(fd, (struct sockaddr *)&to, 9, false);
	wait_wrx(&loop, &r, 1);
	ck_assert_uint_eq(r.first[0], 9);
	close(fd);
	gk_udp_close(srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udp");
	TCase *tc = tcase_create("udp");
	tcase_add_test(tc, corked_sends_leave_in_one_sendmmsg);
	tcase_add_test(tc, corked_sends_with_marker);
	tcase_add_test(tc, full_batch_leaves_at_once);
	tcase_add_test(tc, refused_datagram_alone_rest_batched);
	tcase_add_test(tc, backlog_after_full_reads);
	tcase_add_test(tc, wildcard_v4_reports_and_answers_from_destination);
	tcase_add_test(tc, wildcard_v4_with_marker);
	tcase_add_test(tc, bound_socket_ignores_from);
	tcase_add_test(tc, wildcard_v6_reports_destination);
	tcase_add_test(tc, close_in_callback_stops_delivery);
	tcase_add_test(tc, socket_error_keeps_reading);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
