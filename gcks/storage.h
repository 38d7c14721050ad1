/* The store: where the GCKS keeps what must survive a restart. It holds the GCKS identity, group
 * policies, authorized members, group SA keys, counters that must never repeat, registrations,
 * the single-sender TEKs a sender may hold and the audit log.
 *
 * This interface is backend-neutral: no SQL, no handle or type of a database library, no row
 * layout passes through it, so a second backend (PostgreSQL through libpq is planned) implements
 * it without touching a caller. A gk_store is an object with a table of operations
 * (gcks/store/store_backend.h): gk_store_open() chooses the backend from its locator at run time,
 * as a PostgreSQL connection string will be chosen, and every function below dispatches through
 * that table. The SQLite backend (gcks/store/store_sqlite*.c: one database file, mode 0600, WAL)
 * is the default; the PostgreSQL backend (gcks/store/store_pg*.c, configure --with-postgresql)
 * serves postgresql:// and postgres:// connection strings, one database several gcksd share.
 *
 * The store holds data, not protocol rules: key shapes, reserved SPIs, Message ID and Sender-ID
 * rules live in gcks/gcks_keyrules.c, which runs them inside a transaction the store exposes
 * (gk_store_begin/gk_store_end) with the in-transaction operations marked "(tx)" below. Every
 * write that records a time takes it from the caller (`now`, unix seconds): the store reads no
 * clock. Schema migrations run when a store is opened; an older binary refuses a newer store.
 * A gk_store is used from one thread. */
#ifndef GK_STORAGE_H
#define GK_STORAGE_H

#include <stdint.h>
#include <time.h>
#include "policy.h"

typedef struct gk_store gk_store;

#define GK_STORE_ERR_MAX 512

/* The version of the schema (schema/NNN_*.sql) this build reads and writes. */
#define GK_SCHEMA_VERSION 11

/* Opens (create = make it if missing) and migrates the store at locator: a file path for the
 * SQLite backend (created mode 0600; a file others can read or write is refused with GK_E_INVAL
 * and a message), or a libpq connection string postgresql://... or postgres://... (create: an
 * empty database gets the schema; refused with GK_E_UNSUPPORTED by a build without the
 * backend). err (GK_STORE_ERR_MAX octets is enough) says why it failed; it never holds the
 * password a connection string may carry. */
gk_status gk_store_open(const char *locator, bool create, gk_store **out, char *err, size_t errlen);
void gk_store_close(gk_store *s);
/* Is the store at locator one several gcksd share (a PostgreSQL store), rather than a file one
 * gcksd holds (no lock file, no file modes, no owner to hand over)? */
bool gk_store_locator_shared(const char *locator);
/* The locator for messages, in buf: a connection string's password (user:PASSWORD@,
 * password=PASSWORD) shown as "***". */
const char *gk_store_locator_text(const char *locator, char *buf, size_t len);
int gk_store_version(gk_store *s);
/* The backend's message for the last failure on s (e.g. which constraint a put violated),
 * "" if none; valid until the next call on s. */
const char *gk_store_errmsg(const gk_store *s);

/* ---- transactions ---- */
typedef enum gk_store_tx {
	GK_TX_READ,      /* one consistent snapshot over several reads */
	GK_TX_WRITE,     /* takes the write lock up front */
	GK_TX_DURABLE,   /* a write that is on stable storage when gk_store_end returns GK_OK:
			  * for values that must never be handed out twice (Sender-IDs, Rekey SA
			  * Message IDs) and keys members may hold */
} gk_store_tx;
/* Starts a transaction (no nesting). Every "(tx)" operation below runs inside one. */
gk_status gk_store_begin(gk_store *s, gk_store_tx kind);
/* Commits when st is GK_OK, else rolls back; returns st or the commit's failure. */
gk_status gk_store_end(gk_store *s, gk_status st);

/* How long transactions took, from gk_store_begin to gk_store_end (commit or rollback
 * included), by kind: measured by the front on CLOCK_MONOTONIC whatever the backend, for
 * gcksd --metrics. count[k][i] counts those within gk_store_tx_bounds[i] seconds and above the
 * bound before; count[k][GK_STORE_TX_BUCKETS] those above every bound. */
#define GK_STORE_TX_BUCKETS 11
extern const double gk_store_tx_bounds[GK_STORE_TX_BUCKETS];
typedef struct gk_store_tx_stats {
	uint64_t count[GK_TX_DURABLE + 1][GK_STORE_TX_BUCKETS + 1];
	double sum[GK_TX_DURABLE + 1];          /* seconds */
} gk_store_tx_stats;
void gk_store_tx_stats_get(const gk_store *s, gk_store_tx_stats *out);

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
/* Durable; audited as who at now. */
gk_status gk_store_identity_set(gk_store *s, const gk_gcks_identity *id, const char *who, int64_t now);

/* ---- group policy ---- */
/* (Storing a policy: gk_keys_group_put in gcks_keyrules.h, which decides what a change does to
 * the group's keys.) */
gk_status gk_store_group_get(gk_store *s, const char *name, gk_group_policy *out);
gk_status gk_store_group_get_by_ident(gk_store *s, const gk_ident *id, gk_group_policy *out);
gk_status gk_store_group_delete(gk_store *s, const char *name, const char *who, int64_t now);
/* Names of all groups, malloc'd array of malloc'd strings; free with gk_store_names_free. */
gk_status gk_store_group_names(gk_store *s, char ***names, size_t *n);
void gk_store_names_free(char **names, size_t n);
/* Monotonic generation of a group's policy (changes on every effective put). */
gk_status gk_store_group_generation(gk_store *s, const char *name, int64_t *gen);

/* A group as the in-transaction operations name it: an id of the backend's own, valid while
 * the group exists. */
typedef int64_t gk_store_gid;
/* (tx) The group's id and policy generation; GK_E_NOT_FOUND when there is none. gen may be NULL. */
gk_status gk_store_group_find(gk_store *s, const char *name, gk_store_gid *gid, int64_t *gen);
/* (tx) The whole policy of a group (free with gk_group_policy_free). */
gk_status gk_store_group_read(gk_store *s, gk_store_gid gid, gk_group_policy *out);
/* (tx) Writes group g (created and updated at now): when replace, over group *gid, whose TEKs
 * and members it replaces and whose generation it bumps; else as a new group of generation 1,
 * setting *gid. g->name is not empty and shorter than its buffer; arrays are present when their
 * counts are not zero. Key rows are left as they are. */
gk_status gk_store_group_write(gk_store *s, const gk_group_policy *g, int64_t now, bool replace,
			       gk_store_gid *gid);

/* ---- group SA keys ---- */
/* One key of one SA of a group. What it looks like (SPI and key lengths) is the key rules'
 * business (gcks_keyrules.c); the store keeps what it is given. */
typedef struct gk_sa_key {
	int64_t id;              /* the store's id, set by gk_store_key_insert */
	int tek_index;           /* index in policy teks[], -1 for the Rekey SA */
	uint8_t spi[16];
	size_t spi_len;
	uint8_t keymat[256];
	size_t keymat_len;
	int64_t created, expires; /* unix seconds */
	int64_t generation;      /* policy generation the key was made for */
} gk_sa_key;
/* A group keeps one current key per SA (tek_index) and the replaced ('old') keys until they
 * expire. */
/* (tx) The current key of SA idx, *found false when there is none. */
gk_status gk_store_key_current(gk_store *s, gk_store_gid gid, int idx, gk_sa_key *k, bool *found);
/* (tx) Stores k as the current key of SA k->tek_index, the previous current one becoming old;
 * sets k->id. */
gk_status gk_store_key_insert(gk_store *s, gk_store_gid gid, gk_sa_key *k);
/* (tx) Makes old the current keys of SAs a policy of nteks TEKs (and a Rekey SA when kek) does
 * not have. */
gk_status gk_store_keys_retire_unused(gk_store *s, gk_store_gid gid, size_t nteks, bool kek);
/* (tx) Forgets old keys that expired at or before now. */
gk_status gk_store_keys_prune(gk_store *s, gk_store_gid gid, int64_t now);
/* (tx) Marks the current keys as made for policy generation gen. */
gk_status gk_store_keys_carry(gk_store *s, gk_store_gid gid, int64_t gen);
/* (tx) Does any stored key, of any group, have this SPI? */
gk_status gk_store_spi_used(gk_store *s, const uint8_t *spi, size_t len, bool *used);

/* ---- counters that never repeat ---- */
typedef enum gk_store_counter {
	GK_COUNTER_SENDER_ID,    /* next Sender-ID of the group */
	GK_COUNTER_REKEY_MSGID,  /* next Message ID of the group's Rekey SA */
} gk_store_counter;
/* (tx) A counter's value, dflt when it was never set. */
gk_status gk_store_counter_get(gk_store *s, gk_store_gid gid, gk_store_counter c, int64_t dflt, int64_t *v);
/* (tx) */
gk_status gk_store_counter_set(gk_store *s, gk_store_gid gid, gk_store_counter c, int64_t v);

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
/* Records (or refreshes) a member's registration; *fresh (may be NULL) tells whether the member
 * had none (the row was inserted, not refreshed). */
gk_status gk_store_registration_put(gk_store *s, const gk_registration *r, bool *fresh);
gk_status gk_store_registration_delete(gk_store *s, const char *group, const char *member);
/* Is the member registered to the group? (one indexed lookup) */
gk_status gk_store_registration_exists(gk_store *s, const char *group, const char *member, bool *exists);
/* The members registered to the group, counted from their rows (time grows with them: gcksd
 * reads it when it loads the group and keeps the number in memory). */
gk_status gk_store_registration_count(gk_store *s, const char *group, uint32_t *n);
/* *all: every member registered to the group negotiated IKE fragmentation (true when none is
 * registered). A registration stored before schema version 3 counts as one that did not. On
 * error *all is false. */
gk_status gk_store_registrations_frag_ok(gk_store *s, const char *group, bool *all);
/* All registrations of a group, ordered by member; *out is malloc'd, free() it. */
gk_status gk_store_registrations(gk_store *s, const char *group, gk_registration **out, size_t *n);

/* ---- group commit ----
 * The registrations one turn of the event loop records share one write transaction, opened by
 * the first of them and committed once by gk_store_batch_commit at the end of the turn. Reads
 * of the same handle see the batch's rows. Any transaction (gk_store_begin) and any write
 * outside one (registration_put/delete, audit, ...) commits the batch first, so that write is
 * durable when it returns, as before; batches never nest. A row put in a batch is recorded
 * only once gk_store_batch_committed says so: nothing that depends on it may leave the server
 * before (RFC 9838 2.3.4: a member gets its keys only once the GCKS records its registration).
 * With synchronous=NORMAL in WAL mode a committed batch survives a crash of gcksd; a power
 * loss may lose the last ones, as it may lose any committed transaction.
 * A shared store (PostgreSQL) does not batch: the row is committed at once and *seq is 0. */
/* Puts r in the open batch (opening it), *seq the batch's number. On failure nothing of r is
 * written (what the batch held is committed), and once a commit of the turn failed every put
 * fails until gk_store_batch_reset. */
gk_status gk_store_registration_put_batched(gk_store *s, const gk_registration *r, uint64_t *seq, bool *fresh);
/* Commits the open batch; GK_OK when every batch since gk_store_batch_reset committed. */
gk_status gk_store_batch_commit(gk_store *s);
/* Did the batch numbered seq commit (seq 0: committed at once)? An open batch did not yet. */
bool gk_store_batch_committed(const gk_store *s, uint64_t seq);
/* Starts a new turn: forgets the failure of earlier batches (the caller settled their rows). */
void gk_store_batch_reset(gk_store *s);

/* ---- single-sender counter-mode TEKs a sender may hold (doc/sender-iv.md) ---- */
/* May member, as a sender, have installed the TEK with this SPI (4 octets)? */
gk_status gk_store_sender_tek_held(gk_store *s, const char *group, const char *member, const uint8_t spi[4],
				   bool *held);
/* (tx) Records that member may hold the TEK. */
gk_status gk_store_sender_tek_add(gk_store *s, const char *group, const char *member, const uint8_t spi[4]);
/* (tx) Records that every member registered to the group with this role may hold the TEK. */
gk_status gk_store_sender_tek_add_role(gk_store *s, const char *group, gk_role role, const uint8_t spi[4]);
/* (tx) Forgets the TEKs of a group whose keys the group no longer has. */
gk_status gk_store_sender_teks_prune(gk_store *s, const char *group);
/* (tx) When member's registration last forced a rekey of the group; *found false if never. */
gk_status gk_store_sender_rekey_get(gk_store *s, const char *group, const char *member, int64_t *at,
				    bool *found);
/* (tx) Records it; GK_E_NOT_FOUND when there is no such group. */
gk_status gk_store_sender_rekey_set(gk_store *s, const char *group, const char *member, int64_t at);

/* ---- the key tree of an lkh group (RFC 9838 Appendix A; gcks/gcks_lkh.h) ---- */
/* Its shape and the next Key ID, which the key rules only ever raise. */
typedef struct gk_lkh_meta {
	unsigned degree, depth;
	size_t key_len;
	uint32_t next_key_id;
} gk_lkh_meta;
/* One node by heap position; member is NULL inside the tree. */
typedef struct gk_lkh_row {
	uint32_t pos, key_id;
	uint8_t key[32];
	size_t key_len;
	const char *member;
	bool dirty;
} gk_lkh_row;
/* (tx) *found false when the group has no tree. */
gk_status gk_store_lkh_meta_get(gk_store *s, gk_store_gid gid, gk_lkh_meta *m, bool *found);
/* (tx) */
gk_status gk_store_lkh_meta_set(gk_store *s, gk_store_gid gid, const gk_lkh_meta *m);
/* (tx) Calls fn for every node of the group's tree (row valid during the call); fn's failure
 * stops the walk and is returned. */
gk_status gk_store_lkh_rows(gk_store *s, gk_store_gid gid, gk_status (*fn)(void *ctx, const gk_lkh_row *r),
			    void *ctx);
/* (tx) Writes the node at r->pos (replacing what was there). */
gk_status gk_store_lkh_put(gk_store *s, gk_store_gid gid, const gk_lkh_row *r);
/* (tx) Removes the node at pos. */
gk_status gk_store_lkh_del(gk_store *s, gk_store_gid gid, uint32_t pos);
/* (tx) Removes the tree, nodes and shape. */
gk_status gk_store_lkh_clear(gk_store *s, gk_store_gid gid);

/* ---- audit ---- */
/* Records who did action at now: inside the caller's transaction (part of it) or on its own. */
gk_status gk_store_audit(gk_store *s, const char *who, const char *action, const char *detail, int64_t now);
typedef struct gk_audit_row {
	int64_t at;              /* Unix time */
	char who[256], action[256], detail[4096];
} gk_audit_row;
/* The last `last` audit records, oldest first; *out is malloc'd, free() it. */
gk_status gk_store_audit_list(gk_store *s, size_t last, gk_audit_row **out, size_t *n);
/* (tx or on its own) The position of the newest audit record with exactly this action and
 * detail (later records have greater positions); *pos 0 when there is none. */
gk_status gk_store_audit_find(gk_store *s, const char *action, const char *detail, int64_t *pos);

/* ---- several servers sharing one store ----
 * A backend several gcksd may share at once (PostgreSQL) keeps which servers are alive, which
 * server leads each group's rekeys (a lease row per group: holder, epoch, expiry) and carries
 * change notices between them (LISTEN/NOTIFY). Times here are the store's own (PostgreSQL:
 * the database's now()), the one exception to "the store reads no clock": the servers' clocks
 * must not decide who leads. A backend one gcksd holds alone (SQLite, under its lock file)
 * implements none of this: gcks/store/store_cluster.c answers for it that the one server is
 * alive and leads every group, and notices go nowhere. Server ids have 1 to
 * GK_SERVER_ID_MAX - 1 octets. */
#define GK_SERVER_ID_MAX 128
/* Can several servers use this store at once? */
bool gk_store_shared(gk_store *s);
/* Records that server is alive now (a row made on first use), in a transaction of its own.
 * instance names one run of the server (a random nonce, 1 to GK_SERVER_INSTANCE_MAX - 1
 * octets): the row is this instance's when it holds the same instance, or when its last
 * heartbeat is stale_ms or more old (a server that crashed and came back under its id takes
 * it over); else another live server runs under the same id: GK_E_STATE, and *age_ms (may be
 * NULL) is how old that one's heartbeat is. */
#define GK_SERVER_INSTANCE_MAX 33
gk_status gk_store_server_beat(gk_store *s, const char *server, const char *instance, int64_t stale_ms,
			       int64_t *age_ms);
typedef struct gk_server_row {
	char id[GK_SERVER_ID_MAX];
	int64_t age;             /* seconds since its last heartbeat, by the store's clock */
} gk_server_row;
/* Every server that ever beat, by id; *out malloc'd, free() it. Unshared store: none. */
gk_status gk_store_servers(gk_store *s, gk_server_row **out, size_t *n);
typedef struct gk_lease {
	char holder[GK_SERVER_ID_MAX]; /* "" when nobody ever took it */
	int64_t epoch;           /* raised each time the lease changes hands */
	int64_t remaining;       /* seconds until it expires, by the store's clock; <= 0: expired */
} gk_lease;
/* Takes or renews the lease on the group's rekeys for server, in a transaction of its own: it
 * succeeds (*held true) when the lease is free, expired, or already server's; it then expires
 * lease_s seconds later, and its epoch is raised when the holder changes. *l is the lease as it
 * is after the call. The store handle remembers the epoch it took, for gk_store_lease_check.
 * Unshared store: always held, epoch 1. */
gk_status gk_store_lease_take(gk_store *s, const char *group, const char *server, int64_t lease_s, gk_lease *l,
			      bool *held);
/* The group's lease as the store has it; *found false when nobody ever took it. */
gk_status gk_store_lease_get(gk_store *s, const char *group, gk_lease *l, bool *found);
/* (tx) The fence: does the server that took the group's lease through this store handle still
 * hold it, with the epoch it took, unexpired? The key rules run it inside the transaction that
 * takes a Rekey SA Message ID (gk_keys_rekey_msgid_next, gk_keys_group_rekey), so a leader
 * whose lease was taken over cannot send a GSA_REKEY with a Message ID the new leader also
 * uses: its transaction fails instead. A handle that takes leases (gcksd's) and never took this
 * group's is refused too. A handle that never took any lease is not fenced: it belongs to a
 * tool (gcksctl) that sends no GSA_REKEY. Unshared store: always true. */
gk_status gk_store_lease_check(gk_store *s, const char *group, bool *held);
/* Tells every other server sharing the store that what (a group's name) changed: after the
 * commit of the caller's transaction when inside one, else at once. Unshared store: nothing. */
gk_status gk_store_notify(gk_store *s, const char *what);
/* The file descriptor to watch for notices (readable: call gk_store_notices), -1 when the
 * backend has none. Valid until the store reconnects: ask again after a failure. */
int gk_store_notice_fd(gk_store *s);
/* Reads the notices that arrived and calls fn with each one's text; a broken connection gives
 * GK_E_IO. */
gk_status gk_store_notices(gk_store *s, void (*fn)(void *ctx, const char *what), void *ctx);

/* ---- backup and restore ----
 * A backup is one file, mode 0600: a consistent copy of the whole store (SQLite's online backup
 * API in one step, so one read transaction: every committed transaction or none of it, also
 * while gcksd writes). It is written to a temporary file beside its name, checked, synced and
 * renamed over the name, so the name holds a whole backup or what it held before. A PostgreSQL
 * store refuses all of these with GK_E_UNSUPPORTED and a message naming pg_dump and pg_restore:
 * a consistent copy of a database several gcksd write is the database's own tools' job. */
/* A backup of the open store s (not inside a transaction) at path. */
gk_status gk_store_backup(gk_store *s, const char *path, char *err, size_t errlen);
/* The same copy as bytes (gcksd hands them over its control socket): *out malloc'd, *len
 * octets; gk_store_bytes_free wipes and frees them (they hold every key). */
gk_status gk_store_backup_bytes(gk_store *s, uint8_t **out, size_t *len, char *err, size_t errlen);
void gk_store_bytes_free(uint8_t *p, size_t len);
/* Writes such bytes as a backup at path (checked with gk_store_backup_check first). */
gk_status gk_store_backup_save(const char *locator, const uint8_t *bytes, size_t len, const char *path,
			       char *err, size_t errlen);
/* Is the file at path a backup this build can restore: intact (integrity check), a store of
 * schema *version no newer than GK_SCHEMA_VERSION (an older one is migrated when opened)?
 * GK_E_INVAL with the reason otherwise. locator names the kind of store it is a backup of. */
gk_status gk_store_backup_check(const char *locator, const char *path, int *version, char *err, size_t errlen);
/* Restoring is two steps around whatever the caller records in the restored copy: stage copies
 * the checked backup into a new file beside the store at locator (its name in staged, mode
 * 0600), which the caller opens with gk_store_open and closes; install puts it in place of the
 * store atomically (the old store's WAL folded in and removed first, the file keeping the old
 * one's owner). No gcksd may hold the store meanwhile. A failed step removes the staged file. */
gk_status gk_store_restore_stage(const char *backup, const char *locator, char *staged, size_t len,
				 int *version, char *err, size_t errlen);
gk_status gk_store_restore_install(const char *staged, const char *locator, char *err, size_t errlen);

#endif
