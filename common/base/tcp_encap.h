/* TCP encapsulation of IKE (RFC 9329) on libuv, both roles. The TCP responder (gcksd) accepts
 * on one or more listening sockets, holds each connection to the limits below, checks the
 * "IKETCP" prefix and hands each IKE message to its callback with the connection's id: the
 * reply path the protocol core keeps for the IKE SA. The TCP originator (gmd) connects, sends
 * the prefix, then frames. Frames are tcp_frame.h's.
 * RFC 9329, Retransmissions: TCP is reliable, so a frame identical to one of the last few
 * sent on the same connection is not sent again; the callers' retransmission timers keep
 * running as for UDP, so an unanswered request still fails after the same time, and a copy
 * does go out on a new connection (the originator reconnected).
 * A gk_tcp_server owns its listeners and connections; a gk_tcp_client owns its connection. Both
 * free their memory once libuv has closed the handles (run the loop once more). */
#ifndef GK_TCP_ENCAP_H
#define GK_TCP_ENCAP_H

#include <uv.h>
#include "tcp_frame.h"

/* The responder's limits, in the spirit of the half-open limits: each bounds what a peer can
 * make us hold before it authenticates. */
typedef struct gk_tcp_limits {
	unsigned max_conns;       /* open connections in all; more are reset at once */
	unsigned max_per_source;  /* per source (IPv4 address, IPv6 /64) */
	unsigned idle_ms;         /* a connection that completes no IKE message for this long is
				   * closed: slowloris, silent or half-sent frames */
	size_t max_frame;         /* the largest Length accepted; a larger one closes the stream */
	size_t max_queued;        /* octets of ours a peer leaves unread before it is closed */
} gk_tcp_limits;

#define GK_TCP_DEFAULT_MAX_CONNS 1000
#define GK_TCP_DEFAULT_PER_SOURCE 8
#define GK_TCP_DEFAULT_IDLE_S 120
#define GK_TCP_DEFAULT_MAX_FRAME 16384
#define GK_TCP_DEFAULT_MAX_QUEUED (1u << 20)

typedef struct gk_tcp_stats {
	unsigned open;
	uint64_t accepted, refused_total, refused_source, idle_closed, bad_stream, too_big, queue_closed;
	uint64_t esp_dropped, short_dropped, messages;
} gk_tcp_stats;

/* conn: the connection's id (never 0), for gk_tcp_server_send. */
typedef void (*gk_tcp_server_cb)(void *ctx, uint64_t conn, const uint8_t *ike, size_t len,
				 const struct sockaddr *peer, const struct sockaddr *local);

typedef struct gk_tcp_server gk_tcp_server;

gk_status gk_tcp_server_new(uv_loop_t *loop, const gk_tcp_limits *lim, gk_tcp_server_cb cb, void *ctx,
			    gk_tcp_server **out);
/* Listens on addr (port 0 = any); several listeners share the limits. */
gk_status gk_tcp_server_listen(gk_tcp_server *s, const struct sockaddr *addr, char *err, size_t errlen);
/* The local address of listener i, NULL past the last. */
const struct sockaddr *gk_tcp_server_local(const gk_tcp_server *s, size_t i);
/* Frames one IKE message onto connection conn. GK_E_NOT_FOUND: it is closed (RFC 9329, Connection Establishment and Teardown: the
 * responder cannot open one; the originator reconnects). */
gk_status gk_tcp_server_send(gk_tcp_server *s, uint64_t conn, const uint8_t *ike, size_t len);
void gk_tcp_server_stats(const gk_tcp_server *s, gk_tcp_stats *out);
void gk_tcp_server_free(gk_tcp_server *s);

typedef void (*gk_tcp_client_cb)(void *ctx, const uint8_t *ike, size_t len, const struct sockaddr *peer);
typedef struct gk_tcp_client gk_tcp_client;
/* Called once when the connection fails or closes (not after gk_tcp_client_free). */
typedef void (*gk_tcp_client_closed_cb)(void *ctx, gk_tcp_client *c, const char *why);

/* Connects to `to`; frames sent before the connection is up wait for it, after the prefix. */
gk_status gk_tcp_client_new(uv_loop_t *loop, const struct sockaddr *to, size_t max_frame, gk_tcp_client_cb cb,
			    gk_tcp_client_closed_cb closed, void *ctx, gk_tcp_client **out);
gk_status gk_tcp_client_send(gk_tcp_client *c, const uint8_t *ike, size_t len);
const struct sockaddr *gk_tcp_client_peer(const gk_tcp_client *c);
uint64_t gk_tcp_client_dups(const gk_tcp_client *c);
void gk_tcp_client_free(gk_tcp_client *c);

#endif
