#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "udp.h"
#include "addr.h"

#define NAT_T_PORT 4500
#define CHUNK 65536 /* the buffer holds one datagram of any size per slot of a read */
#define MAX_BATCH 20 /* datagrams of one recvmmsg at most */
/* A readiness event reads no more once this many were read (libuv's limit): other sockets and
 * timers get their turn. */
#define TURN_MAX 32
#define OUT_DGRAMS 64 /* datagrams of one sendmmsg at most */
#define OUT_BYTES 65536 /* their octets at most (with the marker): one datagram of any size fits */

/* Room for one IP_PKTINFO or IPV6_PKTINFO control message (the larger). */
typedef union gk_udp_ctl {
	uint8_t b[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
} gk_udp_ctl;

/* Datagrams held while the socket is corked, in the order they were sent: copies, so that the
 * sender's buffers need not outlive the call. */
typedef struct gk_udp_out {
	size_t n, used;
	struct mmsghdr m[OUT_DGRAMS];
	struct iovec iov[OUT_DGRAMS];
	struct sockaddr_storage to[OUT_DGRAMS];
	gk_udp_ctl ctl[OUT_DGRAMS]; /* the source address, on a wildcard socket */
	uint8_t data[OUT_BYTES];
} gk_udp_out;

struct gk_udp {
	uv_udp_t h;                 /* the socket: bound, sent on and closed through libuv, never read */
	uv_poll_t rx;               /* its readable events, on rxfd */
	int rxfd;                   /* a dup(2) of h's descriptor, -1 before it is made */
	unsigned handles;           /* libuv handles open: u is freed when the last one closed */
	bool closing;               /* gk_udp_close: no datagram is handed out after it */
	bool wildcard;              /* bound to 0.0.0.0 or ::: every datagram says its destination */
	struct sockaddr_storage local;
	gk_udp_recv_cb cb;
	void *ctx;
	bool marker;                /* port 4500: non-ESP marker */
	bool corked;                /* gk_udp_cork: sends wait in out */
	gk_udp_out *out;            /* made at the first gk_udp_cork, owned */
	gk_udp_stats stats;
	bool backlog;               /* the last read filled its batch: more was waiting */
	unsigned batch;             /* datagrams one read may take */
	uint8_t buf[];              /* batch times CHUNK, handed to every read: nothing allocated per datagram */
};

/* The address a datagram came to on a wildcard socket (IP_PKTINFO's ipi_addr, the destination
 * of its IP header; IPV6_PKTINFO's ipi6_addr, with the interface as the scope of a link-local
 * one), with the socket's port. False when the kernel gave none. */
static bool dest_of(const gk_udp *u, struct msghdr *mh, struct sockaddr_storage *out)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && u->local.ss_family == AF_INET) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			struct sockaddr_in *a = (struct sockaddr_in *)out;
			*a = *(const struct sockaddr_in *)(const void *)&u->local;
			a->sin_addr = pi.ipi_addr;
			return true;
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO && u->local.ss_family == AF_INET6) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
			*a = *(const struct sockaddr_in6 *)(const void *)&u->local;
			a->sin6_addr = pi.ipi6_addr;
			a->sin6_flowinfo = 0;
			a->sin6_scope_id = IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr) ? pi.ipi6_ifindex : 0;
			return true;
		}
	}
	return false;
}

/* One datagram read: the marker stripped (port 4500), then to the callback with the address it
 * came to. A truncated datagram (larger than a slot) is dropped. */
static void deliver(gk_udp *u, struct mmsghdr *m)
{
	const uint8_t *p = m->msg_hdr.msg_iov->iov_base;
	size_t len = m->msg_len;
	struct sockaddr_storage dst;
	const struct sockaddr *local = (const struct sockaddr *)&u->local;
	if ((m->msg_hdr.msg_flags & MSG_TRUNC) || !m->msg_hdr.msg_namelen || !len)
		return;
	if (u->marker) {
		/* RFC 3948 2.2: IKE on port 4500 starts with four zero octets; ESP does not. A
		 * NAT-keepalive (one octet 0xFF, RFC 3948 2.3) ends here too, keeping no state. */
		if (len < 4 || p[0] || p[1] || p[2] || p[3])
			return;
		p += 4;
		len -= 4;
	}
	if (u->wildcard && dest_of(u, &m->msg_hdr, &dst))
		local = (const struct sockaddr *)&dst;
	u->cb(u->ctx, p, len, m->msg_hdr.msg_name, local);
}

/* Reads with recvmmsg(2), up to `batch` datagrams a call, until the socket is empty (a call
 * that takes fewer than it may) or TURN_MAX or more were read in this event (two calls of 16
 * for gcksd). libuv's own reader cannot be used: it passes no control messages, so a wildcard
 * socket could not tell which of the host's addresses a datagram came to. */
static void on_readable(uv_poll_t *h, int status, int events)
{
	gk_udp *u = h->data;
	struct mmsghdr m[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	struct sockaddr_storage peer[MAX_BATCH];
	gk_udp_ctl ctl[MAX_BATCH];
	(void)events;
	if (status < 0) {
		/* POLLERR: libuv stopped the handle. What is pending goes (the error queue, filled
		 * only if someone set IP_RECVERR, then the socket error), and the socket keeps being
		 * read: a member's ICMP error must not leave a key server deaf. */
		uint8_t b[1];
		struct iovec e = { b, sizeof(b) };
		struct msghdr mh = { .msg_iov = &e, .msg_iovlen = 1 };
		int err;
		socklen_t el = sizeof(err);
		for (int i = 0; i < 64 && recvmsg(u->rxfd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) >= 0; i++)
			mh.msg_flags = 0;
		getsockopt(u->rxfd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (u->closing || uv_poll_start(h, UV_READABLE, on_readable))
			return;
	}
	for (unsigned taken = 0; taken < TURN_MAX && !u->closing;) {
		for (unsigned i = 0; i < u->batch; i++) {
			iov[i] = (struct iovec){ u->buf + (size_t)i * CHUNK, CHUNK };
			m[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &peer[i], .msg_namelen = sizeof(peer[i]),
							      .msg_iov = &iov[i], .msg_iovlen = 1,
							      .msg_control = u->wildcard ? ctl[i].b : NULL,
							      .msg_controllen = u->wildcard ? sizeof(ctl[i].b) : 0 } };
		}
		int n;
		do
			n = recvmmsg(u->rxfd, m, u->batch, 0, NULL);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			u->backlog = false; /* empty (EAGAIN), or an error the next event reads again */
			return;
		}
		u->backlog = (unsigned)n == u->batch;
		taken += (unsigned)n;
		for (int i = 0; i < n && !u->closing; i++)
			deliver(u, &m[i]);
		if (!u->backlog)
			return; /* it took what was there */
	}
}

static gk_status udp_open(uv_loop_t *loop, const struct sockaddr *addr, unsigned flags, unsigned batch,
			  gk_udp_recv_cb cb, void *ctx, gk_udp **out, char *err, size_t errlen)
{
	char at[64];
	static const int one = 1;
	batch = batch < 1 ? 1 : batch > MAX_BATCH ? MAX_BATCH : batch;
	/* malloc, not calloc: the pages of a large buffer are only touched as datagrams fill them */
	gk_udp *u = malloc(sizeof(*u) + (size_t)batch * CHUNK);
	if (!u)
		return GK_E_NOMEM;
	memset(u, 0, sizeof(*u));
	u->batch = batch;
	u->rxfd = -1;
	int r = uv_udp_init_ex(loop, &u->h, AF_UNSPEC);
	if (r) {
		free(u);
		snprintf(err, errlen, "udp: %s", uv_strerror(r));
		return GK_E_IO;
	}
	u->handles = 1;
	u->h.data = u;
	u->cb = cb;
	u->ctx = ctx;
	r = uv_udp_bind(&u->h, addr, flags | (addr->sa_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0));
	int len = sizeof(u->local);
	if (!r)
		r = uv_udp_getsockname(&u->h, (struct sockaddr *)&u->local, &len);
	int fd = r ? -1 : gk_udp_fd(u);
	if (!r && fd < 0)
		r = UV_EBADF;
	/* On a wildcard address the kernel says where each datagram went (ip(7) IP_PKTINFO,
	 * ipv6(7) IPV6_RECVPKTINFO): the address NAT detection hashes (RFC 7296 2.23) and the one
	 * an answer leaves from (RFC 7296 2.11). */
	u->wildcard = !r && gk_addr_is_any((const struct sockaddr *)&u->local);
	if (u->wildcard &&
	    (u->local.ss_family == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one))
					    : setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))))
		r = uv_translate_sys_error(errno);
	/* A second descriptor of the socket for reading: libuv keeps one watcher per descriptor,
	 * and its uv_udp_t's watches the first whenever libuv has sends queued. */
	if (!r && (u->rxfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		r = uv_translate_sys_error(errno);
	if (!r && !(r = uv_poll_init(loop, &u->rx, u->rxfd))) {
		u->handles++;
		u->rx.data = u;
		r = uv_poll_start(&u->rx, UV_READABLE, on_readable);
	}
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

/* The control message that makes a datagram leave from `from` (ip(7) IP_PKTINFO's
 * ipi_spec_dst, ipv6(7) IPV6_PKTINFO's ipi6_addr, with the scope of a link-local one as its
 * interface): only on a wildcard socket, for an address of its family that is not a wildcard
 * itself. Its length, 0 for none. */
static size_t source_ctl(const gk_udp *u, const struct sockaddr *from, gk_udp_ctl *ctl)
{
	if (!u->wildcard || !from || from->sa_family != u->local.ss_family || gk_addr_is_any(from))
		return 0;
	memset(ctl, 0, sizeof(*ctl));
	struct msghdr mh = { .msg_control = ctl->b, .msg_controllen = sizeof(ctl->b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (from->sa_family == AF_INET) {
		struct in_pktinfo pi = { .ipi_spec_dst = ((const struct sockaddr_in *)(const void *)from)->sin_addr };
		*c = (struct cmsghdr){ .cmsg_len = CMSG_LEN(sizeof(pi)), .cmsg_level = IPPROTO_IP, .cmsg_type = IP_PKTINFO };
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)from;
	struct in6_pktinfo pi = { .ipi6_addr = a->sin6_addr, .ipi6_ifindex = a->sin6_scope_id };
	*c = (struct cmsghdr){ .cmsg_len = CMSG_LEN(sizeof(pi)), .cmsg_level = IPPROTO_IPV6, .cmsg_type = IPV6_PKTINFO };
	memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	return CMSG_SPACE(sizeof(pi));
}

static gk_status send_msg(gk_udp *u, const struct msghdr *mh)
{
	int fd = gk_udp_fd(u);
	ssize_t r = -1;
	if (fd >= 0)
		do
			r = sendmsg(fd, mh, 0);
		while (r < 0 && errno == EINTR);
	u->stats.single++;
	u->stats.dropped += r < 0;
	return r >= 0 ? GK_OK : GK_E_IO;
}

/* One datagram at once: through libuv, or with sendmsg(2) when it names its source, which
 * libuv cannot pass. Neither waits: libuv's uv_udp_try_send does not queue, and a datagram the
 * socket buffer has no room for (EAGAIN) is lost either way, as UDP may lose it anyway; not
 * sent later without its source either, from an address the member did not send to. */
static gk_status send_now(gk_udp *u, const struct sockaddr *from, const struct sockaddr *to, const uint8_t *data,
			  size_t len)
{
	static const char zero[4];
	gk_udp_ctl ctl;
	size_t cl = source_ctl(u, from, &ctl);
	if (cl) {
		struct iovec iov[2];
		size_t n = 0;
		if (u->marker)
			iov[n++] = (struct iovec){ (void *)zero, 4 };
		iov[n++] = (struct iovec){ (void *)data, len };
		struct msghdr mh = { .msg_name = (void *)to, .msg_namelen = gk_addr_len(to), .msg_iov = iov,
				     .msg_iovlen = n, .msg_control = ctl.b, .msg_controllen = cl };
		return send_msg(u, &mh);
	}
	uv_buf_t b[2];
	unsigned n = 0;
	if (u->marker)
		b[n++] = uv_buf_init((char *)zero, 4);
	b[n++] = uv_buf_init((char *)data, (unsigned)len);
	/* datagrams are small: a synchronous send avoids copying each one for libuv's queue */
	int r = uv_udp_try_send(&u->h, b, n, to);
	u->stats.single++;
	u->stats.dropped += r < 0;
	return r >= 0 ? GK_OK : GK_E_IO;
}

/* Sends what the socket holds, in the order it was sent: with sendmmsg(2) while libuv has
 * nothing queued for the socket (else one by one, so that nothing overtakes what it queued),
 * each datagram with its source. A datagram the kernel refuses alone (a bad address: sendmmsg(2)
 * stops there) goes alone with sendmsg(2), and the rest go on in batches, so one bad peer does
 * not unbatch a turn. A full socket buffer ends the flush: what is left would fail the same way,
 * and UDP drops it as a full buffer drops any datagram (the peers retransmit). */
static void out_flush(gk_udp *u)
{
	gk_udp_out *o = u->out;
	size_t done = 0;
	int fd = gk_udp_fd(u);
	if (!o)
		return;
	while (done < o->n) {
		if (fd >= 0 && uv_udp_get_send_queue_count(&u->h) == 0) {
			int r = sendmmsg(fd, o->m + done, (unsigned)(o->n - done), 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r > 0) {
				u->stats.batches++;
				u->stats.batched += (uint64_t)r;
				done += (size_t)r;
				continue;
			}
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
				u->stats.dropped += o->n - done;
				break;
			}
		}
		send_msg(u, &o->m[done].msg_hdr);
		done++;
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

gk_status gk_udp_send_from(gk_udp *u, const struct sockaddr *from, const struct sockaddr *to, const uint8_t *data,
			   size_t len)
{
	gk_udp_out *o = u->out;
	size_t need = len + (u->marker ? 4 : 0), alen = gk_addr_len(to);
	bool fits = alen && alen <= sizeof(o->to[0]) && need <= OUT_BYTES;
	if (!u->corked)
		return send_now(u, from, to, data, len);
	if (!fits || o->n == OUT_DGRAMS || need > OUT_BYTES - o->used)
		out_flush(u); /* full: what it holds goes first */
	if (!fits)
		return send_now(u, from, to, data, len); /* after what was held: the order is kept */
	uint8_t *p = o->data + o->used;
	if (u->marker)
		memset(p, 0, 4); /* RFC 3948 2.2 */
	memcpy(p + (u->marker ? 4 : 0), data, len);
	memcpy(&o->to[o->n], to, alen);
	size_t cl = source_ctl(u, from, &o->ctl[o->n]);
	o->iov[o->n] = (struct iovec){ p, need };
	o->m[o->n] = (struct mmsghdr){ .msg_hdr = { .msg_name = &o->to[o->n], .msg_namelen = (socklen_t)alen,
						      .msg_iov = &o->iov[o->n], .msg_iovlen = 1,
						      .msg_control = cl ? o->ctl[o->n].b : NULL, .msg_controllen = cl } };
	o->n++;
	o->used += need;
	return GK_OK;
}

gk_status gk_udp_send(gk_udp *u, const struct sockaddr *to, const uint8_t *data, size_t len)
{
	return gk_udp_send_from(u, NULL, to, data, len);
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
	if (--u->handles)
		return;
	free(u->out);
	free(u);
}

void gk_udp_close(gk_udp *u)
{
	if (!u)
		return;
	gk_udp_uncork(u); /* what it holds still leaves */
	u->closing = true;
	/* the poll handle leaves the loop's epoll set at once (uv_close), before its descriptor closes */
	if (u->handles > 1)
		uv_close((uv_handle_t *)&u->rx, on_closed);
	if (u->rxfd >= 0)
		close(u->rxfd);
	uv_close((uv_handle_t *)&u->h, on_closed);
}
