/* The PostgreSQL store: the key trees of lkh groups (tables lkh_trees and lkh_nodes), as
 * store_sqlite_lkh.c. Key IDs and tree rows change only in write transactions, under the
 * store-wide writer lock (store_pg_int.h). */
#include <string.h>
#include <openssl/crypto.h>
#include "store_pg_int.h"

gk_status pg_lkh_meta_get(gk_store *base, gk_store_gid gid, gk_lkh_meta *m, bool *found)
{
	PGresult *res = NULL;
	if (!m || !found)
		return GK_E_INVAL;
	*found = false;
	pgp p = { 0 };
	pp_int(&p, gid);
	gk_status st = pg_run(pgs(base), "SELECT degree, depth, key_len, next_key_id FROM lkh_trees WHERE group_id = $1",
			      &p, &res, NULL);
	if (!st && PQntuples(res)) {
		pgr r = { res, 0, 0, GK_OK };
		m->degree = (unsigned)pr_int(&r);
		m->depth = (unsigned)pr_int(&r);
		m->key_len = (size_t)pr_int(&r);
		m->next_key_id = (uint32_t)pr_int(&r);
		*found = true;
		st = r.st;
	}
	PQclear(res);
	return st;
}

gk_status pg_lkh_meta_set(gk_store *base, gk_store_gid gid, const gk_lkh_meta *m)
{
	if (!m)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_int(&p, gid);
	pp_int(&p, m->degree);
	pp_int(&p, m->depth);
	pp_int(&p, (int64_t)m->key_len);
	pp_int(&p, m->next_key_id);
	return pg_run(pgs(base), "INSERT INTO lkh_trees (group_id, degree, depth, key_len, next_key_id) "
		      "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (group_id) DO UPDATE SET degree = excluded.degree, "
		      "depth = excluded.depth, key_len = excluded.key_len, next_key_id = excluded.next_key_id",
		      &p, NULL, NULL);
}

gk_status pg_lkh_rows(gk_store *base, gk_store_gid gid, gk_status (*fn)(void *ctx, const gk_lkh_row *r), void *ctx)
{
	PGresult *res = NULL;
	if (!fn)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_int(&p, gid);
	gk_status st = pg_run(pgs(base), "SELECT position, key_id, key, member, dirty FROM lkh_nodes "
			      "WHERE group_id = $1 ORDER BY position", &p, &res, NULL);
	gk_lkh_row row;
	char member[GK_IDENT_TEXT_MAX];
	memset(&row, 0, sizeof(row));
	for (int i = 0; !st && i < PQntuples(res); i++) {
		pgr r = { res, i, 0, GK_OK };
		memset(&row, 0, sizeof(row));
		row.pos = (uint32_t)pr_int(&r);
		row.key_id = (uint32_t)pr_int(&r);
		pr_blob(&r, row.key, sizeof(row.key), &row.key_len);
		row.member = pr_null(&r) ? NULL : member;
		pr_text(&r, member, sizeof(member));
		row.dirty = pr_int(&r) != 0;
		st = r.st ? r.st : fn(ctx, &row);
	}
	OPENSSL_cleanse(&row, sizeof(row));
	pg_clear(res);
	return st;
}

gk_status pg_lkh_put(gk_store *base, gk_store_gid gid, const gk_lkh_row *r)
{
	if (!r || r->key_len > sizeof(r->key))
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_int(&p, gid);
	pp_int(&p, r->pos);
	pp_int(&p, r->key_id);
	pp_blob(&p, r->key, r->key_len);
	pp_text(&p, r->member, GK_IDENT_TEXT_MAX);
	pp_int(&p, r->dirty ? 1 : 0);
	return pg_run(pgs(base), "INSERT INTO lkh_nodes (group_id, position, key_id, key, member, dirty) "
		      "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (group_id, position) DO UPDATE SET "
		      "key_id = excluded.key_id, key = excluded.key, member = excluded.member, dirty = excluded.dirty",
		      &p, NULL, NULL);
}

gk_status pg_lkh_del(gk_store *base, gk_store_gid gid, uint32_t pos)
{
	pgp p = { 0 };
	pp_int(&p, gid);
	pp_int(&p, pos);
	return pg_run(pgs(base), "DELETE FROM lkh_nodes WHERE group_id = $1 AND position = $2", &p, NULL, NULL);
}

gk_status pg_lkh_clear(gk_store *base, gk_store_gid gid)
{
	pgp p = { 0 };
	pp_int(&p, gid);
	gk_status st = pg_run(pgs(base), "DELETE FROM lkh_nodes WHERE group_id = $1", &p, NULL, NULL);
	return st ? st : pg_run(pgs(base), "DELETE FROM lkh_trees WHERE group_id = $1", &p, NULL, NULL);
}
