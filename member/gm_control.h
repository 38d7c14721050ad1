/* gmd's control socket (--control PATH): a Unix stream socket, created 0660, on which root and
 * gmd's own user (its effective uid once it left root; SO_PEERCRED, the kernel's record) may send one request line and get one answer:
 *   status        the groups as text (gk_gm_groups_status_text)
 *   status json   the same as one JSON document {"ok":true,"groups":[...]}
 * Requests are hostile input: at most GM_CONTROL_LINE_MAX octets, one per connection, at most
 * GM_CONTROL_CLIENTS connections at a time; anything else closes the connection.
 * A gm_control owns its socket and clients; it does not own the loop or the group manager. */
#ifndef GK_GM_CONTROL_H
#define GK_GM_CONTROL_H

#include <sys/types.h>
#include <uv.h>
#include "gm_groups.h"

#define GM_CONTROL_LINE_MAX 64
#define GM_CONTROL_CLIENTS 8

typedef struct gm_control gm_control;

/* What the answers need. servers: the key server per group slot, NULL where unknown; the
 * function fills it at each request. */
typedef struct gm_control_hooks {
	const gk_gm_groups *groups;
	void (*servers)(void *ctx, const char **out, size_t n);
	void *ctx;
} gm_control_hooks;

gk_status gm_control_open(uv_loop_t *loop, const char *path, const gm_control_hooks *hooks, gm_control **out,
			  char *err, size_t errlen);
void gm_control_close(gm_control *c);
/* Updates the group manager the answers read (it is made after the socket). */
void gm_control_set_groups(gm_control *c, const gk_gm_groups *groups);

/* The client side (`gmd status`): sends request to the socket at path and copies the answer to
 * out. GK_E_IO with err set when the socket cannot be reached. */
gk_status gm_control_request(const char *path, const char *request, FILE *out, char *err, size_t errlen);

#endif
