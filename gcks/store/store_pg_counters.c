/* The PostgreSQL store: per-group counters (table counters), as store_sqlite_counters.c. They
 * are read and set inside a write transaction, under the store-wide writer lock
 * (store_pg_int.h), so no two gcksd read the same value to hand out. */
#include "store_pg_int.h"

static const char *counter_name(gk_store_counter c)
{
	switch (c) {
	case GK_COUNTER_SENDER_ID:
		return "sender_id";
	case GK_COUNTER_REKEY_MSGID:
		return "rekey_msgid";
	}
	return NULL;
}

gk_status pg_counter_get(gk_store *base, gk_store_gid gid, gk_store_counter c, int64_t dflt, int64_t *v)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	const char *name = counter_name(c);
	if (!name || !v)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_int(&p, gid);
	pp_text(&p, name, 32);
	gk_status st = pg_run(s, "SELECT value FROM counters WHERE group_id = $1 AND name = $2", &p, &res, NULL);
	if (!st) {
		pgr r = { res, 0, 0, GK_OK };
		*v = PQntuples(res) ? pr_int(&r) : dflt;
	}
	PQclear(res);
	return st;
}

gk_status pg_counter_set(gk_store *base, gk_store_gid gid, gk_store_counter c, int64_t v)
{
	pg_store *s = pgs(base);
	const char *name = counter_name(c);
	if (!name)
		return GK_E_INVAL;
	pgp p = { 0 };
	pp_int(&p, gid);
	pp_text(&p, name, 32);
	pp_int(&p, v);
	return pg_run(s, "INSERT INTO counters (group_id, name, value) VALUES ($1, $2, $3) "
		      "ON CONFLICT (group_id, name) DO UPDATE SET value = excluded.value", &p, NULL, NULL);
}
