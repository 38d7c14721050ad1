/* gmd's libuv side of the group manager (gm_groups.h): the loop's clock, a 100 ms timer that
 * ticks the group manager, and one UDP listener per group joined to its Rekey SA's multicast
 * group (on mcast_iface, else the kernel's choice). A rekey port below 1024 (848 by default)
 * is bound with CAP_NET_BIND_SERVICE, raised for the bind only.
 * A gk_gm_uv owns its timer and sockets; it does not own the loop or the group manager. */
#ifndef GK_GM_UV_H
#define GK_GM_UV_H

#include <uv.h>
#include "gm_groups.h"

typedef struct gk_gm_uv gk_gm_uv;

/* Fills env's clock, randomness and multicast members for ngroups groups. */
gk_status gk_gm_uv_new(uv_loop_t *loop, const char *mcast_iface, size_t ngroups, gk_gm_groups_env *env,
		       gk_gm_uv **out);
/* Starts the timer; datagrams and ticks go to m from now on. */
void gk_gm_uv_start(gk_gm_uv *u, gk_gm_groups *m);
/* Stops the timer and closes what is still open; the memory goes when the loop has closed the
 * handles (run it once more). Call after gk_gm_groups_free, which leaves the groups. */
void gk_gm_uv_free(gk_gm_uv *u);

#endif
