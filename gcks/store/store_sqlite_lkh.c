/* The SQLite store: the key trees of lkh groups (tables lkh_trees and lkh_nodes). What the tree
 * looks like and when it changes is gcks/gcks_lkh.c's and the key rules' business. */
#include <string.h>
#include <openssl/crypto.h>
#include "store_sqlite_int.h"

gk_status sq_lkh_meta_get(gk_store *base, gk_store_gid gid, gk_lkh_meta *m, bool *found)
{
	sq_store *s = sq(base);
	if (!m || !found)
		return GK_E_INVAL;
	*found = false;
	sqlite3_stmt *q = sq_stmt(s, Q_LKH_META_GET);
	if (!q)
		return GK_E_IO;
	bool row = false;
	gk_status st = sqlite3_bind_int64(q, 1, gid) ? sq_fail(s, SQLITE_RANGE) : sq_step(s, q, &row);
	if (!st && row) {
		reader r = { q, 0, GK_OK };
		m->degree = (unsigned)r_int(&r);
		m->depth = (unsigned)r_int(&r);
		m->key_len = (size_t)r_int(&r);
		m->next_key_id = (uint32_t)r_int(&r);
		*found = true;
		st = r.st;
	}
	sq_done(q);
	return st;
}

gk_status sq_lkh_meta_set(gk_store *base, gk_store_gid gid, const gk_lkh_meta *m)
{
	sq_store *s = sq(base);
	if (!m)
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_LKH_META_SET);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_int(&b, m->degree);
	b_int(&b, m->depth);
	b_int(&b, (int64_t)m->key_len);
	b_int(&b, m->next_key_id);
	return sq_run_bound(s, &b, NULL);
}

gk_status sq_lkh_rows(gk_store *base, gk_store_gid gid, gk_status (*fn)(void *ctx, const gk_lkh_row *r), void *ctx)
{
	sq_store *s = sq(base);
	if (!fn)
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_LKH_ROWS);
	if (!q)
		return GK_E_IO;
	gk_status st = sqlite3_bind_int64(q, 1, gid) ? sq_fail(s, SQLITE_RANGE) : GK_OK;
	gk_lkh_row row;
	char member[GK_IDENT_TEXT_MAX];
	for (bool more = true; !st;) {
		if ((st = sq_step(s, q, &more)) || !more)
			break;
		reader r = { q, 0, GK_OK };
		memset(&row, 0, sizeof(row));
		row.pos = (uint32_t)r_int(&r);
		row.key_id = (uint32_t)r_int(&r);
		r_blob(&r, row.key, sizeof(row.key), &row.key_len);
		row.member = sqlite3_column_type(q, r.i) == SQLITE_NULL ? NULL : member;
		r_text(&r, member, sizeof(member));
		row.dirty = r_int(&r) != 0;
		st = r.st ? r.st : fn(ctx, &row);
	}
	OPENSSL_cleanse(&row, sizeof(row));
	sq_done(q);
	return st;
}

gk_status sq_lkh_put(gk_store *base, gk_store_gid gid, const gk_lkh_row *r)
{
	sq_store *s = sq(base);
	if (!r || r->key_len > sizeof(r->key))
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_LKH_PUT);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_int(&b, r->pos);
	b_int(&b, r->key_id);
	b_blob(&b, r->key, r->key_len);
	b_text(&b, r->member, GK_IDENT_TEXT_MAX);
	b_int(&b, r->dirty ? 1 : 0);
	return sq_run_bound(s, &b, NULL);
}

gk_status sq_lkh_del(gk_store *base, gk_store_gid gid, uint32_t pos)
{
	sq_store *s = sq(base);
	sqlite3_stmt *q = sq_stmt(s, Q_LKH_DEL);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_int(&b, pos);
	return sq_run_bound(s, &b, NULL);
}

gk_status sq_lkh_clear(gk_store *base, gk_store_gid gid)
{
	sq_store *s = sq(base);
	static const enum stmt_id dels[] = { Q_LKH_CLEAR_NODES, Q_LKH_CLEAR_TREE };
	gk_status st = GK_OK;
	for (size_t i = 0; i < 2 && !st; i++) {
		sqlite3_stmt *q = sq_stmt(s, dels[i]);
		if (!q)
			return GK_E_IO;
		binder b = { q, 0, SQLITE_OK };
		b_int(&b, gid);
		st = sq_run_bound(s, &b, NULL);
	}
	return st;
}
