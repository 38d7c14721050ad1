/* The control socket of gcksd: a Unix stream socket (mode 0660) taking one request per line and
 * answering one JSON object per line. Requests (documented in gcks/CONTROL.md):
 *   status [text] | reload | rekey GROUP | evict GROUP MEMBER | rotate-key | backup
 * (backup answers a line and then the database's octets, to root and gcksd's user only)
 * Only root, gcksd's own user and members of the admin group (by the peer's credentials,
 * SO_PEERCRED and SO_PEERGROUPS) are answered; anyone else gets "permission denied", which is
 * audited. A gk_control owns its libuv handles; the gcks it serves is the caller's. */
#ifndef GK_CONTROL_H
#define GK_CONTROL_H

#include <sys/types.h>
#include <uv.h>
#include "gcks.h"

typedef struct gk_control gk_control;

typedef struct gk_control_hooks {
	gk_gcks *gcks;
	gk_store *store;
	int64_t started;              /* unix seconds */
	uid_t daemon_uid;             /* gcksd's own user: may use the socket */
	bool has_admin;               /* members of admin_gid may use it too */
	gid_t admin_gid;
} gk_control_hooks;

/* Whether a peer with these credentials may send requests: root, the daemon's user, or a member
 * of the admin group (primary or supplementary). */
bool gk_control_authorized(const gk_control_hooks *hooks, uid_t uid, gid_t gid, const gid_t *groups,
			   size_t ngroups);

gk_status gk_control_open(uv_loop_t *loop, const char *path, const gk_control_hooks *hooks,
			  gk_control **out, char *err, size_t errlen);
void gk_control_close(gk_control *c);

/* Answers one request line into out (a JSON object and a newline); who (the peer's user) goes
 * into the audit record of a rekey, evict or rotate-key. Used by the socket and by unit tests. */
void gk_control_handle(const gk_control_hooks *hooks, const char *who, const char *line, FILE *out);

#endif
