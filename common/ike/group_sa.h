/* What a registration or a rekey delivers for one group (RFC 9838 4.4, 4.5): the group SAs with
 * their policy and keying material, group-wide policy and member-specific keys. The GCKS fills
 * one and encodes it as GSA + KD payloads; the member decodes and verifies the payloads back into
 * one. gk_group_state owns everything it holds (keymat and keys are wiped by
 * gk_group_state_wipe). */
#ifndef GK_GROUP_SA_H
#define GK_GROUP_SA_H

#include "ident.h"
#include "arena.h"
#include "payloads.h"

#define GK_GROUP_MAX_SAS 16
#define GK_GROUP_MAX_SENDER_IDS 64
#define GK_GROUP_MAX_NEXT_SPI 4
#define GK_KEYMAT_MAX 256
/* The longest RFC 7427 AlgorithmIdentifier gk_sig_algid gives: RSASSA-PSS, 72 octets */
#define GK_SIG_ALGID_MAX 96

/* An address range with protocol and ports: one side of a traffic selector. */
typedef struct gk_ts_spec {
	uint8_t family;          /* 4 or 6 */
	uint8_t start[16], end[16];
	uint8_t ip_proto;        /* 0 = any */
	uint16_t port_lo, port_hi;
} gk_ts_spec;

/* Octets of a gk_ts_spec address: 4 for IPv4, else 16 (an unused selector, family 0, keeps all
 * 16 so stored and compared forms do not lose octets). */
size_t gk_ts_addr_len(uint8_t family);
/* Same family, addresses, protocol and ports. */
bool gk_ts_eq(const gk_ts_spec *a, const gk_ts_spec *b);

typedef struct gk_group_sa {
	uint8_t proto;           /* GK_PROTO_ESP, GK_PROTO_AH or GK_PROTO_GIKE_UPDATE */
	uint8_t spi[16];
	size_t spi_len;
	gk_ts_spec src, dst;
	uint16_t encr, encr_key_bits, integ, sn;   /* sn: ESP/AH only */
	uint16_t kwa, gcauth;    /* GIKE_UPDATE only; gcauth 0 = not sent (rekey messages) */
	uint8_t sig_algid[GK_SIG_ALGID_MAX]; /* Signature Algorithm Identifier with GCAUTH Digital Signature */
	size_t sig_algid_len;
	uint32_t lifetime;       /* GSA_KEY_LIFETIME; 0 = not sent */
	uint32_t initial_msgid;  /* GSA_INITIAL_MESSAGE_ID; 0 = not sent */
	uint8_t next_spi[GK_GROUP_MAX_NEXT_SPI][16];
	size_t n_next_spi;
	uint8_t keymat[GK_KEYMAT_MAX];
	size_t keymat_len;
} gk_group_sa;

/* Key hierarchies (RFC 9838 3.3, 4.5.3.1, Appendix A). Key ID 0 names an SA's keying material,
 * KWK ID 0 the default key wrap key GSK_w (RFC 9838 4.5.4). */
#define GK_KEY_ID_SA 0
#define GK_KWK_ID_DEFAULT 0
#define GK_KH_KEY_MAX 32         /* largest key of a Key Wrap Algorithm: KW_5649_256 */
#define GK_KH_MAX_WRAPPED 1024   /* WRAP_KEY plus extra SA_KEY attributes in one message */

/* An intermediate key of a hierarchy: what a WRAP_KEY carries once unwrapped. */
typedef struct gk_kh_key {
	uint32_t id;             /* never 0 */
	uint8_t key[GK_KH_KEY_MAX];
	size_t len;
} gk_kh_key;

/* A wrapped key as it travels in an SA_KEY or WRAP_KEY attribute: the IDs and the whole
 * attribute value (Key ID | KWK ID | Encrypted Key). value points into memory owned by the
 * message arena it was decoded from or is encoded into. */
typedef struct gk_kh_wrapped {
	uint32_t key_id, kwk_id;
	gk_chunk value;
} gk_kh_wrapped;

/* A Key Path (RFC 9838 3.3) as a member keeps it, its Working Key Path for a group: keys[0] is
 * the key nearest the SA keys (the root of an LKH tree), each next key the one that wrapped the
 * one before, keys[n - 1] the member's own key (the one it got under GSK_w at registration).
 * GK_KH_MAX_DEPTH bounds every key path a member builds or keeps: 32 levels are a binary tree of
 * 2^32 members, and no key path a GCKS needs is longer. */
#define GK_KH_MAX_DEPTH 32
typedef struct gk_key_path {
	gk_kh_key keys[GK_KH_MAX_DEPTH];
	size_t n;
} gk_key_path;

typedef struct gk_group_state {
	gk_group_sa sas[GK_GROUP_MAX_SAS];
	size_t nsas;
	bool has_gw;             /* a GW policy substructure is present */
	uint16_t atd, dtd, sender_id_bits; /* 0 = attribute absent */
	bool has_atd, has_dtd, has_sender_id_bits;
	uint32_t sender_ids[GK_GROUP_MAX_SENDER_IDS];
	size_t nsender_ids;
	uint8_t auth_key[1024];  /* AUTH_KEY: DER SubjectPublicKeyInfo */
	size_t auth_key_len;
	/* Key hierarchy: the member key bag's WRAP_KEY attributes, and the Rekey SA's SA_KEYs
	 * wrapped under intermediate keys (KWK ID != 0; same keying material under each). The
	 * arrays and values live in a message arena. */
	const gk_kh_wrapped *wrap_keys;
	size_t nwrap_keys;
	const gk_kh_wrapped *kh_sa_keys;
	size_t nkh_sa_keys;
	/* Member side: the Working Key Path for the group after this message, as
	 * gk_key_path_open_state leaves it (RFC 9838 3.3); empty without a key hierarchy. */
	gk_key_path wkp;
} gk_group_state;

typedef enum gk_gsa_context {
	GK_GSA_REGISTRATION,     /* GSA_AUTH / GSA_REGISTRATION: GCAUTH and member key bag allowed */
	GK_GSA_REKEY,            /* GSA_REKEY / GSA_INBAND_REKEY */
} gk_gsa_context;

/* Encodes GSA and KD payload bodies. SA keys are wrapped (Key ID 0, KWK ID 0) under kwk with
 * kwa. Memory of the payloads comes from the arena. */
gk_status gk_group_state_encode(const gk_group_state *gs, gk_gsa_context ctx, uint16_t kwa,
				gk_chunk kwk, gk_arena *a, gk_pl_gsa *gsa, gk_pl_kd *kd);

/* Decodes and verifies GSA and KD: every SA has exactly its keys (sizes matching the transforms),
 * transforms are valid for the protocol (RFC 9838 4.4.2.1), attributes are well-formed.
 * On failure err (GK_ERR_MAX octets are enough) names the problem; on success it is emptied. */
gk_status gk_group_state_decode(const gk_pl_gsa *gsa, const gk_pl_kd *kd, gk_gsa_context ctx,
				uint16_t kwa, gk_chunk kwk, gk_group_state *out, char *err, size_t errlen);

/* The same, accepting key hierarchies (RFC 9838 3.3, 4.5.3.1): the Rekey SA's SA_KEYs under
 * intermediate KWKs (KWK ID != 0; at registration the only one, in a rekey any number) go to
 * out->kh_sa_keys, WRAP_KEY attributes of the member key bag (Key ID != 0, only with a Rekey SA
 * in the GSA payload) to out->wrap_keys; their arrays come from arena, their values point
 * into the payloads: both must outlive out's use of them. At most GK_KH_MAX_WRAPPED in all;
 * a (Key ID, KWK ID) pair given twice is refused. Nothing is unwrapped but the SA_KEYs under
 * kwk: gk_key_path_open_state (key_path.h) opens the rest. gk_group_state_decode is this with
 * no arena: it refuses both kinds of attribute. */
gk_status gk_group_state_decode_kh(const gk_pl_gsa *gsa, const gk_pl_kd *kd, gk_gsa_context ctx,
				   uint16_t kwa, gk_chunk kwk, gk_arena *arena, gk_group_state *out, char *err,
				   size_t errlen);

void gk_group_state_wipe(gk_group_state *gs);

/* A GCKS fills a fresh state once per registration: gk_group_state_clear() empties it (every
 * count, flag and pointer zero) without writing the arrays behind the counts (12 KB, most of it
 * the SA slots; whoever fills sas[nsas] zeroes that slot first), and
 * gk_group_state_wipe_filled() cleanses what such a state holds: its SAs up to nsas (their
 * keymat) and every field outside the arrays. Only for states made this way: a decoded one
 * (member side) is wiped whole with gk_group_state_wipe. */
void gk_group_state_clear(gk_group_state *gs);
void gk_group_state_wipe_filled(gk_group_state *gs);

void gk_ts_spec_to_ts(const gk_ts_spec *t, gk_ts *out);
gk_status gk_ts_spec_from_ts(const gk_ts *ts, gk_ts_spec *out);
/* "192.0.2.0/24" or "192.0.2.1-192.0.2.9", for logs and JSON. */
char *gk_ts_spec_text(const gk_ts_spec *t, char *buf, size_t len);

#endif
