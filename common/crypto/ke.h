/* Key exchange methods as one table (RFC 7296 3.3.2 Transform Type 4, and the Additional Key
 * Exchange transforms of RFC 9370 2.2.1, which take the same IDs). A method is an entry: its
 * transform ID, its policy name, the lengths of both sides' values, and the three steps every
 * method has as the IKE roles use it:
 *   initiator  start:   a key pair; our value goes in KEi(n)
 *   responder  respond: from KEi(n), our value for KEr(n) and the shared secret SK(n)
 *   initiator  finish:  from KEr(n), the shared secret SK(n)
 * A Diffie-Hellman group does keygen in start, keygen + derive in respond and derive in finish
 * (dh.h). A KEM (ML-KEM, draft-ietf-ipsecme-ikev2-mlkem, OpenSSL 3.5) does keygen in start,
 * encapsulate in respond (KEr carries the ciphertext) and decapsulate in finish: one more entry in
 * ke.c with its own three functions, nothing else changes (ke.c shows where). */
#ifndef GK_KE_H
#define GK_KE_H

#include "chunk.h"

typedef struct gk_ke_state gk_ke_state; /* the initiator's secret between start and finish; owned */

typedef struct gk_ke_method {
	uint16_t id;         /* GK_KE_* */
	const char *name;    /* as policy and options spell it: "x25519", "p384", "modp3072" */
	size_t init_len;     /* octets of KEi's value (a KEM's encapsulation key) */
	size_t resp_len;     /* octets of KEr's value (a KEM's ciphertext) */
	bool kem;            /* responder encapsulates rather than derives */
	gk_status (*start)(const struct gk_ke_method *m, gk_ke_state **st, gk_wbuf *ours);
	gk_status (*respond)(const struct gk_ke_method *m, gk_chunk theirs, gk_wbuf *ours, gk_wbuf *shared);
	gk_status (*finish)(gk_ke_state *st, gk_chunk theirs, gk_wbuf *shared);
} gk_ke_method;

/* The entry for an ID or a name; NULL when we have no such method. */
const gk_ke_method *gk_ke_by_id(uint16_t id);
const gk_ke_method *gk_ke_by_name(const char *name);
/* The i-th entry (for listings and man pages), NULL past the end. */
const gk_ke_method *gk_ke_at(size_t i);

/* A list of method names separated by commas ("p384,x25519"), at most max of them, for the
 * additional key exchanges of RFC 9370 in order. GK_E_INVAL with the reason in err for an
 * unknown name, an empty item or too many. */
gk_status gk_ke_parse_list(const char *text, uint16_t *out, size_t max, size_t *n, char *err, size_t errlen);

/* The inverse: "p384,x25519" (empty for n 0) into buf; false when it does not fit or a method is
 * unknown. */
bool gk_ke_list_text(const uint16_t *m, size_t n, char *buf, size_t len);

/* The three steps through the entry. Values of the wrong length, or that fail the method's checks
 * (RFC 6989 for DH), give GK_E_BAD_KE and nothing in *shared. */
gk_status gk_ke_start(const gk_ke_method *m, gk_ke_state **st, gk_wbuf *ours);
gk_status gk_ke_respond(const gk_ke_method *m, gk_chunk theirs, gk_wbuf *ours, gk_wbuf *shared);
gk_status gk_ke_finish(gk_ke_state *st, gk_chunk theirs, gk_wbuf *shared);
void gk_ke_state_free(gk_ke_state *st);

#endif
