/* The group member's key management (RFC 9838 3.3): from the SA_KEY attributes of a message,
 * the WRAP_KEY attributes that came with them, the default key wrap key GSK_w and the member's
 * Working Key Path, find an SA_KEY the member can open through a Key Path (each key wrapped by
 * the next, ending at GSK_w or at a key of the Working Key Path), unwrap along it, and give the
 * keying material and the Working Key Path to keep. The same procedure serves every key
 * management method of a GCKS (SA keys under GSK_w, LKH trees, others). Pure: no I/O, no clock.
 *
 * Key wrap algorithms: a key wrapped under GSK_w (KWK ID 0) is opened with the algorithm of
 * the SA the message came over (kwa_w: the IKE SA's at registration, the Rekey SA's in
 * GSA_REKEY); a key wrapped under an intermediate key with the Rekey SA's Key Wrap Algorithm
 * (kwa; RFC 9838 4.5.3.1: intermediate keys are keys of the group's rekey key wrap algorithm,
 * whose key size they must have once unwrapped). At registration the GCKS thus wraps the
 * member's own key under GSK_w with the IKE SA's algorithm, and everything else with the
 * Rekey SA's.
 *
 * Bounds: a key path has at most GK_KH_MAX_DEPTH keys, a message at most GK_KH_MAX_WRAPPED
 * wrapped keys (gk_group_state_decode_kh); every WRAP_KEY is unwrapped at most once, so a
 * message costs at most that many unwraps. Every key held here is wiped after use. */
#ifndef GK_KEY_PATH_H
#define GK_KEY_PATH_H

#include "group_sa.h"

typedef struct gk_key_path_in {
	const gk_key_path *wkp;          /* the member's Working Key Path; NULL or n 0: none */
	gk_chunk gsk_w;                  /* the default KWK of the SA the message came over */
	uint16_t kwa_w;                  /* its key wrap algorithm */
	uint16_t kwa;                    /* the Rekey SA's: for intermediate keys */
	const gk_kh_wrapped *wrap_keys;  /* the message's WRAP_KEY attributes (Key ID != 0) */
	size_t nwrap;
	const gk_kh_wrapped *sa_keys;    /* its SA_KEY attributes for one SA (Key ID 0) */
	size_t nsa;
	size_t keymat_len;               /* the SA's keying material size (RFC 9838 4.5.2.1) */
	bool registration;               /* GSA_AUTH, GSA_REGISTRATION: a new Key Path may end
					  * at GSK_w (RFC 9838 3.3: "only at the time the GM is
					  * registering"); in a rekey such a path is refused */
} gk_key_path_in;

/* Opens the first SA_KEY (in message order) a Key Path reaches; every other SA_KEY that opens
 * must carry the same keying material (RFC 9838 3.3). On GK_OK keymat (keymat_len octets)
 * holds it and *wkp_out the Working Key Path to keep: the same one for an empty new path, the
 * new path alone when it ends at GSK_w, else the new path followed by the old one from the key
 * that opened its last key on (the keys before that are replaced).
 * GK_E_NOT_FOUND: no SA_KEY can be reached: the member is excluded (err says so).
 * Other errors refuse the message (nothing to keep): GK_E_MALFORMED for a cycle among WRAP_KEYs,
 * a WRAP_KEY or SA_KEY that unwraps to the wrong size, two different keys under one Key ID or
 * two different keying materials, a new path ending at GSK_w outside registration, a WRAP_KEY
 * or SA_KEY with a wrong Key ID; GK_E_TOO_DEEP for a key path or Working Key Path longer than
 * GK_KH_MAX_DEPTH. keymat and *wkp_out are wiped on every error, so wkp_out must not be in->wkp. */
gk_status gk_key_path_open(const gk_key_path_in *in, uint8_t *keymat, gk_key_path *wkp_out, char *err,
			   size_t errlen);

/* The same for a decoded group state (gk_group_state_decode_kh): opens the Rekey SA's SA_KEYs
 * wrapped under intermediate keys (gs->kh_sa_keys) through gs->wrap_keys, puts the keying
 * material into the Rekey SA (when decoding opened none under GSK_w; when it did, those that
 * open here must agree with it and the Key Path is empty), and gs->wkp gets the Working Key
 * Path to keep. kwa 0: the Rekey SA's own (registration). gs->wrap_keys and gs->kh_sa_keys are
 * cleared (they point into the message). Statuses as gk_key_path_open; on an error other than
 * GK_E_NOT_FOUND err names the problem, and with any error the caller must not use gs. */
gk_status gk_key_path_open_state(gk_group_state *gs, const gk_key_path *wkp, gk_chunk gsk_w, uint16_t kwa_w,
				 uint16_t kwa, bool registration, char *err, size_t errlen);

void gk_key_path_wipe(gk_key_path *p);

#endif
