/* The source address GSA_REKEY to a multicast destination leaves from, remembered for a short
 * while: finding it takes a probe socket (socket, multicast options, connect, getsockname,
 * close), and gcksd needs it for every registration of a group whose listening socket is bound
 * to the unspecified address. An entry lives GK_RSRC_TTL_MS so that a routing change is noticed
 * within that time; the cache holds GK_RSRC_SLOTS entries (the oldest goes first). Failed
 * probes are not remembered. Plain data owned by its user; zero = empty. No sockets, no clock:
 * the caller passes now_ms and the probe. */
#ifndef GK_REKEY_SOURCE_H
#define GK_REKEY_SOURCE_H

#include <net/if.h>
#include <stdint.h>
#include <sys/socket.h>
#include "status.h"

#define GK_RSRC_TTL_MS 10000
#define GK_RSRC_SLOTS 32

/* Finds the source address the kernel picks toward dst (sent from port sport, out of iface, ""
 * = the kernel's choice). */
typedef gk_status (*gk_rsrc_probe)(void *ctx, const struct sockaddr *dst, uint16_t sport, const char *iface,
				   struct sockaddr_storage *src);

typedef struct gk_rsrc_entry {
	struct sockaddr_storage dst;   /* family, address, port, scope: policy routing may use any */
	uint16_t sport;
	char iface[IF_NAMESIZE];
	struct sockaddr_storage src;
	int64_t until;                 /* 0 = free */
} gk_rsrc_entry;

typedef struct gk_rsrc_cache {
	gk_rsrc_entry e[GK_RSRC_SLOTS];
	uint64_t probes;               /* probes run, for tests and counters */
} gk_rsrc_cache;

/* src for (dst, sport, iface): the remembered answer while it is younger than GK_RSRC_TTL_MS,
 * else probe's (remembered when it succeeds). */
gk_status gk_rsrc_get(gk_rsrc_cache *c, int64_t now_ms, const struct sockaddr *dst, uint16_t sport,
		      const char *iface, gk_rsrc_probe probe, void *ctx, struct sockaddr_storage *src);

#endif
