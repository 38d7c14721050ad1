/* The control socket of gcksd: a Unix stream socket (mode 0660) taking one request per line and
 * answering one JSON object per line. Requests (documented in gcks/CONTROL.md):
 *   status [text] | reload | rekey GROUP | evict GROUP MEMBER | rotate-key
 * A gk_control owns its libuv handles; the gcks it serves is the caller's. */
#ifndef GK_CONTROL_H
#define GK_CONTROL_H

#include <uv.h>
#include "gcks.h"

typedef struct gk_control gk_control;

typedef struct gk_control_hooks {
	gk_gcks *gcks;
	gk_store *store;
	int64_t started;              /* unix seconds */
} gk_control_hooks;

gk_status gk_control_open(uv_loop_t *loop, const char *path, const gk_control_hooks *hooks,
			  gk_control **out, char *err, size_t errlen);
void gk_control_close(gk_control *c);

/* Answers one request line into out (a JSON object and a newline); who (the peer's user) goes
 * into the audit record of a rekey, evict or rotate-key. Used by the socket and by unit tests. */
void gk_control_handle(const gk_control_hooks *hooks, const char *who, const char *line, FILE *out);

#endif
