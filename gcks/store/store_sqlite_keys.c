/* The SQLite store: group SA keys (table sa_keys). One 'current' key per SA of a group and the
 * replaced ('old') keys until they expire. What a key looks like and when one is made are the
 * key rules' business (gcks/gcks_keyrules.c). */
#include <string.h>
#include "store_sqlite_int.h"

gk_status sq_key_current(gk_store *base, gk_store_gid gid, int idx, gk_sa_key *k, bool *found)
{
	sq_store *s = sq(base);
	if (!k || !found)
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_KEY_CURRENT);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_int(&b, idx);
	gk_status st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, found);
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
	sq_done(q);
	return st;
}

gk_status sq_spi_used(gk_store *base, const uint8_t *spi, size_t len, bool *used)
{
	sq_store *s = sq(base);
	if (!spi || !used)
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_SPI_USED);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_blob(&b, spi, len);
	return sq_run_bound(s, &b, used);
}

/* One of the statements taking (group, a[, b2]) and returning no row. */
static gk_status key_stmt_gid_idx(sq_store *s, enum stmt_id id, int64_t gid, int64_t a, int64_t b2)
{
	sqlite3_stmt *q = sq_stmt(s, id);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_int(&b, a);
	if (id == Q_KEY_RETIRE_UNUSED)
		b_int(&b, b2);
	return sq_run_bound(s, &b, NULL);
}

gk_status sq_key_insert(gk_store *base, gk_store_gid gid, gk_sa_key *k)
{
	sq_store *s = sq(base);
	if (!k || k->spi_len > sizeof(k->spi) || k->keymat_len > sizeof(k->keymat))
		return GK_E_INVAL;
	gk_status st = key_stmt_gid_idx(s, Q_KEY_RETIRE, gid, k->tek_index, 0);
	if (st)
		return st;
	sqlite3_stmt *q = sq_stmt(s, Q_KEY_INSERT);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_int(&b, k->tek_index);
	b_blob(&b, k->spi, k->spi_len);
	b_blob(&b, k->keymat, k->keymat_len);
	b_int(&b, k->created);
	b_int(&b, k->expires);
	b_int(&b, k->generation);
	if (!(st = sq_run_bound(s, &b, NULL)))
		k->id = sqlite3_last_insert_rowid(s->db);
	return st;
}

gk_status sq_keys_retire_unused(gk_store *s, gk_store_gid gid, size_t nteks, bool kek)
{
	return key_stmt_gid_idx(sq(s), Q_KEY_RETIRE_UNUSED, gid, (int64_t)nteks, kek);
}

gk_status sq_keys_prune(gk_store *s, gk_store_gid gid, int64_t now)
{
	return key_stmt_gid_idx(sq(s), Q_KEY_PRUNE, gid, now, 0);
}

gk_status sq_keys_carry(gk_store *base, gk_store_gid gid, int64_t gen)
{
	sq_store *s = sq(base);
	sqlite3_stmt *q = sq_stmt(s, Q_KEY_CARRY);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_int(&b, gen);
	gk_status st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, NULL);
	sq_done(q);
	return st;
}

