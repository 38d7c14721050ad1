/* The PostgreSQL store: the audit log (table audit), as store_sqlite_audit.c. */
#include <stdlib.h>
#include "store_pg_int.h"

gk_status pg_audit_write(pg_store *s, const char *who, const char *action, const char *detail, int64_t now)
{
	pgp p = { 0 };
	pp_int(&p, now);
	pp_text(&p, who && *who ? who : "-", 256);
	pp_text(&p, action ? action : "", 256);
	pp_text(&p, detail ? detail : "", 4096);
	return pg_run(s, "INSERT INTO audit (at, who, action, detail) VALUES ($1, $2, $3, $4)", &p, NULL, NULL);
}

gk_status pg_audit(gk_store *s, const char *who, const char *action, const char *detail, int64_t now)
{
	if (!action)
		return GK_E_INVAL;
	return pg_audit_write(pgs(s), who, action, detail, now);
}

gk_status pg_audit_list(gk_store *base, size_t last, gk_audit_row **out, size_t *n)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	if (!out || !n)
		return GK_E_INVAL;
	*out = NULL;
	*n = 0;
	pgp p = { 0 };
	pp_int(&p, last > INT64_MAX ? INT64_MAX : (int64_t)last);
	gk_status st = pg_run(s, "SELECT at, who, action, detail FROM (SELECT id, at, who, action, detail FROM audit "
			      "ORDER BY id DESC LIMIT $1) AS a ORDER BY id", &p, &res, NULL);
	int rows = st ? 0 : PQntuples(res);
	if (rows > 0 && !(*out = calloc((size_t)rows, sizeof(**out))))
		st = GK_E_NOMEM;
	for (int i = 0; !st && i < rows; i++) {
		gk_audit_row *a = &(*out)[i];
		pgr r = { res, i, 0, GK_OK };
		(*n)++;
		a->at = pr_int(&r);
		pr_text(&r, a->who, sizeof(a->who));
		pr_text(&r, a->action, sizeof(a->action));
		pr_text(&r, a->detail, sizeof(a->detail));
		st = r.st;
	}
	PQclear(res);
	if (st) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return st;
}

gk_status pg_audit_find(gk_store *base, const char *action, const char *detail, int64_t *pos)
{
	pg_store *s = pgs(base);
	PGresult *res = NULL;
	if (!action || !detail || !pos)
		return GK_E_INVAL;
	*pos = 0;
	pgp p = { 0 };
	pp_text(&p, action, 256);
	pp_text(&p, detail, 4096);
	gk_status st = pg_run(s, "SELECT max(id) FROM audit WHERE action = $1 AND detail = $2", &p, &res, NULL);
	if (!st && PQntuples(res)) {
		pgr r = { res, 0, 0, GK_OK };
		*pos = pr_int(&r); /* max() of no rows is NULL: 0 */
	}
	PQclear(res);
	return st;
}
