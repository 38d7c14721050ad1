/* The store: every SQL statement of gikev2 lives in this file. See storage.h for the contract
 * and schema/001_init.sql for the tables. All values go through bound parameters; the only
 * SQL text built at run time is PRAGMA user_version with a version number of our own. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>
#include <openssl/crypto.h>
#include "storage.h"
#include "schema_sql.h"
#include "iana.h"
#include "ikekeys.h"
#include "rand.h"

/* ---- prepared statements ---- */

#define Q6 "?, ?, ?, ?, ?, ?"
#define TS_COLS(p) p "_family, " p "_start, " p "_end, " p "_ip_proto, " p "_port_lo, " p "_port_hi"

/* The policy columns of groups, in the order group_bind() binds and group_read() reads them. */
#define GROUP_COLS \
	"name, id_type, id_data, capacity, rekey_transport, transport_mode, atd, dtd, " \
	"sender_id_bits, rekey_margin_pct, ike_idle_timeout, " \
	"kek_present, kek_encr, kek_encr_key_bits, kek_integ, kek_kwa, kek_gcauth, kek_sig_scheme, " \
	TS_COLS("kek_src") ", " TS_COLS("kek_dst") ", " \
	"kek_lifetime, kek_ttl, kek_iface, kek_copies, kek_interval_ms, kek_frag_mtu, max_packet_rate"
#define GROUP_NCOLS 37
#define GROUP_QS Q6 ", " Q6 ", " Q6 ", " Q6 ", " Q6 ", " Q6 ", ?"

/* The columns of group_teks after group_id, in tek_bind()/tek_read() order. */
#define TEK_COLS \
	"position, name, proto, encr, encr_key_bits, integ, sn, " TS_COLS("src") ", " \
	TS_COLS("dst") ", lifetime"
#define TEK_NCOLS 20
#define TEK_QS Q6 ", " Q6 ", " Q6 ", ?, ?"

/* The columns of members after group_id, in member_bind()/member_read() order. */
#define MEMBER_COLS "position, id_type, id_data, name, auth, psk, pubkey, role, max_sender_ids"
#define MEMBER_NCOLS 9
#define MEMBER_QS Q6 ", ?, ?, ?"

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
	X(GROUP_ID, "SELECT id, generation FROM groups WHERE name = ?1") \
	X(GROUP_ID_BY_IDENT, "SELECT id FROM groups WHERE id_type = ?1 AND id_data = ?2") \
	X(GROUP_LOAD, "SELECT " GROUP_COLS " FROM groups WHERE id = ?1") \
	X(GROUP_INSERT, "INSERT INTO groups (" GROUP_COLS ", generation, created, updated) VALUES (" \
			GROUP_QS ", 1, ?38, ?38)") \
	X(GROUP_UPDATE, "UPDATE groups SET (" GROUP_COLS ") = (" GROUP_QS "), " \
			"generation = generation + 1, updated = ?38 WHERE id = ?39") \
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
		   "sender_id_first, sender_id_count, frag_ok) SELECT id, ?2, ?3, ?4, ?5, ?6, ?7, ?8 " \
		   "FROM groups WHERE name = ?1 ON CONFLICT (group_id, member) DO UPDATE SET " \
		   "role = excluded.role, peer = excluded.peer, registered_at = excluded.registered_at, " \
		   "sender_id_first = excluded.sender_id_first, sender_id_count = excluded.sender_id_count, " \
		   "frag_ok = excluded.frag_ok") \
	X(REG_DELETE, "DELETE FROM registrations " \
		      "WHERE group_id = (SELECT id FROM groups WHERE name = ?1) AND member = ?2") \
	X(REG_COUNT, "SELECT (SELECT value FROM counters WHERE group_id = g.id AND name = 'registrations') " \
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
			    "WHERE group_id = (SELECT id FROM groups WHERE name = ?1) AND role = 2") \
	X(STEK_PRUNE, "DELETE FROM sender_teks WHERE group_id = (SELECT id FROM groups WHERE name = ?1) " \
		      "AND spi NOT IN (SELECT spi FROM sa_keys WHERE group_id = sender_teks.group_id)") \
	X(SREKEY_GET, "SELECT at FROM sender_rekeys " \
		      "WHERE group_id = (SELECT id FROM groups WHERE name = ?1) AND member = ?2") \
	X(SREKEY_SET, "INSERT INTO sender_rekeys (group_id, member, at) SELECT id, ?2, ?3 FROM groups " \
		      "WHERE name = ?1 ON CONFLICT (group_id, member) DO UPDATE SET at = excluded.at")

#define STMT_ENUM_(n, sql) Q_##n,
#define STMT_SQL_(n, sql) sql,
enum stmt_id { STMT_LIST(STMT_ENUM_) Q_COUNT };
static const char *const stmt_sql[Q_COUNT] = { STMT_LIST(STMT_SQL_) };

struct gk_store {
	sqlite3 *db;                    /* owned */
	int version;
	sqlite3_stmt *stmt[Q_COUNT];    /* prepared on first use, owned */
	char errmsg[256];               /* last SQLite error, for gk_store_errmsg() */
};

/* Which kind of transaction a public function runs in. */
typedef enum tx_kind {
	TX_READ,    /* one consistent snapshot over several SELECTs */
	TX_WRITE,   /* BEGIN IMMEDIATE: takes the write lock up front, so busy_timeout applies */
	/* TX_WRITE synced to disk at COMMIT. With WAL and synchronous=NORMAL a committed
	 * transaction can be lost on power failure; for Sender-IDs, Rekey Message IDs and group
	 * keys that would hand the same value out twice (IV reuse under one key, replayable
	 * GSA_REKEY) or keys members hold that the GCKS has forgotten. synchronous=FULL syncs
	 * the WAL on every COMMIT; it must be set outside a transaction. */
	TX_DURABLE,
} tx_kind;

static gk_status map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return GK_OK;
	case SQLITE_NOMEM:
		return GK_E_NOMEM;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return GK_E_INVAL;
	case SQLITE_TOOBIG:
		return GK_E_TOO_BIG;
	case SQLITE_NOTFOUND:
		return GK_E_NOT_FOUND;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return GK_E_MALFORMED;
	default:
		return GK_E_IO;
	}
}

/* Records SQLite's message for rc (before a ROLLBACK replaces it) and maps rc. */
static gk_status db_fail(gk_store *s, int rc)
{
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", sqlite3_errmsg(s->db));
	gk_status st = map_rc(rc);
	return st ? st : GK_E_IO;
}

/* The statement, reset and unbound; NULL when it cannot be prepared (message recorded). */
static sqlite3_stmt *stmt(gk_store *s, enum stmt_id id)
{
	if (!s->stmt[id]) {
		int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					    &s->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			db_fail(s, rc);
			return NULL;
		}
	}
	return s->stmt[id];
}

/* Ends a use of q: releases its read snapshot and any pointers bound to it. */
static void stmt_done(sqlite3_stmt *q)
{
	if (q) {
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
	}
}

/* One step: GK_OK with *row telling whether a row came back. */
static gk_status step(gk_store *s, sqlite3_stmt *q, bool *row)
{
	int rc = sqlite3_step(q);
	if (row)
		*row = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return GK_OK;
	return db_fail(s, rc);
}

/* Runs a parameterless statement to completion. */
static gk_status run(gk_store *s, enum stmt_id id)
{
	sqlite3_stmt *q = stmt(s, id);
	if (!q)
		return GK_E_IO;
	gk_status st = step(s, q, NULL);
	stmt_done(q);
	return st;
}

static gk_status tx_begin(gk_store *s, tx_kind kind)
{
	gk_status st;
	if (kind == TX_DURABLE && (st = run(s, Q_SYNC_FULL)))
		return st;
	st = run(s, kind == TX_READ ? Q_BEGIN : Q_BEGIN_WRITE);
	if (st && kind == TX_DURABLE)
		run(s, Q_SYNC_NORMAL);
	return st;
}

/* Commits when st is GK_OK, else rolls back; returns st or the COMMIT failure. */
static gk_status tx_end(gk_store *s, tx_kind kind, gk_status st)
{
	if (!st)
		st = run(s, Q_COMMIT);
	if (st && !sqlite3_get_autocommit(s->db))
		run(s, Q_ROLLBACK);
	if (kind == TX_DURABLE)
		run(s, Q_SYNC_NORMAL);
	return st;
}

/* ---- binding and reading in column order ---- */

typedef struct binder {
	sqlite3_stmt *q;
	int i;
	int rc;
} binder;

static void b_int(binder *b, int64_t v)
{
	b->i++;
	if (b->rc == SQLITE_OK)
		b->rc = sqlite3_bind_int64(b->q, b->i, v);
}

/* NULL p binds SQL NULL; a non-NULL p with n == 0 an empty BLOB. Bound without copying. */
static void b_blob(binder *b, const void *p, size_t n)
{
	b->i++;
	if (b->rc != SQLITE_OK)
		return;
	if (n > INT32_MAX)
		b->rc = SQLITE_TOOBIG;
	else
		b->rc = p ? sqlite3_bind_blob(b->q, b->i, p, (int)n, SQLITE_STATIC)
			  : sqlite3_bind_null(b->q, b->i);
}

/* Text of at most cap octets (fixed-size fields need not be NUL-terminated at cap). */
static void b_text(binder *b, const char *t, size_t cap)
{
	b->i++;
	if (b->rc != SQLITE_OK)
		return;
	b->rc = t ? sqlite3_bind_text(b->q, b->i, t, (int)strnlen(t, cap), SQLITE_STATIC)
		  : sqlite3_bind_null(b->q, b->i);
}

static size_t ts_addr_len(uint8_t family)
{
	return family == 4 ? 4 : 16; /* an unused KEK selector (family 0) keeps all 16 octets */
}

static void b_ts(binder *b, const gk_ts_spec *t)
{
	b_int(b, t->family);
	b_blob(b, t->start, ts_addr_len(t->family));
	b_blob(b, t->end, ts_addr_len(t->family));
	b_int(b, t->ip_proto);
	b_int(b, t->port_lo);
	b_int(b, t->port_hi);
}

typedef struct reader {
	sqlite3_stmt *q;
	int i;
	gk_status st;           /* first problem: a value that does not fit where it goes */
} reader;

static int64_t r_int(reader *r)
{
	return sqlite3_column_int64(r->q, r->i++);
}

static void r_blob_exact(reader *r, uint8_t *dst, size_t n)
{
	const void *p = sqlite3_column_blob(r->q, r->i);
	size_t len = (size_t)sqlite3_column_bytes(r->q, r->i);
	r->i++;
	if (len != n) {
		r->st = r->st ? r->st : GK_E_MALFORMED;
		return;
	}
	if (n)
		memcpy(dst, p, n);
}

static void r_blob(reader *r, uint8_t *dst, size_t cap, size_t *len)
{
	*len = (size_t)sqlite3_column_bytes(r->q, r->i);
	if (*len > cap) {
		r->st = r->st ? r->st : GK_E_MALFORMED;
		*len = 0;
		r->i++;
		return;
	}
	r_blob_exact(r, dst, *len);
}

/* A malloc'd copy of a BLOB column (NULL for SQL NULL or an empty BLOB). */
static uint8_t *r_blob_dup(reader *r, size_t *len)
{
	const void *p = sqlite3_column_blob(r->q, r->i);
	*len = (size_t)sqlite3_column_bytes(r->q, r->i);
	r->i++;
	if (!p || !*len) {
		*len = 0;
		return NULL;
	}
	uint8_t *d = malloc(*len);
	if (!d) {
		r->st = r->st ? r->st : GK_E_NOMEM;
		*len = 0;
		return NULL;
	}
	memcpy(d, p, *len);
	return d;
}

static void r_text(reader *r, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(r->q, r->i);
	size_t len = (size_t)sqlite3_column_bytes(r->q, r->i);
	r->i++;
	dst[0] = '\0';
	if (len >= cap) {
		r->st = r->st ? r->st : GK_E_MALFORMED;
		return;
	}
	if (t)
		memcpy(dst, t, len + 1);
}

static char *r_text_dup(reader *r)
{
	const unsigned char *t = sqlite3_column_text(r->q, r->i);
	r->i++;
	if (!t)
		return NULL;
	char *d = strdup((const char *)t);
	if (!d)
		r->st = r->st ? r->st : GK_E_NOMEM;
	return d;
}

static void r_ts(reader *r, gk_ts_spec *t)
{
	memset(t, 0, sizeof(*t));
	t->family = (uint8_t)r_int(r);
	r_blob_exact(r, t->start, ts_addr_len(t->family));
	r_blob_exact(r, t->end, ts_addr_len(t->family));
	t->ip_proto = (uint8_t)r_int(r);
	t->port_lo = (uint16_t)r_int(r);
	t->port_hi = (uint16_t)r_int(r);
}

static void r_ident(reader *r, gk_ident *id)
{
	size_t len;
	memset(id, 0, sizeof(*id));
	id->type = (uint8_t)r_int(r);
	r_blob(r, id->data, sizeof(id->data), &len);
	id->len = (uint8_t)len;
}

/* ---- opening and migrating ---- */

static void errf(gk_store_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errf(gk_store_err *err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* Refuses a file that group or others may access: it holds PSKs, keys and the signing key. */
static gk_status check_mode(const char *path, const struct stat *sb, gk_store_err *err)
{
	if (!S_ISREG(sb->st_mode)) {
		errf(err, "%s: not a regular file", path);
		return GK_E_INVAL;
	}
	if (sb->st_mode & 077) {
		errf(err, "%s: mode %04o lets group or others access the database (it holds keys); "
		     "run chmod 600 %s", path, (unsigned)(sb->st_mode & 07777), path);
		return GK_E_INVAL;
	}
	return GK_OK;
}

/* Creates the database file with mode 0600 (when asked and missing) or checks the mode of an
 * existing one, and of its -wal and -shm files if present. */
static gk_status file_prepare(const char *path, bool create, gk_store_err *err)
{
	struct stat sb;
	int fd = -1;
	gk_status st = GK_OK;
	if (create) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			/* exactly 0600 whatever the umask was */
			if (fchmod(fd, 0600) != 0) {
				errf(err, "%s: chmod: %s", path, strerror(errno));
				st = GK_E_IO;
			}
			goto out;
		}
		if (errno != EEXIST) {
			errf(err, "%s: cannot create: %s", path, strerror(errno));
			return GK_E_IO;
		}
	}
	if (lstat(path, &sb) != 0) {
		errf(err, "%s: %s%s", path, strerror(errno),
		     errno == ENOENT ? " (create it with gcksctl init)" : "");
		return errno == ENOENT ? GK_E_NOT_FOUND : GK_E_IO;
	}
	if ((st = check_mode(path, &sb, err)))
		goto out;
	static const char *const sidecars[] = { "-wal", "-shm" };
	for (size_t i = 0; i < 2 && !st; i++) {
		char side[4096];
		if (snprintf(side, sizeof(side), "%s%s", path, sidecars[i]) >= (int)sizeof(side)) {
			errf(err, "%s: path too long", path);
			st = GK_E_INVAL;
		} else if (lstat(side, &sb) == 0) {
			st = check_mode(side, &sb, err);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	return st;
}

static gk_status user_version(gk_store *s, int *v)
{
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
		*v = sqlite3_column_int(q, 0);
	gk_status st = rc == SQLITE_ROW ? GK_OK : db_fail(s, rc);
	sqlite3_finalize(q);
	return st;
}

static gk_status schema_is_empty(gk_store *s, bool *empty)
{
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
		*empty = sqlite3_column_int(q, 0) == 0;
	gk_status st = rc == SQLITE_ROW ? GK_OK : db_fail(s, rc);
	sqlite3_finalize(q);
	return st;
}

/* Applies one schema step in its own transaction. Another process may have applied it since
 * we looked, so the version is read again under the write lock. Foreign keys stay on during a
 * step (the pragma is a no-op inside a transaction): a step rebuilding a table must keep
 * references valid, e.g. with PRAGMA defer_foreign_keys. */
static gk_status apply_step(gk_store *s, const char *path, const gk_schema_step *step_,
			    gk_store_err *err)
{
	int v = 0;
	bool empty = false;
	char pragma[64];
	gk_status st = tx_begin(s, TX_WRITE);
	if (st)
		goto fail;
	if ((st = user_version(s, &v)))
		goto fail;
	if (v >= step_->version)
		return tx_end(s, TX_WRITE, GK_OK);
	if (v == 0 && ((st = schema_is_empty(s, &empty)) || !empty)) {
		errf(err, "%s: not a gikev2 database (it has tables but no schema version)", path);
		st = st ? st : GK_E_INVAL;
		goto out;
	}
	if (v != step_->version - 1) {
		errf(err, "%s: no migration from schema version %d to %d", path, v, step_->version);
		st = GK_E_STATE;
		goto out;
	}
	/* the version is a number of our own, not input */
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", step_->version);
	int rc = sqlite3_exec(s->db, step_->sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, pragma, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		st = db_fail(s, rc);
		goto fail;
	}
out:
	return tx_end(s, TX_WRITE, st);
fail:
	errf(err, "%s: applying schema %s: %s", path, step_->name, s->errmsg);
	return tx_end(s, TX_WRITE, st ? st : GK_E_IO);
}

/* Before anything writes: refuse a newer schema and SQLite files of other programs. */
static gk_status schema_check(gk_store *s, const char *path, gk_store_err *err)
{
	int v = 0;
	bool empty = true;
	gk_status st = user_version(s, &v);
	if (!st && v == 0)
		st = schema_is_empty(s, &empty);
	if (st) {
		errf(err, "%s: %s", path, s->errmsg);
		return st;
	}
	if (v > GK_SCHEMA_VERSION) {
		errf(err, "%s: database schema version %d is newer than this gcksd/gcksctl (%d); "
		     "upgrade gikev2", path, v, GK_SCHEMA_VERSION);
		return GK_E_UNSUPPORTED;
	}
	if (!empty) {
		errf(err, "%s: not a gikev2 database (it has tables but no schema version)", path);
		return GK_E_INVAL;
	}
	return GK_OK;
}

/* Applies every schema step above the file's version, each in one transaction. */
static gk_status migrate(gk_store *s, const char *path, gk_store_err *err)
{
	int v = 0;
	gk_status st = user_version(s, &v);
	for (size_t i = 0; i < gk_schema_nsteps && !st; i++)
		if (gk_schema_steps[i].version > v)
			st = apply_step(s, path, &gk_schema_steps[i], err);
	if (!st && !(st = user_version(s, &v)) && v != GK_SCHEMA_VERSION) {
		errf(err, "%s: schema is at version %d after migration, expected %d", path, v,
		     GK_SCHEMA_VERSION);
		st = GK_E_STATE;
	}
	if (!st)
		s->version = v;
	else if (err && !err->msg[0])
		errf(err, "%s: %s", path, s->errmsg);
	return st;
}

/* WAL lets gcksctl read and write while gcksd serves registrations. */
static int enable_wal(gk_store *s)
{
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *mode = (const char *)sqlite3_column_text(q, 0);
		rc = mode && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_ERROR;
		if (rc != SQLITE_OK)
			snprintf(s->errmsg, sizeof(s->errmsg), "cannot enable WAL (journal mode %s)",
				 mode ? mode : "?");
	} else {
		db_fail(s, rc);
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

/* Connection settings (after schema_check: the file is ours). */
static gk_status configure(gk_store *s, const char *path, gk_store_err *err)
{
	int rc = enable_wal(s);
	if (rc == SQLITE_OK) {
		/* secure_delete: replaced keys and PSKs are overwritten in the file, not just unlinked */
		rc = sqlite3_exec(s->db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; "
				  "PRAGMA secure_delete = ON", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			db_fail(s, rc);
	}
	if (rc != SQLITE_OK) {
		errf(err, "%s: %s", path, s->errmsg);
		gk_status st = map_rc(rc);
		return st ? st : GK_E_IO;
	}
	return GK_OK;
}

gk_status gk_store_open(const char *path, bool create, gk_store **out, gk_store_err *err)
{
	gk_store *s = NULL;
	gk_status st;
	if (err)
		err->msg[0] = '\0';
	if (!out || !path || !*path) {
		errf(err, "no database path");
		return GK_E_INVAL;
	}
	*out = NULL;
	/* SQLite creates -wal and -shm next to the database: no access for others from the
	 * first moment (later it copies the database file's mode onto them). */
	mode_t old_umask = umask(077);
	if ((st = file_prepare(path, create, err)))
		goto out;
	s = calloc(1, sizeof(*s));
	if (!s) {
		st = GK_E_NOMEM;
		goto out;
	}
	int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		errf(err, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		st = map_rc(rc) ? map_rc(rc) : GK_E_IO;
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);
	if ((st = schema_check(s, path, err)) || (st = configure(s, path, err)) ||
	    (st = migrate(s, path, err)))
		goto out;
	*out = s;
	s = NULL;
out:
	umask(old_umask);
	gk_store_close(s);
	return st;
}

void gk_store_close(gk_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	sqlite3_close(s->db);
	free(s);
}

int gk_store_version(gk_store *s)
{
	return s ? s->version : 0;
}

const char *gk_store_errmsg(const gk_store *s)
{
	return s ? s->errmsg : "";
}

/* ---- audit ---- */

static gk_status audit_write(gk_store *s, const char *who, const char *action, const char *detail)
{
	sqlite3_stmt *q = stmt(s, Q_AUDIT);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, (int64_t)time(NULL));
	b_text(&b, who && *who ? who : "-", 256);
	b_text(&b, action ? action : "", 256);
	b_text(&b, detail ? detail : "", 4096);
	gk_status st = b.rc ? db_fail(s, b.rc) : step(s, q, NULL);
	stmt_done(q);
	return st;
}

gk_status gk_store_audit(gk_store *s, const char *who, const char *action, const char *detail)
{
	if (!s || !action)
		return GK_E_INVAL;
	return audit_write(s, who, action, detail);
}

/* ---- GCKS identity ---- */

void gk_gcks_identity_free(gk_gcks_identity *id)
{
	if (!id)
		return;
	if (id->sign_key_pem) {
		OPENSSL_cleanse(id->sign_key_pem, strlen(id->sign_key_pem));
		free(id->sign_key_pem);
	}
	free(id->cert_pem);
	free(id->ca_pem);
	if (id->next_sign_key_pem) {
		OPENSSL_cleanse(id->next_sign_key_pem, strlen(id->next_sign_key_pem));
		free(id->next_sign_key_pem);
	}
	memset(id, 0, sizeof(*id));
}

gk_status gk_store_identity_get(gk_store *s, gk_gcks_identity *out)
{
	if (!s || !out)
		return GK_E_INVAL;
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *q = stmt(s, Q_IDENT_GET);
	if (!q)
		return GK_E_IO;
	bool row = false;
	gk_status st = step(s, q, &row);
	if (!st && !row)
		st = GK_E_NOT_FOUND;
	if (!st) {
		reader r = { q, 0, GK_OK };
		r_ident(&r, &out->id);
		out->sign_key_pem = r_text_dup(&r);
		out->cert_pem = r_text_dup(&r);
		out->ca_pem = r_text_dup(&r);
		out->next_sign_key_pem = r_text_dup(&r);
		st = r.st;
	}
	stmt_done(q);
	if (st)
		gk_gcks_identity_free(out);
	return st;
}

gk_status gk_store_identity_set(gk_store *s, const gk_gcks_identity *id, const char *who)
{
	char text[GK_IDENT_TEXT_MAX];
	if (!s || !id)
		return GK_E_INVAL;
	gk_status st = tx_begin(s, TX_DURABLE);
	if (st)
		return st;
	sqlite3_stmt *q = stmt(s, Q_IDENT_SET);
	if (!q) {
		st = GK_E_IO;
		goto out;
	}
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, id->id.type);
	b_blob(&b, id->id.data, id->id.len);
	b_text(&b, id->sign_key_pem, SIZE_MAX);
	b_text(&b, id->cert_pem, SIZE_MAX);
	b_text(&b, id->ca_pem, SIZE_MAX);
	b_int(&b, (int64_t)time(NULL));
	b_text(&b, id->next_sign_key_pem, SIZE_MAX);
	st = b.rc ? db_fail(s, b.rc) : step(s, q, NULL);
	stmt_done(q);
	if (!st)
		st = audit_write(s, who, "identity set", gk_ident_text(&id->id, text));
out:
	return tx_end(s, TX_DURABLE, st);
}

/* ---- group policy ---- */

static void group_bind(binder *b, const gk_group_policy *g)
{
	const gk_kek_policy *k = &g->kek;
	b_text(b, g->name, sizeof(g->name));
	b_int(b, g->id.type);
	b_blob(b, g->id.data, g->id.len);
	b_int(b, g->capacity);
	b_int(b, g->rekey_transport);
	b_int(b, g->transport_mode ? 1 : 0);
	b_int(b, g->atd);
	b_int(b, g->dtd);
	b_int(b, g->sender_id_bits);
	b_int(b, g->rekey_margin_pct);
	b_int(b, g->ike_idle_timeout);
	b_int(b, k->present ? 1 : 0);
	b_int(b, k->encr);
	b_int(b, k->encr_key_bits);
	b_int(b, k->integ);
	b_int(b, k->kwa);
	b_int(b, k->gcauth);
	b_int(b, k->sig_scheme);
	b_ts(b, &k->src);
	b_ts(b, &k->dst);
	b_int(b, k->lifetime);
	b_int(b, k->ttl);
	b_text(b, k->iface, sizeof(k->iface));
	b_int(b, k->copies);
	b_int(b, k->interval_ms);
	b_int(b, k->frag_mtu);
	b_int(b, g->max_packet_rate);
}

static gk_status group_read(reader *r, gk_group_policy *g)
{
	gk_kek_policy *k = &g->kek;
	r_text(r, g->name, sizeof(g->name));
	r_ident(r, &g->id);
	g->capacity = (uint32_t)r_int(r);
	g->rekey_transport = (gk_rekey_transport)r_int(r);
	g->transport_mode = r_int(r) != 0;
	g->atd = (uint16_t)r_int(r);
	g->dtd = (uint16_t)r_int(r);
	g->sender_id_bits = (uint16_t)r_int(r);
	g->rekey_margin_pct = (uint8_t)r_int(r);
	g->ike_idle_timeout = (uint32_t)r_int(r);
	k->present = r_int(r) != 0;
	k->encr = (uint16_t)r_int(r);
	k->encr_key_bits = (uint16_t)r_int(r);
	k->integ = (uint16_t)r_int(r);
	k->kwa = (uint16_t)r_int(r);
	k->gcauth = (uint16_t)r_int(r);
	k->sig_scheme = (int)r_int(r);
	r_ts(r, &k->src);
	r_ts(r, &k->dst);
	k->lifetime = (uint32_t)r_int(r);
	k->ttl = (uint8_t)r_int(r);
	r_text(r, k->iface, sizeof(k->iface));
	k->copies = (uint16_t)r_int(r);
	k->interval_ms = (uint32_t)r_int(r);
	k->frag_mtu = (uint16_t)r_int(r);
	g->max_packet_rate = (uint32_t)r_int(r);
	return r->i == GROUP_NCOLS ? r->st : GK_E_STATE;
}

static void tek_bind(binder *b, size_t pos, const gk_tek_policy *t)
{
	b_int(b, (int64_t)pos);
	b_text(b, t->name, sizeof(t->name));
	b_int(b, t->proto);
	b_int(b, t->encr);
	b_int(b, t->encr_key_bits);
	b_int(b, t->integ);
	b_int(b, t->sn);
	b_ts(b, &t->src);
	b_ts(b, &t->dst);
	b_int(b, t->lifetime);
}

static gk_status tek_read(reader *r, gk_tek_policy *t)
{
	memset(t, 0, sizeof(*t));
	r_int(r); /* position: rows come ordered by it */
	r_text(r, t->name, sizeof(t->name));
	t->proto = (uint8_t)r_int(r);
	t->encr = (uint16_t)r_int(r);
	t->encr_key_bits = (uint16_t)r_int(r);
	t->integ = (uint16_t)r_int(r);
	t->sn = (uint16_t)r_int(r);
	r_ts(r, &t->src);
	r_ts(r, &t->dst);
	t->lifetime = (uint32_t)r_int(r);
	return r->i == TEK_NCOLS ? r->st : GK_E_STATE;
}

static void member_bind(binder *b, size_t pos, const gk_member_policy *m, char *text)
{
	b_int(b, (int64_t)pos);
	b_int(b, m->id.type);
	b_blob(b, m->id.data, m->id.len);
	b_text(b, gk_ident_text(&m->id, text), GK_IDENT_TEXT_MAX);
	b_int(b, m->auth);
	b_blob(b, m->psk_len ? m->psk : NULL, m->psk_len);
	b_blob(b, m->pubkey_len ? m->pubkey : NULL, m->pubkey_len);
	b_int(b, m->role);
	b_int(b, m->max_sender_ids);
}

/* Fills m, which owns what it reads (psk, pubkey) even on failure. */
static gk_status member_read(reader *r, gk_member_policy *m)
{
	memset(m, 0, sizeof(*m));
	r_int(r); /* position */
	r_ident(r, &m->id);
	r_int(r); /* name: derived from id */
	m->auth = (gk_member_auth)r_int(r);
	m->psk = r_blob_dup(r, &m->psk_len);
	m->pubkey = r_blob_dup(r, &m->pubkey_len);
	m->role = (gk_role)r_int(r);
	m->max_sender_ids = (uint32_t)r_int(r);
	return r->i == MEMBER_NCOLS ? r->st : GK_E_STATE;
}

/* Row id and policy generation of a group; GK_E_NOT_FOUND when there is none. */
static gk_status group_lookup(gk_store *s, const char *name, int64_t *gid, int64_t *gen)
{
	sqlite3_stmt *q = stmt(s, Q_GROUP_ID);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, name, GK_IDENT_TEXT_MAX);
	bool row = false;
	gk_status st = b.rc ? db_fail(s, b.rc) : step(s, q, &row);
	if (!st && !row)
		st = GK_E_NOT_FOUND;
	if (!st) {
		*gid = sqlite3_column_int64(q, 0);
		if (gen)
			*gen = sqlite3_column_int64(q, 1);
	}
	stmt_done(q);
	return st;
}

/* Grows *arr by one zeroed element of size sz; the new element is at index *n - 1.
 * The arrays this builds start empty and only grow through here, so the capacity is the next
 * power of two: loading n rows copies O(n) elements, not O(n^2) (gcksd under AddressSanitizer,
 * whose realloc always copies, needed over a minute to load a group of 20,000 members). */
static gk_status grow(void **arr, size_t *n, size_t sz)
{
	if ((*n & (*n - 1)) == 0) { /* 0 or a power of two: full */
		size_t cap = *n ? *n * 2 : 1;
		if (cap > SIZE_MAX / sz)
			return GK_E_NOMEM;
		void *p = realloc(*arr, cap * sz);
		if (!p)
			return GK_E_NOMEM;
		*arr = p;
	}
	memset((uint8_t *)*arr + *n * sz, 0, sz);
	(*n)++;
	return GK_OK;
}

/* Gives back the capacity grow() left unused (for arrays that are kept). */
static void shrink(void **arr, size_t n, size_t sz)
{
	void *p = n ? realloc(*arr, n * sz) : NULL;
	if (p)
		*arr = p;
}

static gk_status teks_load(gk_store *s, int64_t gid, gk_group_policy *g)
{
	sqlite3_stmt *q = stmt(s, Q_TEK_LOAD);
	if (!q)
		return GK_E_IO;
	bool row = true;
	gk_status st = sqlite3_bind_int64(q, 1, gid) ? db_fail(s, SQLITE_RANGE) : GK_OK;
	while (!st && !(st = step(s, q, &row)) && row) {
		if ((st = grow((void **)&g->teks, &g->nteks, sizeof(*g->teks))))
			break;
		reader r = { q, 0, GK_OK };
		st = tek_read(&r, &g->teks[g->nteks - 1]);
	}
	stmt_done(q);
	return st;
}

static gk_status members_load(gk_store *s, int64_t gid, gk_group_policy *g)
{
	sqlite3_stmt *q = stmt(s, Q_MEMBER_LOAD);
	if (!q)
		return GK_E_IO;
	bool row = true;
	gk_status st = sqlite3_bind_int64(q, 1, gid) ? db_fail(s, SQLITE_RANGE) : GK_OK;
	while (!st && !(st = step(s, q, &row)) && row) {
		if ((st = grow((void **)&g->members, &g->nmembers, sizeof(*g->members))))
			break;
		reader r = { q, 0, GK_OK };
		st = member_read(&r, &g->members[g->nmembers - 1]);
	}
	stmt_done(q);
	shrink((void **)&g->members, g->nmembers, sizeof(*g->members));
	return st;
}

/* Loads the whole policy of group row gid; the caller runs the transaction. */
static gk_status group_load(gk_store *s, int64_t gid, gk_group_policy *out)
{
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *q = stmt(s, Q_GROUP_LOAD);
	if (!q)
		return GK_E_IO;
	bool row = false;
	gk_status st = sqlite3_bind_int64(q, 1, gid) ? db_fail(s, SQLITE_RANGE) : step(s, q, &row);
	if (!st && !row)
		st = GK_E_NOT_FOUND;
	if (!st) {
		reader r = { q, 0, GK_OK };
		st = group_read(&r, out);
	}
	stmt_done(q);
	if (!st)
		st = teks_load(s, gid, out);
	if (!st)
		st = members_load(s, gid, out);
	if (st)
		gk_group_policy_free(out);
	return st;
}

static bool ts_eq(const gk_ts_spec *a, const gk_ts_spec *b)
{
	size_t n = ts_addr_len(a->family);
	return a->family == b->family && !memcmp(a->start, b->start, n) &&
	       !memcmp(a->end, b->end, n) && a->ip_proto == b->ip_proto &&
	       a->port_lo == b->port_lo && a->port_hi == b->port_hi;
}

static bool ident_eq(const gk_ident *a, const gk_ident *b)
{
	return a->type == b->type && a->len == b->len && !memcmp(a->data, b->data, a->len);
}

static bool bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (!alen || !memcmp(a, b, alen));
}

static bool tek_eq(const gk_tek_policy *a, const gk_tek_policy *b)
{
	return !strncmp(a->name, b->name, sizeof(a->name)) && a->proto == b->proto &&
	       a->encr == b->encr && a->encr_key_bits == b->encr_key_bits && a->integ == b->integ &&
	       a->sn == b->sn && ts_eq(&a->src, &b->src) && ts_eq(&a->dst, &b->dst) &&
	       a->lifetime == b->lifetime;
}

static bool kek_eq(const gk_kek_policy *a, const gk_kek_policy *b)
{
	return a->present == b->present && a->encr == b->encr &&
	       a->encr_key_bits == b->encr_key_bits && a->integ == b->integ && a->kwa == b->kwa &&
	       a->gcauth == b->gcauth && a->sig_scheme == b->sig_scheme &&
	       ts_eq(&a->src, &b->src) && ts_eq(&a->dst, &b->dst) && a->lifetime == b->lifetime &&
	       a->ttl == b->ttl && !strncmp(a->iface, b->iface, sizeof(a->iface)) &&
	       a->copies == b->copies && a->interval_ms == b->interval_ms &&
	       a->frag_mtu == b->frag_mtu;
}

static bool member_eq(const gk_member_policy *a, const gk_member_policy *b)
{
	return ident_eq(&a->id, &b->id) && a->auth == b->auth &&
	       bytes_eq(a->psk, a->psk_len, b->psk, b->psk_len) &&
	       bytes_eq(a->pubkey, a->pubkey_len, b->pubkey, b->pubkey_len) &&
	       a->role == b->role && a->max_sender_ids == b->max_sender_ids;
}

/* Everything that shapes the group's SAs and how members use them: a difference here needs
 * fresh keys. Capacity, idle timeout, rekey margin and the member list do not. */
static bool sa_policy_eq(const gk_group_policy *a, const gk_group_policy *b)
{
	if (strcmp(a->name, b->name) || !ident_eq(&a->id, &b->id) ||
	    a->rekey_transport != b->rekey_transport || a->transport_mode != b->transport_mode ||
	    a->atd != b->atd || a->dtd != b->dtd || a->sender_id_bits != b->sender_id_bits ||
	    !kek_eq(&a->kek, &b->kek) || a->nteks != b->nteks)
		return false;
	for (size_t i = 0; i < a->nteks; i++)
		if (!tek_eq(&a->teks[i], &b->teks[i]))
			return false;
	return true;
}

static bool policy_eq(const gk_group_policy *a, const gk_group_policy *b)
{
	if (!sa_policy_eq(a, b) || a->capacity != b->capacity ||
	    a->rekey_margin_pct != b->rekey_margin_pct || a->ike_idle_timeout != b->ike_idle_timeout ||
	    a->max_packet_rate != b->max_packet_rate || a->nmembers != b->nmembers)
		return false;
	for (size_t i = 0; i < a->nmembers; i++)
		if (!member_eq(&a->members[i], &b->members[i]))
			return false;
	return true;
}

/* Rejects what the tables could not represent faithfully; value ranges are the schema's job. */
static gk_status policy_check(const gk_group_policy *g)
{
	size_t nlen = strnlen(g->name, sizeof(g->name));
	if (nlen == 0 || nlen == sizeof(g->name) || (g->nteks && !g->teks) ||
	    (g->nmembers && !g->members))
		return GK_E_INVAL;
	for (size_t i = 0; i < g->nmembers; i++) {
		const gk_member_policy *m = &g->members[i];
		if ((m->psk_len && !m->psk) || (m->pubkey_len && !m->pubkey))
			return GK_E_INVAL;
	}
	return GK_OK;
}

/* Writes the group row: a new one (generation 1) or an update of gid (generation + 1). */
static gk_status group_row_write(gk_store *s, const gk_group_policy *g, int64_t *gid)
{
	sqlite3_stmt *q = stmt(s, *gid ? Q_GROUP_UPDATE : Q_GROUP_INSERT);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	group_bind(&b, g);
	b_int(&b, (int64_t)time(NULL));
	if (*gid)
		b_int(&b, *gid);
	gk_status st = b.rc ? db_fail(s, b.rc) : step(s, q, NULL);
	stmt_done(q);
	if (!st && !*gid)
		*gid = sqlite3_last_insert_rowid(s->db);
	return st;
}

static gk_status delete_children(gk_store *s, int64_t gid)
{
	static const enum stmt_id dels[] = { Q_TEK_DELETE, Q_MEMBER_DELETE };
	gk_status st = GK_OK;
	for (size_t i = 0; i < 2 && !st; i++) {
		sqlite3_stmt *q = stmt(s, dels[i]);
		if (!q)
			return GK_E_IO;
		st = sqlite3_bind_int64(q, 1, gid) ? db_fail(s, SQLITE_RANGE) : step(s, q, NULL);
		stmt_done(q);
	}
	return st;
}

static gk_status children_insert(gk_store *s, int64_t gid, const gk_group_policy *g)
{
	char text[GK_IDENT_TEXT_MAX];
	gk_status st = GK_OK;
	for (size_t i = 0; i < g->nteks && !st; i++) {
		sqlite3_stmt *q = stmt(s, Q_TEK_INSERT);
		if (!q)
			return GK_E_IO;
		binder b = { q, 0, SQLITE_OK };
		b_int(&b, gid);
		tek_bind(&b, i, &g->teks[i]);
		st = b.rc ? db_fail(s, b.rc) : step(s, q, NULL);
		stmt_done(q);
	}
	for (size_t i = 0; i < g->nmembers && !st; i++) {
		sqlite3_stmt *q = stmt(s, Q_MEMBER_INSERT);
		if (!q)
			return GK_E_IO;
		binder b = { q, 0, SQLITE_OK };
		b_int(&b, gid);
		member_bind(&b, i, &g->members[i], text);
		st = b.rc ? db_fail(s, b.rc) : step(s, q, NULL);
		stmt_done(q);
	}
	return st;
}

/* The current keys stay valid for the new generation (a member list change must not split
 * the group between members holding old and new keys). */
static gk_status keys_carry(gk_store *s, int64_t gid, int64_t gen)
{
	sqlite3_stmt *q = stmt(s, Q_KEY_CARRY);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_int(&b, gen);
	gk_status st = b.rc ? db_fail(s, b.rc) : step(s, q, NULL);
	stmt_done(q);
	return st;
}

/* Inside the write transaction of gk_store_group_put. */
static gk_status group_put_tx(gk_store *s, const gk_group_policy *g, const char *who,
			      const char *source, bool *changed)
{
	gk_group_policy old;
	int64_t gid = 0, gen = 0;
	bool had = false, keep_keys = false;
	char detail[GK_IDENT_TEXT_MAX + 1200];
	memset(&old, 0, sizeof(old));
	gk_status st = group_lookup(s, g->name, &gid, &gen);
	if (st == GK_E_NOT_FOUND) {
		gid = 0;
		st = GK_OK;
	} else if (!st) {
		had = true;
		if ((st = group_load(s, gid, &old)))
			goto out;
		if (policy_eq(&old, g))
			goto out; /* nothing to do: no write, no new generation, no audit */
		keep_keys = sa_policy_eq(&old, g);
	}
	if (st || (st = group_row_write(s, g, &gid)))
		goto out;
	if (had && (st = delete_children(s, gid)))
		goto out;
	if ((st = children_insert(s, gid, g)))
		goto out;
	if (keep_keys && (st = keys_carry(s, gid, gen + 1)))
		goto out;
	*changed = true;
	snprintf(detail, sizeof(detail), "%s%s%.1000s (generation %lld)", g->name,
		 source && *source ? " from " : "", source ? source : "",
		 (long long)(had ? gen + 1 : 1));
	st = audit_write(s, who, "policy load", detail);
out:
	gk_group_policy_free(&old);
	return st;
}

gk_status gk_store_group_put(gk_store *s, const gk_group_policy *g, const char *who,
			     const char *source, bool *changed)
{
	bool ch = false;
	if (!s || !g)
		return GK_E_INVAL;
	gk_status st = policy_check(g);
	if (st)
		return st;
	if ((st = tx_begin(s, TX_WRITE)))
		return st;
	st = tx_end(s, TX_WRITE, group_put_tx(s, g, who, source, &ch));
	if (changed)
		*changed = !st && ch;
	return st;
}

gk_status gk_store_group_get(gk_store *s, const char *name, gk_group_policy *out)
{
	int64_t gid;
	if (!s || !name || !out)
		return GK_E_INVAL;
	memset(out, 0, sizeof(*out));
	gk_status st = tx_begin(s, TX_READ);
	if (st)
		return st;
	st = group_lookup(s, name, &gid, NULL);
	if (!st)
		st = group_load(s, gid, out);
	return tx_end(s, TX_READ, st);
}

gk_status gk_store_group_get_by_ident(gk_store *s, const gk_ident *id, gk_group_policy *out)
{
	if (!s || !id || !out)
		return GK_E_INVAL;
	memset(out, 0, sizeof(*out));
	gk_status st = tx_begin(s, TX_READ);
	if (st)
		return st;
	sqlite3_stmt *q = stmt(s, Q_GROUP_ID_BY_IDENT);
	if (!q) {
		st = GK_E_IO;
		goto out;
	}
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, id->type);
	b_blob(&b, id->data, id->len);
	bool row = false;
	st = b.rc ? db_fail(s, b.rc) : step(s, q, &row);
	if (!st && !row)
		st = GK_E_NOT_FOUND;
	int64_t gid = st ? 0 : sqlite3_column_int64(q, 0);
	stmt_done(q);
	if (!st)
		st = group_load(s, gid, out);
out:
	return tx_end(s, TX_READ, st);
}

gk_status gk_store_group_delete(gk_store *s, const char *name, const char *who)
{
	if (!s || !name)
		return GK_E_INVAL;
	gk_status st = tx_begin(s, TX_WRITE);
	if (st)
		return st;
	sqlite3_stmt *q = stmt(s, Q_GROUP_DELETE);
	if (!q) {
		st = GK_E_IO;
		goto out;
	}
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, name, GK_IDENT_TEXT_MAX);
	st = b.rc ? db_fail(s, b.rc) : step(s, q, NULL);
	stmt_done(q);
	if (!st && sqlite3_changes(s->db) == 0)
		st = GK_E_NOT_FOUND;
	if (!st)
		st = audit_write(s, who, "group delete", name);
out:
	return tx_end(s, TX_WRITE, st);
}

void gk_store_names_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

gk_status gk_store_group_names(gk_store *s, char ***names, size_t *n)
{
	if (!s || !names || !n)
		return GK_E_INVAL;
	*names = NULL;
	*n = 0;
	sqlite3_stmt *q = stmt(s, Q_GROUP_NAMES);
	if (!q)
		return GK_E_IO;
	bool row = true;
	gk_status st;
	while (!(st = step(s, q, &row)) && row) {
		if ((st = grow((void **)names, n, sizeof(**names))))
			break;
		reader r = { q, 0, GK_OK };
		(*names)[*n - 1] = r_text_dup(&r);
		if ((st = r.st))
			break;
	}
	stmt_done(q);
	if (st) {
		gk_store_names_free(*names, *n);
		*names = NULL;
		*n = 0;
	}
	return st;
}

gk_status gk_store_group_generation(gk_store *s, const char *name, int64_t *gen)
{
	int64_t gid;
	if (!s || !name || !gen)
		return GK_E_INVAL;
	return group_lookup(s, name, &gid, gen);
}

/* ---- group SA keys ---- */

/* What the key of one SA of g looks like. idx is a TEK index or -1 for the Rekey SA. */
typedef struct sa_shape {
	uint8_t proto;
	size_t spi_len, keymat_len;
	uint32_t lifetime;
} sa_shape;

static gk_status sa_shape_of(const gk_group_policy *g, int idx, sa_shape *sh)
{
	if (idx < 0) {
		const gk_kek_policy *k = &g->kek;
		sh->proto = GK_PROTO_GIKE_UPDATE;
		sh->spi_len = 16; /* IKE SPIs: initiator and responder halves */
		sh->keymat_len = gk_group_keymat_len(sh->proto, k->encr, k->encr_key_bits, k->integ,
						     k->kwa);
		sh->lifetime = k->lifetime;
	} else {
		const gk_tek_policy *t = &g->teks[idx];
		if (t->proto != GK_PROTO_ESP && t->proto != GK_PROTO_AH)
			return GK_E_UNSUPPORTED;
		sh->proto = t->proto;
		sh->spi_len = 4;
		sh->keymat_len = gk_group_keymat_len(t->proto, t->encr, t->encr_key_bits, t->integ, 0);
		sh->lifetime = t->lifetime;
	}
	if (sh->keymat_len == 0 || sh->lifetime == 0)
		return GK_E_UNSUPPORTED;
	return sh->keymat_len > sizeof(((gk_sa_key *)0)->keymat) ? GK_E_TOO_BIG : GK_OK;
}

/* The current key of one SA, *found false when there is none. */
static gk_status key_current(gk_store *s, int64_t gid, int idx, gk_sa_key *k, bool *found)
{
	sqlite3_stmt *q = stmt(s, Q_KEY_CURRENT);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_int(&b, idx);
	gk_status st = b.rc ? db_fail(s, b.rc) : step(s, q, found);
	if (!st && *found) {
		reader r = { q, 0, GK_OK };
		memset(k, 0, sizeof(*k));
		k->id = r_int(&r);
		r_blob(&r, k->spi, sizeof(k->spi), &k->spi_len);
		r_blob(&r, k->keymat, sizeof(k->keymat), &k->keymat_len);
		k->created = r_int(&r);
		k->expires = r_int(&r);
		k->generation = r_int(&r);
		k->tek_index = idx;
		st = r.st;
	}
	stmt_done(q);
	return st;
}

static gk_status spi_used(gk_store *s, const uint8_t *spi, size_t len, bool *used)
{
	sqlite3_stmt *q = stmt(s, Q_SPI_USED);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_blob(&b, spi, len);
	gk_status st = b.rc ? db_fail(s, b.rc) : step(s, q, used);
	stmt_done(q);
	return st;
}

/* A fresh SPI no live key in the database uses (so SAs of overlapping groups stay apart).
 * ESP/AH: 4 octets, never below 256 (1-255 are reserved, RFC 4303 2.1); GIKE_UPDATE: two
 * 8-octet IKE SPIs, neither zero. */
static gk_status spi_make(gk_store *s, const gk_rand *rnd, const sa_shape *sh, gk_sa_key *k)
{
	k->spi_len = sh->spi_len;
	for (int tries = 0; tries < 64; tries++) {
		bool used = true;
		gk_status st = gk_rand_bytes(rnd, k->spi, k->spi_len);
		if (st)
			return st;
		if (k->spi_len == 4 ? gk_get_u32(k->spi) < 256
				    : !gk_get_u64(k->spi) || !gk_get_u64(k->spi + 8))
			continue;
		if ((st = spi_used(s, k->spi, k->spi_len, &used)))
			return st;
		if (!used)
			return GK_OK;
	}
	return GK_E_CRYPTO; /* a generator this repetitive is broken */
}

static gk_status key_stmt_gid_idx(gk_store *s, enum stmt_id id, int64_t gid, int64_t a, int64_t b2)
{
	sqlite3_stmt *q = stmt(s, id);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_int(&b, a);
	if (id == Q_KEY_RETIRE_UNUSED)
		b_int(&b, b2);
	gk_status st = b.rc ? db_fail(s, b.rc) : step(s, q, NULL);
	stmt_done(q);
	return st;
}

/* Makes and stores a new current key for SA idx; the previous one becomes 'old'. */
/* want: an SPI promised earlier in GSA_NEXT_SPI (RFC 9838 4.4.2.2.3), used when still free. */
static gk_status key_create(gk_store *s, int64_t gid, int64_t gen, int idx, const sa_shape *sh,
			    const gk_rand *rnd, int64_t now, const uint8_t *want, gk_sa_key *k)
{
	bool used = true;
	memset(k, 0, sizeof(*k));
	gk_status st = key_stmt_gid_idx(s, Q_KEY_RETIRE, gid, idx, 0);
	if (!st && want && (sh->spi_len == 16 ? gk_get_u64(want) && gk_get_u64(want + 8) : gk_get_u32(want) >= 256))
		st = spi_used(s, want, sh->spi_len, &used);
	if (!st && !used) {
		memcpy(k->spi, want, sh->spi_len);
		k->spi_len = sh->spi_len;
	} else if (!st) {
		st = spi_make(s, rnd, sh, k);
	}
	if (!st)
		st = gk_rand_bytes(rnd, k->keymat, sh->keymat_len);
	if (st)
		return st;
	k->keymat_len = sh->keymat_len;
	k->tek_index = idx;
	k->created = now;
	k->expires = now + sh->lifetime;
	k->generation = gen;
	sqlite3_stmt *q = stmt(s, Q_KEY_INSERT);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_int(&b, idx);
	b_blob(&b, k->spi, k->spi_len);
	b_blob(&b, k->keymat, k->keymat_len);
	b_int(&b, k->created);
	b_int(&b, k->expires);
	b_int(&b, k->generation);
	st = b.rc ? db_fail(s, b.rc) : step(s, q, NULL);
	stmt_done(q);
	if (!st)
		k->id = sqlite3_last_insert_rowid(s->db);
	return st;
}

/* Fills keys[] with the current key of every SA of g. Without rnd it only reads and sets
 * *missing when some key needs making; with rnd (inside a write transaction) it makes them. */
static gk_status keys_collect(gk_store *s, const gk_group_policy *g, const gk_rand *rnd,
			      int64_t now, gk_sa_key *keys, bool *missing)
{
	int64_t gid, gen;
	size_t n = g->nteks + (g->kek.present ? 1 : 0);
	*missing = false;
	gk_status st = group_lookup(s, g->name, &gid, &gen);
	if (st)
		return st;
	if (rnd) {
		/* keys of SAs the policy no longer has, and expired old keys, go */
		st = key_stmt_gid_idx(s, Q_KEY_RETIRE_UNUSED, gid, (int64_t)g->nteks, g->kek.present);
		if (!st)
			st = key_stmt_gid_idx(s, Q_KEY_PRUNE, gid, now, 0);
	}
	for (size_t j = 0; j < n && !st; j++) {
		int idx = j < g->nteks ? (int)j : -1;
		sa_shape sh;
		bool found = false;
		if ((st = sa_shape_of(g, idx, &sh)) || (st = key_current(s, gid, idx, &keys[j], &found)))
			break;
		/* A key made for another shape of this SA (the caller's policy is newer or older
		 * than the stored generation says) is replaced too. */
		if (found && keys[j].expires > now && keys[j].generation >= gen &&
		    keys[j].spi_len == sh.spi_len && keys[j].keymat_len == sh.keymat_len)
			continue;
		if (!rnd)
			*missing = true;
		else
			st = key_create(s, gid, gen, idx, &sh, rnd, now, NULL, &keys[j]);
	}
	return st;
}

gk_status gk_store_group_keys(gk_store *s, const gk_group_policy *g, const struct gk_rand *rnd,
			      int64_t now, gk_sa_key *keys, size_t *nkeys)
{
	bool missing = false;
	size_t n;
	if (!s || !g || !rnd || !keys || !nkeys || (g->nteks && !g->teks))
		return GK_E_INVAL;
	n = g->nteks + (g->kek.present ? 1 : 0);
	*nkeys = 0;
	/* Usually every key exists: a read-only pass, no write lock, no sync. */
	gk_status st = tx_begin(s, TX_READ);
	if (!st)
		st = tx_end(s, TX_READ, keys_collect(s, g, NULL, now, keys, &missing));
	if (!st && missing && !(st = tx_begin(s, TX_DURABLE)))
		st = tx_end(s, TX_DURABLE, keys_collect(s, g, rnd, now, keys, &missing));
	if (st)
		OPENSSL_cleanse(keys, n * sizeof(*keys));
	else
		*nkeys = n;
	return st;
}

/* One pass of gk_store_group_load, inside a transaction. */
static gk_status group_snapshot(gk_store *s, const char *name, const gk_rand *rnd, int64_t now,
				gk_group_policy *pol, int64_t *gen, gk_sa_key *keys, size_t maxkeys, bool *missing)
{
	int64_t gid;
	gk_status st = group_lookup(s, name, &gid, gen);
	if (!st)
		st = group_load(s, gid, pol);
	if (!st && pol->nteks + (pol->kek.present ? 1 : 0) > maxkeys)
		st = GK_E_TOO_BIG;
	if (!st)
		st = keys_collect(s, pol, rnd, now, keys, missing);
	return st;
}

gk_status gk_store_group_load(gk_store *s, const char *name, const struct gk_rand *rnd, int64_t now,
			      gk_group_policy *pol, int64_t *gen, gk_sa_key *keys, size_t maxkeys,
			      size_t *nkeys)
{
	bool missing = false;
	if (!s || !name || !rnd || !pol || !gen || !keys || !nkeys)
		return GK_E_INVAL;
	memset(pol, 0, sizeof(*pol));
	*nkeys = 0;
	/* Usually every key exists: a read-only pass. Otherwise everything again under the write
	 * lock, so that the keys made are for the policy of the generation they are stored with. */
	gk_status st = tx_begin(s, TX_READ);
	if (!st)
		st = tx_end(s, TX_READ, group_snapshot(s, name, NULL, now, pol, gen, keys, maxkeys, &missing));
	if (!st && missing) {
		gk_group_policy_free(pol);
		if (!(st = tx_begin(s, TX_DURABLE)))
			st = tx_end(s, TX_DURABLE, group_snapshot(s, name, rnd, now, pol, gen, keys, maxkeys, &missing));
	}
	if (st) {
		gk_group_policy_free(pol);
		OPENSSL_cleanse(keys, maxkeys * sizeof(*keys));
	} else {
		*nkeys = pol->nteks + (pol->kek.present ? 1 : 0);
	}
	return st;
}

/* ---- rekey ---- */

static gk_status counter_take(gk_store *s, const char *group, const char *name, int64_t dflt,
			      uint64_t n, uint64_t max, int64_t *first);
static gk_status counter_get(gk_store *s, int64_t gid, const char *name, int64_t dflt, int64_t *v);
static gk_status counter_set(gk_store *s, int64_t gid, const char *name, int64_t v);

static gk_status rekey_tx(gk_store *s, const gk_group_policy *g, const gk_rand *rnd, int64_t now,
			  int64_t horizon, bool force, const uint8_t (*want)[16], gk_sa_key *prev, gk_sa_key *keys,
			  size_t n, bool *changed, uint32_t *msgid)
{
	int64_t gid, gen, v;
	bool missing;
	bool kek_new = false;
	gk_status st = group_lookup(s, g->name, &gid, &gen);
	if (!st)
		st = keys_collect(s, g, rnd, now, prev, &missing);
	for (size_t j = 0; j < n && !st; j++) {
		int idx = j < g->nteks ? (int)j : -1;
		sa_shape sh;
		keys[j] = prev[j];
		if (!force && prev[j].expires > horizon)
			continue;
		if ((st = sa_shape_of(g, idx, &sh)) != GK_OK)
			break;
		st = key_create(s, gid, gen, idx, &sh, rnd, now, want ? want[j] : NULL, &keys[j]);
		*changed = true;
		kek_new |= idx < 0;
	}
	if (st || !*changed)
		return st;
	/* the message announcing the keys goes out under the current Rekey SA, with its next ID */
	if ((st = counter_get(s, gid, "rekey_msgid", 0, &v)) != GK_OK)
		return st;
	if (v > (int64_t)UINT32_MAX)
		return GK_E_TOO_BIG;
	*msgid = (uint32_t)v;
	/* a new Rekey SA starts its Message IDs at 0 (RFC 9838 2.4.1.3) */
	return counter_set(s, gid, "rekey_msgid", kek_new ? 0 : v + 1);
}

gk_status gk_store_group_rekey(gk_store *s, const gk_group_policy *g, const struct gk_rand *rnd,
			       int64_t now, int64_t horizon, bool force, const uint8_t (*want)[16], gk_sa_key *prev,
			       gk_sa_key *keys, size_t *nkeys, bool *changed, uint32_t *msgid)
{
	size_t n;
	if (!s || !g || !rnd || !prev || !keys || !nkeys || !changed || !msgid)
		return GK_E_INVAL;
	n = g->nteks + (g->kek.present ? 1 : 0);
	*changed = false;
	*nkeys = 0;
	gk_status st = tx_begin(s, TX_DURABLE);
	if (!st)
		st = tx_end(s, TX_DURABLE, rekey_tx(s, g, rnd, now, horizon, force, want, prev, keys, n, changed, msgid));
	if (st) {
		OPENSSL_cleanse(prev, n * sizeof(*prev));
		OPENSSL_cleanse(keys, n * sizeof(*keys));
	} else {
		*nkeys = n;
	}
	return st;
}

/* ---- counters ---- */

static gk_status counter_get(gk_store *s, int64_t gid, const char *name, int64_t dflt,
			     int64_t *v)
{
	sqlite3_stmt *q = stmt(s, Q_COUNTER_GET);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_text(&b, name, 32);
	bool row = false;
	gk_status st = b.rc ? db_fail(s, b.rc) : step(s, q, &row);
	if (!st)
		*v = row ? sqlite3_column_int64(q, 0) : dflt;
	stmt_done(q);
	return st;
}

static gk_status counter_set(gk_store *s, int64_t gid, const char *name, int64_t v)
{
	sqlite3_stmt *q = stmt(s, Q_COUNTER_SET);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_text(&b, name, 32);
	b_int(&b, v);
	gk_status st = b.rc ? db_fail(s, b.rc) : step(s, q, NULL);
	stmt_done(q);
	return st;
}

/* Takes n values from a group's counter (next value dflt when unset) if the last one taken
 * stays <= max; inside a durable transaction. */
static gk_status counter_take(gk_store *s, const char *group, const char *name, int64_t dflt,
			      uint64_t n, uint64_t max, int64_t *first)
{
	int64_t gid, next;
	gk_status st = tx_begin(s, TX_DURABLE);
	if (st)
		return st;
	if ((st = group_lookup(s, group, &gid, NULL)) || (st = counter_get(s, gid, name, dflt, &next)))
		goto out;
	if (next < 0 || (uint64_t)next + n - 1 > max) {
		st = GK_E_TOO_BIG;
		goto out;
	}
	if ((st = counter_set(s, gid, name, next + (int64_t)n)))
		goto out;
	*first = next;
out:
	return tx_end(s, TX_DURABLE, st);
}

gk_status gk_store_sender_ids_alloc(gk_store *s, const char *group, uint32_t n, uint16_t bits,
				    uint32_t *first)
{
	int64_t v;
	if (!s || !group || !first || n == 0 || bits > 32)
		return GK_E_INVAL;
	uint64_t max = (UINT64_C(1) << (bits ? bits : 16)) - 1;
	/* RFC 9838 2.5.1: Sender-IDs are allocated sequentially, zero first */
	gk_status st = counter_take(s, group, "sender_id", 0, n, max, &v);
	if (!st)
		*first = (uint32_t)v;
	return st;
}

gk_status gk_store_rekey_msgid_next(gk_store *s, const char *group, uint32_t *msgid)
{
	int64_t v;
	if (!s || !group || !msgid)
		return GK_E_INVAL;
	gk_status st = counter_take(s, group, "rekey_msgid", 0, 1, UINT32_MAX, &v);
	if (!st)
		*msgid = (uint32_t)v;
	return st;
}

gk_status gk_store_rekey_msgid_peek(gk_store *s, const char *group, uint32_t *msgid)
{
	int64_t gid, v;
	if (!s || !group || !msgid)
		return GK_E_INVAL;
	gk_status st = tx_begin(s, TX_READ);
	if (st)
		return st;
	st = group_lookup(s, group, &gid, NULL);
	if (!st)
		st = counter_get(s, gid, "rekey_msgid", 0, &v);
	if (!st && v > (int64_t)UINT32_MAX)
		st = GK_E_TOO_BIG;
	if (!st)
		*msgid = (uint32_t)v;
	return tx_end(s, TX_READ, st);
}

/* ---- registrations ---- */

gk_status gk_store_registration_put(gk_store *s, const gk_registration *r)
{
	if (!s || !r)
		return GK_E_INVAL;
	sqlite3_stmt *q = stmt(s, Q_REG_PUT);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, r->group, sizeof(r->group));
	b_text(&b, r->member, sizeof(r->member));
	b_int(&b, r->role);
	b_text(&b, r->peer, sizeof(r->peer));
	b_int(&b, r->registered_at);
	b_int(&b, r->sender_id_first);
	b_int(&b, r->sender_id_count);
	b_int(&b, r->frag_ok);
	gk_status st = b.rc ? db_fail(s, b.rc) : step(s, q, NULL);
	stmt_done(q);
	if (!st && sqlite3_changes(s->db) == 0)
		st = GK_E_NOT_FOUND; /* no such group */
	return st;
}

gk_status gk_store_registration_delete(gk_store *s, const char *group, const char *member)
{
	if (!s || !group || !member)
		return GK_E_INVAL;
	sqlite3_stmt *q = stmt(s, Q_REG_DELETE);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, group, GK_IDENT_TEXT_MAX);
	b_text(&b, member, GK_IDENT_TEXT_MAX);
	gk_status st = b.rc ? db_fail(s, b.rc) : step(s, q, NULL);
	stmt_done(q);
	if (!st && sqlite3_changes(s->db) == 0)
		st = GK_E_NOT_FOUND;
	return st;
}

gk_status gk_store_registration_count(gk_store *s, const char *group, uint32_t *n)
{
	if (!s || !group || !n)
		return GK_E_INVAL;
	sqlite3_stmt *q = stmt(s, Q_REG_COUNT);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, group, GK_IDENT_TEXT_MAX);
	bool row = false;
	gk_status st = b.rc ? db_fail(s, b.rc) : step(s, q, &row);
	if (!st && !row)
		st = GK_E_NOT_FOUND;
	if (!st)
		*n = (uint32_t)sqlite3_column_int64(q, 0); /* NULL (no counter yet) reads as 0 */
	stmt_done(q);
	return st;
}

static gk_status registrations_read(gk_store *s, int64_t gid, const char *group,
				    gk_registration **out, size_t *n)
{
	sqlite3_stmt *q = stmt(s, Q_REG_LIST);
	if (!q)
		return GK_E_IO;
	bool row = true;
	gk_status st = sqlite3_bind_int64(q, 1, gid) ? db_fail(s, SQLITE_RANGE) : GK_OK;
	while (!st && !(st = step(s, q, &row)) && row) {
		if ((st = grow((void **)out, n, sizeof(**out))))
			break;
		gk_registration *g = &(*out)[*n - 1];
		reader r = { q, 0, GK_OK };
		snprintf(g->group, sizeof(g->group), "%s", group);
		r_text(&r, g->member, sizeof(g->member));
		g->role = (gk_role)r_int(&r);
		r_text(&r, g->peer, sizeof(g->peer));
		g->registered_at = r_int(&r);
		g->sender_id_first = (uint32_t)r_int(&r);
		g->sender_id_count = (uint32_t)r_int(&r);
		g->frag_ok = r_int(&r) != 0;
		st = r.st;
	}
	stmt_done(q);
	return st;
}

gk_status gk_store_registrations(gk_store *s, const char *group, gk_registration **out, size_t *n)
{
	int64_t gid;
	if (!s || !group || !out || !n)
		return GK_E_INVAL;
	*out = NULL;
	*n = 0;
	gk_status st = tx_begin(s, TX_READ);
	if (st)
		return st;
	st = group_lookup(s, group, &gid, NULL);
	if (!st)
		st = registrations_read(s, gid, group, out, n);
	st = tx_end(s, TX_READ, st);
	if (st) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return st;
}

gk_status gk_store_registration_exists(gk_store *s, const char *group, const char *member, bool *exists)
{
	if (!s || !group || !member || !exists)
		return GK_E_INVAL;
	sqlite3_stmt *q = stmt(s, Q_REG_EXISTS);
	if (!q)
		return GK_E_IO;
	bool row = false;
	gk_status st = sqlite3_bind_text(q, 1, group, -1, SQLITE_STATIC) ||
		       sqlite3_bind_text(q, 2, member, -1, SQLITE_STATIC) ? db_fail(s, SQLITE_RANGE) : GK_OK;
	if (!st)
		st = step(s, q, &row);
	stmt_done(q);
	*exists = !st && row;
	return st;
}

gk_status gk_store_registrations_frag_ok(gk_store *s, const char *group, bool *all)
{
	if (!s || !group || !all)
		return GK_E_INVAL;
	*all = false;
	sqlite3_stmt *q = stmt(s, Q_REG_NO_FRAG);
	if (!q)
		return GK_E_IO;
	bool row = false;
	gk_status st = sqlite3_bind_text(q, 1, group, -1, SQLITE_STATIC) ? db_fail(s, SQLITE_RANGE) : GK_OK;
	if (!st)
		st = step(s, q, &row);
	if (!st && row)
		*all = sqlite3_column_int64(q, 0) == 0;
	stmt_done(q);
	return st;
}

gk_status gk_store_rekey_msgid_reset(gk_store *s, const char *group)
{
	int64_t gid;
	if (!s || !group)
		return GK_E_INVAL;
	gk_status st = tx_begin(s, TX_DURABLE);
	if (st)
		return st;
	st = group_lookup(s, group, &gid, NULL);
	if (!st)
		st = counter_set(s, gid, "rekey_msgid", 0);
	return tx_end(s, TX_DURABLE, st);
}

gk_status gk_store_sender_ids_reset(gk_store *s, const char *group)
{
	int64_t gid;
	if (!s || !group)
		return GK_E_INVAL;
	gk_status st = tx_begin(s, TX_DURABLE);
	if (st)
		return st;
	st = group_lookup(s, group, &gid, NULL);
	if (!st)
		st = counter_set(s, gid, "sender_id", 0);
	return tx_end(s, TX_DURABLE, st);
}

/* ---- audit, read ---- */

gk_status gk_store_audit_list(gk_store *s, size_t last, gk_audit_row **out, size_t *n)
{
	if (!s || !out || !n)
		return GK_E_INVAL;
	*out = NULL;
	*n = 0;
	gk_status st = tx_begin(s, TX_READ);
	if (st)
		return st;
	sqlite3_stmt *q = stmt(s, Q_AUDIT_LIST);
	bool row = true;
	st = !q ? GK_E_IO : sqlite3_bind_int64(q, 1, last > INT64_MAX ? INT64_MAX : (int64_t)last)
		? db_fail(s, SQLITE_RANGE) : GK_OK;
	while (!st && !(st = step(s, q, &row)) && row) {
		if ((st = grow((void **)out, n, sizeof(**out))))
			break;
		gk_audit_row *a = &(*out)[*n - 1];
		reader r = { q, 0, GK_OK };
		a->at = r_int(&r);
		r_text(&r, a->who, sizeof(a->who));
		r_text(&r, a->action, sizeof(a->action));
		r_text(&r, a->detail, sizeof(a->detail));
		st = r.st;
	}
	if (q)
		stmt_done(q);
	st = tx_end(s, TX_READ, st);
	if (st) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return st;
}

/* ---- single-sender counter-mode TEKs a sender may hold ---- */

gk_status gk_store_sender_tek_held(gk_store *s, const char *group, const char *member, const uint8_t spi[4],
				   bool *held)
{
	if (!s || !group || !member || !spi || !held)
		return GK_E_INVAL;
	*held = false;
	sqlite3_stmt *q = stmt(s, Q_STEK_HELD);
	if (!q)
		return GK_E_IO;
	bool row = false;
	gk_status st = sqlite3_bind_text(q, 1, group, -1, SQLITE_STATIC) ||
		       sqlite3_bind_blob(q, 2, spi, 4, SQLITE_STATIC) ||
		       sqlite3_bind_text(q, 3, member, -1, SQLITE_STATIC) ? db_fail(s, SQLITE_RANGE) : GK_OK;
	if (!st)
		st = step(s, q, &row);
	stmt_done(q);
	*held = !st && row;
	return st;
}

static gk_status stek_add(gk_store *s, const char *group, const char *member, const uint8_t spi[4])
{
	sqlite3_stmt *q = stmt(s, member ? Q_STEK_ADD : Q_STEK_ADD_SENDERS);
	if (!q)
		return GK_E_IO;
	gk_status st = sqlite3_bind_text(q, 1, group, -1, SQLITE_STATIC) ||
		       sqlite3_bind_blob(q, 2, spi, 4, SQLITE_STATIC) ||
		       (member && sqlite3_bind_text(q, 3, member, -1, SQLITE_STATIC)) ? db_fail(s, SQLITE_RANGE) : GK_OK;
	if (!st)
		st = step(s, q, NULL);
	stmt_done(q);
	if (st)
		return st;
	if (!(q = stmt(s, Q_STEK_PRUNE)))
		return GK_E_IO;
	st = sqlite3_bind_text(q, 1, group, -1, SQLITE_STATIC) ? db_fail(s, SQLITE_RANGE) : step(s, q, NULL);
	stmt_done(q);
	return st;
}

gk_status gk_store_sender_tek_add(gk_store *s, const char *group, const char *member, const uint8_t spi[4])
{
	if (!s || !group || !spi)
		return GK_E_INVAL;
	gk_status st = tx_begin(s, TX_DURABLE);
	if (st)
		return st;
	return tx_end(s, TX_DURABLE, stek_add(s, group, member, spi));
}

static gk_status srekey_take(gk_store *s, const char *group, const char *member, int64_t now, int64_t interval,
			     bool *allowed)
{
	sqlite3_stmt *q = stmt(s, Q_SREKEY_GET);
	if (!q)
		return GK_E_IO;
	bool row = false;
	gk_status st = sqlite3_bind_text(q, 1, group, -1, SQLITE_STATIC) ||
		       sqlite3_bind_text(q, 2, member, -1, SQLITE_STATIC) ? db_fail(s, SQLITE_RANGE) : GK_OK;
	if (!st)
		st = step(s, q, &row);
	/* a clock set back counts as no time passed */
	*allowed = !st && (!row || now - sqlite3_column_int64(q, 0) >= interval);
	stmt_done(q);
	if (st || !*allowed)
		return st;
	if (!(q = stmt(s, Q_SREKEY_SET)))
		return GK_E_IO;
	st = sqlite3_bind_text(q, 1, group, -1, SQLITE_STATIC) || sqlite3_bind_text(q, 2, member, -1, SQLITE_STATIC) ||
	     sqlite3_bind_int64(q, 3, now) ? db_fail(s, SQLITE_RANGE) : step(s, q, NULL);
	stmt_done(q);
	if (!st && sqlite3_changes(s->db) == 0)
		st = GK_E_NOT_FOUND; /* no such group */
	return st;
}

gk_status gk_store_sender_rekey_take(gk_store *s, const char *group, const char *member, int64_t now,
				     int64_t interval, bool *allowed)
{
	if (!s || !group || !member || !allowed)
		return GK_E_INVAL;
	*allowed = false;
	gk_status st = tx_begin(s, TX_DURABLE);
	if (st)
		return st;
	st = tx_end(s, TX_DURABLE, srekey_take(s, group, member, now, interval, allowed));
	if (st)
		*allowed = false;
	return st;
}
