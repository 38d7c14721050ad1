#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "udp.h"
#include "addr.h"

#define NAT_T_PORT 4500
#define CHUNK 65536 /* libuv's recvmmsg hands out the buffer in chunks of this size */
#define MAX_BATCH 20 /* libuv reads at most this many datagrams per recvmmsg */
#define OUT_DGRAMS 64 /* datagrams of one sendmmsg at most */
#define OUT_BYTES 65536 /* their octets at most (with the marker): one datagram of any size fits */

/* Datagrams held while the socket is corked, in the order they were sent: copies, so that the
 * sender's buffers need not outlive the call. */
typedef struct gk_udp_out {
	size_t n, used;
	struct mmsghdr m[OUT_DGRAMS];
	struct iovec iov[OUT_DGRAMS];
	struct sockaddr_storage to[OUT_DGRAMS];
	uint8_t data[OUT_BYTES];
} gk_udp_out;

struct gk_udp {
	uv_udp_t h;
	struct sockaddr_storage local;
	gk_udp_recv_cb cb;
	void *ctx;
	bool marker;                /* port 4500: non-ESP marker */
	bool corked;                /* gk_udp_cork: sends wait in out */
	gk_udp_out *out;            /* made at the first gk_udp_cork, owned */
	gk_udp_stats stats;
	bool backlog;               /* the last read filled its batch: more was waiting */
	unsigned nread;             /* datagrams of the read under way */
	size_t buflen;              /* CHUNK times the datagrams one read may take */
	uint8_t buf[];              /* handed to every read: nothing allocated per datagram */
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	gk_udp *u = h->data;
	(void)suggested;
	*b = uv_buf_init((char *)u->buf, (unsigned)u->buflen);
}

static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *peer, unsigned flags)
{
	gk_udp *u = h->data;
	const uint8_t *p = (const uint8_t *)b->base;
	size_t len = n > 0 ? (size_t)n : 0;
	/* With recvmmsg each datagram comes in its own chunk (UV_UDP_MMSG_CHUNK), then the end of
	 * the batch (0 octets, no peer, UV_UDP_MMSG_FREE): the buffer is ours for life, nothing to
	 * free. An empty read (0, no peer) is "nothing more"; a truncated datagram is dropped. */
	if (flags & UV_UDP_MMSG_FREE) {
		u->backlog = u->nread >= u->buflen / CHUNK; /* libuv read as many as the buffer holds */
		u->nread = 0;
		return;
	}
	if (n == 0 && !peer) {
		u->backlog = false;
		return;
	}
	if (flags & UV_UDP_MMSG_CHUNK)
		u->nread++;
	if (n <= 0 || !peer || (flags & UV_UDP_PARTIAL))
		return;
	if (u->marker) {
		/* RFC 3948 2.2: IKE on port 4500 starts with four zero octets; ESP does not. A
		 * NAT-keepalive (one octet 0xFF, RFC 3948 2.3) ends here too, keeping no state. */
		if (len < 4 || p[0] || p[1] || p[2] || p[3])
			return;
		p += 4;
		len -= 4;
	}
	u->cb(u->ctx, p, len, peer, (const struct sockaddr *)&u->local);
}

static gk_status udp_open(uv_loop_t *loop, const struct sockaddr *addr, unsigned flags, unsigned batch,
			  gk_udp_recv_cb cb, void *ctx, gk_udp **out, char *err, size_t errlen)
{
	char at[64];
	batch = batch < 1 ? 1 : batch > MAX_BATCH ? MAX_BATCH : batch;
	/* malloc, not calloc: the pages of a large buffer are only touched as datagrams fill them */
	gk_udp *u = malloc(sizeof(*u) + (size_t)batch * CHUNK);
	if (!u)
		return GK_E_NOMEM;
	memset(u, 0, sizeof(*u));
	u->buflen = (size_t)batch * CHUNK;
	int r = uv_udp_init_ex(loop, &u->h, AF_UNSPEC | (batch > 1 ? UV_UDP_RECVMMSG : 0));
	if (r) {
		free(u);
		snprintf(err, errlen, "udp: %s", uv_strerror(r));
		return GK_E_IO;
	}
	u->h.data = u;
	u->cb = cb;
	u->ctx = ctx;
	r = uv_udp_bind(&u->h, addr, flags | (addr->sa_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0));
	int len = sizeof(u->local);
	if (!r)
		r = uv_udp_getsockname(&u->h, (struct sockaddr *)&u->local, &len);
	if (!r)
		r = uv_udp_recv_start(&u->h, on_alloc, on_recv);
	if (r) {
		snprintf(err, errlen, "cannot listen on %s: %s", gk_addr_text(addr, at, sizeof(at)), uv_strerror(r));
		gk_udp_close(u);
		return GK_E_IO;
	}
	u->marker = gk_addr_port((struct sockaddr *)&u->local) == NAT_T_PORT;
	*out = u;
	return GK_OK;
}

gk_status gk_udp_open(uv_loop_t *loop, const struct sockaddr *addr, gk_udp_recv_cb cb, void *ctx,
		      gk_udp **out, char *err, size_t errlen)
{
	return udp_open(loop, addr, 0, 1, cb, ctx, out, err, errlen);
}

gk_status gk_udp_open_batch(uv_loop_t *loop, const struct sockaddr *addr, unsigned batch, gk_udp_recv_cb cb,
			    void *ctx, gk_udp **out, char *err, size_t errlen)
{
	return udp_open(loop, addr, 0, batch, cb, ctx, out, err, errlen);
}

gk_status gk_udp_open_shared(uv_loop_t *loop, const struct sockaddr *addr, gk_udp_recv_cb cb, void *ctx,
			     gk_udp **out, char *err, size_t errlen)
{
	return udp_open(loop, addr, UV_UDP_REUSEADDR, 1, cb, ctx, out, err, errlen);
}

void gk_udp_set_marker(gk_udp *u, bool on) { u->marker = on; }

/* One datagram at once, through libuv. */
static gk_status send_now(gk_udp *u, const struct sockaddr *to, const uint8_t *data, size_t len)
{
	static const char zero[4];
	uv_buf_t b[2];
	unsigned n = 0;
	if (u->marker)
		b[n++] = uv_buf_init((char *)zero, 4);
	b[n++] = uv_buf_init((char *)data, (unsigned)len);
	/* datagrams are small: a synchronous send avoids copying each one for libuv's queue */
	int r = uv_udp_try_send(&u->h, b, n, to);
	u->stats.single++;
	return r >= 0 ? GK_OK : GK_E_IO;
}

/* Sends what the socket holds: with sendmmsg(2) while libuv has nothing queued for it (else
 * libuv's path, so that nothing overtakes what it queued), and what one call leaves (a full
 * socket buffer, or a datagram the kernel refused) one by one through libuv, as before. The
 * datagrams leave in the order they were sent. */
static void out_flush(gk_udp *u)
{
	gk_udp_out *o = u->out;
	size_t done = 0;
	int fd = gk_udp_fd(u);
	if (!o || !o->n)
		return;
	while (fd >= 0 && uv_udp_get_send_queue_count(&u->h) == 0 && done < o->n) {
		int r = sendmmsg(fd, o->m + done, (unsigned)(o->n - done), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		u->stats.batches++;
		u->stats.batched += (uint64_t)r;
		done += (size_t)r;
		if (done < o->n)
			break; /* a partial send: the next datagram failed (sendmmsg(2)) */
	}
	for (; done < o->n; done++) {
		const uint8_t *p = o->iov[done].iov_base;
		size_t len = o->iov[done].iov_len;
		if (u->marker) { /* sent again with the marker send_now adds */
			p += 4;
			len -= 4;
		}
		send_now(u, (const struct sockaddr *)&o->to[done], p, len);
	}
	o->n = o->used = 0;
}

void gk_udp_cork(gk_udp *u)
{
	if (!u->out) {
		/* malloc, not calloc: only the octets datagrams fill are touched */
		if (!(u->out = malloc(sizeof(*u->out))))
			return; /* out of memory: sends go one by one */
		u->out->n = u->out->used = 0;
	}
	u->corked = true;
}

void gk_udp_uncork(gk_udp *u)
{
	out_flush(u);
	u->corked = false;
}

gk_udp_stats gk_udp_get_stats(const gk_udp *u) { return u->stats; }

bool gk_udp_backlogged(const gk_udp *u) { return u->backlog; }

gk_status gk_udp_send(gk_udp *u, const struct sockaddr *to, const uint8_t *data, size_t len)
{
	gk_udp_out *o = u->out;
	size_t need = len + (u->marker ? 4 : 0), alen = gk_addr_len(to);
	bool fits = alen && alen <= sizeof(o->to[0]) && need <= OUT_BYTES;
	if (!u->corked)
		return send_now(u, to, data, len);
	if (!fits || o->n == OUT_DGRAMS || need > OUT_BYTES - o->used)
		out_flush(u); /* full: what it holds goes first */
	if (!fits)
		return send_now(u, to, data, len); /* after what was held: the order is kept */
	uint8_t *p = o->data + o->used;
	if (u->marker)
		memset(p, 0, 4); /* RFC 3948 2.2 */
	memcpy(p + (u->marker ? 4 : 0), data, len);
	memcpy(&o->to[o->n], to, alen);
	o->iov[o->n] = (struct iovec){ p, need };
	o->m[o->n] = (struct mmsghdr){ .msg_hdr = { .msg_name = &o->to[o->n], .msg_namelen = (socklen_t)alen,
						      .msg_iov = &o->iov[o->n], .msg_iovlen = 1 } };
	o->n++;
	o->used += need;
	return GK_OK;
}

gk_status gk_udp_send_keepalive(gk_udp *u, const struct sockaddr *to)
{
	static const char ff = (char)0xff;
	uv_buf_t b = uv_buf_init((char *)&ff, 1);
	return uv_udp_try_send(&u->h, &b, 1, to) >= 0 ? GK_OK : GK_E_IO;
}

gk_status gk_udp_set_rcvbuf(gk_udp *u, int bytes)
{
	return uv_recv_buffer_size((uv_handle_t *)&u->h, &bytes) ? GK_E_IO : GK_OK;
}

const struct sockaddr *gk_udp_local(const gk_udp *u) { return (const struct sockaddr *)&u->local; }

int gk_udp_fd(gk_udp *u)
{
	uv_os_fd_t fd;
	return uv_fileno((uv_handle_t *)&u->h, &fd) ? -1 : fd;
}

gk_status gk_udp_join(gk_udp *u, const struct sockaddr *group, unsigned ifindex)
{
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)&u->h, &fd))
		return GK_E_IO;
	if (group->sa_family == AF_INET) {
		struct ip_mreqn m = { .imr_multiaddr = ((const struct sockaddr_in *)(const void *)group)->sin_addr,
				      .imr_ifindex = (int)ifindex };
		return setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m)) ? GK_E_IO : GK_OK;
	}
	struct ipv6_mreq m6 = { .ipv6mr_multiaddr = ((const struct sockaddr_in6 *)(const void *)group)->sin6_addr,
				.ipv6mr_interface = ifindex };
	return setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m6, sizeof(m6)) ? GK_E_IO : GK_OK;
}

static void on_closed(uv_handle_t *h)
{
	gk_udp *u = h->data;
	free(u->out);
	free(u);
}

void gk_udp_close(gk_udp *u)
{
	if (!u)
		return;
	gk_udp_uncork(u); /* what it holds still leaves */
	uv_close((uv_handle_t *)&u->h, on_closed);
}
