/* Internal to the SQLite backend of the store (gcks/store/store_sqlite*.c): the object, the
 * statements, transactions, and binding and reading in column order. Every SQL statement of
 * gikev2 is in STMT_LIST below; all values go through bound parameters. */
#ifndef GK_STORE_SQLITE_INT_H
#define GK_STORE_SQLITE_INT_H

#include <sqlite3.h>
#include "store_backend.h"

/* ---- prepared statements ---- */

#define Q6 "?, ?, ?, ?, ?, ?"
#define TS_COLS(p) p "_family, " p "_start, " p "_end, " p "_ip_proto, " p "_port_lo, " p "_port_hi"

/* The policy columns of groups, in the order group_bind() binds and group_read() reads them. */
#define GROUP_COLS \
	"name, id_type, id_data, capacity, rekey_transport, transport_mode, atd, dtd, " \
	"sender_id_bits, rekey_margin_pct, ike_idle_timeout, " \
	"kek_present, kek_encr, kek_encr_key_bits, kek_integ, kek_kwa, kek_gcauth, kek_sig_scheme, " \
	TS_COLS("kek_src") ", " TS_COLS("kek_dst") ", " \
	"kek_lifetime, kek_ttl, kek_iface, kek_copies, kek_interval_ms, kek_frag_mtu, max_packet_rate, " \
	"kek_key_mgmt, kek_lkh_degree, ppk, addke"
#define GROUP_NCOLS 41
#define GROUP_QS Q6 ", " Q6 ", " Q6 ", " Q6 ", " Q6 ", " Q6 ", ?, ?, ?, ?, ?"

/* The columns of group_teks after group_id, in tek_bind()/tek_read() order. */
#define TEK_COLS \
	"position, name, proto, encr, encr_key_bits, integ, sn, " TS_COLS("src") ", " \
	TS_COLS("dst") ", lifetime"
#define TEK_NCOLS 20
#define TEK_QS Q6 ", " Q6 ", " Q6 ", ?, ?"

/* The columns of members after group_id, in member_bind()/member_read() order. */
#define MEMBER_COLS "position, id_type, id_data, name, auth, psk, pubkey, role, max_sender_ids, ppk, ppk_id"
#define MEMBER_NCOLS 11
#define MEMBER_QS Q6 ", ?, ?, ?, ?, ?"

#define KEY_COLS "id, spi, keymat, created, expires, generation"

#define STMT_LIST(X) \
	X(BEGIN, "BEGIN") \
	X(BEGIN_WRITE, "BEGIN IMMEDIATE") \
	X(COMMIT, "COMMIT") \
	X(ROLLBACK, "ROLLBACK") \
	X(SYNC_FULL, "PRAGMA synchronous = FULL") \
	X(SYNC_NORMAL, "PRAGMA synchronous = NORMAL") \
	X(IDENT_GET, "SELECT id_type, id_data, sign_key_pem, cert_pem, ca_pem, next_sign_key_pem " \
		     "FROM gcks_identity WHERE id = 1") \
	X(IDENT_SET, "INSERT OR REPLACE INTO gcks_identity (id, id_type, id_data, sign_key_pem, cert_pem, " \
		     "ca_pem, updated, next_sign_key_pem) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)") \
	X(AUDIT, "INSERT INTO audit (at, who, action, detail) VALUES (?1, ?2, ?3, ?4)") \
	X(AUDIT_LIST, "SELECT at, who, action, detail FROM (SELECT id, at, who, action, detail FROM audit " \
		      "ORDER BY id DESC LIMIT ?1) ORDER BY id") \
	X(AUDIT_FIND, "SELECT max(id) FROM audit WHERE action = ?1 AND detail = ?2") \
	X(GROUP_ID, "SELECT id, generation FROM groups WHERE name = ?1") \
	X(GROUP_ID_ONLY, "SELECT id FROM groups WHERE name = ?1") \
	X(GROUP_ID_BY_IDENT, "SELECT id FROM groups WHERE id_type = ?1 AND id_data = ?2") \
	X(GROUP_LOAD, "SELECT " GROUP_COLS " FROM groups WHERE id = ?1") \
	X(GROUP_INSERT, "INSERT INTO groups (" GROUP_COLS ", generation, created, updated) VALUES (" \
			GROUP_QS ", 1, ?42, ?42)") \
	X(GROUP_UPDATE, "UPDATE groups SET (" GROUP_COLS ") = (" GROUP_QS "), " \
			"generation = generation + 1, updated = ?42 WHERE id = ?43") \
	X(GROUP_DELETE, "DELETE FROM groups WHERE name = ?1") \
	X(GROUP_NAMES, "SELECT name FROM groups ORDER BY name") \
	X(TEK_LOAD, "SELECT " TEK_COLS " FROM group_teks WHERE group_id = ?1 ORDER BY position") \
	X(TEK_INSERT, "INSERT INTO group_teks (group_id, " TEK_COLS ") VALUES (?, " TEK_QS ")") \
	X(TEK_DELETE, "DELETE FROM group_teks WHERE group_id = ?1") \
	X(MEMBER_LOAD, "SELECT " MEMBER_COLS " FROM members WHERE group_id = ?1 ORDER BY position") \
	X(MEMBER_INSERT, "INSERT INTO members (group_id, " MEMBER_COLS ") VALUES (?, " MEMBER_QS ")") \
	X(MEMBER_DELETE, "DELETE FROM members WHERE group_id = ?1") \
	X(KEY_CURRENT, "SELECT " KEY_COLS " FROM sa_keys " \
		       "WHERE group_id = ?1 AND tek_index = ?2 AND state = 'current'") \
	X(KEY_RETIRE, "UPDATE sa_keys SET state = 'old' " \
		      "WHERE group_id = ?1 AND tek_index = ?2 AND state = 'current'") \
	X(KEY_RETIRE_UNUSED, "UPDATE sa_keys SET state = 'old' WHERE group_id = ?1 AND state = 'current' " \
			     "AND (tek_index >= ?2 OR (tek_index = -1 AND ?3 = 0))") \
	X(KEY_PRUNE, "DELETE FROM sa_keys WHERE group_id = ?1 AND state = 'old' AND expires <= ?2") \
	X(KEY_CARRY, "UPDATE sa_keys SET generation = ?2 WHERE group_id = ?1 AND state = 'current'") \
	X(KEY_INSERT, "INSERT INTO sa_keys (group_id, tek_index, spi, keymat, created, expires, " \
		      "generation, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'current')") \
	X(SPI_USED, "SELECT 1 FROM sa_keys WHERE spi = ?1 LIMIT 1") \
	X(COUNTER_GET, "SELECT value FROM counters WHERE group_id = ?1 AND name = ?2") \
	X(COUNTER_SET, "INSERT INTO counters (group_id, name, value) VALUES (?1, ?2, ?3) " \
		       "ON CONFLICT (group_id, name) DO UPDATE SET value = excluded.value") \
	X(REG_PUT, "INSERT INTO registrations (group_id, member, role, peer, registered_at, " \
		   "sender_id_first, sender_id_count, frag_ok) VALUES ((SELECT id FROM groups WHERE name = ?1), " \
		   "?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (group_id, member) DO UPDATE SET " \
		   "role = excluded.role, peer = excluded.peer, registered_at = excluded.registered_at, " \
		   "sender_id_first = excluded.sender_id_first, sender_id_count = excluded.sender_id_count, " \
		   "frag_ok = excluded.frag_ok") \
	X(REG_DELETE, "DELETE FROM registrations " \
		      "WHERE group_id = (SELECT id FROM groups WHERE name = ?1) AND member = ?2") \
	X(REG_COUNT, "SELECT (SELECT count(*) FROM registrations WHERE group_id = g.id) " \
		     "FROM groups g WHERE g.name = ?1") \
	X(REG_LIST, "SELECT member, role, peer, registered_at, sender_id_first, sender_id_count, frag_ok " \
		    "FROM registrations WHERE group_id = ?1 ORDER BY member") \
	X(REG_EXISTS, "SELECT 1 FROM registrations " \
		      "WHERE group_id = (SELECT id FROM groups WHERE name = ?1) AND member = ?2") \
	X(REG_NO_FRAG, "SELECT EXISTS (SELECT 1 FROM registrations WHERE frag_ok = 0 AND " \
		       "group_id = (SELECT id FROM groups WHERE name = ?1))") \
	X(STEK_HELD, "SELECT 1 FROM sender_teks WHERE group_id = (SELECT id FROM groups WHERE name = ?1) " \
		     "AND spi = ?2 AND member = ?3") \
	X(STEK_ADD, "INSERT OR IGNORE INTO sender_teks (group_id, spi, member) " \
		    "SELECT id, ?2, ?3 FROM groups WHERE name = ?1") \
	X(STEK_ADD_SENDERS, "INSERT OR IGNORE INTO sender_teks (group_id, spi, member) " \
			    "SELECT group_id, ?2, member FROM registrations " \
			    "WHERE group_id = (SELECT id FROM groups WHERE name = ?1) AND role = ?3") \
	X(STEK_PRUNE, "DELETE FROM sender_teks WHERE group_id = (SELECT id FROM groups WHERE name = ?1) " \
		      "AND spi NOT IN (SELECT spi FROM sa_keys WHERE group_id = sender_teks.group_id)") \
	X(SREKEY_GET, "SELECT at FROM sender_rekeys " \
		      "WHERE group_id = (SELECT id FROM groups WHERE name = ?1) AND member = ?2") \
	X(SREKEY_SET, "INSERT INTO sender_rekeys (group_id, member, at) SELECT id, ?2, ?3 FROM groups " \
		      "WHERE name = ?1 ON CONFLICT (group_id, member) DO UPDATE SET at = excluded.at") \
	X(LKH_META_GET, "SELECT degree, depth, key_len, next_key_id FROM lkh_trees WHERE group_id = ?1") \
	X(LKH_META_SET, "INSERT INTO lkh_trees (group_id, degree, depth, key_len, next_key_id) " \
			"VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (group_id) DO UPDATE SET degree = excluded.degree, " \
			"depth = excluded.depth, key_len = excluded.key_len, next_key_id = excluded.next_key_id") \
	X(LKH_ROWS, "SELECT position, key_id, key, member, dirty FROM lkh_nodes WHERE group_id = ?1 " \
		    "ORDER BY position") \
	X(LKH_PUT, "INSERT OR REPLACE INTO lkh_nodes (group_id, position, key_id, key, member, dirty) " \
		   "VALUES (?1, ?2, ?3, ?4, ?5, ?6)") \
	X(LKH_DEL, "DELETE FROM lkh_nodes WHERE group_id = ?1 AND position = ?2") \
	X(LKH_CLEAR_NODES, "DELETE FROM lkh_nodes WHERE group_id = ?1") \
	X(LKH_CLEAR_TREE, "DELETE FROM lkh_trees WHERE group_id = ?1")

#define STMT_ENUM_(n, sql) Q_##n,
enum stmt_id { STMT_LIST(STMT_ENUM_) Q_COUNT };

/* The SQLite store. Owns db and its prepared statements. */
typedef struct sq_store {
	gk_store base;                  /* ops: must stay first */
	sqlite3 *db;                    /* owned */
	int version;
	gk_store_tx tx;                 /* kind of the open transaction */
	bool in_batch;                  /* a read transaction inside the open batch (store_batch.c) */
	sqlite3_stmt *stmt[Q_COUNT];    /* prepared on first use, owned */
	char errmsg[256];               /* last SQLite error, for gk_store_errmsg() */
} sq_store;

static inline sq_store *sq(gk_store *s) { return (sq_store *)s; }

/* ---- store_sqlite_db.c: statements and transactions ---- */
gk_status sq_map_rc(int rc);
/* Records SQLite's message for rc (before a ROLLBACK replaces it) and maps rc. */
gk_status sq_fail(sq_store *s, int rc);
/* The statement, reset and unbound; NULL when it cannot be prepared (message recorded). */
sqlite3_stmt *sq_stmt(sq_store *s, enum stmt_id id);
/* Ends a use of q: releases its read snapshot and any pointers bound to it. */
void sq_done(sqlite3_stmt *q);
/* One step: GK_OK with *row (may be NULL) telling whether a row came back. */
gk_status sq_step(sq_store *s, sqlite3_stmt *q, bool *row);
gk_status sq_begin(gk_store *s, gk_store_tx kind);
gk_status sq_end(gk_store *s, gk_status st);

/* Binding in column order: the first failure sticks in rc. */
typedef struct binder {
	sqlite3_stmt *q;
	int i;
	int rc;
} binder;
void b_int(binder *b, int64_t v);
/* NULL p binds SQL NULL; a non-NULL p with n == 0 an empty BLOB. Bound without copying. */
void b_blob(binder *b, const void *p, size_t n);
/* Text of at most cap octets (fixed-size fields need not be NUL-terminated at cap). */
void b_text(binder *b, const char *t, size_t cap);
void b_ts(binder *b, const gk_ts_spec *t);
/* Runs q bound by b to completion (or to its first row, *row telling) and ends its use. */
gk_status sq_run_bound(sq_store *s, binder *b, bool *row);

/* Reading in column order: the first value that does not fit where it goes sticks in st. */
typedef struct reader {
	sqlite3_stmt *q;
	int i;
	gk_status st;
} reader;
int64_t r_int(reader *r);
void r_blob_exact(reader *r, uint8_t *dst, size_t n);
void r_blob(reader *r, uint8_t *dst, size_t cap, size_t *len);
/* A malloc'd copy of a BLOB column (NULL for SQL NULL or an empty BLOB). */
uint8_t *r_blob_dup(reader *r, size_t *len);
void r_text(reader *r, char *dst, size_t cap);
char *r_text_dup(reader *r);
void r_ts(reader *r, gk_ts_spec *t);
void r_ident(reader *r, gk_ident *id);

/* ---- the operations, one file per table ---- */
/* store_sqlite_lkh.c: the key trees of lkh groups */
gk_status sq_lkh_meta_get(gk_store *s, gk_store_gid gid, gk_lkh_meta *m, bool *found);
gk_status sq_lkh_meta_set(gk_store *s, gk_store_gid gid, const gk_lkh_meta *m);
gk_status sq_lkh_rows(gk_store *s, gk_store_gid gid, gk_status (*fn)(void *ctx, const gk_lkh_row *r), void *ctx);
gk_status sq_lkh_put(gk_store *s, gk_store_gid gid, const gk_lkh_row *r);
gk_status sq_lkh_del(gk_store *s, gk_store_gid gid, uint32_t pos);
gk_status sq_lkh_clear(gk_store *s, gk_store_gid gid);
/* store_sqlite_groups.c: identity, groups and their policy */
gk_status sq_identity_get(gk_store *s, gk_gcks_identity *out);
gk_status sq_identity_set(gk_store *s, const gk_gcks_identity *id, const char *who, int64_t now);
gk_status sq_group_write(gk_store *s, const gk_group_policy *g, int64_t now, bool replace, gk_store_gid *gid);
gk_status sq_group_get(gk_store *s, const char *name, gk_group_policy *out);
gk_status sq_group_get_by_ident(gk_store *s, const gk_ident *id, gk_group_policy *out);
gk_status sq_group_delete(gk_store *s, const char *name, const char *who, int64_t now);
gk_status sq_group_names(gk_store *s, char ***names, size_t *n);
gk_status sq_group_generation(gk_store *s, const char *name, int64_t *gen);
gk_status sq_group_find(gk_store *s, const char *name, gk_store_gid *gid, int64_t *gen);
gk_status sq_group_read(gk_store *s, gk_store_gid gid, gk_group_policy *out);
/* store_sqlite_keys.c */
gk_status sq_key_current(gk_store *s, gk_store_gid gid, int idx, gk_sa_key *k, bool *found);
gk_status sq_key_insert(gk_store *s, gk_store_gid gid, gk_sa_key *k);
gk_status sq_keys_retire_unused(gk_store *s, gk_store_gid gid, size_t nteks, bool kek);
gk_status sq_keys_prune(gk_store *s, gk_store_gid gid, int64_t now);
gk_status sq_spi_used(gk_store *s, const uint8_t *spi, size_t len, bool *used);
gk_status sq_keys_carry(gk_store *s, gk_store_gid gid, int64_t gen);
/* store_sqlite_counters.c */
gk_status sq_counter_get(gk_store *s, gk_store_gid gid, gk_store_counter c, int64_t dflt, int64_t *v);
gk_status sq_counter_set(gk_store *s, gk_store_gid gid, gk_store_counter c, int64_t v);
/* store_sqlite_regs.c */
gk_status sq_registration_put(gk_store *s, const gk_registration *r, bool *fresh);
gk_status sq_registration_delete(gk_store *s, const char *group, const char *member);
gk_status sq_registration_exists(gk_store *s, const char *group, const char *member, bool *exists);
gk_status sq_registration_count(gk_store *s, const char *group, uint32_t *n);
gk_status sq_registrations_frag_ok(gk_store *s, const char *group, bool *all);
gk_status sq_registrations(gk_store *s, const char *group, gk_registration **out, size_t *n);
/* store_sqlite_sender.c */
gk_status sq_sender_tek_held(gk_store *s, const char *group, const char *member, const uint8_t spi[4],
			     bool *held);
gk_status sq_sender_tek_add(gk_store *s, const char *group, const char *member, const uint8_t spi[4]);
gk_status sq_sender_tek_add_role(gk_store *s, const char *group, gk_role role, const uint8_t spi[4]);
gk_status sq_sender_teks_prune(gk_store *s, const char *group);
gk_status sq_sender_rekey_get(gk_store *s, const char *group, const char *member, int64_t *at, bool *found);
gk_status sq_sender_rekey_set(gk_store *s, const char *group, const char *member, int64_t at);
/* store_sqlite_audit.c */
/* Writes one audit record inside the caller's transaction (or on its own). */
gk_status sq_audit_write(sq_store *s, const char *who, const char *action, const char *detail, int64_t now);
gk_status sq_audit(gk_store *s, const char *who, const char *action, const char *detail, int64_t now);
gk_status sq_audit_list(gk_store *s, size_t last, gk_audit_row **out, size_t *n);
gk_status sq_audit_find(gk_store *s, const char *action, const char *detail, int64_t *pos);

/* store_sqlite_backup.c */
gk_status sq_backup(gk_store *s, const char *path, char *err, size_t errlen);
gk_status sq_backup_bytes(gk_store *s, uint8_t **out, size_t *len, char *err, size_t errlen);

#endif
