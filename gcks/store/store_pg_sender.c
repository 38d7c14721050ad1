/* The PostgreSQL store: what senders may hold and when they last forced a rekey (tables
 * sender_teks and sender_rekeys; doc/sender-iv.md), as store_sqlite_sender.c. */
#include "store_pg_int.h"

gk_status pg_sender_tek_held(gk_store *base, const char *group, const char *member, const uint8_t spi[4],
			     bool *held)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	if (!group || !member || !spi || !held)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_text(&p, group, SIZE_MAX);
	pp_blob(&p, spi, 4);
	pp_text(&p, member, SIZE_MAX);
	gk_status st = pg_run(s, "SELECT 1 FROM sender_teks WHERE group_id = (SELECT id FROM groups WHERE name = $1) "
			      "AND spi = $2 AND member = $3", &p, &res, NULL);
	*held = !st && PQntuples(res) > 0;
	PQclear(res);
	return st;
}

gk_status pg_sender_tek_add(gk_store *base, const char *group, const char *member, const uint8_t spi[4])
{
	if (!group || !member || !spi)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_text(&p, group, SIZE_MAX);
	pp_blob(&p, spi, 4);
	pp_text(&p, member, SIZE_MAX);
	return pg_run(pgs(base), "INSERT INTO sender_teks (group_id, spi, member) SELECT id, $2::bytea, $3::text "
		      "FROM groups WHERE name = $1 ON CONFLICT DO NOTHING", &p, NULL, NULL);
}

gk_status pg_sender_tek_add_role(gk_store *base, const char *group, gk_role role, const uint8_t spi[4])
{
	if (!group || !spi)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_text(&p, group, SIZE_MAX);
	pp_blob(&p, spi, 4);
	pp_int(&p, role);
	return pg_run(pgs(base), "INSERT INTO sender_teks (group_id, spi, member) SELECT group_id, $2::bytea, member "
		      "FROM registrations WHERE group_id = (SELECT id FROM groups WHERE name = $1) AND role = $3 "
		      "ON CONFLICT DO NOTHING", &p, NULL, NULL);
}

gk_status pg_sender_teks_prune(gk_store *base, const char *group)
{
	if (!group)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_text(&p, group, SIZE_MAX);
	return pg_run(pgs(base), "DELETE FROM sender_teks WHERE group_id = (SELECT id FROM groups WHERE name = $1) "
		      "AND spi NOT IN (SELECT spi FROM sa_keys WHERE group_id = sender_teks.group_id)", &p, NULL, NULL);
}

gk_status pg_sender_rekey_get(gk_store *base, const char *group, const char *member, int64_t *at, bool *found)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	if (!group || !member || !at || !found)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_text(&p, group, SIZE_MAX);
	pp_text(&p, member, SIZE_MAX);
	gk_status st = pg_run(s, "SELECT at FROM sender_rekeys WHERE group_id = (SELECT id FROM groups WHERE name = $1) "
			      "AND member = $2", &p, &res, NULL);
	*found = !st && PQntuples(res) > 0;
	if (*found) {
		pgr r = { res, 0, 0, GK_OK };
		*at = pr_int(&r);
	}
	PQclear(res);
	return st;
}

gk_status pg_sender_rekey_set(gk_store *base, const char *group, const char *member, int64_t at)
{
	if (!group || !member)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_text(&p, group, SIZE_MAX);
	pp_text(&p, member, SIZE_MAX);
	pp_int(&p, at);
	int64_t n = 0;
	gk_status st = pg_run(pgs(base), "INSERT INTO sender_rekeys (group_id, member, at) SELECT id, $2::text, "
			      "$3::bigint FROM groups WHERE name = $1 ON CONFLICT (group_id, member) DO UPDATE SET "
			      "at = excluded.at", &p, NULL, &n);
	if (!st && n == 0)
		st = GK_E_NOT_FOUND; /* no such group */
	return st;
}
