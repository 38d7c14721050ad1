/* IKE SA proposals (RFC 7296 3.3): what a side offers or accepts, building SA payloads from it,
 * and choosing one suite from a peer's offer. G-IKEv2 adds the Key Wrap Algorithm transform
 * (RFC 9838 2.3, 4.5.4); a GCKS also accepts proposals without it from plain IKEv2 peers. */
#ifndef GK_PROPOSAL_H
#define GK_PROPOSAL_H

#include "ikekeys.h"
#include "payloads.h"

#define GK_OFFER_MAX 8

typedef struct gk_encr_choice {
	uint16_t id, key_bits;   /* key_bits 0 when the transform takes no Key Length */
} gk_encr_choice;

/* Algorithms acceptable for an IKE SA, each list in preference order. */
typedef struct gk_ike_offer {
	gk_encr_choice encr[GK_OFFER_MAX];
	size_t nencr;
	uint16_t prf[GK_OFFER_MAX], integ[GK_OFFER_MAX], ke[GK_OFFER_MAX], kwa[GK_OFFER_MAX];
	size_t nprf, ninteg, nke, nkwa;
	bool kwa_required;       /* a GM insists on KWA; a GCKS also serves plain IKEv2 peers */
	/* RFC 9370 2.2.1: the methods for Additional Key Exchange i+1 (transform type 6+i), in
	 * preference order; GK_KE_NONE in a list makes that exchange optional. naddke[i] 0: the type is
	 * neither proposed nor accepted. */
	uint16_t addke[GK_ADDKE_MAX][GK_OFFER_MAX];
	size_t naddke[GK_ADDKE_MAX];
} gk_ike_offer;

/* The default offer: AES-GCM-16 and AES-CBC with HMAC-SHA2, PRF HMAC-SHA2, Curve25519, ECP
 * groups and Curve448 (no MODP groups: see proposal.c), KW_5649_256/128. */
void gk_ike_offer_default(gk_ike_offer *o);

/* Initiator: an SA payload proposing the offer (one AEAD and one non-AEAD proposal, as RFC 7296
 * 3.3 does not allow both kinds in one proposal). Memory comes from the arena. */
gk_status gk_ike_offer_to_sa(const gk_ike_offer *o, gk_arena *a, gk_pl_sa *out);

/* Responder: picks the first acceptable proposal of the peer (RFC 7296 2.7, 3.3.6). GK_E_NOT_FOUND
 * when none is acceptable (answer NO_PROPOSAL_CHOSEN). */
gk_status gk_ike_select(const gk_pl_sa *peer, const gk_ike_offer *accept, gk_ike_suite *chosen,
			uint8_t *prop_num);

/* The SA payload that answers with one chosen suite. */
gk_status gk_ike_suite_to_sa(const gk_ike_suite *s, uint8_t prop_num, gk_arena *a, gk_pl_sa *out);

/* Initiator: reads the responder's choice and checks it is one suite out of what was offered.
 * GK_E_MALFORMED when it is not. */
gk_status gk_ike_suite_from_sa(const gk_pl_sa *sa, const gk_ike_offer *offered, gk_ike_suite *out);

/* IKE SA rekeying (RFC 7296 1.3.2, 3.3.1): proposals carry the sender's new SPI (8 octets).
 * Responder: the first acceptable IKE proposal, as gk_ike_select, with a KWA when need_kwa (a
 * G-IKEv2 SA keeps its key wrap); *spi is the peer's new SPI. GK_E_MALFORMED when an IKE
 * proposal has no valid SPI, GK_E_NOT_FOUND when none is acceptable. */
gk_status gk_ike_select_rekey(const gk_pl_sa *peer, const gk_ike_offer *accept, bool need_kwa,
			      gk_ike_suite *chosen, uint8_t *prop_num, uint64_t *spi);
/* Initiator: the responder's choice and its new SPI. */
gk_status gk_ike_suite_from_rekey_sa(const gk_pl_sa *sa, const gk_ike_offer *offered, gk_ike_suite *out,
				     uint64_t *spi);
/* Puts an IKE SPI into every proposal of an SA payload (memory from the arena). */
gk_status gk_sa_set_ike_spi(gk_pl_sa *sa, gk_arena *a, uint64_t spi);

/* Additional Key Exchanges i = 1..n with exactly the method m[i-1] each (no NONE: required), and no
 * others: what gmd --addke proposes and gcksd --addke requires. */
void gk_ike_offer_require_addke(gk_ike_offer *o, const uint16_t *m, size_t n);
/* The offer without Additional Key Exchanges: IKE SA rekeys use it, since a rekey with them needs
 * IKE_FOLLOWUP_KE (RFC 9370 2.2.4), which we do not do. */
void gk_ike_offer_no_addke(const gk_ike_offer *o, gk_ike_offer *out);
/* Whether the offer proposes any Additional Key Exchange (then INTERMEDIATE_EXCHANGE_SUPPORTED
 * goes with it, RFC 9370 2.2.1). */
bool gk_ike_offer_has_addke(const gk_ike_offer *o);

/* Does the offer accept this KE group? (to answer INVALID_KE_PAYLOAD) */
bool gk_ike_offer_has_ke(const gk_ike_offer *o, uint16_t group);

/* Text of a suite for logs: "AES_GCM_16/256 HMAC_SHA2_256 CURVE25519 KW_5649_256". */
char *gk_ike_suite_text(const gk_ike_suite *s, char *buf, size_t len);

#endif
