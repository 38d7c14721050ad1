/* The member's protocol core: registers to one or more groups at a GCKS as IKE initiator
 * (IKE_SA_INIT, GSA_AUTH, GSA_REGISTRATION; RFC 9838 2.3), with retransmission and backoff,
 * and verifies everything it receives. Like the GCKS core it owns no socket, clock or
 * randomness: gk_gm_env carries them, so tests run a member without the network.
 * With retry_ms set, a registration that fails is tried again with exponential backoff and
 * jitter (a permanent refusal at the slow retry_max_ms), so a daemon is never left without a
 * plan. With liveness_ms set, an IKE SA kept for inband rekeys is checked with an empty
 * INFORMATIONAL when it has been silent (RFC 7296 2.4); a dead one is registered again.
 * Behind a NAT, a kept IKE SA's NAT mapping is refreshed with NAT-keepalives (RFC 3948 4).
 * With several key servers (nservers, env.server), a registration that gets no answer or
 * TEMPORARY_FAILURE moves to the next one at once (failover() in gm_core.c says exactly when).
 * The GCKS is pinned: with gcks_id set it must authenticate as that identity, and with a CA its
 * certificate must carry the key server purpose (GK_GM_GCKS_EKU). What a registration or an
 * inband rekey delivers is checked by gk_gm_state_check before anything is reported: a group
 * whose selectors reach beyond multicast (and the allowed prefixes) or whose rekey
 * authentication cannot be verified is refused.
 * A gk_gm owns its IKE SA and the received group states; it does not own the credentials in
 * its config (EVP_PKEY, X509, X509_STORE stay the caller's). */
#ifndef GK_GM_H
#define GK_GM_H

#include <sys/socket.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "group_sa.h"
#include "proposal.h"
#include "clock.h"
#include "rand.h"
#include "gm_check.h"
#include "ike_sa.h"
#include "keylog.h"

#define GK_GM_MAX_GROUPS 8

typedef struct gk_gm_config {
	gk_ident id;
	gk_ident groups[GK_GM_MAX_GROUPS];
	size_t ngroups;
	const uint8_t *psk;          /* PSK authentication ... */
	size_t psk_len;
	EVP_PKEY *key;               /* ... or certificate / raw key authentication */
	X509 *cert;                  /* NULL: raw public key (RFC 7670) */
	X509_STORE *ca;              /* verifies the GCKS certificate */
	EVP_PKEY *gcks_pubkey;       /* or the GCKS raw public key */
	const uint8_t *ppk;          /* post-quantum preshared key (RFC 8784), NULL = none; not owned */
	size_t ppk_len;
	const uint8_t *ppk_id;       /* its PPK_ID (sent as PPK_ID_FIXED); not owned */
	size_t ppk_id_len;
	bool ppk_required;           /* no registration without the PPK (no NO_PPK_AUTH fallback) */
	gk_ident gcks_id;            /* the IDr the GCKS must authenticate as (type 0 = not pinned) */
	const gk_prefix *allow;      /* unicast destinations a Data-Security SA may name besides */
	size_t nallow;               /* multicast (gk_gm_state_check); not owned */
	bool sender;
	uint32_t sender_ids;         /* requested Sender-IDs (GROUP_SENDER), 0 = default */
	gk_ike_offer offer;
	bool send_sag;
	gk_encr_choice sag_encr[GK_OFFER_MAX]; /* transforms declared in SAg; empty = all we know */
	size_t nsag_encr;
	unsigned retransmit_ms;      /* first retransmission timeout, doubled each time */
	unsigned retransmit_tries;
	unsigned retry_ms;           /* first wait before a failed registration is tried again,
				      * doubled each time (minus up to 1/4 jitter); 0 = never */
	unsigned retry_max_ms;       /* cap, and the wait after a permanent refusal */
	unsigned liveness_ms;        /* silence on an IKE SA kept for inband rekeys before a liveness
				      * check (plus up to 1/4 jitter); 0 = off */
	unsigned ike_lifetime_s;     /* an IKE SA kept for inband rekeys is rekeyed (CREATE_CHILD_SA,
				      * RFC 7296 1.3.2) 10-20 % before this, 0 = never */
	unsigned keepalive_ms;       /* behind a NAT (after the move to 4500), a NAT-keepalive when
				      * nothing was sent to the GCKS for this long (minus up to 1/4
				      * jitter) while the IKE SA is kept (RFC 3948 4); 0 = off */
	bool initial_contact;        /* the first IKE SA with this GCKS since we started: the GCKS
				      * drops any it still holds for our identity (RFC 7296 2.4) */
	struct sockaddr_storage local; /* our address and port toward the GCKS, and the GCKS's: */
	struct sockaddr_storage gcks;  /* the NAT_DETECTION hashes (RFC 7296 2.23); family 0 = none sent */
	size_t nservers;             /* key servers the caller can send to (env.server), tried in order;
				      * 0 or 1: one, no failover */
} gk_gm_config;

void gk_gm_config_default(gk_gm_config *c);

typedef enum gk_gm_event_type {
	GK_GM_REGISTERED,            /* group state received and verified */
	GK_GM_REFUSED,               /* the GCKS refused this group with `notify` */
	GK_GM_FAILED,                /* the exchange failed as a whole (see `why`, `notify`, `retry_ms`);
				      * with retry, also a run that ended with no group registered */
	GK_GM_DONE,                  /* every group has an answer */
	GK_GM_CLOSED,                /* the GCKS closed the IKE SA */
	GK_GM_REKEYED,               /* GSA_INBAND_REKEY: new SAs (state) and/or deletions */
	GK_GM_DEAD,                  /* no answer to a liveness check: the IKE SA is gone (`retry_ms`) */
	GK_GM_EXCLUDED,              /* the GCKS closed the IKE SA that carried this group's rekeys (no
				      * Rekey SA): the member is excluded and must register again
				      * (RFC 9838 2.3.3); comes before GK_GM_CLOSED, once per group */
} gk_gm_event_type;

/* A Delete payload entry (RFC 9838 2.4.3): SPI all zero means every SA of the protocol. */
typedef struct gk_gm_delete {
	uint8_t proto;
	uint8_t spi[16];
	size_t spi_len;
} gk_gm_delete;

typedef struct gk_gm_event {
	gk_gm_event_type type;
	size_t group;                /* index in config groups */
	uint16_t notify;
	const char *why;
	const gk_group_state *state; /* GK_GM_REGISTERED, GK_GM_REKEYED; valid during the callback */
	bool transport_mode;
	const gk_gm_delete *dels;    /* GK_GM_REKEYED */
	size_t ndel;
	uint32_t msg_id;
	int64_t retry_ms;            /* GK_GM_FAILED, GK_GM_DEAD: next registration in, 0 = none */
} gk_gm_event;

typedef struct gk_gm_env {
	const gk_rand *rnd;
	gk_clock clock;
	void (*send)(void *ctx, const uint8_t *data, size_t len);
	void *send_ctx;
	void (*event)(void *ctx, const gk_gm_event *ev);
	void *event_ctx;
	/* A NAT lies between us and the GCKS (RFC 7296 2.23): from the next datagram on, send to
	 * the GCKS's port 4500 with the non-ESP marker (with send_ctx; NULL = cannot move). */
	void (*nat_t)(void *ctx);
	/* Sends one NAT-keepalive (the single octet 0xFF, no marker, RFC 3948 2.3) to the GCKS's
	 * port 4500 (with send_ctx; NULL = none are sent). */
	void (*keepalive)(void *ctx);
	/* The registration moves to key server `index` (0 to nservers - 1, first 0) of the
	 * caller's list (with send_ctx): from the next datagram on, send there. The caller fills
	 * *local and *gcks for the NAT_DETECTION hashes toward it (family 0: none). why: what made
	 * it move. gk_gm_server still names the one it leaves. NULL: one key server, no failover. */
	void (*server)(void *ctx, size_t index, const char *why, struct sockaddr_storage *local,
		       struct sockaddr_storage *gcks);
	gk_keylog *keylog;           /* --ike-keylog (not owned); NULL: off */
} gk_gm_env;

typedef struct gk_gm gk_gm;

gk_status gk_gm_new(const gk_gm_config *cfg, const gk_gm_env *env, gk_gm **out);
void gk_gm_free(gk_gm *gm);
/* Starts registration (IKE_SA_INIT). */
gk_status gk_gm_start(gk_gm *gm);
void gk_gm_input(gk_gm *gm, const uint8_t *data, size_t len);
/* Retransmissions and give-up; call every ~100 ms. */
void gk_gm_tick(gk_gm *gm);
/* Leaves a group over the registration IKE SA (RFC 9838 2.3.2: IDg with NO_PROPOSAL_CHOSEN).
 * GK_E_STATE while another request (a liveness check, say) is outstanding. */
gk_status gk_gm_leave(gk_gm *gm, size_t group);
/* Is this datagram for this member core's IKE SA? (several cores may share a socket) */
bool gk_gm_owns(const gk_gm *gm, const uint8_t *data, size_t len);
/* Rekeys the IKE SA kept for inband rekeys now (CREATE_CHILD_SA, RFC 7296 1.3.2), as at the
 * end of its lifetime. GK_E_STATE when no SA is kept or a request is outstanding. */
gk_status gk_gm_rekey_ike(gk_gm *gm);
/* The member's current IKE SA (SPIs, keys, Message IDs), read-only: for tests and diagnostics. */
const gk_ike_sa *gk_gm_ike_sa(const gk_gm *gm);
/* The key server (index in the caller's list) this core talks to now. */
size_t gk_gm_server(const gk_gm *gm);
/* Milliseconds until gk_gm_tick has work, -1 when idle. */
int64_t gk_gm_next_timeout(const gk_gm *gm);
/* The wait before registration attempt `attempt` + 1 after a failure (attempt 0 = the first
 * retry): retry_ms doubled per attempt up to retry_max_ms, minus up to 1/4 random jitter so
 * members do not return in step; retry_max_ms (with jitter) after a permanent refusal
 * (notify AUTHORIZATION_FAILED, INVALID_GROUP_ID, AUTHENTICATION_FAILED). 0 if retry_ms is 0. */
int64_t gk_gm_retry_delay(const gk_gm_config *cfg, const gk_rand *rnd, unsigned attempt, uint16_t notify);

#endif
