/* Group policy as gcksd and gcksctl hold it in memory. Policy files (policy_yaml.c) produce it,
 * the store (storage.h) persists and loads it; nothing else defines what a group is.
 * A gk_group_policy owns every array and secret it points to: gk_group_policy_free() wipes
 * PSKs and releases everything. Member identities and shared PSKs are held by reference count
 * (copies of a policy share them); a secret is wiped when its last holder lets go. */
#ifndef GK_POLICY_H
#define GK_POLICY_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include "chunk.h"
#include "ident.h"
#include "group_sa.h"

#define GK_NAME_MAX 64

typedef enum gk_role { GK_ROLE_RECEIVER = 1, GK_ROLE_SENDER = 2 } gk_role;
typedef enum gk_member_auth { GK_MAUTH_PSK = 1, GK_MAUTH_CERT, GK_MAUTH_PUBKEY } gk_member_auth;
typedef enum gk_rekey_transport { GK_REKEY_MULTICAST = 1, GK_REKEY_INBAND } gk_rekey_transport;
/* How a multicast group's Rekey SA key reaches members (RFC 9838 3.2): under the default KWK
 * (simple), or through a logical key hierarchy (lkh, Appendix A) so that evictions need no
 * re-registration. */
typedef enum gk_key_mgmt { GK_KEYMGMT_SIMPLE = 0, GK_KEYMGMT_LKH = 1 } gk_key_mgmt;
/* Post-quantum preshared keys (RFC 8784) in a group: not used, used when the member has one
 * (a member without falls back to NO_PPK_AUTH), or required (no registration without). */
typedef enum gk_ppk_mode { GK_PPK_NONE = 0, GK_PPK_OPTIONAL = 1, GK_PPK_REQUIRED = 2 } gk_ppk_mode;

#define GK_PSK_PAD_MAX 64 /* the longest PRF output (HMAC-SHA2-512), EVP_MAX_MD_SIZE */

/* A PSK that several member entries list (a policy that gives a block of members one psk-file):
 * one copy, wiped and freed with its last holder. The key is immutable once made. Beside it,
 * its key pad prf(PSK, "Key Pad for IKEv2") (RFC 7296 2.15) under the PRF pad_prf, made by
 * gcksd at the first PSK AUTH with that PRF (0 = none yet; another PRF replaces it), so that
 * the members after the first do not make it again: as secret as the PSK, never logged, wiped
 * and freed with it. */
typedef struct gk_secret_held {
	uint32_t refs;
	uint16_t pad_prf;
	uint8_t pad_len;
	uint8_t pad[GK_PSK_PAD_MAX];
	uint8_t data[];
} gk_secret_held;

/* An identity authorized to join a group. A gcksd holds one per listed member for as long as
 * the policy is loaded, so the entry keeps the identity at its own length (one reference-counted
 * allocation, shared by copies of the policy) rather than a 257-octet gk_ident. */
typedef struct gk_member_policy {
	gk_ident_held *id;       /* owned (one reference); NULL only while a policy file is read */
	uint8_t *psk;            /* GK_MAUTH_PSK: owned, wiped on free; psk_held->data when shared */
	gk_secret_held *psk_held; /* the shared PSK psk points into (one reference), NULL: psk owned */
	uint8_t *pubkey;         /* GK_MAUTH_PUBKEY: DER SubjectPublicKeyInfo, owned */
	uint8_t *ppk;            /* RFC 8784 PPK, NULL if none: owned, wiped on free */
	uint8_t *ppk_id;         /* its PPK_ID (the octets after the PPK_ID_FIXED type), owned */
	uint32_t psk_len, pubkey_len, ppk_len, ppk_id_len; /* octets (each far below 2^32) */
	uint32_t max_sender_ids; /* upper bound of Sender-IDs per registration (senders) */
	uint8_t auth;            /* gk_member_auth */
	uint8_t role;            /* gk_role */
} gk_member_policy;

/* A Data-Security SA (ESP or AH). */
typedef struct gk_tek_policy {
	char name[GK_NAME_MAX];
	uint8_t proto;           /* GK_PROTO_ESP / GK_PROTO_AH */
	uint16_t encr, encr_key_bits, integ, sn; /* encr 0 for AH; integ 0 with AEAD */
	gk_ts_spec src, dst;
	uint32_t lifetime;       /* seconds */
} gk_tek_policy;

/* The Rekey SA (GIKE_UPDATE) and how GSA_REKEY messages travel. */
typedef struct gk_kek_policy {
	bool present;
	uint16_t encr, encr_key_bits, integ, kwa;
	uint16_t gcauth;         /* GK_GCAUTH_* */
	int sig_scheme;          /* gk_sig_scheme, with GK_GCAUTH_DIGITAL_SIGNATURE */
	gk_ts_spec src, dst;     /* dst: the multicast group address and port of GSA_REKEY; src: where
				  * it leaves from (gk_kek_src_is_gcks: the GCKS's own address) */
	uint32_t lifetime;
	uint8_t ttl;
	char iface[IF_NAMESIZE];
	uint16_t copies;         /* how often each rekey message is sent */
	uint32_t interval_ms;    /* between copies */
	uint16_t frag_mtu;       /* IP datagram size GSA_REKEY fragments stay within; 0 = never */
	uint8_t key_mgmt;        /* gk_key_mgmt */
	uint8_t lkh_degree;      /* children per node of the key tree (lkh), 2 .. 16 */
} gk_kek_policy;

typedef struct gk_group_policy {
	char name[GK_IDENT_TEXT_MAX]; /* canonical text of the group ID, e.g. "keyid:video-1" */
	gk_ident id;              /* IDg */
	uint32_t capacity;        /* registered members at most; 0 = unlimited */
	gk_rekey_transport rekey_transport;
	bool transport_mode;      /* USE_TRANSPORT_MODE, else tunnel mode with address preservation */
	uint16_t atd, dtd;        /* seconds (GWP_ATD / GWP_DTD); 0 = not sent */
	uint16_t sender_id_bits;  /* GWP_SENDER_ID_BITS; 0 = not sent */
	uint8_t rekey_margin_pct; /* replace SAs when this share of the lifetime is left */
	uint32_t ike_idle_timeout; /* seconds before the GCKS closes an unused registration IKE SA */
	uint32_t max_packet_rate; /* packets/s one sender sends on an SA at most: bounds the lifetime
				   * of single-sender SAs so 32-bit sequence numbers never wrap */
	uint8_t ppk;              /* gk_ppk_mode */
	/* RFC 9370: the additional key exchanges a member's IKE SA must have run to get the group's
	 * keys (additional-key-exchanges), each a GK_KE_* method; 0 = none required */
	uint16_t addke[GK_ADDKE_MAX];
	uint8_t naddke;
	gk_kek_policy kek;
	gk_tek_policy *teks;
	size_t nteks;
	gk_member_policy *members;
	size_t nmembers;
} gk_group_policy;

/* Does the Rekey SA's source selector stand for "the GCKS's own address" (policy `source:
 * gcks`, the default)? Stored as the unspecified address (0.0.0.0 or ::, RFC 1122 "this host")
 * as a single address; gcksd puts the address GSA_REKEY leaves from into each GSA it sends
 * (RFC 9838 4.4.2: the source selector SHOULD be a single address and port). */
bool gk_kek_src_is_gcks(const gk_ts_spec *src);

void gk_group_policy_free(gk_group_policy *g);
/* Wipes a member's secrets (PSK, PPK), frees what it owns and zeroes it. */
void gk_member_policy_wipe(gk_member_policy *m);
/* Deep copy (secrets included). */
gk_status gk_group_policy_copy(const gk_group_policy *src, gk_group_policy *dst);
const gk_member_policy *gk_group_policy_member(const gk_group_policy *g, const gk_ident *id);
/* Sets the member's identity (a held copy of id, replacing any it had). GK_E_NOMEM. */
gk_status gk_member_policy_set_id(gk_member_policy *m, const gk_ident *id);
/* The member's identity expanded into *out (returns out); the empty identity when unset. */
const gk_ident *gk_member_policy_id(const gk_member_policy *m, gk_ident *out);
/* When m lists the same PSK as prev (the entry before it), m drops its copy (wiped) and shares
 * prev's, which becomes a shared one if it was not: a policy that gives many members one
 * psk-file holds that key once. Compares in constant time. GK_E_NOMEM (m unchanged). */
gk_status gk_member_policy_share_psk(gk_member_policy *m, gk_member_policy *prev);
/* Is the member's identity id (gk_ident_eq)? */
bool gk_member_policy_is(const gk_member_policy *m, const gk_ident *id);
/* Does any TEK use a counter-mode cipher (so senders need Sender-IDs, RFC 9838 2.5)? */
bool gk_group_policy_counter_mode(const gk_group_policy *g);

#endif
