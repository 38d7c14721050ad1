/* Several gcksd on one shared store (PostgreSQL): heartbeat, rekey leases, fail closed.
 *
 * One server at a time leads a group's rekeys: it runs the lifetime scheduler and sends the
 * multicast GSA_REKEY. Leadership is a lease row per group in the store (gk_store_lease_take),
 * not a PostgreSQL advisory lock: an advisory lock belongs to a database session, so a leader
 * whose connection hangs half-open (a partition the TCP stack has not noticed) would keep it
 * for as long as the server side keeps the session, and nothing in the transaction that takes a
 * Message ID could tell a stale leader from the current one. A lease expires by the database's
 * clock whatever happened to its holder, its epoch changes hands with it, and the key rules
 * check it in the very transaction that takes a Rekey SA Message ID (msgid_fence in
 * gcks_keyrules.c), so a leader that lost its lease cannot send a Message ID the next leader
 * also sends. The rekey counters themselves are in the store, so the next GSA_REKEY after a
 * takeover continues the sequence.
 *
 * Bound: the lease lasts GK_CLUSTER_LEASE_S (6 s) and is renewed every GK_CLUSTER_RENEW_MS
 * (2 s); a leader that dies leaves it to expire, and the others try every 2 s, so another server
 * leads within 8 s of the leader's last renewal. A leader that cannot renew stops leading on its
 * own clock 1 s before its lease ends (it measured from before it asked), so two servers never
 * lead at once while the servers' clocks run at the same rate.
 *
 * Losing the database (fail closed). A server that cannot beat or renew (a statement not
 * answered, the connection refused or reset) is "lost": it logs "database lost (...)" once,
 * leads no group, refuses every registration with TEMPORARY_FAILURE (gcks_reg.c: its keys in
 * memory may be stale and nothing it would issue could be recorded) and sends no GSA_REKEY,
 * until a heartbeat and every lease round succeed again ("database back"); gcksd then reloads
 * the groups from the store (gk_gcks_cluster's lost count moved), which catches up on the
 * changes whose notices it missed, and it leads again only through the lease (another server
 * may hold it now). No store call waits without end: the PostgreSQL backend gives each
 * statement PG_STATEMENT_MS (5 s) for its answer and then drops the connection, and makes it
 * again in slices of PG_CONNECT_SLICE_MS (250 ms) per call, an attempt lasting PG_CONNECT_MS
 * (5 s) and the next one starting PG_RETRY_MS (1 s) after a failure (store_pg_int.h). Bounds,
 * with the database cut off silently (no RST, no answer):
 *   - "database lost" is logged within 7.25 s of the cut: the next heartbeat starts within
 *     GK_CLUSTER_RENEW_MS plus the daemon's 250 ms tick, and fails 5 s later (sooner when
 *     another statement found the cut first);
 *   - the event loop is blocked 5 s at most at a time (a statement that finds the cut), then
 *     250 ms at most per store call while the database stays away;
 *   - a leader stops leading within 5 s of its last renewal whatever it was blocked on (its own
 *     clock, above), and another server leads within 8 s of it, as after a crash;
 *   - once the database answers again, the next round (2 s) brings the server back.
 * A refused or reset connection (the database stopped) is found at once, without waiting.
 *
 * Server ids are unique among live servers: every heartbeat carries this run's random nonce
 * (gk_store_server_beat), and a row whose heartbeat is fresh and whose nonce is another's
 * belongs to another live gcksd under the same id. gcksd claims its id so before it starts
 * (it exits GK_EXIT_SERVER_ID when a live one holds it; one restarted after a crash waits at
 * most GK_CLUSTER_LEASE_S for its old heartbeat to go stale); a server that finds its id taken
 * while it runs (its heartbeat went stale during a partition and another took the id) fails
 * closed as above.
 *
 * A store one gcksd holds alone (SQLite) answers that this server leads every group: nothing
 * changes for a single server. */
#include <string.h>

#include "gcks_cluster.h"
#include "log.h"

static void lost(gk_gcks *g, const char *what, gk_status st)
{
	const char *why = gk_store_errmsg(g->env.store);
	if (!g->store_lost) {
		gk_logs(GK_SUB_STORE, GK_LOG_ERROR, "database lost (%s failed: %s): no keys issued and no rekeys sent "
			"until it is back", what, why && *why ? why : gk_status_str(st));
		g->store_lost_count++;
	}
	g->store_lost = true;
	for (size_t i = 0; i < g->ngroups; i++)
		g->groups[i].leads = false;
}

/* This run's nonce in the servers table: the one gcksd claimed the id with; a GCKS made
 * without a claim (the unit tests' restarts on one database) shares "unclaimed" with every
 * other such run under its id. */
static const char *instance(const gk_gcks *g)
{
	return g->cfg.server_instance[0] ? g->cfg.server_instance : "unclaimed";
}

static void lease_round(gk_gcks *g, gcks_group *grp, int64_t asked_ms)
{
	gk_lease l;
	bool held = false;
	gk_status st = gk_store_lease_take(g->env.store, grp->pol.name, g->cfg.server_id, GK_CLUSTER_LEASE_S, &l, &held);
	if (st) {
		lost(g, "lease renewal", st);
		return;
	}
	if (held && (!grp->leads || grp->lease_epoch != l.epoch))
		gk_logs(GK_SUB_REKEY, GK_LOG_NOTICE, "group %s: this server (%s) leads its rekeys (lease epoch %lld)",
			grp->pol.name, g->cfg.server_id, (long long)l.epoch);
	else if (!held && grp->leads)
		gk_logs(GK_SUB_REKEY, GK_LOG_NOTICE, "group %s: %s leads its rekeys now (lease epoch %lld)",
			grp->pol.name, l.holder, (long long)l.epoch);
	grp->leads = held;
	grp->lease_epoch = l.epoch;
	grp->lease_until_ms = asked_ms + GK_CLUSTER_LEASE_S * 1000 - 1000;
}

void gcks_cluster_tick(gk_gcks *g, int64_t now_ms)
{
	if (!gk_store_shared(g->env.store) || (g->cluster_ms && now_ms - g->cluster_ms < GK_CLUSTER_RENEW_MS))
		return;
	g->cluster_ms = now_ms;
	gk_status st = gk_store_server_beat(g->env.store, g->cfg.server_id, instance(g), GK_CLUSTER_LEASE_S * 1000,
					    NULL);
	if (st) {
		lost(g, "heartbeat", st);
		return;
	}
	bool was_lost = g->store_lost;
	g->store_lost = false;
	for (size_t i = 0; i < g->ngroups && !g->store_lost; i++)
		lease_round(g, &g->groups[i], now_ms);
	if (was_lost && !g->store_lost)
		gk_logs(GK_SUB_STORE, GK_LOG_NOTICE, "database back: issuing keys again");
}

void gcks_cluster_round_now(gk_gcks *g)
{
	g->cluster_ms = 0;
	gcks_cluster_tick(g, gk_clock_now_ms(&g->env.clock));
}

bool gcks_cluster_leads(const gk_gcks *g, const gcks_group *grp)
{
	if (!gk_store_shared(g->env.store))
		return true;
	return !g->store_lost && grp->leads && gk_clock_now_ms(&g->env.clock) < grp->lease_until_ms;
}

bool gcks_cluster_ok(const gk_gcks *g)
{
	return !gk_store_shared(g->env.store) || !g->store_lost;
}

void gcks_cluster_changed(gk_gcks *g, const gcks_group *grp)
{
	char what[GK_SERVER_ID_MAX + GK_IDENT_TEXT_MAX + 2];
	if (!gk_store_shared(g->env.store))
		return;
	snprintf(what, sizeof(what), "%s %s", g->cfg.server_id, grp->pol.name);
	if (gk_store_notify(g->env.store, what))
		gk_logs(GK_SUB_STORE, GK_LOG_WARN, "group %s: the other servers were not told of the change: %s",
			grp->pol.name, gk_store_errmsg(g->env.store));
}

bool gcks_cluster_notice_foreign(const gk_gcks *g, const char *what)
{
	size_t n = strlen(g->cfg.server_id);
	return !(strncmp(what, g->cfg.server_id, n) == 0 && what[n] == ' ');
}

void gk_gcks_cluster_info(const gk_gcks *g, gk_gcks_cluster *out)
{
	memset(out, 0, sizeof(*out));
	out->server_id = g->cfg.server_id;
	out->shared = gk_store_shared(g->env.store);
	out->store_ok = gcks_cluster_ok(g);
	out->lost = g->store_lost_count;
}

bool gk_gcks_group_leads(const gk_gcks *g, const char *group)
{
	for (size_t i = 0; i < g->ngroups; i++)
		if (!strcmp(g->groups[i].pol.name, group))
			return gcks_cluster_leads(g, &g->groups[i]);
	return false;
}
