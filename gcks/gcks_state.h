/* The state of the GCKS core that its modules share: struct gk_gcks and the groups, IKE SAs,
 * sources and pending datagrams it owns, with the injected clocks. One header rather than one
 * per module: each module keeps its part of struct gk_gcks (the SA table its buckets, the
 * sources their chains, ...), but they are fields of the one object every call gets, and the
 * SA and the group are records several modules fill in turn (the SA table links an SA, the
 * handlers authenticate it, rekey tags it with groups). The comments say which module keeps
 * which fields; the modules' functions are in their own headers (gcks/README.md has the
 * layers). Not for use outside gcks/ and its tests. */
#ifndef GK_GCKS_STATE_H
#define GK_GCKS_STATE_H

#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "gcks.h"
#include "auth.h"
#include "group_sa.h"
#include "ike_req.h"
#include "ike_sa.h"
#include "prf.h"
#include "message.h"

/* A group as the running GCKS holds it: its policy and the current keys of its SAs.
 * Owns pol (freed with gk_group_policy_free) and keys. */
typedef struct gcks_group {
	gk_group_policy pol;
	int64_t generation;
	gk_sa_key keys[GK_GROUP_MAX_SAS]; /* TEKs in policy order, then the Rekey SA */
	size_t nkeys;
	uint32_t registered;              /* members registered (from the store) */
	uint64_t hash;                    /* of the name: tags the IKE SAs registered to it */
	bool rekey_due;                   /* `gcksctl rekey` or a policy change asked for one */
	uint8_t next_spi[GK_GROUP_MAX_SAS][16]; /* announced in GSA_NEXT_SPI, used by the next rekey */
	/* Member lookup by identity (gcks_group_member): open addressing over pol.members, built on
	 * first use and again whenever pol.members is replaced. Owned. */
	uint32_t *member_slots;           /* index + 1 into member_base, 0 = empty */
	size_t member_mask;
	const gk_member_policy *member_base;
	size_t member_count;
	/* The key tree of a multicast group with key-management lkh (gcks_lkh.h), NULL otherwise.
	 * Owned; loaded from the store with the group, changed only through gk_keys_lkh_*. */
	struct gk_lkh *lkh;
	gk_group_counters ctr;            /* kept by registration (gcks_reg.c) and rekey (gcks_rekey.c) */
	/* The rekey lease (gcks_cluster.c): this server leads the group's rekeys until lease_until_ms
	 * (monotonic) when leads; lease_epoch is the lease's epoch when it was last taken or renewed. */
	bool leads;
	int64_t lease_epoch, lease_until_ms;
} gcks_group;

#define GCKS_SA_GROUPS 8
#define GCKS_MAX_PENDING 64

/* One IKE SA as the GCKS holds it. Owned by the SA table. */
typedef struct gcks_sa {
	gk_ike_sa ike;
	gk_ident_held *peer_id;           /* the identity that authenticated it, owned (one reference) */
	struct gcks_sa *next_r;           /* chain by our SPI (spi_r), gcks_sa_table.c */
	struct gcks_sa *next_i;           /* chain by the peer's SPI while half-open */
	/* one bit each: an established SA keeps them for life */
	bool half_open : 1;
	bool g_ikev2 : 1;                 /* established through GSA_AUTH (not plain IKE_AUTH) */
	bool psk_auth : 1;                /* the member authenticated with a PSK */
	bool ppk_offered : 1;             /* the member sent USE_PPK in IKE_SA_INIT and we answered it */
	bool ppk_used : 1;                /* the keys were updated with the member's PPK (RFC 8784 3) */
	bool rekey_queued : 1;            /* another inband rekey waits for the outstanding one */
	bool closing : 1;                 /* our Delete of the IKE SA is out, or the peer is gone */
	bool superseded : 1;              /* rekeyed (RFC 7296 2.18): waits for its Delete */
	bool int_offered : 1;             /* the member sent INTERMEDIATE_EXCHANGE_SUPPORTED (RFC 9242) */
	bool by_rekey : 1;                /* made by a rekey (RFC 7296 2.18), at ike.created_ms */
	/* RFC 9838 2.3.4: the credential that authenticated the peer; a group authorizes the SA only
	 * when it lists the identity with this same credential (gcks_member_cred_matches). Beside
	 * the flags, with init_resends, so that the struct has no holes. */
	uint8_t cred_auth;                /* gk_member_auth, 0 until authenticated */
	uint8_t cred_hash[32];            /* SHA-256 of the PSK or SubjectPublicKeyInfo; 0s for certs */
	unsigned init_resends;            /* IKE_SA_INIT responses sent again (half-open) */
	int64_t deadline_ms;              /* half-open expiry or idle close */
	uint64_t groups[GCKS_SA_GROUPS];  /* hashes of the groups registered over this SA (inband) */
	gk_ike_req *out_req;              /* our outstanding request (GSA_INBAND_REKEY, CREATE_CHILD_SA,
					   * Delete) and its retransmissions, owned; NULL = none */
	gk_ike_resend resend;             /* the member's last request, to tell a retransmission from a
					   * forgery reusing its Message ID, and how often it was answered */
	uint64_t queued_group;
	uint64_t out_group;               /* the group our outstanding GSA_INBAND_REKEY updates */
	int64_t last_seen_ms;             /* when the member last sent us a valid message */
	/* half-open bookkeeping (gcks_sources.c): age order, in all and in the source */
	struct gcks_sa *ho_prev, *ho_next;
	struct gcks_sa *src_prev, *src_next;
	struct gcks_src *src;
	int64_t init_resend_ms;
	struct gcks_sa *next_id, **pprev_id; /* index of established SAs by peer_id (gcks_peers.c) */
	uint64_t admitted;                /* order of admission to that index: lower is older */
	struct gcks_ike_rekey *rk;        /* our CREATE_CHILD_SA out on this SA (gcks_ikerekey.c), owned */
	struct gcks_sa *collided;         /* the SA the member made by rekeying this one while our
					   * rekey was out (RFC 7296 2.8.2); in the table, not owned */
	struct gcks_sa *collision_of;     /* the reverse link */
	int64_t rekey_at_ms;              /* when we rekey this kept SA ourselves, 0 = not planned */
	uint64_t path;                    /* reply path (gk_gcks_input_path), 0 = datagrams from local */
	int64_t due_ms;                   /* when the SA scan has something to do on it (gcks_timers.h) */
	uint32_t heap_pos;                /* its place in the timer heap plus one, 0 = not in it */
} gcks_sa;

/* What one source holds or spent before authentication: an IPv4 address or an IPv6 /64 (a host
 * usually owns a whole /64, so counting its addresses one by one would bound nothing). Owned by
 * the gcks's source table; freed once it has no half-open SA and its costly key exchange
 * bucket is full again (at most costly_ke_rate such entries are made a second). */
typedef struct gcks_src {
	struct gcks_src *next;
	uint8_t key[9];                   /* family (4 or 6), then the address or the /64 prefix */
	unsigned half_open;
	struct gcks_sa *oldest, *newest;  /* its half-open SAs in order of creation */
	gk_frag_account frag;             /* fragments parked on them (cfg.frag_source_max) */
	uint32_t costly_tokens;           /* thousandths of a costly key exchange it may start */
	int64_t costly_ms;                /* when costly_tokens was last topped up */
} gcks_src;

typedef struct gcks_inband_job gcks_inband_job;

/* GSA_REKEY datagrams waiting for their next copy (RFC 9838 2.4.1.3). Owned by the gcks. */
typedef struct gcks_pending {
	gk_dgrams d;
	struct sockaddr_storage dst;
	uint16_t sport;
	uint8_t ttl;
	char iface[16];
	unsigned copies_left, interval_ms;
	int64_t next_ms;
	char group[GK_IDENT_TEXT_MAX];    /* for the log line of each copy (gcks_log_multicast) */
	uint32_t msgid;
	unsigned copies;
} gcks_pending;

struct gk_gcks {
	gk_gcks_config cfg;
	gk_gcks_env env;
	gk_ident id;
	EVP_PKEY *sign_key;               /* signs AUTH (certificate members) and GSA_REKEY */
	gk_sig_scheme sign_scheme;
	uint8_t spki[1024];               /* DER SubjectPublicKeyInfo of sign_key (AUTH_KEY) */
	size_t spki_len;
	uint8_t *cert_der;                /* our certificate, sent in CERT */
	size_t cert_der_len;
	X509_STORE *ca;                   /* trust anchors for member certificates */
	uint8_t ca_keyid[20];             /* SHA-1 of the CA's SubjectPublicKeyInfo, for CERTREQ */
	bool have_ca_keyid;
	gcks_group *groups;
	size_t ngroups;
	gcks_sa **by_r, **by_i;           /* the SA table's buckets: gcks_sa_table.c only */
	size_t nbuckets, nsas, nhalf;
	gcks_sa **timer_heap;             /* the SAs by due_ms (gcks_timers.c only), owned array */
	size_t ntimers, timers_cap;
	EVP_CIPHER_CTX *hash_key;         /* AES-128 under a per-process random key, for tables
					  * keyed by what peers choose (gcks_keyhash.c) */
	gk_ike_resend_key *resend_key;    /* what requests are noted under for their retransmissions */
	gcks_sa *ho_oldest, *ho_newest;   /* half-open SAs in order of creation */
	gcks_src **srcs;                  /* sources with half-open SAs, chained by keyed hash */
	size_t nsrc_buckets;
	int64_t init_window_ms;           /* IKE_SA_INIT requests in this second and the last */
	unsigned init_count, init_count_prev;
	int64_t costly_window_ms;         /* costly key exchanges done in this second */
	unsigned costly_count;
	uint8_t cookie_secret[32], cookie_prev[32];
	gk_prf_keyed *cookie_mac, *cookie_mac_prev; /* keyed with them, made at first use; owned */
	int64_t cookie_rotated_ms;
	int64_t sa_scan_ms;
	uint8_t announce_spki[1024];      /* a new AUTH_KEY the next rekeys carry (key rollover) */
	size_t announce_spki_len;
	gcks_pending *pending[GCKS_MAX_PENDING];
	struct gcks_dh_cache *dh_cache;  /* reused IKE_SA_INIT key pairs (gcks_dh_cache.c), NULL: none */
	struct gcks_inband_job *inband_jobs; /* inband rekeys being sent, in order (gcks_rekey.c) */
	gk_gcks_stats stats;
	gcks_sa **by_id;                  /* gcks_peers.c */
	size_t id_buckets, nid;
	uint64_t id_admitted;
	bool refusal_started;             /* token bucket of refusal log lines (gcks_refusal.c) */
	int64_t refusal_ms;
	uint64_t refusal_tokens;          /* thousandths of a line */
	uint64_t refusals_unlogged;
	gk_frag_pool frag_pool;           /* fragments parked on all SAs (cfg.frag_total_max) */
	/* Several servers on one shared store (gcks_cluster.c) */
	bool store_lost;                  /* the shared store failed: no keys, no rekeys */
	uint64_t store_lost_count;        /* times store_lost went true */
	int64_t cluster_ms;               /* last heartbeat and lease round (monotonic), 0: none yet */
	uint64_t in_path;                 /* the reply path of the message being handled (gcks_send) */
	struct gcks_held *held;           /* responses waiting for the store's batch (gcks_core.c), */
	size_t nheld;                     /* GCKS_HELD_MAX of them, owned */
};

/* The injected clocks: monotonic milliseconds, and wall-clock seconds for key lifetimes. */
static inline int64_t gcks_now(const gk_gcks *g)
{
	return gk_clock_now_ms(&g->env.clock);
}

static inline int64_t gcks_wall(const gk_gcks *g)
{
	return gk_clock_wall(&g->env.clock);
}

/* Our SPI of the SA: the responder's, or the initiator's for an SA we made by rekeying it
 * (RFC 7296 2.18: the rekey's initiator is the new SA's original initiator). The SA table is
 * keyed by it. */
static inline uint64_t gcks_our_spi(const gcks_sa *sa)
{
	return sa->ike.initiator ? sa->ike.spi_i : sa->ike.spi_r;
}

/* Keeps a copy of the identity that authenticated the SA (its own allocation, as long as the
 * identity: an open SA holds no 257-octet gk_ident). */
static inline gk_status gcks_sa_hold_peer(gcks_sa *sa, const gk_ident *id)
{
	gk_ident_held_unref(sa->peer_id);
	sa->peer_id = gk_ident_hold(id);
	return sa->peer_id ? GK_OK : GK_E_NOMEM;
}

/* The identity that authenticated the SA as text (buf: GK_IDENT_TEXT_MAX); "" before. */
static inline char *gcks_sa_peer_text(const gcks_sa *sa, char *buf)
{
	gk_ident id;
	return gk_ident_text(gk_ident_held_get(sa->peer_id, &id), buf);
}

/* Sends one message to a peer: on the stream `path` when it is one (TCP, RFC 9329), else as a
 * datagram from local. Every send of the core goes through here. */
static inline void gcks_send(const gk_gcks *g, uint64_t path, const struct sockaddr *local,
			     const struct sockaddr *peer, const uint8_t *data, size_t len)
{
	if (path && g->env.send_path)
		g->env.send_path(g->env.send_ctx, path, data, len);
	else
		g->env.send(g->env.send_ctx, local, peer, data, len);
}

#endif
