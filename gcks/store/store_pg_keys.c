/* The PostgreSQL store: group SA keys (table sa_keys), as store_sqlite_keys.c. */
#include <string.h>
#include "store_pg_int.h"

gk_status pg_key_current(gk_store *base, gk_store_gid gid, int idx, gk_sa_key *k, bool *found)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	if (!k || !found)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_int(&p, gid);
	pp_int(&p, idx);
	gk_status st = pg_run(s, "SELECT id, spi, keymat, created, expires, generation FROM sa_keys "
			      "WHERE group_id = $1 AND tek_index = $2 AND state = 'current'", &p, &res, NULL);
	*found = !st && PQntuples(res) > 0;
	if (*found) {
		pgr r = { res, 0, 0, GK_OK };
		memset(k, 0, sizeof(*k));
		k->id = pr_int(&r);
		pr_blob(&r, k->spi, sizeof(k->spi), &k->spi_len);
		pr_blob(&r, k->keymat, sizeof(k->keymat), &k->keymat_len);
		k->created = pr_int(&r);
		k->expires = pr_int(&r);
		k->generation = pr_int(&r);
		k->tek_index = idx;
		st = r.st;
	}
	pg_clear(res);
	return st;
}

gk_status pg_spi_used(gk_store *base, const uint8_t *spi, size_t len, bool *used)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	if (!spi || !used)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_blob(&p, spi, len);
	gk_status st = pg_run(s, "SELECT 1 FROM sa_keys WHERE spi = $1 LIMIT 1", &p, &res, NULL);
	*used = !st && PQntuples(res) > 0;
	PQclear(res);
	return st;
}

/* A statement taking (group, a[, b]) and returning no row. */
static gk_status run3(pg_store *s, const char *sql, int64_t gid, int64_t a, const int64_t *b)
{
	pgp p = { 0 };
	pp_int(&p, gid);
	pp_int(&p, a);
	if (b)
		pp_int(&p, *b);
	return pg_run(s, sql, &p, NULL, NULL);
}

gk_status pg_key_insert(gk_store *base, gk_store_gid gid, gk_sa_key *k)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	if (!k || k->spi_len > sizeof(k->spi) || k->keymat_len > sizeof(k->keymat))
		return GK_E_INVAL;
	gk_status st = run3(s, "UPDATE sa_keys SET state = 'old' WHERE group_id = $1 AND tek_index = $2 "
			    "AND state = 'current'", gid, k->tek_index, NULL);
	if (st)
		return st;
	pgp p = { 0 };
	pp_int(&p, gid);
	pp_int(&p, k->tek_index);
	pp_blob(&p, k->spi, k->spi_len);
	pp_blob(&p, k->keymat, k->keymat_len);
	pp_int(&p, k->created);
	pp_int(&p, k->expires);
	pp_int(&p, k->generation);
	st = pg_run(s, "INSERT INTO sa_keys (group_id, tek_index, spi, keymat, created, expires, generation, state) "
		    "VALUES ($1, $2, $3, $4, $5, $6, $7, 'current') RETURNING id", &p, &res, NULL);
	if (!st) {
		pgr r = { res, 0, 0, GK_OK };
		k->id = pr_int(&r);
		st = r.st;
	}
	PQclear(res);
	return st;
}

gk_status pg_keys_retire_unused(gk_store *s, gk_store_gid gid, size_t nteks, bool kek)
{
	int64_t k = kek;
	return run3(pgs(s), "UPDATE sa_keys SET state = 'old' WHERE group_id = $1 AND state = 'current' "
		    "AND (tek_index >= $2 OR (tek_index = -1 AND $3::bigint = 0))", gid, (int64_t)nteks, &k);
}

gk_status pg_keys_prune(gk_store *s, gk_store_gid gid, int64_t now)
{
	return run3(pgs(s), "DELETE FROM sa_keys WHERE group_id = $1 AND state = 'old' AND expires <= $2", gid,
		    now, NULL);
}

gk_status pg_keys_carry(gk_store *s, gk_store_gid gid, int64_t gen)
{
	return run3(pgs(s), "UPDATE sa_keys SET generation = $2 WHERE group_id = $1 AND state = 'current'", gid,
		    gen, NULL);
}
