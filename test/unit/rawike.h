/* A hand-made IKE initiator for the GCKS tests on the fake network (regfix.h), for what the
 * member core never sends: its own endpoint (fn_raw), IKE SA, offer and deterministic random
 * generator. Ownership: the caller owns the raw_ike (usually on its stack) and frees its IKE SA
 * with raw_free; the endpoint belongs to the fake network (freed by rf_teardown). */
#ifndef GK_TEST_RAWIKE_H
#define GK_TEST_RAWIKE_H

#include <stdbool.h>
#include <stdint.h>
#include "fakenet.h"
#include "ike_sa.h"
#include "message.h"
#include "proposal.h"

typedef struct raw_ike {
	fn_raw *ep;
	gk_ike_sa ike;
	gk_ike_offer offer;
	gk_rand_test rnd;
} raw_ike;

void raw_new(raw_ike *r, uint64_t seed);
/* Delivers everything and takes the one datagram the GCKS sent back, parsed; false if none. */
bool raw_recv(raw_ike *r, gk_msg *m, bool decrypt);
/* Sends an IKE_SA_INIT request proposing r->offer; req gets it, ni its nonce. */
void raw_init_request(raw_ike *r, gk_wbuf *req, uint8_t ni[32]);
/* IKE_SA_INIT with the GCKS, keys derived: ready for raw_send. */
void raw_sa_init(raw_ike *r);
/* Sends a protected request with this Message ID (not necessarily the next one). */
void raw_send(raw_ike *r, uint8_t exchange, uint32_t msg_id, const gk_out_pl *pl, size_t n);
void raw_free(raw_ike *r);

#endif
