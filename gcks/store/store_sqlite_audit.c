/* The SQLite store: the audit log (table audit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_sqlite_int.h"

gk_status sq_audit_write(sq_store *s, const char *who, const char *action, const char *detail, int64_t now)
{
	sqlite3_stmt *q = sq_stmt(s, Q_AUDIT);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_int(&b, now);
	b_text(&b, who && *who ? who : "-", 256);
	b_text(&b, action ? action : "", 256);
	b_text(&b, detail ? detail : "", 4096);
	gk_status st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, NULL);
	sq_done(q);
	return st;
}

gk_status sq_audit(gk_store *s, const char *who, const char *action, const char *detail, int64_t now)
{
	if (!action)
		return GK_E_INVAL;
	return sq_audit_write(sq(s), who, action, detail, now);
}

gk_status sq_audit_list(gk_store *base, size_t last, gk_audit_row **out, size_t *n)
{
	sq_store *s = sq(base);
	if (!out || !n)
		return GK_E_INVAL;
	*out = NULL;
	*n = 0;
	gk_status st = sq_begin(base, GK_TX_READ);
	if (st)
		return st;
	sqlite3_stmt *q = sq_stmt(s, Q_AUDIT_LIST);
	bool row = true;
	st = !q ? GK_E_IO : sqlite3_bind_int64(q, 1, last > INT64_MAX ? INT64_MAX : (int64_t)last)
		? sq_fail(s, SQLITE_RANGE) : GK_OK;
	while (!st && !(st = sq_step(s, q, &row)) && row) {
		if ((st = gk_store_grow((void **)out, n, sizeof(**out))))
			break;
		gk_audit_row *a = &(*out)[*n - 1];
		reader r = { q, 0, GK_OK };
		a->at = r_int(&r);
		r_text(&r, a->who, sizeof(a->who));
		r_text(&r, a->action, sizeof(a->action));
		r_text(&r, a->detail, sizeof(a->detail));
		st = r.st;
	}
	if (q)
		sq_done(q);
	st = sq_end(base, st);
	if (st) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return st;
}

gk_status sq_audit_find(gk_store *base, const char *action, const char *detail, int64_t *pos)
{
	sq_store *s = sq(base);
	if (!action || !detail || !pos)
		return GK_E_INVAL;
	*pos = 0;
	sqlite3_stmt *q = sq_stmt(s, Q_AUDIT_FIND);
	if (!q)
		return GK_E_IO;
	binder b = { q, 0, SQLITE_OK };
	b_text(&b, action, 256);
	b_text(&b, detail, 4096);
	bool row = false;
	gk_status st = b.rc ? sq_fail(s, b.rc) : sq_step(s, q, &row);
	if (!st && row)
		*pos = sqlite3_column_int64(q, 0); /* max() of no rows is NULL: 0 */
	sq_done(q);
	return st;
}
