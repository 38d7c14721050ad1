/* The PostgreSQL store: several gcksd on one database (gcks/storage.h, "several servers").
 * Heartbeats (table servers) and rekey leases (table leases) are judged by the database's clock,
 * clock_timestamp() in milliseconds, never by a server's. Taking a lease is one statement: an
 * insert, or an update that succeeds only when the lease is the caller's or expired, raising the
 * epoch when it changes hands. The fence (pg_lease_check) reads the lease FOR SHARE inside the
 * transaction that takes a Rekey SA Message ID: a takeover's update waits for that transaction
 * to end, and that transaction sees a takeover committed before it, so the old and the new
 * leader never take the same Message ID (the counter itself is under the store-wide writer lock,
 * store_pg_int.h). Notices are NOTIFY on channel "gikev2" (sent at commit when inside a
 * transaction); the connection LISTENs from the first gk_store_notice_fd and again after
 * every reconnection (its socket changes; after a drop gk_store_notice_fd answers -1 once). */
#include <stdlib.h>
#include <string.h>

#include "store_pg_int.h"

#define NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

/* One statement: the row is taken when it is this instance's or its heartbeat is stale; else
 * nothing changes and the other instance's heartbeat age is read (0 rows: it went meanwhile,
 * the next beat takes it). */
gk_status pg_server_beat(gk_store *base, const char *server, const char *instance, int64_t stale_ms, int64_t *age_ms)
{
	pgp p = { 0 };
	int64_t n = 0;
	PGresult *res = NULL;
	pp_text(&p, server, GK_SERVER_ID_MAX - 1);
	pp_text(&p, instance, GK_SERVER_INSTANCE_MAX - 1);
	pp_int(&p, stale_ms);
	gk_status st = pg_run(pgs(base), "INSERT INTO servers AS s (id, last_seen_ms, instance) VALUES ($1, " NOW_MS
			      ", $2) ON CONFLICT (id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms, "
			      "instance = excluded.instance WHERE s.instance = excluded.instance OR "
			      "s.last_seen_ms <= " NOW_MS " - $3", &p, NULL, &n);
	if (st || n == 1)
		return st;
	pgp q = { 0 };
	pp_text(&q, server, GK_SERVER_ID_MAX - 1);
	st = pg_run(pgs(base), "SELECT " NOW_MS " - last_seen_ms FROM servers WHERE id = $1", &q, &res, NULL);
	if (!st && PQntuples(res) == 1) {
		pgr r = { res, 0, 0, GK_OK };
		*age_ms = pr_int(&r);
		st = r.st ? r.st : GK_E_STATE;
		snprintf(pgs(base)->errmsg, sizeof(pgs(base)->errmsg), "server id %s is held by another live gcksd "
			 "(heartbeat %lld ms ago)", server, (long long)*age_ms);
	}
	PQclear(res);
	return st;
}

gk_status pg_servers(gk_store *base, gk_server_row **out, size_t *n)
{
	PGresult *res = NULL;
	gk_status st = pg_run(pgs(base), "SELECT id, (" NOW_MS " - last_seen_ms) / 1000 FROM servers ORDER BY id",
			      NULL, &res, NULL);
	if (st)
		return st;
	size_t rows = (size_t)PQntuples(res);
	*out = calloc(rows ? rows : 1, sizeof(**out));
	if (!*out) {
		PQclear(res);
		return GK_E_NOMEM;
	}
	for (size_t i = 0; i < rows && !st; i++) {
		pgr r = { res, (int)i, 0, GK_OK };
		pr_text(&r, (*out)[i].id, sizeof((*out)[i].id));
		(*out)[i].age = pr_int(&r);
		st = r.st;
	}
	PQclear(res);
	if (st) {
		free(*out);
		*out = NULL;
		return st;
	}
	*n = rows;
	return GK_OK;
}

static gk_status lease_row(PGresult *res, gk_lease *l, bool *found)
{
	*found = PQntuples(res) > 0;
	if (!*found)
		return GK_OK;
	pgr r = { res, 0, 0, GK_OK };
	pr_text(&r, l->holder, sizeof(l->holder));
	l->epoch = pr_int(&r);
	l->remaining = pr_int(&r);
	return r.st;
}

gk_status pg_lease_get(gk_store *base, const char *group, gk_lease *l, bool *found)
{
	PGresult *res = NULL;
	pgp p = { 0 };
	pp_text(&p, group, GK_IDENT_TEXT_MAX);
	gk_status st = pg_run(pgs(base), "SELECT holder, epoch, (expires_ms - " NOW_MS ") / 1000 FROM leases "
			      "WHERE group_name = $1", &p, &res, NULL);
	if (!st)
		st = lease_row(res, l, found);
	PQclear(res);
	return st;
}

gk_status pg_lease_take(gk_store *base, const char *group, const char *server, int64_t lease_s, gk_lease *l,
			bool *held)
{
	PGresult *res = NULL;
	pgp p = { 0 };
	pp_text(&p, group, GK_IDENT_TEXT_MAX);
	pp_text(&p, server, GK_SERVER_ID_MAX - 1);
	pp_int(&p, lease_s * 1000);
	gk_status st = pg_run(pgs(base),
			      "INSERT INTO leases AS l (group_name, holder, epoch, expires_ms) "
			      "VALUES ($1, $2, 1, " NOW_MS " + $3) ON CONFLICT (group_name) DO UPDATE SET "
			      "holder = excluded.holder, "
			      "epoch = l.epoch + CASE WHEN l.holder = excluded.holder THEN 0 ELSE 1 END, "
			      "expires_ms = excluded.expires_ms "
			      "WHERE l.holder = excluded.holder OR l.expires_ms <= " NOW_MS " "
			      "RETURNING holder, epoch, (expires_ms - " NOW_MS ") / 1000", &p, &res, NULL);
	if (st)
		return st;
	st = lease_row(res, l, held);
	PQclear(res);
	if (st || *held)
		return st;
	bool found = false;
	return pg_lease_get(base, group, l, &found); /* another server's, unexpired */
}

gk_status pg_lease_check(gk_store *base, const char *group, const char *server, int64_t epoch, bool *held)
{
	PGresult *res = NULL;
	pgp p = { 0 };
	pp_text(&p, group, GK_IDENT_TEXT_MAX);
	pp_text(&p, server, GK_SERVER_ID_MAX - 1);
	pp_int(&p, epoch);
	gk_status st = pg_run(pgs(base), "SELECT 1 FROM leases WHERE group_name = $1 AND holder = $2 AND epoch = $3 "
			      "AND expires_ms > " NOW_MS " FOR SHARE", &p, &res, NULL);
	if (!st)
		*held = PQntuples(res) > 0;
	PQclear(res);
	return st;
}

gk_status pg_notify(gk_store *base, const char *what)
{
	pgp p = { 0 };
	pp_text(&p, what, 7999); /* NOTIFY payloads are shorter than 8000 octets */
	return pg_run(pgs(base), "SELECT pg_notify('gikev2', $1)", &p, NULL, NULL);
}

int pg_notice_fd(gk_store *base)
{
	pg_store *s = pgs(base);
	if (s->fd_changed && !s->in_tx) {
		/* the socket was closed: say so once, so that the caller stops watching its number
		 * (a new connection's socket may get the same one) */
		s->fd_changed = false;
		return -1;
	}
	int fd = PQstatus(s->conn) == CONNECTION_OK ? PQsocket(s->conn) : -1;
	if (fd < 0 || s->in_tx)
		return s->in_tx ? s->listen_fd : -1;
	if (fd != s->listen_fd) {
		s->listen_fd = -1;
		if (pg_run(s, "LISTEN gikev2", NULL, NULL, NULL))
			return -1;
		s->listen_fd = PQsocket(s->conn);
	}
	return s->listen_fd;
}

gk_status pg_notices(gk_store *base, void (*fn)(void *ctx, const char *what), void *ctx)
{
	pg_store *s = pgs(base);
	if (!s->conn)
		return GK_E_IO; /* dropped: errmsg keeps why */
	if (!PQconsumeInput(s->conn)) {
		snprintf(s->errmsg, sizeof(s->errmsg), "%s", PQerrorMessage(s->conn));
		s->listen_fd = -1;
		return GK_E_IO;
	}
	PGnotify *n;
	while ((n = PQnotifies(s->conn))) {
		fn(ctx, n->extra);
		PQfreemem(n);
	}
	return GK_OK;
}
