/* Internals of the GCKS core shared by its files (gcks_core.c, gcks_init.c, gcks_auth.c,
 * gcks_reg.c, gcks_groups.c). Not for use outside gcks/. */
#ifndef GK_GCKS_INT_H
#define GK_GCKS_INT_H

#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "gcks.h"
#include "auth.h"
#include "group_sa.h"
#include "ike_sa.h"
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
} gcks_group;

#define GCKS_SA_GROUPS 8
#define GCKS_MAX_PENDING 64

/* One IKE SA as the GCKS holds it. Owned by the SA table. */
typedef struct gcks_sa {
	gk_ike_sa ike;
	struct gcks_sa *next_r;           /* chain by our SPI (spi_r) */
	struct gcks_sa *next_i;           /* chain by the peer's SPI while half-open */
	bool half_open;
	bool g_ikev2;                     /* established through GSA_AUTH (not plain IKE_AUTH) */
	bool psk_auth;                    /* the member authenticated with a PSK */
	int64_t deadline_ms;              /* half-open expiry or idle close */
	uint64_t groups[GCKS_SA_GROUPS];  /* hashes of the groups registered over this SA (inband) */
	gk_dgrams *out_req;               /* our outstanding request (GSA_INBAND_REKEY), owned */
	uint8_t out_exchange;
	int64_t out_rtx_ms;
	unsigned out_tries, out_wait_ms;
	bool rekey_queued;                /* another inband rekey waits for the outstanding one */
	bool closing;                     /* our Delete of the IKE SA is out, or the peer is gone */
	uint8_t req_hash[4][16];          /* verified datagrams of the last request, to tell a */
	uint8_t nreq_hash;                /* retransmission from a forgery reusing its Message ID */
	uint32_t req_hash_msgid;
	uint64_t queued_group;
	uint64_t out_group;               /* the group our outstanding GSA_INBAND_REKEY updates */
	/* half-open bookkeeping (gcks_sources.c): age order, in all and in the source */
	struct gcks_sa *ho_prev, *ho_next;
	struct gcks_sa *src_prev, *src_next;
	struct gcks_src *src;
	unsigned init_resends;            /* IKE_SA_INIT responses sent again */
	int64_t init_resend_ms;
	/* RFC 9838 2.3.4: the credential that authenticated the peer; a group authorizes the SA only
	 * when it lists the identity with this same credential (gcks_member_cred_matches) */
	uint8_t cred_auth;                /* gk_member_auth, 0 until authenticated */
	uint8_t cred_hash[32];            /* SHA-256 of the PSK or SubjectPublicKeyInfo; 0s for certs */
	struct gcks_sa *next_id, **pprev_id; /* index of established SAs by peer_id (gcks_peers.c) */
	uint64_t admitted;                /* order of admission to that index: lower is older */
	bool superseded;                  /* rekeyed (RFC 7296 2.18): waits for its Delete */
	struct gcks_ike_rekey *rk;        /* our CREATE_CHILD_SA out on this SA (gcks_ikerekey.c), owned */
	struct gcks_sa *collided;         /* the SA the member made by rekeying this one while our
					   * rekey was out (RFC 7296 2.8.2); in the table, not owned */
	struct gcks_sa *collision_of;     /* the reverse link */
	int64_t rekey_at_ms;              /* when we rekey this kept SA ourselves, 0 = not planned */
	int64_t rekeyed_ms;               /* when this SA was made by a rekey, 0 = by IKE_SA_INIT */
	int64_t rtx_window_ms;            /* start of the current window of resent responses */
	unsigned rtx_sent;                /* responses resent in it */
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

/* GSA_REKEY datagrams waiting for their next copy (RFC 9838 2.4.1.3). Owned by the gcks. */
typedef struct gcks_pending {
	gk_dgrams d;
	struct sockaddr_storage dst;
	uint16_t sport;
	uint8_t ttl;
	char iface[16];
	unsigned copies_left, interval_ms;
	int64_t next_ms;
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
	gcks_sa **by_r, **by_i;
	size_t nbuckets, nsas, nhalf;
	EVP_MAC_CTX *hash_key;            /* SipHash under a per-process random key, for tables
					  * keyed by what peers choose (gcks_keyhash.c) */
	gcks_sa *ho_oldest, *ho_newest;   /* half-open SAs in order of creation */
	gcks_src **srcs;                  /* sources with half-open SAs, chained by keyed hash */
	size_t nsrc_buckets;
	int64_t init_window_ms;           /* IKE_SA_INIT requests in this second and the last */
	unsigned init_count, init_count_prev;
	int64_t costly_window_ms;         /* costly key exchanges done in this second */
	unsigned costly_count;
	uint8_t cookie_secret[32], cookie_prev[32];
	int64_t cookie_rotated_ms;
	int64_t sa_scan_ms;
	uint8_t announce_spki[1024];      /* a new AUTH_KEY the next rekeys carry (key rollover) */
	size_t announce_spki_len;
	gcks_pending *pending[GCKS_MAX_PENDING];
	gk_gcks_stats stats;
	gcks_sa **by_id;                  /* gcks_peers.c */
	size_t id_buckets, nid;
	uint64_t id_admitted;
	bool refusal_started;             /* token bucket of refusal log lines (gcks_refusal.c) */
	int64_t refusal_ms;
	uint64_t refusal_tokens;          /* thousandths of a line */
	uint64_t refusals_unlogged;
	gk_frag_pool frag_pool;           /* fragments parked on all SAs (cfg.frag_total_max) */
};

/* A response under construction. Payload bodies live in the arena. */
typedef struct gcks_resp {
	gk_arena arena;
	gk_out_pl pl[24];
	size_t n;
	bool close_after;                 /* remove the IKE SA once the response is sent */
} gcks_resp;

/* The injected clocks: monotonic milliseconds, and wall-clock seconds for key lifetimes. */
static inline int64_t gcks_now(const gk_gcks *g)
{
	return g->env.now_ms(g->env.clock_ctx);
}

static inline int64_t gcks_wall(const gk_gcks *g)
{
	return g->env.wall ? g->env.wall(g->env.clock_ctx) : (int64_t)time(NULL);
}

/* response and trace (gcks_resp.c) */
void gcks_log_msg(const gk_gcks *g, const char *dir, const gk_msg *m, const struct sockaddr *peer);
gk_out_pl *gcks_resp_add(gcks_resp *r, uint8_t type, const void *body);
gk_status gcks_resp_notify(gcks_resp *r, uint16_t type, gk_chunk data);

/* Our SPI of the SA: the responder's, or the initiator's for an SA we made by rekeying it
 * (RFC 7296 2.18: the rekey's initiator is the new SA's original initiator). The SA table is
 * keyed by it. */
static inline uint64_t gcks_our_spi(const gcks_sa *sa)
{
	return sa->ike.initiator ? sa->ike.spi_i : sa->ike.spi_r;
}

/* SA table (gcks_sa_table.c): the only code that touches its buckets */
gk_status gcks_sa_table_init(gk_gcks *g);
/* Frees the buckets; the SAs are closed before. */
void gcks_sa_table_free(gk_gcks *g);
/* Calls fn on every SA in the table; fn may remove the SA it is given (no other). */
typedef void (*gcks_sa_fn)(gk_gcks *g, gcks_sa *sa, void *ctx);
void gcks_sa_foreach(gk_gcks *g, gcks_sa_fn fn, void *ctx);
gcks_sa *gcks_sa_new(gk_gcks *g);
/* Enters a new half-open SA (its peer set); GK_E_NOMEM leaves it out. */
gk_status gcks_sa_insert(gk_gcks *g, gcks_sa *sa);
/* The SA whose SPI on our side is spi. */
gcks_sa *gcks_sa_find(gk_gcks *g, uint64_t spi);
/* The SA a message with this header belongs to: our SPI is SPIr when the sender is the
 * original initiator (I flag), SPIi otherwise; the other SPI and our role must match. */
gcks_sa *gcks_sa_for(gk_gcks *g, const gk_hdr *h);
gcks_sa *gcks_sa_find_half_open(gk_gcks *g, uint64_t spi_i, const struct sockaddr *peer);
void gcks_sa_established(gk_gcks *g, gcks_sa *sa);
/* Enters an SA made established by a rekey (not half-open, no source). */
gk_status gcks_sa_insert_established(gk_gcks *g, gcks_sa *sa);
/* Takes sa out of the table, its source's count and the identity index, and frees it. Our
 * rekey must not be out on it (gcks_sa_close releases that first). */
void gcks_sa_remove(gk_gcks *g, gcks_sa *sa);

/* credentials (gcks_creds.c): our identity, key and certificate from the store and the CA */
gk_status gcks_creds_load(gk_gcks *g, char *err, size_t errlen);
void gcks_creds_free(gk_gcks *g);
/* The public key of the X.509 leaf certificate in cp (chain in further CERT payloads of m),
 * verified to our CA and matching id. */
gk_status gcks_creds_peer_key(const gk_gcks *g, const gk_msg *m, const gk_payload *cp, const gk_ident *id,
			      EVP_PKEY **out);

/* keyed hash (gcks_keyhash.c): SipHash-2-4 with a random key from env->rnd */
gk_status gcks_keyhash_init(gk_gcks *g);
void gcks_keyhash_free(gk_gcks *g);
uint64_t gcks_keyhash(const gk_gcks *g, const void *data, size_t len);
uint64_t gcks_ident_hash(const gk_ident *id);
/* Longest chain of the SA table by the peer's SPI (by_i) and by ours (by_r), for tests. */
size_t gcks_sa_chain_max(const gk_gcks *g, bool by_peer_spi);

/* half-open SAs per source (gcks_sources.c) */
gk_status gcks_sources_init(gk_gcks *g);
void gcks_sources_free(gk_gcks *g);
/* The source's half-open count (0 if it has none). */
unsigned gcks_source_count(const gk_gcks *g, const struct sockaddr *peer);
/* Counts sa (half-open, not yet in the age list) against its source and appends it to the age
 * list; GK_E_NOMEM leaves everything as it was. */
gk_status gcks_source_add(gk_gcks *g, gcks_sa *sa, const struct sockaddr *peer);
/* Takes sa out of its source's count and the age list (when it is in them). */
void gcks_source_del(gk_gcks *g, gcks_sa *sa);
/* Number of sources held (with half-open SAs or a costly bucket not yet full), for tests. */
size_t gcks_source_entries(const gk_gcks *g);
/* The source's oldest half-open SA, NULL if it has none. */
gcks_sa *gcks_source_oldest(const gk_gcks *g, const struct sockaddr *peer);
/* Takes one costly key exchange from the source's bucket (cfg.costly_ke_per_source a second);
 * false when it is empty or no entry can be made. */
bool gcks_source_costly_take(gk_gcks *g, const struct sockaddr *peer);
/* Frees the entries that hold nothing any more (called about once a second). */
void gcks_sources_sweep(gk_gcks *g);

/* exchange handlers */
void gcks_ike_sa_init(gk_gcks *g, gk_chunk data, const struct sockaddr *peer, const struct sockaddr *local);
void gcks_gsa_auth(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r);
void gcks_ike_auth(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r);
void gcks_gsa_registration(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r);
void gcks_informational(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r);
/* CREATE_CHILD_SA (gcks_ikerekey.c): IKE SA rekey, Child SAs refused */
void gcks_create_child_sa(gk_gcks *g, gcks_sa *sa, const gk_msg *m, gcks_resp *r);
/* The member's answer to our CREATE_CHILD_SA on sa. */
void gcks_ike_rekey_response(gk_gcks *g, gcks_sa *sa, const gk_msg *m);
/* Rekeys a kept IKE SA whose lifetime (cfg.ike_lifetime_s) is nearly over and that its member
 * did not rekey (timer scan). */
void gcks_ike_rekey_tick(gk_gcks *g, gcks_sa *sa, int64_t now_ms);
/* Starts our rekey of sa (CREATE_CHILD_SA); GK_E_STATE when a request is out on it. */
gk_status gcks_ike_rekey_start(gk_gcks *g, gcks_sa *sa);
/* Removes an SA from the table after freeing its rekey state; a new SA the member made by
 * rekeying it while our rekey was out takes over (the member deleted the old SA: its rekey
 * won, RFC 7296 2.8.2). */
void gcks_sa_close(gk_gcks *g, gcks_sa *sa);

/* costly key exchanges (gcks_init.c): which groups, and one taken from the source's and the
 * global budget (false when either is empty) */
bool gcks_costly_ke(uint16_t group);
bool gcks_costly_charge(gk_gcks *g, const struct sockaddr *peer);

/* registration: authorizes `member` for the group in idg and appends GSA, KD (and notifies), or
 * one error Notify, to r. */
void gcks_register(gk_gcks *g, gcks_sa *sa, const gk_ident *member, const gk_payload *idg,
		   const gk_msg *req, gcks_resp *r);

void gcks_fill_tek(const gk_tek_policy *t, const gk_sa_key *k, int64_t now, gk_group_sa *sa);
void gcks_fill_kek(gk_gcks *g, const gcks_group *grp, const gk_sa_key *k, int64_t now, gk_group_sa *sa);
/* The Rekey SA's multicast destination as a socket address. */
void gcks_kek_dst(const gk_kek_policy *k, struct sockaddr_storage *ss);
/* The group state every member gets at registration (no member-specific parts). */
gk_status gcks_group_state(gk_gcks *g, gcks_group *grp, gk_group_state *gs);

/* Draws the SPIs the next rekey will use (RFC 9838 4.4.2.2.3), kept in memory only: the GCKS
 * may forget these promises (after a restart). */
void gcks_next_spis(gk_gcks *g, gcks_group *grp);
/* Adds GSA_NEXT_SPI to the SAs of a multicast group's state (never with inband rekey). */
void gcks_announce_next(const gcks_group *grp, gk_group_state *gs);

/* signing key rollover (gcks_keyroll.c): completes one a crash interrupted */
gk_status gcks_keyroll_resume(gk_gcks *g);

/* single-sender counter-mode keys and re-registering senders (gcks_sender_keys.c) */
#define GK_SENDER_REKEY_INTERVAL_S 60
/* Before member, registering as sender, is handed the group's keys: if it may hold a
 * single-sender counter-mode TEK already, *rekey says the group must be rekeyed first (allowed
 * once per GK_SENDER_REKEY_INTERVAL_S per identity; beyond it *refusal is TEMPORARY_FAILURE). */
gk_status gcks_sender_keys_check(gk_gcks *g, const gcks_group *grp, const char *member, uint16_t *refusal,
				 bool *rekey);
/* Records that member (NULL: every registered sender of the group) may hold the group's current
 * single-sender counter-mode TEKs. */
void gcks_sender_keys_note(gk_gcks *g, const gcks_group *grp, const char *member);

/* rekeying (gcks_rekey.c) */
void gcks_rekey_tick(gk_gcks *g, int64_t now_ms);
gk_status gcks_rekey_group(gk_gcks *g, gcks_group *grp, bool force, const gk_sa_key *prev_kek, const char *why);
/* After a reload changed grp (was: the group as it was): the rekey that tells members the
 * new SAs and deletes the ones no longer served; true when it went out. */
bool gcks_rekey_reloaded(gk_gcks *g, gcks_group *grp, const gcks_group *was);
/* gcks_exclude_all under the policy and Rekey SA members hold (via, old_kek: after a reload,
 * the old ones; NULL: the group's own and the Rekey SA before this rotation). */
gk_status gcks_exclude_via(gk_gcks *g, gcks_group *grp, const gk_group_policy *via, const gk_sa_key *old_kek,
			   const char *why);
/* Excludes every member (new keys, Delete SPI 0 for all SAs): they must re-register (2.4.3). */
gk_status gcks_exclude_all(gk_gcks *g, gcks_group *grp, const char *why);
/* Sends our request on sa (window 1: GK_E_STATE while one is outstanding), retransmitted with
 * backoff by gcks_outgoing_tick until gcks_inband_response sees the answer. */
gk_status gcks_request(gk_gcks *g, gcks_sa *sa, uint8_t exchange, const gk_out_pl *pl, size_t n);
void gcks_inband_response(gk_gcks *g, gcks_sa *sa, const gk_msg *m);
/* Our outstanding request is answered: it goes, the next Message ID is ours. */
void gcks_request_done(gcks_sa *sa);
/* Sends the inband rekey that waited for the SA's window (rekey_queued), if it is free. */
void gcks_inband_send_queued(gk_gcks *g, gcks_sa *sa);
void gcks_outgoing_tick(gk_gcks *g, gcks_sa *sa, int64_t now_ms);
void gcks_pending_free(gk_gcks *g);
uint64_t gcks_name_hash(const char *name);
void gcks_sa_tag_group(gcks_sa *sa, uint64_t group_hash);
/* The SA no longer carries the group's GSA_INBAND_REKEY (the member left or was excluded). */
void gcks_sa_untag_group(gcks_sa *sa, uint64_t group_hash);
bool gcks_sa_in_group(const gcks_sa *sa, uint64_t group_hash);

/* Refusal log: one warning with the peer's address and the reason (wire text escaped by
 * gk_ident_text and the log), at most GCKS_REFUSAL_BURST lines at once and GCKS_REFUSAL_PER_S a
 * second after; counts stats.refusals. */
#define GCKS_REFUSAL_BURST 20
#define GCKS_REFUSAL_PER_S 1
void gcks_refusal(gk_gcks *g, const struct sockaddr *peer, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Established SAs by identity (gcks_peers.c). */
/* Enters sa (after its authentication) with the next admission order. */
void gcks_peer_link(gk_gcks *g, gcks_sa *sa);
/* The oldest other established SA of sa's identity and credential, and how many there are. */
gcks_sa *gcks_peer_oldest(gk_gcks *g, const gcks_sa *sa, size_t *count);
void gcks_peer_unlink(gk_gcks *g, gcks_sa *sa);
/* The rekeyed SA n takes old's place in the index (same admission order); old leaves it. */
void gcks_peer_replace(gk_gcks *g, gcks_sa *old, gcks_sa *n);
void gcks_peers_free(gk_gcks *g);

/* groups */
gk_status gcks_groups_load(gk_gcks *g);
void gcks_groups_free(gk_gcks *g);
gcks_group *gcks_group_find(gk_gcks *g, const gk_ident *id);
/* The identity's entries authenticated by `kind`, each group once: the entry of `first` (may be
 * NULL) before those of the other groups. *pos starts at 0; NULL when there are no more. */
const gk_member_policy *gcks_member_next_cred(gk_gcks *g, const gk_ident *member, gcks_group *first,
					      gk_member_auth kind, size_t *pos);
/* What an SA remembers of the credential that authenticated it, and whether a member entry
 * names that same credential (constant time). */
void gcks_member_cred_hash(const gk_member_policy *mp, uint8_t out[32]);
bool gcks_member_cred_matches(const gk_member_policy *mp, const gcks_sa *sa);
/* The group's policy entry for a member, NULL if it is not listed (one hash lookup). */
const gk_member_policy *gcks_group_member(gcks_group *grp, const gk_ident *member);
/* Makes sure the group's keys are current (refreshing them in the store when expired). */
gk_status gcks_group_keys_fresh(gk_gcks *g, gcks_group *grp);

#endif
