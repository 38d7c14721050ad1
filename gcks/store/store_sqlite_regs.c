/* The SQLite store: registrations (table registrations; a group's count is counted from it,
 * schema/011_reg_count.sql: gcksd reads it when it loads the group, not per registration). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_sqlite_int.h"

gk_status sq_registration_put(gk_store *base, const gk_registration *r, bool *fresh)
{
	sq_store *s = sq(base);
	if (!r)
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_REG_PUT);
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
	/* VALUES, not INSERT ... SELECT: SQLite may copy the SELECT's rows into a temporary table
	 * first (a B-tree made and dropped per registration). No trigger and no counter: one row.
	 * Only an insert sets the last inserted rowid (an upsert's DO UPDATE does not), and the
	 * rowids SQLite picks for registrations are >= 1: so 0 before the step tells a refresh
	 * from a new row without a query of its own. */
	sqlite3_set_last_insert_rowid(s->db, 0);
	gk_status st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, NULL);
	if (st == GK_E_INVAL && sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_NOTNULL)
		st = GK_E_NOT_FOUND; /* no such group: its id is NULL */
	if (!st && fresh)
		*fresh = sqlite3_last_insert_rowid(s->db) != 0;
	sq_done(q);
	return st;
}

gk_status sq_registration_delete(gk_store *base, const char *group, const char *member)
{
	sq_store *s = sq(base);
	if (!group || !member)
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_REG_DELETE);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, group, GK_IDENT_TEXT_MAX);
	b_text(&b, member, GK_IDENT_TEXT_MAX);
	gk_status st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, NULL);
	sq_done(q);
	if (!st && sqlite3_changes(s->db) == 0)
		st = GK_E_NOT_FOUND;
	return st;
}

gk_status sq_registration_count(gk_store *base, const char *group, uint32_t *n)
{
	sq_store *s = sq(base);
	if (!group || !n)
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_REG_COUNT);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, group, GK_IDENT_TEXT_MAX);
	bool row = false;
	gk_status st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, &row);
	if (!st && !row)
		st = GK_E_NOT_FOUND;
	if (!st)
		*n = (uint32_t)sqlite3_column_int64(q, 0);
	sq_done(q);
	return st;
}

static gk_status registrations_read(sq_store *s, int64_t gid, const char *group,
				    gk_registration **out, size_t *n)
{
	sqlite3_stmt *q = sq_stmt(s, Q_REG_LIST);
	if (!q)
		return GK_E_IO;
	bool row = true;
	gk_status st = sqlite3_bind_int64(q, 1, gid) ? sq_fail(s, SQLITE_RANGE) : GK_OK;
	while (!st && !(st = sq_step(s, q, &row)) && row) {
		if ((st = gk_store_grow((void **)out, n, sizeof(**out))))
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
	sq_done(q);
	return st;
}

gk_status sq_registrations(gk_store *base, const char *group, gk_registration **out, size_t *n)
{
	sq_store *s = sq(base);
	int64_t gid;
	if (!group || !out || !n)
		return GK_E_INVAL;
	*out = NULL;
	*n = 0;
	gk_status st = sq_begin(base, GK_TX_READ);
	if (st)
		return st;
	st = sq_group_find(base, group, &gid, NULL);
	if (!st)
		st = registrations_read(s, gid, group, out, n);
	st = sq_end(base, st);
	if (st) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return st;
}

gk_status sq_registration_exists(gk_store *base, const char *group, const char *member, bool *exists)
{
	sq_store *s = sq(base);
	if (!group || !member || !exists)
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_REG_EXISTS);
	if (!q)
		return GK_E_IO;
	bool row = false;
	gk_status st = sqlite3_bind_text(q, 1, group, -1, SQLITE_STATIC) ||
		       sqlite3_bind_text(q, 2, member, -1, SQLITE_STATIC) ? sq_fail(s, SQLITE_RANGE) : GK_OK;
	if (!st)
		st = sq_step(s, q, &row);
	sq_done(q);
	*exists = !st && row;
	return st;
}

gk_status sq_registrations_frag_ok(gk_store *base, const char *group, bool *all)
{
	sq_store *s = sq(base);
	if (!group || !all)
		return GK_E_INVAL;
	*all = false;
	sqlite3_stmt *q = sq_stmt(s, Q_REG_NO_FRAG);
	if (!q)
		return GK_E_IO;
	bool row = false;
	gk_status st = sqlite3_bind_text(q, 1, group, -1, SQLITE_STATIC) ? sq_fail(s, SQLITE_RANGE) : GK_OK;
	if (!st)
		st = sq_step(s, q, &row);
	if (!st && row)
		*all = sqlite3_column_int64(q, 0) == 0;
	sq_done(q);
	return st;
}
