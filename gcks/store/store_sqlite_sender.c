/* The SQLite store: what senders may hold and when they last forced a rekey (tables
 * sender_teks and sender_rekeys; doc/sender-iv.md). When a TEK is recorded and when a sender
 * may force a rekey are the key rules' business (gcks/gcks_keyrules.c). */
#include "store_sqlite_int.h"

gk_status sq_sender_tek_held(gk_store *base, const char *group, const char *member, const uint8_t spi[4],
			     bool *held)
{
	sq_store *s = sq(base);
	if (!group || !member || !spi || !held)
		return GK_E_INVAL;
	*held = false;
	sqlite3_stmt *q = sq_stmt(s, Q_STEK_HELD);
	if (!q)
		return GK_E_IO;
	bool row = false;
	gk_status st = sqlite3_bind_text(q, 1, group, -1, SQLITE_STATIC) ||
		       sqlite3_bind_blob(q, 2, spi, 4, SQLITE_STATIC) ||
		       sqlite3_bind_text(q, 3, member, -1, SQLITE_STATIC) ? sq_fail(s, SQLITE_RANGE) : GK_OK;
	if (!st)
		st = sq_step(s, q, &row);
	sq_done(q);
	*held = !st && row;
	return st;
}

gk_status sq_sender_tek_add(gk_store *base, const char *group, const char *member, const uint8_t spi[4])
{
	sq_store *s = sq(base);
	if (!group || !member || !spi)
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_STEK_ADD);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, group, SIZE_MAX);
	b_blob(&b, spi, 4);
	b_text(&b, member, SIZE_MAX);
	return sq_run_bound(s, &b, NULL);
}

gk_status sq_sender_tek_add_role(gk_store *base, const char *group, gk_role role, const uint8_t spi[4])
{
	sq_store *s = sq(base);
	if (!group || !spi)
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_STEK_ADD_SENDERS);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, group, SIZE_MAX);
	b_blob(&b, spi, 4);
	b_int(&b, role);
	return sq_run_bound(s, &b, NULL);
}

gk_status sq_sender_teks_prune(gk_store *base, const char *group)
{
	sq_store *s = sq(base);
	if (!group)
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_STEK_PRUNE);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, group, SIZE_MAX);
	return sq_run_bound(s, &b, NULL);
}

gk_status sq_sender_rekey_get(gk_store *base, const char *group, const char *member, int64_t *at, bool *found)
{
	sq_store *s = sq(base);
	if (!group || !member || !at || !found)
		return GK_E_INVAL;
	*found = false;
	sqlite3_stmt *q = sq_stmt(s, Q_SREKEY_GET);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, group, SIZE_MAX);
	b_text(&b, member, SIZE_MAX);
	gk_status st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, found);
	if (!st && *found)
		*at = sqlite3_column_int64(q, 0);
	sq_done(q);
	return st;
}

gk_status sq_sender_rekey_set(gk_store *base, const char *group, const char *member, int64_t at)
{
	sq_store *s = sq(base);
	if (!group || !member)
		return GK_E_INVAL;
	sqlite3_stmt *q = sq_stmt(s, Q_SREKEY_SET);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, group, SIZE_MAX);
	b_text(&b, member, SIZE_MAX);
	b_int(&b, at);
	gk_status st = sq_run_bound(s, &b, NULL);
	if (!st && sqlite3_changes(s->db) == 0)
		st = GK_E_NOT_FOUND; /* no such group */
	return st;
}
