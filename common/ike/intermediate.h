/* IKE_INTERMEDIATE (RFC 9242) and multiple key exchanges (RFC 9370), as both roles use them:
 * the key update after each additional key exchange, and the IntAuth chain that makes AUTH cover
 * the IKE_INTERMEDIATE messages. The exchanges themselves are the handlers' (gcks/, member/). */
#ifndef GK_INTERMEDIATE_H
#define GK_INTERMEDIATE_H

#include "auth.h"
#include "iana.h"
#include "ikekeys.h"
#include "ke.h"
#include "frag.h"
#include "message.h"

/* What an IKE SA keeps between IKE_SA_INIT and its authentication when IKE_INTERMEDIATE is used.
 * Owned by its gk_ike_sa (gk_ike_sa.intermediate), freed and wiped with it. */
typedef struct gk_ike_int {
	uint16_t addke[GK_ADDKE_MAX]; /* negotiated methods, in transform type order, NONE left out */
	size_t naddke;
	size_t done;                  /* IKE_INTERMEDIATE exchanges completed */
	uint8_t int_i[GK_MAX_KEY], int_r[GK_MAX_KEY]; /* IntAuth_i(done), IntAuth_r(done) */
	size_t int_i_len, int_r_len;  /* 0 until the first message of that side */
	gk_ke_state *ke;              /* initiator: our half of the exchange in flight */
} gk_ike_int;

/* RFC 9370 2.2.2: after the n-th additional key exchange with shared secret SK(n),
 *   SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr)
 *   {SK_d(n) | SK_ai(n) | SK_ar(n) | SK_ei(n) | SK_er(n) | SK_pi(n) | SK_pr(n)}
 *       = prf+(SKEYSEED(n), Ni | Nr | SPIi | SPIr)
 * with the IKE_SA_INIT nonces and SPIs and the IKE SA's PRF; GSK_w (RFC 9838 3.1.1) follows the new
 * SK_d. k is replaced only on success. */
gk_status gk_addke_update_keys(gk_ike_keys *k, gk_chunk shared, gk_chunk ni, gk_chunk nr, uint64_t spi_i,
			       uint64_t spi_r);

/* RFC 9242 3.3.2: the octets IntAuth_[i/r]nA | IntAuth_[i/r]nP of one IKE_INTERMEDIATE message:
 * the IKE header and the Encrypted payload's generic header as they would be if the inner payloads
 * were sent in the clear, unfragmented (Next Payload SK, the header's Length 28 + 4 + |P|, the
 * Encrypted payload's Length 4 + |P|, its Next Payload the first inner payload's type), then the
 * inner payloads (no IV, padding or ICV). IKE_INTERMEDIATE carries no payload outside SK (its
 * exchange rules), so nothing else precedes the Encrypted payload. Appends to out. */
gk_status gk_intauth_data(const gk_hdr *h, uint8_t first_inner, gk_chunk plain, gk_wbuf *out);

/* Chains one message into IntAuth: IntAuth_x(n) = prf(SK_px, IntAuth_x(n-1) | data), with SK_pi for
 * a message of the initiator and SK_pr for one of the responder, the keys in effect while the
 * exchange ran (before its own key update). */
gk_status gk_intauth_add(gk_ike_int *ii, const gk_ike_keys *k, bool of_initiator, gk_chunk data);
/* The same for a message received (parsed and opened, SK or reassembled SKF) ... */
gk_status gk_intauth_add_received(gk_ike_int *ii, const gk_ike_keys *k, bool of_initiator, const gk_msg *m);
/* ... and for one we sent: d as gk_ike_req_build made it (its first datagram gives the header),
 * pl/n the inner payloads it protects. */
gk_status gk_intauth_add_sent(gk_ike_int *ii, const gk_ike_keys *k, bool of_initiator, const gk_dgrams *d,
			      const gk_out_pl *pl, size_t n);

/* RFC 9242 3.3.2: what the AUTH octets of both sides gain, as three more parts of out: IntAuth_i |
 * IntAuth_r | IKE_AUTH_MID (4 octets, the Message ID of the authenticating exchange: GSA_AUTH in
 * G-IKEv2, one more than the last IKE_INTERMEDIATE's). The first two point into ii. Nothing when
 * no IKE_INTERMEDIATE took place. */
gk_status gk_intauth_octets(const gk_ike_int *ii, uint32_t auth_msgid, gk_auth_octets *out);

/* The negotiated additional key exchanges of a suite, NONE left out, in order; false when one is
 * a method we do not have. */
bool gk_ike_int_plan(gk_ike_int *ii, const uint16_t addke[GK_ADDKE_MAX]);

void gk_ike_int_free(gk_ike_int *ii);

#endif
