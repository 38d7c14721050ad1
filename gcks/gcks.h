/* The GCKS protocol core: IKE_SA_INIT, GSA_AUTH, IKE_AUTH (childless), GSA_REGISTRATION and
 * INFORMATIONAL as a responder. It owns no socket, clock or randomness: the daemon (or a unit
 * test) feeds datagrams in and gets datagrams out through gk_gcks_env, so a test can run a GCKS
 * and members in one process, deterministically. A gk_gcks owns its IKE SAs and group cache;
 * it does not own env->store. */
#ifndef GK_GCKS_H
#define GK_GCKS_H

#include <sys/socket.h>
#include "proposal.h"
#include "clock.h"
#include "rand.h"
#include "storage.h"
#include "keylog.h"

typedef struct gk_gcks gk_gcks;

typedef struct gk_gcks_env {
	const gk_rand *rnd;
	gk_clock clock;                         /* monotonic ms; wall seconds for key lifetimes, records */
	/* Sends one datagram from our local address to the peer. */
	void (*send)(void *ctx, const struct sockaddr *local, const struct sockaddr *peer,
		     const uint8_t *data, size_t len);
	void *send_ctx;
	/* Sends one IKE message on a stream the member opened (TCP encapsulation, RFC 9329): path
	 * is what gk_gcks_input_path named, kept per IKE SA as its reply path (with send_ctx).
	 * NULL: no such transport (every path is 0). */
	void (*send_path)(void *ctx, uint64_t path, const uint8_t *data, size_t len);
	gk_store *store;
	/* Sends one GSA_REKEY datagram to a group's multicast destination (RFC 9838 2.4.1), with
	 * the TTL / hop limit and outgoing interface of its policy, from UDP port sport (the Rekey
	 * SA's source selector; 0 = any). NULL: multicast rekey unavailable. */
	void (*send_multicast)(void *ctx, const struct sockaddr *dst, uint16_t sport, uint8_t ttl,
			       const char *iface, const uint8_t *data, size_t len);
	/* The address GSA_REKEY to dst via iface from sport leaves from, for a Rekey SA whose source
	 * is the GCKS's own (gk_kek_src_is_gcks); GK_OK with *src set. NULL or an error: the GSA
	 * names any address. */
	gk_status (*rekey_source)(void *ctx, const struct sockaddr *dst, uint16_t sport, const char *iface,
				  struct sockaddr_storage *src);
	gk_keylog *keylog;                      /* --ike-keylog (not owned); NULL: off */
} gk_gcks_env;

#define GK_GCKS_DH_REUSE_MAX 100000
#define GK_GCKS_DH_REUSE_S_MAX 300

typedef struct gk_gcks_config {
	gk_ike_offer offer;              /* IKE SA algorithms accepted; kwa_required: --require-kwa */
	unsigned cookie_threshold;       /* half-open SAs above which COOKIE is required */
	unsigned cookie_rate;            /* IKE_SA_INIT requests per second above which COOKIE is
					  * required */
	unsigned cookie_per_source;      /* a source's half-open SAs from which its requests need a
					  * COOKIE (spoofed sources hold at most this many) */
	unsigned half_open_max;          /* half-open SAs in all; a new one evicts the oldest */
	unsigned half_open_per_source;   /* half-open SAs per source (IPv4 address, IPv6 /64); a
					  * new one evicts the source's oldest */
	unsigned half_open_timeout_ms;
	unsigned costly_ke_rate;         /* key exchanges of the costly groups (MODP, ECP-384/521,
					  * Curve448) per second; beyond it such requests are dropped */
	unsigned costly_ke_per_source;   /* the same per source, also its burst: one source cannot
					  * spend costly_ke_rate (invalid KE values make no SA) */
	unsigned init_resend_max;        /* copies of an IKE_SA_INIT response sent again per SA */
	unsigned init_resend_interval_ms; /* at least this long between two of them */
	unsigned max_sas;                /* IKE SAs in all */
	unsigned ike_idle_timeout_s;     /* default when a group's policy does not say */
	unsigned max_sender_ids_default; /* bound when a member's policy does not say */
	unsigned max_sas_per_identity;   /* established IKE SAs of one identity; the oldest goes */
	/* Memory a peer can make us hold before it authenticates (RFC 7296 2: requests up to
	 * 3000 octets SHOULD be processed; RFC 7383 2.6 leaves reassembly limits to us). */
	unsigned init_req_max;           /* octets of an IKE_SA_INIT request; larger ones are dropped */
	unsigned frag_sa_max;            /* octets of fragments parked per IKE SA */
	unsigned frag_source_max;        /* octets of fragments parked by one source's half-open SAs */
	unsigned frag_total_max;         /* octets of fragments parked over all IKE SAs; when full,
					  * the oldest incomplete set of another source goes */
	unsigned frag_timeout_ms;        /* an incomplete set of fragments is dropped after this */
	/* Cached responses resent for retransmitted requests (RFC 7296 2.1), per IKE SA: at most
	 * rtx_resend_max in rtx_window_ms, so replays cannot make us a reflector. */
	unsigned rtx_resend_max;
	unsigned rtx_window_ms;
	/* IKE SA rekeys (CREATE_CHILD_SA, RFC 7296 1.3.2) accepted per chain of rekeyed SAs: at most
	 * one in this many seconds; sooner ones get TEMPORARY_FAILURE (RFC 7296 2.25) */
	unsigned ike_rekey_min_interval_s;
	/* A kept IKE SA (inband groups) that its member has not rekeyed is rekeyed by the GCKS
	 * 0-10 % before this many seconds (members rekey 10-20 % before the same default); 0 = never */
	unsigned ike_lifetime_s;
	/* Several gcksd on one shared store (PostgreSQL): this server's id in the servers table and
	 * the lease it holds on the rekeys of the groups it leads (gcks_cluster.c). */
	char server_id[GK_SERVER_ID_MAX];
	/* This run's nonce in the servers table (gk_store_server_beat): gcksd claims the id with a
	 * random one before it starts the GCKS; empty: "unclaimed" (tests). */
	char server_instance[GK_SERVER_INSTANCE_MAX];
	/* RFC 7296 2.12: one IKE_SA_INIT key-exchange private value serves at most dh_reuse
	 * responses and dh_reuse_s seconds (gcks_dh_cache.c); 0 = a fresh one per IKE SA. Bounds
	 * (gcksd checks them): dh_reuse at most GK_GCKS_DH_REUSE_MAX, dh_reuse_s 1 to
	 * GK_GCKS_DH_REUSE_S_MAX (the forward-secrecy cost grows with both). */
	unsigned dh_reuse, dh_reuse_s;
} gk_gcks_config;

void gk_gcks_config_default(gk_gcks_config *c);

/* Loads the GCKS identity and all groups from the store. err gets a one-line reason. */
gk_status gk_gcks_new(const gk_gcks_config *cfg, const gk_gcks_env *env, gk_gcks **out,
		      char *err, size_t errlen);
void gk_gcks_free(gk_gcks *g);

/* One received datagram (without a non-ESP marker). */
void gk_gcks_input(gk_gcks *g, const uint8_t *data, size_t len, const struct sockaddr *peer,
		   const struct sockaddr *local);
/* The same for a message that came on a stream (path != 0: its connection, for env.send_path):
 * the answer and what the GCKS later sends on the IKE SA (GSA_INBAND_REKEY, Deletes) go back
 * on that path while it is the one the SA's last authenticated message came on. */
void gk_gcks_input_path(gk_gcks *g, const uint8_t *data, size_t len, const struct sockaddr *peer,
			const struct sockaddr *local, uint64_t path);
/* Group commit: a response that depends on a registration row the store batched is held;
 * gk_gcks_flush commits the store's batch and then sends every held response (a registration
 * whose row was lost gets REGISTRATION_FAILED instead, as when its write fails). Call it at the
 * end of every turn of the event loop that gave gk_gcks_input messages, and before
 * gk_gcks_free; it also runs by itself once GCKS_HELD_MAX responses are held. */
void gk_gcks_flush(gk_gcks *g);
/* Timers: expires half-open and idle IKE SAs. Call about once a second. */
void gk_gcks_tick(gk_gcks *g);
/* Once per event-loop turn: the next batch of work left (an inband rekey sent in batches, each
 * once most of the last is answered), and wiping a reused key-exchange value past its time.
 * While gk_gcks_busy (a batch may go now), the loop should not wait for I/O before the next
 * turn; otherwise answers or the tick wake it. */
void gk_gcks_continue(gk_gcks *g);
bool gk_gcks_busy(gk_gcks *g);
/* Re-reads group policies from the store (after `gcksctl policy load`); groups whose SAs changed
 * are rekeyed. */
gk_status gk_gcks_reload(gk_gcks *g);
/* After `gcksctl restore` (gk_keys_restore_epoch): excludes every group restored since, with new
 * keys for every SA, once; call when the sockets are open and before any input. Returns how
 * many groups it excluded. */
size_t gk_gcks_after_restore(gk_gcks *g);
/* Replaces the group's SAs now (gcksctl rekey). msg gets a one-line result. */
gk_status gk_gcks_rekey(gk_gcks *g, const char *group, char *msg, size_t msglen);
/* Rolls the signing key over: a new key of the same kind, announced as AUTH_KEY in a GSA_REKEY
 * signed with the current key, then used (gcksctl key rotate). */
gk_status gk_gcks_rotate_key(gk_gcks *g, char *msg, size_t msglen);
/* Removes a member from the group's authorization list and rekeys so that it receives no new
 * keys (gcksctl evict). msg says how the new keys reach the others. */
gk_status gk_gcks_evict(gk_gcks *g, const char *group, const char *member, char *msg, size_t msglen);

/* Rekeys every IKE SA kept for inband rekeys now, as at the end of its lifetime (tests, admin);
 * returns how many rekeys were started. */
unsigned gk_gcks_rekey_ike_sas(gk_gcks *g);

/* Refusals of registrations to a group counted by the notify that refused them (RFC 9838
 * 2.3.1); GK_GROUP_REFUSAL_KINDS distinct notify types at most (registration refuses with six),
 * any further one counts in the last slot's notify 0 ("other"). */
#define GK_GROUP_REFUSAL_KINDS 8
typedef struct gk_group_refusals {
	uint16_t notify[GK_GROUP_REFUSAL_KINDS];   /* 0 = unused slot, or "other" in the last one */
	uint64_t count[GK_GROUP_REFUSAL_KINDS];
} gk_group_refusals;

/* What one group's rekeys and registrations did since gcksd started (metrics, gcksctl status).
 * Kept by the core in the group; reset when the group is loaded again after a restart. */
typedef struct gk_group_counters {
	uint64_t registrations;          /* accepted GSA_REGISTRATIONs */
	gk_group_refusals refused;       /* refused ones, by notify */
	uint64_t rekey_messages;         /* GSA_REKEY messages built (multicast) */
	uint64_t rekey_copies;           /* copies of them sent (RFC 9838 2.4.1.3: each copy counts) */
	uint64_t inband_sent;            /* GSA_INBAND_REKEY requests sent, one per member */
	uint64_t inband_acked;           /* answered without an error notify */
	uint64_t inband_failed;          /* answered with an error, or no answer after every retry */
	int64_t last_rekey;              /* wall seconds of the last rekey sent, 0 = none yet */
	uint32_t last_msgid;             /* its Message ID (multicast; inband: per IKE SA, 0) */
	uint32_t last_copies;            /* multicast: copies of it; inband: members it went to */
	char last_reason[64];            /* why: lifetime, requested, policy changed, eviction, ... */
	int64_t last_exclusion;          /* wall seconds of the last exclusion of every member (RFC
					  * 9838 2.4.3), after which each must register again; 0 = none */
} gk_group_counters;

/* A view of one group for status reports; points into the GCKS, valid until the next call
 * into it. */
typedef struct gk_gcks_group_info {
	const gk_group_policy *pol;
	uint32_t registered;
	const gk_sa_key *keys;        /* TEKs in policy order, then the Rekey SA */
	size_t nkeys;
	bool members_frag;            /* every registered member negotiated IKE fragmentation, so a
				       * multicast GSA_REKEY may be fragmented (RFC 9838 2.4.1.2) */
	const gk_group_counters *ctr;
	int64_t next_rekey;           /* wall seconds when the scheduler rekeys, 0 = not planned */
	const char *next_reason;      /* "requested" (gcksctl rekey, waiting for the tick) or "lifetime" */
} gk_gcks_group_info;
size_t gk_gcks_groups(const gk_gcks *g, gk_gcks_group_info *out, size_t max);

/* One member's IKE SA registered to a group, for gcksctl member list; points into the GCKS,
 * valid during the callback. */
typedef struct gk_gcks_member_info {
	const gk_ident *id;
	const struct sockaddr *peer;
	int64_t last_seen;            /* wall seconds of its last authenticated message, 0 = none */
	bool rekey_pending;           /* a GSA_INBAND_REKEY to it is not acknowledged yet (out or queued) */
} gk_gcks_member_info;
typedef void (*gk_gcks_member_fn)(void *ctx, const gk_gcks_member_info *m);
/* Calls fn for each established IKE SA registered to the group (kept for inband groups; for
 * multicast groups only until the registration SA closes). GK_E_NOT_FOUND: no such group. */
gk_status gk_gcks_members(gk_gcks *g, const char *group, gk_gcks_member_fn fn, void *ctx);

typedef struct gk_gcks_stats {
	unsigned half_open, established, groups;
	uint64_t registrations, refusals, dropped;
	uint64_t half_open_evicted;      /* oldest half-open SAs evicted for new ones */
	uint64_t source_evicted;         /* half-open SAs evicted at their source's cap for new ones */
	uint64_t resends_limited;        /* retransmitted IKE_SA_INIT left unanswered */
	uint64_t costly_limited;         /* IKE_SA_INIT dropped: costly key exchanges per second (in
					  * all or of the source) */
	uint64_t cookies_sent;
	uint64_t ke_pairs_made;          /* key pairs made for IKE_SA_INIT responses (one per response
					  * unless reused: dh_reuse) */
	uint64_t frag_bytes;             /* octets of fragments parked now */
	uint64_t frag_evicted;           /* incomplete fragment sets dropped to make room */
	uint64_t rtx_limited;            /* retransmissions left unanswered by the rate limit */
	uint64_t weak_kwk;               /* registrations whose KWK is shorter than a group key
					  * it wraps (RFC 9838 3.1: SHOULD NOT; warned) */
	uint64_t nat_detected;           /* IKE SAs whose NAT_DETECTION hashes show a NAT (RFC 7296
					  * 2.23; later requests come to 4500 and are answered there) */
	uint64_t ike_rekeys;             /* IKE SAs rekeyed by CREATE_CHILD_SA */
	uint64_t sender_rekeys;          /* groups rekeyed because a sender registered again while it
					  * may hold a single-sender counter-mode key (doc/sender-iv.md) */
	uint64_t sender_rekeys_refused;  /* such registrations refused (TEMPORARY_FAILURE): the
					  * sender forced one within GK_SENDER_REKEY_INTERVAL_S */
	uint64_t req_retransmits;        /* our requests (GSA_INBAND_REKEY, CREATE_CHILD_SA) sent again */
	uint64_t delete_retransmits;     /* our Deletes (INFORMATIONAL) sent again */
	uint64_t sa_visits;              /* IKE SAs visited by the SA scan: only those with a timer due */
	gk_group_refusals unknown_group_refused; /* registrations to a group we do not serve */
} gk_gcks_stats;
void gk_gcks_stats_get(const gk_gcks *g, gk_gcks_stats *st);

/* Several gcksd on one shared store (gcks_cluster.c): a rekey lease lasts GK_CLUSTER_LEASE_S
 * and is renewed every GK_CLUSTER_RENEW_MS; a server whose heartbeat is older than
 * GK_CLUSTER_LEASE_S is reported dead. */
#define GK_CLUSTER_LEASE_S 6
#define GK_CLUSTER_RENEW_MS 2000
/* gcksd's exit status when another live gcksd runs under its --server-id. */
#define GK_EXIT_SERVER_ID 7
typedef struct gk_gcks_cluster {
	const char *server_id;        /* points into the GCKS */
	bool shared;                  /* the store is shared by several servers */
	bool store_ok;                /* false while the shared store is lost (fail closed) */
	uint64_t lost;                /* times the shared store was lost since the GCKS started */
} gk_gcks_cluster;
void gk_gcks_cluster_info(const gk_gcks *g, gk_gcks_cluster *out);
/* Does this server lead the group's rekeys now? */
bool gk_gcks_group_leads(const gk_gcks *g, const char *group);
/* Reads the notices other servers sent through the store (its gk_store_notice_fd is readable)
 * and reloads the groups they changed; GK_E_IO when the store connection broke. */
gk_status gk_gcks_store_notices(gk_gcks *g);

#endif
