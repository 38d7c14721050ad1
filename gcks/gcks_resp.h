/* The response under construction and the message trace (gcks_resp.c). */
#ifndef GK_GCKS_RESP_H
#define GK_GCKS_RESP_H

#include "gcks_state.h"

/* A response under construction. Payload bodies live in the arena. */
typedef struct gcks_resp {
	gk_arena arena;
	gk_out_pl pl[24];
	size_t n;
	bool close_after;                 /* remove the IKE SA once the response is sent */
	bool sent;                        /* the handler sent (or dropped) the response itself */
} gcks_resp;

void gcks_log_msg(const gk_gcks *g, const char *dir, const gk_msg *m, const struct sockaddr *peer);
gk_out_pl *gcks_resp_add(gcks_resp *r, uint8_t type, const void *body);
gk_status gcks_resp_notify(gcks_resp *r, uint16_t type, gk_chunk data);

#endif
