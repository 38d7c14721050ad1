/* The SQLite store: per-group counters (table counters). Which values a counter may take and
 * how they are handed out is the key rules' business (gcks/gcks_keyrules.c). */
#include "store_sqlite_int.h"

/* The counter's name in the table. */
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

gk_status sq_counter_get(gk_store *base, gk_store_gid gid, gk_store_counter c, int64_t dflt, int64_t *v)
{
	sq_store *s = sq(base);
	const char *name = counter_name(c);
	if (!name || !v)
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_COUNTER_GET);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_text(&b, name, 32);
	bool row = false;
	gk_status st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, &row);
	if (!st)
		*v = row ? sqlite3_column_int64(q, 0) : dflt;
	sq_done(q);
	return st;
}

gk_status sq_counter_set(gk_store *base, gk_store_gid gid, gk_store_counter c, int64_t v)
{
	sq_store *s = sq(base);
	const char *name = counter_name(c);
	if (!name)
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_COUNTER_SET);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, gid);
	b_text(&b, name, 32);
	b_int(&b, v);
	return sq_run_bound(s, &b, NULL);
}
