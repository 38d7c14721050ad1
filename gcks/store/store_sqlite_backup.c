/* The SQLite store: backups (SQLite's online backup API) and putting one back in place. A
 * backup is one database file in rollback-journal mode (no -wal beside it), mode 0600. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "store_sqlite.h"
#include "store_sqlite_int.h"

static void remove_sidecars(const char *path);

/* Backups the store reads back: more is refused unread. */
#define BACKUP_MAX ((size_t)1 << 32)

/* "path.tmp-XXXXXX" in path's directory, created 0600 (mkstemp); *fd open on it. */
static gk_status temp_beside(const char *path, const char *tag, char *tmp, size_t len, int *fd, char *err,
			     size_t errlen)
{
	if ((size_t)snprintf(tmp, len, "%s.%s-XXXXXX", path, tag) >= len) {
		gk_seterr(err, errlen, "%s: path too long", path);
		return GK_E_INVAL;
	}
	mode_t old = umask(077);
	*fd = mkstemp(tmp);
	umask(old);
	if (*fd < 0) {
		gk_seterr(err, errlen, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
		return GK_E_IO;
	}
	return GK_OK;
}

/* The directory of path, synced: a rename into it survives a crash. */
static gk_status sync_dir(const char *path, char *err, size_t errlen)
{
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd)) {
		gk_seterr(err, errlen, "%s: cannot sync its directory: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return GK_E_IO;
	}
	close(fd);
	return GK_OK;
}

static gk_status sync_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fsync(fd)) {
		gk_seterr(err, errlen, "%s: cannot sync: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return GK_E_IO;
	}
	close(fd);
	return GK_OK;
}

/* Copies the main database of src into the file at path (which exists, empty or not) with the
 * online backup API in one step: one read transaction on src, so the copy is every committed
 * transaction or none of it, also while another connection writes. */
static gk_status copy_db(sqlite3 *src, const char *path, char *err, size_t errlen)
{
	sqlite3 *dst = NULL;
	int rc = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(dst, 5000);
		sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
		if (!b) {
			rc = sqlite3_errcode(dst);
		} else {
			rc = sqlite3_backup_step(b, -1);
			int frc = sqlite3_backup_finish(b);
			rc = rc == SQLITE_DONE ? frc : rc;
		}
	}
	/* one self-contained file: no WAL beside the copy */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		gk_seterr(err, errlen, "%s: backup: %s", path, dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
	sqlite3_close(dst);
	return rc == SQLITE_OK ? GK_OK : GK_E_IO;
}

/* A single-column answer of a PRAGMA on db: text into buf, or the integer into *v. */
static int pragma(sqlite3 *db, const char *sql, char *buf, size_t len, int *v)
{
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (buf)
			snprintf(buf, len, "%s", (const char *)sqlite3_column_text(q, 0));
		if (v)
			*v = sqlite3_column_int(q, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(q);
	return rc;
}

/* The first problem integrity_check names, on one line (its answer begins with a heading line
 * "*** in database main ***" and lists one problem a line). */
static const char *first_problem(char *text)
{
	char *p = text;
	if (!strncmp(p, "***", 3) && strchr(p, '\n'))
		p = strchr(p, '\n') + 1;
	p[strcspn(p, "\n")] = '\0';
	return p;
}

gk_status gk_store_sqlite_check_file(const char *path, int *version, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	char ok[256] = "", kind[64] = "";
	int v = 0, tables = 0;
	gk_status st = GK_E_INVAL;
	struct stat sb;
	if (stat(path, &sb) != 0) {
		gk_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return GK_E_IO;
	}
	if (!S_ISREG(sb.st_mode) || (size_t)sb.st_size > BACKUP_MAX) {
		gk_seterr(err, errlen, "%s: not a backup of a gikev2 database", path);
		return GK_E_INVAL;
	}
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc == SQLITE_OK)
		rc = pragma(db, "PRAGMA integrity_check", ok, sizeof(ok), NULL);
	if (rc == SQLITE_OK)
		rc = pragma(db, "PRAGMA journal_mode", kind, sizeof(kind), NULL);
	if (rc == SQLITE_OK)
		rc = pragma(db, "PRAGMA user_version", NULL, 0, &v);
	if (rc == SQLITE_OK)
		rc = pragma(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
			    "('groups', 'sa_keys', 'counters', 'audit')", NULL, 0, &tables);
	if (rc != SQLITE_OK)
		gk_seterr(err, errlen, "%s: not a backup of a gikev2 database (%s)", path,
			  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	else if (strcmp(ok, "ok"))
		gk_seterr(err, errlen, "%s: integrity check failed: %s", path, first_problem(ok));
	else if (tables != 4 || v < 1)
		gk_seterr(err, errlen, "%s: not a backup of a gikev2 database", path);
	else if (v > GK_SCHEMA_VERSION)
		gk_seterr(err, errlen, "%s: schema version %d is newer than this gcksctl's (%d): restore it with "
			  "the gikev2 version that made it", path, v, GK_SCHEMA_VERSION);
	else if (strcmp(kind, "delete"))
		gk_seterr(err, errlen, "%s: journal mode %s: not a backup gcksctl made", path, kind);
	else
		st = GK_OK;
	sqlite3_close(db);
	if (!st && version)
		*version = v;
	return st;
}

/* Checks the new file tmp, then renames it to path; tmp is gone either way. */
static gk_status check_and_rename(const char *tmp, const char *path, char *err, size_t errlen)
{
	gk_status st = gk_store_sqlite_check_file(tmp, NULL, err, errlen);
	if (!st)
		st = sync_file(tmp, err, errlen);
	if (!st && rename(tmp, path)) {
		gk_seterr(err, errlen, "%s: cannot rename the backup into place: %s", path, strerror(errno));
		st = GK_E_IO;
	}
	if (st)
		unlink(tmp);
	return st ? st : sync_dir(path, err, errlen);
}

gk_status sq_backup(gk_store *base, const char *path, char *err, size_t errlen)
{
	char tmp[4096];
	int fd = -1;
	if (!path)
		return GK_E_INVAL;
	gk_status st = temp_beside(path, "tmp", tmp, sizeof(tmp), &fd, err, errlen);
	if (st)
		return st;
	close(fd);
	if ((st = copy_db(sq(base)->db, tmp, err, errlen))) {
		unlink(tmp);
		return st;
	}
	return check_and_rename(tmp, path, err, errlen);
}

gk_status sq_backup_bytes(gk_store *base, uint8_t **out, size_t *len, char *err, size_t errlen)
{
	sqlite3 *mem = NULL;
	sqlite3_int64 size = 0;
	*out = NULL;
	*len = 0;
	int rc = sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_backup *b = sqlite3_backup_init(mem, "main", sq(base)->db, "main");
		if (!b) {
			rc = sqlite3_errcode(mem);
		} else {
			rc = sqlite3_backup_step(b, -1);
			int frc = sqlite3_backup_finish(b);
			rc = rc == SQLITE_DONE ? frc : rc;
		}
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(mem, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
	unsigned char *p = rc == SQLITE_OK ? sqlite3_serialize(mem, "main", &size, 0) : NULL;
	if (!p || size <= 0) {
		gk_seterr(err, errlen, "backup: %s", mem ? sqlite3_errmsg(mem) : sqlite3_errstr(rc));
		sqlite3_close(mem);
		return GK_E_IO;
	}
	*out = malloc((size_t)size);
	if (*out) {
		memcpy(*out, p, (size_t)size);
		*len = (size_t)size;
	}
	OPENSSL_cleanse(p, (size_t)size);
	sqlite3_free(p);
	sqlite3_close(mem);
	return *out ? GK_OK : GK_E_NOMEM;
}

gk_status gk_store_sqlite_backup_save(const uint8_t *bytes, size_t len, const char *path, char *err, size_t errlen)
{
	char tmp[4096];
	int fd = -1;
	gk_status st = temp_beside(path, "tmp", tmp, sizeof(tmp), &fd, err, errlen);
	if (st)
		return st;
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, bytes + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			gk_seterr(err, errlen, "%s: cannot write the backup: %s", tmp, strerror(errno));
			st = GK_E_IO;
			break;
		}
		done += (size_t)w;
	}
	close(fd);
	/* the copy of a WAL database says WAL in its header: make it a file of its own */
	sqlite3 *db = NULL;
	int rc = st ? SQLITE_OK : sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (!st && rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
	if (!st && rc != SQLITE_OK) {
		gk_seterr(err, errlen, "%s: not a backup of a gikev2 database (%s)", path,
			  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		st = GK_E_INVAL;
	}
	sqlite3_close(db);
	remove_sidecars(tmp);
	if (st) {
		unlink(tmp);
		return st;
	}
	return check_and_rename(tmp, path, err, errlen);
}

gk_status gk_store_sqlite_restore_stage(const char *backup, const char *path, char *staged, size_t len,
					int *version, char *err, size_t errlen)
{
	sqlite3 *src = NULL;
	int fd = -1;
	gk_status st = gk_store_sqlite_check_file(backup, version, err, errlen);
	if (st)
		return st;
	if ((st = temp_beside(path, "restore", staged, len, &fd, err, errlen)))
		return st;
	close(fd);
	int rc = sqlite3_open_v2(backup, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		gk_seterr(err, errlen, "%s: %s", backup, src ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
		st = GK_E_IO;
	} else {
		st = copy_db(src, staged, err, errlen);
	}
	sqlite3_close(src);
	if (st)
		unlink(staged);
	return st;
}

/* Unlinks path-wal and path-shm. */
static void remove_sidecars(const char *path)
{
	char side[4200];
	if ((size_t)snprintf(side, sizeof(side), "%.4096s-wal", path) < sizeof(side))
		unlink(side);
	if ((size_t)snprintf(side, sizeof(side), "%.4096s-shm", path) < sizeof(side))
		unlink(side);
}

gk_status gk_store_sqlite_restore_install(const char *staged, const char *path, char *err, size_t errlen)
{
	struct stat old;
	bool had = lstat(path, &old) == 0;
	gk_status st = GK_OK;
	remove_sidecars(staged);
	if (had) {
		/* the old database's WAL belongs to it, not to the file that replaces it: fold it in
		 * and close, so no -wal is left to be replayed over the restored file */
		sqlite3 *db = NULL;
		int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			gk_seterr(err, errlen, "%s: cannot close the database it replaces: %s", path,
				  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
			st = GK_E_IO;
		}
		sqlite3_close(db);
		if (!st)
			remove_sidecars(path);
		/* the file stays its owner's (gcksd's account when root restores) */
		if (!st && chown(staged, old.st_uid, old.st_gid) && errno != EPERM) {
			gk_seterr(err, errlen, "%s: chown: %s", staged, strerror(errno));
			st = GK_E_IO;
		}
	}
	if (!st)
		st = sync_file(staged, err, errlen);
	if (!st && rename(staged, path)) {
		gk_seterr(err, errlen, "%s: cannot put the restored database in place: %s", path, strerror(errno));
		st = GK_E_IO;
	}
	if (st) {
		unlink(staged);
		return st;
	}
	return sync_dir(path, err, errlen);
}
