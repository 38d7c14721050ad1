/* Internal to the PostgreSQL backend of the store (gcks/store/store_pg*.c): the object, running
 * statements (all values as parameters), transactions, and parameters and result columns in
 * column order. The SQL text of each operation is in its file.
 *
 * Concurrency: several gcksd (and gcksctl) use one database at once. Every write transaction
 * (GK_TX_WRITE, GK_TX_DURABLE) runs at READ COMMITTED and first takes one transaction-scoped
 * advisory lock, PG_WRITE_LOCK, the store-wide writer lock SQLite's BEGIN IMMEDIATE takes on
 * a file. Chosen over SERIALIZABLE: what must be unique is unique across the whole store, not
 * per group (an SPI is checked against every group's keys, gk_store_spi_used), so writers of
 * different groups conflict anyway; with one lock taken first, a transaction that allocates SPIs,
 * Rekey SA Message IDs, Sender-IDs or LKH Key IDs and tree rows reads the latest committed
 * values (READ COMMITTED reads afresh per statement, and no other writer commits meanwhile), so
 * two gcksd can never hand out the same value, and no serialization failure or deadlock can occur
 * between two such transactions (one lock, always taken first). Statements outside a transaction
 * (registrations, audit) are single statements; the few that could still meet a serialization
 * failure (40001) or deadlock (40P01) are retried, PG_RETRIES times at most. A read transaction
 * (GK_TX_READ) is REPEATABLE READ: one snapshot, no lock.
 *
 * Durability: GK_TX_DURABLE sets synchronous_commit = on for the transaction, so its COMMIT
 * returns once the commit record is flushed locally (and on synchronous standbys when the
 * server has synchronous_standby_names). The server must keep fsync on. */
#ifndef GK_STORE_PG_INT_H
#define GK_STORE_PG_INT_H

#include <libpq-fe.h>
#include "store_backend.h"

/* The key of the store-wide writer lock (pg_advisory_xact_lock), "gks1". */
#define PG_WRITE_LOCK 0x676b7331LL
/* Retries of a statement outside a transaction that failed with 40001 or 40P01. */
#define PG_RETRIES 5
/* Parameters of one statement at most (a group row has 40). */
#define PG_MAXP 48

/* Bounds on waiting for PostgreSQL (gcks_cluster.c says what they make of a lost database).
 * libpq's own calls wait without end on a connection whose peer went silent (a partition: no
 * RST, the kernel retransmits for about 15 minutes), so the backend never calls one that
 * waits: statements are sent and read on a non-blocking connection with poll(2) and a
 * deadline, and connections are made with PQconnectStartParams/PQconnectPoll.
 * PG_STATEMENT_MS: the answer to one statement; a statement not answered by then drops the
 *   connection (its transaction, if any, is rolled back by the server when it notices).
 * PG_CONNECT_MS: one connection attempt (TCP, TLS, authentication, session settings).
 * PG_CONNECT_SLICE_MS: a reconnection blocks its caller this long at most; the attempt goes
 *   on at the next call, so a server whose database is unreachable keeps its event loop.
 * PG_RETRY_MS: after a failed attempt, the next no sooner.
 * PG_IDLE_TX_MS: the session's idle_in_transaction_session_timeout: a server cut off inside
 *   a transaction holds the writer lock (and row locks) this long at most, well under
 *   PG_STATEMENT_MS, so the servers still connected wait for it without timing out. */
#define PG_STATEMENT_MS 5000
#define PG_CONNECT_MS 5000
#define PG_CONNECT_SLICE_MS 250
#define PG_RETRY_MS 1000
#define PG_IDLE_TX_MS 2000

/* The PostgreSQL store. Owns the connection, the attempt at the next one and the locator
 * (it may hold a password: wiped when freed). */
typedef struct pg_store {
	gk_store base;                  /* ops: must stay first */
	PGconn *conn;                   /* owned; NULL after it was dropped */
	PGconn *connecting;             /* owned: an attempt in progress (pg_reconnect), or NULL */
	PostgresPollingStatusType poll; /* what the attempt waits for */
	int64_t connect_deadline;       /* CLOCK_MONOTONIC ms: the attempt fails then */
	int64_t retry_at;               /* no new attempt before (CLOCK_MONOTONIC ms) */
	char *locator;                  /* owned */
	int version;
	bool in_tx;
	bool fd_changed;                /* the connection was dropped since pg_notice_fd last said */
	char errmsg[256];               /* last failure, for gk_store_errmsg() */
	int listen_fd;                  /* the socket LISTEN was issued on (store_pg_cluster.c), -1 */
} pg_store;

static inline pg_store *pgs(gk_store *s) { return (pg_store *)s; }

/* Parameters in column order: integers as text, text and BYTEA in binary (raw octets, as
 * given). The first that does not fit makes bad. Pointers are not copied. */
typedef struct pgp {
	int n;
	bool bad;
	const char *v[PG_MAXP];
	int len[PG_MAXP];
	int fmt[PG_MAXP];
	char num[PG_MAXP][24];
} pgp;
void pp_int(pgp *p, int64_t v);
/* NULL d binds NULL; a non-NULL d with n == 0 an empty BYTEA. */
void pp_blob(pgp *p, const void *d, size_t n);
/* Text of at most cap octets; NULL binds NULL. */
void pp_text(pgp *p, const char *t, size_t cap);
void pp_ts(pgp *p, const gk_ts_spec *t);

/* Runs sql with p (may be NULL); results in binary. On success *res (may be NULL: then
 * cleared) holds the result; on failure the message is in s->errmsg. Outside a transaction a
 * serialization failure or deadlock is retried. *changed (may be NULL): rows affected. */
gk_status pg_run(pg_store *s, const char *sql, const pgp *p, PGresult **res, int64_t *changed);
/* Wipes every value of res (keys pass through results) and frees it. */
void pg_clear(PGresult *res);
gk_status pg_begin(gk_store *s, gk_store_tx kind);
/* Connects s to locator (kept for reconnections), waiting PG_CONNECT_MS at most. */
gk_status pg_connect(pg_store *s, const char *locator);
/* Closes the connection and the attempt at the next one, and frees the locator. */
void pg_disconnect(pg_store *s);
gk_status pg_end(gk_store *s, gk_status st);

/* Reading row `row` of a binary result in column order; the first value that does not fit
 * sticks in st. */
typedef struct pgr {
	PGresult *res;
	int row, i;
	gk_status st;
} pgr;
int64_t pr_int(pgr *r);
bool pr_null(const pgr *r);
void pr_blob_exact(pgr *r, uint8_t *dst, size_t n);
void pr_blob(pgr *r, uint8_t *dst, size_t cap, size_t *len);
uint8_t *pr_blob_dup(pgr *r, size_t *len);
void pr_text(pgr *r, char *dst, size_t cap);
char *pr_text_dup(pgr *r);
void pr_ts(pgr *r, gk_ts_spec *t);
void pr_ident(pgr *r, gk_ident *id);

/* ---- the operations, one file per table ---- */
/* store_pg_groups.c */
gk_status pg_identity_get(gk_store *s, gk_gcks_identity *out);
gk_status pg_identity_set(gk_store *s, const gk_gcks_identity *id, const char *who, int64_t now);
gk_status pg_group_write(gk_store *s, const gk_group_policy *g, int64_t now, bool replace, gk_store_gid *gid);
gk_status pg_group_get(gk_store *s, const char *name, gk_group_policy *out);
gk_status pg_group_get_by_ident(gk_store *s, const gk_ident *id, gk_group_policy *out);
gk_status pg_group_delete(gk_store *s, const char *name, const char *who, int64_t now);
gk_status pg_group_names(gk_store *s, char ***names, size_t *n);
gk_status pg_group_generation(gk_store *s, const char *name, int64_t *gen);
gk_status pg_group_find(gk_store *s, const char *name, gk_store_gid *gid, int64_t *gen);
gk_status pg_group_read(gk_store *s, gk_store_gid gid, gk_group_policy *out);
/* store_pg_keys.c */
gk_status pg_key_current(gk_store *s, gk_store_gid gid, int idx, gk_sa_key *k, bool *found);
gk_status pg_key_insert(gk_store *s, gk_store_gid gid, gk_sa_key *k);
gk_status pg_keys_retire_unused(gk_store *s, gk_store_gid gid, size_t nteks, bool kek);
gk_status pg_keys_prune(gk_store *s, gk_store_gid gid, int64_t now);
gk_status pg_spi_used(gk_store *s, const uint8_t *spi, size_t len, bool *used);
gk_status pg_keys_carry(gk_store *s, gk_store_gid gid, int64_t gen);
/* store_pg_counters.c */
gk_status pg_counter_get(gk_store *s, gk_store_gid gid, gk_store_counter c, int64_t dflt, int64_t *v);
gk_status pg_counter_set(gk_store *s, gk_store_gid gid, gk_store_counter c, int64_t v);
/* store_pg_regs.c */
gk_status pg_registration_put(gk_store *s, const gk_registration *r, bool *fresh);
gk_status pg_registration_delete(gk_store *s, const char *group, const char *member);
gk_status pg_registration_exists(gk_store *s, const char *group, const char *member, bool *exists);
gk_status pg_registration_count(gk_store *s, const char *group, uint32_t *n);
gk_status pg_registrations_frag_ok(gk_store *s, const char *group, bool *all);
gk_status pg_registrations(gk_store *s, const char *group, gk_registration **out, size_t *n);
/* store_pg_sender.c */
gk_status pg_sender_tek_held(gk_store *s, const char *group, const char *member, const uint8_t spi[4],
			     bool *held);
gk_status pg_sender_tek_add(gk_store *s, const char *group, const char *member, const uint8_t spi[4]);
gk_status pg_sender_tek_add_role(gk_store *s, const char *group, gk_role role, const uint8_t spi[4]);
gk_status pg_sender_teks_prune(gk_store *s, const char *group);
gk_status pg_sender_rekey_get(gk_store *s, const char *group, const char *member, int64_t *at, bool *found);
gk_status pg_sender_rekey_set(gk_store *s, const char *group, const char *member, int64_t at);
/* store_pg_audit.c */
gk_status pg_audit_write(pg_store *s, const char *who, const char *action, const char *detail, int64_t now);
gk_status pg_audit(gk_store *s, const char *who, const char *action, const char *detail, int64_t now);
gk_status pg_audit_list(gk_store *s, size_t last, gk_audit_row **out, size_t *n);
gk_status pg_audit_find(gk_store *s, const char *action, const char *detail, int64_t *pos);
/* store_pg_lkh.c */
gk_status pg_lkh_meta_get(gk_store *s, gk_store_gid gid, gk_lkh_meta *m, bool *found);
gk_status pg_lkh_meta_set(gk_store *s, gk_store_gid gid, const gk_lkh_meta *m);
gk_status pg_lkh_rows(gk_store *s, gk_store_gid gid, gk_status (*fn)(void *ctx, const gk_lkh_row *r), void *ctx);
gk_status pg_lkh_put(gk_store *s, gk_store_gid gid, const gk_lkh_row *r);
gk_status pg_lkh_del(gk_store *s, gk_store_gid gid, uint32_t pos);
gk_status pg_lkh_clear(gk_store *s, gk_store_gid gid);
/* several servers (store_pg_cluster.c) */
gk_status pg_server_beat(gk_store *s, const char *server, const char *instance, int64_t stale_ms, int64_t *age_ms);
gk_status pg_servers(gk_store *s, gk_server_row **out, size_t *n);
gk_status pg_lease_take(gk_store *s, const char *group, const char *server, int64_t lease_s, gk_lease *l,
			bool *held);
gk_status pg_lease_get(gk_store *s, const char *group, gk_lease *l, bool *found);
gk_status pg_lease_check(gk_store *s, const char *group, const char *server, int64_t epoch, bool *held);
gk_status pg_notify(gk_store *s, const char *what);
int pg_notice_fd(gk_store *s);
gk_status pg_notices(gk_store *s, void (*fn)(void *ctx, const char *what), void *ctx);

#endif
