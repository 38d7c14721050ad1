/* The SQLite backend of the store: opening and migrating the database, and the backend's table
 * of operations. The statements, transactions and binding are in store_sqlite_db.c, the
 * operations on each table in store_sqlite_<table>.c; see storage.h for the contract and
 * schema/001_init.sql for the tables. The only SQL text built at run time is PRAGMA
 * user_version with a version number of our own. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "store_sqlite_int.h"
#include "store_sqlite.h"
#include "schema_sql.h"

/* ---- opening and migrating ---- */

/* Refuses a file that group or others may access: it holds PSKs, keys and the signing key. */
static gk_status check_mode(const char *path, const struct stat *sb, char *err, size_t errlen)
{
	if (!S_ISREG(sb->st_mode)) {
		gk_seterr(err, errlen, "%s: not a regular file", path);
		return GK_E_INVAL;
	}
	if (sb->st_mode & 077) {
		gk_seterr(err, errlen, "%s: mode %04o lets group or others access the database (it holds keys); "
		     "run chmod 600 %s", path, (unsigned)(sb->st_mode & 07777), path);
		return GK_E_INVAL;
	}
	return GK_OK;
}

/* Creates the database file with mode 0600 (when asked and missing) or checks the mode of an
 * existing one, and of its -wal and -shm files if present. */
static gk_status file_prepare(const char *path, bool create, char *err, size_t errlen)
{
	struct stat sb;
	int fd = -1;
	gk_status st = GK_OK;
	if (create) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			/* exactly 0600 whatever the umask was */
			if (fchmod(fd, 0600) != 0) {
				gk_seterr(err, errlen, "%s: chmod: %s", path, strerror(errno));
				st = GK_E_IO;
			}
			goto out;
		}
		if (errno != EEXIST) {
			gk_seterr(err, errlen, "%s: cannot create: %s", path, strerror(errno));
			return GK_E_IO;
		}
	}
	if (lstat(path, &sb) != 0) {
		gk_seterr(err, errlen, "%s: %s%s", path, strerror(errno),
		     errno == ENOENT ? " (create it with gcksctl init)" : "");
		return errno == ENOENT ? GK_E_NOT_FOUND : GK_E_IO;
	}
	if ((st = check_mode(path, &sb, err, errlen)))
		goto out;
	static const char *const sidecars[] = { "-wal", "-shm" };
	for (size_t i = 0; i < 2 && !st; i++) {
		char side[4096];
		if (snprintf(side, sizeof(side), "%s%s", path, sidecars[i]) >= (int)sizeof(side)) {
			gk_seterr(err, errlen, "%s: path too long", path);
			st = GK_E_INVAL;
		} else if (lstat(side, &sb) == 0) {
			st = check_mode(side, &sb, err, errlen);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	return st;
}

static gk_status user_version(sq_store *s, int *v)
{
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
		*v = sqlite3_column_int(q, 0);
	gk_status st = rc == SQLITE_ROW ? GK_OK : sq_fail(s, rc);
	sqlite3_finalize(q);
	return st;
}

static gk_status schema_is_empty(sq_store *s, bool *empty)
{
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
		*empty = sqlite3_column_int(q, 0) == 0;
	gk_status st = rc == SQLITE_ROW ? GK_OK : sq_fail(s, rc);
	sqlite3_finalize(q);
	return st;
}

/* Applies one schema step in its own transaction. Another process may have applied it since
 * we looked, so the version is read again under the write lock. Foreign keys stay on during a
 * step (the pragma is a no-op inside a transaction): a step rebuilding a table must keep
 * references valid, e.g. with PRAGMA defer_foreign_keys. */
static gk_status apply_step(sq_store *s, const char *path, const gk_schema_step *step_,
			    char *err, size_t errlen)
{
	int v = 0;
	bool empty = false;
	char pragma[64];
	gk_status st = sq_begin(&s->base, GK_TX_WRITE);
	if (st)
		goto fail;
	if ((st = user_version(s, &v)))
		goto fail;
	if (v >= step_->version)
		return sq_end(&s->base, GK_OK);
	if (v == 0 && ((st = schema_is_empty(s, &empty)) || !empty)) {
		gk_seterr(err, errlen, "%s: not a gikev2 database (it has tables but no schema version)", path);
		st = st ? st : GK_E_INVAL;
		goto out;
	}
	if (v != step_->version - 1) {
		gk_seterr(err, errlen, "%s: no migration from schema version %d to %d", path, v, step_->version);
		st = GK_E_STATE;
		goto out;
	}
	/* the version is a number of our own, not input */
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", step_->version);
	int rc = sqlite3_exec(s->db, step_->sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, pragma, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		st = sq_fail(s, rc);
		goto fail;
	}
out:
	return sq_end(&s->base, st);
fail:
	gk_seterr(err, errlen, "%s: applying schema %s: %s", path, step_->name, s->errmsg);
	return sq_end(&s->base, st ? st : GK_E_IO);
}

/* Before anything writes: refuse a newer schema and SQLite files of other programs. */
static gk_status schema_check(sq_store *s, const char *path, char *err, size_t errlen)
{
	int v = 0;
	bool empty = true;
	gk_status st = user_version(s, &v);
	if (!st && v == 0)
		st = schema_is_empty(s, &empty);
	if (st) {
		gk_seterr(err, errlen, "%s: %s", path, s->errmsg);
		return st;
	}
	if (v > GK_SCHEMA_VERSION) {
		gk_seterr(err, errlen, "%s: database schema version %d is newer than this gcksd/gcksctl (%d); "
		     "upgrade gikev2", path, v, GK_SCHEMA_VERSION);
		return GK_E_UNSUPPORTED;
	}
	if (!empty) {
		gk_seterr(err, errlen, "%s: not a gikev2 database (it has tables but no schema version)", path);
		return GK_E_INVAL;
	}
	return GK_OK;
}

/* Applies every schema step above the file's version, each in one transaction. */
static gk_status migrate(sq_store *s, const char *path, char *err, size_t errlen)
{
	int v = 0;
	gk_status st = user_version(s, &v);
	for (size_t i = 0; i < gk_schema_nsteps && !st; i++)
		if (gk_schema_steps[i].version > v)
			st = apply_step(s, path, &gk_schema_steps[i], err, errlen);
	if (!st && !(st = user_version(s, &v)) && v != GK_SCHEMA_VERSION) {
		gk_seterr(err, errlen, "%s: schema is at version %d after migration, expected %d", path, v,
		     GK_SCHEMA_VERSION);
		st = GK_E_STATE;
	}
	if (!st)
		s->version = v;
	else if (err && errlen && !err[0])
		gk_seterr(err, errlen, "%s: %s", path, s->errmsg);
	return st;
}

/* WAL lets gcksctl read and write while gcksd serves registrations. */
static int enable_wal(sq_store *s)
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
		sq_fail(s, rc);
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

/* Connection settings (after schema_check: the file is ours). */
static gk_status configure(sq_store *s, const char *path, char *err, size_t errlen)
{
	int rc = enable_wal(s);
	if (rc == SQLITE_OK) {
		/* secure_delete: replaced keys and PSKs are overwritten in the file, not just unlinked */
		rc = sqlite3_exec(s->db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; "
				  "PRAGMA secure_delete = ON", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			sq_fail(s, rc);
	}
	if (rc != SQLITE_OK) {
		gk_seterr(err, errlen, "%s: %s", path, s->errmsg);
		gk_status st = sq_map_rc(rc);
		return st ? st : GK_E_IO;
	}
	return GK_OK;
}

/* ---- the backend ---- */

static void sq_close(gk_store *base)
{
	sq_store *s = sq(base);
	for (size_t i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	sqlite3_close(s->db);
	free(s);
}

static int sq_version(gk_store *s)
{
	return sq(s)->version;
}

static const char *sq_errmsg(const gk_store *s)
{
	return ((const sq_store *)s)->errmsg;
}

static const gk_store_ops sq_ops = {
	.close = sq_close, .version = sq_version, .errmsg = sq_errmsg,
	.begin = sq_begin, .end = sq_end,
	.identity_get = sq_identity_get, .identity_set = sq_identity_set,
	.group_write = sq_group_write, .group_get = sq_group_get, .group_get_by_ident = sq_group_get_by_ident,
	.group_delete = sq_group_delete, .group_names = sq_group_names,
	.group_generation = sq_group_generation, .group_find = sq_group_find, .group_read = sq_group_read,
	.key_current = sq_key_current, .key_insert = sq_key_insert,
	.keys_retire_unused = sq_keys_retire_unused, .keys_prune = sq_keys_prune, .keys_carry = sq_keys_carry, .spi_used = sq_spi_used,
	.counter_get = sq_counter_get, .counter_set = sq_counter_set,
	.registration_put = sq_registration_put, .registration_delete = sq_registration_delete,
	.registration_exists = sq_registration_exists, .registration_count = sq_registration_count,
	.registrations_frag_ok = sq_registrations_frag_ok, .registrations = sq_registrations,
	.sender_tek_held = sq_sender_tek_held, .sender_tek_add = sq_sender_tek_add,
	.sender_tek_add_role = sq_sender_tek_add_role, .sender_teks_prune = sq_sender_teks_prune,
	.sender_rekey_get = sq_sender_rekey_get, .sender_rekey_set = sq_sender_rekey_set,
	.lkh_meta_get = sq_lkh_meta_get, .lkh_meta_set = sq_lkh_meta_set, .lkh_rows = sq_lkh_rows,
	.lkh_put = sq_lkh_put, .lkh_del = sq_lkh_del, .lkh_clear = sq_lkh_clear,
	.audit = sq_audit, .audit_list = sq_audit_list, .audit_find = sq_audit_find,
	.backup = sq_backup, .backup_bytes = sq_backup_bytes,
};

/* Nothing reads SQLite's memory statistics (sqlite3_memory_used, sqlite3_status): without them
 * each of SQLite's allocations skips a process-wide mutex. A setting of the whole library, which
 * only the store uses; it must come before SQLite initializes itself, so it is made before the
 * first connection (a later call would fail with SQLITE_MISUSE and change nothing). */
static void sqlite_setup(void)
{
	static bool done;
	if (!done) {
		done = true;
		sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	}
}

gk_status gk_store_sqlite_open(const char *path, bool create, gk_store **out, char *err, size_t errlen)
{
	sq_store *s = NULL;
	gk_status st;
	if (err && errlen)
		err[0] = '\0';
	if (!out || !path || !*path) {
		gk_seterr(err, errlen, "no database path");
		return GK_E_INVAL;
	}
	*out = NULL;
	/* SQLite creates -wal and -shm next to the database: no access for others from the
	 * first moment (later it copies the database file's mode onto them). */
	mode_t old_umask = umask(077);
	if ((st = file_prepare(path, create, err, errlen)))
		goto out;
	s = calloc(1, sizeof(*s));
	if (!s) {
		st = GK_E_NOMEM;
		goto out;
	}
	s->base.ops = &sq_ops;
	sqlite_setup();
	/* NOMUTEX: a store is used by one thread at a time (storage.h), so its connection needs no
	 * mutex around every call (bind, step, column, reset) */
	int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		gk_seterr(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		st = sq_map_rc(rc) ? sq_map_rc(rc) : GK_E_IO;
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);
	if ((st = schema_check(s, path, err, errlen)) || (st = configure(s, path, err, errlen)) ||
	    (st = migrate(s, path, err, errlen)))
		goto out;
	*out = &s->base;
	s = NULL;
out:
	umask(old_umask);
	if (s)
		sq_close(&s->base);
	return st;
}

