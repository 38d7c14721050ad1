/* The response under construction and the message trace (gcks_resp.c). */
#ifndef GK_GCKS_RESP_H
#define GK_GCKS_RESP_H

#include "gcks_state.h"

/* A registration whose row waits in the store's batch (storage.h, group commit): what
 * gcks_reg_settle needs to complete or refuse it once the batch is committed or lost. */
typedef struct gcks_reg_wait {
	uint64_t seq;                     /* the store's batch holding the row */
	uint64_t group_hash;
	size_t pl_from;                   /* the registration's payloads: pl[pl_from..] */
	bool fresh;                       /* a new row: counted in the group's registered meanwhile */
	bool was_tagged;                  /* the SA was in the group before */
	char group[GK_IDENT_TEXT_MAX], member[GK_IDENT_TEXT_MAX];
} gcks_reg_wait;

/* A response under construction. Payload bodies live in the arena, wait too. */
typedef struct gcks_resp {
	gk_arena arena;
	gk_out_pl pl[24];
	size_t n;
	bool close_after;                 /* remove the IKE SA once the response is sent */
	bool sent;                        /* the handler sent (or dropped) the response itself */
	gcks_reg_wait *wait;              /* not NULL: held until the store's batch is committed */
} gcks_resp;

/* A response held for the end of the event-loop turn (gk_gcks_flush), owned by the GCKS. */
typedef struct gcks_held {
	uint64_t spi;                     /* our SPI of its IKE SA (gcks_sa_find) */
	uint8_t exchange;
	uint32_t msg_id;
	gcks_resp r;
} gcks_held;
/* Responses held at most: at that many the batch is committed and they are sent at once. */
#define GCKS_HELD_MAX 256

void gcks_log_msg(const gk_gcks *g, const char *dir, const gk_msg *m, const struct sockaddr *peer);
gk_out_pl *gcks_resp_add(gcks_resp *r, uint8_t type, const void *body);
gk_status gcks_resp_notify(gcks_resp *r, uint16_t type, gk_chunk data);

#endif
