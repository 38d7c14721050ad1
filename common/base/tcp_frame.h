/* The byte stream of TCP-encapsulated IKE (RFC 9329 3, 4), without sockets: the "IKETCP" stream
 * prefix the TCP originator sends once, then frames of a 16-bit Length that counts itself,
 * followed by a Non-ESP Marker (four zero octets) and an IKE message, or by an ESP packet.
 * A key server carries no ESP: such frames are dropped (and counted). The deframer is fed
 * whatever the socket delivered, in any split, and calls back once per complete IKE message.
 * A gk_tcp_deframer owns its reassembly buffer (gk_tcp_deframer_free). */
#ifndef GK_TCP_FRAME_H
#define GK_TCP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "status.h"

#define GK_TCP_PREFIX "IKETCP" /* RFC 9329 4: 0x49 0x4b 0x45 0x54 0x43 0x50 */
#define GK_TCP_PREFIX_LEN 6
#define GK_TCP_HDR_LEN 2       /* the Length field */
#define GK_TCP_MARKER_LEN 4    /* the Non-ESP Marker */
/* The least and most a Length can say: its own two octets plus the marker; 16 bits. */
#define GK_TCP_FRAME_MIN (GK_TCP_HDR_LEN + GK_TCP_MARKER_LEN)
#define GK_TCP_FRAME_MAX 65535

typedef void (*gk_tcp_frame_cb)(void *ctx, const uint8_t *ike, size_t len);

typedef struct gk_tcp_deframer {
	size_t max_frame;         /* the largest Length accepted (GK_TCP_FRAME_MIN to _MAX) */
	bool prefix_done;         /* false: the stream must first carry "IKETCP" (the responder) */
	size_t prefix_got;
	uint8_t hdr[GK_TCP_HDR_LEN];
	size_t hdr_got;
	size_t need;              /* octets after the Length of the frame being read, 0 = none */
	uint8_t *buf;             /* those octets when a frame spans reads; owned */
	size_t got;
	uint64_t frames;          /* complete frames (IKE, ESP, short) seen */
	uint64_t esp_dropped;     /* ESP frames (RFC 9329 3.2) dropped: no ESP on a key server */
	uint64_t short_dropped;   /* frames too short for a marker or an SPI, dropped */
} gk_tcp_deframer;

/* expect_prefix: the responder's side; the originator reads frames from the first octet. */
void gk_tcp_deframer_init(gk_tcp_deframer *d, size_t max_frame, bool expect_prefix);
void gk_tcp_deframer_free(gk_tcp_deframer *d);
/* Consumes n octets, calling cb for each complete IKE message (marker removed). GK_E_MALFORMED
 * (a wrong prefix, a Length below 2) or GK_E_TOO_BIG (a Length above max_frame): the stream
 * cannot be resynchronized and the connection must be closed; err says why. cb may be called
 * before the error for frames that came first. */
gk_status gk_tcp_deframe(gk_tcp_deframer *d, const uint8_t *p, size_t n, gk_tcp_frame_cb cb, void *ctx,
			 char *err, size_t errlen);
/* Writes the Length and Non-ESP Marker for an IKE message of len octets into hdr (6 octets).
 * GK_E_TOO_BIG when the frame would not fit the 16-bit Length. */
gk_status gk_tcp_frame_header(size_t len, uint8_t hdr[GK_TCP_FRAME_MIN]);

#endif
