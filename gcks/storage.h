/* The store: the only code that speaks SQL. One SQLite database (mode 0600, WAL, foreign keys,
 * busy timeout) holds the GCKS identity, group policies, authorized members, group SA keys,
 * counters that must never repeat, registrations and the audit log. Schema migrations run when
 * it is opened; an older binary refuses a newer database.
 * A gk_store owns its sqlite3 handle; it is used from one thread. */
#ifndef GK_STORAGE_H
#define GK_STORAGE_H

#include <stdint.h>
#include <time.h>
#include "policy.h"

typedef struct gk_store gk_store;

#define GK_SCHEMA_VERSION 5

typedef struct gk_store_err {
	char msg[512];
} gk_store_err;

/* Opens (create = make the file if missing, mode 0600) and migrates. Refuses a database file
 * that others can read or write (GK_E_INVAL with a message). */
gk_status gk_store_open(const char *path, bool create, gk_store **out, gk_store_err *err);
void gk_store_close(gk_store *s);
int gk_store_version(gk_store *s);
/* SQLite's message for the last failure on s (e.g. which CHECK constraint a put violated),
 * "" if none; valid until the next call on s. */
const char *gk_store_errmsg(const gk_store *s);

/* ---- GCKS identity and credentials ---- */
typedef struct gk_gcks_identity {
	gk_ident id;
	char *sign_key_pem;      /* private key signing GSA_REKEY (and AUTH with certificates); owned */
	char *cert_pem;          /* optional GCKS certificate chain, PEM; owned */
	char *ca_pem;            /* optional CA bundle that GM certificates must chain to; owned */
	char *next_sign_key_pem; /* a signing key being rolled over to (schema 2); owned, NULL if none */
} gk_gcks_identity;
void gk_gcks_identity_free(gk_gcks_identity *id);
gk_status gk_store_identity_get(gk_store *s, gk_gcks_identity *out); /* GK_E_NOT_FOUND if unset */
gk_status gk_store_identity_set(gk_store *s, const gk_gcks_identity *id, const char *who);

/* ---- group policy ---- */
/* Inserts or replaces the group named g->name, its TEKs and members, in one transaction, and
 * writes an audit record. Bumps the group's policy generation when anything changed.
 * A put equal to the stored policy writes nothing (no generation, no audit row). When only
 * members, capacity, ike_idle_timeout or rekey_margin_pct changed, the group's current keys
 * are carried over to the new generation; any other change makes gk_store_group_keys()
 * create new keys. Any failure leaves the stored policy as it was. */
gk_status gk_store_group_put(gk_store *s, const gk_group_policy *g, const char *who,
			     const char *source, bool *changed);
gk_status gk_store_group_get(gk_store *s, const char *name, gk_group_policy *out);
gk_status gk_store_group_get_by_ident(gk_store *s, const gk_ident *id, gk_group_policy *out);
gk_status gk_store_group_delete(gk_store *s, const char *name, const char *who);
/* Names of all groups, malloc'd array of malloc'd strings; free with gk_store_names_free. */
gk_status gk_store_group_names(gk_store *s, char ***names, size_t *n);
void gk_store_names_free(char **names, size_t n);
/* Monotonic generation of a group's policy (changes on every effective put). */
gk_status gk_store_group_generation(gk_store *s, const char *name, int64_t *gen);

/* ---- group SA keys ---- */
typedef struct gk_sa_key {
	int64_t id;
	int tek_index;           /* index in policy teks[], -1 for the Rekey SA */
	uint8_t spi[16];
	size_t spi_len;          /* 4 for ESP/AH, 16 for GIKE_UPDATE */
	uint8_t keymat[256];
	size_t keymat_len;
	int64_t created, expires; /* unix seconds */
	int64_t generation;      /* policy generation the key was made for */
} gk_sa_key;

/* The current key of every SA of a group, creating (and storing, durably) those that are
 * missing or whose policy generation is older. Fresh SPIs and keys come from the caller's
 * generator. keys[] has room for nteks+1 (the Rekey SA last, if present). */
struct gk_rand;
gk_status gk_store_group_keys(gk_store *s, const gk_group_policy *g, const struct gk_rand *rnd,
			      int64_t now, gk_sa_key *keys, size_t *nkeys);
/* A group's policy (*pol, free with gk_group_policy_free), its generation and the current key
 * of every SA (creating them as gk_store_group_keys does), all from one state of the database:
 * a policy stored at the same time is seen whole or not at all, and keys are only made for the
 * policy of the generation they are stored with. keys[] has room for maxkeys; GK_E_TOO_BIG
 * when the policy has more SAs (TEKs and the Rekey SA). */
gk_status gk_store_group_load(gk_store *s, const char *name, const struct gk_rand *rnd, int64_t now,
			      gk_group_policy *pol, int64_t *gen, gk_sa_key *keys, size_t maxkeys,
			      size_t *nkeys);

/* Rotates keys for a rekey in one durable transaction: every SA whose key expires at or before
 * `horizon` (every SA when force) gets a new current key; replaced keys stay 'old' until they
 * expire. prev[] gets the keys before, keys[] after (both nteks+1 long). When anything changed,
 * *msgid is the Rekey SA Message ID of the GSA_REKEY announcing it (taken, durable), and when
 * the Rekey SA key itself was replaced the counter restarts at 0 for the new Rekey SA
 * (RFC 9838 2.4.1.3). want[j], when not NULL, is the SPI announced for SA j in GSA_NEXT_SPI; it
 * is used if no live key has it. */
gk_status gk_store_group_rekey(gk_store *s, const gk_group_policy *g, const struct gk_rand *rnd,
			       int64_t now, int64_t horizon, bool force, const uint8_t (*want)[16], gk_sa_key *prev,
			       gk_sa_key *keys, size_t *nkeys, bool *changed, uint32_t *msgid);

/* ---- counters that never repeat ---- */
/* Reserves n consecutive Sender-IDs for a group (the first ever is 0), durable before return. Fails with
 * GK_E_TOO_BIG when fewer than n remain below 2^bits (never reuses values). */
gk_status gk_store_sender_ids_alloc(gk_store *s, const char *group, uint32_t n, uint16_t bits,
				    uint32_t *first);
/* Next Rekey SA Message ID for a group (durable before return). */
gk_status gk_store_rekey_msgid_next(gk_store *s, const char *group, uint32_t *msgid);
gk_status gk_store_rekey_msgid_peek(gk_store *s, const char *group, uint32_t *msgid);
/* A new Rekey SA starts at Message ID 0 (RFC 9838 2.4.1.3). */
gk_status gk_store_rekey_msgid_reset(gk_store *s, const char *group);
/* After every member was excluded with new keys (RFC 9838 2.5.1), Sender-IDs start over. */
gk_status gk_store_sender_ids_reset(gk_store *s, const char *group);

/* ---- registrations ---- */
typedef struct gk_registration {
	char group[GK_IDENT_TEXT_MAX];
	char member[GK_IDENT_TEXT_MAX];
	gk_role role;
	char peer[64];           /* "192.0.2.1:500" */
	int64_t registered_at;
	uint32_t sender_id_first, sender_id_count;
	bool frag_ok;            /* negotiated IKE fragmentation (RFC 7383 2.3); false when not known */
} gk_registration;
/* Records (or refreshes) a member's registration. */
gk_status gk_store_registration_put(gk_store *s, const gk_registration *r);
gk_status gk_store_registration_delete(gk_store *s, const char *group, const char *member);
/* Is the member registered to the group? (one indexed lookup) */
gk_status gk_store_registration_exists(gk_store *s, const char *group, const char *member, bool *exists);
gk_status gk_store_registration_count(gk_store *s, const char *group, uint32_t *n);
/* *all: every member registered to the group negotiated IKE fragmentation (true when none is
 * registered). A registration stored before schema version 3 counts as one that did not. On
 * error *all is false. */
gk_status gk_store_registrations_frag_ok(gk_store *s, const char *group, bool *all);

/* ---- single-sender counter-mode TEKs a sender may hold (doc/sender-iv.md) ---- */
/* May member, as a sender, have installed the TEK with this SPI (4 octets)? */
gk_status gk_store_sender_tek_held(gk_store *s, const char *group, const char *member, const uint8_t spi[4],
				   bool *held);
/* Records, durably, that member may hold the TEK (member NULL: every member registered to the
 * group as sender), and forgets TEKs whose keys the group no longer has. */
gk_status gk_store_sender_tek_add(gk_store *s, const char *group, const char *member, const uint8_t spi[4]);
/* May member's registration force a rekey of the group at now (unix seconds), the last one it
 * forced being at least interval seconds ago? If so, now is recorded (durably). */
gk_status gk_store_sender_rekey_take(gk_store *s, const char *group, const char *member, int64_t now,
				     int64_t interval, bool *allowed);
/* All registrations of a group, ordered by member; *out is malloc'd, free() it. */
gk_status gk_store_registrations(gk_store *s, const char *group, gk_registration **out, size_t *n);

/* ---- audit ---- */
gk_status gk_store_audit(gk_store *s, const char *who, const char *action, const char *detail);
typedef struct gk_audit_row {
	int64_t at;              /* Unix time */
	char who[256], action[256], detail[4096];
} gk_audit_row;
/* The last `last` audit records, oldest first; *out is malloc'd, free() it. */
gk_status gk_store_audit_list(gk_store *s, size_t last, gk_audit_row **out, size_t *n);

#endif
