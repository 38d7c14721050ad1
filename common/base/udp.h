/* UDP transport on libuv for gcksd and gmd. Port 4500 carries the non-ESP marker (RFC 3948):
 * it is stripped on receipt and added on sending, so the protocol cores see bare IKE messages.
 * A gk_udp owns its uv_udp_t handle (bound, sent on and closed through libuv) and a uv_poll_t
 * on a dup(2) of its descriptor, through which it reads with recvmmsg(2) itself: libuv's reader
 * passes no control messages. gk_udp_close() frees it once libuv has closed both.
 *
 * The `local` of a received datagram is the address it was sent to, with the socket's port: on
 * a socket bound to an address, that address; on one bound to a wildcard (0.0.0.0, ::), the
 * destination the kernel reports (ip(7) IP_PKTINFO, ipv6(7) IPV6_RECVPKTINFO), never the
 * wildcard, so that NAT detection hashes a real address (RFC 7296 2.23) and the answer can leave
 * from where the request came to (gk_udp_send_from, RFC 7296 2.11). */
#ifndef GK_UDP_H
#define GK_UDP_H

#include <uv.h>
#include "chunk.h"

typedef void (*gk_udp_recv_cb)(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *peer,
			       const struct sockaddr *local);

typedef struct gk_udp gk_udp;

/* Binds to addr (port 0 = any). err gets a one-line reason on failure. */
gk_status gk_udp_open(uv_loop_t *loop, const struct sockaddr *addr, gk_udp_recv_cb cb, void *ctx,
		      gk_udp **out, char *err, size_t errlen);
/* The same, reading up to `batch` (at most 20) datagrams per system call (recvmmsg(2)) into a
 * buffer of `batch` times 64 KiB held for the socket's life (its pages are touched only as far
 * as datagrams fill them): for a server that receives many datagrams per event-loop turn. */
gk_status gk_udp_open_batch(uv_loop_t *loop, const struct sockaddr *addr, unsigned batch, gk_udp_recv_cb cb,
			    void *ctx, gk_udp **out, char *err, size_t errlen);
/* The same with SO_REUSEADDR, so several listeners on one host can take a rekey group's port. */
gk_status gk_udp_open_shared(uv_loop_t *loop, const struct sockaddr *addr, gk_udp_recv_cb cb, void *ctx,
			     gk_udp **out, char *err, size_t errlen);
/* Adds and strips the non-ESP marker on a socket not bound to 4500 (a member that moved to
 * NAT-T from an ephemeral port, RFC 7296 2.23), or stops doing so. */
void gk_udp_set_marker(gk_udp *u, bool on);
gk_status gk_udp_send(gk_udp *u, const struct sockaddr *to, const uint8_t *data, size_t len);
/* The same from the address `from` (its port is not looked at) on a socket bound to a wildcard
 * address (IP_PKTINFO / IPV6_PKTINFO in the datagram's control message, corked or not): an
 * answer leaves from the address its request came to (RFC 7296 2.11). A socket bound to an
 * address sends from that one, and a `from` that is NULL, a wildcard or of the other family is
 * not used. An address the host no longer has makes the send fail, as any refused datagram. */
gk_status gk_udp_send_from(gk_udp *u, const struct sockaddr *from, const struct sockaddr *to, const uint8_t *data,
			   size_t len);
/* Batched sending, for a server that answers many datagrams per event-loop turn: after
 * gk_udp_cork, gk_udp_send copies each datagram (64 at most, 64 KiB in all; a full batch leaves
 * at once) and gk_udp_uncork sends them with sendmmsg(2), one system call for all, in the order
 * they were sent; a datagram the kernel refuses goes alone, as gk_udp_send does uncorked, and
 * the rest go on in batches; a full socket buffer drops what is left. gk_udp_close uncorks. A
 * send that waits reports GK_OK: a failure later is a lost datagram, as UDP may lose it anyway. */
void gk_udp_cork(gk_udp *u);
void gk_udp_uncork(gk_udp *u);
typedef struct gk_udp_stats {
	uint64_t batches;           /* sendmmsg calls that sent at least one datagram */
	uint64_t batched;           /* datagrams they sent */
	uint64_t single;            /* datagrams sent one by one (uncorked, or refused in a batch) */
	uint64_t dropped;           /* datagrams the kernel did not take: a full socket buffer (also
				     * what a batch held after it), a refused address */
} gk_udp_stats;
gk_udp_stats gk_udp_get_stats(const gk_udp *u);
/* Did the last read of a gk_udp_open_batch socket take as many datagrams as one read may, with
 * no read since that found the socket empty? Then more were waiting: the server is busy. A
 * readiness event reads until a read takes fewer than it may or 32 datagrams or more were read;
 * what is left waits for the next turn of the loop. */
bool gk_udp_backlogged(const gk_udp *u);
/* A NAT-keepalive: the single octet 0xFF, never with the marker (RFC 3948 2.3). On receipt a
 * socket with the marker drops it like any datagram shorter than the marker: no state, nothing
 * counted, no log, so a flood of them costs one recvmsg each. */
gk_status gk_udp_send_keepalive(gk_udp *u, const struct sockaddr *to);
/* Asks for a receive buffer of `bytes` (the kernel caps it at net.core.rmem_max). */
gk_status gk_udp_set_rcvbuf(gk_udp *u, int bytes);
const struct sockaddr *gk_udp_local(const gk_udp *u);
/* The socket's descriptor (for socket options and datagrams that bypass the marker), -1 if none. */
int gk_udp_fd(gk_udp *u);
/* Joins a multicast group on the interface (index 0 = the kernel's choice). */
gk_status gk_udp_join(gk_udp *u, const struct sockaddr *group, unsigned ifindex);
void gk_udp_close(gk_udp *u);

#endif
