/* What every module of the GCKS core uses to answer: the response under construction (its
 * payloads and their Notify bodies) and the debug trace of a message. */
#define GK_LOG_SUBSYS GK_SUB_NET /* log.h */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include "gcks_resp.h"
#include "addr.h"
#include "log.h"
#include "msgdump.h"

void gcks_log_msg(const gk_gcks *g, const char *dir, const gk_msg *m, const struct sockaddr *peer)
{
	(void)g;
	if (!gk_log_enabled(GK_LOG_SUBSYS, GK_LOG_DEBUG))
		return;
	char s[512], a[64];
	gk_dbg("%s %s %s", dir, gk_addr_text(peer, a, sizeof(a)), gk_msg_summary(m, s, sizeof(s)));
}

gk_out_pl *gcks_resp_add(gcks_resp *r, uint8_t type, const void *body)
{
	if (r->n == sizeof(r->pl) / sizeof(r->pl[0]))
		return NULL;
	r->pl[r->n] = (gk_out_pl){ .type = type, .body = body };
	return &r->pl[r->n++];
}

gk_status gcks_resp_notify(gcks_resp *r, uint16_t type, gk_chunk data)
{
	gk_pl_notify *n = gk_arena_alloc(&r->arena, sizeof(*n));
	if (!n)
		return GK_E_NOMEM;
	*n = (gk_pl_notify){ .type = type, .data = data };
	return gcks_resp_add(r, GK_PL_NOTIFY, n) ? GK_OK : GK_E_TOO_BIG;
}
