/* The PostgreSQL store: registrations (table registrations; a group's count is counted from it,
 * schema/pg/011_reg_count.sql), as store_sqlite_regs.c. */
#include <stdio.h>
#include <stdlib.h>
#include "store_pg_int.h"

gk_status pg_registration_put(gk_store *base, const gk_registration *r, bool *fresh)
{
	pg_store *s = pgs(base);
	if (!r)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_text(&p, r->group, sizeof(r->group));
	pp_text(&p, r->member, sizeof(r->member));
	pp_int(&p, r->role);
	pp_text(&p, r->peer, sizeof(r->peer));
	pp_int(&p, r->registered_at);
	pp_int(&p, r->sender_id_first);
	pp_int(&p, r->sender_id_count);
	pp_int(&p, r->frag_ok);
	PGresult *res = NULL;
	/* New or refreshed, from the row itself: an inserted row has no xmax yet, an updated one
	 * has ours. (A look at the row before the upsert would use the statement's snapshot, which
	 * misses a row another server committed while this upsert waited for it.) */
	gk_status st = pg_run(s, "INSERT INTO registrations (group_id, member, role, peer, registered_at, "
			      "sender_id_first, sender_id_count, frag_ok) SELECT id, $2::text, $3::bigint, $4::text, "
			      "$5::bigint, $6::bigint, $7::bigint, $8::bigint FROM groups WHERE name = $1 "
			      "ON CONFLICT (group_id, member) DO UPDATE SET role = excluded.role, peer = excluded.peer, "
			      "registered_at = excluded.registered_at, sender_id_first = excluded.sender_id_first, "
			      "sender_id_count = excluded.sender_id_count, frag_ok = excluded.frag_ok "
			      "RETURNING CASE WHEN xmax = 0 THEN 1 ELSE 0 END", &p, &res, NULL);
	if (!st && PQntuples(res) == 0)
		st = GK_E_NOT_FOUND; /* no such group */
	if (!st && fresh) {
		pgr rd = { res, 0, 0, GK_OK };
		*fresh = pr_int(&rd) != 0;
	}
	PQclear(res);
	return st;
}

gk_status pg_registration_delete(gk_store *base, const char *group, const char *member)
{
	pg_store *s = pgs(base);
	if (!group || !member)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_text(&p, group, GK_IDENT_TEXT_MAX);
	pp_text(&p, member, GK_IDENT_TEXT_MAX);
	int64_t n = 0;
	gk_status st = pg_run(s, "DELETE FROM registrations WHERE group_id = (SELECT id FROM groups WHERE name = $1) "
			      "AND member = $2", &p, NULL, &n);
	if (!st && n == 0)
		st = GK_E_NOT_FOUND;
	return st;
}

gk_status pg_registration_count(gk_store *base, const char *group, uint32_t *n)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	if (!group || !n)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_text(&p, group, GK_IDENT_TEXT_MAX);
	gk_status st = pg_run(s, "SELECT (SELECT count(*) FROM registrations WHERE group_id = g.id) "
			      "FROM groups g WHERE g.name = $1", &p, &res, NULL);
	if (!st && PQntuples(res) == 0)
		st = GK_E_NOT_FOUND;
	if (!st) {
		pgr r = { res, 0, 0, GK_OK };
		*n = (uint32_t)pr_int(&r);
	}
	PQclear(res);
	return st;
}

gk_status pg_registrations(gk_store *base, const char *group, gk_registration **out, size_t *n)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	int64_t gid;
	if (!group || !out || !n)
		return GK_E_INVAL;
	*out = NULL;
	*n = 0;
	gk_status st = pg_begin(base, GK_TX_READ);
	if (st)
		return st;
	st = pg_group_find(base, group, &gid, NULL);
	pgp p = { 0 };
	pp_int(&p, gid);
	if (!st)
		st = pg_run(s, "SELECT member, role, peer, registered_at, sender_id_first, sender_id_count, frag_ok "
			    "FROM registrations WHERE group_id = $1 ORDER BY member COLLATE \"C\"", &p, &res, NULL);
	int rows = st ? 0 : PQntuples(res);
	if (rows > 0 && !(*out = calloc((size_t)rows, sizeof(**out))))
		st = GK_E_NOMEM;
	for (int i = 0; !st && i < rows; i++) {
		gk_registration *g = &(*out)[i];
		pgr r = { res, i, 0, GK_OK };
		(*n)++;
		snprintf(g->group, sizeof(g->group), "%s", group);
		pr_text(&r, g->member, sizeof(g->member));
		g->role = (gk_role)pr_int(&r);
		pr_text(&r, g->peer, sizeof(g->peer));
		g->registered_at = pr_int(&r);
		g->sender_id_first = (uint32_t)pr_int(&r);
		g->sender_id_count = (uint32_t)pr_int(&r);
		g->frag_ok = pr_int(&r) != 0;
		st = r.st;
	}
	PQclear(res);
	st = pg_end(base, st);
	if (st) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return st;
}

gk_status pg_registration_exists(gk_store *base, const char *group, const char *member, bool *exists)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	if (!group || !member || !exists)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_text(&p, group, GK_IDENT_TEXT_MAX);
	pp_text(&p, member, GK_IDENT_TEXT_MAX);
	gk_status st = pg_run(s, "SELECT 1 FROM registrations WHERE group_id = (SELECT id FROM groups WHERE name = $1) "
			      "AND member = $2", &p, &res, NULL);
	*exists = !st && PQntuples(res) > 0;
	PQclear(res);
	return st;
}

gk_status pg_registrations_frag_ok(gk_store *base, const char *group, bool *all)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	if (!group || !all)
		return GK_E_INVAL;
	*all = false;
	pgp p = { 0 };
	pp_text(&p, group, GK_IDENT_TEXT_MAX);
	gk_status st = pg_run(s, "SELECT EXISTS (SELECT 1 FROM registrations WHERE frag_ok = 0 AND "
			      "group_id = (SELECT id FROM groups WHERE name = $1))", &p, &res, NULL);
	if (!st && PQntuples(res)) {
		pgr r = { res, 0, 0, GK_OK };
		*all = pr_int(&r) == 0;
	}
	PQclear(res);
	return st;
}
