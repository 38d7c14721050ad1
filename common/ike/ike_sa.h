/* State of one IKE SA, shared by the GCKS (responder) and the member (initiator):
 * SPIs, negotiated suite, keys (one block of their exact length), nonces and IKE_SA_INIT
 * messages (until authentication),
 * Message ID windows (window size 1) and the cached last response for retransmissions.
 * A gk_ike_sa owns every buffer it points to; gk_ike_sa_free() wipes secrets and frees them. */
#ifndef GK_IKE_SA_H
#define GK_IKE_SA_H

#include <sys/socket.h>
#include <netinet/in.h>
#include "auth.h"
#include "dh.h"
#include "frag.h"
#include "ident.h"
#include "ikekeys.h"
#include "sk.h"

struct gk_ike_int;
struct gk_keylog;

typedef enum gk_ike_state {
	GK_IKE_NONE = 0,        /* nothing exchanged yet */
	GK_IKE_INIT_DONE,       /* IKE_SA_INIT completed, keys derived, not authenticated */
	GK_IKE_ESTABLISHED,     /* authenticated (GSA_AUTH or IKE_AUTH succeeded) */
	GK_IKE_CLOSED,
} gk_ike_state;

/* The peer's or our address of an IKE SA: IPv4 or IPv6 only, so 28 octets where a
 * sockaddr_storage takes 128 (every IKE SA holds two). */
typedef union gk_ike_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
} gk_ike_addr;

/* Our response to the peer's last request, kept for its retransmissions (RFC 7296 2.1) in one
 * allocation sized to it: n datagrams, d[i] pointing into the octets after the array. An
 * established SA keeps one for its whole life, so it holds nothing else (not the 1.3 KB list a
 * response is built in, nor the slack of its growable buffers). Owned by the gk_ike_sa. */
typedef struct gk_resp_cache {
	size_t n;
	gk_chunk d[];
} gk_resp_cache;

/* What an IKE SA needs only until authentication: the nonces and both IKE_SA_INIT messages, which
 * the AUTH payloads sign (RFC 7296 2.15), in two allocations: this one with Ni | Nr after it, and
 * init holding the request then the response. Owned by the gk_ike_sa; gk_ike_sa_auth_done wipes
 * and frees both, so an established SA keeps one NULL pointer of it. */
typedef struct gk_ike_pre {
	uint8_t *init;          /* IKE_SA_INIT request | response, NULL until kept */
	uint32_t init_req_len, init_resp_len;
	uint16_t ni_len, nr_len;
	uint8_t n[];            /* Ni | Nr */
} gk_ike_pre;

typedef struct gk_ike_sa {
	uint64_t spi_i, spi_r;
	bool initiator;         /* our role in this SA */
	bool frag_ok;           /* the peer announced IKEV2_FRAGMENTATION_SUPPORTED */
	/* lengths of the keys in kb (gk_ike_keys' d_len, a_len, e_len, p_len, w_len): at most 64 */
	uint8_t kd_len, ka_len, ke_len, kp_len, kw_len;
	uint8_t state;          /* gk_ike_state (one octet, so that iv_next fits without growing) */
	/* The IV of the next message we protect with a counter-mode cipher (AES-GCM, AES-CTR,
	 * ChaCha20-Poly1305): a counter, never reused while the struct lives, so it never repeats
	 * under the outbound key, whichever key the SA has (gk_sk_keys.iv_next). */
	uint32_t iv_next;
	gk_ike_suite suite;
	uint32_t frag_timeout_ms; /* an incomplete set is dropped this long after it began, 0 = never */
	uint32_t frag_max;      /* octets parked per message, 0 = no bound (see gk_frag_reasm) */
	/* The keys (RFC 7296 2.14) in one allocation of their exact length, owned, wiped when
	 * replaced or freed: SK_d | SK_ai | SK_ar | SK_ei | SK_er | GSK_w, then SK_pi | SK_pr until
	 * authentication. An established SA keeps it for its whole life, so it holds no slack (a
	 * gk_ike_keys sizes each key for the longest algorithm: 496 octets where AES-GCM-256 with
	 * HMAC-SHA-256 needs 136). NULL = no keys yet. */
	uint8_t *kb;
	gk_dh *dh;              /* our key pair until the keys are derived */
	gk_ike_pre *pre;        /* nonces and IKE_SA_INIT messages until authentication, NULL after */
	uint32_t msgid_out;     /* next Message ID of a request we send */
	uint32_t msgid_in;      /* next Message ID we expect in a request from the peer */
	gk_resp_cache *last_resp; /* our response to request msgid_in - 1 (one or more datagrams) */
	gk_frag_reasm *reasm;   /* fragments of a request or response being received */
	gk_frag_pool *frag_pool; /* shared bound on parked octets, NULL = none; not owned */
	gk_frag_account *frag_acct; /* the peer's source's bound, NULL = none; not owned (change it
				     * with gk_frag_set_account on reasm too) */
	int64_t frag_started_ms; /* when the set in reasm began */
	struct gk_ike_int *intermediate; /* IKE_INTERMEDIATE state (intermediate.h) until
					  * authentication, NULL when none was negotiated; owned */
	gk_ike_addr peer, local;
	int64_t created_ms, used_ms; /* used_ms: when the peer's last request was taken */
} gk_ike_sa;

/* Takes copies of the nonces (at most 65535 octets each) and of the IKE_SA_INIT messages; the
 * chunks may point into what they replace. */
gk_status gk_ike_sa_set_nonces(gk_ike_sa *sa, gk_chunk ni, gk_chunk nr);
gk_status gk_ike_sa_keep_init(gk_ike_sa *sa, gk_chunk req, gk_chunk resp);
/* The nonces and IKE_SA_INIT messages kept (empty when none, and after authentication). */
gk_chunk gk_ike_sa_ni(const gk_ike_sa *sa);
gk_chunk gk_ike_sa_nr(const gk_ike_sa *sa);
gk_chunk gk_ike_sa_init_req(const gk_ike_sa *sa);
gk_chunk gk_ike_sa_init_resp(const gk_ike_sa *sa);
/* Derives all keys (SKEYSEED ... GSK_w) from the DH shared secret; frees sa->dh. */
gk_status gk_ike_sa_derive(gk_ike_sa *sa, gk_chunk shared);
/* The same from the given nonces (not kept), with sa->suite and sa's SPIs; sa->dh stays. */
gk_status gk_ike_sa_derive_keys(gk_ike_sa *sa, gk_chunk ni, gk_chunk nr, gk_chunk shared);
/* n's keys for a rekey of old (RFC 7296 2.18, gk_ike_keys_rekey): suite is n's new suite (the
 * caller sets n->suite). */
gk_status gk_ike_sa_rekey_keys(gk_ike_sa *n, const gk_ike_suite *suite, const gk_ike_sa *old, gk_chunk ni,
			       gk_chunk nr, gk_chunk shared, uint64_t spi_i, uint64_t spi_r);
/* The keys as a gk_ike_keys (its suite sa->suite) for the functions that take one; the caller
 * wipes *out (gk_ike_keys_wipe). */
void gk_ike_sa_keys_get(const gk_ike_sa *sa, gk_ike_keys *out);
/* Replaces sa's keys with a copy of k's (k->suite is not kept: sa->suite is the SA's); the old
 * ones are wiped. On failure (out of memory) sa's keys are unchanged. */
gk_status gk_ike_sa_keys_set(gk_ike_sa *sa, const gk_ike_keys *k);
gk_chunk gk_ike_sa_sk_d(const gk_ike_sa *sa);
gk_chunk gk_ike_sa_gsk_w(const gk_ike_sa *sa); /* the default key wrap key (RFC 9838 3.1.1) */
/* The key updates of ppk.h and intermediate.h applied to sa's keys (changed only on success):
 * RFC 8784 3 with ppk; RFC 9370 2.2.2 with an additional key exchange's shared secret and sa's
 * IKE_SA_INIT nonces and SPIs. */
gk_status gk_ike_sa_ppk_update(gk_ike_sa *sa, gk_chunk ppk);
gk_status gk_ike_sa_addke_update(gk_ike_sa *sa, gk_chunk shared);
/* gk_intauth_add, _add_received and _add_sent (intermediate.h) with sa's keys and intermediate. */
gk_status gk_ike_sa_intauth_add(gk_ike_sa *sa, bool of_initiator, gk_chunk data);
gk_status gk_ike_sa_intauth_add_received(gk_ike_sa *sa, bool of_initiator, const gk_msg *m);
gk_status gk_ike_sa_intauth_add_sent(gk_ike_sa *sa, bool of_initiator, const gk_dgrams *d, const gk_out_pl *pl,
				     size_t n);
/* gk_keylog_ike_sa with sa's SPIs and keys; nothing without kl. */
void gk_ike_sa_keylog(struct gk_keylog *kl, const gk_ike_sa *sa);
/* SK keys to protect what we send (outbound) or open what we receive. */
gk_sk_keys gk_ike_sa_sk(const gk_ike_sa *sa, bool outbound);
/* InitiatorSignedOctets (of_initiator) or ResponderSignedOctets for an ID payload body, with
 * IntAuth_i | IntAuth_r | IKE_AUTH_MID after IKE_INTERMEDIATE exchanges (RFC 9242 3.3.2), as
 * parts that point into sa (valid while its IKE_SA_INIT messages are kept) and into out, for a
 * PSK MIC (gk_auth_psk_check, gk_auth_psk_mic; work as gk_auth_octets_make's, may be NULL) ... */
gk_status gk_ike_sa_auth_parts(const gk_ike_sa *sa, bool of_initiator, gk_chunk id_body, gk_prf_keyed **work,
			       gk_auth_octets *out);
/* ... or appended to out, for a signature. */
gk_status gk_ike_sa_auth_octets(const gk_ike_sa *sa, bool of_initiator, gk_chunk id_body, gk_wbuf *out);
/* Drops nonces, IKE_SA_INIT copies and SK_pi/SK_pr (wiped) once authentication is over. */
void gk_ike_sa_auth_done(gk_ike_sa *sa);
/* Keeps a copy of the datagrams of our last response and frees *resp (emptied). Out of memory,
 * no response is kept (a retransmitted request then goes unanswered). */
void gk_ike_sa_cache_response(gk_ike_sa *sa, gk_dgrams *resp);
/* Opens a received protected message: SK directly, SKF through reassembly. GK_OK with
 * *complete false means a fragment was kept and the message is not whole yet. */
gk_status gk_ike_sa_open(gk_ike_sa *sa, gk_msg *m, bool *complete);
/* The same, noting when a set of fragments begins (now_ms), for gk_ike_sa_frag_expire. */
gk_status gk_ike_sa_open_at(gk_ike_sa *sa, gk_msg *m, int64_t now_ms, bool *complete);
/* Drops an incomplete set of fragments frag_timeout_ms after its first fragment came. */
void gk_ike_sa_frag_expire(gk_ike_sa *sa, int64_t now_ms);
/* RFC 7296 2.1: "In order to allow saving memory, responders are allowed to forget the response
 * after a timeout of several minutes. If the responder receives a retransmitted request for which
 * it has already forgotten the response, it MUST ignore the request" (gk_ike_req_window drops it
 * then). An initiator retransmits for about a minute (gmd: 500 ms doubled 6 times, 63.5 s;
 * strongSwan: 4 s, x1.8, 5 times, 165 s), so 5 minutes lose no answer that is still awaited; an
 * idle established SA, kept for inband rekeys, then holds no copy of its GSA_AUTH answer. */
#define GK_RESP_FORGET_MS (5 * 60 * 1000)
/* The periodic work of a responder's IKE SA: gk_ike_sa_frag_expire, and the cached response
 * forgotten GK_RESP_FORGET_MS after the request it answers came (used_ms). */
void gk_ike_sa_expire(gk_ike_sa *sa, int64_t now_ms);
void gk_ike_sa_free(gk_ike_sa *sa);

/* NAT detection data (RFC 7296 2.23): SHA-1(SPIi | SPIr | IP | port). out holds 20 octets. */
gk_status gk_natd_hash(uint64_t spi_i, uint64_t spi_r, const struct sockaddr *addr, uint8_t out[20]);

#endif
