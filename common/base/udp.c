#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "udp.h"
#include "addr.h"

#define NAT_T_PORT 4500
#define CHUNK 65536 /* libuv's recvmmsg hands out the buffer in chunks of this size */
#define MAX_BATCH 20 /* libuv reads at most this many datagrams per recvmmsg */

struct gk_udp {
	uv_udp_t h;
	struct sockaddr_storage local;
	gk_udp_recv_cb cb;
	void *ctx;
	bool marker;                /* port 4500: non-ESP marker */
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

gk_status gk_udp_send(gk_udp *u, const struct sockaddr *to, const uint8_t *data, size_t len)
{
	static const char zero[4];
	uv_buf_t b[2];
	unsigned n = 0;
	if (u->marker)
		b[n++] = uv_buf_init((char *)zero, 4);
	b[n++] = uv_buf_init((char *)data, (unsigned)len);
	/* datagrams are small: a synchronous send avoids copying each one for libuv's queue */
	int r = uv_udp_try_send(&u->h, b, n, to);
	return r >= 0 ? GK_OK : GK_E_IO;
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
	free(h->data);
}

void gk_udp_close(gk_udp *u)
{
	if (u)
		uv_close((uv_handle_t *)&u->h, on_closed);
}
